//! Fuzz target: the HTTP/1.1 request parser (`netcourse::http`, lesson 07) on any bytes.
//!
//! Two promises are checked on every input libFuzzer makes up:
//!
//! 1. The parser never panics: no index out of bounds, no overflow, no `unwrap` on bytes a
//!    client chose. A panic in a server's parser is a way to kill the server.
//! 2. The answer does not depend on how the bytes arrived. The input is parsed whole with
//!    `parse_all`, and again pushed in two pieces cut at a point taken from the input itself
//!    (so libFuzzer explores cut points as it explores bytes); both must give the same events
//!    (body pieces joined: how a body is split follows the reads) and the same error. A parser
//!    that decides differently on a split is one a slow client, or an attacker, can steer.
//!
//! Run it with `scripts/fuzz.sh` (all targets) or `cargo fuzz run http_request` in `fuzz/`
//! (with RUSTC_BOOTSTRAP=1 on a stable toolchain).

#![no_main]

use libfuzzer_sys::fuzz_target;
use netcourse::http::{parse_all, Event, HttpError, RequestParser};

fuzz_target!(|data: &[u8]| {
    let whole = parse_all(data);
    let whole = (joined(whole.events), whole.error);
    let cut = cut_point(data);
    let split = parse_in_two(data, cut);
    assert_eq!(whole, split, "parsed whole vs cut at byte {cut}");
});

/// A cut point from 0 to `data.len()`, chosen by the input's first and last bytes.
fn cut_point(data: &[u8]) -> usize {
    match (data.first(), data.last()) {
        (Some(&a), Some(&b)) => usize::from(u16::from_le_bytes([a, b])) % (data.len() + 1),
        _ => 0,
    }
}

/// Push `data[..cut]`, take every event, push the rest, take every event: as a server does
/// with two reads.
fn parse_in_two(data: &[u8], cut: usize) -> (Vec<Event>, Option<HttpError>) {
    let mut parser = RequestParser::default();
    let mut events = Vec::new();
    for piece in [&data[..cut], &data[cut..]] {
        parser.push(piece);
        loop {
            match parser.next() {
                Ok(Some(event)) => events.push(event),
                Ok(None) => break,
                Err(e) => return (joined(events), Some(e)),
            }
        }
    }
    (joined(events), None)
}

/// The events with consecutive body pieces joined into one.
fn joined(events: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(events.len());
    for event in events {
        match (out.last_mut(), event) {
            (Some(Event::Body(body)), Event::Body(more)) => body.extend_from_slice(&more),
            (_, event) => out.push(event),
        }
    }
    out
}
