//! Lesson 09: the grader against the reference, against a server nobody here wrote (Python's
//! `websockets` library), and against one broken server per mistake; then real clients of the
//! reference: the `websockets` client (a text and a binary echo, the close) and curl.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use netcourse::grader::{Listener, Options, Target};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

const LESSON: u32 = 9;

/// The reference server on a free port, with extra flags; stopped when the Peer is dropped.
fn server(extra: &[&str]) -> (Peer, SocketAddr) {
    let (peer, listeners) = start_peer(
        Command::new(env!("CARGO_BIN_EXE_09-ws-handshake"))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra),
    );
    assert_eq!(listeners[0].scheme, "ws");
    (peer, listeners[0].addr)
}

#[test]
fn reference_server_passes_every_check() {
    // With its default flags (a 10 s handshake timeout), as a learner's server is graded.
    assert_passes(
        LESSON,
        Target::Command(reference_cmd(env!("CARGO_BIN_EXE_09-ws-handshake"))),
    );
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
#[cfg_attr(
    missing_websockets,
    ignore = "peer test: Python's websockets library not found (scripts/test.sh installs it)"
)]
fn the_websockets_library_server_passes_every_check() {
    assert_passes(
        LESSON,
        Target::Command(format!(
            "python3 {} --addr 127.0.0.1:0",
            repo("tests/peers/ws_echo.py")
        )),
    );
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
#[cfg_attr(
    missing_websockets,
    ignore = "peer test: Python's websockets library not found (scripts/test.sh installs it)"
)]
fn the_websockets_library_as_shipped_answers_another_version_without_naming_13() {
    // A real library's real deviation, caught: a 400 with no Sec-WebSocket-Version header.
    let options = Options {
        only: Some("wrong_answer_to_another_version".into()),
        ..quick()
    };
    let target = Target::Command(format!(
        "python3 {} --addr 127.0.0.1:0 --as-shipped",
        repo("tests/peers/ws_echo.py")
    ));
    let (report, out) = grade(LESSON, &target, &options);
    assert_eq!(
        report.failed(),
        ["wrong_answer_to_another_version"],
        "{out}"
    );
}

// ---- Real clients of the reference ---------------------------------------------------------------

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
#[cfg_attr(
    missing_websockets,
    ignore = "peer test: Python's websockets library not found (scripts/test.sh installs it)"
)]
fn the_websockets_client_echoes_text_and_binary_and_closes() {
    let (_server, addr) = server(&[]);
    let script = r#"
import asyncio, sys
from websockets.asyncio.client import connect

async def main():
    async with connect(sys.argv[1], compression=None) as ws:
        print("handshake", ws.response.status_code, ws.response.headers["Sec-WebSocket-Accept"] != "")
        await ws.send("héllo, lesson 09")
        print("text", repr(await ws.recv()))
        await ws.send(bytes(range(200)))
        echo = await ws.recv()
        print("binary", type(echo).__name__, echo == bytes(range(200)))
    print("closed", ws.close_code)

asyncio.run(main())
"#;
    let out = Command::new("python3")
        .args(["-c", script, &format!("ws://{addr}/echo")])
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout,
        "handshake 101 True\ntext 'héllo, lesson 09'\nbinary bytes True\nclosed 1000\n"
    );
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_sees_the_101_and_the_rfc_accept_value() {
    let (_server, addr) = server(&[]);
    // After the 101 curl waits for more (the WebSocket), so it is stopped by --max-time.
    let out = Command::new("curl")
        .args(["-i", "-N", "--silent", "--max-time", "1"])
        .args(["-H", "Connection: Upgrade", "-H", "Upgrade: websocket"])
        .args(["-H", "Sec-WebSocket-Version: 13"])
        .args(["-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
        .arg(format!("http://{addr}/chat"))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{stdout}"
    );
    // And another version gets a 426 that names 13, with the reason in the body.
    let out = Command::new("curl")
        .args(["-i", "--silent", "--max-time", "5"])
        .args(["-H", "Connection: Upgrade", "-H", "Upgrade: websocket"])
        .args(["-H", "Sec-WebSocket-Version: 8"])
        .args(["-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="])
        .arg(format!("http://{addr}/chat"))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\r\nSec-WebSocket-Version: 13\r\n"),
        "{stdout}"
    );
    assert!(stdout.contains("this server speaks 13"), "{stdout}");
}

#[test]
fn explain_prints_the_rfc_steps() {
    let out = Command::new(env!("CARGO_BIN_EXE_09-ws-handshake"))
        .args(["--explain", "dGhlIHNhbXBsZSBub25jZQ=="])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("7468652073616d706c65206e6f6e6365"), "{text}"); // "the sample nonce"
    assert!(text.contains("dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"));
    assert!(text.contains("b37a4f2cc0624f1690f64606cf385945b2bec4ea"));
    assert!(text.ends_with("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\n"), "{text}");
}

#[test]
fn origin_off_the_allow_list_is_refused_with_403() {
    // Not graded (a grader cannot pass flags), so tested here.
    let (_server, addr) = server(&["--origin", "http://allowed.example"]);
    for (origin, status) in [
        ("http://allowed.example", "101"),
        ("http://evil.example", "403"),
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let req = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Origin: {origin}\r\n\r\n"
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut buf = [0u8; 12];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf[9..12], status.as_bytes(), "{origin}");
    }
}

// ---- Broken servers: one mistake each ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mistake {
    /// A typo in the GUID.
    WrongGuid,
    /// Hashes the 16 decoded bytes instead of the key's text.
    DecodesTheKey,
    /// Sends the SHA-1 in hex instead of base64.
    HexAccept,
    NoUpgradeCheck,
    NoConnectionCheck,
    /// `Connection == "Upgrade"` and `Upgrade == "websocket"` as whole strings.
    WholeStrings,
    /// Refuses another version with a 400 that does not name 13.
    VersionWithout13,
    /// Switches whatever the version.
    AnyVersion,
    /// Takes any key.
    AnyKey,
    /// Always answers `Sec-WebSocket-Protocol: chat`.
    HardcodedProtocol,
    /// Copies the client's Sec-WebSocket-Extensions into the 101.
    EchoesExtensions,
    /// Takes the first read as the whole head.
    OneReadIsTheHead,
    /// Forgets the bytes after the head.
    DropsBytesAfterTheHead,
    /// Upgrades POST and HTTP/1.0.
    AnyMethodAndVersion,
    /// After a refusal, reads the next request.
    KeepsReadingAfterARefusal,
    /// Waits for the head forever.
    NoTimeout,
}

use Mistake::*;

fn start(mistake: Option<Mistake>) -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || serve(conn, mistake));
        }
    });
    vec![Listener {
        scheme: "ws".into(),
        addr,
    }]
}

fn has(m: Option<Mistake>, which: Mistake) -> bool {
    m == Some(which)
}

/// A thread-per-connection handshake and echo server, right except for `m`.
fn serve(mut conn: TcpStream, m: Option<Mistake>) {
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut buf = Vec::new();
    loop {
        // Read until the blank line, with a deadline from the first byte.
        let end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if has(m, OneReadIsTheHead) && !buf.is_empty() {
                break buf.len();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if !has(m, NoTimeout) && left.is_zero() {
                let _ = conn.write_all(&refusal(408, "too slow", ""));
                return linger_and_close(conn);
            }
            let wait = if has(m, NoTimeout) { None } else { Some(left) };
            conn.set_read_timeout(wait).unwrap();
            let mut chunk = [0u8; 4096];
            match conn.read(&mut chunk) {
                Ok(0) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return,
            }
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        buf.drain(..end);
        match answer(&head, m) {
            Ok(response) => {
                conn.write_all(&response).unwrap();
                if has(m, DropsBytesAfterTheHead) {
                    buf.clear();
                }
                return echo(conn, buf);
            }
            Err(refused) => {
                let _ = conn.write_all(&refused);
                if !has(m, KeepsReadingAfterARefusal) {
                    return linger_and_close(conn);
                }
            }
        }
    }
}

/// The 101 for a head, or the refusal.
fn answer(head: &str, m: Option<Mistake>) -> Result<Vec<u8>, Vec<u8>> {
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let get = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let has_token = |name: &str, token: &str| {
        get(name).is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let bad = |reason: &str| Err(refusal(400, reason, ""));
    let get_over_http11 = request_line.starts_with("GET ") && request_line.ends_with(" HTTP/1.1");
    if !has(m, AnyMethodAndVersion) && !get_over_http11 {
        return bad("not a GET over HTTP/1.1");
    }
    let upgrade_ok = if has(m, WholeStrings) {
        get("upgrade") == Some("websocket")
    } else {
        has_token("upgrade", "websocket")
    };
    if !has(m, NoUpgradeCheck) && !upgrade_ok {
        return bad("no Upgrade: websocket");
    }
    let connection_ok = if has(m, WholeStrings) {
        get("connection") == Some("Upgrade")
    } else {
        has_token("connection", "upgrade")
    };
    if !has(m, NoConnectionCheck) && !connection_ok {
        return bad("no Connection: Upgrade");
    }
    if !has(m, AnyVersion) && get("sec-websocket-version") != Some("13") {
        return Err(if has(m, VersionWithout13) {
            refusal(400, "bad version", "")
        } else {
            refusal(426, "bad version", "Sec-WebSocket-Version: 13\r\n")
        });
    }
    let key = get("sec-websocket-key").unwrap_or("");
    let decoded = STANDARD.decode(key).ok().filter(|k| k.len() == 16);
    if !has(m, AnyKey) && decoded.is_none() {
        return bad("bad key");
    }
    let guid = if has(m, WrongGuid) {
        "258EAFA5-E914-47DA-95CA-5AB0DC85B11C"
    } else {
        "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    };
    let hashed: Vec<u8> = if has(m, DecodesTheKey) {
        decoded.unwrap_or_default()
    } else {
        key.as_bytes().to_vec()
    };
    let digest = Sha1::digest([&hashed[..], guid.as_bytes()].concat());
    let accept = if has(m, HexAccept) {
        digest.iter().map(|b| format!("{b:02x}")).collect()
    } else {
        STANDARD.encode(digest)
    };
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    if has(m, HardcodedProtocol) {
        out.push_str("Sec-WebSocket-Protocol: chat\r\n");
    }
    if let (true, Some(ext)) = (has(m, EchoesExtensions), get("sec-websocket-extensions")) {
        out.push_str(&format!("Sec-WebSocket-Extensions: {ext}\r\n"));
    }
    out.push_str("\r\n");
    Ok(out.into_bytes())
}

fn refusal(status: u16, reason: &str, extra: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status} Refused\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n{reason}",
        reason.len()
    )
    .into_bytes()
}

/// Echo masked frames of under 126 bytes, unmasked, until the client stops.
fn echo(mut conn: TcpStream, mut buf: Vec<u8>) {
    conn.set_read_timeout(None).unwrap();
    loop {
        while buf.len() >= 6 && buf.len() >= 6 + (buf[1] & 0x7f) as usize {
            let len = (buf[1] & 0x7f) as usize;
            let mask = [buf[2], buf[3], buf[4], buf[5]];
            let payload: Vec<u8> = buf[6..6 + len]
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            let _ = conn.write_all(&[&[buf[0], len as u8][..], &payload].concat());
            buf.drain(..6 + len);
        }
        let mut chunk = [0u8; 4096];
        match conn.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Close after a refusal without resetting: stop sending, read what is left, then close.
fn linger_and_close(conn: TcpStream) {
    let _ = conn.shutdown(std::net::Shutdown::Write);
    conn.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let mut sink = [0u8; 4096];
    while matches!((&conn).read(&mut sink), Ok(n) if n > 0) {}
}

fn broken_servers() -> Vec<Broken> {
    let cases: &[(Mistake, &'static [&'static str])] = &[
        (WrongGuid, &["wrong_accept_key"]),
        (DecodesTheKey, &["wrong_accept_key"]),
        (HexAccept, &["wrong_accept_key"]),
        (
            NoUpgradeCheck,
            &["accepts_a_request_without_upgrade_websocket"],
        ),
        (
            NoConnectionCheck,
            &["accepts_a_request_without_connection_upgrade"],
        ),
        (WholeStrings, &["compares_header_values_as_whole_strings"]),
        (VersionWithout13, &["wrong_answer_to_another_version"]),
        (AnyVersion, &["wrong_answer_to_another_version"]),
        (AnyKey, &["accepts_a_key_that_is_not_16_bytes"]),
        (
            HardcodedProtocol,
            &["picks_a_subprotocol_the_client_did_not_offer"],
        ),
        (
            EchoesExtensions,
            &["accepts_an_extension_nobody_implements"],
        ),
        (OneReadIsTheHead, &["assumes_one_read_is_one_handshake"]),
        (DropsBytesAfterTheHead, &["loses_frames_sent_with_the_head"]),
        (
            AnyMethodAndVersion,
            &["upgrades_a_post_or_an_http10_request"],
        ),
        (
            KeepsReadingAfterARefusal,
            &["keeps_the_connection_open_after_a_refusal"],
        ),
        (NoTimeout, &["has_no_handshake_timeout"]),
    ];
    cases
        .iter()
        .map(|&(m, must_fail)| broken(format!("{m:?}"), move || start(Some(m)), must_fail))
        .collect()
}

#[test]
fn the_broken_servers_correct_twin_passes_every_check() {
    // So that each broken server fails for its mistake, not for the rest of its code.
    assert_passes(LESSON, Target::Running(start(None)));
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

#[test]
fn each_broken_server_is_caught() {
    quiet_broken_server_panics();
    let broken = broken_servers();
    assert_all_caught_by_workers(LESSON, &broken, 8);
}
