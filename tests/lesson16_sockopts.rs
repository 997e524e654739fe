//! Lesson 16: each experiment shows, on this machine's kernel, the effect its table claims
//! (only effects that do not depend on timing are asserted: the machine is shared); the
//! reference server and an independent Python one pass `course check 16`; and each deliberately
//! broken server fails the check meant for it.

mod common;

use common::*;
use netcourse::grader::{Options, Target};
use std::io::Read;
use std::net::TcpStream;
use std::process::Command;

const LESSON: u32 = 16;
const BIN: &str = env!("CARGO_BIN_EXE_16-sockopts");

/// Run one experiment and return its output, which must end well.
fn run(experiment: &str) -> String {
    let out = Command::new(BIN).arg(experiment).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{experiment} failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The table rows of an experiment's output: lines indented by two spaces, cut into cells at
/// runs of two or more spaces.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        })
        .collect()
}

/// The row whose first cell is `label`.
fn row<'a>(rows: &'a [Vec<String>], label: &str) -> &'a [String] {
    rows.iter()
        .find(|r| r.first().is_some_and(|c| c == label))
        .unwrap_or_else(|| panic!("no row {label:?} in {rows:?}"))
}

fn number(cell: &str) -> f64 {
    cell.split_whitespace()
        .last()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{cell:?} is not a number"))
}

#[test]
fn without_an_experiment_it_lists_them_and_runs_the_server() {
    // Like every lesson it runs alone: the menu on stderr, then the server on 127.0.0.1:7016
    // (which may be taken on a busy machine: the menu is what this test reads).
    let mut child = Command::new(BIN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    let mut line = String::new();
    while std::io::BufRead::read_line(&mut stderr, &mut line).unwrap_or(0) > 0 {
        text.push_str(&line);
        if line.contains("With no experiment named") {
            break;
        }
        line.clear();
    }
    let _ = child.kill();
    let _ = child.wait();
    for name in [
        "reuseaddr",
        "nodelay",
        "linger",
        "buffers",
        "keepalive",
        "v6only",
        "backlog",
        "reuseport",
        "all",
        "server",
    ] {
        assert!(
            text.contains(&format!("  {name} ")),
            "{name} missing:\n{text}"
        );
    }
    assert!(text.contains("runs the server"), "{text}");
}

#[test]
fn time_wait_on_the_servers_port_needs_so_reuseaddr_in_both_runs() {
    let out = run("reuseaddr");
    let rows = rows(&out);
    // closed first | old listener | server's end | client's end | plain bind | SO_REUSEADDR bind
    let client_first = row(&rows, "client");
    assert_eq!(
        client_first[2..],
        ["gone", "TIME-WAIT", "ok", "ok"],
        "{out}"
    );
    let servers: Vec<&Vec<String>> = rows.iter().filter(|r| r[0] == "server").collect();
    assert_eq!(
        servers[0][1..],
        ["no option", "TIME-WAIT", "gone", "EADDRINUSE", "EADDRINUSE"],
        "{out}"
    );
    assert_eq!(
        servers[1][1..],
        ["SO_REUSEADDR", "TIME-WAIT", "gone", "EADDRINUSE", "ok"],
        "{out}"
    );
}

#[test]
fn nagle_sends_as_many_segments_and_one_write_sends_fewer() {
    let out = run("nodelay");
    let rows = rows(&out);
    // No timing is asserted: the round trips are measured and printed, the segments counted.
    let per_round = |label| number(&row(&rows, label)[4]);
    assert!(per_round("Nagle on (default), 2 writes") >= 2.0, "{out}");
    assert!(per_round("TCP_NODELAY, 2 writes") >= 2.0, "{out}");
    assert!(
        per_round("Nagle on, 1 write") < per_round("TCP_NODELAY, 2 writes"),
        "{out}"
    );
    for label in ["Nagle on (default), 2 writes", "TCP_NODELAY, 2 writes"] {
        assert_eq!(
            row(&rows, label)[1],
            "20",
            "every round was measured:\n{out}"
        );
    }
}

#[test]
fn linger_zero_resets_the_connection_and_leaves_no_time_wait() {
    let out = run("linger");
    let rows = rows(&out);
    let normal = row(&rows, "close()");
    let (read, written) = normal[2].split_once(" of ").unwrap();
    assert_eq!(read, written, "a normal close delivers every byte:\n{out}");
    assert_eq!(normal[3..], ["0: end of stream", "TIME-WAIT"], "{out}");
    for label in ["close() with 10 bytes unread", "SO_LINGER {1, 0}, close()"] {
        let r = row(&rows, label);
        assert_eq!(
            r[3..],
            ["-1 ECONNRESET", "nothing (gone)"],
            "{label}:\n{out}"
        );
        let (read, written) = r[2].split_once(" of ").unwrap();
        assert!(
            read.parse::<u64>().unwrap() < written.parse().unwrap(),
            "a reset throws away what was still queued:\n{out}"
        );
    }
}

#[test]
fn a_larger_send_buffer_takes_more_before_blocking_and_reads_back_doubled() {
    let out = run("buffers");
    let rows = rows(&out);
    let written = |label| number(&row(&rows, label)[3]);
    assert!(
        written("SO_SNDBUF 1 MiB") > written("SO_SNDBUF 64 KiB"),
        "{out}"
    );
    assert!(
        written("SO_SNDBUF 64 KiB") > written("SO_SNDBUF 4 KiB"),
        "{out}"
    );
    assert_eq!(
        row(&rows, "SO_SNDBUF 64 KiB")[1],
        "131072",
        "socket(7): doubled\n{out}"
    );
    assert_eq!(
        row(&rows, "receiver SO_RCVBUF 1 MiB")[2],
        "2097152",
        "{out}"
    );
}

#[test]
fn keepalive_probes_a_silent_peer_until_etimedout() {
    let out = run("keepalive");
    let rows = rows(&out);
    let none = row(&rows, "no keep-alive, peer silent");
    assert_eq!(none[1], "0", "no probes without keep-alive:\n{out}");
    assert!(none[3].starts_with("EAGAIN"), "{out}");
    assert_eq!(none[5], "ESTAB", "the dead peer went unnoticed:\n{out}");
    let silent = row(&rows, "keep-alive, peer silent");
    assert!(number(&silent[1]) >= 3.0, "probes were sent:\n{out}");
    assert_eq!(silent[2], "0", "none answered:\n{out}");
    assert_eq!(silent[3], "-1 ETIMEDOUT", "{out}");
    let alive = row(&rows, "keep-alive, peer alive");
    assert!(
        number(&alive[2]) >= 1.0,
        "a live peer answers probes:\n{out}"
    );
    assert_eq!(alive[5], "ESTAB", "{out}");
}

#[test]
fn v6only_decides_whether_ipv4_clients_reach_a_dual_stack_listener() {
    let out = run("v6only");
    let rows = rows(&out);
    assert_eq!(
        row(&rows, "0")[1..],
        ["ok", "::ffff:127.0.0.1", "ok", "EADDRINUSE"],
        "{out}"
    );
    assert_eq!(
        row(&rows, "1")[1..],
        ["ECONNREFUSED", "-", "ok", "ok"],
        "{out}"
    );
}

#[test]
fn the_accept_queue_is_bounded_by_the_backlog() {
    let out = run("backlog");
    let rows = rows(&out);
    for n in [0u64, 1, 4, 16] {
        let r = row(&rows, &n.to_string());
        let (clients, queued) = (number(&r[1]) as u64, number(&r[4]) as u64);
        assert!(queued <= n + 1, "listen({n}) queued {queued}:\n{out}");
        assert!(
            queued < clients,
            "listen({n}): not every client got in:\n{out}"
        );
        assert!(
            number(&r[3]) >= 1.0,
            "listen({n}): someone waits in SYN-SENT:\n{out}"
        );
    }
    let somaxconn: String = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap();
    let limit = &row(&rows, "65535")[5];
    if !limit.contains("no ss") {
        assert_eq!(limit, somaxconn.trim(), "listen(65535) is capped:\n{out}");
    }
}

#[test]
fn reuseport_spreads_connections_and_its_absence_refuses_the_bind() {
    let out = run("reuseport");
    let rows = rows(&out);
    assert_eq!(row(&rows, "no option")[1], "EADDRINUSE", "{out}");
    assert_eq!(
        row(&rows, "SO_REUSEPORT on both")[1..],
        ["ok", "ok"],
        "{out}"
    );
    let spread = out
        .lines()
        .find(|l| l.contains("accepted per listener"))
        .unwrap();
    let busy = spread
        .split("#")
        .skip(1)
        .filter(|part| number(part.trim().trim_end_matches(',')) > 0.0)
        .count();
    assert!(busy > 1, "the kernel used more than one listener: {spread}");
}

// ---- The grader --------------------------------------------------------------------------

fn server_cmd(extra: &str) -> String {
    format!("{BIN} --addr 127.0.0.1:0{extra}")
}

#[test]
fn reference_server_passes_every_check() {
    assert_passes(LESSON, Target::Command(server_cmd("")));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn a_python_server_passes_every_check() {
    let cmd = format!(
        "python3 {} --addr 127.0.0.1:0",
        repo("tests/peers/sockopts_server.py")
    );
    assert_passes(LESSON, Target::Command(cmd));
}

/// Grade one check against `target` and return whether it failed, with the output.
fn fails(target: Target, check: &str) -> (bool, String) {
    let options = Options {
        only: Some(check.to_string()),
        ..quick()
    };
    let (report, out) = grade(LESSON, &target, &options);
    (report.failed().contains(&check), out)
}

/// An echo that never half-closes: the client waits for end of stream in vain.
fn never_half_closes(mut conn: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if std::io::Write::write_all(&mut conn, &buf[..n]).is_err() {
            return;
        }
    }
    std::mem::forget(conn);
}

#[test]
fn each_mistake_fails_the_check_meant_for_it() {
    // The reference with one mistake made on purpose (its hidden --break flag), and one
    // in-process echo server for the check that is about bytes.
    let cases: Vec<(&str, Target, &str)> = vec![
        (
            "never half-closes",
            Target::Running(tcp_server(never_half_closes)),
            "does_not_echo_what_it_receives",
        ),
        (
            "--break no-reuseaddr",
            Target::Command(server_cmd(" --break no-reuseaddr")),
            "cannot_restart_while_its_port_is_in_time_wait",
        ),
        (
            "--break v6only",
            Target::Command(server_cmd(" --break v6only")),
            "refuses_ipv4_clients_on_a_dual_stack_listener",
        ),
        (
            "--break tiny-backlog",
            Target::Command(server_cmd(" --break tiny-backlog")),
            "listens_with_a_tiny_backlog",
        ),
        (
            "--break nagle",
            Target::Command(server_cmd(" --break nagle")),
            "waits_for_acks_with_nagle",
        ),
        (
            "--break no-keepalive",
            Target::Command(server_cmd(" --break no-keepalive")),
            "never_notices_a_dead_peer",
        ),
    ];
    let suite = netcourse::grader::suite(LESSON).unwrap();
    for check in suite.checks {
        assert!(
            cases.iter().any(|(_, _, c)| *c == check.name),
            "no broken server proves that {} can fail",
            check.name
        );
    }
    for (mistake, target, check) in cases {
        let (failed, out) = fails(target, check);
        assert!(
            failed,
            "the server that {mistake} should fail {check}:\n{out}"
        );
    }
    // And each broken reference passes the checks not about its mistake: one mistake, one
    // failure, nothing cascading.
    let (report, out) = grade(
        LESSON,
        &Target::Command(server_cmd(" --break nagle")),
        &quick(),
    );
    assert_eq!(report.failed(), ["waits_for_acks_with_nagle"], "{out}");
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn each_mistake_in_the_python_server_is_caught_too() {
    for (mistake, check) in [
        ("no-echo", "does_not_echo_what_it_receives"),
        (
            "no-reuseaddr",
            "cannot_restart_while_its_port_is_in_time_wait",
        ),
        ("v6only", "refuses_ipv4_clients_on_a_dual_stack_listener"),
        ("tiny-backlog", "listens_with_a_tiny_backlog"),
        ("nagle", "waits_for_acks_with_nagle"),
        ("no-keepalive", "never_notices_a_dead_peer"),
    ] {
        let cmd = format!(
            "python3 {} --addr 127.0.0.1:0 --break {mistake}",
            repo("tests/peers/sockopts_server.py")
        );
        let (failed, out) = fails(Target::Command(cmd), check);
        assert!(
            failed,
            "python --break {mistake} should fail {check}:\n{out}"
        );
    }
}

#[test]
fn a_running_server_is_told_why_restart_checks_need_cmd() {
    let (_server, listeners) = start_peer(Command::new(BIN).args(["--addr", "127.0.0.1:0"]));
    let (failed, out) = fails(
        Target::Running(listeners),
        "cannot_restart_while_its_port_is_in_time_wait",
    );
    assert!(failed && out.contains("--cmd"), "{out}");
}
