//! Lesson 15's grader, proven: the reference passes `course check 15`; so does an authoritative
//! server nobody here wrote (plain Python, tests/peers/dns_server15.py); each deliberate mistake
//! of that server (`--break NAME`) is caught by the check named after it; and a server that
//! never answers fails every check, in bounded time, with a non-zero exit.

mod common;

use common::*;
use netcourse::grader::{self, Listener, Options, Target};
use std::net::{TcpListener, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::Duration;

const LESSON: u32 = 15;

#[test]
fn reference_server_passes_every_check() {
    assert_passes(
        LESSON,
        Target::Command(format!(
            "{} server --zone {{zone}} --addr 127.0.0.1:0",
            env!("CARGO_BIN_EXE_15-dns")
        )),
    );
}

/// The Python server, with one mistake or none; the grader starts a fresh one for each check
/// and puts the path of its zone where `{zone}` is.
fn python(mistake: Option<&str>) -> String {
    let mut cmd = format!(
        "python3 {} --zone {{zone}} --addr 127.0.0.1:0",
        repo("tests/peers/dns_server15.py")
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
fn the_python_server_passes_every_check() {
    assert_passes(LESSON, Target::Command(python(None)));
}

/// Each mistake the Python server can make (`--break NAME`), and the check that must catch it.
const BROKEN: &[(&str, &str)] = &[
    ("id-little-endian", "answers_with_a_different_id"),
    ("no-qr", "forgets_the_qr_bit"),
    ("lowercases-question", "does_not_copy_the_question"),
    ("case-sensitive", "matches_names_case_sensitively"),
    ("rd-always-set", "does_not_copy_rd"),
    ("ra-set", "claims_recursion_available"),
    ("no-aa", "forgets_authoritative_answer"),
    ("ignores-record-ttl", "wrong_a_record"),
    ("aaaa-expands-wrong", "wrong_aaaa_record"),
    ("txt-joined", "mangles_txt_strings"),
    ("mx-relative-name", "wrong_name_in_rdata"),
    ("cname-only", "does_not_follow_cnames_in_the_zone"),
    ("cname-out-refused", "fails_a_cname_that_leaves_the_zone"),
    (
        "cname-query-follows",
        "answers_cname_queries_with_the_target",
    ),
    ("nxdomain-no-soa", "nxdomain_without_soa"),
    ("negative-ttl-soa", "nxdomain_without_soa"),
    ("ent-nxdomain", "confuses_nodata_with_nxdomain"),
    ("suffix-match", "answers_outside_the_zone"),
    ("ignores-opcode", "answers_unknown_opcodes"),
    ("answers-qr", "answers_responses"),
    ("loops-on-pointers", "loops_on_compression_pointers"),
    ("crash-on-short", "answers_a_malformed_question"),
    ("qdcount-ignored", "answers_a_malformed_question"),
    ("label-64-ok", "accepts_a_label_over_63"),
    ("no-opt", "ignores_edns"),
    ("edns-version-ignored", "ignores_the_edns_version"),
    ("tc-never", "sends_oversized_udp_replies"),
    ("ignores-edns-size", "truncates_even_when_edns_allows_more"),
    ("edns-size-literal", "treats_a_small_edns_size_literally"),
    ("tcp-truncates", "truncates_over_tcp"),
    ("tcp-no-prefix", "forgets_the_tcp_length_prefix"),
    ("one-read-one-message", "assumes_one_read_is_one_message"),
    ("one-query-per-tcp", "closes_tcp_after_one_query"),
    ("blocking-tcp", "blocks_on_a_stalled_tcp_client"),
    ("separate-ports", "udp_and_tcp_on_different_ports"),
    ("pointers-count-tcp-prefix", "miscounts_compression_offsets"),
    ("two-opt-ok", "accepts_two_opt_records"),
    ("long-name-ok", "accepts_a_name_over_255"),
    ("crash-on-reset", "dies_on_a_reset_connection"),
    ("udp-first-peer", "replies_to_the_wrong_client"),
];

#[test]
fn every_check_is_proven_by_a_broken_server() {
    let suite = grader::suite(LESSON).unwrap();
    for check in suite.checks {
        assert!(
            BROKEN.iter().any(|(_, n)| *n == check.name),
            "lesson 15: no broken server proves that `{}` can fail",
            check.name
        );
    }
    for (mistake, name) in BROKEN {
        assert!(
            suite.checks.iter().any(|c| c.name == *name),
            "`{mistake}` is meant to fail `{name}`, which is no check of lesson 15"
        );
    }
    // And the table lists every mistake the Python server knows, so none goes unproven.
    let script = std::fs::read_to_string(repo("tests/peers/dns_server15.py")).unwrap();
    let block = script
        .split_once("BREAKS = {")
        .and_then(|(_, rest)| rest.split_once("\n}"))
        .expect("the script has a BREAKS table")
        .0;
    let known: Vec<&str> = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"')?.split_once('"').map(|(k, _)| k))
        .collect();
    assert_eq!(known.len(), BROKEN.len(), "{known:?}");
    for k in known {
        assert!(
            BROKEN.iter().any(|(m, _)| *m == k),
            "--break {k} is in the script but not in BROKEN"
        );
    }
}

/// Run `name` alone against `target`; a problem if it passes.
fn caught(mistake: &str, name: &str, target: Target) -> Option<String> {
    let options = Options {
        only: Some(name.to_string()),
        ..quick()
    };
    let (report, out) = grade(LESSON, &target, &options);
    (!report.failed().contains(&name))
        .then(|| format!("lesson 15: the broken server `{mistake}` should fail `{name}`\n{out}"))
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn each_broken_python_server_is_caught() {
    // Two at a time: the machine also runs the servers.
    let next = AtomicUsize::new(0);
    let problems = Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((mistake, name)) = BROKEN.get(i) else {
                    return;
                };
                if let Some(p) = caught(mistake, name, Target::Command(python(Some(mistake)))) {
                    problems.lock().unwrap().push(p);
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A "server" that never answers: a UDP socket that reads and drops every datagram, and on the
/// same port a TCP listener whose connections are accepted by the kernel but never read.
fn silent_server() -> (UdpSocket, TcpListener) {
    loop {
        let tcp = TcpListener::bind("127.0.0.1:0").unwrap();
        if let Ok(udp) = UdpSocket::bind(tcp.local_addr().unwrap()) {
            let drop_all = udp.try_clone().unwrap();
            thread::spawn(move || {
                let mut buf = [0u8; 65_536];
                while drop_all.recv_from(&mut buf).is_ok() {}
            });
            return (udp, tcp);
        }
    }
}

#[test]
fn a_server_that_never_answers_fails_every_check_and_the_grader_exits_non_zero() {
    let (udp, tcp) = silent_server();
    let listeners = vec![
        Listener {
            scheme: "udp".into(),
            addr: udp.local_addr().unwrap(),
        },
        Listener {
            scheme: "tcp".into(),
            addr: tcp.local_addr().unwrap(),
        },
    ];
    // The grader in a thread, so that a grader that hangs fails this test instead of hanging it.
    let (done, finished) = mpsc::channel();
    let target = Target::Running(listeners);
    thread::spawn(move || {
        let options = Options {
            timeout: Duration::from_millis(600),
            ..quick()
        };
        let _ = done.send(grade(LESSON, &target, &options));
    });
    let (report, out) = finished
        .recv_timeout(Duration::from_secs(300))
        .expect("the grader finishes against a silent server: every read has a deadline");
    let suite = grader::suite(LESSON).unwrap();
    assert_eq!(report.outcomes.len(), suite.checks.len(), "{out}");
    assert_eq!(report.failed().len(), suite.checks.len(), "{out}");

    // And the command line says so with its exit code (one check, to keep it short); with
    // --addr IP:PORT alone, TCP is looked for on the same port.
    let status = Command::new(env!("CARGO_BIN_EXE_course"))
        .args([
            "check",
            "15",
            "--timeout",
            "0.6",
            "--only",
            "wrong_a_record",
        ])
        .arg("--addr")
        .arg(udp.local_addr().unwrap().to_string())
        .env(
            "NETCOURSE_HOME",
            std::env::temp_dir().join("netcourse-test-15"),
        )
        .output()
        .expect("course runs");
    let stdout = String::from_utf8_lossy(&status.stdout);
    assert_eq!(status.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL  wrong_a_record") && stdout.contains("lessons/15-dns/grader.zone"),
        "the first check's failure names the zone file to serve:\n{stdout}"
    );
}
