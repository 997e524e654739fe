//! Lesson 07's HTTP/1.1 parser (`netcourse::http`), checked without a socket.
//!
//! - every valid request in a table parses to the events it should, in every chunking (all at
//!   once, 1 byte at a time, random sizes, every single cut point), and every truncated prefix of
//!   it answers "need more", never an error;
//! - every invalid request in a table is refused with its exact status and rule, in every
//!   chunking (the parser decides on the bytes, never on how they were split);
//! - pipelined requests, bodies included, come out in order from one push;
//! - the `httparse` crate (the parser hyper uses) reads the same method, path, version and
//!   headers from every valid request, and refuses the malformed heads we refuse;
//! - property tests: generated valid requests parse as built in any chunking, and random or
//!   mutated bytes never panic and give the same answer in any chunking.

use netcourse::http::chunked::parse_chunk_size_line;
use netcourse::http::{
    annotate_head, parse_all, BodyFraming, ErrorKind, Event, Headers, HttpError, Limits,
    RequestHead, RequestParser, Version,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Feeding the parser

/// What the parser said about an input: its events (consecutive body pieces joined, since how
/// the body is split depends on the reads) and the error that stopped it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    events: Vec<Event>,
    error: Option<HttpError>,
}

/// Push `input` in pieces of `size(i)` bytes, asking for every event after each push.
fn feed(input: &[u8], limits: &Limits, size: impl Fn(usize) -> usize) -> Outcome {
    let mut parser = RequestParser::new(limits.clone());
    let mut events: Vec<Event> = Vec::new();
    let (mut at, mut i) = (0, 0);
    loop {
        loop {
            match parser.next() {
                Ok(Some(Event::Body(more))) => {
                    assert!(!more.is_empty(), "a Body event is never empty");
                    match events.last_mut() {
                        Some(Event::Body(body)) => body.extend_from_slice(&more),
                        _ => events.push(Event::Body(more)),
                    }
                }
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(error) => {
                    return Outcome {
                        events,
                        error: Some(error),
                    }
                }
            }
        }
        if at >= input.len() {
            return Outcome {
                events,
                error: None,
            };
        }
        let n = size(i).clamp(1, input.len() - at);
        parser.push(&input[at..at + n]);
        at += n;
        i += 1;
    }
}

/// A piece size from 1 to 17, pseudo-random but replayable from its seed.
fn random_size(seed: u64, i: usize) -> usize {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ seed.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 31;
    (x % 17) as usize + 1
}

/// The input fed in every chunking worth trying, each with its name for failure messages.
/// Inputs up to 2 KiB are cut at every single point; longer ones at 512 points spread over them.
fn every_chunking(input: &[u8], limits: &Limits) -> Vec<(String, Outcome)> {
    let mut out = vec![
        (
            "all at once".to_string(),
            feed(input, limits, |_| usize::MAX),
        ),
        ("1 byte at a time".to_string(), feed(input, limits, |_| 1)),
    ];
    for seed in 1..=16 {
        out.push((
            format!("random sizes (seed {seed})"),
            feed(input, limits, |i| random_size(seed, i)),
        ));
    }
    let step = if input.len() <= 2048 {
        1
    } else {
        input.len() / 512
    };
    for cut in (1..input.len()).step_by(step) {
        out.push((
            format!("cut after byte {cut}"),
            feed(input, limits, |i| if i == 0 { cut } else { usize::MAX }),
        ));
    }
    out
}

fn show(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
        .escape_debug()
        .to_string()
}

// ---------------------------------------------------------------------------------------------
// What a valid request should produce

/// One expected request: its head, body and trailers.
#[derive(Debug, Clone)]
struct Req {
    head: RequestHead,
    body: Vec<u8>,
    trailers: Vec<(&'static str, &'static str)>,
}

impl Req {
    /// A request without body; keep-alive is the version's default.
    fn new(method: &str, target: &str, version: Version) -> Req {
        Req {
            head: RequestHead {
                method: method.into(),
                target: target.into(),
                version,
                headers: Headers::new(),
                keep_alive: version == Version::Http11,
                body: BodyFraming::None,
            },
            body: Vec::new(),
            trailers: Vec::new(),
        }
    }

    fn h(mut self, name: &str, value: &str) -> Req {
        self.head.headers.push(name, value);
        self
    }

    fn keep_alive(mut self, on: bool) -> Req {
        self.head.keep_alive = on;
        self
    }

    fn body(mut self, framing: BodyFraming, body: &[u8]) -> Req {
        self.head.body = framing;
        self.body = body.to_vec();
        self
    }

    fn trailer(mut self, name: &'static str, value: &'static str) -> Req {
        self.trailers.push((name, value));
        self
    }
}

/// The events a list of requests produces, body pieces joined.
fn events_of(reqs: &[Req]) -> Vec<Event> {
    let mut events = Vec::new();
    for req in reqs {
        events.push(Event::Head(req.head.clone()));
        if !req.body.is_empty() {
            events.push(Event::Body(req.body.clone()));
        }
        if !req.trailers.is_empty() {
            let mut t = Headers::new();
            for (n, v) in &req.trailers {
                t.push(*n, *v);
            }
            events.push(Event::Trailers(t));
        }
        events.push(Event::End);
    }
    events
}

const H10: Version = Version::Http10;
const H11: Version = Version::Http11;

fn valid_cases() -> Vec<(&'static str, Vec<u8>, Vec<Req>)> {
    use BodyFraming::{Chunked, ContentLength};
    let get = |target| Req::new("GET", target, H11).h("Host", "x");
    vec![
        (
            "a GET with Host",
            b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec(),
            vec![Req::new("GET", "/", H11).h("Host", "example.com")],
        ),
        (
            "HTTP/1.0 needs no Host and closes by default",
            b"GET /old HTTP/1.0\r\n\r\n".to_vec(),
            vec![Req::new("GET", "/old", H10)],
        ),
        (
            "HTTP/1.0 with Connection: keep-alive stays open",
            b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n".to_vec(),
            vec![Req::new("GET", "/", H10).h("Connection", "Keep-Alive").keep_alive(true)],
        ),
        (
            "Connection: close ends an HTTP/1.1 connection",
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
            vec![get("/").h("Connection", "close").keep_alive(false)],
        ),
        (
            "bare LF line ends, as a hand-typed request in nc sends them",
            b"GET / HTTP/1.1\nHost: x\n\n".to_vec(),
            vec![get("/")],
        ),
        (
            "CRLF and LF mixed",
            b"GET / HTTP/1.1\r\nHost: x\n\r\n".to_vec(),
            vec![get("/")],
        ),
        (
            "empty lines before the request line are ignored",
            b"\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            vec![get("/")],
        ),
        (
            "whitespace around a value is trimmed, inside it is kept",
            b"GET / HTTP/1.1\r\nHost:x\r\nX-A: \t a \t b \t\r\nX-Empty:\r\nX-Blank:    \r\n\r\n"
                .to_vec(),
            vec![get("/").h("X-A", "a \t b").h("X-Empty", "").h("X-Blank", "")],
        ),
        (
            "repeated fields keep their order and their spelling",
            b"GET / HTTP/1.1\r\nhost: x\r\nAccept: a\r\nACCEPT: b\r\naccept: c\r\n\r\n".to_vec(),
            vec![Req::new("GET", "/", H11)
                .h("host", "x")
                .h("Accept", "a")
                .h("ACCEPT", "b")
                .h("accept", "c")],
        ),
        (
            "any token is a method (the server decides which it implements)",
            b"M-SEARCH * HTTP/1.1\r\nHost: x\r\n\r\nget / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            vec![
                Req::new("M-SEARCH", "*", H11).h("Host", "x"),
                Req::new("get", "/", H11).h("Host", "x"),
            ],
        ),
        (
            "absolute-form target",
            b"GET http://example.com/a?b HTTP/1.1\r\nHost: example.com\r\n\r\n".to_vec(),
            vec![Req::new("GET", "http://example.com/a?b", H11).h("Host", "example.com")],
        ),
        (
            "authority-form target of CONNECT",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_vec(),
            vec![Req::new("CONNECT", "example.com:443", H11).h("Host", "example.com:443")],
        ),
        (
            "a target with every visible character but none other",
            b"GET /a-._~!$&'()*+,;=:@%20/?q=[x]&r={\"|\\^`} HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
            vec![get("/a-._~!$&'()*+,;=:@%20/?q=[x]&r={\"|\\^`}")],
        ),
        (
            "Host with an IPv6 address and a port, and an empty Host",
            b"GET / HTTP/1.1\r\nHost: [::1]:7007\r\n\r\nGET / HTTP/1.1\r\nHost:\r\n\r\n".to_vec(),
            vec![
                Req::new("GET", "/", H11).h("Host", "[::1]:7007"),
                Req::new("GET", "/", H11).h("Host", ""),
            ],
        ),
        (
            "a Content-Length body",
            b"POST /f HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec(),
            vec![Req::new("POST", "/f", H11)
                .h("Host", "x")
                .h("Content-Length", "5")
                .body(ContentLength(5), b"hello")],
        ),
        (
            "a body with every byte value, CR and LF included",
            {
                let mut r = b"PUT /bin HTTP/1.1\r\nHost: x\r\nContent-Length: 256\r\n\r\n".to_vec();
                r.extend(0..=255u8);
                r
            },
            vec![Req::new("PUT", "/bin", H11)
                .h("Host", "x")
                .h("Content-Length", "256")
                .body(ContentLength(256), &(0..=255u8).collect::<Vec<u8>>())],
        ),
        (
            "Content-Length: 0 ends the request at the blank line",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_vec(),
            vec![get("/").body(ContentLength(0), b"")]
                .into_iter()
                .map(|mut r| {
                    r.head.method = "POST".into();
                    r.head.headers.push("Content-Length", "0");
                    r
                })
                .collect(),
        ),
        (
            "identical Content-Length values count as one (RFC 9110 8.6)",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\ncontent-length: 3\r\n\r\nabc"
                .to_vec(),
            vec![Req::new("POST", "/", H11)
                .h("Host", "x")
                .h("Content-Length", "3, 3")
                .h("content-length", "3")
                .body(ContentLength(3), b"abc")],
        ),
        (
            "a chunked body with extensions and trailers",
            b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5;name=val\r\nhello\r\n1A ; a=\"q;\\\"\"\r\nabcdefghijklmnopqrstuvwxyz\r\n\
              0\r\nExpires: never\r\nX-Sum:  31 \r\n\r\n"
                .to_vec(),
            vec![Req::new("POST", "/up", H11)
                .h("Host", "x")
                .h("Transfer-Encoding", "chunked")
                .body(Chunked, b"helloabcdefghijklmnopqrstuvwxyz")
                .trailer("Expires", "never")
                .trailer("X-Sum", "31")],
        ),
        (
            "chunk sizes with leading zeros, chunked in capitals, an empty list element",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , Chunked\r\n\r\n\
              0005\r\nhello\r\n000\r\n\r\n"
                .to_vec(),
            vec![Req::new("POST", "/", H11)
                .h("Host", "x")
                .h("Transfer-Encoding", ", Chunked")
                .body(Chunked, b"hello")],
        ),
        (
            "a chunked body whose chunks hold CRLF and look like chunk lines",
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
              5\r\n0\r\n\r\n\r\n0\r\n\r\n"
                .to_vec(),
            vec![Req::new("POST", "/", H11)
                .h("Host", "x")
                .h("Transfer-Encoding", "chunked")
                .body(Chunked, b"0\r\n\r\n")],
        ),
        (
            "a body that looks like a request is only a body",
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 28\r\n\r\nGET /x HTTP/1.1\r\nHost: x\r\n\r\n"
                .to_vec(),
            vec![Req::new("POST", "/", H11)
                .h("Host", "x")
                .h("Content-Length", "28")
                .body(ContentLength(28), b"GET /x HTTP/1.1\r\nHost: x\r\n\r\n")],
        ),
        (
            "a pipeline: GET, POST with a length, POST chunked, GET that closes",
            b"GET /1 HTTP/1.1\r\nHost: x\r\n\r\n\
              POST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc\
              POST /3 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n\
              GET /4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                .to_vec(),
            vec![
                get("/1"),
                Req::new("POST", "/2", H11)
                    .h("Host", "x")
                    .h("Content-Length", "3")
                    .body(ContentLength(3), b"abc"),
                Req::new("POST", "/3", H11)
                    .h("Host", "x")
                    .h("Transfer-Encoding", "chunked")
                    .body(Chunked, b"de"),
                get("/4").h("Connection", "close").keep_alive(false),
            ],
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// Valid requests

#[test]
fn valid_requests_parse_the_same_in_every_chunking() {
    let limits = Limits::default();
    for (name, input, reqs) in valid_cases() {
        let want = Outcome {
            events: events_of(&reqs),
            error: None,
        };
        for (how, got) in every_chunking(&input, &limits) {
            assert_eq!(got, want, "{name}, fed {how}: {}", show(&input));
        }
    }
}

/// Whether `partial` could be the start of `full`: equal events, the last body possibly cut.
fn is_prefix(partial: &[Event], full: &[Event]) -> bool {
    let Some((last, before)) = partial.split_last() else {
        return true;
    };
    partial.len() <= full.len()
        && before == &full[..before.len()]
        && match (last, &full[before.len()]) {
            (Event::Body(part), Event::Body(whole)) => whole.starts_with(part),
            (a, b) => a == b,
        }
}

#[test]
fn every_truncated_prefix_of_a_valid_request_needs_more_and_is_never_an_error() {
    let limits = Limits::default();
    for (name, input, reqs) in valid_cases() {
        let full = events_of(&reqs);
        let ends = reqs.len();
        for len in 0..input.len() {
            let prefix = &input[..len];
            let got = feed(prefix, &limits, |_| usize::MAX);
            assert_eq!(
                got.error,
                None,
                "{name}, first {len} bytes: {}",
                show(prefix)
            );
            assert!(
                is_prefix(&got.events, &full),
                "{name}, first {len} bytes: {:?}",
                got.events
            );
            let ended = got.events.iter().filter(|e| **e == Event::End).count();
            assert!(
                ended < ends,
                "{name}: the last request ended before its last byte"
            );
        }
    }
}

#[test]
fn pipelined_requests_come_out_in_order_from_one_push() {
    let mut parser = RequestParser::default();
    parser.push(
        b"POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\none\r\n0\r\nT: 1\r\n\r\n\
          POST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo\
          GET /c HTTP/1.0\r\n\r\n\
          GET /d HTTP/1.1\r\nHost: x\r\n\r\nGET /e HT",
    );
    let mut seen = Vec::new();
    while let Some(event) = parser.next().expect("all valid") {
        seen.push(match event {
            Event::Head(h) => format!("head {} {} {}", h.method, h.target, h.version),
            Event::Body(b) => format!("body {}", String::from_utf8_lossy(&b)),
            Event::Trailers(t) => format!("{} trailer", t.len()),
            Event::End => "end".to_string(),
        });
    }
    assert_eq!(
        seen,
        [
            "head POST /a HTTP/1.1",
            "body one",
            "1 trailer",
            "end",
            "head POST /b HTTP/1.1",
            "body two",
            "end",
            "head GET /c HTTP/1.0",
            "end",
            "head GET /d HTTP/1.1",
            "end",
        ]
    );
    // The start of the fifth request waits for the rest of it.
    assert_eq!(parser.buffered(), "GET /e HT".len());
    assert!(!parser.is_idle());
    parser.push(b"TP/1.1\r\nHost: x\r\n\r\n");
    assert!(matches!(parser.next(), Ok(Some(Event::Head(h))) if h.target == "/e"));
    assert_eq!(parser.next(), Ok(Some(Event::End)));
    assert_eq!(parser.next(), Ok(None));
    assert!(parser.is_idle());
}

#[test]
fn a_body_arrives_in_pieces_as_the_reads_do() {
    let mut parser = RequestParser::default();
    parser.push(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab");
    assert!(matches!(parser.next(), Ok(Some(Event::Head(_)))));
    assert_eq!(parser.next(), Ok(Some(Event::Body(b"ab".to_vec()))));
    assert_eq!(parser.next(), Ok(None));
    parser.push(b"cd");
    assert_eq!(parser.next(), Ok(Some(Event::Body(b"cd".to_vec()))));
    parser.push(b"efGET");
    assert_eq!(parser.next(), Ok(Some(Event::Body(b"ef".to_vec()))));
    assert_eq!(parser.next(), Ok(Some(Event::End)));
    assert_eq!(parser.next(), Ok(None));
    assert_eq!(parser.buffered(), 3);
}

#[test]
fn limits_are_inclusive_exactly_at_the_boundary() {
    let limits = Limits::default();
    // A request line of exactly max_request_line bytes, counting its CR.
    let target = "/".repeat(limits.max_request_line - "GET  HTTP/1.1\r".len());
    let at_limit = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(parse_all(at_limit.as_bytes()).error, None);
    let over = format!("GET /{target} HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(
        parse_all(over.as_bytes()).error.map(|e| e.status),
        Some(414)
    );

    // max_headers fields.
    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 1..limits.max_headers {
        many.extend(format!("X-{i}: {i}\r\n").as_bytes());
    }
    many.extend(b"\r\n");
    assert_eq!(parse_all(&many).error, None);

    // A header section of exactly max_header_bytes, blank line included.
    let fill = limits.max_header_bytes - "Host: x\r\nX: \r\n\r\n".len();
    let exact = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(fill)
    );
    assert_eq!(parse_all(exact.as_bytes()).error, None);
    let over = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(fill + 1)
    );
    assert_eq!(
        parse_all(over.as_bytes()).error.map(|e| e.status),
        Some(431)
    );

    // A body of exactly max_body, by length and in chunks.
    let head = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        limits.max_body
    );
    assert_eq!(parse_all(head.as_bytes()).error, None);
    let chunked = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n",
        limits.max_body
    );
    assert_eq!(parse_all(chunked.as_bytes()).error, None);
}

// ---------------------------------------------------------------------------------------------
// Invalid requests

fn invalid_cases() -> Vec<(&'static str, Vec<u8>, u16, ErrorKind)> {
    use ErrorKind::*;
    let small: &[(&str, &[u8], u16, ErrorKind)] = &[
        // The request line.
        ("HTTP/0.9: no version", b"GET /\r\n\r\n", 400, BadRequestLine),
        ("two spaces after the method", b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadRequestLine),
        ("a space before the method", b" GET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadRequestLine),
        ("a space after the version", b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400, BadRequestLine),
        ("a space inside the target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadRequestLine),
        ("a tab as separator", b"GET\t/ HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadRequestLine),
        ("a method that is not a token", b"G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadMethod),
        ("a control byte in the target", b"GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadTarget),
        ("raw UTF-8 in the target", b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: x\r\n\r\n", 400, BadTarget),
        ("a lowercase protocol name", b"GET / http/1.1\r\nHost: x\r\n\r\n", 400, BadVersion),
        ("a two-digit minor version", b"GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400, BadVersion),
        ("a version without minor", b"GET / HTTP/2\r\nHost: x\r\n\r\n", 400, BadVersion),
        ("HTTP/1.2", b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505, UnsupportedVersion),
        ("HTTP/2.0 over HTTP/1 framing", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, UnsupportedVersion),
        ("HTTP/0.9 with a version", b"GET / HTTP/0.9\r\n\r\n", 505, UnsupportedVersion),
        ("nine empty lines first", b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400, TooManyEmptyLines),
        ("a bare CR ending the request line", b"GET / HTTP/1.1\rHost: x\r\n\r\n", 400, BareCr),
        // Header fields.
        ("a bare CR inside a value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400, BareCr),
        ("a header without a colon", b"GET / HTTP/1.1\r\nHost: x\r\nX-Oops\r\n\r\n", 400, NoColon),
        ("whitespace before the colon", b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, WhitespaceBeforeColon),
        ("a tab before the colon", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length\t: 0\r\n\r\n", 400, WhitespaceBeforeColon),
        ("an empty header name", b"GET / HTTP/1.1\r\nHost: x\r\n: x\r\n\r\n", 400, EmptyFieldName),
        ("a header name that is not a token", b"GET / HTTP/1.1\r\nHost: x\r\nX(Y): 1\r\n\r\n", 400, BadFieldName),
        ("NUL in a value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", 400, BadFieldValue),
        ("DEL in a value", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x7fb\r\n\r\n", 400, BadFieldValue),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400, ObsFold),
        ("whitespace before the first header", b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", 400, ObsFold),
        // Host.
        ("HTTP/1.1 without Host", b"GET / HTTP/1.1\r\n\r\n", 400, BadHost),
        ("two Host lines", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 400, BadHost),
        ("two Host lines in HTTP/1.0", b"GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n", 400, BadHost),
        ("a Host with a space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, BadHost),
        ("a Host with userinfo", b"GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", 400, BadHost),
        // Content-Length.
        ("a Content-Length that is not a number", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400, BadContentLength),
        ("a negative Content-Length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400, BadContentLength),
        ("a Content-Length with a plus sign", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, BadContentLength),
        ("a hex Content-Length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x5\r\n\r\nhello", 400, BadContentLength),
        ("an empty Content-Length", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n\r\n", 400, BadContentLength),
        ("an empty Content-Length list element", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5,\r\n\r\nhello", 400, BadContentLength),
        ("differing Content-Length values in a list", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\nhello!", 400, BadContentLength),
        ("differing Content-Length lines", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400, BadContentLength),
        ("a Content-Length beyond 64 bits", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, BadContentLength),
        ("a Content-Length over the body limit", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048577\r\n\r\n", 413, BodyTooLarge),
        // Transfer-Encoding.
        ("Content-Length and Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, ContentLengthAndTransferEncoding),
        ("Transfer-Encoding without chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400, BadTransferEncoding),
        ("an unknown Transfer-Encoding alone", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\n\r\n", 400, BadTransferEncoding),
        ("chunked not last", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, BadTransferEncoding),
        ("chunked not last, over two lines", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400, BadTransferEncoding),
        ("chunked twice", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", 400, BadTransferEncoding),
        ("an empty Transfer-Encoding", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", 400, BadTransferEncoding),
        ("Transfer-Encoding in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, BadTransferEncoding),
        ("chunked with parameters", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", 400, BadTransferEncoding),
        ("gzip before chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501, UnsupportedTransferCoding),
        ("an unknown coding before chunked", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: foo\r\nTransfer-Encoding: chunked\r\n\r\n", 501, UnsupportedTransferCoding),
        // Chunked bodies.
        ("a chunk size that is not hex", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, BadChunkSize),
        ("a chunk size with 0x", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n", 400, BadChunkSize),
        ("a space after the chunk size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n", 400, BadChunkSize),
        ("an empty chunk extension", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n", 400, BadChunkSize),
        ("an empty chunk size line", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", 400, BadChunkSize),
        ("a chunk size beyond 64 bits", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000000\r\n", 400, ChunkSizeOverflow),
        ("a chunk over the body limit", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100001\r\n", 413, BodyTooLarge),
        ("chunks that add up past the limit", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n100000\r\n", 413, BodyTooLarge),
        ("a chunk size line ending in a bare LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n", 400, BareLfInChunked),
        ("chunk data followed by a bare LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n", 400, MissingChunkCrlf),
        ("chunk data longer than its size", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello!\r\n0\r\n\r\n", 400, MissingChunkCrlf),
        ("chunk data followed by CR and not LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r0\r\n\r\n", 400, MissingChunkCrlf),
        ("a trailer without a colon", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer\r\n\r\n", 400, NoColon),
        ("a trailer section ending in a bare LF", b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n", 400, BareLfInChunked),
        // After a valid request: the events come first, then the error.
        ("a bad second request", b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost x\r\n\r\n", 400, NoColon),
    ];
    let mut cases: Vec<(&str, Vec<u8>, u16, ErrorKind)> = small
        .iter()
        .map(|(name, bytes, status, kind)| (*name, bytes.to_vec(), *status, *kind))
        .collect();

    // The limits, with the default sizes.
    let limits = Limits::default();
    let long_line = format!(
        "GET /{} HTTP/1.1\r\nHost: x\r\n\r\n",
        "a".repeat(limits.max_request_line)
    );
    cases.push((
        "a request line over the limit",
        long_line.into_bytes(),
        414,
        RequestLineTooLong,
    ));
    let endless = vec![b'a'; limits.max_request_line + 1];
    cases.push((
        "a request line that never ends",
        endless,
        414,
        RequestLineTooLong,
    ));
    let big_header = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX: {}\r\n\r\n",
        "v".repeat(limits.max_header_bytes)
    );
    cases.push((
        "a header section over the limit",
        big_header.into_bytes(),
        431,
        HeadersTooLarge,
    ));
    let mut many = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..limits.max_headers {
        many.extend(format!("X-{i}: {i}\r\n").as_bytes());
    }
    many.extend(b"\r\n");
    cases.push(("one header too many", many, 431, TooManyHeaders));
    let mut trailers =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    trailers.extend(format!("X: {}\r\n\r\n", "t".repeat(limits.max_trailer_bytes)).as_bytes());
    cases.push((
        "a trailer section over the limit",
        trailers,
        431,
        TrailersTooLarge,
    ));
    let mut many_trailers =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
    for _ in 0..=limits.max_headers {
        many_trailers.extend(b"T:\r\n");
    }
    many_trailers.extend(b"\r\n");
    cases.push(("one trailer too many", many_trailers, 431, TooManyHeaders));
    let mut long_chunk_line =
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;x=".to_vec();
    long_chunk_line.extend(vec![b'y'; 1024]);
    long_chunk_line.extend(b"\r\nhello\r\n0\r\n\r\n");
    cases.push((
        "a chunk size line over 1 KiB",
        long_chunk_line,
        400,
        BadChunkSize,
    ));
    cases
}

#[test]
fn invalid_requests_get_their_exact_status_in_every_chunking() {
    let limits = Limits::default();
    for (name, input, status, kind) in invalid_cases() {
        assert_eq!(
            kind.status(),
            status,
            "{name}: the table and the kind disagree"
        );
        let mut first: Option<Outcome> = None;
        for (how, got) in every_chunking(&input, &limits) {
            let Some(error) = &got.error else {
                panic!(
                    "{name}, fed {how}: accepted {}: {:?}",
                    show(&input),
                    got.events
                )
            };
            assert_eq!(
                (error.status, error.kind),
                (status, kind),
                "{name}, fed {how}: {error}"
            );
            // The same events before the error, whatever the chunking.
            match &first {
                None => first = Some(got),
                Some(first) => assert_eq!(&got, first, "{name}, fed {how}"),
            }
        }
    }
}

#[test]
fn a_request_that_stops_short_of_a_limit_is_not_refused_early() {
    // 8 KiB of request line with no LF yet is exactly the limit: still waiting, no 414.
    let mut parser = RequestParser::default();
    parser.push(&vec![b'a'; parser.limits().max_request_line]);
    assert_eq!(parser.next(), Ok(None));
    parser.push(b"a");
    assert_eq!(parser.next().map_err(|e| e.status), Err(414));
}

#[test]
fn small_limits_are_each_answered_with_their_own_status() {
    let limits = Limits {
        max_request_line: 20,
        max_header_bytes: 40,
        max_headers: 2,
        max_body: 5,
        max_trailer_bytes: 10,
    };
    let cases: &[(&[u8], u16)] = &[
        (b"GET /0123456789abcdef HTTP/1.1\r\n", 414),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: 0123456789012345678901234\r\n\r\n",
            431,
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\n\r\n", 431),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\n",
            413,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\n",
            413,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: 123456\r\n",
            431,
        ),
    ];
    for (input, status) in cases {
        for (how, got) in every_chunking(input, &limits) {
            let got = got.error.map(|e| e.status);
            assert_eq!(got, Some(*status), "fed {how}: {}", show(input));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Differential: httparse reads the same heads

/// httparse's reading of the first request head in `bytes`: method, path, minor version,
/// headers. `None` if it needs more bytes.
type Reading = (String, String, u8, Vec<(Vec<u8>, Vec<u8>)>);

fn httparse_head(bytes: &[u8]) -> Result<Option<Reading>, httparse::Error> {
    let mut headers = [httparse::EMPTY_HEADER; 128];
    let mut req = httparse::Request::new(&mut headers);
    Ok(match req.parse(bytes)? {
        httparse::Status::Partial => None,
        httparse::Status::Complete(_) => Some((
            req.method.unwrap_or_default().to_string(),
            req.path.unwrap_or_default().to_string(),
            req.version.unwrap_or(9),
            req.headers
                .iter()
                .map(|h| (h.name.as_bytes().to_vec(), h.value.to_vec()))
                .collect(),
        )),
    })
}

fn our_reading(head: &RequestHead) -> Reading {
    (
        head.method.clone(),
        head.target.clone(),
        head.version.minor(),
        head.headers
            .iter()
            .map(|(n, v)| (n.to_vec(), v.to_vec()))
            .collect(),
    )
}

#[test]
fn httparse_reads_the_same_heads_from_every_valid_request() {
    for (name, input, reqs) in valid_cases() {
        let theirs = httparse_head(&input).unwrap_or_else(|e| panic!("{name}: httparse: {e}"));
        assert_eq!(theirs, Some(our_reading(&reqs[0].head)), "{name}");
    }
}

#[test]
fn httparse_also_refuses_the_heads_we_find_malformed() {
    use ErrorKind::*;
    let syntax = [
        BadRequestLine,
        BadMethod,
        BadTarget,
        BadVersion,
        UnsupportedVersion,
        BareCr,
        NoColon,
        EmptyFieldName,
        WhitespaceBeforeColon,
        BadFieldName,
        BadFieldValue,
        ObsFold,
    ];
    let mut compared = 0;
    for (name, input, _, kind) in invalid_cases() {
        // Only requests refused before their head was complete: httparse reads heads only.
        let ours = feed(&input, &Limits::default(), |_| usize::MAX);
        if !syntax.contains(&kind) || !ours.events.is_empty() {
            continue;
        }
        let theirs = httparse_head(&input);
        if name == "raw UTF-8 in the target" {
            // The one difference: httparse lets bytes 0x80-0xFF through in the target (for
            // clients that send raw UTF-8); we hold to RFC 3986, where they must be %-encoded.
            assert!(matches!(theirs, Ok(Some(_))), "{name}: {theirs:?}");
            continue;
        }
        assert!(theirs.is_err(), "{name}: httparse accepted it: {theirs:?}");
        compared += 1;
    }
    assert!(compared >= 20, "only {compared} cases compared");
}

// ---------------------------------------------------------------------------------------------
// Property tests

/// A generated valid request: its wire bytes and the events it must produce.
#[derive(Debug, Clone)]
struct Generated {
    wire: Vec<u8>,
    expected: Req,
}

fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

/// A field name the generator may use freely (the framing fields are added on purpose).
fn free_name() -> impl Strategy<Value = String> {
    token().prop_filter("a framing field", |n| {
        !["host", "content-length", "transfer-encoding", "connection"]
            .contains(&n.to_ascii_lowercase().as_str())
    })
}

/// A field value without leading or trailing whitespace (the wire adds some, the parser trims).
fn value() -> impl Strategy<Value = String> {
    "([!-~]([\t -~]{0,24}[!-~])?)?"
}

fn ows() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", " ", "\t", "  \t "])
}

#[derive(Debug, Clone)]
enum GenBody {
    None,
    Length(Vec<u8>),
    Chunked(Vec<Vec<u8>>, Vec<(String, String)>),
}

fn gen_body() -> impl Strategy<Value = GenBody> {
    prop_oneof![
        Just(GenBody::None),
        prop::collection::vec(any::<u8>(), 0..40).prop_map(GenBody::Length),
        (
            prop::collection::vec(prop::collection::vec(any::<u8>(), 1..20), 0..4),
            prop::collection::vec((free_name(), value()), 0..3),
        )
            .prop_map(|(chunks, trailers)| GenBody::Chunked(chunks, trailers)),
    ]
}

prop_compose! {
    fn generated()(
        method in prop_oneof![
            prop::sample::select(vec!["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS"])
                .prop_map(String::from),
            token(),
        ],
        target in "/[A-Za-z0-9._~!$&'()*+,;=:@%/?-]{0,30}",
        http11 in any::<bool>(),
        host in prop::option::of("[a-z0-9.-]{1,15}(:[0-9]{1,5})?"),
        fields in prop::collection::vec((free_name(), value(), ows(), ows()), 0..8),
        connection in prop::sample::select(vec![None, Some("close"), Some("keep-alive"), Some("Keep-Alive, Upgrade")]),
        body in gen_body(),
        lf_only in prop::collection::vec(any::<bool>(), 32),
    ) -> Generated {
        let version = if http11 { Version::Http11 } else { Version::Http10 };
        let mut body = body;
        if version == Version::Http10 {
            if let GenBody::Chunked(..) = body {
                body = GenBody::None; // HTTP/1.0 has no chunked bodies
            }
        }
        let mut expected = Req::new(&method, &target, version);
        let mut lines: Vec<String> = vec![format!("{method} {target} {version}")];
        let mut field = |expected: &mut Req, name: &str, value: &str, pad: (&str, &str)| {
            lines.push(format!("{name}:{}{value}{}", pad.0, pad.1));
            expected.head.headers.push(name, value);
        };
        // HTTP/1.1 needs a Host; HTTP/1.0 may have one.
        let host = match (host, version) {
            (None, Version::Http11) => Some("example.com".to_string()),
            (host, _) => host,
        };
        if let Some(host) = &host {
            field(&mut expected, "Host", host, (" ", ""));
        }
        for (name, value, before, after) in &fields {
            field(&mut expected, name, value, (before, after));
        }
        if let Some(c) = connection {
            field(&mut expected, "Connection", c, (" ", ""));
            expected.head.keep_alive = !c.eq_ignore_ascii_case("close")
                && (version == Version::Http11 || c.to_ascii_lowercase().contains("keep-alive"));
        }
        let mut tail = Vec::new();
        match &body {
            GenBody::None => {}
            GenBody::Length(bytes) => {
                field(&mut expected, "Content-Length", &bytes.len().to_string(), (" ", ""));
                expected = expected.body(BodyFraming::ContentLength(bytes.len() as u64), bytes);
                tail = bytes.clone();
            }
            GenBody::Chunked(chunks, trailers) => {
                field(&mut expected, "Transfer-Encoding", "chunked", (" ", ""));
                let all: Vec<u8> = chunks.concat();
                expected = expected.body(BodyFraming::Chunked, &all);
                for chunk in chunks {
                    tail.extend(format!("{:x}\r\n", chunk.len()).as_bytes());
                    tail.extend(chunk);
                    tail.extend(b"\r\n");
                }
                tail.extend(b"0\r\n");
                for (name, value) in trailers {
                    tail.extend(format!("{name}: {value}\r\n").as_bytes());
                    expected.trailers.push((leak(name), leak(value)));
                }
                tail.extend(b"\r\n");
            }
        }
        lines.push(String::new()); // the blank line
        let mut wire = Vec::new();
        for (i, line) in lines.iter().enumerate() {
            wire.extend(line.as_bytes());
            wire.extend(if lf_only[i % lf_only.len()] { &b"\n"[..] } else { b"\r\n" });
        }
        wire.extend(tail);
        Generated { wire, expected }
    }
}

/// Trailers in `Req` are `&'static str` pairs for the readable table; generated ones are leaked
/// (a few bytes per test case, in a test process).
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

/// Mutations for the fuzz-like property: (where, what, byte).
fn mutations() -> impl Strategy<Value = Vec<(prop::sample::Index, u8, u8)>> {
    prop::collection::vec((any::<prop::sample::Index>(), 0..3u8, any::<u8>()), 1..4)
}

fn mutate(mut bytes: Vec<u8>, edits: &[(prop::sample::Index, u8, u8)]) -> Vec<u8> {
    for (at, op, byte) in edits {
        if bytes.is_empty() {
            bytes.push(*byte);
            continue;
        }
        let i = at.index(bytes.len());
        match op {
            0 => bytes[i] = *byte,
            1 => bytes.insert(i, *byte),
            _ => {
                bytes.remove(i);
            }
        }
    }
    bytes
}

/// Limits small enough that random inputs reach them.
fn tiny_limits() -> Limits {
    Limits {
        max_request_line: 48,
        max_header_bytes: 96,
        max_headers: 4,
        max_body: 24,
        max_trailer_bytes: 24,
    }
}

/// Whatever the bytes, every chunking gives the same outcome as one push, and annotating them
/// stays in bounds.
fn chunking_does_not_matter(input: &[u8], limits: &Limits, seed: u64) -> Result<(), TestCaseError> {
    let whole = feed(input, limits, |_| usize::MAX);
    prop_assert_eq!(&feed(input, limits, |_| 1), &whole, "1 byte at a time");
    prop_assert_eq!(
        &feed(input, limits, |i| random_size(seed, i)),
        &whole,
        "seed {}",
        seed
    );
    for note in annotate_head(input) {
        prop_assert!(note.bytes.start < note.bytes.end && note.bytes.end <= input.len());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_requests_parse_as_built_in_any_chunking(
        reqs in prop::collection::vec(generated(), 1..4),
        seed in any::<u64>(),
    ) {
        let wire: Vec<u8> = reqs.iter().flat_map(|g| g.wire.clone()).collect();
        let expected: Vec<Req> = reqs.iter().map(|g| g.expected.clone()).collect();
        let want = Outcome { events: events_of(&expected), error: None };
        let limits = Limits::default();
        prop_assert_eq!(&feed(&wire, &limits, |_| usize::MAX), &want);
        prop_assert_eq!(&feed(&wire, &limits, |i| random_size(seed, i)), &want);
        // httparse reads each head the same way.
        for g in &reqs {
            let theirs = httparse_head(&g.wire);
            prop_assert_eq!(theirs, Ok(Some(our_reading(&g.expected.head))));
        }
    }

    #[test]
    fn random_bytes_never_panic_and_chunking_does_not_matter(
        input in prop::collection::vec(any::<u8>(), 0..300),
        seed in any::<u64>(),
        tiny in any::<bool>(),
    ) {
        let limits = if tiny { tiny_limits() } else { Limits::default() };
        chunking_does_not_matter(&input, &limits, seed)?;
    }

    #[test]
    fn mutated_requests_never_panic_and_chunking_does_not_matter(
        reqs in prop::collection::vec(generated(), 1..3),
        edits in mutations(),
        seed in any::<u64>(),
        tiny in any::<bool>(),
    ) {
        let wire: Vec<u8> = reqs.iter().flat_map(|g| g.wire.clone()).collect();
        let input = mutate(wire, &edits);
        let limits = if tiny { tiny_limits() } else { Limits::default() };
        chunking_does_not_matter(&input, &limits, seed)?;
    }

    #[test]
    fn chunk_size_lines_read_as_httparse_reads_them(
        size in any::<u64>(),
        zeros in 0..4usize,
        upper in any::<bool>(),
        ext in prop::sample::select(vec!["", ";a", ";a=b", " ; a = \"q;x\" ;b"]),
    ) {
        let hex = if upper { format!("{size:X}") } else { format!("{size:x}") };
        let digits = format!("{}{hex}", "0".repeat(zeros.min(16 - hex.len().min(16))));
        let line = format!("{digits}{ext}");
        let theirs = httparse::parse_chunk_size(format!("{line}\r\n").as_bytes());
        prop_assert_eq!(theirs, Ok(httparse::Status::Complete((line.len() + 2, size))));
        prop_assert_eq!(parse_chunk_size_line(line.as_bytes()).map_err(|e| e.kind), Ok(size));
    }
}
