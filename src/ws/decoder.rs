//! The frame decoder: a push parser that turns bytes, in reads of any size, into frame events.
//!
//! ```text
//!   push([81 85 37])        next() -> Ok(None)                    need more bytes: normal
//!   push([fa 21 3d 7f 9f])  next() -> Ok(Some(Header(text, FIN, 5 bytes, masked)))
//!                           next() -> Ok(Some(Payload(b"He")))    unmasked, as it arrives
//!                           next() -> Ok(None)
//!   push([4d 51 58])        next() -> Ok(Some(Payload(b"llo")))
//!                           next() -> Ok(Some(End))               the frame is complete
//! ```
//!
//! Payload is handed out as it arrives instead of after the whole frame, for two reasons: a
//! 16 MiB frame is never buffered twice, and the layer above can check a text frame's UTF-8
//! while the frame is still arriving (a strict endpoint fails at the first bad byte, even in the
//! middle of a frame: Autobahn's cases 6.4.3 and 6.4.4 check exactly that).
//!
//! Two ways in. `push` and `next` (above) are the simple one: the decoder keeps a copy of the
//! bytes and hands out each piece of payload as a `Vec` of its own, unmasked. The dissector
//! uses it. [`FrameDecoder::decode`] is the one a server's hot path uses: it reads from the
//! caller's buffer (the event loop's read buffer) and *lends* each piece of payload, still
//! masked, as a slice of that buffer ([`Chunk::Payload`]); the caller unmasks it straight into
//! the message it is building. The decoder then keeps nothing but the few bytes of a header
//! cut in two by a read (at most 14, in an array), and no payload byte is copied twice.
//!
//! Every rule of the header is checked as soon as the byte that carries it is in: a reserved
//! opcode fails on the first byte, a control frame longer than 125 on the second, a frame over
//! the size limit when its length has arrived (before any of its payload). The decoder knows its
//! role: a server's decoder reads client frames, which MUST be masked; a client's decoder reads
//! server frames, which MUST NOT be.
//!
//! The promise, as in smoltcp: no input makes it panic, and every size is checked before it is
//! used, so a declared length of 2^63 allocates nothing. [`parse_all`] is the entry point for
//! fuzzing.

use super::error::{ErrorKind, WsError};
use super::frame::{FrameHeader, Opcode, MAX_CONTROL_PAYLOAD};
use super::mask::unmask_into;
use super::Role;

/// What the decoder is reading and how much it accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecoderConfig {
    /// Whose frames this decoder reads *from*: a server decodes the frames of a client
    /// (`Role::Server`: every frame must be masked), and the other way round.
    pub role: Role,
    /// Largest payload of one frame. Over it: close 1009 as soon as the length is read.
    pub max_frame: u64,
    /// RSV bits an extension has given a meaning to (RSV1 is 0b100). Without extensions, 0.
    pub allowed_rsv: u8,
}

impl DecoderConfig {
    /// No extensions, and the frame limit of [`super::Limits::default`].
    pub fn new(role: Role) -> Self {
        DecoderConfig {
            role,
            max_frame: super::Limits::default().max_frame,
            allowed_rsv: 0,
        }
    }
}

/// What the decoder found next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// A complete, checked header. `Payload` events (if the length is not 0) and `End` follow.
    Header(FrameHeader),
    /// Payload bytes, unmasked, as they arrived (never empty).
    Payload(Vec<u8>),
    /// The frame's payload is complete; the next bytes start the next frame.
    End,
}

/// What [`FrameDecoder::decode`] found next: a [`FrameEvent`] whose payload is lent, not owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chunk<'a> {
    Header(FrameHeader),
    /// Payload bytes as they were on the wire (never empty).
    Payload(Payload<'a>),
    End,
    /// A whole frame, header and payload, when the input holds all of it
    /// ([`FrameDecoder::decode_frame`] only): the three steps above in one.
    Frame(FrameHeader, Payload<'a>),
}

/// A piece of a frame's payload, lent from the caller's buffer, still masked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payload<'a> {
    /// The bytes as they arrived (masked, if the frame is).
    pub wire: &'a [u8],
    /// The frame's masking key, if it has one.
    pub mask: Option<[u8; 4]>,
    /// The position of `wire[0]` in the frame's payload: it picks the key byte to start with.
    pub offset: u64,
}

impl Payload<'_> {
    /// Append the piece, unmasked, to `dest`: the copy and the XOR in one pass.
    pub fn unmask_into(&self, dest: &mut Vec<u8>) {
        match self.mask {
            // The key position only matters modulo 4.
            Some(key) => unmask_into(dest, self.wire, key, (self.offset % 4) as usize),
            None => dest.extend_from_slice(self.wire),
        }
    }
}

impl Chunk<'_> {
    /// The owned form: the payload copied and unmasked.
    fn into_event(self) -> FrameEvent {
        match self {
            Chunk::Header(header) => FrameEvent::Header(header),
            Chunk::Payload(piece) => {
                let mut bytes = Vec::with_capacity(piece.wire.len());
                piece.unmask_into(&mut bytes);
                FrameEvent::Payload(bytes)
            }
            Chunk::End => FrameEvent::End,
            Chunk::Frame(..) => unreachable!("next() decodes step by step"),
        }
    }
}

/// The longest header: 2 bytes, 8 of extended length, 4 of masking key.
const MAX_HEADER: usize = 14;

#[derive(Debug)]
enum State {
    /// Reading a header; its bytes stay in the buffer until all of them are there.
    Header,
    /// Inside a payload: `left` bytes to go, `offset` bytes already unmasked.
    Payload {
        mask: Option<[u8; 4]>,
        offset: u64,
        left: u64,
    },
    /// The payload is complete: `End` is next.
    End,
    /// An error was returned: the stream cannot be resynchronized.
    Failed(WsError),
}

/// The buffer capacity an idle decoder may keep: enough for the headers and small frames of
/// a chatty connection without a new allocation per read, small next to the 64 KiB one read
/// can bring.
const KEEP_CAPACITY: usize = 1024;

/// The push parser. One per connection, for the frames coming in.
#[derive(Debug)]
pub struct FrameDecoder {
    config: DecoderConfig,
    /// What `push` was given (`decode` does not use it).
    buf: Vec<u8>,
    /// Bytes of `buf` already consumed; dropped at the next push.
    pos: usize,
    /// The start of a header that a read cut in two, until the rest arrives.
    head: [u8; MAX_HEADER],
    /// Bytes of `head` in use, under 14: a `u8`, which fits beside `head` (a `usize` would
    /// take 8 more bytes of every connection's state).
    head_len: u8,
    state: State,
}

impl FrameDecoder {
    pub fn new(config: DecoderConfig) -> Self {
        FrameDecoder {
            config,
            buf: Vec::new(),
            pos: 0,
            head: [0; MAX_HEADER],
            head_len: 0,
            state: State::Header,
        }
    }

    pub fn config(&self) -> &DecoderConfig {
        &self.config
    }

    /// Hand the decoder whatever one read returned.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes pushed and not yet returned in an event (a partial header included).
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.pos + usize::from(self.head_len)
    }

    /// Between two frames, with nothing of the next one received.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Header) && self.buffered() == 0
    }

    /// The next event, `Ok(None)` if more bytes are needed, or the rule the frame broke.
    /// Call it in a loop after every push. After an error, every call returns the same error.
    #[allow(clippy::should_implement_trait)] // not an Iterator: "need more" is not "finished"
    pub fn next(&mut self) -> Result<Option<FrameEvent>, WsError> {
        // The pushed bytes go through `decode` like any caller's buffer; they are put back
        // before returning, and each lent piece of payload becomes a `Vec` of its own.
        let buf = std::mem::take(&mut self.buf);
        let result = self.decode(&buf[self.pos..]).map(|(used, chunk)| {
            self.pos += used;
            chunk.map(Chunk::into_event)
        });
        self.buf = buf;
        if let Ok(None) = result {
            self.release();
        }
        result
    }

    /// Waiting for bytes, and every byte pushed handed out (a partial header waits in `head`):
    /// give the buffer back. A read of 64 KiB leaves a 64 KiB buffer behind, and a server with
    /// 10,000 idle connections would otherwise keep 640 MB of them.
    fn release(&mut self) {
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
        self.pos = 0;
    }

    /// Decode from `input`, a buffer the caller keeps: how many bytes of it were used, and what
    /// they made, or `None` when all of `input` is used and more bytes are needed (a partial
    /// header is then kept here, at most 14 bytes). Call it again with `&input[used..]` until it
    /// answers `None`. After an error, every call returns the same error.
    pub fn decode<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Chunk<'a>>), WsError> {
        let result = self.step(input);
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    /// [`FrameDecoder::decode`], except that a frame whose header and payload are both in
    /// `input` comes out whole, as one [`Chunk::Frame`]: the common case (a small frame in one
    /// read) in one call instead of three.
    pub fn decode_frame<'a>(
        &mut self,
        input: &'a [u8],
    ) -> Result<(usize, Option<Chunk<'a>>), WsError> {
        let whole = matches!(self.state, State::Header) && self.head_len == 0;
        if whole {
            if let Some((header, len)) = parse_header(input, &self.config).inspect_err(|e| {
                self.state = State::Failed(e.clone());
            })? {
                // Never more than `input` holds, so the cast to usize cannot truncate.
                if let Some(wire) = input[len..].get(..header.payload_len as usize) {
                    let piece = Payload {
                        wire,
                        mask: header.mask,
                        offset: 0,
                    };
                    return Ok((len + wire.len(), Some(Chunk::Frame(header, piece))));
                }
            }
        }
        self.decode(input)
    }

    fn step<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Chunk<'a>>), WsError> {
        match &mut self.state {
            State::Header => {
                let Some((header, used)) = self.header(input)? else {
                    return Ok((input.len(), None));
                };
                self.state = if header.payload_len == 0 {
                    State::End
                } else {
                    State::Payload {
                        mask: header.mask,
                        offset: 0,
                        left: header.payload_len,
                    }
                };
                Ok((used, Some(Chunk::Header(header))))
            }
            State::Payload { mask, offset, left } => {
                if input.is_empty() {
                    return Ok((0, None));
                }
                // Never more than `input` holds, so the cast to usize cannot truncate.
                let n = (*left).min(input.len() as u64) as usize;
                let piece = Payload {
                    wire: &input[..n],
                    mask: *mask,
                    offset: *offset,
                };
                *offset += n as u64;
                *left -= n as u64;
                if *left == 0 {
                    self.state = State::End;
                }
                Ok((n, Some(Chunk::Payload(piece))))
            }
            State::End => {
                self.state = State::Header;
                Ok((0, Some(Chunk::End)))
            }
            State::Failed(e) => Err(e.clone()),
        }
    }

    /// A header from the partial one kept in `head` (if a read cut it) and then `input`: the
    /// header and how many bytes of `input` it took, or `None` with all of `input` kept.
    fn header(&mut self, input: &[u8]) -> Result<Option<(FrameHeader, usize)>, WsError> {
        let held = usize::from(self.head_len);
        if held == 0 {
            let Some((header, len)) = parse_header(input, &self.config)? else {
                // Fewer bytes than the header needs, so fewer than 14: keep them.
                self.head[..input.len()].copy_from_slice(input);
                self.head_len = input.len() as u8; // under 14
                return Ok(None);
            };
            return Ok(Some((header, len)));
        }
        let take = (MAX_HEADER - held).min(input.len());
        self.head[held..held + take].copy_from_slice(&input[..take]);
        match parse_header(&self.head[..held + take], &self.config)? {
            None => {
                self.head_len = (held + take) as u8; // still short: `take` was all of `input`
                Ok(None)
            }
            Some((header, len)) => {
                // `held` bytes were not enough before, so the header ends inside `input`.
                self.head_len = 0;
                Ok(Some((header, len - held)))
            }
        }
    }
}

/// Read a header from the start of `bytes`: `Ok(None)` if it is not all there yet, else the
/// header and its length. Each rule is checked as soon as its byte is available, so a bad frame
/// fails on its first bytes even if the rest never comes.
fn parse_header(
    bytes: &[u8],
    config: &DecoderConfig,
) -> Result<Option<(FrameHeader, usize)>, WsError> {
    let Some(&b0) = bytes.first() else {
        return Ok(None);
    };
    let fin = b0 & 0x80 != 0;
    let rsv = (b0 >> 4) & 0b111;
    // RFC 6455 5.2: "MUST be 0 unless an extension is negotiated that defines meanings for
    // non-zero values. If a nonzero value is received and none of the negotiated extensions
    // defines the meaning of such a nonzero value, the receiving endpoint MUST _Fail the
    // WebSocket Connection_."
    if rsv & !config.allowed_rsv != 0 {
        return Err(WsError::new(
            ErrorKind::ReservedBits,
            format!("RSV bits {rsv:03b} are set and no extension was negotiated"),
        ));
    }
    // RFC 6455 5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail the
    // WebSocket Connection_."
    let Some(opcode) = Opcode::from_u8(b0 & 0x0f) else {
        return Err(WsError::new(
            ErrorKind::ReservedOpcode,
            format!("opcode 0x{:x} is reserved", b0 & 0x0f),
        ));
    };
    // RFC 6455 5.5: "All control frames [...] MUST NOT be fragmented."
    if opcode.is_control() && !fin {
        return Err(WsError::new(
            ErrorKind::ControlFragmented,
            format!("a {opcode} frame without FIN: control frames are never fragmented"),
        ));
    }
    let Some(&b1) = bytes.get(1) else {
        return Ok(None);
    };
    let masked = b1 & 0x80 != 0;
    match config.role {
        // RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is
        // not masked."
        Role::Server if !masked => {
            return Err(WsError::new(
                ErrorKind::UnmaskedClientFrame,
                format!("an unmasked {opcode} frame from a client"),
            ))
        }
        // RFC 6455 5.1: "A client MUST close a connection if it detects a masked frame."
        Role::Client if masked => {
            return Err(WsError::new(
                ErrorKind::MaskedServerFrame,
                format!("a masked {opcode} frame from a server"),
            ))
        }
        _ => {}
    }
    let len7 = b1 & 0x7f;
    // RFC 6455 5.5: "All control frames MUST have a payload length of 125 bytes or less".
    // 126 and 127 announce a longer length: refuse before reading it.
    if opcode.is_control() && usize::from(len7) > MAX_CONTROL_PAYLOAD {
        return Err(WsError::new(
            ErrorKind::ControlTooLong,
            format!(
                "a {opcode} frame with an extended length: control payloads are at most 125 bytes"
            ),
        ));
    }
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let header_len = 2 + ext + if masked { 4 } else { 0 };
    if bytes.len() < 2 + ext {
        return Ok(None);
    }
    // exercise(10): begin "Read the extended length (16 or 64 bits, big-endian), check it, and take the masking key"
    // hint: `bytes[2..2 + ext]` holds the extended length when `len7` is 126 (2 bytes: `u16::from_be_bytes`) or 127 (8 bytes: `u64::from_be_bytes`); otherwise the length is `len7` itself.
    // hint: Refuse what RFC 6455 5.2 forbids: a 16-bit length under 126 or a 64-bit one under 65536 (`non_minimal(len, bits)`), a 64-bit length with its top bit set (`ErrorKind::LengthMsbSet`); then a length over `config.max_frame` (`ErrorKind::FrameTooLarge`, 1009) before any payload is read.
    // hint: Wait (`Ok(None)`) until `header_len` bytes are there; the masking key is the 4 bytes after the extended length when `masked`. Return `Ok(Some((FrameHeader { fin, rsv, opcode, mask, payload_len }, header_len)))`.
    let payload_len = match len7 {
        126 => {
            let len = u64::from(u16::from_be_bytes([bytes[2], bytes[3]]));
            // RFC 6455 5.2: "in all cases, the minimal number of bytes MUST be used to encode
            // the length, for example, the length of a 124-byte-long string can't be encoded as
            // the sequence 126, 0, 124." The ABNF alone would allow it; the prose is normative,
            // and a frame that breaks a MUST of the format is a protocol error.
            if len < 126 {
                return Err(non_minimal(len, 16));
            }
            len
        }
        127 => {
            let len = u64::from_be_bytes(bytes[2..10].try_into().expect("8 bytes"));
            // RFC 6455 5.2: "If 127, the following 8 bytes interpreted as a 64-bit unsigned
            // integer (the most significant bit MUST be 0) are the payload length."
            if len >> 63 != 0 {
                return Err(WsError::new(
                    ErrorKind::LengthMsbSet,
                    format!("a 64-bit length 0x{len:016x} with its top bit set"),
                ));
            }
            if len <= 0xffff {
                return Err(non_minimal(len, 64));
            }
            len
        }
        n => u64::from(n),
    };
    // RFC 6455 10.4: "Such an implementation SHOULD impose a limit on frame sizes". Checked
    // before a byte of the payload is read or a byte of memory reserved for it.
    if payload_len > config.max_frame {
        return Err(WsError::new(
            ErrorKind::FrameTooLarge,
            format!(
                "a {opcode} frame of {payload_len} bytes; the limit is {}",
                config.max_frame
            ),
        ));
    }
    if bytes.len() < header_len {
        return Ok(None);
    }
    let mask = masked.then(|| {
        bytes[2 + ext..header_len]
            .try_into()
            .expect("the masking key is 4 bytes")
    });
    Ok(Some((
        FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len,
        },
        header_len,
    )))
    // exercise(10): end
}

fn non_minimal(len: u64, bits: u32) -> WsError {
    WsError::new(
        ErrorKind::NonMinimalLength,
        format!("the length {len} sent in {bits} bits; it fits in fewer"),
    )
}

/// Everything [`parse_all`] found in one buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// The events, in order, up to the point where more bytes were needed or an error.
    pub events: Vec<FrameEvent>,
    /// The error that stopped decoding, if any.
    pub error: Option<WsError>,
    /// Bytes left over: the start of a frame that has not fully arrived.
    pub unread: usize,
}

/// Decode a whole buffer as frames sent *to* `role` with the default limits: the entry point
/// for fuzzing and for quick experiments.
pub fn parse_all(role: Role, bytes: &[u8]) -> Parsed {
    let mut decoder = FrameDecoder::new(DecoderConfig::new(role));
    decoder.push(bytes);
    let mut events = Vec::new();
    loop {
        match decoder.next() {
            Ok(Some(event)) => events.push(event),
            Ok(None) => {
                return Parsed {
                    events,
                    error: None,
                    unread: decoder.buffered(),
                }
            }
            Err(e) => {
                return Parsed {
                    events,
                    error: Some(e),
                    unread: decoder.buffered(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(role: Role, bytes: &[u8]) -> ErrorKind {
        parse_all(role, bytes).error.expect("an error").kind
    }

    #[test]
    fn each_header_rule_fails_on_the_byte_that_breaks_it() {
        use ErrorKind::*;
        let server = Role::Server;
        // One byte is enough for RSV, the opcode, and a fragmented control frame.
        assert_eq!(error(server, &[0xc1]), ReservedBits);
        assert_eq!(error(server, &[0x83]), ReservedOpcode);
        assert_eq!(error(server, &[0x8b]), ReservedOpcode);
        assert_eq!(error(server, &[0x09]), ControlFragmented);
        // Two for the mask bit and a control frame's length.
        assert_eq!(error(server, &[0x81, 0x05]), UnmaskedClientFrame);
        assert_eq!(error(Role::Client, &[0x81, 0x85]), MaskedServerFrame);
        assert_eq!(error(server, &[0x89, 0xfe]), ControlTooLong);
        // The extended length once it is all there.
        assert_eq!(error(server, &[0x82, 0xfe, 0x00, 0x7d]), NonMinimalLength);
        assert_eq!(
            error(server, &[0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff]),
            NonMinimalLength
        );
        assert_eq!(
            error(server, &[0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0]),
            LengthMsbSet
        );
        assert_eq!(
            error(
                server,
                &[0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            ),
            FrameTooLarge
        );
        let e = parse_all(server, &[0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0])
            .error
            .unwrap();
        assert_eq!(e.close_code(), Some(1009));
    }

    #[test]
    fn an_idle_decoder_gives_its_buffer_back() {
        use crate::ws::frame::{encode_frame, Opcode};
        let mut decoder = FrameDecoder::new(DecoderConfig {
            role: Role::Server,
            max_frame: 1 << 20,
            allowed_rsv: 0,
        });
        // 64 KiB of small frames in one read, and the first bytes of one more header.
        let frame = encode_frame(true, Opcode::Text, b"0123456789abcdef", Some([1, 2, 3, 4]));
        let mut read = frame.repeat(65536 / frame.len());
        read.push(0x81);
        decoder.push(&read);
        while decoder.next().unwrap().is_some() {}
        // What is kept: the one byte of the next header, in a small buffer.
        assert_eq!(decoder.buffered(), 1);
        assert!(
            decoder.buf.capacity() <= KEEP_CAPACITY,
            "{}",
            decoder.buf.capacity()
        );
        decoder.push(&frame[1..]);
        let mut events = 0;
        while decoder.next().unwrap().is_some() {
            events += 1;
        }
        assert_eq!(events, 3, "header, payload, end");
        assert_eq!(decoder.buffered(), 0);
        assert!(decoder.buf.capacity() <= KEEP_CAPACITY);
    }

    /// Events from `decode` (or `decode_frame`, with whole frames taken apart), fed `pieces`
    /// one after the other, in their owned form.
    fn decode_in_pieces(pieces: &[&[u8]], whole: bool) -> Vec<FrameEvent> {
        let mut decoder = FrameDecoder::new(DecoderConfig::new(Role::Server));
        let mut events = Vec::new();
        for piece in pieces {
            let mut input = *piece;
            loop {
                let (used, chunk) = if whole {
                    decoder.decode_frame(input).unwrap()
                } else {
                    decoder.decode(input).unwrap()
                };
                input = &input[used..];
                match chunk {
                    None => break,
                    Some(Chunk::Frame(header, piece)) => {
                        events.push(FrameEvent::Header(header));
                        if !piece.wire.is_empty() {
                            events.push(Chunk::Payload(piece).into_event());
                        }
                        events.push(FrameEvent::End);
                    }
                    Some(chunk) => events.push(chunk.into_event()),
                }
            }
            assert!(
                decoder.buffered() < MAX_HEADER,
                "only a partial header is kept"
            );
        }
        events
    }

    #[test]
    fn decode_lends_the_same_frames_in_every_chunking() {
        use crate::ws::frame::{encode_frame, Opcode};
        let key = Some([0x37, 0xfa, 0x21, 0x3d]);
        let mut wire = encode_frame(false, Opcode::Text, b"Hel", key);
        wire.extend(encode_frame(true, Opcode::Ping, b"?", key));
        wire.extend(encode_frame(true, Opcode::Continuation, b"lo", key));
        wire.extend(encode_frame(true, Opcode::Binary, &[7; 300], key)); // 16-bit length
        wire.extend(encode_frame(true, Opcode::Binary, &[9; 70_000], key)); // 64-bit length
        wire.extend(encode_frame(true, Opcode::Binary, b"", key));
        let whole = parse_all(Role::Server, &wire);
        assert_eq!(whole.error, None);
        let joined = |events: Vec<FrameEvent>| {
            // Payload pieces differ with the chunking; what they add up to may not.
            let mut out: Vec<FrameEvent> = Vec::new();
            for e in events {
                match (out.last_mut(), e) {
                    (Some(FrameEvent::Payload(a)), FrameEvent::Payload(b)) => a.extend(b),
                    (_, e) => out.push(e),
                }
            }
            out
        };
        let expected = joined(whole.events);
        for frames in [false, true] {
            assert_eq!(joined(decode_in_pieces(&[&wire], frames)), expected);
            for cut in 0..=wire.len().min(400) {
                let (a, b) = wire.split_at(cut);
                let got = joined(decode_in_pieces(&[a, b], frames));
                assert_eq!(got, expected, "cut at {cut}, whole frames {frames}");
            }
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(
            joined(decode_in_pieces(&bytes, true)),
            expected,
            "one byte at a time"
        );
    }

    #[test]
    fn the_smallest_lengths_of_each_size_are_accepted() {
        for wire in [
            &[0x82, 0x7e, 0x00, 0x7e][..],
            &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
        ] {
            let parsed = parse_all(Role::Client, wire);
            assert_eq!(parsed.error, None);
            assert!(matches!(parsed.events[..], [FrameEvent::Header(_)]));
        }
    }

    #[test]
    fn an_error_is_final() {
        let mut d = FrameDecoder::new(DecoderConfig::new(Role::Client));
        d.push(&[0x83, 0x00]);
        let e = d.next().unwrap_err();
        d.push(&[0x81, 0x00]);
        assert_eq!(d.next(), Err(e));
    }

    #[test]
    fn rsv_bits_pass_when_an_extension_allows_them() {
        let mut config = DecoderConfig::new(Role::Client);
        config.allowed_rsv = 0b100;
        let mut d = FrameDecoder::new(config);
        d.push(&[0xc1, 0x00]);
        let Ok(Some(FrameEvent::Header(h))) = d.next() else {
            panic!("a header")
        };
        assert_eq!(h.rsv, 0b100);
    }

    #[test]
    fn a_huge_declared_length_allocates_nothing() {
        let mut config = DecoderConfig::new(Role::Client);
        config.max_frame = u64::MAX;
        let mut d = FrameDecoder::new(config);
        d.push(&[
            0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3,
        ]);
        assert!(matches!(d.next(), Ok(Some(FrameEvent::Header(_)))));
        assert_eq!(d.next(), Ok(Some(FrameEvent::Payload(vec![1, 2, 3]))));
        assert_eq!(d.next(), Ok(None));
    }
}
