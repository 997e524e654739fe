//! Lesson 10: the grader against the reference, against a server nobody here wrote (Python's
//! `websockets` library) and against one broken server per mistake; then the dissector: the
//! RFC 6455 5.7 examples, encode-then-decode round trips, the committed capture, and (with
//! tcpdump and root) a fresh capture of a real client talking to `serve`.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use netcourse::grader::{Listener, Target};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::thread;

const LESSON: u32 = 10;
const BIN: &str = env!("CARGO_BIN_EXE_10-ws-frames");

#[test]
fn reference_server_passes_every_check() {
    assert_passes(LESSON, Target::Command(reference_cmd(BIN)));
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
    // tests/peers/ws_echo.py's one change to the library (a 426 naming version 13) is about the
    // handshake, which these checks do not look at: the frames are the library's own.
    assert_passes(
        LESSON,
        Target::Command(format!(
            "python3 {} --addr 127.0.0.1:0 --as-shipped",
            repo("tests/peers/ws_echo.py")
        )),
    );
}

// ---- The dissector ------------------------------------------------------------------------------

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN)
        .args(args)
        .output()
        .expect("the binary runs");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_rfc_6455_5_7_examples_decode_with_every_field_named() {
    // "A single-frame unmasked text message"
    let out = run(&["decode", "81 05 48 65 6c 6c 6f"]);
    assert!(out.contains("read as a server's frames"), "{out}");
    assert!(out.contains("^^ FIN=1 RSV=000 opcode=text (0x1)"), "{out}");
    assert!(out.contains("7-bit form: the length is 5"), "{out}");
    assert!(out.contains("1. text, 5 bytes: \"Hello\""), "{out}");
    // "A single-frame masked text message"
    let out = run(&[
        "decode",
        "--role",
        "client",
        "81:85:37:fa:21:3d:7f:9f:4d:51:58",
    ]);
    assert!(
        out.contains("masking key              37 fa 21 3d"),
        "{out}"
    );
    assert!(
        out.contains("masked 7f 9f 4d 51 58 -> unmasked 48 65 6c 6c 6f; text \"Hello\""),
        "{out}"
    );
    // "A fragmented unmasked text message"
    let out = run(&["decode", "--role", "server", "010348656c 80026c6f"]);
    assert!(out.contains("more fragments follow"), "{out}");
    assert!(out.contains("continuation: the next fragment"), "{out}");
    assert!(
        out.contains("messages, as the client reads them: 1\n  1. text, 5 bytes: \"Hello\""),
        "{out}"
    );
    // "Unmasked Ping request and masked Ping response"
    let out = run(&[
        "decode",
        "--role",
        "server",
        "0x89 0x05 0x48 0x65 0x6c 0x6c 0x6f",
    ]);
    assert!(out.contains("1. ping, payload \"Hello\""), "{out}");
    let out = run(&["decode", "--role", "client", "8a8537fa213d7f9f4d5158"]);
    assert!(out.contains("1. pong, payload \"Hello\""), "{out}");
    // "256 bytes binary message in a single unmasked frame", header only: the 16-bit form.
    let out = run(&["decode", "--role", "server", "827e0100"]);
    assert!(out.contains("16-bit form"), "{out}");
    assert!(out.contains("extended payload length  256"), "{out}");
    assert!(
        out.contains("the input ends inside this frame: 0 of its 256 payload bytes came"),
        "{out}"
    );
    // "64KiB binary message in a single unmasked frame", header only: the 64-bit form.
    let out = run(&["decode", "--role", "server", "827f0000000000010000"]);
    assert!(out.contains("64-bit form"), "{out}");
    assert!(out.contains("extended payload length  65536"), "{out}");
}

#[test]
fn a_broken_frame_is_shown_with_the_rule_and_the_close_src_ws_sends() {
    // The same unmasked frame, said to come from a client: a server fails the connection.
    let out = run(&["decode", "--role", "client", "81 05 48 65 6c 6c 6f"]);
    assert!(
        out.contains("error: an unmasked text (0x1) frame from a client"),
        "{out}"
    );
    assert!(out.contains("RFC 6455 5.1"), "{out}");
    assert!(out.contains("sends Close 1002 (protocol error)"), "{out}");
    assert!(
        out.contains("messages, as the server reads them: 0"),
        "{out}"
    );
    // Invalid UTF-8 split over two fragments: 1007, the first frame shown before the error.
    let out = run(&["decode", "--role", "server", "01 02 63 c3 80 01 28"]);
    assert!(out.contains("ends inside a UTF-8 sequence"), "{out}");
    assert!(
        out.contains("Close 1007 (invalid frame payload data)"),
        "{out}"
    );
}

#[test]
fn encoded_messages_decode_back_to_themselves() {
    for args in [
        &[
            "--text",
            "héllo, wörld",
            "--fragment",
            "3",
            "--mask",
            "01020304",
        ][..],
        &["--binary", "00ff10", "--client"],
        &["--text", &"x".repeat(300)],
        &["--text", &"y".repeat(70_000), "--fragment", "65536"],
        &["--ping", "are you there?"],
        &["--close", "1000", "bye"],
    ] {
        let out = run(&[&["encode"][..], args].concat());
        let hex = out.lines().next().unwrap();
        let masked = args.contains(&"--client") || args.contains(&"--mask");
        let role = if masked { "client" } else { "server" };
        // Through stdin: a 70,000-byte message is too long for an argument.
        let back = pipe_through(
            Command::new(BIN).args(["decode", "--role", role]),
            hex.as_bytes().to_vec(),
        );
        let back = String::from_utf8(back.stdout).unwrap();
        // The message line is the same whichever way it went.
        let message = |s: &str| {
            s.lines()
                .skip_while(|l| !l.starts_with("messages,"))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(message(&out), message(&back), "{args:?}");
        assert!(!back.contains("error:"), "{args:?}: {back}");
    }
    let out = run(&[
        "encode",
        "--text",
        "héllo",
        "--fragment",
        "2",
        "--mask",
        "37fa213d",
    ]);
    assert!(out.contains("1. text, 6 bytes: \"héllo\""), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("frame ")).count(),
        3,
        "{out}"
    );
    // A 70,000-byte text in 64 KiB fragments: a 64-bit header, then a 16-bit one.
    let out = run(&[
        "encode",
        "--text",
        &"y".repeat(70_000),
        "--fragment",
        "65536",
    ]);
    assert!(out.starts_with("017f0000000000010000"), "{}", &out[..40]);
    assert!(out.contains("frame 2: 4468 bytes at byte 65546"), "{out}");
}

#[test]
fn the_committed_capture_decodes_both_directions() {
    // lessons/10-ws-frames/echo.pcap: tcpdump -i lo (Ethernet framing) while Python's websockets
    // client talked to `serve`: a text, a fragmented text, a ping, a binary, the close.
    let out = run(&["decode", "--pcap", &repo("lessons/10-ws-frames/echo.pcap")]);
    assert!(
        out.contains("HTTP head, 198 bytes: GET /echo HTTP/1.1"),
        "{out}"
    );
    assert!(
        out.contains("HTTP head, 129 bytes: HTTP/1.1 101 Switching Protocols"),
        "{out}"
    );
    let server_reads = "messages, as the server reads them: 5\n  1. text, 5 bytes: \"Hello\"\n  \
                        2. text, 10 bytes: \"fragmented\"\n  3. ping, payload \"still there?\"\n";
    assert!(out.contains(server_reads), "{out}");
    assert!(out.contains("3. pong, payload \"still there?\""), "{out}");
    assert!(out.contains("5. close 1000 (normal closure)"), "{out}");
    assert!(!out.contains("error:"), "{out}");
}

#[test]
fn a_pcapng_capture_is_refused_with_the_way_to_convert_it() {
    let path = std::env::temp_dir().join(format!("netcourse-10-{}.pcapng", std::process::id()));
    std::fs::write(&path, [0x0a, 0x0d, 0x0d, 0x0a, 0, 0, 0, 0]).unwrap();
    let out = Command::new(BIN)
        .args(["decode", "--pcap", path.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::remove_file(&path).ok();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("pcapng") && err.contains("tcpdump -r"),
        "{err}"
    );
}

#[test]
#[cfg_attr(
    missing_tcpdump,
    ignore = "peer test: tcpdump not found (scripts/test.sh installs it)"
)]
#[cfg_attr(
    missing_websockets,
    ignore = "peer test: Python's websockets library not found (scripts/test.sh installs it)"
)]
fn a_fresh_tcpdump_capture_of_a_real_client_decodes() {
    // Capturing on lo needs root (or CAP_NET_RAW); without it, say so and stop.
    let (_server, listeners) =
        start_peer(Command::new(BIN).args(["serve", "--addr", "127.0.0.1:0"]));
    let port = listeners[0].addr.port();
    let path = std::env::temp_dir().join(format!("netcourse-10-{}.pcap", std::process::id()));
    let mut tcpdump = Command::new("tcpdump")
        .args(["-i", "lo", "-U", "-w", path.to_str().unwrap()])
        .arg(format!("tcp port {port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("tcpdump starts");
    // tcpdump attaches its filter a little after it starts: knock (connect and close) until
    // the capture file holds a packet, so that the client's SYN is not missed. Bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::metadata(&path).map_or(0, |m| m.len()) <= 24 {
        if let Ok(Some(status)) = tcpdump.try_wait() {
            panic!("tcpdump exited ({status}): capturing on lo needs root");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "tcpdump captured nothing in 20 s"
        );
        drop(TcpStream::connect(listeners[0].addr));
        thread::sleep(std::time::Duration::from_millis(100));
    }
    let script = r#"
import asyncio, sys
from websockets.asyncio.client import connect
async def main():
    async with connect(sys.argv[1], compression=None) as ws:
        await ws.send("captured"); await ws.recv()
        await ws.send(["in ", "two"]); await ws.recv()
asyncio.run(main())
"#;
    let client = Command::new("python3")
        .args(["-c", script, &format!("ws://127.0.0.1:{port}/")])
        .output()
        .expect("python3 runs");
    assert!(
        client.status.success(),
        "{}",
        String::from_utf8_lossy(&client.stderr)
    );
    // tcpdump writes each packet as it gets it (-U), a little behind: decode the file as it
    // grows until the conversation is in it (bounded), then stop tcpdump.
    let expected = "1. text, 8 bytes: \"captured\"\n  2. text, 6 bytes: \"in two\"";
    let mut out = String::new();
    while !out.contains(expected) && std::time::Instant::now() < deadline {
        thread::sleep(std::time::Duration::from_millis(100));
        out = run(&["decode", "--pcap", path.to_str().unwrap()]);
    }
    let _ = Command::new("kill")
        .args(["-INT", &tcpdump.id().to_string()])
        .status();
    tcpdump.wait().unwrap();
    std::fs::remove_file(&path).ok();
    assert!(
        out.contains("1. text, 8 bytes: \"captured\"\n  2. text, 6 bytes: \"in two\""),
        "{out}"
    );
    assert!(out.contains("HTTP/1.1 101 Switching Protocols"), "{out}");
    assert!(!out.contains("error:"), "{out}");
}

// ---- Broken servers: one mistake each ------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mistake {
    /// Takes payload len 126 as the length itself.
    SevenBitOnly,
    /// Reads only 2 bytes of length after 127 (as after 126).
    No64Bit,
    /// Writes every length over 125 in the 64-bit form.
    AlwaysLongForm,
    /// Starts the key at byte 0 again with every read.
    KeyOffsetPerRead,
    /// Decodes one frame per read and drops the rest of the read.
    OneReadOneFrame,
    /// Masks its own frames.
    MasksReplies,
    AcceptsUnmasked,
    IgnoresRsv,
    /// Skips frames with an opcode it does not know.
    SkipsReservedOpcodes,
    /// No length or FIN check on control frames.
    LaxControlFrames,
    /// Answers pings with an empty pong.
    EmptyPong,
    /// Answers control frames only once the message in progress is complete.
    PongAfterMessage,
    /// Echoes the first fragment and forgets the continuations.
    FirstFragmentOnly,
    /// A stray continuation is a message; a new message frame restarts the message.
    LaxContinuations,
    NoUtf8Check,
    /// Validates each text frame alone.
    Utf8PerFrame,
    /// Closes TCP on a Close, without answering it.
    NoCloseReply,
    /// Answers a Close, then waits for the client to close TCP.
    KeepsTcpOpen,
    /// Echoes any Close payload as it is.
    AnyCloseCode,
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

/// A blocking connection: the handshake, then frames in `buf` (which starts at stream offset
/// `at`), with where each read began for the one mistake that needs it.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    at: usize,
    reads: Vec<usize>,
    m: Option<Mistake>,
}

impl Conn {
    fn read(&mut self) -> bool {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                if has(self.m, OneReadOneFrame) {
                    self.at += self.buf.len();
                    self.buf.clear();
                }
                self.reads.push(self.at + self.buf.len());
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
        }
    }

    fn send(&mut self, opcode: u8, payload: &[u8]) {
        let mut f = vec![0x80 | opcode];
        let mask = if has(self.m, MasksReplies) { 0x80 } else { 0 };
        let n = payload.len();
        if n < 126 {
            f.push(mask | n as u8);
        } else if n <= 0xffff && !has(self.m, AlwaysLongForm) {
            f.push(mask | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            f.push(mask | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
        if mask != 0 {
            f.extend_from_slice(&[1, 2, 3, 4]);
            f.extend(
                payload
                    .iter()
                    .enumerate()
                    .map(|(i, b)| b ^ [1, 2, 3, 4][i % 4]),
            );
        } else {
            f.extend_from_slice(payload);
        }
        let _ = self.stream.write_all(&f);
    }

    /// Fail the connection: a Close with `code`, then close TCP.
    fn fail(mut self, code: u16) {
        self.send(0x8, &code.to_be_bytes());
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
        // Read what the client still sends before closing, so that the close is a FIN, not a
        // reset that could overtake the Close frame.
        let _ = self
            .stream
            .set_read_timeout(Some(std::time::Duration::from_millis(500)));
        let mut sink = [0u8; 4096];
        while matches!(self.stream.read(&mut sink), Ok(n) if n > 0) {}
    }

    /// The next frame: (fin, rsv, opcode, masked, payload unmasked), or None at the end.
    fn frame(&mut self) -> Option<(bool, u8, u8, bool, Vec<u8>)> {
        loop {
            if let Some(frame) = self.parse() {
                return Some(frame);
            }
            if !self.read() {
                return None;
            }
        }
    }

    fn parse(&mut self) -> Option<(bool, u8, u8, bool, Vec<u8>)> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let masked = b[1] & 0x80 != 0;
        let len7 = (b[1] & 0x7f) as usize;
        let (len, mut at) = match len7 {
            126 if !has(self.m, SevenBitOnly) => {
                (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4)
            }
            127 if has(self.m, No64Bit) => {
                (u16::from_be_bytes([*b.get(2)?, *b.get(3)?]) as usize, 4)
            }
            127 if !has(self.m, SevenBitOnly) => {
                let bytes: [u8; 8] = b.get(2..10)?.try_into().unwrap();
                (u64::from_be_bytes(bytes) as usize, 10)
            }
            n => (n, 2),
        };
        let key: Option<[u8; 4]> = if masked {
            let k = b.get(at..at + 4)?.try_into().unwrap();
            at += 4;
            Some(k)
        } else {
            None
        };
        let payload = b.get(at..at + len)?;
        let start = self.at + at; // stream offset of payload byte 0
        let payload: Vec<u8> = payload
            .iter()
            .enumerate()
            .map(|(i, &byte)| {
                let Some(k) = key else { return byte };
                let i = if has(self.m, KeyOffsetPerRead) {
                    // Counted from the start of the read this byte came in, or of the payload.
                    let pos = start + i;
                    let read = self.reads.iter().rev().find(|&&r| r <= pos).copied();
                    pos - read.unwrap_or(start).max(start)
                } else {
                    i
                };
                byte ^ k[i % 4]
            })
            .collect();
        let frame = (
            b[0] & 0x80 != 0,
            (b[0] >> 4) & 7,
            b[0] & 0xf,
            masked,
            payload,
        );
        self.buf.drain(..at + len);
        self.at += at + len;
        if has(self.m, OneReadOneFrame) {
            // Whatever else came in the same read is dropped.
            self.at += self.buf.len();
            self.buf.clear();
        }
        Some(frame)
    }
}

/// A thread-per-connection WebSocket echo server, right except for `m`.
fn serve(stream: TcpStream, m: Option<Mistake>) {
    let mut c = Conn {
        stream,
        buf: Vec::new(),
        at: 0,
        reads: Vec::new(),
        m,
    };
    // The handshake: the head, then a 101 with the accept value.
    let end = loop {
        if let Some(i) = c.buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        match c.stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&c.buf[..end]).into_owned();
    c.buf.drain(..end);
    let key = head
        .lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap_or("")
        .trim();
    let accept = STANDARD.encode(Sha1::digest(
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    ));
    let response = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if c.stream.write_all(response.as_bytes()).is_err() {
        return;
    }
    // The message in progress: its opcode and data; control replies held back (one mistake).
    let mut message: Option<(u8, Vec<u8>)> = None;
    let mut held: Vec<Vec<u8>> = Vec::new();
    while let Some((fin, rsv, opcode, masked, payload)) = c.frame() {
        if !masked && !has(m, AcceptsUnmasked) {
            return c.fail(1002);
        }
        if rsv != 0 && !has(m, IgnoresRsv) {
            return c.fail(1002);
        }
        let control = opcode & 0x8 != 0;
        if !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) {
            if has(m, SkipsReservedOpcodes) {
                continue;
            }
            return c.fail(1002);
        }
        if control && (!fin || payload.len() > 125) && !has(m, LaxControlFrames) {
            return c.fail(1002);
        }
        match opcode {
            0x9 => {
                let pong = if has(m, EmptyPong) {
                    Vec::new()
                } else {
                    payload
                };
                if has(m, PongAfterMessage) && message.is_some() {
                    held.push(pong);
                } else {
                    c.send(0xa, &pong);
                }
            }
            0xa => {}
            0x8 => {
                let reply = match payload.as_slice() {
                    _ if has(m, AnyCloseCode) => payload.clone(),
                    [] => Vec::new(),
                    [_] => return c.fail(1002),
                    [hi, lo, reason @ ..] => {
                        let code = u16::from_be_bytes([*hi, *lo]);
                        if !matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999) {
                            return c.fail(1002);
                        }
                        if std::str::from_utf8(reason).is_err() {
                            return c.fail(1007);
                        }
                        code.to_be_bytes().to_vec()
                    }
                };
                if has(m, NoCloseReply) {
                    return;
                }
                c.send(0x8, &reply);
                if has(m, KeepsTcpOpen) {
                    while c.read() {}
                }
                return;
            }
            _ => {
                // Data: a first frame starts a message, a continuation continues it.
                let (op, mut data) = match (message.take(), opcode) {
                    (None, 0) if has(m, LaxContinuations) => (2, Vec::new()),
                    (None, 0) => return c.fail(1002),
                    (Some(_), 1 | 2) if has(m, LaxContinuations) => (opcode, Vec::new()),
                    (Some(_), 1 | 2) => return c.fail(1002),
                    (Some((op, data)), _) => (op, data),
                    (None, op) => (op, Vec::new()),
                };
                let first = data.is_empty();
                if !has(m, FirstFragmentOnly) || first {
                    data.extend_from_slice(&payload);
                }
                if op == 1 && !has(m, NoUtf8Check) {
                    let checked: &[u8] = if has(m, Utf8PerFrame) {
                        &payload
                    } else {
                        &data
                    };
                    match std::str::from_utf8(checked) {
                        Ok(_) => {}
                        // Incomplete at the end: fine until the last frame.
                        Err(e) if e.error_len().is_none() && !fin => {}
                        Err(_) => return c.fail(1007),
                    }
                }
                if fin {
                    c.send(op, &data);
                    for pong in held.drain(..) {
                        c.send(0xa, &pong);
                    }
                } else {
                    message = Some((op, data));
                }
            }
        }
    }
}

fn broken_servers() -> Vec<Broken> {
    let cases: &[(Mistake, &'static [&'static str])] = &[
        (SevenBitOnly, &["reads_the_16_bit_length_as_7_bit"]),
        (No64Bit, &["ignores_the_64_bit_length"]),
        (AlwaysLongForm, &["uses_a_longer_length_form_than_needed"]),
        (KeyOffsetPerRead, &["unmasks_with_the_wrong_key_offset"]),
        (OneReadOneFrame, &["assumes_one_read_is_one_frame"]),
        (MasksReplies, &["masks_server_frames"]),
        (AcceptsUnmasked, &["accepts_unmasked_client_frames"]),
        (IgnoresRsv, &["accepts_rsv_bits"]),
        (SkipsReservedOpcodes, &["accepts_reserved_opcodes"]),
        (
            LaxControlFrames,
            &["accepts_long_or_fragmented_control_frames"],
        ),
        (EmptyPong, &["forgets_the_pong_payload"]),
        (PongAfterMessage, &["holds_a_ping_until_the_message_ends"]),
        (FirstFragmentOnly, &["loses_fragments"]),
        (LaxContinuations, &["accepts_continuations_out_of_order"]),
        (NoUtf8Check, &["accepts_invalid_utf8"]),
        (Utf8PerFrame, &["checks_utf8_frame_by_frame"]),
        (NoCloseReply, &["does_not_answer_a_close"]),
        (
            KeepsTcpOpen,
            &["keeps_tcp_open_after_the_closing_handshake"],
        ),
        (AnyCloseCode, &["accepts_invalid_close_codes"]),
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
    assert_all_caught_by_workers(LESSON, &broken_servers(), 6);
}
