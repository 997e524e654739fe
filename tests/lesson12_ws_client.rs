//! Lesson 12: the client against servers nobody here wrote (Python's `websockets`, Node's
//! `ws`), driven through its stdin like a person at a terminal; its refusals (a 403, a wrong
//! accept key, an extension it never offered); the grader passing the reference and two
//! independent clients and catching one broken client per check; and a slice of Autobahn's
//! client cases through kosoku (the full run is scripts/autobahn.sh).

mod common;

use common::*;
use netcourse::grader::{self, Options, Target};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

const LESSON: u32 = 12;
const CLIENT: &str = env!("CARGO_BIN_EXE_12-ws-client");

/// Run the interactive client on `url` with `input` on stdin (closed after it: EOF starts the
/// closing handshake).
fn interactive(url: &str, args: &[&str], input: &[u8]) -> Output {
    pipe_through(
        Command::new(CLIENT)
            .args(args)
            .arg(url)
            .stderr(Stdio::piped()),
        input.to_vec(),
    )
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Wait for a child, killing it after 30 s so that a hung client fails instead of hanging.
fn wait_bounded(mut child: Child) -> Output {
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client did not exit within 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// Start the interactive client on `url`, write `input`, read `lines` lines of stdout, and only
/// then close stdin: EOF starts the closing handshake, and a server that has our Close stops
/// sending, so closing before the echoes are in would lose them (as with any client).
fn converse(url: &str, args: &[&str], input: &[u8], lines: usize) -> (Output, String) {
    use std::io::BufRead;
    let mut child = Command::new(CLIENT)
        .args(args)
        .arg(url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = thread::spawn(move || {
        stdin.write_all(&input).unwrap();
        stdin
    });
    let mut reader = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut got = String::new();
    for _ in 0..lines {
        if reader.read_line(&mut got).unwrap() == 0 {
            break;
        }
    }
    drop(writer.join().unwrap()); // EOF
    let out = wait_bounded(child);
    (out, got)
}

/// The same conversation with any echo server: text, an empty message, one byte, binary, a
/// ping, then EOF on stdin closes with 1000.
fn basic_conversation(url: &str) {
    let (out, o) = converse(
        url,
        &[],
        b"hello\n\nx\n/binary 00ff10\n/ping are you there\n",
        4,
    );
    let e = stderr(&out);
    assert!(out.status.success(), "{o}\n{e}");
    assert_eq!(
        o, "< hello\n< \n< x\n< binary, 3 bytes: 00ff10\n",
        "stderr:\n{e}"
    );
    assert!(e.contains("* pong \"are you there\""), "{e}");
    assert!(e.contains("answered our Close with 1000"), "{e}");
}

/// A message of several MiB, both ways, through stdin and stdout.
fn large_messages(url: &str) {
    let text = "0123456789abcdef".repeat(3 << 16); // 3 MiB
    let binary: Vec<u8> = (0..(1 << 20)).map(|i| (i * 7) as u8).collect(); // 1 MiB
    let hex: String = binary.iter().map(|b| format!("{b:02x}")).collect();
    let input = format!("{text}\n/binary {hex}\n");
    let (out, o) = converse(url, &[], input.as_bytes(), 2);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut lines = o.lines();
    assert_eq!(lines.next().map(str::len), Some(2 + text.len()));
    assert!(lines
        .next()
        .unwrap()
        .starts_with("< binary, 1048576 bytes: 00070e15"));
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
fn talks_to_the_websockets_library_server() {
    let (_peer, listeners) = start_peer(Command::new("python3").args([
        &repo("tests/peers/ws_echo.py"),
        "--addr",
        "127.0.0.1:0",
    ]));
    basic_conversation(&format!("ws://{}/", listeners[0].addr));
}

#[test]
#[cfg_attr(
    missing_node_ws,
    ignore = "peer test: node or its ws package not found (scripts/test.sh installs them)"
)]
fn talks_to_nodes_ws_server_closes_second_and_carries_megabytes() {
    let (_peer, listeners) =
        start_peer(Command::new("node").arg(repo("tests/peers/ws_node_echo.mjs")));
    let url = format!("ws://{}/", listeners[0].addr);
    basic_conversation(&url);
    large_messages(&url);

    // The server closes first (with 4001): stdin stays open, the client answers and exits 0.
    let mut child = Command::new(CLIENT)
        .arg(&url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"close-me 4001 done here\n").unwrap();
    let out = wait_bounded(child);
    drop(stdin);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the server closed with 4001 \"done here\" and closed TCP"),
        "{}",
        stderr(&out)
    );

    // A refused handshake: the status and the server's reason, exit 1.
    let out = interactive(&format!("{url}refuse"), &[], b"");
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(
        e.contains("403") && e.contains("refused by the test server"),
        "{e}"
    );
}

#[test]
fn a_refused_handshake_shows_the_status_and_the_reason() {
    // Lesson 09's server with an Origin allow-list: another origin gets a 403 with a reason.
    let (_peer, listeners) =
        start_peer(Command::new(env!("CARGO_BIN_EXE_09-ws-handshake")).args([
            "--addr",
            "127.0.0.1:0",
            "--origin",
            "http://good.example",
        ]));
    let url = format!("ws://{}/", listeners[0].addr);
    let out = interactive(&url, &["--origin", "http://evil.example"], b"hi\n");
    assert_eq!(out.status.code(), Some(1));
    let e = stderr(&out);
    assert!(e.contains("403") && e.contains("body:"), "{e}");
    // The same server with the right origin: a conversation.
    let (out, o) = converse(&url, &["--origin", "http://good.example"], b"hi\n", 1);
    assert_eq!(o, "< hi\n", "{}", stderr(&out));
}

/// A one-connection server that reads the upgrade request, writes `response` (with `{accept}`
/// replaced by the right accept value) and a text frame, and returns the request and every
/// byte the client sent after it.
fn fake_server(response: &'static str) -> (SocketAddr, thread::JoinHandle<(String, Vec<u8>)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = thread::spawn(move || {
        let (mut s, _) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            assert_eq!(s.read(&mut byte).unwrap(), 1);
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        let key = head
            .lines()
            .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
            .unwrap();
        use base64::Engine;
        use sha1::Digest;
        let accept = base64::engine::general_purpose::STANDARD.encode(sha1::Sha1::digest(format!(
            "{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        )));
        let response = response.replace("{accept}", &accept);
        s.write_all(response.as_bytes()).unwrap();
        s.write_all(b"\x81\x05Hello").unwrap();
        let mut after = Vec::new();
        let _ = s.read_to_end(&mut after);
        (head, after)
    });
    (addr, handle)
}

#[test]
fn a_wrong_accept_key_fails_the_connection_before_any_frame() {
    let (addr, server) = fake_server(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let out = interactive(&format!("ws://{addr}/"), &[], b"hi\n");
    let (_, after) = server.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("Sec-WebSocket-Accept"),
        "{}",
        stderr(&out)
    );
    assert_eq!(after, b"", "nothing is sent after a wrong accept key");
    assert_eq!(stdout(&out), "", "the server's frame is not delivered");
}

#[test]
fn no_extension_is_offered_and_an_unoffered_one_fails_the_connection() {
    let (addr, server) = fake_server(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
    );
    let out = interactive(&format!("ws://{addr}/"), &[], b"hi\n");
    let (request, after) = server.join().unwrap();
    assert!(
        !request
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "the client offers no extension:\n{request}"
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("permessage-deflate"),
        "{}",
        stderr(&out)
    );
    assert_eq!(after, b"");
}

#[test]
fn lesson_11_declines_permessage_deflate() {
    let (_peer, listeners) = start_peer(
        Command::new(env!("CARGO_BIN_EXE_11-ws-server")).args(["--addr", "127.0.0.1:0"]),
    );
    let mut s = std::net::TcpStream::connect(listeners[0].addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(
        b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
          Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1);
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "the offer is declined by not echoing it:\n{head}"
    );
}

// ---- The grader ------------------------------------------------------------------------------

#[test]
fn reference_client_passes_every_check() {
    assert_passes(LESSON, Target::Command(format!("{CLIENT} echo {{url}}")));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn an_independent_raw_socket_client_passes_every_check() {
    assert_passes(
        LESSON,
        Target::Command(format!(
            "python3 {} {{url}}",
            repo("tests/peers/ws_client_raw.py")
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
fn the_websockets_library_client_passes_every_check() {
    assert_passes(
        LESSON,
        Target::Command(format!(
            "python3 {} {{url}}",
            repo("tests/peers/ws_client_echo.py")
        )),
    );
}

/// Each `--break` of the raw client and the check that must catch it.
const BROKEN: &[(&str, &str)] = &[
    ("bad_request", "sends_a_bad_upgrade_request"),
    ("unmasked", "sends_unmasked_frames"),
    ("fixed_mask", "reuses_one_masking_key"),
    ("ignore_accept", "ignores_a_wrong_accept_key"),
    (
        "ignore_extensions",
        "accepts_an_unoffered_extension_or_subprotocol",
    ),
    ("accept_masked", "accepts_masked_server_frames"),
    ("no_pong", "does_not_answer_ping"),
    ("wrong_pong", "does_not_answer_ping"),
    ("one_read_one_frame", "loses_split_frames"),
    ("short_lengths", "mishandles_16_and_64_bit_lengths"),
    ("no_utf8_check", "accepts_invalid_utf8"),
    ("close_1000", "does_not_echo_close_code"),
    ("close_tcp_first", "closes_tcp_before_the_server"),
];

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn each_broken_client_is_caught_by_its_check() {
    let suite = grader::suite(LESSON).unwrap();
    for check in suite.checks {
        assert!(
            BROKEN.iter().any(|(_, c)| *c == check.name),
            "no broken client proves that {} can fail",
            check.name
        );
    }
    let problems: Vec<String> = BROKEN
        .chunks(4)
        .flat_map(|batch| {
            thread::scope(|scope| {
                let running: Vec<_> = batch
                    .iter()
                    .map(|(mistake, check)| {
                        scope.spawn(move || {
                            let target = Target::Command(format!(
                                "python3 {} --break {mistake} {{url}}",
                                repo("tests/peers/ws_client_raw.py")
                            ));
                            let options = Options {
                                only: Some(check.to_string()),
                                ..quick()
                            };
                            let (report, out) = grade(LESSON, &target, &options);
                            (report.failed() != [*check])
                                .then(|| format!("--break {mistake} should fail {check}:\n{out}"))
                        })
                    })
                    .collect();
                running
                    .into_iter()
                    .filter_map(|t| t.join().unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- Autobahn --------------------------------------------------------------------------------

#[test]
#[cfg_attr(
    missing_kosoku,
    ignore = "peer test: kosoku not found (scripts/test.sh installs it)"
)]
fn autobahn_client_cases_pass_a_slice() {
    // A slice that runs in seconds in a debug build; scripts/autobahn.sh runs all 301 cases.
    let dir = std::env::temp_dir().join(format!("netcourse-autobahn-{}", std::process::id()));
    let mut kosoku = Command::new("kosoku")
        .args(["-m", "fuzzingserver", "-o"])
        .arg(&dir)
        .args(["-i", "1.*", "-i", "2.*", "-i", "3.*", "-i", "4.*"])
        .args(["-i", "5.1*", "-i", "6.2.*", "-i", "6.4.1", "-i", "7.*"])
        .args(["-i", "9.1.1", "-i", "10.*", "127.0.0.1:0"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kosoku starts");
    // "fuzzingserver listening on ws://127.0.0.1:PORT" on stderr.
    let mut err = kosoku.stderr.take().unwrap();
    let mut seen = Vec::new();
    let url = loop {
        let mut b = [0u8; 256];
        let n = err.read(&mut b).unwrap();
        assert!(n > 0, "kosoku said: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&b[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(line) = text.lines().find(|l| l.contains("listening on ws://")) {
            if text.contains('\n') {
                break line.rsplit(' ').next().unwrap().to_string();
            }
        }
    };
    thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let out = wait_bounded(
        Command::new(CLIENT)
            .args(["autobahn", "--url", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let _ = wait_bounded(kosoku);
    let index = std::fs::read_to_string(dir.join("index.json")).expect("kosoku wrote its report");
    let _ = std::fs::remove_dir_all(&dir);
    // Every verdict OK, or INFORMATIONAL for the cases that only inform (7.1.6, 7.13.*).
    // Entries read `"1.1.1": {"behavior": "OK", "behaviorClose": "OK", ...}`: each case gives
    // two (field, verdict) pairs, ("", behavior) and ("Close", behaviorClose).
    let verdicts: Vec<(&str, &str)> = index
        .split("\"behavior")
        .skip(1)
        .map(|v| {
            (
                v.split('"').next().unwrap_or(""),
                v.split('"').nth(2).unwrap_or(""),
            )
        })
        .collect();
    assert!(
        verdicts.len() > 2 * 90,
        "99 cases, each with two verdicts: {index}"
    );
    let bad: Vec<_> = verdicts
        .iter()
        .filter(|(_, v)| *v != "OK" && *v != "INFORMATIONAL")
        .collect();
    assert!(bad.is_empty(), "not OK: {bad:?}\nclient: {}", stderr(&out));
}
