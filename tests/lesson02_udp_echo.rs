//! Lesson 02: the reference UDP echo passes its grader, so does a Python one, and each broken
//! server fails the check meant to catch it. The lesson's client is tried against socat, and
//! its fault injection is shown to lose and reorder.

mod common;

use common::*;
use netcourse::grader::Target;
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};

const LESSON: u32 = 2;

#[test]
fn reference_server_passes_every_check() {
    let cmd = reference_cmd(env!("CARGO_BIN_EXE_02-udp-echo"));
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
        repo("tests/peers/udp_echo.py")
    );
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
#[cfg_attr(
    missing_socat,
    ignore = "peer test: socat not found (scripts/test.sh installs it)"
)]
fn the_lesson_client_gets_replies_from_socat() {
    // socat as a UDP echo server nobody here wrote: one child per peer, piping datagrams back.
    let port = free_port();
    let socat = Command::new("socat")
        .args([
            "-b",
            "65536",
            &format!("UDP-RECVFROM:{port},bind=127.0.0.1,reuseaddr,fork"),
            "PIPE",
        ])
        .spawn()
        .unwrap();
    let _socat = Peer(socat);
    std::thread::sleep(std::time::Duration::from_millis(300)); // socat prints no ready line
    let out = pipe_through(
        Command::new(env!("CARGO_BIN_EXE_02-udp-echo")).args([
            "client",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ]),
        b"first datagram\nsecond one\n".to_vec(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "first datagram\nsecond one\n"
    );
}

#[test]
fn drop_and_reorder_are_visible_to_the_counting_client() {
    let server = env!("CARGO_BIN_EXE_02-udp-echo");
    let (_server, listeners) = start_peer(Command::new(server).args([
        "--addr",
        "127.0.0.1:0",
        "--drop",
        "0.3",
        "--reorder",
        "--seed",
        "5",
    ]));
    let addr = listeners[0].addr.to_string();
    let out = Command::new(server)
        .args([
            "client",
            "--addr",
            &addr,
            "--count",
            "400",
            "--timeout",
            "400",
        ])
        .output()
        .unwrap();
    let line = String::from_utf8_lossy(&out.stdout).to_string();
    // "sent 400 datagrams of 64 bytes: R replies, L lost (P%), 0 duplicated, X arrived after a later one"
    let number_before = |word: &str| -> u32 {
        let at = line
            .find(word)
            .unwrap_or_else(|| panic!("no {word:?} in {line:?}"));
        line[..at]
            .split_whitespace()
            .last()
            .unwrap()
            .parse()
            .unwrap()
    };
    let lost = number_before(" lost");
    let reordered = number_before(" arrived after");
    // About 30% are dropped on purpose; the client paces itself so that socket buffers do
    // not overflow and add losses of their own.
    assert!(
        (60..=200).contains(&lost),
        "about 30% of 400 should be lost: {line}"
    );
    assert!(reordered > 20, "--reorder should swap many replies: {line}");
}

#[test]
fn the_client_gives_up_after_its_retries() {
    // Nobody listens: every try times out (or is refused), and the client says so.
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = pipe_through(
        Command::new(env!("CARGO_BIN_EXE_02-udp-echo"))
            .args([
                "client",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--timeout",
                "50",
                "--retries",
                "2",
            ])
            .stderr(Stdio::null()),
        b"anyone there?\n".to_vec(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "(no reply after 3 tries)\n"
    );
}

// ---- Broken servers: one classic mistake each --------------------------------------------

/// Receives but never answers.
fn never_replies(sock: UdpSocket) {
    let mut buf = [0u8; 65536];
    while sock.recv_from(&mut buf).is_ok() {}
}

/// A 1,024-byte buffer: bigger datagrams are cut short without any error.
fn small_buffer(sock: UdpSocket) {
    let mut buf = [0u8; 1024];
    while let Ok((n, peer)) = sock.recv_from(&mut buf) {
        let _ = sock.send_to(&buf[..n], peer);
    }
}

/// "Packets should be small": replies in 512-byte pieces, breaking the datagram's boundary.
fn splits_into_chunks(sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    while let Ok((n, peer)) = sock.recv_from(&mut buf) {
        for chunk in buf[..n].chunks(512) {
            let _ = sock.send_to(chunk, peer);
        }
    }
}

/// Waits for two datagrams and answers both in one: a stream mindset.
fn joins_pairs(sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    let mut pending: Option<Vec<u8>> = None;
    while let Ok((n, peer)) = sock.recv_from(&mut buf) {
        match pending.take() {
            None => pending = Some(buf[..n].to_vec()),
            Some(mut first) => {
                first.extend_from_slice(&buf[..n]);
                let _ = sock.send_to(&first, peer);
            }
        }
    }
}

/// connect()s its socket to the first client, as a TCP server's accept would: from then on
/// the kernel drops datagrams from everybody else.
fn connects_to_first_client(sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    let mut first: Option<SocketAddr> = None;
    while let Ok((n, peer)) = sock.recv_from(&mut buf) {
        if first.is_none() {
            first = Some(peer);
            sock.connect(peer).unwrap();
        }
        let _ = sock.send(&buf[..n]);
    }
}

/// Replies from a new socket (a new port) each time: clients that filter by address, NATs and
/// firewalls never see the answer.
fn replies_from_another_port(sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    while let Ok((n, peer)) = sock.recv_from(&mut buf) {
        let other = UdpSocket::bind("127.0.0.1:0").unwrap();
        let _ = other.send_to(&buf[..n], peer);
    }
}

/// Serves ten datagrams, then returns as if the "session" were over.
fn stops_after_ten(sock: UdpSocket) {
    let mut buf = vec![0u8; 65536];
    for _ in 0..10 {
        let Ok((n, peer)) = sock.recv_from(&mut buf) else {
            return;
        };
        let _ = sock.send_to(&buf[..n], peer);
    }
}

/// Which broken server must fail which checks. Together they must trip every check.
fn broken_servers() -> Vec<Broken> {
    vec![
        broken(
            "never_replies",
            || udp_server(never_replies),
            &["does_not_echo_a_datagram"],
        ),
        broken(
            "small_buffer",
            || udp_server(small_buffer),
            &["truncates_large_datagrams"],
        ),
        broken(
            "splits_into_chunks",
            || udp_server(splits_into_chunks),
            &[
                "does_not_keep_datagram_boundaries",
                "truncates_large_datagrams",
            ],
        ),
        broken(
            "joins_pairs",
            || udp_server(joins_pairs),
            &["does_not_keep_datagram_boundaries"],
        ),
        broken(
            "connects_to_first_client",
            || udp_server(connects_to_first_client),
            &["replies_to_the_wrong_sender"],
        ),
        broken(
            "replies_from_another_port",
            || udp_server(replies_from_another_port),
            &["does_not_echo_a_datagram"],
        ),
        broken(
            "stops_after_ten",
            || udp_server(stops_after_ten),
            &["stops_after_a_few_datagrams"],
        ),
    ]
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

#[test]
fn each_broken_server_is_caught() {
    assert_all_caught(LESSON, &broken_servers());
}
