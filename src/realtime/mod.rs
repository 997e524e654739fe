//! One live feed, and the four ways lesson 08 hands it out over HTTP/1.1: polling, long polling,
//! streaming and Server-Sent Events (`lessons/08-http-realtime/PROTOCOL.md` is the contract).
//!
//! HTTP is request and response: the server speaks only when asked. Every technique here is a way
//! around that, and they differ in what the client asks and how long the server waits to answer:
//!
//! | technique | the client asks | the server answers |
//! |---|---|---|
//! | polling | `GET /poll?since=N` every few seconds | at once, with what is new (often nothing) |
//! | long polling | `GET /longpoll?since=N`, again after each answer | when something is new, or `204` after a timeout |
//! | streaming | `GET /stream` once | never finishes: one chunk per event, for as long as the connection lives |
//! | Server-Sent Events | `GET /events` once (the browser's `EventSource`) | the same, in the `text/event-stream` format, which browsers parse and resume |
//!
//! This module is the part they share, sans-IO: the [`Feed`] (numbered events, the latest few
//! kept, and the cursor question "what came after N?"), and the encoders that write an event in
//! each format. The lesson's binary holds the connections; [`measure`] is the client side that
//! counts what each technique costs.

pub mod measure;

use std::collections::{vec_deque, VecDeque};
use std::iter::Skip;

/// The longest data an event may carry, in bytes (a `POST /api/publish` body above it is a 413).
pub const MAX_DATA: usize = 4096;

/// One event of the feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEvent {
    /// 1 for the first event, one more for each next one: the cursor clients send back.
    pub id: u64,
    /// One line of UTF-8 (no CR or LF: see [`check_data`]).
    pub data: String,
}

/// The feed: numbered events, the latest `capacity` of them kept.
///
/// Clients do not hold the events themselves; they hold a **cursor**, the id of the last event
/// they saw, and ask for what came after it. That is what makes every technique lossless across
/// reconnections: a long-polling client's next request, a browser's `EventSource` coming back
/// with `Last-Event-ID`, all say "after N". Events older than the history are gone for everyone.
#[derive(Debug)]
pub struct Feed {
    events: VecDeque<FeedEvent>,
    capacity: usize,
    latest: u64,
}

impl Feed {
    pub fn new(capacity: usize) -> Self {
        Feed {
            events: VecDeque::new(),
            capacity: capacity.max(1),
            latest: 0,
        }
    }

    /// Add an event; returns its id.
    pub fn push(&mut self, data: String) -> u64 {
        self.latest += 1;
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(FeedEvent {
            id: self.latest,
            data,
        });
        self.latest
    }

    /// The id of the newest event (0 before the first).
    pub fn latest(&self) -> u64 {
        self.latest
    }

    /// The cursor a request's `since` means: none is "from now on" (the latest id), and one from
    /// the future (a client of an earlier run of the server) is brought back to the latest.
    pub fn cursor(&self, since: Option<u64>) -> u64 {
        since.map_or(self.latest, |n| n.min(self.latest))
    }

    /// The kept events after `cursor`, oldest first.
    pub fn since(&self, cursor: u64) -> Skip<vec_deque::Iter<'_, FeedEvent>> {
        // exercise(08): begin "The events after a cursor"
        // hint: Ids have no gaps, so the kept events are ids first..=self.latest where first = self.latest - self.events.len() + 1, and the event with id i sits at index i - first.
        // hint: The events after `cursor` start at id cursor + 1: skip (cursor + 1 - first) of them, or none when the cursor is older than the history (saturating_sub does both).
        let first = self.latest + 1 - self.events.len() as u64;
        let skip = (cursor + 1).saturating_sub(first) as usize;
        self.events.iter().skip(skip)
        // exercise: end
    }

    /// Whether there is anything after `cursor`.
    pub fn has_after(&self, cursor: u64) -> bool {
        self.latest > cursor && !self.events.is_empty()
    }
}

/// Why a `POST /api/publish` body cannot become an event: the status and a reason.
pub fn check_data(body: &[u8]) -> Result<String, (u16, &'static str)> {
    if body.len() > MAX_DATA {
        return Err((413, "event data is at most 4096 bytes"));
    }
    let text = std::str::from_utf8(body).map_err(|_| (400, "event data must be UTF-8"))?;
    // SSE would cut the event at a line break: `data: a\nb` is a field `data: a` and a line
    // `b`. The feed keeps to one line, so every format can carry it as it is.
    if text.contains(['\r', '\n']) {
        return Err((400, "event data is one line: no CR or LF"));
    }
    Ok(text.to_string())
}

/// The value of `name` in a query string (`since=3&timeout=1`), if present. Our values are
/// numbers, so no percent-decoding is needed.
pub fn query_value<'a>(query: Option<&'a str>, name: &str) -> Option<&'a str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A cursor or a timeout: decimal digits only (`+1`, `-1`, ` 1` and `0x1` are refused).
pub fn parse_number(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

// ---- The formats ------------------------------------------------------------------------------

/// `text` as a JSON string (RFC 8259 7): quotes and backslashes escaped, control characters as
/// `\u00XX`, everything else as it is (JSON text is UTF-8).
pub fn json_string(text: &str, out: &mut String) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// An event as JSON: `{"id":7,"data":"..."}`.
pub fn event_json(event: &FeedEvent, out: &mut String) {
    out.push_str(&format!("{{\"id\":{},\"data\":", event.id));
    json_string(&event.data, out);
    out.push('}');
}

/// The answer of `/poll` and `/longpoll`: `{"events":[...],"cursor":C}`, C being the id of the
/// last event listed (or `cursor` itself when none is): the `since` of the next request.
pub fn batch_json<'a>(events: impl Iterator<Item = &'a FeedEvent>, cursor: u64) -> String {
    let mut out = String::from("{\"events\":[");
    let mut last = cursor;
    for (i, event) in events.enumerate() {
        if i > 0 {
            out.push(',');
        }
        event_json(event, &mut out);
        last = event.id;
    }
    out.push_str(&format!("],\"cursor\":{last}}}\n"));
    out
}

/// A line of `/stream` (newline-delimited JSON, one event per line).
pub fn ndjson_line(event: &FeedEvent) -> String {
    let mut out = String::new();
    event_json(event, &mut out);
    out.push('\n');
    out
}

/// An event in the `text/event-stream` format (WHATWG HTML 9.2.6): fields `id` and `data`, one
/// per line, and a blank line that dispatches it.
pub fn sse_event(event: &FeedEvent) -> String {
    // exercise(08): begin "An event in the text/event-stream format"
    // hint: Two fields, one per line, "name: value\n": the id first (the browser remembers it and sends it back as Last-Event-ID when it reconnects), then the data.
    // hint: End with an empty line: "If the line is empty (a blank line) Dispatch the event". An event without it is never delivered; the browser waits for more.
    format!("id: {}\ndata: {}\n\n", event.id, event.data)
    // exercise: end
}

/// The first bytes of an SSE stream: how long the browser waits before reconnecting.
pub fn sse_retry(ms: u64) -> String {
    format!("retry: {ms}\n\n")
}

/// A comment, sent when a stream has been quiet a while: "Legacy proxy servers are known to,
/// in certain cases, drop HTTP connections after a short timeout. To protect against such proxy
/// servers, authors can include a comment line (one starting with a ':' character) every 15
/// seconds or so" (WHATWG HTML 9.2.7).
pub const SSE_KEEPALIVE: &str = ": keep-alive\n\n";

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_of(n: u64, capacity: usize) -> Feed {
        let mut feed = Feed::new(capacity);
        for i in 1..=n {
            assert_eq!(feed.push(format!("e{i}")), i);
        }
        feed
    }

    fn ids(feed: &Feed, cursor: u64) -> Vec<u64> {
        feed.since(cursor).map(|e| e.id).collect()
    }

    #[test]
    fn since_gives_the_events_after_the_cursor_within_the_history() {
        let feed = feed_of(10, 4); // keeps 7..=10
        assert_eq!(ids(&feed, 0), [7, 8, 9, 10]); // older than the history: what is kept
        assert_eq!(ids(&feed, 6), [7, 8, 9, 10]);
        assert_eq!(ids(&feed, 8), [9, 10]);
        assert_eq!(ids(&feed, 10), Vec::<u64>::new());
        assert!(feed.has_after(9) && !feed.has_after(10));
        assert_eq!(ids(&Feed::new(3), 0), Vec::<u64>::new());
        assert!(!Feed::new(3).has_after(0));
    }

    #[test]
    fn a_missing_or_future_cursor_means_from_now_on() {
        let feed = feed_of(5, 10);
        assert_eq!(feed.cursor(None), 5);
        assert_eq!(feed.cursor(Some(99)), 5);
        assert_eq!(feed.cursor(Some(2)), 2);
    }

    #[test]
    fn data_is_one_line_of_utf8_and_bounded() {
        assert_eq!(check_data(b"hello").unwrap(), "hello");
        assert_eq!(check_data(b"a\nb").unwrap_err().0, 400);
        assert_eq!(check_data(b"a\rb").unwrap_err().0, 400);
        assert_eq!(check_data(b"\xff").unwrap_err().0, 400);
        assert_eq!(check_data(&[b'x'; MAX_DATA + 1]).unwrap_err().0, 413);
        assert!(check_data(&[b'x'; MAX_DATA]).is_ok());
    }

    #[test]
    fn queries_and_numbers() {
        let q = Some("since=12&timeout=3&flag");
        assert_eq!(query_value(q, "since"), Some("12"));
        assert_eq!(query_value(q, "timeout"), Some("3"));
        assert_eq!(query_value(q, "flag"), Some(""));
        assert_eq!(query_value(q, "other"), None);
        assert_eq!(query_value(None, "since"), None);
        assert_eq!(parse_number("0"), Some(0));
        for bad in ["", "-1", "+1", " 1", "0x1", "1.0", "99999999999999999999"] {
            assert_eq!(parse_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_formats() {
        let e = FeedEvent {
            id: 7,
            data: "say \"hi\" \\ \u{1} é".into(),
        };
        assert_eq!(
            ndjson_line(&e),
            "{\"id\":7,\"data\":\"say \\\"hi\\\" \\\\ \\u0001 é\"}\n"
        );
        assert_eq!(
            sse_event(&FeedEvent {
                id: 3,
                data: "x y".into()
            }),
            "id: 3\ndata: x y\n\n"
        );
        let feed = feed_of(3, 10);
        assert_eq!(
            batch_json(feed.since(1), 1),
            "{\"events\":[{\"id\":2,\"data\":\"e2\"},{\"id\":3,\"data\":\"e3\"}],\"cursor\":3}\n"
        );
        assert_eq!(
            batch_json(feed.since(3), 3),
            "{\"events\":[],\"cursor\":3}\n"
        );
    }
}
