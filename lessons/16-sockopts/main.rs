//! Lesson 16: the socket options lab. One experiment per option, each run twice on this
//! machine's kernel, without the option and with it, printing what was measured.
//!
//! ```text
//! cargo run --bin 16-sockopts                    # list the experiments
//! cargo run --bin 16-sockopts -- reuseaddr       # one experiment (a few seconds at most)
//! cargo run --bin 16-sockopts -- all             # every experiment, about 15 seconds
//! cargo run --bin 16-sockopts -- nodelay --trace # and every setsockopt on stderr
//! cargo run --bin 16-sockopts -- server          # the exercise: a well-configured echo server
//! ```
//!
//! Every experiment uses 127.0.0.1 or ::1 and ports the kernel picks (port 0), so it can run
//! anywhere, at the same time as anything else. Each option is set with one socket2 call, which
//! makes one setsockopt(2); the comment above it names the call and its man page. What the
//! kernel did is read back the way `ss` reads it: `/proc/net/tcp` and `getsockopt(TCP_INFO)`,
//! through the small helpers in `src/sockopts.rs`. The lesson text
//! (lessons/16-sockopts/README.md) explains each table and pastes a real run.
//!
//! The `server` subcommand is what `course check 16` grades: an echo server (one thread per
//! client, as in lesson 04) that sets what a production server should set.

use clap::{Parser, Subcommand, ValueEnum};
use netcourse::cells;
use netcourse::sockopts::{
    drop_every_incoming_packet, errno_name, find_row, listener_row, outcome, percentile,
    ss_listen_queues, state_name, sysctl, tcp_info, wait_until, Table, ESTABLISHED, SYN_SENT,
    TIME_WAIT,
};
use netcourse::trace::{Trace, Traced};
use socket2::{Domain, Protocol, Socket, TcpKeepalive, Type};
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Lesson 16: the socket options lab, one measured experiment per option")]
struct Cli {
    #[command(subcommand)]
    experiment: Option<Experiment>,
    /// The server's options, when no experiment is named (`16-sockopts --addr 127.0.0.1:0`).
    #[command(flatten)]
    server: ServerArgs,
    /// The server's address (IP:PORT, port 0 picks one; [::]:PORT is dual-stack). Without an
    /// experiment and without --addr, the program lists the experiments.
    #[arg(long, global = true)]
    addr: Option<SocketAddr>,
    /// Print every setsockopt and the calls around it to stderr.
    #[arg(long, global = true)]
    trace: bool,
}

#[derive(Subcommand, Clone, Copy, PartialEq, Eq)]
enum Experiment {
    /// SO_REUSEADDR: binding a port while a closed connection waits in TIME_WAIT.
    Reuseaddr,
    /// TCP_NODELAY: Nagle's algorithm against a peer that delays its ACKs.
    Nodelay,
    /// SO_LINGER {on, 0}: close() sends a reset; the peer's read fails with ECONNRESET.
    Linger,
    /// SO_SNDBUF / SO_RCVBUF: how much a sender writes before it blocks.
    Buffers,
    /// SO_KEEPALIVE and its timers: noticing a peer that has silently gone.
    Keepalive,
    /// IPV6_V6ONLY: one listener on [::] for IPv4 and IPv6 clients, or IPv6 only.
    V6only,
    /// listen(fd, backlog): connections queued before accept(), and the ones that wait.
    Backlog,
    /// SO_REUSEPORT: several listeners on one port, the kernel spreading connections.
    Reuseport,
    /// Every experiment, one after the other.
    All,
    /// The exercise: an echo server that sets the options a production server should.
    Server(ServerArgs),
}

#[derive(clap::Args, Clone, Copy, PartialEq, Eq)]
struct ServerArgs {
    /// How many finished handshakes the kernel may queue before accept() takes them.
    #[arg(long, default_value_t = 1024)]
    backlog: i32,
    /// Make one classic mistake on purpose (the grader's tests prove it is caught).
    #[arg(long = "break", hide = true, value_enum)]
    mistake: Option<Mistake>,
}

const EXPERIMENTS: [Experiment; 8] = [
    Experiment::Reuseaddr,
    Experiment::Nodelay,
    Experiment::Linger,
    Experiment::Buffers,
    Experiment::Keepalive,
    Experiment::V6only,
    Experiment::Backlog,
    Experiment::Reuseport,
];

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    let experiment = match (cli.experiment, cli.addr) {
        (Some(e), _) => e,
        (None, Some(_)) => Experiment::Server(cli.server),
        (None, None) => {
            // Like every lesson, it runs alone: the exercise's server on 127.0.0.1:7016. The
            // menu of experiments goes to stderr first, so that stdout keeps only the
            // `listening on` line.
            list(&mut io::stderr())?;
            Experiment::Server(cli.server)
        }
    };
    match experiment {
        Experiment::Server(args) => {
            let addr = cli
                .addr
                .unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 7016)));
            serve(addr, args, trace)?;
        }
        Experiment::All => {
            for e in EXPERIMENTS {
                run(e, trace)?;
                println!();
            }
        }
        e => run(e, trace)?,
    }
    Ok(())
}

fn list(out: &mut impl Write) -> io::Result<()> {
    writeln!(
        out,
        "16-sockopts EXPERIMENT [--trace]: one socket option, measured without it and with it\n"
    )?;
    for (name, what) in [
        (
            "reuseaddr",
            "SO_REUSEADDR and TIME_WAIT: who closed first, and can the port be bound again",
        ),
        (
            "nodelay",
            "TCP_NODELAY and Nagle: write-write-read round trips against a delayed-ACK peer",
        ),
        (
            "linger",
            "SO_LINGER {on, 0}: close() sends RST, the peer reads ECONNRESET, no TIME_WAIT",
        ),
        (
            "buffers",
            "SO_SNDBUF / SO_RCVBUF: bytes written before the sender would block",
        ),
        (
            "keepalive",
            "SO_KEEPALIVE + TCP_KEEPIDLE/INTVL/CNT: a peer that stopped answering",
        ),
        ("v6only", "IPV6_V6ONLY: IPv4 clients on a [::] listener"),
        (
            "backlog",
            "listen(fd, N): how many handshakes complete without accept()",
        ),
        (
            "reuseport",
            "SO_REUSEPORT: four listeners on one port share the connections",
        ),
        ("all", "every experiment above, in order (about 15 s)"),
        (
            "server",
            "the exercise: an echo server with production options (course check 16)",
        ),
    ] {
        writeln!(out, "  {name:<10} {what}")?;
    }
    writeln!(
        out,
        "\nWith no experiment named, it runs the server (the exercise) on 127.0.0.1:7016."
    )
}

fn run(e: Experiment, t: Trace) -> io::Result<()> {
    match e {
        Experiment::Reuseaddr => reuseaddr(t),
        Experiment::Nodelay => nodelay(t),
        Experiment::Linger => linger(t),
        Experiment::Buffers => buffers(t),
        Experiment::Keepalive => keepalive(t),
        Experiment::V6only => v6only(t),
        Experiment::Backlog => backlog(t),
        Experiment::Reuseport => reuseport(t),
        Experiment::All | Experiment::Server(_) => unreachable!("handled in main"),
    }
}

// ---- Sockets, one system call at a time (as in lesson 01) ---------------------------------

const LOCALHOST: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// socket(2) for TCP, IPv4 or IPv6 from the address.
fn tcp_socket(addr: SocketAddr) -> io::Result<Socket> {
    Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
}

/// A listener on `addr`: `configure` runs between socket(2) and bind(2), where most options
/// must be set, then bind(2) and listen(2). Returns the socket and the address it got.
fn listen_with(
    addr: SocketAddr,
    backlog: i32,
    configure: impl FnOnce(&Socket) -> io::Result<()>,
) -> io::Result<(Socket, SocketAddr)> {
    let sock = tcp_socket(addr)?;
    configure(&sock)?;
    sock.bind(&addr.into())?;
    sock.listen(backlog)?;
    let local = local_addr(&sock);
    Ok((sock, local))
}

fn local_addr(sock: &Socket) -> SocketAddr {
    sock.local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("a bound IP socket has an IP address")
}

/// A connected pair on loopback: (client, the server's accepted socket). `configure_client`
/// runs before connect(2); the listener is closed once the connection is accepted.
fn connected_pair(
    configure_client: impl FnOnce(&Socket) -> io::Result<()>,
) -> io::Result<(Socket, Socket)> {
    let (listener, addr) = listen_with(LOCALHOST, 8, |_| Ok(()))?;
    let client = tcp_socket(addr)?;
    configure_client(&client)?;
    client.connect(&addr.into())?;
    let (server, _) = listener.accept()?;
    Ok((client, server))
}

/// Print what setsockopt(2) an experiment just made, when --trace is on, and pass on its result.
fn logged(t: Trace, sock: &Socket, call: &str, result: io::Result<()>) -> io::Result<()> {
    match &result {
        Ok(()) => t.log(format_args!(
            "setsockopt(fd {}, {call}) = 0",
            sock.as_raw_fd()
        )),
        Err(e) => t.log(format_args!(
            "setsockopt(fd {}, {call}) = -1 {}",
            sock.as_raw_fd(),
            errno_name(e)
        )),
    }
    result
}

fn heading(name: &str, title: &str, syscall: &str, socket2: &str, man: &str) {
    println!("== {name}: {title}");
    println!("   {syscall}   socket2: {socket2}   man {man}");
}

// ---- SO_REUSEADDR and TIME_WAIT ------------------------------------------------------------

/// Close a connection from one side or the other, then try to bind a new listener on the
/// server's port, without and with SO_REUSEADDR.
fn reuseaddr(t: Trace) -> io::Result<()> {
    heading(
        "reuseaddr",
        "SO_REUSEADDR and TIME_WAIT",
        "setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, [1], 4)",
        "Socket::set_reuse_address(true)",
        "socket(7), tcp(7)",
    );
    let mut table = Table::new(&[
        "closed first",
        "old listener",
        "server's end now",
        "client's end now",
        "new bind, no option",
        "new bind, SO_REUSEADDR",
    ]);
    for (server_first, old_reuse) in [(false, false), (true, false), (true, true)] {
        let (server, client) = close_a_connection(server_first, old_reuse, t)?;
        let plain = bind_and_listen(server.port(), false, t);
        let reusing = bind_and_listen(server.port(), true, t);
        table.row(cells![
            if server_first { "server" } else { "client" },
            if old_reuse {
                "SO_REUSEADDR"
            } else {
                "no option"
            },
            end_state(server, client),
            end_state(client, server),
            outcome(&plain),
            outcome(&reusing)
        ]);
    }
    print!("{}", table.render());
    println!(
        "shows: TIME_WAIT stays with the side that closed first (60 s on Linux). On the server's \
         port it blocks a plain bind; SO_REUSEADDR lets the new listener bind, but only if the old \
         one had set it too (its connections inherit the flag)."
    );
    Ok(())
}

/// One connection through a listener on a fresh port, closed by the server or the client
/// first, then by the other side; the listener is closed too. Returns the server's and the
/// client's address once TIME_WAIT is visible on the side that closed first.
fn close_a_connection(
    server_first: bool,
    reuse: bool,
    t: Trace,
) -> io::Result<(SocketAddr, SocketAddr)> {
    let (listener, addr) = listen_with(LOCALHOST, 8, |s| {
        logged(
            t,
            s,
            "SOL_SOCKET, SO_REUSEADDR, 1",
            s.set_reuse_address(reuse),
        )
    })?;
    let client = tcp_socket(addr)?;
    client.connect(&addr.into())?;
    let client_addr = local_addr(&client);
    let (server, _) = listener.accept()?;
    let (first, second) = if server_first {
        (server, client)
    } else {
        (client, server)
    };
    let (first_addr, second_addr) = (local_addr(&first), local_addr(&second));
    drop(first); // close(2): our FIN goes out
    let mut buf = [0u8; 16];
    let n = (&second).read(&mut buf)?; // the other side reads end of stream ...
    debug_assert_eq!(n, 0);
    drop(second); // ... and closes too: its FIN ends the conversation
    drop(listener);
    wait_until(100, || {
        find_row(first_addr, second_addr).is_some_and(|r| r.state == TIME_WAIT)
    });
    Ok((addr, client_addr))
}

/// The state of one end of a connection (`local` to `remote`) as the kernel lists it.
fn end_state(local: SocketAddr, remote: SocketAddr) -> &'static str {
    find_row(local, remote).map_or("gone", |r| state_name(r.state))
}

/// socket, [SO_REUSEADDR], bind and listen on 127.0.0.1:`port`; the listener is closed again.
fn bind_and_listen(port: u16, reuse: bool, t: Trace) -> io::Result<()> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    listen_with(addr, 8, |s| {
        if reuse {
            logged(
                t,
                s,
                "SOL_SOCKET, SO_REUSEADDR, 1",
                s.set_reuse_address(true),
            )?;
        }
        Ok(())
    })
    .map(drop)
}

// ---- TCP_NODELAY and Nagle -----------------------------------------------------------------

const NODELAY_ROUNDS: usize = 20;

/// Request/response with the request in two writes (a header, then a body), against a peer
/// that answers only once it has the whole request, so it has nothing to send its ACK with.
fn nodelay(t: Trace) -> io::Result<()> {
    heading(
        "nodelay",
        "TCP_NODELAY and Nagle's algorithm (RFC 896) against delayed ACKs (RFC 1122 4.2.3.2)",
        "setsockopt(fd, SOL_TCP, TCP_NODELAY, [1], 4)",
        "Socket::set_tcp_nodelay(true)",
        "tcp(7)",
    );
    let mut table = Table::new(&[
        "client",
        "round trips",
        "median ms",
        "p95 ms",
        "segments sent per round",
        "total ms",
    ]);
    for (label, nodelay, split) in [
        ("Nagle on (default), 2 writes", false, true),
        ("TCP_NODELAY, 2 writes", true, true),
        ("Nagle on, 1 write", false, false),
    ] {
        let r = request_response(nodelay, split, t)?;
        table.row(cells![
            label,
            NODELAY_ROUNDS,
            format!("{:.2}", percentile(&r.rtt_ms, 50)),
            format!("{:.2}", percentile(&r.rtt_ms, 95)),
            format!("{:.1}", r.segments as f64 / NODELAY_ROUNDS as f64),
            format!("{:.0}", r.rtt_ms.iter().sum::<f64>())
        ]);
    }
    print!("{}", table.render());
    println!(
        "shows: with Nagle the body waits for the header's ACK, which the peer delays (about \
         40 ms on Linux) because it has no reply to carry it yet. TCP_NODELAY sends the body at \
         once; so does writing the whole request in one call."
    );
    Ok(())
}

struct RoundTrips {
    rtt_ms: Vec<f64>,
    /// Segments the client sent during the rounds (TCP_INFO tcpi_segs_out), ACKs included.
    segments: u32,
}

const HEADER: usize = 100;
const BODY: usize = 100;

fn request_response(nodelay: bool, split: bool, t: Trace) -> io::Result<RoundTrips> {
    let (client, server) =
        connected_pair(|s| logged(t, s, "SOL_TCP, TCP_NODELAY, 1", s.set_tcp_nodelay(nodelay)))?;
    // The peer: read a whole request (header and body), then answer "ok". Until the body
    // arrives it has nothing to send, so its kernel delays the ACK of the header.
    let peer = thread::spawn(move || -> io::Result<()> {
        let mut request = [0u8; HEADER + BODY];
        for _ in 0..NODELAY_ROUNDS {
            (&server).read_exact(&mut request)?;
            (&server).write_all(b"ok")?;
        }
        Ok(())
    });
    let header = [b'h'; HEADER];
    let body = [b'b'; BODY];
    let whole = [header, body].concat();
    let before = tcp_info(&client)?.tcpi_segs_out;
    let mut rtt_ms = Vec::new();
    let mut reply = [0u8; 2];
    for _ in 0..NODELAY_ROUNDS {
        let start = Instant::now();
        if split {
            (&client).write_all(&header)?; // write(2) #1: goes out at once
            (&client).write_all(&body)?; // write(2) #2: with Nagle, held until #1 is ACKed
        } else {
            (&client).write_all(&whole)?;
        }
        (&client).read_exact(&mut reply)?;
        rtt_ms.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let segments = tcp_info(&client)?.tcpi_segs_out - before;
    peer.join().expect("the peer does not panic")?;
    Ok(RoundTrips { rtt_ms, segments })
}

// ---- SO_LINGER 0 and RST -------------------------------------------------------------------

/// The closer fills the connection (its peer is not reading yet) until write() would block,
/// so data is still queued in its kernel, then closes in one of three ways; then the peer
/// reads everything it can, and closes too.
fn linger(t: Trace) -> io::Result<()> {
    heading(
        "linger",
        "SO_LINGER {on, 0}: an abortive close",
        "setsockopt(fd, SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}, 8)",
        "Socket::set_linger(Some(Duration::ZERO))",
        "socket(7), close(2)",
    );
    let mut table = Table::new(&[
        "the closer",
        "close() returned",
        "peer read of what was written",
        "then peer's read()",
        "closer's end left in",
    ]);
    for (label, unread, linger_zero) in [
        ("close()", false, false),
        ("close() with 10 bytes unread", true, false),
        ("SO_LINGER {1, 0}, close()", false, true),
    ] {
        let (closer, peer) = connected_pair(|_| Ok(()))?;
        let (closer_addr, peer_addr) = (local_addr(&closer), local_addr(&peer));
        if unread {
            (&peer).write_all(b"unread...\n")?; // the closer never reads these 10 bytes
        }
        if linger_zero {
            logged(
                t,
                &closer,
                "SOL_SOCKET, SO_LINGER, {l_onoff=1, l_linger=0}",
                closer.set_linger(Some(Duration::ZERO)),
            )?;
        }
        let written = fill(&closer)?;
        let start = Instant::now();
        drop(closer); // close(2)
        let close_took = start.elapsed();
        // Wait until the closer's kernel has sent its FIN (it has left ESTABLISHED) or its RST
        // (the socket is gone), and the RST has reached the peer; then read.
        wait_until(100, || {
            find_row(closer_addr, peer_addr).is_none_or(|r| r.state != ESTABLISHED)
        });
        if find_row(closer_addr, peer_addr).is_none() {
            wait_until(100, || {
                tcp_info(&peer).is_ok_and(|i| i.tcpi_state != ESTABLISHED)
            });
        }
        let (read, end) = read_to_the_end(&peer);
        drop(peer); // the peer closes too: the closer's side can finish its closing handshake
        wait_until(50, || {
            find_row(closer_addr, peer_addr).is_none_or(|r| r.state == TIME_WAIT)
        });
        let left = match find_row(closer_addr, peer_addr) {
            Some(r) => state_name(r.state),
            None => "nothing (gone)",
        };
        table.row(cells![
            label,
            format!("at once ({} us)", close_took.as_micros()),
            format!("{read} of {written}"),
            end,
            left
        ]);
    }
    print!("{}", table.render());
    println!(
        "shows: a normal close() returns at once and the kernel still delivers every byte, then \
         a FIN: the peer reads it all, then end of stream, and the closer keeps TIME_WAIT. Unread \
         data at close(), or SO_LINGER 0, sends a RST instead: what was still queued in the \
         closer's kernel is thrown away, the peer's read() fails with ECONNRESET, and no \
         TIME_WAIT is left."
    );
    Ok(())
}

/// Write (non-blocking) until the kernel takes no more: the peer's receive buffer and our send
/// buffer are full. Returns how many bytes write() accepted.
fn fill(sock: &Socket) -> io::Result<usize> {
    sock.set_nonblocking(true)?;
    let chunk = [b'x'; 16 * 1024];
    let mut written = 0;
    loop {
        match (&*sock).write(&chunk) {
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    sock.set_nonblocking(false)?;
    Ok(written)
}

/// Read until end of stream or an error: (bytes read, "EOF (0)" or the errno).
fn read_to_the_end(sock: &Socket) -> (usize, String) {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        match (&*sock).read(&mut buf) {
            Ok(0) => return (total, "0: end of stream".into()),
            Ok(n) => total += n,
            Err(e) => return (total, format!("-1 {}", errno_name(&e))),
        }
    }
}

// ---- SO_SNDBUF and SO_RCVBUF ---------------------------------------------------------------

/// A sender writes into a connection whose receiver never reads, until write() would block.
fn buffers(t: Trace) -> io::Result<()> {
    heading(
        "buffers",
        "SO_SNDBUF and SO_RCVBUF",
        "setsockopt(fd, SOL_SOCKET, SO_SNDBUF, [65536], 4)",
        "Socket::set_send_buffer_size(n), set_recv_buffer_size(n)",
        "socket(7), tcp(7)",
    );
    println!(
        "   sysctl net.ipv4.tcp_wmem = {}, tcp_rmem = {} (min, default, autotuning max)",
        sysctl("net/ipv4/tcp_wmem"),
        sysctl("net/ipv4/tcp_rmem")
    );
    let mut table = Table::new(&[
        "set",
        "SO_SNDBUF read back",
        "receiver SO_RCVBUF",
        "written until EAGAIN",
        "receiver Recv-Q",
        "sender Send-Q",
    ]);
    const K: usize = 1024;
    for (label, sndbuf, rcvbuf) in [
        ("nothing (autotuning)", None, None),
        ("SO_SNDBUF 4 KiB", Some(4 * K), None),
        ("SO_SNDBUF 64 KiB", Some(64 * K), None),
        ("SO_SNDBUF 1 MiB", Some(1024 * K), None),
        ("receiver SO_RCVBUF 4 KiB", None, Some(4 * K)),
        ("receiver SO_RCVBUF 1 MiB", None, Some(1024 * K)),
    ] {
        let f = fill_until_blocked(sndbuf, rcvbuf, t)?;
        table.row(cells![
            label,
            arrow(f.sndbuf_before, f.sndbuf_after),
            arrow(f.rcvbuf_before, f.rcvbuf_after),
            f.written,
            f.recv_q,
            f.send_q
        ]);
    }
    print!("{}", table.render());
    println!(
        "shows: the kernel doubles what you ask for (socket(7): room for its bookkeeping), and a \
         size you set stays fixed, while an untouched buffer grows by itself (autotuning) up to \
         tcp_wmem / tcp_rmem's max. What a sender can write before blocking is about its send \
         buffer plus the receiver's window."
    );
    Ok(())
}

fn arrow(before: usize, after: usize) -> String {
    if before == after {
        format!("{before}")
    } else {
        format!("{before} -> {after}")
    }
}

struct Filled {
    sndbuf_before: usize,
    sndbuf_after: usize,
    rcvbuf_before: usize,
    rcvbuf_after: usize,
    written: usize,
    recv_q: u64,
    send_q: u64,
}

fn fill_until_blocked(
    sndbuf: Option<usize>,
    rcvbuf: Option<usize>,
    t: Trace,
) -> io::Result<Filled> {
    // The receiver's buffer is set on the listener, before the handshake: the window scale
    // both ends agree on in their SYNs depends on it (RFC 7323), and accepted sockets inherit
    // it. tcp(7): "the socket buffer size must be set prior to the listen(2) or connect(2)
    // calls in order to have it take effect."
    let (listener, addr) = listen_with(LOCALHOST, 8, |s| match rcvbuf {
        Some(n) => logged(
            t,
            s,
            &format!("SOL_SOCKET, SO_RCVBUF, {n}"),
            s.set_recv_buffer_size(n),
        ),
        None => Ok(()),
    })?;
    let sender = tcp_socket(addr)?;
    if let Some(n) = sndbuf {
        logged(
            t,
            &sender,
            &format!("SOL_SOCKET, SO_SNDBUF, {n}"),
            sender.set_send_buffer_size(n),
        )?;
    }
    sender.connect(&addr.into())?;
    let (receiver, _) = listener.accept()?;
    let sndbuf_before = sender.send_buffer_size()?;
    let rcvbuf_before = receiver.recv_buffer_size()?;

    // Non-blocking, so that a full buffer shows as EAGAIN (WouldBlock) instead of a wait.
    sender.set_nonblocking(true)?;
    let chunk = [0u8; 16 * 1024];
    let mut written = 0;
    let mut blocked = 0;
    // Stop once write() has said EAGAIN three times in a row, 50 ms apart: by then what the
    // kernel had in flight has landed, and autotuning has had its chance to grow the buffers.
    while blocked < 3 {
        match (&sender).write(&chunk) {
            Ok(n) => {
                written += n;
                blocked = 0;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                blocked += 1;
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
    t.log(format_args!(
        "write(fd {}) = -1 EAGAIN after {written} bytes",
        sender.as_raw_fd()
    ));
    let queue = |from: &Socket, to: &Socket| find_row(local_addr(from), local_addr(to));
    let recv_q = queue(&receiver, &sender).map_or(0, |r| r.rx_queue);
    let send_q = queue(&sender, &receiver).map_or(0, |r| r.tx_queue);
    Ok(Filled {
        sndbuf_before,
        sndbuf_after: sender.send_buffer_size()?,
        rcvbuf_before,
        rcvbuf_after: receiver.recv_buffer_size()?,
        written,
        recv_q,
        send_q,
    })
}

// ---- SO_KEEPALIVE --------------------------------------------------------------------------

const KEEPALIVE_WAIT: Duration = Duration::from_secs(5);

/// Three idle connections, watched for five seconds: one without keep-alive whose peer stops
/// answering, one with keep-alive whose peer stops answering, one with keep-alive and a live peer.
fn keepalive(t: Trace) -> io::Result<()> {
    heading(
        "keepalive",
        "SO_KEEPALIVE with TCP_KEEPIDLE 1 s, TCP_KEEPINTVL 1 s, TCP_KEEPCNT 3",
        "setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, [1], 4) + SOL_TCP TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT",
        "Socket::set_tcp_keepalive(&TcpKeepalive::new().with_time(..).with_interval(..).with_retries(..))",
        "socket(7), tcp(7)",
    );
    println!(
        "   system defaults: tcp_keepalive_time {} s, tcp_keepalive_intvl {} s, tcp_keepalive_probes {}",
        sysctl("net/ipv4/tcp_keepalive_time"),
        sysctl("net/ipv4/tcp_keepalive_intvl"),
        sysctl("net/ipv4/tcp_keepalive_probes")
    );
    let cases = [
        ("no keep-alive, peer silent", false, true),
        ("keep-alive, peer silent", true, true),
        ("keep-alive, peer alive", true, false),
    ];
    // All three at once, one thread each: the experiment takes five seconds, not fifteen.
    let watchers: Vec<_> = cases
        .iter()
        .map(|&(_, keep, silent)| thread::spawn(move || idle_connection(keep, silent, t)))
        .collect();
    let mut table = Table::new(&[
        "connection",
        "segments sent (segs_out)",
        "answered (segs_in)",
        "blocked read() returned",
        "after",
        "state then",
        "segments sent at",
    ]);
    for ((label, _, _), w) in cases.iter().zip(watchers) {
        let r = w.join().expect("the watcher does not panic")?;
        table.row(cells![
            label,
            r.probes_sent,
            r.answers,
            r.read,
            format!("{:.1} s", r.after.as_secs_f64()),
            r.state,
            r.sent_at
        ]);
    }
    print!("{}", table.render());
    println!(
        "shows: an idle TCP connection sends nothing, so a peer that vanished without a FIN or \
         RST goes unnoticed for ever (the read only ended at our own 5 s limit). With \
         keep-alive the kernel probes after TCP_KEEPIDLE, every TCP_KEEPINTVL, and after \
         TCP_KEEPCNT unanswered probes gives up: a RST to the peer (the fourth segment), and \
         ETIMEDOUT for the program. A live peer answers each probe; the connection stays up."
    );
    Ok(())
}

struct Idle {
    probes_sent: u32,
    answers: u32,
    read: String,
    after: Duration,
    state: String,
    /// When each segment left, in seconds since the connection went idle: "1.0 2.0 3.0".
    sent_at: String,
}

fn idle_connection(keep: bool, silent: bool, t: Trace) -> io::Result<Idle> {
    let (client, peer) = connected_pair(|_| Ok(()))?;
    if keep {
        let params = TcpKeepalive::new()
            .with_time(Duration::from_secs(1)) // TCP_KEEPIDLE: idle time before the first probe
            .with_interval(Duration::from_secs(1)) // TCP_KEEPINTVL: between unanswered probes
            .with_retries(3); // TCP_KEEPCNT: unanswered probes before giving up
        logged(
            t,
            &client,
            "SOL_SOCKET, SO_KEEPALIVE, 1; TCP_KEEPIDLE 1, TCP_KEEPINTVL 1, TCP_KEEPCNT 3",
            client.set_tcp_keepalive(&params),
        )?;
    }
    if silent {
        // The peer stops answering: its kernel now drops every segment that arrives for it,
        // the way a crashed machine or a dead link would, and sends no FIN or RST.
        drop_every_incoming_packet(&peer)?;
    }
    let before = tcp_info(&client)?;
    // A blocking read, in slices of 50 ms (SO_RCVTIMEO) so that we can look at the socket's
    // counters in between and note when each segment left; 5 s in all is our own limit.
    client.set_read_timeout(Some(Duration::from_millis(50)))?;
    let start = Instant::now();
    let mut buf = [0u8; 1];
    let (mut seen, mut sent_at) = (before.tcpi_segs_out, Vec::new());
    let mut note_segments = |segs_out: u32| {
        for _ in seen..segs_out {
            sent_at.push(format!("{:.1}", start.elapsed().as_secs_f64()));
        }
        seen = seen.max(segs_out);
    };
    let read = loop {
        match (&client).read(&mut buf) {
            Ok(n) => break format!("{n}"),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                note_segments(tcp_info(&client)?.tcpi_segs_out);
                if start.elapsed() >= KEEPALIVE_WAIT {
                    break "EAGAIN (our 5 s limit)".into();
                }
            }
            Err(e) => break format!("-1 {}", errno_name(&e)),
        }
    };
    let after = start.elapsed();
    let now = tcp_info(&client)?;
    note_segments(now.tcpi_segs_out);
    drop(peer);
    Ok(Idle {
        probes_sent: now.tcpi_segs_out - before.tcpi_segs_out,
        answers: now.tcpi_segs_in - before.tcpi_segs_in,
        read,
        after,
        state: state_name(now.tcpi_state).into(),
        sent_at: if sent_at.is_empty() {
            "-".into()
        } else {
            sent_at.join(" ")
        },
    })
}

// ---- IPV6_V6ONLY ---------------------------------------------------------------------------

/// A listener on [::]:0 with IPV6_V6ONLY off, then on; clients from 127.0.0.1 and ::1.
fn v6only(t: Trace) -> io::Result<()> {
    heading(
        "v6only",
        "IPV6_V6ONLY on a [::] listener",
        "setsockopt(fd, SOL_IPV6, IPV6_V6ONLY, [0], 4)",
        "Socket::set_only_v6(false)",
        "ipv6(7)",
    );
    let fresh = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    println!(
        "   default: /proc/sys/net/ipv6/bindv6only = {}, getsockopt(IPV6_V6ONLY) on a new socket = {}",
        sysctl("net/ipv6/bindv6only"),
        fresh.only_v6()? as u8
    );
    let mut table = Table::new(&[
        "IPV6_V6ONLY",
        "connect from 127.0.0.1",
        "accepted as",
        "connect from ::1",
        "bind 0.0.0.0 on the same port",
    ]);
    for only_v6 in [false, true] {
        let any = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
        let (listener, addr) = listen_with(any, 8, |s| {
            logged(
                t,
                s,
                &format!("SOL_IPV6, IPV6_V6ONLY, {}", only_v6 as u8),
                s.set_only_v6(only_v6),
            )
        })?;
        let port = addr.port();
        let v4 = connect_to(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
        let seen_as = match &v4 {
            Ok(_) => listener
                .accept()?
                .1
                .as_socket()
                .map_or("?".into(), |a| a.ip().to_string()),
            Err(_) => "-".into(),
        };
        let v6 = connect_to(SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
        let also_v4 = listen_with(SocketAddr::from((Ipv4Addr::UNSPECIFIED, port)), 8, |_| {
            Ok(())
        });
        table.row(cells![
            only_v6 as u8,
            outcome(&v4),
            seen_as,
            outcome(&v6),
            outcome(&also_v4)
        ]);
    }
    print!("{}", table.render());
    println!(
        "shows: with IPV6_V6ONLY 0 one [::] listener takes IPv4 clients too, as IPv4-mapped \
         addresses (::ffff:a.b.c.d), and holds the IPv4 port; with 1 it is IPv6 only, and a \
         second listener on 0.0.0.0 can share the port number."
    );
    Ok(())
}

fn connect_to(addr: SocketAddr) -> io::Result<Socket> {
    let s = tcp_socket(addr)?;
    s.connect(&addr.into())?;
    Ok(s)
}

// ---- The listen backlog --------------------------------------------------------------------

/// listen(N), then N + 4 clients connect and nobody calls accept().
fn backlog(t: Trace) -> io::Result<()> {
    heading(
        "backlog",
        "the listen backlog: the accept queue",
        "listen(fd, N)",
        "Socket::listen(N)",
        "listen(2), tcp(7)",
    );
    println!(
        "   net.core.somaxconn = {} (the cap on N), net.ipv4.tcp_max_syn_backlog = {}",
        sysctl("net/core/somaxconn"),
        sysctl("net/ipv4/tcp_max_syn_backlog")
    );
    let mut table = Table::new(&[
        "listen(N)",
        "clients",
        "ESTAB (handshake done)",
        "SYN-SENT (SYN dropped)",
        "accept queue (Recv-Q)",
        "limit (Send-Q)",
    ]);
    let mut waiting_example = None;
    for n in [0, 1, 4, 16, 65535] {
        let clients_n = if n > 16 { 2 } else { n as usize + 4 };
        let (listener, addr) = listen_with(LOCALHOST, n, |_| Ok(()))?;
        t.log(format_args!("listen(fd {}, {n}) = 0", listener.as_raw_fd()));
        let clients = start_connects(addr, clients_n)?;
        // Wait for the handshakes the kernel will complete; SYNs it drops are retried only
        // after a second (RFC 6298's initial RTO), so 300 ms shows the queue as it stands.
        thread::sleep(Duration::from_millis(300));
        let states: Vec<u8> = clients
            .iter()
            .map(|c| tcp_info(c).map_or(0, |i| i.tcpi_state))
            .collect();
        // Recv-Q and Send-Q of the listener, as `ss -ltn` shows them: the queue and its limit.
        let (queued, limit) = match ss_listen_queues(addr.port()) {
            Some((q, l)) => (q.to_string(), l.to_string()),
            None => (
                listener_row(addr.port())
                    .map_or(0, |r| r.rx_queue)
                    .to_string(),
                "? (no ss)".into(),
            ),
        };
        table.row(cells![
            n,
            clients_n,
            states.iter().filter(|&&s| s == ESTABLISHED).count(),
            states.iter().filter(|&&s| s == SYN_SENT).count(),
            queued,
            limit
        ]);
        if n == 1 {
            waiting_example = Some((listener, clients));
        }
    }
    print!("{}", table.render());
    // The clients left waiting are not refused: accept() makes room, and their next SYN gets
    // in. A dropped SYN is sent again after 1 s, then 2 s later, then 4 s (RFC 6298 backoff).
    if let Some((listener, clients)) = waiting_example {
        listener.set_nonblocking(true)?;
        let start = Instant::now();
        let (mut times, mut accepted) = (Vec::new(), Vec::new());
        while start.elapsed() < Duration::from_millis(1500) {
            match listener.accept() {
                Ok((conn, _)) => {
                    accepted.push(conn);
                    times.push(format!("{:.1} s", start.elapsed().as_secs_f64()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    thread::sleep(Duration::from_millis(10))
                }
                Err(e) => return Err(e),
            }
        }
        let client_states: Vec<&str> = clients
            .iter()
            .map(|c| tcp_info(c).map_or("?", |i| state_name(i.tcpi_state)))
            .collect();
        println!(
            "   listen(1), then accept() in a loop for 1.5 s: {} of {} clients accepted, at {}; \
             the clients' own states: {}",
            times.len(),
            clients.len(),
            times.join(", "),
            client_states.join(", ")
        );
        // A client can believe it is connected while the server has no connection for it: its
        // final ACK arrived when the queue was full and was dropped. Its first write carries
        // the same ACK again and completes the handshake.
        for c in &clients {
            let _ = (&*c).write(b"x");
        }
        let late = wait_until(25, || listener.accept().is_ok());
        println!(
            "   after each client writes one byte: another accept() {}",
            if late {
                "returns a connection"
            } else {
                "still finds none"
            }
        );
    }
    println!(
        "shows: Linux completes up to N + 1 handshakes without the program (the accept queue), \
         capped at somaxconn; further SYNs are dropped, not refused, and those clients wait in \
         SYN-SENT until a retransmitted SYN finds room. A final ACK that finds the queue full \
         is dropped too (tcp_abort_on_overflow = 0): that client's connect() has returned, but \
         the server has no connection for it until the client writes."
    );
    Ok(())
}

/// Start `n` connects without waiting for them: non-blocking connect(2) returns EINPROGRESS.
fn start_connects(addr: SocketAddr, n: usize) -> io::Result<Vec<Socket>> {
    (0..n)
        .map(|_| {
            let s = tcp_socket(addr)?;
            s.set_nonblocking(true)?;
            match s.connect(&addr.into()) {
                Ok(()) => Ok(s),
                Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(s),
                Err(e) => Err(e),
            }
        })
        .collect()
}

// ---- SO_REUSEPORT --------------------------------------------------------------------------

const REUSEPORT_LISTENERS: usize = 4;
const REUSEPORT_CLIENTS: usize = 200;

/// Four listeners on one port with SO_REUSEPORT, 200 connections; and without the option.
fn reuseport(t: Trace) -> io::Result<()> {
    heading(
        "reuseport",
        "SO_REUSEPORT: one port, several listeners",
        "setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, [1], 4)",
        "Socket::set_reuse_port(true)",
        "socket(7)",
    );
    let mut table = Table::new(&["second listener on the same port", "bind", "listen"]);
    for (label, reuseaddr, reuseport) in [
        ("no option", false, false),
        ("SO_REUSEADDR on both", true, false),
        ("SO_REUSEPORT on both", false, true),
    ] {
        let configure = |s: &Socket| -> io::Result<()> {
            logged(
                t,
                s,
                "SOL_SOCKET, SO_REUSEADDR",
                s.set_reuse_address(reuseaddr),
            )?;
            logged(
                t,
                s,
                "SOL_SOCKET, SO_REUSEPORT",
                s.set_reuse_port(reuseport),
            )
        };
        let (_first, addr) = listen_with(LOCALHOST, 8, configure)?;
        let second = tcp_socket(addr)?;
        configure(&second)?;
        let bound = second.bind(&addr.into());
        let listening = match bound {
            Ok(()) => outcome(&second.listen(8)),
            Err(_) => "-".into(),
        };
        table.row(cells![label, outcome(&bound), listening]);
    }
    print!("{}", table.render());

    // Four listeners, as four worker threads or processes would each have one.
    let (first, addr) = listen_with(LOCALHOST, 1024, |s| s.set_reuse_port(true))?;
    let mut listeners = vec![first];
    for _ in 1..REUSEPORT_LISTENERS {
        listeners.push(listen_with(addr, 1024, |s| s.set_reuse_port(true))?.0);
    }
    let clients: Vec<Socket> = (0..REUSEPORT_CLIENTS)
        .map(|_| connect_to(addr))
        .collect::<io::Result<_>>()?;
    let counts: Vec<usize> = listeners
        .iter()
        .map(|l| {
            l.set_nonblocking(true)?;
            let mut n = 0;
            while l.accept().is_ok() {
                n += 1;
            }
            Ok(n)
        })
        .collect::<io::Result<_>>()?;
    drop(clients);
    let shown: Vec<String> = counts
        .iter()
        .enumerate()
        .map(|(i, n)| format!("#{}: {n}", i + 1))
        .collect();
    println!(
        "   {REUSEPORT_LISTENERS} listeners with SO_REUSEPORT on port {}, {REUSEPORT_CLIENTS} connections; accepted per listener: {}",
        addr.port(),
        shown.join(", ")
    );
    println!(
        "shows: without SO_REUSEPORT a second listener cannot have the port, and SO_REUSEADDR \
         does not change that while the first one listens. With it, each listener has its own \
         accept queue and the kernel spreads new connections over them by a hash of the \
         addresses and ports."
    );
    Ok(())
}

// ---- The exercise: a well-configured server -----------------------------------------------

/// An echo server, one thread per client, with the options a production server sets.
fn serve(addr: SocketAddr, args: ServerArgs, trace: Trace) -> io::Result<()> {
    let listener = match args.mistake {
        Some(Mistake::V6only) => mistakes::v6_only_listener(addr, args.backlog)?,
        _ => listen_socket(addr, args.backlog, trace)?,
    };
    mistakes::spoil_listener(&listener, args.mistake)?;
    println!("listening on tcp://{}", local_addr(&listener));
    loop {
        let (conn, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                // EINTR, ECONNABORTED (the client gave up while queued), EMFILE: not fatal.
                eprintln!("accept failed: {e}");
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let peer = peer.as_socket().expect("a TCP peer has an IP address");
        trace.log(format_args!(
            "accept(fd {}) = fd {} from {peer}",
            listener.as_raw_fd(),
            conn.as_raw_fd()
        ));
        if let Err(e) = set_connection_options(&conn, trace) {
            eprintln!("{peer}: setting its options failed: {e}; closing it");
            continue;
        }
        mistakes::spoil_connection(&conn, args.mistake)?;
        thread::spawn(move || {
            if let Err(e) = echo(&conn, trace) {
                eprintln!("{peer}: {e}");
            }
        });
    }
}

/// The listening socket: socket(2), the options that must come before bind(2), bind, listen.
fn listen_socket(addr: SocketAddr, backlog: i32, trace: Trace) -> io::Result<Socket> {
    // exercise: begin "Make the listening socket restartable, dual-stack, with a real backlog"
    // hint: Options that change how bind(2) behaves must be set between socket(2) and bind(2): after bind it is too late.
    // hint: A restarted server must bind while its old connections sit in TIME_WAIT on its port: set_reuse_address(true) (SO_REUSEADDR, socket(7)). The old run's connections need it too, so set it every time.
    // hint: On an IPv6 address such as [::], set_only_v6(false) (IPV6_V6ONLY 0, ipv6(7)) makes the one listener take IPv4 clients too, whatever the sysctl net.ipv6.bindv6only says. It fails after bind.
    // hint: listen(backlog): the kernel queues that many finished handshakes (plus one) while you are busy; 5, Python's old default, is far too few for a burst of clients. Linux caps it at net.core.somaxconn.
    let sock = tcp_socket(addr)?;
    let fd = sock.as_raw_fd();
    trace.log(format_args!(
        "socket({:?}, SOCK_STREAM, IPPROTO_TCP) = fd {fd}",
        Domain::for_address(addr)
    ));
    // SO_REUSEADDR (socket(7)): bind even while this port's old connections are in TIME_WAIT.
    logged(
        trace,
        &sock,
        "SOL_SOCKET, SO_REUSEADDR, 1",
        sock.set_reuse_address(true),
    )?;
    if addr.is_ipv6() {
        // IPV6_V6ONLY 0 (ipv6(7)): on [::], IPv4 clients too, as ::ffff:a.b.c.d.
        logged(
            trace,
            &sock,
            "SOL_IPV6, IPV6_V6ONLY, 0",
            sock.set_only_v6(false),
        )?;
    }
    sock.bind(&addr.into())?;
    trace.log(format_args!("bind(fd {fd}, {addr}) = 0"));
    // listen(2): up to `backlog` finished handshakes wait for accept() (capped at somaxconn).
    sock.listen(backlog)?;
    trace.log(format_args!("listen(fd {fd}, {backlog}) = 0"));
    Ok(sock)
    // exercise: end
}

/// Options for each accepted connection. Linux copies most options from the listener to the
/// sockets accept() returns (TCP_NODELAY and SO_KEEPALIVE too), but not every system does, and
/// a server should not depend on it: set them on each connection.
fn set_connection_options(conn: &Socket, trace: Trace) -> io::Result<()> {
    // exercise: begin "Set each connection's options: no Nagle delay, keep-alive with short timers"
    // hint: Nagle's algorithm holds a small write back until the previous one is acknowledged; against a peer that delays its ACKs that costs about 40 ms per exchange. set_tcp_nodelay(true) (TCP_NODELAY, tcp(7)).
    // hint: A client that vanished without a FIN or RST (crash, cable, NAT timeout) leaves an idle connection open for ever unless something probes it. set_tcp_keepalive(&TcpKeepalive::new().with_time(..).with_interval(..).with_retries(..)) sets SO_KEEPALIVE and the three timers.
    // hint: Linux's default keep-alive idle time is 7200 s (net.ipv4.tcp_keepalive_time): two hours before the first probe. Pick something like a minute.
    logged(
        trace,
        conn,
        "SOL_TCP, TCP_NODELAY, 1",
        conn.set_tcp_nodelay(true),
    )?;
    let keepalive = TcpKeepalive::new()
        .with_time(Duration::from_secs(60))
        .with_interval(Duration::from_secs(10))
        .with_retries(5);
    logged(
        trace,
        conn,
        "SOL_SOCKET, SO_KEEPALIVE, 1; TCP_KEEPIDLE 60, TCP_KEEPINTVL 10, TCP_KEEPCNT 5",
        conn.set_tcp_keepalive(&keepalive),
    )
    // exercise: end
}

/// Echo until end of stream, then half-close (lesson 01).
fn echo(conn: &Socket, trace: Trace) -> io::Result<()> {
    let mut io = Traced::new(conn, trace);
    let mut buf = [0u8; 64 * 1024];
    loop {
        match io.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => io.write_all(&buf[..n])?,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    conn.shutdown(Shutdown::Write)
}

/// Classic mistakes, made on purpose with the hidden `--break NAME` flag: the grader's tests
/// (tests/lesson16_sockopts.rs) prove that each one fails the check meant for it.
#[derive(ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
enum Mistake {
    /// Connections are accepted without SO_REUSEADDR, so their TIME_WAIT blocks a restart.
    NoReuseaddr,
    /// IPV6_V6ONLY 1: a [::] listener that IPv4 clients cannot reach.
    V6only,
    /// TCP_NODELAY left off on accepted connections.
    Nagle,
    /// No SO_KEEPALIVE on accepted connections.
    NoKeepalive,
    /// listen(5).
    TinyBacklog,
}

mod mistakes {
    use super::*;

    pub fn v6_only_listener(addr: SocketAddr, backlog: i32) -> io::Result<Socket> {
        let (sock, _) = listen_with(addr, backlog, |s| {
            s.set_reuse_address(true)?;
            if addr.is_ipv6() {
                s.set_only_v6(true)?;
            }
            Ok(())
        })?;
        Ok(sock)
    }

    pub fn spoil_listener(listener: &Socket, mistake: Option<Mistake>) -> io::Result<()> {
        match mistake {
            // Accepted sockets copy the listener's flag: cleared now, their TIME_WAIT has none.
            Some(Mistake::NoReuseaddr) => listener.set_reuse_address(false),
            // listen(2) again on a listening socket just changes its backlog.
            Some(Mistake::TinyBacklog) => listener.listen(5),
            _ => Ok(()),
        }
    }

    pub fn spoil_connection(conn: &Socket, mistake: Option<Mistake>) -> io::Result<()> {
        match mistake {
            Some(Mistake::Nagle) => conn.set_tcp_nodelay(false),
            Some(Mistake::NoKeepalive) => conn.set_keepalive(false),
            _ => Ok(()),
        }
    }
}
