//! Lesson 06: the chat on the event loop passes the chat checks (the same checks as lesson
//! 04; tests/lesson04_threaded_chat.rs proves with broken servers that each of them can fail),
//! talks to nc, and its slow consumer bound is what makes the slow-consumer check pass.

mod common;

use common::*;
use netcourse::grader::{Options, Target};
use std::process::Command;

const LESSON: u32 = 6;
const BIN: &str = env!("CARGO_BIN_EXE_06-mio-chat");

#[test]
fn reference_server_passes_every_check() {
    assert_passes(
        LESSON,
        Target::Command(format!("{BIN} --addr 127.0.0.1:0 --idle-timeout 2")),
    );
}

#[test]
fn without_its_queue_bound_the_slow_consumer_check_fails() {
    // The same server told to queue up to 1 GiB for a client: a member that never reads is
    // never dropped, and its queue grows instead.
    let options = Options {
        only: Some("never_drops_a_slow_consumer".into()),
        ..quick()
    };
    let cmd = format!("{BIN} --addr 127.0.0.1:0 --idle-timeout 2 --max-queue 1073741824");
    let (report, out) = grade(LESSON, &Target::Command(cmd), &options);
    assert_eq!(
        report.failed(),
        vec!["never_drops_a_slow_consumer"],
        "{out}"
    );
}

#[test]
#[cfg_attr(
    missing_nc,
    ignore = "peer test: nc not found (scripts/test.sh installs it)"
)]
fn nc_is_a_chat_client() {
    let (_server, listeners) = start_peer(Command::new(BIN).args(["--addr", "127.0.0.1:0"]));
    let addr = listeners[0].addr;
    let out = pipe_through(
        Command::new("nc").args(["-N", &addr.ip().to_string(), &addr.port().to_string()]),
        b"NICK ada\nJOIN rust\nSAY rust hello from nc\nQUIT\n".to_vec(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HELLO 30\nOK NICK ada\nOK JOIN rust\nMSG rust ada hello from nc\nBYE\n"
    );
}

#[test]
fn the_lesson_client_chats() {
    let (_server, listeners) = start_peer(Command::new(BIN).args(["--addr", "127.0.0.1:0"]));
    let out = pipe_through(
        Command::new(BIN).args(["client", "--addr", &listeners[0].addr.to_string()]),
        b"NICK bob\nPING\nQUIT\n".to_vec(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HELLO 30\nOK NICK bob\nPONG\nBYE\n"
    );
}
