//! Checks for lesson 07, an HTTP/1.1 server (lessons/07-http-server/main.rs says what it serves):
//!
//! - `GET /` answers 200 with a page; `POST /api/echo` answers 200 with the request body;
//! - a path the server does not have is a 404; a path it has, with a method it does not take,
//!   is a 405 with an `Allow` header; a method nobody implements is a 501;
//! - bad input gets its own status: 400 malformed, 413 body too large, 414 target too long,
//!   431 headers too large, 505 an HTTP version other than 1.x;
//! - connections stay open between requests (HTTP/1.1), pipelined requests are answered in
//!   order, bodies come by `Content-Length` or chunked, HEAD gets no body, HTTP/1.0 gets a close;
//! - a head that never ends gets 408 (or a close) after a header timeout.
//!
//! Nothing here uses `src/http`: the requests are written out by hand below, and responses are
//! read by [`HttpConn`], a deliberately small reader (status line, header fields up to the
//! blank line, a body by Content-Length, chunked or until the close), with a deadline on every
//! read. Responses may end their lines with CRLF or a bare LF.

use super::wire::{self, connect, send};
use super::{Check, Ctx, Failure, Suite};
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 7,
    listeners: &["http"],
    checks: &[
        Check {
            name: "closes_keep_alive_connections",
            misconception: "In HTTP/1.1 a connection stays open after a response unless a side said \
                            `Connection: close`: the next request comes on the same connection.",
            run: keep_alive,
        },
        Check {
            name: "answers_only_the_first_pipelined_request",
            misconception: "A client may send several requests without waiting (pipelining), and one read \
                            can bring them all: after answering one, look for the next in what is buffered.",
            run: pipelined_all_answered,
        },
        Check {
            name: "answers_pipelined_requests_out_of_order",
            misconception: "Responses carry no request id: the client matches them to its requests by order \
                            alone, so pipelined requests are answered strictly in the order they came.",
            run: pipelined_in_order,
        },
        Check {
            name: "assumes_one_read_is_one_request",
            misconception: "A read returns whatever bytes have arrived, here one byte at a time: buffer them \
                            until the blank line ends the head, and the body until it is complete.",
            run: one_byte_at_a_time,
        },
        Check {
            name: "ignores_content_length",
            misconception: "A body is exactly Content-Length bytes, which may take several reads: read all of \
                            them, and not one more, since what follows is the next request.",
            run: content_length_body,
        },
        Check {
            name: "rejects_chunked_request_bodies",
            misconception: "HTTP/1.1 servers must accept `Transfer-Encoding: chunked` bodies: hexadecimal \
                            sizes, each chunk followed by CRLF, a zero-size chunk and a blank line at the end.",
            run: chunked_body,
        },
        Check {
            name: "sends_a_body_with_head",
            misconception: "HEAD is GET without the body: the same status and headers (Content-Length \
                            included), then nothing. Body bytes would be read as the next response.",
            run: head_request,
        },
        Check {
            name: "wrong_status_for_bad_input",
            misconception: "Each refusal has its status, so the client knows what to fix: 400 malformed, \
                            413 body too large, 414 target too long, 431 headers too large, 501 method not \
                            implemented, 505 version not supported. Then the server carries on.",
            run: bad_input_statuses,
        },
        Check {
            name: "no_allow_header_on_405",
            misconception: "A 405 (the path exists, the method does not apply) must say which methods do, \
                            in an Allow header (RFC 9110 15.5.6).",
            run: allow_on_405,
        },
        Check {
            name: "has_no_header_timeout",
            misconception: "A client that sends half a head and then trickles or waits (slowloris) holds a \
                            connection forever unless the head has a deadline, counted from its first byte: \
                            past it, answer 408 and close.",
            run: slowloris,
        },
        Check {
            name: "http10_client_kept_waiting",
            misconception: "An HTTP/1.0 request without `Connection: keep-alive` gets one response, then the \
                            server closes: a 1.0 client may wait for the close to know the response ended.",
            run: http10_closes,
        },
        Check {
            name: "dies_on_malformed_input",
            misconception: "Any byte sequence can arrive. A request the parser cannot make sense of ends that \
                            connection (with a 400), never the server.",
            run: garbage_does_not_kill,
        },
        Check {
            name: "keeps_reading_after_a_framing_error",
            misconception: "After a 400, 413, 414 or 431 the server no longer knows where the next request \
                            starts (RFC 9112 6.3: after a framing error the server answers and closes): it must \
                            close after the refusal, or the rest of a bad request is read as a new one.",
            run: closes_after_refusing,
        },
    ],
};

// ---- Requests, written out by hand -------------------------------------------------------------

/// A request without a body.
fn get(method: &str, target: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: grader\r\n\r\n").into_bytes()
}

/// A POST with a Content-Length body.
fn post(target: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: grader\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

/// A path no server of the lesson has.
const MISSING: &str = "/grader-no-such-page";

fn ordinal(i: usize) -> &'static str {
    ["1st", "2nd", "3rd", "4th", "5th"]
        .get(i)
        .copied()
        .unwrap_or("next")
}

// ---- Responses, read by a small reader of our own ----------------------------------------------

/// One response off the wire.
struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`, as the status line said.
    version: String,
    status: u16,
    /// Field names lowercased, values trimmed.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    /// The head as it came, for evidence.
    head: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// The start of the status line we wanted, for the evidence: `HTTP/1.1 405 `.
    fn status_line_with(&self, status: u16) -> Vec<u8> {
        format!("{} {status} ", self.version).into_bytes()
    }
}

/// How a read for more bytes ended.
enum More {
    Bytes,
    Eof,
    Timeout,
    Failed(io::Error),
}

/// A connection to the server and the bytes read from it but not used yet.
struct HttpConn<'a> {
    ctx: &'a Ctx,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// Longest response head we accept.
const MAX_HEAD: usize = 64 * 1024;

impl<'a> HttpConn<'a> {
    fn open(ctx: &'a Ctx) -> Result<Self, Failure> {
        Ok(HttpConn {
            ctx,
            stream: connect(ctx, ctx.addr("http"))?,
            buf: Vec::new(),
        })
    }

    fn send(&self, bytes: &[u8]) -> Result<(), Failure> {
        send(&self.stream, bytes)
    }

    /// Read once more, waiting until `deadline` at most.
    fn more(&mut self, deadline: Instant) -> More {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return More::Timeout;
        }
        self.stream.set_read_timeout(Some(left)).ok();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            return match (&self.stream).read(&mut chunk) {
                Ok(0) => More::Eof,
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    More::Bytes
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if wire::timed_out(&e) => More::Timeout,
                Err(e) => More::Failed(e),
            };
        }
    }

    /// Read until `buf` holds at least `n` bytes; `what` names what is being read.
    fn need(&mut self, n: usize, deadline: Instant, what: &str) -> Result<(), Failure> {
        while self.buf.len() < n {
            self.more_or_fail(deadline, what)?;
        }
        Ok(())
    }

    /// Read more, or fail saying why nothing more came.
    fn more_or_fail(&mut self, deadline: Instant, what: &str) -> Result<(), Failure> {
        let why = match self.more(deadline) {
            More::Bytes => return Ok(()),
            More::Eof if self.buf.is_empty() && what == "a response" => {
                "the server closed the connection without answering".to_string()
            }
            More::Eof => format!("the server closed the connection in the middle of {what}"),
            More::Timeout if self.buf.is_empty() && what == "a response" => format!(
                "no response came within {} s",
                self.ctx.timeout.as_secs_f32()
            ),
            More::Timeout => format!(
                "{what} stopped coming: nothing more arrived within {} s",
                self.ctx.timeout.as_secs_f32()
            ),
            More::Failed(e) => format!("the connection failed while waiting for {what}: {e}"),
        };
        Err(Failure::new(why).received(&self.buf))
    }

    /// The end of the line starting at `from` (the index after its `\n`), reading as needed.
    fn line_end(&mut self, from: usize, deadline: Instant, what: &str) -> Result<usize, Failure> {
        let mut searched = from;
        loop {
            if let Some(i) = self.buf[searched..].iter().position(|&b| b == b'\n') {
                return Ok(searched + i + 1);
            }
            searched = self.buf.len();
            if searched - from > MAX_HEAD {
                return Err(Failure::new(format!(
                    "{what}: a line longer than {MAX_HEAD} bytes came back"
                ))
                .received(&self.buf));
            }
            self.more_or_fail(deadline, what)?;
        }
    }

    /// Read one response to a request made with `method`; interim (1xx) responses are skipped.
    /// `sent` is shown as evidence if it goes wrong.
    fn response(&mut self, method: &str, sent: &[u8]) -> Result<Response, Failure> {
        self.read_response(method).map_err(|f| match f.sent {
            None => f.sent(sent),
            Some(_) => f,
        })
    }

    fn read_response(&mut self, method: &str) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        loop {
            let r = self.read_one(method, deadline)?;
            if !(100..200).contains(&r.status) {
                return Ok(r);
            }
        }
    }

    fn read_one(&mut self, method: &str, deadline: Instant) -> Result<Response, Failure> {
        // The head: lines until an empty one.
        let mut lines: Vec<(usize, usize)> = Vec::new();
        let mut at = 0;
        loop {
            let end = self.line_end(at, deadline, "a response")?;
            let line = trim_eol(&self.buf[at..end]);
            if line.is_empty() {
                if lines.is_empty() {
                    at = end; // tolerate an empty line before a status line
                    continue;
                }
                at = end;
                break;
            }
            lines.push((at, end));
            at = end;
            if at > MAX_HEAD {
                return Err(
                    Failure::new(format!("a response head longer than {MAX_HEAD} bytes"))
                        .received(&self.buf),
                );
            }
        }
        let head = self.buf[..at].to_vec();
        let not_a_status_line = || {
            Failure::new("the response does not start with a status line such as `HTTP/1.1 200 OK`")
                .expected(b"HTTP/1.1 200 OK\r\n")
                .received(&head)
        };
        let (start, end) = lines[0];
        let status_line = String::from_utf8_lossy(trim_eol(&self.buf[start..end])).into_owned();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("").to_string();
        let code = parts.next().unwrap_or("");
        if !version.starts_with("HTTP/1.") || code.len() != 3 {
            return Err(not_a_status_line());
        }
        let status: u16 = code.parse().map_err(|_| not_a_status_line())?;
        let mut headers = Vec::new();
        for &(start, end) in &lines[1..] {
            let line = String::from_utf8_lossy(trim_eol(&self.buf[start..end])).into_owned();
            let Some((name, value)) = line.split_once(':') else {
                return Err(Failure::new(format!(
                    "a header line without a colon in the response: {line:?}"
                ))
                .received(&head));
            };
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_string()));
        }
        let mut response = Response {
            version,
            status,
            headers,
            body: Vec::new(),
            head,
        };
        self.buf.drain(..at);

        // The body (RFC 9112 6.3): none after HEAD, 1xx, 204 and 304; else chunked, else
        // Content-Length, else until the server closes.
        if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(response);
        }
        let what = format!("the body of a {status} response");
        let fail = |f: Failure, head: &[u8]| {
            let received = [head, f.received.as_deref().unwrap_or_default()].concat();
            f.received(&received)
        };
        if response.has_token("transfer-encoding", "chunked") {
            response.body = self
                .chunked(deadline, &what)
                .map_err(|f| fail(f, &response.head))?;
        } else if let Some(length) = response.header("content-length") {
            let Ok(n) = length.parse::<usize>() else {
                return Err(Failure::new(format!(
                    "the response's Content-Length is not a number: {length:?}"
                ))
                .received(&response.head));
            };
            self.need(n, deadline, &what)
                .map_err(|f| fail(f, &response.head))?;
            response.body = self.buf.drain(..n).collect();
        } else {
            loop {
                match self.more(deadline) {
                    More::Bytes => {}
                    More::Eof => break,
                    More::Timeout => {
                        return Err(fail(
                            Failure::new(format!(
                                "a response with neither Content-Length nor chunked coding ends when the \
                                 server closes, but the connection was still open after {} s",
                                self.ctx.timeout.as_secs_f32()
                            ))
                            .received(&self.buf),
                            &response.head,
                        ))
                    }
                    More::Failed(e) => {
                        return Err(fail(
                            Failure::new(format!("the connection failed during {what}: {e}"))
                                .received(&self.buf),
                            &response.head,
                        ))
                    }
                }
            }
            response.body = std::mem::take(&mut self.buf);
        }
        Ok(response)
    }

    /// A chunked body: `size[;ext] CRLF data CRLF` ... `0 CRLF` trailers `CRLF`.
    fn chunked(&mut self, deadline: Instant, what: &str) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        loop {
            let end = self.line_end(0, deadline, what)?;
            let line = String::from_utf8_lossy(trim_eol(&self.buf[..end])).into_owned();
            let hex = line.split(';').next().unwrap_or("").trim();
            let Ok(size) = usize::from_str_radix(hex, 16) else {
                return Err(Failure::new(format!(
                    "{what}: a chunk size line that is not hexadecimal: {line:?}"
                ))
                .received(&self.buf));
            };
            self.buf.drain(..end);
            if size == 0 {
                // Trailers, up to an empty line.
                loop {
                    let end = self.line_end(0, deadline, what)?;
                    let empty = trim_eol(&self.buf[..end]).is_empty();
                    self.buf.drain(..end);
                    if empty {
                        return Ok(body);
                    }
                }
            }
            self.need(size, deadline, what)?;
            body.extend(self.buf.drain(..size));
            let end = self.line_end(0, deadline, what)?;
            if !trim_eol(&self.buf[..end]).is_empty() {
                return Err(Failure::new(format!(
                    "{what}: a chunk of {size} bytes is not followed by CRLF"
                ))
                .received(&self.buf));
            }
            self.buf.drain(..end);
        }
    }

    /// Expect the server to close now, with nothing more sent.
    fn expect_close(&mut self, sent: &[u8], context: &str) -> Result<(), Failure> {
        if !self.buf.is_empty() {
            return Err(Failure::new(format!(
                "{context}, {} more bytes came that no request asked for",
                self.buf.len()
            ))
            .sent(sent)
            .expected(b"")
            .received(&self.buf));
        }
        self.stream.set_read_timeout(Some(self.ctx.timeout)).ok();
        wire::expect_eof(self.ctx, &self.stream, sent, context)
    }

    /// Expect the server to close after a refusal: a FIN, or a reset (a server that closes with
    /// our unread bytes in its buffer resets, RFC 9112 9.6; the refusal is read by then). A
    /// response to what followed, or a connection still open, is the mistake.
    fn expect_closed_after_refusal(&mut self, sent: &[u8], context: &str) -> Result<(), Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        loop {
            if !self.buf.is_empty() {
                return Err(Failure::new(format!(
                    "{context}, the server kept reading: it answered the bytes that followed \
                     the refused request as a new request, instead of closing"
                ))
                .sent(sent)
                .expected(b"")
                .received(&self.buf));
            }
            match self.more(deadline) {
                More::Bytes => {}
                More::Eof | More::Failed(_) => return Ok(()),
                More::Timeout => {
                    return Err(Failure::new(format!(
                        "{context}, the connection was still open {} s later: the server waits for \
                         a next request it can no longer find",
                        self.ctx.timeout.as_secs_f32()
                    ))
                    .sent(sent))
                }
            }
        }
    }

    /// Expect nothing more for a short while: bytes here would be a body nobody asked for.
    fn expect_quiet(&mut self, wait: Duration, sent: &[u8], context: &str) -> Result<(), Failure> {
        let deadline = Instant::now() + wait;
        while self.buf.is_empty() {
            match self.more(deadline) {
                More::Bytes => {}
                _ => break,
            }
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        Err(Failure::new(format!(
            "{context}, {} bytes came that no request asked for",
            self.buf.len()
        ))
        .sent(sent)
        .expected(b"")
        .received(&self.buf))
    }
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Expect `status`; the failure says what came instead.
fn expect_status(r: &Response, status: u16, sent: &[u8], what: &str) -> Result<(), Failure> {
    if r.status == status {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{what}: expected status {status}, received {}",
        r.status
    ))
    .sent(sent)
    .expected(&r.status_line_with(status))
    .received(&r.head))
}

/// Expect a 200 carrying exactly `body`.
fn expect_echo(r: &Response, body: &[u8], sent: &[u8], what: &str) -> Result<(), Failure> {
    expect_status(r, 200, sent, what)?;
    if r.body == body {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{what}: the echoed body differs from the {} bytes sent ({} came back)",
        body.len(),
        r.body.len()
    ))
    .sent(sent)
    .expected(body)
    .received(&r.body))
}

/// One more request on the same connection after `after`: an echo, which must come back.
fn still_usable(c: &mut HttpConn, after: &str) -> Result<(), Failure> {
    let body = format!("still here after {after}");
    let req = post("/api/echo", body.as_bytes());
    let context = format!("a POST /api/echo on the same connection, after {after}");
    c.send(&req).map_err(|f| f.during(&context))?;
    let r = c.response("POST", &req).map_err(|f| f.during(&context))?;
    expect_echo(&r, body.as_bytes(), &req, &context)
}

/// A fresh connection's `GET /` still gets a 200: the server is alive and accepting.
fn still_serving(ctx: &Ctx, after: &str) -> Result<(), Failure> {
    let context = format!("a new connection's GET /, after {after}");
    let mut c = HttpConn::open(ctx).map_err(|f| f.during(&context))?;
    let req = get("GET", "/");
    c.send(&req).map_err(|f| f.during(&context))?;
    let r = c.response("GET", &req).map_err(|f| f.during(&context))?;
    expect_status(&r, 200, &req, &context)
}

// ---- The checks ---------------------------------------------------------------------------------

fn keep_alive(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let req = get("GET", "/");
    c.send(&req)?;
    let r = c
        .response("GET", &req)
        .map_err(|f| f.during("a first GET /"))?;
    expect_status(&r, 200, &req, "a first GET /")?;
    let said_close = r.has_token("connection", "close");
    still_usable(&mut c, "a first request that did not ask to close").map_err(|f| {
        if said_close {
            f.during("the first response said `Connection: close` to an HTTP/1.1 request that did not ask for it")
        } else {
            f
        }
    })
}

/// The answer a request must get: what the request was, the status, and the body if it matters.
type Answer = (&'static str, u16, Option<&'static [u8]>);

/// Three requests in one write, and the answers they must get.
fn three_pipelined() -> (Vec<u8>, Vec<Answer>) {
    let first: &[u8] = b"first of three pipelined requests";
    let third: &[u8] = b"third of three pipelined requests";
    let sent = [
        post("/api/echo", first),
        get("GET", MISSING),
        post("/api/echo", third),
    ]
    .concat();
    let answers = vec![
        ("POST /api/echo", 200, Some(first)),
        ("GET /grader-no-such-page", 404, None),
        ("POST /api/echo", 200, Some(third)),
    ];
    (sent, answers)
}

fn pipelined_all_answered(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let (sent, answers) = three_pipelined();
    c.send(&sent)?;
    for i in 0..answers.len() {
        c.response("POST", &sent).map_err(|f| {
            f.during(&format!(
                "three requests in one write, {i} of them answered"
            ))
        })?;
    }
    Ok(())
}

fn pipelined_in_order(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let (sent, answers) = three_pipelined();
    c.send(&sent)?;
    for (i, (request, status, body)) in answers.iter().enumerate() {
        let what = format!(
            "three requests in one write, the {} response (to {request})",
            ordinal(i)
        );
        let r = c.response("POST", &sent).map_err(|f| f.during(&what))?;
        // Which request does it answer?
        let answers_which = answers
            .iter()
            .position(|(_, s, b)| *s == r.status && b.is_none_or(|b| b == r.body));
        if answers_which.is_some_and(|j| j != i) {
            let failure = Failure::new(format!(
                "{what}: it is the answer to the {} request",
                ordinal(answers_which.unwrap_or(0))
            ))
            .sent(&sent);
            return Err(match body {
                Some(body) => failure.expected(body).received(&r.body),
                None => failure
                    .expected(&r.status_line_with(*status))
                    .received(&r.head),
            });
        }
        match body {
            Some(body) => expect_echo(&r, body, &sent, &what)?,
            None => expect_status(&r, *status, &sent, &what)?,
        }
    }
    Ok(())
}

fn one_byte_at_a_time(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let body = b"a request sent one byte per write";
    let req = post("/api/echo", body);
    let what = "a POST /api/echo sent one byte per write";
    wire::send_in_pieces(&c.stream, &req, || 1, Duration::from_millis(2))
        .map_err(|f| f.during(what))?;
    let r = c.response("POST", &req).map_err(|f| f.during(what))?;
    expect_echo(&r, body, &req, what)
}

fn content_length_body(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    // A body that looks like a request: a server that does not read it answers it.
    let body = format!("GET {MISSING} HTTP/1.1\r\nHost: grader\r\n\r\n").into_bytes();
    let first = post("/api/echo", &body);
    let second_body = b"the request after the body";
    let second = post("/api/echo", second_body);
    // The head and part of the body in one write; the rest and the next request in another.
    let split = first.len() - body.len() + 10;
    let sent = [&first[..], &second].concat();
    c.send(&first[..split])?;
    thread::sleep(Duration::from_millis(50));
    c.send(&sent[split..])?;
    let what = format!(
        "a POST of {} body bytes, sent in two writes, then another request",
        body.len()
    );
    let r = c.response("POST", &sent).map_err(|f| f.during(&what))?;
    expect_echo(&r, &body, &sent, &what)?;
    let what = "the request after the body";
    let r = c.response("POST", &sent).map_err(|f| f.during(what))?;
    expect_echo(&r, second_body, &sent, what)
}

fn chunked_body(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let pieces: [&[u8]; 3] = [b"hello", b", a chunk of 26 bytes (1a)", b"!\r\n"];
    let mut req =
        b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in pieces {
        req.extend(format!("{:x}\r\n", piece.len()).bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let body = pieces.concat();
    c.send(&req)?;
    let what = "a chunked POST /api/echo (chunks of 5, 0x1a and 3 bytes)";
    let r = c.response("POST", &req).map_err(|f| f.during(what))?;
    expect_echo(&r, &body, &req, what)?;
    still_usable(&mut c, "a chunked body")
}

fn head_request(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let req = get("HEAD", "/");
    c.send(&req)?;
    let r = c.response("HEAD", &req).map_err(|f| f.during("HEAD /"))?;
    expect_status(&r, 200, &req, "HEAD /")?;
    if r.header("content-length").is_none() {
        return Err(Failure::new(
            "HEAD /: the response has no Content-Length: it carries the headers GET / would, \
             Content-Length included, only no body",
        )
        .sent(&req)
        .expected(b"Content-Length: ")
        .received(&r.head));
    }
    c.expect_quiet(
        Duration::from_millis(300),
        &req,
        "after the head of the response to HEAD /",
    )?;
    still_usable(&mut c, "HEAD /")
}

/// Send `request` from another thread in pieces, so that a server answering before the end is
/// read at once (and a server that stops reading cannot block us), and read the response.
fn send_big_and_read(ctx: &Ctx, request: &[u8], method: &str) -> Result<Response, Failure> {
    let mut c = HttpConn::open(ctx)?;
    let writer = c
        .stream
        .try_clone()
        .map_err(|e| Failure::new(format!("grader: {e}")))?;
    let bytes = request.to_vec();
    let sending = thread::spawn(move || {
        for piece in bytes.chunks(4096) {
            if (&writer).write_all(piece).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    let shown = &request[..request.len().min(200)];
    let response = c.response(method, shown);
    let _ = c.stream.shutdown(Shutdown::Both);
    let _ = sending.join();
    response
}

fn bad_input_statuses(ctx: &Ctx) -> Result<(), Failure> {
    let huge_target = format!(
        "GET /{} HTTP/1.1\r\nHost: grader\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let huge_headers = format!(
        "GET / HTTP/1.1\r\nHost: grader\r\nX-Filler: {}\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a request line without a target or version",
            b"NONSENSE\r\nHost: grader\r\n\r\n".to_vec(),
            400,
        ),
        ("a header section of 64 KiB", huge_headers.into_bytes(), 431),
        ("a request target of 64 KiB", huge_target.into_bytes(), 414),
        (
            "a Content-Length of 1,000,000,000",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: 1000000000\r\n\r\n"
                .to_vec(),
            413,
        ),
        (
            "HTTP/2.0 in the request line",
            b"GET / HTTP/2.0\r\nHost: grader\r\n\r\n".to_vec(),
            505,
        ),
        ("a method nobody implements", get("BREW", "/"), 501),
    ];
    for (what, request, status) in cases {
        let method = what_method(&request);
        let shown = &request[..request.len().min(200)];
        let r = send_big_and_read(ctx, &request, &method).map_err(|f| f.during(what))?;
        expect_status(&r, status, shown, what)?;
        still_serving(ctx, what)?;
    }
    Ok(())
}

fn what_method(request: &[u8]) -> String {
    let end = request.iter().position(|&b| b == b' ').unwrap_or(0);
    String::from_utf8_lossy(&request[..end]).into_owned()
}

fn allow_on_405(ctx: &Ctx) -> Result<(), Failure> {
    for (method, target, allowed) in [("GET", "/api/echo", "POST"), ("DELETE", "/", "GET")] {
        let what = format!("{method} {target}, which takes {allowed}");
        let mut c = HttpConn::open(ctx)?;
        let req = get(method, target);
        c.send(&req)?;
        let r = c.response(method, &req).map_err(|f| f.during(&what))?;
        expect_status(&r, 405, &req, &what)?;
        if !r.has_token("allow", allowed) {
            let why = match r.header("allow") {
                None => "the 405 has no Allow header".to_string(),
                Some(v) => format!("its Allow header, {v:?}, does not list {allowed}"),
            };
            return Err(Failure::new(format!("{what}: {why}"))
                .sent(&req)
                .expected(format!("Allow: {allowed}").as_bytes())
                .received(&r.head));
        }
    }
    Ok(())
}

/// How long a server may take to time out a head. A lesson server is started with a short
/// `--header-timeout` for grading; a default of 10 s is fine too.
const HEADER_TIMEOUT_BOUND: Duration = Duration::from_secs(30);

fn slowloris(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let head = b"GET / HTTP/1.1\r\nHost: grader\r\n";
    c.send(head)?;
    let mut sent = head.to_vec();
    // Then one byte every half second, never the blank line: a timer reset by every read
    // never fires.
    let trickle = b"X-Slowloris: a-byte-now-and-then\r\n";
    let start = Instant::now();
    let mut closed = false;
    while start.elapsed() < HEADER_TIMEOUT_BOUND && !closed {
        let tick = Instant::now() + Duration::from_millis(500);
        loop {
            match c.more(tick) {
                More::Bytes => continue,
                More::Timeout => break,
                More::Eof | More::Failed(_) => {
                    closed = true;
                    break;
                }
            }
        }
        if !c.buf.is_empty() || closed {
            break;
        }
        let byte = trickle[(sent.len() - head.len()) % trickle.len()];
        if (&c.stream).write_all(&[byte]).is_err() {
            closed = true;
        } else {
            sent.push(byte);
        }
    }
    let waited = start.elapsed().as_secs_f32();
    if c.buf.is_empty() && !closed {
        return Err(Failure::new(format!(
            "half a request head, then a byte every 0.5 s: no 408 and no close in {waited:.0} s. \
             If your server has a header timeout longer than that, start it with a short one for \
             grading (--header-timeout 1)"
        ))
        .sent(&sent));
    }
    if !c.buf.is_empty() {
        let what = format!("half a request head, then a byte every 0.5 s for {waited:.1} s");
        let r = c.response("GET", &sent).map_err(|f| f.during(&what))?;
        expect_status(&r, 408, &sent, &what)?;
    }
    still_serving(ctx, "a client that never finished its head was timed out")
}

fn http10_closes(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let req = b"GET / HTTP/1.0\r\nHost: grader\r\n\r\n";
    c.send(req)?;
    let what = "an HTTP/1.0 GET / without Connection: keep-alive";
    let r = c.response("GET", req).map_err(|f| f.during(what))?;
    expect_status(&r, 200, req, what)?;
    if r.has_token("transfer-encoding", "chunked") {
        return Err(Failure::new(format!(
            "{what}: the response is chunked, a coding HTTP/1.0 does not know"
        ))
        .sent(req)
        .received(&r.head));
    }
    c.expect_close(req, &format!("{what}, after the response"))
}

fn closes_after_refusing(ctx: &Ctx) -> Result<(), Failure> {
    // Each refusal, followed in the same write by bytes that look like a request: read as one,
    // they would smuggle a request past whatever the refusal was guarding.
    let smuggled = get("GET", "/");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a request line without a target or version",
            b"NONSENSE\r\nHost: grader\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a chunk size that is not hexadecimal",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "a Content-Length of 1,000,000,000 and no body yet",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: 1000000000\r\n\r\n"
                .to_vec(),
            413,
        ),
    ];
    for (what, bad, status) in cases {
        let mut c = HttpConn::open(ctx)?;
        let sent = [&bad[..], &smuggled].concat();
        c.send(&sent).map_err(|f| f.during(what))?;
        let method = what_method(&bad);
        let r = c.response(&method, &sent).map_err(|f| f.during(what))?;
        expect_status(&r, status, &sent, what)?;
        c.expect_closed_after_refusal(
            &sent,
            &format!("{what} (then a GET /), after the {status}"),
        )?;
    }
    Ok(())
}

fn garbage_does_not_kill(ctx: &Ctx) -> Result<(), Failure> {
    let mut random = ctx.bytes(2048);
    random.extend_from_slice(b"\r\n\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("2 KiB of random bytes", random),
        (
            "a request line with bytes that are not UTF-8",
            b"GET /\xff\xfe\xc0 HTTP/1.1\r\nHost: grader\r\n\r\n".to_vec(),
        ),
        (
            "a header line without a colon",
            b"GET / HTTP/1.1\r\nHost: grader\r\nno colon here\r\n\r\n".to_vec(),
        ),
        (
            "a Content-Length that is not a number",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: lots\r\n\r\n".to_vec(),
        ),
        (
            "a Content-Length beyond 64 bits",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: 99999999999999999999999\r\n\r\n"
                .to_vec(),
        ),
        (
            "a chunk size that is not hexadecimal",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        (
            "a chunk size beyond 64 bits",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        ("NUL bytes", b"\0\0\0\0 \0\0 \0\0\r\n\r\n".to_vec()),
    ];
    for (what, input) in cases {
        let mut c = HttpConn::open(ctx)?;
        c.send(&input).map_err(|f| f.during(what))?;
        // Whatever the answer (the statuses are another check's business), give the server a
        // moment to handle it: an answer, a close, or half a second of silence.
        let deadline = Instant::now() + Duration::from_millis(500).min(ctx.timeout);
        while let More::Bytes = c.more(deadline) {}
        drop(c);
        still_serving(ctx, &format!("{what} on another connection"))?;
    }
    Ok(())
}
