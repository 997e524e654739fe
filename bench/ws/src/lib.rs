//! The WebSocket echo benchmark (`scripts/ws-bench.sh`): lesson 11's server against two Rust
//! libraries, fastwebsockets and tokio-tungstenite, driven by one load generator (`ws-load`).
//!
//! This crate is a member of the workspace but not a default member, so `cargo test` at the root
//! never builds tokio or the libraries we compare against. The three binaries:
//!
//! - `fastwebsockets-echo` and `tungstenite-echo`: echo servers written the way each library's
//!   own examples write one, on a current_thread tokio runtime (the benchmark pins every server
//!   to one core, where a multi-thread runtime would only add cross-thread wake-ups);
//! - `ws-load`: the load generator, see its module docs.
//!
//! What the servers share is here: the command line and the `listening on` line every lesson
//! prints, and raising the open-file limit for the 10,000-connection memory test.

use std::net::SocketAddr;

/// The servers' command line: the course's `--addr` (port 0 picks one).
#[derive(clap::Parser)]
pub struct ServerCli {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}

/// Raise RLIMIT_NOFILE's soft limit to its hard limit: 10,000 sockets need more than the usual
/// soft limit of 1024 descriptors.
pub fn raise_fd_limit() -> std::io::Result<()> {
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        lim.rlim_cur = lim.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}
