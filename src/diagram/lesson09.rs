//! Lesson 09's diagrams: the opening handshake as a sequence (the request head, the 101, the
//! first frames, and a refusal), and the accept-key computation step by step.
//!
//! Both are drawn from the code: the 101 is what `accept_response` writes for the RFC's key,
//! the refusal's status line is what `refusal_response` writes for a request of version 8, and
//! the computation's boxes are the steps of `explain_accept`, the function behind `--explain`,
//! so neither picture can drift from what the server says.

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::svg::{text_width, Anchor, Svg};
use super::Diagram;
use crate::ws::handshake::{
    accept_response, explain_accept, refusal_response, server::parse_request,
};
use std::time::SystemTime;

const HANDSHAKE_TITLE: &str =
    "Lesson 09: the opening handshake: an HTTP request, a 101, then frames on the same connection";
const ACCEPT_TITLE: &str = "Lesson 09: Sec-WebSocket-Accept, computed from Sec-WebSocket-Key";

const CLIENT: usize = 0;
const SERVER: usize = 1;

/// RFC 6455 1.3's key.
const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: HANDSHAKE_TITLE.to_string(),
        actors: vec![
            "client (a browser, websockets, curl)".into(),
            "server (09-ws-handshake)".into(),
        ],
        steps: handshake(),
    };
    vec![
        Diagram {
            file: "09-ws-handshake.svg",
            title: HANDSHAKE_TITLE,
            svg: render_sequence(&seq),
        },
        Diagram {
            file: "09-accept-key.svg",
            title: ACCEPT_TITLE,
            svg: accept_steps(KEY),
        },
    ]
}

/// The response's lines as one label, `\r\n` shown as line breaks.
fn lines(response: &[u8]) -> String {
    String::from_utf8_lossy(response)
        .trim_end()
        .replace("\r\n", "\n")
}

fn handshake() -> Vec<Step> {
    let ok = accept_response(KEY, None);
    let refused = parse_request(
        format!(
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 8\r\n\r\n"
        )
        .as_bytes(),
    )
    .expect_err("version 8 is refused");
    let refusal = refusal_response(&refused, SystemTime::UNIX_EPOCH);
    let refusal = String::from_utf8_lossy(&refusal);
    // The status line and the fields that matter to a client, as `refusal_response` writes
    // them (Date and the body's type and length left out).
    let refusal_head = refusal
        .lines()
        .take_while(|line| !line.is_empty())
        .filter(|line| !line.starts_with("Date:") && !line.starts_with("Content-"))
        .collect::<Vec<_>>()
        .join("\n");
    vec![
        Step::Divider("HTTP: one request, one response".into()),
        call(
            CLIENT,
            SERVER,
            &format!(
                "GET /chat HTTP/1.1\nHost: server.example.com\nUpgrade: websocket\n\
                 Connection: Upgrade\nSec-WebSocket-Key: {KEY}\nSec-WebSocket-Version: 13"
            ),
        )
        .noted("the key is 16 random bytes in base64, new for every connection"),
        note(
            SERVER,
            "ServerHandshake::push() each read; next() is Ok(None) until the blank line, then the \
             RFC 6455 4.2.1 checks in order: GET and HTTP/1.1, Host, Upgrade, Connection, \
             version, key; then Origin and the subprotocol",
        ),
        call(SERVER, CLIENT, &lines(&ok)).noted(
            "accept = base64(SHA-1(key + GUID)): the proof that this server read the handshake \
             as a WebSocket server (next picture)",
        ),
        Step::Divider("WebSocket: frames, either side, any time".into()),
        call(
            CLIENT,
            SERVER,
            "81 85 37 fa 21 3d 7f 9f 4d 51 58  (text \"Hello\", masked)",
        )
        .noted(
            "may arrive in the same read as the end of the head: Accepted::unread hands it over",
        ),
        call(SERVER, CLIENT, "81 05 48 65 6c 6c 6f  (text \"Hello\")")
            .noted("the echo: server frames are never masked"),
        Step::Divider("or the request is refused, and the connection closed".into()),
        call(CLIENT, SERVER, "... Sec-WebSocket-Version: 8"),
        call(SERVER, CLIENT, &refusal_head).noted(&format!(
            "the body says why ({}), then the server closes. 400 for a bad head, 403 for a \
             foreign Origin, 408 for a slow one",
            refused.reason
        )),
    ]
}

const CSS: &str = "\
.step { fill: #f6f8fa; stroke: #d0d7de; }
.result { fill: #dafbe1; stroke: #4ac26b; }
.what { font-weight: 700; }
.value { font-size: 13px; }
.arrow { stroke: #57606a; stroke-width: 1.5; fill: none; }
.head { fill: #57606a; }
";

/// The steps of `explain_accept(key)`, one box each, top to bottom, the last one highlighted.
fn accept_steps(key: &str) -> String {
    let steps = explain_accept(key).steps();
    const PAD: i32 = 16;
    const BOX_H: i32 = 52;
    const GAP: i32 = 28;
    let width = steps
        .iter()
        .map(|(what, value)| text_width(what, 12).max(text_width(value, 13)))
        .max()
        .unwrap_or(0)
        + 4 * PAD;
    let width = width.max(text_width(ACCEPT_TITLE, 16) + 2 * PAD);
    let mut svg = Svg::new();
    svg.text(PAD, 28, Anchor::Start, "title", ACCEPT_TITLE);
    let mut y = 48;
    for (i, (what, value)) in steps.iter().enumerate() {
        let last = i + 1 == steps.len();
        svg.rect(
            PAD,
            y,
            width - 2 * PAD,
            BOX_H,
            6,
            if last { "result" } else { "step" },
        );
        svg.text(2 * PAD, y + 20, Anchor::Start, "what", what);
        svg.text(2 * PAD, y + 40, Anchor::Start, "value mono", value);
        y += BOX_H;
        if !last {
            let x = width / 2;
            svg.line(x, y + 2, x, y + GAP - 6, "arrow");
            svg.poly(
                &[(x - 5, y + GAP - 9), (x + 5, y + GAP - 9), (x, y + GAP - 2)],
                true,
                "head",
            );
            y += GAP;
        }
    }
    svg.finish(width, y + PAD, ACCEPT_TITLE, CSS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_handshake_picture_shows_the_rfc_accept_and_a_refusal() {
        let svg = &diagrams()[0].svg;
        for part in [
            "101 Switching Protocols",
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
            "426 Upgrade Required",
            "unread",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }

    #[test]
    fn the_accept_picture_is_explain_accept_step_by_step() {
        let svg = &diagrams()[1].svg;
        for (what, value) in explain_accept(KEY).steps() {
            assert!(svg.contains(&super::super::svg::escape(&what)), "{what}");
            assert!(svg.contains(&super::super::svg::escape(&value)), "{value}");
        }
        assert!(svg.contains("b37a4f2cc0624f1690f64606cf385945b2bec4ea"));
    }
}
