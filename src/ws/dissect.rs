//! The frame dissector: bytes that one side sent, shown frame by frame with every field named
//! and decoded under its bytes, then the messages they make, then the first rule they break.
//!
//! ```text
//! frame 1: 11 bytes at byte 0, client -> server
//!   0000  81 85 37 fa 21 3d 7f 9f 4d 51 58                 ..7.!=..MQX
//!         ^^ FIN=1 RSV=000 opcode=text (0x1)
//!            ^^ MASK=1 payload len=5
//!               ^^^^^^^^^^^ masking key [37, fa, 21, 3d]
//!                           ^^^^^^^^^^^^^^ payload, unmasked (5 bytes): "Hello"
//!     FIN                      1  the last frame of its message
//!     ...
//! ```
//!
//! It is the reference's own receive path run in the open, not a second parser that could
//! disagree with it: a [`FrameDecoder`] configured for the receiving side finds the frames and
//! the first rule broken, an [`Assembler`] puts messages together (and checks UTF-8 and Close
//! payloads), [`annotate_frame`] underlines the bytes, and the field table below each frame is
//! [`frame_layout`], the same table that draws lesson 10's diagram. So what lesson 10's
//! `decode` prints is exactly what `src/ws` does with those bytes, error and close code
//! included.
//!
//! [`Dissector`] is a push parser like the decoder it wraps (bytes in any chunking, frames out
//! as they complete), so a server can use it for `--trace` on a live connection (lessons 10, 11
//! and 12 do); [`dissect`] is the one-shot form for a buffer.

use super::close::{self, CloseFrame};
use super::decoder::{DecoderConfig, FrameDecoder, FrameEvent};
use super::error::WsError;
use super::frame::{annotate_frame, encode_frame, frame_layout, FrameHeader, Opcode};
use super::message::{Assembler, Message};
use super::{Limits, Role};
use crate::trace::{annotated_hexdump, quote, Dir, Trace};
use std::fmt;
use std::fmt::Write as _;

/// Payload bytes kept per frame for the hexdump: enough to show any control frame and the start
/// of a data frame; a 16 MiB frame is not copied to be printed.
const KEEP_PAYLOAD: usize = 4096;

/// The key a client's Close is shown masked with: RFC 6455 5.7's example key. A real client
/// draws a fresh random key for every frame (5.3); a fixed one keeps the output the same from
/// run to run.
const EXAMPLE_KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Who sent the bytes, in words.
fn direction(sender: Role) -> &'static str {
    match sender {
        Role::Client => "client -> server",
        Role::Server => "server -> client",
    }
}

/// The other end: the one that reads what `sender` writes.
pub fn receiver(sender: Role) -> Role {
    match sender {
        Role::Client => Role::Server,
        Role::Server => Role::Client,
    }
}

/// What the dissector found, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// One complete frame, rendered: hexdump, annotations, field table.
    Frame(String),
    /// A message (or control frame) complete, as the receiver's application would see it.
    Message(Message),
    /// The first rule the bytes broke, rendered with the Close frame the receiver answers with.
    /// Nothing after it is read (RFC 6455 7.1.7).
    Error(WsError, String),
}

/// The frame being read: where it started, its header, and its bytes as far as they are kept.
struct Current {
    number: usize,
    at: u64,
    header: FrameHeader,
    wire: Vec<u8>,
    /// The payload, unmasked, as far as it is kept.
    payload: Vec<u8>,
    /// Payload bytes received so far (kept or not).
    received: u64,
    /// Whether this frame is part of a text message (a continuation inherits the first frame's
    /// type), for showing its payload as text.
    text: bool,
}

/// A push dissector for the frames one side sends.
pub struct Dissector {
    sender: Role,
    decoder: FrameDecoder,
    assembler: Assembler,
    /// Bytes pushed and not yet part of an event: the start of the next header, or payload
    /// still masked. Kept to show the bytes as they were on the wire.
    tail: Vec<u8>,
    /// Bytes consumed by events so far.
    offset: u64,
    frames: usize,
    current: Option<Current>,
    /// The type of the fragmented message in progress (for continuation frames).
    message: Option<Opcode>,
    failed: bool,
}

impl Dissector {
    /// A dissector for the bytes `sender` writes, checked as the other side reads them with
    /// these limits (lesson 11's server uses [`Limits::autobahn`]).
    pub fn new(sender: Role, limits: Limits) -> Self {
        let config = DecoderConfig {
            role: receiver(sender),
            max_frame: limits.max_frame,
            allowed_rsv: 0,
        };
        Dissector {
            sender,
            decoder: FrameDecoder::new(config),
            assembler: Assembler::new(limits),
            tail: Vec::new(),
            offset: 0,
            frames: 0,
            current: None,
            message: None,
            failed: false,
        }
    }

    /// Take the next bytes; return the frames, messages and error they complete.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<Item> {
        let mut items = Vec::new();
        if self.failed {
            return items;
        }
        self.decoder.push(bytes);
        self.tail.extend_from_slice(bytes);
        loop {
            let event = match self.decoder.next() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(e) => {
                    self.fail(e, &mut items, true);
                    break;
                }
            };
            self.record(&event);
            let ended = event == FrameEvent::End;
            let result = self.assembler.handle(event);
            if ended || result.is_err() {
                if let Some(frame) = self.current.take() {
                    items.push(Item::Frame(render_frame(&frame, self.sender)));
                }
            }
            match result {
                Ok(Some(message)) => items.push(Item::Message(message)),
                Ok(None) => {}
                Err(e) => {
                    self.fail(e, &mut items, false);
                    break;
                }
            }
        }
        items
    }

    /// `--trace` for a live connection: push `bytes` (one read or one write, direction `dir`)
    /// and log each frame, message and broken rule they complete, with the peer's address.
    pub fn trace(&mut self, trace: Trace, peer: &dyn fmt::Display, dir: Dir, bytes: &[u8]) {
        let way = if dir == Dir::In { "<- from" } else { "-> to" };
        for item in self.push(bytes) {
            match item {
                Item::Frame(text) | Item::Error(_, text) => {
                    trace.log(format_args!("{way} {peer}:\n{}", text.trim_end()))
                }
                Item::Message(m) => trace.log(format_args!(
                    "{way} {peer}: message: {}",
                    describe_message(&m)
                )),
            }
        }
    }

    /// What is left at the end of the input: a frame that never completed, described, or
    /// `None` if the input ended between frames.
    pub fn finish(&mut self) -> Option<String> {
        if self.failed {
            return None;
        }
        if let Some(frame) = self.current.take() {
            let mut s = render_frame(&frame, self.sender);
            let _ = writeln!(
                s,
                "  (the input ends inside this frame: {} of its {} payload bytes came)",
                frame.received, frame.header.payload_len
            );
            return Some(s);
        }
        match self.tail.len() {
            0 => None,
            n => Some(format!(
                "{n} bytes at the end are the start of a frame whose header is not complete\n"
            )),
        }
    }

    fn record(&mut self, event: &FrameEvent) {
        match event {
            FrameEvent::Header(header) => {
                self.frames += 1;
                let text = match header.opcode {
                    Opcode::Text => true,
                    Opcode::Continuation => self.message == Some(Opcode::Text),
                    _ => false,
                };
                if !header.opcode.is_control() {
                    self.message = if header.fin {
                        None
                    } else if header.opcode == Opcode::Continuation {
                        self.message
                    } else {
                        Some(header.opcode)
                    };
                }
                let n = header.encoded_len();
                let wire: Vec<u8> = self.tail.drain(..n).collect();
                self.current = Some(Current {
                    number: self.frames,
                    at: self.offset,
                    header: *header,
                    wire,
                    payload: Vec::new(),
                    received: 0,
                    text,
                });
                self.offset += n as u64;
            }
            FrameEvent::Payload(bytes) => {
                // The same bytes as they came, still masked: the decoder hands out the payload
                // in the order it was pushed.
                let masked: Vec<u8> = self.tail.drain(..bytes.len()).collect();
                self.offset += bytes.len() as u64;
                if let Some(frame) = &mut self.current {
                    frame.received += bytes.len() as u64;
                    let room = KEEP_PAYLOAD.saturating_sub(frame.payload.len());
                    let n = bytes.len().min(room);
                    frame.wire.extend_from_slice(&masked[..n]);
                    frame.payload.extend_from_slice(&bytes[..n]);
                }
            }
            FrameEvent::End => {}
        }
    }

    /// The first broken rule. A decoder error comes before its frame is shown (the header
    /// broke a rule); an assembler error after (the frame is fine, the message is not).
    fn fail(&mut self, e: WsError, items: &mut Vec<Item>, in_header: bool) {
        self.failed = true;
        let mut s = String::new();
        if let Some(frame) = self.current.take() {
            s.push_str(&render_frame(&frame, self.sender));
        } else if !in_header {
            let _ = writeln!(s, "frame {} breaks a rule of messages:", self.frames);
        } else {
            // The header that broke a rule never became a FrameHeader: show its bytes as far
            // as they go, annotated by annotate_frame, which takes any bytes.
            let start = self.decoder_start();
            let _ = writeln!(
                s,
                "frame {}: at byte {}, {} (refused)",
                self.frames + 1,
                self.offset,
                direction(self.sender)
            );
            s.push_str(&annotated_hexdump(&start, &annotate_frame(&start)));
        }
        s.push_str(&describe_error(&e, self.sender));
        items.push(Item::Error(e, s));
    }

    /// The bytes of a header the decoder refused (at most a header's worth).
    fn decoder_start(&self) -> Vec<u8> {
        self.tail[..self.tail.len().min(super::frame::MAX_HEADER_LEN)].to_vec()
    }
}

/// The whole report for a buffer of bytes that `sender` wrote: frames, the messages they make,
/// the first error (or what is left over).
pub fn dissect(bytes: &[u8], sender: Role) -> String {
    let mut d = Dissector::new(sender, Limits::default());
    let items = d.push(bytes);
    let rest = d.finish();
    render(&items, rest.as_deref(), sender)
}

/// Frames first, then messages, then the error: the layout of `10-ws-frames decode`.
pub fn render(items: &[Item], rest: Option<&str>, sender: Role) -> String {
    let mut s = String::new();
    let mut messages = Vec::new();
    let mut error = None;
    for item in items {
        match item {
            Item::Frame(text) => {
                s.push_str(text);
                s.push('\n');
            }
            Item::Message(m) => messages.push(m),
            Item::Error(_, text) => error = Some(text),
        }
    }
    if let Some(e) = error {
        s.push_str(e);
        s.push('\n');
    }
    if let Some(rest) = rest {
        s.push_str(rest);
        s.push('\n');
    }
    let _ = writeln!(
        s,
        "messages, as the {} reads them: {}",
        match receiver(sender) {
            Role::Server => "server",
            Role::Client => "client",
        },
        messages.len()
    );
    for (i, m) in messages.iter().enumerate() {
        let _ = writeln!(s, "  {}. {}", i + 1, describe_message(m));
    }
    s
}

/// One message in one line.
pub fn describe_message(m: &Message) -> String {
    match m {
        Message::Text(t) => format!("text, {} bytes: {}", t.len(), text(t.as_bytes(), 60)),
        Message::Binary(b) => format!("binary, {} bytes: {}", b.len(), hex(b, 24)),
        Message::Ping(p) => format!("ping, payload {}", quote(p, 60)),
        Message::Pong(p) => format!("pong, payload {}", quote(p, 60)),
        Message::Close(None) => "close, no code (the application sees 1005)".to_string(),
        Message::Close(Some(CloseFrame { code, reason })) => format!(
            "close {code} ({}), reason {}",
            close_code_name(*code),
            quote(reason.as_bytes(), 60)
        ),
    }
}

/// The error, the rule it breaks, and the Close frame the receiver sends before closing.
pub fn describe_error(e: &WsError, sender: Role) -> String {
    let mut s = String::new();
    let code = e.close_code();
    let _ = writeln!(s, "error: {}", e.reason);
    let _ = writeln!(s, "  rule: {}", e.kind.rule());
    match code {
        Some(code) => {
            let reply = CloseFrame::new(code, e.reason.clone());
            let payload = close::close_payload(Some(&reply));
            // A server's frames are never masked; a client masks every frame (5.1), its Close
            // too: shown with the example key, since the real one is random.
            let key = (receiver(sender) == Role::Client).then_some(EXAMPLE_KEY);
            let frame = encode_frame(true, Opcode::Close, &payload, key);
            let _ = writeln!(
                s,
                "  the {} fails the connection: it sends Close {code} ({}) and closes TCP:",
                match receiver(sender) {
                    Role::Server => "server",
                    Role::Client => "client",
                },
                close_code_name(code)
            );
            let _ = writeln!(s, "  {}", hex(&frame, 64));
            if let Some(key) = key {
                let _ = writeln!(
                    s,
                    "  (masked, as a client masks every frame: here with the example key {}; \
                     a real client draws a fresh random key for each frame)",
                    hex(&key, 4)
                );
            }
        }
        None => {
            let _ = writeln!(s, "  the connection is closed without a Close frame");
        }
    }
    s
}

/// Text as a quoted string, its characters shown as they are (`"héllo"`), at most `max` bytes;
/// bytes that are not UTF-8 are escaped.
pub fn text(bytes: &[u8], max: usize) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            let mut end = s.len().min(max);
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            let more = if end < s.len() { "..." } else { "" };
            format!("{:?}{more}", &s[..end])
        }
        Err(e) if e.valid_up_to() > 0 => {
            let (good, rest) = bytes.split_at(e.valid_up_to());
            format!(
                "{} + {}",
                text(good, max),
                quote(rest, max.saturating_sub(good.len()))
            )
        }
        Err(_) => quote(bytes, max),
    }
}

/// Bytes as spaced hex, at most `max` of them.
pub fn hex(bytes: &[u8], max: usize) -> String {
    let mut s: Vec<String> = bytes.iter().take(max).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > max {
        s.push(format!("... ({} bytes)", bytes.len()));
    }
    s.join(" ")
}

/// The name of a close code (RFC 6455 7.4.1 and the IANA registry), or what range it is in.
pub fn close_code_name(code: u16) -> &'static str {
    match code {
        close::NORMAL => "normal closure",
        close::GOING_AWAY => "going away",
        close::PROTOCOL_ERROR => "protocol error",
        close::UNSUPPORTED_DATA => "unsupported data",
        1004 => "reserved",
        close::NO_STATUS => "no status received: never sent",
        close::ABNORMAL => "abnormal closure: never sent",
        close::INVALID_PAYLOAD => "invalid frame payload data",
        close::POLICY_VIOLATION => "policy violation",
        close::TOO_BIG => "message too big",
        close::MANDATORY_EXTENSION => "mandatory extension",
        close::INTERNAL_ERROR => "internal error",
        1012 => "service restart",
        1013 => "try again later",
        1014 => "bad gateway",
        1015 => "TLS handshake failed: never sent",
        0..=999 => "not used",
        1016..=2999 => "reserved for the protocol",
        3000..=3999 => "registered by libraries and frameworks",
        4000..=4999 => "private use",
        _ => "undefined",
    }
}

/// One frame: a title, the annotated hexdump, and a table of every field of
/// [`frame_layout`] with its value and what that value means.
fn render_frame(frame: &Current, sender: Role) -> String {
    let h = &frame.header;
    let mut s = String::new();
    let total = h.encoded_len() as u64 + h.payload_len;
    let _ = writeln!(
        s,
        "frame {}: {total} bytes at byte {}, {}",
        frame.number,
        frame.at,
        direction(sender)
    );
    s.push_str(&annotated_hexdump(
        &frame.wire,
        &annotate_frame(&frame.wire),
    ));
    for field in frame_layout(h) {
        let (value, meaning) = field_value(field.name, frame);
        let _ = writeln!(s, "    {:<24} {value:<14} {meaning}", field.name);
    }
    s
}

/// A field's value on the wire and what it means for this frame.
fn field_value(name: &str, frame: &Current) -> (String, String) {
    let h = &frame.header;
    let len7 = frame.wire.get(1).map_or(0, |b| b & 0x7f);
    let bit = |b: bool| u8::from(b).to_string();
    match name {
        "FIN" => (
            bit(h.fin),
            if h.fin {
                "the last frame of its message"
            } else {
                "more fragments follow"
            }
            .into(),
        ),
        "RSV1" | "RSV2" | "RSV3" => {
            let shift = 2 - (name.as_bytes()[3] - b'1');
            let on = h.rsv >> shift & 1 == 1;
            (
                bit(on),
                if on {
                    "set: only an extension may set it"
                } else {
                    "no extension"
                }
                .into(),
            )
        }
        "opcode" => (
            format!("0x{:x}", h.opcode.as_u8()),
            match h.opcode {
                Opcode::Continuation => "continuation: the next fragment of the message",
                Opcode::Text => "text: UTF-8",
                Opcode::Binary => "binary",
                Opcode::Close => "close (control)",
                Opcode::Ping => "ping (control): the peer answers with a pong",
                Opcode::Pong => "pong (control)",
            }
            .into(),
        ),
        "MASK" => (
            bit(h.mask.is_some()),
            if h.mask.is_some() {
                "masked: a client's frame"
            } else {
                "not masked: a server's frame"
            }
            .into(),
        ),
        "payload len" => (
            len7.to_string(),
            match len7 {
                126 => "16-bit form: the length is in the next 2 bytes (126 to 65535)".into(),
                127 => "64-bit form: the length is in the next 8 bytes (65536 and up)".into(),
                n => format!("7-bit form: the length is {n} (0 to 125 fit here)"),
            },
        ),
        "extended payload length" => (
            h.payload_len.to_string(),
            format!("{} bits, big-endian", if len7 == 126 { 16 } else { 64 }),
        ),
        "masking key" => (
            h.mask.map_or(String::new(), |k| hex(&k, 4)),
            "payload byte i is XORed with key byte i mod 4".into(),
        ),
        "payload" => payload_value(frame),
        _ => (String::new(), String::new()),
    }
}

/// The payload: its length, masked and unmasked bytes, and what it says.
fn payload_value(frame: &Current) -> (String, String) {
    let h = &frame.header;
    let shown = frame.payload.len() as u64;
    let p = &frame.payload;
    // The parts of the meaning, joined by spaces once the empty ones are left out.
    let mut parts = Vec::new();
    if h.mask.is_some() && !p.is_empty() {
        let header = frame.wire.len() - p.len();
        parts.push(format!(
            "masked {} -> unmasked {};",
            hex(&frame.wire[header..], 12),
            hex(p, 12)
        ));
    }
    let what = match h.opcode {
        // Nothing of the payload came (or was kept): there is nothing to say what it is.
        _ if p.is_empty() && h.payload_len > 0 => String::new(),
        Opcode::Close => match p.as_slice() {
            [] => "no code".to_string(),
            [_] => "one byte: not a code (a code takes two)".to_string(),
            [hi, lo, reason @ ..] => {
                let code = u16::from_be_bytes([*hi, *lo]);
                format!(
                    "code {code} ({}), reason {}",
                    close_code_name(code),
                    quote(reason, 60)
                )
            }
        },
        _ if frame.text => match std::str::from_utf8(p) {
            Ok(_) => format!("text {}", text(p, 60)),
            Err(e) if e.error_len().is_none() => format!(
                "text {} (ends inside a UTF-8 sequence: the next fragment completes it)",
                text(p, 60)
            ),
            Err(e) => format!("not UTF-8 at byte {}: {}", e.valid_up_to(), quote(p, 60)),
        },
        _ => hex(p, 24),
    };
    parts.push(what);
    if shown == 0 && h.payload_len > 0 {
        parts.push("(none shown)".to_string());
    } else if shown < h.payload_len {
        parts.push(format!("(first {shown} of {} bytes shown)", h.payload_len));
    }
    parts.retain(|part| !part.is_empty());
    (format!("{} bytes", h.payload_len), parts.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_5_7_masked_hello_is_named_field_by_field() {
        let out = dissect(
            &[
                0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
            ],
            Role::Client,
        );
        assert!(
            out.contains("frame 1: 11 bytes at byte 0, client -> server"),
            "{out}"
        );
        assert!(out.contains("7-bit form"), "{out}");
        assert!(
            out.contains("masked 7f 9f 4d 51 58 -> unmasked 48 65 6c 6c 6f"),
            "{out}"
        );
        assert!(out.contains("1. text, 5 bytes: \"Hello\""), "{out}");
    }

    #[test]
    fn fragments_and_a_ping_between_them_make_two_messages() {
        let wire = [
            &[0x01, 0x03, b'H', b'e', b'l'][..],
            &[0x89, 0x01, b'?'],
            &[0x80, 0x02, b'l', b'o'],
        ]
        .concat();
        let out = dissect(&wire, Role::Server);
        assert!(out.contains("frame 3: 4 bytes at byte 8"), "{out}");
        assert!(
            out.contains("1. ping, payload \"?\"\n  2. text, 5 bytes: \"Hello\""),
            "{out}"
        );
    }

    #[test]
    fn the_first_error_is_shown_with_its_close_frame() {
        // An unmasked text frame from a client: 1002.
        let out = dissect(&[0x81, 0x02, b'h', b'i'], Role::Client);
        assert!(
            out.contains("error: an unmasked text (0x1) frame from a client"),
            "{out}"
        );
        assert!(out.contains("Close 1002 (protocol error)"), "{out}");
        assert!(out.contains("RFC 6455 5.1"), "{out}");
        // Invalid UTF-8 in the second fragment: 1007, after frame 1 was shown.
        let out = dissect(&[0x01, 0x01, b'a', 0x80, 0x01, 0xff], Role::Server);
        assert!(out.contains("frame 2: 3 bytes at byte 3"), "{out}");
        assert!(out.contains("Close 1007"), "{out}");
    }

    #[test]
    fn a_clients_close_is_shown_masked_a_servers_not() {
        // A server's reply to a broken client frame: not masked.
        let out = dissect(&[0x81, 0x02, b'h', b'i'], Role::Client);
        assert!(out.contains("closes TCP:\n  88 2c 03 ea "), "{out}");
        assert!(!out.contains("(masked"), "{out}");
        // A client's reply to a broken server frame (1002 for a masked one): masked with the
        // example key, which decodes back to the Close it is.
        let out = dissect(&[0x81, 0x82, 1, 2, 3, 4, 5, 6], Role::Server);
        let line = out
            .lines()
            .skip_while(|l| !l.ends_with("closes TCP:"))
            .nth(1)
            .expect("the Close frame's line");
        assert!(
            out.contains(
                "(masked, as a client masks every frame: here with the example key 37 fa 21 3d;"
            ),
            "{out}"
        );
        let wire: Vec<u8> = line
            .split_whitespace()
            .map(|b| u8::from_str_radix(b, 16).unwrap())
            .collect();
        assert_eq!(wire[0], 0x88, "{out}");
        assert!(wire[1] & 0x80 != 0, "MASK=1: {out}");
        assert_eq!(wire[2..6], EXAMPLE_KEY, "{out}");
        let back = dissect(&wire, Role::Client);
        assert!(back.contains("1. close 1002 (protocol error)"), "{back}");
    }

    #[test]
    fn a_payload_cut_short_for_showing_says_which_bytes_are_shown() {
        // 5000 bytes, all there: the first 4096 are shown, and nothing says "so far".
        let wire = encode_frame(true, Opcode::Binary, &[7; 5000], None);
        let out = dissect(&wire, Role::Server);
        assert!(
            out.contains("payload (first 4096 of 5000 bytes shown): "),
            "{out}"
        );
        assert!(out.contains(" (first 4096 of 5000 bytes shown)\n"), "{out}");
        assert!(!out.contains("so far"), "{out}");
        // A refused header shows what fits in a header, and says so the same way.
        let out = dissect(
            &encode_frame(true, Opcode::Ping, &[b'x'; 126], None),
            Role::Server,
        );
        assert!(
            out.contains("payload (first 10 of 126 bytes shown): \"xxxxxxxxxx\""),
            "{out}"
        );
        // Only the header came: no payload to show, said in one space-separated phrase.
        let out = dissect(&[0x82, 0x7e, 0x01, 0x00], Role::Server);
        assert!(
            out.contains("    payload                  256 bytes      (none shown)\n"),
            "{out}"
        );
    }

    #[test]
    fn any_chunking_gives_the_same_items() {
        let wire = [
            &[0x01, 0x83, 1, 2, 3, 4][..],
            &[b'H' ^ 1, b'e' ^ 2, b'l' ^ 3],
            &[0x80, 0xfe, 0x00, 0x7e, 9, 9, 9, 9],
            &[b'x' ^ 9; 126],
        ]
        .concat();
        let whole = {
            let mut d = Dissector::new(Role::Client, Limits::default());
            d.push(&wire)
        };
        let mut d = Dissector::new(Role::Client, Limits::default());
        let bytewise: Vec<Item> = wire.iter().flat_map(|b| d.push(&[*b])).collect();
        assert_eq!(whole, bytewise);
        assert_eq!(whole.len(), 3, "{whole:?}");
    }
}
