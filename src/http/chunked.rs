//! The chunked transfer coding (RFC 9112 section 7.1): a body sent as a series of chunks.
//!
//! ```text
//! 5\r\n            chunk size in hexadecimal (optionally followed by ";name=value" extensions)
//! hello\r\n        that many bytes, then CRLF
//! 1a\r\n           the next chunk: 0x1a = 26 bytes
//! abcdefghijklmnopqrstuvwxyz\r\n
//! 0\r\n            the last chunk has size 0 ...
//! Expires: never\r\n   ... then optional trailer fields ...
//! \r\n             ... and a blank line: the body has ended
//! ```
//!
//! A sender that does not know the length up front (a stream, a live feed: lesson 08) can still
//! keep the connection alive, because the receiver knows where the body ends. The price is that
//! the receiver must parse it, and parse it *exactly*: if a front-end proxy and a back-end server
//! disagree on where a chunked body ends, a second request hidden in the body gets through
//! (request smuggling). So this decoder accepts only the RFC's grammar: CRLF line ends (no bare
//! LF), hex digits, well-formed extensions, and a size that fits 64 bits.
//!
//! [`encode_chunk`] and [`LAST_CHUNK`] are the sending side.

use super::fields::{is_field_vchar, parse_field_line, Headers};
use super::input::{strip_line_end, BadLineEnd, Input, Line, LineEnd};
use super::{is_tchar, ErrorKind, HttpError, Limits};
use crate::trace::quote;

/// Longest chunk size line accepted, extensions included, not counting the LF. Nothing we
/// serve uses extensions; this leaves room for any a client might add.
pub const MAX_CHUNK_LINE: usize = 1024;

/// The end of a chunked body: the last chunk (size 0) and an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// One chunk for the wire: the size in hex, CRLF, the bytes, CRLF.
///
/// Empty data gives no bytes at all, never a chunk of size 0: "0\r\n" is the last chunk, and
/// sending it mid-stream would end the body early. End the body with [`LAST_CHUNK`].
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 20);
    encode_chunk_into(data, &mut out);
    out
}

/// [`encode_chunk`], appending to a buffer that may already hold other output.
pub fn encode_chunk_into(data: &[u8], out: &mut Vec<u8>) {
    if data.is_empty() {
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

/// What the decoder found next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ChunkEvent {
    /// Body bytes (part of a chunk, or a whole one).
    Data(Vec<u8>),
    /// The trailer fields, when the body had any.
    Trailers(Headers),
    /// The body is complete; the bytes after it belong to the next request.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a chunk size line.
    Size,
    /// Inside a chunk's data, `left` bytes to go.
    Data { left: u64 },
    /// After a chunk's data: its CRLF.
    DataEnd,
    /// After the last chunk: trailer fields until a blank line.
    Trailers,
    /// The blank line has arrived.
    Done,
}

/// A streaming decoder for one chunked body, reading from the request parser's input.
#[derive(Debug)]
pub(crate) struct ChunkedDecoder {
    state: State,
    /// Body bytes announced so far (sum of chunk sizes), checked against the body limit.
    announced: u64,
    trailers: Headers,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    pub(crate) fn new() -> Self {
        ChunkedDecoder {
            state: State::Size,
            announced: 0,
            trailers: Headers::new(),
            trailer_bytes: 0,
        }
    }

    /// The next piece of the body, `Ok(None)` if more bytes are needed.
    pub(crate) fn next(
        &mut self,
        input: &mut Input,
        limits: &Limits,
    ) -> Result<Option<ChunkEvent>, HttpError> {
        loop {
            match self.state {
                State::Size => {
                    let range = match input.line(MAX_CHUNK_LINE) {
                        Line::Partial(n) if n <= MAX_CHUNK_LINE => return Ok(None),
                        Line::Complete(r) if r.len() <= MAX_CHUNK_LINE => r,
                        _ => {
                            return Err(HttpError::new(
                                ErrorKind::BadChunkSize,
                                format!("a chunk size line longer than {MAX_CHUNK_LINE} bytes"),
                            ))
                        }
                    };
                    let line = strict_line(input.get(range), "a chunk size line")?;
                    let size = parse_chunk_size_line(line)?;
                    if size == 0 {
                        self.state = State::Trailers;
                        continue;
                    }
                    // Check the limit when the size is announced, before reading the data.
                    self.announced = self
                        .announced
                        .checked_add(size)
                        .filter(|&total| total <= limits.max_body)
                        .ok_or_else(|| {
                            HttpError::new(
                                ErrorKind::BodyTooLarge,
                                format!(
                                    "a chunk of {size} bytes takes the body past the limit of {} bytes",
                                    limits.max_body
                                ),
                            )
                        })?;
                    self.state = State::Data { left: size };
                }
                State::Data { left } => {
                    let available = input.unread().len();
                    if available == 0 {
                        return Ok(None);
                    }
                    // Never more than is buffered, so the cast to usize cannot truncate.
                    let n = left.min(available as u64) as usize;
                    let data = input.take(n);
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::DataEnd
                    } else {
                        State::Data { left }
                    };
                    return Ok(Some(ChunkEvent::Data(data)));
                }
                State::DataEnd => match input.unread() {
                    [] | [b'\r'] => return Ok(None),
                    [b'\r', b'\n', ..] => {
                        input.consume(2);
                        self.state = State::Size;
                    }
                    other => {
                        // Quote only the bytes that decided it, so that the message does not
                        // depend on how many bytes happen to be buffered.
                        let decided = if other[0] == b'\r' { 2 } else { 1 };
                        return Err(HttpError::new(
                            ErrorKind::MissingChunkCrlf,
                            format!(
                                "chunk data is followed by {} instead of CRLF: the chunk size and the data disagree",
                                quote(&other[..decided.min(other.len())], 2)
                            ),
                        ));
                    }
                },
                State::Trailers => {
                    let max = limits.max_trailer_bytes;
                    let too_large = || {
                        HttpError::new(
                            ErrorKind::TrailersTooLarge,
                            format!("the trailer section is larger than {max} bytes"),
                        )
                    };
                    let range = match input.line(max.saturating_sub(self.trailer_bytes)) {
                        Line::Partial(n) if self.trailer_bytes.saturating_add(n) > max => {
                            return Err(too_large())
                        }
                        Line::Partial(_) => return Ok(None),
                        Line::Complete(r) => r,
                    };
                    self.trailer_bytes = self.trailer_bytes.saturating_add(range.len() + 1);
                    if self.trailer_bytes > max {
                        return Err(too_large());
                    }
                    let line = strict_line(input.get(range), "a trailer line")?;
                    if line.is_empty() {
                        self.state = State::Done;
                        if !self.trailers.is_empty() {
                            let trailers = std::mem::take(&mut self.trailers);
                            return Ok(Some(ChunkEvent::Trailers(trailers)));
                        }
                        continue;
                    }
                    let (name, value) = parse_field_line(line, false)?;
                    if self.trailers.len() >= limits.max_headers {
                        return Err(HttpError::new(
                            ErrorKind::TooManyHeaders,
                            format!("more than {} trailer fields", limits.max_headers),
                        ));
                    }
                    self.trailers.push(name, value);
                }
                State::Done => return Ok(Some(ChunkEvent::End)),
            }
        }
    }
}

/// A line of the chunked body without its CRLF; a bare LF or a bare CR is an error here.
fn strict_line<'a>(line: &'a [u8], what: &str) -> Result<&'a [u8], HttpError> {
    strip_line_end(line, LineEnd::CrlfOnly).map_err(|bad| match bad {
        BadLineEnd::BareLf => HttpError::new(
            ErrorKind::BareLfInChunked,
            format!("{what} ends in a bare LF: {}", quote(line, 40)),
        ),
        BadLineEnd::BareCr => HttpError::new(
            ErrorKind::BareCr,
            format!("{what} has a CR not followed by LF: {}", quote(line, 40)),
        ),
    })
}

/// The size of a chunk from its size line (line end removed):
/// `chunk-size [ chunk-ext ]`, with `chunk-size = 1*HEXDIG`.
pub fn parse_chunk_size_line(line: &[u8]) -> Result<u64, HttpError> {
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(HttpError::new(
            ErrorKind::BadChunkSize,
            format!(
                "a chunk size line that does not start with hex digits: {}",
                quote(line, 40)
            ),
        ));
    }
    // RFC 9112 7.1: "Recipients MUST anticipate potentially large hexadecimal numerals and
    // prevent parsing errors due to integer conversion overflows or precision loss due to
    // integer representation." Leading zeros are fine, so count value, not digits.
    let mut size: u64 = 0;
    for &d in &line[..digits] {
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(u64::from(hex_value(d))))
            .ok_or_else(|| {
                HttpError::new(
                    ErrorKind::ChunkSizeOverflow,
                    format!(
                        "the chunk size {} does not fit 64 bits",
                        quote(&line[..digits], 40)
                    ),
                )
            })?;
    }
    if !is_chunk_ext(&line[digits..]) {
        return Err(HttpError::new(
            ErrorKind::BadChunkSize,
            format!("malformed text after the chunk size: {}", quote(line, 40)),
        ));
    }
    Ok(size)
}

fn hex_value(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        b'a'..=b'f' => d - b'a' + 10,
        b'A'..=b'F' => d - b'A' + 10,
        _ => 0, // not reached: callers pass hex digits only
    }
}

/// `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`, where the name is
/// a token and the value a token or a quoted string. Extensions are checked, then ignored.
fn is_chunk_ext(mut s: &[u8]) -> bool {
    while !s.is_empty() {
        let [b';', rest @ ..] = skip_ws(s) else {
            return false;
        };
        s = skip_ws(rest);
        let name = token_len(s);
        if name == 0 {
            return false;
        }
        s = &s[name..];
        if let [b'=', rest @ ..] = skip_ws(s) {
            let value = skip_ws(rest);
            let len = match value {
                [b'"', ..] => quoted_string_len(value),
                _ => Some(token_len(value)).filter(|&n| n > 0),
            };
            let Some(len) = len else {
                return false;
            };
            s = &value[len..];
        }
    }
    true
}

fn skip_ws(s: &[u8]) -> &[u8] {
    let n = s.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
    &s[n..]
}

fn token_len(s: &[u8]) -> usize {
    s.iter().take_while(|&&b| is_tchar(b)).count()
}

/// Length of the quoted string at the start of `s` (quotes included), if it is well formed.
fn quoted_string_len(s: &[u8]) -> Option<usize> {
    let mut i = 1; // the opening quote
    loop {
        match *s.get(i)? {
            b'"' => return Some(i + 1),
            b'\\' => {
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )
                if !is_field_vchar(*s.get(i + 1)?) {
                    return None;
                }
                i += 2;
            }
            b if is_field_vchar(b) => i += 1,
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_carry_their_size_in_hex() {
        assert_eq!(encode_chunk(b"hello"), b"5\r\nhello\r\n");
        assert_eq!(&encode_chunk(&[b'x'; 26])[..4], b"1a\r\n");
        let mut out = b"head".to_vec();
        encode_chunk_into(b"ab", &mut out);
        assert_eq!(out, b"head2\r\nab\r\n");
    }

    #[test]
    fn an_empty_chunk_is_never_written_because_it_would_end_the_body() {
        assert_eq!(encode_chunk(b""), b"");
        assert_eq!(LAST_CHUNK, b"0\r\n\r\n");
    }

    #[test]
    fn size_lines() {
        assert_eq!(parse_chunk_size_line(b"0").unwrap(), 0);
        assert_eq!(parse_chunk_size_line(b"1A").unwrap(), 26);
        assert_eq!(
            parse_chunk_size_line(b"0000000000000000000010").unwrap(),
            16
        );
        assert_eq!(
            parse_chunk_size_line(b"ffffffffffffffff").unwrap(),
            u64::MAX
        );
        assert_eq!(parse_chunk_size_line(b"5;name").unwrap(), 5);
        assert_eq!(
            parse_chunk_size_line(b"5 ; a = b ;c=\"x\\\"y; z\"").unwrap(),
            5
        );
    }

    #[test]
    fn broken_size_lines() {
        let kind = |line: &[u8]| parse_chunk_size_line(line).unwrap_err().kind;
        assert_eq!(kind(b"10000000000000000"), ErrorKind::ChunkSizeOverflow);
        for bad in [
            &b""[..],
            b"x",
            b"-1",
            b"+5",
            b"0x5",
            b" 5",
            b"5 ",
            b"5;",
            b"5;a=",
            b"5;a=\"open",
            b"5;a b",
            b"5\x00",
        ] {
            assert_eq!(kind(bad), ErrorKind::BadChunkSize, "{}", quote(bad, 40));
        }
    }
}
