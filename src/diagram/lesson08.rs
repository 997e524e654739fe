//! Lesson 08's diagram: the same feed followed four ways, each technique's requests and
//! answers over time.
//!
//! The bytes on the arrows are made by the functions the server sends with
//! (`crate::realtime`'s formats, `crate::http`'s chunk encoder), so the sizes in the picture are
//! the sizes on the wire.

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;
use crate::http::encode_chunk;
use crate::realtime::{batch_json, ndjson_line, sse_event, sse_retry, FeedEvent, SSE_KEEPALIVE};

const TITLE: &str = "Lesson 08: one feed, four ways to follow it over HTTP/1.1";
const ACTORS: [&str; 3] = [
    "browser (the page at /)",
    "server (08-http-realtime)",
    "publisher (POST /api/publish)",
];
const BROWSER: usize = 0;
const SERVER: usize = 1;
const PUBLISHER: usize = 2;

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: TITLE.to_string(),
        actors: ACTORS.iter().map(|a| a.to_string()).collect(),
        steps: four_ways(),
    };
    vec![Diagram {
        file: "08-four-techniques.svg",
        title: TITLE,
        svg: render_sequence(&seq),
    }]
}

fn event(id: u64) -> FeedEvent {
    FeedEvent {
        id,
        data: format!("NETC 101.{id}5"),
    }
}

/// `text` shown with its escapes visible: `\n` for a line feed, `\r\n` for CRLF.
fn shown(text: &[u8]) -> String {
    String::from_utf8_lossy(text)
        .replace('\r', "\\r")
        .replace('\n', "\\n")
}

/// A chunk as the server sends it, and its size on the wire.
fn chunk(piece: &str) -> (String, usize) {
    let bytes = encode_chunk(piece.as_bytes());
    (shown(&bytes), bytes.len())
}

fn four_ways() -> Vec<Step> {
    let (e1, e2, e3, e4) = (event(1), event(2), event(3), event(4));
    let empty = batch_json([].iter(), 0);
    let one = |e: &FeedEvent| batch_json(std::iter::once(e), e.id - 1);
    let (ndjson, ndjson_len) = chunk(&ndjson_line(&e3));
    let (sse, sse_len) = chunk(&sse_event(&e4));
    let (retry, _) = chunk(&sse_retry(2000));
    let (keepalive, _) = chunk(SSE_KEEPALIVE);
    vec![
        Step::Divider("polling: ask every second; most answers say nothing".into()),
        call(BROWSER, SERVER, "GET /poll?since=0")
            .noted("a whole request each time: ~500 bytes of a browser's headers"),
        call(SERVER, BROWSER, &format!("200 {}", shown(empty.as_bytes())))
            .noted("nothing new; the head alone is ~130 bytes"),
        call(PUBLISHER, SERVER, &format!("POST \"{}\": event 1", e1.data)),
        note(
            BROWSER,
            "The event waits on the server until the next poll: up to a whole interval late, \
             half of one on average.",
        ),
        call(BROWSER, SERVER, "GET /poll?since=0"),
        call(
            SERVER,
            BROWSER,
            &format!("200 {}", shown(one(&e1).as_bytes())),
        )
        .noted("the cursor (1) is the since of the next poll: nothing is lost between polls"),
        Step::Divider("long polling: the server holds the request until there is something".into()),
        call(BROWSER, SERVER, "GET /longpoll?since=1&timeout=25"),
        note(
            SERVER,
            "Held: Mode::Held, no answer yet. The connection sits in the set publish() walks.",
        ),
        call(PUBLISHER, SERVER, &format!("POST \"{}\": event 2", e2.data)),
        call(
            SERVER,
            BROWSER,
            &format!("200 {}", shown(one(&e2).as_bytes())),
        )
        .noted("at once: no delay, but one request and one response head per event"),
        call(BROWSER, SERVER, "GET /longpoll?since=2&timeout=25").noted(
            "asked again at once; after 25 s with no event the answer is 204 and it asks again",
        ),
        Step::Divider("streaming: one request, a response that never ends".into()),
        call(BROWSER, SERVER, "GET /stream (fetch, read as a stream)"),
        call(
            SERVER,
            BROWSER,
            "200, Transfer-Encoding: chunked: the head, no body yet",
        )
        .noted("no Content-Length: nobody knows how long the body will be"),
        call(PUBLISHER, SERVER, &format!("POST \"{}\": event 3", e3.data)),
        call(SERVER, BROWSER, &format!("chunk: {ndjson}")).noted(&format!(
            "{ndjson_len} bytes on the wire for this event, and no request"
        )),
        Step::Divider("Server-Sent Events: a stream the browser parses and resumes".into()),
        call(
            BROWSER,
            SERVER,
            "GET /events (new EventSource(\"/events\"))",
        ),
        call(
            SERVER,
            BROWSER,
            &format!("200 text/event-stream, then {retry}"),
        )
        .noted("retry: how long the browser waits before reconnecting"),
        call(PUBLISHER, SERVER, &format!("POST \"{}\": event 4", e4.data)),
        call(SERVER, BROWSER, &format!("chunk: {sse}")).noted(&format!(
            "{sse_len} bytes; onmessage fires at the blank line"
        )),
        call(SERVER, BROWSER, &format!("15 s quiet: {keepalive}"))
            .noted("a comment keeps proxies from cutting an idle stream"),
        note(
            BROWSER,
            "The connection drops (a proxy, a network change, a server restart). \
             EventSource reconnects by itself.",
        ),
        call(BROWSER, SERVER, "GET /events + Last-Event-ID: 4").noted(
            "the browser comes back by itself after retry ms; the server resends what came after 4",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_shows_the_formats_as_sent() {
        let svg = &diagrams()[0].svg;
        for part in [
            "GET /longpoll?since=1",
            "Last-Event-ID: 4",
            "{&quot;events&quot;:[],&quot;cursor&quot;:0}",
            "id: 4\\ndata: NETC 101.45\\n\\n",
            ": keep-alive",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }
}
