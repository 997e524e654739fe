//! Messages: frames put back together, text checked as it arrives, limits enforced.
//!
//! A message is one frame, or a *fragmented* sequence: a text or binary frame without FIN, any
//! number of continuation frames without FIN, and a continuation frame with FIN (RFC 6455 5.4).
//! Control frames (close, ping, pong) are never fragmented but may arrive *between* the
//! fragments of a message, so that a ping is not stuck behind a 1 GiB upload:
//!
//! ```text
//!   text "Hel" (FIN 0) | ping "?" | continuation "lo" (FIN 1)
//!   -> Ping(b"?"), then Text("Hello")
//! ```
//!
//! [`MessageReader`] stacks an [`Assembler`] on a [`FrameDecoder`]: push bytes, then call
//! `next` until it answers `Ok(None)`. `push` decodes at once, from the bytes it is given:
//! the decoder lends each piece of payload and the assembler unmasks it straight into the
//! message, so a payload byte is copied once on its way from the read buffer to the message.
//! What it refuses, and the close code it asks for:
//!
//! - a continuation with no message in progress, or a new text/binary frame while one is in
//!   progress: 1002;
//! - a message longer than [`Limits::max_message`] (checked on each frame's *declared* length,
//!   before its payload arrives) or in more than [`Limits::max_fragments`] frames: 1009;
//! - text that is not UTF-8: 1007, at the first byte that cannot be valid, even if it is in the
//!   middle of a frame and more frames are announced;
//! - a Close frame with a bad payload: 1002 or 1007 (see [`super::close`]).

use super::close::{parse_close_payload, CloseFrame};
use super::decoder::{Chunk, DecoderConfig, FrameDecoder, FrameEvent, Payload};
use super::error::{ErrorKind, WsError};
use super::frame::{FrameHeader, Opcode};
use super::utf8::Utf8Validator;
use super::{Limits, Role};
use std::collections::VecDeque;

/// A complete message or control frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Text(String),
    Binary(Vec<u8>),
    /// A ping and its payload; the pong must carry the same bytes.
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    /// A Close frame; `None` when it carried no code (the application sees 1005).
    Close(Option<CloseFrame>),
}

/// A data message in progress.
#[derive(Debug)]
struct Partial {
    opcode: Opcode,
    data: Vec<u8>,
    /// For text only.
    utf8: Option<Utf8Validator>,
    fragments: usize,
}

/// What the frame being read belongs to.
#[derive(Debug)]
enum Current {
    /// Between frames.
    None,
    /// A control frame: its payload is gathered here (125 bytes at most).
    Control(Opcode, Vec<u8>),
    /// A data frame of the message in `Assembler::message`; `fin` ends the message, `len` is
    /// the frame's declared payload length.
    Data { fin: bool, len: u64 },
}

/// Turns frame events into messages. Frame-level rules are the decoder's; this checks the
/// order of frames, the message limits and UTF-8.
#[derive(Debug)]
pub struct Assembler {
    limits: Limits,
    message: Option<Partial>,
    current: Current,
    /// An empty buffer for the next message to be unmasked into (capacity 0: none), given by
    /// [`Assembler::give_buffer`]: an echo server gives back each message it has copied out,
    /// so the next one needs no allocation.
    spare: Vec<u8>,
}

impl Assembler {
    pub fn new(limits: Limits) -> Self {
        Assembler {
            limits,
            message: None,
            current: Current::None,
            spare: Vec::new(),
        }
    }

    /// A buffer for the next message's payload to be unmasked into, instead of a new one. The
    /// larger of it and the one already kept is kept; the other is returned.
    pub fn give_buffer(&mut self, mut buffer: Vec<u8>) -> Vec<u8> {
        if buffer.capacity() > self.spare.capacity() {
            buffer.clear();
            std::mem::swap(&mut self.spare, &mut buffer);
        }
        buffer
    }

    /// The buffer kept for the next message, if any (an empty `Vec` if not): a driver takes it
    /// back when the connection goes idle, so that an idle connection holds none.
    pub fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.spare)
    }

    /// Take one frame event; a message when one is complete.
    pub fn handle(&mut self, event: FrameEvent) -> Result<Option<Message>, WsError> {
        match event {
            FrameEvent::Header(header) => self.handle_chunk(Chunk::Header(header)),
            FrameEvent::Payload(bytes) => self.handle_chunk(Chunk::Payload(Payload {
                wire: &bytes,
                mask: None, // a FrameEvent's payload is already unmasked
                offset: 0,
            })),
            FrameEvent::End => self.handle_chunk(Chunk::End),
        }
    }

    /// Take one chunk from [`FrameDecoder::decode`]; a message when one is complete.
    pub fn handle_chunk(&mut self, chunk: Chunk<'_>) -> Result<Option<Message>, WsError> {
        match chunk {
            Chunk::Header(header) => {
                self.start_frame(&header)?;
                Ok(None)
            }
            Chunk::Payload(piece) => {
                self.payload(&piece)?;
                Ok(None)
            }
            Chunk::End => self.end_frame(),
            Chunk::Frame(header, piece) => {
                self.start_frame(&header)?;
                if !piece.wire.is_empty() {
                    self.payload(&piece)?;
                }
                self.end_frame()
            }
        }
    }

    /// A fragmented message is in progress (its first frame came, its last has not).
    pub fn in_message(&self) -> bool {
        self.message.is_some()
    }

    fn start_frame(&mut self, header: &FrameHeader) -> Result<(), WsError> {
        let opcode = header.opcode;
        if opcode.is_control() {
            // The decoder has checked FIN and the 125-byte limit.
            self.current =
                Current::Control(opcode, Vec::with_capacity(header.payload_len as usize));
            return Ok(());
        }
        // exercise(10): begin "Fragments: a first frame starts a message, continuations extend it, anything else out of order is a protocol error"
        // hint: `self.message` is the message in progress. A continuation with none in progress is `ErrorKind::UnexpectedContinuation`; a text or binary frame while one is in progress is `ErrorKind::ExpectedContinuation` (both 1002, RFC 6455 5.4).
        // hint: A text or binary frame with none in progress starts a `Partial { opcode, data: Vec::new(), utf8: (opcode == Opcode::Text).then(Utf8Validator::new), fragments: 0 }`: its type is the first frame's, whatever the continuations say.
        // hint: Count the fragment against `self.limits.max_fragments`, and the declared length (`header.payload_len`, before any of it arrives) against `self.limits.max_message` (both 1009); then `self.current = Current::Data { fin: header.fin, len: header.payload_len }` and `Ok(())`.
        match (&mut self.message, opcode) {
            (None, Opcode::Continuation) => {
                return Err(WsError::new(
                    ErrorKind::UnexpectedContinuation,
                    "a continuation frame with no message to continue",
                ))
            }
            (Some(m), Opcode::Text | Opcode::Binary) => {
                return Err(WsError::new(
                    ErrorKind::ExpectedContinuation,
                    format!(
                        "a new {opcode} frame while a fragmented {} message is in progress",
                        m.opcode
                    ),
                ))
            }
            (None, _) => {
                self.message = Some(Partial {
                    opcode,
                    data: std::mem::take(&mut self.spare), // empty; no allocation yet
                    utf8: (opcode == Opcode::Text).then(Utf8Validator::new),
                    fragments: 0,
                })
            }
            (Some(_), _) => {}
        }
        let m = self.message.as_mut().expect("started above");
        m.fragments += 1;
        if m.fragments > self.limits.max_fragments {
            return Err(WsError::new(
                ErrorKind::TooManyFragments,
                format!(
                    "a message in more than {} fragments",
                    self.limits.max_fragments
                ),
            ));
        }
        // The declared length is checked before its bytes arrive: nothing over the limit is
        // ever buffered.
        let total = (m.data.len() as u64).saturating_add(header.payload_len);
        if total > self.limits.max_message as u64 {
            return Err(WsError::new(
                ErrorKind::MessageTooLarge,
                format!(
                    "a message of at least {total} bytes; the limit is {}",
                    self.limits.max_message
                ),
            ));
        }
        self.current = Current::Data {
            fin: header.fin,
            len: header.payload_len,
        };
        Ok(())
        // exercise(10): end
    }

    fn payload(&mut self, piece: &Payload<'_>) -> Result<(), WsError> {
        match &mut self.current {
            Current::Control(_, data) => piece.unmask_into(data),
            &mut Current::Data { fin, len } => {
                let m = self
                    .message
                    .as_mut()
                    .expect("a data frame belongs to a message");
                let start = m.data.len();
                if start == 0 && fin {
                    // The message is this one frame and its length is known: one allocation
                    // of the right size, instead of growing by reallocation.
                    m.data.reserve_exact(len as usize);
                }
                piece.unmask_into(&mut m.data);
                if let Some(utf8) = &mut m.utf8 {
                    // RFC 6455 8.1: "When an endpoint is to interpret a byte stream as UTF-8
                    // but finds that the byte stream is not, in fact, a valid UTF-8 stream,
                    // that endpoint MUST _Fail the WebSocket Connection_." Checked on every
                    // piece, so the failure comes with the first impossible byte.
                    if let Err(e) = utf8.feed(&m.data[start..]) {
                        return Err(WsError::new(
                            ErrorKind::InvalidUtf8,
                            format!("text message byte {}: {e}", start + e.at),
                        ));
                    }
                }
            }
            Current::None => unreachable!("the decoder sends a header before any payload"),
        }
        Ok(())
    }

    fn end_frame(&mut self) -> Result<Option<Message>, WsError> {
        match std::mem::replace(&mut self.current, Current::None) {
            Current::Control(opcode, data) => Ok(Some(match opcode {
                Opcode::Ping => Message::Ping(data),
                Opcode::Pong => Message::Pong(data),
                _ => Message::Close(parse_close_payload(&data)?),
            })),
            Current::Data { fin: false, .. } => Ok(None),
            Current::Data { fin: true, .. } => {
                let m = self
                    .message
                    .take()
                    .expect("a data frame belongs to a message");
                match m.utf8 {
                    None => Ok(Some(Message::Binary(m.data))),
                    Some(utf8) => {
                        // RFC 6455 5.6: "a particular text frame might include a partial UTF-8
                        // sequence; however, the whole message MUST contain valid UTF-8."
                        if utf8.finish(0).is_err() {
                            return Err(WsError::new(
                                ErrorKind::InvalidUtf8,
                                format!(
                                    "the text message ends in the middle of a UTF-8 sequence (after {} bytes)",
                                    m.data.len()
                                ),
                            ));
                        }
                        let text = String::from_utf8(m.data)
                            .map_err(|e| WsError::new(ErrorKind::InvalidUtf8, e.to_string()))?;
                        Ok(Some(Message::Text(text)))
                    }
                }
            }
            Current::None => unreachable!("the decoder sends a header before the end"),
        }
    }
}

/// Frames in, messages out: a [`FrameDecoder`] and an [`Assembler`] in one push parser.
///
/// `push` decodes everything it is given at once (the decoder lends the payload, the assembler
/// unmasks it into the message), so nothing of a read is kept but a partial header and the
/// message in progress. The messages a read completed wait in a queue for `next`: at most what
/// one read holds.
#[derive(Debug)]
pub struct MessageReader {
    decoder: FrameDecoder,
    assembler: Assembler,
    /// The next message for `next`, kept in place: the usual read completes one message, and
    /// taking it from here touches no memory but the reader's own. The messages after it, if
    /// one read completed several, wait in `more`.
    first: Option<Message>,
    more: VecDeque<Message>,
    /// Boxed: rare, and a `WsError` inline would take 40 bytes of the hot state.
    failed: Option<Box<WsError>>,
    /// A Close has arrived: the peer sends nothing after it (RFC 6455 5.5.1), and whatever
    /// still comes is not decoded.
    closed: bool,
}

impl MessageReader {
    /// A reader for the frames a `role` endpoint receives, with these limits.
    pub fn new(role: Role, limits: Limits) -> Self {
        let config = DecoderConfig {
            role,
            max_frame: limits.max_frame,
            allowed_rsv: 0,
        };
        MessageReader {
            decoder: FrameDecoder::new(config),
            assembler: Assembler::new(limits),
            first: None,
            more: VecDeque::new(),
            failed: None,
            closed: false,
        }
    }

    /// Hand the reader whatever one read returned: it is decoded now, into messages for
    /// `next`, up to the first error or Close.
    pub fn push(&mut self, bytes: &[u8]) {
        self.decode(bytes, false);
    }

    /// [`MessageReader::push`], except that it stops after the first message the bytes
    /// complete and returns how many bytes it used; the rest is for the next call. A driver
    /// that takes each message (`next`) before pushing the rest holds one message at a time:
    /// an echo server that gives each message's buffer back ([`MessageReader::give_buffer`])
    /// serves a read of 16 messages with that one buffer. Bytes that can no longer be read
    /// (after an error or a Close) count as used.
    pub fn push_some(&mut self, bytes: &[u8]) -> usize {
        self.decode(bytes, true)
    }

    fn decode(&mut self, mut bytes: &[u8], one_message: bool) -> usize {
        let total = bytes.len();
        while self.failed.is_none() && !self.closed {
            match self.decoder.decode_frame(bytes) {
                Ok((_, None)) => break, // all used; a partial header may be kept
                Ok((used, Some(chunk))) => {
                    bytes = &bytes[used..];
                    match self.assembler.handle_chunk(chunk) {
                        Ok(None) => {}
                        Ok(Some(message)) => {
                            self.closed = matches!(message, Message::Close(_));
                            if self.first.is_none() {
                                self.first = Some(message);
                            } else {
                                self.more.push_back(message);
                            }
                            if one_message && !self.closed {
                                return total - bytes.len();
                            }
                        }
                        Err(e) => self.failed = Some(Box::new(e)),
                    }
                }
                Err(e) => self.failed = Some(Box::new(e)),
            }
        }
        total
    }

    /// See [`Assembler::give_buffer`].
    pub fn give_buffer(&mut self, buffer: Vec<u8>) -> Vec<u8> {
        self.assembler.give_buffer(buffer)
    }

    /// See [`Assembler::take_buffer`].
    pub fn take_buffer(&mut self) -> Vec<u8> {
        self.assembler.take_buffer()
    }

    /// Bytes pushed and not yet part of a message or a frame: a partial header.
    pub fn buffered(&self) -> usize {
        self.decoder.buffered()
    }

    /// The next message, `Ok(None)` if more bytes are needed, or the rule the peer broke (after
    /// the messages that came before the error). After an error, every call returns it again.
    #[allow(clippy::should_implement_trait)] // not an Iterator: "need more" is not "finished"
    pub fn next(&mut self) -> Result<Option<Message>, WsError> {
        if let Some(message) = self.first.take() {
            self.first = self.more.pop_front();
            return Ok(Some(message));
        }
        if self.more.capacity() > 16 {
            // A read of many small messages grew the queue: give it back while idle.
            self.more = VecDeque::new();
        }
        match &self.failed {
            Some(e) => Err(WsError::clone(e)),
            None => Ok(None),
        }
    }
}

/// Everything [`parse_messages`] found in one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedMessages {
    pub messages: Vec<Message>,
    pub error: Option<WsError>,
    /// Bytes left in the decoder: a frame that has not fully arrived.
    pub unread: usize,
}

/// Read a whole buffer as the messages a `role` endpoint receives, default limits: the entry
/// point for fuzzing the frame decoder, the assembler, UTF-8 and Close parsing together.
pub fn parse_messages(role: Role, bytes: &[u8]) -> ParsedMessages {
    let mut reader = MessageReader::new(role, Limits::default());
    reader.push(bytes);
    let mut messages = Vec::new();
    loop {
        match reader.next() {
            Ok(Some(m)) => messages.push(m),
            Ok(None) => {
                return ParsedMessages {
                    messages,
                    error: None,
                    unread: reader.buffered(),
                }
            }
            Err(e) => {
                return ParsedMessages {
                    messages,
                    error: Some(e),
                    unread: reader.buffered(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::encode_frame;
    use super::*;

    fn frames(list: &[(bool, Opcode, &[u8])]) -> Vec<u8> {
        list.iter()
            .flat_map(|&(fin, op, p)| encode_frame(fin, op, p, None))
            .collect()
    }

    fn read(bytes: &[u8]) -> ParsedMessages {
        parse_messages(Role::Client, bytes)
    }

    #[test]
    fn control_frames_between_fragments_come_out_first() {
        let wire = frames(&[
            (false, Opcode::Text, b"Hel"),
            (true, Opcode::Ping, b"?"),
            (false, Opcode::Continuation, b""),
            (true, Opcode::Pong, b""),
            (true, Opcode::Continuation, b"lo"),
        ]);
        let parsed = read(&wire);
        assert_eq!(parsed.error, None);
        assert_eq!(
            parsed.messages,
            [
                Message::Ping(b"?".to_vec()),
                Message::Pong(vec![]),
                Message::Text("Hello".into())
            ]
        );
    }

    /// `push_some` one message at a time, each taken before the rest is pushed, in reads cut
    /// at every pair of points: the same messages, and the same error after them, as `push`.
    #[test]
    fn push_some_stops_after_each_message_and_loses_nothing() {
        let mut wire = frames(&[
            (true, Opcode::Binary, b"one"),
            (false, Opcode::Text, b"t"),
            (true, Opcode::Ping, b""),
            (true, Opcode::Continuation, b"wo"),
            (true, Opcode::Binary, b""),
            (true, Opcode::Text, b"three"),
        ]);
        let whole = read(&wire);
        assert_eq!(whole.messages.len(), 5);
        wire.extend_from_slice(&[0x83, 0x00]); // opcode 3 is reserved: 1002 after the five
        let expected = read(&wire);
        assert_eq!(expected.messages, whole.messages);
        assert!(expected.error.is_some());
        for a in 0..=wire.len() {
            for b in a..=wire.len() {
                let mut reader = MessageReader::new(Role::Client, Limits::default());
                let mut got = Vec::new();
                let mut error = None;
                for mut bytes in [&wire[..a], &wire[a..b], &wire[b..]] {
                    while !bytes.is_empty() {
                        let used = reader.push_some(bytes);
                        assert!(used > 0 && used <= bytes.len());
                        bytes = &bytes[used..];
                        match reader.next() {
                            Ok(Some(message)) => got.push(message),
                            Ok(None) => {}
                            Err(e) => error = Some(e),
                        }
                        // Never more than one message decoded ahead.
                        assert!(
                            matches!(reader.next(), Ok(None) | Err(_)),
                            "cut at {a}, {b}"
                        );
                    }
                }
                assert_eq!(
                    (&got, &error),
                    (&expected.messages, &expected.error),
                    "cut at {a}, {b}"
                );
            }
        }
    }

    /// After a Close the peer sends nothing (RFC 6455 5.5.1): `push_some` stops at the Close,
    /// as at any message, but counts what follows it as used, so that it is never decoded.
    #[test]
    fn push_some_uses_up_the_bytes_after_a_close() {
        let close = frames(&[(true, Opcode::Close, &[0x03, 0xe8])]);
        let after = frames(&[(true, Opcode::Text, b"after"), (true, Opcode::Ping, b"")]);
        let mut reader = MessageReader::new(Role::Client, Limits::default());
        let wire = [close.as_slice(), &after].concat();
        assert_eq!(reader.push_some(&wire), wire.len());
        assert!(matches!(reader.next(), Ok(Some(Message::Close(Some(_))))));
        assert!(matches!(reader.next(), Ok(None)));
        assert_eq!(reader.push_some(&after), after.len());
        assert!(matches!(reader.next(), Ok(None)));
    }

    #[test]
    fn fragment_order_is_enforced() {
        let e = read(&frames(&[(true, Opcode::Continuation, b"x")]))
            .error
            .unwrap();
        assert_eq!(
            (e.kind, e.close_code()),
            (ErrorKind::UnexpectedContinuation, Some(1002))
        );
        let e = read(&frames(&[
            (false, Opcode::Binary, b"x"),
            (true, Opcode::Text, b"y"),
        ]))
        .error
        .unwrap();
        assert_eq!(e.kind, ErrorKind::ExpectedContinuation);
    }

    #[test]
    fn limits_close_with_1009_before_the_payload_arrives() {
        let limits = Limits {
            max_frame: 100,
            max_message: 150,
            max_fragments: 3,
        };
        let fail = |wire: &[u8]| {
            let mut r = MessageReader::new(Role::Client, limits.clone());
            r.push(wire);
            loop {
                match r.next() {
                    Ok(Some(_)) => {}
                    Ok(None) => panic!("no error"),
                    Err(e) => return e,
                }
            }
        };
        // Only the header of the second frame: the sum is over the limit already.
        let mut wire = frames(&[(false, Opcode::Binary, &[0; 100])]);
        wire.extend_from_slice(&[0x80, 60]);
        let e = fail(&wire);
        assert_eq!(
            (e.kind, e.close_code()),
            (ErrorKind::MessageTooLarge, Some(1009))
        );
        let e = fail(&[0x82, 101]);
        assert_eq!(e.kind, ErrorKind::FrameTooLarge);
        let e = fail(&frames(&[
            (false, Opcode::Binary, b""),
            (false, Opcode::Continuation, b""),
            (false, Opcode::Continuation, b""),
            (false, Opcode::Continuation, b""),
        ]));
        assert_eq!(
            (e.kind, e.close_code()),
            (ErrorKind::TooManyFragments, Some(1009))
        );
    }

    #[test]
    fn invalid_utf8_fails_in_the_frame_that_has_it_not_at_the_end() {
        // Autobahn 6.4.1: a valid fragment, then one with an impossible sequence, then more
        // announced. The error comes with the second frame; the third is never needed.
        let wire = frames(&[
            (false, Opcode::Text, "κόσμε".as_bytes()),
            (false, Opcode::Continuation, b"\xf4\x90\x80\x80"),
        ]);
        let e = read(&wire).error.expect("fails before the message ends");
        assert_eq!(
            (e.kind, e.close_code()),
            (ErrorKind::InvalidUtf8, Some(1007))
        );
        // Autobahn 6.4.3: one frame, its payload in pieces; the error comes with the piece
        // holding the bad byte, while the frame is still incomplete.
        let mut r = MessageReader::new(Role::Client, Limits::default());
        let payload = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80edited";
        let wire = encode_frame(true, Opcode::Text, payload, None);
        r.push(&wire[..2 + 11]);
        assert_eq!(r.next(), Ok(None));
        r.push(&wire[13..14]);
        assert_eq!(r.next(), Ok(None), "F4 can still start a valid character");
        r.push(&wire[14..15]);
        assert_eq!(r.next().unwrap_err().kind, ErrorKind::InvalidUtf8);
    }

    #[test]
    fn a_character_split_between_frames_is_fine_and_a_cut_one_is_not() {
        let wire = frames(&[
            (false, Opcode::Text, b"\xe2\x82"),
            (true, Opcode::Continuation, b"\xac"),
        ]);
        assert_eq!(read(&wire).messages, [Message::Text("€".into())]);
        let wire = frames(&[(true, Opcode::Text, b"\xe2\x82")]);
        assert_eq!(read(&wire).error.unwrap().kind, ErrorKind::InvalidUtf8);
    }

    #[test]
    fn close_payloads_are_checked() {
        let e = read(&frames(&[(true, Opcode::Close, b"\x03")]))
            .error
            .unwrap();
        assert_eq!(e.kind, ErrorKind::CloseOneByte);
        assert_eq!(
            read(&frames(&[(true, Opcode::Close, b"\x03\xe8ok")])).messages,
            [Message::Close(Some(CloseFrame::new(1000, "ok")))]
        );
    }
}
