//! Lesson 11's grader, proven: the reference passes `course check 11`; so does a server nobody
//! here wrote (Python's `websockets` library, tests/peers/ws_server11.py); and every check
//! catches a deliberately broken server. Mistakes of chat, the page, limits, memory and
//! shutdown are made by the Python server (`--break NAME`); mistakes in the frame layer, which
//! the library refuses to make, by the small Rust server below (`Mistake`).

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use netcourse::grader::{self, Listener, Options, Target};
use sha1::{Digest, Sha1};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

const LESSON: u32 = 11;

#[test]
fn reference_server_passes_every_check() {
    assert_passes(
        LESSON,
        Target::Command(reference_cmd(env!("CARGO_BIN_EXE_11-ws-server"))),
    );
}

/// The Python server, with one mistake or none; the grader starts a fresh one for each check.
fn python(mistake: Option<&str>) -> String {
    let mut cmd = format!(
        "python3 {} --addr 127.0.0.1:0",
        repo("tests/peers/ws_server11.py")
    );
    if let Some(m) = mistake {
        cmd += &format!(" --break {m}");
    }
    cmd
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
    assert_passes(LESSON, Target::Command(python(None)));
}

/// Each mistake the Python server makes, and the check that must catch it.
const PYTHON_BROKEN: &[(&str, &str)] = &[
    ("sender-left-out", "chat_leaves_out_the_sender"),
    ("one-room", "chat_rooms_leak"),
    ("room-of-8", "chat_misses_members"),
    (
        "no-percent-decoding",
        "takes_the_room_without_percent_decoding",
    ),
    (
        "vanished-member-stops-delivery",
        "a_vanished_member_stops_delivery",
    ),
    ("slow-member-blocks", "a_slow_member_stalls_the_room"),
    ("slow-member-unbounded", "memory_grows_with_a_slow_member"),
    ("page-not-html", "serves_no_chat_page"),
    (
        "plain-get-served",
        "answers_a_plain_get_of_a_websocket_path",
    ),
    ("max-size-1mib", "refuses_a_16_mib_message"),
    ("no-going-away", "closes_without_going_away"),
    (
        "buffer-per-connection",
        "spends_too_much_memory_per_idle_connection",
    ),
    ("connection-table-256", "cannot_hold_many_connections"),
];

/// Each mistake of the Rust server, and the check that must catch it.
const RUST_BROKEN: &[(Mistake, &str)] = &[
    (MasksItsFrames, "masks_its_frames"),
    (EverythingAsText, "changes_the_message_type"),
    (OneReadIsOneFrame, "assumes_one_read_is_one_frame"),
    (LengthOffByOne, "wrong_payload_length"),
    (PongAfterTheMessage, "answers_pings_only_between_messages"),
    (EmptyPong, "answers_pings_only_between_messages"),
    (FragmentsAsMessages, "echoes_fragments_as_messages"),
    (AcceptsUnmasked, "accepts_unmasked_client_frames"),
    (IgnoresRsv, "ignores_rsv_bits"),
    (IgnoresReservedOpcodes, "ignores_reserved_opcodes"),
    (AnyControlFrame, "accepts_bad_control_frames"),
    (
        ContinuationStartsAMessage,
        "accepts_a_continuation_with_nothing_to_continue",
    ),
    (
        NewMessageStartsOver,
        "accepts_a_new_message_inside_a_fragmented_one",
    ),
    (NoUtf8Check, "does_not_check_utf8"),
    (Utf8PerFragment, "checks_utf8_one_fragment_at_a_time"),
    (Utf8TailNeverJoined, "checks_utf8_one_fragment_at_a_time"),
    (AnyCloseCode, "accepts_invalid_close_codes"),
    (CloseAlways1000, "does_not_echo_the_close_code"),
    (
        WaitsForTheClientToClose,
        "keeps_tcp_open_after_the_closing_handshake",
    ),
    (ReadsOnAfterClose, "sends_frames_after_its_close"),
    (OneErrorEndsAll, "one_bad_connection_disturbs_the_others"),
];

#[test]
fn every_check_is_proven_by_a_broken_server() {
    let suite = grader::suite(LESSON).unwrap();
    let caught = |name: &str| {
        PYTHON_BROKEN.iter().any(|(_, n)| *n == name) || RUST_BROKEN.iter().any(|(_, n)| *n == name)
    };
    for check in suite.checks {
        assert!(
            caught(check.name),
            "lesson 11: no broken server proves that `{}` can fail",
            check.name
        );
    }
    let names = PYTHON_BROKEN
        .iter()
        .map(|(m, n)| (m.to_string(), *n))
        .chain(RUST_BROKEN.iter().map(|(m, n)| (format!("{m:?}"), *n)));
    for (mistake, name) in names {
        assert!(
            suite.checks.iter().any(|c| c.name == name),
            "`{mistake}` is meant to fail `{name}`, which is no check of lesson 11"
        );
    }
}

/// Run `name` alone against a fresh `target`; a problem if it passes.
fn caught(mistake: &str, name: &str, target: Target) -> Option<String> {
    let options = Options {
        only: Some(name.to_string()),
        ..quick()
    };
    let (report, out) = grade(LESSON, &target, &options);
    (!report.failed().contains(&name))
        .then(|| format!("lesson 11: the broken server `{mistake}` should fail `{name}`\n{out}"))
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
fn each_broken_python_server_is_caught() {
    // Two at a time: the machine also runs the servers.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems = std::sync::Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((mistake, name)) = PYTHON_BROKEN.get(i) else {
                    return;
                };
                let target = Target::Command(python(Some(mistake)));
                if let Some(p) = caught(mistake, name, target) {
                    problems.lock().unwrap().push(p);
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_rust_servers_correct_twin_passes_the_checks_its_mistakes_fail() {
    // So that each broken Rust server fails for its mistake, not for the rest of its code.
    // (It serves /echo only: chat, the page and the process-level checks are the Python
    // server's to prove.)
    let mut names: Vec<&str> = RUST_BROKEN.iter().map(|(_, n)| *n).collect();
    names.dedup();
    for name in names {
        let options = Options {
            only: Some(name.to_string()),
            ..Options::default()
        };
        let (report, out) = grade(LESSON, &Target::Running(start(None)), &options);
        assert!(report.passed(), "{out}");
    }
}

#[test]
fn each_broken_rust_server_is_caught() {
    quiet_broken_server_panics();
    let problems: Vec<String> = thread::scope(|scope| {
        RUST_BROKEN
            .chunks(6)
            .map(|batch| {
                scope.spawn(move || {
                    batch
                        .iter()
                        .filter_map(|&(m, name)| {
                            caught(&format!("{m:?}"), name, Target::Running(start(Some(m))))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---- A small WebSocket echo server, right except for one mistake ------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mistake {
    /// Writes its frames with the client's masking code.
    MasksItsFrames,
    /// Echoes every message as text.
    EverythingAsText,
    /// Parses one frame per read and drops the rest of the read.
    OneReadIsOneFrame,
    /// `len < 65535` for the 16-bit form, so 65535 takes the 64-bit one.
    LengthOffByOne,
    /// Holds control frames until the message in progress ends.
    PongAfterTheMessage,
    /// Answers a Ping with an empty Pong.
    EmptyPong,
    /// Echoes each fragment as a message of its own.
    FragmentsAsMessages,
    AcceptsUnmasked,
    IgnoresRsv,
    /// Skips frames with reserved opcodes.
    IgnoresReservedOpcodes,
    /// No length or FIN check on control frames.
    AnyControlFrame,
    /// A continuation with nothing begun starts a text message.
    ContinuationStartsAMessage,
    /// A text or binary frame inside a fragmented message starts over.
    NewMessageStartsOver,
    NoUtf8Check,
    /// Each fragment must be valid UTF-8 on its own.
    Utf8PerFragment,
    /// Each fragment may end in an incomplete code point, never joined with the next.
    Utf8TailNeverJoined,
    AnyCloseCode,
    /// Answers every Close with 1000.
    CloseAlways1000,
    /// After the Close frames, waits for the client to close TCP.
    WaitsForTheClientToClose,
    /// Goes on reading and answering frames after the client's Close.
    ReadsOnAfterClose,
    /// A protocol error on one connection ends every connection (an error that escapes the
    /// event loop).
    OneErrorEndsAll,
}

use Mistake::*;

fn start(mistake: Option<Mistake>) -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dead = Arc::new(AtomicBool::new(false));
    thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            let dead = dead.clone();
            thread::spawn(move || serve(conn, mistake, &dead));
        }
    });
    vec![Listener {
        scheme: "ws".into(),
        addr,
    }]
}

fn serve(mut conn: TcpStream, m: Option<Mistake>, dead: &AtomicBool) {
    let has = |which| m == Some(which);
    // The handshake: read to the blank line, answer 101 (or 404 for another path).
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !read_more(&mut conn, &mut buf, dead) {
            return;
        }
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let key = head
        .lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(n, _)| n.trim().eq_ignore_ascii_case("sec-websocket-key"))
        .map(|(_, v)| v.trim().to_string())
        .unwrap_or_default();
    if !head.starts_with("GET /echo ") {
        let _ = conn.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        return linger_and_close(conn);
    }
    let accept = STANDARD.encode(Sha1::digest(
        format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes(),
    ));
    let _ = conn.write_all(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut state = State::default();
    loop {
        while let Some((frame, used)) = parse(&buf) {
            buf.drain(..used);
            if has(OneReadIsOneFrame) {
                buf.clear();
            }
            match handle(&mut conn, &mut state, frame, m) {
                Ok(()) => {}
                Err(Some(code)) => {
                    let _ = conn.write_all(&frame_bytes(0x88, &code.to_be_bytes(), m));
                    if has(OneErrorEndsAll) {
                        dead.store(true, Ordering::Relaxed);
                    }
                    return linger_and_close(conn);
                }
                Err(None) => {
                    if has(WaitsForTheClientToClose) {
                        while read_more(&mut conn, &mut buf, dead) {}
                        return;
                    }
                    if !has(ReadsOnAfterClose) {
                        return linger_and_close(conn);
                    }
                }
            }
        }
        if !read_more(&mut conn, &mut buf, dead) {
            return;
        }
    }
}

/// Read once more into `buf`: false at the end (EOF, error, or every connection's death).
fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>, dead: &AtomicBool) -> bool {
    conn.set_read_timeout(Some(Duration::from_millis(50))).ok();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        if dead.load(Ordering::Relaxed) {
            return false;
        }
        match conn.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return true;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return false,
        }
    }
}

/// Close first: stop sending, read what is left, then close (no reset).
fn linger_and_close(conn: TcpStream) {
    let _ = conn.shutdown(Shutdown::Write);
    conn.set_read_timeout(Some(Duration::from_millis(500))).ok();
    let mut sink = [0u8; 4096];
    while matches!((&conn).read(&mut sink), Ok(n) if n > 0) {}
}

struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    masked: bool,
    payload: Vec<u8>,
}

fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => (
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
            10,
        ),
        n => (n as usize, 2),
    };
    let masked = buf[1] & 0x80 != 0;
    let mask = if masked {
        at += 4;
        buf.get(at - 4..at)?.to_vec()
    } else {
        vec![0; 4]
    };
    let payload: Vec<u8> = buf
        .get(at..at + len)?
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ mask[i % 4])
        .collect();
    let frame = Frame {
        fin: buf[0] & 0x80 != 0,
        rsv: (buf[0] >> 4) & 7,
        opcode: buf[0] & 0xf,
        masked,
        payload,
    };
    Some((frame, at + len))
}

/// A server frame with `first` as its first byte.
fn frame_bytes(first: u8, payload: &[u8], m: Option<Mistake>) -> Vec<u8> {
    let masked = m == Some(MasksItsFrames);
    let bit = if masked { 0x80 } else { 0 };
    let len = payload.len();
    let mut out = vec![first];
    let sixteen = if m == Some(LengthOffByOne) {
        len < 65535
    } else {
        len <= 65535
    };
    if len <= 125 {
        out.push(bit | len as u8);
    } else if sixteen {
        out.push(bit | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    if masked {
        let key = [1u8, 2, 3, 4];
        out.extend_from_slice(&key);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

#[derive(Default)]
struct State {
    /// The message in progress: its opcode and bytes so far.
    message: Option<(u8, Vec<u8>)>,
    /// The end of the text so far that is an incomplete code point.
    utf8_tail: Vec<u8>,
    /// Pongs held back (PongAfterTheMessage).
    held: Vec<Vec<u8>>,
}

/// Whether `data` keeps the text valid: the tail of an incomplete code point is carried to
/// the next fragment, and none may be left at the end.
fn utf8_ok(state: &mut State, data: &[u8], fin: bool, m: Option<Mistake>) -> bool {
    match m {
        Some(NoUtf8Check) => true,
        Some(Utf8PerFragment) => std::str::from_utf8(data).is_ok(),
        Some(Utf8TailNeverJoined) => match std::str::from_utf8(data) {
            Ok(_) => true,
            Err(e) => e.error_len().is_none(),
        },
        _ => {
            let mut text = std::mem::take(&mut state.utf8_tail);
            text.extend_from_slice(data);
            match std::str::from_utf8(&text) {
                Ok(_) => true,
                Err(e) if e.error_len().is_none() && !fin => {
                    state.utf8_tail = text[e.valid_up_to()..].to_vec();
                    true
                }
                Err(_) => false,
            }
        }
    }
}

/// Handle one frame: `Err(Some(code))` fails the connection, `Err(None)` is the closing
/// handshake done.
fn handle(
    conn: &mut TcpStream,
    state: &mut State,
    f: Frame,
    m: Option<Mistake>,
) -> Result<(), Option<u16>> {
    let has = |which| m == Some(which);
    let mut send = |first: u8, payload: &[u8]| {
        let _ = conn.write_all(&frame_bytes(first, payload, m));
    };
    if !f.masked && !has(AcceptsUnmasked) {
        return Err(Some(1002));
    }
    if f.rsv != 0 && !has(IgnoresRsv) {
        return Err(Some(1002));
    }
    let control = f.opcode >= 8;
    if control && (f.payload.len() > 125 || !f.fin) && !has(AnyControlFrame) {
        return Err(Some(1002));
    }
    match f.opcode {
        0x9 if has(PongAfterTheMessage) && state.message.is_some() => {
            state.held.push(f.payload);
        }
        0x9 if has(EmptyPong) => send(0x8A, b""),
        0x9 => send(0x8A, &f.payload),
        0xA => {}
        0x8 => {
            let code = match f.payload.len() {
                0 => None,
                1 => return Err(Some(1002)),
                _ => Some(u16::from_be_bytes([f.payload[0], f.payload[1]])),
            };
            if let Some(code) = code {
                let valid = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
                if !valid && !has(AnyCloseCode) {
                    return Err(Some(1002));
                }
                if !has(NoUtf8Check) && std::str::from_utf8(&f.payload[2..]).is_err() {
                    return Err(Some(1007));
                }
            }
            let reply = match (code, has(CloseAlways1000)) {
                (None, _) => Vec::new(),
                (Some(_), true) => 1000u16.to_be_bytes().to_vec(),
                (Some(code), false) => code.to_be_bytes().to_vec(),
            };
            send(0x88, &reply);
            return Err(None);
        }
        0x0..=0x2 => {
            let begins = f.opcode != 0;
            match (&state.message, begins) {
                (None, false) if has(ContinuationStartsAMessage) => {
                    state.message = Some((0x1, Vec::new()))
                }
                (None, false) => return Err(Some(1002)),
                (Some(_), true) if has(NewMessageStartsOver) => {
                    state.message = Some((f.opcode, Vec::new()));
                    state.utf8_tail.clear();
                }
                (Some(_), true) => return Err(Some(1002)),
                (None, true) => state.message = Some((f.opcode, Vec::new())),
                (Some(_), false) => {}
            }
            let opcode = state.message.as_ref().map_or(0x1, |(op, _)| *op);
            if opcode == 0x1 && !utf8_ok(state, &f.payload, f.fin, m) {
                return Err(Some(1007));
            }
            let (_, data) = state.message.as_mut().expect("a message is in progress");
            data.extend_from_slice(&f.payload);
            let echo_op = if has(EverythingAsText) { 0x1 } else { opcode };
            if has(FragmentsAsMessages) {
                send(0x80 | echo_op, &f.payload);
                if f.fin {
                    state.message = None;
                }
                return Ok(());
            }
            if f.fin {
                let (_, data) = state.message.take().expect("a message is in progress");
                send(0x80 | echo_op, &data);
                for ping in std::mem::take(&mut state.held) {
                    send(0x8A, &ping);
                }
            }
        }
        _ if has(IgnoresReservedOpcodes) => {}
        _ => return Err(Some(1002)),
    }
    Ok(())
}
