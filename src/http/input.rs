//! The parser's input buffer: bytes pushed and not yet consumed, and a line finder that never
//! looks at a byte twice.
//!
//! A slow client may send a 30 KiB header block one byte per read. Searching the whole buffer
//! for the end of the line after every read would look at the first byte 30,000 times: the
//! quadratic re-parse behind CVE-2023-43669 (tungstenite). [`Input::line`] remembers how far the
//! current line has been searched and starts there next time.

use std::ops::Range;

/// Bytes received and not yet consumed by the parser.
#[derive(Debug, Default)]
pub(crate) struct Input {
    buf: Vec<u8>,
    /// First byte not yet consumed. Bytes before it are dropped at the next push.
    start: usize,
    /// `buf[start..scanned]` holds no LF: the line search resumes here.
    scanned: usize,
}

/// The answer of [`Input::line`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// A whole line has arrived and is consumed: these bytes of the buffer, without the LF (a CR
    /// before it is still there). Read them with [`Input::get`] before the next push.
    Complete(Range<usize>),
    /// No LF yet; this many bytes of the line are buffered.
    Partial(usize),
}

impl Input {
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        // Drop consumed bytes once they are at least half the buffer: each byte is moved at
        // most about once, and the buffer holds little beyond what is still unread.
        if self.start > 0 && self.start >= self.buf.len() - self.start {
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet consumed.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// Bytes of a range returned by [`Input::line`] (empty if it is stale).
    pub(crate) fn get(&self, range: Range<usize>) -> &[u8] {
        self.buf.get(range).unwrap_or_default()
    }

    /// Mark the next `n` unread bytes as consumed (at most all of them).
    pub(crate) fn consume(&mut self, n: usize) {
        self.start = self.start.saturating_add(n).min(self.buf.len());
        self.scanned = self.scanned.max(self.start);
    }

    /// Take up to `n` unread bytes.
    pub(crate) fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.buf.len() - self.start);
        let bytes = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        bytes
    }

    /// Everything unread, leaving the buffer empty.
    pub(crate) fn take_all(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start);
        self.buf.clear();
        self.start = 0;
        self.scanned = 0;
        rest
    }

    /// How many unread bytes the line search has already looked at (for tests).
    #[cfg(test)]
    pub(crate) fn searched(&self) -> usize {
        self.scanned - self.start
    }

    /// The next line, if its LF has arrived. The search looks at most `max_len + 1` bytes
    /// into the line (a line longer than `max_len` is refused by the caller anyway) and
    /// resumes where the last call stopped.
    pub(crate) fn line(&mut self, max_len: usize) -> Line {
        let end = self
            .buf
            .len()
            .min(self.start.saturating_add(max_len).saturating_add(1));
        let from = self.scanned.max(self.start).min(end);
        match self.buf[from..end].iter().position(|&b| b == b'\n') {
            Some(i) => {
                let lf = from + i;
                let line = self.start..lf;
                self.start = lf + 1;
                self.scanned = self.start;
                Line::Complete(line)
            }
            None => {
                self.scanned = end;
                Line::Partial(self.buf.len() - self.start)
            }
        }
    }
}

/// How a line may end: RFC 9112 2.2 lets the head accept a lone LF; a chunked body does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LineEnd {
    CrlfOrLf,
    CrlfOnly,
}

/// Why a line's ending was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BadLineEnd {
    /// The line ended in LF without CR where only CRLF is accepted.
    BareLf,
    /// A CR inside the line, not followed by LF.
    BareCr,
}

/// The line without its CR (the LF is already gone).
pub(crate) fn strip_line_end(line: &[u8], end: LineEnd) -> Result<&[u8], BadLineEnd> {
    let body = match line {
        [rest @ .., b'\r'] => rest,
        _ if end == LineEnd::CrlfOnly => return Err(BadLineEnd::BareLf),
        _ => line,
    };
    // RFC 9112 2.2: "A sender MUST NOT generate a bare CR (a CR character not immediately
    // followed by LF) within any protocol elements other than the content. A recipient of such
    // a bare CR MUST consider that element to be invalid or replace each bare CR with SP".
    if body.contains(&b'\r') {
        return Err(BadLineEnd::BareCr);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_found_across_pushes_and_searched_once() {
        let mut input = Input::default();
        input.push(b"GET / HT");
        assert_eq!(input.line(100), Line::Partial(8));
        assert_eq!(input.scanned, 8);
        input.push(b"TP/1.1\r\nHost");
        let Line::Complete(r) = input.line(100) else {
            panic!("the line has arrived")
        };
        assert_eq!(input.get(r), b"GET / HTTP/1.1\r");
        assert_eq!(input.unread(), b"Host");
    }

    #[test]
    fn the_search_stops_past_the_limit() {
        let mut input = Input::default();
        input.push(&[b'x'; 1000]);
        assert_eq!(input.line(10), Line::Partial(1000));
        assert_eq!(input.scanned, 11);
    }

    #[test]
    fn consumed_bytes_are_dropped_on_a_later_push() {
        let mut input = Input::default();
        input.push(b"ab\ncd");
        assert!(matches!(input.line(10), Line::Complete(_)));
        input.push(b"e");
        assert_eq!(input.buf, b"cde");
        assert_eq!(input.take(2), b"cd");
        assert_eq!(input.take_all(), b"e");
    }

    #[test]
    fn line_ends() {
        assert_eq!(strip_line_end(b"a\r", LineEnd::CrlfOnly), Ok(&b"a"[..]));
        assert_eq!(strip_line_end(b"a", LineEnd::CrlfOrLf), Ok(&b"a"[..]));
        assert_eq!(
            strip_line_end(b"a", LineEnd::CrlfOnly),
            Err(BadLineEnd::BareLf)
        );
        assert_eq!(
            strip_line_end(b"a\rb\r", LineEnd::CrlfOrLf),
            Err(BadLineEnd::BareCr)
        );
    }
}
