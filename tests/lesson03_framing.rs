//! Lesson 03: the reference framing server passes its grader; a second, independent server
//! written here passes it too; and that same server with one classic mistake switched on fails
//! the check meant to catch that mistake, for every check.

mod common;

use common::*;
use netcourse::grader::Target;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;

const LESSON: u32 = 3;

#[test]
fn reference_server_passes_every_check() {
    let cmd = reference_cmd(env!("CARGO_BIN_EXE_03-framing"));
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
fn an_independent_server_passes_every_check() {
    assert_passes(LESSON, Target::Running(tcp_server(|c| serve(c, None))));
}

#[test]
#[cfg_attr(
    missing_nc,
    ignore = "peer test: nc not found (scripts/test.sh installs it)"
)]
fn nc_speaks_both_framings() {
    let (_server, listeners) =
        start_peer(Command::new(env!("CARGO_BIN_EXE_03-framing")).args(["--addr", "127.0.0.1:0"]));
    let addr = listeners[0].addr;
    let mut input = b"REV hello\r\nECHO a b c\nBINARY\n".to_vec();
    input.extend_from_slice(&[0, 0, 0, 8]);
    input.extend_from_slice(b"ECHO \0\n!");
    let out = pipe_through(
        Command::new("nc").args(["-N", &addr.ip().to_string(), &addr.port().to_string()]),
        input,
    );
    assert_eq!(out.stdout, b"olleh\na b c\nOK\n\x00\x00\x00\x03\0\n!");
}

#[test]
fn the_lesson_client_switches_to_frames() {
    let (_server, listeners) =
        start_peer(Command::new(env!("CARGO_BIN_EXE_03-framing")).args(["--addr", "127.0.0.1:0"]));
    let out = pipe_through(
        Command::new(env!("CARGO_BIN_EXE_03-framing")).args([
            "client",
            "--binary",
            "--addr",
            &listeners[0].addr.to_string(),
        ]),
        b"REV framed\nECHO two\n".to_vec(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(switched to length-prefixed frames)\ndemarf\ntwo\n"
    );
}

// ---- An independent server, and its classic mistakes ----------------------------------------

/// One mistake to switch on in [`serve`]. Each is a bug learners really write.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mistake {
    /// Reads until end of stream before answering anything.
    AnswersOnlyAtEof,
    /// Takes each read as exactly one message.
    OneReadOneMessage,
    /// Answers the first message in a read and drops the rest of the buffer.
    FirstMessagePerRead,
    /// Keeps complete messages but throws away the unfinished tail of each read.
    DropsPartialTail,
    /// Does not strip the `\r` of a `\r\n` line ending.
    KeepsCarriageReturn,
    /// Refuses lines of exactly 1,024 bytes (off by one).
    LineLimitOffByOne,
    /// Buffers a line without end, forever.
    NoLineLimit,
    /// Closes the connection on an unknown command.
    ClosesOnUnknownCommand,
    /// On end of stream, stops reading but never closes.
    NeverClosesAtEof,
    /// Answers BYE but keeps the connection open.
    IgnoresQuit,
    /// Starts a new, empty buffer after BINARY.
    FreshBufferAfterSwitch,
    /// Decodes the length prefix from whatever bytes are there, even fewer than 4.
    PrefixFromOneRead,
    /// Treats payloads as text (lossy UTF-8) and trims line endings.
    TextPayloads,
    /// Reads the length little-endian.
    LittleEndianLength,
    /// Waits for any announced payload, however large.
    NoFrameLimit,
    /// Limits frames to 64 KiB instead of 1 MiB.
    FrameLimitTooSmall,
    /// Unwraps I/O errors: a reset kills the server.
    DiesOnReset,
    /// Serves one client, then stops accepting.
    OneClientOnly,
}

/// Serve one connection of the lesson 03 protocol, with at most one mistake.
fn serve(mut conn: TcpStream, mistake: Option<Mistake>) {
    use Mistake::*;
    let is = |m: Mistake| mistake == Some(m);
    let mut buf: Vec<u8> = Vec::new();
    let mut binary = false;
    let mut chunk = [0u8; 8192];
    if is(AnswersOnlyAtEof) {
        let _ = conn.read_to_end(&mut buf);
    }
    loop {
        if !is(AnswersOnlyAtEof) {
            let n = match conn.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if is(DiesOnReset) => panic!("read: {e}"),
                Err(_) => return,
            };
            if is(OneReadOneMessage) && !binary {
                buf.clear();
            }
            buf.extend_from_slice(&chunk[..n]);
            if is(OneReadOneMessage) && !binary && !buf.ends_with(b"\n") {
                buf.push(b'\n');
            }
        }
        let mut out = Vec::new();
        let mut close = false;
        loop {
            // Cut one message off the front of the buffer, if a whole one is there.
            let message = if !binary {
                let limit = if is(LineLimitOffByOne) { 1023 } else { 1024 };
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i)
                        if i <= limit
                            || is(NoLineLimit)
                            || (i == limit + 1 && buf[i - 1] == b'\r') =>
                    {
                        let mut line: Vec<u8> = buf.drain(..=i).collect();
                        line.pop();
                        if line.last() == Some(&b'\r') && !is(KeepsCarriageReturn) {
                            line.pop();
                        }
                        line
                    }
                    Some(_) => {
                        out.extend_from_slice(b"ERR line too long\n");
                        close = true;
                        break;
                    }
                    None if buf.len() > limit && !is(NoLineLimit) => {
                        out.extend_from_slice(b"ERR line too long\n");
                        close = true;
                        break;
                    }
                    None => break,
                }
            } else {
                // The mistake: decode whatever is there as the prefix, even 1 to 3 bytes.
                let enough = if is(PrefixFromOneRead) { 1 } else { 4 };
                if buf.len() < enough {
                    break;
                }
                let mut prefix = [0u8; 4];
                let have = buf.len().min(4);
                prefix[..have].copy_from_slice(&buf[..have]);
                let len = if is(LittleEndianLength) {
                    u32::from_le_bytes(prefix)
                } else {
                    u32::from_be_bytes(prefix)
                } as usize;
                let limit = if is(FrameLimitTooSmall) {
                    64 * 1024
                } else {
                    1 << 20
                };
                if len > limit && !is(NoFrameLimit) {
                    out.extend_from_slice(&frame(b"ERR frame too large"));
                    close = true;
                    break;
                }
                if buf.len() < have + len {
                    break;
                }
                buf.drain(..have);
                buf.drain(..len).collect()
            };
            let (command, data) = match message.iter().position(|&b| b == b' ') {
                Some(i) => (&message[..i], message[i + 1..].to_vec()),
                None => (&message[..], Vec::new()),
            };
            let data = if is(TextPayloads) && binary {
                String::from_utf8_lossy(&data)
                    .trim_end()
                    .as_bytes()
                    .to_vec()
            } else {
                data
            };
            let (answer, then): (Vec<u8>, &str) = match command {
                b"ECHO" => (data, ""),
                b"REV" => (data.into_iter().rev().collect(), ""),
                b"BINARY" if !binary => (b"OK".to_vec(), "switch"),
                b"QUIT" => (b"BYE".to_vec(), "close"),
                _ => (
                    b"ERR unknown command".to_vec(),
                    if is(ClosesOnUnknownCommand) {
                        "close"
                    } else {
                        ""
                    },
                ),
            };
            if binary {
                out.extend_from_slice(&frame(&answer));
            } else {
                out.extend_from_slice(&answer);
                out.push(b'\n');
            }
            match then {
                "switch" => {
                    binary = true;
                    if is(FreshBufferAfterSwitch) {
                        buf.clear();
                    }
                }
                "close" if !is(IgnoresQuit) || command != b"QUIT" => {
                    close = true;
                    break;
                }
                _ => {}
            }
            if is(FirstMessagePerRead) {
                buf.clear();
                break;
            }
        }
        if is(DropsPartialTail) {
            buf.clear();
        }
        if let Err(e) = conn.write_all(&out) {
            if is(DiesOnReset) {
                panic!("write: {e}");
            }
            return;
        }
        if close {
            // A lingering close: stop sending, drain what the client still sends, then close.
            let _ = conn.shutdown(Shutdown::Write);
            conn.set_read_timeout(Some(std::time::Duration::from_millis(500)))
                .ok();
            let _ = std::io::copy(&mut conn.take(1 << 22), &mut std::io::sink());
            return;
        }
        if is(AnswersOnlyAtEof) {
            break;
        }
    }
    if is(NeverClosesAtEof) {
        std::mem::forget(conn);
        return;
    }
    let _ = conn.shutdown(Shutdown::Write);
}

fn frame(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
}

/// Which mistake must fail which checks. Together they must trip every check.
fn broken_servers() -> Vec<Broken> {
    let cases: &[(Mistake, &'static [&'static str])] = &[
        (Mistake::AnswersOnlyAtEof, &["does_not_answer_a_request"]),
        (
            Mistake::OneReadOneMessage,
            &["assumes_one_read_is_one_message"],
        ),
        (
            Mistake::FirstMessagePerRead,
            &["answers_one_message_per_read"],
        ),
        (
            Mistake::DropsPartialTail,
            &["loses_a_message_split_across_reads"],
        ),
        (Mistake::KeepsCarriageReturn, &["keeps_the_carriage_return"]),
        (
            Mistake::LineLimitOffByOne,
            &["refuses_a_line_within_the_limit"],
        ),
        (Mistake::NoLineLimit, &["has_no_line_length_limit"]),
        (
            Mistake::ClosesOnUnknownCommand,
            &["mishandles_an_unknown_command"],
        ),
        (Mistake::NeverClosesAtEof, &["ignores_half_close"]),
        (Mistake::IgnoresQuit, &["ignores_quit"]),
        (
            Mistake::FreshBufferAfterSwitch,
            &["loses_bytes_read_before_the_switch"],
        ),
        (
            Mistake::PrefixFromOneRead,
            &["assumes_the_length_prefix_arrives_in_one_read"],
        ),
        (Mistake::TextPayloads, &["mangles_binary_payloads"]),
        (
            Mistake::LittleEndianLength,
            &["reads_the_length_prefix_little_endian"],
        ),
        (Mistake::NoFrameLimit, &["has_no_frame_length_limit"]),
        (
            Mistake::FrameLimitTooSmall,
            &["refuses_a_frame_within_the_limit"],
        ),
        (Mistake::DiesOnReset, &["dies_when_a_client_resets"]),
        (Mistake::OneClientOnly, &["serves_only_one_client"]),
    ];
    cases
        .iter()
        .map(|&(m, must_fail)| broken(format!("{m:?}"), move || start_with(m), must_fail))
        .collect()
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

/// An iterative server with one mistake switched on.
fn start_with(mistake: Mistake) -> Vec<netcourse::grader::Listener> {
    use std::net::TcpListener;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            serve(conn, Some(mistake));
            if mistake == Mistake::OneClientOnly {
                return; // the listener closes with this thread
            }
        }
    });
    tcp(addr)
}

#[test]
fn each_broken_server_is_caught() {
    quiet_broken_server_panics();
    assert_all_caught(LESSON, &broken_servers());
}
