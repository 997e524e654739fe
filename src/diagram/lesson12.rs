//! Lesson 12's diagram: a client's whole life, as the lesson teaches it: the upgrade request
//! with a fresh key and the check of the server's accept value, masked frames each with a new
//! key, the server's unmasked ones, a ping answered with its own payload, and the closing
//! handshake the client starts and the server finishes by closing TCP first, so that TIME_WAIT
//! stays on the server's side (RFC 6455 7.1.1).
//!
//! Every byte on an arrow comes from `src/ws`: the request is what `ClientHandshake` writes for
//! the picture's nonce, the 101 is what `accept_response` writes for that key (and the test below
//! feeds it back to the client's handshake, which must accept it), the client's frames are
//! `encode_frame(..., Some(key))` with the keys below, the server's are `encode_frame(..., None)`.

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::svg::hex;
use super::Diagram;
use crate::ws::close::close_payload;
use crate::ws::frame::{encode_frame, Opcode};
use crate::ws::handshake::{accept_key, accept_response, ClientConfig, ClientHandshake};
use crate::ws::CloseFrame;

const TITLE: &str =
    "Lesson 12: the client's side: a fresh key, the accept check, masked frames, closing second";

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// The 16 random bytes behind the picture's `Sec-WebSocket-Key`. The client draws new ones from
/// getrandom(2) for every connection; these were drawn once, for the picture.
const NONCE: [u8; 16] = [
    0x5b, 0x0e, 0xd2, 0x41, 0x97, 0x3c, 0xa8, 0x16, 0xf0, 0x6d, 0x29, 0x84, 0xc7, 0x3a, 0x52, 0xe9,
];

/// One masking key per client frame, in the order the frames are sent: never reused, never a
/// counter (RFC 6455 5.3: "the masking key MUST be unpredictable").
const MASKS: [[u8; 4]; 4] = [
    [0x3d, 0xa1, 0x07, 0x6e],
    [0xc4, 0x58, 0x9b, 0x12],
    [0x71, 0xe6, 0x2f, 0xb0],
    [0x0a, 0x93, 0xd5, 0x48],
];

/// The payload of the server's keep-alive ping.
const PING: &[u8] = b"tick";

pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: TITLE.to_string(),
        actors: vec![
            "client (12-ws-client)".into(),
            "server (09-ws-handshake, 11-ws-server, any)".into(),
        ],
        steps: life(),
    };
    vec![Diagram {
        file: "12-client-life.svg",
        title: TITLE,
        svg: render_sequence(&seq),
    }]
}

/// The handshake the picture shows: lesson 09's server on its default port.
fn handshake() -> ClientHandshake {
    ClientHandshake::new(ClientConfig::new("127.0.0.1:7009", "/"), NONCE)
}

/// An HTTP head as one label, `\r\n` shown as line breaks.
fn lines(head: &[u8]) -> String {
    String::from_utf8_lossy(head)
        .trim_end()
        .replace("\r\n", "\n")
}

/// A client frame: masked with `key`, shown whole (they are all short).
fn masked(opcode: Opcode, payload: &[u8], key: [u8; 4]) -> String {
    hex(&encode_frame(true, opcode, payload, Some(key)), 16)
}

/// A server frame: never masked.
fn plain(opcode: Opcode, payload: &[u8]) -> String {
    hex(&encode_frame(true, opcode, payload, None), 16)
}

fn life() -> Vec<Step> {
    let hs = handshake();
    let key = hs.key().to_string();
    let accept = accept_key(&key);
    let close_1000 = close_payload(Some(&CloseFrame::new(1000, "")));
    let key_hex = |k: [u8; 4]| hex(&k, 4);
    vec![
        Step::Divider("the opening handshake: a new key for every connection".into()),
        note(
            CLIENT,
            "16 bytes from getrandom(2), base64: the key. RFC 6455 4.1: \"a nonce consisting of \
             a randomly selected 16-byte value\", new for every connection",
        ),
        call(CLIENT, SERVER, &lines(&hs.request()))
            .noted("ClientHandshake::request(): no Origin, no subprotocol unless asked for"),
        call(SERVER, CLIENT, &lines(&accept_response(&key, None)))
            .noted("the server's part: base64(SHA-1(key + GUID)), lesson 09"),
        note(
            CLIENT,
            &format!(
                "check_response(): accept_key(our key) = {accept}, the value in the 101: \
                 the server read our request as a WebSocket handshake. A wrong value, or an \
                 extension or subprotocol never offered: send nothing, close (4.1)"
            ),
        ),
        Step::Divider(
            "frames: every client frame masked with a new key; server frames never".into(),
        ),
        call(
            CLIENT,
            SERVER,
            &format!(
                "{}  (text \"hello\", masked)",
                masked(Opcode::Text, b"hello", MASKS[0])
            ),
        )
        .noted(&format!(
            "key {} from getrandom(2) for this frame alone (5.3)",
            key_hex(MASKS[0])
        )),
        call(
            SERVER,
            CLIENT,
            &format!("{}  (text \"hello\")", plain(Opcode::Text, b"hello")),
        )
        .noted("unmasked (5.1): a masked server frame fails the connection with 1002"),
        call(
            CLIENT,
            SERVER,
            &format!(
                "{}  (text \"hello\", masked)",
                masked(Opcode::Text, b"hello", MASKS[1])
            ),
        )
        .noted(&format!(
            "the same text, key {}: other bytes. A script cannot choose what goes on the wire, \
             so it cannot fool a proxy (10.3)",
            key_hex(MASKS[1])
        )),
        call(
            SERVER,
            CLIENT,
            &format!("{}  (ping \"tick\")", plain(Opcode::Ping, PING)),
        )
        .noted(
            "a keep-alive ping (lesson 11 sends one every --ping-interval), between any two frames",
        ),
        call(
            CLIENT,
            SERVER,
            &format!(
                "{}  (pong \"tick\", masked)",
                masked(Opcode::Pong, PING, MASKS[2])
            ),
        )
        .noted("5.5.3: the Ping's payload, unchanged, in a Pong; masked like every client frame"),
        Step::Divider(
            "the closing handshake: the client starts it, the server closes TCP first".into(),
        ),
        note(
            CLIENT,
            "EOF on stdin (or /close): Connection::close(1000), 7.1.2. From now on the client \
             sends no data frame, and waits for the server's Close",
        ),
        call(
            CLIENT,
            SERVER,
            &format!(
                "{}  (close 1000, masked)",
                masked(Opcode::Close, &close_1000, MASKS[3])
            ),
        )
        .noted("the code is 2 bytes, big-endian: 03 e8 before masking"),
        call(
            SERVER,
            CLIENT,
            &format!(
                "{}  (close 1000, echoed)",
                plain(Opcode::Close, &close_1000)
            ),
        )
        .noted("5.5.1: the server echoes the code; both sides have said they are done"),
        state(SERVER, "FIN_WAIT_1"),
        packet(SERVER, CLIENT, "FIN").noted("7.1.1: the server closes TCP first"),
        state(CLIENT, "CLOSE_WAIT"),
        packet(CLIENT, SERVER, "ACK"),
        state(SERVER, "FIN_WAIT_2"),
        note(
            CLIENT,
            "read() returns 0: end of stream, the server has closed TCP. peer_closed_tcp(), \
             the loop returns, the stream is dropped: close(2)",
        ),
        state(CLIENT, "LAST_ACK"),
        packet(CLIENT, SERVER, "FIN"),
        state(SERVER, "TIME_WAIT"),
        packet(SERVER, CLIENT, "ACK"),
        state(CLIENT, "CLOSED"),
        note(
            SERVER,
            "TIME_WAIT (60 s on Linux) is the server's: it keeps one per closed connection \
             anyway, while the client's port is free at once for the next connection",
        ),
        Step::Divider("if the server never closes: the client's timeout".into()),
        note(
            CLIENT,
            "no Close back, or no FIN, within --timeout (5 s) of sending the Close: \
             handle_timeout() sets should_close_tcp() and the client closes TCP itself (7.1.1's \
             \"abnormal cases\"); then the TIME_WAIT is the client's. On a protocol error it \
             closes at once (7.1.7)",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagram::svg::escape;

    #[test]
    fn the_101_in_the_picture_passes_the_clients_own_check() {
        let mut hs = handshake();
        hs.push(&accept_response(hs.key(), None));
        let established = hs.next().expect("the picture's 101 is accepted");
        assert!(established.is_some());
        let svg = &diagrams()[0].svg;
        assert!(svg.contains(hs.key()));
        assert!(svg.contains(&escape(&accept_key(hs.key()))));
    }

    #[test]
    fn every_client_frame_has_its_own_key_and_is_masked() {
        for (i, a) in MASKS.iter().enumerate() {
            assert!(MASKS[i + 1..].iter().all(|b| b != a), "key {i} is reused");
        }
        let svg = &diagrams()[0].svg;
        // The mask bit is set in every client frame (the second byte's high bit).
        for part in [
            "81 85 3d a1 07 6e",
            "81 85 c4 58 9b 12",
            "8a 84 71 e6 2f b0",
            "88 82 0a 93 d5 48",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
        // The server's frames are not masked.
        for part in ["81 05 68 65 6c 6c 6f", "89 04 74 69 63 6b", "88 02 03 e8"] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }
}
