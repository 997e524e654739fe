//! Measuring what the kernel does with a socket, for lesson 16's experiments: the kernel's own
//! table of TCP sockets, TCP_INFO, the errno behind an error, a socket that ignores every packet,
//! and a small table printer.
//!
//! None of this sets an option: the experiments in `lessons/16-sockopts/main.rs` do that, one
//! call each, where a learner reads it. This module only looks at the result, the way `ss`
//! does: `/proc/net/tcp` (proc(5)) lists every TCP socket with its state and queues, and
//! `getsockopt(TCP_INFO)` (tcp(7)) returns the counters of one socket.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::os::fd::AsRawFd;

/// The TCP states as `/proc/net/tcp` numbers them (`include/net/tcp_states.h`), which are also
/// the `tcpi_state` of TCP_INFO. RFC 9293 section 3.3.2 draws the machine.
pub const ESTABLISHED: u8 = 1;
pub const SYN_SENT: u8 = 2;
pub const SYN_RECV: u8 = 3;
pub const FIN_WAIT1: u8 = 4;
pub const FIN_WAIT2: u8 = 5;
pub const TIME_WAIT: u8 = 6;
pub const CLOSE: u8 = 7;
pub const CLOSE_WAIT: u8 = 8;
pub const LAST_ACK: u8 = 9;
pub const LISTEN: u8 = 10;

/// The name `ss` prints for a state number.
pub fn state_name(state: u8) -> &'static str {
    match state {
        ESTABLISHED => "ESTAB",
        SYN_SENT => "SYN-SENT",
        SYN_RECV => "SYN-RECV",
        FIN_WAIT1 => "FIN-WAIT-1",
        FIN_WAIT2 => "FIN-WAIT-2",
        TIME_WAIT => "TIME-WAIT",
        CLOSE => "CLOSED",
        CLOSE_WAIT => "CLOSE-WAIT",
        LAST_ACK => "LAST-ACK",
        LISTEN => "LISTEN",
        _ => "?",
    }
}

/// One line of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpRow {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    /// Bytes sent and not yet acknowledged, or not yet sent (`ss`'s Send-Q); 0 for a LISTEN
    /// socket, whose backlog only `ss` shows (it asks over netlink, sock_diag(7)).
    pub tx_queue: u64,
    /// Bytes in the receive queue; for a LISTEN socket, connections waiting for accept()
    /// (`ss`'s Recv-Q).
    pub rx_queue: u64,
    pub inode: u64,
}

/// Every TCP socket of this network namespace, IPv4 and IPv6, as the kernel lists them.
pub fn tcp_table() -> Vec<TcpRow> {
    let mut rows = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
        rows.extend(text.lines().skip(1).filter_map(parse_tcp_line));
    }
    rows
}

fn parse_tcp_line(line: &str) -> Option<TcpRow> {
    let f: Vec<&str> = line.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    let (tx, rx) = f[4].split_once(':')?;
    Some(TcpRow {
        local: parse_hex_addr(f[1])?,
        remote: parse_hex_addr(f[2])?,
        state: u8::from_str_radix(f[3], 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
        inode: f[9].parse().ok()?,
    })
}

/// `0100007F:1F41` is 127.0.0.1:8001: the address is printed as the 32-bit words the kernel
/// holds, each in this machine's byte order, and the port in hex.
fn parse_hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let words: Option<Vec<u32>> = (0..ip.len() / 8)
        .map(|i| u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok())
        .collect();
    let bytes: Vec<u8> = words?.iter().flat_map(|w| w.to_ne_bytes()).collect();
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// How many sockets with local port `port` are in `state`.
pub fn count_on_port(port: u16, state: u8) -> usize {
    tcp_table()
        .iter()
        .filter(|r| r.local.port() == port && r.state == state)
        .count()
}

/// The row of the socket with this local and remote address, if the kernel still has it.
pub fn find_row(local: SocketAddr, remote: SocketAddr) -> Option<TcpRow> {
    tcp_table()
        .into_iter()
        .find(|r| same_endpoint(r.local, local) && same_endpoint(r.remote, remote))
}

/// The listening socket on `port`.
pub fn listener_row(port: u16) -> Option<TcpRow> {
    tcp_table()
        .into_iter()
        .find(|r| r.local.port() == port && r.state == LISTEN)
}

/// 127.0.0.1 and ::ffff:127.0.0.1 are the same endpoint to a dual-stack socket.
fn same_endpoint(a: SocketAddr, b: SocketAddr) -> bool {
    let canon = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && canon(a.ip()) == canon(b.ip())
}

/// A listener's two queue numbers as `ss -ltn` prints them: (Recv-Q, Send-Q), that is the
/// connections waiting for accept() and the backlog listen(2) set. `ss` reads them over netlink
/// (sock_diag(7)); /proc/net/tcp has only the first. None if `ss` is not installed.
pub fn ss_listen_queues(port: u16) -> Option<(u64, u64)> {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
    let fields: Vec<&str> = text.lines().next()?.split_whitespace().collect();
    Some((fields.get(1)?.parse().ok()?, fields.get(2)?.parse().ok()?))
}

/// Wait (up to `tries` x 20 ms) until `done` holds; whether it did.
pub fn wait_until(tries: u32, mut done: impl FnMut() -> bool) -> bool {
    for _ in 0..tries {
        if done() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done()
}

/// getsockopt(fd, IPPROTO_TCP, TCP_INFO) (tcp(7)): the kernel's counters for one connection.
/// Fields this program reads: `tcpi_state`, `tcpi_probes` (keep-alive probes sent and not yet
/// answered), `tcpi_segs_out` / `tcpi_segs_in` (segments sent and received, Linux 4.2+).
pub fn tcp_info(sock: &impl AsRawFd) -> io::Result<libc::tcp_info> {
    // SAFETY: tcp_info is plain old data, so all zeroes is a valid value; getsockopt writes at
    // most `len` bytes into it and tells us how many.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            sock.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        if rc == 0 {
            Ok(info)
        } else {
            Err(io::Error::last_os_error())
        }
    }
}

/// Make the kernel drop every packet that arrives for this socket, before TCP sees it: a
/// classic BPF socket filter (socket(7) SO_ATTACH_FILTER; the kernel's
/// Documentation/networking/filter.rst) of one instruction,
/// `ret #0` ("keep 0 bytes"). No ACK goes back, so to its peer this end looks like a machine
/// that lost power or a cable pulled out. Unprivileged, unlike firewall rules.
pub fn drop_every_incoming_packet(sock: &impl AsRawFd) -> io::Result<()> {
    const BPF_RET_K: u16 = 0x06; // BPF_RET | BPF_K: return the constant k
    let mut program = [libc::sock_filter {
        code: BPF_RET_K,
        jt: 0,
        jf: 0,
        k: 0,
    }];
    let fprog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_mut_ptr(),
    };
    // SAFETY: fprog points at a live array of `len` instructions; the kernel copies it.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The errno name behind an I/O error ("EADDRINUSE"), as man pages and strace write it.
pub fn errno_name(e: &io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(libc::EADDRINUSE) => "EADDRINUSE",
        Some(libc::EADDRNOTAVAIL) => "EADDRNOTAVAIL",
        Some(libc::ECONNREFUSED) => "ECONNREFUSED",
        Some(libc::ECONNRESET) => "ECONNRESET",
        Some(libc::ETIMEDOUT) => "ETIMEDOUT",
        Some(libc::EAGAIN) => "EAGAIN",
        Some(libc::EINPROGRESS) => "EINPROGRESS",
        Some(libc::EPIPE) => "EPIPE",
        Some(libc::EINVAL) => "EINVAL",
        Some(libc::EPERM) => "EPERM",
        Some(libc::ENETUNREACH) => "ENETUNREACH",
        _ => return e.to_string(),
    };
    name.to_string()
}

/// An outcome for a table cell: "ok" or the errno name.
pub fn outcome<T>(r: &io::Result<T>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e),
    }
}

/// A sysctl's value, from /proc/sys (`net/core/somaxconn`), trimmed; "?" if unreadable.
pub fn sysctl(name: &str) -> String {
    std::fs::read_to_string(format!("/proc/sys/{name}"))
        .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The `p`-th percentile (0..=100) of some numbers, nearest rank.
pub fn percentile(values: &[f64], p: u32) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = (p as usize * v.len()).div_ceil(100).clamp(1, v.len());
    v[rank - 1]
}

/// A table for the terminal: a header row, then rows, columns padded to the widest cell.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|s| s.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let width: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::from("  ");
            for (c, cell) in row.iter().enumerate() {
                let _ = write!(line, "{cell:<w$}  ", w = width[c]);
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell for a row of [`Table`]: anything printable.
#[macro_export]
macro_rules! cells {
    ($($cell:expr),* $(,)?) => { vec![$($cell.to_string()),*] };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_tcp_lines_parse() {
        let line = "   0: 0100007F:1F41 00000000:0000 0A 00000000:00000002 00:00000000 00000000  \
                    0        0 123456 1 0000000000000000 100 0 0 10 0";
        let row = parse_tcp_line(line).unwrap();
        assert_eq!(row.local, "127.0.0.1:8001".parse().unwrap());
        assert_eq!(row.state, LISTEN);
        assert_eq!(row.rx_queue, 2);
        assert_eq!(row.inode, 123456);
        let v6 = "0000000000000000FFFF00000100007F:1F41";
        assert_eq!(
            parse_hex_addr(v6).unwrap(),
            "[::ffff:127.0.0.1]:8001".parse().unwrap()
        );
    }

    #[test]
    fn this_process_listener_is_in_the_table() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let row = listener_row(port).expect("listed");
        assert_eq!(row.rx_queue, 0, "nobody has connected yet");
        let c = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
        let info = tcp_info(&c).unwrap();
        assert_eq!(info.tcpi_state, ESTABLISHED);
        assert!(wait_until(50, || listener_row(port).unwrap().rx_queue == 1));
    }

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let v: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&v, 50), 10.0);
        assert_eq!(percentile(&v, 95), 19.0);
        assert_eq!(percentile(&v, 100), 20.0);
    }
}
