//! What each technique costs, measured: `08-http-realtime measure`.
//!
//! One client per technique (polling, long polling, streaming, SSE, WebSocket) follows the feed
//! of a running server while a publisher posts the same sequence of events, `events` of them,
//! one every `interval`. Each client counts what it puts on the wire and what comes back, split
//! into request bytes, response heads and response bodies, and notes the moment each event
//! arrives; the publisher notes the moment it sent each one. The difference is the delivery
//! latency.
//!
//! The clients are plain blocking sockets, one thread each, with their own small readers
//! (a response head, a `Content-Length` body, chunks, WebSocket frames): they count bytes
//! exactly as the kernel delivered them, which is the point. They trust the server they measure to follow
//! `PROTOCOL.md`; judging it is the grader's job (`course check 08`).

use crate::diagram::chart::{render_bars, Series};
use base64::Engine;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How many events the publisher posts.
    pub events: usize,
    /// The time between two events.
    pub interval: Duration,
    /// How often the polling client asks.
    pub poll_every: Duration,
    /// Bytes of data per event.
    pub data_len: usize,
    /// Send the request headers a browser sends (User-Agent, Accept, sec-ch-ua...), as a page's
    /// `fetch` does, rather than `Host` alone.
    pub browser_headers: bool,
}

/// The five techniques, in the order of the table.
pub const TRANSPORTS: [&str; 5] = ["polling", "long polling", "streaming", "SSE", "WebSocket"];

/// What one technique cost for the whole sequence.
#[derive(Debug, Clone, Default)]
pub struct Cost {
    pub transport: &'static str,
    /// HTTP requests sent.
    pub requests: u64,
    /// Bytes the client sent (every request head).
    pub up: u64,
    /// Bytes of response heads received.
    pub heads: u64,
    /// Bytes of response bodies received (chunk framing and event syntax included).
    pub bodies: u64,
    /// Events delivered (each counted once).
    pub delivered: usize,
    /// Delivery latency of each delivered event: received minus published.
    pub latencies: Vec<Duration>,
}

impl Cost {
    pub fn total(&self) -> u64 {
        self.up + self.heads + self.bodies
    }

    /// The latency below which `q` (0 to 1) of the events arrived.
    pub fn latency(&self, q: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
        sorted.get(i).copied()
    }
}

/// Browser-like request headers, as Chromium sends them with a page's `fetch` or `EventSource`
/// (the headers of a poll, as the lesson's browser test printed them): this, not the path, is most of what a
/// poll costs.
const BROWSER_HEADERS: &str = "Connection: keep-alive\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\n\
sec-ch-ua: \"Not:A-Brand\";v=\"8\", \"Chromium\";v=\"156\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
Accept: */*\r\n\
Sec-Fetch-Site: same-origin\r\n\
Sec-Fetch-Mode: cors\r\n\
Sec-Fetch-Dest: empty\r\n\
Referer: http://127.0.0.1:7008/\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n";

/// The headers headless Chromium sends with `new WebSocket(...)` from the lesson's page (the
/// opening handshake as a listener received it), in its order, less `Host`, the key and the
/// extension offer, which [`Client::websocket`] adds.
const BROWSER_WS_HEADERS: &str = "Connection: Upgrade\r\n\
Pragma: no-cache\r\n\
Cache-Control: no-cache\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36\r\n\
Upgrade: websocket\r\n\
Origin: http://127.0.0.1:7008\r\n\
Sec-WebSocket-Version: 13\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n";

/// What RFC 6455 4.1 requires of an opening handshake besides `Host` and the key.
const MINIMAL_WS_HEADERS: &str =
    "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n";

/// Run the five clients and the publisher against the server at `addr`; the costs come back in
/// the order of [`TRANSPORTS`]. The server should run without its ticker (`--tick-ms 0`), or
/// its events are counted too.
pub fn measure(addr: SocketAddr, settings: &Settings) -> io::Result<Vec<Cost>> {
    // Where the feed is now: every client starts from here, so all see the same events.
    let start = {
        let mut c = Client::connect(addr, settings.browser_headers)?;
        c.get("/poll")?;
        let (_, body) = c.response()?;
        json_number(&body, "cursor").unwrap_or(0)
    };
    let published: Arc<Mutex<Vec<(u64, Instant)>>> = Arc::default();
    let (ready_tx, ready_rx) = mpsc::channel();
    let deadline = Instant::now()
        + settings.interval * settings.events as u32
        + settings.poll_every
        + Duration::from_secs(10);
    let mut clients = Vec::new();
    for (i, name) in TRANSPORTS.iter().enumerate() {
        let (settings, ready) = (settings.clone(), ready_tx.clone());
        clients.push(thread::spawn(
            move || -> io::Result<(Cost, Vec<(u64, Instant)>)> {
                let mut c = Client::connect(addr, settings.browser_headers)?;
                let mut got = Got::new(settings.events);
                match i {
                    0 => poll(&mut c, start, &settings, deadline, &ready, &mut got)?,
                    1 => long_poll(&mut c, start, deadline, &ready, &mut got)?,
                    2 => stream(&mut c, start, deadline, &ready, &mut got)?,
                    3 => sse(&mut c, start, deadline, &ready, &mut got)?,
                    _ => websocket(&mut c, start, deadline, &ready, &mut got)?,
                }
                let cost = Cost {
                    transport: name,
                    requests: c.requests,
                    up: c.up,
                    heads: c.heads,
                    bodies: c.bodies,
                    ..Cost::default()
                };
                Ok((cost, got.arrivals))
            },
        ));
    }
    drop(ready_tx);
    // Wait until every client is following the feed (or has failed), plus a moment for the
    // long poll's request to reach the server.
    for _ in 0..TRANSPORTS.len() {
        if ready_rx.recv_timeout(Duration::from_secs(10)).is_err() {
            break;
        }
    }
    thread::sleep(Duration::from_millis(100));
    publish(addr, settings, &published)?;

    let published = published.lock().unwrap().clone();
    let mut costs = Vec::new();
    for client in clients {
        let (mut cost, arrivals) = client
            .join()
            .map_err(|_| io::Error::other("a measuring client panicked"))??;
        for (id, at) in arrivals {
            if let Some((_, sent)) = published.iter().find(|(p, _)| *p == id) {
                cost.latencies.push(at.saturating_duration_since(*sent));
                cost.delivered += 1;
            }
        }
        costs.push(cost);
    }
    Ok(costs)
}

/// Post the events, one every `interval`, noting when each was sent.
fn publish(
    addr: SocketAddr,
    settings: &Settings,
    published: &Mutex<Vec<(u64, Instant)>>,
) -> io::Result<()> {
    let mut c = Client::connect(addr, false)?;
    let first = Instant::now();
    for n in 0..settings.events {
        let due = first + settings.interval * n as u32;
        thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut data = format!("event {n:06} ");
        while data.len() < settings.data_len {
            data.push('.');
        }
        let sent = Instant::now();
        c.post("/api/publish", data.as_bytes())?;
        let (status, body) = c.response()?;
        let id = json_number(&body, "id")
            .filter(|_| status == 200)
            .ok_or_else(|| io::Error::other(format!("publish answered {status}")))?;
        published.lock().unwrap().push((id, sent));
    }
    Ok(())
}

/// The events a client has received: each id once, with the moment it arrived.
struct Got {
    want: usize,
    arrivals: Vec<(u64, Instant)>,
}

impl Got {
    fn new(want: usize) -> Self {
        Got {
            want,
            arrivals: Vec::new(),
        }
    }

    fn add(&mut self, id: u64) {
        if !self.arrivals.iter().any(|(seen, _)| *seen == id) {
            self.arrivals.push((id, Instant::now()));
        }
    }

    fn done(&self) -> bool {
        self.arrivals.len() >= self.want
    }
}

fn poll(
    c: &mut Client,
    mut cursor: u64,
    settings: &Settings,
    deadline: Instant,
    ready: &mpsc::Sender<()>,
    got: &mut Got,
) -> io::Result<()> {
    let mut next = Instant::now();
    while !got.done() && Instant::now() < deadline {
        c.get(&format!("/poll?since={cursor}"))?;
        let (_, body) = c.response()?;
        let _ = ready.send(());
        for (id, _) in json_events(&body) {
            got.add(id);
        }
        cursor = json_number(&body, "cursor").unwrap_or(cursor);
        next += settings.poll_every;
        thread::sleep(next.saturating_duration_since(Instant::now()));
    }
    Ok(())
}

fn long_poll(
    c: &mut Client,
    mut cursor: u64,
    deadline: Instant,
    ready: &mpsc::Sender<()>,
    got: &mut Got,
) -> io::Result<()> {
    while !got.done() && Instant::now() < deadline {
        c.get(&format!("/longpoll?since={cursor}&timeout=25"))?;
        let _ = ready.send(());
        let (status, body) = c.response()?;
        if status == 204 {
            continue;
        }
        for (id, _) in json_events(&body) {
            got.add(id);
        }
        cursor = json_number(&body, "cursor").unwrap_or(cursor);
    }
    Ok(())
}

fn stream(
    c: &mut Client,
    cursor: u64,
    deadline: Instant,
    ready: &mpsc::Sender<()>,
    got: &mut Got,
) -> io::Result<()> {
    c.get(&format!("/stream?since={cursor}"))?;
    c.head()?;
    let _ = ready.send(());
    let mut pending = Vec::new();
    while !got.done() && Instant::now() < deadline {
        pending.extend_from_slice(&c.chunk(deadline)?);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            for (id, _) in json_events(&String::from_utf8_lossy(&line)) {
                got.add(id);
            }
        }
    }
    Ok(())
}

fn sse(
    c: &mut Client,
    cursor: u64,
    deadline: Instant,
    ready: &mpsc::Sender<()>,
    got: &mut Got,
) -> io::Result<()> {
    c.get_with(
        "/events",
        &format!("Accept: text/event-stream\r\nLast-Event-ID: {cursor}\r\n"),
    )?;
    c.head()?;
    let _ = ready.send(());
    let mut pending = String::new();
    while !got.done() && Instant::now() < deadline {
        pending.push_str(&String::from_utf8_lossy(&c.chunk(deadline)?));
        // An event ends at a blank line; its `id:` field names it.
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(id) = event
                .lines()
                .find_map(|l| l.strip_prefix("id: "))
                .and_then(|v| v.trim().parse().ok())
            {
                got.add(id);
            }
        }
    }
    Ok(())
}

/// A WebSocket client of `/ws`, with its own small frame reader. What it costs maps onto the
/// table's columns as for the others: *requests* is 1 (the opening handshake is one GET),
/// *request bytes* that GET's head (and the pong of any ping the server sends, masked as a
/// client's frames are), *response heads* the `101 Switching Protocols` head, and *response
/// bodies* every byte after it: each frame whole, its 2-byte header (4 above 125 bytes of
/// payload) and its payload, the event's JSON.
fn websocket(
    c: &mut Client,
    cursor: u64,
    deadline: Instant,
    ready: &mpsc::Sender<()>,
    got: &mut Got,
) -> io::Result<()> {
    c.websocket(&format!("/ws?since={cursor}"))?;
    let (status, _) = c.head()?;
    if status != 101 {
        return Err(io::Error::other(format!("/ws answered {status}, not 101")));
    }
    let _ = ready.send(());
    while !got.done() && Instant::now() < deadline {
        let (opcode, payload) = c.frame(deadline)?;
        match opcode {
            OP_TEXT => {
                for (id, _) in json_events(&String::from_utf8_lossy(&payload)) {
                    got.add(id);
                }
            }
            // RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong frame
            // in response". A client's frames are masked (5.3).
            OP_PING => {
                let pong = masked_frame(OP_PONG, &payload, random_bytes());
                c.stream.write_all(&pong)?;
                c.up += pong.len() as u64;
            }
            OP_CLOSE => return Err(io::ErrorKind::UnexpectedEof.into()),
            _ => {}
        }
    }
    Ok(())
}

const OP_TEXT: u8 = 0x1;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xa;

/// Where a frame's payload starts and how long it is, once its header is in `buf` (RFC 6455
/// 5.2): byte 0 holds FIN, RSV1-3 and the opcode; byte 1 the MASK bit and a 7-bit length,
/// where 126 means "the next 2 bytes are the length" and 127 "the next 8 bytes are". A server's
/// frames have no masking key: "A server MUST NOT mask any frames that it sends to the client".
fn frame_extent(buf: &[u8]) -> io::Result<Option<(usize, usize)>> {
    let Some(&b1) = buf.get(1) else {
        return Ok(None);
    };
    if b1 & 0x80 != 0 {
        return Err(io::Error::other("a server frame is masked"));
    }
    let (at, len) = match b1 & 0x7f {
        126 => match buf.get(2..4) {
            Some(b) => (4, u16::from_be_bytes([b[0], b[1]]) as u64),
            None => return Ok(None),
        },
        127 => match buf.get(2..10) {
            Some(b) => (10, u64::from_be_bytes(b.try_into().expect("8 bytes"))),
            None => return Ok(None),
        },
        n => (2, n as u64),
    };
    let len = usize::try_from(len).map_err(|_| io::Error::other("a frame too long"))?;
    Ok(Some((at, len)))
}

/// A client frame (FIN set): the payload XORed with the 4-byte key, byte i with key[i % 4]
/// (RFC 6455 5.3).
fn masked_frame(opcode: u8, payload: &[u8], key: [u8; 4]) -> Vec<u8> {
    assert!(
        payload.len() <= 125,
        "control frames carry at most 125 bytes"
    );
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

/// Random bytes from the standard library's per-process hash keys: enough for a measuring
/// client's nonce and masks (a browser uses a strong source, RFC 6455 10.3).
fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for (i, piece) in out.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_usize(i);
        let bytes = h.finish().to_le_bytes();
        piece.copy_from_slice(&bytes[..piece.len()]);
    }
    out
}

// ---- A counting HTTP client -----------------------------------------------------------------

/// One keep-alive connection that counts every byte it sends and receives.
struct Client {
    stream: TcpStream,
    host: String,
    browser_headers: bool,
    /// Received and not used yet.
    buf: Vec<u8>,
    requests: u64,
    up: u64,
    heads: u64,
    bodies: u64,
}

impl Client {
    fn connect(addr: SocketAddr, browser_headers: bool) -> io::Result<Client> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        Ok(Client {
            stream,
            host: addr.to_string(),
            browser_headers,
            buf: Vec::new(),
            requests: 0,
            up: 0,
            heads: 0,
            bodies: 0,
        })
    }

    fn send(&mut self, request: &[u8]) -> io::Result<()> {
        self.stream.write_all(request)?;
        self.requests += 1;
        self.up += request.len() as u64;
        Ok(())
    }

    fn get(&mut self, target: &str) -> io::Result<()> {
        self.get_with(target, "")
    }

    fn get_with(&mut self, target: &str, extra: &str) -> io::Result<()> {
        let browser = if self.browser_headers {
            BROWSER_HEADERS
        } else {
            ""
        };
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\n{browser}{extra}\r\n",
            self.host
        );
        self.send(request.as_bytes())
    }

    /// A WebSocket opening handshake (RFC 6455 4.1): a GET with `Upgrade`, `Connection`,
    /// the version and a fresh key (16 random bytes in base64); a browser also offers
    /// `permessage-deflate`, which the server declines by not answering it.
    fn websocket(&mut self, target: &str) -> io::Result<()> {
        let key = base64::engine::general_purpose::STANDARD.encode(random_bytes::<16>());
        let (headers, offer) = if self.browser_headers {
            (
                BROWSER_WS_HEADERS,
                "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n",
            )
        } else {
            (MINIMAL_WS_HEADERS, "")
        };
        let request = format!(
            "GET {target} HTTP/1.1\r\nHost: {}\r\n{headers}Sec-WebSocket-Key: {key}\r\n{offer}\r\n",
            self.host
        );
        self.send(request.as_bytes())
    }

    /// The next WebSocket frame: its opcode and payload (the server sends each message in one
    /// frame). Every byte of it counts as body.
    fn frame(&mut self, deadline: Instant) -> io::Result<(u8, Vec<u8>)> {
        loop {
            if let Some((at, len)) = frame_extent(&self.buf)? {
                if self.buf.len() >= at + len {
                    let frame: Vec<u8> = self.buf.drain(..at + len).collect();
                    self.bodies += frame.len() as u64;
                    return Ok((frame[0] & 0x0f, frame[at..].to_vec()));
                }
            }
            self.fill(deadline)?;
        }
    }

    fn post(&mut self, target: &str, body: &[u8]) -> io::Result<()> {
        let mut request = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
            self.host,
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        self.send(&request)
    }

    /// Read more into `buf`, waiting until `deadline`.
    fn fill(&mut self, deadline: Instant) -> io::Result<()> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        let mut chunk = [0u8; 16 * 1024];
        match self.stream.read(&mut chunk)? {
            0 => Err(io::ErrorKind::UnexpectedEof.into()),
            n => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(())
            }
        }
    }

    /// The next response head: its status and the value of `Content-Length`, if any.
    fn head(&mut self) -> io::Result<(u16, Option<usize>)> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill(deadline)?;
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        self.heads += head.len() as u64;
        let text = String::from_utf8_lossy(&head);
        let status = text
            .get(9..12)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| io::Error::other("not an HTTP response"))?;
        let length = text.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        });
        Ok((status, length))
    }

    /// A whole response with a `Content-Length` body (or none: 204).
    fn response(&mut self) -> io::Result<(u16, String)> {
        let (status, length) = self.head()?;
        let length = length.unwrap_or(0);
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.buf.len() < length {
            self.fill(deadline)?;
        }
        let body: Vec<u8> = self.buf.drain(..length).collect();
        self.bodies += length as u64;
        Ok((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// The data of the next chunk of a chunked body (RFC 9112 7.1: hex size, CRLF, data, CRLF).
    fn chunk(&mut self, deadline: Instant) -> io::Result<Vec<u8>> {
        let line_end = loop {
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\r\n") {
                break i;
            }
            self.fill(deadline)?;
        };
        let line = String::from_utf8_lossy(&self.buf[..line_end]).into_owned();
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| io::Error::other(format!("bad chunk size line {line:?}")))?;
        if size == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let whole = line_end + 2 + size + 2;
        while self.buf.len() < whole {
            self.fill(deadline)?;
        }
        let chunk: Vec<u8> = self.buf.drain(..whole).collect();
        self.bodies += whole as u64;
        Ok(chunk[line_end + 2..line_end + 2 + size].to_vec())
    }
}

// ---- Reading our JSON -------------------------------------------------------------------------

/// The number after `"name":` in `json`.
fn json_number(json: &str, name: &str) -> Option<u64> {
    let key = format!("\"{name}\":");
    let at = json.find(&key)? + key.len();
    let digits: String = json[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The `(id, data)` of every event object in `json`, in order.
fn json_events(json: &str) -> Vec<(u64, String)> {
    let mut events = Vec::new();
    let mut rest = json;
    while let Some(at) = rest.find("{\"id\":") {
        rest = &rest[at + 1..];
        let Some(id) = json_number(rest, "id") else {
            continue;
        };
        let data = rest
            .find("\"data\":\"")
            .map(|i| json_unescape(&rest[i + 8..]))
            .unwrap_or_default();
        events.push((id, data));
    }
    events
}

/// A JSON string's text, from just after its opening quote.
fn json_unescape(from: &str) -> String {
    let mut out = String::new();
    let mut chars = from.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => break,
            '\\' => match chars.next() {
                Some('u') => {
                    let hex: String = chars.by_ref().take(4).collect();
                    if let Some(c) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        out.push(c);
                    }
                }
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}

// ---- Showing the results ----------------------------------------------------------------------

fn ms(d: Option<Duration>) -> String {
    d.map_or("-".into(), |d| {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    })
}

/// The results as a Markdown table.
pub fn table(costs: &[Cost], settings: &Settings) -> String {
    let mut out = format!(
        "{} events of {} bytes, one every {} ms; polling every {} ms; {} request headers\n\n",
        settings.events,
        settings.data_len,
        settings.interval.as_millis(),
        settings.poll_every.as_millis(),
        if settings.browser_headers {
            "browser-like"
        } else {
            "minimal"
        }
    );
    out.push_str(
        "| transport | delivered | requests | request bytes | response heads | response bodies | bytes per event | latency p50 | p95 | max |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for c in costs {
        out.push_str(&format!(
            "| {} | {}/{} | {} | {} | {} | {} | {:.0} | {} | {} | {} |\n",
            c.transport,
            c.delivered,
            settings.events,
            c.requests,
            c.up,
            c.heads,
            c.bodies,
            c.total() as f64 / c.delivered.max(1) as f64,
            ms(c.latency(0.5)),
            ms(c.latency(0.95)),
            ms(c.latency(1.0)),
        ));
    }
    out
}

/// Two bar charts: bytes on the wire per delivered event (sent and received), and the median
/// and 95th-percentile delivery latency.
pub fn charts(costs: &[Cost], settings: &Settings) -> (String, String) {
    let groups: Vec<String> = costs.iter().map(|c| c.transport.to_string()).collect();
    let per_event = |f: &dyn Fn(&Cost) -> u64| -> Vec<Option<f64>> {
        costs
            .iter()
            .map(|c| (c.delivered > 0).then(|| f(c) as f64 / c.delivered as f64))
            .collect()
    };
    let note = format!(
        "{} events of {} B, one every {} ms; polling every {} ms; {} request headers; loopback",
        settings.events,
        settings.data_len,
        settings.interval.as_millis(),
        settings.poll_every.as_millis(),
        if settings.browser_headers {
            "browser-like"
        } else {
            "minimal"
        }
    );
    let bytes = render_bars(
        "Lesson 08: bytes on the wire per delivered event",
        "bytes",
        "transport",
        &groups,
        &[
            Series {
                name: "sent by the client (request heads)".into(),
                values: per_event(&|c| c.up),
            },
            Series {
                name: "received (response heads and bodies)".into(),
                values: per_event(&|c| c.heads + c.bodies),
            },
        ],
        &note,
    );
    let latency = |q: f64| -> Vec<Option<f64>> {
        costs
            .iter()
            .map(|c| c.latency(q).map(|d| d.as_secs_f64() * 1000.0))
            .collect()
    };
    let latency = render_bars(
        "Lesson 08: delivery latency, publish to arrival",
        "ms",
        "transport",
        &groups,
        &[
            Series {
                name: "median".into(),
                values: latency(0.5),
            },
            Series {
                name: "95th percentile".into(),
                values: latency(0.95),
            },
        ],
        &note,
    );
    (bytes, latency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_json() {
        let body = "{\"events\":[{\"id\":2,\"data\":\"a \\\"b\\\" \\u00e9\"},{\"id\":3,\"data\":\"c\"}],\"cursor\":3}";
        assert_eq!(
            json_events(body),
            [(2, "a \"b\" é".to_string()), (3, "c".to_string())]
        );
        assert_eq!(json_number(body, "cursor"), Some(3));
        assert_eq!(json_number("{\"id\": 12}", "id"), Some(12));
        assert!(json_events("{\"events\":[],\"cursor\":9}").is_empty());
    }

    #[test]
    fn reads_frame_headers_of_each_length_form() {
        // RFC 6455 5.7's unmasked "Hello", and the 16- and 64-bit length forms.
        assert_eq!(frame_extent(b"\x81\x05Hello").unwrap(), Some((2, 5)));
        assert_eq!(frame_extent(b"\x81").unwrap(), None);
        assert_eq!(frame_extent(b"\x82\x7e\x01\x00").unwrap(), Some((4, 256)));
        assert_eq!(frame_extent(b"\x82\x7e\x01").unwrap(), None);
        assert_eq!(
            frame_extent(b"\x82\x7f\0\0\0\0\0\x01\0\0").unwrap(),
            Some((10, 65536))
        );
        assert!(frame_extent(b"\x81\x85\x37\xfa\x21\x3d").is_err());
        // RFC 6455 5.7's masked "Hello" is what a client writes with that key.
        assert_eq!(
            masked_frame(OP_TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]),
            b"\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58"
        );
    }

    #[test]
    fn latency_quantiles() {
        let cost = Cost {
            latencies: (1..=100).map(Duration::from_millis).collect(),
            ..Cost::default()
        };
        assert_eq!(cost.latency(0.5), Some(Duration::from_millis(51)));
        assert_eq!(cost.latency(1.0), Some(Duration::from_millis(100)));
        assert_eq!(Cost::default().latency(0.5), None);
    }
}
