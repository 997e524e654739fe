//! Lesson 10's diagrams: the frame's byte layout, and a fragmented message with a ping between
//! its fragments.
//!
//! The layout is [`FRAME_LAYOUT`], the table next to the encoder, with RFC 6455 5.7's masked
//! "Hello" under it as `encode_frame` writes it and `annotate_frame` (what `--trace` prints)
//! names its parts. The sequence's frames are the encoder's real bytes, so neither picture can
//! drift from what the code puts on the wire.

use super::byte_layout::{render_layout_with_example, Example};
use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;
use crate::ws::dissect::hex;
use crate::ws::frame::{annotate_frame, encode_frame, Opcode, FRAME_LAYOUT};
use std::ops::Range;

const LAYOUT_TITLE: &str =
    "Lesson 10: the WebSocket frame (RFC 6455 5.2): 2 to 14 bytes of header, then the payload";
const FRAGMENTS_TITLE: &str =
    "Lesson 10: a message in two fragments, and a ping answered between them";

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// RFC 6455 5.7's masking key.
const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: FRAGMENTS_TITLE.to_string(),
        actors: vec![
            "client (masks every frame)".into(),
            "server (10-ws-frames serve)".into(),
        ],
        steps: fragments(),
    };
    vec![
        Diagram {
            file: "10-frame-layout.svg",
            title: LAYOUT_TITLE,
            svg: layout(),
        },
        Diagram {
            file: "10-fragments-and-ping.svg",
            title: FRAGMENTS_TITLE,
            svg: render_sequence(&seq),
        },
    ]
}

fn layout() -> String {
    let wire = encode_frame(true, Opcode::Text, b"Hello", Some(KEY));
    let example = Example {
        caption: "Example (RFC 6455 5.7): a client's text \"Hello\", masked with 37 fa 21 3d"
            .into(),
        parts: parts_by_field(&wire),
        bytes: wire,
    };
    render_layout_with_example(LAYOUT_TITLE, FRAME_LAYOUT, &example)
}

/// `annotate_frame`'s parts of `wire`, each at the index of its field in [`FRAME_LAYOUT`]:
/// the example colours part `k` like field `k`, so the masking key's bytes take the masking
/// key's colour even though this frame has no extended length. A part is the field its label
/// starts with (the longest such name: "payload, unmasked" is the payload, not "payload len");
/// a byte that holds several fields, byte 0 (FIN to opcode) and byte 1 (MASK and payload len),
/// takes the colour of the first. Fields with no bytes here get an empty part, which is not
/// drawn.
fn parts_by_field(wire: &[u8]) -> Vec<(Range<usize>, String)> {
    let mut parts = vec![(0..0, String::new()); FRAME_LAYOUT.len()];
    for note in annotate_frame(wire) {
        let field = FRAME_LAYOUT
            .iter()
            .enumerate()
            .filter(|(_, f)| note.label.starts_with(f.name))
            .max_by_key(|(_, f)| f.name.len())
            .map(|(k, _)| k)
            .unwrap_or_else(|| panic!("no field of FRAME_LAYOUT names {:?}", note.label));
        parts[field] = (note.bytes, note.label);
    }
    parts
}

/// A frame's bytes and what they are, for an arrow's label.
fn frame(bytes: &[u8], what: &str) -> String {
    format!("{}\n{what}", hex(bytes, 16))
}

fn fragments() -> Vec<Step> {
    let first = encode_frame(false, Opcode::Text, b"Hel", Some(KEY));
    let ping = encode_frame(true, Opcode::Ping, b"?", Some(KEY));
    let pong = encode_frame(true, Opcode::Pong, b"?", None);
    let last = encode_frame(true, Opcode::Continuation, b"lo", Some(KEY));
    let echo = encode_frame(true, Opcode::Text, b"Hello", None);
    vec![
        call(
            CLIENT,
            SERVER,
            &frame(&first, "FIN=0 text \"Hel\": more follows"),
        )
        .noted("the message's type is set by its first frame"),
        call(CLIENT, SERVER, &frame(&ping, "FIN=1 ping \"?\""))
            .noted("control frames may come between fragments, never split"),
        call(
            SERVER,
            CLIENT,
            &frame(&pong, "pong \"?\": the same payload, at once"),
        )
        .noted("server frames are never masked"),
        call(
            CLIENT,
            SERVER,
            &frame(&last, "FIN=1 continuation \"lo\": the end"),
        ),
        note(
            SERVER,
            "the Assembler joins \"Hel\" + \"lo\", UTF-8 checked across both",
        ),
        call(
            SERVER,
            CLIENT,
            &frame(&echo, "the echo: one frame, FIN=1, text \"Hello\""),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_example_part_is_coloured_like_its_field() {
        let wire = encode_frame(true, Opcode::Text, b"Hello", Some(KEY));
        let parts = parts_by_field(&wire);
        let field = |name: &str| FRAME_LAYOUT.iter().position(|f| f.name == name).unwrap();
        assert_eq!(parts.len(), FRAME_LAYOUT.len());
        assert_eq!(parts[field("FIN")].0, 0..1);
        assert_eq!(parts[field("MASK")].0, 1..2);
        assert_eq!(parts[field("masking key")].0, 2..6);
        assert_eq!(parts[field("payload")].0, 6..11);
        // No extended length in a 5-byte frame: its part is empty, so nothing takes its colour.
        assert!(parts[field("extended payload length")].0.is_empty());
    }
}
