//! The lingering close, end to end: lesson 07 refuses a body that is too large while the client
//! is still sending it, and the client must still get the whole 413 and a clean end of stream.
//!
//! Without the lingering close in `src/event_loop.rs` the server closes its socket with the
//! rest of the body unread, its kernel answers with a reset (RFC 1122 4.2.2.13), and the
//! client's next write fails with EPIPE or ECONNRESET: a client that sends its whole request
//! before it reads, as most do, never sees the 413. With it, the server sends its FIN after the
//! 413, reads and discards the rest of the body, and closes only after the client's FIN (RFC
//! 9112 9.6: "servers typically close a connection in stages").

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

const BODY: usize = 2 << 20;

#[test]
fn a_client_still_sending_a_refused_body_reads_the_whole_413_and_a_clean_end() {
    let (_server, listeners) =
        start_peer(Command::new(env!("CARGO_BIN_EXE_07-http-server")).args([
            "--addr",
            "127.0.0.1:0",
            "--max-body",
            "1024",
        ]));
    let mut s = TcpStream::connect(listeners[0].addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();

    // The head says 2 MiB, more than --max-body: the server answers 413 from the head alone,
    // and closes, while the body is still on its way. No Expect: 100-continue, so the client
    // sends the body at once, in 64 KiB pieces 5 ms apart: most of it arrives after the 413.
    let head = format!("POST /api/echo HTTP/1.1\r\nHost: a\r\nContent-Length: {BODY}\r\n\r\n");
    s.write_all(head.as_bytes()).unwrap();
    let chunk = [b'x'; 64 * 1024];
    let start = Instant::now();
    let mut sent = 0;
    while sent < BODY {
        if let Err(e) = s.write_all(&chunk) {
            panic!(
                "write failed after {sent} of {BODY} body bytes ({:?} in): {e}. The server \
                 closed with our bytes unread and its kernel reset the connection: no lingering \
                 close",
                start.elapsed()
            );
        }
        sent += chunk.len();
        std::thread::sleep(Duration::from_millis(5));
    }
    s.shutdown(Shutdown::Write).unwrap(); // our end of stream ends the server's lingering

    // Only now does this client read, and it must find the whole answer, then end of stream.
    let mut answer = Vec::new();
    if let Err(e) = s.read_to_end(&mut answer) {
        panic!(
            "read failed after {} bytes: {e} (a reset instead of an end of stream): {:?}",
            answer.len(),
            String::from_utf8_lossy(&answer)
        );
    }
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").expect("a whole response head");
    assert!(head.starts_with("HTTP/1.1 413 "), "{text}");
    assert!(head.contains("\r\nConnection: close"), "{text}");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .expect("a Content-Length")
        .parse()
        .unwrap();
    assert_eq!(
        body.len(),
        length,
        "the whole body, nothing after it: {text}"
    );
    assert!(body.contains("RFC 9110 15.5.14"), "{body}");
}
