//! Lesson 11: the reference server against programs nobody here wrote: Python's `websockets`
//! client and Node's `ws` client on /echo (every kind and size of message, fragments, ping,
//! every way a connection ends), headless Chromium running the chat page, and curl on the
//! handshake. Then what a learner would check with ordinary tools, done with raw sockets and a
//! frame encoder of this file's own (not src/ws): the Origin allow-list, subprotocols, 404,
//! 400 and 408, the page on a kept-alive connection, the chat's 1003 and 1008, and the pings of
//! an idle connection.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_11-ws-server");

/// The RFC 6455 1.3 sample key and the accept value it must produce.
const SAMPLE_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";
const SAMPLE_ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

/// The reference on a free port, with extra flags; stopped when the Peer is dropped.
fn server(extra: &[&str]) -> (Peer, SocketAddr) {
    let (peer, listeners) = start_peer(
        Command::new(BIN)
            .args(["--addr", "127.0.0.1:0"])
            .args(extra),
    );
    assert_eq!(listeners[0].scheme, "ws");
    (peer, listeners[0].addr)
}

/// Run a client script (it starts its own servers from BIN) and check that it got through
/// every case: one `ok CASE` line each, then `all cases passed`.
fn run_client_script(program: &str, script: &str, cases: &[&str]) {
    let out = Command::new(program)
        .arg(repo(script))
        .arg(BIN)
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let done: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("ok "))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(done, cases, "{stdout}");
    assert!(stdout.ends_with("all cases passed\n"), "{stdout}");
}

/// The cases both client scripts run, in order.
const CASES: &[&str] = &[
    "text",
    "non-ascii text",
    "binary",
    "empty text",
    "empty binary",
    "1-byte",
    "4 MiB",
    "16 MiB",
    "fragmented",
    "ping",
    "client close 1000",
    "client close 4000",
    "server close 1009",
    "server close 1009 fragmented",
    "server close 1007",
    "server close 1007 fragmented",
    "server close 1002",
];

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
#[cfg_attr(
    missing_websockets,
    ignore = "peer test: Python's websockets library not found (scripts/test.sh installs it)"
)]
fn the_websockets_client_gets_every_message_back_and_every_close_right() {
    // Then, over a raw socket in the script: the 16 MiB limit plus one byte (with fewer bytes
    // than a library would send), the ping in the middle of a fragmented message, the
    // server's TCP close.
    let mut cases = CASES.to_vec();
    let at = cases
        .iter()
        .position(|&c| c == "server close 1002")
        .unwrap();
    cases.splice(
        at..at,
        [
            "server close 1009 at 16 MiB + 1",
            "server close 1009 at 16 MiB + 1 fragmented",
        ],
    );
    cases.extend([
        "raw ping",
        "server closes tcp",
        "server close 1001 on SIGTERM",
    ]);
    run_client_script("python3", "tests/peers/ws11_client.py", &cases);
}

#[test]
#[cfg_attr(
    missing_node_ws,
    ignore = "peer test: node or Node's ws not found (scripts/test.sh installs them)"
)]
fn node_ws_client_gets_every_message_back_and_every_close_right() {
    let mut cases = CASES.to_vec();
    cases.extend(["server closes tcp", "server close 1001 on SIGTERM"]);
    run_client_script("node", "tests/browser/ws11_client.mjs", &cases);
}

#[test]
#[cfg_attr(
    missing_browser,
    ignore = "peer test: node, chromium or playwright-core not found (scripts/test.sh installs them)"
)]
fn chromium_two_pages_in_a_room_see_each_others_lines_and_another_room_sees_none() {
    let (_server, addr) = server(&[]);
    let out = Command::new("node")
        .arg(repo("tests/browser/lesson11.mjs"))
        .arg(format!("http://{addr}"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The script checks the pages itself; here, that it got to the end.
    assert!(stdout.contains("\"bob: hi ann, bob here\""), "{stdout}");
    assert!(stdout.contains("\"* bob left\""), "{stdout}");
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_sees_the_101_with_the_rfc_accept_value() {
    let (_server, addr) = server(&[]);
    // After the 101 curl waits for frames, so --max-time stops it.
    let out = Command::new("curl")
        .args(["-i", "-N", "--silent", "--max-time", "1"])
        .args(["-H", "Connection: Upgrade", "-H", "Upgrade: websocket"])
        .args(["-H", "Sec-WebSocket-Version: 13"])
        .args(["-H", &format!("Sec-WebSocket-Key: {SAMPLE_KEY}")])
        .arg(format!("http://{addr}/echo"))
        .output()
        .expect("curl runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("\r\nSec-WebSocket-Accept: {SAMPLE_ACCEPT}\r\n")),
        "{stdout}"
    );
}

// ---- Raw sockets: a learner's own checks -------------------------------------------------------

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

/// Read a response head, byte by byte so that nothing after it is taken.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            other => panic!(
                "the head ended with {other:?}: {:?}",
                String::from_utf8_lossy(&head)
            ),
        }
    }
    String::from_utf8(head).unwrap()
}

/// A response: its head, then a body of its Content-Length.
fn read_response(s: &mut TcpStream) -> (String, String) {
    let head = read_head(s);
    let length = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().unwrap())
        })
        .unwrap_or(0);
    let mut body = vec![0; length];
    s.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// Send an upgrade request for `path` with extra header lines, return the answer's head.
fn upgrade(addr: SocketAddr, path: &str, extra: &str) -> (TcpStream, String) {
    let mut s = connect(addr);
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
    .unwrap();
    let head = read_head(&mut s);
    (s, head)
}

fn opened(addr: SocketAddr, path: &str) -> TcpStream {
    let (s, head) = upgrade(addr, path, "");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    s
}

/// RFC 6455 5.2, a client's frame: FIN and opcode; MASK and the length in 7 bits, or 126 and
/// 16 bits, or 127 and 64 bits; the masking key; the payload XORed with the key (5.3).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | opcode];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend((n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend((n as u64).to_be_bytes());
        }
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    out.extend(key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

/// One server frame: (opcode, payload). Server frames are not masked (5.1), nor fragmented here.
fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).unwrap();
    assert_eq!(head[0] & 0x80, 0x80, "a fragment: {head:x?}");
    assert_eq!(head[1] & 0x80, 0, "a masked frame from the server");
    let len = match head[1] & 0x7f {
        126 => {
            let mut n = [0u8; 2];
            s.read_exact(&mut n).unwrap();
            u16::from_be_bytes(n) as usize
        }
        127 => {
            let mut n = [0u8; 8];
            s.read_exact(&mut n).unwrap();
            u64::from_be_bytes(n) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0; len];
    s.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

fn text(s: &mut TcpStream) -> String {
    let (opcode, payload) = read_frame(s);
    assert_eq!(
        opcode,
        0x1,
        "not text: {:?}",
        String::from_utf8_lossy(&payload)
    );
    String::from_utf8(payload).unwrap()
}

/// The code of a Close frame (1005 if it has none).
fn close_code(opcode: u8, payload: &[u8]) -> u16 {
    assert_eq!(
        opcode,
        0x8,
        "not a Close: {opcode:#x} {:?}",
        String::from_utf8_lossy(payload)
    );
    payload
        .get(..2)
        .map_or(1005, |c| u16::from_be_bytes([c[0], c[1]]))
}

/// Read to the end of the stream (a reset fails the test), returning the frames' opcodes and
/// the Close's code if there was one.
fn frames_until_eof(s: &mut TcpStream) -> (Vec<u8>, Option<u16>) {
    let mut all = Vec::new();
    s.read_to_end(&mut all)
        .expect("the server ends the stream cleanly (no reset, no hang)");
    let (mut opcodes, mut close, mut at) = (Vec::new(), None, 0);
    while at < all.len() {
        let (b0, b1) = (all[at], all[at + 1]);
        let (len, header) = match b1 & 0x7f {
            126 => (u16::from_be_bytes([all[at + 2], all[at + 3]]) as usize, 4),
            127 => (
                u64::from_be_bytes(all[at + 2..at + 10].try_into().unwrap()) as usize,
                10,
            ),
            n => (n as usize, 2),
        };
        let payload = &all[at + header..at + header + len];
        opcodes.push(b0 & 0x0f);
        if b0 & 0x0f == 0x8 {
            close = Some(close_code(0x8, payload));
        }
        at += header + len;
    }
    (opcodes, close)
}

#[test]
fn origin_allow_list_gives_403_to_another_origin_and_101_to_the_allowed_one() {
    let (_server, addr) = server(&["--origin", "http://allowed.example"]);
    let (_, head) = upgrade(addr, "/echo", "Origin: http://evil.example\r\n");
    assert!(head.starts_with("HTTP/1.1 403 "), "{head}");
    let (_, head) = upgrade(addr, "/echo", "Origin: http://allowed.example\r\n");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // A client that is not a browser sends no Origin: the allow-list is about browsers.
    let (_, head) = upgrade(addr, "/echo", "");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
}

#[test]
fn protocol_flag_picks_the_subprotocol_the_server_speaks() {
    let (_server, addr) = server(&["--protocol", "chat"]);
    let (mut s, head) = upgrade(addr, "/echo", "Sec-WebSocket-Protocol: superchat, chat\r\n");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        head.contains("\r\nSec-WebSocket-Protocol: chat\r\n"),
        "{head}"
    );
    s.write_all(&frame(0x1, b"in chat")).unwrap();
    assert_eq!(text(&mut s), "in chat");
    // Nothing in common: the connection opens without a subprotocol (RFC 6455 4.2.2: the
    // server names one of the client's or none).
    let (_, head) = upgrade(addr, "/echo", "Sec-WebSocket-Protocol: superchat\r\n");
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(
        !head.to_ascii_lowercase().contains("sec-websocket-protocol"),
        "{head}"
    );
}

#[test]
fn upgrade_to_an_unknown_path_gets_404_and_chat_without_room_or_name_gets_400() {
    let (_server, addr) = server(&[]);
    let (_, head) = upgrade(addr, "/nope", "");
    assert!(head.starts_with("HTTP/1.1 404 "), "{head}");
    for path in [
        "/chat",
        "/chat?room=r",
        "/chat?name=n",
        "/chat?room=&name=n",
    ] {
        let (_, head) = upgrade(addr, path, "");
        assert!(head.starts_with("HTTP/1.1 400 "), "{path}: {head}");
    }
}

#[test]
fn the_page_comes_twice_on_one_kept_alive_connection() {
    let (_server, addr) = server(&[]);
    let mut s = connect(addr);
    for _ in 0..2 {
        write!(s, "GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
        let (head, body) = read_response(&mut s);
        assert!(head.starts_with("HTTP/1.1 200 "), "{head}");
        assert!(
            !head.to_ascii_lowercase().contains("connection: close"),
            "{head}"
        );
        assert!(
            body.contains("<title>Lesson 11: WebSocket chat</title>"),
            "{body}"
        );
        assert!(
            body.contains("new WebSocket("),
            "the page opens its own WebSocket"
        );
    }
}

#[test]
fn a_request_head_that_never_completes_gets_408() {
    let (_server, addr) = server(&["--handshake-timeout", "1"]);
    let mut s = connect(addr);
    s.write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: webs")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
}

#[test]
fn binary_on_the_chat_is_closed_with_1003() {
    let (_server, addr) = server(&[]);
    let mut s = opened(addr, "/chat?room=r&name=ann");
    assert_eq!(text(&mut s), "* ann joined");
    s.write_all(&frame(0x1, b"hi")).unwrap();
    assert_eq!(text(&mut s), "ann: hi");
    s.write_all(&frame(0x2, b"\x00\x01")).unwrap();
    let (opcode, payload) = read_frame(&mut s);
    assert_eq!(close_code(opcode, &payload), 1003);
}

/// A socket with a small receive buffer (set before connecting, so the window stays small):
/// what it does not read piles up at the server quickly.
fn small_window(addr: SocketAddr) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

#[test]
fn a_chat_member_that_never_reads_is_closed_with_1008_and_the_room_goes_on() {
    let (_server, addr) = server(&["--max-queue", "65536"]);
    let mut sleeper = small_window(addr);
    write!(
        sleeper,
        "GET /chat?room=r&name=sleeper HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n\
         Connection: Upgrade\r\nSec-WebSocket-Key: {SAMPLE_KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let head = read_head(&mut sleeper);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    let mut talker = opened(addr, "/chat?room=r&name=talker");
    assert_eq!(text(&mut talker), "* talker joined");
    // Enough to fill every buffer between the server and the sleeper (its kernel's send
    // buffer can grow to tcp_wmem's maximum) and then the server's 64 KiB queue.
    let wmem_max = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|s| s.split_whitespace().last()?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    let line = "z".repeat(60_000);
    let lines = (wmem_max + (2 << 20)) / line.len();
    // The sleeper's departure may be announced while the talker is still talking: once it is
    // closed with 1008 and does not read its Close, the loop cuts it off after its close
    // timeout (5 s), which a loaded machine can reach before the last line.
    let mut left_heard = false;
    let mut next_line = |talker: &mut TcpStream| loop {
        let got = text(talker);
        if got == "* sleeper left" && !left_heard {
            left_heard = true;
        } else {
            return got;
        }
    };
    for i in 0..lines {
        talker.write_all(&frame(0x1, line.as_bytes())).unwrap();
        let got = next_line(&mut talker);
        assert_eq!(got.len(), "talker: ".len() + line.len(), "line {i}");
    }
    // The talker was never held up, and the room still works.
    talker.write_all(&frame(0x1, b"still here")).unwrap();
    assert_eq!(next_line(&mut talker), "talker: still here");
    // The sleeper wakes up: some lines, then the server's Close 1008, then the end.
    let (opcodes, close) = frames_until_eof(&mut sleeper);
    assert_eq!(close, Some(1008), "{} frames", opcodes.len());
    assert_eq!(opcodes.last(), Some(&0x8));
    assert!(
        opcodes.len() < lines,
        "the sleeper got every line: no limit"
    );
    // And once it is gone the room hears of it (if it has not already).
    if !left_heard {
        assert_eq!(text(&mut talker), "* sleeper left");
    }
}

#[test]
fn an_idle_connection_is_pinged_and_dropped_if_it_never_answers() {
    let (_server, addr) = server(&["--ping-interval", "1", "--pong-timeout", "1"]);
    let mut silent = opened(addr, "/echo");
    let mut alive = opened(addr, "/echo");
    // The first ping comes after a second of silence (waited for with a generous deadline:
    // the read timeout, no assertion on the time it took).
    let (opcode, ping) = read_frame(&mut silent);
    assert_eq!(opcode, 0x9, "expected a ping");
    // One that answers every ping stays: three pings, three pongs with their payloads.
    for _ in 0..3 {
        let (opcode, payload) = read_frame(&mut alive);
        assert_eq!(opcode, 0x9, "expected a ping");
        alive.write_all(&frame(0xA, &payload)).unwrap();
    }
    alive.write_all(&frame(0x1, b"still open")).unwrap();
    let (opcode, payload) = read_frame(&mut alive);
    assert_eq!((opcode, payload.as_slice()), (0x1, &b"still open"[..]));
    // The silent one is dropped, eventually: its stream ends (with a Close first or not:
    // a peer that does not answer pings may not read a Close either).
    assert!(
        ping.len() <= 125,
        "a ping's payload is at most 125 bytes (RFC 6455 5.5)"
    );
    silent
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    silent
        .read_to_end(&mut rest)
        .expect("the server ends the stream");
}
