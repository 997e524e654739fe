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
    /// Library modules a starter includes, in dependency order.
    pub modules: &'static [Module],
    /// Other files the binary's source includes (`include_str!`), as (path next to `main.rs`,
    /// text): a starter writes them next to its `src/main.rs` so that the paths still work.
    pub assets: &'static [(&'static str, &'static str)],
}

/// A library module a starter includes: its name, and its files as (path under `src/`, text).
/// A one-file module has one (`trace.rs`); a folder module has `http/mod.rs` and the rest.
#[derive(Debug)]
pub struct Module {
    pub name: &'static str,
    pub files: &'static [(&'static str, &'static str)],
}

const TRACE: Module = Module {
    name: "trace",
    files: &[("trace.rs", include_str!("trace.rs"))],
};
const LAYOUT: Module = Module {
    name: "layout",
    files: &[("layout.rs", include_str!("layout.rs"))],
};
const FRAMING: Module = Module {
    name: "framing",
    files: &[("framing.rs", include_str!("framing.rs"))],
};
/// What lesson 16's experiments measure with: /proc/net/tcp, TCP_INFO, errno names, tables.
const SOCKOPTS: Module = Module {
    name: "sockopts",
    files: &[("sockopts.rs", include_str!("sockopts.rs"))],
};
const EVENT_LOOP: Module = Module {
    name: "event_loop",
    files: &[("event_loop.rs", include_str!("event_loop.rs"))],
};
/// A folder module: every file of `src/http/`.
const HTTP: Module = Module {
    name: "http",
    files: &[
        ("http/mod.rs", include_str!("http/mod.rs")),
        ("http/chunked.rs", include_str!("http/chunked.rs")),
        ("http/fields.rs", include_str!("http/fields.rs")),
        ("http/input.rs", include_str!("http/input.rs")),
        ("http/request.rs", include_str!("http/request.rs")),
        ("http/response.rs", include_str!("http/response.rs")),
    ],
};

/// The bar charts of `diagram`, for a lesson that draws its measurements: a starter gets the two
/// files they need under a `diagram` module of their own.
const CHART: Module = Module {
    name: "diagram",
    files: &[
        (
            "diagram/mod.rs",
            "//! The part of the course's diagram module that draws measured numbers.\n\n\
             #![allow(dead_code)]\n\npub mod chart;\npub mod svg;\n",
        ),
        ("diagram/chart.rs", include_str!("diagram/chart.rs")),
        ("diagram/svg.rs", include_str!("diagram/svg.rs")),
    ],
};
/// A folder module: the feed and its formats, and the measurement of lesson 08.
const REALTIME: Module = Module {
    name: "realtime",
    files: &[
        ("realtime/mod.rs", include_str!("realtime/mod.rs")),
        ("realtime/measure.rs", include_str!("realtime/measure.rs")),
    ],
};

/// A folder module: every file of `src/ws/` (lesson 09 cuts the accept key and the header
/// checks out of `ws/handshake/`; the echo after the 101 uses the rest).
const WS: Module = Module {
    name: "ws",
    files: &[
        ("ws/mod.rs", include_str!("ws/mod.rs")),
        ("ws/close.rs", include_str!("ws/close.rs")),
        ("ws/connection.rs", include_str!("ws/connection.rs")),
        ("ws/decoder.rs", include_str!("ws/decoder.rs")),
        ("ws/dissect.rs", include_str!("ws/dissect.rs")),
        ("ws/error.rs", include_str!("ws/error.rs")),
        ("ws/frame.rs", include_str!("ws/frame.rs")),
        ("ws/mask.rs", include_str!("ws/mask.rs")),
        ("ws/message.rs", include_str!("ws/message.rs")),
        ("ws/utf8.rs", include_str!("ws/utf8.rs")),
        ("ws/handshake/mod.rs", include_str!("ws/handshake/mod.rs")),
        (
            "ws/handshake/client.rs",
            include_str!("ws/handshake/client.rs"),
        ),
        (
            "ws/handshake/server.rs",
            include_str!("ws/handshake/server.rs"),
        ),
    ],
};

/// A folder module: every file of `src/dns/` (lesson 15 cuts name reading, the header flags,
/// truncation and the TCP deframer out of it).
const DNS: Module = Module {
    name: "dns",
    files: &[
        ("dns/mod.rs", include_str!("dns/mod.rs")),
        ("dns/dissect.rs", include_str!("dns/dissect.rs")),
        ("dns/message.rs", include_str!("dns/message.rs")),
        ("dns/name.rs", include_str!("dns/name.rs")),
        ("dns/resolver.rs", include_str!("dns/resolver.rs")),
        ("dns/server.rs", include_str!("dns/server.rs")),
        ("dns/tcp.rs", include_str!("dns/tcp.rs")),
        ("dns/zone.rs", include_str!("dns/zone.rs")),
    ],
};

const fn planned(number: u32, name: &'static str, title: &'static str) -> Lesson {
    Lesson {
        number,
        name,
        title,
        source: None,
        modules: &[],
        assets: &[],
    }
}

pub const LESSONS: &[Lesson] = &[
    Lesson {
        number: 1,
        name: "01-tcp-echo",
        title: "TCP echo: the socket API, a byte stream, half-close",
        source: Some(include_str!("../lessons/01-tcp-echo/main.rs")),
        modules: &[TRACE],
        assets: &[],
    },
    Lesson {
        number: 2,
        name: "02-udp-echo",
        title: "UDP echo: datagrams, loss and reordering",
        source: Some(include_str!("../lessons/02-udp-echo/main.rs")),
        modules: &[TRACE],
        assets: &[],
    },
    Lesson {
        number: 3,
        name: "03-framing",
        title: "Framing: delimiters and length prefixes over a byte stream",
        source: Some(include_str!("../lessons/03-framing/main.rs")),
        modules: &[TRACE, LAYOUT, FRAMING],
        assets: &[],
    },
    Lesson {
        number: 4,
        name: "04-threaded-chat",
        title: "A chat server with one thread per connection",
        source: Some(include_str!("../lessons/04-threaded-chat/main.rs")),
        modules: &[TRACE, LAYOUT, FRAMING],
        assets: &[],
    },
    Lesson {
        number: 5,
        name: "05-mio-echo",
        title: "An event loop with mio: non-blocking sockets, 10,000 connections",
        source: Some(include_str!("../lessons/05-mio-echo/main.rs")),
        modules: &[TRACE, EVENT_LOOP],
        assets: &[],
    },
    Lesson {
        number: 6,
        name: "06-mio-chat",
        title: "Chat on the event loop: rooms, slow consumers, timers",
        source: Some(include_str!("../lessons/06-mio-chat/main.rs")),
        modules: &[TRACE, LAYOUT, FRAMING, EVENT_LOOP],
        assets: &[],
    },
    Lesson {
        number: 7,
        name: "07-http-server",
        title: "HTTP/1.1 on the event loop",
        source: Some(include_str!("../lessons/07-http-server/main.rs")),
        modules: &[TRACE, EVENT_LOOP, HTTP],
        assets: &[
            (
                "static/index.html",
                include_str!("../lessons/07-http-server/static/index.html"),
            ),
            (
                "static/style.css",
                include_str!("../lessons/07-http-server/static/style.css"),
            ),
        ],
    },
    Lesson {
        number: 8,
        name: "08-http-realtime",
        title: "Polling, long polling, streaming and Server-Sent Events",
        source: Some(include_str!("../lessons/08-http-realtime/main.rs")),
        // WebSocket is the fifth technique (`/ws`), measured beside the four.
        modules: &[TRACE, LAYOUT, EVENT_LOOP, HTTP, WS, CHART, REALTIME],
        assets: &[(
            "page.html",
            include_str!("../lessons/08-http-realtime/page.html"),
        )],
    },
    Lesson {
        number: 9,
        name: "09-ws-handshake",
        title: "The WebSocket opening handshake",
        source: Some(include_str!("../lessons/09-ws-handshake/main.rs")),
        modules: &[TRACE, LAYOUT, EVENT_LOOP, HTTP, WS],
        assets: &[],
    },
    Lesson {
        number: 10,
        name: "10-ws-frames",
        title: "WebSocket frames: a dissector, an encoder and a traced echo",
        source: Some(include_str!("../lessons/10-ws-frames/main.rs")),
        modules: &[TRACE, LAYOUT, EVENT_LOOP, HTTP, WS],
        assets: &[("pcap.rs", include_str!("../lessons/10-ws-frames/pcap.rs"))],
    },
    Lesson {
        number: 11,
        name: "11-ws-server",
        title: "A WebSocket server on the event loop",
        source: Some(include_str!("../lessons/11-ws-server/main.rs")),
        modules: &[TRACE, LAYOUT, EVENT_LOOP, HTTP, WS],
        assets: &[(
            "page.html",
            include_str!("../lessons/11-ws-server/page.html"),
        )],
    },
    Lesson {
        number: 12,
        name: "12-ws-client",
        title: "A WebSocket client: masking, the accept key, closing second",
        source: Some(include_str!("../lessons/12-ws-client/main.rs")),
        modules: &[TRACE, LAYOUT, HTTP, WS],
        assets: &[],
    },
    planned(13, "13-stomp", "STOMP over WebSocket and TCP"),
    planned(14, "14-socketio", "A Socket.IO-compatible server"),
    Lesson {
        number: 15,
        name: "15-dns",
        title: "DNS: a stub resolver and an authoritative server",
        source: Some(include_str!("../lessons/15-dns/main.rs")),
        modules: &[TRACE, LAYOUT, EVENT_LOOP, DNS],
        assets: &[("course.zone", include_str!("../lessons/15-dns/course.zone"))],
    },
    Lesson {
        number: 16,
        name: "16-sockopts",
        title: "The socket options lab",
        source: Some(include_str!("../lessons/16-sockopts/main.rs")),
        modules: &[TRACE, SOCKOPTS],
        assets: &[],
    },
];

/// The lesson numbered `n`.
pub fn lesson(n: u32) -> Option<&'static Lesson> {
    LESSONS.iter().find(|l| l.number == n)
}
