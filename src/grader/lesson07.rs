//! Checks for lesson 07, an HTTP/1.1 server (lessons/07-http-server/main.rs says what it serves):
//!
//! - `GET /` answers 200 with a page; `POST /api/echo` answers 200 with the request body;
//! - a path the server does not have is a 404; a path it has, with a method it does not take,
//!   is a 405 with an `Allow` header; a method nobody implements is a 501;
//! - bad input gets its own status: 400 malformed, 413 body too large, 414 target too long,
//!   431 headers too large, 505 an HTTP version other than 1.x;
//! - connections stay open between requests (HTTP/1.1), pipelined requests are answered in
//!   order, bodies come by `Content-Length` or chunked, HEAD gets no body, HTTP/1.0 gets a close;
//! - a head that never ends gets 408 (or a close) after a header timeout.
//!
//! Nothing here uses `src/http`: the requests are written out by hand, and responses are read
//! by the grader's own small reader, [`HttpConn`] in `grader/http.rs`, with a deadline on every
//! read.

use super::http::{expect_status, get, post, HttpConn, More, Response, Trickled};
use super::wire;
use super::{Check, Ctx, Failure, Suite};
use std::io::Write;
use std::net::Shutdown;
use std::thread;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 7,
    listeners: &["http"],
    checks: &[
        Check {
            name: "closes_keep_alive_connections",
            misconception: "In HTTP/1.1 a connection stays open after a response unless a side said \
                            `Connection: close`: the next request comes on the same connection.",
            run: keep_alive,
        },
        Check {
            name: "answers_only_the_first_pipelined_request",
            misconception: "A client may send several requests without waiting (pipelining), and one read \
                            can bring them all: after answering one, look for the next in what is buffered.",
            run: pipelined_all_answered,
        },
        Check {
            name: "answers_pipelined_requests_out_of_order",
            misconception: "Responses carry no request id: the client matches them to its requests by order \
                            alone, so pipelined requests are answered strictly in the order they came.",
            run: pipelined_in_order,
        },
        Check {
            name: "assumes_one_read_is_one_request",
            misconception: "A read returns whatever bytes have arrived, here one byte at a time: buffer them \
                            until the blank line ends the head, and the body until it is complete.",
            run: one_byte_at_a_time,
        },
        Check {
            name: "ignores_content_length",
            misconception: "A body is exactly Content-Length bytes, which may take several reads: read all of \
                            them, and not one more, since what follows is the next request.",
            run: content_length_body,
        },
        Check {
            name: "rejects_chunked_request_bodies",
            misconception: "HTTP/1.1 servers must accept `Transfer-Encoding: chunked` bodies: hexadecimal \
                            sizes, each chunk followed by CRLF, a zero-size chunk and a blank line at the end.",
            run: chunked_body,
        },
        Check {
            name: "sends_a_body_with_head",
            misconception: "HEAD is GET without the body: the same status and headers (Content-Length \
                            included), then nothing. Body bytes would be read as the next response.",
            run: head_request,
        },
        Check {
            name: "wrong_status_for_bad_input",
            misconception: "Each refusal has its status, so the client knows what to fix: 400 malformed, \
                            413 body too large, 414 target too long, 431 headers too large, 501 method not \
                            implemented, 505 version not supported. Then the server carries on.",
            run: bad_input_statuses,
        },
        Check {
            name: "no_allow_header_on_405",
            misconception: "A 405 (the path exists, the method does not apply) must say which methods do, \
                            in an Allow header (RFC 9110 15.5.6).",
            run: allow_on_405,
        },
        Check {
            name: "has_no_header_timeout",
            misconception: "A client that sends half a head and then trickles or waits (slowloris) holds a \
                            connection forever unless the head has a deadline, counted from its first byte: \
                            past it, answer 408 and close.",
            run: slowloris,
        },
        Check {
            name: "http10_client_kept_waiting",
            misconception: "An HTTP/1.0 request without `Connection: keep-alive` gets one response, then the \
                            server closes: a 1.0 client may wait for the close to know the response ended.",
            run: http10_closes,
        },
        Check {
            name: "dies_on_malformed_input",
            misconception: "Any byte sequence can arrive. A request the parser cannot make sense of ends that \
                            connection (with a 400), never the server.",
            run: garbage_does_not_kill,
        },
        Check {
            name: "keeps_reading_after_a_framing_error",
            misconception: "After a 400, 413, 414 or 431 the server no longer knows where the next request \
                            starts (RFC 9112 6.3: after a framing error the server answers and closes): it must \
                            close after the refusal, or the rest of a bad request is read as a new one.",
            run: closes_after_refusing,
        },
    ],
};

/// A path no server of the lesson has.
const MISSING: &str = "/grader-no-such-page";

fn ordinal(i: usize) -> &'static str {
    ["1st", "2nd", "3rd", "4th", "5th"]
        .get(i)
        .copied()
        .unwrap_or("next")
}

/// Expect a 200 carrying exactly `body`.
fn expect_echo(r: &Response, body: &[u8], sent: &[u8], what: &str) -> Result<(), Failure> {
    expect_status(r, 200, sent, what)?;
    if r.body == body {
        return Ok(());
    }
    Err(Failure::new(format!(
        "{what}: the echoed body differs from the {} bytes sent ({} came back)",
        body.len(),
        r.body.len()
    ))
    .sent(sent)
    .expected(body)
    .received(&r.body))
}

/// One more request on the same connection after `after`: an echo, which must come back.
fn still_usable(c: &mut HttpConn, after: &str) -> Result<(), Failure> {
    let body = format!("still here after {after}");
    let req = post("/api/echo", body.as_bytes());
    let context = format!("a POST /api/echo on the same connection, after {after}");
    c.send(&req).map_err(|f| f.during(&context))?;
    let r = c.response("POST", &req).map_err(|f| f.during(&context))?;
    expect_echo(&r, body.as_bytes(), &req, &context)
}

/// A fresh connection's `GET /` still gets a 200: the server is alive and accepting.
fn still_serving(ctx: &Ctx, after: &str) -> Result<(), Failure> {
    let context = format!("a new connection's GET /, after {after}");
    let mut c = HttpConn::open(ctx).map_err(|f| f.during(&context))?;
    let req = get("GET", "/");
    c.send(&req).map_err(|f| f.during(&context))?;
    let r = c.response("GET", &req).map_err(|f| f.during(&context))?;
    expect_status(&r, 200, &req, &context)
}

// ---- The checks ---------------------------------------------------------------------------------

fn keep_alive(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let req = get("GET", "/");
    c.send(&req)?;
    let r = c
        .response("GET", &req)
        .map_err(|f| f.during("a first GET /"))?;
    expect_status(&r, 200, &req, "a first GET /")?;
    let said_close = r.has_token("connection", "close");
    still_usable(&mut c, "a first request that did not ask to close").map_err(|f| {
        if said_close {
            f.during("the first response said `Connection: close` to an HTTP/1.1 request that did not ask for it")
        } else {
            f
        }
    })
}

/// The answer a request must get: what the request was, the status, and the body if it matters.
type Answer = (&'static str, u16, Option<&'static [u8]>);

/// Three requests in one write, and the answers they must get.
fn three_pipelined() -> (Vec<u8>, Vec<Answer>) {
    let first: &[u8] = b"first of three pipelined requests";
    let third: &[u8] = b"third of three pipelined requests";
    let sent = [
        post("/api/echo", first),
        get("GET", MISSING),
        post("/api/echo", third),
    ]
    .concat();
    let answers = vec![
        ("POST /api/echo", 200, Some(first)),
        ("GET /grader-no-such-page", 404, None),
        ("POST /api/echo", 200, Some(third)),
    ];
    (sent, answers)
}

fn pipelined_all_answered(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let (sent, answers) = three_pipelined();
    c.send(&sent)?;
    for i in 0..answers.len() {
        c.response("POST", &sent).map_err(|f| {
            f.during(&format!(
                "three requests in one write, {i} of them answered"
            ))
        })?;
    }
    Ok(())
}

fn pipelined_in_order(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let (sent, answers) = three_pipelined();
    c.send(&sent)?;
    for (i, (request, status, body)) in answers.iter().enumerate() {
        let what = format!(
            "three requests in one write, the {} response (to {request})",
            ordinal(i)
        );
        let r = c.response("POST", &sent).map_err(|f| f.during(&what))?;
        // Which request does it answer?
        let answers_which = answers
            .iter()
            .position(|(_, s, b)| *s == r.status && b.is_none_or(|b| b == r.body));
        if answers_which.is_some_and(|j| j != i) {
            let failure = Failure::new(format!(
                "{what}: it is the answer to the {} request",
                ordinal(answers_which.unwrap_or(0))
            ))
            .sent(&sent);
            return Err(match body {
                Some(body) => failure.expected(body).received(&r.body),
                None => failure
                    .expected(&r.status_line_with(*status))
                    .received(&r.head),
            });
        }
        match body {
            Some(body) => expect_echo(&r, body, &sent, &what)?,
            None => expect_status(&r, *status, &sent, &what)?,
        }
    }
    Ok(())
}

fn one_byte_at_a_time(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let body = b"a request sent one byte per write";
    let req = post("/api/echo", body);
    let what = "a POST /api/echo sent one byte per write";
    wire::send_in_pieces(&c.stream, &req, || 1, Duration::from_millis(2))
        .map_err(|f| f.during(what))?;
    let r = c.response("POST", &req).map_err(|f| f.during(what))?;
    expect_echo(&r, body, &req, what)
}

fn content_length_body(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    // A body that looks like a request: a server that does not read it answers it.
    let body = format!("GET {MISSING} HTTP/1.1\r\nHost: grader\r\n\r\n").into_bytes();
    let first = post("/api/echo", &body);
    let second_body = b"the request after the body";
    let second = post("/api/echo", second_body);
    // The head and part of the body in one write; the rest and the next request in another.
    let split = first.len() - body.len() + 10;
    let sent = [&first[..], &second].concat();
    c.send(&first[..split])?;
    thread::sleep(Duration::from_millis(50));
    c.send(&sent[split..])?;
    let what = format!(
        "a POST of {} body bytes, sent in two writes, then another request",
        body.len()
    );
    let r = c.response("POST", &sent).map_err(|f| f.during(&what))?;
    expect_echo(&r, &body, &sent, &what)?;
    let what = "the request after the body";
    let r = c.response("POST", &sent).map_err(|f| f.during(what))?;
    expect_echo(&r, second_body, &sent, what)
}

fn chunked_body(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let pieces: [&[u8]; 3] = [b"hello", b", a chunk of 26 bytes (1a)", b"!\r\n"];
    let mut req =
        b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
            .to_vec();
    for piece in pieces {
        req.extend(format!("{:x}\r\n", piece.len()).bytes());
        req.extend_from_slice(piece);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let body = pieces.concat();
    c.send(&req)?;
    let what = "a chunked POST /api/echo (chunks of 5, 0x1a and 3 bytes)";
    let r = c.response("POST", &req).map_err(|f| f.during(what))?;
    expect_echo(&r, &body, &req, what)?;
    still_usable(&mut c, "a chunked body")
}

fn head_request(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let req = get("HEAD", "/");
    c.send(&req)?;
    let r = c.response("HEAD", &req).map_err(|f| f.during("HEAD /"))?;
    expect_status(&r, 200, &req, "HEAD /")?;
    if r.header("content-length").is_none() {
        return Err(Failure::new(
            "HEAD /: the response has no Content-Length: it carries the headers GET / would, \
             Content-Length included, only no body",
        )
        .sent(&req)
        .expected(b"Content-Length: ")
        .received(&r.head));
    }
    c.expect_quiet(
        Duration::from_millis(300),
        &req,
        "after the head of the response to HEAD /",
    )?;
    still_usable(&mut c, "HEAD /")
}

/// Send `request` from another thread in pieces, so that a server answering before the end is
/// read at once (and a server that stops reading cannot block us), and read the response.
fn send_big_and_read(ctx: &Ctx, request: &[u8], method: &str) -> Result<Response, Failure> {
    let mut c = HttpConn::open(ctx)?;
    let writer = c
        .stream
        .try_clone()
        .map_err(|e| Failure::new(format!("grader: {e}")))?;
    let bytes = request.to_vec();
    let sending = thread::spawn(move || {
        for piece in bytes.chunks(4096) {
            if (&writer).write_all(piece).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(1));
        }
    });
    let shown = &request[..request.len().min(200)];
    let response = c.response(method, shown);
    let _ = c.stream.shutdown(Shutdown::Both);
    let _ = sending.join();
    response
}

fn bad_input_statuses(ctx: &Ctx) -> Result<(), Failure> {
    let huge_target = format!(
        "GET /{} HTTP/1.1\r\nHost: grader\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let huge_headers = format!(
        "GET / HTTP/1.1\r\nHost: grader\r\nX-Filler: {}\r\n\r\n",
        "b".repeat(64 * 1024)
    );
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a request line without a target or version",
            b"NONSENSE\r\nHost: grader\r\n\r\n".to_vec(),
            400,
        ),
        ("a header section of 64 KiB", huge_headers.into_bytes(), 431),
        ("a request target of 64 KiB", huge_target.into_bytes(), 414),
        (
            "a Content-Length of 1,000,000,000",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: 1000000000\r\n\r\n"
                .to_vec(),
            413,
        ),
        (
            "HTTP/2.0 in the request line",
            b"GET / HTTP/2.0\r\nHost: grader\r\n\r\n".to_vec(),
            505,
        ),
        ("a method nobody implements", get("BREW", "/"), 501),
    ];
    for (what, request, status) in cases {
        let method = what_method(&request);
        let shown = &request[..request.len().min(200)];
        let r = send_big_and_read(ctx, &request, &method).map_err(|f| f.during(what))?;
        expect_status(&r, status, shown, what)?;
        still_serving(ctx, what)?;
    }
    Ok(())
}

fn what_method(request: &[u8]) -> String {
    let end = request.iter().position(|&b| b == b' ').unwrap_or(0);
    String::from_utf8_lossy(&request[..end]).into_owned()
}

fn allow_on_405(ctx: &Ctx) -> Result<(), Failure> {
    for (method, target, allowed) in [("GET", "/api/echo", "POST"), ("DELETE", "/", "GET")] {
        let what = format!("{method} {target}, which takes {allowed}");
        let mut c = HttpConn::open(ctx)?;
        let req = get(method, target);
        c.send(&req)?;
        let r = c.response(method, &req).map_err(|f| f.during(&what))?;
        expect_status(&r, 405, &req, &what)?;
        if !r.has_token("allow", allowed) {
            let why = match r.header("allow") {
                None => "the 405 has no Allow header".to_string(),
                Some(v) => format!("its Allow header, {v:?}, does not list {allowed}"),
            };
            return Err(Failure::new(format!("{what}: {why}"))
                .sent(&req)
                .expected(format!("Allow: {allowed}").as_bytes())
                .received(&r.head));
        }
    }
    Ok(())
}

/// How long a server may take to time out a head. A lesson server is started with a short
/// `--header-timeout` for grading; a default of 10 s is fine too.
const HEADER_TIMEOUT_BOUND: Duration = Duration::from_secs(30);

fn slowloris(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let Trickled {
        closed,
        sent,
        waited,
    } = c.trickle_head(
        b"GET / HTTP/1.1\r\nHost: grader\r\n",
        b"X-Slowloris: a-byte-now-and-then\r\n",
        HEADER_TIMEOUT_BOUND,
    )?;
    if c.buf.is_empty() && !closed {
        return Err(Failure::new(format!(
            "half a request head, then a byte every 0.5 s: no 408 and no close in {waited:.0} s. \
             If your server has a header timeout longer than that, start it with a short one for \
             grading (--header-timeout 1)"
        ))
        .sent(&sent));
    }
    if !c.buf.is_empty() {
        let what = format!("half a request head, then a byte every 0.5 s for {waited:.1} s");
        let r = c.response("GET", &sent).map_err(|f| f.during(&what))?;
        expect_status(&r, 408, &sent, &what)?;
    }
    still_serving(ctx, "a client that never finished its head was timed out")
}

fn http10_closes(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = HttpConn::open(ctx)?;
    let req = b"GET / HTTP/1.0\r\nHost: grader\r\n\r\n";
    c.send(req)?;
    let what = "an HTTP/1.0 GET / without Connection: keep-alive";
    let r = c.response("GET", req).map_err(|f| f.during(what))?;
    expect_status(&r, 200, req, what)?;
    if r.has_token("transfer-encoding", "chunked") {
        return Err(Failure::new(format!(
            "{what}: the response is chunked, a coding HTTP/1.0 does not know"
        ))
        .sent(req)
        .received(&r.head));
    }
    c.expect_close(req, &format!("{what}, after the response"))
}

fn closes_after_refusing(ctx: &Ctx) -> Result<(), Failure> {
    // Each refusal, followed in the same write by bytes that look like a request: read as one,
    // they would smuggle a request past whatever the refusal was guarding.
    let smuggled = get("GET", "/");
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a request line without a target or version",
            b"NONSENSE\r\nHost: grader\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a chunk size that is not hexadecimal",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "a Content-Length of 1,000,000,000 and no body yet",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: 1000000000\r\n\r\n"
                .to_vec(),
            413,
        ),
    ];
    for (what, bad, status) in cases {
        let mut c = HttpConn::open(ctx)?;
        let sent = [&bad[..], &smuggled].concat();
        c.send(&sent).map_err(|f| f.during(what))?;
        let method = what_method(&bad);
        let r = c.response(&method, &sent).map_err(|f| f.during(what))?;
        expect_status(&r, status, &sent, what)?;
        c.expect_closed_after_refusal(
            &sent,
            &format!("{what} (then a GET /), after the {status}"),
        )?;
    }
    Ok(())
}

fn garbage_does_not_kill(ctx: &Ctx) -> Result<(), Failure> {
    let mut random = ctx.bytes(2048);
    random.extend_from_slice(b"\r\n\r\n");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("2 KiB of random bytes", random),
        (
            "a request line with bytes that are not UTF-8",
            b"GET /\xff\xfe\xc0 HTTP/1.1\r\nHost: grader\r\n\r\n".to_vec(),
        ),
        (
            "a header line without a colon",
            b"GET / HTTP/1.1\r\nHost: grader\r\nno colon here\r\n\r\n".to_vec(),
        ),
        (
            "a Content-Length that is not a number",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: lots\r\n\r\n".to_vec(),
        ),
        (
            "a Content-Length beyond 64 bits",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nContent-Length: 99999999999999999999999\r\n\r\n"
                .to_vec(),
        ),
        (
            "a chunk size that is not hexadecimal",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        (
            "a chunk size beyond 64 bits",
            b"POST /api/echo HTTP/1.1\r\nHost: grader\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nhello\r\n0\r\n\r\n"
                .to_vec(),
        ),
        ("NUL bytes", b"\0\0\0\0 \0\0 \0\0\r\n\r\n".to_vec()),
    ];
    for (what, input) in cases {
        let mut c = HttpConn::open(ctx)?;
        c.send(&input).map_err(|f| f.during(what))?;
        // Whatever the answer (the statuses are another check's business), give the server a
        // moment to handle it: an answer, a close, or half a second of silence.
        let deadline = Instant::now() + Duration::from_millis(500).min(ctx.timeout);
        while let More::Bytes = c.more(deadline) {}
        drop(c);
        still_serving(ctx, &format!("{what} on another connection"))?;
    }
    Ok(())
}
