//! The WebSocket frame (RFC 6455 5.2): its fields as a table, its header as a value, and the
//! encoder.
//!
//! A frame is a header of 2 to 14 bytes and a payload:
//!
//! ```text
//!   0                   1                   2                   3
//!   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//!  +-+-+-+-+-------+-+-------------+-------------------------------+
//!  |F|R|R|R| opcode|M| Payload len |    Extended payload length    |
//!  |I|S|S|S|  (4)  |A|     (7)     |             (16/64)           |
//!  |N|V|V|V|       |S|             |   (if payload len==126/127)   |
//!  | |1|2|3|       |K|             |                               |
//!  +-+-+-+-+-------+-+-------------+ - - - - - - - - - - - - - - - +
//!  |     Extended payload length continued, if payload len == 127  |
//!  + - - - - - - - - - - - - - - - +-------------------------------+
//!  |                               |Masking-key, if MASK set to 1  |
//!  +-------------------------------+-------------------------------+
//!  | Masking-key (continued)       |          Payload Data         |
//!  +-------------------------------- - - - - - - - - - - - - - - - +
//! ```
//!
//! The length is the clever part: a 7-bit field holds 0 to 125 directly; 126 means "the real
//! length is the next 2 bytes", 127 "the next 8 bytes". Small frames (most chat messages) pay
//! 2 bytes of header, and a frame can still be up to 2^63 bytes. [`FRAME_LAYOUT`] is the table
//! the diagram of lesson 10 is drawn from; [`frame_layout`] gives the fields of one actual frame.
//!
//! Reading frames is [`super::decoder`]'s job; this file has what both directions share:
//! [`Opcode`], [`FrameHeader`] (parse-free: a value with `encode_into`), [`encode_frame`] and
//! [`annotate_frame`], which names the bytes of a frame for `--trace`.

use super::mask::apply_mask;
use crate::layout::Field;
use crate::trace::{quote, Annotation};
use std::fmt;

/// Longest possible header: 2 bytes, 8 of extended length, 4 of masking key.
pub const MAX_HEADER_LEN: usize = 14;
/// Largest payload a control frame may carry (RFC 6455 5.5).
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// The frame as drawn in RFC 6455 5.2, with every optional field at its largest: a 64-bit
/// extended length and a masking key. A frame of 0 to 125 bytes has no extended length, one of
/// 126 to 65535 bytes a 16-bit one; a server's frame has no masking key ([`frame_layout`]).
pub const FRAME_LAYOUT: &[Field] = &[
    FIN,
    RSV1,
    RSV2,
    RSV3,
    OPCODE,
    MASK,
    PAYLOAD_LEN,
    Field {
        name: "extended payload length",
        bits: Some(64),
        about: "present when payload len is 126 (16 bits) or 127 (64 bits, top bit 0); big-endian; the fewest bytes that fit",
    },
    MASKING_KEY,
    PAYLOAD,
];

const FIN: Field = Field {
    name: "FIN",
    bits: Some(1),
    about: "1: the last frame of a message; 0: more fragments follow (control frames always 1)",
};
const RSV1: Field = Field {
    name: "RSV1",
    bits: Some(1),
    about: "reserved for extensions (permessage-deflate uses it); 0 unless one was negotiated",
};
const RSV2: Field = Field {
    name: "RSV2",
    bits: Some(1),
    about: "reserved for extensions; 0 unless one was negotiated",
};
const RSV3: Field = Field {
    name: "RSV3",
    bits: Some(1),
    about: "reserved for extensions; 0 unless one was negotiated",
};
const OPCODE: Field = Field {
    name: "opcode",
    bits: Some(4),
    about: "0 continuation, 1 text, 2 binary, 8 close, 9 ping, A pong; the others are reserved",
};
const MASK: Field = Field {
    name: "MASK",
    bits: Some(1),
    about: "1: a masking key follows; every client-to-server frame is masked, no server frame is",
};
const PAYLOAD_LEN: Field = Field {
    name: "payload len",
    bits: Some(7),
    about: "0-125: the length itself; 126: a 16-bit length follows; 127: a 64-bit length follows",
};
const MASKING_KEY: Field = Field {
    name: "masking key",
    bits: Some(32),
    about: "4 random bytes chosen per frame by the client; payload byte i is XORed with key byte i mod 4",
};
const PAYLOAD: Field = Field {
    name: "payload",
    bits: None,
    about: "exactly payload-length bytes: UTF-8 text, binary data, or a control frame's body (125 at most)",
};

/// The fields of one frame as it is on the wire: the extended length only when present, at its
/// real size, and the masking key only when masked.
pub fn frame_layout(header: &FrameHeader) -> Vec<Field> {
    let mut fields = vec![FIN, RSV1, RSV2, RSV3, OPCODE, MASK, PAYLOAD_LEN];
    match length_bytes(header.payload_len) {
        0 => {}
        n => fields.push(Field {
            name: "extended payload length",
            bits: Some(8 * n as u32),
            about: if n == 2 {
                "16 bits, big-endian: payload len was 126"
            } else {
                "64 bits, big-endian, top bit 0: payload len was 127"
            },
        }),
    }
    if header.mask.is_some() {
        fields.push(MASKING_KEY);
    }
    fields.push(PAYLOAD);
    fields
}

/// What a frame carries (RFC 6455 5.2). Reserved opcodes have no variant: the decoder refuses
/// them, so a value of this type is always one the protocol defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Opcode {
    /// 0x0: the next fragment of the message in progress.
    Continuation,
    /// 0x1: the first (or only) frame of a UTF-8 text message.
    Text,
    /// 0x2: the first (or only) frame of a binary message.
    Binary,
    /// 0x8: the closing handshake; the payload is empty or a code and a reason.
    Close,
    /// 0x9: "are you there?"; the peer answers with a pong carrying the same payload.
    Ping,
    /// 0xA: the answer to a ping, or an unsolicited heartbeat.
    Pong,
}

impl Opcode {
    /// The 4-bit value on the wire.
    pub fn as_u8(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xa,
        }
    }

    /// The opcode for a 4-bit value, or `None` for the reserved 0x3-0x7 and 0xB-0xF.
    pub fn from_u8(value: u8) -> Option<Opcode> {
        Some(match value {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xa => Opcode::Pong,
            _ => return None,
        })
    }

    /// Control frames (close, ping, pong) have the opcode's top bit set (RFC 6455 5.5).
    pub fn is_control(self) -> bool {
        self.as_u8() & 0x8 != 0
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Opcode::Continuation => "continuation",
            Opcode::Text => "text",
            Opcode::Binary => "binary",
            Opcode::Close => "close",
            Opcode::Ping => "ping",
            Opcode::Pong => "pong",
        };
        write!(f, "{name} (0x{:x})", self.as_u8())
    }
}

/// Everything before the payload, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    pub fin: bool,
    /// RSV1, RSV2, RSV3 as the three low bits (RSV1 is 0b100).
    pub rsv: u8,
    pub opcode: Opcode,
    /// The masking key, if the MASK bit is set.
    pub mask: Option<[u8; 4]>,
    pub payload_len: u64,
}

impl FrameHeader {
    /// A header for one frame of `len` bytes, masked with `mask` if given.
    pub fn new(fin: bool, opcode: Opcode, len: u64, mask: Option<[u8; 4]>) -> Self {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        }
    }

    /// Bytes this header takes on the wire: 2 to 14.
    pub fn encoded_len(&self) -> usize {
        2 + length_bytes(self.payload_len) + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Append the header's bytes to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        // exercise(10): begin "Encode a header: FIN, RSV and opcode in byte 0, MASK and the length in the fewest bytes, the masking key"
        // hint: Byte 0 is FIN (0x80), the three RSV bits (`self.rsv << 4`) and the opcode (`self.opcode.as_u8()`), ORed together.
        // hint: Byte 1 is the MASK bit (0x80 when `self.mask` is `Some`) ORed with the 7-bit length: the length itself for 0-125, 126 for 126-65535 (then 2 bytes, `(len as u16).to_be_bytes()`), 127 for more (then 8 bytes, `len.to_be_bytes()`). `length_bytes(len)` says which.
        // hint: RFC 6455 5.2: "the minimal number of bytes MUST be used to encode the length": 125 is 7 bits, 126 is 16 bits, 65536 is 64 bits. Then the key's 4 bytes, if masked.
        let fin = if self.fin { 0x80 } else { 0 };
        out.push(fin | (self.rsv & 0b111) << 4 | self.opcode.as_u8());
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        // RFC 6455 5.2: "in all cases, the minimal number of bytes MUST be used to encode the
        // length".
        match length_bytes(self.payload_len) {
            0 => out.push(mask_bit | self.payload_len as u8),
            2 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(self.payload_len as u16).to_be_bytes());
            }
            _ => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&self.payload_len.to_be_bytes());
            }
        }
        if let Some(key) = self.mask {
            out.extend_from_slice(&key);
        }
        // exercise(10): end
    }
}

/// How many bytes of extended length a payload of `len` bytes needs: 0, 2 or 8.
pub fn length_bytes(len: u64) -> usize {
    match len {
        0..=125 => 0,
        126..=0xffff => 2,
        _ => 8,
    }
}

/// Append one frame to `out`: its header, then the payload, masked with `mask` if given.
///
/// A server passes `None` (RFC 6455 5.1: "A server MUST NOT mask any frames that it sends to the
/// client"), a client a fresh random key for every frame (5.3: "the client MUST pick a fresh
/// masking key from the set of allowed 32-bit values").
pub fn encode_frame_into(
    out: &mut Vec<u8>,
    fin: bool,
    opcode: Opcode,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) {
    let header = FrameHeader::new(fin, opcode, payload.len() as u64, mask);
    out.reserve(header.encoded_len() + payload.len());
    header.encode_into(out);
    let start = out.len();
    out.extend_from_slice(payload);
    if let Some(key) = mask {
        apply_mask(&mut out[start..], key, 0);
    }
}

/// One frame as a new buffer; see [`encode_frame_into`].
pub fn encode_frame(fin: bool, opcode: Opcode, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::new();
    encode_frame_into(&mut out, fin, opcode, payload, mask);
    out
}

/// Name the parts of one frame for `--trace`: the first byte (FIN, RSV, opcode), the second
/// (MASK, length), the extended length, the masking key, and the payload (unmasked, quoted).
///
/// Works on any bytes: a partial or invalid frame is annotated as far as it goes.
pub fn annotate_frame(wire: &[u8]) -> Vec<Annotation> {
    let mut notes = Vec::new();
    let Some(&b0) = wire.first() else {
        return notes;
    };
    let opcode = match Opcode::from_u8(b0 & 0x0f) {
        Some(op) => op.to_string(),
        None => format!("reserved opcode 0x{:x}", b0 & 0x0f),
    };
    notes.push(Annotation::new(
        0..1,
        format!(
            "FIN={} RSV={:03b} opcode={opcode}",
            b0 >> 7,
            (b0 >> 4) & 0b111
        ),
    ));
    let Some(&b1) = wire.get(1) else {
        return notes;
    };
    let masked = b1 & 0x80 != 0;
    let len7 = b1 & 0x7f;
    let said = match len7 {
        126 => "126: a 16-bit length follows".to_string(),
        127 => "127: a 64-bit length follows".to_string(),
        n => format!("{n}"),
    };
    notes.push(Annotation::new(
        1..2,
        format!("MASK={} payload len={said}", u8::from(masked)),
    ));
    let ext = match len7 {
        126 => 2,
        127 => 8,
        _ => 0,
    };
    let mut at = 2;
    let len = if ext == 0 {
        u64::from(len7)
    } else {
        let Some(bytes) = wire.get(at..at + ext) else {
            return notes;
        };
        let len = bytes.iter().fold(0u64, |n, &b| n << 8 | u64::from(b));
        notes.push(Annotation::new(
            at..at + ext,
            format!("extended payload length = {len}"),
        ));
        at += ext;
        len
    };
    let key = if masked {
        let Some(key) = wire.get(at..at + 4) else {
            return notes;
        };
        let key: [u8; 4] = key.try_into().expect("4 bytes");
        notes.push(Annotation::new(
            at..at + 4,
            format!("masking key {:02x?}", key),
        ));
        at += 4;
        Some(key)
    } else {
        None
    };
    let end = usize::try_from(len)
        .ok()
        .and_then(|len| at.checked_add(len))
        .map_or(wire.len(), |end| end.min(wire.len()));
    if end > at {
        let mut payload = wire[at..end].to_vec();
        let what = if let Some(key) = key {
            apply_mask(&mut payload, key, 0);
            "payload, unmasked"
        } else {
            "payload"
        };
        let shown = if end - at < len as usize {
            // Only the start of the payload is in `wire`: the rest may have come in a later
            // read, or have been left out by the caller. Say what is true either way.
            format!(" (first {} of {len} bytes shown)", end - at)
        } else {
            format!(" ({len} bytes)")
        };
        notes.push(Annotation::new(
            at..end,
            format!("{what}{shown}: {}", quote(&payload, 40)),
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_round_trip_and_reserved_ones_have_no_value() {
        for v in 0..16u8 {
            match Opcode::from_u8(v) {
                Some(op) => assert_eq!(op.as_u8(), v),
                None => assert!((0x3..=0x7).contains(&v) || (0xb..=0xf).contains(&v)),
            }
        }
        assert!(Opcode::Ping.is_control() && !Opcode::Binary.is_control());
    }

    #[test]
    fn the_length_takes_the_fewest_bytes() {
        for (len, header_len) in [
            (0, 2),
            (125, 2),
            (126, 4),
            (65535, 4),
            (65536, 10),
            (1 << 40, 10),
        ] {
            let h = FrameHeader::new(true, Opcode::Binary, len, None);
            let mut out = Vec::new();
            h.encode_into(&mut out);
            assert_eq!(out.len(), header_len, "length {len}");
            assert_eq!(h.encoded_len(), header_len);
            assert_eq!(
                FrameHeader::new(true, Opcode::Binary, len, Some([1, 2, 3, 4])).encoded_len(),
                header_len + 4
            );
        }
    }

    #[test]
    fn rfc_6455_5_7_frames_are_encoded_byte_exact() {
        assert_eq!(
            encode_frame(true, Opcode::Text, b"Hello", None),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
        assert_eq!(
            encode_frame(true, Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(
            encode_frame(false, Opcode::Text, b"Hel", None),
            [0x01, 0x03, 0x48, 0x65, 0x6c]
        );
        assert_eq!(
            encode_frame(true, Opcode::Continuation, b"lo", None),
            [0x80, 0x02, 0x6c, 0x6f]
        );
        let big = encode_frame(true, Opcode::Binary, &[7; 256], None);
        assert_eq!(big[..4], [0x82, 0x7e, 0x01, 0x00]);
        let huge = encode_frame(true, Opcode::Binary, &vec![7; 65536], None);
        assert_eq!(huge[..10], [0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
        assert_eq!(huge.len(), 10 + 65536);
    }

    #[test]
    fn annotations_name_every_part_and_unmask_the_payload() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let notes = annotate_frame(&wire);
        let labels: Vec<&str> = notes.iter().map(|n| n.label.as_str()).collect();
        assert_eq!(
            labels,
            [
                "FIN=1 RSV=000 opcode=text (0x1)",
                "MASK=1 payload len=5",
                "masking key [37, fa, 21, 3d]",
                "payload, unmasked (5 bytes): \"Hello\"",
            ]
        );
        assert_eq!(notes[3].bytes, 6..11);
        for cut in 0..wire.len() {
            for note in annotate_frame(&wire[..cut]) {
                assert!(note.bytes.end <= cut);
            }
        }
        let long = annotate_frame(&[0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(long.len(), 2, "a cut-off extended length is not named");
    }

    #[test]
    fn layouts_add_up_to_the_header_length() {
        let bits = |fields: &[Field]| fields.iter().filter_map(|f| f.bits).sum::<u32>();
        assert_eq!(bits(FRAME_LAYOUT), 8 * MAX_HEADER_LEN as u32);
        for (len, mask) in [(5, None), (300, Some([0; 4])), (70000, None)] {
            let h = FrameHeader::new(true, Opcode::Binary, len, mask);
            assert_eq!(bits(&frame_layout(&h)), 8 * h.encoded_len() as u32);
        }
    }
}
