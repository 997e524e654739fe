//! Lesson 08: the reference server against programs nobody here wrote: headless Chromium running
//! the lesson's page (fetch polling, long polling, a fetch stream, EventSource and a WebSocket),
//! curl on each HTTP technique, Python's `websockets` on `/ws`; then `/ws` from a raw socket (the
//! handshake, the cursor, ping, the 1003 for data, a reader too slow to keep), the `measure`
//! command, and a graceful shutdown seen from the wire.
//! (`course check 08` against the reference and broken servers is tests/lesson08_http_realtime.rs.)

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The reference on a free port, with extra flags; stopped when the Peer is dropped.
fn server(extra: &[&str]) -> (Peer, SocketAddr) {
    let (peer, listeners) = start_peer(
        Command::new(env!("CARGO_BIN_EXE_08-http-realtime"))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra),
    );
    assert_eq!(listeners[0].scheme, "http");
    (peer, listeners[0].addr)
}

/// Publish `data` with a raw POST; returns the new event's id.
fn publish(addr: SocketAddr, data: &str) -> u64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /api/publish HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{data}",
        data.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let at = answer.find("{\"id\":").expect("an id") + 6;
    answer[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// curl with `args`, in the background; its output once it exits (by --max-time).
fn curl_background(args: &[&str]) -> std::process::Child {
    Command::new("curl")
        .args(["--silent", "--no-buffer"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs")
}

fn output(child: std::process::Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
}

#[test]
#[cfg_attr(
    missing_browser,
    ignore = "peer test: node, chromium or playwright-core not found (scripts/test.sh installs them)"
)]
fn chromium_runs_the_page_and_every_technique_receives_every_event() {
    let (_server, addr) = server(&["--tick-ms", "500"]);
    let out = Command::new("node")
        .arg(repo("tests/browser/lesson08.mjs"))
        .arg(format!("http://{addr}"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The script checks the five panels itself; here, that it got that far.
    for name in [
        "\"poll\"",
        "\"longpoll\"",
        "\"stream\"",
        "\"sse\"",
        "\"ws\"",
    ] {
        assert!(stdout.contains(name), "{stdout}");
    }
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_follows_the_stream_and_the_event_stream_as_events_are_published() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let first = publish(addr, "before anyone listens");
    let stream = curl_background(&["--max-time", "2", &format!("http://{addr}/stream")]);
    // Last-Event-ID: what a browser sends when it comes back; the one event after it is resent.
    let sse = curl_background(&[
        "--max-time",
        "2",
        "-H",
        &format!("Last-Event-ID: {}", first - 1),
        &format!("http://{addr}/events"),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let ids: Vec<u64> = ["one", "two \"quoted\""]
        .iter()
        .map(|d| publish(addr, d))
        .collect();
    let stream = output(stream);
    let expected_stream = format!(
        "{{\"id\":{},\"data\":\"one\"}}\n{{\"id\":{},\"data\":\"two \\\"quoted\\\"\"}}\n",
        ids[0], ids[1]
    );
    assert_eq!(stream, expected_stream);
    let sse = output(sse);
    let expected_sse = format!(
        "retry: 2000\n\nid: {first}\ndata: before anyone listens\n\nid: {}\ndata: one\n\nid: {}\ndata: two \"quoted\"\n\n",
        ids[0], ids[1]
    );
    assert_eq!(sse, expected_sse);
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_long_poll_gets_204_after_its_timeout_on_a_connection_it_then_reuses() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let out = Command::new("curl")
        .args(["--silent", "--max-time", "10"])
        .args([
            "--write-out",
            "%{http_code} %{num_connects}\n",
            "--output",
            "/dev/null",
        ])
        .arg(format!("http://{addr}/longpoll?timeout=1"))
        .args([
            "--write-out",
            "%{http_code} %{num_connects}\n",
            "--output",
            "/dev/null",
        ])
        .arg(format!("http://{addr}/poll"))
        .output()
        .unwrap();
    // 204 on a new connection, then 200 with no new connection: the held request ended cleanly.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "204 1\n200 0\n");
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_http10_gets_the_stream_unframed_and_closed() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let id = publish(addr, "for an old client");
    let out = output(curl_background(&[
        "--http1.0",
        "--max-time",
        "1",
        "--include",
        &format!("http://{addr}/stream?since={}", id - 1),
    ]));
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("transfer-encoding"),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "\r\n\r\n{{\"id\":{id},\"data\":\"for an old client\"}}\n"
        )),
        "{out}"
    );
}

#[test]
fn measure_delivers_every_event_by_every_technique_and_draws_two_charts() {
    let dir = std::env::temp_dir().join(format!("netcourse-08-measure-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_08-http-realtime"))
        .args([
            "measure",
            "--events",
            "6",
            "--interval-ms",
            "50",
            "--poll-ms",
            "200",
        ])
        .arg("--charts")
        .arg(&dir)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for transport in [
        "| polling | 6/6 |",
        "| long polling | 6/6 |",
        "| streaming | 6/6 | 1 |",
        "| SSE | 6/6 | 1 |",
        "| WebSocket | 6/6 | 1 |",
    ] {
        assert!(table.contains(transport), "no {transport:?} in\n{table}");
    }
    for chart in ["08-bytes-per-event.svg", "08-latency.svg"] {
        let svg = std::fs::read_to_string(dir.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("long polling") && svg.contains("WebSocket"),
            "{chart}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigterm_ends_streams_with_the_last_chunk_and_answers_held_polls() {
    let (server, addr) = server(&["--tick-ms", "0"]);
    let open = |request: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s
    };
    let mut stream = open("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut poll = open("GET /longpoll?timeout=30 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    assert!(all.contains("Transfer-Encoding: chunked"), "{all}");
    assert!(all.ends_with("\r\n\r\n0\r\n\r\n"), "{all:?}");
    let mut answer = String::new();
    poll.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 204 "), "{answer}");
}

/// A number from the server's `/api/stats`.
fn stat(addr: SocketAddr, name: &str) -> u64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(b"GET /api/stats HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let key = format!("\"{name}\":");
    let at = answer.find(&key).unwrap_or_else(|| panic!("{answer}")) + key.len();
    answer[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// Wait (a bounded number of looks) until the server has `n` connections besides the one that
/// asks (WebSocket clients, here: `/api/stats` does not count them apart).
fn wait_for_connections(addr: SocketAddr, n: u64) {
    for _ in 0..200 {
        if stat(addr, "connections") == n + 1 {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("the server never had {n} connections besides the one asking");
}

/// A raw WebSocket client of `/ws?since=N` with the key of RFC 6455 1.3; returns the socket
/// and what came after the 101's head.
fn raw_websocket(addr: SocketAddr, since: u64) -> (TcpStream, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /ws?since={since} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let mut got = Vec::new();
    let end = loop {
        if let Some(i) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed before the 101: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&got[..end]).into_owned();
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    // RFC 6455 1.3: this key's accept value.
    assert!(
        head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
        "{head}"
    );
    (s, got[end..].to_vec())
}

/// The next whole frame from `s` (after `pending`): FIN and opcode byte, payload. The test's
/// own reader: server frames are unmasked, and these are short (7-bit or 16-bit length).
fn read_frame(s: &mut TcpStream, pending: &mut Vec<u8>) -> (u8, Vec<u8>) {
    loop {
        if pending.len() >= 2 {
            assert_eq!(pending[1] & 0x80, 0, "a server frame must not be masked");
            let (at, len) = match pending[1] & 0x7f {
                126 if pending.len() >= 4 => {
                    (4, u16::from_be_bytes([pending[2], pending[3]]) as usize)
                }
                126 => (usize::MAX, 0),
                127 => panic!("no frame here is that long"),
                n => (2, n as usize),
            };
            if at != usize::MAX && pending.len() >= at + len {
                let frame: Vec<u8> = pending.drain(..at + len).collect();
                return (frame[0], frame[at..].to_vec());
            }
        }
        let mut buf = [0u8; 65536];
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "the connection ended in the middle of {pending:?}");
        pending.extend_from_slice(&buf[..n]);
    }
}

/// A client frame: FIN, `opcode`, masked with RFC 6455 5.7's key.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut frame = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&key);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    frame
}

#[test]
#[cfg_attr(
    missing_websockets,
    ignore = "peer test: Python's websockets not found (scripts/test.sh installs it)"
)]
fn python_websockets_follows_the_feed_on_ws_from_its_cursor_in_order() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let first = publish(addr, "before anyone listens");
    publish(addr, "also before");
    // Python's own client (not ours): it prints each text message it receives, three of them,
    // then closes normally.
    let client = Command::new("python3")
        .args([
            "-c",
            "import sys\n\
             from websockets.sync.client import connect\n\
             with connect(sys.argv[1], open_timeout=10, close_timeout=5) as ws:\n\
             \x20   for _ in range(int(sys.argv[2])):\n\
             \x20       print(ws.recv(timeout=10), flush=True)\n",
        ])
        .arg(format!("ws://{addr}/ws?since={first}"))
        .arg("3")
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    wait_for_connections(addr, 1);
    let ids: Vec<u64> = ["one", "two \"quoted\" é"]
        .iter()
        .map(|d| publish(addr, d))
        .collect();
    let out = client.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{{\"id\":{},\"data\":\"also before\"}}\n{{\"id\":{},\"data\":\"one\"}}\n{{\"id\":{},\"data\":\"two \\\"quoted\\\" é\"}}\n",
            first + 1,
            ids[0],
            ids[1]
        )
    );
    // Its Close was answered and the server let go of it.
    wait_for_connections(addr, 0);
}

#[test]
fn ws_from_a_raw_socket_backlog_events_ping_and_1003_for_data() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let first = publish(addr, "a");
    let (mut s, mut pending) = raw_websocket(addr, first - 1);
    // The backlog after the cursor: 0x81 = FIN and text, then the event's JSON.
    assert_eq!(
        read_frame(&mut s, &mut pending),
        (
            0x81,
            format!("{{\"id\":{first},\"data\":\"a\"}}").into_bytes()
        )
    );
    let next = publish(addr, "b");
    assert_eq!(
        read_frame(&mut s, &mut pending),
        (
            0x81,
            format!("{{\"id\":{next},\"data\":\"b\"}}").into_bytes()
        )
    );
    // A ping is answered with a pong (0x8a) carrying its payload.
    s.write_all(&client_frame(0x9, b"are you there")).unwrap();
    assert_eq!(
        read_frame(&mut s, &mut pending),
        (0x8a, b"are you there".to_vec())
    );
    // A text message: the feed takes none. Close (0x88) with 1003, then the server's FIN.
    s.write_all(&client_frame(0x1, b"hello?")).unwrap();
    let (op, payload) = read_frame(&mut s, &mut pending);
    assert_eq!(
        (op, &payload[..2]),
        (0x88, &[0x03, 0xeb][..]),
        "{payload:?}"
    );
    s.write_all(&client_frame(0x8, &payload[..2])).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty() && pending.is_empty(), "{rest:?}");
}

#[test]
fn ws_refuses_what_is_not_a_handshake() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    for (request, status) in [
        // No Upgrade at all: lesson 09's refusal, not a stream.
        ("GET /ws HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 4"),
        (
            "POST /ws HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
            "HTTP/1.1 405",
        ),
        (
            "GET /ws HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            "HTTP/1.1 426",
        ),
    ] {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with(status), "{request:?}: {answer}");
    }
}

#[test]
fn a_websocket_client_that_does_not_read_is_dropped_and_the_others_get_everything() {
    let (_server, addr) = server(&["--tick-ms", "0", "--max-output", "65536"]);
    let since = publish(addr, "start");
    // The silent client: a tiny receive buffer, and it never reads.
    let silent = {
        let sock =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        sock.set_recv_buffer_size(4096).unwrap();
        sock.connect(&addr.into()).unwrap();
        let mut s: TcpStream = sock.into();
        write!(
            s,
            "GET /ws?since={since} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        .unwrap();
        s
    };
    // The reader, on a thread: it reads every frame, checking that none is missing, until the
    // event whose data is "done".
    let (mut reader, mut pending) = raw_websocket(addr, since);
    let reading = std::thread::spawn(move || {
        let mut seen = since;
        loop {
            let (op, payload) = read_frame(&mut reader, &mut pending);
            assert_eq!(op, 0x81);
            let text = String::from_utf8_lossy(&payload);
            let id: u64 = text[6..text.find(',').unwrap()].parse().unwrap();
            assert_eq!(id, seen + 1, "in order, none missing");
            seen = id;
            if text.ends_with("\"done\"}") {
                return seen;
            }
        }
    });
    wait_for_connections(addr, 2);
    // Publish 4 KB events, 32 per write on one keep-alive connection, until the server has let
    // the silent client go: at most 4,000 events (16 MB), far more than 64 KiB and the kernel's
    // buffers can hold.
    let mut publisher = TcpStream::connect(addr).unwrap();
    publisher
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let data = "x".repeat(4000);
    let mut last = since;
    let mut dropped = false;
    for _ in 0..125 {
        let batch: String = (0..32)
            .map(|_| {
                format!(
                    "POST /api/publish HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{data}",
                    data.len()
                )
            })
            .collect();
        publisher.write_all(batch.as_bytes()).unwrap();
        // 32 answers, each `{"id":N}\n` after its head.
        let mut answers = Vec::new();
        while answers.windows(6).filter(|w| w == b"{\"id\":").count() < 32
            || !answers.ends_with(b"}\n")
        {
            let mut buf = [0u8; 65536];
            let n = publisher.read(&mut buf).unwrap();
            assert!(n > 0, "the publisher's connection ended");
            answers.extend_from_slice(&buf[..n]);
        }
        last += 32;
        // The reader, this publisher and the one asking: the silent client is gone.
        if stat(addr, "connections") == 3 {
            dropped = true;
            break;
        }
    }
    assert!(
        dropped,
        "the silent client was never dropped, {} events later",
        last - since
    );
    let done = publish(addr, "done");
    assert_eq!(done, last + 1);
    assert_eq!(reading.join().unwrap(), done);
    drop(silent);
}

#[test]
fn sigterm_sends_every_websocket_client_close_1001() {
    let (server, addr) = server(&["--tick-ms", "0"]);
    let (mut s, mut pending) = raw_websocket(addr, 0);
    wait_for_connections(addr, 1);
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let (op, payload) = read_frame(&mut s, &mut pending);
    assert_eq!(op, 0x88, "a Close frame");
    assert_eq!(
        &payload[..2],
        &[0x03, 0xe9],
        "1001, going away: {payload:?}"
    );
    assert_eq!(&payload[2..], b"the server is shutting down");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}
