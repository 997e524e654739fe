//! Checks for lesson 10, WebSocket frames (RFC 6455 section 5), against any WebSocket echo
//! server: after an opening handshake of its own, the grader sends frames and checks the
//! echoed frames byte for byte.
//!
//! What a correct echo server does with each frame it reads, as the checks see it:
//!
//! - a text or binary message comes back as one unmasked frame with FIN set, the same opcode
//!   and payload, and its length in the fewest bytes (7-bit, 16-bit or 64-bit form), however
//!   the message was fragmented and however the bytes were split into writes;
//! - a ping comes back as a pong with the same payload, at once, even between the fragments of
//!   a message;
//! - a Close is answered with a Close, and then the server closes the TCP connection;
//! - a frame that breaks a rule is answered with a Close of the right code (1002 protocol
//!   error, 1007 invalid UTF-8) and the TCP connection closed; nothing after it is echoed.
//!
//! Nothing here uses `src/ws`: frames are written by [`client_frame`] and expected by
//! [`server_frame`], a dozen lines each, straight from the figure of RFC 6455 5.2; the
//! handshake is written out by hand and its accept value computed from the RFC's formula.

use super::wire::{self, send, send_in_pieces};
use super::{Check, Ctx, Failure, Suite};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 10,
    listeners: &["ws"],
    checks: &[
        Check {
            name: "reads_the_16_bit_length_as_7_bit",
            misconception: "A payload len of 126 is not a length: it says the real length (126 to 65535) is in \
                            the next 2 bytes, big-endian. The header is 4 bytes (8 masked) and the payload \
                            starts after them.",
            run: sixteen_bit_lengths,
        },
        Check {
            name: "ignores_the_64_bit_length",
            misconception: "A payload len of 127 says the length is in the next 8 bytes, big-endian (65536 and \
                            up): a frame of 64 KiB or more is still one frame, whose payload arrives over many \
                            reads.",
            run: sixty_four_bit_lengths,
        },
        Check {
            name: "uses_a_longer_length_form_than_needed",
            misconception: "RFC 6455 5.2: \"the minimal number of bytes MUST be used to encode the length\": \
                            0-125 in the 7 bits, 126-65535 as 126 and 16 bits, only 65536 and up as 127 and \
                            64 bits. A client may refuse any other encoding.",
            run: minimal_lengths,
        },
        Check {
            name: "unmasks_with_the_wrong_key_offset",
            misconception: "Payload byte i is XORed with key byte i MOD 4, i counted from the start of the \
                            frame's payload: when a read ends in the middle of a frame, the next read \
                            continues at key byte (bytes so far) MOD 4, not at key byte 0.",
            run: unmask_across_reads,
        },
        Check {
            name: "assumes_one_read_is_one_frame",
            misconception: "TCP delivers bytes, not frames: one read may hold one byte of a header, the end \
                            of one frame and the start of the next, or ten frames. Buffer until the header is \
                            complete, then until its payload is, and loop while whole frames remain.",
            run: any_chunking,
        },
        Check {
            name: "masks_server_frames",
            misconception: "RFC 6455 5.1: \"A server MUST NOT mask any frames that it sends to the client\", \
                            and a client must close the connection if it sees a masked frame. Only the client \
                            masks.",
            run: unmasked_replies,
        },
        Check {
            name: "accepts_unmasked_client_frames",
            misconception: "RFC 6455 5.1: \"The server MUST close the connection upon receiving a frame that is \
                            not masked\" (with 1002, protocol error). Masking is what keeps a script from \
                            choosing the bytes a proxy sees (10.3); a server that takes unmasked frames \
                            gives that protection away.",
            run: unmasked_is_refused,
        },
        Check {
            name: "accepts_rsv_bits",
            misconception: "RSV1-3 \"MUST be 0 unless an extension is negotiated that defines meanings for \
                            non-zero values\" (RFC 6455 5.2): a set bit that no extension explains fails the \
                            connection with 1002.",
            run: rsv_bits_are_refused,
        },
        Check {
            name: "accepts_reserved_opcodes",
            misconception: "Opcodes 0x3-0x7 and 0xB-0xF are reserved: \"If an unknown opcode is received, the \
                            receiving endpoint MUST _Fail the WebSocket Connection_\" (RFC 6455 5.2), with 1002, \
                            not skip the frame.",
            run: reserved_opcodes_are_refused,
        },
        Check {
            name: "accepts_long_or_fragmented_control_frames",
            misconception: "RFC 6455 5.5: \"All control frames MUST have a payload length of 125 bytes or less \
                            and MUST NOT be fragmented\": a ping with a 16-bit length or without FIN is a \
                            protocol error (1002).",
            run: control_frame_rules,
        },
        Check {
            name: "forgets_the_pong_payload",
            misconception: "RFC 6455 5.5.3: a Pong sent in response to a Ping \"must have identical Application \
                            data as found in the message body of the Ping frame being replied to\"; the client \
                            uses it to match answers to pings.",
            run: pong_payload,
        },
        Check {
            name: "holds_a_ping_until_the_message_ends",
            misconception: "Control frames may come between the fragments of a message (RFC 6455 5.4), so that \
                            a ping is not stuck behind a long upload: answer it at once, and keep assembling \
                            the message.",
            run: ping_between_fragments,
        },
        Check {
            name: "loses_fragments",
            misconception: "A message may come as a first frame without FIN, continuation frames (opcode 0), \
                            and a last continuation with FIN (RFC 6455 5.4): the message is all their payloads \
                            in order, and its type is the first frame's.",
            run: fragments_make_one_message,
        },
        Check {
            name: "accepts_continuations_out_of_order",
            misconception: "A continuation frame continues a message in progress; with none it is a protocol \
                            error, and so is a new text or binary frame before the last fragment (RFC 6455 \
                            5.4): both fail with 1002.",
            run: continuation_order,
        },
        Check {
            name: "accepts_invalid_utf8",
            misconception: "A text message must be valid UTF-8 as a whole (RFC 6455 5.6, 8.1): a byte such as \
                            0xFF, a stray continuation byte or a surrogate, in one frame or across fragments, \
                            fails the connection with 1007.",
            run: invalid_utf8_is_refused,
        },
        Check {
            name: "checks_utf8_frame_by_frame",
            misconception: "\"A particular text frame might include a partial UTF-8 sequence; however, the \
                            whole message MUST contain valid UTF-8\" (RFC 6455 5.6): a character split between \
                            two fragments is fine; validate across frames, not each frame alone.",
            run: utf8_split_across_fragments,
        },
        Check {
            name: "does_not_answer_a_close",
            misconception: "RFC 6455 5.5.1: \"If an endpoint receives a Close frame and did not previously send \
                            a Close frame, the endpoint MUST send a Close frame in response\", typically echoing \
                            the code (and with no code if it got none: 1005 is never sent).",
            run: close_is_answered,
        },
        Check {
            name: "keeps_tcp_open_after_the_closing_handshake",
            misconception: "RFC 6455 7.1.1: after the Close frames are exchanged \"the server MUST close the \
                            underlying TCP connection immediately\", so that the server, not the client, keeps \
                            the TIME_WAIT state.",
            run: tcp_closed_after_close,
        },
        Check {
            name: "accepts_invalid_close_codes",
            misconception: "A Close payload is empty or a 2-byte code and a UTF-8 reason (RFC 6455 5.5.1): one \
                            byte, a code that may not be sent (under 1000, 1004-1006, 1015, 1016-2999, 5000 and \
                            up) is a protocol error (1002), a reason that is not UTF-8 is 1007.",
            run: close_codes,
        },
    ],
};

// ---- Frames, written out by hand --------------------------------------------------------------

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CONTINUATION: u8 = 0x0;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xa;

/// The length field as RFC 6455 5.2 draws it, in the fewest bytes: 7 bits, or 126 and 16
/// bits, or 127 and 64 bits. `mask_bit` is 0x80 or 0.
fn length_field(len: usize, mask_bit: u8) -> Vec<u8> {
    if len < 126 {
        vec![mask_bit | len as u8]
    } else if len <= 0xffff {
        [&[mask_bit | 126][..], &(len as u16).to_be_bytes()].concat()
    } else {
        [&[mask_bit | 127][..], &(len as u64).to_be_bytes()].concat()
    }
}

/// A frame as a client sends it: FIN, RSV bits (0-7, RSV1 = 4), opcode, then masked with `key`
/// (or unmasked if `None`, which no correct client does).
fn client_frame(fin: bool, rsv: u8, opcode: u8, payload: &[u8], key: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![(u8::from(fin) << 7) | (rsv << 4) | opcode];
    f.extend(length_field(
        payload.len(),
        if key.is_some() { 0x80 } else { 0 },
    ));
    match key {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// The frame a server sends: FIN, no RSV, unmasked, the fewest length bytes.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    [
        &[0x80 | opcode][..],
        &length_field(payload.len(), 0),
        payload,
    ]
    .concat()
}

/// A fresh masking key from the seeded generator.
fn key(ctx: &Ctx) -> [u8; 4] {
    let k = ctx.bytes(4);
    [k[0], k[1], k[2], k[3]]
}

/// A masked, FIN-set frame: what almost every check sends.
fn masked(ctx: &Ctx, opcode: u8, payload: &[u8]) -> Vec<u8> {
    client_frame(true, 0, opcode, payload, Some(key(ctx)))
}

/// `len` bytes of printable ASCII (valid text), seeded.
fn ascii(ctx: &Ctx, len: usize) -> Vec<u8> {
    ctx.bytes(len).iter().map(|b| b'a' + b % 26).collect()
}

// ---- The opening handshake, the grader's own ----------------------------------------------------

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// A WebSocket connection after the grader's handshake, and what was read but not used.
struct Ws<'a> {
    ctx: &'a Ctx,
    stream: TcpStream,
    buf: Vec<u8>,
}

/// How a read ended when it brought nothing.
enum Stop {
    Eof,
    Timeout,
    Failed(io::Error),
}

impl<'a> Ws<'a> {
    /// Connect and upgrade: a handshake request as in RFC 6455 1.2, a 101 with the right accept.
    fn open(ctx: &'a Ctx) -> Result<Self, Failure> {
        let stream = wire::connect(ctx, ctx.addr("ws"))?;
        let mut ws = Ws {
            ctx,
            stream,
            buf: Vec::new(),
        };
        let key = STANDARD.encode(ctx.bytes(16));
        let request = format!(
            "GET /echo HTTP/1.1\r\nHost: grader.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        send(&ws.stream, request.as_bytes())?;
        let deadline = Instant::now() + ctx.timeout;
        let end = loop {
            if let Some(i) = ws.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if let Err(stop) = ws.more(deadline) {
                return Err(Failure::new(format!(
                    "the opening handshake did not complete ({}); lesson 09's checks tell why",
                    stop_words(&stop, ctx)
                ))
                .sent(request.as_bytes())
                .received(&ws.buf));
            }
        };
        let head: Vec<u8> = ws.buf.drain(..end).collect();
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        let accept = STANDARD.encode(Sha1::digest(format!("{key}{GUID}").as_bytes()));
        let accept_line = format!("sec-websocket-accept: {}", accept.to_ascii_lowercase());
        if !text.starts_with("http/1.1 101") || !text.contains(&accept_line) {
            return Err(Failure::new(
                "the opening handshake was not answered with a 101 carrying the right \
                 Sec-WebSocket-Accept (lesson 09's checks tell why)",
            )
            .sent(request.as_bytes())
            .expected(
                format!("HTTP/1.1 101 Switching Protocols\r\n...Sec-WebSocket-Accept: {accept}")
                    .as_bytes(),
            )
            .received(&head));
        }
        Ok(ws)
    }

    /// One more read into `buf`, waiting until `deadline` at most.
    fn more(&mut self, deadline: Instant) -> Result<(), Stop> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Stop::Timeout);
        }
        self.stream.set_read_timeout(Some(left)).ok();
        let mut chunk = vec![0u8; 256 * 1024];
        loop {
            return match (&self.stream).read(&mut chunk) {
                Ok(0) => Err(Stop::Eof),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if wire::timed_out(&e) => Err(Stop::Timeout),
                Err(e) => Err(Stop::Failed(e)),
            };
        }
    }

    /// Expect exactly `expected` next. `sent` and `what` are for the evidence.
    fn expect(&mut self, expected: &[u8], sent: &[u8], what: &str) -> Result<(), Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        while self.buf.len() < expected.len() && expected.starts_with(&self.buf) {
            if let Err(stop) = self.more(deadline) {
                return Err(Failure::new(format!(
                    "{what}: {} after {} of the {} bytes expected",
                    stop_words(&stop, self.ctx),
                    self.buf.len(),
                    expected.len()
                ))
                .sent(sent)
                .expected(expected)
                .received(&self.buf));
            }
        }
        if self.buf.starts_with(expected) {
            self.buf.drain(..expected.len());
            return Ok(());
        }
        let mut why = format!("{what}: other bytes came back than the frame expected");
        if let Some(&b1) = self.buf.get(1) {
            if b1 & 0x80 != 0 {
                why.push_str(" (the reply has its MASK bit set)");
            }
        }
        if let Some(&b0) = self.buf.first() {
            if b0 == 0x88 && expected.first() != Some(&0x88) {
                why.push_str(&format!(
                    " (the server closed with {})",
                    close_code_of(&self.buf)
                ));
            }
        }
        Err(Failure::new(why)
            .sent(sent)
            .expected(expected)
            .received(&self.buf))
    }

    /// Expect a Close frame next whose code `ok` accepts (`None`: an empty payload), then the
    /// end of the TCP connection. Returns the code.
    fn expect_close(
        &mut self,
        ok: &dyn Fn(Option<u16>) -> bool,
        expected: &[u8],
        sent: &[u8],
        what: &str,
    ) -> Result<Option<u16>, Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        let fail = |ws: &Ws, why: String| {
            Failure::new(format!("{what}: {why}"))
                .sent(sent)
                .expected(expected)
                .received(&ws.buf)
        };
        // A Close header is 2 bytes (unmasked, at most 125 bytes of payload).
        while self.buf.len() < 2 || self.buf.len() < 2 + usize::from(self.buf[1] & 0x7f).min(125) {
            if let Err(stop) = self.more(deadline) {
                let why = match (stop, self.buf.is_empty()) {
                    (Stop::Eof, true) => {
                        "the server closed the TCP connection without a Close frame".to_string()
                    }
                    (stop, _) => format!("no Close frame came: {}", stop_words(&stop, self.ctx)),
                };
                return Err(fail(self, why));
            }
        }
        if self.buf[0] != 0x88 {
            return Err(fail(
                self,
                format!(
                    "expected a Close frame (0x88), received a frame starting 0x{:02x}: the server \
                     went on as if nothing was wrong",
                    self.buf[0]
                ),
            ));
        }
        let len = usize::from(self.buf[1] & 0x7f);
        if self.buf[1] & 0x80 != 0 || len > 125 {
            return Err(fail(self, "the Close frame is masked or too long".into()));
        }
        let code = (len >= 2).then(|| u16::from_be_bytes([self.buf[2], self.buf[3]]));
        if !ok(code) {
            let got = code.map_or("no code".to_string(), |c| format!("code {c}"));
            return Err(fail(self, format!("the server closed with {got}")));
        }
        self.buf.drain(..2 + len);
        // Then the server closes the TCP connection: nothing more, then end of stream.
        loop {
            if !self.buf.is_empty() {
                return Err(fail(
                    self,
                    "after its Close frame the server sent more bytes; nothing may follow a Close \
                     (RFC 6455 5.5.1)"
                        .into(),
                ));
            }
            match self.more(deadline) {
                Ok(()) => {}
                Err(Stop::Eof) | Err(Stop::Failed(_)) => return Ok(code),
                Err(Stop::Timeout) => {
                    return Err(fail(
                        self,
                        format!(
                        "after its Close frame the server kept the TCP connection open for {} s; \
                             it MUST close it (RFC 6455 7.1.1)",
                        self.ctx.timeout.as_secs_f32()
                    ),
                    ))
                }
            }
        }
    }

    /// Send `frame` and expect a Close with `code` and the TCP connection closed.
    fn refused(&mut self, frame: &[u8], code: u16, what: &str) -> Result<(), Failure> {
        send(&self.stream, frame).map_err(|f| f.during(what))?;
        let expected = server_frame(CLOSE, &code.to_be_bytes());
        self.expect_close(&|c| c == Some(code), &expected, frame, what)?;
        Ok(())
    }
}

fn stop_words(stop: &Stop, ctx: &Ctx) -> String {
    match stop {
        Stop::Eof => "the server closed the connection".into(),
        Stop::Timeout => format!(
            "nothing (more) arrived within {} s",
            ctx.timeout.as_secs_f32()
        ),
        Stop::Failed(e) => format!("the connection failed: {e}"),
    }
}

/// The code of a Close frame at the start of `bytes`, in words.
fn close_code_of(bytes: &[u8]) -> String {
    match bytes {
        [0x88, len, hi, lo, ..] if len & 0x7f >= 2 => {
            format!("code {}", u16::from_be_bytes([*hi, *lo]))
        }
        _ => "a Close frame".into(),
    }
}

/// Send `frame` on a fresh connection and expect `reply`.
fn echo(ctx: &Ctx, frame: &[u8], reply: &[u8], what: &str) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    send(&ws.stream, frame).map_err(|f| f.during(what))?;
    ws.expect(reply, frame, what)
}

/// Send `frame` on a fresh connection and expect a Close with `code`.
fn refused(ctx: &Ctx, frame: &[u8], code: u16, what: &str) -> Result<(), Failure> {
    Ws::open(ctx)?.refused(frame, code, what)
}

// ---- The checks -------------------------------------------------------------------------------

fn sixteen_bit_lengths(ctx: &Ctx) -> Result<(), Failure> {
    for (opcode, len) in [(TEXT, 126), (BINARY, 1000), (BINARY, 65535)] {
        let payload = if opcode == TEXT {
            ascii(ctx, len)
        } else {
            ctx.bytes(len)
        };
        let what = format!("a masked frame of {len} bytes (payload len 126, then 16 bits)");
        echo(
            ctx,
            &masked(ctx, opcode, &payload),
            &server_frame(opcode, &payload),
            &what,
        )?;
    }
    Ok(())
}

fn sixty_four_bit_lengths(ctx: &Ctx) -> Result<(), Failure> {
    for len in [65536, 200_000] {
        let payload = ctx.bytes(len);
        let what = format!("a masked binary frame of {len} bytes (payload len 127, then 64 bits)");
        echo(
            ctx,
            &masked(ctx, BINARY, &payload),
            &server_frame(BINARY, &payload),
            &what,
        )?;
    }
    Ok(())
}

fn minimal_lengths(ctx: &Ctx) -> Result<(), Failure> {
    // The edges of each form, on one connection: the echo's header must be 2, 4 or 10 bytes.
    let mut ws = Ws::open(ctx)?;
    for len in [0, 1, 125, 126, 127, 65535, 65536] {
        let payload = ctx.bytes(len);
        let frame = masked(ctx, BINARY, &payload);
        let what = format!(
            "a binary message of {len} bytes, whose echo needs a {}-byte header",
            match len {
                0..=125 => 2,
                126..=65535 => 4,
                _ => 10,
            }
        );
        send(&ws.stream, &frame).map_err(|f| f.during(&what))?;
        ws.expect(&server_frame(BINARY, &payload), &frame, &what)?;
    }
    Ok(())
}

fn unmask_across_reads(ctx: &Ctx) -> Result<(), Failure> {
    // Pieces of 1, 2, 3, 5 and 7 bytes make every read after the header start at another key
    // byte. A second frame follows so that key offsets do not leak from one frame to the next.
    let mut ws = Ws::open(ctx)?;
    for (len, sizes) in [(37, [1usize, 2, 3, 5, 7]), (200, [7, 5, 3, 2, 1])] {
        let payload = ascii(ctx, len);
        let frame = masked(ctx, TEXT, &payload);
        let what = format!(
            "a masked text frame of {len} bytes whose payload is written in pieces of {sizes:?} bytes, \
             over and over"
        );
        // The header in one write, then the payload in the pieces.
        let header = if len < 126 { 6 } else { 8 };
        send(&ws.stream, &frame[..header]).map_err(|f| f.during(&what))?;
        let mut i = 0;
        send_in_pieces(
            &ws.stream,
            &frame[header..],
            || {
                i += 1;
                sizes[(i - 1) % sizes.len()]
            },
            Duration::from_millis(2),
        )
        .map_err(|f| f.during(&what))?;
        ws.expect(&server_frame(TEXT, &payload), &frame, &what)?;
    }
    Ok(())
}

fn any_chunking(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    // One frame, one byte per write: every header field arrives alone.
    let payload = ascii(ctx, 20);
    let frame = masked(ctx, TEXT, &payload);
    let what = "a masked text frame of 20 bytes written one byte at a time";
    send_in_pieces(&ws.stream, &frame, || 1, Duration::from_millis(2))
        .map_err(|f| f.during(what))?;
    ws.expect(&server_frame(TEXT, &payload), &frame, what)?;
    // A 16-bit length split after its first byte, then the rest.
    let payload = ctx.bytes(300);
    let frame = masked(ctx, BINARY, &payload);
    let what =
        "a 300-byte frame whose 16-bit length is split between two writes (3 bytes, then the rest)";
    let mut first = true;
    send_in_pieces(
        &ws.stream,
        &frame,
        || {
            if std::mem::take(&mut first) {
                3
            } else {
                usize::MAX
            }
        },
        Duration::from_millis(20),
    )
    .map_err(|f| f.during(what))?;
    ws.expect(&server_frame(BINARY, &payload), &frame, what)?;
    // Ten frames in one write, the last two cut across a second write.
    let payloads: Vec<Vec<u8>> = (0..10).map(|i| ascii(ctx, 1 + 13 * i)).collect();
    let frames: Vec<u8> = payloads.iter().flat_map(|p| masked(ctx, TEXT, p)).collect();
    let replies: Vec<u8> = payloads
        .iter()
        .flat_map(|p| server_frame(TEXT, p))
        .collect();
    let what = "ten masked text frames in one write (the tenth's end in a second write)";
    let cut = frames.len() - 5;
    let mut pieces = [cut, usize::MAX].into_iter();
    send_in_pieces(
        &ws.stream,
        &frames,
        || pieces.next().unwrap_or(usize::MAX),
        Duration::from_millis(20),
    )
    .map_err(|f| f.during(what))?;
    ws.expect(&replies, &frames, what)
}

fn unmasked_replies(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    let frame = masked(ctx, TEXT, b"are your frames masked?");
    send(&ws.stream, &frame)?;
    let deadline = Instant::now() + ctx.timeout;
    while ws.buf.len() < 2 {
        if let Err(stop) = ws.more(deadline) {
            return Err(
                Failure::new(format!("no echo came: {}", stop_words(&stop, ctx)))
                    .sent(&frame)
                    .received(&ws.buf),
            );
        }
    }
    if ws.buf[1] & 0x80 != 0 {
        return Err(
            Failure::new("the echo has its MASK bit set (second byte 0x80 and up)")
                .sent(&frame)
                .expected(&server_frame(TEXT, b"are your frames masked?"))
                .received(&ws.buf),
        );
    }
    Ok(())
}

fn unmasked_is_refused(ctx: &Ctx) -> Result<(), Failure> {
    // The unmasked frame, and a good one in the same write that must not be echoed.
    let bad = client_frame(true, 0, TEXT, b"unmasked", None);
    let sent = [bad, masked(ctx, TEXT, b"after it")].concat();
    refused(ctx, &sent, 1002, "an unmasked text frame from the client")
}

fn rsv_bits_are_refused(ctx: &Ctx) -> Result<(), Failure> {
    for (rsv, name) in [(4, "RSV1"), (2, "RSV2"), (1, "RSV3")] {
        let frame = client_frame(true, rsv, TEXT, b"reserved", Some(key(ctx)));
        refused(
            ctx,
            &frame,
            1002,
            &format!("a text frame with {name} set (no extension was negotiated)"),
        )?;
    }
    Ok(())
}

fn reserved_opcodes_are_refused(ctx: &Ctx) -> Result<(), Failure> {
    for opcode in [0x3, 0xb] {
        let frame = client_frame(true, 0, opcode, b"what am I", Some(key(ctx)));
        refused(
            ctx,
            &frame,
            1002,
            &format!("a frame with the reserved opcode 0x{opcode:x}"),
        )?;
    }
    Ok(())
}

fn control_frame_rules(ctx: &Ctx) -> Result<(), Failure> {
    let long = client_frame(true, 0, PING, &ascii(ctx, 126), Some(key(ctx)));
    refused(ctx, &long, 1002, "a ping of 126 bytes (a 16-bit length)")?;
    let fragmented = client_frame(false, 0, PING, b"half", Some(key(ctx)));
    refused(
        ctx,
        &fragmented,
        1002,
        "a ping without FIN (a fragmented control frame)",
    )
}

fn pong_payload(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    for payload in [ascii(ctx, 17), ctx.bytes(125), Vec::new()] {
        let frame = masked(ctx, PING, &payload);
        let what = format!("a ping with {} bytes of payload", payload.len());
        send(&ws.stream, &frame).map_err(|f| f.during(&what))?;
        ws.expect(&server_frame(PONG, &payload), &frame, &what)?;
    }
    Ok(())
}

fn ping_between_fragments(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    let k = key(ctx);
    let first = client_frame(false, 0, TEXT, b"Hel", Some(k));
    let ping = client_frame(true, 0, PING, b"still there?", Some(key(ctx)));
    let sent = [first, ping].concat();
    let what = "the first fragment of a text message, then a ping (the message is not finished)";
    send(&ws.stream, &sent).map_err(|f| f.during(what))?;
    ws.expect(
        &server_frame(PONG, b"still there?"),
        &sent,
        &format!("{what}: the pong, before the message ends"),
    )?;
    let last = client_frame(true, 0, CONTINUATION, b"lo", Some(key(ctx)));
    let what = "then the last fragment";
    send(&ws.stream, &last).map_err(|f| f.during(what))?;
    ws.expect(
        &server_frame(TEXT, b"Hello"),
        &[sent, last.clone()].concat(),
        what,
    )
}

fn fragments_make_one_message(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    // A text message in three fragments.
    let parts: [&[u8]; 3] = [b"frag", b"ment", b"ed"];
    let sent: Vec<u8> = parts
        .iter()
        .enumerate()
        .flat_map(|(i, p)| {
            client_frame(
                i == 2,
                0,
                if i == 0 { TEXT } else { CONTINUATION },
                p,
                Some(key(ctx)),
            )
        })
        .collect();
    let what = "a text message in three fragments (text, continuation, continuation with FIN)";
    send(&ws.stream, &sent).map_err(|f| f.during(what))?;
    ws.expect(&server_frame(TEXT, b"fragmented"), &sent, what)?;
    // A binary message in five, one of them empty and one over 125 bytes.
    let data = ctx.bytes(400);
    let cuts = [0, 100, 100, 350, 399, 400];
    let sent: Vec<u8> = (0..5)
        .flat_map(|i| {
            let op = if i == 0 { BINARY } else { CONTINUATION };
            client_frame(i == 4, 0, op, &data[cuts[i]..cuts[i + 1]], Some(key(ctx)))
        })
        .collect();
    let what = "a binary message of 400 bytes in five fragments of 100, 0, 250, 49 and 1 bytes";
    send(&ws.stream, &sent).map_err(|f| f.during(what))?;
    ws.expect(&server_frame(BINARY, &data), &sent, what)
}

fn continuation_order(ctx: &Ctx) -> Result<(), Failure> {
    let lone = client_frame(true, 0, CONTINUATION, b"orphan", Some(key(ctx)));
    refused(
        ctx,
        &lone,
        1002,
        "a continuation frame with no message in progress",
    )?;
    let sent = [
        client_frame(false, 0, TEXT, b"first", Some(key(ctx))),
        client_frame(true, 0, TEXT, b"second", Some(key(ctx))),
    ]
    .concat();
    refused(
        ctx,
        &sent,
        1002,
        "a text frame without FIN, then a new text frame instead of a continuation",
    )
}

fn invalid_utf8_is_refused(ctx: &Ctx) -> Result<(), Failure> {
    let cases: [(&str, Vec<u8>); 4] = [
        (
            "a text frame holding the byte 0xff",
            masked(ctx, TEXT, b"bad \xff byte"),
        ),
        (
            "a text frame holding a UTF-16 surrogate (ed a0 80)",
            masked(ctx, TEXT, b"\xed\xa0\x80"),
        ),
        (
            "a text message whose second fragment is a stray continuation byte (0x80)",
            [
                client_frame(false, 0, TEXT, b"fine so far ", Some(key(ctx))),
                client_frame(true, 0, CONTINUATION, b"\x80", Some(key(ctx))),
            ]
            .concat(),
        ),
        (
            "a text message whose first fragment ends in c3 and whose second starts with 0x28, \
             which cannot continue it",
            [
                client_frame(false, 0, TEXT, b"caf\xc3", Some(key(ctx))),
                client_frame(true, 0, CONTINUATION, b"(", Some(key(ctx))),
            ]
            .concat(),
        ),
    ];
    for (what, frames) in cases {
        refused(ctx, &frames, 1007, what)?;
    }
    Ok(())
}

fn utf8_split_across_fragments(ctx: &Ctx) -> Result<(), Failure> {
    // "café €" with the é (c3 a9) and the € (e2 82 ac) split between fragments.
    let text = "café €".as_bytes();
    let sent = [
        client_frame(false, 0, TEXT, &text[..4], Some(key(ctx))),
        client_frame(false, 0, CONTINUATION, &text[4..7], Some(key(ctx))),
        client_frame(true, 0, CONTINUATION, &text[7..], Some(key(ctx))),
    ]
    .concat();
    echo(
        ctx,
        &sent,
        &server_frame(TEXT, text),
        "\"café €\" in three fragments that split the é and the € between them",
    )
}

fn close_is_answered(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx)?;
    let frame = masked(ctx, CLOSE, b"\x03\xe8bye");
    let what = "a Close with code 1000 and the reason \"bye\"";
    send(&ws.stream, &frame).map_err(|f| f.during(what))?;
    ws.expect_close(
        &|c| c == Some(1000),
        &server_frame(CLOSE, &1000u16.to_be_bytes()),
        &frame,
        what,
    )?;
    let mut ws = Ws::open(ctx)?;
    let frame = masked(ctx, CLOSE, b"");
    let what = "a Close with no code (empty payload)";
    send(&ws.stream, &frame).map_err(|f| f.during(what))?;
    // Answered with no code, or 1000; never 1005, which "MUST NOT be set as a status code".
    ws.expect_close(
        &|c| c.is_none() || c == Some(1000),
        &server_frame(CLOSE, b""),
        &frame,
        what,
    )?;
    // A valid code from the registered range comes back as itself (or 1000).
    let mut ws = Ws::open(ctx)?;
    let frame = masked(ctx, CLOSE, &4000u16.to_be_bytes());
    let what = "a Close with the private-use code 4000";
    send(&ws.stream, &frame).map_err(|f| f.during(what))?;
    ws.expect_close(
        &|c| c == Some(4000) || c == Some(1000),
        &server_frame(CLOSE, &4000u16.to_be_bytes()),
        &frame,
        what,
    )?;
    Ok(())
}

fn tcp_closed_after_close(ctx: &Ctx) -> Result<(), Failure> {
    // The Close and its answer, checked loosely here (does_not_answer_a_close has the details):
    // this check is about the TCP connection afterwards.
    let mut ws = Ws::open(ctx)?;
    let frame = masked(ctx, CLOSE, b"\x03\xe8");
    let what = "a Close 1000";
    send(&ws.stream, &frame).map_err(|f| f.during(what))?;
    let deadline = Instant::now() + ctx.timeout;
    // Read the answer (whatever it is), then wait for the end of the stream.
    loop {
        match ws.more(deadline) {
            Ok(()) => continue,
            Err(Stop::Eof) | Err(Stop::Failed(_)) => return Ok(()),
            Err(Stop::Timeout) => {
                return Err(Failure::new(format!(
                "{what}, answered: the TCP connection was still open {} s later; the server MUST \
                     close it after the closing handshake",
                ctx.timeout.as_secs_f32()
            ))
                .sent(&frame)
                .received(&ws.buf))
            }
        }
    }
}

fn close_codes(ctx: &Ctx) -> Result<(), Failure> {
    let mut cases: Vec<(String, Vec<u8>, u16)> = vec![(
        "a Close whose payload is one byte (0x03)".into(),
        masked(ctx, CLOSE, b"\x03"),
        1002,
    )];
    for code in [999u16, 1004, 1005, 1006, 1015, 2999, 5000] {
        cases.push((
            format!("a Close with code {code}, which may not be sent"),
            masked(ctx, CLOSE, &code.to_be_bytes()),
            1002,
        ));
    }
    cases.push((
        "a Close 1000 whose reason is not UTF-8 (ff)".into(),
        masked(ctx, CLOSE, b"\x03\xe8\xff"),
        1007,
    ));
    for (what, frame, code) in cases {
        refused(ctx, &frame, code, &what)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graders_frames_are_the_rfcs() {
        // RFC 6455 5.7.
        assert_eq!(
            client_frame(true, 0, TEXT, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(
            server_frame(TEXT, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            client_frame(false, 0, TEXT, b"Hel", None),
            [0x01, 0x03, 0x48, 0x65, 0x6c]
        );
        assert_eq!(server_frame(PONG, b"Hello")[..2], [0x8a, 0x05]);
        assert_eq!(
            server_frame(BINARY, &[0; 256])[..4],
            [0x82, 0x7e, 0x01, 0x00]
        );
        assert_eq!(
            server_frame(BINARY, &[0; 65536])[..10],
            [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn lengths_take_the_fewest_bytes() {
        for (len, bytes) in [(0, 1), (125, 1), (126, 3), (65535, 3), (65536, 9)] {
            assert_eq!(length_field(len, 0).len(), bytes, "{len}");
        }
    }
}
