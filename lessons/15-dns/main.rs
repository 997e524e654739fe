//! Lesson 15: DNS. An authoritative server for one zone, on UDP and TCP of the same port, that
//! `dig` accepts; and a stub resolver that asks a server, checks what comes back, falls back to
//! TCP when the answer is truncated and follows CNAMEs.
//!
//! ```text
//! cargo run --bin 15-dns                                         # udp+tcp 127.0.0.1:7015, course.zone
//! dig -p 7015 @127.0.0.1 www.course.test                         # in another terminal
//! dig -p 7015 @127.0.0.1 big.course.test +noedns                 # TC, then dig retries over TCP
//! cargo run --bin 15-dns -- resolve alias.course.test --server 127.0.0.1:7015
//! cargo run --bin 15-dns -- resolve big.course.test --server 127.0.0.1:7015 --no-edns --trace
//! ```
//!
//! The DNS itself is `src/dns/` (read its module docs first): `name.rs` reads names and their
//! compression pointers, `message.rs` the header table, the parser and the encoder, `tcp.rs`
//! the 2-byte length prefix, `zone.rs` the zone file, `server.rs` the answerer, `resolver.rs`
//! the resolver's checks and CNAME chasing, `dissect.rs` the `--trace` output. All of them are
//! sans-IO. This file holds the sockets: the server's event loop (lesson 05's), and the
//! resolver's blocking sockets with their timeouts.

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use netcourse::dns::dissect::{self, record_line};
use netcourse::dns::name::Name;
use netcourse::dns::resolver::{random_id, Outcome, Resolver, Step};
use netcourse::dns::server::{Server, Transport, DEFAULT_UDP_SIZE};
use netcourse::dns::tcp::{frame, Deframer};
use netcourse::dns::zone::Zone;
use netcourse::dns::{rcode_name, type_from_name, type_name};
use netcourse::event_loop::{Closed, Config, ConnId, Cx, EventLoop, Service, UdpId};
use netcourse::trace::{Dir, Trace};
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Lesson 15: a small authoritative DNS server (UDP and TCP) and a stub resolver")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The server's options, when no subcommand is given.
    #[command(flatten)]
    server: ServerArgs,
    /// Print every DNS message sent and received to stderr, dissected field by field.
    #[arg(long, global = true)]
    trace: bool,
}

#[derive(Args, Clone)]
struct ServerArgs {
    /// Address to listen on, UDP and TCP on the same port. Port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:7015")]
    addr: SocketAddr,
    /// The zone file to serve (default: the example zone, course.zone, built into the binary).
    #[arg(long)]
    zone: Option<PathBuf>,
    /// Our EDNS UDP payload size: the largest UDP reply sent to a client whose OPT allows it.
    #[arg(long, default_value_t = DEFAULT_UDP_SIZE)]
    udp_size: u16,
    /// Close a TCP connection that has sent nothing for this many seconds (RFC 7766 6.2.3).
    #[arg(long, default_value_t = 10.0)]
    idle_timeout: f64,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve a zone over UDP and TCP (the default).
    Server(ServerArgs),
    /// Look a name up, like a small dig.
    Resolve(ResolveArgs),
}

#[derive(Args)]
struct ResolveArgs {
    /// The name to look up.
    name: String,
    /// The server to ask (default: the first nameserver of /etc/resolv.conf, port 53).
    #[arg(long)]
    server: Option<SocketAddr>,
    /// The record type: A, AAAA, CNAME, MX, TXT, NS, SOA, ANY or TYPEnn.
    #[arg(long = "type", default_value = "A")]
    qtype: String,
    /// How long to wait for each reply, in milliseconds.
    #[arg(long, default_value_t = 2000)]
    timeout: u64,
    /// How many times to send the query again over UDP when no reply comes.
    #[arg(long, default_value_t = 2)]
    retries: u32,
    /// Ask over TCP from the start.
    #[arg(long)]
    tcp: bool,
    /// Send no EDNS OPT record: the server then keeps UDP replies within 512 bytes.
    #[arg(long)]
    no_edns: bool,
    /// The UDP payload size our OPT record advertises.
    #[arg(long, default_value_t = 1232)]
    bufsize: u16,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    let result = match cli.mode {
        None => serve(cli.server, trace).map(|()| ExitCode::SUCCESS),
        Some(Mode::Server(args)) => serve(args, trace).map(|()| ExitCode::SUCCESS),
        Some(Mode::Resolve(args)) => resolve(args, trace),
    };
    result.unwrap_or_else(|e| {
        eprintln!("15-dns: {e:#}");
        ExitCode::FAILURE
    })
}

/// lessons/15-dns/course.zone, served when no --zone is given.
const EXAMPLE_ZONE: &str = include_str!("course.zone");

// ---- The server: the answerer on lesson 05's event loop ------------------------------------

/// The service: datagrams are answered one by one; TCP bytes go through a deframer per
/// connection, since a read may hold half a query or several.
struct Dns {
    server: Server,
    conns: HashMap<ConnId, Conn>,
    idle: Duration,
    trace: Trace,
}

struct Conn {
    deframer: Deframer,
    peer: SocketAddr,
    last_seen: Instant,
}

impl Service for Dns {
    fn on_datagram(&mut self, cx: &mut Cx<'_>, udp: UdpId, from: SocketAddr, data: &[u8]) {
        dissect::trace(self.trace, Dir::In, &from, "udp", data);
        // One datagram, one message: no framing. Silence (None) for what must not be answered.
        if let Some(reply) = self.server.answer(data, Transport::Udp) {
            dissect::trace(self.trace, Dir::Out, &from, "udp", &reply);
            cx.send_to(udp, from, &reply);
        }
    }

    fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, peer: SocketAddr) {
        let conn_state = Conn {
            deframer: Deframer::new(),
            peer,
            last_seen: cx.now(),
        };
        self.conns.insert(conn, conn_state);
        cx.set_timer(cx.now() + self.idle, conn as u64);
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.last_seen = cx.now();
        c.deframer.push(data);
        // Every whole message in this read (pipelined queries come several at a time); a half
        // message stays in the deframer until the rest arrives, and nobody else waits for it.
        while let Some(query) = c.deframer.next_message() {
            dissect::trace(self.trace, Dir::In, &c.peer, "tcp", &query);
            if let Some(reply) = self.server.answer(&query, Transport::Tcp) {
                dissect::trace(self.trace, Dir::Out, &c.peer, "tcp", &reply);
                cx.send(conn, &frame(&reply));
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        let conn = key as ConnId;
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        // The timer is set once per connection and moved here, not on every read: a read only
        // notes the time.
        let due = c.last_seen + self.idle;
        if cx.now() >= due {
            self.trace
                .log(format_args!("closing idle tcp connection from {}", c.peer));
            cx.close(conn);
        } else {
            cx.set_timer(due, key);
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, conn: ConnId, _why: Closed) {
        self.conns.remove(&conn);
        cx.cancel_timer(conn as u64);
    }
}

fn serve(args: ServerArgs, trace: Trace) -> anyhow::Result<()> {
    let (text, file) = match &args.zone {
        Some(path) => (
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the zone file {}", path.display()))?,
            path.display().to_string(),
        ),
        None => (
            EXAMPLE_ZONE.to_string(),
            "course.zone (built in)".to_string(),
        ),
    };
    let zone = Zone::parse(&text, &file)?;
    eprintln!(
        "serving {} ({} records) from {file}",
        zone.apex(),
        zone.len()
    );
    let config = Config {
        trace,
        ..Config::default()
    };
    // UDP and TCP are separate port spaces: bind TCP first, then UDP on the port TCP got. With
    // port 0 that UDP port may be taken by someone else; then try again with a new TCP port.
    let mut attempt = 0;
    let (mut lp, udp, tcp) = loop {
        attempt += 1;
        let mut lp = EventLoop::new(config.clone())?;
        let tcp = lp.listen_tcp(args.addr)?;
        match lp.bind_udp(tcp) {
            Ok(udp) => break (lp, udp, tcp),
            Err(e)
                if e.kind() == io::ErrorKind::AddrInUse
                    && args.addr.port() == 0
                    && attempt < 10 =>
            {
                continue
            }
            Err(e) => return Err(e).with_context(|| format!("binding UDP on {tcp}")),
        }
    };
    lp.stop_on_signals()?;
    println!("listening on udp://{udp}");
    println!("listening on tcp://{tcp}");
    let mut service = Dns {
        server: Server::new(zone, args.udp_size),
        conns: HashMap::new(),
        idle: Duration::from_secs_f64(args.idle_timeout),
        trace,
    };
    lp.run(&mut service)?;
    Ok(())
}

// ---- The resolver: blocking sockets around the state machine -------------------------------

fn resolve(args: ResolveArgs, trace: Trace) -> anyhow::Result<ExitCode> {
    let name = Name::parse(&args.name).map_err(|e| anyhow::anyhow!("{}: {e}", args.name))?;
    let qtype = type_from_name(&args.qtype)
        .with_context(|| format!("unknown type {}: try A, AAAA, CNAME, MX, TXT", args.qtype))?;
    let server = match args.server {
        Some(s) => s,
        None => system_nameserver()?,
    };
    let edns = (!args.no_edns).then_some(args.bufsize);
    let timeout = Duration::from_millis(args.timeout.max(1));
    let mut resolver = Resolver::new(name, qtype);
    let mut transport = if args.tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    };
    let mut carried = Vec::new();
    loop {
        let asked = resolver.current().clone();
        let (step, tries, bytes) = match transport {
            Transport::Udp => ask_udp(&mut resolver, server, edns, timeout, args.retries, trace)?,
            Transport::Tcp => ask_tcp(&mut resolver, server, edns, timeout, trace)?,
        };
        let how = if transport == Transport::Udp {
            "udp"
        } else {
            "tcp"
        };
        println!(
            ";; {asked} {} to {server} over {how}: {tries} {}, reply of {bytes} bytes",
            type_name(qtype),
            if tries == 1 { "try" } else { "tries" }
        );
        carried.push(format!(
            "{how} ({tries} {})",
            if tries == 1 { "try" } else { "tries" }
        ));
        match step {
            Step::RetryOverTcp => {
                println!(
                    ";; TC set: the answer did not fit in one datagram, asking again over TCP"
                );
                transport = Transport::Tcp;
            }
            Step::Chase(target) => {
                println!(";; the answer ends in a CNAME to {target}, which it does not resolve: asking for {target}");
                transport = if args.tcp {
                    Transport::Tcp
                } else {
                    Transport::Udp
                };
            }
            Step::Done(outcome) => return Ok(report(&outcome, &resolver, &carried)),
            Step::Failed(why) => bail!("{why}"),
            Step::Ignore(why) => bail!("a reply over TCP that is not ours: {why}"),
        }
    }
}

/// Print the result like a small dig, and choose the exit code.
fn report(o: &Outcome, r: &Resolver, carried: &[String]) -> ExitCode {
    println!(";; status: {}, flags: {}", rcode_name(o.rcode), o.flags);
    for record in o.chain.iter().chain(&o.answers) {
        println!("{}", record_line(record));
    }
    let via = carried.join(", then ");
    match o.rcode {
        0 if o.answers.is_empty() => {
            println!(
                ";; no {} records for {} (NODATA); carried by {via}",
                type_name(r.qtype()),
                r.current()
            );
            ExitCode::SUCCESS
        }
        0 => {
            println!(
                ";; {} answer(s), {} CNAME(s) followed; carried by {via}",
                o.answers.len(),
                o.chain.len()
            );
            ExitCode::SUCCESS
        }
        code => {
            let why = match code {
                2 => "SERVFAIL: the server failed to answer",
                3 => "NXDOMAIN: the name does not exist",
                5 => "REFUSED: the server will not answer for this name",
                _ => "the server answered with an error",
            };
            eprintln!("15-dns: {} {}: {why}", r.current(), type_name(r.qtype()));
            ExitCode::FAILURE
        }
    }
}

/// UDP: send the query, wait up to `timeout` for a reply that is ours, ignoring the others;
/// send again (with a new ID) up to `retries` times. Returns the step, the tries and the size.
fn ask_udp(
    r: &mut Resolver,
    server: SocketAddr,
    edns: Option<u16>,
    timeout: Duration,
    retries: u32,
    trace: Trace,
) -> anyhow::Result<(Step, u32, usize)> {
    let local: SocketAddr = match server.ip() {
        IpAddr::V4(_) => "0.0.0.0:0".parse()?,
        IpAddr::V6(_) => "[::]:0".parse()?,
    };
    // bind(2) to port 0: the kernel picks a random ephemeral port (32768 to 60999 by default,
    // /proc/sys/net/ipv4/ip_local_port_range), almost 15 more bits an attacker has to guess
    // (RFC 5452 4.5). connect(2) on UDP sends nothing: it sets the default peer,
    // and the kernel then drops datagrams from any other address or port before we see them.
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    trace.log(format_args!(
        "udp socket {} connected to {server}",
        socket.local_addr()?
    ));
    let mut buf = vec![0u8; 65535];
    for attempt in 1..=retries + 1 {
        let query = r.query(random_id(), edns);
        dissect::trace(trace, Dir::Out, &server, "udp", &query);
        socket.send(&query)?;
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            // SO_RCVTIMEO: recv(2) gives up with EAGAIN after `left`.
            socket.set_read_timeout(Some(left))?;
            let n = match socket.recv(&mut buf) {
                Ok(n) => n,
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    bail!("{server} refused: an ICMP port unreachable came back, nothing listens on that UDP port")
                }
                Err(e) => return Err(e.into()),
            };
            dissect::trace(trace, Dir::In, &server, "udp", &buf[..n]);
            match r.on_reply(&buf[..n], Transport::Udp) {
                Step::Ignore(why) => eprintln!(";; ignored a datagram of {n} bytes: {why}"),
                step => return Ok((step, attempt, n)),
            }
        }
        eprintln!(
            ";; no reply within {} ms (try {attempt} of {})",
            timeout.as_millis(),
            retries + 1
        );
    }
    bail!(
        "timeout: no reply from {server} after {} tries of {} ms each",
        retries + 1,
        timeout.as_millis()
    )
}

/// TCP: connect, send the query behind its length, read until one whole message has come.
fn ask_tcp(
    r: &mut Resolver,
    server: SocketAddr,
    edns: Option<u16>,
    timeout: Duration,
    trace: Trace,
) -> anyhow::Result<(Step, u32, usize)> {
    let mut stream = TcpStream::connect_timeout(&server, timeout)
        .with_context(|| format!("connecting to {server} over TCP"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    trace.log(format_args!(
        "tcp connection {} -> {server}",
        stream.local_addr()?
    ));
    let query = r.query(random_id(), edns);
    dissect::trace(trace, Dir::Out, &server, "tcp", &query);
    stream.write_all(&frame(&query))?;
    let mut deframer = Deframer::new();
    let mut buf = [0u8; 4096];
    let reply = loop {
        if let Some(m) = deframer.next_message() {
            break m;
        }
        let n = match stream.read(&mut buf) {
            Ok(0) => bail!("{server} closed the TCP connection before a whole reply came"),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                bail!(
                    "timeout: no whole reply from {server} over TCP within {} ms",
                    timeout.as_millis()
                )
            }
            Err(e) => return Err(e.into()),
        };
        deframer.push(&buf[..n]);
    };
    dissect::trace(trace, Dir::In, &server, "tcp", &reply);
    let step = r.on_reply(&reply, Transport::Tcp);
    Ok((step, 1, reply.len()))
}

/// The first `nameserver` of /etc/resolv.conf, on port 53: where the C library's resolver
/// sends its questions.
fn system_nameserver() -> anyhow::Result<SocketAddr> {
    let text = std::fs::read_to_string("/etc/resolv.conf").context("reading /etc/resolv.conf")?;
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() == Some("nameserver") {
            if let Some(ip) = words
                .next()
                .and_then(|w| w.split('%').next()?.parse::<IpAddr>().ok())
            {
                return Ok(SocketAddr::new(ip, 53));
            }
        }
    }
    bail!("no nameserver line in /etc/resolv.conf: give --server IP:PORT")
}
