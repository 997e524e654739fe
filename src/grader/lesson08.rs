//! Checks for lesson 08, one live feed of events over four HTTP techniques
//! (lessons/08-http-realtime/PROTOCOL.md is the contract):
//!
//! - `GET /poll?since=N`: at once, `{"events":[...],"cursor":C}`;
//! - `GET /longpoll?since=N&timeout=S`: the same once there is an event after N, else `204`
//!   after S seconds, the connection kept;
//! - `GET /stream`: one line of JSON per event, as it happens, chunked (unframed for HTTP/1.0);
//! - `GET /events`: Server-Sent Events, `retry:` first, then `id:` and `data:` per event, each
//!   ended by a blank line, resumable with `Last-Event-ID`;
//! - `POST /api/publish`: the body becomes a new event's data; the answer is `{"id":N}`.
//!
//! The grader publishes its own events and looks for them by the ids the server gave back, so a
//! ticker publishing meanwhile does no harm. It reads JSON with its own small reader ([`Json`])
//! and responses with `grader/http.rs`, never with the course's code.

use super::http::{expect_status, get, post, HttpConn, Next, Response, Streaming};
use super::procfs;
use super::{Check, Ctx, Failure, Suite};
use socket2::{Domain, Socket, Type};
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 8,
    listeners: &["http"],
    checks: &[
        Check {
            name: "loses_events_between_polls",
            misconception: "A poll answers with the events after the client's cursor (since=N), not the latest \
                            one: whatever was published between two polls must come in the next one, once.",
            run: poll_cursor,
        },
        Check {
            name: "does_not_escape_json_strings",
            misconception: "Event data is arbitrary text: inside a JSON string, `\"` and `\\` need a backslash and \
                            control characters a \\u escape, or the client cannot parse the answer.",
            run: json_escaping,
        },
        Check {
            name: "lets_caches_keep_live_answers",
            misconception: "A live answer is stale a moment later: `Cache-Control: no-store` keeps browsers and \
                            proxies from serving an old poll or stream again, and the Content-Type tells the \
                            client how to read it.",
            run: live_headers,
        },
        Check {
            name: "long_poll_answers_at_once_with_nothing",
            misconception: "A long poll with nothing new is held open, not answered empty: the answer goes out \
                            the moment an event is published (by anyone, on any connection).",
            run: long_poll_is_held,
        },
        Check {
            name: "long_poll_loses_events_between_polls",
            misconception: "A long poll is answered at once when events after its cursor already exist: waiting \
                            for the next new event loses the ones published while the client was reconnecting.",
            run: long_poll_cursor,
        },
        Check {
            name: "long_poll_never_times_out",
            misconception: "A held long poll ends after its timeout with `204 No Content`, and the connection \
                            stays open for the next poll: proxies and clients give up on requests held too long.",
            run: long_poll_times_out,
        },
        Check {
            name: "buffers_the_stream",
            misconception: "A stream is only live if each event is written (and flushed) when it happens: \
                            output held back in a buffer until it fills arrives late, in bursts.",
            run: stream_is_live,
        },
        Check {
            name: "wrong_chunk_framing",
            misconception: "An HTTP/1.1 body that never ends is chunked: each piece is its size in hexadecimal, \
                            CRLF, the bytes, CRLF. A wrong size or a missing CRLF desynchronises the client.",
            run: chunk_framing,
        },
        Check {
            name: "streams_chunked_to_http10",
            misconception: "HTTP/1.0 has no chunked coding: a 1.0 client gets the stream unframed, its end being \
                            the close of the connection.",
            run: http10_stream,
        },
        Check {
            name: "sse_wrong_content_type",
            misconception: "EventSource accepts only `Content-Type: text/event-stream`; any other type makes the \
                            browser fail the connection for good, without retrying.",
            run: sse_content_type,
        },
        Check {
            name: "sse_has_no_retry",
            misconception: "An SSE stream here starts with `retry: MS` and a blank line: it tells EventSource how \
                            long to wait before reconnecting after the stream breaks.",
            run: sse_retry,
        },
        Check {
            name: "sse_events_have_no_id",
            misconception: "Each SSE event carries `id: N`: the browser remembers the last one and sends it back \
                            as Last-Event-ID when it reconnects, which is how nothing is lost.",
            run: sse_ids,
        },
        Check {
            name: "sse_event_not_ended_by_a_blank_line",
            misconception: "An SSE event is dispatched only when a blank line ends it: fields without that line \
                            wait in the browser, and the last event is dropped if the stream ends.",
            run: sse_blank_line,
        },
        Check {
            name: "sse_ignores_last_event_id",
            misconception: "A reconnecting EventSource sends `Last-Event-ID`: the stream must resume after that \
                            id (it wins over `since`), sending what the client missed while away.",
            run: sse_resume,
        },
        Check {
            name: "publishes_line_breaks",
            misconception: "Event data is one line of UTF-8: a CR or LF would end an SSE `data:` field and \
                            a stream's JSON line early, so a body with one (or not UTF-8) is a 400.",
            run: publish_refuses_line_breaks,
        },
        Check {
            name: "publish_has_no_size_limit",
            misconception: "Every input has a limit: data over 4,096 bytes is a 413, or any client can make the \
                            server store (and send to everyone) as much as it likes.",
            run: publish_limit,
        },
        Check {
            name: "a_slow_stream_reader_stalls_the_others",
            misconception: "Writing an event to a client that does not read blocks once its socket buffer is \
                            full: queue per client, never block the publisher or the other clients on one.",
            run: slow_reader_does_not_stall,
        },
        Check {
            name: "memory_grows_with_a_slow_stream_reader",
            misconception: "A client that stops reading while events keep coming must not make the server queue \
                            them without bound: each connection's queue has a limit, and a client past it is dropped.",
            run: slow_reader_memory,
        },
        Check {
            name: "leaks_abandoned_long_polls_and_streams",
            misconception: "A client that goes away while its long poll is held or its stream is idle must be \
                            noticed (the socket reads as closed) and its descriptor closed at once, not when the \
                            next event or the timeout comes.",
            run: abandoned_clients_are_released,
        },
    ],
};

// ---- A small JSON reader of our own --------------------------------------------------------------

/// A JSON value (RFC 8259), read strictly; numbers are kept as f64.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// Parse a whole document; whitespace around it is allowed, anything else after it is not.
    pub fn parse(text: &[u8]) -> Result<Json, String> {
        let mut p = JsonParser { s: text, at: 0 };
        let value = p.value(0)?;
        p.ws();
        if p.at != text.len() {
            return Err(format!(
                "unexpected bytes after the JSON value, at byte {}",
                p.at
            ));
        }
        Ok(value)
    }

    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Obj(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// A non-negative integer, exactly.
    pub fn as_id(&self) -> Option<u64> {
        match self {
            Json::Num(n) if *n >= 0.0 && n.fract() == 0.0 && *n < 9.0e15 => Some(*n as u64),
            _ => None,
        }
    }
}

struct JsonParser<'a> {
    s: &'a [u8],
    at: usize,
}

impl JsonParser<'_> {
    fn ws(&mut self) {
        while self
            .s
            .get(self.at)
            .is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.at += 1;
        }
    }

    fn err<T>(&self, what: &str) -> Result<T, String> {
        Err(format!("{what} at byte {} of the JSON", self.at))
    }

    fn eat(&mut self, lit: &[u8]) -> bool {
        if self.s[self.at..].starts_with(lit) {
            self.at += lit.len();
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > 32 {
            return self.err("nested too deep");
        }
        self.ws();
        match self.s.get(self.at) {
            None => self.err("the JSON ends where a value should be"),
            Some(b'{') => {
                self.at += 1;
                let mut members = Vec::new();
                self.ws();
                if self.eat(b"}") {
                    return Ok(Json::Obj(members));
                }
                loop {
                    self.ws();
                    if self.s.get(self.at) != Some(&b'"') {
                        return self.err("expected a member name in quotes");
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(b":") {
                        return self.err("expected `:` after a member name");
                    }
                    let value = self.value(depth + 1)?;
                    members.push((key, value));
                    self.ws();
                    if self.eat(b"}") {
                        return Ok(Json::Obj(members));
                    }
                    if !self.eat(b",") {
                        return self.err("expected `,` or `}` in an object");
                    }
                }
            }
            Some(b'[') => {
                self.at += 1;
                let mut items = Vec::new();
                self.ws();
                if self.eat(b"]") {
                    return Ok(Json::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    self.ws();
                    if self.eat(b"]") {
                        return Ok(Json::Arr(items));
                    }
                    if !self.eat(b",") {
                        return self.err("expected `,` or `]` in an array");
                    }
                }
            }
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') if self.eat(b"true") => Ok(Json::Bool(true)),
            Some(b'f') if self.eat(b"false") => Ok(Json::Bool(false)),
            Some(b'n') if self.eat(b"null") => Ok(Json::Null),
            Some(b'-' | b'0'..=b'9') => {
                let start = self.at;
                while self
                    .s
                    .get(self.at)
                    .is_some_and(|b| matches!(b, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    self.at += 1;
                }
                let text = std::str::from_utf8(&self.s[start..self.at]).unwrap_or("");
                match text.parse::<f64>() {
                    Ok(n) if !text.starts_with('+') => Ok(Json::Num(n)),
                    _ => self.err("not a number"),
                }
            }
            Some(_) => self.err("not a JSON value"),
        }
    }

    /// A string, the opening quote at `at`.
    fn string(&mut self) -> Result<String, String> {
        self.at += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&b) = self.s.get(self.at) else {
                return self.err("a string without its closing quote");
            };
            self.at += 1;
            match b {
                b'"' => {
                    return String::from_utf8(out)
                        .or_else(|_| self.err("a string that is not UTF-8"))
                }
                b'\\' => {
                    let Some(&e) = self.s.get(self.at) else {
                        return self.err("a string ends after a backslash");
                    };
                    self.at += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            let code = if (0xD800..0xDC00).contains(&hi) {
                                if !self.eat(b"\\u") {
                                    return self.err("a lone surrogate in a \\u escape");
                                }
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return self.err("a bad surrogate pair");
                                }
                                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                            } else {
                                hi
                            };
                            match char::from_u32(code) {
                                Some(c) => c,
                                None => return self.err("a \\u escape that is no character"),
                            }
                        }
                        _ => return self.err("an unknown escape in a string"),
                    };
                    let mut tmp = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut tmp).as_bytes());
                }
                0..=0x1f => {
                    return self.err(
                        "a raw control character inside a string (it must be escaped as \\u00XX)",
                    )
                }
                _ => out.push(b),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self.s.get(self.at..self.at + 4).unwrap_or_default();
        let text = std::str::from_utf8(digits).unwrap_or("");
        match u32::from_str_radix(text, 16) {
            Ok(n) if text.len() == 4 && text.bytes().all(|b| b.is_ascii_hexdigit()) => {
                self.at += 4;
                Ok(n)
            }
            _ => self.err("a \\u escape without 4 hex digits"),
        }
    }
}

// ---- Events, and reading them off the wire ------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct Event {
    id: u64,
    data: String,
}

/// `{"id":N,"data":"TEXT"}`.
fn event_from(json: &Json) -> Result<Event, String> {
    let id = json
        .get("id")
        .and_then(Json::as_id)
        .ok_or("an event without a numeric \"id\" member")?;
    let Some(Json::Str(data)) = json.get("data") else {
        return Err("an event without a string \"data\" member".into());
    };
    Ok(Event {
        id,
        data: data.clone(),
    })
}

/// `{"events":[E,...],"cursor":C}`.
fn poll_body(body: &[u8]) -> Result<(Vec<Event>, u64), String> {
    let json = Json::parse(body)?;
    let Some(Json::Arr(items)) = json.get("events") else {
        return Err("no \"events\" array in the answer".into());
    };
    let events = items
        .iter()
        .map(event_from)
        .collect::<Result<Vec<_>, _>>()?;
    let cursor = json
        .get("cursor")
        .and_then(Json::as_id)
        .ok_or("no numeric \"cursor\" in the answer")?;
    Ok((events, cursor))
}

/// A poll answer read, or a failure with the answer as evidence.
fn expect_poll_answer(r: &Response, sent: &[u8], what: &str) -> Result<(Vec<Event>, u64), Failure> {
    expect_status(r, 200, sent, what)?;
    poll_body(&r.body).map_err(|why| {
        Failure::new(format!(
            "{what}: the body is not {{\"events\":[{{\"id\":N,\"data\":\"...\"}},...],\"cursor\":C}}: {why}"
        ))
        .sent(sent)
        .expected(br#"{"events":[{"id":1,"data":"..."}],"cursor":1}"#)
        .received(&r.body)
    })
}

/// Some text that says which check made it, with a random part so that runs differ.
fn data(ctx: &Ctx, what: &str) -> String {
    format!("{what} {:08x}", ctx.below(1 << 32))
}

/// Publish `data` on `c`; the id the server gave it.
fn publish_on(c: &mut HttpConn, data: &str) -> Result<u64, Failure> {
    let req = post("/api/publish", data.as_bytes());
    let what = "POST /api/publish";
    c.send(&req).map_err(|f| f.during(what))?;
    let r = c.response("POST", &req).map_err(|f| f.during(what))?;
    expect_status(&r, 200, &req, what)?;
    Json::parse(&r.body)
        .ok()
        .and_then(|j| j.get("id").and_then(Json::as_id))
        .ok_or_else(|| {
            Failure::new(format!("{what}: the answer is not {{\"id\":N}}"))
                .sent(&req)
                .expected(br#"{"id":1}"#)
                .received(&[&r.head[..], &r.body].concat())
        })
}

/// Publish on a fresh connection.
fn publish(ctx: &Ctx, data: &str) -> Result<u64, Failure> {
    publish_on(&mut HttpConn::open(ctx)?, data)
}

/// `GET /poll[?since=N]` on `c`: the events and the cursor.
fn poll_on(c: &mut HttpConn, since: Option<u64>) -> Result<(Vec<Event>, u64), Failure> {
    let target = match since {
        Some(n) => format!("/poll?since={n}"),
        None => "/poll".to_string(),
    };
    let req = get("GET", &target);
    let what = format!("GET {target}");
    c.send(&req).map_err(|f| f.during(&what))?;
    let r = c.response("GET", &req).map_err(|f| f.during(&what))?;
    expect_poll_answer(&r, &req, &what)
}

/// The latest id, as a poll without a cursor tells it.
fn latest(ctx: &Ctx) -> Result<u64, Failure> {
    Ok(poll_on(&mut HttpConn::open(ctx)?, None)?.1)
}

/// Expect `wanted` (id and data) among `events`, in that order, ids increasing throughout.
fn expect_events(
    events: &[Event],
    wanted: &[Event],
    sent: &[u8],
    what: &str,
) -> Result<(), Failure> {
    let shown = |events: &[Event]| {
        events
            .iter()
            .map(|e| format!("{{\"id\":{},\"data\":{:?}}}", e.id, e.data))
            .collect::<Vec<_>>()
            .join(",")
            .into_bytes()
    };
    let fail = |why: String| {
        Failure::new(format!("{what}: {why}"))
            .sent(sent)
            .expected(&shown(wanted))
            .received(&shown(events))
    };
    if let Some(w) = events.windows(2).find(|w| w[1].id <= w[0].id) {
        return Err(fail(format!(
            "event {} comes after event {}: events go in increasing order of id, each once",
            w[1].id, w[0].id
        )));
    }
    for want in wanted {
        match events.iter().find(|e| e.id == want.id) {
            None => return Err(fail(format!("event {} is missing", want.id))),
            Some(e) if e.data != want.data => {
                return Err(fail(format!(
                    "event {} has the data {:?}, not the {:?} published",
                    want.id, e.data, want.data
                )))
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Publish `n` events; what was published.
fn publish_some(ctx: &Ctx, c: &mut HttpConn, n: usize, what: &str) -> Result<Vec<Event>, Failure> {
    (0..n)
        .map(|i| {
            let data = data(ctx, &format!("{what} {}", i + 1));
            publish_on(c, &data).map(|id| Event { id, data })
        })
        .collect()
}

/// How soon an event must reach a held long poll or a stream once published.
fn promptly(ctx: &Ctx) -> Duration {
    ctx.timeout.min(Duration::from_secs(1))
}

// ---- Streams -------------------------------------------------------------------------------------

/// Open `target` with a request of `version`, read the head and expect a 200; the body is left
/// to read.
fn open_stream<'a>(
    ctx: &'a Ctx,
    target: &str,
    version: &str,
    extra: &str,
) -> Result<(Response, Streaming<'a>, Vec<u8>), Failure> {
    let c = HttpConn::open(ctx)?;
    let req = format!("GET {target} {version}\r\nHost: grader\r\n{extra}\r\n").into_bytes();
    let what = format!("GET {target} ({version})");
    c.send(&req).map_err(|f| f.during(&what))?;
    let mut c = c;
    let head = c.head(&req).map_err(|f| f.during(&what))?;
    expect_status(&head, 200, &req, &what)?;
    if head.header("content-length").is_some() {
        return Err(Failure::new(format!(
            "{what}: a stream never ends, so it cannot have a Content-Length"
        ))
        .sent(&req)
        .received(&head.head));
    }
    let stream = Streaming::new(c, &head);
    Ok((head, stream, req))
}

/// The next event line of a `/stream` body with an id of at least `id`: earlier events (from a
/// ticker) are skipped.
fn next_stream_event(
    s: &mut Streaming,
    id: u64,
    deadline: Instant,
    sent: &[u8],
    what: &str,
) -> Result<Event, Failure> {
    loop {
        let line = match s.line(deadline, what) {
            Ok(Some(line)) => line,
            Ok(None) => {
                return Err(s
                    .evidence(Failure::new(format!("{what}: the stream ended")))
                    .sent(sent))
            }
            Err(f) => return Err(f.sent(sent)),
        };
        let event = Json::parse(&line)
            .and_then(|j| event_from(&j))
            .map_err(|why| {
                s.evidence(Failure::new(format!(
                    "{what}: a line of the stream is not an event {{\"id\":N,\"data\":\"...\"}}: {why}"
                )))
                .sent(sent)
                .expected(br#"{"id":1,"data":"..."}\n"#)
            })?;
        if event.id >= id {
            return Ok(event);
        }
    }
}

/// Expect exactly `want` next (after any earlier ids) on a `/stream` body.
fn expect_stream_event(
    s: &mut Streaming,
    want: &Event,
    deadline: Instant,
    sent: &[u8],
    what: &str,
) -> Result<(), Failure> {
    let got = next_stream_event(s, want.id, deadline, sent, what)?;
    if got != *want {
        return Err(s
            .evidence(Failure::new(format!(
                "{what}: expected event {} with data {:?}, received event {} with data {:?}",
                want.id, want.data, got.id, got.data
            )))
            .sent(sent));
    }
    Ok(())
}

/// One SSE block, up to its blank line.
#[derive(Debug, Default)]
struct SseBlock {
    id: Option<String>,
    data: Option<String>,
    retry: Option<String>,
}

/// The next SSE block that is not only comments. A block not ended by a blank line before the
/// deadline is a failure that says so.
fn next_sse_block(
    s: &mut Streaming,
    deadline: Instant,
    sent: &[u8],
    what: &str,
) -> Result<SseBlock, Failure> {
    let mut block = SseBlock::default();
    let mut fields = 0;
    loop {
        let line = match s.next(deadline, what)? {
            Next::Line(line) => line,
            Next::End => {
                return Err(s
                    .evidence(Failure::new(format!("{what}: the stream ended")))
                    .sent(sent))
            }
            Next::Silent if fields > 0 => {
                return Err(s
                    .evidence(Failure::new(format!(
                        "{what}: an event's fields came, but no blank line ends it, so an \
                         EventSource never dispatches it"
                    )))
                    .sent(sent))
            }
            Next::Silent => {
                return Err(s
                    .evidence(Failure::new(format!(
                        "{what}: nothing arrived in time, the stream stays silent"
                    )))
                    .sent(sent))
            }
        };
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches('\n').trim_end_matches('\r');
        if text.is_empty() {
            if fields > 0 {
                return Ok(block);
            }
            continue;
        }
        if text.starts_with(':') {
            continue; // a comment: a keep-alive
        }
        fields += 1;
        let (name, value) = text.split_once(':').unwrap_or((text, ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        match name {
            "id" => block.id = Some(value),
            "data" => {
                block.data = Some(match block.data.take() {
                    Some(d) => format!("{d}\n{value}"),
                    None => value,
                })
            }
            "retry" => block.retry = Some(value),
            _ => {}
        }
    }
}

/// The next SSE event (a block with data) whose id is at least `id`, skipping earlier ones (a
/// ticker's). An event without an id is a failure.
fn next_sse_event(
    s: &mut Streaming,
    id: u64,
    deadline: Instant,
    sent: &[u8],
    what: &str,
) -> Result<Event, Failure> {
    loop {
        let block = next_sse_block(s, deadline, sent, what)?;
        let Some(data) = block.data else { continue };
        let Some(event_id) = block.id.as_deref().and_then(|v| v.parse::<u64>().ok()) else {
            return Err(s
                .evidence(Failure::new(format!(
                    "{what}: an event without an `id: N` line ({:?}): the browser cannot tell \
                     where to resume after a reconnection",
                    block.id
                )))
                .sent(sent)
                .expected(format!("id: {id}\ndata: ...\n\n").as_bytes()));
        };
        if event_id >= id {
            return Ok(Event { id: event_id, data });
        }
    }
}

fn expect_sse_event(
    s: &mut Streaming,
    want: &Event,
    deadline: Instant,
    sent: &[u8],
    what: &str,
) -> Result<(), Failure> {
    let got = next_sse_event(s, want.id, deadline, sent, what)?;
    if got != *want {
        return Err(s
            .evidence(Failure::new(format!(
                "{what}: expected event {} with data {:?}, received event {} with data {:?}",
                want.id, want.data, got.id, got.data
            )))
            .sent(sent)
            .expected(format!("id: {}\ndata: {}\n\n", want.id, want.data).as_bytes()));
    }
    Ok(())
}

// ---- The checks: polling --------------------------------------------------------------------------

fn poll_cursor(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let (_, start) = poll_on(&mut c, None)?;
    let first = publish_some(ctx, &mut c, 3, "poll event")?;
    let req = get("GET", &format!("/poll?since={start}"));
    let what = format!("GET /poll?since={start} after 3 events were published");
    c.send(&req)?;
    let r = c.response("GET", &req).map_err(|f| f.during(&what))?;
    let (events, cursor) = expect_poll_answer(&r, &req, &what)?;
    expect_events(&events, &first, &req, &what)?;
    let last = first.last().map_or(0, |e| e.id);
    if cursor < last {
        return Err(Failure::new(format!(
            "{what}: the cursor is {cursor}, before event {last} that the answer holds: the next \
             poll would get it again"
        ))
        .sent(&req)
        .received(&r.body));
    }
    let second = publish_some(ctx, &mut c, 1, "next poll event")?;
    let req = get("GET", &format!("/poll?since={cursor}"));
    let what = format!("the next GET /poll?since={cursor} (the cursor given), after 1 more event");
    c.send(&req)?;
    let r = c.response("GET", &req).map_err(|f| f.during(&what))?;
    let (events, _) = expect_poll_answer(&r, &req, &what)?;
    expect_events(&events, &second, &req, &what)?;
    if let Some(again) = events.iter().find(|e| first.iter().any(|f| f.id == e.id)) {
        return Err(Failure::new(format!(
            "{what}: event {} came again, though the cursor said it was seen",
            again.id
        ))
        .sent(&req)
        .received(&r.body));
    }
    Ok(())
}

fn json_escaping(ctx: &Ctx) -> Result<(), Failure> {
    let tricky = format!(
        "quote \" backslash \\ tab \t bell \u{7} slash / non-ASCII é ✓ {:04x}",
        ctx.below(1 << 16)
    );
    let mut c = HttpConn::open(ctx)?;
    let id = publish_on(&mut c, &tricky)?;
    let req = get("GET", &format!("/poll?since={}", id - 1));
    let what = "GET /poll for an event whose data holds a quote, a backslash, a tab and a bell";
    c.send(&req)?;
    let r = c.response("GET", &req).map_err(|f| f.during(what))?;
    let (events, _) = expect_poll_answer(&r, &req, what)?;
    expect_events(&events, &[Event { id, data: tricky }], &req, what)
}

fn live_headers(ctx: &Ctx) -> Result<(), Failure> {
    let check = |r: &Response, sent: &[u8], what: &str, ctype: &str| -> Result<(), Failure> {
        let no_store = r.has_token("cache-control", "no-store");
        let type_ok = r
            .header("content-type")
            .and_then(|v| v.split(';').next())
            .is_some_and(|t| t.trim().eq_ignore_ascii_case(ctype));
        if no_store && type_ok {
            return Ok(());
        }
        let why = if !no_store {
            "no `Cache-Control: no-store`"
        } else {
            "the wrong Content-Type"
        };
        Err(Failure::new(format!("{what}: {why}"))
            .sent(sent)
            .expected(format!("Content-Type: {ctype}\r\nCache-Control: no-store\r\n").as_bytes())
            .received(&r.head))
    };
    let mut c = HttpConn::open(ctx)?;
    let req = get("GET", "/poll");
    c.send(&req)?;
    let r = c.response("GET", &req).map_err(|f| f.during("GET /poll"))?;
    expect_status(&r, 200, &req, "GET /poll")?;
    check(&r, &req, "GET /poll", "application/json")?;
    let (head, _, req) = open_stream(ctx, "/stream", "HTTP/1.1", "")?;
    check(&head, &req, "GET /stream", "application/x-ndjson")?;
    let (head, _, req) = open_stream(ctx, "/events", "HTTP/1.1", "")?;
    check(&head, &req, "GET /events", "text/event-stream")
}

// ---- Long polling ---------------------------------------------------------------------------------

fn long_poll_is_held(ctx: &Ctx) -> Result<(), Failure> {
    // A ticker may publish while we wait: then the answer is right, and we try again.
    for _ in 0..3 {
        let since = latest(ctx)?;
        let mut c = HttpConn::open(ctx)?;
        let req = get("GET", &format!("/longpoll?since={since}&timeout=10"));
        c.send(&req)?;
        let quiet = c.expect_quiet(
            Duration::from_millis(500),
            &req,
            "a long poll with nothing new (timeout=10), half a second later",
        );
        if let Err(f) = quiet {
            let r = c.response("GET", &req).map_err(|_| f.clone())?;
            if r.status == 200
                && poll_body(&r.body).is_ok_and(|(e, _)| e.iter().any(|e| e.id > since))
            {
                continue; // an event did come meanwhile
            }
            return Err(Failure::new(format!(
                "a long poll with nothing new after event {since} (timeout=10) was answered at \
                 once with status {}, instead of being held until an event comes",
                r.status
            ))
            .sent(&req)
            .received(&[&r.head[..], &r.body].concat()));
        }
        let data = data(ctx, "long poll wake-up");
        let id = publish(ctx, &data)?;
        let what =
            format!("a held long poll, after event {id} was published on another connection");
        let r = c
            .response_within("GET", &req, promptly(ctx))
            .map_err(|f| f.during(&what))?;
        let (events, _) = expect_poll_answer(&r, &req, &what)?;
        expect_events(&events, &[Event { id, data }], &req, &what)?;
        return Ok(());
    }
    Ok(())
}

fn long_poll_cursor(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let events = publish_some(ctx, &mut c, 2, "missed while reconnecting")?;
    let since = events[0].id - 1;
    let req = get("GET", &format!("/longpoll?since={since}&timeout=10"));
    let what = format!(
        "GET /longpoll?since={since}&timeout=10 when events {} and {} already exist",
        events[0].id, events[1].id
    );
    c.send(&req)?;
    let r = c
        .response_within("GET", &req, promptly(ctx))
        .map_err(|f| f.during(&format!("{what} (it should be answered at once)")))?;
    let (got, _) = expect_poll_answer(&r, &req, &what)?;
    expect_events(&got, &events, &req, &what)
}

fn long_poll_times_out(ctx: &Ctx) -> Result<(), Failure> {
    for _ in 0..3 {
        let since = latest(ctx)?;
        let mut c = HttpConn::open(ctx)?;
        let req = get("GET", &format!("/longpoll?since={since}&timeout=1"));
        let what = "a long poll with timeout=1 and nothing new";
        let asked = Instant::now();
        c.send(&req)?;
        let r = c
            .response_within("GET", &req, Duration::from_secs(1) + ctx.timeout)
            .map_err(|f| {
                f.during(&format!(
                    "{what}, waited 1 s + {} s",
                    ctx.timeout.as_secs_f32()
                ))
            })?;
        let took = asked.elapsed();
        if r.status == 200 && poll_body(&r.body).is_ok_and(|(e, _)| e.iter().any(|e| e.id > since))
        {
            continue; // a ticker's event came meanwhile
        }
        expect_status(&r, 204, &req, what)?;
        if took < Duration::from_millis(800) {
            return Err(Failure::new(format!(
                "{what}: the 204 came after {} ms, not after the 1 s asked for",
                took.as_millis()
            ))
            .sent(&req)
            .received(&r.head));
        }
        let what = "GET /poll on the same connection, after the long poll's 204";
        let req = get("GET", "/poll");
        c.send(&req).map_err(|f| f.during(what))?;
        let r = c.response("GET", &req).map_err(|f| f.during(what))?;
        expect_poll_answer(&r, &req, what)?;
        return Ok(());
    }
    Ok(())
}

// ---- Streaming ------------------------------------------------------------------------------------

fn stream_is_live(ctx: &Ctx) -> Result<(), Failure> {
    let (_, mut s, sent) = open_stream(ctx, "/stream", "HTTP/1.1", "")?;
    let mut publisher = HttpConn::open(ctx)?;
    for i in 0..5 {
        let data = data(ctx, &format!("live event {}", i + 1));
        let id = publish_on(&mut publisher, &data)?;
        let what = format!(
            "GET /stream, event {id} ({} of 5, each published once the one before arrived)",
            i + 1
        );
        expect_stream_event(
            &mut s,
            &Event { id, data },
            Instant::now() + promptly(ctx),
            &sent,
            &what,
        )?;
    }
    Ok(())
}

fn chunk_framing(ctx: &Ctx) -> Result<(), Failure> {
    for target in ["/stream", "/events"] {
        let (head, mut s, sent) = open_stream(ctx, target, "HTTP/1.1", "")?;
        if !head.is_chunked() {
            return Err(Failure::new(format!(
                "GET {target} (HTTP/1.1): the stream is not `Transfer-Encoding: chunked`; sent \
                 unframed, its end cannot be told from a broken connection"
            ))
            .sent(&sent)
            .expected(b"Transfer-Encoding: chunked\r\n")
            .received(&head.head));
        }
        let mut publisher = HttpConn::open(ctx)?;
        // Sizes that need several hexadecimal digits, with letters among them.
        for len in [10usize, 26, 171, 1000, 3000] {
            let mut data = data(ctx, &format!("chunk of {len}:"));
            while data.len() < len {
                data.push(char::from(b'a' + (data.len() % 26) as u8));
            }
            let id = publish_on(&mut publisher, &data)?;
            let want = Event { id, data };
            let what = format!("GET {target}, event {id} with {len} bytes of data");
            let deadline = Instant::now() + ctx.timeout;
            if target == "/stream" {
                expect_stream_event(&mut s, &want, deadline, &sent, &what)?;
            } else {
                expect_sse_event(&mut s, &want, deadline, &sent, &what)?;
            }
        }
    }
    Ok(())
}

fn http10_stream(ctx: &Ctx) -> Result<(), Failure> {
    let (head, mut s, sent) = open_stream(ctx, "/stream", "HTTP/1.0", "")?;
    if head.has_token("transfer-encoding", "chunked") {
        return Err(Failure::new(
            "GET /stream (HTTP/1.0): the answer is chunked, a coding HTTP/1.0 does not know: \
             the client would show the chunk sizes as data",
        )
        .sent(&sent)
        .received(&head.head));
    }
    let data = data(ctx, "for an HTTP/1.0 client");
    let id = publish(ctx, &data)?;
    let what = format!("GET /stream (HTTP/1.0), event {id}, unframed");
    expect_stream_event(
        &mut s,
        &Event { id, data },
        Instant::now() + ctx.timeout,
        &sent,
        &what,
    )
}

// ---- Server-Sent Events ----------------------------------------------------------------------------

fn sse_content_type(ctx: &Ctx) -> Result<(), Failure> {
    let (head, _, sent) = open_stream(ctx, "/events", "HTTP/1.1", "Accept: text/event-stream\r\n")?;
    let ctype = head.header("content-type").unwrap_or("");
    if ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("text/event-stream")
    {
        return Ok(());
    }
    Err(Failure::new(format!(
        "GET /events: the Content-Type is {ctype:?}, and EventSource takes only text/event-stream"
    ))
    .sent(&sent)
    .expected(b"Content-Type: text/event-stream\r\n")
    .received(&head.head))
}

fn sse_retry(ctx: &Ctx) -> Result<(), Failure> {
    let (_, mut s, sent) = open_stream(ctx, "/events", "HTTP/1.1", "")?;
    let what = "GET /events, the start of the stream";
    let deadline = Instant::now() + ctx.timeout;
    let first = s.line(deadline, what).map_err(|f| f.sent(&sent))?;
    let second = s.line(deadline, what).map_err(|f| f.sent(&sent))?;
    let first = first.unwrap_or_default();
    let ok = first
        .strip_prefix(b"retry: ")
        .map(|v| v.strip_suffix(b"\n").unwrap_or(v))
        .is_some_and(|v| !v.is_empty() && v.iter().all(u8::is_ascii_digit))
        && second.as_deref() == Some(b"\n");
    if ok {
        return Ok(());
    }
    Err(s
        .evidence(Failure::new(format!(
            "{what}: it does not start with `retry: MS` and a blank line"
        )))
        .sent(&sent)
        .expected(b"retry: 2000\n\n"))
}

fn sse_ids(ctx: &Ctx) -> Result<(), Failure> {
    let (_, mut s, sent) = open_stream(ctx, "/events", "HTTP/1.1", "")?;
    let mut publisher = HttpConn::open(ctx)?;
    for i in 0..2 {
        let data = data(ctx, &format!("sse event {}", i + 1));
        let id = publish_on(&mut publisher, &data)?;
        let what = format!("GET /events, event {id}");
        expect_sse_event(
            &mut s,
            &Event { id, data },
            Instant::now() + ctx.timeout,
            &sent,
            &what,
        )?;
    }
    Ok(())
}

fn sse_blank_line(ctx: &Ctx) -> Result<(), Failure> {
    let (_, mut s, sent) = open_stream(ctx, "/events", "HTTP/1.1", "")?;
    let data = data(ctx, "one event, then silence");
    let id = publish(ctx, &data)?;
    let what = format!("GET /events, event {id}, the only one published");
    let deadline = Instant::now() + ctx.timeout;
    loop {
        let block = next_sse_block(&mut s, deadline, &sent, &what)?;
        if block.data.as_deref() == Some(data.as_str()) {
            return Ok(());
        }
    }
}

fn sse_resume(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let events = publish_some(ctx, &mut c, 3, "before the reconnection")?;
    let seen = events[0].id;
    let last = events[2].id;
    let (_, mut s, sent) = open_stream(
        ctx,
        &format!("/events?since={last}"),
        "HTTP/1.1",
        &format!("Last-Event-ID: {seen}\r\n"),
    )?;
    let what = format!(
        "GET /events with Last-Event-ID: {seen} (and since={last}, which it overrides): the events after {seen}"
    );
    let deadline = Instant::now() + ctx.timeout;
    for want in &events[1..] {
        let mut got = next_sse_event(&mut s, seen + 1, deadline, &sent, &what)?;
        // A ticker's events may come between ours: skip any id we did not publish.
        while got != *want && !events.iter().any(|e| e.id == got.id) {
            got = next_sse_event(&mut s, seen + 1, deadline, &sent, &what)?;
        }
        if got != *want {
            return Err(s
                .evidence(Failure::new(format!(
                    "{what}: expected event {} ({:?}) next, received event {}",
                    want.id, want.data, got.id
                )))
                .sent(&sent)
                .expected(format!("id: {}\ndata: {}\n\n", want.id, want.data).as_bytes()));
        }
    }
    Ok(())
}

// ---- Publishing --------------------------------------------------------------------------------------

fn publish_refuses_line_breaks(ctx: &Ctx) -> Result<(), Failure> {
    let start = latest(ctx)?;
    let cases: [(&str, &[u8]); 4] = [
        ("data with a LF", b"first line\nsecond line"),
        ("data with a CR", b"first part\rsecond part"),
        ("data with CRLF at the end", b"a line\r\n"),
        ("data that is not UTF-8", b"caf\xe9 \xff"),
    ];
    for (what, body) in cases {
        let mut c = HttpConn::open(ctx)?;
        let req = post("/api/publish", body);
        let what = format!("POST /api/publish of {what}");
        c.send(&req)?;
        let r = c.response("POST", &req).map_err(|f| f.during(&what))?;
        expect_status(&r, 400, &req, &what)?;
    }
    let (events, _) = poll_on(&mut HttpConn::open(ctx)?, Some(start))?;
    if let Some(e) = events.iter().find(|e| e.data.contains(['\n', '\r'])) {
        return Err(Failure::new(format!(
            "event {} holds a line break: a refused publish still became an event",
            e.id
        ))
        .received(e.data.as_bytes()));
    }
    Ok(())
}

fn publish_limit(ctx: &Ctx) -> Result<(), Failure> {
    let ok = "x".repeat(4096);
    publish(ctx, &ok).map_err(|f| f.during("publishing exactly 4,096 bytes (allowed)"))?;
    let big = "y".repeat(64 * 1024);
    let mut c = HttpConn::open(ctx)?;
    let req = post("/api/publish", big.as_bytes());
    let shown = &req[..200].to_vec();
    let what = "POST /api/publish of 64 KiB of data (the limit is 4,096 bytes)";
    // Write from another thread: a server that answers early and stops reading must not block us.
    let writer = c
        .stream
        .try_clone()
        .map_err(|e| Failure::new(format!("grader: {e}")))?;
    let sending = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut &writer, &req);
    });
    let r = c.response("POST", shown).map_err(|f| f.during(what));
    let _ = c.stream.shutdown(std::net::Shutdown::Both);
    let _ = sending.join();
    expect_status(&r?, 413, shown, what)
}

// ---- A slow reader, and clients that leave -----------------------------------------------------------

/// A stream client that reads nothing: a tiny receive buffer, so the server's writes to it
/// block (or queue) soon.
fn silent_stream_client(ctx: &Ctx) -> Result<std::net::TcpStream, Failure> {
    let addr = ctx.addr("http");
    let grader =
        |e: std::io::Error| Failure::new(format!("grader: a socket for a silent client: {e}"));
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(grader)?;
    sock.set_recv_buffer_size(4096).map_err(grader)?;
    sock.connect_timeout(&addr.into(), ctx.timeout)
        .map_err(|e| Failure::new(format!("could not connect to {addr}: {e}")))?;
    let stream: std::net::TcpStream = sock.into();
    super::wire::send(&stream, b"GET /stream HTTP/1.1\r\nHost: grader\r\n\r\n")?;
    Ok(stream)
}

/// What the flood beside a silent client measured.
struct Flood {
    published: usize,
    bytes: usize,
    rss_growth: u64,
    rss_before: u64,
    rss_peak: u64,
}

/// How long the flood lasts at most, and how much it publishes at most.
const FLOOD_TIME: Duration = Duration::from_secs(5);
const FLOOD_BYTES: usize = 64 << 20;
const EVENT_BYTES: usize = 4000;
/// Requests per write, on each of several connections at once: a server's small answers held
/// back by Nagle's algorithm (until our delayed ACK) then cost one wait per round, not per
/// event, while the reading client is read often enough to keep up.
const BATCH: usize = 32;
/// Publishing connections, written to in turn.
const PUBLISHERS: usize = 8;

/// The `"id"` of an event line, found quickly (the flood's lines are the server's JSON, and
/// their data holds no quotes): the full [`Json`] reader is too slow for 60 MiB.
fn quick_id(line: &[u8]) -> Option<u64> {
    let at = line
        .windows(4)
        .enumerate()
        .find(|&(i, w)| w == b"\"id\"" && (i == 0 || line[i - 1] != b'\\'))?
        .0;
    let rest = &line[at + 4..];
    let rest = &rest[rest.iter().position(|b| !b" \t:".contains(b))?..];
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Publish big events as fast as the server takes them, for a few seconds, while one stream
/// client reads nothing and another reads everything; the watcher must keep up, publishing
/// must never stop, and the server's memory is sampled. Stops early once memory has grown past
/// `stop_at`.
fn flood_beside_a_silent_client(ctx: &Ctx, stop_at: u64) -> Result<Flood, Failure> {
    let pid = procfs::server_pid(ctx.addr("http")).ok();
    let rss = || pid.and_then(|p| procfs::rss_bytes(p).ok()).unwrap_or(0);
    let silent = silent_stream_client(ctx)?;
    let (_, mut watcher, watch_req) = open_stream(ctx, "/stream", "HTTP/1.1", "")?;
    std::thread::sleep(Duration::from_millis(100));
    let before = rss();
    let mut peak = before;
    let mut publishers = (0..PUBLISHERS)
        .map(|_| HttpConn::open(ctx))
        .collect::<Result<Vec<_>, _>>()?;
    let filler = "z".repeat(EVENT_BYTES - 40);
    let (mut published, mut bytes, mut last_id, mut seen) = (0usize, 0usize, 0u64, 0u64);
    // Take what the watcher has, without waiting.
    let drain = |watcher: &mut Streaming, seen: &mut u64| -> Result<(), Failure> {
        let soon = Instant::now() + Duration::from_millis(1);
        while let Next::Line(line) = watcher
            .next(soon, "the stream of a client that reads")
            .map_err(|f| f.sent(&watch_req))?
        {
            *seen = (*seen).max(quick_id(&line).unwrap_or(0));
        }
        Ok(())
    };
    let start = Instant::now();
    while start.elapsed() < FLOOD_TIME && bytes < FLOOD_BYTES && peak - before <= stop_at {
        let what = format!(
            "publishing {BATCH} events in one write on each of {PUBLISHERS} connections, after \
             {published} ({} MiB), beside a stream client that reads nothing",
            bytes >> 20
        );
        let mut first = Vec::new();
        for publisher in &mut publishers {
            let batch: Vec<u8> = (0..BATCH)
                .flat_map(|i| {
                    post(
                        "/api/publish",
                        format!("flood {} {filler}", published + i).as_bytes(),
                    )
                })
                .collect();
            publisher.send(&batch).map_err(|f| f.during(&what))?;
            published += BATCH;
            bytes += BATCH * EVENT_BYTES;
            first = batch[..200].to_vec();
            drain(&mut watcher, &mut seen)?;
        }
        for publisher in &mut publishers {
            for _ in 0..BATCH {
                let r = publisher.response("POST", &first).map_err(|f| {
                    f.during(&format!(
                        "{what}: the server stopped answering, stuck writing to the silent client?"
                    ))
                })?;
                expect_status(&r, 200, &first, &what)?;
                last_id = last_id.max(quick_id(&r.body).unwrap_or(0));
            }
            drain(&mut watcher, &mut seen)?;
        }
        peak = peak.max(rss());
    }
    // The watcher gets everything, promptly.
    let deadline = Instant::now() + ctx.timeout;
    while seen < last_id {
        let what = format!(
            "a stream client that reads, beside one that does not: it has event {seen}, the \
             last published is {last_id}"
        );
        let line = watcher
            .line(deadline, &what)
            .map_err(|f| f.sent(&watch_req))?;
        let Some(line) = line else {
            return Err(watcher.evidence(Failure::new(format!("{what}; its stream ended"))));
        };
        seen = seen.max(quick_id(&line).unwrap_or(0));
    }
    peak = peak.max(rss());
    drop(silent);
    Ok(Flood {
        published,
        bytes,
        rss_growth: peak.saturating_sub(before),
        rss_before: before,
        rss_peak: peak,
    })
}

fn slow_reader_does_not_stall(ctx: &Ctx) -> Result<(), Failure> {
    flood_beside_a_silent_client(ctx, u64::MAX).map(|_| ())
}

/// How much the server's memory may grow while one client reads nothing: the history of 1,000
/// events of 4 KB, a 1 MiB queue, and room to spare.
const RSS_BOUND: u64 = 20 << 20;

fn slow_reader_memory(ctx: &Ctx) -> Result<(), Failure> {
    procfs::server_pid(ctx.addr("http")).map_err(Failure::new)?;
    let flood = flood_beside_a_silent_client(ctx, RSS_BOUND)
        .map_err(|f| f.during("while measuring memory with a client that reads nothing"))?;
    if flood.rss_growth > RSS_BOUND {
        return Err(Failure::new(format!(
            "{} events ({} MiB) were published while a stream client read nothing; the server's \
             resident memory grew by {} MiB (from {} to {} MiB), more than the {} MiB allowed",
            flood.published,
            flood.bytes >> 20,
            flood.rss_growth >> 20,
            flood.rss_before >> 20,
            flood.rss_peak >> 20,
            RSS_BOUND >> 20
        )));
    }
    Ok(())
}

fn abandoned_clients_are_released(ctx: &Ctx) -> Result<(), Failure> {
    const EACH: usize = 25;
    let pid = procfs::server_pid(ctx.addr("http")).map_err(Failure::new)?;
    let baseline = procfs::fd_count(pid).map_err(Failure::new)?;
    let since = latest(ctx)?;
    let mut conns = Vec::new();
    for (target, n) in [
        (format!("/longpoll?since={since}&timeout=60"), EACH),
        (format!("/stream?since={since}"), EACH),
    ] {
        for _ in 0..n {
            let c = HttpConn::open(ctx)?;
            c.send(&get("GET", &target))?;
            conns.push(c.stream);
        }
    }
    // Let the server take them all in.
    let held = baseline + 2 * EACH;
    let deadline = Instant::now() + ctx.timeout;
    while procfs::fd_count(pid).unwrap_or(0) < held && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    for s in conns {
        super::wire::reset(s);
    }
    procfs::wait_for_fd_count(pid, baseline, Duration::from_secs(3)).map_err(|now| {
        Failure::new(format!(
            "{EACH} clients holding a long poll (timeout=60) and {EACH} with an idle stream reset \
             their connections; 3 s later the server holds {now} open file descriptors, {} more \
             than the {baseline} it had before",
            now.saturating_sub(baseline)
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_reads_events_with_escapes_whitespace_and_any_member_order() {
        let body = br#" { "cursor" : 7 , "events" : [ {"data":"a \"q\" \\ \u00e9 \ud83d\ude00 \t","id":7} ] } "#;
        let (events, cursor) = poll_body(body).unwrap();
        assert_eq!(cursor, 7);
        assert_eq!(
            events,
            vec![Event {
                id: 7,
                data: "a \"q\" \\ é 😀 \t".into()
            }]
        );
    }

    #[test]
    fn json_refuses_what_a_client_could_not_parse() {
        for bad in [
            &br#"{"data":"a "quote" inside"}"#[..],
            b"{\"data\":\"raw\ttab\"}",
            br#"{"id":1,}"#,
            br#"{"id":1} trailing"#,
            br#"{"data":"\ud83d"}"#,
            br#"{"id":+1}"#,
        ] {
            assert!(
                Json::parse(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn quick_id_finds_the_id_member_only() {
        assert_eq!(quick_id(br#"{"data":"x","id": 42}"#), Some(42));
        assert_eq!(quick_id(br#"{"data":"\"id\":9","id":3}"#), Some(3));
        assert_eq!(quick_id(br#"{"data":"x"}"#), None);
    }
}
