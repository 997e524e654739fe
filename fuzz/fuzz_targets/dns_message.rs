//! Fuzz target: the DNS message parser and the authoritative answerer (`netcourse::dns`,
//! lesson 15) on any bytes. Parsing never panics; a message that parses re-encodes (with
//! compression) into bytes that parse to the same value; the answerer never panics, over UDP
//! or TCP, never answers a message with QR set, and whatever it answers parses.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netcourse::dns::message::Message;
use netcourse::dns::server::{Server, Transport, DEFAULT_UDP_SIZE};
use netcourse::dns::zone::Zone;
use std::sync::OnceLock;

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let zone = include_str!("../../lessons/15-dns/course.zone");
        Server::new(Zone::parse(zone, "course.zone").unwrap(), DEFAULT_UDP_SIZE)
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        let again = Message::parse(&message.encode()).expect("what we encode parses");
        assert_eq!(
            again, message,
            "parse -> encode -> parse changed the message"
        );
    }
    let _ = netcourse::dns::dissect::dissect(data);
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Some(reply) = server().answer(data, transport) {
            assert!(
                data.len() >= 2 + 1 && data[2] & 0x80 == 0,
                "answered a response"
            );
            let parsed = Message::parse(&reply).expect("our reply parses");
            assert!(parsed.header.qr);
            if transport == Transport::Udp {
                assert!(reply.len() <= usize::from(DEFAULT_UDP_SIZE));
            }
        }
    }
});
