//! Lesson 08: the reference server against programs nobody here wrote: headless Chromium running
//! the lesson's page (fetch polling, long polling, a fetch stream and EventSource), and curl on
//! each technique; then the `measure` command, and a graceful shutdown seen from the wire.
//! (`course check 08` against the reference and broken servers is tests/lesson08_http_realtime.rs.)

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

/// The reference on a free port, with extra flags; stopped when the Peer is dropped.
fn server(extra: &[&str]) -> (Peer, SocketAddr) {
    let (peer, listeners) = start_peer(
        Command::new(env!("CARGO_BIN_EXE_08-http-realtime"))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra),
    );
    assert_eq!(listeners[0].scheme, "http");
    (peer, listeners[0].addr)
}

/// Publish `data` with a raw POST; returns the new event's id.
fn publish(addr: SocketAddr, data: &str) -> u64 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "POST /api/publish HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{data}",
        data.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let at = answer.find("{\"id\":").expect("an id") + 6;
    answer[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

/// curl with `args`, in the background; its output once it exits (by --max-time).
fn curl_background(args: &[&str]) -> std::process::Child {
    Command::new("curl")
        .args(["--silent", "--no-buffer"])
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl runs")
}

fn output(child: std::process::Child) -> String {
    String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned()
}

#[test]
#[cfg_attr(
    missing_browser,
    ignore = "peer test: node, chromium or playwright-core not found (scripts/test.sh installs them)"
)]
fn chromium_runs_the_page_and_every_technique_receives_every_event() {
    let (_server, addr) = server(&["--tick-ms", "500"]);
    let out = Command::new("node")
        .arg(repo("tests/browser/lesson08.mjs"))
        .arg(format!("http://{addr}"))
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the browser test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The script checks the four panels itself; here, that it got that far.
    for name in ["\"poll\"", "\"longpoll\"", "\"stream\"", "\"sse\""] {
        assert!(stdout.contains(name), "{stdout}");
    }
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_follows_the_stream_and_the_event_stream_as_events_are_published() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let first = publish(addr, "before anyone listens");
    let stream = curl_background(&["--max-time", "2", &format!("http://{addr}/stream")]);
    // Last-Event-ID: what a browser sends when it comes back; the one event after it is resent.
    let sse = curl_background(&[
        "--max-time",
        "2",
        "-H",
        &format!("Last-Event-ID: {}", first - 1),
        &format!("http://{addr}/events"),
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let ids: Vec<u64> = ["one", "two \"quoted\""]
        .iter()
        .map(|d| publish(addr, d))
        .collect();
    let stream = output(stream);
    let expected_stream = format!(
        "{{\"id\":{},\"data\":\"one\"}}\n{{\"id\":{},\"data\":\"two \\\"quoted\\\"\"}}\n",
        ids[0], ids[1]
    );
    assert_eq!(stream, expected_stream);
    let sse = output(sse);
    let expected_sse = format!(
        "retry: 2000\n\nid: {first}\ndata: before anyone listens\n\nid: {}\ndata: one\n\nid: {}\ndata: two \"quoted\"\n\n",
        ids[0], ids[1]
    );
    assert_eq!(sse, expected_sse);
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_long_poll_gets_204_after_its_timeout_on_a_connection_it_then_reuses() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let out = Command::new("curl")
        .args(["--silent", "--max-time", "10"])
        .args([
            "--write-out",
            "%{http_code} %{num_connects}\n",
            "--output",
            "/dev/null",
        ])
        .arg(format!("http://{addr}/longpoll?timeout=1"))
        .args([
            "--write-out",
            "%{http_code} %{num_connects}\n",
            "--output",
            "/dev/null",
        ])
        .arg(format!("http://{addr}/poll"))
        .output()
        .unwrap();
    // 204 on a new connection, then 200 with no new connection: the held request ended cleanly.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "204 1\n200 0\n");
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_http10_gets_the_stream_unframed_and_closed() {
    let (_server, addr) = server(&["--tick-ms", "0"]);
    let id = publish(addr, "for an old client");
    let out = output(curl_background(&[
        "--http1.0",
        "--max-time",
        "1",
        "--include",
        &format!("http://{addr}/stream?since={}", id - 1),
    ]));
    assert!(out.contains("Connection: close\r\n"), "{out}");
    assert!(
        !out.to_ascii_lowercase().contains("transfer-encoding"),
        "{out}"
    );
    assert!(
        out.ends_with(&format!(
            "\r\n\r\n{{\"id\":{id},\"data\":\"for an old client\"}}\n"
        )),
        "{out}"
    );
}

#[test]
fn measure_delivers_every_event_by_every_technique_and_draws_two_charts() {
    let dir = std::env::temp_dir().join(format!("netcourse-08-measure-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_08-http-realtime"))
        .args([
            "measure",
            "--events",
            "6",
            "--interval-ms",
            "50",
            "--poll-ms",
            "200",
        ])
        .arg("--charts")
        .arg(&dir)
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for transport in [
        "| polling | 6/6 |",
        "| long polling | 6/6 |",
        "| streaming | 6/6 | 1 |",
        "| SSE | 6/6 | 1 |",
    ] {
        assert!(table.contains(transport), "no {transport:?} in\n{table}");
    }
    for chart in ["08-bytes-per-event.svg", "08-latency.svg"] {
        let svg = std::fs::read_to_string(dir.join(chart)).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.contains("long polling"),
            "{chart}"
        );
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigterm_ends_streams_with_the_last_chunk_and_answers_held_polls() {
    let (server, addr) = server(&["--tick-ms", "0"]);
    let open = |request: &str| {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        s
    };
    let mut stream = open("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut poll = open("GET /longpoll?timeout=30 HTTP/1.1\r\nHost: t\r\n\r\n");
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let mut all = String::new();
    stream.read_to_string(&mut all).unwrap();
    assert!(all.contains("Transfer-Encoding: chunked"), "{all}");
    assert!(all.ends_with("\r\n\r\n0\r\n\r\n"), "{all:?}");
    let mut answer = String::new();
    poll.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 204 "), "{answer}");
}
