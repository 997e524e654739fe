//! Lesson 11's diagram: a chat room on the WebSocket server, from the page's upgrade to the
//! server's goodbye. One line from one member becomes one frame, encoded once and queued for
//! every member; a member that does not read is closed with 1008 before its queue can grow
//! without bound; on SIGTERM every WebSocket gets a Close 1001.
//!
//! Every byte on an arrow is what `src/ws` encodes: the client's frame is masked with the key
//! shown, the server's frames come from `encode_frame` (unmasked) and `close_payload`, so the
//! picture cannot drift from what the server sends.

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::svg::hex;
use super::Diagram;
use crate::ws::close::close_payload;
use crate::ws::frame::{encode_frame, Opcode};
use crate::ws::handshake::accept_response;
use crate::ws::CloseFrame;

const TITLE: &str =
    "Lesson 11: a chat room: one read, one frame encoded once, the same bytes to every member";

const ANN: usize = 0;
const SERVER: usize = 1;
const BOB: usize = 2;
const SLOW: usize = 3;

/// The masking key of ann's frame in the picture (a browser draws a fresh one per frame).
const KEY: [u8; 4] = [0x9c, 0x21, 0x4e, 0x07];
/// ann's next frame gets a fresh key, as every client frame must.
const KEY2: [u8; 4] = [0x5e, 0xb0, 0x13, 0xd4];

pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: TITLE.to_string(),
        actors: vec![
            "ann (the page at /)".into(),
            "server (11-ws-server, one thread)".into(),
            "bob (the page in another tab)".into(),
            "slow (a member that never reads)".into(),
        ],
        steps: chat(),
    };
    vec![Diagram {
        file: "11-chat-room.svg",
        title: TITLE,
        svg: render_sequence(&seq),
    }]
}

fn text_frame(text: &str) -> String {
    format!(
        "{}  (text \"{text}\")",
        hex(&encode_frame(true, Opcode::Text, text.as_bytes(), None), 24)
    )
}

fn close_frame(code: u16, reason: &str, mask: Option<[u8; 4]>) -> String {
    let payload = close_payload(Some(&CloseFrame::new(code, reason)));
    hex(&encode_frame(true, Opcode::Close, &payload, mask), 12)
}

fn chat() -> Vec<Step> {
    // RFC 6455 1.3's key, so the accept value is the one the RFC prints.
    let accept = accept_response("dGhlIHNhbXBsZSBub25jZQ==", None);
    let status = String::from_utf8_lossy(&accept)
        .lines()
        .take(4)
        .collect::<Vec<_>>()
        .join("\n");
    let said = encode_frame(true, Opcode::Text, b"hi", Some(KEY));
    vec![
        Step::Divider("HTTP first: the page, then its WebSocket on a new connection".into()),
        call(ANN, SERVER, "GET / HTTP/1.1").noted("keep-alive HTTP: the page and its favicon"),
        call(SERVER, ANN, "HTTP/1.1 200 OK  (the chat page)"),
        call(
            ANN,
            SERVER,
            "GET /chat?room=lobby&name=ann HTTP/1.1\nUpgrade: websocket\nConnection: Upgrade\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\nSec-WebSocket-Version: 13",
        )
        .noted("the page opens it by itself: new WebSocket(\"ws://host/chat?room=...&name=...\")"),
        call(SERVER, ANN, &status).noted(
            "lesson 09's checks, then the route: /echo, /chat (room and name from the query), \
             or 404",
        ),
        note(
            SERVER,
            "the same socket now carries frames: the HTTP parser is dropped, a Connection (the \
             sans-IO WebSocket of src/ws) takes its place; ann joins the room's member list",
        ),
        Step::Divider("a chat line: decoded once, encoded once, queued for every member".into()),
        call(
            ANN,
            SERVER,
            &format!("{}  (text \"hi\", masked)", hex(&said, 12)),
        )
        .noted("every client frame is masked, with a fresh key"),
        note(
            SERVER,
            "one read(2); receive_some() unmasks and checks UTF-8: Event::Text(\"hi\"). \
             encode_frame(\"ann: hi\") once: server frames are never masked, so every member \
             gets the same bytes",
        ),
        call(SERVER, ANN, &text_frame("ann: hi")).noted("the sender too: it sees its line arrive"),
        call(SERVER, BOB, &text_frame("ann: hi")),
        call(SERVER, SLOW, &text_frame("ann: hi"))
            .noted("queued: slow's socket buffer is full, so the bytes wait in the server"),
        note(
            SERVER,
            "slow's queue passes --max-queue (1 MiB): the room must not wait for it, and the \
             server must not hold every line for it",
        ),
        call(
            SERVER,
            SLOW,
            &format!(
                "{}  (close 1008 \"too slow...\")",
                close_frame(1008, "too slow: messages were piling up", None)
            ),
        )
        .noted("then the TCP close; the others are not affected"),
        call(SERVER, ANN, &text_frame("* slow left")).noted("every member left hears it"),
        call(SERVER, BOB, &text_frame("* slow left")),
        Step::Divider("SIGTERM: a Close 1001 to every WebSocket, then the process exits".into()),
        call(
            SERVER,
            ANN,
            &format!(
                "{}  (close 1001 \"the server is...\")",
                close_frame(1001, "the server is shutting down", None)
            ),
        )
        .noted("RFC 6455 7.4.1: 1001, going away"),
        call(
            ANN,
            SERVER,
            &format!(
                "{}  (close 1001, echoed, masked)",
                close_frame(1001, "", Some(KEY2))
            ),
        ),
        note(
            SERVER,
            "the loop flushes every queue (5 s at most), closes every socket and returns",
        ),
    ]
}
