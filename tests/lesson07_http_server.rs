//! Lesson 07: the reference HTTP server against real clients (curl for keep-alive, chunked
//! uploads, HTTP/1.0 and HEAD; wrk for load) and against raw bytes: pipelined requests, every
//! malformed input the parser refuses, and a head that never ends (slowloris).

mod common;

use common::*;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
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

// ---- The grader: the reference passes, an independent server passes, each mistake is caught ----

const LESSON: u32 = 7;

#[test]
fn reference_server_passes_every_check() {
    let cmd = format!(
        "{} --header-timeout 1",
        reference_cmd(env!("CARGO_BIN_EXE_07-http-server"))
    );
    assert_passes(LESSON, netcourse::grader::Target::Command(cmd));
}

#[test]
fn an_independent_server_passes_every_check() {
    assert_passes(LESSON, netcourse::grader::Target::Running(start(None)));
}

/// One mistake to switch on in [`serve`]. Each is a bug learners really write.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Mistake {
    /// Closes the connection after every response, HTTP/1.1 or not.
    ClosesAfterEachResponse,
    /// Answers the first request of a read and throws the rest of the buffer away.
    FirstRequestPerRead,
    /// Collects the requests of a read on a stack and answers them last first.
    AnswersLastFirst,
    /// Takes each read as one whole request: half a head is a 400.
    OneReadOneRequest,
    /// Never reads a body: its bytes are taken for the next request.
    IgnoresContentLength,
    /// Answers 411 to a chunked body.
    NoChunkedBodies,
    /// Answers HEAD like GET, body included.
    BodyWithHead,
    /// Answers every refusal with 400.
    Every400,
    /// Buffers heads and bodies of any size.
    NoLimits,
    /// A 405 without Allow.
    NoAllow,
    /// Waits for the rest of a head for ever.
    NoHeaderTimeout,
    /// Keeps HTTP/1.0 connections open like HTTP/1.1 ones.
    KeepsHttp10Open,
    /// Unwraps what it parses: the first malformed request takes the server down.
    DiesOnGarbage,
    /// Answers a refusal (400, 413, ...) and then waits for the next request on the same
    /// connection, as if it knew where that one starts.
    KeepsOpenAfterRefusal,
}

/// What [`serve`] knows of its server: the mistake, and whether it has "crashed".
struct Site {
    mistake: Option<Mistake>,
    addr: SocketAddr,
    dead: AtomicBool,
}

const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
const MAX_REQUEST_LINE: usize = 8 * 1024;
const MAX_HEAD: usize = 32 * 1024;
const MAX_BODY: usize = 1 << 20;

/// A thread-per-connection HTTP/1.1 server with at most one mistake. A connection thread that
/// "crashes" (`Site::dead`) wakes the accept loop, which then closes the listener, as a
/// process's death would.
fn start(mistake: Option<Mistake>) -> Vec<netcourse::grader::Listener> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let site = Arc::new(Site {
        mistake,
        addr,
        dead: AtomicBool::new(false),
    });
    std::thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            if site.dead.load(Ordering::SeqCst) {
                return; // the listener closes with this thread
            }
            let site = site.clone();
            std::thread::spawn(move || serve(conn, &site));
        }
    });
    vec![netcourse::grader::Listener {
        scheme: "http".into(),
        addr,
    }]
}

/// Why a request could not be read: a status to answer, or nothing to say.
enum Refuse {
    Status(u16),
    Gone,
}

/// One connection: read requests, answer them, until a side closes.
fn serve(mut conn: TcpStream, site: &Site) {
    use Mistake::*;
    let is = |m: Mistake| site.mistake == Some(m);
    let mut buf: Vec<u8> = Vec::new();
    // Answers not yet written: they go out when no complete request is left to answer.
    let mut pending: Vec<Vec<u8>> = Vec::new();
    loop {
        let request = match read_request(&mut conn, &mut buf, site, &mut pending) {
            Ok(r) => r,
            Err(Refuse::Gone) => return,
            Err(Refuse::Status(status)) => {
                if is(DiesOnGarbage) && status == 400 {
                    site.dead.store(true, Ordering::SeqCst);
                    let _ = TcpStream::connect(site.addr); // wake the accept loop to die
                    panic!("unwrap on a malformed request");
                }
                let status = if is(Every400) { 400 } else { status };
                if is(KeepsOpenAfterRefusal) {
                    pending.push(response(status, &[], "", false));
                    flush(&mut conn, &mut pending, site);
                    buf.clear();
                    continue;
                }
                pending.push(response(status, &[], "", true));
                flush(&mut conn, &mut pending, site);
                linger_and_close(conn);
                return;
            }
        };
        let (method, path, version, headers, body) = request;
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        };
        let connection = header("connection").unwrap_or("").to_ascii_lowercase();
        let keep_alive = !is(ClosesAfterEachResponse)
            && if version == "HTTP/1.0" && !is(KeepsHttp10Open) {
                connection == "keep-alive"
            } else {
                connection != "close"
            };
        let close = if keep_alive {
            ""
        } else {
            "Connection: close\r\n"
        };
        let allowed = match path.as_str() {
            "/" => Some("GET, HEAD"),
            "/api/echo" => Some("POST"),
            _ => None,
        };
        let known = ["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS"].contains(&method.as_str());
        let answer = match allowed {
            _ if !known => response(501, &[], close, false),
            None => response(404, b"404 not here\n", close, false),
            Some(allow) if !allow.split(", ").any(|m| m == method) => {
                let extra = if is(NoAllow) {
                    close.to_string()
                } else {
                    format!("{close}Allow: {allow}\r\n")
                };
                response(405, b"405 wrong method\n", &extra, false)
            }
            Some(_) if path == "/api/echo" => response(200, &body, close, false),
            Some(_) => {
                let page = response(200, b"<!doctype html><p>hello</p>\n", close, false);
                if method == "HEAD" && !is(BodyWithHead) {
                    let end = page.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    page[..end].to_vec()
                } else {
                    page
                }
            }
        };
        pending.push(answer);
        if is(FirstRequestPerRead) {
            buf.clear();
        }
        if !keep_alive {
            flush(&mut conn, &mut pending, site);
            linger_and_close(conn);
            return;
        }
    }
}

type Request = (String, String, String, Vec<(String, String)>, Vec<u8>);

/// Read the next request off `buf` (reading more as needed, and writing `pending` answers
/// before blocking: a request already buffered is answered without waiting).
fn read_request(
    conn: &mut TcpStream,
    buf: &mut Vec<u8>,
    site: &Site,
    pending: &mut Vec<Vec<u8>>,
) -> Result<Request, Refuse> {
    use Mistake::*;
    let is = |m: Mistake| site.mistake == Some(m);
    let mut started: Option<Instant> = (!buf.is_empty()).then(Instant::now);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let line_len = buf.iter().position(|&b| b == b'\n').unwrap_or(buf.len());
        if !is(NoLimits) && line_len > MAX_REQUEST_LINE {
            return Err(Refuse::Status(414));
        }
        if !is(NoLimits) && buf.len() > MAX_HEAD {
            return Err(Refuse::Status(431));
        }
        if is(OneReadOneRequest) && !buf.is_empty() {
            return Err(Refuse::Status(400));
        }
        flush(conn, pending, site);
        let timeout = match started {
            Some(_) if is(NoHeaderTimeout) => None,
            Some(at) => Some(
                HEADER_TIMEOUT
                    .checked_sub(at.elapsed())
                    .ok_or(Refuse::Status(408))?
                    .max(Duration::from_millis(1)),
            ),
            None => Some(Duration::from_secs(30)),
        };
        conn.set_read_timeout(timeout).unwrap();
        match read_more(conn, buf) {
            Ok(true) => {}
            Ok(false) => return Err(Refuse::Gone),
            Err(e)
                if started.is_some()
                    && matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
            {
                return Err(Refuse::Status(408))
            }
            Err(_) => return Err(Refuse::Gone),
        }
        started.get_or_insert_with(Instant::now);
    };
    let head: Vec<u8> = buf.drain(..head_end).collect();
    let Ok(head) = String::from_utf8(head) else {
        return Err(Refuse::Status(400));
    };
    let mut lines = head.trim_end().split("\r\n");
    let parts: Vec<&str> = lines.next().unwrap_or("").split(' ').collect();
    let [method, target, version] = parts[..] else {
        return Err(Refuse::Status(400));
    };
    if method.is_empty()
        || !method.bytes().all(|b| b.is_ascii_uppercase())
        || !target.starts_with('/')
    {
        return Err(Refuse::Status(400));
    }
    match version {
        "HTTP/1.1" | "HTTP/1.0" => {}
        v if v.starts_with("HTTP/") && v.len() == 8 => return Err(Refuse::Status(505)),
        _ => return Err(Refuse::Status(400)),
    }
    let mut headers = Vec::new();
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            return Err(Refuse::Status(400));
        };
        headers.push((name.to_string(), value.trim().to_string()));
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _): &&(String, String)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if is(IgnoresContentLength) {
        // The mistake: the body is left in `buf`, to be parsed as the next request.
    } else if let Some(coding) = header("transfer-encoding") {
        if is(NoChunkedBodies) {
            return Err(Refuse::Status(411));
        }
        if !coding.eq_ignore_ascii_case("chunked") {
            return Err(Refuse::Status(501));
        }
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        loop {
            let line = read_line(conn, buf)?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or(""), 16)
                .map_err(|_| Refuse::Status(400))?;
            if !is(NoLimits) && body.len() + size > MAX_BODY {
                return Err(Refuse::Status(413));
            }
            if size == 0 {
                while !read_line(conn, buf)?.is_empty() {}
                break;
            }
            while buf.len() < size + 2 {
                if !read_more(conn, buf).map_err(|_| Refuse::Gone)? {
                    return Err(Refuse::Gone);
                }
            }
            body.extend(buf.drain(..size));
            if buf.drain(..2).as_slice() != b"\r\n" {
                return Err(Refuse::Status(400));
            }
        }
    } else if let Some(length) = header("content-length") {
        let length: usize = length.parse().map_err(|_| Refuse::Status(400))?;
        if !is(NoLimits) && length > MAX_BODY {
            return Err(Refuse::Status(413));
        }
        conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        while buf.len() < length {
            if !read_more(conn, buf).map_err(|_| Refuse::Gone)? {
                return Err(Refuse::Gone);
            }
        }
        body = buf.drain(..length).collect();
    }
    Ok((
        method.to_string(),
        target.to_string(),
        version.to_string(),
        headers,
        body,
    ))
}

/// Read once into `buf`; false at end of stream.
fn read_more(conn: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = conn.read(&mut chunk)?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}

/// A CRLF-terminated line of a chunked body, without the CRLF.
fn read_line(conn: &mut TcpStream, buf: &mut Vec<u8>) -> Result<String, Refuse> {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..i + 2).collect();
            return String::from_utf8(line[..i].to_vec()).map_err(|_| Refuse::Status(400));
        }
        if buf.len() > 1024 {
            return Err(Refuse::Status(400));
        }
        if !read_more(conn, buf).map_err(|_| Refuse::Gone)? {
            return Err(Refuse::Gone);
        }
    }
}

/// A whole response with a Content-Length body; `extra` is more header lines.
fn response(status: u16, body: &[u8], extra: &str, close: bool) -> Vec<u8> {
    let close = if close { "Connection: close\r\n" } else { "" };
    let mut out = format!(
        "HTTP/1.1 {status} Whatever\r\nContent-Length: {}\r\n{extra}{close}\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Write the answers waiting, in order (or last first, with that mistake).
fn flush(conn: &mut TcpStream, pending: &mut Vec<Vec<u8>>, site: &Site) {
    if site.mistake == Some(Mistake::AnswersLastFirst) {
        pending.reverse();
    }
    for answer in pending.drain(..) {
        let _ = conn.write_all(&answer);
    }
}

/// Stop sending, read (and drop) what the client still sends for a moment, then close: a
/// close with unread input would be a reset that can destroy the answer.
fn linger_and_close(mut conn: TcpStream) {
    let _ = conn.shutdown(std::net::Shutdown::Write);
    conn.set_read_timeout(Some(Duration::from_millis(300))).ok();
    let _ = std::io::copy(&mut (&mut conn).take(1 << 20), &mut std::io::sink());
}

/// Which mistake must fail which checks. Together they must trip every check.
fn broken_servers() -> Vec<Broken> {
    use Mistake::*;
    let cases: &[(Mistake, &'static [&'static str])] = &[
        // The slowest first: its check waits 30 s for a timeout that never comes.
        (NoHeaderTimeout, &["has_no_header_timeout"]),
        (ClosesAfterEachResponse, &["closes_keep_alive_connections"]),
        (
            FirstRequestPerRead,
            &["answers_only_the_first_pipelined_request"],
        ),
        (
            AnswersLastFirst,
            &["answers_pipelined_requests_out_of_order"],
        ),
        (OneReadOneRequest, &["assumes_one_read_is_one_request"]),
        (IgnoresContentLength, &["ignores_content_length"]),
        (NoChunkedBodies, &["rejects_chunked_request_bodies"]),
        (BodyWithHead, &["sends_a_body_with_head"]),
        (Every400, &["wrong_status_for_bad_input"]),
        (NoLimits, &["wrong_status_for_bad_input"]),
        (NoAllow, &["no_allow_header_on_405"]),
        (KeepsHttp10Open, &["http10_client_kept_waiting"]),
        (DiesOnGarbage, &["dies_on_malformed_input"]),
        (
            KeepsOpenAfterRefusal,
            &["keeps_reading_after_a_framing_error"],
        ),
    ];
    cases
        .iter()
        .map(|&(m, must_fail)| broken(format!("{m:?}"), move || start(Some(m)), must_fail))
        .collect()
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

#[test]
fn each_broken_server_is_caught() {
    quiet_broken_server_panics();
    let broken = broken_servers();
    assert_all_caught_by_workers(LESSON, &broken, broken.len());
}
