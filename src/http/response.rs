//! The response writer: a status line, headers, and the framing of the body.
//!
//! ```text
//! HTTP/1.1 200 OK\r\n                 status line: version SP status SP reason CRLF
//! Content-Type: text/plain\r\n        the caller's headers
//! Content-Length: 5\r\n               the framing, chosen here
//! \r\n
//! hello
//! ```
//!
//! The writer, not the caller, decides how the body is framed, because the rules depend on the
//! request (RFC 9112 6 and 9110 8.6):
//!
//! - a known length is sent as `Content-Length`;
//! - a stream is sent `Transfer-Encoding: chunked` (see [`super::chunked::encode_chunk`]) to an
//!   HTTP/1.1 client, and to an HTTP/1.0 client, which knows no chunks, as bytes until the
//!   connection closes;
//! - 1xx, 204 and 304 responses have no body, and the first two no framing headers at all;
//! - the answer to `HEAD` has the headers the `GET` would have and no body;
//! - `Connection: close` is sent whenever the connection will close, and `Connection:
//!   keep-alive` to an HTTP/1.0 client whose connection stays open.
//!
//! Like the parser it reads no clock: `Date` is written only when the caller passes the time.

use super::request::{RequestHead, Version};
use super::{is_token, HttpError};
use std::time::{SystemTime, UNIX_EPOCH};

/// The interim answer to `Expect: 100-continue`: "go ahead, send the body".
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// How the body that follows this head is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    Length(u64),
    Chunked,
    /// Until the server closes the connection (for an HTTP/1.0 client that wants a stream).
    UntilClose,
}

/// A response head under construction. Build it, [`encode`](ResponseHead::encode) it, then
/// send the body as its framing says, and close the connection if
/// [`keeps_alive`](ResponseHead::keeps_alive) is false.
///
/// ```
/// use netcourse::http::ResponseHead;
/// let wire = ResponseHead::new(200)
///     .header("Content-Type", "text/plain")
///     .with_body(b"hello");
/// assert_eq!(
///     wire,
///     b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    status: u16,
    reason: &'static str,
    headers: Vec<(String, Vec<u8>)>,
    framing: Framing,
    keep_alive: bool,
    /// The request's version: an HTTP/1.0 client gets no chunks and needs `keep-alive` said.
    peer: Version,
    /// The request was HEAD: headers as for GET, no body.
    head_request: bool,
    date: Option<String>,
}

impl ResponseHead {
    /// A response to an HTTP/1.1 request that keeps the connection: `Content-Length: 0` until a
    /// body is given. Prefer [`ResponseHead::for_request`] when answering a parsed request.
    pub fn new(status: u16) -> Self {
        ResponseHead {
            status,
            reason: reason_phrase(status),
            headers: Vec::new(),
            framing: Framing::Length(0),
            keep_alive: true,
            peer: Version::Http11,
            head_request: false,
            date: None,
        }
    }

    /// A response to `request`: keeps its connection only if the request asked to, answers
    /// HEAD without a body, and frames the body the way the request's version understands.
    pub fn for_request(status: u16, request: &RequestHead) -> Self {
        ResponseHead {
            keep_alive: request.keep_alive,
            peer: request.version,
            head_request: request.is_head(),
            ..ResponseHead::new(status)
        }
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    /// Another reason phrase than the standard one (it is only for humans: clients ignore it).
    pub fn reason(mut self, reason: &'static str) -> Self {
        if reason
            .bytes()
            .all(|b| b == b'\t' || b == b' ' || b.is_ascii_graphic())
        {
            self.reason = reason;
        }
        self
    }

    /// Add a header. The writer owns the framing: `Content-Length` and `Transfer-Encoding` are
    /// set by [`content_length`](Self::content_length) and [`chunked`](Self::chunked) instead,
    /// and a name that is not a token is a bug; both are refused (loudly in debug builds).
    ///
    /// A value may come from the request (an echoed header, a file name): any control
    /// character in it is replaced by a space, as RFC 9110 5.5 lets a recipient do, so that no
    /// value can end the header line and start a header of its own (response splitting).
    pub fn header(mut self, name: &str, value: impl AsRef<[u8]>) -> Self {
        let framing = name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        debug_assert!(
            is_token(name.as_bytes()),
            "header name {name:?} is not a token"
        );
        debug_assert!(!framing, "{name} is set by content_length() or chunked()");
        if is_token(name.as_bytes()) && !framing {
            let value = value
                .as_ref()
                .iter()
                .map(|&b| {
                    if b.is_ascii_control() && b != b'\t' {
                        b' '
                    } else {
                        b
                    }
                })
                .collect();
            self.headers.push((name.to_string(), value));
        }
        self
    }

    /// The body is exactly `n` bytes.
    pub fn content_length(mut self, n: u64) -> Self {
        self.framing = Framing::Length(n);
        self
    }

    /// The body is a stream of unknown length: chunked for HTTP/1.1, and for an HTTP/1.0
    /// client (RFC 9112 6.1: a server "MUST NOT send a response containing Transfer-Encoding
    /// unless the corresponding request indicates HTTP/1.1") the bytes until the connection
    /// closes. Send the body with [`super::chunked::encode_chunk`] when
    /// [`is_chunked`](Self::is_chunked), as plain bytes otherwise.
    pub fn chunked(mut self) -> Self {
        if self.peer == Version::Http11 {
            self.framing = Framing::Chunked;
        } else {
            self.framing = Framing::UntilClose;
            self.keep_alive = false;
        }
        self
    }

    /// Close the connection after this response (and say so).
    pub fn close(mut self) -> Self {
        self.keep_alive = false;
        self
    }

    /// Add a `Date` header for this time (RFC 9110 6.6.1: an origin server with a clock
    /// "MUST generate a Date header field" in 2xx, 3xx and 4xx responses). The caller reads
    /// the clock; the writer stays deterministic.
    pub fn date(mut self, now: SystemTime) -> Self {
        self.date = Some(http_date(now));
        self
    }

    /// Whether the body must be sent with [`super::chunked::encode_chunk`] and end with
    /// [`super::chunked::LAST_CHUNK`].
    pub fn is_chunked(&self) -> bool {
        self.framing == Framing::Chunked && self.has_body()
    }

    /// Whether body bytes follow this head: not for HEAD, 1xx, 204 and 304 (RFC 9112 6.3).
    pub fn has_body(&self) -> bool {
        !(self.head_request || self.is_bodiless_status())
    }

    /// Whether the connection stays open after this response. When false, close it once the
    /// response is sent.
    pub fn keeps_alive(&self) -> bool {
        self.keep_alive
    }

    fn is_bodiless_status(&self) -> bool {
        (100..200).contains(&self.status) || self.status == 204 || self.status == 304
    }

    /// The head as bytes, up to and including the blank line.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4). We
        // answer as HTTP/1.1 to both versions (RFC 9110 6.2: the highest version we conform
        // to whose major version is the request's).
        out.extend_from_slice(
            format!("HTTP/1.1 {:03} {}\r\n", self.status, self.reason).as_bytes(),
        );
        for (name, value) in &self.headers {
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(value);
            out.extend_from_slice(b"\r\n");
        }
        let informational = (100..200).contains(&self.status);
        // RFC 9110 8.6: "A server MUST NOT send a Content-Length header field in any response
        // with a status code of 1xx (Informational) or 204 (No Content)", and RFC 9112 6.1 says
        // the same of Transfer-Encoding. 304 has no body either; we leave its framing out too.
        if !(informational || self.status == 204 || self.status == 304) {
            match self.framing {
                Framing::Length(n) => {
                    out.extend_from_slice(format!("Content-Length: {n}\r\n").as_bytes())
                }
                Framing::Chunked => out.extend_from_slice(b"Transfer-Encoding: chunked\r\n"),
                Framing::UntilClose => {}
            }
        }
        if !informational {
            if !self.keep_alive {
                out.extend_from_slice(b"Connection: close\r\n");
            } else if self.peer == Version::Http10 {
                // An HTTP/1.0 client assumes the connection closes unless told otherwise.
                out.extend_from_slice(b"Connection: keep-alive\r\n");
            }
        }
        if let Some(date) = &self.date {
            out.extend_from_slice(format!("Date: {date}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out
    }

    /// The whole response: the head with `Content-Length` set to the body's length, then the
    /// body (left out where [`has_body`](Self::has_body) says there is none, as for HEAD).
    pub fn with_body(self, body: &[u8]) -> Vec<u8> {
        let head = self.content_length(body.len() as u64);
        let mut out = head.encode();
        if head.has_body() {
            out.extend_from_slice(body);
        }
        out
    }
}

/// The answer to a request the parser refused: its status, `Connection: close` (the parser
/// cannot find the next request after an error, so the connection must end), a `Date`, and a
/// short text body saying what was wrong and which rule it broke.
///
/// Every parser error is a 4xx or a 5xx, and RFC 9110 6.6.1 says an origin server with a clock
/// "MUST generate a Date header field" in 2xx, 3xx and 4xx responses (and may in 5xx ones). The
/// caller reads the clock and passes `date`, so this stays sans-IO and tests can pin the time.
pub fn error_response(error: &HttpError, date: SystemTime) -> Vec<u8> {
    ResponseHead::new(error.status)
        .close()
        .header("Content-Type", "text/plain; charset=utf-8")
        .date(date)
        .with_body(format!("{error}\n").as_bytes())
}

/// The standard reason phrase of a status code (RFC 9110 15), or "" for one we do not know
/// (the phrase may be empty: clients go by the number).
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        417 => "Expectation Failed",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// A time as HTTP writes it (IMF-fixdate, RFC 9110 5.6.7): `Sun, 06 Nov 1994 08:49:37 GMT`.
/// Times before 1970 are written as 1970.
pub fn http_date(time: SystemTime) -> String {
    let secs = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let (year, month, day) = civil_from_days(days);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"]; // 1970-01-01 was a Thursday
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year:04} {h:02}:{m:02}:{s:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
    )
}

/// Year, month (1-12) and day (1-31) of a day counted from 1970-01-01, in the proleptic
/// Gregorian calendar (Howard Hinnant's `civil_from_days`, for days on or after the epoch).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01, so that leap days fall at the end of a year
    let era = z / 146_097; // 400-year cycles
    let doe = z % 146_097; // day of the era
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of the era
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the year, from March 1
    let mp = (5 * doy + 2) / 153; // month from March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::super::request::{parse_all, Event};
    use super::*;
    use std::time::Duration;

    fn request(bytes: &[u8]) -> RequestHead {
        match parse_all(bytes).events.into_iter().next() {
            Some(Event::Head(h)) => h,
            other => panic!("no head: {other:?}"),
        }
    }

    fn text(bytes: &[u8]) -> String {
        String::from_utf8_lossy(bytes).into_owned()
    }

    #[test]
    fn the_rfc_9110_date_example() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        // A leap day, and the day after the end of a century that is not a leap year.
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(http_date(t), "Mon, 01 Mar 2100 00:00:00 GMT");
    }

    #[test]
    fn a_response_with_a_body_and_a_date() {
        let wire = ResponseHead::new(404)
            .header("Content-Type", "text/plain")
            .date(UNIX_EPOCH + Duration::from_secs(784_111_777))
            .with_body(b"no such page\n");
        assert_eq!(
            text(&wire),
            "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\
             Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nno such page\n"
        );
    }

    #[test]
    fn head_gets_the_get_headers_and_no_body() {
        let req = request(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
        let wire = ResponseHead::for_request(200, &req).with_body(b"hello");
        assert_eq!(text(&wire), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n");
    }

    #[test]
    fn streams_are_chunked_for_1_1_and_closed_for_1_0() {
        let req = request(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let head = ResponseHead::for_request(200, &req).chunked();
        assert!(head.is_chunked() && head.keeps_alive());
        assert_eq!(
            text(&head.encode()),
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        );

        let req = request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let head = ResponseHead::for_request(200, &req).chunked();
        assert!(!head.is_chunked() && !head.keeps_alive());
        assert_eq!(
            text(&head.encode()),
            "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn connection_headers_follow_the_request() {
        let req = request(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let wire = ResponseHead::for_request(200, &req).with_body(b"");
        assert!(text(&wire).contains("Connection: keep-alive\r\n"));
        let req = request(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let head = ResponseHead::for_request(200, &req);
        assert!(!head.keeps_alive());
        assert!(text(&head.encode()).contains("Connection: close\r\n"));
    }

    #[test]
    fn no_framing_headers_on_1xx_204_304() {
        assert_eq!(
            ResponseHead::new(204).with_body(b"x"),
            b"HTTP/1.1 204 No Content\r\n\r\n"
        );
        assert_eq!(
            ResponseHead::new(304).close().encode(),
            b"HTTP/1.1 304 Not Modified\r\nConnection: close\r\n\r\n"
        );
        let switching = ResponseHead::new(101)
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .encode();
        assert_eq!(
            text(&switching),
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        );
        assert_eq!(CONTINUE, ResponseHead::new(100).encode());
    }

    #[test]
    fn a_value_cannot_split_the_response() {
        let wire = ResponseHead::new(200)
            .header("X-Echo", "a\r\nSet-Cookie: evil=1")
            .encode();
        assert_eq!(
            text(&wire),
            "HTTP/1.1 200 OK\r\nX-Echo: a  Set-Cookie: evil=1\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn unknown_status_has_an_empty_reason() {
        assert_eq!(
            ResponseHead::new(599).encode(),
            b"HTTP/1.1 599 \r\nContent-Length: 0\r\n\r\n"
        );
        assert_eq!(
            ResponseHead::new(200).reason("Fine").encode(),
            b"HTTP/1.1 200 Fine\r\nContent-Length: 0\r\n\r\n"
        );
    }

    #[test]
    fn an_error_response_closes_and_says_why() {
        let parsed = parse_all(b"GET / HTTP/1.1\r\nHost : x\r\n\r\n");
        let err = parsed.error.expect("whitespace before the colon");
        let wire = text(&error_response(
            &err,
            UNIX_EPOCH + Duration::from_secs(784_111_777),
        ));
        assert!(wire.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{wire}");
        assert!(wire.contains("Connection: close\r\n"));
        // RFC 9110 6.6.1: a 4xx from a server with a clock carries Date.
        assert!(
            wire.contains("Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"),
            "{wire}"
        );
        assert!(wire.contains("Content-Type: text/plain; charset=utf-8\r\n"));
        let (head, body) = wire.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
        assert!(body.contains("RFC 9112 5.1"), "{body}");
    }
}
