//! Framing: turning a TCP byte stream back into the messages the peer meant to send.
//!
//! TCP delivers bytes, not messages. One `write("REV abc\n")` by the peer may arrive as three
//! reads (`"RE"`, `"V a"`, `"bc\n"`), and three writes may arrive as one read. A protocol on top
//! of TCP therefore says where each message ends, in one of two ways:
//!
//! - **a delimiter**: the message ends at a byte that cannot occur inside it (`\n` for lines,
//!   NUL for STOMP, `\r\n\r\n` for an HTTP header block);
//! - **a length prefix**: a fixed-size header says how many bytes follow (WebSocket, DNS over
//!   TCP, most binary protocols).
//!
//! This module is a *sans-IO* decoder: it never touches a socket. The caller pushes whatever
//! bytes a read returned ([`FrameDecoder::push`]) and then asks for complete messages
//! ([`FrameDecoder::next_message`]) until it answers `Ok(None)`: "not enough bytes yet" is a
//! normal answer, not an error. Because it holds no socket, the tests feed it every possible
//! chunking of the input without a network.
//!
//! Both framings have a limit. Without one, a peer that sends bytes and never a `\n`, or a
//! length prefix of 4 GiB, makes the server buffer until it runs out of memory.

use crate::layout::Field;
use crate::trace::{quote, Annotation};

/// Longest line accepted, in bytes, not counting the `\n` (a trailing `\r` counts).
pub const MAX_LINE: usize = 1024;
/// Largest payload a length prefix may announce: 1 MiB.
pub const MAX_FRAME: usize = 1 << 20;
/// Size of the length prefix: a 32-bit unsigned integer.
pub const PREFIX_LEN: usize = 4;

/// The length-prefixed frame, as it appears on the wire. `diagrams/03-length-prefix.svg` is
/// drawn from this table, and `--trace` names the same fields.
pub const LENGTH_PREFIX_LAYOUT: &[Field] = &[
    Field {
        name: "length",
        bits: Some(32),
        about: "payload size in bytes; unsigned, big-endian (network byte order); at most 1 MiB",
    },
    Field {
        name: "payload",
        bits: None,
        about: "exactly `length` bytes, any values: newlines and NUL bytes included",
    },
];

/// How the stream is cut into messages right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Each message is a line ending in `\n`; a `\r` before it is dropped.
    Lines,
    /// Each message is a 4-byte big-endian length followed by that many bytes.
    LengthPrefixed,
}

/// Input that breaks a framing rule. The connection cannot continue after one: the decoder no
/// longer knows where the next message starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// More than [`MAX_LINE`] bytes arrived without a `\n`.
    LineTooLong { limit: usize },
    /// A length prefix announced more than [`MAX_FRAME`] bytes.
    FrameTooLarge { declared: u64, limit: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::LineTooLong { limit } => {
                write!(f, "line too long: no newline within {limit} bytes")
            }
            FrameError::FrameTooLarge { declared, limit } => {
                write!(
                    f,
                    "frame too large: {declared} bytes announced, limit {limit}"
                )
            }
        }
    }
}

impl std::error::Error for FrameError {}

/// A streaming decoder for both framings. It can switch framing between two messages, which is
/// how a connection upgrades from one protocol to another (lesson 03's `BINARY` command here,
/// HTTP's `Upgrade: websocket` in lesson 09): bytes that arrived after the switching message
/// are already in the buffer and must be decoded with the new framing, not lost.
#[derive(Debug)]
pub struct FrameDecoder {
    framing: Framing,
    /// Bytes received and not yet returned as a message.
    buf: Vec<u8>,
    /// How far `buf` has already been searched for `\n`: each byte is looked at once, however
    /// many reads a long line takes (re-scanning from the start is quadratic).
    scanned: usize,
}

impl FrameDecoder {
    pub fn new(framing: Framing) -> Self {
        FrameDecoder {
            framing,
            buf: Vec::new(),
            scanned: 0,
        }
    }

    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// Decode the following messages with another framing. Buffered bytes are kept.
    pub fn switch_to(&mut self, framing: Framing) {
        self.framing = framing;
        self.scanned = 0;
    }

    /// Hand the decoder whatever one read returned: a whole message, part of one, or several.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes received but not yet part of a complete message.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete message, `Ok(None)` if more bytes are needed, or the rule the input
    /// broke. Call it in a loop after every push: one read may hold several messages.
    pub fn next_message(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        match self.framing {
            Framing::Lines => self.next_line(),
            Framing::LengthPrefixed => self.next_frame(),
        }
    }

    fn next_line(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        // exercise(03): begin "Find the end of a line"
        // hint: Search `self.buf` for b'\n', starting at `self.scanned` so that no byte is searched twice.
        // hint: Found at index i: the message is buf[..i] without a trailing b'\r'; remove buf[..=i] from the buffer (Vec::drain) and reset `scanned`.
        // hint: Not found: remember how far you searched. If more than MAX_LINE bytes wait without a newline, return Err(FrameError::LineTooLong { limit: MAX_LINE }).
        let window = self.buf.len().min(MAX_LINE + 1);
        match self.buf[self.scanned.min(window)..window]
            .iter()
            .position(|&b| b == b'\n')
        {
            Some(i) => {
                let end = self.scanned + i;
                let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                line.pop(); // the '\n'
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.scanned = 0;
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => Err(FrameError::LineTooLong { limit: MAX_LINE }),
            None => {
                self.scanned = window;
                Ok(None)
            }
        }
        // exercise: end
    }

    fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        // exercise(03): begin "Read a length prefix, then the payload"
        // hint: Fewer than PREFIX_LEN (4) bytes buffered: the prefix itself may be split across reads, return Ok(None).
        // hint: u32::from_be_bytes turns the 4 prefix bytes into the length: big-endian, "network byte order".
        // hint: Check the length against MAX_FRAME *before* waiting for the payload, or a 4 GiB prefix makes you buffer forever.
        // hint: The frame is complete when 4 + length bytes are buffered; drain them and return the payload.
        let Some(prefix) = self.buf.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let declared = u32::from_be_bytes(*prefix) as usize;
        if declared > MAX_FRAME {
            return Err(FrameError::FrameTooLarge {
                declared: declared as u64,
                limit: MAX_FRAME,
            });
        }
        if self.buf.len() < PREFIX_LEN + declared {
            return Ok(None);
        }
        let payload = self.buf[PREFIX_LEN..PREFIX_LEN + declared].to_vec();
        self.buf.drain(..PREFIX_LEN + declared);
        Ok(Some(payload))
        // exercise: end
    }
}

/// Frame one message for the wire.
///
/// A line must not contain `\n` itself: the receiver would see two messages. (That is the
/// price of delimiters; length prefixes carry any bytes.)
pub fn encode(framing: Framing, payload: &[u8]) -> Vec<u8> {
    match framing {
        Framing::Lines => {
            debug_assert!(!payload.contains(&b'\n'), "a line cannot contain a newline");
            let mut out = Vec::with_capacity(payload.len() + 1);
            out.extend_from_slice(payload);
            out.push(b'\n');
            out
        }
        Framing::LengthPrefixed => {
            let len = u32::try_from(payload.len()).expect("a frame is at most 4 GiB");
            let mut out = Vec::with_capacity(PREFIX_LEN + payload.len());
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(payload);
            out
        }
    }
}

/// Name the fields of one encoded message, for `--trace`: the length prefix decoded, the
/// payload quoted, the delimiter pointed out.
pub fn annotate(framing: Framing, wire: &[u8]) -> Vec<Annotation> {
    match framing {
        Framing::Lines => {
            let body = wire.len().saturating_sub(1);
            vec![
                Annotation::new(0..body, format!("line: {}", quote(&wire[..body], 40))),
                Annotation::new(body..wire.len(), "delimiter \\n"),
            ]
        }
        Framing::LengthPrefixed => {
            let Some(prefix) = wire.first_chunk::<PREFIX_LEN>() else {
                return vec![Annotation::new(0..wire.len(), "part of a length prefix")];
            };
            let len = u32::from_be_bytes(*prefix);
            let [name, payload] = LENGTH_PREFIX_LAYOUT else {
                unreachable!("the layout has two fields")
            };
            vec![
                Annotation::new(
                    0..PREFIX_LEN,
                    format!("{} = {len} (big-endian u32)", name.name),
                ),
                Annotation::new(
                    PREFIX_LEN..wire.len(),
                    format!(
                        "{} ({len} bytes): {}",
                        payload.name,
                        quote(&wire[PREFIX_LEN..], 40)
                    ),
                ),
            ]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decode `input` pushed in pieces cut at `cuts`, collecting messages until the decoder
    /// asks for more or fails.
    fn decode_chunked(
        framing: Framing,
        input: &[u8],
        chunk: impl Fn(usize) -> usize,
    ) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut dec = FrameDecoder::new(framing);
        let mut out = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < input.len() {
            let n = chunk(i).clamp(1, input.len() - at);
            dec.push(&input[at..at + n]);
            at += n;
            i += 1;
            while let Some(msg) = dec.next_message()? {
                out.push(msg);
            }
        }
        Ok(out)
    }

    /// Every chunking worth trying: one byte at a time, all at once, and pseudo-random sizes.
    fn all_chunkings(framing: Framing, input: &[u8]) -> Vec<Result<Vec<Vec<u8>>, FrameError>> {
        let mut results = vec![
            decode_chunked(framing, input, |_| 1),
            decode_chunked(framing, input, |_| usize::MAX),
        ];
        for seed in 1..20u64 {
            results.push(decode_chunked(framing, input, |i| {
                let x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seed;
                (x % 13) as usize + 1
            }));
        }
        // Every single cut point: the first part, then the rest.
        for cut in 1..input.len() {
            results.push(decode_chunked(framing, input, |i| {
                if i == 0 {
                    cut
                } else {
                    usize::MAX
                }
            }));
        }
        results
    }

    #[test]
    fn lines_survive_every_chunking() {
        let input = b"REV abc\nECHO x\r\n\nLAST one\n";
        let want: Vec<Vec<u8>> = vec![
            b"REV abc".to_vec(),
            b"ECHO x".to_vec(),
            vec![],
            b"LAST one".to_vec(),
        ];
        for got in all_chunkings(Framing::Lines, input) {
            assert_eq!(got.unwrap(), want);
        }
    }

    #[test]
    fn frames_survive_every_chunking() {
        let mut input = encode(Framing::LengthPrefixed, b"a\nb\0c");
        input.extend(encode(Framing::LengthPrefixed, b""));
        input.extend(encode(Framing::LengthPrefixed, &[7u8; 300]));
        let want = vec![b"a\nb\0c".to_vec(), vec![], vec![7u8; 300]];
        for got in all_chunkings(Framing::LengthPrefixed, &input) {
            assert_eq!(got.unwrap(), want);
        }
    }

    #[test]
    fn an_incomplete_message_is_not_an_error() {
        let mut dec = FrameDecoder::new(Framing::LengthPrefixed);
        dec.push(&[0, 0]);
        assert_eq!(dec.next_message(), Ok(None));
        dec.push(&[0, 3, b'a']);
        assert_eq!(dec.next_message(), Ok(None));
        dec.push(b"bc");
        assert_eq!(dec.next_message(), Ok(Some(b"abc".to_vec())));
    }

    #[test]
    fn a_line_at_the_limit_passes_and_one_byte_more_fails() {
        let mut ok = vec![b'x'; MAX_LINE];
        ok.push(b'\n');
        assert_eq!(
            all_chunkings(Framing::Lines, &ok)[0],
            Ok(vec![vec![b'x'; MAX_LINE]])
        );

        let long = vec![b'x'; MAX_LINE + 1];
        for got in all_chunkings(Framing::Lines, &long) {
            // Some chunkings stop before the limit is crossed; none may accept it.
            if let Err(e) = got {
                assert_eq!(e, FrameError::LineTooLong { limit: MAX_LINE });
            }
        }
        let mut dec = FrameDecoder::new(Framing::Lines);
        dec.push(&long);
        assert_eq!(
            dec.next_message(),
            Err(FrameError::LineTooLong { limit: MAX_LINE })
        );
    }

    #[test]
    fn a_huge_length_prefix_fails_before_any_payload_arrives() {
        let mut dec = FrameDecoder::new(Framing::LengthPrefixed);
        dec.push(&u32::MAX.to_be_bytes());
        assert_eq!(
            dec.next_message(),
            Err(FrameError::FrameTooLarge {
                declared: u32::MAX as u64,
                limit: MAX_FRAME
            })
        );
    }

    #[test]
    fn bytes_after_a_switch_are_decoded_with_the_new_framing() {
        let mut dec = FrameDecoder::new(Framing::Lines);
        let mut input = b"BINARY\n".to_vec();
        input.extend(encode(Framing::LengthPrefixed, b"REV a\nb"));
        dec.push(&input);
        assert_eq!(dec.next_message(), Ok(Some(b"BINARY".to_vec())));
        dec.switch_to(Framing::LengthPrefixed);
        assert_eq!(dec.next_message(), Ok(Some(b"REV a\nb".to_vec())));
        assert_eq!(dec.buffered(), 0);
    }

    #[test]
    fn encode_puts_the_length_in_network_byte_order() {
        assert_eq!(
            encode(Framing::LengthPrefixed, &[1u8; 258])[..4],
            [0, 0, 1, 2]
        );
        assert_eq!(encode(Framing::Lines, b"hi"), b"hi\n");
    }

    #[test]
    fn annotations_name_the_layout_fields() {
        let wire = encode(Framing::LengthPrefixed, b"REV a");
        let notes = annotate(Framing::LengthPrefixed, &wire);
        assert_eq!(notes[0].bytes, 0..4);
        assert!(notes[0].label.starts_with("length = 5"));
        assert!(notes[1].label.starts_with("payload (5 bytes)"));
    }
}
