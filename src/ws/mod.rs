//! WebSocket (RFC 6455) by hand, sans-IO: the handshake, frames, messages and the closing
//! handshake that lessons 09 to 12 share.
//!
//! A WebSocket connection starts as an HTTP/1.1 request that asks to switch protocols, and once
//! the server answers `101 Switching Protocols` the same TCP connection carries frames in both
//! directions, whenever either side likes:
//!
//! ```text
//!   client                                            server
//!     | GET /chat HTTP/1.1, Upgrade: websocket,          |
//!     |   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ== -> |   handshake (lesson 09)
//!     | <- HTTP/1.1 101 Switching Protocols,             |
//!     |   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
//!     | 81 85 37 fa 21 3d 7f 9f 4d 51 58  (masked "Hello") ->   frames (lesson 10)
//!     | <- 81 05 48 65 6c 6c 6f           ("Hello")      |
//!     | 88 82 ...  (Close 1000)                       -> |   closing handshake
//!     | <- 88 02 03 e8  (Close 1000), then the server closes TCP
//! ```
//!
//! Like [`crate::http`], nothing here touches a socket or reads a clock: bytes and time go in,
//! bytes, events and deadlines come out. The event loop of lesson 11 and the client of lesson 12
//! are thin drivers around these pieces, and the tests drive them with no network at all.
//!
//! The modules, from the wire up:
//!
//! | module | what it holds |
//! |---|---|
//! | [`handshake`] | the accept key (and `--explain`), the server's and the client's opening handshake as resumable state machines |
//! | [`frame`] | the frame's field table ([`FRAME_LAYOUT`]), [`Opcode`], [`FrameHeader`], the encoder, `--trace` annotations |
//! | [`mask`] | the masking XOR, a `u64` at a time, resumable at any offset |
//! | [`decoder`] | [`FrameDecoder`]: bytes in any chunking to frame events, every header rule checked |
//! | [`utf8`] | an incremental UTF-8 validator that fails at the first impossible byte |
//! | [`message`] | [`MessageReader`]: fragments to messages, limits, UTF-8 of text messages |
//! | [`close`] | the Close frame's code and reason, and which codes are valid |
//! | [`connection`] | [`Connection`]: the state machine of an open connection: ping/pong, closing, keep-alive |
//! | [`error`] | [`WsError`]: the close code (or HTTP status), the rule, the reason |
//!
//! Decisions on the points the RFC leaves open (each is also at its line):
//!
//! - **Non-minimal lengths** (126 in the 7-bit field for a length under 126, or 127 for one
//!   under 65536) are a protocol error, 1002. The ABNF of 5.2 would allow them, but its prose
//!   says "in all cases, the minimal number of bytes MUST be used to encode the length".
//! - **Close codes 1012 to 1014** (registered with IANA after the RFC) are accepted; 1004-1006,
//!   1015 and 1016-2999 are not (see [`close`]).
//! - **Extensions** are never accepted: a client's `permessage-deflate` offer is declined by not
//!   echoing it, so every RSV bit must be 0.
//! - **Fail fast on UTF-8**: a text message fails at the first byte that no continuation could
//!   make valid, even in the middle of a frame (Autobahn 6.4.* "strict").
//! - **Pings**: every received frame counts as a sign of life; a ping is sent after
//!   [`connection::Config::ping_interval`] of silence, and silence for
//!   [`connection::Config::pong_timeout`] after it ends the connection.

pub mod close;
pub mod connection;
pub mod decoder;
pub mod dissect;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod mask;
pub mod message;
pub mod utf8;

pub use close::{parse_close_payload, CloseFrame};
pub use connection::{Connection, Event, MaskKeys};
pub use decoder::{Chunk, DecoderConfig, FrameDecoder, FrameEvent, Payload};
pub use error::{Code, ErrorKind, WsError};
pub use frame::{encode_frame, encode_frame_into, FrameHeader, Opcode, FRAME_LAYOUT};
pub use handshake::{accept_key, explain_accept, ClientHandshake, ServerHandshake};
pub use mask::apply_mask;
pub use message::{parse_messages, Message, MessageReader};
pub use utf8::Utf8Validator;

/// Which end of the connection this code plays. A server reads masked frames and writes
/// unmasked ones; a client the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Server,
    Client,
}

/// How much one peer can make this end hold. Each limit, when exceeded, closes with 1009
/// (RFC 6455 10.4: "Such an implementation SHOULD impose a limit on frame sizes and the total
/// message size after reassembly from multiple frames").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest payload of one frame, checked when its length arrives.
    pub max_frame: u64,
    /// Largest message, over all its fragments, checked as each fragment's length arrives.
    pub max_message: usize,
    /// Most frames in one message. Without it a peer can send empty continuation frames
    /// forever: the message never grows, never ends, and costs a header parse each.
    pub max_fragments: usize,
}

impl Default for Limits {
    /// 1 MiB frames and messages, 4096 fragments.
    fn default() -> Self {
        Limits {
            max_frame: 1 << 20,
            max_message: 1 << 20,
            max_fragments: 4096,
        }
    }
}

impl Limits {
    /// What Autobahn's cases 9.* need to pass: 16 MiB messages in one frame (9.1.6, 9.2.6), and
    /// 4 MiB messages in 64-byte fragments, 65,536 of them (9.3.1, 9.4.1).
    pub fn autobahn() -> Self {
        Limits {
            max_frame: 16 << 20,
            max_message: 16 << 20,
            max_fragments: 1 << 17,
        }
    }
}
