//! Checks for lesson 11, a WebSocket server (RFC 6455) with `/echo`, `/chat?room=R&name=N` and a
//! chat page at `/`, against any server started with its default flags:
//!
//! - echo: every message comes back whole, in order, with its type, in unmasked frames whose
//!   length uses the fewest bytes; however the frames are split into reads (1-byte writes) or
//!   coalesced (a hundred in one write); at 125/126/65535/65536 bytes and at 16 MiB (Autobahn's
//!   limit); fragmented into hundreds of frames, with pings in between answered at once;
//! - protocol errors: each is answered with its close code (1002, or 1007 for bad UTF-8), then
//!   the server closes TCP; and one bad connection never disturbs another one;
//! - the closing handshake: the Close is echoed with its code, nothing follows it, and the
//!   server closes TCP;
//! - chat: the sender hears its own message, rooms are apart, ten members all hear everyone,
//!   the query's values are percent-decoded, and neither a member that vanished (RST) nor one
//!   that never reads holds up the room;
//! - HTTP: the page at `/` is HTML that opens a WebSocket; a plain GET of /echo is refused;
//! - scale: 500 WebSockets open at once all echo;
//! - only when the grader started the server (`--cmd`), so that it may weigh and signal it:
//!   memory per idle connection, memory beside a member that never reads, and SIGTERM giving
//!   every WebSocket a Close 1001 (going away). Against `--addr` these pass without measuring.
//!
//! A chat message may come back in any format that contains the text sent (the reference
//! sends `N: TEXT`); messages that do not contain it (notices such as `* N joined`) are
//! skipped.
//!
//! Independence: nothing here uses `src/ws`. Frames are written by [`client_frame`] and read by
//! [`parse_frame`], both below, from RFC 6455 5.2 directly; the handshake is lesson 09's
//! grader's own.

use super::http::{self, HttpConn, More};
use super::lesson09::{expect_upgraded, random_key, Request};
use super::wire;
use super::{procfs, Check, Ctx, Failure, Suite};
use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 11,
    listeners: &["ws"],
    checks: &[
        Check {
            name: "masks_its_frames",
            misconception: "Only the client masks (RFC 6455 5.1: \"A server MUST NOT mask any frames that it \
                            sends to the client\", and a client MUST close on a masked one): the server's \
                            frames carry MASK 0 and no masking key.",
            run: server_frames_unmasked,
        },
        Check {
            name: "changes_the_message_type",
            misconception: "An echo is the same message: a text message comes back as text (opcode 1), a \
                            binary one as binary (opcode 2), an empty one as an empty one of its type.",
            run: echo_keeps_type,
        },
        Check {
            name: "assumes_one_read_is_one_frame",
            misconception: "TCP delivers bytes, not frames: a read may hold one byte of a header, or a hundred \
                            frames. Buffer, parse whole frames, keep the rest for the next read.",
            run: reads_are_not_frames,
        },
        Check {
            name: "wrong_payload_length",
            misconception: "The length is 7 bits up to 125, 126 then 16 bits up to 65535, 127 then 64 bits \
                            (RFC 6455 5.2), in network byte order, and \"the minimal number of bytes MUST be \
                            used to encode the length\".",
            run: length_boundaries,
        },
        Check {
            name: "refuses_a_16_mib_message",
            misconception: "A limit is policy, and the default must let real traffic through: Autobahn's cases \
                            9.* send messages of 16 MiB, which a server with a 1 MiB limit closes with 1009.",
            run: sixteen_mib,
        },
        Check {
            name: "answers_pings_only_between_messages",
            misconception: "Control frames may come between the fragments of a message (RFC 6455 5.4) and a \
                            Ping is answered \"as soon as is practical\" with a Pong carrying the same payload \
                            (5.5.3), not after the message ends.",
            run: pings_between_fragments,
        },
        Check {
            name: "echoes_fragments_as_messages",
            misconception: "A message is its first frame plus its continuations up to FIN (RFC 6455 5.4): \
                            the echo is one message of the first frame's type holding every fragment's bytes.",
            run: fragments_make_one_message,
        },
        Check {
            name: "accepts_unmasked_client_frames",
            misconception: "\"The server MUST close the connection upon receiving a frame that is not masked\" \
                            (RFC 6455 5.1): with a Close 1002 (protocol error), then the TCP close.",
            run: unmasked_is_an_error,
        },
        Check {
            name: "ignores_rsv_bits",
            misconception: "RSV1-3 \"MUST be 0 unless an extension is negotiated\" (RFC 6455 5.2), and none \
                            was: a frame with one set fails the connection with 1002.",
            run: rsv_is_an_error,
        },
        Check {
            name: "ignores_reserved_opcodes",
            misconception: "Opcodes 3-7 and 0xB-0xF are reserved: \"If an unknown opcode is received, the \
                            receiving endpoint MUST _Fail the WebSocket Connection_\" (RFC 6455 5.2), 1002.",
            run: reserved_opcode_is_an_error,
        },
        Check {
            name: "accepts_bad_control_frames",
            misconception: "\"All control frames MUST have a payload length of 125 bytes or less and MUST NOT be \
                            fragmented\" (RFC 6455 5.5): a 126-byte Ping or a Ping without FIN is a protocol \
                            error, 1002.",
            run: bad_control_frames,
        },
        Check {
            name: "accepts_a_continuation_with_nothing_to_continue",
            misconception: "A continuation frame (opcode 0) continues a message begun by a text or binary frame \
                            without FIN; with no message begun there is nothing to continue: 1002.",
            run: lone_continuation,
        },
        Check {
            name: "accepts_a_new_message_inside_a_fragmented_one",
            misconception: "Fragments of one message are not interleaved with another message (RFC 6455 5.4): \
                            a text or binary frame before the FIN of the message in progress is a protocol \
                            error, 1002, not a fresh start.",
            run: message_inside_message,
        },
        Check {
            name: "does_not_check_utf8",
            misconception: "A text message, and a Close's reason, must be valid UTF-8 (RFC 6455 5.6, 8.1): \
                            \"the endpoint MUST _Fail the WebSocket Connection_\" with 1007 on a surrogate, an \
                            overlong form or a code point past U+10FFFF.",
            run: utf8_is_checked,
        },
        Check {
            name: "checks_utf8_one_fragment_at_a_time",
            misconception: "UTF-8 is a property of the whole message: a code point may be split between two \
                            fragments (valid), and the bytes that complete one come from the next fragment \
                            (so an incomplete tail is kept, not judged alone, and still checked when the \
                            message ends).",
            run: utf8_across_fragments,
        },
        Check {
            name: "accepts_invalid_close_codes",
            misconception: "A Close's code must be one an endpoint may send (RFC 6455 7.4): 1000-1003, \
                            1007-1014, 3000-4999. 1005 and 1006 are never on the wire; codes under 1000, \
                            1004, 1015 to 2999 and 5000 up, or a 1-byte payload, fail with 1002.",
            run: invalid_close_codes,
        },
        Check {
            name: "does_not_echo_the_close_code",
            misconception: "The closing handshake answers a Close with a Close (RFC 6455 5.5.1), which \"typically \
                            echos the status code it received\": a 4000 comes back as 4000, and clients \
                            (Autobahn's 7.7.*) check it.",
            run: close_code_echoed,
        },
        Check {
            name: "keeps_tcp_open_after_the_closing_handshake",
            misconception: "Once Close frames have crossed, the server closes the TCP connection first (RFC \
                            6455 7.1.1: \"the server SHOULD close the underlying TCP connection\"), so that \
                            TIME_WAIT lands on the server and the client learns the end at once.",
            run: tcp_closed_after_close,
        },
        Check {
            name: "sends_frames_after_its_close",
            misconception: "After sending a Close an endpoint \"MUST NOT send any more data frames\" (RFC 6455 \
                            5.5.1), and frames that arrive after the client's Close are not answered.",
            run: nothing_after_close,
        },
        Check {
            name: "one_bad_connection_disturbs_the_others",
            misconception: "A protocol error, garbage instead of a handshake, or a reset ends that connection \
                            only: an error that escapes to the event loop, or a panic, takes every other \
                            connection with it.",
            run: bad_connection_is_alone,
        },
        Check {
            name: "chat_leaves_out_the_sender",
            misconception: "On /chat the sender is a member of its room too: it hears its own message, which \
                            is how a client learns its message was delivered, and in which order.",
            run: chat_sender_included,
        },
        Check {
            name: "chat_rooms_leak",
            misconception: "A message goes to the members of the sender's room only: the room is part of \
                            each membership, not one global list.",
            run: chat_rooms_apart,
        },
        Check {
            name: "chat_misses_members",
            misconception: "A room has no fixed size: ten members each hear all ten messages.",
            run: chat_ten_members,
        },
        Check {
            name: "takes_the_room_without_percent_decoding",
            misconception: "Query values are percent-encoded (RFC 3986 2.1, any hex case) and fields come in any \
                            order: `room=caf%C3%A9` and `name=x&room=caf%c3%a9` are both the room `café`.",
            run: chat_query_decoded,
        },
        Check {
            name: "a_vanished_member_stops_delivery",
            misconception: "A member can vanish at any moment (a reset, no Close): a write to it fails, and that \
                            failure must end that member only, not the delivery to the members after it.",
            run: chat_vanished_member,
        },
        Check {
            name: "a_slow_member_stalls_the_room",
            misconception: "A member that never reads fills its socket buffers; a server that then waits for it \
                            stops the whole room. Queue for it up to a bound, then drop it (close 1008).",
            run: chat_slow_member,
        },
        Check {
            name: "memory_grows_with_a_slow_member",
            misconception: "Queueing without a bound for a member that never reads turns its silence into the \
                            server's memory: bound each member's queue and drop the member past it.",
            run: chat_slow_member_memory,
        },
        Check {
            name: "serves_no_chat_page",
            misconception: "The same port serves plain HTTP too: GET / is the chat page, HTML (Content-Type \
                            text/html) whose script opens the WebSocket itself.",
            run: page_is_html,
        },
        Check {
            name: "answers_a_plain_get_of_a_websocket_path",
            misconception: "/echo and /chat speak WebSocket only: a GET without Upgrade is refused with a 4xx \
                            (426 Upgrade Required says why), and an Upgrade to an unknown path gets a 404.",
            run: plain_get_refused,
        },
        Check {
            name: "cannot_hold_many_connections",
            misconception: "An event loop holds as many connections as it has descriptors: 500 WebSockets open \
                            at once must all complete their handshake and echo, with no fixed table or backlog \
                            in the way.",
            run: many_connections,
        },
        Check {
            name: "spends_too_much_memory_per_idle_connection",
            misconception: "An idle WebSocket needs its socket and a little state, not a large buffer allocated \
                            up front: read into one shared buffer, and keep per connection only a partial frame.",
            run: idle_memory,
        },
        Check {
            name: "closes_without_going_away",
            misconception: "A server that stops tells its clients: on SIGTERM every open WebSocket gets a Close \
                            1001 (\"going away\", RFC 6455 7.4.1) before the TCP close, so they can reconnect \
                            elsewhere instead of seeing an error.",
            run: going_away_on_sigterm,
        },
    ],
};

// ---- Frames, written by hand (RFC 6455 5.2) ------------------------------------------------------

const CONTINUATION: u8 = 0x0;
const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// XOR `data` with the masking key, `data[i] ^ mask[i % 4]` (RFC 6455 5.3).
fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    let word = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = data.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let v = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ word;
        chunk.copy_from_slice(&v.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= mask[i % 4];
    }
}

/// The header of a frame: FIN, RSV and opcode in the first byte, then MASK and the length in
/// its shortest form.
fn header(first: u8, len: usize, masked: bool) -> Vec<u8> {
    let m = if masked { 0x80 } else { 0 };
    let mut h = vec![first];
    match len {
        0..=125 => h.push(m | len as u8),
        126..=65535 => {
            h.push(m | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            h.push(m | 127);
            h.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
    h
}

/// A frame with `first` as its first byte (FIN, RSV, opcode), masked with `mask` if given.
fn raw_frame(first: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = header(first, payload.len(), mask.is_some());
    let start = f.len();
    f.extend_from_slice(payload);
    if let Some(mask) = mask {
        f.splice(start..start, mask);
        apply_mask(&mut f[start + 4..], mask);
    }
    f
}

/// A masked client frame.
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    raw_frame(if fin { 0x80 } else { 0 } | opcode, payload, Some(mask))
}

/// The frame a server sends for a whole message: FIN, unmasked, shortest length.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    raw_frame(0x80 | opcode, payload, None)
}

/// A Close payload: the code in network byte order, then the reason.
fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    [&code.to_be_bytes()[..], reason].concat()
}

/// One frame as it came from the server.
#[derive(Debug, Clone)]
struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    /// Bytes the header took (2, 4 or 10, plus 4 with a mask).
    header_len: usize,
    /// The payload, unmasked if it was masked.
    payload: Vec<u8>,
    /// The frame as it came on the wire, for evidence (the first 64 KiB).
    raw: Vec<u8>,
}

impl Frame {
    /// The code of a Close frame, if its payload has one.
    fn close_code(&self) -> Option<u16> {
        (self.payload.len() >= 2).then(|| u16::from_be_bytes([self.payload[0], self.payload[1]]))
    }

    fn describe(&self) -> String {
        match self.opcode {
            CLOSE => match self.close_code() {
                Some(code) => format!(
                    "a Close with code {code}{}",
                    match String::from_utf8_lossy(&self.payload[2..]) {
                        r if r.is_empty() => String::new(),
                        r => format!(" ({r:?})"),
                    }
                ),
                None => "a Close with no code".into(),
            },
            TEXT => format!("a text frame of {} bytes", self.payload.len()),
            BINARY => format!("a binary frame of {} bytes", self.payload.len()),
            CONTINUATION => format!("a continuation frame of {} bytes", self.payload.len()),
            PING => "a Ping".into(),
            PONG => "a Pong".into(),
            op => format!("a frame with opcode {op:#x}"),
        }
    }
}

/// Largest frame the grader accepts from a server (its largest echo is 16 MiB).
const MAX_FRAME: u64 = 17 << 20;

/// Parse one frame from the start of `buf`: `Ok(None)` if more bytes are needed.
fn parse_frame(buf: &[u8]) -> Result<Option<(Frame, usize)>, String> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() < 4 => return Ok(None),
        126 => (u16::from_be_bytes([buf[2], buf[3]]) as u64, 4),
        127 if buf.len() < 10 => return Ok(None),
        127 => (
            u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")),
            10,
        ),
        n => (n as u64, 2),
    };
    if len > MAX_FRAME {
        return Err(format!(
            "the server sent a frame announcing {len} bytes, more than anything the grader sent"
        ));
    }
    let mask = if masked {
        if buf.len() < at + 4 {
            return Ok(None);
        }
        at += 4;
        Some([buf[at - 4], buf[at - 3], buf[at - 2], buf[at - 1]])
    } else {
        None
    };
    let end = at + len as usize;
    if buf.len() < end {
        return Ok(None);
    }
    let mut payload = buf[at..end].to_vec();
    if let Some(mask) = mask {
        apply_mask(&mut payload, mask);
    }
    Ok(Some((
        Frame {
            fin: buf[0] & 0x80 != 0,
            rsv: (buf[0] >> 4) & 0x7,
            opcode: buf[0] & 0x0f,
            masked,
            header_len: at,
            payload,
            raw: buf[..end.min(64 << 10)].to_vec(),
        },
        end,
    )))
}

// ---- A WebSocket connection of the grader's own --------------------------------------------------

/// What came next on a connection.
enum Next {
    Frame(Frame),
    /// The server closed TCP (FIN).
    Eof,
    /// The server reset the connection, or reading failed.
    Failed(String),
    /// Nothing within the wait.
    Silent,
}

/// A WebSocket client: lesson 09's handshake, then frames.
struct Ws<'a> {
    c: HttpConn<'a>,
    /// What this connection is, for failures: "/echo", "member bob of room r".
    who: String,
    /// The last bytes sent (the first 4 KiB of them), for evidence.
    sent: Vec<u8>,
}

/// How much of a sent payload a failure shows.
const SHOWN: usize = 4096;

impl<'a> Ws<'a> {
    /// Open a WebSocket to `target` (`/echo`, `/chat?room=R&name=N`).
    fn open(ctx: &'a Ctx, target: &str) -> Result<Ws<'a>, Failure> {
        let mut c = HttpConn::open_to(ctx, "ws")?;
        let key = random_key(ctx);
        let sent = Request::new(&key)
            .line(&format!("GET {target} HTTP/1.1"))
            .bytes();
        let what = format!("the opening handshake of {target}");
        c.send(&sent).map_err(|f| f.during(&what))?;
        let answer = c.answer(&sent).map_err(|f| f.during(&what))?;
        expect_upgraded(&answer, &key, &sent, &what)?;
        Ok(Ws {
            c,
            who: target.to_string(),
            sent: Vec::new(),
        })
    }

    fn ctx(&self) -> &'a Ctx {
        self.c.ctx
    }

    fn fail(&self, what: impl Into<String>) -> Failure {
        let mut f = Failure::new(format!("{}: {}", self.who, what.into()));
        if !self.sent.is_empty() {
            f = f.sent(&self.sent);
        }
        f
    }

    /// Send bytes in one write.
    fn send(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sent = bytes[..bytes.len().min(SHOWN)].to_vec();
        wire::send(&self.c.stream, bytes).map_err(|f| self.fail(f.what))
    }

    /// Send a masked frame with a seeded mask.
    fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8]) -> Result<Vec<u8>, Failure> {
        let frame = client_frame(fin, opcode, payload, mask(self.ctx()));
        self.send(&frame)?;
        Ok(frame)
    }

    /// The next frame, EOF, a failure, or silence: the wait is `wait` without any byte.
    fn next(&mut self, wait: Duration) -> Result<Next, Failure> {
        loop {
            match parse_frame(&self.c.buf) {
                Ok(Some((frame, used))) => {
                    self.c.buf.drain(..used);
                    return Ok(Next::Frame(frame));
                }
                Ok(None) => {}
                Err(why) => {
                    let shown = self.c.buf[..self.c.buf.len().min(64)].to_vec();
                    return Err(self.fail(why).received(&shown));
                }
            }
            match self.c.more(Instant::now() + wait) {
                More::Bytes => {}
                More::Eof => return Ok(Next::Eof),
                More::Timeout => return Ok(Next::Silent),
                More::Failed(e) => return Ok(Next::Failed(e.to_string())),
            }
        }
    }

    /// The next frame; anything else is a failure that says `what` was awaited. A Ping from
    /// the server (its keep-alive) is answered and skipped.
    fn frame(&mut self, what: &str) -> Result<Frame, Failure> {
        let wait = self.ctx().timeout;
        match self.next(wait)? {
            Next::Frame(f) if f.opcode == PING => {
                let pong = client_frame(true, PONG, &f.payload, mask(self.ctx()));
                let _ = wire::send(&self.c.stream, &pong);
                self.frame(what)
            }
            Next::Frame(f) => Ok(f),
            Next::Eof => Err(self
                .fail(format!(
                    "the server closed the TCP connection while {what} was awaited"
                ))
                .received(&self.c.buf)),
            Next::Failed(e) => Err(self.fail(format!(
                "the connection failed while {what} was awaited: {e}"
            ))),
            Next::Silent => Err(self
                .fail(format!(
                    "{what} did not come: nothing (more) arrived within {} s",
                    wait.as_secs_f32()
                ))
                .received(&self.c.buf)),
        }
    }

    /// The next data message, assembled from its frames (Pongs skipped); a Close, or a frame
    /// out of place, is a failure.
    fn message(&mut self, what: &str) -> Result<(u8, Vec<u8>, Vec<u8>), Failure> {
        let mut message: Option<(u8, Vec<u8>)> = None;
        let mut raw = Vec::new();
        loop {
            let f = self.frame(what)?;
            match f.opcode {
                PONG => continue,
                CLOSE => {
                    return Err(self
                        .fail(format!(
                            "{what} was awaited, but the server sent {} and is closing",
                            f.describe()
                        ))
                        .received(&f.raw))
                }
                _ => {}
            }
            if raw.len() < (64 << 10) {
                raw.extend_from_slice(&f.raw);
            }
            match (&mut message, f.opcode) {
                (None, TEXT | BINARY) => message = Some((f.opcode, f.payload)),
                (Some((_, data)), CONTINUATION) => data.extend_from_slice(&f.payload),
                _ => {
                    return Err(self
                        .fail(format!(
                        "{what} was awaited, and the server sent {}, out of place (RFC 6455 5.4)",
                        f.describe()
                    ))
                        .received(&raw))
                }
            }
            if f.fin {
                let (opcode, data) = message.expect("a message was begun");
                return Ok((opcode, data, raw));
            }
        }
    }

    /// Expect the next message to be exactly `opcode` with `payload`.
    fn expect_message(&mut self, opcode: u8, payload: &[u8], what: &str) -> Result<(), Failure> {
        let (got_op, got, raw) = self.message(what)?;
        if got_op == opcode && got == payload {
            return Ok(());
        }
        let kind = |op| match op {
            TEXT => "text",
            BINARY => "binary",
            _ => "other",
        };
        let why = if got_op != opcode {
            format!(
                "{what}: a {} message came back as {}",
                kind(opcode),
                kind(got_op)
            )
        } else if payload.starts_with(&got) {
            format!(
                "{what}: the message came back cut short: {} of {} bytes",
                got.len(),
                payload.len()
            )
        } else {
            format!("{what}: the message came back with other bytes")
        };
        let expected = server_frame(opcode, payload);
        let received = if raw.len() >= got.len() {
            raw
        } else {
            server_frame(got_op, &got)
        };
        Err(self
            .fail(why)
            .expected(&expected[..expected.len().min(64 << 10)])
            .received(&received))
    }

    /// Send a message in one frame and expect it back.
    fn echo(&mut self, opcode: u8, payload: &[u8], what: &str) -> Result<(), Failure> {
        self.send_frame(true, opcode, payload)?;
        self.expect_message(opcode, payload, what)
    }

    /// Read text messages until one contains `text`; fail if none does in time. Returns the
    /// messages skipped on the way.
    fn hear(&mut self, text: &str, what: &str) -> Result<Vec<String>, Failure> {
        let mut skipped = Vec::new();
        loop {
            let (opcode, data, raw) = self.message(what).map_err(|f| {
                let heard = if skipped.is_empty() {
                    String::new()
                } else {
                    format!(" (it heard only {skipped:?})")
                };
                Failure {
                    what: format!("{}{heard}", f.what),
                    ..f
                }
            })?;
            let s = String::from_utf8_lossy(&data).into_owned();
            if opcode == TEXT && s.contains(text) {
                return Ok(skipped);
            }
            if opcode != TEXT {
                return Err(self
                    .fail(format!(
                        "{what}: a binary message came where chat sends text"
                    ))
                    .received(&raw));
            }
            skipped.push(s);
        }
    }

    /// After something that must fail the connection: expect a Close with one of `codes`
    /// (data frames before it are skipped), answer it, and expect the TCP close.
    fn expect_failed(&mut self, codes: &[u16], what: &str) -> Result<(), Failure> {
        let expected = server_frame(CLOSE, &close_payload(codes[0], b""));
        let close = loop {
            let wait = self.ctx().timeout;
            let next = self.next(wait)?;
            let why = match next {
                Next::Frame(f) if f.opcode == CLOSE => break f,
                Next::Frame(_) => continue,
                Next::Eof => "the server closed TCP without a Close frame first".to_string(),
                Next::Failed(e) => format!("the connection failed, with no Close frame first: {e}"),
                Next::Silent => format!(
                    "no Close came within {} s: the server let it pass",
                    wait.as_secs_f32()
                ),
            };
            return Err(self
                .fail(format!("{what}: expected a Close {codes:?}, but {why}"))
                .expected(&expected));
        };
        match close.close_code() {
            Some(code) if codes.contains(&code) => {}
            _ => {
                return Err(self
                    .fail(format!(
                        "{what}: expected a Close with code {}, received {}",
                        codes
                            .iter()
                            .map(u16::to_string)
                            .collect::<Vec<_>>()
                            .join(" or "),
                        close.describe()
                    ))
                    .expected(&expected)
                    .received(&close.raw))
            }
        }
        // Answer the Close, as a client does; the server may have closed already.
        let reply = client_frame(
            true,
            CLOSE,
            close.payload.get(..2).unwrap_or(&[]),
            mask(self.ctx()),
        );
        let _ = (&self.c.stream).write_all(&reply);
        self.expect_tcp_close(&format!("{what}, after its {}", close.describe()))
    }

    /// Expect the server to close TCP now, with nothing more sent (a reset counts as closed).
    fn expect_tcp_close(&mut self, what: &str) -> Result<(), Failure> {
        let wait = self.ctx().timeout;
        match self.next(wait)? {
            Next::Eof | Next::Failed(_) => Ok(()),
            Next::Frame(f) => Err(self
                .fail(format!(
                    "{what}, the server sent {}: nothing may follow a Close",
                    f.describe()
                ))
                .expected(b"")
                .received(&f.raw)),
            Next::Silent => Err(self.fail(format!(
                "{what}, the TCP connection was still open {} s later: the server must close it",
                wait.as_secs_f32()
            ))),
        }
    }
}

/// A seeded masking key.
fn mask(ctx: &Ctx) -> [u8; 4] {
    let b = ctx.bytes(4);
    [b[0], b[1], b[2], b[3]]
}

/// A short seeded tag that keeps rooms and texts of one run apart from another's.
fn tag(ctx: &Ctx) -> String {
    format!("{:06x}", ctx.below(1 << 24))
}

// ---- Echo ---------------------------------------------------------------------------------------

fn server_frames_unmasked(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    ws.send_frame(true, TEXT, b"Hello")?;
    let f = ws.frame("the echo of \"Hello\"")?;
    let expected = server_frame(TEXT, b"Hello");
    if f.masked || f.rsv != 0 {
        let why = if f.masked {
            "the server's frame is masked (MASK bit set, a masking key follows the length)"
        } else {
            "the server's frame has RSV bits set, though no extension was agreed"
        };
        return Err(ws.fail(why).expected(&expected).received(&f.raw));
    }
    if f.raw != expected {
        return Err(ws
            .fail("the echo of \"Hello\" is not RFC 6455 5.7's unmasked \"Hello\" frame")
            .expected(&expected)
            .received(&f.raw));
    }
    Ok(())
}

fn echo_keeps_type(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    let binary: Vec<u8> = (0..=255u8).rev().collect();
    let cases: [(u8, &[u8], &str); 5] = [
        (TEXT, "héllo, wörld ✓".as_bytes(), "a text message"),
        (BINARY, &binary, "a binary message of all 256 byte values"),
        (TEXT, b"", "an empty text message"),
        (BINARY, b"", "an empty binary message"),
        (
            BINARY,
            b"{\"looks\": \"like text\"}",
            "a binary message that looks like text",
        ),
    ];
    for (opcode, payload, what) in cases {
        ws.echo(opcode, payload, what)?;
    }
    Ok(())
}

fn reads_are_not_frames(ctx: &Ctx) -> Result<(), Failure> {
    // Three frames, one byte per write: headers split from their lengths and keys.
    let mut ws = Ws::open(ctx, "/echo")?;
    let big: Vec<u8> = ctx.bytes(300);
    let messages: [(u8, &[u8]); 3] = [(TEXT, b"split"), (BINARY, &big), (TEXT, b"")];
    let bytes: Vec<u8> = messages
        .iter()
        .flat_map(|(op, p)| client_frame(true, *op, p, mask(ctx)))
        .collect();
    ws.sent = bytes.clone();
    wire::send_in_pieces(&ws.c.stream, &bytes, || 1, Duration::from_millis(1))
        .map_err(|f| f.during("three frames sent one byte per write"))?;
    for (i, (op, p)) in messages.iter().enumerate() {
        ws.expect_message(
            *op,
            p,
            &format!("frame {} of 3, sent one byte per write", i + 1),
        )?;
    }
    // A hundred frames of random sizes in one write.
    let messages: Vec<(u8, Vec<u8>)> = (0..100)
        .map(|i| {
            let len = ctx.below(300) as usize;
            if i % 2 == 0 {
                (TEXT, format!("{i:03}{}", "t".repeat(len)).into_bytes())
            } else {
                (BINARY, ctx.bytes(len))
            }
        })
        .collect();
    let bytes: Vec<u8> = messages
        .iter()
        .flat_map(|(op, p)| client_frame(true, *op, p, mask(ctx)))
        .collect();
    ws.send(&bytes)?;
    for (i, (op, p)) in messages.iter().enumerate() {
        ws.expect_message(
            *op,
            p,
            &format!("message {} of 100 sent in one write", i + 1),
        )?;
    }
    Ok(())
}

/// Send `frame` from a second thread while reading the echo here: a large message written
/// before reading deadlocks once the buffers between us are full.
fn send_while_reading(
    ws: &mut Ws,
    frame: Vec<u8>,
    opcode: u8,
    payload: &[u8],
    what: &str,
) -> Result<(), Failure> {
    let writer =
        ws.c.stream
            .try_clone()
            .map_err(|e| Failure::new(format!("grader: {e}")))?;
    ws.sent = frame[..frame.len().min(SHOWN)].to_vec();
    std::thread::scope(|scope| {
        let sending = scope.spawn(move || (&writer).write_all(&frame));
        let got = ws.expect_message(opcode, payload, what);
        let sent = sending.join().expect("the writer does not panic");
        match (got, sent) {
            (Ok(()), _) => Ok(()),
            (Err(f), Err(e)) => Err(f.during(&format!("sending stopped ({e})"))),
            (Err(f), Ok(())) => Err(f),
        }
    })
}

fn length_boundaries(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    for len in [0usize, 1, 125, 126, 127, 65535, 65536, 100_000] {
        let payload = ctx.bytes(len);
        let frame = client_frame(true, BINARY, &payload, mask(ctx));
        let what = format!("a binary message of {len} bytes");
        send_while_reading(&mut ws, frame, BINARY, &payload, &what)?;
    }
    // And the server's own header: the shortest length form.
    for len in [125usize, 126, 65535, 65536] {
        let payload = ctx.bytes(len);
        ws.send_frame(true, BINARY, &payload)?;
        let f = ws.frame(&format!("the echo of {len} bytes"))?;
        let minimal = header(0x82, len, false);
        if f.header_len != minimal.len() {
            let received = f.raw[..f.raw.len().min(16)].to_vec();
            return Err(ws
                .fail(format!(
                    "the echo of {len} bytes has a {}-byte header where {} bytes do: RFC 6455 5.2 \
                     says \"the minimal number of bytes MUST be used to encode the length\"",
                    f.header_len,
                    minimal.len()
                ))
                .expected(&minimal)
                .received(&received));
        }
    }
    Ok(())
}

/// Autobahn's largest message (cases 9.1.6 and 9.2.6).
const SIXTEEN_MIB: usize = 16 << 20;

fn sixteen_mib(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    // Every 4-byte word a different number: a lost or repeated piece shows where.
    let payload: Vec<u8> = (0..SIXTEEN_MIB / 4)
        .flat_map(|i| ((i as u32).wrapping_mul(2_654_435_761)).to_be_bytes())
        .collect();
    let frame = client_frame(true, BINARY, &payload, mask(ctx));
    send_while_reading(
        &mut ws,
        frame,
        BINARY,
        &payload,
        "a binary message of 16 MiB in one frame",
    )
}

fn pings_between_fragments(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    // A Pong nobody asked for is allowed (RFC 6455 5.5.3: a unidirectional heartbeat) and
    // needs no answer; the next thing back must be the echo.
    ws.send_frame(true, PONG, b"unsolicited")?;
    ws.echo(
        TEXT,
        b"after an unsolicited pong",
        "a text message after a Pong",
    )?;
    let mut whole = Vec::new();
    const FRAGMENTS: usize = 10;
    for i in 0..FRAGMENTS {
        let piece = format!("fragment {i}; ");
        let opcode = if i == 0 { TEXT } else { CONTINUATION };
        ws.send_frame(i == FRAGMENTS - 1, opcode, piece.as_bytes())?;
        whole.extend_from_slice(piece.as_bytes());
        if i == FRAGMENTS - 1 {
            break;
        }
        let ping = if i == 3 {
            Vec::new()
        } else {
            format!("ping {i} {}", tag(ctx)).into_bytes()
        };
        let sent = ws.send_frame(true, PING, &ping)?;
        let what = format!(
            "the Pong to a Ping sent after fragment {} of {FRAGMENTS} of a text message",
            i + 1
        );
        let expected = server_frame(PONG, &ping);
        let f = ws.frame(&what)?;
        if f.opcode != PONG || f.payload != ping {
            let why = if f.opcode != PONG {
                format!("{what}: the server sent {} instead", f.describe())
            } else {
                format!(
                    "{what}: the Pong carries {} bytes, not the Ping's {} (RFC 6455 5.5.3: \"the \
                     Pong frame MUST have identical Application data\")",
                    f.payload.len(),
                    ping.len()
                )
            };
            return Err(ws
                .fail(why)
                .sent(&sent)
                .expected(&expected)
                .received(&f.raw));
        }
    }
    ws.expect_message(
        TEXT,
        &whole,
        &format!("the echo of a text message in {FRAGMENTS} fragments with Pings between"),
    )
}

fn fragments_make_one_message(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    const FRAGMENTS: usize = 300;
    let mut whole = Vec::new();
    let mut bytes = Vec::new();
    for i in 0..FRAGMENTS {
        // Some fragments are empty: they still count.
        let piece = if i % 7 == 3 {
            Vec::new()
        } else {
            ctx.bytes(ctx.below(40) as usize)
        };
        let opcode = if i == 0 { BINARY } else { CONTINUATION };
        bytes.extend(client_frame(i == FRAGMENTS - 1, opcode, &piece, mask(ctx)));
        whole.extend_from_slice(&piece);
    }
    ws.send(&bytes)?;
    ws.expect_message(
        BINARY,
        &whole,
        &format!("a binary message in {FRAGMENTS} fragments (some empty), in one write"),
    )?;
    ws.echo(TEXT, b"and the next message", "the message after it")
}

// ---- Protocol errors ----------------------------------------------------------------------------

/// Open /echo, send `bytes`, expect the connection to fail with one of `codes`.
fn must_fail(ctx: &Ctx, bytes: &[u8], codes: &[u16], what: &str) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    ws.send(bytes)?;
    ws.expect_failed(codes, what)
}

fn unmasked_is_an_error(ctx: &Ctx) -> Result<(), Failure> {
    let bytes = raw_frame(0x81, b"not masked", None);
    must_fail(ctx, &bytes, &[1002], "an unmasked text frame")
}

fn rsv_is_an_error(ctx: &Ctx) -> Result<(), Failure> {
    for (bit, first) in [(1, 0xC1u8), (2, 0xA1), (3, 0x91)] {
        let bytes = raw_frame(first, b"rsv", Some(mask(ctx)));
        must_fail(
            ctx,
            &bytes,
            &[1002],
            &format!("a text frame with RSV{bit} set"),
        )?;
    }
    Ok(())
}

fn reserved_opcode_is_an_error(ctx: &Ctx) -> Result<(), Failure> {
    for opcode in [0x3u8, 0x7, 0xB, 0xF] {
        let bytes = client_frame(true, opcode, b"reserved", mask(ctx));
        must_fail(
            ctx,
            &bytes,
            &[1002],
            &format!("a frame with the reserved opcode {opcode:#x}"),
        )?;
    }
    Ok(())
}

fn bad_control_frames(ctx: &Ctx) -> Result<(), Failure> {
    let big = client_frame(true, PING, &[b'p'; 126], mask(ctx));
    must_fail(ctx, &big, &[1002], "a Ping with 126 bytes of payload")?;
    let fragmented = [
        client_frame(false, PING, b"half", mask(ctx)),
        client_frame(true, CONTINUATION, b"other half", mask(ctx)),
    ]
    .concat();
    must_fail(ctx, &fragmented, &[1002], "a Ping without FIN (fragmented)")
}

fn lone_continuation(ctx: &Ctx) -> Result<(), Failure> {
    let bytes = client_frame(true, CONTINUATION, b"continuing nothing", mask(ctx));
    must_fail(
        ctx,
        &bytes,
        &[1002],
        "a continuation frame with no message begun",
    )
}

fn message_inside_message(ctx: &Ctx) -> Result<(), Failure> {
    let bytes = [
        client_frame(false, TEXT, b"begun, ", mask(ctx)),
        client_frame(true, TEXT, b"and a new text frame", mask(ctx)),
    ]
    .concat();
    must_fail(
        ctx,
        &bytes,
        &[1002],
        "a text frame without FIN, then another text frame (not a continuation)",
    )
}

/// "κόσμε" (Autobahn's UTF-8 example) in bytes.
const KOSME: &[u8] = &[
    0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
];

fn utf8_is_checked(ctx: &Ctx) -> Result<(), Failure> {
    let cases: [(&[u8], &str); 3] = [
        (
            &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xed, 0xa0, 0x80, 0x65],
            "a surrogate (ED A0 80, U+D800)",
        ),
        (&[0x61, 0xc0, 0xaf, 0x62], "an overlong '/' (C0 AF)"),
        (
            &[0x61, 0xf4, 0x90, 0x80, 0x80],
            "a code point past U+10FFFF (F4 90 80 80)",
        ),
    ];
    for (payload, what) in cases {
        let bytes = client_frame(true, TEXT, payload, mask(ctx));
        must_fail(ctx, &bytes, &[1007], &format!("a text frame with {what}"))?;
    }
    let reason = close_payload(1000, &[0x62, 0x79, 0xc0, 0xaf, 0x65]);
    let bytes = client_frame(true, CLOSE, &reason, mask(ctx));
    must_fail(
        ctx,
        &bytes,
        &[1007],
        "a Close whose reason is not UTF-8 (an overlong C0 AF)",
    )
}

fn utf8_across_fragments(ctx: &Ctx) -> Result<(), Failure> {
    // Valid: code points cut between fragments.
    let mut ws = Ws::open(ctx, "/echo")?;
    let emoji = "🦀".as_bytes();
    for (pieces, what) in [
        (
            vec![&KOSME[..3], &KOSME[3..6], &KOSME[6..]],
            "\"κόσμε\" in 3 fragments cut inside its code points",
        ),
        (
            vec![&emoji[..1], &emoji[1..2], &emoji[2..3], &emoji[3..]],
            "\"🦀\" (4 bytes) one byte per fragment",
        ),
    ] {
        let mut bytes = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let op = if i == 0 { TEXT } else { CONTINUATION };
            bytes.extend(client_frame(i == pieces.len() - 1, op, p, mask(ctx)));
        }
        ws.send(&bytes)?;
        ws.expect_message(
            TEXT,
            &pieces.concat(),
            &format!("a valid text message, {what}"),
        )?;
    }
    // Invalid: each fragment passes alone, the whole does not.
    let cases: [(&[&[u8]], &str); 2] = [
        (
            &[b"abc\xf0\x90", b"AB"],
            "a fragment ending with the start of a 4-byte code point (F0 90), and the next \
             starting with 'A'",
        ),
        (
            &[b"ab", b"c\xe2\x82"],
            "a last fragment that ends in the middle of a code point (E2 82)",
        ),
    ];
    for (pieces, what) in cases {
        let mut bytes = Vec::new();
        for (i, p) in pieces.iter().enumerate() {
            let op = if i == 0 { TEXT } else { CONTINUATION };
            bytes.extend(client_frame(i == pieces.len() - 1, op, p, mask(ctx)));
        }
        must_fail(ctx, &bytes, &[1007], &format!("a text message with {what}"))?;
    }
    Ok(())
}

fn invalid_close_codes(ctx: &Ctx) -> Result<(), Failure> {
    for code in [
        0u16, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535,
    ] {
        let bytes = client_frame(true, CLOSE, &close_payload(code, b""), mask(ctx));
        must_fail(ctx, &bytes, &[1002], &format!("a Close with code {code}"))?;
    }
    let bytes = client_frame(true, CLOSE, &[0x03], mask(ctx));
    must_fail(ctx, &bytes, &[1002], "a Close whose payload is 1 byte")
}

fn close_code_echoed(ctx: &Ctx) -> Result<(), Failure> {
    for (code, reason) in [
        (1000u16, &b"bye"[..]),
        (1001, b""),
        (3000, b"registered"),
        (4999, b"private"),
    ] {
        let mut ws = Ws::open(ctx, "/echo")?;
        let sent = ws.send_frame(true, CLOSE, &close_payload(code, reason))?;
        let what = format!("a Close with code {code}");
        let expected = server_frame(CLOSE, &close_payload(code, b""));
        let f = ws.frame(&format!("the Close answering {what}"))?;
        if f.opcode != CLOSE || f.close_code() != Some(code) {
            return Err(ws
                .fail(format!(
                    "{what}: the answer is {}, not a Close with code {code}",
                    f.describe()
                ))
                .sent(&sent)
                .expected(&expected)
                .received(&f.raw));
        }
    }
    // An empty Close has no code to echo: an empty Close or 1000 answers it.
    let mut ws = Ws::open(ctx, "/echo")?;
    let sent = ws.send_frame(true, CLOSE, b"")?;
    let f = ws.frame("the Close answering an empty Close")?;
    if f.opcode != CLOSE || !matches!(f.close_code(), None | Some(1000)) {
        return Err(ws
            .fail(format!(
                "an empty Close: the answer is {}, not an empty Close or a 1000",
                f.describe()
            ))
            .sent(&sent)
            .expected(&server_frame(CLOSE, b""))
            .received(&f.raw));
    }
    Ok(())
}

fn tcp_closed_after_close(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    ws.echo(TEXT, b"before the close", "a text message")?;
    ws.send_frame(true, CLOSE, &close_payload(1000, b"done"))?;
    let f = ws.frame("the Close answering the client's Close")?;
    if f.opcode != CLOSE {
        return Err(ws
            .fail(format!("the answer to a Close is {}", f.describe()))
            .received(&f.raw));
    }
    // The client does not close: the server must.
    ws.expect_tcp_close("after the Close frames crossed")
}

fn nothing_after_close(ctx: &Ctx) -> Result<(), Failure> {
    let mut ws = Ws::open(ctx, "/echo")?;
    let bytes = [
        client_frame(true, TEXT, b"before the close", mask(ctx)),
        client_frame(true, CLOSE, &close_payload(1000, b""), mask(ctx)),
        client_frame(true, TEXT, b"after the close", mask(ctx)),
        client_frame(true, PING, b"after the close", mask(ctx)),
    ]
    .concat();
    ws.send(&bytes)?;
    // The echo of the first text may come before the Close (RFC 6455 5.5.1: an endpoint "MAY
    // delay sending a Close frame until its current message is sent") or not at all; the
    // text and the Ping after the client's Close get no answer.
    let what = "a text message, a Close, then a text and a Ping, in one write";
    let mut echoed = false;
    loop {
        let f = ws.frame(&format!("{what}: the Close answering the client's Close"))?;
        match f.opcode {
            CLOSE => break,
            TEXT if !echoed && f.fin && f.payload == b"before the close" => echoed = true,
            _ => {
                return Err(ws
                    .fail(format!(
                        "{what}: the server sent {}, which answers a frame that came after the \
                         client's Close",
                        f.describe()
                    ))
                    .expected(&server_frame(CLOSE, &close_payload(1000, b"")))
                    .received(&f.raw))
            }
        }
    }
    ws.expect_tcp_close("after its Close")
}

fn bad_connection_is_alone(ctx: &Ctx) -> Result<(), Failure> {
    let mut good = Ws::open(ctx, "/echo")?;
    good.who = "a well-behaved /echo connection".into();
    good.echo(TEXT, b"first", "a text message before any trouble")?;
    // A protocol error.
    must_fail(
        ctx,
        &raw_frame(0x81, b"unmasked", None),
        &[1002],
        "an unmasked frame",
    )?;
    good.echo(TEXT, b"after an unmasked frame elsewhere", "a text message")?;
    // Garbage instead of a handshake (a TLS ClientHello's start), on a connection of its own.
    {
        let c = HttpConn::open_to(ctx, "ws")?;
        let _ = wire::send(
            &c.stream,
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    good.echo(TEXT, b"after a TLS hello elsewhere", "a text message")?;
    // Half a frame, then a reset.
    {
        let mut ws = Ws::open(ctx, "/echo")?;
        let frame = client_frame(true, BINARY, &[7u8; 1000], mask(ctx));
        ws.send(&frame[..300])?;
        wire::reset(ws.c.stream);
        std::thread::sleep(Duration::from_millis(50));
    }
    good.echo(TEXT, b"after a reset mid-frame elsewhere", "a text message")?;
    // And the server still takes new connections.
    let mut fresh = Ws::open(ctx, "/echo")?;
    fresh.echo(
        TEXT,
        b"a new connection",
        "a text message on a new connection",
    )
}

// ---- Chat ---------------------------------------------------------------------------------------

fn member<'a>(ctx: &'a Ctx, room: &str, name: &str) -> Result<Ws<'a>, Failure> {
    let mut ws = Ws::open(ctx, &format!("/chat?room={room}&name={name}"))?;
    ws.who = format!("{name} (member of room {room})");
    Ok(ws)
}

fn say(ws: &mut Ws, text: &str) -> Result<(), Failure> {
    ws.send_frame(true, TEXT, text.as_bytes()).map(|_| ())
}

fn chat_sender_included(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("sender-{t}");
    let mut alice = member(ctx, &room, "alice")?;
    let mut bob = member(ctx, &room, "bob")?;
    let text = format!("hello from alice {t}");
    say(&mut alice, &text)?;
    bob.hear(&text, "bob, the other member, hears alice's message")?;
    alice.hear(&text, "alice hears her own message")?;
    Ok(())
}

fn chat_rooms_apart(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let (r1, r2) = (format!("red-{t}"), format!("blue-{t}"));
    let mut a = member(ctx, &r1, "ann")?;
    let mut b = member(ctx, &r1, "ben")?;
    let mut c = member(ctx, &r2, "cid")?;
    let m1 = format!("for red only {t}");
    say(&mut a, &m1)?;
    b.hear(&m1, "ben (red) hears ann (red)")?;
    let m2 = format!("for blue only {t}");
    say(&mut c, &m2)?;
    let heard = c.hear(&m2, "cid (blue) hears his own message")?;
    if let Some(leak) = heard.iter().find(|m| m.contains(&m1)) {
        return Err(c.fail(format!(
            "cid, alone in room {r2}, heard {leak:?}, sent to room {r1}"
        )));
    }
    let m3 = format!("red again {t}");
    say(&mut a, &m3)?;
    for ws in [&mut a, &mut b] {
        let heard = ws.hear(&m3, "a red member hears ann's second message")?;
        if let Some(leak) = heard.iter().find(|m| m.contains(&m2)) {
            return Err(ws.fail(format!(
                "a member of room {r1} heard {leak:?}, sent to room {r2}"
            )));
        }
    }
    Ok(())
}

fn chat_ten_members(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("ten-{t}");
    let mut members = (0..10)
        .map(|i| member(ctx, &room, &format!("m{i}")))
        .collect::<Result<Vec<_>, _>>()?;
    for i in 0..10 {
        let text = format!("message {i} of 10 {t}");
        say(&mut members[i], &text)?;
        for (j, m) in members.iter_mut().enumerate() {
            m.hear(
                &text,
                &format!("member {} of 10 hears member {}'s message", j + 1, i + 1),
            )?;
        }
    }
    Ok(())
}

fn chat_query_decoded(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let mut a = Ws::open(ctx, &format!("/chat?room=caf%C3%A9-{t}&name=ann"))?;
    a.who = format!("ann (room=caf%C3%A9-{t})");
    let mut b = Ws::open(ctx, &format!("/chat?room=caf%c3%a9-{t}&name=b%C3%A9a"))?;
    b.who = format!("béa (room=caf%c3%a9-{t}, lower-case hex)");
    let mut c = Ws::open(ctx, &format!("/chat?name=cid&room=caf%C3%A9-{t}"))?;
    c.who = format!("cid (name first, then room=caf%C3%A9-{t})");
    let text = format!("bonjour du café {t}");
    say(&mut a, &text)?;
    b.hear(
        &text,
        "a member of the same room, spelled with lower-case hex",
    )?;
    c.hear(
        &text,
        "a member of the same room, its fields in the other order",
    )?;
    Ok(())
}

fn chat_vanished_member(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("vanish-{t}");
    // The one that vanishes joins first, so that a fan-out in joining order meets it first.
    let mut gone = member(ctx, &room, "gone")?;
    let mut a = member(ctx, &room, "ann")?;
    let mut b = member(ctx, &room, "ben")?;
    let half = client_frame(true, TEXT, b"a message that never ends", mask(ctx));
    gone.send(&half[..10])?;
    wire::reset(gone.c.stream);
    for i in 0..3 {
        let text = format!("message {i} after gone vanished {t}");
        say(&mut a, &text)?;
        a.hear(
            &text,
            "ann hears her own message, after a member reset its connection",
        )?;
        b.hear(&text, "ben hears ann, after a member reset its connection")?;
    }
    Ok(())
}

/// How big each flood message is (under the reference's 64 KiB chat limit).
const FLOOD_MESSAGE: usize = 32 << 10;

/// What a flood saw: the server's resident memory before and at its peak (if it is ours to
/// weigh), and how much was sent.
struct Flood {
    rss: Option<(u64, u64)>,
    sent: usize,
}

/// One member floods a room where another never reads and a third reads everything: the
/// flooder's own echoes and the reader's copies must keep coming.
fn flood_beside_a_silent_member(ctx: &Ctx, total: usize, weigh: bool) -> Result<Flood, Failure> {
    let t = tag(ctx);
    let room = format!("flood-{t}");
    let pid = if weigh {
        Some(procfs::server_pid(ctx.addr("ws")).map_err(Failure::new)?)
    } else {
        None
    };
    let rss = || pid.and_then(|p| procfs::rss_bytes(p).ok());
    // The silent member's small receive buffer fills soon.
    let silent = {
        let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .map_err(|e| Failure::new(format!("grader: {e}")))?;
        let _ = sock.set_recv_buffer_size(4096);
        sock.connect_timeout(&ctx.addr("ws").into(), ctx.timeout)
            .map_err(|e| Failure::new(format!("could not connect: {e}")))?;
        let stream: TcpStream = sock.into();
        let key = random_key(ctx);
        let req = Request::new(&key)
            .line(&format!("GET /chat?room={room}&name=silent HTTP/1.1"))
            .bytes();
        wire::send(&stream, &req)?;
        stream
    };
    let mut reader = member(ctx, &room, "reader")?;
    let mut flooder = member(ctx, &room, "flooder")?;
    let before = rss();
    let mut peak = before;
    let pad = "x".repeat(FLOOD_MESSAGE - 40);
    let count = total / FLOOD_MESSAGE;
    const WINDOW: usize = 8;
    let (mut sent, mut heard) = (0usize, 0usize);
    while heard < count {
        while sent < count && sent - heard < WINDOW {
            let text = format!("flood {t} {sent:06} {pad}");
            say(&mut flooder, &text).map_err(|f| {
                f.during(&format!(
                    "after {} MiB sent while a member of the room reads nothing",
                    (sent * FLOOD_MESSAGE) >> 20
                ))
            })?;
            sent += 1;
        }
        let marker = format!("flood {t} {heard:06} ");
        let what = format!(
            "message {heard} of the flood ({} MiB in), while the member `silent` reads nothing",
            (heard * FLOOD_MESSAGE) >> 20
        );
        flooder.hear(&marker, &format!("the flooder hears its own {what}"))?;
        reader.hear(&marker, &format!("the reader hears {what}"))?;
        heard += 1;
        if heard % 64 == 0 {
            peak = peak.max(rss());
        }
    }
    peak = peak.max(rss());
    drop(silent);
    Ok(Flood {
        rss: before.zip(peak),
        sent: sent * FLOOD_MESSAGE,
    })
}

fn chat_slow_member(ctx: &Ctx) -> Result<(), Failure> {
    flood_beside_a_silent_member(ctx, 16 << 20, false).map(|_| ())
}

/// How much the server's memory may grow while 48 MiB flood a room with a member that never
/// reads: a bounded queue of a few MiB, and room to spare.
const SLOW_MEMORY_BOUND: u64 = 24 << 20;

fn chat_slow_member_memory(ctx: &Ctx) -> Result<(), Failure> {
    if ctx.started.is_none() {
        return Ok(()); // only the server the grader started is its to weigh
    }
    let flood = flood_beside_a_silent_member(ctx, 48 << 20, true)?;
    let (before, peak) = flood.rss.unwrap_or((0, 0));
    if peak.saturating_sub(before) > SLOW_MEMORY_BOUND {
        return Err(Failure::new(format!(
            "{} MiB were sent to a room where one member reads nothing; the server's resident \
             memory grew by {} MiB (from {} to {} MiB), more than the {} MiB allowed",
            flood.sent >> 20,
            (peak - before) >> 20,
            before >> 20,
            peak >> 20,
            SLOW_MEMORY_BOUND >> 20
        )));
    }
    Ok(())
}

// ---- Plain HTTP ---------------------------------------------------------------------------------

fn page_is_html(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open_to(ctx, "ws")?;
    let req = http::get("GET", "/");
    c.send(&req)?;
    let r = c.response("GET", &req)?;
    http::expect_status(&r, 200, &req, "GET /")?;
    let html = r
        .header("content-type")
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("text/html"));
    if !html {
        return Err(Failure::new(format!(
            "GET /: the page's Content-Type is {:?}, so a browser shows it as text instead of running it",
            r.header("content-type").unwrap_or("(none)")
        ))
        .sent(&req)
        .expected(b"Content-Type: text/html; charset=utf-8\r\n")
        .received(&r.head));
    }
    if !String::from_utf8_lossy(&r.body).contains("WebSocket") {
        return Err(Failure::new(
            "GET /: the page never mentions `WebSocket`: its script does not open one",
        )
        .sent(&req)
        .expected(b"new WebSocket(")
        .received(&r.body[..r.body.len().min(512)]));
    }
    Ok(())
}

fn plain_get_refused(ctx: &Ctx) -> Result<(), Failure> {
    for target in ["/echo", "/chat?room=lobby&name=curl"] {
        let mut c = HttpConn::open_to(ctx, "ws")?;
        let req = http::get("GET", target);
        c.send(&req)?;
        let r = c.response("GET", &req)?;
        if !(400..500).contains(&r.status) {
            return Err(Failure::new(format!(
                "GET {target} without Upgrade: expected a refusal (426 Upgrade Required, or 400), \
                 received {}",
                r.status
            ))
            .sent(&req)
            .expected(b"HTTP/1.1 426 Upgrade Required\r\n")
            .received(&r.head));
        }
    }
    let key = random_key(ctx);
    let req = Request::new(&key)
        .line("GET /no-such-service HTTP/1.1")
        .bytes();
    let mut c = HttpConn::open_to(ctx, "ws")?;
    c.send(&req)?;
    let a = c.answer(&req)?;
    if !(400..500).contains(&a.status) {
        return Err(Failure::new(format!(
            "a WebSocket handshake for /no-such-service: expected 404, received {}",
            a.status
        ))
        .sent(&req)
        .expected(b"HTTP/1.1 404 Not Found\r\n")
        .received(&a.head));
    }
    Ok(())
}

// ---- Scale, memory, shutdown --------------------------------------------------------------------

/// How many WebSockets are opened at once.
const MANY: usize = 500;

/// Open `n` WebSockets to /echo: every handshake written first, then every 101 read.
fn open_many<'a>(ctx: &'a Ctx, n: usize) -> Result<Vec<Ws<'a>>, Failure> {
    let mut pending = Vec::with_capacity(n);
    for i in 0..n {
        let c = HttpConn::open_to(ctx, "ws")
            .map_err(|f| f.during(&format!("connection {} of {n}", i + 1)))?;
        let key = random_key(ctx);
        let req = Request::new(&key).line("GET /echo HTTP/1.1").bytes();
        c.send(&req)
            .map_err(|f| f.during(&format!("connection {} of {n}", i + 1)))?;
        pending.push((c, key, req));
    }
    let mut open = Vec::with_capacity(n);
    for (i, (mut c, key, req)) in pending.into_iter().enumerate() {
        let what = format!(
            "the handshake of WebSocket {} of {n}, all open at once",
            i + 1
        );
        let a = c.answer(&req).map_err(|f| f.during(&what))?;
        expect_upgraded(&a, &key, &req, &what)?;
        open.push(Ws {
            c,
            who: format!("WebSocket {} of {n}", i + 1),
            sent: Vec::new(),
        });
    }
    Ok(open)
}

fn many_connections(ctx: &Ctx) -> Result<(), Failure> {
    let mut all = open_many(ctx, MANY)?;
    for (i, ws) in all.iter_mut().enumerate() {
        ws.send_frame(true, TEXT, format!("hello from {i}").as_bytes())?;
    }
    for (i, ws) in all.iter_mut().enumerate() {
        ws.expect_message(
            TEXT,
            format!("hello from {i}").as_bytes(),
            &format!("an echo with {MANY} WebSockets open"),
        )?;
    }
    Ok(())
}

/// How much memory one idle WebSocket may cost the server: its socket's and its state's, a
/// partial frame, and room for a garbage-collected runtime; not a large buffer of its own.
const IDLE_BOUND: u64 = 32 << 10;

fn idle_memory(ctx: &Ctx) -> Result<(), Failure> {
    if ctx.started.is_none() {
        return Ok(()); // only the server the grader started is its to weigh
    }
    let pid = procfs::server_pid(ctx.addr("ws")).map_err(Failure::new)?;
    // A first batch warms up whatever the server allocates once.
    let mut warm = open_many(ctx, 50)?;
    for ws in warm.iter_mut() {
        ws.echo(TEXT, b"warm", "an echo on a warm-up connection")?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let before = procfs::rss_bytes(pid).map_err(Failure::new)?;
    const IDLE: usize = 400;
    let mut idle = open_many(ctx, IDLE)?;
    for ws in idle.iter_mut() {
        ws.echo(TEXT, b"then idle", "an echo before going idle")?;
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = procfs::rss_bytes(pid).map_err(Failure::new)?;
    let each = after.saturating_sub(before) / IDLE as u64;
    if each > IDLE_BOUND {
        return Err(Failure::new(format!(
            "{IDLE} idle WebSockets (each after one echo) grew the server's resident memory by {} KiB \
             (from {} to {} KiB): {} KiB each, more than the {} KiB allowed",
            (after - before) >> 10,
            before >> 10,
            after >> 10,
            each >> 10,
            IDLE_BOUND >> 10
        )));
    }
    drop(warm);
    Ok(())
}

fn going_away_on_sigterm(ctx: &Ctx) -> Result<(), Failure> {
    let Some(group) = ctx.started else {
        return Ok(()); // only the server the grader started is its to stop
    };
    let t = tag(ctx);
    let mut open = Vec::new();
    for i in 0..3 {
        let mut ws = Ws::open(ctx, "/echo")?;
        ws.who = format!("/echo connection {}", i + 1);
        ws.echo(TEXT, b"before SIGTERM", "a text message")?;
        open.push(ws);
    }
    let room = format!("bye-{t}");
    let mut m = member(ctx, &room, "last")?;
    let text = format!("before SIGTERM {t}");
    say(&mut m, &text)?;
    m.hear(&text, "a chat member hears itself")?;
    open.push(m);
    // SIGTERM to the server's process group, as a service manager stops it.
    // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
    let killed = unsafe { libc::kill(-(group as i32), libc::SIGTERM) };
    if killed != 0 {
        return Err(Failure::new(format!(
            "grader: kill(-{group}, SIGTERM) failed: {}",
            std::io::Error::last_os_error()
        )));
    }
    for ws in open.iter_mut() {
        ws.expect_failed(&[1001], "SIGTERM to the server")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graders_frames_are_the_rfcs() {
        // RFC 6455 5.7: a single-frame unmasked and masked "Hello".
        assert_eq!(
            server_frame(TEXT, b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            client_frame(true, TEXT, b"Hello", [0x37, 0xfa, 0x21, 0x3d]),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        // A fragmented unmasked text message ("Hel", "lo").
        assert_eq!(
            raw_frame(0x01, b"Hel", None),
            [0x01, 0x03, 0x48, 0x65, 0x6c]
        );
        assert_eq!(raw_frame(0x80, b"lo", None), [0x80, 0x02, 0x6c, 0x6f]);
        // 256 bytes binary: 16-bit length; 64 KiB: 64-bit length.
        assert_eq!(header(0x82, 256, false), [0x82, 0x7E, 0x01, 0x00]);
        assert_eq!(
            header(0x82, 65536, false),
            [0x82, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0]
        );
    }

    #[test]
    fn frames_parse_back_whole_or_need_more() {
        let payload: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        for len in [0usize, 125, 126, 65535, 65536, 70_000] {
            let frame = client_frame(false, BINARY, &payload[..len], [1, 2, 3, 4]);
            for cut in [0, 1, 2, frame.len() - 1] {
                assert!(
                    parse_frame(&frame[..cut]).unwrap().is_none(),
                    "{len} cut at {cut}"
                );
            }
            let (f, used) = parse_frame(&frame).unwrap().unwrap();
            assert_eq!(used, frame.len());
            assert!(!f.fin && f.masked && f.opcode == BINARY);
            assert_eq!(f.payload, &payload[..len]);
        }
        let close = server_frame(CLOSE, &close_payload(1002, b"bad"));
        let (f, _) = parse_frame(&close).unwrap().unwrap();
        assert_eq!(f.close_code(), Some(1002));
        assert_eq!(f.describe(), "a Close with code 1002 (\"bad\")");
    }

    #[test]
    fn masking_by_words_is_masking_by_bytes() {
        let mask = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..37u8).collect();
        let mut fast = data.clone();
        apply_mask(&mut fast, mask);
        let slow: Vec<u8> = data
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4])
            .collect();
        assert_eq!(fast, slow);
    }
}
