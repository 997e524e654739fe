//! Lesson 08: one live feed, four ways to follow it over HTTP: polling, long polling, streaming
//! (chunked) and Server-Sent Events, all on one event loop, and a page that shows them side by
//! side; and a fifth, WebSocket (lessons 09 to 11), to compare them with. `PROTOCOL.md` next to
//! this file is the contract; `course check 08` judges the four HTTP techniques.
//!
//! ```text
//! cargo run --bin 08-http-realtime                 # then open http://127.0.0.1:7008/
//! curl -s 'http://127.0.0.1:7008/poll?since=0'     # polling: what is new, at once
//! curl -s 'http://127.0.0.1:7008/longpoll?since=999999&timeout=5'   # held until the next tick
//! curl -sN http://127.0.0.1:7008/stream            # one JSON line per event, never ending
//! curl -sN http://127.0.0.1:7008/events            # the same as Server-Sent Events
//! python3 -m websockets ws://127.0.0.1:7008/ws    # one text message per event
//! curl -s -d 'hello' http://127.0.0.1:7008/api/publish              # an event of your own
//! cargo run --release --bin 08-http-realtime -- measure             # what each costs
//! ```
//!
//! HTTP is lesson 07's (`src/http`), and the feed and its formats are `src/realtime`. This file
//! is what is new: a request whose answer waits (a long poll is *held* until an event comes or
//! its time is up), and a response that never ends (a stream gets one more chunk per event).
//! A connection is in one of four modes ([`Mode`]): reading requests as in lesson 07, holding a
//! long poll, streaming, or (after a `101 Switching Protocols`) carrying WebSocket frames, as in
//! lesson 11. Publishing an event walks the connections that wait for one.

use clap::{Parser, Subcommand};
use netcourse::event_loop::{self, Closed, Config, ConnId, Cx, EventLoop, Service};
use netcourse::http::{
    annotate_head, encode_chunk, error_response, Event, Limits, RequestHead, RequestParser,
    ResponseHead, CONTINUE, LAST_CHUNK,
};
use netcourse::realtime::measure::{self, Settings as MeasureSettings};
use netcourse::realtime::{
    batch_json, check_data, event_json, ndjson_line, parse_number, query_value, sse_event,
    sse_retry, Feed, FeedEvent, MAX_DATA, SSE_KEEPALIVE,
};
use netcourse::trace::{Dir, Trace};
use netcourse::ws::connection::{self as ws, Connection as WsConnection, Event as WsEvent};
use netcourse::ws::dissect::Dissector;
use netcourse::ws::frame::{encode_frame, Opcode};
use netcourse::ws::handshake::server::{
    accept_response, check_request, decide, refusal_response, ServerConfig,
};
use netcourse::ws::{Limits as WsLimits, Role};
use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(
    about = "Lesson 08: polling, long polling, streaming and Server-Sent Events, side by side"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the feed (the default).
    Server(ServerArgs),
    /// Measure what each technique costs: requests, bytes on the wire and delivery latency for
    /// the same sequence of events. Starts its own server unless --addr names one.
    Measure(MeasureArgs),
}

#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7008")]
    addr: SocketAddr,
    /// Print each request head, annotated byte by byte, each answer's status line, each event's
    /// fan-out (held polls answered, streams fed), and each close with its reason.
    #[arg(long)]
    trace: bool,
    /// Milliseconds between two ticker events; 0 turns the ticker off (events then come only
    /// from POST /api/publish).
    #[arg(long, default_value_t = 1000)]
    tick_ms: u64,
    /// How many of the latest events are kept for clients that come back with a cursor.
    #[arg(long, default_value_t = 1000)]
    history: usize,
    /// The `retry:` sent to SSE clients: how long a browser waits before reconnecting, in ms.
    #[arg(long, default_value_t = 2000)]
    retry_ms: u64,
    /// An SSE stream quiet for this many seconds gets a `: keep-alive` comment, and a WebSocket
    /// client silent this long gets a ping.
    #[arg(long, default_value_t = 15)]
    keepalive_secs: u64,
    /// A request head not complete this many seconds after its first byte gets 408.
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Close a connection that sends nothing between requests for this many seconds.
    #[arg(long, default_value_t = 60)]
    idle_timeout: u64,
    /// Drop a client when this many bytes wait for it (a stream or a WebSocket it does not read).
    #[arg(long, default_value_t = 1 << 20)]
    max_output: usize,
}

#[derive(clap::Args)]
struct MeasureArgs {
    /// A server to measure (run it with --tick-ms 0); by default one is started on a free port.
    #[arg(long)]
    addr: Option<SocketAddr>,
    /// How many events to publish.
    #[arg(long, default_value_t = 50)]
    events: usize,
    /// Milliseconds between two events.
    #[arg(long, default_value_t = 200)]
    interval_ms: u64,
    /// How often the polling client asks, in ms.
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// Bytes of data per event.
    #[arg(long, default_value_t = 64)]
    data_len: usize,
    /// Send only `Host` with each request, not a browser's headers.
    #[arg(long)]
    minimal_headers: bool,
    /// Write the two charts (bytes per event, latency) into this folder.
    #[arg(long)]
    charts: Option<PathBuf>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => serve(cli.server, None)?,
        Some(Command::Server(args)) => serve(args, None)?,
        Some(Command::Measure(args)) => run_measure(args)?,
    }
    Ok(())
}

/// Serve until SIGINT or SIGTERM (or `stop`, for the measurement's own server). `bound`
/// receives the address once listening.
fn serve(args: ServerArgs, bound: Option<std::sync::mpsc::Sender<Stopper>>) -> io::Result<()> {
    event_loop::raise_fd_limit()?;
    let config = Config {
        max_output: args.max_output,
        trace: Trace::default(),
        ..Config::default()
    };
    let mut lp = EventLoop::new(config)?;
    let local = lp.listen_tcp(args.addr)?;
    lp.stop_on_signals()?;
    match bound {
        None => println!("listening on http://{local}"),
        Some(tx) => {
            let _ = tx.send(Stopper(local, lp.stop_handle()));
        }
    }
    let mut service = RealtimeService {
        app: App::new(Settings::from(&args), Trace::new(args.trace)),
        actions: Vec::new(),
    };
    // The ticker is one timer of the loop, with a key no connection has.
    if args.tick_ms > 0 {
        lp.set_timer(
            Instant::now() + Duration::from_millis(args.tick_ms),
            Key::Ticker.to_u64(),
        );
    }
    lp.run(&mut service)?;
    Ok(())
}

struct Stopper(SocketAddr, event_loop::StopHandle);

fn run_measure(args: MeasureArgs) -> anyhow::Result<()> {
    let settings = MeasureSettings {
        events: args.events,
        interval: Duration::from_millis(args.interval_ms),
        poll_every: Duration::from_millis(args.poll_ms),
        data_len: args.data_len,
        browser_headers: !args.minimal_headers,
    };
    // Our own server, on a thread of this process, with no ticker: only the measured events.
    let (addr, server) = match args.addr {
        Some(addr) => (addr, None),
        None => {
            let (tx, rx) = std::sync::mpsc::channel();
            let server_args = ServerArgs {
                addr: "127.0.0.1:0".parse()?,
                tick_ms: 0,
                ..Cli::parse_from(["08-http-realtime"]).server
            };
            let thread = std::thread::spawn(move || serve(server_args, Some(tx)));
            let Stopper(addr, stop) = rx.recv()?;
            (addr, Some((stop, thread)))
        }
    };
    eprintln!(
        "measuring {addr}: {} events, one every {} ms ...",
        settings.events, args.interval_ms
    );
    let costs = measure::measure(addr, &settings)?;
    print!("{}", measure::table(&costs, &settings));
    if let Some(dir) = args.charts {
        let (bytes, latency) = measure::charts(&costs, &settings);
        std::fs::create_dir_all(&dir)?;
        for (name, svg) in [
            ("08-bytes-per-event.svg", bytes),
            ("08-latency.svg", latency),
        ] {
            std::fs::write(dir.join(name), svg)?;
            eprintln!("wrote {}", dir.join(name).display());
        }
    }
    if let Some((stop, thread)) = server {
        stop.stop();
        let _ = thread.join();
    }
    Ok(())
}

// ---- The application, sans-IO ---------------------------------------------------------------

/// What a timer is for: one connection's deadline, or the next tick of the ticker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Conn(ConnId),
    Ticker,
}

impl Key {
    const TICKER: u64 = u64::MAX;

    fn to_u64(self) -> u64 {
        match self {
            Key::Conn(c) => c as u64,
            Key::Ticker => Self::TICKER,
        }
    }

    fn from_u64(key: u64) -> Key {
        if key == Self::TICKER {
            Key::Ticker
        } else {
            Key::Conn(key as ConnId)
        }
    }
}

/// What the application asks of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Send(ConnId, Vec<u8>),
    /// The same bytes to each of these connections: one WebSocket frame, encoded once.
    SendAll(Vec<ConnId>, Vec<u8>),
    Close(ConnId),
    Wake(Key, Instant),
}

/// The clock, read by the adapter: monotonic time for deadlines, wall time for `Date`.
#[derive(Debug, Clone, Copy)]
struct Now {
    at: Instant,
    wall: SystemTime,
}

struct Settings {
    tick: Option<Duration>,
    history: usize,
    retry_ms: u64,
    keepalive: Duration,
    header_timeout: Duration,
    idle_timeout: Duration,
    /// How `/ws` behaves after its 101: limits on what a client may send, ping and close times.
    ws: ws::Config,
}

impl From<&ServerArgs> for Settings {
    fn from(a: &ServerArgs) -> Self {
        Settings {
            tick: (a.tick_ms > 0).then(|| Duration::from_millis(a.tick_ms)),
            history: a.history,
            retry_ms: a.retry_ms,
            keepalive: Duration::from_secs(a.keepalive_secs.max(1)),
            header_timeout: Duration::from_secs(a.header_timeout),
            idle_timeout: Duration::from_secs(a.idle_timeout),
            ws: ws::Config {
                // A client of the feed sends nothing but control frames (at most 125 bytes of
                // payload each) and its Close; a data message is refused anyway (see
                // `ws_pump`), so it need not be big to be refused.
                limits: WsLimits {
                    max_frame: MAX_DATA as u64,
                    max_message: MAX_DATA,
                    max_fragments: 16,
                },
                // The feed's WebSocket keep-alive: a ping after the client's silence, as SSE
                // gets a comment after the server's.
                ping_interval: Some(Duration::from_secs(a.keepalive_secs.max(1))),
                ..ws::Config::default()
            },
        }
    }
}

/// The two endless bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamKind {
    /// `/stream`: newline-delimited JSON.
    Ndjson,
    /// `/events`: `text/event-stream`.
    Sse,
}

/// What a connection is doing.
#[derive(Debug)]
enum Mode {
    /// Reading requests and answering each at once, as in lesson 07.
    Requests,
    /// A long poll is held: answer as soon as there is an event after `cursor`, or `204` at
    /// `until`. Requests pipelined behind it wait in the parser: answers go out in order.
    Held {
        cursor: u64,
        until: Instant,
        head: RequestHead,
    },
    /// The answer is a body that never ends: one more piece per event. `chunked` is false for
    /// an HTTP/1.0 client, whose body ends when the connection closes.
    Streaming {
        kind: StreamKind,
        chunked: bool,
        last_write: Instant,
    },
    /// After `101 Switching Protocols` on `/ws`: the socket carries WebSocket frames, read and
    /// written by `src/ws`'s sans-IO connection. The HTTP parser is not used any more.
    WebSocket(Box<WsPeer>),
}

/// A WebSocket client of the feed.
struct WsPeer {
    conn: WsConnection,
    /// With `--trace`: lesson 10's dissector on each direction, to show every frame's fields.
    frames_in: Option<Dissector>,
    frames_out: Option<Dissector>,
}

impl std::fmt::Debug for WsPeer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.conn.fmt(f)
    }
}

/// What the routes decided for one complete request.
enum Reply {
    /// A whole response, sent at once.
    Now(Vec<u8>),
    /// A long poll: wait for an event after `cursor`, until `until`.
    Hold { cursor: u64, until: Instant },
    /// An endless body, starting with the events after `cursor`.
    Stream { kind: StreamKind, cursor: u64 },
    /// A whole response, then the connection closes (a refused WebSocket handshake).
    Refuse(Vec<u8>),
    /// The `101` (the accepted handshake), then WebSocket frames from the events after `cursor`.
    Upgrade { cursor: u64, response: Vec<u8> },
}

struct Connection {
    parser: RequestParser,
    request: Option<(RequestHead, Vec<u8>)>,
    head_started: Option<Instant>,
    last_heard: Instant,
    wake_at: Option<Instant>,
    closing: bool,
    peer: SocketAddr,
    mode: Mode,
    /// With `--trace`: the bytes pushed to the parser and not yet used, so that each request
    /// head can be shown annotated, byte by byte, once it is complete.
    wire: Option<Vec<u8>>,
}

/// The bytes a client may pipeline behind a held long poll before we stop listening to it.
const MAX_WAITING_INPUT: usize = 64 * 1024;

/// The server: the feed, the connections, and who waits for the next event.
struct App {
    settings: Settings,
    trace: Trace,
    feed: Feed,
    conns: HashMap<ConnId, Connection>,
    /// Connections holding a long poll: each gets an answer at the next event.
    held: BTreeSet<ConnId>,
    /// Connections streaming (`/stream` or `/events`): each gets every next event.
    streams: BTreeSet<ConnId>,
    /// WebSocket clients (`/ws`): each gets every next event as a text message.
    sockets: BTreeSet<ConnId>,
    /// How a WebSocket handshake is judged: any origin, no subprotocol.
    handshake: ServerConfig,
    /// The ticker's price, in cents, and its random walk's state.
    price: (i64, u64),
    served: u64,
}

impl App {
    fn new(settings: Settings, trace: Trace) -> Self {
        App {
            feed: Feed::new(settings.history),
            settings,
            trace,
            conns: HashMap::new(),
            held: BTreeSet::new(),
            streams: BTreeSet::new(),
            sockets: BTreeSet::new(),
            handshake: ServerConfig::default(),
            price: (10_000, 0x2545_f491_4f6c_dd1d),
            served: 0,
        }
    }

    fn on_open(&mut self, conn: ConnId, peer: SocketAddr, now: Now, out: &mut Vec<Action>) {
        self.conns.insert(
            conn,
            Connection {
                parser: RequestParser::new(Limits::default()),
                request: None,
                head_started: None,
                last_heard: now.at,
                wake_at: None,
                closing: false,
                peer,
                mode: Mode::Requests,
                wire: self.trace.is_on().then(Vec::new),
            },
        );
        self.arm(conn, out);
    }

    fn on_data(&mut self, conn: ConnId, bytes: &[u8], now: Now, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        c.last_heard = now.at;
        match c.mode {
            // A streaming client has nothing more to say: whatever it sends is dropped.
            Mode::Streaming { .. } => return,
            // Frames: pings, pongs, a Close (or a data message, which is refused).
            Mode::WebSocket(_) => {
                self.ws_receive(conn, bytes, now, out);
                return self.arm(conn, out);
            }
            // Requests behind a held long poll wait their turn, within a bound.
            Mode::Held { .. } if c.parser.buffered() + bytes.len() > MAX_WAITING_INPUT => {
                c.closing = true;
                out.push(Action::Close(conn));
                return;
            }
            _ => {
                c.parser.push(bytes);
                if let Some(wire) = c.wire.as_mut() {
                    wire.extend_from_slice(bytes);
                }
            }
        }
        self.serve_requests(conn, now, out);
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.request.is_none() && c.head_started.is_none() && !c.parser.is_idle() {
                c.head_started = Some(now.at);
            }
        }
        self.arm(conn, out);
    }

    /// Answer the requests the parser holds, in order, until one must wait (a held long poll)
    /// or never ends (a stream). This is lesson 07's loop, with two new kinds of answer.
    fn serve_requests(&mut self, conn: ConnId, now: Now, out: &mut Vec<Action>) {
        let open = self.conns.len();
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            if c.closing || !matches!(c.mode, Mode::Requests) {
                return;
            }
            match c.parser.next() {
                Ok(None) => return,
                Ok(Some(Event::Head(head))) => {
                    c.head_started = None;
                    if let Some(wire) = c.wire.as_mut() {
                        // The head is what the parser has used of the bytes pushed so far.
                        let used = wire.len().saturating_sub(c.parser.buffered());
                        let bytes: Vec<u8> = wire.drain(..used).collect();
                        self.trace
                            .fields(Dir::In, &c.peer, &bytes, &annotate_head(&bytes));
                    }
                    if head.expects_continue() {
                        out.push(Action::Send(conn, CONTINUE.to_vec()));
                    }
                    c.request = Some((head, Vec::new()));
                }
                Ok(Some(Event::Body(piece))) => {
                    if let Some((_, body)) = c.request.as_mut() {
                        body.extend_from_slice(&piece);
                    }
                }
                Ok(Some(Event::Trailers(_))) => {}
                Ok(Some(Event::End)) => {
                    let Some((head, body)) = c.request.take() else {
                        continue;
                    };
                    if let Some(wire) = c.wire.as_mut() {
                        let used = wire.len().saturating_sub(c.parser.buffered());
                        wire.drain(..used); // the body: shown in the answer, not here
                    }
                    self.served += 1;
                    let reply = self.route(conn, &head, &body, now, open, out);
                    self.start(conn, head, reply, now, out);
                }
                Err(e) => {
                    self.served += 1;
                    self.trace.log(format_args!("{}: refused: {e}", c.peer));
                    out.push(Action::Send(conn, error_response(&e, now.wall)));
                    out.push(Action::Close(conn));
                    c.closing = true;
                    return;
                }
            }
        }
    }

    /// Carry out what the route decided: send, hold, or start streaming.
    fn start(
        &mut self,
        conn: ConnId,
        head: RequestHead,
        reply: Reply,
        now: Now,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        match reply {
            Reply::Now(bytes) => {
                trace_status(self.trace, &c.peer, &bytes);
                out.push(Action::Send(conn, bytes));
                if !head.keep_alive {
                    c.closing = true;
                    out.push(Action::Close(conn));
                }
            }
            Reply::Hold { cursor, until } => {
                // exercise: begin "Hold a long poll, or answer it at once"
                // hint: If the feed already has something after the cursor (self.feed.has_after(cursor)), answer at once: a 200 with batch_json(self.feed.since(cursor), cursor), as answer_poll does.
                // hint: Otherwise the request waits: c.mode = Mode::Held { cursor, until, head }, and the connection goes into self.held, the set publish() walks. Its wake-up (arm) must now come by `until`, when the answer is a 204.
                if self.feed.has_after(cursor) {
                    let bytes = answer_poll(&self.feed, cursor, &head, now);
                    trace_status(self.trace, &c.peer, &bytes);
                    out.push(Action::Send(conn, bytes));
                } else {
                    self.trace
                        .log(format_args!("{}: long poll held after {cursor}", c.peer));
                    c.mode = Mode::Held {
                        cursor,
                        until,
                        head,
                    };
                    self.held.insert(conn);
                }
                // exercise: end
            }
            Reply::Stream { kind, cursor } => {
                let (content_type, first) = match kind {
                    StreamKind::Ndjson => ("application/x-ndjson", String::new()),
                    StreamKind::Sse => ("text/event-stream", sse_retry(self.settings.retry_ms)),
                };
                // Neither length nor end is known: chunked for HTTP/1.1, until the close for
                // HTTP/1.0 (ResponseHead::chunked decides, and says `Connection: close`).
                let response = ResponseHead::for_request(200, &head)
                    .header("Content-Type", content_type)
                    .header("Cache-Control", "no-store")
                    .date(now.wall)
                    .chunked();
                let chunked = response.is_chunked();
                let mut bytes = response.encode();
                trace_status(self.trace, &c.peer, &bytes);
                if head.is_head() {
                    out.push(Action::Send(conn, bytes));
                    return;
                }
                let mut body = first;
                for event in self.feed.since(cursor) {
                    body.push_str(&format_event(kind, event));
                }
                if !body.is_empty() {
                    frame_into(chunked, body.as_bytes(), &mut bytes);
                }
                out.push(Action::Send(conn, bytes));
                self.trace.log(format_args!(
                    "{}: streaming ({kind:?}) after {cursor}",
                    c.peer
                ));
                c.mode = Mode::Streaming {
                    kind,
                    chunked,
                    last_write: now.at,
                };
                self.streams.insert(conn);
            }
            Reply::Refuse(bytes) => {
                trace_status(self.trace, &c.peer, &bytes);
                out.push(Action::Send(conn, bytes));
                c.closing = true;
                out.push(Action::Close(conn));
            }
            Reply::Upgrade { cursor, response } => {
                trace_status(self.trace, &c.peer, &response);
                let trace = self.trace.is_on();
                let mut peer = WsPeer {
                    conn: WsConnection::server(self.settings.ws.clone(), now.at),
                    // The dissectors check what they show with the limits each side reads with.
                    frames_in: trace
                        .then(|| Dissector::new(Role::Client, self.settings.ws.limits.clone())),
                    frames_out: trace.then(|| Dissector::new(Role::Server, WsLimits::default())),
                };
                // The 101, then in the same write the backlog after the cursor: one text
                // message per event, as every later event will be.
                let mut frames = Vec::new();
                for event in self.feed.since(cursor) {
                    frames.extend_from_slice(&ws_frame(event));
                }
                if let Some(d) = peer.frames_out.as_mut() {
                    d.trace(self.trace, &c.peer, Dir::Out, &frames);
                }
                let mut bytes = response;
                bytes.extend_from_slice(&frames);
                out.push(Action::Send(conn, bytes));
                self.trace
                    .log(format_args!("{}: WebSocket after {cursor}", c.peer));
                // Frames the client sent right behind its head, in the same read, are the
                // WebSocket's first bytes, not a next request.
                let unread = c.parser.take_unread();
                c.mode = Mode::WebSocket(Box::new(peer));
                self.sockets.insert(conn);
                if !unread.is_empty() {
                    self.ws_receive(conn, &unread, now, out);
                }
            }
        }
    }

    /// Bytes from a WebSocket client: show them (`--trace`), hand them to its connection, act.
    fn ws_receive(&mut self, conn: ConnId, bytes: &[u8], now: Now, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Mode::WebSocket(peer) = &mut c.mode else {
            return;
        };
        if let Some(d) = peer.frames_in.as_mut() {
            d.trace(self.trace, &c.peer, Dir::In, bytes);
        }
        peer.conn.receive(bytes, now.at);
        self.ws_pump(conn, now, out);
    }

    /// Act on what a WebSocket client said, write what its connection queued (pongs, Close
    /// frames), and close the TCP connection when the connection says so.
    fn ws_pump(&mut self, conn: ConnId, now: Now, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Mode::WebSocket(peer) = &mut c.mode else {
            return;
        };
        while let Some(event) = peer.conn.poll_event() {
            match event {
                WsEvent::Text(_) | WsEvent::Binary(_) => {
                    // The feed goes one way: its client has nothing to say but pings, pongs
                    // and its Close. RFC 6455 7.4.1: "1003 indicates that an endpoint is
                    // terminating the connection because it has received a type of data it
                    // cannot accept". No data message is a type this endpoint accepts.
                    self.trace.log(format_args!(
                        "{}: a data message on /ws: closing with 1003",
                        c.peer
                    ));
                    peer.conn.close(
                        1003,
                        "this feed only sends; send nothing but ping and close",
                        now.at,
                    );
                }
                // The core answered the ping itself (the pong is queued); a pong is a sign of
                // life, and receive() has counted it.
                WsEvent::Ping(_) | WsEvent::Pong(_) => {}
                WsEvent::Close(close) => self.trace.log(format_args!(
                    "{}: close {} {:?}",
                    c.peer, close.code, close.reason
                )),
                WsEvent::Failed(e) => self.trace.log(format_args!("{}: failed: {e}", c.peer)),
            }
        }
        let bytes = peer.conn.take_output();
        if !bytes.is_empty() {
            if let Some(d) = peer.frames_out.as_mut() {
                d.trace(self.trace, &c.peer, Dir::Out, &bytes);
            }
            out.push(Action::Send(conn, bytes));
        }
        if peer.conn.should_close_tcp() {
            // RFC 6455 5.5.1: after both Close frames, "The server MUST close the underlying
            // TCP connection immediately".
            c.closing = true;
            out.push(Action::Close(conn));
            self.sockets.remove(&conn);
        }
    }

    /// A new event: every held long poll is answered, every stream gets one more piece, every
    /// WebSocket one more message.
    fn publish(&mut self, data: String, now: Now, out: &mut Vec<Action>) -> u64 {
        let id = self.feed.push(data);
        let answered = self.held.len();
        self.deliver(id, now, out);
        self.deliver_to_websockets(id, out);
        self.trace.log(format_args!(
            "event {id}: {answered} held polls answered, {} streams and {} WebSockets fed",
            self.streams.len(),
            self.sockets.len()
        ));
        id
    }

    /// Event `id` is new: answer the held long polls, and send it to every stream.
    fn deliver(&mut self, id: u64, now: Now, out: &mut Vec<Action>) {
        // exercise: begin "Deliver an event to everyone waiting for one"
        // hint: Held long polls (self.held): answer each with answer_poll(&self.feed, cursor, &head, now), put the connection back in Mode::Requests, and take it out of self.held. Then serve_requests(conn, ...): requests may have been pipelined behind the poll.
        // hint: Streams (self.streams): send format_event(kind, event) to each, framed as a chunk when `chunked` (frame_into does it), and note last_write: SSE keep-alive comments count from there.
        // hint: The event is self.feed.since(id - 1).next(). Collect the connection ids first (self.held is borrowed while you change it).
        let waiting: Vec<ConnId> = std::mem::take(&mut self.held).into_iter().collect();
        for conn in waiting {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if let Mode::Held { cursor, head, .. } = std::mem::replace(&mut c.mode, Mode::Requests)
            {
                let bytes = answer_poll(&self.feed, cursor, &head, now);
                trace_status(self.trace, &c.peer, &bytes);
                out.push(Action::Send(conn, bytes));
                if !head.keep_alive {
                    c.closing = true;
                    out.push(Action::Close(conn));
                }
            }
            self.serve_requests(conn, now, out);
            self.arm(conn, out);
        }
        let Some(event) = self.feed.since(id - 1).next() else {
            return;
        };
        for &conn in &self.streams {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if let Mode::Streaming {
                kind,
                chunked,
                last_write,
            } = &mut c.mode
            {
                let mut bytes = Vec::new();
                frame_into(*chunked, format_event(*kind, event).as_bytes(), &mut bytes);
                out.push(Action::Send(conn, bytes));
                *last_write = now.at;
            }
        }
        // exercise: end
    }

    /// Event `id` to every open WebSocket client: one text frame, encoded once. Server
    /// frames are not masked (RFC 6455 5.1: "A server MUST NOT mask any frames that it sends to
    /// the client"), so every client gets the very same bytes. A client that does not read
    /// is dropped by the loop at `--max-output`, like a stream's.
    fn deliver_to_websockets(&mut self, id: u64, out: &mut Vec<Action>) {
        let Some(event) = self.feed.since(id - 1).next() else {
            return;
        };
        if self.sockets.is_empty() {
            return;
        }
        let frame = ws_frame(event);
        let mut to = Vec::with_capacity(self.sockets.len());
        for &conn in &self.sockets {
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            let Mode::WebSocket(peer) = &mut c.mode else {
                continue;
            };
            // RFC 6455 5.5.1: "The application MUST NOT send any more data frames after
            // sending a Close frame."
            if peer.conn.state() != ws::State::Open {
                continue;
            }
            if let Some(d) = peer.frames_out.as_mut() {
                d.trace(self.trace, &c.peer, Dir::Out, &frame);
            }
            to.push(conn);
        }
        out.push(Action::SendAll(to, frame));
    }

    /// The routes. `open` is the number of connections, for `/api/stats`.
    fn route(
        &mut self,
        _conn: ConnId,
        head: &RequestHead,
        body: &[u8],
        now: Now,
        open: usize,
        out: &mut Vec<Action>,
    ) -> Reply {
        let reply = |status: u16| ResponseHead::for_request(status, head).date(now.wall);
        let text = |status: u16, message: &str| {
            Reply::Now(
                reply(status)
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .with_body(format!("{status} {message}\n").as_bytes()),
            )
        };
        let json = |value: String| {
            Reply::Now(
                reply(200)
                    .header("Content-Type", "application/json")
                    .header("Cache-Control", "no-store")
                    .with_body(value.as_bytes()),
            )
        };
        let path = head.path();
        let allowed: &[&str] = match path {
            "/api/publish" => &["POST"],
            "/" | "/index.html" | "/poll" | "/longpoll" | "/stream" | "/events" | "/api/stats" => {
                &["GET", "HEAD"]
            }
            // RFC 6455 4.1: "The method of the request MUST be GET".
            "/ws" => &["GET"],
            _ => return text(404, &format!("nothing at {path}")),
        };
        if !allowed.contains(&head.method.as_str()) {
            let allow = allowed.join(", ");
            return Reply::Now(
                reply(405)
                    .header("Allow", &allow)
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .with_body(
                        format!("405 {path} takes {allow}, not {}\n", head.method).as_bytes(),
                    ),
            );
        }
        // The cursor: `since=N`, or for SSE the `Last-Event-ID` a browser sends on reconnecting.
        let query = head.query();
        let since = match path {
            "/events" => head
                .headers
                .get_str("last-event-id")
                .map(str::trim)
                .or(query_value(query, "since")),
            _ => query_value(query, "since"),
        };
        let since = match since.map(parse_number) {
            None => None,
            Some(Some(n)) => Some(n),
            Some(None) => return text(400, "the cursor (since or Last-Event-ID) must be a number"),
        };
        let cursor = self.feed.cursor(since);
        match path {
            "/" | "/index.html" => Reply::Now(
                reply(200)
                    .header("Content-Type", "text/html; charset=utf-8")
                    .with_body(PAGE.as_bytes()),
            ),
            "/poll" => Reply::Now(answer_poll(&self.feed, cursor, head, now)),
            "/longpoll" => {
                let timeout = match query_value(query, "timeout").map(parse_number) {
                    None => 25,
                    Some(Some(s)) if (1..=60).contains(&s) => s,
                    Some(_) => return text(400, "timeout is a number of seconds from 1 to 60"),
                };
                Reply::Hold {
                    cursor,
                    until: now.at + Duration::from_secs(timeout),
                }
            }
            "/stream" => Reply::Stream {
                kind: StreamKind::Ndjson,
                cursor,
            },
            "/events" => Reply::Stream {
                kind: StreamKind::Sse,
                cursor,
            },
            // Lesson 09's checks (RFC 6455 4.2.1), then the 101 with the accept key; a request
            // that is not a valid upgrade gets the status and reason lesson 09 gives it.
            "/ws" => match check_request(head.clone()).and_then(|request| {
                decide(&request, &self.handshake)?;
                Ok(request)
            }) {
                Ok(request) => Reply::Upgrade {
                    cursor,
                    response: accept_response(&request.key, None),
                },
                Err(e) => {
                    self.trace.log(format_args!("/ws refused: {e}"));
                    Reply::Refuse(refusal_response(&e, now.wall))
                }
            },
            "/api/stats" => json(format!(
                "{{\"connections\":{open},\"held_polls\":{},\"streams\":{},\"latest\":{},\"served\":{}}}\n",
                self.held.len(),
                self.streams.len(),
                self.feed.latest(),
                self.served
            )),
            _ => match check_data(body) {
                Err((status, why)) => text(status, why),
                Ok(data) => {
                    let id = self.publish(data, now, out);
                    json(format!("{{\"id\":{id}}}\n"))
                }
            },
        }
    }

    /// One wake-up per connection, by its nearest deadline (see lesson 07's `arm`).
    fn arm(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        let Some((at, _)) = deadline(c, &self.settings) else {
            return;
        };
        if c.wake_at.is_none_or(|set| at < set) {
            out.push(Action::Wake(Key::Conn(conn), at));
            c.wake_at = Some(at);
        }
    }

    fn on_timer(&mut self, key: Key, now: Now, out: &mut Vec<Action>) {
        let conn = match key {
            Key::Ticker => return self.tick(now, out),
            Key::Conn(conn) => conn,
        };
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.wake_at = None;
        if c.closing {
            return;
        }
        let Some((at, why)) = deadline(c, &self.settings) else {
            return;
        };
        if now.at < at {
            return self.arm(conn, out);
        }
        match why {
            Due::PollTimeout => {
                // Nothing came: 204, and the client asks again. (Never 204 to an EventSource:
                // to a browser's SSE client it means "stop for good".)
                if let Mode::Held { head, .. } = std::mem::replace(&mut c.mode, Mode::Requests) {
                    let bytes = ResponseHead::for_request(204, &head)
                        .date(now.wall)
                        .encode();
                    trace_status(self.trace, &c.peer, &bytes);
                    out.push(Action::Send(conn, bytes));
                    self.held.remove(&conn);
                    if !head.keep_alive {
                        c.closing = true;
                        out.push(Action::Close(conn));
                    }
                }
                self.serve_requests(conn, now, out);
            }
            Due::KeepAlive => {
                if let Mode::Streaming {
                    chunked,
                    last_write,
                    ..
                } = &mut c.mode
                {
                    let mut bytes = Vec::new();
                    frame_into(*chunked, SSE_KEEPALIVE.as_bytes(), &mut bytes);
                    out.push(Action::Send(conn, bytes));
                    *last_write = now.at;
                }
            }
            Due::RequestTimeout => {
                c.closing = true;
                let bytes = ResponseHead::new(408)
                    .close()
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .date(now.wall)
                    .with_body(b"408: the request did not arrive in time\n");
                trace_status(self.trace, &c.peer, &bytes);
                out.push(Action::Send(conn, bytes));
                out.push(Action::Close(conn));
            }
            Due::Idle => {
                c.closing = true;
                out.push(Action::Close(conn));
            }
            Due::WebSocket => {
                // A ping after a silence, a peer that did not answer it, or a Close that was
                // not answered in time: the connection decides, and says what to write.
                if let Mode::WebSocket(peer) = &mut c.mode {
                    if let Some(WsEvent::Failed(e)) = peer.conn.handle_timeout(now.at) {
                        self.trace.log(format_args!("{}: {e}", c.peer));
                    }
                }
                self.ws_pump(conn, now, out);
            }
        }
        self.arm(conn, out);
    }

    /// The ticker: a random walk of a price, published as an event, and the next tick.
    fn tick(&mut self, now: Now, out: &mut Vec<Action>) {
        let Some(every) = self.settings.tick else {
            return;
        };
        let (cents, state) = &mut self.price;
        // xorshift64: a few bits of noise, no crate needed.
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *cents = (*cents + (*state % 41) as i64 - 20).max(100);
        let at = now
            .wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let data = format!(
            "{{\"symbol\":\"NETC\",\"price\":\"{}.{:02}\",\"at\":{at}}}",
            *cents / 100,
            *cents % 100
        );
        self.publish(data, now, out);
        out.push(Action::Wake(Key::Ticker, now.at + every));
    }

    /// Shutting down: end every stream with its last chunk, answer every held poll with 204,
    /// say goodbye to every WebSocket client with a Close 1001.
    fn on_shutdown(&mut self, now: Now, out: &mut Vec<Action>) {
        for (&conn, c) in &mut self.conns {
            match &mut c.mode {
                // RFC 6455 7.4.1: "1001 indicates that an endpoint is "going away", such as a
                // server going down". The loop flushes it and closes; we do not wait for the
                // client's Close.
                // (`close` does nothing when the closing handshake has already begun.)
                Mode::WebSocket(peer) => {
                    peer.conn.close(1001, "the server is shutting down", now.at);
                    let bytes = peer.conn.take_output();
                    if !bytes.is_empty() {
                        if let Some(d) = peer.frames_out.as_mut() {
                            d.trace(self.trace, &c.peer, Dir::Out, &bytes);
                        }
                        out.push(Action::Send(conn, bytes));
                    }
                }
                Mode::Streaming { chunked: true, .. } => {
                    out.push(Action::Send(conn, LAST_CHUNK.to_vec()))
                }
                Mode::Held { head, .. } => out.push(Action::Send(
                    conn,
                    ResponseHead::for_request(204, head)
                        .close()
                        .date(now.wall)
                        .encode(),
                )),
                _ => {}
            }
            c.closing = true;
        }
    }

    fn on_close(&mut self, conn: ConnId, why: Closed) {
        if let Some(c) = self.conns.get(&conn) {
            match why {
                Closed::TooSlow => self.trace.log(format_args!(
                    "{}: dropped: its output passed --max-output (it does not read)",
                    c.peer
                )),
                _ => self.trace.log(format_args!("{}: closed ({why:?})", c.peer)),
            }
        }
        self.conns.remove(&conn);
        self.held.remove(&conn);
        self.streams.remove(&conn);
        self.sockets.remove(&conn);
    }
}

/// Why a connection's wake-up is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Due {
    /// A head or body did not arrive in time: 408.
    RequestTimeout,
    /// Nothing between requests: close.
    Idle,
    /// A held long poll's time is up: 204.
    PollTimeout,
    /// An SSE stream has been quiet: a comment.
    KeepAlive,
    /// A WebSocket connection's own deadline: a ping, a pong timeout, a close timeout.
    WebSocket,
}

/// A connection's next deadline, by its mode. A `/stream` has none: JSON lines have no comment.
fn deadline(c: &Connection, s: &Settings) -> Option<(Instant, Due)> {
    match &c.mode {
        Mode::Held { until, .. } => Some((*until, Due::PollTimeout)),
        Mode::Streaming {
            kind: StreamKind::Sse,
            last_write,
            ..
        } => Some((*last_write + s.keepalive, Due::KeepAlive)),
        Mode::Streaming { .. } => None,
        Mode::WebSocket(peer) => peer.conn.poll_timeout().map(|at| (at, Due::WebSocket)),
        Mode::Requests => Some(match (c.head_started, &c.request) {
            (Some(started), _) => (started + s.header_timeout, Due::RequestTimeout),
            (None, Some(_)) => (c.last_heard + s.idle_timeout, Due::RequestTimeout),
            (None, None) => (c.last_heard + s.idle_timeout, Due::Idle),
        }),
    }
}

/// The answer to a poll: the events after `cursor` and the cursor to send next time.
fn answer_poll(feed: &Feed, cursor: u64, head: &RequestHead, now: Now) -> Vec<u8> {
    ResponseHead::for_request(200, head)
        .header("Content-Type", "application/json")
        .header("Cache-Control", "no-store")
        .date(now.wall)
        .with_body(batch_json(feed.since(cursor), cursor).as_bytes())
}

/// An event in a stream's format.
fn format_event(kind: StreamKind, event: &netcourse::realtime::FeedEvent) -> String {
    match kind {
        StreamKind::Ndjson => ndjson_line(event),
        StreamKind::Sse => sse_event(event),
    }
}

/// An event as a WebSocket message: one text frame (FIN, opcode 1, not masked) whose payload is
/// the event's JSON, `{"id":N,"data":"..."}`, without the newline `/stream` needs between
/// lines: a frame has its own length.
fn ws_frame(event: &FeedEvent) -> Vec<u8> {
    let mut json = String::new();
    event_json(event, &mut json);
    encode_frame(true, Opcode::Text, json.as_bytes(), None)
}

/// Append `piece` to `out` as the body's framing wants it: a chunk, or the bytes as they are.
fn frame_into(chunked: bool, piece: &[u8], out: &mut Vec<u8>) {
    if chunked {
        out.extend_from_slice(&encode_chunk(piece));
    } else {
        out.extend_from_slice(piece);
    }
}

fn trace_status(trace: Trace, peer: &SocketAddr, response: &[u8]) {
    if trace.is_on() {
        let line = response.split(|&b| b == b'\r').next().unwrap_or(response);
        trace.log(format_args!("-> {peer}: {}", String::from_utf8_lossy(line)));
    }
}

/// The page: the four techniques side by side, in plain JavaScript.
const PAGE: &str = include_str!("page.html");

// ---- Plugging the application into the loop ---------------------------------------------------

struct RealtimeService {
    app: App,
    actions: Vec<Action>,
}

impl RealtimeService {
    fn apply(&mut self, cx: &mut Cx<'_>) {
        for action in self.actions.drain(..) {
            match action {
                // A `false`: the client was dropped for not reading; on_close follows.
                Action::Send(conn, bytes) => {
                    cx.send(conn, &bytes);
                }
                Action::SendAll(conns, bytes) => {
                    for conn in conns {
                        cx.send(conn, &bytes);
                    }
                }
                Action::Close(conn) => cx.close(conn),
                Action::Wake(key, at) => cx.set_timer(at, key.to_u64()),
            }
        }
    }
}

fn now(cx: &Cx<'_>) -> Now {
    Now {
        at: cx.now(),
        wall: SystemTime::now(),
    }
}

impl Service for RealtimeService {
    fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, peer: SocketAddr) {
        self.app.on_open(conn, peer, now(cx), &mut self.actions);
        self.apply(cx);
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        self.app.on_data(conn, data, now(cx), &mut self.actions);
        self.apply(cx);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, conn: ConnId, why: Closed) {
        cx.cancel_timer(conn as u64);
        self.app.on_close(conn, why);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        self.app
            .on_timer(Key::from_u64(key), now(cx), &mut self.actions);
        self.apply(cx);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        self.app.on_shutdown(now(cx), &mut self.actions);
        self.apply(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);

    fn app() -> App {
        let args = Cli::parse_from(["08-http-realtime", "--tick-ms", "0"]).server;
        App::new(Settings::from(&args), Trace::default())
    }

    fn at(t0: Instant, ms: u64) -> Now {
        Now {
            at: t0 + Duration::from_millis(ms),
            wall: UNIX_EPOCH + Duration::from_secs(784_111_777),
        }
    }

    /// What was sent to `conn` in `actions`, as text.
    fn sent_to(conn: ConnId, actions: &[Action]) -> String {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(c, bytes) if *c == conn => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
                Action::SendAll(to, bytes) if to.contains(&conn) => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
                _ => None,
            })
            .collect()
    }

    /// What was sent to `conn` in `actions`, as bytes (WebSocket frames are not text).
    fn bytes_to(conn: ConnId, actions: &[Action]) -> Vec<u8> {
        actions
            .iter()
            .flat_map(|a| match a {
                Action::Send(c, bytes) if *c == conn => bytes.as_slice(),
                Action::SendAll(to, bytes) if to.contains(&conn) => bytes.as_slice(),
                _ => &[],
            })
            .copied()
            .collect()
    }

    fn open(app: &mut App, conn: ConnId, t0: Instant) {
        app.on_open(conn, PEER, at(t0, 0), &mut Vec::new());
    }

    fn ask(app: &mut App, conn: ConnId, now: Now, bytes: &str) -> String {
        let mut out = Vec::new();
        app.on_data(conn, bytes.as_bytes(), now, &mut out);
        sent_to(conn, &out)
    }

    #[test]
    fn a_long_poll_is_held_then_answered_by_the_next_event_then_the_pipelined_request() {
        let t0 = Instant::now();
        let mut app = app();
        open(&mut app, 1, t0);
        // A long poll with a request pipelined behind it: nothing may be answered yet.
        let held = ask(
            &mut app,
            1,
            at(t0, 0),
            "GET /longpoll?since=0 HTTP/1.1\r\nHost: a\r\n\r\nGET /poll?since=0 HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert_eq!(held, "");
        assert_eq!(app.held.len(), 1);
        let mut out = Vec::new();
        app.publish("tick".into(), at(t0, 5), &mut out);
        let answers = sent_to(1, &out);
        let first = answers.find("{\"events\":[{\"id\":1,\"data\":\"tick\"}],\"cursor\":1}");
        let second = answers.rfind("{\"events\":[{\"id\":1,\"data\":\"tick\"}],\"cursor\":1}");
        assert!(first.is_some() && first != second, "{answers}");
        assert!(app.held.is_empty());
    }

    #[test]
    fn an_unanswered_long_poll_gets_204_at_its_timeout_and_the_connection_stays() {
        let t0 = Instant::now();
        let mut app = app();
        open(&mut app, 1, t0);
        assert_eq!(
            ask(
                &mut app,
                1,
                at(t0, 0),
                "GET /longpoll?timeout=1 HTTP/1.1\r\nHost: a\r\n\r\n"
            ),
            ""
        );
        let mut out = Vec::new();
        app.on_timer(Key::Conn(1), at(t0, 999), &mut out);
        assert_eq!(sent_to(1, &out), "", "not before its time");
        app.on_timer(Key::Conn(1), at(t0, 1000), &mut out);
        let text = sent_to(1, &out);
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"), "{text}");
        assert!(!text.contains("Content-Length") && !out.contains(&Action::Close(1)));
        assert!(app.held.is_empty());
    }

    #[test]
    fn streams_get_each_event_framed_for_their_version_and_sse_gets_keep_alive_comments() {
        let t0 = Instant::now();
        let mut app = app();
        for conn in 1..=3 {
            open(&mut app, conn, t0);
        }
        let ndjson = ask(
            &mut app,
            1,
            at(t0, 0),
            "GET /stream HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(
            ndjson.contains("Transfer-Encoding: chunked\r\n"),
            "{ndjson}"
        );
        let sse = ask(
            &mut app,
            2,
            at(t0, 0),
            "GET /events HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(sse.ends_with("\r\n\r\nd\r\nretry: 2000\n\n\r\n"), "{sse:?}");
        let old = ask(&mut app, 3, at(t0, 0), "GET /stream HTTP/1.0\r\n\r\n");
        assert!(old.contains("Connection: close\r\n") && !old.contains("chunked"));

        let mut out = Vec::new();
        app.publish("x".into(), at(t0, 10), &mut out);
        assert_eq!(sent_to(1, &out), "14\r\n{\"id\":1,\"data\":\"x\"}\n\r\n");
        assert_eq!(sent_to(2, &out), "f\r\nid: 1\ndata: x\n\n\r\n");
        assert_eq!(sent_to(3, &out), "{\"id\":1,\"data\":\"x\"}\n");

        let mut out = Vec::new();
        app.on_timer(Key::Conn(2), at(t0, 15_010), &mut out);
        assert_eq!(sent_to(2, &out), "e\r\n: keep-alive\n\n\r\n");
        assert!(out.contains(&Action::Wake(Key::Conn(2), at(t0, 30_010).at)));
    }

    /// The upgrade request of RFC 6455 1.2, on `/ws` with a cursor.
    fn upgrade(since: u64) -> String {
        format!(
            "GET /ws?since={since} HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
    }

    #[test]
    fn a_websocket_gets_the_backlog_then_each_event_as_one_frame_encoded_once() {
        let t0 = Instant::now();
        let mut app = app();
        app.publish("a".into(), at(t0, 0), &mut Vec::new());
        for conn in 1..=2 {
            open(&mut app, conn, t0);
        }
        let mut out = Vec::new();
        app.on_data(1, upgrade(0).as_bytes(), at(t0, 0), &mut out);
        let first = bytes_to(1, &out);
        let text = String::from_utf8_lossy(&first);
        // The 101 with the accept key of RFC 6455 1.3's example, then event 1 as a text frame
        // in the same write: 0x81 (FIN, text), 0x13 (19 bytes, not masked), the JSON.
        assert!(
            text.starts_with("HTTP/1.1 101 Switching Protocols\r\n")
                && text.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            "{text}"
        );
        assert!(
            first.ends_with(b"\r\n\r\n\x81\x13{\"id\":1,\"data\":\"a\"}"),
            "{text:?}"
        );
        // With the cursor at 1 nothing is owed: the 101 alone.
        assert!(ask(&mut app, 2, at(t0, 0), &upgrade(1)).ends_with("\r\n\r\n"));
        let mut out = Vec::new();
        app.publish("b".into(), at(t0, 5), &mut out);
        // One action carries the one frame to both clients.
        assert_eq!(
            out,
            [Action::SendAll(
                vec![1, 2],
                b"\x81\x13{\"id\":2,\"data\":\"b\"}".to_vec()
            )]
        );
    }

    #[test]
    fn a_websocket_client_that_sends_data_gets_1003_and_shutdown_sends_1001() {
        let t0 = Instant::now();
        let mut app = app();
        for conn in 1..=2 {
            open(&mut app, conn, t0);
            ask(&mut app, conn, at(t0, 0), &upgrade(0));
        }
        // A masked text frame "hi" (RFC 6455 5.7's key): the answer is a Close 1003 (0x03eb).
        let mut out = Vec::new();
        app.on_data(1, b"\x81\x82\x37\xfa\x21\x3d\x5f\x93", at(t0, 1), &mut out);
        let close = bytes_to(1, &out);
        assert_eq!(&close[..4], b"\x88\x37\x03\xeb", "{close:?}");
        // A ping is answered with its payload; nothing else happens.
        let mut out = Vec::new();
        app.on_data(2, b"\x89\x81\x37\xfa\x21\x3d\x76", at(t0, 1), &mut out);
        assert_eq!(out, [Action::Send(2, b"\x8a\x01A".to_vec())]);
        // Shutting down: a Close 1001 (0x03e9) to the client still open.
        let mut out = Vec::new();
        app.on_shutdown(at(t0, 2), &mut out);
        let bye = bytes_to(2, &out);
        assert_eq!(&bye[..4], b"\x88\x1d\x03\xe9", "{bye:?}");
        assert_eq!(sent_to(1, &out), "", "its Close was sent already");
    }

    #[test]
    fn the_cursor_resumes_and_bad_input_gets_its_status() {
        let t0 = Instant::now();
        let mut app = app();
        open(&mut app, 1, t0);
        for data in ["a", "b", "c"] {
            app.publish(data.into(), at(t0, 0), &mut Vec::new());
        }
        let sse = ask(
            &mut app,
            1,
            at(t0, 0),
            "GET /events?since=0 HTTP/1.1\r\nHost: a\r\nLast-Event-ID: 2\r\n\r\n",
        );
        assert!(
            sse.ends_with("retry: 2000\n\nid: 3\ndata: c\n\n\r\n"),
            "{sse:?}"
        );
        open(&mut app, 2, t0);
        for (request, status) in [
            ("GET /poll?since=x HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
            ("GET /longpoll?timeout=0 HTTP/1.1\r\nHost: a\r\n\r\n", "400"),
            (
                "POST /poll HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
                "405",
            ),
            (
                "POST /api/publish HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\na\nb",
                "400",
            ),
            ("GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n", "404"),
        ] {
            let answer = ask(&mut app, 2, at(t0, 0), request);
            assert!(
                answer.starts_with(&format!("HTTP/1.1 {status} ")),
                "{request:?}: {answer}"
            );
        }
    }
}
