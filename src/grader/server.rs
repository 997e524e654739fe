//! Starting the server under test (`--cmd`) and learning where it listens.
//!
//! The lesson contract: once ready, a server prints one line per listener on stdout,
//! `listening on SCHEME://IP:PORT`. We run the command in its own process group (so that
//! `cargo run ...` and the program it starts are stopped together), read stdout until every
//! listener the lesson needs is announced, and keep draining both pipes in the background so
//! the server never blocks on a full pipe. Its last stderr lines are kept: when it dies, the
//! report shows them.

use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One `listening on SCHEME://IP:PORT` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    pub scheme: String,
    pub addr: SocketAddr,
}

impl Listener {
    /// Parse a `listening on SCHEME://IP:PORT` line; anything after the address (a path, a
    /// comment) is ignored.
    pub fn parse_line(line: &str) -> Option<Listener> {
        let rest = line.trim().strip_prefix("listening on ")?;
        let (scheme, rest) = rest.split_once("://")?;
        let end = rest.find(['/', ' ']).unwrap_or(rest.len());
        let addr = rest[..end].parse().ok()?;
        Some(Listener {
            scheme: scheme.to_ascii_lowercase(),
            addr,
        })
    }

    /// Parse `--addr` for a running server: `IP:PORT` (the lesson's first scheme) or
    /// `SCHEME://IP:PORT`.
    pub fn parse_arg(arg: &str, default_scheme: &str) -> Option<Listener> {
        match arg.split_once("://") {
            Some(_) => Listener::parse_line(&format!("listening on {arg}")),
            None => Some(Listener {
                scheme: default_scheme.to_string(),
                addr: arg.parse().ok()?,
            }),
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}", self.scheme, self.addr)
    }
}

/// Why a `--cmd` server could not be used.
#[derive(Debug)]
pub enum StartError {
    Spawn(String, std::io::Error),
    Exited {
        cmd: String,
        status: String,
        stderr: String,
    },
    Silent {
        cmd: String,
        waited: Duration,
        missing: Vec<String>,
        stdout: String,
    },
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Spawn(cmd, e) => write!(f, "could not start `{cmd}`: {e}"),
            StartError::Exited { cmd, status, stderr } => write!(
                f,
                "`{cmd}` exited ({status}) before printing its `listening on` line(s).\n  its stderr ended with:\n{stderr}"
            ),
            StartError::Silent { cmd, waited, missing, stdout } => write!(
                f,
                "`{cmd}` printed no `listening on {}://IP:PORT` line within {} s.\n  \
                 A server must print one such line per listener on stdout once it is ready (and flush it).\n  \
                 its stdout so far:\n{stdout}",
                missing.join("|"),
                waited.as_secs()
            ),
        }
    }
}

/// A server process started for one check. Dropping it stops the whole process group.
pub struct Server {
    cmd: String,
    child: Child,
    listeners: Vec<Listener>,
    stderr_tail: Arc<Mutex<VecDeque<String>>>,
}

const TAIL_LINES: usize = 12;

impl Server {
    /// Run `cmd` with `sh -c` and wait until it has announced a listener for every scheme.
    pub fn start(cmd: &str, schemes: &[&str], wait: Duration) -> Result<Server, StartError> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::null())
            // A Rust server's panic message, not a backtrace, belongs in the report's few lines.
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| StartError::Spawn(cmd.to_string(), e))?;

        let stderr_tail = Arc::new(Mutex::new(VecDeque::new()));
        let tail = Arc::clone(&stderr_tail);
        let stderr = child.stderr.take().expect("stderr is piped");
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut tail = tail.lock().unwrap();
                if tail.len() == TAIL_LINES {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });

        // Lines of stdout arrive on a channel, so that waiting for them can time out.
        let (lines_tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            while matches!(reader.read_line(&mut line), Ok(n) if n > 0) {
                if lines_tx.send(std::mem::take(&mut line)).is_err() {
                    // Nobody is waiting any more: keep draining so the server never blocks.
                    let _ = std::io::copy(&mut reader.by_ref(), &mut std::io::sink());
                    return;
                }
            }
        });

        let mut server = Server {
            cmd: cmd.to_string(),
            child,
            listeners: Vec::new(),
            stderr_tail,
        };
        let deadline = Instant::now() + wait;
        let mut seen = String::new();
        let missing = |found: &[Listener]| -> Vec<String> {
            schemes
                .iter()
                .filter(|s| !found.iter().any(|l| l.scheme == **s))
                .map(|s| s.to_string())
                .collect()
        };
        while !missing(&server.listeners).is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => {
                    if let Some(listener) = Listener::parse_line(&line) {
                        server.listeners.push(listener);
                    }
                    seen.push_str("    ");
                    seen.push_str(&line);
                }
                Err(_) if server.exited().is_some() || left.is_zero() => {
                    thread::sleep(Duration::from_millis(50)); // let the stderr thread catch up
                    return Err(match server.exited() {
                        Some(status) => StartError::Exited {
                            cmd: cmd.to_string(),
                            status,
                            stderr: server.stderr_tail(),
                        },
                        None => StartError::Silent {
                            cmd: cmd.to_string(),
                            waited: wait,
                            missing: missing(&server.listeners),
                            stdout: seen,
                        },
                    });
                }
                Err(_) => {}
            }
        }
        Ok(server)
    }

    pub fn listeners(&self) -> &[Listener] {
        &self.listeners
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the server has exited.
    fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(match (status.code(), status.signal()) {
                (Some(code), _) => format!("exit code {code}"),
                (None, Some(signal)) => format!("killed by signal {signal}"),
                _ => status.to_string(),
            }),
            _ => None,
        }
    }

    fn stderr_tail(&self) -> String {
        let tail = self.stderr_tail.lock().unwrap();
        if tail.is_empty() {
            return "    (nothing)".into();
        }
        tail.iter()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
            .trim_end()
            .to_string()
    }

    /// If the server died, a paragraph saying so and quoting its last stderr lines.
    pub fn exit_report(&mut self) -> Option<String> {
        // A crash that broke the check may still be unwinding: give it a moment to end.
        let deadline = Instant::now() + Duration::from_millis(300);
        let status = loop {
            match self.exited() {
                Some(status) => break status,
                None if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                None => return None,
            }
        };
        thread::sleep(Duration::from_millis(50)); // let the stderr thread read the last lines
        Some(format!(
            "The server process (`{}`) is gone: it ended ({status}) during this check. Its stderr ended with:\n{}",
            self.cmd,
            self.stderr_tail()
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Stop the whole group: `sh`, and whatever it started (cargo run starts a child too).
        let group = format!("-{}", self.child.id());
        for signal in ["-TERM", "-KILL"] {
            let _ = Command::new("kill")
                .args([signal, "--", &group])
                .stderr(Stdio::null())
                .status();
            let deadline = Instant::now() + Duration::from_millis(500);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(10));
            }
        }
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listening_lines_parse() {
        let l = Listener::parse_line("listening on tcp://127.0.0.1:7001\n").unwrap();
        assert_eq!(l.scheme, "tcp");
        assert_eq!(l.addr, "127.0.0.1:7001".parse().unwrap());
        let l = Listener::parse_line("listening on ws://[::1]:80/echo").unwrap();
        assert_eq!(l.addr, "[::1]:80".parse().unwrap());
        assert!(Listener::parse_line("starting up").is_none());
        assert!(Listener::parse_line("listening on tcp://nowhere").is_none());
    }

    #[test]
    fn addr_arguments_take_the_default_scheme() {
        assert_eq!(
            Listener::parse_arg("127.0.0.1:9", "udp").unwrap().scheme,
            "udp"
        );
        assert_eq!(
            Listener::parse_arg("tcp://127.0.0.1:9", "udp")
                .unwrap()
                .scheme,
            "tcp"
        );
    }
}
