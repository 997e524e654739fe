//! Lesson 10: WebSocket frames. A dissector that shows every field of every frame under its
//! bytes, an encoder that turns a message into frames, and an echo server that traces each
//! frame it reads and writes.
//!
//! ```text
//! cargo run --bin 10-ws-frames -- decode 81 05 48 65 6c 6c 6f                # RFC 6455 5.7: "Hello"
//! cargo run --bin 10-ws-frames -- decode --role client 818537fa213d7f9f4d5158
//! cargo run --bin 10-ws-frames -- encode --text "Hello" --fragment 3 --mask 37fa213d
//! cargo run --bin 10-ws-frames -- encode --close 1000 bye
//! sudo tcpdump -i lo -U -w /tmp/echo.pcap 'tcp port 7010'   # then talk to `serve`, then:
//! cargo run --bin 10-ws-frames -- decode --pcap /tmp/echo.pcap
//! cargo run --bin 10-ws-frames -- serve --trace                             # ws://127.0.0.1:7010
//! ```
//!
//! The frame code is `src/ws/` (read its module docs first): `frame.rs` has the field table
//! and the encoder, `decoder.rs` the push parser that checks every header rule, `mask.rs` the
//! XOR, `message.rs` the assembly of fragments with UTF-8 checked as it arrives, `close.rs` the
//! close codes. `src/ws/dissect.rs` runs that receive path in the open and prints what it sees,
//! so `decode` shows exactly what a server or client built on `src/ws` would do with the bytes,
//! down to the Close frame it would answer a broken frame with. This file only reads the
//! command line, the hex and the capture (`pcap.rs`), and drives the event loop for `serve`.

mod pcap;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use netcourse::event_loop::{self, Closed, Config, ConnId, Cx, EventLoop, Service};
use netcourse::http::annotate_head;
use netcourse::trace::{Dir, Trace};
use netcourse::ws::connection::{self, Connection, Event};
use netcourse::ws::dissect::{self, Dissector};
use netcourse::ws::handshake::{refusal_response, ServerConfig, ServerHandshake};
use netcourse::ws::{encode_frame, Limits, Opcode, Role};
use std::collections::HashMap;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::{Instant, SystemTime};

#[derive(Parser)]
#[command(
    about = "Lesson 10: WebSocket frames: decode and encode them, or run an echo server that traces them",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: `serve`.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Decode frames from hex (arguments or stdin) or from a pcap capture, field by field.
    Decode(DecodeArgs),
    /// Encode a message into frames, print their hex and decode them.
    Encode(EncodeArgs),
    /// A WebSocket echo server (lesson 09's, with every frame traced).
    Serve(ServeArgs),
}

#[derive(Args)]
struct DecodeArgs {
    /// The bytes, in hex; spaces, colons and newlines are ignored. Read from stdin if absent.
    hex: Vec<String>,
    /// Who sent the bytes (client frames must be masked, server frames must not be). Without
    /// it, the MASK bit of the first frame decides.
    #[arg(long, value_enum)]
    role: Option<Side>,
    /// A classic pcap capture (`tcpdump -w FILE`): every WebSocket connection in it, both ways.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["hex", "role"])]
    pcap: Option<String>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Side {
    Client,
    Server,
}

#[derive(Args)]
#[command(group = clap::ArgGroup::new("message").required(true))]
struct EncodeArgs {
    /// A text message.
    #[arg(long, group = "message")]
    text: Option<String>,
    /// A binary message, in hex.
    #[arg(long, group = "message", value_name = "HEX")]
    binary: Option<String>,
    /// A ping, with an optional text payload.
    #[arg(long, group = "message", num_args = 0..=1, default_missing_value = "", value_name = "TEXT")]
    ping: Option<String>,
    /// A pong, with an optional text payload.
    #[arg(long, group = "message", num_args = 0..=1, default_missing_value = "", value_name = "TEXT")]
    pong: Option<String>,
    /// A close frame: a code and an optional reason (`--close 1000 bye`).
    #[arg(long, group = "message", num_args = 1..=2, value_names = ["CODE", "REASON"])]
    close: Option<Vec<String>>,
    /// Payload bytes per frame: the message goes out as a first frame and continuations.
    #[arg(long, value_name = "N")]
    fragment: Option<usize>,
    /// Mask every frame with this key (8 hex digits), as a client does.
    #[arg(long, value_name = "KEY", conflicts_with = "client")]
    mask: Option<String>,
    /// Mask every frame with a fresh random key, as a client must.
    #[arg(long)]
    client: bool,
}

#[derive(Args)]
struct ServeArgs {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7010")]
    addr: SocketAddr,
    /// Print every frame read and written, annotated field by field, to stderr.
    #[arg(long)]
    trace: bool,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Decode(args)) => decode(args),
        Some(Command::Encode(args)) => encode(args),
        Some(Command::Serve(args)) => Ok(serve(args.addr, Trace::new(args.trace))?),
        None => Ok(serve(cli.serve.addr, Trace::new(cli.serve.trace))?),
    }
}

// ---- decode ----------------------------------------------------------------------------------

fn decode(args: DecodeArgs) -> anyhow::Result<()> {
    if let Some(path) = &args.pcap {
        return decode_pcap(path);
    }
    let text = if args.hex.is_empty() {
        let mut s = String::new();
        io::stdin().read_to_string(&mut s)?;
        s
    } else {
        args.hex.join(" ")
    };
    let bytes = parse_hex(&text)?;
    let sender = match args.role {
        Some(Side::Client) => Role::Client,
        Some(Side::Server) => Role::Server,
        None => {
            let masked = bytes.get(1).is_some_and(|b| b & 0x80 != 0);
            let guess = if masked { "client" } else { "server" };
            println!("(no --role: the first frame is {}masked, so these are read as a {guess}'s frames)\n",
                if masked { "" } else { "not " });
            if masked {
                Role::Client
            } else {
                Role::Server
            }
        }
    };
    print!("{}", dissect::dissect(&bytes, sender));
    Ok(())
}

/// Hex digits, with spaces, colons, newlines and a `0x` prefix tolerated.
fn parse_hex(text: &str) -> anyhow::Result<Vec<u8>> {
    let digits: String = text
        .split_whitespace()
        .map(|w| w.trim_start_matches("0x"))
        .collect::<String>()
        .replace(':', "");
    if !digits.len().is_multiple_of(2) {
        bail!("{} hex digits: bytes take two each", digits.len());
    }
    (0..digits.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(&digits[i..i + 2], 16)
                .with_context(|| format!("{:?} is not a hex byte", &digits[i..i + 2]))
        })
        .collect()
}

fn decode_pcap(path: &str) -> anyhow::Result<()> {
    let file = std::fs::read(path).with_context(|| format!("reading {path}"))?;
    let streams = pcap::tcp_streams(&file)?;
    let mut shown = 0;
    for s in &streams {
        // One connection is shown once, from the side that opened it (or that sent a GET).
        let client = s.opened
            || (!streams.iter().any(|o| o.from == s.to && o.opened) && s.data.starts_with(b"GET "));
        if !client {
            continue;
        }
        shown += 1;
        println!("=== connection {} -> {} ===\n", s.from, s.to);
        let reply = streams.iter().find(|o| o.from == s.to && o.to == s.from);
        for (stream, sender) in [(Some(s), Role::Client), (reply, Role::Server)] {
            let Some(stream) = stream else { continue };
            println!(
                "--- {} -> {} ({} bytes) ---",
                stream.from,
                stream.to,
                stream.data.len()
            );
            if stream.missing > 0 {
                println!("(the capture missed {} bytes of this stream: frames after the hole may not decode)", stream.missing);
            }
            // The HTTP Upgrade head comes first in both directions; frames start after its
            // blank line.
            let data = &stream.data;
            let frames = match data.windows(4).position(|w| w == b"\r\n\r\n") {
                Some(end) if data.starts_with(b"GET ") || data.starts_with(b"HTTP/") => {
                    let line = data.split(|&b| b == b'\r').next().unwrap_or_default();
                    println!(
                        "HTTP head, {} bytes: {}\n",
                        end + 4,
                        String::from_utf8_lossy(line)
                    );
                    &data[end + 4..]
                }
                _ => &data[..],
            };
            println!("{}", dissect::dissect(frames, sender));
        }
    }
    if shown == 0 {
        println!("no TCP connection opened in this capture ({} one-way streams); was the capture started before the client connected?", streams.len());
    }
    Ok(())
}

// ---- encode ----------------------------------------------------------------------------------

fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    let (opcode, payload) = if let Some(text) = &args.text {
        (Opcode::Text, text.as_bytes().to_vec())
    } else if let Some(hex) = &args.binary {
        (Opcode::Binary, parse_hex(hex)?)
    } else if let Some(p) = &args.ping {
        (Opcode::Ping, p.as_bytes().to_vec())
    } else if let Some(p) = &args.pong {
        (Opcode::Pong, p.as_bytes().to_vec())
    } else if let Some(close) = &args.close {
        let code: u16 = close[0]
            .parse()
            .context("a close code is a number, 0 to 65535")?;
        let reason = close.get(1).map_or("", String::as_str);
        (
            Opcode::Close,
            [&code.to_be_bytes()[..], reason.as_bytes()].concat(),
        )
    } else {
        unreachable!("clap requires one of the message options")
    };
    let fixed_key = match &args.mask {
        Some(hex) => Some(
            <[u8; 4]>::try_from(parse_hex(hex)?)
                .map_err(|k| anyhow::anyhow!("a masking key is 4 bytes, not {}", k.len()))?,
        ),
        None => None,
    };
    let key = || match fixed_key {
        Some(k) => Ok(Some(k)),
        None if args.client => random_key().map(Some),
        None => Ok(None),
    };
    // Fragmentation (RFC 6455 5.4): the first frame carries the opcode, the others are
    // continuations (opcode 0), and only the last has FIN. An empty message is one frame.
    let size = args.fragment.unwrap_or(payload.len()).max(1);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![&[]]
    } else {
        payload.chunks(size).collect()
    };
    let mut wire = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let op = if i == 0 { opcode } else { Opcode::Continuation };
        wire.extend(encode_frame(i + 1 == pieces.len(), op, piece, key()?));
    }
    println!("{}\n", dissect::hex(&wire, usize::MAX).replace(' ', ""));
    let sender = if fixed_key.is_some() || args.client {
        Role::Client
    } else {
        Role::Server
    };
    print!("{}", dissect::dissect(&wire, sender));
    Ok(())
}

/// 4 bytes from the kernel's random source (RFC 6455 5.3: "the masking key MUST be derived
/// from a strong source of entropy").
fn random_key() -> anyhow::Result<[u8; 4]> {
    let mut key = [0u8; 4];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut key)?;
    Ok(key)
}

// ---- serve: lesson 09's echo server, every frame traced -----------------------------------

fn serve(addr: SocketAddr, trace: Trace) -> io::Result<()> {
    event_loop::raise_fd_limit()?;
    let mut lp = EventLoop::new(Config::default())?;
    let local = lp.listen_tcp(addr)?;
    lp.stop_on_signals()?;
    println!("listening on ws://{local}");
    lp.run(&mut Echo {
        trace,
        conns: HashMap::new(),
    })?;
    Ok(())
}

/// A connection is first an HTTP request, then (after the 101) a WebSocket.
enum Phase {
    Handshake(ServerHandshake),
    Open(Connection),
}

struct Conn {
    phase: Phase,
    peer: SocketAddr,
    /// With `--trace`: the bytes of the head so far, shown annotated once it is complete.
    head: Vec<u8>,
    /// With `--trace`: the frames coming in and going out, dissected as they pass.
    frames_in: Option<Dissector>,
    frames_out: Option<Dissector>,
}

struct Echo {
    trace: Trace,
    conns: HashMap<ConnId, Conn>,
}

impl Echo {
    fn handshake(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Phase::Handshake(h) = &mut c.phase else {
            return;
        };
        if self.trace.is_on() {
            c.head.extend_from_slice(data);
        }
        h.push(data);
        match h.next() {
            Ok(None) => {} // the head is not complete: wait for more
            Ok(Some(accepted)) => {
                if self.trace.is_on() {
                    let head = &c.head[..c.head.len() - accepted.unread.len()];
                    self.trace
                        .fields(Dir::In, &c.peer, head, &annotate_head(head));
                    self.trace.log(format_args!(
                        "{}: 101 Switching Protocols; frames from here on",
                        c.peer
                    ));
                    c.frames_in = Some(Dissector::new(Role::Client, Limits::default()));
                    c.frames_out = Some(Dissector::new(Role::Server, Limits::default()));
                }
                cx.send(conn, &accepted.response);
                cx.cancel_timer(conn as u64);
                let mut ws = Connection::server(connection::Config::default(), cx.now());
                ws.receive(&accepted.unread, cx.now());
                if let Some(frames) = c.frames_in.as_mut() {
                    frames.trace(self.trace, &c.peer, Dir::In, &accepted.unread);
                }
                c.phase = Phase::Open(ws);
                self.pump(cx, conn);
            }
            Err(e) => {
                self.trace.log(format_args!("{}: refused: {e}", c.peer));
                cx.send(conn, &refusal_response(&e, SystemTime::now()));
                cx.close(conn);
            }
        }
    }

    /// Echo every message, write what the connection queued (traced), close when it says so.
    fn pump(&mut self, cx: &mut Cx<'_>, conn: ConnId) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Phase::Open(ws) = &mut c.phase else {
            return;
        };
        while let Some(event) = ws.poll_event() {
            match event {
                Event::Text(text) => {
                    ws.send_text(&text);
                }
                Event::Binary(data) => {
                    ws.send_binary(&data);
                }
                // The pong is queued by the connection itself (RFC 6455 5.5.2).
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close(close) => self.trace.log(format_args!(
                    "{}: close {} {:?}",
                    c.peer, close.code, close.reason
                )),
                Event::Failed(e) => self.trace.log(format_args!("{}: failed: {e}", c.peer)),
            }
        }
        let out = ws.take_output();
        if !out.is_empty() {
            if let Some(frames) = c.frames_out.as_mut() {
                frames.trace(self.trace, &c.peer, Dir::Out, &out);
            }
            cx.send(conn, &out);
        }
        if ws.should_close_tcp() {
            self.trace
                .log(format_args!("{}: closing the TCP connection", c.peer));
            cx.close(conn);
        } else if let Some(at) = ws.poll_timeout() {
            cx.set_timer(at, conn as u64);
        }
    }
}

impl Service for Echo {
    fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, peer: SocketAddr) {
        let handshake = ServerHandshake::new(ServerConfig::default(), cx.now());
        cx.set_timer(handshake.deadline(), conn as u64);
        let phase = Phase::Handshake(handshake);
        self.conns.insert(
            conn,
            Conn {
                phase,
                peer,
                head: Vec::new(),
                frames_in: None,
                frames_out: None,
            },
        );
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match &mut c.phase {
            Phase::Handshake(_) => self.handshake(cx, conn, data),
            Phase::Open(ws) => {
                ws.receive(data, cx.now());
                if let Some(frames) = c.frames_in.as_mut() {
                    frames.trace(self.trace, &c.peer, Dir::In, data);
                }
                self.pump(cx, conn);
            }
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>, conn: ConnId) {
        if let Some(Conn {
            phase: Phase::Open(ws),
            peer,
            ..
        }) = self.conns.get_mut(&conn)
        {
            if let Event::Close(close) = ws.peer_closed_tcp() {
                self.trace.log(format_args!(
                    "{peer}: TCP closed: {} {}",
                    close.code, close.reason
                ));
            }
        }
        cx.close(conn);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        let conn = key as ConnId;
        let now: Instant = cx.now();
        match self.conns.get_mut(&conn).map(|c| &mut c.phase) {
            Some(Phase::Handshake(h)) => {
                if let Err(e) = h.check_deadline(now) {
                    cx.send(conn, &refusal_response(&e, SystemTime::now()));
                    cx.close(conn);
                }
            }
            Some(Phase::Open(ws)) => {
                ws.handle_timeout(now);
                self.pump(cx, conn);
            }
            None => {}
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, conn: ConnId, _why: Closed) {
        cx.cancel_timer(conn as u64);
        self.conns.remove(&conn);
    }
}
