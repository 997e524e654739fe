//! Lesson 07's diagrams: three requests pipelined on one kept-alive connection and answered in
//! order, and the bytes of a request head with each part named.
//!
//! The sequence follows `lessons/07-http-server/main.rs` (`HttpApp::on_data`,
//! `answer_complete_requests`) and the parser in `src/http/request.rs`; the sizes are those of
//! the reference's answers (the `strace` in the lesson text shows the same one-read,
//! one-write shape). The byte layout is drawn from `crate::http::annotate_head`, the function
//! `--trace` uses, applied to a sample request, so the picture cannot drift from the trace.

use super::byte_layout::{render_layout_with_example, Example};
use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::{Diagram, Field};
use crate::http::annotate_head;

const PIPELINING_TITLE: &str =
    "Lesson 07: three pipelined requests, one read, three answers in order, then close";
const ACTORS: [&str; 3] = [
    "client (curl, a browser, nc)",
    "kernel (TCP buffers)",
    "server (event loop + HttpApp)",
];
const CLIENT: usize = 0;
const KERNEL: usize = 1;
const SERVER: usize = 2;

const HEAD_TITLE: &str = "Lesson 07: an HTTP/1.1 request head, byte by byte";

/// A small request with a body, as `curl -d` would send it (with fewer headers).
const SAMPLE: &[u8] = b"POST /api/echo HTTP/1.1\r\nHost: 127.0.0.1:7007\r\n\
Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{\"id\": 7}";

/// The parts of a request head; a line's length is set by its bytes, so none has a fixed width.
const HEAD_FIELDS: &[Field] = &[
    Field {
        name: "request line",
        bits: None,
        about: "method SP target SP version CRLF: POST /api/echo HTTP/1.1. At most 8 KiB, or 414",
    },
    Field {
        name: "header fields",
        bits: None,
        about: "name \":\" OWS value OWS CRLF, any number: at most 100 and 32 KiB in all, or 431. \
                Host is required in HTTP/1.1",
    },
    Field {
        name: "blank line",
        bits: None,
        about: "CRLF alone: the head ends here. The parser finds it by reading lines, each byte \
                searched once",
    },
    Field {
        name: "body",
        bits: None,
        about:
            "exactly Content-Length bytes, or chunks until a chunk of size 0; neither: no body. \
                At most 1 MiB, or 413",
    },
];

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: PIPELINING_TITLE.to_string(),
        actors: ACTORS.iter().map(|a| a.to_string()).collect(),
        steps: pipelining(),
    };
    vec![
        Diagram {
            file: "07-http-pipelining.svg",
            title: PIPELINING_TITLE,
            svg: render_sequence(&seq),
        },
        Diagram {
            file: "07-request-head.svg",
            title: HEAD_TITLE,
            svg: render_layout_with_example(HEAD_TITLE, HEAD_FIELDS, &head_example()),
        },
    ]
}

/// The sample request, its parts grouped the way `HEAD_FIELDS` names them (so that the colours
/// match), each line with its CRLF, labelled from what `annotate_head` says of them.
fn head_example() -> Example {
    let notes = annotate_head(SAMPLE);
    let starting = |prefix: &'static str| notes.iter().filter(move |n| n.label.starts_with(prefix));
    let end_of_line = |at: usize| {
        SAMPLE[at..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(SAMPLE.len(), |i| at + i + 1)
    };
    let version = starting("version").next().map_or(0, |n| n.bytes.end);
    let request_line = 0..end_of_line(version);
    let headers: Vec<_> = starting("header").collect();
    let last_header = headers.last().map_or(request_line.end, |n| n.bytes.end);
    let fields = request_line.end..end_of_line(last_header);
    let blank = starting("blank line")
        .next()
        .map_or(0..0, |n| n.bytes.clone());
    let body = blank.end..SAMPLE.len();
    // `header "Host": "127.0.0.1:7007" (...)` -> `Host`
    let names: Vec<&str> = headers
        .iter()
        .filter_map(|n| n.label.split('"').nth(1))
        .collect();
    let line_label = ["method", "target", "version"]
        .iter()
        .filter_map(|p| starting(p).next())
        .map(|n| n.label.split(" (").next().unwrap_or(&n.label))
        .collect::<Vec<_>>()
        .join(", ");
    Example {
        caption: format!(
            "A sample request ({} bytes), its parts named as --trace names them",
            SAMPLE.len()
        ),
        bytes: SAMPLE.to_vec(),
        parts: vec![
            (request_line, format!("request line: {line_label}, CRLF")),
            (
                fields,
                format!("{} header fields: {}", names.len(), names.join(", ")),
            ),
            (
                blank.clone(),
                format!("blank line: the head ends ({} bytes)", blank.end),
            ),
            (body, "body: 9 bytes, as Content-Length said".to_string()),
        ],
    }
}

/// GET, a chunked POST and HEAD in one write, then a request that asks to close.
fn pipelining() -> Vec<Step> {
    vec![
        Step::Divider("one write from the client holds three whole requests".into()),
        call(CLIENT, KERNEL, "write(): 3 requests, 153 bytes").noted(
            "GET /api/time | POST /api/echo (Transfer-Encoding: chunked, two chunks: 5 bytes, 6 bytes) | \
             HEAD / : sent without waiting for any answer",
        ),
        packet(KERNEL, SERVER, "EPOLLIN"),
        call(SERVER, KERNEL, "recvfrom() = 153").noted("one read; the parser does not care"),
        call(SERVER, SERVER, "parser.push(153 bytes)").noted(
            "then next() until Ok(None): Head(GET) End | Head(POST) Body Body End | \
             Head(HEAD) End | Ok(None): need more bytes",
        ),
        note(
            SERVER,
            "Each End is answered at once, in order: respond() builds the whole response, \
             Action::Send queues it. HTTP/1.1 has no request ids: order is the only way \
             the client matches answers to requests.",
        ),
        call(SERVER, KERNEL, "sendto(): 3 responses in one write, 451 bytes").noted(
            "200 + Content-Length: 73 (the time) | 200 + the echoed body | 200 with the \
             GET's headers, Content-Length: 1396, no body",
        ),
        call(KERNEL, CLIENT, "read(): 200, 200, 200").noted(
            "the client splits them by each answer's framing: Content-Length, and no body \
             after the answer to HEAD",
        ),
        Step::Divider("head-of-line blocking: a slow answer holds back the ones behind it".into()),
        call(CLIENT, KERNEL, "GET /report, then GET /api/time").noted("pipelined again; suppose /report takes a second to build"),
        note(
            SERVER,
            "/api/time's answer is ready at once, but it must wait behind \
             /report's: answers leave in request order. (HTTP/2 gives each request its own \
             stream; browsers never turned HTTP/1.1 pipelining on.)",
        ),
        Step::Divider("the last request asks to close".into()),
        call(CLIENT, KERNEL, "GET / HTTP/1.1 + Connection: close"),
        packet(KERNEL, SERVER, "EPOLLIN"),
        call(SERVER, KERNEL, "recvfrom(); sendto(200 ... Connection: close)")
            .noted("keeps_alive(head) is false: Action::Close, c.closing = true"),
        call(SERVER, KERNEL, "shutdown(SHUT_WR); close()").noted(
            "bytes after this request, even in the same read, are not answered",
        ),
        packet(KERNEL, CLIENT, "FIN"),
        call(KERNEL, CLIENT, "read() = 0").noted("end of stream: the client closes too"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pipelining_picture_names_the_order_and_the_close() {
        let svg = &diagrams()[0].svg;
        for part in [
            "recvfrom() = 153",
            "3 responses in one write",
            "Connection: close",
            "head-of-line blocking",
            "Ok(None)",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }

    #[test]
    fn the_head_picture_is_drawn_from_the_trace_annotations() {
        let example = head_example();
        let ends: Vec<_> = example.parts.iter().map(|(r, _)| r.clone()).collect();
        // The parts follow each other, and cover the request line to the last byte.
        assert_eq!(ends[0].start, 0);
        assert_eq!(ends[3].end, SAMPLE.len());
        assert!(example.parts[0].1.contains("method \"POST\""));
        assert_eq!(ends[1].start, ends[0].end);
        assert_eq!(ends[2].start, ends[1].end);
        assert_eq!(ends[3].start, ends[2].end);
        assert!(example.parts[2].1.starts_with("blank line"));
        let svg = &diagrams()[1].svg;
        assert!(svg.contains("request line") && svg.contains("Content-Length"));
    }
}
