//! Lesson 12: the client side of WebSocket. An interactive client like `wscat`, an echo mode a
//! grader can drive, and the Autobahn TestSuite's client protocol.
//!
//! ```text
//! cargo run --bin 09-ws-handshake -- --addr 127.0.0.1:7009 &   # any echo server will do
//! cargo run --bin 12-ws-client -- ws://127.0.0.1:7009/         # type lines; /help for commands
//! cargo run --bin 12-ws-client -- --trace ws://127.0.0.1:7009/ # every frame annotated on stderr
//! echo hello | cargo run --bin 12-ws-client -- ws://127.0.0.1:7009/   # EOF closes with 1000
//! cargo run --bin 12-ws-client -- echo ws://127.0.0.1:7009/    # echo what the server sends
//! kosoku -m fuzzingserver -x '12.*' -x '13.*' 127.0.0.1:9001 & # Autobahn's cases, as a server
//! cargo run --release --bin 12-ws-client -- autobahn --url ws://127.0.0.1:9001
//! ```
//!
//! What a client must do that a server does not (RFC 6455):
//!
//! - **Pick a fresh key** for every handshake (4.1: "a nonce consisting of a randomly selected
//!   16-byte value") and **check the server's answer**: 101, `Upgrade: websocket`,
//!   `Connection: Upgrade`, `Sec-WebSocket-Accept` equal to base64(SHA-1(key + GUID)), no
//!   extension or subprotocol it did not offer. `src/ws/handshake/client.rs` does the checks.
//! - **Mask every frame** with 4 fresh bytes from a strong random source (5.3), so that a
//!   script in a browser cannot choose the bytes that go on the wire (10.3).
//! - **Let the server close TCP first** after the closing handshake (7.1.1), so that the
//!   server, not the client, holds the TIME_WAIT; close it ourselves only when the server does
//!   not within `--timeout`, or when the connection fails.
//!
//! One thread and one mio `Poll` watch two things: the TCP socket and stdin. The protocol is
//! `src/ws`'s sans-IO [`Connection`]: this file only moves bytes between it, the socket and
//! the terminal, and decides when to stop. No event loop of lesson 05 here: that loop accepts
//! connections for a server; a client with one connection reads better as a plain mio loop.
//!
//! Only `ws://`: `wss://` is WebSocket inside TLS, and TLS (certificates, a handshake of its
//! own, encryption) is not what this course writes by hand.

use clap::{Args, Parser, Subcommand};
use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use netcourse::http::annotate_head;
use netcourse::trace::{quote, Dir, Trace};
use netcourse::ws::close::CloseFrame;
use netcourse::ws::connection::{self, Connection, Event, State};
use netcourse::ws::frame::annotate_frame;
use netcourse::ws::handshake::{ClientConfig, ClientHandshake};
use netcourse::ws::{Limits, WsError};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    about = "Lesson 12: a WebSocket client (interactive like wscat, an echo mode, Autobahn's client protocol)",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: `connect`.
    #[command(flatten)]
    connect: ConnectArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Connect and talk: each line of stdin is a text message, `/help` lists the commands.
    Connect(ConnectArgs),
    /// Connect and send back every text and binary message the server sends, until it closes:
    /// the mode `course check 12` drives.
    Echo(EchoArgs),
    /// Run the Autobahn TestSuite client cases against `kosoku -m fuzzingserver`.
    Autobahn(AutobahnArgs),
}

#[derive(Args, Clone)]
struct ConnectArgs {
    /// The server: ws://HOST[:PORT][/PATH[?QUERY]] (lesson 11's echo by default).
    #[arg(default_value = "ws://127.0.0.1:7011/echo")]
    url: String,
    /// Offer this subprotocol (repeat for several, most preferred first).
    #[arg(long = "protocol", value_name = "NAME")]
    protocols: Vec<String>,
    /// Send this Origin, as a browser would.
    #[arg(long)]
    origin: Option<String>,
    /// An extra request header, 'Name: value' (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Print every frame sent and received, annotated, to stderr.
    #[arg(long)]
    trace: bool,
    /// Seconds allowed to connect and handshake, and to wait for the server to close.
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

#[derive(Args)]
struct EchoArgs {
    /// The server: ws://HOST[:PORT][/PATH].
    url: String,
    #[arg(long)]
    trace: bool,
    #[arg(long, default_value_t = 5.0)]
    timeout: f64,
}

#[derive(Args)]
struct AutobahnArgs {
    /// Where `kosoku -m fuzzingserver` (or Autobahn's wstest -m fuzzingserver) listens.
    #[arg(long, default_value = "ws://127.0.0.1:9001")]
    url: String,
    /// The name the reports are filed under.
    #[arg(long, default_value = "netcourse-12")]
    agent: String,
    /// Only these case numbers, e.g. `1-16,200` (default: every case the server has).
    #[arg(long)]
    cases: Option<String>,
    #[arg(long)]
    trace: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => interactive(&cli.connect),
        Some(Command::Connect(args)) => interactive(&args),
        Some(Command::Echo(args)) => echo(&args),
        Some(Command::Autobahn(args)) => autobahn(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("12-ws-client: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The three modes

/// wscat-like: stdin lines out as text messages, messages in printed as `< text`.
fn interactive(args: &ConnectArgs) -> Result<(), String> {
    let url = Url::parse(&args.url)?;
    let mut request = Request::new(&url);
    request.config.protocols = args.protocols.clone();
    request.config.origin = args.origin.clone();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("-H {h:?}: expected 'Name: value'"))?;
        request
            .extra
            .push((name.trim().to_string(), value.trim().to_string()));
    }
    let timeout = seconds(args.timeout)?;
    let config = connection::Config {
        // Messages up to 16 MiB, as Autobahn sends; a ping after 30 s of silence.
        limits: Limits::autobahn(),
        close_timeout: timeout,
        ..connection::Config::default()
    };
    let mut client = Client::connect(&url, &request, config, timeout, Trace::new(args.trace))?;
    eprintln!(
        "* connected to {} (subprotocol: {}); type lines to send, /help for commands, EOF to close",
        url.text,
        client.protocol.as_deref().unwrap_or("none")
    );
    let mut terminal = Terminal::open(&client.poll)?;
    let end = client.run(&mut terminal)?;
    end.verdict()
}

/// Echo every message back until the server closes: what `course check 12` drives.
fn echo(args: &EchoArgs) -> Result<(), String> {
    let url = Url::parse(&args.url)?;
    let timeout = seconds(args.timeout)?;
    let mut client = Client::connect(
        &url,
        &Request::new(&url),
        echo_config(timeout),
        timeout,
        Trace::new(args.trace),
    )?;
    client.run(&mut Echo)?.verdict()
}

/// Echo mode's settings: messages as large as Autobahn sends (16 MiB), no pings of our own.
fn echo_config(timeout: Duration) -> connection::Config {
    connection::Config {
        limits: Limits::autobahn(),
        ping_interval: None,
        close_timeout: timeout,
        ..connection::Config::default()
    }
}

/// The fuzzing server's protocol (Autobahn TestSuite): `/getCaseCount` sends the number of
/// cases as one text message; `/runCase?case=N&agent=A` runs case N, where the client echoes
/// every message; `/updateReports?agent=A` asks for the reports to be written.
fn autobahn(args: &AutobahnArgs) -> Result<(), String> {
    let base = Url::parse(&args.url)?;
    let trace = Trace::new(args.trace);
    let timeout = Duration::from_secs(10);
    let at = |path: String| Url {
        path,
        ..base.clone()
    };

    let url = at("/getCaseCount".into());
    let mut count = CaseCount(None);
    Client::connect(
        &url,
        &Request::new(&url),
        echo_config(timeout),
        timeout,
        trace,
    )?
    .run(&mut count)?;
    let count = count.0.ok_or("the server sent no case count")?;
    let cases = match &args.cases {
        Some(list) => parse_cases(list, count)?,
        None => (1..=count).collect(),
    };
    eprintln!("* {count} cases on the server; running {}", cases.len());

    let agent = percent_encode(&args.agent);
    for case in cases {
        let url = at(format!("/runCase?case={case}&agent={agent}"));
        let request = Request::new(&url);
        // A case may fail the connection on purpose (that is what most of them test): only a
        // handshake that does not happen stops the run.
        let mut client = Client::connect(&url, &request, echo_config(timeout), timeout, trace)?;
        let end = client.run(&mut Echo)?;
        trace.log(format_args!("case {case}: {}", end.summary()));
    }
    let url = at(format!("/updateReports?agent={agent}"));
    let mut client = Client::connect(
        &url,
        &Request::new(&url),
        echo_config(timeout),
        timeout,
        trace,
    )?;
    client.run(&mut Echo)?;
    eprintln!("* reports updated for agent {:?}", args.agent);
    Ok(())
}

/// `1-16,200` to case numbers, each checked against the server's count.
fn parse_cases(list: &str, count: u32) -> Result<Vec<u32>, String> {
    let mut cases = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let number = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=count).contains(n))
                .ok_or_else(|| format!("--cases: {s:?} is not a case number in 1..={count}"))
        };
        match part.split_once('-') {
            Some((a, b)) => cases.extend(number(a)?..=number(b)?),
            None => cases.push(number(part)?),
        }
    }
    Ok(cases)
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn seconds(s: f64) -> Result<Duration, String> {
    Duration::try_from_secs_f64(s).map_err(|_| format!("{s} is not a number of seconds"))
}

// ---------------------------------------------------------------------------------------------
// What each mode does with the events of a connection

/// One mode of the client: what to do with each event, and (interactive only) with stdin.
trait App {
    fn on_event(&mut self, ws: &mut Connection, event: &Event);
    /// Stdin's file descriptor to watch, if this mode reads it.
    fn stdin(&mut self) -> Option<&mut Terminal> {
        None
    }
}

/// Send every text and binary message back as it came, as Autobahn and the grader expect.
struct Echo;

impl App for Echo {
    fn on_event(&mut self, ws: &mut Connection, event: &Event) {
        // exercise: begin "Echo each message back as the same type"
        // hint: `Event::Text(text)` goes back with `ws.send_text(text)`, `Event::Binary(data)` with `ws.send_binary(data)`.
        // hint: Nothing to do for pings (the pong is already queued by `Connection`) or for closes (the echo of a Close is queued too).
        match event {
            Event::Text(text) => {
                ws.send_text(text);
            }
            Event::Binary(data) => {
                ws.send_binary(data);
            }
            _ => {}
        }
        // exercise: end
    }
}

/// `/getCaseCount`: one text message with a number.
struct CaseCount(Option<u32>);

impl App for CaseCount {
    fn on_event(&mut self, _ws: &mut Connection, event: &Event) {
        if let Event::Text(text) = event {
            self.0 = text.trim().parse().ok();
        }
    }
}

/// The interactive mode's stdin: lines in, commands run, messages printed.
struct Terminal {
    /// None once stdin is at EOF (or after `/quit`).
    fd: Option<i32>,
    /// Stdin's flags before we made it non-blocking, restored on drop: a terminal's file
    /// description is shared with the shell, which would otherwise find it non-blocking.
    saved_flags: Option<i32>,
    /// Bytes of an incomplete line.
    partial: Vec<u8>,
    /// Stdin was a file (`< input.txt`): epoll cannot watch a regular file, so it is read whole
    /// at the start.
    preread: Option<Vec<u8>>,
}

impl Terminal {
    fn open(poll: &Poll) -> Result<Terminal, String> {
        let fd = io::stdin().as_raw_fd();
        let mut t = Terminal {
            fd: Some(fd),
            saved_flags: None,
            partial: Vec::new(),
            preread: None,
        };
        match poll
            .registry()
            .register(&mut SourceFd(&fd), STDIN, Interest::READABLE)
        {
            Ok(()) => {
                // SAFETY: fcntl on our own stdin with integer arguments.
                let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
                if flags >= 0 {
                    unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
                    t.saved_flags = Some(flags);
                }
            }
            // EPERM: a regular file or /dev/null, always "ready": read it all now.
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                let mut all = Vec::new();
                io::stdin()
                    .read_to_end(&mut all)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                t.preread = Some(all);
            }
            Err(e) => return Err(format!("watching stdin: {e}")),
        }
        Ok(t)
    }

    /// Read what stdin has, run each complete line; at EOF, start the closing handshake.
    fn read(&mut self, poll: &Poll, ws: &mut Connection, now: Instant) {
        if let Some(all) = self.preread.take() {
            self.partial = all;
            self.lines(ws, now);
            self.eof(poll, ws, now);
            return;
        }
        let Some(_) = self.fd else { return };
        let mut buf = [0u8; 16 * 1024];
        loop {
            match io::stdin().lock().read(&mut buf) {
                Ok(0) => return self.eof(poll, ws, now),
                Ok(n) => {
                    self.partial.extend_from_slice(&buf[..n]);
                    self.lines(ws, now);
                    if self.fd.is_none() {
                        return; // /quit
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("* reading stdin: {e}");
                    return self.eof(poll, ws, now);
                }
            }
        }
    }

    fn lines(&mut self, ws: &mut Connection, now: Instant) {
        while let Some(i) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if self.command(line, ws, now) == Flow::Quit {
                self.fd = None;
                self.partial.clear();
                return;
            }
        }
    }

    /// Stdin ended: send a Close 1000 (if nobody has closed yet) and stop reading it.
    fn eof(&mut self, poll: &Poll, ws: &mut Connection, now: Instant) {
        if !self.partial.is_empty() {
            // A last line without a newline is still a line.
            self.partial.push(b'\n');
            self.lines(ws, now);
        }
        if let Some(fd) = self.fd.take() {
            let _ = poll.registry().deregister(&mut SourceFd(&fd));
        }
        if ws.close(1000, "", now) {
            eprintln!("* end of input: sent Close 1000, waiting for the server's");
        }
    }

    fn command(&mut self, line: &str, ws: &mut Connection, now: Instant) -> Flow {
        let (cmd, rest) = line.split_once(' ').unwrap_or((line, ""));
        let sent = match cmd {
            "/ping" => ws.ping(rest.as_bytes()),
            "/binary" => match from_hex(rest) {
                Some(data) => ws.send_binary(&data),
                None => {
                    eprintln!("* /binary takes hex digits, e.g. /binary 00ff10");
                    return Flow::Go;
                }
            },
            "/close" => {
                let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
                let code = if code.is_empty() {
                    Ok(1000)
                } else {
                    code.parse()
                };
                let Ok(code) = code else {
                    eprintln!("* /close takes a number: /close 1000 bye");
                    return Flow::Go;
                };
                // Any code is sent as typed, even one the RFC forbids: try /close 999 and
                // watch the server answer 1002.
                ws.close(code, reason, now)
            }
            "/quit" => {
                ws.close(1000, "", now);
                return Flow::Quit;
            }
            "/help" => {
                eprintln!(
                    "* /ping [DATA]  /binary HEX  /close [CODE [REASON]]  /quit  (//text sends /text)"
                );
                return Flow::Go;
            }
            c if c.starts_with("//") => ws.send_text(&line[1..]),
            c if c.starts_with('/') => {
                eprintln!("* unknown command {c}: /help lists them");
                return Flow::Go;
            }
            _ => ws.send_text(line),
        };
        if !sent {
            eprintln!("* not sent: the connection is {:?}", ws.state());
        }
        Flow::Go
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        if let Some(flags) = self.saved_flags {
            // SAFETY: as in open().
            unsafe { libc::fcntl(io::stdin().as_raw_fd(), libc::F_SETFL, flags) };
        }
    }
}

#[derive(PartialEq)]
enum Flow {
    Go,
    Quit,
}

impl App for Terminal {
    fn on_event(&mut self, _ws: &mut Connection, event: &Event) {
        match event {
            Event::Text(text) => println!("< {text}"),
            Event::Binary(data) => println!("< binary, {} bytes: {}", data.len(), hex(data, 1024)),
            Event::Ping(p) => eprintln!("* ping {} (answered with a pong)", quote(p, 125)),
            Event::Pong(p) => eprintln!("* pong {}", quote(p, 125)),
            Event::Close(_) | Event::Failed(_) => {} // reported when the connection ends
        }
    }

    fn stdin(&mut self) -> Option<&mut Terminal> {
        Some(self)
    }
}

fn hex(data: &[u8], max: usize) -> String {
    let mut s: String = data.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if data.len() > max {
        s.push_str("...");
    }
    s
}

fn from_hex(s: &str) -> Option<Vec<u8>> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    digits
        .chunks(2)
        .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One connection: connect, handshake, then the loop

const SOCKET: Token = Token(0);
const STDIN: Token = Token(1);

/// `ws://host[:port][/path]`, split.
#[derive(Clone)]
struct Url {
    text: String,
    host: String,
    port: u16,
    path: String,
}

impl Url {
    fn parse(text: &str) -> Result<Url, String> {
        if text.starts_with("wss://") {
            return Err(
                "wss:// is WebSocket inside TLS; this client speaks plain ws:// only \
                        (TLS is a protocol of its own, not written by hand in this course)"
                    .into(),
            );
        }
        let rest = text
            .strip_prefix("ws://")
            .ok_or_else(|| format!("{text:?}: expected ws://HOST[:PORT][/PATH]"))?;
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) if rest[i..].starts_with('?') => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        // [::1]:8080, host:8080 or host.
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(':') && !p.contains(']') => (
                h,
                p.parse().map_err(|_| format!("{text:?}: bad port {p:?}"))?,
            ),
            _ => (authority, 80),
        };
        if host.is_empty() {
            return Err(format!("{text:?}: no host"));
        }
        Ok(Url {
            text: text.to_string(),
            host: host.trim_matches(['[', ']']).to_string(),
            port,
            path,
        })
    }

    /// The Host header: the host, and the port unless it is ws's default, 80 (RFC 6455 4.1).
    fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            80 => host,
            p => format!("{host}:{p}"),
        }
    }
}

/// The upgrade request: what ClientConfig writes, plus any `-H` headers.
struct Request {
    config: ClientConfig,
    extra: Vec<(String, String)>,
}

impl Request {
    fn new(url: &Url) -> Request {
        Request {
            config: ClientConfig::new(url.host_header(), url.path.clone()),
            extra: Vec::new(),
        }
    }
}

/// 16 random bytes for the key, 4 for each mask: from the kernel's CSPRNG.
fn random<const N: usize>() -> [u8; N] {
    // exercise: begin "Draw random bytes from a strong source (getrandom or /dev/urandom)"
    // hint: RFC 6455 5.3: "The masking key needs to be unpredictable; thus, the masking key MUST be derived from a strong source of entropy." A counter or a seeded PRNG is not enough: a script that can predict the key can choose the bytes on the wire.
    // hint: `libc::getrandom(buf.as_mut_ptr().cast(), len, 0)` fills `buf` from the kernel's CSPRNG and returns how many bytes it wrote (or -1 and EINTR: try again). Or read N bytes from `std::fs::File::open("/dev/urandom")`.
    let mut bytes = [0u8; N];
    let mut filled = 0;
    while filled < N {
        // SAFETY: the pointer and length describe the unfilled part of `bytes`.
        let n = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), N - filled, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            assert_eq!(e.kind(), io::ErrorKind::Interrupted, "getrandom: {e}");
            continue;
        }
        filled += n as usize;
    }
    bytes
    // exercise: end
}

/// How a connection ended.
struct End {
    /// The server's Close (code and reason), if one arrived.
    server_close: Option<CloseFrame>,
    /// The Close we sent first, if we did.
    our_close: bool,
    /// Why the connection failed, if it did: the server broke the protocol, went silent, or
    /// the socket failed.
    failed: Option<String>,
    /// Whether the server closed TCP (true) or we did, after `--timeout` (false).
    server_closed_tcp: bool,
}

impl End {
    fn summary(&self) -> String {
        match (&self.failed, &self.server_close) {
            (Some(e), _) => format!("failed: {e}"),
            (None, Some(c)) => format!("closed {} {:?}", c.code, c.reason),
            (None, None) => "the server closed TCP without a Close (1006)".into(),
        }
    }

    /// Exit 0 for a closing handshake that completed with a code that is not an error.
    fn verdict(self) -> Result<(), String> {
        if let Some(e) = self.failed {
            return Err(format!("the connection failed: {e}"));
        }
        let Some(close) = self.server_close else {
            return Err(
                "the server closed TCP without a closing handshake (1006, abnormal closure)".into(),
            );
        };
        let who = if self.our_close {
            "answered our Close with"
        } else {
            "closed with"
        };
        let tcp = if self.server_closed_tcp {
            "and closed TCP"
        } else {
            "but did not close TCP in time: we did (RFC 6455 7.1.1)"
        };
        eprintln!("* the server {who} {} {:?} {tcp}", close.code, close.reason);
        // The codes that say something went wrong (RFC 6455 7.4.1): the server closed cleanly,
        // but to tell us about an error. 1000, 1001 and the application's 3000-4999 are fine.
        match close.code {
            code @ (1002 | 1003 | 1007..=1011) => Err(format!(
                "the server closed with {code} {:?}: an error",
                close.reason
            )),
            _ => Ok(()),
        }
    }
}

struct Client {
    poll: Poll,
    stream: TcpStream,
    peer: SocketAddr,
    ws: Connection,
    /// Bytes for the socket that it has not taken yet.
    out: Vec<u8>,
    protocol: Option<String>,
    trace: Trace,
    traced_in: FrameTrace,
    traced_out: FrameTrace,
}

impl Client {
    /// Connect, send the upgrade request, and check the answer (RFC 6455 4.1).
    fn connect(
        url: &Url,
        request: &Request,
        config: connection::Config,
        timeout: Duration,
        trace: Trace,
    ) -> Result<Client, String> {
        let deadline = Instant::now() + timeout;
        let peer = (url.host.as_str(), url.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", url.host))?
            .next()
            .ok_or_else(|| format!("{}: no address", url.host))?;
        let mut poll = Poll::new().map_err(|e| e.to_string())?;
        let mut events = Events::with_capacity(8);
        // A non-blocking connect: connect(2) returns EINPROGRESS at once, and the socket
        // becomes writable when the 3-way handshake is done (or has failed).
        let mut stream = TcpStream::connect(peer).map_err(|e| format!("connect {peer}: {e}"))?;
        poll.registry()
            .register(&mut stream, SOCKET, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        trace.log(format_args!("connect({peer}): in progress"));
        loop {
            wait(&mut poll, &mut events, Some(deadline))?;
            if Instant::now() >= deadline {
                return Err(format!("connect {peer}: no answer in {timeout:?}"));
            }
            // SO_ERROR says how the connect ended; peer_addr() fails while it has not.
            if let Some(e) = stream.take_error().map_err(|e| e.to_string())? {
                return Err(format!("connect {peer}: {e}"));
            }
            if stream.peer_addr().is_ok() {
                break;
            }
        }
        if let Ok(local) = stream.local_addr() {
            trace.log(format_args!("connected to {peer} from {local}"));
        }

        let mut handshake = ClientHandshake::new(request.config.clone(), random());
        let mut head = handshake.request();
        // -H headers go before the empty line that ends the head.
        head.truncate(head.len() - 2);
        for (name, value) in &request.extra {
            head.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        trace.fields(Dir::Out, &peer, &head, &annotate_head(&head));
        let mut out = head;
        let mut response = Vec::new();
        let established = loop {
            write_some(&mut stream, &mut out).map_err(|e| format!("writing the request: {e}"))?;
            let mut buf = [0u8; 8192];
            let n = match stream.read(&mut buf) {
                Ok(0) => {
                    return Err(format!(
                        "the server closed the connection during the handshake{}",
                        shown_response(&response)
                    ))
                }
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    wait(&mut poll, &mut events, Some(deadline))?;
                    if Instant::now() >= deadline {
                        return Err(format!("no handshake response in {timeout:?}"));
                    }
                    continue;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("reading the response: {e}")),
            };
            response.extend_from_slice(&buf[..n]);
            handshake.push(&buf[..n]);
            match handshake.next() {
                Ok(None) => continue,
                Ok(Some(established)) => break established,
                // RFC 6455 4.1: "the client MUST _Fail the WebSocket Connection_": nothing
                // more is sent, the socket is closed when `stream` drops.
                Err(e) => {
                    trace.bytes(Dir::In, &peer, &response);
                    return Err(format!(
                        "handshake refused: {e}{}",
                        shown_response(&response)
                    ));
                }
            }
        };
        let head_len = response.len() - established.unread.len();
        // (annotate_head names the parts of a request; a response is shown as it came.)
        trace.bytes(Dir::In, &peer, &response[..head_len]);
        let masks: connection::MaskKeys = Box::new(random::<4>);
        let mut ws = Connection::client(config, Instant::now(), masks);
        let mut traced_in = FrameTrace::default();
        traced_in.push(trace, Dir::In, &peer, &established.unread);
        ws.receive(&established.unread, Instant::now());
        Ok(Client {
            poll,
            stream,
            peer,
            ws,
            out,
            protocol: established.protocol,
            trace,
            traced_in,
            traced_out: FrameTrace::default(),
        })
    }

    /// Drive the connection until it is over (the driver's call order is in
    /// `src/ws/connection.rs`): read, hand events to `app`, write, wait.
    fn run(&mut self, app: &mut dyn App) -> Result<End, String> {
        let mut end = End {
            server_close: None,
            our_close: false,
            failed: None,
            server_closed_tcp: false,
        };
        let mut events = Events::with_capacity(16);
        let mut buf = vec![0u8; 64 * 1024];
        if let Some(t) = app.stdin() {
            // Lines that were already there (a file on stdin) go out first.
            if t.preread.is_some() {
                t.read(&self.poll, &mut self.ws, Instant::now());
            }
        }
        // mio is edge-triggered: the readiness that brought the 101 is used up, and bytes (or
        // the FIN) that came with it raise no new event. So read first, until WouldBlock.
        let mut readable = true;
        loop {
            if readable && self.read_socket(app, &mut end, &mut buf) {
                return Ok(end);
            }
            readable = false;
            self.pump(app, &mut end);
            if let Err(e) = write_some(&mut self.stream, &mut self.out) {
                end.failed.get_or_insert(format!("writing: {e}"));
                return Ok(end);
            }
            if self.ws.should_close_tcp() && self.out.is_empty() {
                // Our turn to close: the connection failed, or the server did not close TCP
                // within the timeout after the closing handshake. Dropping the stream closes it.
                self.trace
                    .log(format_args!("close({}): we close TCP", self.peer));
                return Ok(end);
            }
            wait(&mut self.poll, &mut events, self.ws.poll_timeout())?;
            let now = Instant::now();
            for event in events.iter() {
                match event.token() {
                    // Readable: read below, until WouldBlock.
                    SOCKET => readable = true,
                    STDIN => {
                        let was_open = self.ws.state() == State::Open;
                        if let Some(t) = app.stdin() {
                            t.read(&self.poll, &mut self.ws, now);
                        }
                        if was_open && self.ws.state() == State::CloseSent {
                            end.our_close = true;
                        }
                    }
                    _ => {}
                }
            }
            if let Some(Event::Failed(e)) = self.ws.handle_timeout(Instant::now()) {
                end.failed.get_or_insert(failure(&e));
            }
        }
    }

    /// Read until WouldBlock, handing each read to the connection. `true` when the connection
    /// is over: the server closed TCP, or the socket failed.
    fn read_socket(&mut self, app: &mut dyn App, end: &mut End, buf: &mut [u8]) -> bool {
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    // Events from bytes that came before the FIN (perhaps with the 101) first.
                    self.pump(app, end);
                    // The server closed TCP: after the closing handshake, this is the order
                    // RFC 6455 7.1.1 asks for; before it, an abnormal closure (1006).
                    self.trace
                        .log(format_args!("read: 0 (the server closed TCP)"));
                    end.server_closed_tcp = true;
                    if let Event::Close(c) = self.ws.peer_closed_tcp() {
                        self.trace.log(format_args!("{} {}", c.code, c.reason));
                    }
                    return true;
                }
                Ok(n) => {
                    self.traced_in
                        .push(self.trace, Dir::In, &self.peer, &buf[..n]);
                    self.ws.receive(&buf[..n], Instant::now());
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    end.failed.get_or_insert(format!("reading: {e}"));
                    return true;
                }
            }
            // Events after every read, so that a 16 MiB message in many reads is not all
            // kept twice.
            self.pump(app, end);
        }
    }

    /// Hand every pending event to the app, and queue what the connection wants written.
    fn pump(&mut self, app: &mut dyn App, end: &mut End) {
        while let Some(event) = self.ws.poll_event() {
            match &event {
                Event::Close(close) => end.server_close = Some(close.clone()),
                Event::Failed(e) => {
                    end.failed.get_or_insert(failure(e));
                }
                _ => {}
            }
            app.on_event(&mut self.ws, &event);
        }
        let out = self.ws.take_output();
        if !out.is_empty() {
            self.traced_out.push(self.trace, Dir::Out, &self.peer, &out);
            self.out.extend_from_slice(&out);
        }
    }
}

/// A protocol error, with the Close code we sent for it (none: we only closed the socket).
fn failure(e: &WsError) -> String {
    match e.close_code() {
        Some(code) => format!("{e} (sent Close {code})"),
        None => e.to_string(),
    }
}

/// Wait for readiness, until `deadline` at the latest.
fn wait(poll: &mut Poll, events: &mut Events, deadline: Option<Instant>) -> Result<(), String> {
    let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
    match poll.poll(events, timeout) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        Err(e) => Err(format!("poll: {e}")),
    }
}

/// Write as much of `out` as the socket takes now; the rest waits for the next writable event.
fn write_some(stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    let mut written = 0;
    while written < out.len() {
        match stream.write(&out[written..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    out.drain(..written);
    Ok(())
}

/// The server's refusal, for the error message: status line and body.
fn shown_response(response: &[u8]) -> String {
    if response.is_empty() {
        return String::new();
    }
    let text = String::from_utf8_lossy(response);
    let status = text.lines().next().unwrap_or_default();
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b).trim();
    let body = if body.is_empty() {
        String::new()
    } else {
        format!("\n  body: {body}")
    };
    format!("\n  the server answered: {status}{body}")
}

/// `--trace` for frames: bytes arrive in any chunking, so they are collected until a frame's
/// header and up to `PREVIEW` bytes of its payload are there, then annotated with
/// `annotate_frame` (the field names of `src/ws/frame.rs`); the rest of a long payload is
/// counted, not shown.
#[derive(Default)]
struct FrameTrace {
    pending: Vec<u8>,
    /// Payload bytes of the current frame still to skip.
    skip: u64,
}

const PREVIEW: usize = 64;

impl FrameTrace {
    fn push(&mut self, trace: Trace, dir: Dir, peer: &SocketAddr, mut data: &[u8]) {
        if !trace.is_on() {
            return;
        }
        while !data.is_empty() {
            if self.skip > 0 {
                let n = (self.skip.min(data.len() as u64)) as usize;
                self.skip -= n as u64;
                data = &data[n..];
                continue;
            }
            self.pending.push(data[0]);
            data = &data[1..];
            let Some((header, len)) = header_len(&self.pending) else {
                continue;
            };
            let whole = header as u64 + len;
            let shown = header + (len as usize).min(PREVIEW);
            if self.pending.len() == shown {
                trace.fields(dir, peer, &self.pending, &annotate_frame(&self.pending));
                if whole > shown as u64 {
                    trace.log(format_args!(
                        "... and {} more payload bytes",
                        whole - shown as u64
                    ));
                }
                self.skip = whole - shown as u64;
                self.pending.clear();
            }
        }
    }
}

/// A frame header's length and the payload length, once the header is complete.
fn header_len(b: &[u8]) -> Option<(usize, u64)> {
    let len7 = b.get(1)? & 0x7f;
    let masked = b[1] & 0x80 != 0;
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header = 2 + ext + if masked { 4 } else { 0 };
    if b.len() < header {
        return None;
    }
    let len = match ext {
        0 => u64::from(len7),
        _ => b[2..2 + ext].iter().fold(0, |n, &x| n << 8 | u64::from(x)),
    };
    Some((header, len))
}
