//! Lesson 16's diagram: a TCP server socket's queues, and the options and sysctls that size or
//! change each. A connection travels through them left to right: its SYN waits in the SYN
//! queue, the finished handshake in the accept queue until `accept()`, and then the connected
//! socket has a receive buffer and a send buffer; the per-connection options act on those.
//!
//! The boxes are drawn from the tables below ([`QUEUES`], [`BIND_OPTIONS`],
//! [`CONNECTION_OPTIONS`]), each row naming the experiment of `16-sockopts` that measures it, so
//! that the picture and the lesson's experiments list the same things.

use super::svg::{wrap, Anchor, Svg};
use super::Diagram;

const TITLE: &str = "Lesson 16: a server socket's queues, and the options that size them";

/// A queue the kernel keeps for a TCP server.
pub struct Queue {
    pub name: &'static str,
    /// What waits in it.
    pub holds: &'static str,
    /// The calls, options and sysctls that size it.
    pub sized_by: &'static str,
    /// The `16-sockopts` experiment that measures it.
    pub experiment: &'static str,
}

/// The listener's two queues, then the connected socket's two buffers.
pub const QUEUES: [Queue; 4] = [
    Queue {
        name: "SYN queue",
        holds: "half-open handshakes (SYN-RECV): SYN in, SYN-ACK out, ACK awaited",
        sized_by: "the listen backlog (and net.ipv4.tcp_max_syn_backlog without SYN cookies); SYN cookies when full",
        experiment: "backlog",
    },
    Queue {
        name: "accept queue",
        holds: "finished handshakes (ESTABLISHED) that accept() has not taken",
        sized_by: "listen(fd, N): N + 1 on Linux, capped at net.core.somaxconn; full: SYNs dropped",
        experiment: "backlog",
    },
    Queue {
        name: "receive buffer",
        holds: "bytes arrived, not yet read(); its free space is the window advertised",
        sized_by: "SO_RCVBUF (read back doubled; set on the listener, before the handshake) or tcp_rmem autotuning",
        experiment: "buffers",
    },
    Queue {
        name: "send buffer",
        holds: "bytes written, not yet acknowledged by the peer",
        sized_by: "SO_SNDBUF (read back doubled) or tcp_wmem autotuning; full: write() blocks or EAGAIN",
        experiment: "buffers",
    },
];

/// An option and what it changes.
pub struct Knob {
    pub option: &'static str,
    pub effect: &'static str,
    pub experiment: &'static str,
}

/// Set on the listening socket before bind(2).
pub const BIND_OPTIONS: [Knob; 3] = [
    Knob {
        option: "SO_REUSEADDR",
        effect: "bind while old connections are in TIME_WAIT",
        experiment: "reuseaddr",
    },
    Knob {
        option: "SO_REUSEPORT",
        effect: "several listeners, one port, the kernel spreads clients",
        experiment: "reuseport",
    },
    Knob {
        option: "IPV6_V6ONLY 0",
        effect: "a [::] listener takes IPv4 clients too",
        experiment: "v6only",
    },
];

/// Set on each connected socket.
pub const CONNECTION_OPTIONS: [Knob; 3] = [
    Knob {
        option: "TCP_NODELAY",
        effect: "small writes leave at once, not held back for an ACK",
        experiment: "nodelay",
    },
    Knob {
        option: "SO_KEEPALIVE + TCP_KEEPIDLE/INTVL/CNT",
        effect: "probes an idle peer; ETIMEDOUT if it is silent",
        experiment: "keepalive",
    },
    Knob {
        option: "SO_LINGER {1, 0}",
        effect: "close() sends RST: queued data lost, no TIME_WAIT",
        experiment: "linger",
    },
];

const CSS: &str = "\
.frame { fill: #f6f8fa; stroke: #57606a; stroke-width: 1; }
.socket { fill: #ffffff; stroke: #57606a; stroke-width: 1; }
.queue { fill: #ddf4ff; stroke: #0969da; stroke-width: 1.5; }
.buffer { fill: #dafbe1; stroke: #1a7f37; stroke-width: 1.5; }
.slot { fill: #ffffff; stroke: #0969da; stroke-width: 1; }
.byte { fill: #1a7f37; }
.arrow { stroke: #1f2328; stroke-width: 1.5; fill: none; }
.head { fill: #1f2328; }
.heading { font-weight: 700; }
.small { font-size: 11px; fill: #57606a; }
.option { font-size: 11px; font-weight: 700; fill: #8250df; }
";

const WIDTH: i32 = 1100;
const CLIENT: (i32, i32) = (20, 150); // x, width
const KERNEL: (i32, i32) = (200, 690);
const PROGRAM: (i32, i32) = (920, 160);

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    vec![Diagram {
        file: "16-socket-queues.svg",
        title: TITLE,
        svg: render(),
    }]
}

fn render() -> String {
    // Drawn in two layers: the frames go under the content, and their height depends on it.
    let mut s = Svg::new();
    s.text(20, 30, Anchor::Start, "title", TITLE);
    s.text(
        20,
        50,
        Anchor::Start,
        "small",
        "Each box names the `16-sockopts` experiment that measures it on this machine.",
    );

    let client_right = CLIENT.0 + CLIENT.1;
    let program_left = PROGRAM.0;

    // The listening socket: options before bind, then its two queues side by side.
    let (lx, lw) = (KERNEL.0 + 15, KERNEL.1 - 30);
    let qy = 218;
    let qw = (lw - 50) / 2;
    let mut queues = Svg::new();
    let h0 = queue_box(&mut queues, lx + 10, qy, qw, &QUEUES[0], 4, "slot");
    let h1 = queue_box(&mut queues, lx + 40 + qw, qy, qw, &QUEUES[1], 6, "slot");
    let listen_h = qy + h0.max(h1) + 12 - 105;
    s.rect(lx, 105, lw, listen_h, 4, "socket");
    s.text(
        lx + 10,
        124,
        Anchor::Start,
        "heading",
        "listening socket: socket(), bind(), listen(fd, N)",
    );
    let mut y = 144;
    s.text(lx + 10, y, Anchor::Start, "small", "set before bind():");
    for k in &BIND_OPTIONS {
        y += 16;
        knob(&mut s, lx + 10, y, column(&BIND_OPTIONS), k);
    }
    s.append(queues);
    arrow(&mut s, lx + 10 + qw, qy + 34, lx + 40 + qw, qy + 34);
    s.text(lx + 25 + qw, qy + 26, Anchor::Middle, "small", "ACK");
    arrow(&mut s, client_right, qy + 34, lx + 10, qy + 34);
    s.text(client_right + 8, qy + 26, Anchor::Start, "small", "SYN");
    arrow(&mut s, lx + 40 + 2 * qw, qy + 34, program_left, qy + 34);
    s.text(program_left - 8, qy + 26, Anchor::End, "small", "accept()");

    // The connected socket: its receive buffer over its send buffer, then its options.
    let cy = 105 + listen_h + 15;
    let bw = lw - 20;
    let mut buffers = Svg::new();
    let ry = cy + 30;
    let rh = queue_box(&mut buffers, lx + 10, ry, bw, &QUEUES[2], 12, "byte");
    let sy = ry + rh + 10;
    let sh = queue_box(&mut buffers, lx + 10, sy, bw, &QUEUES[3], 12, "byte");
    let oy = sy + sh + 20;
    let connected_h = oy + 16 * CONNECTION_OPTIONS.len() as i32 + 12 - cy;
    s.rect(lx, cy, lw, connected_h, 4, "socket");
    s.text(
        lx + 10,
        cy + 19,
        Anchor::Start,
        "heading",
        "connected socket, from accept()",
    );
    s.append(buffers);
    s.text(
        lx + 10,
        oy,
        Anchor::Start,
        "small",
        "set on each connection:",
    );
    for (i, k) in CONNECTION_OPTIONS.iter().enumerate() {
        knob(
            &mut s,
            lx + 10,
            oy + 16 * (i as i32 + 1),
            column(&CONNECTION_OPTIONS),
            k,
        );
    }
    arrow(&mut s, client_right, ry + 34, lx + 10, ry + 34);
    s.text(client_right + 8, ry + 26, Anchor::Start, "small", "data in");
    arrow(&mut s, lx + 10 + bw, ry + 34, program_left, ry + 34);
    s.text(program_left - 8, ry + 26, Anchor::End, "small", "read()");
    arrow(&mut s, program_left, sy + 34, lx + 10 + bw, sy + 34);
    s.text(program_left - 8, sy + 26, Anchor::End, "small", "write()");
    arrow(&mut s, lx + 10, sy + 34, client_right, sy + 34);
    s.text(
        client_right + 8,
        sy + 26,
        Anchor::Start,
        "small",
        "data out",
    );

    // The program's calls, in order, and the client's side.
    let mut y = 140;
    for line in [
        "socket()",
        "setsockopt(...)",
        "bind(), listen(N)",
        "",
        "accept() takes one",
        "connection off the",
        "accept queue",
        "",
        "setsockopt(...) on",
        "the new socket",
        "",
        "read() / write()",
        "",
        "close(): FIN, and",
        "TIME_WAIT on the side",
        "that closed first",
    ] {
        s.text(PROGRAM.0 + 12, y, Anchor::Start, "small", line);
        y += 15;
    }
    let mut y = 140;
    for line in [
        "connect(): SYN",
        "",
        "its connect() returns",
        "once the handshake",
        "is done, before any",
        "accept()",
    ] {
        s.text(CLIENT.0 + 10, y, Anchor::Start, "small", line);
        y += 15;
    }
    // The three parties, as tall as the kernel's content.
    let bottom = cy + connected_h + 15;
    let mut frames = Svg::new();
    for ((x, w), name) in [
        (CLIENT, "client"),
        (KERNEL, "the server's kernel"),
        (PROGRAM, "server program"),
    ] {
        frames.rect(x, 70, w, bottom - 70, 6, "frame");
        frames.text(x + w / 2, 92, Anchor::Middle, "heading", name);
    }
    frames.append(s);
    frames.finish(WIDTH, bottom + 20, TITLE, CSS)
}

/// Where the effects start in a group of options: after the widest name, which is set in
/// bold, about a quarter wider than the regular face the widths are measured in.
fn column(group: &[Knob]) -> i32 {
    let widest = group
        .iter()
        .map(|k| super::svg::sans_width(k.option, 11))
        .max()
        .unwrap_or(0);
    widest * 5 / 4 + 10
}

/// One option on one line: its name in bold, then (from `column` on) what it does and the
/// experiment that shows it.
fn knob(s: &mut Svg, x: i32, y: i32, column: i32, k: &Knob) {
    s.text(x, y, Anchor::Start, "option", k.option);
    s.text(
        x + column,
        y,
        Anchor::Start,
        "small",
        &format!("{} (`{}`)", k.effect, k.experiment),
    );
}

/// A queue drawn as a row of slots (half of them taken), its name, what it holds and what
/// sizes it. Returns the box's height.
fn queue_box(s: &mut Svg, x: i32, y: i32, w: i32, q: &Queue, slots: i32, slot: &str) -> i32 {
    let class = if slot == "byte" { "buffer" } else { "queue" };
    let chars = super::svg::sans_chars(w - 16, 11);
    let holds = wrap(q.holds, chars);
    // The "sized by" lines are bold: a tenth fewer characters fit.
    let sized = wrap(&format!("sized by: {}", q.sized_by), chars * 9 / 10);
    let height = 60 + 14 * (holds.len() + sized.len()) as i32 + 2;
    s.rect(x, y, w, height, 4, class);
    s.text(
        x + 8,
        y + 17,
        Anchor::Start,
        "heading",
        &format!("{} (`{}`)", q.name, q.experiment),
    );
    let size = 16;
    for i in 0..slots {
        let taken = i < slots / 2;
        let class = match (slot, taken) {
            ("byte", true) => "byte",
            _ => "slot",
        };
        s.rect(x + 8 + i * (size + 4), y + 26, size, size, 2, class);
    }
    let mut ly = y + 60;
    for line in holds {
        s.text(x + 8, ly, Anchor::Start, "small", &line);
        ly += 14;
    }
    ly += 2;
    for line in sized {
        s.text(x + 8, ly, Anchor::Start, "option", &line);
        ly += 14;
    }
    height
}

/// A horizontal arrow from (x1, y1) to (x2, y2), its head at x2.
fn arrow(s: &mut Svg, x1: i32, y1: i32, x2: i32, y2: i32) {
    if x2 > x1 {
        s.line(x1, y1, x2 - 8, y2, "arrow");
        s.poly(
            &[(x2, y2), (x2 - 9, y2 - 5), (x2 - 9, y2 + 5)],
            true,
            "head",
        );
    } else {
        s.line(x1, y1, x2 + 8, y2, "arrow");
        s.poly(
            &[(x2, y2), (x2 + 9, y2 - 5), (x2 + 9, y2 + 5)],
            true,
            "head",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_queue_and_option_is_drawn_with_its_experiment() {
        let svg = &diagrams()[0].svg;
        for q in &QUEUES {
            assert!(svg.contains(q.name), "{} is missing", q.name);
        }
        for k in BIND_OPTIONS.iter().chain(&CONNECTION_OPTIONS) {
            assert!(svg.contains(k.option), "{} is missing", k.option);
        }
        for experiment in [
            "reuseaddr",
            "nodelay",
            "linger",
            "buffers",
            "keepalive",
            "v6only",
            "backlog",
            "reuseport",
        ] {
            assert!(
                svg.contains(&format!(">{experiment}<")),
                "the {experiment} experiment is not named"
            );
        }
    }
}
