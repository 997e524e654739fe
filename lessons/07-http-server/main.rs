//! Lesson 07: HTTP/1.1 on the event loop. A static page, files from a folder and a small JSON
//! API, served to any number of keep-alive connections by one thread.
//!
//! ```text
//! cargo run --bin 07-http-server                      # http://127.0.0.1:7007/ in a browser
//! curl -v http://127.0.0.1:7007/ http://127.0.0.1:7007/api/time      # one connection, reused
//! curl -H 'Transfer-Encoding: chunked' --data-binary @Cargo.toml http://127.0.0.1:7007/api/echo
//! printf 'GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /api/time HTTP/1.1\r\nHost: a\r\n\r\n' | nc 127.0.0.1 7007
//! cargo run --bin 07-http-server -- --trace --header-timeout 3      # see each head, annotated
//! ```
//!
//! The HTTP itself, the parser that turns bytes into requests and the writer that frames the
//! answers, is `src/http/` (read its module docs first). This file is what a server does with
//! it, in three parts: the application as a sans-IO core ([`HttpApp`]: bytes in, [`Action`]s
//! out, time passed in), the thin adapter that plugs it into the loop of lesson 05
//! ([`HttpService`]), and `main`.
//!
//! What to watch for: one read may hold half a request or three (pipelining), and the answers
//! must go out in the order the requests came; the body of one request is not the start of the
//! next; the connection stays open unless the request said otherwise; and a client that sends
//! its head one byte a minute (slowloris) must not hold a connection forever.

use clap::Parser;
use netcourse::event_loop::{self, Closed, Config, ConnId, Cx, EventLoop, Service};
use netcourse::http::{
    annotate_head, error_response, http_date, Event, Limits, RequestHead, RequestParser,
    ResponseHead, CONTINUE,
};
use netcourse::trace::{Dir, Trace};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Parser)]
#[command(about = "Lesson 07: an HTTP/1.1 server (static files and a JSON API) on one event loop")]
struct Cli {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7007")]
    addr: SocketAddr,
    /// Print each request head, annotated, and each response's status line to stderr.
    #[arg(long)]
    trace: bool,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// A request head not complete this many seconds after its first byte gets 408 and a
    /// close (the defence against slowloris, which sends a head one byte at a time).
    #[arg(long, default_value_t = 10)]
    header_timeout: u64,
    /// Close a keep-alive connection that sends nothing for this many seconds (and answer 408
    /// to a body that stalls this long).
    #[arg(long, default_value_t = 30)]
    idle_timeout: u64,
    /// Largest request body, in bytes (413 above it).
    #[arg(long, default_value_t = 1 << 20)]
    max_body: u64,
    /// Longest request line, in bytes (414 above it).
    #[arg(long, default_value_t = 8 * 1024)]
    max_request_line: usize,
    /// Largest header section, in bytes (431 above it).
    #[arg(long, default_value_t = 32 * 1024)]
    max_header_bytes: usize,
    /// Most header fields in a request (431 above it).
    #[arg(long, default_value_t = 100)]
    max_headers: usize,
    /// Drop a client when this many bytes of answers wait for it: it pipelines requests and
    /// does not read the answers.
    #[arg(long, default_value_t = 4 << 20)]
    max_output: usize,
    /// The folder `/static/<file>` serves from (files directly in it, no subfolders).
    #[arg(long, default_value_os_t = default_static_dir())]
    static_dir: PathBuf,
}

/// `static/` next to this file, wherever the course (or a starter made from it) is.
fn default_static_dir() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join(file!());
    here.parent().unwrap_or(Path::new(".")).join("static")
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    serve(cli.addr, cli.server, Trace::new(cli.trace))?;
    Ok(())
}

fn serve(addr: SocketAddr, args: ServerArgs, trace: Trace) -> io::Result<()> {
    event_loop::raise_fd_limit()?;
    let config = Config {
        max_output: args.max_output,
        // The loop's own trace (every read and write) is lesson 05's; here --trace shows HTTP.
        trace: Trace::default(),
        ..Config::default()
    };
    let settings = Settings {
        limits: Limits {
            max_request_line: args.max_request_line,
            max_header_bytes: args.max_header_bytes,
            max_headers: args.max_headers,
            max_body: args.max_body,
            ..Limits::default()
        },
        header_timeout: Duration::from_secs(args.header_timeout),
        idle_timeout: Duration::from_secs(args.idle_timeout),
        static_dir: args.static_dir,
    };
    let mut lp = EventLoop::new(config)?;
    let local = lp.listen_tcp(addr)?;
    lp.stop_on_signals()?;
    println!("listening on http://{local}");
    let mut service = HttpService {
        app: HttpApp::new(settings, trace),
        actions: Vec::new(),
    };
    lp.run(&mut service)?;
    Ok(())
}

// ---- The application, sans-IO ---------------------------------------------------------------

/// What the application asks of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Send these bytes (a whole response, or `100 Continue`) to this connection.
    Send(ConnId, Vec<u8>),
    /// Close the connection after what was sent to it.
    Close(ConnId),
    /// Call [`HttpApp::on_timer`] for this connection at this time.
    Wake(ConnId, Instant),
}

/// The clock, read by the adapter and passed in: the loop's monotonic time for deadlines, and
/// the wall clock for `Date` and `/api/time`.
#[derive(Debug, Clone, Copy)]
struct Now {
    at: Instant,
    wall: SystemTime,
}

struct Settings {
    limits: Limits,
    header_timeout: Duration,
    idle_timeout: Duration,
    static_dir: PathBuf,
}

/// One client connection: its parser, and the request being read.
struct Connection {
    parser: RequestParser,
    /// The current request once its head is complete: the head and the body so far.
    request: Option<(RequestHead, Vec<u8>)>,
    /// When the first byte of the current head arrived; `None` between requests and once the
    /// head is complete. The header timeout counts from here, however slowly the bytes come.
    head_started: Option<Instant>,
    last_heard: Instant,
    /// The wake-up set for this connection, if any (one at a time: see `arm`).
    wake_at: Option<Instant>,
    /// An answer said `Connection: close`: nothing more is read from this connection.
    closing: bool,
    peer: SocketAddr,
    /// With `--trace`, the bytes of the head being read, to show it annotated once complete.
    head_bytes: Option<Vec<u8>>,
}

impl Connection {
    /// The deadline this connection must meet now, and what happens if it does not.
    fn deadline(&self, s: &Settings) -> (Instant, Deadline) {
        match (self.head_started, &self.request) {
            (Some(started), _) => (started + s.header_timeout, Deadline::RequestTimeout),
            (None, Some(_)) => (self.last_heard + s.idle_timeout, Deadline::RequestTimeout),
            (None, None) => (self.last_heard + s.idle_timeout, Deadline::Idle),
        }
    }
}

/// What the deadline of a connection is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Deadline {
    /// Between requests: close quietly (RFC 9112 9.5 lets either side close an idle
    /// connection at any time).
    Idle,
    /// The head is not complete in time, or the body stalled: answer 408, then close.
    RequestTimeout,
}

/// The whole server: the connections, the site, the counters. No sockets, no clock: every
/// method is given the time and appends what must happen to `out`.
struct HttpApp {
    settings: Settings,
    trace: Trace,
    conns: HashMap<ConnId, Connection>,
    /// Requests answered since the start (the parser's refusals included).
    served: u64,
}

impl HttpApp {
    fn new(settings: Settings, trace: Trace) -> Self {
        HttpApp {
            settings,
            trace,
            conns: HashMap::new(),
            served: 0,
        }
    }

    fn on_open(&mut self, conn: ConnId, peer: SocketAddr, now: Now, out: &mut Vec<Action>) {
        self.conns.insert(
            conn,
            Connection {
                parser: RequestParser::new(self.settings.limits.clone()),
                request: None,
                head_started: None,
                last_heard: now.at,
                wake_at: None,
                closing: false,
                peer,
                head_bytes: self.trace.is_on().then(Vec::new),
            },
        );
        self.arm(conn, out);
    }

    /// Bytes from a client: answer every request they complete, in order.
    fn on_data(&mut self, conn: ConnId, bytes: &[u8], now: Now, out: &mut Vec<Action>) {
        let open = self.conns.len();
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        if c.closing {
            return; // after `Connection: close` or an error, the rest is not read
        }
        c.last_heard = now.at;
        c.parser.push(bytes);
        if let (Some(log), None) = (c.head_bytes.as_mut(), &c.request) {
            log.extend_from_slice(bytes);
        }
        self.answer_complete_requests(conn, bytes, now, open, out);
        // The header timeout runs from the first byte of a head, not from the last: a client
        // that trickles its head a byte at a time does not get more time by doing so.
        if let Some(c) = self.conns.get_mut(&conn) {
            if c.request.is_none() && c.head_started.is_none() && !c.parser.is_idle() {
                c.head_started = Some(now.at);
            }
        }
        self.arm(conn, out);
    }

    /// Take every event the parser has, and answer each request it completes, in order.
    /// `bytes` is what was just pushed, and `open` how many connections there are.
    fn answer_complete_requests(
        &mut self,
        conn: ConnId,
        bytes: &[u8],
        now: Now,
        open: usize,
        out: &mut Vec<Action>,
    ) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        // exercise: begin "Answer every request the bytes complete, in order"
        // hint: After every push, call c.parser.next() until it answers Ok(None): one read may complete no request, one, or several (pipelining), and each needs its answer now, in the order they came.
        // hint: Event::Head(head): keep it with an empty body in c.request (and set c.head_started = None: the head is done). If head.expects_continue(), send CONTINUE first: the client waits for it before sending the body.
        // hint: Event::Body(piece): append it to the body in c.request. Event::End: take the request, build the answer with respond(&self.settings, &head, &body, now, self.served, open), send it, count it in self.served.
        // hint: An answer that does not keep_alive (the request said Connection: close, or HTTP/1.0 did not ask for keep-alive): push Action::Close and stop reading (c.closing = true); later requests in the same read are not answered.
        // hint: Err(e): the parser cannot find the next request after an error. Send error_response(&e, now.wall) (the wall clock for its Date header), close, stop.
        loop {
            match c.parser.next() {
                Ok(None) => break,
                Ok(Some(Event::Head(head))) => {
                    c.head_started = None;
                    if let Some(log) = c.head_bytes.as_mut() {
                        // The head is what was pushed minus what the parser has not used yet.
                        let head_len = log.len().saturating_sub(c.parser.buffered());
                        let head_only = &log[..head_len];
                        self.trace
                            .fields(Dir::In, &c.peer, head_only, &annotate_head(head_only));
                        log.clear();
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
                Ok(Some(Event::Trailers(_))) => {} // nothing here uses trailer fields
                Ok(Some(Event::End)) => {
                    let Some((head, body)) = c.request.take() else {
                        continue;
                    };
                    if let Some(log) = c.head_bytes.as_mut() {
                        // Whatever the parser still holds is the start of the next request.
                        *log = bytes[bytes.len().saturating_sub(c.parser.buffered())..].to_vec();
                    }
                    let response = respond(&self.settings, &head, &body, now, self.served, open);
                    self.served += 1;
                    trace_status(self.trace, &c.peer, &response);
                    out.push(Action::Send(conn, response));
                    if !keeps_alive(&head) {
                        out.push(Action::Close(conn));
                        c.closing = true;
                        break;
                    }
                }
                Err(e) => {
                    let response = error_response(&e, now.wall);
                    self.served += 1;
                    self.trace.log(format_args!("{}: refused: {e}", c.peer));
                    trace_status(self.trace, &c.peer, &response);
                    out.push(Action::Send(conn, response));
                    out.push(Action::Close(conn));
                    c.closing = true;
                    break;
                }
            }
        }
        // exercise: end
    }

    /// Make sure a wake-up comes by the connection's deadline. One per connection: setting a
    /// new timer on every read would fill the loop's timer heap, so a later deadline waits
    /// until the earlier wake-up comes (see `on_timer`).
    fn arm(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        if c.closing {
            return;
        }
        let (at, _) = c.deadline(&self.settings);
        if c.wake_at.is_none_or(|set| at < set) {
            out.push(Action::Wake(conn, at));
            if let Some(c) = self.conns.get_mut(&conn) {
                c.wake_at = Some(at);
            }
        }
    }

    /// A connection's wake-up: act if its deadline has passed, otherwise wake again later.
    fn on_timer(&mut self, conn: ConnId, now: Now, out: &mut Vec<Action>) {
        // exercise: begin "Time out slow heads (slowloris) and idle connections"
        // hint: c.deadline(&self.settings) says when and why: a head still arriving (408 Request Timeout, then close), a body that stalled (the same), or nothing between requests (just close).
        // hint: If the deadline is still ahead (the client made progress since the wake-up was set), call self.arm(conn, out) to wake again at the new one.
        // hint: A 408 is ResponseHead::new(408).close() with a short text body; set c.closing so that nothing more is read.
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.wake_at = None;
        if c.closing {
            return;
        }
        let (at, why) = c.deadline(&self.settings);
        if now.at < at {
            return self.arm(conn, out);
        }
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        c.closing = true;
        if why == Deadline::RequestTimeout {
            let response = ResponseHead::new(408)
                .close()
                .header("Content-Type", "text/plain; charset=utf-8")
                .date(now.wall)
                .with_body(b"408: the request did not arrive in time\n");
            trace_status(self.trace, &c.peer, &response);
            out.push(Action::Send(conn, response));
        } else {
            self.trace
                .log(format_args!("{}: idle, closing the connection", c.peer));
        }
        out.push(Action::Close(conn));
        // exercise: end
    }

    fn on_close(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }
}

/// Whether the connection stays open after answering `head`: what the parser decided from the
/// version and the `Connection` header (RFC 9112 9.3).
fn keeps_alive(head: &RequestHead) -> bool {
    head.keep_alive
}

/// With `--trace`, the status line of an answer.
fn trace_status(trace: Trace, peer: &SocketAddr, response: &[u8]) {
    if trace.is_on() {
        let line = response.split(|&b| b == b'\r').next().unwrap_or(response);
        trace.log(format_args!(
            "-> {peer}: {} ({} bytes)",
            String::from_utf8_lossy(line),
            response.len()
        ));
    }
}

// ---- The site: routes and pages ---------------------------------------------------------------

/// Methods this server knows. Any other is a 501 (RFC 9110 9.1: "An origin server that receives
/// a request method that is unrecognized or not implemented by an origin server SHOULD respond
/// with the 501 (Not Implemented) status code"); a known one on a path that does not take it
/// is a 405.
const KNOWN_METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
];

/// A page of the site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Page<'a> {
    Index,
    /// `/static/<file>`: the rest of the path, still percent-encoded.
    Static(&'a str),
    Time,
    Echo,
    Stats,
}

/// The route table: which page a path is, and the methods it allows.
fn route(path: &str) -> Option<(Page<'_>, &'static [&'static str])> {
    const READ: &[&str] = &["GET", "HEAD"];
    match path {
        "/" | "/index.html" => Some((Page::Index, READ)),
        "/api/time" => Some((Page::Time, READ)),
        "/api/stats" => Some((Page::Stats, READ)),
        "/api/echo" => Some((Page::Echo, &["POST"])),
        _ => path
            .strip_prefix("/static/")
            .map(|name| (Page::Static(name), READ)),
    }
}

/// The answer to one complete request, as bytes. `served` and `open` are the counters
/// `/api/stats` reports.
fn respond(
    settings: &Settings,
    head: &RequestHead,
    body: &[u8],
    now: Now,
    served: u64,
    open: usize,
) -> Vec<u8> {
    // ResponseHead::for_request follows the request: keep-alive or close, no body for HEAD.
    let reply = |status: u16| ResponseHead::for_request(status, head).date(now.wall);
    let text = |status: u16, message: &str| {
        reply(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .with_body(format!("{status} {message}\n").as_bytes())
    };
    // exercise: begin "Route: 501 for an unknown method, 404 for an unknown path, 405 with Allow"
    // hint: An unknown method (not in KNOWN_METHODS) is 501 whatever the path; then route(head.path()) gives the page and the methods it allows, or None for a 404.
    // hint: A known path with the wrong method is 405, and RFC 9110 15.5.6 says "The origin server MUST generate an Allow header field in a 405 response containing a list of the target resource's currently supported methods": allowed.join(", ").
    // hint: Then answer the page: page(settings, page, head, body, now, served, open).
    let method = head.method.as_str();
    if !KNOWN_METHODS.contains(&method) {
        return text(501, &format!("method {method} is not implemented here"));
    }
    let Some((page_wanted, allowed)) = route(head.path()) else {
        return text(404, &format!("nothing at {}", head.path()));
    };
    if !allowed.contains(&method) {
        let allow = allowed.join(", ");
        return reply(405)
            .header("Allow", &allow)
            .header("Content-Type", "text/plain; charset=utf-8")
            .with_body(format!("405 {} takes {allow}, not {method}\n", head.path()).as_bytes());
    }
    page(settings, page_wanted, head, body, now, served, open)
    // exercise: end
}

/// The answer of a page, once the method is known to be allowed.
fn page(
    settings: &Settings,
    page: Page<'_>,
    head: &RequestHead,
    body: &[u8],
    now: Now,
    served: u64,
    open: usize,
) -> Vec<u8> {
    let reply = |status: u16| ResponseHead::for_request(status, head).date(now.wall);
    let json = |value: String| {
        reply(200)
            .header("Content-Type", "application/json")
            .header("Cache-Control", "no-store")
            .with_body(format!("{value}\n").as_bytes())
    };
    match page {
        Page::Index => reply(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .with_body(INDEX_HTML.as_bytes()),
        Page::Static(encoded) => match static_file_name(encoded) {
            Err(why) => reply(400)
                .header("Content-Type", "text/plain; charset=utf-8")
                .with_body(format!("400 {why}\n").as_bytes()),
            Ok(name) => match read_static(&settings.static_dir, &name) {
                Some(bytes) => reply(200)
                    .header("Content-Type", content_type(&name))
                    .with_body(&bytes),
                None => reply(404)
                    .header("Content-Type", "text/plain; charset=utf-8")
                    .with_body(format!("404 no file {name:?} here\n").as_bytes()),
            },
        },
        Page::Time => {
            let ms = now
                .wall
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis());
            json(format!(
                "{{\"unix_ms\": {ms}, \"http_date\": \"{}\"}}",
                http_date(now.wall)
            ))
        }
        Page::Stats => json(format!(
            "{{\"requests_served\": {served}, \"connections_open\": {open}}}"
        )),
        Page::Echo => {
            // The body back as it came, labelled with the type it came with.
            let content_type = head
                .headers
                .get("content-type")
                .unwrap_or(b"application/octet-stream");
            reply(200)
                .header("Content-Type", content_type)
                .with_body(body)
        }
    }
}

/// The page at `/`, built into the binary.
const INDEX_HTML: &str = include_str!("static/index.html");

/// The file name in `/static/<name>`, percent-decoded, if it names a plain file directly in the
/// folder. Decoding happens once, and the check after it: `%2e%2e` is `..` and `%2f` is `/`, so
/// a check before decoding would let `/static/%2e%2e%2fCargo.toml` out of the folder.
fn static_file_name(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("a % in {encoded:?} is not followed by two hex digits"))?;
            decoded.push(hex);
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    let name = String::from_utf8(decoded).map_err(|_| "the file name is not UTF-8".to_string())?;
    // Letters, digits, `.`, `-` and `_`, not starting with a dot: no `..`, no `/`, no hidden
    // files, no NUL, nothing a file system gives a special meaning.
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if plain {
        Ok(name)
    } else {
        Err(format!("{name:?} is not a plain file name"))
    }
}

/// A file directly in `dir`, if there is one. The one blocking call in the server: a small
/// file on a local disk reads in microseconds (nginx does the same without its thread pool);
/// large files would want sendfile(2) or a thread.
fn read_static(dir: &Path, name: &str) -> Option<Vec<u8>> {
    let path = dir.join(name);
    std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
    std::fs::read(path).ok()
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

// ---- Plugging the application into the loop ---------------------------------------------------

/// The adapter: loop events in, the application's actions out to the loop.
struct HttpService {
    app: HttpApp,
    /// Reused between callbacks, so that a request allocates no list.
    actions: Vec<Action>,
}

impl HttpService {
    fn apply(&mut self, cx: &mut Cx<'_>) {
        for action in self.actions.drain(..) {
            match action {
                // A `false` means the client was dropped for not reading; on_close follows.
                Action::Send(conn, bytes) => {
                    cx.send(conn, &bytes);
                }
                Action::Close(conn) => cx.close(conn),
                Action::Wake(conn, at) => cx.set_timer(at, conn as u64),
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

impl Service for HttpService {
    fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, peer: SocketAddr) {
        self.app.on_open(conn, peer, now(cx), &mut self.actions);
        self.apply(cx);
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        self.app.on_data(conn, data, now(cx), &mut self.actions);
        self.apply(cx);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, conn: ConnId, _why: Closed) {
        cx.cancel_timer(conn as u64);
        self.app.on_close(conn);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        self.app.on_timer(key as ConnId, now(cx), &mut self.actions);
        self.apply(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(header_timeout: u64) -> HttpApp {
        HttpApp::new(
            Settings {
                limits: Limits::default(),
                header_timeout: Duration::from_secs(header_timeout),
                idle_timeout: Duration::from_secs(30),
                static_dir: default_static_dir(),
            },
            Trace::default(),
        )
    }

    fn at(t0: Instant, secs: u64) -> Now {
        Now {
            at: t0 + Duration::from_secs(secs),
            wall: UNIX_EPOCH + Duration::from_secs(784_111_777),
        }
    }

    /// Everything sent to `conn`, as text.
    /// Feed `bytes` to connection 1 at time `now` and return what it was sent in answer.
    fn ask(app: &mut HttpApp, now: Now, bytes: &[u8]) -> String {
        let mut out = Vec::new();
        app.on_data(1, bytes, now, &mut out);
        sent(&out)
    }

    fn sent(actions: &[Action]) -> String {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(_, bytes) => Some(String::from_utf8_lossy(bytes).into_owned()),
                _ => None,
            })
            .collect()
    }

    /// The status codes of the responses in `text`, in order.
    fn statuses(text: &str) -> Vec<&str> {
        text.match_indices("HTTP/1.1 ")
            .map(|(i, _)| &text[i + 9..i + 12])
            .collect()
    }

    const PEER: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 1);

    #[test]
    fn pipelined_requests_are_answered_in_order_whatever_the_reads() {
        let input: &[u8] = b"GET /api/stats HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Type: text/x\r\nContent-Length: 3\r\n\r\nGET\
            GET /nope HTTP/1.1\r\nHost: a\r\n\r\n";
        for size in [1, 2, 7, input.len()] {
            let t0 = Instant::now();
            let mut app = app(10);
            let mut out = Vec::new();
            app.on_open(1, PEER, at(t0, 0), &mut out);
            for piece in input.chunks(size) {
                app.on_data(1, piece, at(t0, 0), &mut out);
            }
            let text = sent(&out);
            assert_eq!(
                statuses(&text),
                ["200", "200", "404"],
                "reads of {size}: {text}"
            );
            // The echoed body is the three bytes "GET", not the start of a request.
            assert!(text.contains("Content-Type: text/x\r\nContent-Length: 3\r\n"));
            assert!(!out.contains(&Action::Close(1)));
        }
    }

    #[test]
    fn connection_close_closes_after_the_answer_and_later_requests_are_not_answered() {
        let t0 = Instant::now();
        let mut app = app(10);
        let mut out = Vec::new();
        app.on_open(1, PEER, at(t0, 0), &mut out);
        app.on_data(
            1,
            b"GET /api/time HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
            at(t0, 0),
            &mut out,
        );
        assert_eq!(statuses(&sent(&out)), ["200"]);
        assert_eq!(out.last(), Some(&Action::Close(1)));
    }

    #[test]
    fn head_has_no_body_and_wrong_methods_get_405_or_501() {
        let t0 = Instant::now();
        let mut app = app(10);
        app.on_open(1, PEER, at(t0, 0), &mut Vec::new());
        let head = ask(&mut app, at(t0, 0), b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(
            head.ends_with("\r\n\r\n") && head.contains("Content-Length: "),
            "{head}"
        );
        let text = ask(
            &mut app,
            at(t0, 0),
            b"DELETE /api/time HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(
            text.starts_with("HTTP/1.1 405 ") && text.contains("Allow: GET, HEAD\r\n"),
            "{text}"
        );
        let text = ask(
            &mut app,
            at(t0, 0),
            b"BREW /api/time HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        assert!(text.starts_with("HTTP/1.1 501 "), "{text}");
    }

    #[test]
    fn a_slow_head_gets_408_and_an_idle_connection_is_closed() {
        let t0 = Instant::now();
        let mut app = app(10);
        let mut out = Vec::new();
        app.on_open(1, PEER, at(t0, 0), &mut out);
        assert_eq!(out, [Action::Wake(1, t0 + Duration::from_secs(30))]);
        out.clear();
        // A byte every 4 s from 2 s on: each byte is progress, but the head started at 2 s,
        // so it is due at 12 s however the bytes trickle.
        app.on_data(1, b"G", at(t0, 2), &mut out);
        assert_eq!(out, [Action::Wake(1, t0 + Duration::from_secs(12))]);
        app.on_data(1, b"E", at(t0, 6), &mut out);
        app.on_data(1, b"T", at(t0, 10), &mut out);
        assert_eq!(out.len(), 1, "no new wake-up for later bytes");
        app.on_timer(1, at(t0, 12), &mut out);
        assert!(sent(&out).starts_with("HTTP/1.1 408 "), "{}", sent(&out));
        assert_eq!(out.last(), Some(&Action::Close(1)));

        // Idle: the wake-up at 30 s closes quietly.
        let mut out = Vec::new();
        app.on_open(2, PEER, at(t0, 0), &mut out);
        app.on_data(2, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", at(t0, 5), &mut out);
        out.clear();
        app.on_timer(2, at(t0, 30), &mut out);
        assert_eq!(out, [Action::Wake(2, t0 + Duration::from_secs(35))]);
        out.clear();
        app.on_timer(2, at(t0, 35), &mut out);
        assert_eq!(out, [Action::Close(2)]);
    }

    #[test]
    fn parser_errors_are_answered_with_their_status_and_a_close() {
        for (input, status) in [
            (&b"GET / HTTP/1.1\r\nHost : a\r\n\r\n"[..], "400"),
            (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505"),
            (
                b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999\r\n\r\n",
                "413",
            ),
        ] {
            let t0 = Instant::now();
            let mut app = app(10);
            let mut out = Vec::new();
            app.on_open(1, PEER, at(t0, 0), &mut out);
            app.on_data(1, input, at(t0, 0), &mut out);
            assert!(
                sent(&out).starts_with(&format!("HTTP/1.1 {status} ")),
                "{}",
                sent(&out)
            );
            // RFC 9110 6.6.1: Date in a 4xx too, from the wall clock the adapter passed in.
            assert!(
                sent(&out).contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
                "{}",
                sent(&out)
            );
            assert_eq!(out.last(), Some(&Action::Close(1)));
        }
    }

    #[test]
    fn static_names_are_decoded_once_then_checked() {
        assert_eq!(static_file_name("style.css"), Ok("style.css".into()));
        assert_eq!(static_file_name("st%79le.css"), Ok("style.css".into()));
        for bad in [
            "..",
            "%2e%2e",
            "..%2fCargo.toml",
            "a/b",
            "%2fetc%2fpasswd",
            ".hidden",
            "%zz",
            "%",
            "a%00",
        ] {
            assert!(static_file_name(bad).is_err(), "{bad}");
        }
        let dir = default_static_dir();
        assert!(read_static(&dir, "index.html").is_some());
        assert!(read_static(&dir, "missing.html").is_none());
    }
}
