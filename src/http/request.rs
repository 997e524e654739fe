//! The request parser: a push parser that turns bytes, however they arrive, into request events.
//!
//! ```text
//!   push(b"GET / HT")        next() -> Ok(None)                  need more bytes: normal
//!   push(b"TP/1.1\r\nHost: a\r\n\r\nPOST /f HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nab")
//!                            next() -> Ok(Some(Head(GET /)))
//!                            next() -> Ok(Some(End))             GET has no body
//!                            next() -> Ok(Some(Head(POST /f)))   pipelined: already buffered
//!                            next() -> Ok(Some(Body(b"ab")))     body pieces as they arrive
//!                            next() -> Ok(None)
//!   push(b"c")               next() -> Ok(Some(Body(b"c")))
//!                            next() -> Ok(Some(End))             ready for the next request
//! ```
//!
//! Call order: after every [`RequestParser::push`], call [`RequestParser::next`] until it answers
//! `Ok(None)`. An `Err` is final: answer its status (see [`super::error_response`]) and close.
//!
//! How it stays fast and bounded: the head is read one line at a time and each line is checked
//! as soon as its LF arrives, so a bad request line is refused before its headers are read; the
//! line search resumes where it stopped (no byte is searched twice); and every limit is checked
//! on the bytes buffered so far, so a peer that never sends a line end is stopped at the limit.
//! Because each check depends only on the bytes, not on how they were split into reads, the
//! parser gives the same events and the same error for every chunking of the same input; the
//! tests check exactly that.
//!
//! The promise, as in smoltcp: no input makes it panic, and all arithmetic on sizes is checked.

use super::chunked::{ChunkEvent, ChunkedDecoder};
use super::fields::parse_field_line;
use super::fields::Headers;
use super::input::{strip_line_end, Input, Line, LineEnd};
use super::{is_tchar, trim_ows, ErrorKind, HttpError, Limits, MAX_EMPTY_LINES_BEFORE_REQUEST};
use crate::trace::{quote, Annotation};
use std::fmt;

/// The HTTP versions this parser accepts. Anything else is a 505.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    Http10,
    Http11,
}

impl Version {
    /// The minor version, as httparse and the wire say it: 0 or 1.
    pub fn minor(self) -> u8 {
        match self {
            Version::Http10 => 0,
            Version::Http11 => 1,
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HTTP/1.{}", self.minor())
    }
}

/// How the end of the request body is known (RFC 9112 6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// Neither Content-Length nor Transfer-Encoding: a request then has no body.
    None,
    /// `Content-Length: N`: exactly N bytes follow the head.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`: chunks until a chunk of size 0.
    Chunked,
}

/// Everything before the body, checked, with the facts the server acts on already derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// A token, case-sensitive: `GET`, `POST`, ... (unknown methods are the server's 501).
    pub method: String,
    /// The request target as sent: `/path?query` usually (visible ASCII only).
    pub target: String,
    pub version: Version,
    pub headers: Headers,
    /// Whether the connection stays open after this exchange (RFC 9112 9.3).
    pub keep_alive: bool,
    pub body: BodyFraming,
}

impl RequestHead {
    /// The path of the target: without the query, and without `http://host` in absolute form.
    pub fn path(&self) -> &str {
        let t = self.target.as_str();
        let t = match t.find("://") {
            Some(i) if !t.starts_with('/') => {
                let rest = &t[i + 3..];
                rest.find('/').map_or("/", |j| &rest[j..])
            }
            _ => t,
        };
        t.split('?').next().unwrap_or(t)
    }

    /// The query string after `?`, if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// A HEAD request: the response has the headers of a GET and no body.
    pub fn is_head(&self) -> bool {
        self.method == "HEAD"
    }

    /// `Expect: 100-continue`: the client (curl does this for large uploads) waits for a
    /// `100 Continue` before sending the body, or for about a second before giving up waiting.
    /// RFC 9110 10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0
    /// request MUST ignore that expectation."
    pub fn expects_continue(&self) -> bool {
        self.version == Version::Http11 && self.headers.has_token("expect", "100-continue")
    }
}

/// What the parser found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A complete, checked request head. Body events (if any) and `End` follow.
    Head(RequestHead),
    /// Some body bytes, as they arrived (never empty).
    Body(Vec<u8>),
    /// The trailer fields of a chunked body, when it had any (before `End`).
    Trailers(Headers),
    /// The request is complete; the next bytes belong to the next request.
    End,
}

/// Where the parser is in the current request.
#[derive(Debug)]
enum State {
    /// Waiting for a request line; empty lines before it are skipped and counted.
    RequestLine { empty_lines: usize },
    /// Reading header lines into a head whose request line is done.
    Headers(PartialHead),
    /// Inside a Content-Length body.
    Body { left: u64 },
    /// Inside a chunked body.
    Chunked(ChunkedDecoder),
    /// The request is complete: `End` is next.
    End,
    /// An error was returned: the stream cannot be resynchronized.
    Failed(HttpError),
}

/// A head whose request line has been read and whose header lines are arriving.
#[derive(Debug, Default)]
struct PartialHead {
    method: String,
    target: String,
    version: Option<Version>,
    headers: Headers,
    /// Bytes of header lines so far, line ends included (checked against the limit).
    bytes: usize,
}

/// The push parser. One per connection; it handles every request on that connection in turn.
#[derive(Debug)]
pub struct RequestParser {
    limits: Limits,
    input: Input,
    state: State,
}

impl Default for RequestParser {
    fn default() -> Self {
        RequestParser::new(Limits::default())
    }
}

impl RequestParser {
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            limits,
            input: Input::default(),
            state: State::RequestLine { empty_lines: 0 },
        }
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Hand the parser whatever one read returned: part of a request, or several.
    pub fn push(&mut self, bytes: &[u8]) {
        self.input.push(bytes);
    }

    /// Bytes pushed and not yet returned in an event. A server that stops reading while this
    /// is large bounds what a pipelining client can make it hold.
    pub fn buffered(&self) -> usize {
        self.input.unread().len()
    }

    /// Between two requests, with nothing of the next one received: end of stream here is a
    /// clean close, and an idle timeout may close the connection.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::RequestLine { empty_lines: 0 }) && self.buffered() == 0
    }

    /// The bytes after the current request, for whoever speaks next on this connection: after
    /// `Upgrade: websocket` (lesson 09) the client's first frames may already be here. Take them
    /// right after that request's `End`, before calling `next` again (which would read them as
    /// HTTP).
    pub fn take_unread(&mut self) -> Vec<u8> {
        self.input.take_all()
    }

    /// The next event, `Ok(None)` if more bytes are needed, or the rule the request broke.
    /// Call it in a loop after every push. After an error, every call returns the same error.
    #[allow(clippy::should_implement_trait)] // not an Iterator: "need more" is not "finished"
    pub fn next(&mut self) -> Result<Option<Event>, HttpError> {
        let result = self.step();
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step(&mut self) -> Result<Option<Event>, HttpError> {
        loop {
            match &mut self.state {
                State::RequestLine { empty_lines } => {
                    match read_request_line(&mut self.input, &self.limits, empty_lines)? {
                        Some(head) => self.state = State::Headers(head),
                        None => return Ok(None),
                    }
                }
                State::Headers(partial) => {
                    match read_header_line(&mut self.input, &self.limits, partial)? {
                        HeadProgress::NeedMore => return Ok(None),
                        HeadProgress::Field => {}
                        HeadProgress::Done => {
                            let head = finish_head(std::mem::take(partial), &self.limits)?;
                            self.state = match head.body {
                                BodyFraming::None | BodyFraming::ContentLength(0) => State::End,
                                BodyFraming::ContentLength(n) => State::Body { left: n },
                                BodyFraming::Chunked => State::Chunked(ChunkedDecoder::new()),
                            };
                            return Ok(Some(Event::Head(head)));
                        }
                    }
                }
                State::Body { left } => {
                    let available = self.input.unread().len();
                    if available == 0 {
                        return Ok(None);
                    }
                    // Never more than is buffered, so the cast to usize cannot truncate.
                    let n = (*left).min(available as u64) as usize;
                    *left -= n as u64;
                    if *left == 0 {
                        self.state = State::End;
                    }
                    return Ok(Some(Event::Body(self.input.take(n))));
                }
                State::Chunked(decoder) => match decoder.next(&mut self.input, &self.limits)? {
                    None => return Ok(None),
                    Some(ChunkEvent::Data(data)) => return Ok(Some(Event::Body(data))),
                    Some(ChunkEvent::Trailers(t)) => return Ok(Some(Event::Trailers(t))),
                    Some(ChunkEvent::End) => self.state = State::End,
                },
                State::End => {
                    self.state = State::RequestLine { empty_lines: 0 };
                    return Ok(Some(Event::End));
                }
                State::Failed(e) => return Err(e.clone()),
            }
        }
    }
}

/// Everything [`parse_all`] found in one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The events, in order, up to the point where more bytes were needed or an error.
    pub events: Vec<Event>,
    /// The error that stopped parsing, if any.
    pub error: Option<HttpError>,
    /// Bytes left over: the start of a request that has not fully arrived.
    pub unread: usize,
}

/// Parse a whole buffer with the default limits: the entry point for fuzzing and for quick
/// experiments. `Parsed::events` ends with `End` when the last request was complete.
pub fn parse_all(bytes: &[u8]) -> Parsed {
    let mut parser = RequestParser::default();
    parser.push(bytes);
    let mut events = Vec::new();
    loop {
        match parser.next() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {
                return Parsed {
                    events,
                    error: None,
                    unread: parser.buffered(),
                }
            }
            Err(e) => {
                return Parsed {
                    events,
                    error: Some(e),
                    unread: parser.buffered(),
                }
            }
        }
    }
}

/// A head line without its line end: CRLF or a lone LF (RFC 9112 2.2: "a recipient MAY
/// recognize a single LF as a line terminator and ignore any preceding CR"), never a bare CR.
fn head_line(line: &[u8]) -> Result<&[u8], HttpError> {
    // With CrlfOrLf the only refusal is a bare CR.
    strip_line_end(line, LineEnd::CrlfOrLf).map_err(|_| {
        HttpError::new(
            ErrorKind::BareCr,
            format!("a CR not followed by LF in {}", quote(line, 60)),
        )
    })
}

/// Read the request line, skipping a few empty lines before it.
fn read_request_line(
    input: &mut Input,
    limits: &Limits,
    empty_lines: &mut usize,
) -> Result<Option<PartialHead>, HttpError> {
    let max = limits.max_request_line;
    let too_long = || {
        HttpError::new(
            ErrorKind::RequestLineTooLong,
            format!("the request line is longer than {max} bytes"),
        )
    };
    loop {
        let range = match input.line(max) {
            Line::Partial(n) if n > max => return Err(too_long()),
            Line::Partial(_) => return Ok(None),
            Line::Complete(r) if r.len() > max => return Err(too_long()),
            Line::Complete(r) => r,
        };
        let line = head_line(input.get(range))?;
        if !line.is_empty() {
            return parse_request_line(line).map(Some);
        }
        // RFC 9112 2.2: "a server that is expecting to receive and parse a request-line SHOULD
        // ignore at least one empty line (CRLF) received prior to the request-line".
        *empty_lines += 1;
        if *empty_lines > MAX_EMPTY_LINES_BEFORE_REQUEST {
            return Err(HttpError::new(
                ErrorKind::TooManyEmptyLines,
                format!(
                    "more than {MAX_EMPTY_LINES_BEFORE_REQUEST} empty lines before a request line"
                ),
            ));
        }
    }
}

/// `request-line = method SP request-target SP HTTP-version` (RFC 9112 3).
fn parse_request_line(line: &[u8]) -> Result<PartialHead, HttpError> {
    let bad_line = |why: &str| {
        HttpError::new(
            ErrorKind::BadRequestLine,
            format!("{why}: {}", quote(line, 60)),
        )
    };
    let mut parts = line.splitn(3, |&b| b == b' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad_line(
            "a request line needs method, target and version, separated by spaces",
        ));
    };
    // Exactly one SP between the parts. RFC 9112 3 allows a server to be lenient here; being
    // strict keeps us in agreement with any proxy in front of us about where the target ends.
    if method.is_empty() || target.is_empty() || version.contains(&b' ') {
        return Err(bad_line(
            "the parts of a request line are separated by exactly one space",
        ));
    }
    if !method.iter().all(|&b| is_tchar(b)) {
        return Err(HttpError::new(
            ErrorKind::BadMethod,
            format!("the method {} is not a token", quote(method, 40)),
        ));
    }
    // request-target: a URI reference, so visible ASCII only (RFC 3986; raw UTF-8 or controls
    // must be percent-encoded by the client).
    if let Some(&bad) = target.iter().find(|b| !b.is_ascii_graphic()) {
        return Err(HttpError::new(
            ErrorKind::BadTarget,
            format!("the target has the byte 0x{bad:02x}, which must be percent-encoded"),
        ));
    }
    let version = match version {
        b"HTTP/1.1" => Version::Http11,
        b"HTTP/1.0" => Version::Http10,
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            return Err(HttpError::new(
                ErrorKind::UnsupportedVersion,
                format!(
                    "HTTP/{}.{} is not supported; this server speaks HTTP/1.0 and HTTP/1.1",
                    *major as char, *minor as char
                ),
            ));
        }
        _ => {
            return Err(HttpError::new(
                ErrorKind::BadVersion,
                format!(
                    "{} is not an HTTP version like HTTP/1.1",
                    quote(version, 20)
                ),
            ))
        }
    };
    Ok(PartialHead {
        // Both are ASCII, checked above: the conversion loses nothing.
        method: String::from_utf8_lossy(method).into_owned(),
        target: String::from_utf8_lossy(target).into_owned(),
        version: Some(version),
        headers: Headers::new(),
        bytes: 0,
    })
}

enum HeadProgress {
    NeedMore,
    Field,
    /// The blank line: the head is complete.
    Done,
}

/// Read one header line into `head`.
fn read_header_line(
    input: &mut Input,
    limits: &Limits,
    head: &mut PartialHead,
) -> Result<HeadProgress, HttpError> {
    let max = limits.max_header_bytes;
    let too_large = || {
        HttpError::new(
            ErrorKind::HeadersTooLarge,
            format!("the header section is larger than {max} bytes"),
        )
    };
    let range = match input.line(max.saturating_sub(head.bytes)) {
        Line::Partial(n) if head.bytes.saturating_add(n) > max => return Err(too_large()),
        Line::Partial(_) => return Ok(HeadProgress::NeedMore),
        Line::Complete(r) => r,
    };
    head.bytes = head.bytes.saturating_add(range.len() + 1);
    if head.bytes > max {
        return Err(too_large());
    }
    let line = head_line(input.get(range))?;
    if line.is_empty() {
        return Ok(HeadProgress::Done);
    }
    let (name, value) = parse_field_line(line, head.headers.is_empty())?;
    if head.headers.len() >= limits.max_headers {
        return Err(HttpError::new(
            ErrorKind::TooManyHeaders,
            format!("more than {} header fields", limits.max_headers),
        ));
    }
    head.headers.push(name, value);
    Ok(HeadProgress::Field)
}

/// The head is complete: check the fields that decide the framing, and derive it.
fn finish_head(partial: PartialHead, limits: &Limits) -> Result<RequestHead, HttpError> {
    let PartialHead {
        method,
        target,
        version,
        headers,
        ..
    } = partial;
    let version = version.unwrap_or(Version::Http11); // always set by the request line
    check_host(&headers, version)?;
    let content_length = content_length(&headers)?;
    let chunked = is_chunked(&headers, version, content_length.is_some())?;
    let body = match content_length {
        _ if chunked => BodyFraming::Chunked,
        Some(n) if n > limits.max_body => {
            return Err(HttpError::new(
                ErrorKind::BodyTooLarge,
                format!(
                    "Content-Length {n} is larger than the limit of {} bytes",
                    limits.max_body
                ),
            ))
        }
        Some(n) => BodyFraming::ContentLength(n),
        // RFC 9112 6.3: "If this is a request message and none of the above are true, then
        // the message body length is zero (no message body is present)."
        None => BodyFraming::None,
    };
    // RFC 9112 9.3: "If the "close" connection option is present, the connection will not
    // persist after the current response; else, if the received protocol is HTTP/1.1 (or
    // later), the connection will persist after the current response; else, if the received
    // protocol is HTTP/1.0, the "keep-alive" connection option is present, [...] the connection
    // will persist after the current response; otherwise, the connection will close".
    let keep_alive = !headers.has_token("connection", "close")
        && (version == Version::Http11 || headers.has_token("connection", "keep-alive"));
    Ok(RequestHead {
        method,
        target,
        version,
        headers,
        keep_alive,
        body,
    })
}

fn check_host(headers: &Headers, version: Version) -> Result<(), HttpError> {
    // RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any
    // HTTP/1.1 request message that lacks a Host header field and to any request message that
    // contains more than one Host header field line or a Host header field with an invalid
    // field value."
    let bad = |why: String| Err(HttpError::new(ErrorKind::BadHost, why));
    match (headers.count("host"), version) {
        (0, Version::Http11) => bad("an HTTP/1.1 request without a Host header".into()),
        (0 | 1, _) => match headers.get("host") {
            // uri-host [ ":" port ]: the characters of a host name, an IP address (IPv6 in
            // brackets) and a port; empty is allowed for a target without authority.
            Some(host) if !host.iter().all(|&b| is_host_char(b)) => bad(format!(
                "the Host value {} is not a host name",
                quote(host, 40)
            )),
            _ => Ok(()),
        },
        (n, _) => bad(format!("{n} Host header lines; a request has one")),
    }
}

fn is_host_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]%".contains(&b)
}

/// The Content-Length, if there is one: every value (over every line and list element) must
/// be the same number.
fn content_length(headers: &Headers) -> Result<Option<u64>, HttpError> {
    let bad = |why: String| HttpError::new(ErrorKind::BadContentLength, why);
    let mut found: Option<u64> = None;
    for value in headers.get_all("content-length") {
        // RFC 9110 8.6: a recipient MAY accept a list of identical values ("42, 42") as one.
        for element in value.split(|&b| b == b',').map(trim_ows) {
            if element.is_empty() || !element.iter().all(u8::is_ascii_digit) {
                return Err(bad(format!(
                    "Content-Length {} is not a number of bytes",
                    quote(value, 40)
                )));
            }
            let n = element.iter().try_fold(0u64, |n, &d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            });
            let Some(n) = n else {
                return Err(bad(format!(
                    "Content-Length {} does not fit 64 bits",
                    quote(element, 40)
                )));
            };
            match found {
                Some(m) if m != n => {
                    return Err(bad(format!(
                    "two different Content-Length values, {m} and {n}: which one frames the body?"
                )))
                }
                _ => found = Some(n),
            }
        }
    }
    Ok(found)
}

/// Whether the body is chunked, after checking Transfer-Encoding.
fn is_chunked(headers: &Headers, version: Version, has_length: bool) -> Result<bool, HttpError> {
    if headers.get("transfer-encoding").is_none() {
        return Ok(false);
    }
    let bad = |kind, why: String| Err(HttpError::new(kind, why));
    if has_length {
        // RFC 9112 6.3: "If a message is received with both a Transfer-Encoding and a
        // Content-Length header field, the Transfer-Encoding overrides the Content-Length. Such a
        // message might indicate an attempt to perform request smuggling [...] A server MAY reject
        // a request that contains both". We do: a server that never forwards loses nothing.
        return bad(
            ErrorKind::ContentLengthAndTransferEncoding,
            "both Content-Length and Transfer-Encoding: the body's end is ambiguous".into(),
        );
    }
    if version == Version::Http10 {
        // RFC 9112 6.1: "A server or client that receives an HTTP/1.0 message containing a
        // Transfer-Encoding header field MUST treat the message as if the framing is faulty".
        return bad(
            ErrorKind::BadTransferEncoding,
            "Transfer-Encoding in an HTTP/1.0 request, which has no transfer codings".into(),
        );
    }
    let codings: Vec<&[u8]> = headers.list("transfer-encoding").collect();
    let is_chunked = |c: &&[u8]| c.eq_ignore_ascii_case(b"chunked");
    match codings.split_last() {
        Some((last, before)) if is_chunked(last) => {
            if before.iter().any(is_chunked) {
                // RFC 9112 7.1: "A sender MUST NOT apply the chunked transfer coding more than
                // once to a message body".
                bad(
                    ErrorKind::BadTransferEncoding,
                    "chunked is applied more than once".into(),
                )
            } else if let Some(other) = before.first() {
                bad(
                    ErrorKind::UnsupportedTransferCoding,
                    format!(
                        "the transfer coding {} is not implemented; only chunked is",
                        quote(other, 40)
                    ),
                )
            } else {
                Ok(true)
            }
        }
        // RFC 9112 6.3: "If a Transfer-Encoding header field is present in a request and the
        // chunked transfer coding is not the final encoding, the message body length cannot be
        // determined reliably; the server MUST respond with the 400 (Bad Request) status code
        // and then close the connection."
        Some((last, _)) => bad(
            ErrorKind::BadTransferEncoding,
            format!(
                "the last transfer coding is {}, not chunked: the body's end is unknown",
                quote(last, 40)
            ),
        ),
        None => bad(
            ErrorKind::BadTransferEncoding,
            "an empty Transfer-Encoding: the body's end is unknown".into(),
        ),
    }
}

/// Name the parts of a request head for `--trace`: method, target, version, each header field
/// (with what it means for the framing), the blank line, and what follows it.
///
/// Works on any bytes: an incomplete or broken head is annotated as far as it goes.
pub fn annotate_head(bytes: &[u8]) -> Vec<Annotation> {
    let mut notes = Vec::new();
    let mut at = 0;
    // The lines of the head, each as (start, end without the line end, next line's start).
    let mut lines = std::iter::from_fn(|| {
        if at >= bytes.len() {
            return None;
        }
        let start = at;
        let rest = &bytes[start..];
        let (end, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(i) => {
                let end = if i > 0 && rest[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                (start + end, start + i + 1)
            }
            None => (bytes.len(), bytes.len()),
        };
        at = next;
        Some((start, end, next))
    });
    // Empty lines before the request line, then the request line.
    let mut request_line = None;
    for (start, end, next) in lines.by_ref() {
        if start == end && next > end {
            notes.push(Annotation::new(
                start..next,
                "empty line before the request (ignored)",
            ));
        } else {
            request_line = Some((start, end, next));
            break;
        }
    }
    let Some((start, end, next)) = request_line else {
        return notes;
    };
    let mut offset = start;
    let names = ["method", "target", "version"];
    for (i, part) in bytes[start..end].splitn(3, |&b| b == b' ').enumerate() {
        let label = names.get(i).copied().unwrap_or("?");
        let label = match (label, part) {
            ("version", b"HTTP/1.1") => {
                "version HTTP/1.1 (keep-alive unless \"Connection: close\")".to_string()
            }
            ("version", b"HTTP/1.0") => {
                "version HTTP/1.0 (closes unless \"Connection: keep-alive\")".to_string()
            }
            _ => format!("{label} {}", quote(part, 40)),
        };
        if !part.is_empty() {
            notes.push(Annotation::new(offset..offset + part.len(), label));
        }
        offset += part.len() + 1;
    }
    if next == end {
        return notes; // the request line has not ended yet
    }
    // Header lines up to the blank line.
    for (start, end, next) in lines {
        if start == end {
            if next > end {
                notes.push(Annotation::new(
                    start..next,
                    format!("blank line: the head ends here ({next} bytes in all)"),
                ));
                if next < bytes.len() {
                    notes.push(Annotation::new(
                        next..bytes.len(),
                        format!(
                            "{} bytes after the head: body, or the next request",
                            bytes.len() - next
                        ),
                    ));
                }
            }
            break;
        }
        notes.push(Annotation::new(
            start..end,
            header_label(&bytes[start..end]),
        ));
    }
    notes
}

/// A header line's label: the field, and what it means for the framing when it matters.
fn header_label(line: &[u8]) -> String {
    let Some((name, value)) = line
        .iter()
        .position(|&b| b == b':')
        .map(|i| (&line[..i], trim_ows(&line[i + 1..])))
    else {
        return format!("not a header line (no colon): {}", quote(line, 40));
    };
    let meaning = match name.to_ascii_lowercase().as_slice() {
        b"host" => " (which site; required in HTTP/1.1)",
        b"content-length" => " (the body is exactly this many bytes)",
        b"transfer-encoding" => " (the body comes in chunks)",
        b"connection" if value.eq_ignore_ascii_case(b"close") => " (close after the response)",
        b"connection" => " (connection options)",
        b"expect" => " (wait for 100 Continue before the body)",
        _ => "",
    };
    format!("header {}: {}{meaning}", quote(name, 30), quote(value, 40))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(bytes: &[u8]) -> RequestHead {
        match parse_all(bytes).events.into_iter().next() {
            Some(Event::Head(h)) => h,
            other => panic!("no head: {other:?}"),
        }
    }

    #[test]
    fn a_simple_get_has_a_head_and_an_end() {
        let parsed = parse_all(b"GET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(parsed.error, None);
        assert_eq!(parsed.events.len(), 2);
        let Event::Head(h) = &parsed.events[0] else {
            panic!("head first")
        };
        assert_eq!(
            (h.method.as_str(), h.path(), h.query()),
            ("GET", "/a", Some("b=c"))
        );
        assert_eq!(h.version, Version::Http11);
        assert!(h.keep_alive);
        assert_eq!(h.body, BodyFraming::None);
        assert_eq!(parsed.events[1], Event::End);
    }

    #[test]
    fn keep_alive_follows_rfc_9112_9_3() {
        let ka = |req: &[u8]| head(req).keep_alive;
        assert!(ka(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n"
        ));
        assert!(!ka(
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: upgrade, close\r\n\r\n"
        ));
        assert!(!ka(b"GET / HTTP/1.0\r\n\r\n"));
        assert!(ka(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        assert!(!ka(
            b"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"
        ));
    }

    #[test]
    fn paths_of_every_target_form() {
        let path = |target: &str| {
            let req = format!("OPTIONS {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            head(req.as_bytes()).path().to_string()
        };
        assert_eq!(path("/a/b?q"), "/a/b");
        assert_eq!(path("http://x/a?q"), "/a");
        assert_eq!(path("http://x"), "/");
        assert_eq!(path("*"), "*");
    }

    #[test]
    fn expect_continue_only_in_http_1_1() {
        assert!(
            head(b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n").expects_continue()
        );
        assert!(!head(b"PUT / HTTP/1.0\r\nExpect: 100-continue\r\n\r\n").expects_continue());
    }

    #[test]
    fn unread_bytes_after_a_request_are_handed_over() {
        let mut p = RequestParser::default();
        p.push(b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n\x81\x05hello");
        assert!(matches!(p.next(), Ok(Some(Event::Head(_)))));
        assert_eq!(p.next(), Ok(Some(Event::End)));
        assert!(!p.is_idle());
        assert_eq!(p.take_unread(), b"\x81\x05hello");
        assert!(p.is_idle());
    }

    #[test]
    fn a_slow_header_is_searched_once_not_once_per_read() {
        // CVE-2023-43669: a parser that searches the whole buffer again after every read does
        // quadratic work on a head sent one byte at a time. Here each search starts where the
        // last stopped: after every push, everything buffered has been searched exactly once.
        let mut p = RequestParser::default();
        let head = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
            "v".repeat(20_000)
        );
        for (i, byte) in head.as_bytes().iter().enumerate() {
            p.push(&[*byte]);
            match p.next() {
                Ok(None) => assert_eq!(p.input.searched(), p.buffered(), "after byte {i}"),
                Ok(Some(Event::Head(h))) => assert_eq!(h.headers.len(), 2),
                other => panic!("after byte {i}: {other:?}"),
            }
        }
    }

    #[test]
    fn an_error_is_final() {
        let mut p = RequestParser::default();
        p.push(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n");
        let e = p.next().unwrap_err();
        assert_eq!(e.kind, ErrorKind::BadFieldName);
        p.push(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(p.next(), Err(e));
    }

    #[test]
    fn annotations_name_each_part_of_the_head() {
        let req = b"GET /index.html HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi";
        let notes = annotate_head(req);
        let labels: Vec<&str> = notes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(notes[0].bytes, 0..3);
        assert_eq!(labels[0], "method \"GET\"");
        assert_eq!(notes[1].bytes, 4..15);
        assert_eq!(labels[1], "target \"/index.html\"");
        assert!(labels[2].starts_with("version HTTP/1.1"));
        assert_eq!(notes[3].bytes, 26..43);
        assert!(labels[3].starts_with("header \"Host\": \"example.com\""));
        assert!(labels[4].contains("exactly this many bytes"));
        assert_eq!(notes[5].bytes, 64..66);
        assert!(labels[5].starts_with("blank line"));
        assert_eq!(notes[6].bytes, 66..68);
        assert_eq!(notes.len(), 7);
    }

    #[test]
    fn annotations_of_partial_or_odd_heads_stay_in_bounds() {
        for input in [
            &b""[..],
            b"\r\n\r\n",
            b"GET",
            b"GET / HTTP/1.1\n",
            b"GET  /  HTTP/1.1 x y\r\nno colon\nA:\r\n",
            b"\n\nGET / HTTP/1.1\nHost: x\n\n",
        ] {
            for note in annotate_head(input) {
                assert!(note.bytes.start < note.bytes.end && note.bytes.end <= input.len());
            }
        }
    }
}
