//! The course's diagrams: what each lesson's pictures show, as data.
//!
//! A sequence diagram here is a script of what really happens, system call by system call and
//! packet by packet, checked against the TCP state machine of RFC 9293 (section 3.3.2). A byte
//! layout is drawn from the field table that sits next to the encoder.

use super::byte_layout::{render_layout_with_example, Example};
use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;
use crate::framing::{self, Framing, LENGTH_PREFIX_LAYOUT};
use crate::trace::quote;

pub(super) fn all() -> Vec<Diagram> {
    let mut all = vec![
        sequence(
            "01-tcp-echo-sequence.svg",
            TCP_ECHO_TITLE,
            &TCP_ECHO_ACTORS,
            tcp_echo(),
        ),
        sequence(
            "02-udp-echo-sequence.svg",
            UDP_ECHO_TITLE,
            &UDP_ECHO_ACTORS,
            udp_echo(),
        ),
        Diagram {
            file: "03-length-prefix.svg",
            title: LENGTH_PREFIX_TITLE,
            svg: length_prefix(),
        },
    ];
    all.extend(super::lesson04::diagrams());
    all
}

fn sequence(file: &'static str, title: &'static str, actors: &[&str], steps: Vec<Step>) -> Diagram {
    let seq = Sequence {
        title: title.to_string(),
        actors: actors.iter().map(|a| a.to_string()).collect(),
        steps,
    };
    Diagram {
        file,
        title,
        svg: render_sequence(&seq),
    }
}

// ---- Lesson 01 ---------------------------------------------------------------------------

const TCP_ECHO_TITLE: &str = "Lesson 01: a TCP echo, from handshake to half-close";
const TCP_ECHO_ACTORS: [&str; 4] = [
    "client (01-tcp-echo client)",
    "client kernel",
    "server kernel",
    "server (01-tcp-echo server)",
];

/// One echo over TCP: the handshake, a byte stream that keeps no write boundaries, and the
/// close, one direction at a time.
fn tcp_echo() -> Vec<Step> {
    const CLIENT: usize = 0;
    const CLIENT_KERNEL: usize = 1;
    const SERVER_KERNEL: usize = 2;
    const SERVER: usize = 3;
    vec![
        call(SERVER, SERVER_KERNEL, "socket()\nsetsockopt(SO_REUSEADDR)\nbind(127.0.0.1:7001)\nlisten()"),
        state(SERVER_KERNEL, "LISTEN"),
        call(SERVER, SERVER_KERNEL, "accept()").noted("waits for a finished handshake"),
        call(CLIENT, CLIENT_KERNEL, "connect(127.0.0.1:7001)")
            .noted("the kernel picks a free local port"),
        state(CLIENT_KERNEL, "SYN_SENT"),
        packet(CLIENT_KERNEL, SERVER_KERNEL, "SYN seq=x"),
        state(SERVER_KERNEL, "SYN_RECEIVED"),
        packet(SERVER_KERNEL, CLIENT_KERNEL, "SYN-ACK seq=y ack=x+1"),
        state(CLIENT_KERNEL, "ESTABLISHED"),
        packet(CLIENT_KERNEL, SERVER_KERNEL, "ACK ack=y+1"),
        call(CLIENT_KERNEL, CLIENT, "connect() returns 0"),
        state(SERVER_KERNEL, "ESTABLISHED"),
        call(SERVER_KERNEL, SERVER, "accept() returns a new socket")
            .noted("the listening socket stays in LISTEN, for the next client"),
        Step::Divider("a byte stream: no message boundaries".into()),
        call(CLIENT, CLIENT_KERNEL, r#"write("hello ")"#),
        call(CLIENT, CLIENT_KERNEL, r#"write("world\n")"#),
        call(CLIENT_KERNEL, SERVER_KERNEL, r#""hello " (6 bytes)"#),
        call(CLIENT_KERNEL, SERVER_KERNEL, r#""world\n" (6 bytes)"#)
            .noted("the kernel may also send one 12-byte segment (ACKs of data not drawn)"),
        call(SERVER_KERNEL, SERVER, "read() returns 12 bytes\n\"hello world\\n\"")
            .noted("two writes, one read: read() returns all that has arrived"),
        call(SERVER, SERVER_KERNEL, r#"write("hello world\n")"#),
        call(SERVER_KERNEL, CLIENT_KERNEL, r#""hello world\n" (12 bytes)"#),
        call(CLIENT_KERNEL, CLIENT, "read() returns 12 bytes"),
        Step::Divider("closing: each direction on its own".into()),
        call(CLIENT, CLIENT_KERNEL, "shutdown(SHUT_WR)").noted("done sending, still reading"),
        state(CLIENT_KERNEL, "FIN_WAIT_1"),
        packet(CLIENT_KERNEL, SERVER_KERNEL, "FIN"),
        state(SERVER_KERNEL, "CLOSE_WAIT"),
        packet(SERVER_KERNEL, CLIENT_KERNEL, "ACK"),
        state(CLIENT_KERNEL, "FIN_WAIT_2"),
        call(SERVER_KERNEL, SERVER, "read() returns 0 = EOF")
            .noted("the peer will send no more, but it can still receive: the server may write() what is left"),
        call(SERVER, SERVER_KERNEL, "close()"),
        state(SERVER_KERNEL, "LAST_ACK"),
        packet(SERVER_KERNEL, CLIENT_KERNEL, "FIN"),
        state(CLIENT_KERNEL, "TIME_WAIT"),
        packet(CLIENT_KERNEL, SERVER_KERNEL, "ACK"),
        state(SERVER_KERNEL, "CLOSED"),
        call(CLIENT_KERNEL, CLIENT, "read() returns 0 = EOF"),
        call(CLIENT, CLIENT_KERNEL, "close()"),
        note(
            CLIENT_KERNEL,
            "TIME_WAIT: whoever closes first waits 2*MSL (60 s on Linux), so that late packets \
             of this connection die out. Had the server closed first, its port would still be \
             held when it restarts, and bind() would fail with EADDRINUSE: that is why servers \
             set SO_REUSEADDR.",
        ),
    ]
}

// ---- Lesson 02 ---------------------------------------------------------------------------

const UDP_ECHO_TITLE: &str = "Lesson 02: datagrams are kept whole, and may be lost or reordered";
const UDP_ECHO_ACTORS: [&str; 2] = ["client", "server (--drop 0.3 --reorder)"];

/// Datagrams over UDP: no connection, no retransmission, no ordering, but boundaries kept.
fn udp_echo() -> Vec<Step> {
    const CLIENT: usize = 0;
    const SERVER: usize = 1;
    vec![
        note(
            SERVER,
            "socket(UDP) and bind(127.0.0.1:7002): no listen(), no accept(), no connection",
        ),
        call(CLIENT, SERVER, r##"sendto "#1""##)
            .noted("recvfrom() returns \"#1\" and the client's address"),
        call(SERVER, CLIENT, r##"echo "#1""##).noted("sendto() back to that address"),
        call(CLIENT, SERVER, r##"sendto "#2""##),
        lost(SERVER, CLIENT, r##"echo "#2""##)
            .noted("lost on the way (here: --drop skips the reply); nobody gets an error"),
        note(CLIENT, "no reply in 500 ms: send #2 again"),
        call(CLIENT, SERVER, r##"sendto "#2" (retry)"##),
        call(SERVER, CLIENT, r##"echo "#2""##),
        call(CLIENT, SERVER, r##"sendto "#3""##),
        call(CLIENT, SERVER, r##"sendto "#4""##),
        call(SERVER, CLIENT, r##"echo "#4""##).noted("--reorder: replies swapped"),
        call(SERVER, CLIENT, r##"echo "#3""##)
            .noted("the client matches replies by number, not by order"),
        Step::Divider("boundaries kept: one sendto = one recvfrom".into()),
        call(CLIENT, SERVER, "sendto 9000 bytes")
            .noted("one recvfrom() returns all 9000 bytes, never a part"),
        call(SERVER, CLIENT, "echo: the same 9000 bytes, whole")
            .noted("recvfrom with a 1024-byte buffer would cut it to 1024 bytes: MSG_TRUNC"),
    ]
}

// ---- Lesson 03 ---------------------------------------------------------------------------

const LENGTH_PREFIX_TITLE: &str = "Lesson 03: a length-prefixed frame";

/// The layout table from `framing`, and one frame made by the real encoder, its parts named
/// by the same annotations `--trace` prints.
fn length_prefix() -> String {
    let payload = b"REV a";
    let wire = framing::encode(Framing::LengthPrefixed, payload);
    let parts = framing::annotate(Framing::LengthPrefixed, &wire)
        .into_iter()
        .map(|a| (a.bytes, a.label))
        .collect();
    let example = Example {
        caption: format!(
            "Example: the message {} on the wire, as --trace names it",
            quote(payload, 40)
        ),
        bytes: wire,
        parts,
    };
    render_layout_with_example(LENGTH_PREFIX_TITLE, LENGTH_PREFIX_LAYOUT, &example)
}
