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
    let parts = annotate_frame(&wire)
        .into_iter()
        .map(|a| (a.bytes, a.label))
        .collect();
    let example = Example {
        caption: "Example (RFC 6455 5.7): a client's text \"Hello\", masked with 37 fa 21 3d"
            .into(),
        bytes: wire,
        parts,
    };
    render_layout_with_example(LAYOUT_TITLE, FRAME_LAYOUT, &example)
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
