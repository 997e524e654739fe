//! Lesson 01: the reference TCP echo passes its grader; servers written by others (Python,
//! socat) pass it too; and each deliberately broken server fails the check meant to catch it.

mod common;

use common::*;
use netcourse::grader::{Options, Target};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;

const LESSON: u32 = 1;

#[test]
fn reference_server_passes_every_check() {
    let cmd = reference_cmd(env!("CARGO_BIN_EXE_01-tcp-echo"));
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn a_python_echo_server_passes_every_check() {
    let cmd = format!(
        "python3 {} --addr 127.0.0.1:0",
        repo("tests/peers/tcp_echo.py")
    );
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
#[cfg_attr(
    missing_socat,
    ignore = "peer test: socat not found (scripts/test.sh installs it)"
)]
fn socat_as_an_echo_server_passes_every_check() {
    let (_socat, addr) = socat_tcp_echo();
    assert_passes(LESSON, Target::Running(tcp(addr)));
}

#[test]
#[cfg_attr(
    missing_nc,
    ignore = "peer test: nc not found (scripts/test.sh installs it)"
)]
fn nc_gets_its_bytes_back_and_sees_the_close() {
    let (_server, listeners) =
        start_peer(Command::new(env!("CARGO_BIN_EXE_01-tcp-echo")).args(["--addr", "127.0.0.1:0"]));
    let addr = listeners[0].addr;
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    // nc -N: shut down the socket's sending side after end of input, then print until EOF.
    let out = pipe_through(
        Command::new("nc").args(["-N", &addr.ip().to_string(), &addr.port().to_string()]),
        payload.clone(),
    );
    assert!(out.status.success());
    assert!(
        out.stdout == payload,
        "nc got {} bytes back, not the {} it sent",
        out.stdout.len(),
        payload.len()
    );
}

#[test]
#[cfg_attr(
    missing_socat,
    ignore = "peer test: socat not found (scripts/test.sh installs it)"
)]
fn the_lesson_client_talks_to_socat() {
    // The other direction: our client against an echo server nobody here wrote.
    let (_socat, addr) = socat_tcp_echo();
    let payload: Vec<u8> = (0..3_000_000u32).map(|i| (i % 253) as u8).collect();
    let out = pipe_through(
        Command::new(env!("CARGO_BIN_EXE_01-tcp-echo")).args([
            "client",
            "--addr",
            &addr.to_string(),
        ]),
        payload.clone(),
    );
    assert!(out.status.success());
    assert!(
        out.stdout == payload,
        "{} bytes sent, {} came back different",
        payload.len(),
        out.stdout.len()
    );
}

// ---- Broken servers: one classic mistake each --------------------------------------------

/// Reads until end of stream, then echoes it all: fine for a file, deaf to an interactive client.
fn echo_after_eof(mut conn: TcpStream) {
    let mut all = Vec::new();
    let _ = conn.read_to_end(&mut all);
    let _ = conn.write_all(&all);
}

/// One read, one write, close: assumes the client's message arrives in one read.
fn single_read(mut conn: TcpStream) {
    let mut buf = [0u8; 4096];
    if let Ok(n) = conn.read(&mut buf) {
        let _ = conn.write_all(&buf[..n]);
    }
}

/// Writes back the whole buffer instead of the `n` bytes the read returned.
fn whole_buffer(mut conn: TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        let _ = n;
        if conn.write_all(&buf).is_err() {
            return;
        }
    }
}

/// Echoes line by line as text: mangles binary data and invents a final newline.
fn line_based(conn: TcpStream) {
    let mut out = conn.try_clone().unwrap();
    for line in BufReader::new(conn).lines() {
        let Ok(line) = line else { return };
        if writeln!(out, "{line}").is_err() {
            return;
        }
    }
}

/// Echoes the first line of each read and drops the rest: one read taken for one message.
fn first_line_per_read(mut conn: TcpStream) {
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        let end = buf[..n]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(n, |i| i + 1);
        if conn.write_all(&buf[..end]).is_err() {
            return;
        }
    }
}

/// On end of stream it stops reading but never closes: the connection is kept in a list.
fn keeps_connection_after_eof(mut conn: TcpStream) {
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if conn.write_all(&buf[..n]).is_err() {
            return;
        }
    }
    std::mem::forget(conn); // "kept for later": never closed
}

/// Unwraps every I/O result: the first reset panics, and the server is gone.
fn dies_on_reset(mut conn: TcpStream) {
    let mut buf = [0u8; 65536];
    loop {
        let n = conn.read(&mut buf).unwrap();
        if n == 0 {
            conn.shutdown(Shutdown::Write).unwrap();
            return;
        }
        conn.write_all(&buf[..n]).unwrap();
    }
}

/// A correct echo for one connection, then the server stops accepting.
fn one_client_only(mut conn: TcpStream) {
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if conn.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = conn.shutdown(Shutdown::Write);
    panic!("this server serves one client and exits");
}

/// Which broken server must fail which checks. Together they must trip every check.
fn broken_servers() -> Vec<Broken> {
    vec![
        broken(
            "echo_after_eof",
            || tcp_server(echo_after_eof),
            &["waits_for_end_of_stream_before_echoing"],
        ),
        broken(
            "single_read",
            || tcp_server(single_read),
            &[
                "stops_after_the_first_read",
                "assumes_one_read_is_one_message",
            ],
        ),
        broken(
            "whole_buffer",
            || tcp_server(whole_buffer),
            &["corrupts_large_payloads", "ignores_half_close"],
        ),
        broken(
            "line_based",
            || tcp_server(line_based),
            &["corrupts_large_payloads", "ignores_half_close"],
        ),
        broken(
            "first_line_per_read",
            || tcp_server(first_line_per_read),
            &["assumes_one_write_is_one_read"],
        ),
        broken(
            "keeps_connection_after_eof",
            || tcp_server(keeps_connection_after_eof),
            &["ignores_half_close"],
        ),
        broken(
            "dies_on_reset",
            || tcp_server(dies_on_reset),
            &["dies_when_a_client_resets"],
        ),
        broken(
            "one_client_only",
            || tcp_server(one_client_only),
            &["serves_only_one_client"],
        ),
    ]
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

#[test]
fn each_broken_server_is_caught() {
    quiet_broken_server_panics();
    assert_all_caught(LESSON, &broken_servers());
}
#[test]
fn a_failure_shows_sent_expected_received_and_the_misconception() {
    let options = Options {
        only: Some("assumes_one_read_is_one_message".into()),
        ..quick()
    };
    let (report, out) = grade(LESSON, &Target::Running(tcp_server(single_read)), &options);
    assert!(!report.passed());
    for part in [
        "FAIL  assumes_one_read_is_one_message",
        "sent",
        "expected",
        "received",
        "^^ first difference at byte 1",
        "The misconception:",
    ] {
        assert!(out.contains(part), "missing {part:?} in:\n{out}");
    }
}
