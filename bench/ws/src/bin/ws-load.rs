//! ws-load: the WebSocket echo load generator of `scripts/ws-bench.sh`.
//!
//! ```text
//! ws-load --url ws://127.0.0.1:7011/echo --conns 16 --inflight 16 --size 16 --duration 3
//! ws-load --url ws://127.0.0.1:7011/echo --pid 1234 --perf     # + the server's CPU and syscalls
//! ws-load --url ws://127.0.0.1:7011/echo --idle 10000 --pid 1234   # memory per idle connection
//! ```
//!
//! It opens `--conns` connections (its own handshake, checking Sec-WebSocket-Accept), keeps
//! `--inflight` messages of `--size` bytes in flight on each, and after `--warmup` seconds counts
//! the echoes that come back for `--duration` seconds. Then it stops sending and waits until
//! every message it sent has come back: EVERY echo is verified, byte for byte.
//!
//! It has to be much cheaper per message than the servers it measures, so:
//! - one thread, epoll through mio, edge-triggered;
//! - every message is the same pre-encoded masked frame (with a fixed masking key: RFC 6455
//!   5.3 wants it unpredictable to protect proxies from cache poisoning, which does not matter
//!   on loopback, and a server must unmask whatever the key is), and K frames go out in one
//!   write: the bytes to send are always a slice of that frame repeated;
//! - the echo of each message is known in advance too (an unmasked server frame with the same
//!   payload), so verifying is one `memcmp` of each read against that frame repeated: no
//!   parsing, no per-message allocation. Any difference aborts with the offset and both bytes.
//!
//! What it cannot see: since every message is the same, two echoes swapped in order look the
//! same. A lost echo shows (the final wait times out), and so does an extra one.
//!
//! With `--pid`, it reads the server's user and system CPU time (/proc/PID/stat) at the start
//! and end of the measured window; with `--perf` too, it counts the server's system calls over
//! exactly that window with `perf stat -p PID`, enabled and disabled through perf's control
//! pipe. With `--idle N`, it opens N connections, reads the server's memory (VmRSS, and the
//! anonymous memory of /proc/PID/smaps_rollup, i.e. heap and stacks) before and after, then
//! sends one message on each and reads it again, and prints the cost per connection.

use anyhow::{anyhow, bail, Context, Result};
use base64::Engine;
use clap::Parser;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use sha1::{Digest, Sha1};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "WebSocket echo load generator: K messages in flight per connection, every echo verified"
)]
struct Cli {
    /// The server's echo endpoint, ws://IP:PORT/PATH (an IP address, not a name).
    #[arg(long)]
    url: String,
    /// Connections.
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Messages in flight per connection.
    #[arg(long, default_value_t = 1)]
    inflight: usize,
    /// Payload bytes per message.
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Seconds measured, after the warm-up.
    #[arg(long, default_value_t = 3.0)]
    duration: f64,
    /// Seconds of warm-up, not measured.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// Send text messages (opcode 1) instead of binary (opcode 2). The payload is ASCII either way.
    #[arg(long)]
    text: bool,
    /// The server's process id: measure its CPU time (and memory with --idle).
    #[arg(long)]
    pid: Option<u32>,
    /// With --pid: count the server's system calls over the measured window with `perf stat`.
    #[arg(long)]
    perf: bool,
    /// With --perf: more perf events to count per message, e.g. uprobes set up beforehand with
    /// `perf probe -x /lib/x86_64-linux-gnu/libc.so.6 malloc` (then `probe_libc:malloc`).
    #[arg(long = "event", value_name = "EVENT")]
    events: Vec<String>,
    /// Memory mode: open this many connections, hold them idle, report memory per connection.
    #[arg(long, value_name = "N")]
    idle: Option<usize>,
    /// With --idle: seconds to hold the connections open after measuring.
    #[arg(long, default_value_t = 0.0)]
    hold: f64,
    /// A name for the server, repeated in the RESULT line.
    #[arg(long, default_value = "server")]
    label: String,
}

/// The fixed masking key of every frame we send (see the module docs for why fixed is fine).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];
/// One receive buffer for every connection: data is verified as it arrives, never kept.
const RECV_BUF: usize = 256 * 1024;
/// Handshakes in progress at once, so that 10,000 connects do not overflow the listen backlog.
const CONNECTING_AT_ONCE: usize = 256;

fn main() -> Result<()> {
    let cli = Cli::parse();
    raise_fd_limit()?;
    let (addr, path) = parse_url(&cli.url)?;
    let opcode = if cli.text { 1 } else { 2 };
    let payload: Vec<u8> = (0..cli.size).map(|i| b'a' + (i % 26) as u8).collect();
    let frames = Frames::new(opcode, &payload, cli.inflight);
    let mut poll = Poll::new()?;
    match cli.idle {
        Some(n) => idle(&cli, &mut poll, addr, &path, n, &frames),
        None => load(&cli, &mut poll, addr, &path, &frames),
    }
}

/// `ws://IP:PORT/PATH` into the address and the path.
fn parse_url(url: &str) -> Result<(SocketAddr, String)> {
    let rest = url
        .strip_prefix("ws://")
        .ok_or_else(|| anyhow!("--url must start with ws:// (got {url})"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let addr = host
        .parse()
        .with_context(|| format!("--url: {host} is not IP:PORT"))?;
    Ok((addr, path))
}

/// The bytes on the wire, all computed before the first connect.
struct Frames {
    /// One client frame (masked), repeated `inflight + 1` times: what to send is always a slice
    /// of it starting inside the first copy.
    request: Vec<u8>,
    request_len: usize,
    /// The echo we expect (the same payload in an unmasked server frame), repeated so that any
    /// read (at most RECV_BUF bytes) compares against it in one piece.
    echo: Vec<u8>,
    echo_len: usize,
}

impl Frames {
    fn new(opcode: u8, payload: &[u8], inflight: usize) -> Frames {
        let one_request = frame(opcode, payload, Some(MASK));
        let one_echo = frame(opcode, payload, None);
        let echo_copies = RECV_BUF / one_echo.len() + 2;
        Frames {
            request: one_request.repeat(inflight + 1),
            request_len: one_request.len(),
            echo: one_echo.repeat(echo_copies),
            echo_len: one_echo.len(),
        }
    }
}

/// A single-frame message (RFC 6455 5.2): FIN and the opcode, the mask bit and the 7, 7+16 or
/// 7+64-bit length, the masking key if any, and the payload (XORed with the key, 5.3).
fn frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(mask_bit | n as u8),
        n if n <= 0xffff => {
            f.push(mask_bit | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(mask_bit | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// One WebSocket connection of the load generator.
struct Conn {
    sock: TcpStream,
    /// The response head so far, until the handshake is done.
    head: Vec<u8>,
    key: String,
    request_written: usize,
    open: bool,
    /// Where in the echo frame the next byte received belongs.
    rx_off: usize,
    /// Where in the request frame the next byte to send starts, and how many bytes to send.
    tx_off: usize,
    tx_pending: usize,
    sent: u64,
    received: u64,
}

impl Conn {
    fn outstanding(&self) -> u64 {
        self.sent - self.received
    }

    /// Check `data` against the expected echo stream; returns the messages it completed.
    fn verify(&mut self, id: usize, data: &[u8], frames: &Frames) -> Result<u64> {
        let mut done = 0;
        let mut rest = data;
        while !rest.is_empty() {
            let n = rest.len().min(frames.echo.len() - self.rx_off);
            let want = &frames.echo[self.rx_off..self.rx_off + n];
            if rest[..n] != *want {
                let i = rest[..n]
                    .iter()
                    .zip(want)
                    .position(|(a, b)| a != b)
                    .unwrap();
                bail!(mismatch(id, self, frames, &rest[..n], want, i));
            }
            let end = self.rx_off + n;
            done += (end / frames.echo_len) as u64;
            self.rx_off = end % frames.echo_len;
            rest = &rest[n..];
        }
        self.received += done;
        if self.received > self.sent {
            bail!(
                "connection {id}: {} echoes received but only {} messages sent: the server \
                 sent a message twice, or one of its own",
                self.received,
                self.sent
            );
        }
        Ok(done)
    }

    /// Write as much of what is pending as the socket takes.
    fn flush(&mut self, frames: &Frames) -> io::Result<()> {
        while self.tx_pending > 0 {
            let end = (self.tx_off + self.tx_pending).min(frames.request.len());
            match self.sock.write(&frames.request[self.tx_off..end]) {
                Ok(n) => {
                    self.tx_pending -= n;
                    self.tx_off = (self.tx_off + n) % frames.request_len;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Queue `n` more messages.
    fn send(&mut self, n: u64, frames: &Frames) {
        self.sent += n;
        self.tx_pending += n as usize * frames.request_len;
    }
}

/// Explain the first wrong byte of an echo.
fn mismatch(id: usize, c: &Conn, frames: &Frames, got: &[u8], want: &[u8], i: usize) -> String {
    let at = c.rx_off + i;
    let msg = c.received + (at / frames.echo_len) as u64;
    let off = at % frames.echo_len;
    let lo = i.saturating_sub(8);
    let hi = (i + 8).min(got.len());
    let what = if off == 0 {
        match got[i] & 0x0f {
            0x8 => " (a Close frame: the server closed the connection)",
            0x9 => " (a Ping frame)",
            0x0 => " (a continuation frame: the server fragmented the echo)",
            _ => " (a frame of another type)",
        }
    } else if off == 1 && got[i] & 0x80 != 0 {
        " (the mask bit: a server must not mask its frames)"
    } else {
        ""
    };
    format!(
        "connection {id}: echo of message #{msg} (from 0) differs at byte {off} of its frame: expected \
         {:#04x}, got {:#04x}{what}\n  expected: {}\n  got:      {}",
        want[i],
        got[i],
        hex(&want[lo..hi]),
        hex(&got[lo..hi])
    )
}

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Sec-WebSocket-Accept for `key` (RFC 6455 4.2.2): base64(SHA-1(key + GUID)).
fn accept_for(key: &str) -> String {
    let mut h = Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Open `n` connections and complete their handshakes, at most CONNECTING_AT_ONCE at a time.
fn open_all(poll: &mut Poll, addr: SocketAddr, path: &str, n: usize) -> Result<Vec<Conn>> {
    let mut conns: Vec<Conn> = Vec::with_capacity(n);
    let mut events = Events::with_capacity(1024);
    let mut open = 0;
    let deadline = Instant::now() + Duration::from_secs(30 + n as u64 / 200);
    let mut buf = [0u8; 4096];
    while open < n {
        while conns.len() < n && conns.len() - open < CONNECTING_AT_ONCE {
            let id = conns.len();
            let mut sock =
                TcpStream::connect(addr).with_context(|| format!("connect #{id} to {addr}"))?;
            poll.registry().register(
                &mut sock,
                Token(id),
                Interest::READABLE | Interest::WRITABLE,
            )?;
            let raw: [u8; 16] = std::array::from_fn(|i| (id >> (8 * (i % 8))) as u8 ^ i as u8);
            conns.push(Conn {
                sock,
                head: Vec::new(),
                key: base64::engine::general_purpose::STANDARD.encode(raw),
                request_written: 0,
                open: false,
                rx_off: 0,
                tx_off: 0,
                tx_pending: 0,
                sent: 0,
                received: 0,
            });
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            bail!("{open} of {n} handshakes done in time: the server stopped answering");
        }
        poll.poll(&mut events, Some(left))?;
        for ev in events.iter() {
            let id = ev.token().0;
            let c = &mut conns[id];
            if c.open {
                continue;
            }
            if let Some(e) = c.sock.take_error()? {
                bail!("connection {id}: {e}");
            }
            if c.sock.peer_addr().is_err() {
                continue; // still connecting
            }
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Key: {}\r\n\
                 Sec-WebSocket-Version: 13\r\n\r\n",
                c.key
            );
            while c.request_written < request.len() {
                match c.sock.write(&request.as_bytes()[c.request_written..]) {
                    Ok(w) => c.request_written += w,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e).context(format!("connection {id}: writing request")),
                }
            }
            loop {
                match c.sock.read(&mut buf) {
                    Ok(0) => bail!(
                        "connection {id}: closed by the server during the handshake; head so \
                         far: {:?}",
                        String::from_utf8_lossy(&c.head)
                    ),
                    Ok(r) => c.head.extend_from_slice(&buf[..r]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e).context(format!("connection {id}: reading response")),
                }
            }
            if let Some(end) = c.head.windows(4).position(|w| w == b"\r\n\r\n") {
                check_response(id, &c.head[..end + 4], &c.key)?;
                if c.head.len() > end + 4 {
                    bail!(
                        "connection {id}: the server sent {} bytes after its 101, before any \
                         message",
                        c.head.len() - end - 4
                    );
                }
                c.head = Vec::new();
                c.open = true;
                open += 1;
            }
        }
    }
    Ok(conns)
}

/// The response must be a 101 with the right Sec-WebSocket-Accept.
fn check_response(id: usize, head: &[u8], key: &str) -> Result<()> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        bail!("connection {id}: expected a 101, got {text:?}");
    }
    let want = accept_for(key);
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find_map(|(name, value)| {
            name.eq_ignore_ascii_case("sec-websocket-accept")
                .then(|| value.trim())
        });
    match accept {
        Some(a) if a == want => Ok(()),
        other => bail!("connection {id}: Sec-WebSocket-Accept {other:?}, expected {want:?}"),
    }
}

/// The server's user and system CPU time so far, in microseconds (/proc/PID/stat fields 14
/// and 15, in clock ticks; every thread of the process is included).
fn cpu_times(pid: u32) -> Result<(f64, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("--pid {pid}: no such process"))?;
    // The command name (field 2) is in parentheses and may contain spaces: count after it.
    let after = &stat[stat.rfind(')').context("/proc/PID/stat")? + 2..];
    let f: Vec<&str> = after.split(' ').collect();
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let us = |s: &str| -> Result<f64> { Ok(s.parse::<f64>()? * 1e6 / hz) };
    Ok((us(f[11])?, us(f[12])?))
}

/// This process's own user and system CPU time, in microseconds.
fn own_cpu() -> (f64, f64) {
    // SAFETY: getrusage writes the struct we pass.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    let t = |tv: libc::timeval| tv.tv_sec as f64 * 1e6 + tv.tv_usec as f64;
    (t(ru.ru_utime), t(ru.ru_stime))
}

/// The system calls counted, in the order perf prints them; the first is every system call.
const SYSCALL_EVENTS: &[&str] = &[
    "raw_syscalls:sys_enter",
    "syscalls:sys_enter_read",
    "syscalls:sys_enter_write",
    "syscalls:sys_enter_writev",
    "syscalls:sys_enter_recvfrom",
    "syscalls:sys_enter_sendto",
    "syscalls:sys_enter_epoll_wait",
    "syscalls:sys_enter_epoll_pwait",
    "syscalls:sys_enter_epoll_ctl",
    "syscalls:sys_enter_futex",
];

/// A perf process attached to the server, started with its events disabled and switched on and
/// off through its control pipe (`--control fd:CTL,ACK`), so that it sees exactly the window.
struct PerfChild {
    child: Child,
    ctl: std::fs::File,
    ack: std::fs::File,
    /// Where perf writes (its -o): counts for `perf stat`, samples for `perf record`.
    out: std::path::PathBuf,
}

impl PerfChild {
    /// `perf SUBCOMMAND -D -1 -p PID --control ... -o OUT ARGS...`
    fn start(subcommand: &str, pid: u32, args: &[String]) -> Result<PerfChild> {
        let mut ctl_fds = [0; 2];
        let mut ack_fds = [0; 2];
        // SAFETY: pipe writes two descriptors into the arrays. Not O_CLOEXEC: perf inherits
        // its ends (the read end of ctl, the write end of ack).
        unsafe {
            if libc::pipe(ctl_fds.as_mut_ptr()) != 0 || libc::pipe(ack_fds.as_mut_ptr()) != 0 {
                bail!("pipe: {}", io::Error::last_os_error());
            }
        }
        let out = std::env::temp_dir().join(format!(
            "ws-load-perf-{subcommand}-{}.out",
            std::process::id()
        ));
        let child = Command::new("perf")
            .args([subcommand, "-D", "-1", "-p", &pid.to_string()])
            .arg("--control")
            .arg(format!("fd:{},{}", ctl_fds[0], ack_fds[1]))
            .arg("-o")
            .arg(&out)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // perf says "Events enabled" on every command: not worth showing.
            .stderr(Stdio::null())
            .spawn()
            .context("starting perf")?;
        // SAFETY: we own these descriptors; the child has its copies.
        let (ctl, ack) = unsafe {
            use std::os::fd::FromRawFd;
            libc::close(ctl_fds[0]);
            libc::close(ack_fds[1]);
            libc::fcntl(ctl_fds[1], libc::F_SETFD, libc::FD_CLOEXEC);
            libc::fcntl(ack_fds[0], libc::F_SETFD, libc::FD_CLOEXEC);
            (
                std::fs::File::from_raw_fd(ctl_fds[1]),
                std::fs::File::from_raw_fd(ack_fds[0]),
            )
        };
        Ok(PerfChild {
            child,
            ctl,
            ack,
            out,
        })
    }

    /// Send a control command and wait for perf's `ack`.
    fn command(&mut self, cmd: &str) -> Result<()> {
        self.ctl.write_all(format!("{cmd}\n").as_bytes())?;
        let mut got = [0u8; 4];
        self.ack
            .read_exact(&mut got)
            .context("perf did not acknowledge (is perf allowed to trace here?)")?;
        Ok(())
    }

    /// Stop perf (SIGINT makes it write its output and exit) and return its output file.
    fn finish(self) -> Result<std::path::PathBuf> {
        // SAFETY: kill sends SIGINT to our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let mut child = self.child;
        child.wait()?;
        Ok(self.out)
    }
}

/// `perf stat` counting the server's system calls (and any --event) over the window.
struct PerfCounter {
    /// SYSCALL_EVENTS, then the --event ones.
    events: Vec<String>,
    perf: PerfChild,
}

impl PerfCounter {
    fn start(pid: u32, extra: &[String]) -> Result<PerfCounter> {
        let events: Vec<String> = SYSCALL_EVENTS
            .iter()
            .map(|e| e.to_string())
            .chain(extra.iter().cloned())
            .collect();
        let perf = PerfChild::start("stat", pid, &["-x,".into(), "-e".into(), events.join(",")])?;
        Ok(PerfCounter { events, perf })
    }

    /// Stop perf and read its counts, in `events` order.
    fn finish(self) -> Result<Vec<(String, u64)>> {
        let out = self.perf.finish()?;
        let text = std::fs::read_to_string(&out)?;
        std::fs::remove_file(&out).ok();
        let counts: Vec<u64> = self
            .events
            .iter()
            .map(|ev| {
                text.lines()
                    .find(|l| l.split(',').nth(2) == Some(ev.as_str()))
                    .and_then(|l| l.split(',').next()?.parse().ok())
                    .unwrap_or(0)
            })
            .collect();
        Ok(self.events.iter().cloned().zip(counts).collect())
    }
}

/// The server's CPU time split into user and kernel by sampling: `perf record -e cpu-clock`
/// takes a sample every `SAMPLE_PERIOD_NS` of the server's CPU time and notes where the
/// instruction pointer was. /proc/PID/stat cannot do this job here: the kernel splits a
/// process's time into user and system at each timer tick, 250 a second on this machine, so a
/// one-second run at 0.6 µs of user CPU per message for 120,000 messages (72 ms) rests on about
/// 18 ticks, give or take 4 (24%). At 10,000 samples a second the same run rests on about 720
/// (4%). Each sample costs the server about a microsecond of interrupt: 1% of its CPU, the
/// same for every server.
struct PerfSampler {
    perf: PerfChild,
}

/// One cpu-clock sample per 100 µs of the server's CPU time: 10,000 a second on a busy core.
const SAMPLE_PERIOD_NS: u64 = 100_000;

impl PerfSampler {
    fn start(pid: u32) -> Result<PerfSampler> {
        let args = [
            "-q".to_string(),
            "-e".into(),
            "cpu-clock".into(),
            "-c".into(),
            SAMPLE_PERIOD_NS.to_string(),
        ];
        Ok(PerfSampler {
            perf: PerfChild::start("record", pid, &args)?,
        })
    }

    /// Stop perf and count its samples: (user, kernel) CPU time in microseconds. A sample whose
    /// instruction pointer is in the kernel's half of the address space (from
    /// 0xffff_8000_0000_0000 on x86-64) is kernel time: system calls, and the softirq work that
    /// loopback TCP does inside them. No samples at all, or a perf that failed, is an error:
    /// zero would read as a server that costs nothing.
    fn finish(self) -> Result<(f64, f64)> {
        let out = self.perf.finish()?;
        let script = Command::new("perf")
            .args(["script", "-F", "ip", "-i"])
            .arg(&out)
            .stderr(Stdio::null())
            .output()
            .context("perf script")?;
        std::fs::remove_file(&out).ok();
        if !script.status.success() {
            bail!("perf script failed ({}): no CPU samples", script.status);
        }
        const KERNEL_HALF: u64 = 0xffff_8000_0000_0000;
        let (mut user, mut kernel) = (0u64, 0u64);
        for line in String::from_utf8_lossy(&script.stdout).lines() {
            let ip = line.trim();
            if ip.is_empty() {
                continue;
            }
            match u64::from_str_radix(ip, 16) {
                Ok(ip) if ip >= KERNEL_HALF => kernel += 1,
                Ok(_) => user += 1,
                Err(_) => bail!("perf script printed {ip:?} where an address was expected"),
            }
        }
        if user + kernel == 0 {
            bail!("perf recorded no samples of the server's CPU time");
        }
        let us = |n: u64| (n * SAMPLE_PERIOD_NS) as f64 / 1e3;
        Ok((us(user), us(kernel)))
    }
}

/// What is counted at each edge of the measured window.
#[derive(Clone, Copy)]
struct Snapshot {
    at: Instant,
    /// Echoes received so far, on all connections.
    msgs: u64,
    /// The server's user and system CPU time (zero without --pid), and ours, in microseconds.
    server: (f64, f64),
    own: (f64, f64),
}

impl Snapshot {
    fn take(msgs: u64, pid: Option<u32>) -> Result<Snapshot> {
        Ok(Snapshot {
            at: Instant::now(),
            msgs,
            server: pid.map_or(Ok((0.0, 0.0)), cpu_times)?,
            own: own_cpu(),
        })
    }
}

/// The load run: K in flight on every connection, warm-up, measured window, then the drain.
fn load(cli: &Cli, poll: &mut Poll, addr: SocketAddr, path: &str, frames: &Frames) -> Result<()> {
    if cli.inflight == 0 || cli.conns == 0 {
        bail!("--conns and --inflight must be at least 1");
    }
    let mut conns = open_all(poll, addr, path, cli.conns)?;
    let mut perf = match (cli.perf, cli.pid) {
        (true, Some(pid)) => Some((
            PerfCounter::start(pid, &cli.events)?,
            PerfSampler::start(pid)?,
        )),
        (true, None) => bail!("--perf needs --pid"),
        _ => None,
    };
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; RECV_BUF];
    for (id, c) in conns.iter_mut().enumerate() {
        c.send(cli.inflight as u64, frames);
        c.flush(frames)
            .with_context(|| format!("connection {id}: write"))?;
    }
    let started = Instant::now();
    let warm_end = started + Duration::from_secs_f64(cli.warmup);
    let end = warm_end + Duration::from_secs_f64(cli.duration);
    let mut total: u64 = 0;
    let mut window: Option<Snapshot> = None;
    let mut result: Option<(Snapshot, Snapshot)> = None;
    let mut sending = true;
    let mut drain_deadline = end + Duration::from_secs(10);
    loop {
        let now = Instant::now();
        if window.is_none() && now >= warm_end {
            if let Some((counter, sampler)) = perf.as_mut() {
                counter.perf.command("enable")?;
                sampler.perf.command("enable")?;
            }
            window = Some(Snapshot::take(total, cli.pid)?);
        }
        if let (Some(start), None) = (window, &result) {
            if now >= end {
                let stop = Snapshot::take(total, cli.pid)?;
                if let Some((counter, sampler)) = perf.as_mut() {
                    counter.perf.command("disable")?;
                    sampler.perf.command("disable")?;
                }
                result = Some((start, stop));
                sending = false;
                drain_deadline = Instant::now() + Duration::from_secs(10);
            }
        }
        if !sending {
            if conns.iter().all(|c| c.outstanding() == 0) {
                break;
            }
            if Instant::now() >= drain_deadline {
                let missing: u64 = conns.iter().map(Conn::outstanding).sum();
                bail!("{missing} messages sent were never echoed (waited 10 s)");
            }
        }
        let next = if window.is_none() {
            warm_end
        } else if sending {
            end
        } else {
            drain_deadline
        };
        let timeout = next
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(100));
        poll.poll(&mut events, Some(timeout))?;
        for ev in events.iter() {
            let id = ev.token().0;
            let c = &mut conns[id];
            if ev.is_readable() {
                loop {
                    match c.sock.read(&mut buf) {
                        Ok(0) => bail!(
                            "connection {id}: the server closed the connection ({} of {} \
                             messages echoed)",
                            c.received,
                            c.sent
                        ),
                        Ok(n) => {
                            let done = c.verify(id, &buf[..n], frames)?;
                            total += done;
                            if sending {
                                c.send(done, frames);
                            }
                            // A short read emptied the socket: any byte arriving later is a
                            // new edge for epoll, so the read that would say EAGAIN is skipped.
                            if n < buf.len() {
                                break;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e).context(format!("connection {id}: read")),
                    }
                }
            }
            c.flush(frames)
                .with_context(|| format!("connection {id}: write"))?;
        }
    }
    let (start, stop) = result.expect("the window ended before the drain");
    let secs = (stop.at - start.at).as_secs_f64();
    let msgs = stop.msgs - start.msgs;
    // The server's CPU by /proc/PID/stat's ticks, and (with --perf) by 10,000 samples a
    // second, which is what the RESULT line reports when there is one (see PerfSampler).
    let ticks = (
        stop.server.0 - start.server.0,
        stop.server.1 - start.server.1,
    );
    let own = (stop.own.0 - start.own.0, stop.own.1 - start.own.1);
    let (syscalls, sampled) = match perf {
        Some((counter, sampler)) => (Some(counter.finish()?), Some(sampler.finish()?)),
        None => (None, None),
    };
    let (user, sys) = sampled.unwrap_or(ticks);
    let sent: u64 = conns.iter().map(|c| c.sent).sum();
    let bytes = sent * frames.echo_len as u64;
    let rate = msgs as f64 / secs;
    let per = |x: f64| if msgs > 0 { x / msgs as f64 } else { 0.0 };
    println!(
        "ws-load: {} {}, {} connections x {} in flight, {}-byte {} messages, {:.1} s warm-up \
         + {:.1} s",
        cli.label,
        cli.url,
        cli.conns,
        cli.inflight,
        cli.size,
        if cli.text { "text" } else { "binary" },
        cli.warmup,
        secs
    );
    println!(
        "  {rate:.0} messages/s ({msgs} in {secs:.2} s); all {sent} messages sent were echoed \
         and verified ({:.1} MB of echoes)",
        bytes as f64 / 1e6
    );
    if let Some(pid) = cli.pid {
        println!(
            "  server (pid {pid}) CPU per message: user {:.3} us, system {:.3} us ({})",
            per(user),
            per(sys),
            if sampled.is_some() {
                "perf samples"
            } else {
                "/proc ticks"
            }
        );
        println!(
            "  the same by /proc/{pid}/stat's ticks: user {:.3} us, system {:.3} us",
            per(ticks.0),
            per(ticks.1)
        );
    }
    let mut syscall_field = String::from("n/a");
    let mut breakdown = String::new();
    if let Some(counts) = &syscalls {
        syscall_field = format!("{:.3}", per(counts[0].1 as f64));
        for (ev, n) in counts.iter().skip(1) {
            if *n > 0 || !SYSCALL_EVENTS.contains(&ev.as_str()) {
                // syscalls:sys_enter_read is "read", probe_libc:malloc "malloc".
                let name = ev.rsplit(':').next().unwrap_or(ev);
                let name = name.trim_start_matches("sys_enter_");
                breakdown += &format!("{name}:{:.3},", per(*n as f64));
            }
        }
        breakdown.pop();
        println!("  server system calls per message: {syscall_field} ({breakdown})");
    }
    println!(
        "  ws-load's own CPU per message: user {:.3} us, system {:.3} us",
        per(own.0),
        per(own.1)
    );
    println!(
        "RESULT label={} conns={} inflight={} size={} secs={secs:.3} msgs={msgs} rate={rate:.0} \
         user_us={:.3} sys_us={:.3} tick_user_us={:.3} tick_sys_us={:.3} syscalls={syscall_field} \
         calls={} load_user_us={:.3} load_sys_us={:.3}",
        cli.label,
        cli.conns,
        cli.inflight,
        cli.size,
        per(user),
        per(sys),
        per(ticks.0),
        per(ticks.1),
        if breakdown.is_empty() {
            "-"
        } else {
            &breakdown
        },
        per(own.0),
        per(own.1)
    );
    Ok(())
}

/// A process's resident memory (VmRSS) and its anonymous memory (heap, stacks, anonymous
/// mmaps: what the program allocated, as opposed to the pages of its binary), in KiB.
fn memory(pid: u32) -> Result<(u64, u64)> {
    let kib = |text: &str, field: &str| -> Result<u64> {
        let line = text
            .lines()
            .find(|l| l.starts_with(field))
            .with_context(|| format!("no {field} for pid {pid}"))?;
        Ok(line[field.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()?)
    };
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    Ok((kib(&status, "VmRSS:")?, kib(&rollup, "Anonymous:")?))
}

/// The memory mode: what N idle connections cost the server.
fn idle(
    cli: &Cli,
    poll: &mut Poll,
    addr: SocketAddr,
    path: &str,
    n: usize,
    frames: &Frames,
) -> Result<()> {
    let pid = cli.pid.context("--idle needs --pid (the server's)")?;
    let settle = || std::thread::sleep(Duration::from_millis(500));
    let before = memory(pid)?;
    let t = Instant::now();
    let mut conns = open_all(poll, addr, path, n)?;
    let opened_in = t.elapsed().as_secs_f64();
    settle();
    let open = memory(pid)?;
    // One message on each, so that buffers a server allocates on first use are counted.
    let mut buf = vec![0u8; RECV_BUF];
    let mut events = Events::with_capacity(1024);
    for (id, c) in conns.iter_mut().enumerate() {
        c.send(1, frames);
        c.flush(frames)
            .with_context(|| format!("connection {id}: write"))?;
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut waiting = n;
    while waiting > 0 {
        if Instant::now() >= deadline {
            bail!("{waiting} of {n} connections never echoed their message");
        }
        poll.poll(&mut events, Some(Duration::from_millis(100)))?;
        for ev in events.iter() {
            let id = ev.token().0;
            let c = &mut conns[id];
            loop {
                match c.sock.read(&mut buf) {
                    Ok(0) => bail!("connection {id}: closed by the server while idle"),
                    Ok(r) => {
                        if c.verify(id, &buf[..r], frames)? > 0 {
                            waiting -= 1;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e).context(format!("connection {id}: read")),
                }
            }
            c.flush(frames)
                .with_context(|| format!("connection {id}: write"))?;
        }
    }
    settle();
    let echoed = memory(pid)?;
    let per = |after: u64, before: u64| (after as f64 - before as f64) * 1024.0 / n as f64;
    println!(
        "ws-load: {} {}, {n} idle connections (opened in {opened_in:.1} s)",
        cli.label, cli.url
    );
    println!(
        "  server (pid {pid}) before: VmRSS {} KiB, anonymous {} KiB",
        before.0, before.1
    );
    println!(
        "  after the handshakes:       VmRSS {} KiB, anonymous {} KiB: {:.0} / {:.0} bytes per connection",
        open.0,
        open.1,
        per(open.0, before.0),
        per(open.1, before.1)
    );
    println!(
        "  after one echo each:         VmRSS {} KiB, anonymous {} KiB: {:.0} / {:.0} bytes per connection",
        echoed.0,
        echoed.1,
        per(echoed.0, before.0),
        per(echoed.1, before.1)
    );
    println!(
        "RESULT-IDLE label={} conns={n} rss_open_b={:.0} anon_open_b={:.0} rss_echo_b={:.0} \
         anon_echo_b={:.0}",
        cli.label,
        per(open.0, before.0),
        per(open.1, before.1),
        per(echoed.0, before.0),
        per(echoed.1, before.1)
    );
    if cli.hold > 0.0 {
        std::thread::sleep(Duration::from_secs_f64(cli.hold));
    }
    Ok(())
}

/// Raise RLIMIT_NOFILE's soft limit to the hard limit (10,000 connections need it).
fn raise_fd_limit() -> Result<()> {
    ws_bench::raise_fd_limit().context("raising RLIMIT_NOFILE")?;
    Ok(())
}
