//! Looking at the server from outside, through /proc (proc(5)), when it runs on this machine.
//!
//! Some mistakes show only in the server's process: descriptors never closed, memory that
//! grows with a client that does not read. The grader finds the process that owns the
//! listening socket, whoever started it (`--cmd` or by hand for `--addr`):
//!
//! 1. `/proc/net/tcp` and `/proc/net/tcp6` list every TCP socket with its local address, state
//!    (`0A` is LISTEN) and inode;
//! 2. `/proc/PID/fd/*` are links such as `socket:[123456]`: the process whose descriptor points
//!    at the listening socket's inode is the server.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The process listening on `addr` (TCP).
pub fn server_pid(addr: SocketAddr) -> Result<u32, String> {
    let inode = listening_inode(addr)?;
    let target = format!("socket:[{inode}]");
    let procs = std::fs::read_dir("/proc").map_err(|e| format!("cannot read /proc: {e}"))?;
    for entry in procs.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(fds) = std::fs::read_dir(entry.path().join("fd")) else {
            continue; // gone, or not ours to look at
        };
        for fd in fds.flatten() {
            if std::fs::read_link(fd.path()).is_ok_and(|link| link.as_os_str() == target.as_str()) {
                return Ok(pid);
            }
        }
    }
    Err(format!(
        "no process visible in /proc owns the socket listening on {addr} (inode {inode}); \
         this check needs the server on this machine, run by this user"
    ))
}

/// The inode of the TCP socket listening on `addr`, from /proc/net/tcp{,6}.
fn listening_inode(addr: SocketAddr) -> Result<u64, String> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
            if fields.len() < 10 || fields[3] != "0A" {
                continue;
            }
            let Some((_, port)) = fields[1].rsplit_once(':') else {
                continue;
            };
            if u16::from_str_radix(port, 16) == Ok(addr.port()) {
                return fields[9]
                    .parse()
                    .map_err(|_| format!("bad inode in {table}"));
            }
        }
    }
    Err(format!(
        "no socket listens on port {} in /proc/net/tcp",
        addr.port()
    ))
}

/// How many file descriptors `pid` has open.
pub fn fd_count(pid: u32) -> Result<usize, String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .map_err(|e| format!("cannot list /proc/{pid}/fd: {e}"))
}

/// Resident memory of `pid`, in bytes (VmRSS in /proc/PID/status).
pub fn rss_bytes(pid: u32) -> Result<u64, String> {
    status_field(pid, "VmRSS:").map(|kb| kb * 1024)
}

/// Threads of `pid` (Threads in /proc/PID/status).
pub fn threads(pid: u32) -> Result<u64, String> {
    status_field(pid, "Threads:")
}

fn status_field(pid: u32, name: &str) -> Result<u64, String> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(Path::new(&path))
        .map_err(|e| format!("cannot read {path}: {e}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no {name} in {path}"))
}

/// Wait until `pid` has at most `target` descriptors open; on timeout, the count it has.
pub fn wait_for_fd_count(pid: u32, target: usize, timeout: Duration) -> Result<(), usize> {
    let deadline = Instant::now() + timeout;
    loop {
        let now = fd_count(pid).unwrap_or(usize::MAX);
        if now <= target {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(now);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_this_process_by_its_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let pid = server_pid(listener.local_addr().unwrap()).unwrap();
        assert_eq!(pid, std::process::id());
        let before = fd_count(pid).unwrap();
        let extra = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        assert!(fd_count(pid).unwrap() > before);
        drop(extra);
        assert!(wait_for_fd_count(pid, before, Duration::from_secs(1)).is_ok());
        assert!(rss_bytes(pid).unwrap() > 1 << 20);
        assert!(threads(pid).unwrap() >= 1);
    }

    #[test]
    fn a_port_nobody_listens_on_is_explained() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        // The listener is dropped: nobody listens there now.
        assert!(server_pid(port).unwrap_err().contains("no socket listens"));
    }
}
