//! Lesson 11: a WebSocket server on the event loop. One process, one thread, three things at
//! one address:
//!
//! ```text
//! GET /                                  the chat page (plain HTTP, keep-alive)
//! GET /echo              + Upgrade       every message back, as it came (text or binary)
//! GET /chat?room=R&name=N + Upgrade      each text message to every member of room R
//! ```
//!
//! ```text
//! cargo run --bin 11-ws-server                      # listening on ws://127.0.0.1:7011
//! # a browser on http://127.0.0.1:7011/ joins the chat; a second tab sees the first's messages
//! python3 -m websockets ws://127.0.0.1:7011/echo    # type a line, get it back
//! cargo run --bin 11-ws-server -- --trace --origin http://127.0.0.1:7011
//! ```
//!
//! Everything WebSocket is `src/ws`'s sans-IO core (lessons 09 and 10): the handshake checks,
//! the frame decoder, message assembly and UTF-8, the closing handshake, ping and pong. This
//! file is the driver that lesson 05's event loop calls: it turns reads into
//! [`Connection::receive_some`] (a message at a time), events into echoes and chat deliveries, output into writes, and
//! deadlines into timers. What it decides itself is *policy*: which path is which service, how
//! big a message may be, which origins may connect, what to do with a chat member who does not
//! read, and how to say goodbye when the server stops.
//!
//! A connection lives in two phases. It starts as HTTP: lesson 07's request parser reads heads
//! one after the other (so the page and its favicon can share a connection). A head that asks
//! for an Upgrade is checked as lesson 09 checks it; once it is accepted and answered with the
//! 101, the same socket carries frames and the HTTP parser is gone.

use clap::Parser;
use netcourse::event_loop::{self, Closed, ConnId, Cx, EventLoop, Service};
use netcourse::http::response::ResponseHead;
use netcourse::http::{annotate_head, RequestParser};
use netcourse::http::{error_response, Event as HttpEvent, Limits as HttpLimits, RequestHead};
use netcourse::trace::{Dir, Trace};
use netcourse::ws::connection::{self, Connection, Event};
use netcourse::ws::dissect::Dissector;
use netcourse::ws::frame::{encode_frame, Opcode};
use netcourse::ws::handshake::server::{
    accept_response, check_request, decide, refusal_response, ServerConfig,
};
use netcourse::ws::{Limits, Role};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// The chat page, served at `/`. It opens its WebSocket by itself.
const PAGE: &str = include_str!("page.html");

#[derive(Parser, Debug, Clone)]
#[command(about = "Lesson 11: a WebSocket server on the event loop (/echo, /chat, the page at /)")]
struct Cli {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7011")]
    addr: SocketAddr,
    /// Print each request head and every frame, annotated field by field, to stderr.
    #[arg(long)]
    trace: bool,
    /// Largest message on /echo, in bytes (over it: close 1009). The default, 16 MiB, is what
    /// the Autobahn TestSuite's cases 9.* send.
    #[arg(long, default_value_t = 16 << 20)]
    max_message: usize,
    /// Largest frame on /echo, in bytes (over it: close 1009).
    #[arg(long, default_value_t = 16 << 20)]
    max_frame: u64,
    /// Most frames in one message (over it: close 1009).
    #[arg(long, default_value_t = 1 << 17)]
    max_fragments: usize,
    /// Largest chat message, in bytes: what one member may make the server send to every other.
    #[arg(long, default_value_t = 64 << 10)]
    max_chat_message: usize,
    /// A chat member with more than this many bytes waiting to be sent to it is closed (1008):
    /// it does not read, and the room must not wait for it.
    #[arg(long, default_value_t = 1 << 20)]
    max_queue: usize,
    /// Accept browsers only from this origin (repeat for several); without it, any origin.
    #[arg(long = "origin", value_name = "ORIGIN")]
    origins: Vec<String>,
    /// A subprotocol this server speaks (repeat for several); the client's favourite wins.
    #[arg(long = "protocol", value_name = "NAME")]
    protocols: Vec<String>,
    /// Seconds of silence after which the server pings (0: never).
    #[arg(long, default_value_t = 30)]
    ping_interval: u64,
    /// Seconds after a ping without a sign of life before the connection is dropped.
    #[arg(long, default_value_t = 10)]
    pong_timeout: u64,
    /// Seconds for a request head to arrive (408 after it), and for an idle HTTP connection to
    /// stay open.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
    /// Bytes of the one read buffer all connections share. 128 KiB, twice the loop's default,
    /// so that a 64 KiB message and its header come in one read: it is then decoded, echoed
    /// and freed at once, instead of waiting half-read (and holding 64 KiB) until the loop comes
    /// back to its connection. One buffer for the whole server: its size costs nothing per
    /// connection.
    #[arg(long, default_value_t = 128 * 1024)]
    read_buffer: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    event_loop::raise_fd_limit()?;
    // Echoing a message means holding all of it in the output queue at once: the loop's limit
    // must let the largest message through, plus what one more read can add. Reading stops
    // above 64 KiB queued (backpressure), so a client that does not read costs at most this.
    let loop_config = event_loop::Config {
        max_output: cli.max_message + (1 << 20),
        read_buffer: cli.read_buffer,
        trace: Trace::new(false),
        ..event_loop::Config::default()
    };
    let mut lp = EventLoop::new(loop_config)?;
    let local = lp.listen_tcp(cli.addr)?;
    lp.stop_on_signals()?;
    println!("listening on ws://{local}");
    let mut server = WsServer::new(&cli);
    lp.run(&mut server)?;
    Ok(())
}

/// Where an accepted WebSocket goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Echo,
    Chat { room: String, name: String },
}

/// A connection is first HTTP, then (after a 101) a WebSocket.
enum Phase {
    Http(RequestParser),
    /// Upgrade accepted at the head; the 101 goes out when the request's end is read.
    Upgrading(Box<Upgrade>),
    Ws(Box<Ws>),
}

struct Upgrade {
    parser: RequestParser,
    route: Route,
    response: Vec<u8>,
}

struct Ws {
    conn: Connection,
    route: Route,
    /// With `--trace`: lesson 10's dissector on each direction, to show every frame's fields.
    /// Boxed: a few hundred bytes each that would sit in the middle of the hot state.
    frames_in: Option<Box<Dissector>>,
    frames_out: Option<Box<Dissector>>,
    /// The deadline the loop's timer is armed for, if any.
    timer: Option<Instant>,
}

impl Ws {
    /// Take every event the connection has for us and act on it; return the chat lines to
    /// deliver to the room (after this connection's own output is written).
    fn serve(&mut self, now: Instant, trace: Trace, peer: SocketAddr) -> Vec<String> {
        let mut said: Vec<String> = Vec::new();
        // exercise: begin "Serve the messages: echo them, or hand chat lines to the room"
        // hint: `self.conn.poll_event()` until `None`. On /echo a `Event::Text(t)` goes back with `self.conn.send_text(&t)` and a `Event::Binary(b)` with `send_binary(&b)` (or `send_text_owned(t)` / `send_binary_owned(b)`, which queue a long message's own buffer instead of copying it).
        // hint: On /chat, push `format!("{name}: {t}")` to `said`: the caller delivers it to the room once this connection's own output is out. A binary message is not chat: `self.conn.close(1003, "...", now)`.
        // hint: Pings are answered by the core itself (the pong is already queued); `Event::Close` and `Event::Failed` only need tracing: the core queued the answer and says when to close the TCP connection.
        while let Some(event) = self.conn.poll_event() {
            match (event, &self.route) {
                (Event::Text(text), Route::Echo) => {
                    self.conn.send_text_owned(text);
                }
                (Event::Binary(data), Route::Echo) => {
                    self.conn.send_binary_owned(data);
                }
                (Event::Text(text), Route::Chat { name, .. }) => {
                    said.push(format!("{name}: {text}"))
                }
                (Event::Binary(_), Route::Chat { .. }) => {
                    // RFC 6455 7.4.1: "1003 indicates that an endpoint is terminating the
                    // connection because it has received a type of data it cannot accept (e.g.,
                    // an endpoint that understands only text data MAY send this if it receives
                    // a binary message)."
                    self.conn
                        .close(1003, "the chat carries text messages only", now);
                }
                (Event::Ping(_) | Event::Pong(_), _) => {}
                (Event::Close(close), _) => trace.log(format_args!(
                    "{peer}: close {} {:?}",
                    close.code, close.reason
                )),
                (Event::Failed(e), _) => trace.log(format_args!("{peer}: failed: {e}")),
            }
        }
        said
        // exercise: end
    }
}

struct Conn {
    phase: Phase,
    peer: SocketAddr,
}

struct WsServer {
    trace: Trace,
    handshake: ServerConfig,
    http_limits: HttpLimits,
    echo: connection::Config,
    chat: connection::Config,
    max_queue: usize,
    idle: Duration,
    /// Connections by number: the loop numbers them densely from 0.
    conns: Vec<Option<Conn>>,
    /// Room name -> its members.
    rooms: HashMap<String, Vec<ConnId>>,
}

impl WsServer {
    fn new(cli: &Cli) -> Self {
        let handshake = ServerConfig {
            allowed_origins: (!cli.origins.is_empty()).then(|| cli.origins.clone()),
            protocols: cli.protocols.clone(),
            timeout: Duration::from_secs(cli.handshake_timeout),
            ..ServerConfig::default()
        };
        let http_limits = HttpLimits {
            max_request_line: handshake.max_bytes,
            max_header_bytes: handshake.max_bytes,
            max_headers: handshake.max_headers,
            // The page takes no body; a request with one is refused at its head.
            max_body: 0,
            max_trailer_bytes: 0,
        };
        let echo = connection::Config {
            limits: Limits {
                max_frame: cli.max_frame,
                max_message: cli.max_message,
                max_fragments: cli.max_fragments,
            },
            ping_interval: (cli.ping_interval > 0).then(|| Duration::from_secs(cli.ping_interval)),
            pong_timeout: Duration::from_secs(cli.pong_timeout),
            ..connection::Config::default()
        };
        let chat = connection::Config {
            limits: Limits {
                max_frame: cli.max_chat_message as u64,
                max_message: cli.max_chat_message,
                max_fragments: cli.max_fragments,
            },
            ..echo.clone()
        };
        WsServer {
            trace: Trace::new(cli.trace),
            handshake,
            http_limits,
            echo,
            chat,
            max_queue: cli.max_queue,
            idle: Duration::from_secs(cli.handshake_timeout),
            conns: Vec::new(),
            rooms: HashMap::new(),
        }
    }

    fn conn(&mut self, id: ConnId) -> Option<&mut Conn> {
        self.conns.get_mut(id).and_then(Option::as_mut)
    }

    // ---- HTTP: the page, and the requests that ask for an upgrade ---------------------------

    /// Read request heads until one is complete, answer it, go on with the next.
    fn http(&mut self, cx: &mut Cx<'_>, id: ConnId) {
        loop {
            let Some(c) = self.conn(id) else { return };
            let peer = c.peer;
            let next = match &mut c.phase {
                Phase::Http(parser) => parser.next(),
                Phase::Upgrading(up) => up.parser.next(),
                Phase::Ws(_) => return,
            };
            match next {
                Ok(None) => return,
                Err(e) => {
                    self.trace.log(format_args!("{peer}: bad request: {e}"));
                    cx.send(id, &error_response(&e, SystemTime::now()));
                    cx.close(id);
                    return;
                }
                Ok(Some(HttpEvent::Head(head))) => {
                    if !self.on_head(cx, id, head) {
                        return;
                    }
                }
                // Bodies are refused at the head (max_body 0), so none arrive.
                Ok(Some(HttpEvent::Body(_) | HttpEvent::Trailers(_))) => {}
                Ok(Some(HttpEvent::End)) => {
                    let Some(c) = self.conn(id) else { return };
                    if let Phase::Upgrading(_) = c.phase {
                        self.upgrade(cx, id);
                        return;
                    }
                    // The next request may come on the same connection: a new deadline.
                    cx.set_timer(cx.now() + self.idle, id as u64);
                }
            }
        }
    }

    /// One request head. Returns false if the connection is done with HTTP (closing).
    fn on_head(&mut self, cx: &mut Cx<'_>, id: ConnId, head: RequestHead) -> bool {
        let now = SystemTime::now();
        let reply = |status: u16, head: &RequestHead, text: &str| {
            ResponseHead::for_request(status, head)
                .date(now)
                .header("Content-Type", "text/plain; charset=utf-8")
                .close()
                .with_body(format!("{status} {text}\n").as_bytes())
        };
        let path = head.path().to_string();
        // Only an upgrade to WebSocket counts: RFC 9110 7.8 lets a server ignore an Upgrade it
        // does not speak (`Upgrade: h2c` on `/` still gets the page).
        let wants_upgrade = head.headers.has_token("upgrade", "websocket");
        if self.trace.is_on() {
            self.trace.log(format_args!(
                "conn {id}: {} {} (upgrade: {wants_upgrade})",
                head.method, head.target
            ));
        }
        if !wants_upgrade && path == "/" {
            if head.method != "GET" && head.method != "HEAD" {
                let bytes = reply(405, &head, "only GET here");
                cx.send(id, &bytes);
                cx.close(id);
                return false;
            }
            let response = ResponseHead::for_request(200, &head)
                .date(now)
                .header("Content-Type", "text/html; charset=utf-8")
                .header("Cache-Control", "no-store");
            let keep = response.keeps_alive();
            let bytes = if head.is_head() {
                response.content_length(PAGE.len() as u64).encode()
            } else {
                response.with_body(PAGE.as_bytes())
            };
            cx.send(id, &bytes);
            if !keep {
                cx.close(id);
                return false;
            }
            return true;
        }
        // exercise: begin "Route an upgrade request: check it, choose the service, prepare the 101"
        // hint: Anything that is not `/` is a WebSocket endpoint or nothing: a path other than `/echo` and `/chat` gets a 404 (`reply(404, &head, "...")`, then `cx.send` and `cx.close`).
        // hint: `check_request(head)` applies RFC 6455 4.2.1 (and refuses a request without `Upgrade: websocket` with a 400), then `decide(&request, &self.handshake)` applies the Origin allow-list (403) and picks the subprotocol. On an error answer `refusal_response(&e, now)` and close.
        // hint: For `/chat`, `chat_route(head.query())` gives the room and name or the reason for a 400.
        // hint: Accepted: `accept_response(&request.key, protocol.as_deref())` is the 101. Keep it in `Phase::Upgrading` with the parser (take it out of `Phase::Http` with `std::mem::replace`): it is sent when the request's `End` arrives, so that nothing of the request is left unread.
        let route = match path.as_str() {
            "/echo" => Ok(Route::Echo),
            "/chat" => chat_route(head.query()),
            _ => {
                let bytes = reply(404, &head, "no such endpoint: try /echo or /chat");
                self.refuse(cx, id, bytes, "404: no such endpoint");
                return false;
            }
        };
        let route = match route {
            Ok(route) => route,
            Err(reason) => {
                let bytes = reply(400, &head, reason);
                self.refuse(cx, id, bytes, reason);
                return false;
            }
        };
        let checked = check_request(head).and_then(|request| {
            let protocol = decide(&request, &self.handshake)?;
            Ok((request, protocol))
        });
        let (request, protocol) = match checked {
            Ok(checked) => checked,
            Err(e) => {
                let reason = e.to_string();
                self.refuse(cx, id, refusal_response(&e, now), &reason);
                return false;
            }
        };
        self.trace.log(format_args!(
            "conn {id}: upgrade to {route:?}, subprotocol {protocol:?}, extensions declined: {:?}",
            request.extensions
        ));
        let response = accept_response(&request.key, protocol.as_deref());
        let Some(c) = self.conn(id) else { return false };
        let parser = match std::mem::replace(&mut c.phase, Phase::Http(RequestParser::default())) {
            Phase::Http(parser) => parser,
            _ => unreachable!("heads are read in the HTTP phase"),
        };
        c.phase = Phase::Upgrading(Box::new(Upgrade {
            parser,
            route,
            response,
        }));
        true
        // exercise: end
    }

    fn refuse(&mut self, cx: &mut Cx<'_>, id: ConnId, response: Vec<u8>, reason: &str) {
        self.trace.log(format_args!("conn {id}: refused: {reason}"));
        cx.send(id, &response);
        cx.close(id);
    }

    /// The request that asked for an upgrade is complete: send the 101 and become a WebSocket.
    fn upgrade(&mut self, cx: &mut Cx<'_>, id: ConnId) {
        let (echo, chat, trace) = (self.echo.clone(), self.chat.clone(), self.trace);
        let Some(c) = self.conn(id) else { return };
        let Phase::Upgrading(up) =
            std::mem::replace(&mut c.phase, Phase::Http(RequestParser::default()))
        else {
            return;
        };
        let Upgrade {
            mut parser,
            route,
            response,
        } = *up;
        cx.send(id, &response);
        let config = if route == Route::Echo { echo } else { chat };
        // The dissectors check what they show with the same limits as the connection.
        let dissector = |sender| Dissector::new(sender, config.limits.clone());
        let mut ws = Ws {
            frames_in: trace.is_on().then(|| Box::new(dissector(Role::Client))),
            frames_out: trace.is_on().then(|| Box::new(dissector(Role::Server))),
            conn: Connection::server(config, cx.now()),
            route: route.clone(),
            timer: None,
        };
        // Frames the client sent right behind its head, in the same read: they are the
        // WebSocket's first bytes, not garbage after a request.
        let unread = parser.take_unread();
        if let Some(frames) = ws.frames_in.as_mut() {
            frames.trace(trace, &c.peer, Dir::In, &unread);
        }
        c.phase = Phase::Ws(Box::new(ws));
        cx.cancel_timer(id as u64);
        if let Route::Chat { room, name } = &route {
            self.rooms.entry(room.clone()).or_default().push(id);
            self.broadcast(cx, room, &format!("* {name} joined"));
        }
        self.pump(cx, id, &unread);
    }

    // ---- WebSocket: messages in, echoes and deliveries out -----------------------------------

    /// Act on everything the connection has to say (with `data`, the bytes just read, still
    /// to decode), write what it queued, and close or set its next deadline.
    fn pump(&mut self, cx: &mut Cx<'_>, id: ConnId, data: &[u8]) {
        let trace = self.trace;
        let Some(Conn {
            phase: Phase::Ws(ws),
            peer,
        }) = self.conns.get_mut(id).and_then(Option::as_mut)
        else {
            return;
        };
        // The frames this read causes are encoded into a buffer lent by the loop's pool, and
        // the buffer goes back to the loop with them: neither side allocates per message, and
        // an idle connection holds no buffer.
        let unused = ws.conn.lend_buffer(cx.spare_buffer());
        cx.recycle(unused);
        let said = if data.is_empty() {
            ws.serve(cx.now(), trace, *peer)
        } else {
            // A buffer from the pool for the messages to be unmasked into, and one message at
            // a time: each is served (a short echo copied into the output, its buffer given
            // back) before the next is decoded, so a read of 16 messages is unmasked into one
            // message buffer, not 16 new ones.
            let unused = ws.conn.lend_message_buffer(cx.spare_buffer());
            cx.recycle(unused);
            let mut said = Vec::new();
            let mut rest = data;
            while !rest.is_empty() {
                let used = ws.conn.receive_some(rest, cx.now());
                rest = &rest[used..];
                said.append(&mut ws.serve(cx.now(), trace, *peer));
            }
            said
        };
        // Handed over, not copied: an echo can be 16 MiB. A long echo comes out as its header
        // (in the lent buffer) and then the message's own buffer, which the loop writes with
        // one writev(2).
        let frames_out = &mut ws.frames_out;
        ws.conn.drain_output(|out| {
            if out.is_empty() {
                return cx.recycle(out);
            }
            if let Some(frames) = frames_out.as_mut() {
                frames.trace(trace, peer, Dir::Out, &out);
            }
            cx.send_owned(id, out);
        });
        // A message echoed by copy left its buffer with the connection: back to the pool, so
        // that an idle connection keeps none.
        cx.recycle(ws.conn.take_message_buffer());
        if ws.conn.should_close_tcp() {
            cx.close(id);
        } else if let Some(at) = ws.conn.poll_timeout() {
            // Every read moves the keep-alive deadline later. Re-arming the loop's timer each
            // time would push an entry on its heap per read (stale entries leave the heap only
            // when their time comes: 30 s of reads, millions at full speed). So the timer is
            // moved only when the deadline comes *earlier*; when a timer fires early, the
            // connection says it is not due and the timer is armed again at the new deadline.
            if ws.timer.is_none_or(|armed| at < armed) {
                cx.set_timer(at, id as u64);
                ws.timer = Some(at);
            }
        }
        if let (false, Route::Chat { room, .. }) = (said.is_empty(), &ws.route) {
            let room = room.clone();
            for line in said {
                self.broadcast(cx, &room, &line);
            }
        }
    }

    /// Send `text` to every member of `room` that is open, as one frame encoded once: server
    /// frames are not masked, so every member gets the same bytes.
    fn broadcast(&mut self, cx: &mut Cx<'_>, room: &str, text: &str) {
        let Some(members) = self.rooms.get(room) else {
            return;
        };
        // exercise: begin "Deliver a chat line to every member, without letting a slow one grow the queue"
        // hint: `encode_frame(true, Opcode::Text, text.as_bytes(), None)` once, then `cx.send(member, &frame)` for each member whose `Connection` is `State::Open` (after its Close, nothing more may be sent).
        // hint: A member whose queue (`cx.queued(member)`) would pass `self.max_queue` is not reading: close it with 1008 (its `conn.close(...)`, write `take_output()`, then `cx.close`) instead of queueing more.
        let frame = encode_frame(true, Opcode::Text, text.as_bytes(), None);
        let now = cx.now();
        for &member in members {
            let Some(Conn {
                phase: Phase::Ws(ws),
                peer,
            }) = self.conns.get_mut(member).and_then(Option::as_mut)
            else {
                continue;
            };
            if ws.conn.state() != connection::State::Open {
                continue;
            }
            let waiting = cx.queued(member);
            if waiting + frame.len() > self.max_queue {
                // A member that does not read would make the server hold every line of the
                // room for it. RFC 6455 7.4.1: "1008 indicates that an endpoint is terminating
                // the connection because it has received a message that violates its policy."
                // Not quite a message here, but the policy is ours, and it is the generic code.
                self.trace.log(format_args!(
                    "{peer}: {waiting} bytes waiting: too slow for the room, closing with 1008"
                ));
                ws.conn
                    .close(1008, "too slow: messages were piling up", now);
                let out = ws.conn.take_output();
                cx.send(member, &out);
                cx.close(member);
                continue;
            }
            cx.send(member, &frame);
        }
        // exercise: end
    }

    fn leave(&mut self, cx: &mut Cx<'_>, id: ConnId, room: &str, name: &str) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.retain(|&m| m != id);
            if members.is_empty() {
                self.rooms.remove(room);
                return;
            }
        }
        self.broadcast(cx, room, &format!("* {name} left"));
    }
}

/// `room=R&name=N` from the query, percent-decoded. Both are required: a chat needs a room and
/// the others need to see who speaks.
fn chat_route(query: Option<&str>) -> Result<Route, &'static str> {
    let value = |key: &str| -> Result<String, &'static str> {
        let raw = query
            .unwrap_or("")
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v)
            .ok_or("/chat needs ?room=ROOM&name=NAME")?;
        let value = percent_decode(raw).ok_or("room and name must be percent-encoded UTF-8")?;
        if value.is_empty() || value.len() > 64 || value.chars().any(char::is_control) {
            return Err("room and name are 1 to 64 bytes, without control characters");
        }
        Ok(value)
    };
    Ok(Route::Chat {
        room: value("room")?,
        name: value("name")?,
    })
}

/// Decode `%XX` escapes and `+` (a space, in a query from an HTML form: WHATWG URL 5.1,
/// application/x-www-form-urlencoded). `None` for a broken escape or bytes that are not UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

impl Service for WsServer {
    fn on_open(&mut self, cx: &mut Cx<'_>, id: ConnId, peer: SocketAddr) {
        if self.conns.len() <= id {
            self.conns.resize_with(id + 1, || None);
        }
        self.conns[id] = Some(Conn {
            phase: Phase::Http(RequestParser::new(self.http_limits.clone())),
            peer,
        });
        cx.set_timer(cx.now() + self.handshake.timeout, id as u64);
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, id: ConnId, data: &[u8]) {
        let trace = self.trace;
        let Some(c) = self.conn(id) else { return };
        match &mut c.phase {
            Phase::Http(parser) => {
                if trace.is_on() {
                    trace.fields(Dir::In, &c.peer, data, &annotate_head(data));
                }
                parser.push(data);
                self.http(cx, id);
            }
            // Bytes after the head of an upgrade request and before its end: cannot happen
            // for a GET (its end is its head), kept for the WebSocket once it is accepted.
            Phase::Upgrading(up) => {
                up.parser.push(data);
                self.http(cx, id);
            }
            Phase::Ws(ws) => {
                // Its state (about 600 bytes) is cold when hundreds of connections take turns:
                // ask for all its cache lines now, rather than one by one as the code reaches
                // them (see `prefetch`).
                netcourse::event_loop::prefetch(&**ws);
                if let Some(frames) = ws.frames_in.as_mut() {
                    frames.trace(trace, &c.peer, Dir::In, data);
                }
                // `pump` decodes the read a message at a time, into a buffer from the pool.
                self.pump(cx, id, data);
            }
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>, id: ConnId) {
        let trace = self.trace;
        if let Some(Conn {
            phase: Phase::Ws(ws),
            peer,
        }) = self.conn(id)
        {
            if let Event::Close(close) = ws.conn.peer_closed_tcp() {
                trace.log(format_args!(
                    "{peer}: TCP closed: {} {}",
                    close.code, close.reason
                ));
            }
        }
        cx.close(id);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        let id = key as ConnId;
        let now: Instant = cx.now();
        let trace = self.trace;
        let Some(c) = self.conn(id) else { return };
        let peer = c.peer;
        let idle = match &mut c.phase {
            Phase::Http(parser) => Some(parser.is_idle()),
            Phase::Upgrading(up) => Some(up.parser.is_idle()),
            Phase::Ws(_) => None,
        };
        match (idle, &mut c.phase) {
            (Some(idle), _) => {
                if idle {
                    // Between requests: a keep-alive connection nobody uses any more.
                    cx.close(id);
                } else {
                    // RFC 9110 15.5.9: "The 408 (Request Timeout) status code indicates that
                    // the server did not receive a complete request message within the time
                    // that it was prepared to wait."
                    trace.log(format_args!(
                        "{peer}: the request head did not arrive in time"
                    ));
                    let bytes = ResponseHead::new(408)
                        .date(SystemTime::now())
                        .header("Content-Type", "text/plain; charset=utf-8")
                        .close()
                        .with_body(b"408: the request head did not arrive in time\n");
                    cx.send(id, &bytes);
                    cx.close(id);
                }
            }
            (None, Phase::Ws(ws)) => {
                ws.timer = None; // it fired: pump() arms the next one
                if let Some(Event::Failed(e)) = ws.conn.handle_timeout(now) {
                    trace.log(format_args!("{peer}: {e}"));
                }
                self.pump(cx, id, &[]);
            }
            (None, _) => {}
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, id: ConnId, why: Closed) {
        cx.cancel_timer(id as u64);
        let Some(c) = self.conns.get_mut(id).and_then(Option::take) else {
            return;
        };
        self.trace
            .log(format_args!("conn {id} ({}): closed ({why:?})", c.peer));
        if let Phase::Ws(ws) = c.phase {
            if let Route::Chat { room, name } = ws.route {
                self.leave(cx, id, &room, &name);
            }
        }
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        // RFC 6455 7.4.1: "1001 indicates that an endpoint is "going away", such as a server
        // going down or a browser having navigated away from a page." The loop then flushes
        // what is queued and closes every connection.
        let now = cx.now();
        for id in 0..self.conns.len() {
            if let Some(Conn {
                phase: Phase::Ws(ws),
                ..
            }) = self.conns[id].as_mut()
            {
                if ws.conn.close(1001, "the server is shutting down", now) {
                    let out = ws.conn.take_output();
                    cx.send(id, &out);
                }
            }
        }
    }
}
