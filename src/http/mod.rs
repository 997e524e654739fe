//! HTTP/1.1 as bytes: an incremental request parser and a response writer (lesson 07, sans-IO).
//!
//! HTTP/1.1 (RFC 9112) is a text framing on top of a TCP byte stream. A request is:
//!
//! ```text
//! GET /index.html HTTP/1.1\r\n      request line: method SP target SP version CRLF
//! Host: example.com\r\n             header fields: name ":" OWS value OWS CRLF, any number
//! Content-Length: 5\r\n
//! \r\n                              the blank line: the head ends here
//! hello                             the body (content), if the head announced one
//! ```
//!
//! The head always ends at the first empty line, so a receiver finds it by reading lines. Where
//! the *body* ends is the hard part, because nothing in the body marks its end. There are three
//! ways, and the head says which one applies (RFC 9112 section 6.3):
//!
//! 1. **`Content-Length: N`**: exactly N bytes follow.
//! 2. **`Transfer-Encoding: chunked`**: the body is a series of chunks, each a hexadecimal size
//!    line and that many bytes, ended by a chunk of size 0 (see [`chunked`]). The sender does not
//!    need to know the length up front, which is what makes streaming responses possible.
//! 3. **Neither**: a *request* then has no body at all. (A *response* without either runs until
//!    the server closes the connection; that is how an HTTP/1.0 client gets a streamed body.)
//!
//! Once the body has ended, the next request may follow at once on the same connection
//! (keep-alive), and a client may send several requests without waiting for the answers
//! (pipelining): one read can hold the end of one request and the start of the next. Nothing in
//! HTTP/1.1 lets the server talk first or answer out of order: it is request/response,
//! half-duplex, which is what lessons 08 to 11 work around.
//!
//! This module is *sans-IO*, like [`crate::framing`]: it never touches a socket or a clock.
//!
//! - [`request`]: [`RequestParser`], a push parser. Push bytes as they arrive, then call
//!   [`RequestParser::next`] until it answers `Ok(None)` ("need more bytes", a normal answer).
//!   It yields [`Event::Head`], then [`Event::Body`] pieces as they arrive, then [`Event::End`].
//!   Every limit and every malformed input is an [`HttpError`] carrying the status to answer.
//! - [`chunked`]: the chunked transfer coding, decoding helpers and the encoder.
//! - [`response`]: [`ResponseHead`], which writes a status line and headers and picks the body
//!   framing, [`chunked::encode_chunk`] for streaming, and [`error_response`].
//!
//! Decisions on the points the RFC leaves to the implementation (each is also at its line):
//!
//! - **Bare LF**: accepted as a line end in the request line and header fields (RFC 9112 2.2
//!   allows it, and `nc` or a hand-typed request often sends it); a bare CR anywhere in the head
//!   is a 400. Inside a chunked body (size lines, the CRLF after data, trailers) only CRLF is
//!   accepted: lenient chunk parsing is a known request-smuggling vector.
//! - **Request line**: exactly one SP between its three parts (the RFC's grammar; the
//!   whitespace-tolerant parsing it also permits is not done). Up to
//!   [`MAX_EMPTY_LINES_BEFORE_REQUEST`] empty lines before a request line are ignored (2.2).
//! - **Transfer-Encoding**: only `chunked` is implemented. `chunked` not last (including a
//!   Transfer-Encoding without it) is a 400, as 6.3 requires; `chunked` last with another coding
//!   before it (`gzip, chunked`) is a 501. Transfer-Encoding in an HTTP/1.0 request, or together
//!   with Content-Length, is a 400.
//! - **Content-Length**: repeated identical values (`5, 5` or two lines of `5`) are accepted as
//!   one (RFC 9110 8.6 allows it); differing or non-digit values are a 400.

pub mod chunked;
mod fields;
mod input;
pub mod request;
pub mod response;

pub use chunked::{encode_chunk, encode_chunk_into, LAST_CHUNK};
pub use fields::Headers;
pub use request::{
    annotate_head, parse_all, BodyFraming, Event, Parsed, RequestHead, RequestParser, Version,
};
pub use response::{error_response, http_date, reason_phrase, ResponseHead, CONTINUE};

use std::fmt;

/// Empty lines ignored before a request line (RFC 9112 2.2: "a server that is expecting to
/// receive and parse a request-line SHOULD ignore at least one empty line (CRLF) received prior
/// to the request-line"). More is a 400: otherwise a peer can keep a connection busy forever.
pub const MAX_EMPTY_LINES_BEFORE_REQUEST: usize = 8;

/// How much a request may make the parser hold. Every limit is checked as bytes arrive, so a peer
/// that never sends the end of a line or of its head is stopped at the limit, not at out of
/// memory. Each limit has its own status code, so a client learns which one it hit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest request line, counting a CR before its LF. Over it: 414 URI Too Long.
    pub max_request_line: usize,
    /// Largest header section: every field line with its line end, and the blank line.
    /// Over it: 431 Request Header Fields Too Large.
    pub max_header_bytes: usize,
    /// Most header fields (and, separately, trailer fields). Over it: 431.
    pub max_headers: usize,
    /// Largest body, however it is framed. Over it: 413 Content Too Large, sent as soon as a
    /// Content-Length or a chunk size announces it, before the body is read.
    pub max_body: u64,
    /// Largest trailer section of a chunked body. Over it: 431.
    pub max_trailer_bytes: usize,
}

impl Default for Limits {
    /// 8 KiB request line and 32 KiB of headers (about what nginx and Node accept by default),
    /// 100 headers, 1 MiB of body, 4 KiB of trailers.
    fn default() -> Self {
        Limits {
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_body: 1 << 20,
            max_trailer_bytes: 4 * 1024,
        }
    }
}

/// A request the parser refuses, with the status code to answer it with and what was wrong.
///
/// After an error the connection cannot continue: the parser no longer knows where the next
/// request starts. Answer with [`error_response`] (which says `Connection: close` and carries
/// the `Date` the caller passes) and close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpError {
    /// The status code to send: 400, 413, 414, 431, 501 or 505.
    pub status: u16,
    /// Which rule the input broke; tests match on it.
    pub kind: ErrorKind,
    /// What was wrong in this input, in one sentence for the response body and the log.
    pub reason: String,
}

impl HttpError {
    pub(crate) fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        HttpError {
            status: kind.status(),
            kind,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {}: {} (breaks {})",
            self.status,
            reason_phrase(self.status),
            self.reason,
            self.kind.rule()
        )
    }
}

impl std::error::Error for HttpError {}

/// Every rule the parser enforces. [`ErrorKind::status`] is the answer, [`ErrorKind::rule`]
/// names where the rule is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The request line is longer than [`Limits::max_request_line`]. (414)
    RequestLineTooLong,
    /// The header section is larger than [`Limits::max_header_bytes`]. (431)
    HeadersTooLarge,
    /// More than [`Limits::max_headers`] header or trailer fields. (431)
    TooManyHeaders,
    /// The trailer section is larger than [`Limits::max_trailer_bytes`]. (431)
    TrailersTooLarge,
    /// The body is (or is announced to be) larger than [`Limits::max_body`]. (413)
    BodyTooLarge,
    /// A transfer coding other than `chunked`, which this server does not implement. (501)
    UnsupportedTransferCoding,
    /// A version other than HTTP/1.0 and HTTP/1.1. (505)
    UnsupportedVersion,
    /// Too many empty lines before the request line. (400)
    TooManyEmptyLines,
    /// The request line is not `method SP target SP version`. (400)
    BadRequestLine,
    /// The method is not a token. (400)
    BadMethod,
    /// The target is empty or has a byte that is not visible ASCII. (400)
    BadTarget,
    /// The version is not `HTTP/` DIGIT `.` DIGIT. (400)
    BadVersion,
    /// A CR not followed by LF in the head. (400)
    BareCr,
    /// A field line without a colon. (400)
    NoColon,
    /// A field line with an empty name. (400)
    EmptyFieldName,
    /// Whitespace between a field name and its colon. (400)
    WhitespaceBeforeColon,
    /// A field name with a byte that is not a token character. (400)
    BadFieldName,
    /// A field value with a control character. (400)
    BadFieldValue,
    /// A field line starting with whitespace: obs-fold, or whitespace after the request line. (400)
    ObsFold,
    /// An HTTP/1.1 request without Host, several Host fields, or an invalid Host value. (400)
    BadHost,
    /// Content-Length is not a number, or several differing ones. (400)
    BadContentLength,
    /// Both Content-Length and Transfer-Encoding. (400)
    ContentLengthAndTransferEncoding,
    /// Transfer-Encoding whose last coding is not chunked, chunked twice, or in HTTP/1.0. (400)
    BadTransferEncoding,
    /// A chunk size line that is not hex digits and optional extensions, or is too long. (400)
    BadChunkSize,
    /// A chunk size too large for 64 bits. (400)
    ChunkSizeOverflow,
    /// Chunk data not followed by CRLF. (400)
    MissingChunkCrlf,
    /// A line inside a chunked body ends in a bare LF. (400)
    BareLfInChunked,
}

impl ErrorKind {
    /// The status code that answers this error.
    pub fn status(self) -> u16 {
        use ErrorKind::*;
        match self {
            RequestLineTooLong => 414,
            HeadersTooLarge | TooManyHeaders | TrailersTooLarge => 431,
            BodyTooLarge => 413,
            UnsupportedTransferCoding => 501,
            UnsupportedVersion => 505,
            _ => 400,
        }
    }

    /// Where the rule is written, with its sentence when it is short.
    pub fn rule(self) -> &'static str {
        use ErrorKind::*;
        match self {
            RequestLineTooLong => "RFC 9112 3: a server that receives a request-target longer than any URI it wishes to parse MUST respond with a 414 (URI Too Long)",
            HeadersTooLarge | TrailersTooLarge | TooManyHeaders => "RFC 6585 5: 431 indicates that the server is unwilling to process the request because its header fields are too large",
            BodyTooLarge => "RFC 9110 15.5.14: 413 indicates that the server is refusing to process a request because the request content is larger than the server is willing or able to process",
            UnsupportedTransferCoding => "RFC 9112 6.1: a server that receives a request message with a transfer coding it does not understand SHOULD respond with 501 (Not Implemented)",
            UnsupportedVersion => "RFC 9110 15.6.6: 505 indicates that the server does not support the major version of HTTP that was used in the request",
            TooManyEmptyLines => "RFC 9112 2.2: a server SHOULD ignore at least one empty line (CRLF) received prior to the request-line (we ignore a few, not an endless stream)",
            BadRequestLine => "RFC 9112 3: request-line = method SP request-target SP HTTP-version",
            BadMethod => "RFC 9110 9.1: method = token",
            BadTarget => "RFC 9112 3.2: a request-target is a URI reference of visible ASCII characters",
            BadVersion => "RFC 9112 2.3: HTTP-version = HTTP-name \"/\" DIGIT \".\" DIGIT",
            BareCr => "RFC 9112 2.2: a recipient of a bare CR MUST consider that element to be invalid",
            NoColon => "RFC 9112 5: field-line = field-name \":\" OWS field-value OWS",
            EmptyFieldName => "RFC 9110 5.1: field-name = token (at least one character)",
            WhitespaceBeforeColon => "RFC 9112 5.1: a server MUST reject, with a response status code of 400 (Bad Request), any received request message that contains whitespace between a header field name and colon",
            BadFieldName => "RFC 9110 5.1: field-name = token",
            BadFieldValue => "RFC 9110 5.5: field values containing CR, LF, or NUL characters are invalid and dangerous",
            ObsFold => "RFC 9112 5.2: a server that receives an obs-fold in a request message MUST either reject the message by sending a 400 (Bad Request) or replace each received obs-fold with SP",
            BadHost => "RFC 9112 3.2: a server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1 request message that lacks a Host header field and to any request message that contains more than one Host header field line or a Host header field with an invalid field value",
            BadContentLength => "RFC 9112 6.3: if a message is received without Transfer-Encoding and with an invalid Content-Length header field, the server MUST respond with a 400 (Bad Request) status code",
            ContentLengthAndTransferEncoding => "RFC 9112 6.3: a server MAY reject a request that contains both Content-Length and Transfer-Encoding (it might indicate an attempt to perform request smuggling)",
            BadTransferEncoding => "RFC 9112 6.3: if a Transfer-Encoding header field is present in a request and the chunked transfer coding is not the final encoding, the server MUST respond with the 400 (Bad Request) status code",
            BadChunkSize => "RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF; chunk-size = 1*HEXDIG",
            ChunkSizeOverflow => "RFC 9112 7.1: recipients MUST anticipate potentially large hexadecimal numerals and prevent parsing errors due to integer conversion overflows",
            MissingChunkCrlf => "RFC 9112 7.1: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF",
            BareLfInChunked => "RFC 9112 7.1: every line of a chunked body ends in CRLF (bare LF is not accepted there: lenient chunk parsing is a request-smuggling vector)",
        }
    }
}

/// `tchar` from RFC 9110 5.6.2: the characters of a token (method names, header names).
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A non-empty run of token characters.
pub(crate) fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// Optional whitespace (OWS) removed from both ends: SP and HTAB, RFC 9110 5.6.3.
pub(crate) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_status_reason_and_rule() {
        let e = HttpError::new(ErrorKind::WhitespaceBeforeColon, "\"Host \" before ':'");
        let text = e.to_string();
        assert!(
            text.starts_with("400 Bad Request: \"Host \" before ':'"),
            "{text}"
        );
        assert!(text.contains("RFC 9112 5.1"), "{text}");
    }

    #[test]
    fn every_kind_maps_to_a_status_the_curriculum_lists() {
        use ErrorKind::*;
        for kind in [
            RequestLineTooLong,
            HeadersTooLarge,
            TooManyHeaders,
            TrailersTooLarge,
            BodyTooLarge,
            UnsupportedTransferCoding,
            UnsupportedVersion,
            BareLfInChunked,
        ] {
            assert!([400, 413, 414, 431, 501, 505].contains(&kind.status()));
            assert!(kind.rule().starts_with("RFC"));
        }
    }

    #[test]
    fn ows_is_trimmed_from_both_ends_only() {
        assert_eq!(trim_ows(b" \t a b \t"), b"a b");
        assert_eq!(trim_ows(b"   "), b"");
        assert!(is_token(b"Content-Type"));
        assert!(!is_token(b"Content Type"));
        assert!(!is_token(b""));
    }
}
