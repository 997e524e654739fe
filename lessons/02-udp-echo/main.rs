//! Lesson 02: a UDP echo server and client. Datagrams keep their boundaries, and may be lost,
//! duplicated or reordered; nothing tells you when they are.
//!
//! ```text
//! cargo run --bin 02-udp-echo                                  # server on 127.0.0.1:7002
//! nc -u 127.0.0.1 7002                                         # each line is one datagram
//! cargo run --bin 02-udp-echo -- --drop 0.3 --reorder          # a lossy, shuffling server
//! cargo run --bin 02-udp-echo -- client                        # lines in, replies out, with retries
//! cargo run --bin 02-udp-echo -- client --count 1000           # measure loss and reordering
//! ```
//!
//! There is no connection: the server's one socket receives from everybody, and every reply
//! goes back to the address that datagram came from. There is no accept, no stream, no EOF.

use clap::{Parser, Subcommand};
use netcourse::trace::{quote, Trace};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, BufRead, Write};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// The largest payload a UDP datagram can carry over IPv4: the 16-bit IP total length
/// (65,535) minus 20 bytes of IP header and 8 of UDP header. A receive buffer this large never
/// cuts a datagram short; a smaller one silently truncates (see the lesson text, MSG_TRUNC).
const MAX_DATAGRAM: usize = 65_507;

#[derive(Parser)]
#[command(about = "Lesson 02: a UDP echo server and client, with fault injection")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Address to listen on (server) or send to (client). Port 0 picks a free port.
    #[arg(long, global = true, default_value = "127.0.0.1:7002")]
    addr: SocketAddr,
    /// Print every system call and its result to stderr.
    #[arg(long, global = true)]
    trace: bool,
    #[command(flatten)]
    faults: Faults,
}

/// Fault injection: make the network's behaviour visible on loopback, where nothing is lost.
#[derive(clap::Args, Clone, Copy)]
struct Faults {
    /// Drop each reply with this probability (0.0 to 1.0), as a congested network would.
    #[arg(long, default_value_t = 0.0, value_parser = probability)]
    drop: f64,
    /// Hold back every other reply and send it after the next one, so replies arrive swapped.
    #[arg(long)]
    reorder: bool,
    /// Seed for --drop's random choices, to replay the same losses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

#[derive(Subcommand)]
enum Mode {
    /// Echo every datagram back to its sender (the default).
    Server,
    /// Send lines (or numbered datagrams with --count), wait for replies, retry on timeout.
    Client {
        /// Milliseconds to wait for a reply before sending again; doubles on each retry.
        #[arg(long, default_value_t = 500)]
        timeout: u64,
        /// How many times to send again before giving up on a datagram.
        #[arg(long, default_value_t = 3)]
        retries: u32,
        /// Instead of reading lines: send this many numbered datagrams, then report loss.
        #[arg(long)]
        count: Option<u32>,
        /// Size of each numbered datagram with --count, in bytes (at least 8).
        #[arg(long, default_value_t = 64)]
        size: usize,
    },
}

fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0.0 and 1.0")),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    match cli.mode.unwrap_or(Mode::Server) {
        Mode::Server => serve(cli.addr, cli.faults, trace)?,
        Mode::Client {
            timeout,
            retries,
            count: None,
            ..
        } => client_lines(cli.addr, Duration::from_millis(timeout), retries, trace)?,
        Mode::Client {
            timeout,
            count: Some(n),
            size,
            ..
        } => client_count(
            cli.addr,
            n,
            size.max(8),
            Duration::from_millis(timeout),
            trace,
        )?,
    }
    Ok(())
}

/// A UDP socket, made with socket2 so each step is the system call it wraps, then handed to
/// std's `UdpSocket` for `recv_from`/`send_to` on plain byte buffers.
fn udp_socket(bind_to: SocketAddr, trace: Trace) -> io::Result<UdpSocket> {
    // socket(2) with SOCK_DGRAM: a datagram socket. No listen, no accept: it is ready to send
    // and receive as soon as it has an address.
    let socket = Socket::new(
        Domain::for_address(bind_to),
        Type::DGRAM,
        Some(Protocol::UDP),
    )?;
    // bind(2): claim the address. A client binds to port 0 (any free port); sendto would do
    // that implicitly, but binding first makes the address visible in the trace.
    socket.bind(&bind_to.into())?;
    let local = socket.local_addr()?.as_socket().expect("an IP socket");
    trace.log(format_args!(
        "socket(SOCK_DGRAM) = fd {}; bind(fd {}, {local}) = 0",
        socket.as_raw_fd(),
        socket.as_raw_fd()
    ));
    Ok(socket.into())
}

/// The server: receive a datagram, send it back to whoever sent it, forever.
fn serve(addr: SocketAddr, faults: Faults, trace: Trace) -> io::Result<()> {
    let sock = udp_socket(addr, trace)?;
    println!("listening on udp://{}", sock.local_addr()?);

    let mut rng = Rng::new(faults.seed);
    // With --reorder, a reply waiting to be sent after the next one.
    let mut held: Option<(Vec<u8>, SocketAddr)> = None;
    let mut buf = Vec::new();
    let mut waking = false; // is a read timeout set on the socket?
    loop {
        // A held reply must not wait forever for a next datagram: while one is held, wake up
        // after 200 ms. (Only change the setting when needed: each change is a setsockopt.)
        if waking != held.is_some() {
            waking = held.is_some();
            sock.set_read_timeout(waking.then_some(Duration::from_millis(200)))?;
        }
        let Some((n, peer)) = receive(&sock, &mut buf, trace)? else {
            // Nobody sent anything within 200 ms: release the held reply.
            if let Some((data, to)) = held.take() {
                reply(&sock, &data, to, trace)?;
            }
            continue;
        };
        let data = buf[..n].to_vec();

        if faults.drop > 0.0 && rng.chance(faults.drop) {
            trace.log(format_args!(
                "--drop: not replying to {peer}; nobody is told"
            ));
            continue;
        }
        if faults.reorder {
            match held.take() {
                // Hold this reply; it goes out after the next one.
                None => {
                    held = Some((data, peer));
                    trace.log(format_args!("--reorder: holding the reply to {peer}"));
                    continue;
                }
                // Send the new reply first, then the one held back: swapped.
                Some((old, old_peer)) => {
                    reply(&sock, &data, peer, trace)?;
                    reply(&sock, &old, old_peer, trace)?;
                    continue;
                }
            }
        }
        reply(&sock, &data, peer, trace)?;
    }
}

/// Wait for one datagram: its length in `buf` and who sent it, or `None` when the read
/// timeout passed (or a signal or an error report for an earlier reply woke us up).
fn receive(
    sock: &UdpSocket,
    buf: &mut Vec<u8>,
    trace: Trace,
) -> io::Result<Option<(usize, SocketAddr)>> {
    // exercise: begin "Receive one whole datagram and learn who sent it"
    // hint: recv_from(2) returns one whole datagram (never half of one, never two) and the address it came from: the reply goes there, since many clients share this one socket.
    // hint: A datagram longer than the buffer is cut short without an error: make the buffer at least MAX_DATAGRAM bytes (buf.resize).
    // hint: A read timeout shows up as ErrorKind::WouldBlock (or TimedOut): return Ok(None).
    // hint: An error about one datagram or one client must not stop the server: report it and return Ok(None).
    if buf.len() <= MAX_DATAGRAM {
        buf.resize(MAX_DATAGRAM + 1, 0);
    }
    match sock.recv_from(buf) {
        Ok((n, peer)) => {
            trace.log(format_args!(
                "recvfrom(fd {}, buf, {}) = {n} from {peer} {}",
                sock.as_raw_fd(),
                buf.len(),
                quote(&buf[..n], 32)
            ));
            Ok(Some((n, peer)))
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Ok(None)
        }
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
        Err(e) => {
            // An error here concerns one datagram, not the socket. (On Linux, an ICMP "port
            // unreachable" for a reply reaches an unconnected socket only with IP_RECVERR;
            // other systems report it here as ECONNREFUSED.)
            eprintln!("recvfrom: {e}");
            Ok(None)
        }
    }
    // exercise: end
}

/// sendto(2): one datagram to one address. It either goes out whole or not at all.
fn reply(sock: &UdpSocket, data: &[u8], to: SocketAddr, trace: Trace) -> io::Result<()> {
    match sock.send_to(data, to) {
        Ok(n) => trace.log(format_args!(
            "sendto(fd {}, {} bytes, {to}) = {n}",
            sock.as_raw_fd(),
            data.len()
        )),
        // A full send buffer or an unreachable peer loses this reply, like any datagram.
        Err(e) => eprintln!("sendto {to}: {e}"),
    }
    Ok(())
}

/// A connected UDP client socket: bound to any free port on the right address family, and
/// connect(2)ed to the server so that the kernel drops datagrams from anybody else and reports
/// an ICMP "port unreachable" as ECONNREFUSED on the next call.
fn client_socket(server: SocketAddr, trace: Trace) -> io::Result<UdpSocket> {
    let any: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .unwrap();
    let sock = udp_socket(any, trace)?;
    sock.connect(server)?;
    trace.log(format_args!(
        "connect(fd {}, {server}) = 0 (no packet is sent: it only sets the peer)",
        sock.as_raw_fd()
    ));
    Ok(sock)
}

/// Interactive client: each line of standard input is one datagram. Wait for the echo;
/// if it does not come in time, send again, waiting twice as long each time.
fn client_lines(
    server: SocketAddr,
    timeout: Duration,
    retries: u32,
    trace: Trace,
) -> io::Result<()> {
    let sock = client_socket(server, trace)?;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut out = io::stdout().lock();
    for line in io::stdin().lock().lines() {
        let line = line?;
        match request(&sock, line.as_bytes(), &mut buf, timeout, retries, trace)? {
            Some(reply) => writeln!(out, "{}", String::from_utf8_lossy(&reply))?,
            None => writeln!(out, "(no reply after {} tries)", retries + 1)?,
        }
        out.flush()?;
    }
    Ok(())
}

/// Send one datagram and wait for its echo, with retries. A reply that is not our datagram
/// (a late answer to an earlier, retried request) is skipped: with UDP, matching replies to
/// requests is the application's job.
fn request(
    sock: &UdpSocket,
    data: &[u8],
    buf: &mut [u8],
    timeout: Duration,
    retries: u32,
    trace: Trace,
) -> io::Result<Option<Vec<u8>>> {
    let mut wait = timeout;
    for attempt in 0..=retries {
        sock.send(data)?;
        trace.log(format_args!(
            "send(fd {}, {} bytes) attempt {}",
            sock.as_raw_fd(),
            data.len(),
            attempt + 1
        ));
        let deadline = Instant::now() + wait;
        while let Some(left) = deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
        {
            sock.set_read_timeout(Some(left))?;
            match sock.recv(buf) {
                Ok(n) if &buf[..n] == data => return Ok(Some(buf[..n].to_vec())),
                Ok(n) => trace.log(format_args!(
                    "recv = {n} bytes, not our datagram: a late or stray reply, skipped"
                )),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // ECONNREFUSED: an ICMP "port unreachable" came back: nobody is listening
                // (yet). Wait out this try anyway, so the backoff still spaces the retries.
                Err(e) => {
                    eprintln!("recv: {e}");
                    std::thread::sleep(left);
                    break;
                }
            }
        }
        trace.log(format_args!("no reply within {wait:?}"));
        wait *= 2;
    }
    Ok(None)
}

/// Measurement client: send `count` numbered datagrams, collect the replies until `timeout`
/// passes with nothing new, then report what was lost, duplicated and reordered.
fn client_count(
    server: SocketAddr,
    count: u32,
    size: usize,
    timeout: Duration,
    trace: Trace,
) -> io::Result<()> {
    let sock = client_socket(server, trace)?;
    let mut buf = vec![0u8; MAX_DATAGRAM + 1];
    let mut tally = Tally::new(count);
    // Pacing: a burst of datagrams overflows the server's receive buffer (about 200 KiB by
    // default), and the kernel drops the excess without telling anyone. Loss like that is real,
    // but it would hide the --drop we want to measure, so keep at most WINDOW datagrams in
    // flight: with more, wait up to 20 ms for a reply before sending on.
    const WINDOW: u32 = 32;
    for seq in 0..count {
        let mut datagram = vec![b'.'; size];
        datagram[..8].copy_from_slice(&(seq as u64).to_be_bytes());
        sock.send(&datagram)?;
        // In flight: sent after the newest reply (a lost datagram stops counting once a later one is answered).
        let in_flight = (seq + 1).saturating_sub(tally.last.map_or(0, |l| l + 1));
        sock.set_read_timeout(Some(Duration::from_millis(20)))?;
        sock.set_nonblocking(in_flight < WINDOW)?;
        // Take whatever replies are there (waiting a little if the window is full).
        while let Ok(n) = sock.recv(&mut buf) {
            tally.record(&buf[..n]);
            sock.set_nonblocking(true)?;
        }
    }
    sock.set_nonblocking(false)?;
    sock.set_read_timeout(Some(timeout))?;
    while let Ok(n) = sock.recv(&mut buf) {
        tally.record(&buf[..n]);
    }
    println!(
        "sent {count} datagrams of {size} bytes: {}",
        tally.summary()
    );
    Ok(())
}

/// What came back of the numbered datagrams: how often each number, and how many out of order.
struct Tally {
    seen: Vec<u32>,
    received: u32,
    reordered: u32,
    last: Option<u32>,
}

impl Tally {
    fn new(count: u32) -> Self {
        Tally {
            seen: vec![0; count as usize],
            received: 0,
            reordered: 0,
            last: None,
        }
    }

    /// Count one reply: its first 8 bytes are its sequence number.
    fn record(&mut self, reply: &[u8]) {
        let Some(seq) = reply.first_chunk::<8>().map(|b| u64::from_be_bytes(*b)) else {
            return; // too short to be ours
        };
        if let Some(slot) = self.seen.get_mut(seq as usize) {
            *slot += 1;
            self.received += 1;
            if self.last.is_some_and(|last| (seq as u32) < last) {
                self.reordered += 1;
            }
            self.last = Some(seq as u32);
        }
    }

    fn summary(&self) -> String {
        let lost = self.seen.iter().filter(|&&c| c == 0).count();
        let duplicated = self.seen.iter().filter(|&&c| c > 1).count();
        format!(
            "{} replies, {lost} lost ({:.1}%), {duplicated} duplicated, {} arrived after a later one",
            self.received,
            100.0 * lost as f64 / self.seen.len().max(1) as f64,
            self.reordered
        )
    }
}

/// A tiny deterministic random number generator (splitmix64): the same --seed gives the
/// same losses, so a run can be replayed. Not for anything secret.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}
