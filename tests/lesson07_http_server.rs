//! Lesson 07: the reference HTTP server against real clients (curl for keep-alive, chunked
//! uploads, HTTP/1.0 and HEAD; wrk for load) and against raw bytes: pipelined requests, every
//! malformed input the parser refuses, and a head that never ends (slowloris).

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

/// The reference server on a free port, with extra flags; stopped when the Peer is dropped.
fn server(extra: &[&str]) -> (Peer, SocketAddr) {
    let (peer, listeners) = start_peer(
        Command::new(env!("CARGO_BIN_EXE_07-http-server"))
            .args(["--addr", "127.0.0.1:0"])
            .args(extra),
    );
    assert_eq!(listeners[0].scheme, "http");
    (peer, listeners[0].addr)
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

/// Run curl with `args`; returns (stdout, stderr).
fn curl(args: &[&str]) -> (Vec<u8>, String) {
    let out = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    (
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    stream
}

/// One response read off the stream: status code, head as text, body.
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

/// Read one response (Content-Length framed, as every answer of this server is): a deliberately
/// small reader, so that the tests do not trust the code they test.
fn read_response(stream: &mut TcpStream, buffered: &mut Vec<u8>) -> Response {
    let head_end = loop {
        if let Some(i) = buffered.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut buf = [0u8; 4096];
        let n = stream
            .read(&mut buf)
            .expect("a response before the timeout");
        assert!(
            n > 0,
            "the connection ended inside a response head: {:?}",
            String::from_utf8_lossy(buffered)
        );
        buffered.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&buffered[..head_end]).into_owned();
    let status = head[9..12].parse().expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length:")
                .map(|v| v.trim().parse().unwrap())
        })
        .unwrap_or(0);
    while buffered.len() < head_end + length {
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).expect("the body before the timeout");
        assert!(n > 0, "the connection ended inside a body");
        buffered.extend_from_slice(&buf[..n]);
    }
    let body = buffered[head_end..head_end + length].to_vec();
    buffered.drain(..head_end + length);
    Response { status, head, body }
}

/// After a response that said `Connection: close`, the server closes: read returns 0.
fn assert_closed(stream: &mut TcpStream, buffered: &[u8]) {
    assert!(buffered.is_empty(), "bytes after the last response");
    let mut buf = [0u8; 64];
    match stream.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("more bytes instead of a close: {:?}", &buf[..n]),
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(e) => panic!("no close: {e}"),
    }
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_reuses_one_connection_for_two_requests() {
    let (_server, addr) = server(&[]);
    let (_, stderr) = curl(&[
        "--verbose",
        "--output",
        "/dev/null",
        "--output",
        "/dev/null",
        &url(addr, "/"),
        &url(addr, "/api/time"),
    ]);
    assert!(
        stderr.contains("Re-using existing connection"),
        "keep-alive: {stderr}"
    );
    assert_eq!(stderr.matches("< HTTP/1.1 200 OK").count(), 2, "{stderr}");
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_uploads_a_chunked_body_and_gets_it_back_with_its_type() {
    let (_server, addr) = server(&[]);
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lesson07-upload.bin");
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &payload).unwrap();
    let (body, stderr) = curl(&[
        "--header",
        "Transfer-Encoding: chunked",
        "--header",
        "Content-Type: application/x-course-test",
        "--data-binary",
        &format!("@{}", file.display()),
        "--dump-header",
        "/dev/stderr",
        &url(addr, "/api/echo"),
    ]);
    assert!(stderr.contains("HTTP/1.1 200 OK"), "{stderr}");
    assert!(
        stderr.contains("Content-Type: application/x-course-test"),
        "{stderr}"
    );
    assert!(
        body == payload,
        "the echo differs ({} bytes back)",
        body.len()
    );
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_http_1_0_gets_an_answer_and_a_close() {
    let (_server, addr) = server(&[]);
    let (out, stderr) = curl(&["--http1.0", "--include", &url(addr, "/api/stats")]);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}{stderr}");
    assert!(text.contains("Connection: close\r\n"), "{text}");
    assert!(
        !text.contains("Transfer-Encoding"),
        "no chunks for 1.0: {text}"
    );
    assert!(text.contains("\"requests_served\": "), "{text}");
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_head_gets_the_get_headers_and_no_body() {
    let (_server, addr) = server(&[]);
    let (get, _) = curl(&["--include", &url(addr, "/")]);
    let (head, stderr) = curl(&["--head", &url(addr, "/")]);
    let get = String::from_utf8_lossy(&get);
    let head = String::from_utf8_lossy(&head);
    let length = |text: &str| {
        text.lines()
            .find(|l| l.starts_with("Content-Length:"))
            .map(str::to_string)
    };
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}{stderr}");
    assert_eq!(length(&head), length(&get));
    assert!(
        head.ends_with("\r\n\r\n"),
        "no body after the head: {head:?}"
    );
}

#[test]
#[cfg_attr(
    missing_curl,
    ignore = "peer test: curl not found (scripts/test.sh installs it)"
)]
fn curl_sees_404_405_with_allow_and_static_files() {
    let (_server, addr) = server(&[]);
    let status = |args: &[&str]| {
        let mut all = vec!["--output", "/dev/null", "--write-out", "%{http_code}"];
        all.extend_from_slice(args);
        String::from_utf8(curl(&all).0).unwrap()
    };
    assert_eq!(status(&[&url(addr, "/nope")]), "404");
    assert_eq!(status(&[&url(addr, "/static/style.css")]), "200");
    assert_eq!(status(&[&url(addr, "/static/missing.css")]), "404");
    assert_eq!(
        status(&["--path-as-is", &url(addr, "/static/%2e%2e%2fmain.rs")]),
        "400"
    );
    assert_eq!(
        status(&["--request", "DELETE", &url(addr, "/api/time")]),
        "405"
    );
    let (out, _) = curl(&["--include", "--request", "GET", &url(addr, "/api/echo")]);
    let text = String::from_utf8_lossy(&out);
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    assert!(text.contains("Allow: POST\r\n"), "{text}");
}

#[test]
fn three_pipelined_requests_in_one_write_get_three_answers_in_order() {
    let (_server, addr) = server(&[]);
    let mut stream = connect(addr);
    stream
        .write_all(
            b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirst\
              GET /nope HTTP/1.1\r\nHost: a\r\n\r\n\
              POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n\
              3\r\nthi\r\n2\r\nrd\r\n0\r\n\r\n",
        )
        .unwrap();
    let mut buffered = Vec::new();
    let first = read_response(&mut stream, &mut buffered);
    let second = read_response(&mut stream, &mut buffered);
    let third = read_response(&mut stream, &mut buffered);
    assert_eq!((first.status, first.body.as_slice()), (200, &b"first"[..]));
    assert_eq!(second.status, 404);
    assert_eq!((third.status, third.body.as_slice()), (200, &b"third"[..]));
    // Still open: a fourth request on the same connection is answered.
    stream
        .write_all(b"GET /api/time HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .unwrap();
    let fourth = read_response(&mut stream, &mut buffered);
    assert_eq!(fourth.status, 200);
    assert!(fourth.head.contains("Connection: close\r\n"));
    assert_closed(&mut stream, &buffered);
}

#[test]
fn malformed_requests_get_their_status_and_a_close_and_the_server_lives_on() {
    let (_server, addr) = server(&["--max-body", "1000"]);
    let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
    let big_headers = format!(
        "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
        "b".repeat(40_000)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "whitespace before a colon",
            b"GET / HTTP/1.1\r\nHost : a\r\n\r\n".to_vec(),
            400,
        ),
        (
            "no Host in HTTP/1.1",
            b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            400,
        ),
        (
            "garbage",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a body over --max-body",
            b"POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n".to_vec(),
            413,
        ),
        ("a request line over 8 KiB", long_target.into_bytes(), 414),
        ("headers over 32 KiB", big_headers.into_bytes(), 431),
        (
            "a transfer coding we do not implement",
            b"POST /api/echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                .to_vec(),
            501,
        ),
        (
            "HTTP/2.0 in a request line",
            b"GET / HTTP/2.0\r\nHost: a\r\n\r\n".to_vec(),
            505,
        ),
    ];
    for (what, request, status) in cases {
        let mut stream = connect(addr);
        stream.write_all(&request).unwrap();
        let mut buffered = Vec::new();
        let response = read_response(&mut stream, &mut buffered);
        assert_eq!(response.status, status, "{what}: {}", response.head);
        assert!(
            response.head.contains("Connection: close\r\n"),
            "{what}: {}",
            response.head
        );
        assert_closed(&mut stream, &buffered);
    }
    // An unknown method is a 501 too, but the request was well formed: the connection stays.
    let mut stream = connect(addr);
    stream
        .write_all(
            b"BREW /pot HTTP/1.1\r\nHost: a\r\n\r\nGET /api/time HTTP/1.1\r\nHost: a\r\n\r\n",
        )
        .unwrap();
    let mut buffered = Vec::new();
    assert_eq!(read_response(&mut stream, &mut buffered).status, 501);
    assert_eq!(read_response(&mut stream, &mut buffered).status, 200);
}

#[test]
fn a_head_that_never_ends_gets_408_after_the_header_timeout() {
    let (_server, addr) = server(&["--header-timeout", "1"]);
    let mut stream = connect(addr);
    let start = Instant::now();
    // Slowloris: a byte now and then, never the blank line. Progress does not extend the time.
    for byte in b"GET / HTTP/1.1\r\nHo" {
        stream.write_all(&[*byte]).unwrap();
        std::thread::sleep(Duration::from_millis(40));
    }
    let mut buffered = Vec::new();
    let response = read_response(&mut stream, &mut buffered);
    let waited = start.elapsed();
    assert_eq!(response.status, 408, "{}", response.head);
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(3),
        "408 after {waited:?}, with --header-timeout 1"
    );
    assert_closed(&mut stream, &buffered);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let (_server, addr) = server(&["--idle-timeout", "1"]);
    let mut stream = connect(addr);
    stream
        .write_all(b"GET /api/time HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut buffered = Vec::new();
    assert_eq!(read_response(&mut stream, &mut buffered).status, 200);
    let start = Instant::now();
    assert_closed(&mut stream, &buffered);
    assert!(
        start.elapsed() >= Duration::from_millis(800),
        "closed too soon"
    );
}

#[test]
#[cfg_attr(
    missing_wrk,
    ignore = "peer test: wrk not found (scripts/test.sh installs it)"
)]
fn wrk_for_two_seconds_sees_no_errors_and_only_2xx() {
    let (_server, addr) = server(&[]);
    let out = Command::new("wrk")
        .args(["--threads", "1", "--connections", "20", "--duration", "2s"])
        .args(["--timeout", "2s", &url(addr, "/api/time")])
        .output()
        .expect("wrk runs");
    let report = String::from_utf8_lossy(&out.stdout);
    println!("{report}");
    assert!(out.status.success(), "{report}");
    assert!(!report.contains("Socket errors"), "{report}");
    assert!(!report.contains("Non-2xx or 3xx responses"), "{report}");
    let requests: u64 = report
        .lines()
        .find_map(|l| l.trim().split_once(" requests in "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in: {report}"));
    assert!(requests > 100, "{report}");
}
