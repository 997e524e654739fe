//! Checks for lesson 09, the WebSocket opening handshake (RFC 6455 section 4), against any
//! server started with its default flags:
//!
//! - a good upgrade request gets `101 Switching Protocols` with `Upgrade: websocket`,
//!   `Connection: Upgrade` and the right `Sec-WebSocket-Accept`, however the request is split
//!   into writes and however its header values are spelled (`keep-alive, Upgrade`, any case);
//! - a request that is not a WebSocket handshake is refused with a 4xx (or 505 for HTTP/1.0):
//!   no `Upgrade: websocket`, no `Connection: Upgrade`, a key that is not the base64 of 16 bytes,
//!   a POST; another version is refused with `Sec-WebSocket-Version: 13`; a refusal closes;
//! - the server picks no subprotocol the client did not offer and accepts no extension it
//!   cannot know;
//! - after the 101 the server echoes each message (what lesson 09's server does), so a frame sent
//!   in the same write as the head must come back: it was not lost with the head's buffer;
//! - a head that never ends is answered with 408 or a close.
//!
//! The Origin allow-list is not graded: a grader starts the server with the flags it is given,
//! and with none a server accepts every origin. (The reference's unit tests cover `--origin`.)
//!
//! Nothing here uses `src/ws` or `src/http`: requests are written out by hand, responses read
//! by the small reader below, and the accept value is computed here from the RFC's formula
//! with the `sha1` and `base64` crates (a hash and an encoding are not what is being tested).

use super::http::{HttpConn, More, Trickled};
use super::wire::{self, send};
use super::{Check, Ctx, Failure, Suite};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use sha1::{Digest, Sha1};
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 9,
    listeners: &["ws"],
    checks: &[
        Check {
            name: "wrong_accept_key",
            misconception: "Sec-WebSocket-Accept is base64(SHA-1(key + \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\")): \
                            the key as the text the client sent (not decoded), the GUID exactly, the 20 raw \
                            bytes of the hash (not its hex) in standard base64 with padding.",
            run: accept_key_is_right,
        },
        Check {
            name: "accepts_a_request_without_upgrade_websocket",
            misconception: "A request becomes a WebSocket only if it says `Upgrade: websocket` (RFC 6455 \
                            4.2.1 item 3): a plain GET, or an Upgrade to another protocol, is refused (400, \
                            or 426 with `Upgrade: websocket`), never switched.",
            run: needs_upgrade_websocket,
        },
        Check {
            name: "accepts_a_request_without_connection_upgrade",
            misconception: "`Connection: Upgrade` is what makes Upgrade a request to this hop (RFC 6455 \
                            4.2.1 item 4, RFC 9110 7.8): without the token Upgrade in Connection, refuse.",
            run: needs_connection_upgrade,
        },
        Check {
            name: "compares_header_values_as_whole_strings",
            misconception: "Connection is a comma-separated list of case-insensitive tokens: Firefox sends \
                            `Connection: keep-alive, Upgrade`, others `upgrade`; Upgrade's value and header \
                            names are case-insensitive too. Look for the token, do not compare strings.",
            run: tokens_not_strings,
        },
        Check {
            name: "wrong_answer_to_another_version",
            misconception: "A client of another protocol version must learn which one the server speaks \
                            (RFC 6455 4.4): refuse it (426 Upgrade Required) with `Sec-WebSocket-Version: 13`.",
            run: other_version,
        },
        Check {
            name: "accepts_a_key_that_is_not_16_bytes",
            misconception: "Sec-WebSocket-Key must be the base64 of a 16-byte nonce (RFC 6455 4.2.1 item 5): \
                            a missing key, a key that is not base64, or one of 15 or 17 bytes is a bad \
                            request (400), even though an accept value could be computed from any text.",
            run: bad_keys,
        },
        Check {
            name: "picks_a_subprotocol_the_client_did_not_offer",
            misconception: "The server's Sec-WebSocket-Protocol must be one of the values the client offered \
                            (RFC 6455 4.2.2), and absent when it offered none or none is spoken here: a \
                            client fails the connection on any other answer.",
            run: subprotocols,
        },
        Check {
            name: "accepts_an_extension_nobody_implements",
            misconception: "Echoing Sec-WebSocket-Extensions agrees to use those extensions (RFC 6455 9.1), \
                            which changes the meaning of the frame's RSV bits: decline what you do not \
                            implement by leaving it out of the 101.",
            run: extensions,
        },
        Check {
            name: "assumes_one_read_is_one_handshake",
            misconception: "A read returns whatever has arrived, here one byte at a time: buffer until the \
                            blank line that ends the head, then answer.",
            run: one_byte_at_a_time,
        },
        Check {
            name: "loses_frames_sent_with_the_head",
            misconception: "A client may send its first frame without waiting for the 101, so one read can \
                            hold the end of the head and the start of the frames: the bytes after the blank \
                            line belong to the WebSocket, not to the trash.",
            run: frame_with_the_head,
        },
        Check {
            name: "upgrades_a_post_or_an_http10_request",
            misconception: "The opening handshake is an HTTP/1.1 (or higher) GET (RFC 6455 4.2.1 item 1): a \
                            POST or an HTTP/1.0 request is refused (400, 405 or 505), not switched.",
            run: post_and_http10,
        },
        Check {
            name: "keeps_the_connection_open_after_a_refusal",
            misconception: "After refusing a handshake there is no protocol left to speak on the connection \
                            (RFC 6455 4.2.1: the server MUST stop processing the handshake): answer and close, \
                            or whatever follows is read as a new handshake.",
            run: refusal_closes,
        },
        Check {
            name: "has_no_handshake_timeout",
            misconception: "A client that sends half a head and then trickles or waits holds a connection \
                            forever unless the handshake has a deadline from its first byte: past it, answer \
                            408 or close.",
            run: slow_handshake,
        },
    ],
};

// ---- The accept value, computed here -----------------------------------------------------------

/// The GUID of RFC 6455 1.3 and 4.2.2, the grader's own copy.
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// base64(SHA-1(key + GUID)), as RFC 6455 4.2.2 step 5.4 says.
pub(super) fn expected_accept(key: &str) -> String {
    STANDARD.encode(Sha1::digest(format!("{key}{GUID}").as_bytes()))
}

/// The key of RFC 6455 1.3, whose accept value the RFC gives.
const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

/// A fresh key: 16 seeded random bytes, base64.
pub(super) fn random_key(ctx: &Ctx) -> String {
    STANDARD.encode(ctx.bytes(16))
}

// ---- Requests, written out by hand ---------------------------------------------------------------

/// A handshake request: the request line and header fields, in order, editable.
#[derive(Clone)]
pub(super) struct Request {
    line: String,
    headers: Vec<(String, String)>,
}

impl Request {
    /// The handshake of RFC 6455 1.2 with `key`, without Origin and subprotocols.
    pub(super) fn new(key: &str) -> Self {
        Request {
            line: "GET /chat HTTP/1.1".into(),
            headers: [
                ("Host", "server.example.com"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key),
                ("Sec-WebSocket-Version", "13"),
            ]
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        }
    }

    pub(super) fn line(mut self, line: &str) -> Self {
        self.line = line.into();
        self
    }

    /// Set `name` (replacing the field of that name where it is, or adding it at the end).
    pub(super) fn set(mut self, name: &str, value: &str) -> Self {
        match self
            .headers
            .iter_mut()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
        {
            Some(field) => *field = (name.into(), value.into()),
            None => self.headers.push((name.into(), value.into())),
        }
        self
    }

    fn without(mut self, name: &str) -> Self {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        self
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        let mut s = format!("{}\r\n", self.line);
        for (n, v) in &self.headers {
            s.push_str(&format!("{n}: {v}\r\n"));
        }
        s.push_str("\r\n");
        s.into_bytes()
    }
}

/// A masked text frame from a client (RFC 6455 5.2), for payloads under 126 bytes.
fn masked_text(payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    frame
}

/// The unmasked text frame a server sends for `payload` (under 126 bytes).
fn server_text(payload: &[u8]) -> Vec<u8> {
    [&[0x81, payload.len() as u8][..], payload].concat()
}

// ---- Responses, read by a small reader of our own ------------------------------------------------

/// A response head (and a refusal's body, by Content-Length).
pub(super) struct Answer {
    pub(super) status: u16,
    /// Names lowercased, values trimmed.
    headers: Vec<(String, String)>,
    /// The head as it came, for evidence.
    pub(super) head: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Longest response head we wait for.
const MAX_HEAD: usize = 16 * 1024;

/// The grader's connection is lesson 07's [`HttpConn`] (a handshake starts as an HTTP request),
/// opened to the `ws` listener, with the readers below for handshake answers.
impl HttpConn<'_> {
    /// Read more before `deadline`, or fail saying why nothing came while waiting for `what`.
    fn more_or_fail_sent(
        &mut self,
        deadline: Instant,
        what: &str,
        sent: &[u8],
    ) -> Result<(), Failure> {
        let why = match self.more(deadline) {
            More::Bytes => return Ok(()),
            More::Eof if self.buf.is_empty() => {
                format!("the server closed the connection without sending {what}")
            }
            More::Eof => format!("the server closed the connection in the middle of {what}"),
            More::Timeout => format!(
                "{what} did not come: nothing (more) arrived within {} s",
                self.ctx.timeout.as_secs_f32()
            ),
            More::Failed(e) => format!("the connection failed while waiting for {what}: {e}"),
        };
        Err(Failure::new(why).sent(sent).received(&self.buf))
    }

    /// Read one response head, and a refusal's body if it has a Content-Length. Bytes after a
    /// 101's head stay in `buf`: they are frames.
    pub(super) fn answer(&mut self, sent: &[u8]) -> Result<Answer, Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if let Some(i) = self.buf.windows(2).position(|w| w == b"\n\n") {
                break i + 2;
            }
            if self.buf.len() > MAX_HEAD {
                return Err(Failure::new(format!(
                    "a response head longer than {MAX_HEAD} bytes, or one without a blank line"
                ))
                .sent(sent)
                .received(&self.buf));
            }
            self.more_or_fail_sent(deadline, "a response", sent)?;
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.lines();
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or("");
        let status = parts.next().and_then(|c| c.parse::<u16>().ok());
        let Some(status) = status.filter(|_| version.starts_with("HTTP/1.")) else {
            return Err(Failure::new(
                "the response does not start with a status line such as `HTTP/1.1 101 Switching Protocols`",
            )
            .sent(sent)
            .expected(b"HTTP/1.1 101 Switching Protocols\r\n")
            .received(&head));
        };
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        let answer = Answer {
            status,
            headers,
            head,
        };
        if status != 101 {
            let length = answer.header("content-length").and_then(|v| v.parse().ok());
            if let Some(n) = length.filter(|&n: &usize| n < 1 << 20) {
                while self.buf.len() < n {
                    self.more_or_fail_sent(deadline, "the body of the refusal", sent)?;
                }
                self.buf.drain(..n);
            }
        }
        Ok(answer)
    }

    /// Expect exactly `expected` next (after what is buffered).
    fn expect_bytes(&mut self, expected: &[u8], sent: &[u8], what: &str) -> Result<(), Failure> {
        let deadline = Instant::now() + self.ctx.timeout;
        while self.buf.len() < expected.len() && expected.starts_with(&self.buf) {
            if let Err(f) = self.more_or_fail_sent(deadline, what, sent) {
                return Err(f.expected(expected));
            }
        }
        if self.buf.starts_with(expected) {
            self.buf.drain(..expected.len());
            return Ok(());
        }
        Err(Failure::new(format!(
            "{what}: other bytes came back than the frame expected"
        ))
        .sent(sent)
        .expected(expected)
        .received(&self.buf))
    }
}

/// Open a connection, send `request` in one write, read the answer.
fn ask(ctx: &Ctx, request: &[u8], what: &str) -> Result<Answer, Failure> {
    let mut c = HttpConn::open_to(ctx, "ws")?;
    send(&c.stream, request).map_err(|f| f.during(what))?;
    c.answer(request).map_err(|f| f.during(what))
}

/// Expect a 101 that switches to websocket and carries the accept value for `key`.
pub(super) fn expect_upgraded(
    a: &Answer,
    key: &str,
    sent: &[u8],
    what: &str,
) -> Result<(), Failure> {
    if a.status != 101 {
        return Err(Failure::new(format!(
            "{what}: expected 101 Switching Protocols, received {}",
            a.status
        ))
        .sent(sent)
        .expected(b"HTTP/1.1 101 Switching Protocols\r\n")
        .received(&a.head));
    }
    for (name, token, line) in [
        ("upgrade", "websocket", "Upgrade: websocket\r\n"),
        ("connection", "upgrade", "Connection: Upgrade\r\n"),
    ] {
        if !a.has_token(name, token) {
            return Err(Failure::new(format!(
                "{what}: the 101 does not say `{}` (RFC 6455 4.2.2 step 5)",
                line.trim_end()
            ))
            .sent(sent)
            .expected(line.as_bytes())
            .received(&a.head));
        }
    }
    let accept = expected_accept(key);
    match a.header("sec-websocket-accept") {
        Some(got) if got == accept => Ok(()),
        got => Err(Failure::new(format!(
            "{what}: for the key {key} the accept value is {accept}, the server sent {}",
            got.map_or("none".to_string(), |g| format!("{g:?}"))
        ))
        .sent(sent)
        .expected(format!("Sec-WebSocket-Accept: {accept}\r\n").as_bytes())
        .received(&a.head)),
    }
}

/// Expect a refusal: a status that `ok` accepts (`which` says which in words), never a 101.
fn expect_refused(
    a: &Answer,
    ok: fn(u16) -> bool,
    which: &str,
    sent: &[u8],
    what: &str,
) -> Result<(), Failure> {
    if ok(a.status) {
        return Ok(());
    }
    let how = if a.status == 101 {
        "the server switched protocols anyway".to_string()
    } else {
        format!("the server answered {}", a.status)
    };
    Err(
        Failure::new(format!("{what}: expected a refusal ({which}), but {how}"))
            .sent(sent)
            .expected(b"HTTP/1.1 400 Bad Request\r\n")
            .received(&a.head),
    )
}

fn client_error(status: u16) -> bool {
    (400..500).contains(&status)
}

// ---- The checks ---------------------------------------------------------------------------------

fn accept_key_is_right(ctx: &Ctx) -> Result<(), Failure> {
    // The RFC's own key, random ones, and one whose base64 has both `+` and `/`.
    let mut keys = vec![RFC_KEY.to_string(), random_key(ctx), random_key(ctx)];
    keys.push(STANDARD.encode([
        0xfb, 0xff, 0xbf, 0xfb, 0xef, 0xff, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
    ]));
    for key in keys {
        let req = Request::new(&key).bytes();
        let what = format!("a handshake with the key {key}");
        let a = ask(ctx, &req, &what)?;
        expect_upgraded(&a, &key, &req, &what)?;
    }
    Ok(())
}

fn needs_upgrade_websocket(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    for (what, req) in [
        (
            "a handshake without an Upgrade header",
            Request::new(&key).without("upgrade"),
        ),
        (
            "a handshake with `Upgrade: h2c`",
            Request::new(&key).set("Upgrade", "h2c"),
        ),
    ] {
        let sent = req.bytes();
        let a = ask(ctx, &sent, what)?;
        expect_refused(&a, client_error, "400, or 426", &sent, what)?;
    }
    Ok(())
}

fn needs_connection_upgrade(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    for (what, req) in [
        (
            "a handshake without a Connection header",
            Request::new(&key).without("connection"),
        ),
        (
            "a handshake with `Connection: keep-alive`",
            Request::new(&key).set("Connection", "keep-alive"),
        ),
    ] {
        let sent = req.bytes();
        let a = ask(ctx, &sent, what)?;
        expect_refused(&a, client_error, "400, or 426", &sent, what)?;
    }
    Ok(())
}

fn tokens_not_strings(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let cases = [
        (
            "`Connection: keep-alive, Upgrade` (what Firefox sends)",
            Request::new(&key).set("Connection", "keep-alive, Upgrade"),
        ),
        (
            "`Connection: upgrade` and `Upgrade: WebSocket`",
            Request::new(&key)
                .set("Connection", "upgrade")
                .set("Upgrade", "WebSocket"),
        ),
        (
            "lower-case header names (`connection: Upgrade`, `upgrade: websocket`, \
             `sec-websocket-key`, `sec-websocket-version`)",
            Request::new(&key)
                .without("connection")
                .without("upgrade")
                .without("sec-websocket-key")
                .without("sec-websocket-version")
                .set("connection", "Upgrade")
                .set("upgrade", "websocket")
                .set("sec-websocket-key", &key)
                .set("sec-websocket-version", "13"),
        ),
    ];
    for (what, req) in cases {
        let sent = req.bytes();
        let what = format!("a handshake with {what}");
        let a = ask(ctx, &sent, &what)?;
        expect_upgraded(&a, &key, &sent, &what)?;
    }
    Ok(())
}

fn other_version(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    for version in ["8", "14"] {
        let sent = Request::new(&key)
            .set("Sec-WebSocket-Version", version)
            .bytes();
        let what = format!("a handshake with `Sec-WebSocket-Version: {version}`");
        let a = ask(ctx, &sent, &what)?;
        expect_refused(&a, client_error, "426 Upgrade Required", &sent, &what)?;
        if !a.has_token("sec-websocket-version", "13") {
            return Err(Failure::new(format!(
                "{what}: the {} does not say which version the server speaks \
                 (RFC 6455 4.2.2: \"a |Sec-WebSocket-Version| header field indicating the version(s) \
                 the server is capable of understanding\")",
                a.status
            ))
            .sent(&sent)
            .expected(b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n")
            .received(&a.head));
        }
    }
    Ok(())
}

fn bad_keys(ctx: &Ctx) -> Result<(), Failure> {
    let fifteen = STANDARD.encode(ctx.bytes(15));
    let seventeen = STANDARD.encode(ctx.bytes(17));
    let cases = [
        (
            "no Sec-WebSocket-Key",
            Request::new("").without("sec-websocket-key"),
        ),
        ("`Sec-WebSocket-Key: hello`", Request::new("hello")),
        (
            "a key of 24 characters that are not base64",
            Request::new("!!!!!!!!!!!!!!!!!!!!!!=="),
        ),
        (
            "a key that is the base64 of 15 bytes",
            Request::new(&fifteen),
        ),
        (
            "a key that is the base64 of 17 bytes",
            Request::new(&seventeen),
        ),
    ];
    for (what, req) in cases {
        let sent = req.bytes();
        let what = format!("a handshake with {what}");
        let a = ask(ctx, &sent, &what)?;
        expect_refused(&a, client_error, "400", &sent, &what)?;
    }
    Ok(())
}

fn subprotocols(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let offered = ["grader-made-up-1", "grader-made-up-2"];
    let cases = [
        ("no subprotocol offered", Request::new(&key), &[][..]),
        (
            "`Sec-WebSocket-Protocol: grader-made-up-1, grader-made-up-2`",
            Request::new(&key).set("Sec-WebSocket-Protocol", &offered.join(", ")),
            &offered[..],
        ),
    ];
    for (what, req, offered) in cases {
        let sent = req.bytes();
        let what = format!("a handshake with {what}");
        let a = ask(ctx, &sent, &what)?;
        expect_upgraded(&a, &key, &sent, &what)?;
        let chosen: Vec<&str> = a
            .headers
            .iter()
            .filter(|(n, _)| n == "sec-websocket-protocol")
            .map(|(_, v)| v.as_str())
            .collect();
        let fine = match chosen.as_slice() {
            [] => true,
            [one] => offered.contains(one),
            _ => false,
        };
        if !fine {
            return Err(Failure::new(format!(
                "{what}: the 101 chose {chosen:?}, which is not one value the client offered"
            ))
            .sent(&sent)
            .expected(b"HTTP/1.1 101 Switching Protocols\r\n")
            .received(&a.head));
        }
    }
    Ok(())
}

fn extensions(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let sent = Request::new(&key)
        .set("Sec-WebSocket-Extensions", "x-grader-made-up; level=3")
        .bytes();
    let what = "a handshake offering `Sec-WebSocket-Extensions: x-grader-made-up; level=3`";
    let a = ask(ctx, &sent, what)?;
    expect_upgraded(&a, &key, &sent, what)?;
    let accepted = a
        .headers
        .iter()
        .filter(|(n, _)| n == "sec-websocket-extensions")
        .any(|(_, v)| v.to_ascii_lowercase().contains("x-grader-made-up"));
    if accepted {
        return Err(Failure::new(format!(
            "{what}: the 101 agrees to an extension the grader made up, so the server cannot \
             implement it: it echoed the client's offer"
        ))
        .sent(&sent)
        .received(&a.head));
    }
    Ok(())
}

fn one_byte_at_a_time(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let sent = Request::new(&key).bytes();
    let what = "a handshake sent one byte per write";
    let mut c = HttpConn::open_to(ctx, "ws")?;
    wire::send_in_pieces(&c.stream, &sent, || 1, Duration::from_millis(1))
        .map_err(|f| f.during(what))?;
    let a = c.answer(&sent).map_err(|f| f.during(what))?;
    expect_upgraded(&a, &key, &sent, what)
}

fn frame_with_the_head(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let mask = ctx.bytes(4);
    let mask = [mask[0], mask[1], mask[2], mask[3]];
    let first = b"sent in the same write as the head";
    let sent = [Request::new(&key).bytes(), masked_text(first, mask)].concat();
    let what = "a handshake and a masked text frame in one write";
    let mut c = HttpConn::open_to(ctx, "ws")?;
    send(&c.stream, &sent).map_err(|f| f.during(what))?;
    let a = c.answer(&sent).map_err(|f| f.during(what))?;
    expect_upgraded(&a, &key, &sent, what)?;
    c.expect_bytes(
        &server_text(first),
        &sent,
        &format!("{what}, the echo of that frame after the 101"),
    )?;
    // And the connection is a WebSocket from here on: the next frame is echoed too.
    let second = b"and one after the 101";
    let frame = masked_text(second, [mask[3], mask[2], mask[1], mask[0]]);
    send(&c.stream, &frame)?;
    c.expect_bytes(&server_text(second), &frame, "a second text frame's echo")
}

fn post_and_http10(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let cases = [
        (
            "a POST with every upgrade header",
            Request::new(&key).line("POST /chat HTTP/1.1"),
        ),
        (
            "an HTTP/1.0 GET with every upgrade header",
            Request::new(&key).line("GET /chat HTTP/1.0"),
        ),
    ];
    for (what, req) in cases {
        let sent = req.bytes();
        let a = ask(ctx, &sent, what)?;
        expect_refused(
            &a,
            |s| (400..600).contains(&s),
            "400, 405 or 505",
            &sent,
            what,
        )?;
    }
    Ok(())
}

fn refusal_closes(ctx: &Ctx) -> Result<(), Failure> {
    let key = random_key(ctx);
    let bad = Request::new(&key).set("Upgrade", "h2c").bytes();
    let good = Request::new(&key).bytes();
    let sent = [bad, good].concat();
    let what = "a refused handshake (`Upgrade: h2c`) and a good one, in one write";
    let mut c = HttpConn::open_to(ctx, "ws")?;
    send(&c.stream, &sent).map_err(|f| f.during(what))?;
    // A close with no answer at all is not this check's mistake (the refusal itself is checked
    // by the others): websockets 17.4, for one, fails on the bytes after a refused head and
    // closes without its 426.
    let deadline = Instant::now() + c.ctx.timeout;
    while !c.buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.more(deadline) {
            More::Bytes => {}
            More::Eof | More::Failed(_) if c.buf.is_empty() => return Ok(()),
            _ => break,
        }
    }
    let a = c.answer(&sent).map_err(|f| f.during(what))?;
    expect_refused(&a, client_error, "400, or 426", &sent, what)?;
    let deadline = Instant::now() + c.ctx.timeout;
    loop {
        if !c.buf.is_empty() {
            return Err(Failure::new(format!(
                "{what}: after the {} the server kept reading, and answered the next handshake",
                a.status
            ))
            .sent(&sent)
            .expected(b"")
            .received(&c.buf));
        }
        match c.more(deadline) {
            More::Bytes => {}
            More::Eof | More::Failed(_) => return Ok(()),
            More::Timeout => {
                return Err(Failure::new(format!(
                    "{what}: the connection was still open {} s after the {}",
                    ctx.timeout.as_secs_f32(),
                    a.status
                ))
                .sent(&sent))
            }
        }
    }
}

/// How long a server may take to time out a handshake. RFC 6455 sets no number; about 10 s is
/// usual, and a server may be started with a shorter one for grading.
const HANDSHAKE_TIMEOUT_BOUND: Duration = Duration::from_secs(15);

fn slow_handshake(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open_to(ctx, "ws")?;
    let Trickled {
        closed,
        sent,
        waited,
    } = c.trickle_head(
        b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\n",
        b"X-Slow: a-byte-now-and-then\r\n",
        HANDSHAKE_TIMEOUT_BOUND,
    )?;
    if c.buf.is_empty() && !closed {
        return Err(Failure::new(format!(
            "half a handshake, then a byte every 0.5 s: no 408 and no close in {waited:.0} s. \
             If your server's handshake timeout is longer, start it with a short one for grading"
        ))
        .sent(&sent));
    }
    if !c.buf.is_empty() {
        let what = format!("half a handshake, then a byte every 0.5 s for {waited:.1} s");
        let a = c.answer(&sent).map_err(|f| f.during(&what))?;
        if a.status != 408 && a.status != 400 {
            return Err(Failure::new(format!(
                "{what}: expected 408 Request Timeout (or a close), received {}",
                a.status
            ))
            .sent(&sent)
            .expected(b"HTTP/1.1 408 Request Timeout\r\n")
            .received(&a.head));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graders_accept_value_is_the_rfcs() {
        // RFC 6455 1.3 and 4.2.2.
        assert_eq!(expected_accept(RFC_KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn the_graders_frames_are_the_rfcs() {
        // RFC 6455 5.7: "A single-frame masked text message".
        assert_eq!(
            masked_text(b"Hello", [0x37, 0xfa, 0x21, 0x3d]),
            [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]
        );
        assert_eq!(
            server_text(b"Hello"),
            [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
        );
    }

    #[test]
    fn requests_are_edited_in_place() {
        let r = Request::new(RFC_KEY)
            .set("connection", "keep-alive, Upgrade")
            .without("upgrade")
            .bytes();
        let text = String::from_utf8(r).unwrap();
        assert!(text.starts_with(
            "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nconnection: keep-alive, Upgrade\r\n"
        ));
        assert!(!text.contains("Upgrade: websocket"));
        assert!(text.ends_with("Sec-WebSocket-Version: 13\r\n\r\n"));
    }
}
