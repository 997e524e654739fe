//! The list of lessons: numbers, binary names and titles are fixed by the curriculum, and
//! tests, graders and documents refer to them. A lesson whose reference exists carries its
//! source (for starters and hints) and the library modules its starter includes.

/// One lesson of the course.
#[derive(Debug)]
pub struct Lesson {
    pub number: u32,
    /// The binary's name and the lesson folder's: `01-tcp-echo`.
    pub name: &'static str,
    pub title: &'static str,
    /// The reference binary's source, once the lesson is written.
    pub source: Option<&'static str>,
    /// Library modules a starter includes (name, source), in dependency order.
    pub modules: &'static [(&'static str, &'static str)],
}

const TRACE: (&str, &str) = ("trace", include_str!("trace.rs"));
const LAYOUT: (&str, &str) = ("layout", include_str!("layout.rs"));
const FRAMING: (&str, &str) = ("framing", include_str!("framing.rs"));
const EVENT_LOOP: (&str, &str) = ("event_loop", include_str!("event_loop.rs"));

const fn planned(number: u32, name: &'static str, title: &'static str) -> Lesson {
    Lesson {
        number,
        name,
        title,
        source: None,
        modules: &[],
    }
}

pub const LESSONS: &[Lesson] = &[
    Lesson {
        number: 1,
        name: "01-tcp-echo",
        title: "TCP echo: the socket API, a byte stream, half-close",
        source: Some(include_str!("../lessons/01-tcp-echo/main.rs")),
        modules: &[TRACE],
    },
    Lesson {
        number: 2,
        name: "02-udp-echo",
        title: "UDP echo: datagrams, loss and reordering",
        source: Some(include_str!("../lessons/02-udp-echo/main.rs")),
        modules: &[TRACE],
    },
    Lesson {
        number: 3,
        name: "03-framing",
        title: "Framing: delimiters and length prefixes over a byte stream",
        source: Some(include_str!("../lessons/03-framing/main.rs")),
        modules: &[TRACE, LAYOUT, FRAMING],
    },
    Lesson {
        number: 4,
        name: "04-threaded-chat",
        title: "A chat server with one thread per connection",
        source: Some(include_str!("../lessons/04-threaded-chat/main.rs")),
        modules: &[TRACE, LAYOUT, FRAMING],
    },
    Lesson {
        number: 5,
        name: "05-mio-echo",
        title: "An event loop with mio: non-blocking sockets, 10,000 connections",
        source: Some(include_str!("../lessons/05-mio-echo/main.rs")),
        modules: &[TRACE, EVENT_LOOP],
    },
    Lesson {
        number: 6,
        name: "06-mio-chat",
        title: "Chat on the event loop: rooms, slow consumers, timers",
        source: Some(include_str!("../lessons/06-mio-chat/main.rs")),
        modules: &[TRACE, LAYOUT, FRAMING, EVENT_LOOP],
    },
    planned(7, "07-http-server", "HTTP/1.1 on the event loop"),
    planned(
        8,
        "08-http-realtime",
        "Polling, long polling, streaming and Server-Sent Events",
    ),
    planned(9, "09-ws-handshake", "The WebSocket opening handshake"),
    planned(10, "10-ws-frames", "WebSocket frames"),
    planned(11, "11-ws-server", "A WebSocket server on the event loop"),
    planned(12, "12-ws-client", "A WebSocket client"),
    planned(13, "13-stomp", "STOMP over WebSocket and TCP"),
    planned(14, "14-socketio", "A Socket.IO-compatible server"),
    planned(
        15,
        "15-dns",
        "DNS: a stub resolver and an authoritative server",
    ),
    planned(16, "16-sockopts", "The socket options lab"),
];

/// The lesson numbered `n`.
pub fn lesson(n: u32) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.number == n)
}
