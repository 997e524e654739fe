//! The `course` command as a learner uses it: starters that compile and fail their checks until
//! the exercises are done, hints one at a time, `list` recording the learner's own passes, and
//! exit codes that scripts can trust.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;

mod common;
use common::cli::{course, scratch, text};

/// A correct echo server in this process, for `--addr` runs.
fn echo_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 65536];
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                if conn.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = conn.shutdown(std::net::Shutdown::Write);
        }
    });
    addr
}

#[test]
fn starters_compile_and_fail_their_checks_until_the_exercises_are_done() {
    let home = scratch("starter-home");
    // One target folder for all starters: their dependencies are built once.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("starter-target");
    // Extra arguments for the starter's server, as a learner would pass them for grading.
    for (lesson, name, extra) in [
        ("01", "01-tcp-echo", ""),
        ("02", "02-udp-echo", ""),
        ("03", "03-framing", ""),
        ("04", "04-threaded-chat", ""),
        ("05", "05-mio-echo", ""),
        ("06", "06-mio-chat", ""),
        ("07", "07-http-server", " --header-timeout 1"),
        ("09", "09-ws-handshake", " --handshake-timeout 1"),
        ("11", "11-ws-server", " --handshake-timeout 1"),
        ("08", "08-http-realtime", " --tick-ms 0"),
        ("10", "10-ws-frames", ""),
        ("15", "15-dns", " --zone {zone}"),
    ] {
        let dir = home.join(format!("starter-{lesson}"));
        let out = course(&home, &["new", lesson, dir.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("exercises"), "{}", text(&out));
        let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
        let all: String = [
            "src/main.rs",
            "src/lib.rs",
            "src/framing.rs",
            "src/event_loop.rs",
            "src/realtime/mod.rs",
            "src/ws/handshake/mod.rs",
            "src/ws/handshake/server.rs",
            "src/ws/decoder.rs",
            "src/dns/message.rs",
        ]
        .iter()
        .filter_map(|f| std::fs::read_to_string(dir.join(f)).ok())
        .collect();
        assert!(
            all.contains("todo!(\"exercise 1"),
            "{lesson}: no exercise cut out"
        );
        assert!(all.contains("// hint:"), "{lesson}: hints are kept");
        assert!(main.contains("fn main()"));

        let build = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--offline", "--manifest-path"])
            .arg(dir.join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(
            build.status.success(),
            "the {lesson} starter must compile:\n{}",
            text(&build)
        );

        let binary = target.join("debug").join(name);
        let cmd = format!("{} --addr 127.0.0.1:0{extra}", binary.display());
        let out = course(
            &home,
            &[
                "check",
                lesson,
                "--cmd",
                &cmd,
                "--timeout",
                "1.5",
                "--seed",
                "9",
            ],
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "the {lesson} starter must fail its checks:\n{}",
            text(&out)
        );
        assert!(text(&out).contains("FAIL"), "{}", text(&out));
        assert!(
            text(&out).contains("not yet implemented: exercise"),
            "the panic shows:\n{}",
            text(&out)
        );
    }
}

/// Lesson 12 grades a client: its starter is started with `echo {url}` (the grader listens),
/// not with `--addr`, so it has a test of its own.
#[test]
fn the_client_starter_compiles_and_fails_its_checks() {
    let home = scratch("starter-home-12");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("starter-target");
    let dir = home.join("starter-12");
    let out = course(&home, &["new", "12", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let client_rs =
        std::fs::read_to_string(dir.join("src/ws/handshake/client.rs")).unwrap_or_default();
    assert!(
        client_rs.contains("todo!(\"exercise 1"),
        "the accept-key check is cut out of ws/handshake/client.rs"
    );
    let build = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the 12 starter must compile:\n{}",
        text(&build)
    );
    let cmd = format!(
        "{} echo {{url}}",
        target.join("debug/12-ws-client").display()
    );
    let out = course(
        &home,
        &[
            "check",
            "12",
            "--cmd",
            &cmd,
            "--timeout",
            "1.5",
            "--seed",
            "9",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not yet implemented: exercise"),
        "the panic shows:\n{}",
        text(&out)
    );
}

/// Lesson 16's first exercise sets the listener's options, before bind: its starter stops at
/// start-up, so the grader reports the server's panic instead of running checks.
#[test]
fn the_sockopts_starter_compiles_and_fails_its_checks() {
    let home = scratch("starter-home-16");
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("starter-target");
    let dir = home.join("starter-16");
    let out = course(&home, &["new", "16", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let main = std::fs::read_to_string(dir.join("src/main.rs")).unwrap();
    assert!(main.contains("todo!(\"exercise 1") && main.contains("todo!(\"exercise 2"));
    assert!(main.contains("// hint:"), "hints are kept");
    let build = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--offline", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target)
        .output()
        .unwrap();
    assert!(
        build.status.success(),
        "the 16 starter must compile:\n{}",
        text(&build)
    );
    let cmd = format!(
        "{} --addr 127.0.0.1:0",
        target.join("debug/16-sockopts").display()
    );
    let out = course(&home, &["check", "16", "--cmd", &cmd, "--timeout", "1.5"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not yet implemented: exercise 1"),
        "the panic shows:\n{}",
        text(&out)
    );
}

#[test]
fn hints_come_one_at_a_time_then_all_or_again() {
    let home = scratch("hint-home");
    let first = text(&course(&home, &["hint", "01"]));
    assert!(first.starts_with("Hint 1 of "), "{first}");
    let second = text(&course(&home, &["hint", "01"]));
    assert!(second.starts_with("Hint 2 of "), "{second}");
    assert_ne!(first, second);
    let all = text(&course(&home, &["hint", "01", "--all"]));
    assert!(
        all.contains("Hint 1 of") && all.contains("Hint 2 of"),
        "{all}"
    );
    course(&home, &["hint", "01", "--reset"]);
    assert!(text(&course(&home, &["hint", "01"])).starts_with("Hint 1 of "));
}

#[test]
fn a_pass_by_the_learners_own_server_is_recorded_in_list() {
    let home = scratch("list-home");
    let before = text(&course(&home, &["list"]));
    assert!(
        before.contains("01-tcp-echo") && before.contains("16-sockopts"),
        "{before}"
    );
    assert!(!before.contains("passed by your work"));

    let addr = echo_server();
    let out = course(&home, &["check", "01", "--addr", &addr]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    let after = text(&course(&home, &["list"]));
    assert!(after.contains("passed by your work"), "{after}");
}

#[test]
fn the_reference_passing_is_not_recorded_as_the_learners_work() {
    let home = scratch("reference-home");
    let cmd = format!("{} --addr 127.0.0.1:0", env!("CARGO_BIN_EXE_02-udp-echo"));
    let out = course(&home, &["check", "02", "--cmd", &cmd]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(!text(&course(&home, &["list"])).contains("passed by your work"));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn a_course_peer_passing_is_not_recorded_as_the_learners_work() {
    let home = scratch("peer-home");
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/tcp_echo.py");
    let cmd = format!("python3 {peer} --addr 127.0.0.1:0");
    let out = course(&home, &["check", "01", "--cmd", &cmd]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("tests/peers/"), "{}", text(&out));
    assert!(!text(&course(&home, &["list"])).contains("passed by your work"));
}

#[test]
fn a_failing_run_exits_1_and_prints_the_seed_to_replay() {
    let home = scratch("fail-home");
    // Accepts and says nothing: every check that expects an answer fails by timeout.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for conn in listener.incoming().map_while(Result::ok) {
            held.push(conn);
        }
    });
    let out = course(
        &home,
        &[
            "check",
            "01",
            "--addr",
            &addr,
            "--timeout",
            "0.5",
            "--seed",
            "1234",
            "--only",
            "stops_after",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--seed 1234"), "{}", text(&out));
}

#[test]
fn a_server_that_dies_at_startup_is_explained() {
    let home = scratch("dead-home");
    let out = course(
        &home,
        &[
            "check",
            "01",
            "--cmd",
            "echo booting; echo 'cannot bind' >&2; exit 3",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("exit code 3") && t.contains("cannot bind"),
        "{t}"
    );
}

#[test]
fn diagrams_are_current() {
    let home = scratch("diagrams-home");
    let out = course(&home, &["diagrams", "--check"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn unknown_lessons_are_refused_clearly() {
    let home = scratch("unknown-home");
    let out = course(&home, &["check", "42", "--addr", "127.0.0.1:1"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no lesson 42"), "{}", text(&out));
    let out = course(&home, &["new", "13"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("no reference yet"), "{}", text(&out));
}
