//! Lesson 05: one thread, one poll, ten thousand connections. An echo server for TCP and UDP
//! at once, on the event loop of `src/event_loop.rs`, and a load generator that is an event
//! loop too.
//!
//! ```text
//! cargo run --bin 05-mio-echo                                   # tcp and udp on 127.0.0.1:7005
//! nc 127.0.0.1 7005        /   nc -u 127.0.0.1 7005             # both echo
//! cargo run --bin 05-mio-echo -- --trace                        # epoll_wait, READABLE, WouldBlock...
//! cargo run --release --bin 05-mio-echo -- client --conns 10000 --hold 5
//! ```
//!
//! Read `src/event_loop.rs` with this file: the loop is the lesson. This file is what a
//! program on the loop looks like: a [`Service`] that says what to do with bytes (echo them),
//! and a `main` that opens the listeners and runs the loop.

use clap::{Parser, Subcommand};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use netcourse::event_loop::{self, Config, ConnId, Cx, EventLoop, Service, UdpId};
use netcourse::trace::Trace;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Lesson 05: an event-loop echo server (TCP and UDP on one poll) and a load generator"
)]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The server's options, when no subcommand is given.
    #[command(flatten)]
    server: ServerArgs,
    /// Address to listen on (TCP and UDP, same port) or to connect to. Port 0 picks a free one.
    #[arg(long, global = true, default_value = "127.0.0.1:7005")]
    addr: SocketAddr,
    /// Print the loop's system calls and readiness events to stderr.
    #[arg(long, global = true)]
    trace: bool,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Stop reading from a client while more than this many bytes wait to be sent to it.
    #[arg(long, default_value_t = 64 * 1024)]
    pause_above: usize,
}

#[derive(Subcommand)]
enum Mode {
    /// Echo every TCP byte and every UDP datagram (the default).
    Server(ServerArgs),
    /// Open many connections at once, echo messages through each, and report.
    Client {
        /// How many connections to hold open at the same time.
        #[arg(long, default_value_t = 100)]
        conns: usize,
        /// Messages each connection sends (one in flight: send, wait for the echo, repeat).
        #[arg(long, default_value_t = 10)]
        messages: usize,
        /// Bytes per message.
        #[arg(long, default_value_t = 64)]
        size: usize,
        /// Keep every connection open and idle this many seconds after its messages.
        #[arg(long, default_value_t = 0.0)]
        hold: f64,
        /// Spread connections over this many source addresses 127.0.0.1, .2, ... (each has its
        /// own range of ephemeral ports).
        #[arg(long, default_value_t = 1)]
        sources: u8,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    // The soft limit on open files is often 1,024; 10,000 connections need more.
    let limit = event_loop::raise_fd_limit()?;
    trace.log(format_args!("setrlimit(RLIMIT_NOFILE) = {limit}"));
    match cli.mode.unwrap_or(Mode::Server(cli.server)) {
        Mode::Server(args) => serve(cli.addr, args.pause_above, trace)?,
        Mode::Client {
            conns,
            messages,
            size,
            hold,
            sources,
        } => {
            let load = Load {
                conns,
                messages,
                size,
                hold: Duration::from_secs_f64(hold),
                sources: sources.max(1),
            };
            let report = client(cli.addr, &load, trace)?;
            println!("{report}");
        }
    }
    Ok(())
}

/// The whole protocol: bytes in, the same bytes out.
struct Echo;

impl Service for Echo {
    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        // Queued, and written when this returns. If the client does not read its echoes, the
        // queue passes `pause_reading_above` and the loop stops reading from it: the client's
        // own writes then block in its kernel. That is backpressure, and it bounds our memory.
        cx.send(conn, data);
    }

    fn on_datagram(&mut self, cx: &mut Cx<'_>, udp: UdpId, from: SocketAddr, data: &[u8]) {
        cx.send_to(udp, from, data);
    }
    // End of stream: the default `on_eof` flushes what is queued and closes, which is exactly
    // the half-close behaviour of lesson 01.
}

fn serve(addr: SocketAddr, pause_above: usize, trace: Trace) -> io::Result<()> {
    let config = Config {
        pause_reading_above: pause_above,
        // Never reached by an echo (reading pauses first); a safety net all the same.
        max_output: pause_above.saturating_mul(4).max(1 << 20),
        trace,
        ..Config::default()
    };
    let mut lp = EventLoop::new(config)?;
    let tcp = lp.listen_tcp(addr)?;
    // UDP on the same port number as TCP: they are separate port spaces.
    let udp = lp
        .bind_udp(tcp)
        .or_else(|_| lp.bind_udp(SocketAddr::new(tcp.ip(), 0)))?;
    lp.stop_on_signals()?;
    println!("listening on tcp://{tcp}");
    println!("listening on udp://{udp}");
    match lp.run(&mut Echo)? {
        0 => eprintln!("stopped: every connection flushed and closed"),
        n => eprintln!("stopped: {n} connections could not be flushed in time and were cut off"),
    }
    Ok(())
}

// ---- The load generator: the client side of an event loop --------------------------------

/// What the client is asked to do.
struct Load {
    conns: usize,
    messages: usize,
    size: usize,
    hold: Duration,
    sources: u8,
}

/// One client connection's progress.
struct Client {
    stream: TcpStream,
    connected: bool,
    /// Messages fully echoed so far.
    done: usize,
    /// Bytes of the current message written, and echoed back.
    sent: usize,
    echoed: usize,
    failed: Option<String>,
}

/// Open `load.conns` connections at once, echo `load.messages` messages through each (one in
/// flight per connection), hold them open, and report.
fn client(server: SocketAddr, load: &Load, trace: Trace) -> io::Result<String> {
    let start = Instant::now();
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let message: Vec<u8> = (0..load.size).map(|i| b'a' + (i % 26) as u8).collect();
    let mut clients = Vec::with_capacity(load.conns);
    for i in 0..load.conns {
        let stream = connect_nonblocking(server, i, load.sources)?;
        clients.push(Client {
            stream,
            connected: false,
            done: 0,
            sent: 0,
            echoed: 0,
            failed: None,
        });
        let c = clients.last_mut().expect("just pushed");
        poll.registry().register(
            &mut c.stream,
            Token(i),
            Interest::READABLE | Interest::WRITABLE,
        )?;
    }
    trace.log(format_args!(
        "{} connects started (non-blocking: EINPROGRESS)",
        load.conns
    ));

    let mut buf = vec![0u8; 64 * 1024];
    let mut finished = 0;
    let deadline = start + Duration::from_secs(60) + load.hold;
    while finished < load.conns && Instant::now() < deadline {
        poll.poll(&mut events, Some(Duration::from_millis(500)))?;
        for event in events.iter() {
            let c = &mut clients[event.token().0];
            if c.failed.is_some() || c.done == load.messages {
                continue;
            }
            if !c.connected && (event.is_writable() || event.is_error()) {
                // A non-blocking connect has finished when the socket becomes writable; it
                // succeeded if there is no pending error (getsockopt SO_ERROR).
                match c.stream.take_error() {
                    Ok(None) if c.stream.peer_addr().is_ok() => c.connected = true,
                    Ok(Some(e)) | Err(e) => c.failed = Some(format!("connect: {e}")),
                    Ok(None) => continue, // not yet
                }
            }
            if c.connected {
                step(c, &message, load.messages, &mut buf);
            }
            if c.failed.is_some() || c.done == load.messages {
                finished += 1;
            }
        }
    }
    let elapsed = start.elapsed();
    let connected = clients.iter().filter(|c| c.connected).count();
    let echoed: usize = clients.iter().map(|c| c.done).sum();
    let failures: Vec<&String> = clients.iter().filter_map(|c| c.failed.as_ref()).collect();

    // Everybody idle now: the moment to look at the server's memory.
    std::thread::sleep(load.hold);
    let mut report = format!(
        "{connected} of {} connections established, {echoed} messages of {} bytes echoed and verified in {:.2} s ({:.0} messages/s)",
        load.conns,
        load.size,
        elapsed.as_secs_f64(),
        echoed as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if let Some(first) = failures.first() {
        report.push_str(&format!(
            "; {} failed, the first with: {first}",
            failures.len()
        ));
    }
    if finished < load.conns {
        report.push_str(&format!(
            "; {} did not finish within 60 s",
            load.conns - finished
        ));
    }
    Ok(report)
}

/// A non-blocking connect from source address 127.0.0.(1 + i % sources), port chosen by the
/// kernel: connect(2) returns EINPROGRESS at once and the handshake completes in the background.
fn connect_nonblocking(server: SocketAddr, i: usize, sources: u8) -> io::Result<TcpStream> {
    let socket = Socket::new(
        Domain::for_address(server),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_tcp_nodelay(true)?;
    if server.is_ipv4() && server.ip().is_loopback() && sources > 1 {
        let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % sources as usize) as u8));
        socket.bind(&SocketAddr::new(source, 0).into())?;
    }
    match socket.connect(&server.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(socket.into()))
}

/// Move one connection forward as far as it can go without blocking: write the rest of the
/// current message, read its echo, verify it, start the next.
fn step(c: &mut Client, message: &[u8], messages: usize, buf: &mut [u8]) {
    while c.done < messages && c.failed.is_none() {
        if c.sent < message.len() {
            match c.stream.write(&message[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => c.failed = Some(format!("write: {e}")),
            }
            continue;
        }
        let want = message.len() - c.echoed;
        match c.stream.read(&mut buf[..want]) {
            Ok(0) => c.failed = Some("the server closed the connection".into()),
            Ok(n) => {
                if buf[..n] != message[c.echoed..c.echoed + n] {
                    c.failed = Some(format!(
                        "wrong echo at byte {} of message {}",
                        c.echoed, c.done
                    ));
                }
                c.echoed += n;
                if c.echoed == message.len() {
                    c.done += 1;
                    c.sent = 0;
                    c.echoed = 0;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => c.failed = Some(format!("read: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_load_generator_echoes_through_a_real_loop() {
        let mut lp = EventLoop::new(Config::default()).unwrap();
        let addr = lp.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let stop = lp.stop_handle();
        let server = std::thread::spawn(move || lp.run(&mut Echo).unwrap());
        let load = Load {
            conns: 50,
            messages: 20,
            size: 100,
            hold: Duration::ZERO,
            sources: 2,
        };
        let report = client(addr, &load, Trace::default()).unwrap();
        assert!(
            report.starts_with("50 of 50 connections established, 1000 messages"),
            "{report}"
        );
        stop.stop();
        server.join().unwrap();
    }
}
