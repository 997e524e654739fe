//! HTTP/1.1 from the client side, for the lessons that serve HTTP (07 and on): requests written
//! out by hand, and [`HttpConn`], a deliberately small response reader of the grader's own.
//!
//! It reads a status line, header fields up to the blank line, and a body by Content-Length,
//! chunked, or until the close (RFC 9112 6.3), with a deadline on every read. Responses may end
//! their lines with CRLF or a bare LF. For bodies that never end (lesson 08's streams) it can
//! also read the head alone ([`HttpConn::head`]) and then the body a line at a time
//! ([`Streaming`]), decoding chunks strictly: a size in hexadecimal, CRLF, the bytes, CRLF.
//!
//! Nothing here uses `src/http`: a bug shared with the course's own parser cannot hide.

use super::wire::{self, connect, send};
use super::{Ctx, Failure};
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

// ---- Requests, written out by hand -------------------------------------------------------------

/// A request without a body.
pub fn get(method: &str, target: &str) -> Vec<u8> {
    format!("{method} {target} HTTP/1.1\r\nHost: grader\r\n\r\n").into_bytes()
}

/// A POST with a Content-Length body.
pub fn post(target: &str, body: &[u8]) -> Vec<u8> {
    let head = format!(
        "POST {target} HTTP/1.1\r\nHost: grader\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    [head.as_bytes(), body].concat()
}

// ---- Responses, read by a small reader of our own ----------------------------------------------

/// One response off the wire.
pub struct Response {
    /// `HTTP/1.1` or `HTTP/1.0`, as the status line said.
    pub version: String,
    pub status: u16,
    /// Field names lowercased, values trimmed.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The head as it came, for evidence.
    pub head: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }

    /// The start of the status line we wanted, for the evidence: `HTTP/1.1 405 `.
    pub fn status_line_with(&self, status: u16) -> Vec<u8> {
        format!("{} {status} ", self.version).into_bytes()
    }

    /// Whether the body is chunked (else it is Content-Length, or runs until the close).
    pub fn is_chunked(&self) -> bool {
        self.has_token("transfer-encoding", "chunked")
    }
}

/// How a read for more bytes ended.
pub enum More {
    Bytes,
    Eof,
    Timeout,
    Failed(io::Error),
}

/// How a slowloris client ([`HttpConn::trickle_head`]) fared: whether the server closed, what
/// was sent, and for how many seconds.
pub struct Trickled {
    pub closed: bool,
    pub sent: Vec<u8>,
    pub waited: f32,
}

/// A connection to the server and the bytes read from it but not used yet.
pub struct HttpConn<'a> {
    pub ctx: &'a Ctx,
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

/// Longest response head we accept.
const MAX_HEAD: usize = 64 * 1024;

impl<'a> HttpConn<'a> {
    pub fn open(ctx: &'a Ctx) -> Result<Self, Failure> {
        Self::open_to(ctx, "http")
    }

    /// A connection to the server's listener of `scheme` (`ws` for a WebSocket handshake,
    /// which starts as an HTTP request).
    pub fn open_to(ctx: &'a Ctx, scheme: &str) -> Result<Self, Failure> {
        Ok(HttpConn {
            ctx,
            stream: connect(ctx, ctx.addr(scheme))?,
            buf: Vec::new(),
        })
    }

    /// Slowloris: send `head` (a request head without its blank line), then one byte of
    /// `trickle` every half second, until the server answers (the answer is left in `buf`),
    /// closes, or `bound` passes. A timer reset by every read never fires against this.
    pub fn trickle_head(
        &mut self,
        head: &[u8],
        trickle: &[u8],
        bound: Duration,
    ) -> Result<Trickled, Failure> {
        self.send(head)?;
        let mut sent = head.to_vec();
        let mut closed = false;
        let start = Instant::now();
        while start.elapsed() < bound && !closed {
            let tick = Instant::now() + Duration::from_millis(500);
            loop {
                match self.more(tick) {
                    More::Bytes => continue,
                    More::Timeout => break,
                    More::Eof | More::Failed(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            if !self.buf.is_empty() || closed {
                break;
            }
            let byte = trickle[(sent.len() - head.len()) % trickle.len()];
            if io::Write::write_all(&mut &self.stream, &[byte]).is_err() {
                closed = true;
            } else {
                sent.push(byte);
            }
        }
        Ok(Trickled {
            closed,
            sent,
            waited: start.elapsed().as_secs_f32(),
        })
    }

    pub fn send(&self, bytes: &[u8]) -> Result<(), Failure> {
        send(&self.stream, bytes)
    }

    /// Read once more, waiting until `deadline` at most.
    pub fn more(&mut self, deadline: Instant) -> More {
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
    pub fn need(&mut self, n: usize, deadline: Instant, what: &str) -> Result<(), Failure> {
        while self.buf.len() < n {
            self.more_or_fail(deadline, what)?;
        }
        Ok(())
    }

    /// Read more, or fail saying why nothing more came.
    pub fn more_or_fail(&mut self, deadline: Instant, what: &str) -> Result<(), Failure> {
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
    pub fn line_end(
        &mut self,
        from: usize,
        deadline: Instant,
        what: &str,
    ) -> Result<usize, Failure> {
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
    pub fn response(&mut self, method: &str, sent: &[u8]) -> Result<Response, Failure> {
        self.read_response(method, self.ctx.timeout)
            .map_err(|f| with_sent(f, sent))
    }

    /// Like [`HttpConn::response`], waiting up to `wait` for it (a held long poll).
    pub fn response_within(
        &mut self,
        method: &str,
        sent: &[u8],
        wait: Duration,
    ) -> Result<Response, Failure> {
        self.read_response(method, wait)
            .map_err(|f| with_sent(f, sent))
    }

    /// Read the head of the response alone (interim 1xx responses skipped), leaving the body
    /// to be read: a stream's body never ends.
    pub fn head(&mut self, sent: &[u8]) -> Result<Response, Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        loop {
            let r = self.read_head(deadline).map_err(|f| with_sent(f, sent))?;
            if !(100..200).contains(&r.status) {
                return Ok(r);
            }
        }
    }

    fn read_response(&mut self, method: &str, wait: Duration) -> Result<Response, Failure> {
        let deadline = Instant::now() + wait;
        loop {
            let r = self.read_one(method, deadline)?;
            if !(100..200).contains(&r.status) {
                return Ok(r);
            }
        }
    }

    /// Status line and header fields, up to the blank line.
    fn read_head(&mut self, deadline: Instant) -> Result<Response, Failure> {
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
        self.buf.drain(..at);
        Ok(Response {
            version,
            status,
            headers,
            body: Vec::new(),
            head,
        })
    }

    fn read_one(&mut self, method: &str, deadline: Instant) -> Result<Response, Failure> {
        let mut response = self.read_head(deadline)?;
        let status = response.status;

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
        if response.is_chunked() {
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

    /// A whole chunked body: `size[;ext] CRLF data CRLF` ... `0 CRLF` trailers `CRLF`, lines
    /// ending in CRLF or a bare LF.
    fn chunked(&mut self, deadline: Instant, what: &str) -> Result<Vec<u8>, Failure> {
        let mut body = Vec::new();
        while let Some(chunk) = self.chunk(deadline, what)? {
            body.extend(chunk);
        }
        Ok(body)
    }

    /// The next chunk's data, or `None` after the last chunk (size 0) and its trailers. Lines
    /// may end with CRLF or a bare LF, and spaces around the size are let pass.
    fn chunk(&mut self, deadline: Instant, what: &str) -> Result<Option<Vec<u8>>, Failure> {
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
                    return Ok(None);
                }
            }
        }
        self.need(size, deadline, what)?;
        let data: Vec<u8> = self.buf.drain(..size).collect();
        let end = self.line_end(0, deadline, what)?;
        if !trim_eol(&self.buf[..end]).is_empty() {
            return Err(Failure::new(format!(
                "{what}: a chunk of {size} bytes is not followed by CRLF"
            ))
            .received(&self.buf));
        }
        self.buf.drain(..end);
        Ok(Some(data))
    }

    /// Expect the server to close now, with nothing more sent.
    pub fn expect_close(&mut self, sent: &[u8], context: &str) -> Result<(), Failure> {
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
    pub fn expect_closed_after_refusal(
        &mut self,
        sent: &[u8],
        context: &str,
    ) -> Result<(), Failure> {
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
    pub fn expect_quiet(
        &mut self,
        wait: Duration,
        sent: &[u8],
        context: &str,
    ) -> Result<(), Failure> {
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

fn with_sent(f: Failure, sent: &[u8]) -> Failure {
    match f.sent {
        None => f.sent(sent),
        Some(_) => f,
    }
}

pub fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Expect `status`; the failure says what came instead.
pub fn expect_status(r: &Response, status: u16, sent: &[u8], what: &str) -> Result<(), Failure> {
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

// ---- Bodies that never end ----------------------------------------------------------------------

/// What came next on a body that never ends.
pub enum Next {
    /// A `\n`-terminated line (the `\n` included).
    Line(Vec<u8>),
    /// The body ended cleanly: the last chunk, or the close of an unframed body.
    End,
    /// Nothing (no whole line) before the deadline.
    Silent,
}

/// The body of a response whose head has been read, taken a line at a time as it comes:
/// chunked or, with neither chunked nor Content-Length, until the close.
///
/// Chunks are decoded strictly, as RFC 9112 7.1 says a sender writes them: the size in
/// hexadecimal digits (an extension after `;` allowed), CRLF, exactly that many bytes, CRLF.
/// A chunk is taken only once it is complete, so a deadline passing in the middle of one loses
/// nothing: the next call carries on.
pub struct Streaming<'a> {
    pub conn: HttpConn<'a>,
    pub chunked: bool,
    /// Body bytes decoded and not yet returned as lines.
    decoded: Vec<u8>,
    /// The body has ended (last chunk, or the close).
    ended: bool,
    /// The last body bytes returned, for evidence.
    pub seen: Vec<u8>,
}

/// How much of the body a failure shows.
const EVIDENCE: usize = 2048;

/// Longest chunk size line (with extensions) we wait for.
const MAX_SIZE_LINE: usize = 1024;

impl<'a> Streaming<'a> {
    pub fn new(conn: HttpConn<'a>, head: &Response) -> Self {
        Streaming {
            conn,
            chunked: head.is_chunked(),
            decoded: Vec::new(),
            ended: false,
            seen: Vec::new(),
        }
    }

    /// The next line of the body; silence until `deadline` is a failure that says `what` was
    /// awaited. `None` when the body ended cleanly first.
    pub fn line(&mut self, deadline: Instant, what: &str) -> Result<Option<Vec<u8>>, Failure> {
        match self.next(deadline, what)? {
            Next::Line(line) => Ok(Some(line)),
            Next::End => Ok(None),
            Next::Silent if self.chunked && !self.conn.buf.is_empty() => {
                Err(self.evidence(Failure::new(format!(
                    "{what}: a chunk stays incomplete, {} bytes of it came and then nothing: \
                     does its size line count the bytes that follow, in hexadecimal?",
                    self.conn.buf.len()
                ))))
            }
            Next::Silent => Err(self.evidence(Failure::new(format!(
                "{what}: nothing more arrived in time, the stream stays silent"
            )))),
        }
    }

    /// The next line of the body, its end, or silence until `deadline`.
    pub fn next(&mut self, deadline: Instant, what: &str) -> Result<Next, Failure> {
        loop {
            if let Some(i) = self.decoded.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.decoded.drain(..=i).collect();
                self.seen.extend_from_slice(&line);
                let cut = self.seen.len().saturating_sub(EVIDENCE);
                self.seen.drain(..cut);
                return Ok(Next::Line(line));
            }
            if self.ended {
                return Ok(Next::End);
            }
            if self.decode()? {
                continue;
            }
            match self.conn.more(deadline) {
                More::Bytes => {}
                More::Timeout => return Ok(Next::Silent),
                More::Eof if !self.chunked => self.ended = true,
                More::Eof => {
                    return Err(self.evidence(Failure::new(format!(
                        "{what}: the server closed the connection in the middle of a chunked \
                         body, without its last chunk (0 CRLF CRLF)"
                    ))))
                }
                More::Failed(e) => {
                    return Err(self.evidence(Failure::new(format!(
                        "the connection failed while waiting for {what}: {e}"
                    ))))
                }
            }
        }
    }

    /// Move what has arrived into `decoded`: whole chunks only, or every byte of an unframed
    /// body. Whether anything moved.
    fn decode(&mut self) -> Result<bool, Failure> {
        if !self.chunked {
            let moved = !self.conn.buf.is_empty();
            self.decoded.append(&mut self.conn.buf);
            return Ok(moved);
        }
        let buf = &self.conn.buf;
        let Some(nl) = buf.iter().position(|&b| b == b'\n') else {
            if buf.len() > MAX_SIZE_LINE {
                return Err(self.framing("a chunk size line without an end", b"1a\r\n"));
            }
            return Ok(false);
        };
        let line = &buf[..=nl];
        let Some(line) = line.strip_suffix(b"\r\n") else {
            return Err(self.framing(
                "a chunk size line that ends with a bare LF instead of CRLF",
                b"1a\r\n",
            ));
        };
        let hex = line.split(|&b| b == b';').next().unwrap_or_default();
        if hex.is_empty() || hex.len() > 15 || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(self.framing(
                "a chunk size that is not hexadecimal digits (RFC 9112 7.1: chunk-size = 1*HEXDIG)",
                b"1a\r\n",
            ));
        }
        let size =
            usize::from_str_radix(std::str::from_utf8(hex).unwrap_or("0"), 16).unwrap_or_default();
        let start = nl + 1;
        if size == 0 {
            // The last chunk: trailer lines, up to an empty one.
            let mut at = start;
            loop {
                let Some(i) = buf[at..].iter().position(|&b| b == b'\n') else {
                    return Ok(false);
                };
                let empty = buf[at..at + i + 1] == *b"\r\n" || i == 0;
                at += i + 1;
                if empty {
                    self.conn.buf.drain(..at);
                    self.ended = true;
                    return Ok(true);
                }
            }
        }
        if buf.len() < start + size + 2 {
            return Ok(false);
        }
        if buf[start + size..start + size + 2] != *b"\r\n" {
            let what = format!(
                "a chunk announced as {size} bytes (0x{size:x}) is not followed by CRLF after \
                 {size} bytes: is its size written in hexadecimal, and counted in bytes?"
            );
            let expected = [&buf[..start + size], b"\r\n"].concat();
            return Err(self.framing(&what, &expected));
        }
        let data = buf[start..start + size].to_vec();
        self.conn.buf.drain(..start + size + 2);
        self.decoded.extend(data);
        Ok(true)
    }

    /// A chunk framing failure: the evidence is the body so far and the bytes that broke it.
    fn framing(&self, what: &str, expected: &[u8]) -> Failure {
        let shown = &self.conn.buf[..self.conn.buf.len().min(EVIDENCE)];
        Failure::new(format!(
            "the chunked body of the stream is malformed: {what}"
        ))
        .expected(expected)
        .received(shown)
    }

    /// Add the stream so far to a failure's evidence.
    pub fn evidence(&self, f: Failure) -> Failure {
        let received = [&self.seen[..], &self.decoded, &self.conn.buf].concat();
        let from = received.len().saturating_sub(EVIDENCE);
        f.received(&received[from..])
    }
}
