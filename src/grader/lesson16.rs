//! Checks for lesson 16: a "well-configured" echo server, one that sets the socket options a
//! production server should. Options leave no mark in the bytes, so most checks look at what
//! the options do, or at the server's sockets themselves:
//!
//! - restart: the grader makes the server close first (it kills it while a connection is
//!   open), so TIME_WAIT sits on the server's port, then starts the command again on that
//!   same port. Only a server that set SO_REUSEADDR, in both runs, can bind it (socket(7)).
//! - dual stack: the command is started on `[::]:0`, and an IPv4 client must get in.
//! - backlog: the grader pauses the server (SIGSTOP), opens 200 connections, and reads how many
//!   the kernel queued for it (Recv-Q of the listener in /proc/net/tcp), then resumes it.
//! - TCP_NODELAY and keep-alive: nothing on the wire shows them within a check's time, so the
//!   grader borrows the server's own socket for one of its connections: pidfd_open(2) and
//!   pidfd_getfd(2) (Linux 5.6+) give it a duplicate descriptor, and getsockopt(2) on that
//!   reads the server's options. This needs ptrace rights over the server: the same user (and
//!   the grader its parent under Yama ptrace_scope 1) or root.
//!
//! Restarting a server needs its command: these checks run under `--cmd` with the listening
//! address written as `127.0.0.1:0` (or `[::1]:0`, `[::]:0`, `0.0.0.0:0`), which the grader
//! rewrites. All of it is Linux-specific, like the lesson.

use super::procfs;
use super::wire::{connect, expect, expect_eof, send};
use super::{Check, Ctx, Failure, Server, Suite};
use socket2::SockRef;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpStream};
use std::os::fd::{FromRawFd, OwnedFd};
use std::thread;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 16,
    listeners: &["tcp"],
    checks: &[
        Check {
            name: "does_not_echo_what_it_receives",
            misconception: "Options change how the kernel treats a socket, never the bytes: the server is \
                            still lesson 01's echo, every byte back, then a half-close.",
            run: echoes,
        },
        Check {
            name: "cannot_restart_while_its_port_is_in_time_wait",
            misconception: "The side that closes first keeps the connection in TIME_WAIT for 60 s, and a \
                            server that is restarted closes first. Without SO_REUSEADDR (socket(7)), set \
                            before bind() in every run, the new process cannot bind its own port.",
            run: restart_on_the_same_port,
        },
        Check {
            name: "refuses_ipv4_clients_on_a_dual_stack_listener",
            misconception: "A listener on [::] takes IPv4 clients too only while IPV6_V6ONLY is 0 (ipv6(7)). \
                            Its default comes from net.ipv6.bindv6only and differs between systems: set it \
                            explicitly, before bind().",
            run: dual_stack,
        },
        Check {
            name: "listens_with_a_tiny_backlog",
            misconception: "listen(fd, backlog) sizes the queue of finished handshakes waiting for accept() \
                            (listen(2)). With 5, Python's old default, a burst of clients or a short pause \
                            makes the kernel drop SYNs, and those clients wait a second or more.",
            run: backlog,
        },
        Check {
            name: "waits_for_acks_with_nagle",
            misconception: "With Nagle's algorithm on, a small write waits until the previous one is \
                            acknowledged, and a client that delays its ACKs makes each reply wait about \
                            40 ms. A request/response server sets TCP_NODELAY (tcp(7)) on each connection.",
            run: nodelay,
        },
        Check {
            name: "never_notices_a_dead_peer",
            misconception: "A client that vanishes without a FIN or RST (a crash, a pulled cable, a NAT that \
                            forgot the connection) leaves an idle connection open for ever. SO_KEEPALIVE with \
                            TCP_KEEPIDLE of minutes, not the default two hours, lets the kernel find it.",
            run: keepalive,
        },
    ],
};

/// The shortest backlog the grader accepts (Linux's somaxconn before 5.4 was 128).
const MIN_BACKLOG: u64 = 128;
/// The longest keep-alive idle time accepted: 10 minutes. Load balancers and NATs often drop
/// idle connections sooner (AWS's NLB after 350 s); the Linux default is 7200 s.
const MAX_KEEPIDLE: Duration = Duration::from_secs(600);

fn addr(ctx: &Ctx) -> SocketAddr {
    ctx.addr("tcp")
}

/// One line echoed on a new connection; the connection is returned, still open.
fn echo_line(ctx: &Ctx, to: SocketAddr, line: &[u8]) -> Result<TcpStream, Failure> {
    let s = connect(ctx, to)?;
    send(&s, line)?;
    expect(ctx, &s, line, line)?;
    Ok(s)
}

fn echoes(ctx: &Ctx) -> Result<(), Failure> {
    let line = b"socket options do not change the bytes\n";
    let s = echo_line(ctx, addr(ctx), line)?;
    s.shutdown(Shutdown::Write).ok();
    expect_eof(ctx, &s, line, "after the client half-closed")
}

// ---- Restarting the server -----------------------------------------------------------------

/// The `--cmd` command with its `IP:0` listening address replaced by `addr`.
fn with_address(ctx: &Ctx, addr: &str) -> Result<String, Failure> {
    let cmd = ctx.server_cmd.as_deref().ok_or_else(|| {
        Failure::cannot_run(
            "this check starts the server again itself, so it needs the server's command: \
             run `course check 16 --cmd \"... --addr 127.0.0.1:0\"` instead of --addr",
        )
    })?;
    for pattern in [
        "127.0.0.1:0",
        "[::1]:0",
        "[::]:0",
        "0.0.0.0:0",
        "localhost:0",
    ] {
        let mut from = 0;
        while let Some(at) = cmd[from..].find(pattern).map(|i| i + from) {
            let end = at + pattern.len();
            if !cmd[end..].starts_with(|c: char| c.is_ascii_digit()) {
                return Ok(format!("{}{addr}{}", &cmd[..at], &cmd[end..]));
            }
            from = end;
        }
    }
    Err(Failure::new(format!(
        "the command `{cmd}` has no listening address with port 0 (such as 127.0.0.1:0) for the \
         grader to rewrite: write it that way so that this check can restart the server on a \
         port of its choosing"
    )))
}

fn signal_group(group: u32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals a process group; no memory is involved.
    unsafe { libc::kill(-(group as i32), signal) };
}

/// How many sockets on local port `port` are in TIME_WAIT (state 06 in /proc/net/tcp{,6}).
fn time_wait_on(port: u16) -> usize {
    proc_net_tcp()
        .iter()
        .filter(|r| r.local.port() == port && r.state == 0x06)
        .count()
}

fn restart_on_the_same_port(ctx: &Ctx) -> Result<(), Failure> {
    let before = addr(ctx);
    let again = with_address(ctx, &before.to_string())?;
    let group = ctx.started.ok_or_else(|| {
        Failure::cannot_run("this check must start and stop the server: use --cmd")
    })?;
    let line = b"before the restart\n";
    let s = echo_line(ctx, before, line)?;

    // The server closes first: killed, its process's sockets are closed by the kernel, which
    // sends our connection a FIN. We answer with our own close, and the server's end of the
    // connection (on its listening port) is left in TIME_WAIT for 60 s.
    ctx.stopped_the_server.set(true);
    signal_group(group, libc::SIGKILL);
    expect_eof(ctx, &s, line, "after the grader killed the server")?;
    drop(s);
    let deadline = Instant::now() + Duration::from_secs(1);
    while time_wait_on(before.port()) == 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let waiting = time_wait_on(before.port());

    let server = Server::start(&again, &["tcp"], ctx.timeout.max(Duration::from_secs(30)))
        .map_err(|e| {
            Failure::new(format!(
                "the grader killed the server while a client was connected, so its side closed \
                 first and {waiting} connection(s) waited in TIME_WAIT on port {}; started again \
                 on that port (`{again}`), it did not come up:\n{e}",
                before.port()
            ))
        })?;
    let after = server.listeners()[0].addr;
    echo_line(ctx, after, b"after the restart\n")
        .map(drop)
        .map_err(|f| f.during("the restarted server"))
}

fn dual_stack(ctx: &Ctx) -> Result<(), Failure> {
    // A server given [::] by hand (--addr) is checked as it is; otherwise start one on [::].
    let started;
    let port = if addr(ctx).ip() == IpAddr::V6(Ipv6Addr::UNSPECIFIED) && ctx.server_cmd.is_none() {
        addr(ctx).port()
    } else {
        let cmd = with_address(ctx, "[::]:0")?;
        started = Server::start(&cmd, &["tcp"], ctx.timeout.max(Duration::from_secs(30))).map_err(
            |e| {
                Failure::new(format!(
                    "started on [::]:0 (`{cmd}`), the server did not come up:\n{e}"
                ))
            },
        )?;
        let announced = started.listeners()[0].addr;
        if announced.ip() != IpAddr::V6(Ipv6Addr::UNSPECIFIED) {
            return Err(Failure::new(format!(
                "asked to listen on [::]:0, the server announced {announced}"
            )));
        }
        announced.port()
    };
    let v4 = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    echo_line(ctx, v4, b"from IPv4\n").map_err(|f| Failure {
        what: format!(
            "the server listens on [::]:{port}, and a client from 127.0.0.1 was not served \
                 (IPV6_V6ONLY left on, or the system's default): {}",
            f.what
        ),
        ..f
    })?;
    let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
    echo_line(ctx, v6, b"from IPv6\n")
        .map(drop)
        .map_err(|f| f.during("a client from ::1"))
}

// ---- The backlog ---------------------------------------------------------------------------

/// Sends SIGCONT when dropped, so that a paused server is resumed whatever happens.
struct Paused(u32);

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: kill(2) on a pid; no memory is involved.
        unsafe { libc::kill(self.0 as i32, libc::SIGCONT) };
    }
}

fn backlog(ctx: &Ctx) -> Result<(), Failure> {
    let server = addr(ctx);
    let pid = procfs::server_pid(server).map_err(Failure::new)?;
    // Stop the server so that it cannot accept(): every connection now waits in the queue
    // the kernel keeps for the listener, up to the backlog (plus one, on Linux).
    // SAFETY: kill(2) on a pid; no memory is involved.
    unsafe { libc::kill(pid as i32, libc::SIGSTOP) };
    let paused = Paused(pid);
    let clients: Vec<socket2::Socket> = (0..200)
        .filter_map(|_| {
            let s = socket2::Socket::new(
                socket2::Domain::for_address(server),
                socket2::Type::STREAM,
                None,
            )
            .ok()?;
            s.set_nonblocking(true).ok()?;
            let _ = s.connect(&server.into()); // EINPROGRESS: the handshake goes on without us
            Some(s)
        })
        .collect();
    // The kernel completes what fits at once; SYNs that did not fit wait a second for a retry.
    thread::sleep(Duration::from_millis(300));
    let queued = proc_net_tcp()
        .iter()
        .find(|r| r.local.port() == server.port() && r.state == 0x0A)
        .map_or(0, |r| r.rx_queue);
    drop(paused);
    drop(clients);
    if queued + 1 < MIN_BACKLOG {
        return Err(Failure::new(format!(
            "the grader paused the server (SIGSTOP) and opened {} connections: the kernel queued \
             only {queued} of them for accept() and dropped the others' SYNs, so the listen \
             backlog is about {}; it should be at least {MIN_BACKLOG}",
            200,
            queued.saturating_sub(1)
        )));
    }
    Ok(())
}

// ---- The server's own socket: pidfd_getfd(2) -----------------------------------------------

/// A duplicate of the server's socket for the connection `client` is on, in this process.
fn server_socket_of(client: &TcpStream) -> Result<OwnedFd, Failure> {
    let ours = client
        .local_addr()
        .map_err(|e| Failure::new(e.to_string()))?;
    let theirs = client
        .peer_addr()
        .map_err(|e| Failure::new(e.to_string()))?;
    // The server's end of our connection: local = the server's address, remote = ours.
    let inode = proc_net_tcp()
        .into_iter()
        .find(|r| same(r.local, theirs) && same(r.remote, ours))
        .map(|r| r.inode)
        .filter(|&i| i != 0)
        .ok_or_else(|| {
            Failure::new(format!(
                "cannot inspect: the server's end of connection {ours} -> {theirs} is not in \
                 /proc/net/tcp (is the server on another machine or in another network namespace?)"
            ))
        })?;
    let (pid, fd) = owner_of(inode).ok_or_else(|| {
        Failure::new(format!(
            "cannot inspect: no process visible in /proc holds socket inode {inode} (the server's \
             end of our connection): run the server as the same user as the grader, or as root"
        ))
    })?;
    // SAFETY: raw system calls with integer arguments; each returns a new descriptor or -1.
    unsafe {
        let pidfd = libc::syscall(libc::SYS_pidfd_open, pid as libc::c_int, 0) as libc::c_int;
        if pidfd < 0 {
            return Err(cannot_inspect("pidfd_open", pid));
        }
        let pidfd = OwnedFd::from_raw_fd(pidfd);
        use std::os::fd::AsRawFd;
        let dup = libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) as libc::c_int;
        if dup < 0 {
            return Err(cannot_inspect("pidfd_getfd", pid));
        }
        Ok(OwnedFd::from_raw_fd(dup))
    }
}

fn cannot_inspect(call: &str, pid: u32) -> Failure {
    let e = std::io::Error::last_os_error();
    Failure::cannot_run(format!(
        "cannot inspect the server's socket: {call}(2) on pid {pid} failed: {e}. It needs Linux \
         5.6 or later and ptrace rights over the server (the same user, and under Yama \
         ptrace_scope 1 the grader as its parent: use --cmd; or root)"
    ))
}

/// The process and descriptor number that hold socket `inode`.
fn owner_of(inode: u64) -> Option<(u32, i32)> {
    let target = format!("socket:[{inode}]");
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|l| l.as_os_str() == target.as_str()) {
                let n = fd.file_name().to_string_lossy().parse().ok()?;
                return Some((pid, n));
            }
        }
    }
    None
}

fn nodelay(ctx: &Ctx) -> Result<(), Failure> {
    let s = echo_line(ctx, addr(ctx), b"is Nagle off?\n")?;
    let theirs = server_socket_of(&s)?;
    match SockRef::from(&theirs).tcp_nodelay() {
        Ok(true) => Ok(()),
        Ok(false) => Err(Failure::new(
            "getsockopt(TCP_NODELAY) on the server's socket for this connection returned 0: \
             Nagle's algorithm is on",
        )),
        Err(e) => Err(Failure::new(format!("getsockopt(TCP_NODELAY) failed: {e}"))),
    }
}

fn keepalive(ctx: &Ctx) -> Result<(), Failure> {
    let s = echo_line(ctx, addr(ctx), b"is keep-alive on?\n")?;
    let theirs = server_socket_of(&s)?;
    let sock = SockRef::from(&theirs);
    let on = sock
        .keepalive()
        .map_err(|e| Failure::new(format!("getsockopt(SO_KEEPALIVE) failed: {e}")))?;
    if !on {
        return Err(Failure::new(
            "getsockopt(SO_KEEPALIVE) on the server's socket for this connection returned 0: \
             keep-alive is off, so an idle connection to a vanished client is never probed",
        ));
    }
    let idle = sock
        .tcp_keepalive_time()
        .map_err(|e| Failure::new(format!("getsockopt(TCP_KEEPIDLE) failed: {e}")))?;
    if idle > MAX_KEEPIDLE {
        return Err(Failure::new(format!(
            "SO_KEEPALIVE is on, but TCP_KEEPIDLE is {} s: the first probe comes only after that \
             long idle (at most {} s expected; the system default is 7200)",
            idle.as_secs(),
            MAX_KEEPIDLE.as_secs()
        )));
    }
    Ok(())
}

// ---- /proc/net/tcp, the grader's own small reader ------------------------------------------

struct Row {
    local: SocketAddr,
    remote: SocketAddr,
    state: u8,
    rx_queue: u64,
    inode: u64,
}

fn proc_net_tcp() -> Vec<Row> {
    let mut rows = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            // sl local rem st tx_queue:rx_queue tr:when retrnsmt uid timeout inode
            let f: Vec<&str> = line.split_whitespace().collect();
            let parsed = (|| {
                let rx = f.get(4)?.split_once(':')?.1;
                Some(Row {
                    local: hex_addr(f.get(1)?)?,
                    remote: hex_addr(f.get(2)?)?,
                    state: u8::from_str_radix(f.get(3)?, 16).ok()?,
                    rx_queue: u64::from_str_radix(rx, 16).ok()?,
                    inode: f.get(9)?.parse().ok()?,
                })
            })();
            rows.extend(parsed);
        }
    }
    rows
}

/// `0100007F:1F41`: the address as 32-bit words in this machine's byte order, then the port.
fn hex_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let mut bytes = Vec::new();
    for i in (0..ip.len()).step_by(8) {
        let word = u32::from_str_radix(ip.get(i..i + 8)?, 16).ok()?;
        bytes.extend(word.to_ne_bytes());
    }
    let ip = match bytes.len() {
        4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
        16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
        _ => return None,
    };
    Some(SocketAddr::new(ip, u16::from_str_radix(port, 16).ok()?))
}

/// The same endpoint, an IPv4 address and its IPv4-mapped IPv6 form counted as one.
fn same(a: SocketAddr, b: SocketAddr) -> bool {
    let plain = |ip: IpAddr| match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    a.port() == b.port() && plain(a.ip()) == plain(b.ip())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listening_address_is_rewritten_once() {
        let mut ctx = Ctx::new(Vec::new(), &super::super::Options::default(), 0);
        ctx.server_cmd = Some("srv --addr 127.0.0.1:0 --peer 127.0.0.1:01".into());
        assert_eq!(
            with_address(&ctx, "[::]:0").unwrap(),
            "srv --addr [::]:0 --peer 127.0.0.1:01"
        );
        ctx.server_cmd = Some("srv --addr 127.0.0.1:7016".into());
        assert!(with_address(&ctx, "[::]:0").is_err());
    }

    #[test]
    fn hex_addresses_decode_in_host_order() {
        assert_eq!(
            hex_addr("0100007F:1F41").unwrap(),
            "127.0.0.1:8001".parse().unwrap()
        );
        assert!(same(
            "[::ffff:127.0.0.1]:9".parse().unwrap(),
            "127.0.0.1:9".parse().unwrap()
        ));
    }
}
