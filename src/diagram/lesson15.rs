//! Lesson 15's diagrams: the DNS header's layout with a real reply under it (a compression
//! pointer back to the question's name at offset 12), and a lookup that falls back from UDP to
//! TCP because the answer did not fit in 512 bytes.
//!
//! Both are drawn from the code: the layout is [`HEADER_LAYOUT`], the table next to the
//! encoder; the example is what the answerer replies to a query for `alias.course.test`, named
//! part by part by the `--trace` dissector; the sequence's sizes are those of the real query
//! and replies for `big.course.test` from the example zone.

use super::byte_layout::{render_layout_with_example, Example};
use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;
use crate::dns::dissect::annotate;
use crate::dns::message::{query, Message, HEADER_LAYOUT};
use crate::dns::name::Name;
use crate::dns::rtype;
use crate::dns::server::{Server, Transport, DEFAULT_UDP_SIZE};
use crate::dns::zone::Zone;

const LAYOUT_TITLE: &str =
    "Lesson 15: the DNS header (RFC 1035 4.1.1), and a whole reply whose names point back at offset 12";
const FALLBACK_TITLE: &str =
    "Lesson 15: 40 A records do not fit in 512 bytes: TC over UDP, then the same question over TCP";

const RESOLVER: usize = 0;
const SERVER: usize = 1;

fn server() -> Server {
    let zone = include_str!("../../lessons/15-dns/course.zone");
    let zone = Zone::parse(zone, "course.zone").expect("the example zone parses");
    Server::new(zone, DEFAULT_UDP_SIZE)
}

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: FALLBACK_TITLE.to_string(),
        actors: vec![
            "resolver (15-dns resolve --no-edns)".into(),
            "server (15-dns, udp+tcp :7015)".into(),
        ],
        steps: fallback(),
    };
    vec![
        Diagram {
            file: "15-dns-header.svg",
            title: LAYOUT_TITLE,
            svg: layout(),
        },
        Diagram {
            file: "15-tc-tcp-fallback.svg",
            title: FALLBACK_TITLE,
            svg: render_sequence(&seq),
        },
    ]
}

fn layout() -> String {
    let name = Name::parse("alias.course.test").expect("a valid name");
    let q = query(0x1234, &name, rtype::A, true, None);
    let reply = server()
        .answer(&q, Transport::Udp)
        .expect("the server answers a query");
    let (annotations, _) = annotate(&reply);
    let example = Example {
        caption:
            "Example: the reply to alias.course.test A; c0 0c points back at the question's name"
                .into(),
        bytes: reply,
        parts: annotations
            .into_iter()
            .map(|a| (a.bytes, a.label))
            .collect(),
    };
    render_layout_with_example(LAYOUT_TITLE, HEADER_LAYOUT, &example)
}

fn fallback() -> Vec<Step> {
    let s = server();
    let name = Name::parse("big.course.test").expect("a valid name");
    let q = query(0x0a0a, &name, rtype::A, true, None);
    let udp = s.answer(&q, Transport::Udp).expect("an answer");
    let tcp = s.answer(&q, Transport::Tcp).expect("an answer");
    let cut = Message::parse(&udp).expect("our reply parses");
    let (tc, answers) = (cut.header.tc, cut.answers.len());
    let full = Message::parse(&tcp)
        .expect("our reply parses")
        .answers
        .len();
    vec![
        call(
            RESOLVER,
            SERVER,
            &format!(
                "UDP datagram, {} bytes: big.course.test A, RD, no OPT",
                q.len()
            ),
        )
        .noted("sendto(2) on a socket connect()ed to the server"),
        call(
            SERVER,
            RESOLVER,
            &format!(
                "UDP datagram, {} bytes: TC={}, {answers} answers",
                udp.len(),
                tc as u8
            ),
        )
        .noted(&format!(
            "the whole reply ({} bytes) does not fit in 512: the RRset is left out, TC set",
            tcp.len()
        )),
        note(
            RESOLVER,
            "TC: this answer is incomplete, ask again over TCP",
        ),
        packet(RESOLVER, SERVER, "SYN"),
        packet(SERVER, RESOLVER, "SYN ACK"),
        packet(RESOLVER, SERVER, "ACK"),
        call(
            RESOLVER,
            SERVER,
            &format!(
                "00 {:02x} + the query, a new ID ({} bytes)",
                q.len(),
                q.len()
            ),
        )
        .noted("a 2-byte length prefix, then the message"),
        call(
            SERVER,
            RESOLVER,
            &format!(
                "{:02x} {:02x} + the reply ({} bytes): {full} answers",
                tcp.len() >> 8,
                tcp.len() & 0xff,
                tcp.len()
            ),
        )
        .noted("TCP replies are never truncated (up to 65535 bytes)"),
        packet(RESOLVER, SERVER, "FIN"),
        packet(SERVER, RESOLVER, "FIN"),
    ]
}
