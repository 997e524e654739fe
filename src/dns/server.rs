//! The authoritative answerer: a query's bytes in, the reply's bytes (or silence) out. Lesson
//! 15's server is this function on an event loop; nothing here touches a socket.
//!
//! The order of the checks is the lesson:
//!
//! 1. Shorter than a header: silence (there is no ID to answer to).
//! 2. QR set: a response, never answered. Answering answers is how two servers end up
//!    bouncing a datagram between them forever (and how spoofed sources turn a server into a
//!    reflector).
//! 3. Not parseable: FORMERR, with the ID, opcode and RD copied so that the asker can match it.
//! 4. More than one OPT, or an OPT not owned by the root: FORMERR. From here on a query with
//!    an OPT record gets one back.
//! 5. Opcode other than QUERY: NOTIMP (RFC 1035 4.1.1: "The name server does not support the
//!    requested kind of query"). Not exactly one question: FORMERR.
//! 6. EDNS version above 0: BADVERS (RFC 6891 6.1.3: "If a responder does not implement the
//!    VERSION level of the request, then it MUST respond with RCODE=BADVERS").
//! 7. Class other than IN, a name outside the zone, a zone transfer: REFUSED.
//! 8. Otherwise the zone answers: records, a CNAME chain, NODATA or NXDOMAIN.
//!
//! Then the size: over UDP a reply fits in 512 bytes, or in what the asker's OPT advertises
//! (at least 512, at most our own `udp_size`); what does not fit is cut at an RRset boundary and
//! TC set. Over TCP nothing is cut (up to 65535 bytes).

use super::message::{opt_record, Header, Message, RData, Record};
use super::name::Name;
use super::zone::{Lookup, Zone};
use super::{rcode, rtype, CLASS_IN};

/// Which transport a query came on: it decides the size limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Udp,
    Tcp,
}

/// The classic UDP limit (RFC 1035 2.3.4: "UDP messages 512 octets or less").
pub const UDP_CLASSIC: usize = 512;
/// Our default EDNS UDP payload size: 1232 bytes, the value DNS Flag Day 2020 agreed on, which
/// fits an IPv6 minimum MTU of 1280 without fragmentation.
pub const DEFAULT_UDP_SIZE: u16 = 1232;
/// Longest CNAME chain followed inside the zone before giving up (a loop, or a silly zone).
pub const MAX_CHAIN: usize = 8;

/// An authoritative server for one zone.
#[derive(Debug, Clone)]
pub struct Server {
    zone: Zone,
    udp_size: u16,
}

impl Server {
    pub fn new(zone: Zone, udp_size: u16) -> Server {
        Server {
            zone,
            udp_size: udp_size.max(UDP_CLASSIC as u16),
        }
    }

    pub fn zone(&self) -> &Zone {
        &self.zone
    }

    /// Answer one query. `None` means silence: no reply at all.
    pub fn answer(&self, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
        let (header, _) = Header::parse(query).ok()?;
        if header.qr {
            return None;
        }
        let mut reply = Message {
            header: Header {
                id: header.id,
                qr: true,
                opcode: header.opcode,
                rd: header.rd,
                ..Header::default()
            },
            ..Message::default()
        };
        let Ok(msg) = Message::parse(query) else {
            reply.header.rcode = rcode::FORMERR;
            return Some(reply.encode());
        };
        // The question goes back exactly as it came, case and all; when there is not exactly
        // one, none goes back (a reply repeating a hundred questions would be an amplifier).
        if msg.questions.len() == 1 {
            reply.questions = msg.questions.clone();
        }
        let opts: Vec<&Record> = msg
            .additional
            .iter()
            .filter(|r| r.rtype == rtype::OPT)
            .collect();
        // RFC 6891 6.1.1: "If a query message with more than one OPT RR is received, a FORMERR
        // (RCODE=1) MUST be returned." ... and "the OPT RR ... owner name MUST be 0 (root
        // domain)".
        if opts.len() > 1 || opts.iter().any(|o| !o.name.is_root()) {
            reply.header.rcode = rcode::FORMERR;
            return Some(reply.encode());
        }
        // RFC 6891 7: "If an OPT record is present in a received request, compliant responders
        // MUST include an OPT record in their respective responses." From here on, every reply
        // to an EDNS query carries ours.
        let edns = opts.first().map(|o| (o.class, (o.ttl >> 16) & 0xff));
        if edns.is_some() {
            reply.additional.push(opt_record(self.udp_size));
        }
        if msg.header.opcode != 0 {
            reply.header.rcode = rcode::NOTIMP;
            return Some(reply.encode());
        }
        if msg.questions.len() != 1 {
            reply.header.rcode = rcode::FORMERR;
            return Some(reply.encode());
        }
        if let Some((_, version)) = edns {
            if version > 0 {
                // BADVERS is 16: the header's RCODE holds its low 4 bits (0), the OPT's TTL
                // its high 8 bits (1), and the OPT says which version we do speak: 0.
                reply.additional[0].ttl = u32::from((rcode::BADVERS >> 4) as u8) << 24;
                return Some(reply.encode());
            }
        }
        self.resolve(&msg, &mut reply);
        let limit = match (transport, edns) {
            (Transport::Tcp, _) => 0xffff,
            (Transport::Udp, None) => UDP_CLASSIC,
            // RFC 6891 6.2.5: "Values lower than 512 MUST be treated as equal to 512."
            (Transport::Udp, Some((size, _))) => {
                (size.min(self.udp_size) as usize).max(UDP_CLASSIC)
            }
        };
        Some(reply.encode_within(limit).0)
    }

    /// Fill the answer: the zone's records for the question, following CNAMEs inside the zone.
    fn resolve(&self, msg: &Message, reply: &mut Message) {
        let q = &msg.questions[0];
        if q.qclass != CLASS_IN {
            reply.header.rcode = rcode::REFUSED; // CH "version.bind" and friends: not ours
            return;
        }
        if matches!(q.qtype, rtype::AXFR | rtype::IXFR | rtype::OPT) {
            reply.header.rcode = rcode::REFUSED; // zone transfers are not offered
            return;
        }
        let mut name: Name = q.name.clone();
        let mut seen = vec![name.lowercase()];
        for hop in 0..=MAX_CHAIN {
            let records = match self.zone.lookup(&name) {
                Lookup::NotInZone if hop == 0 => {
                    // Not our zone: refuse, and do not claim authority (AA clear).
                    reply.header.rcode = rcode::REFUSED;
                    return;
                }
                // A CNAME led out of the zone: the chain so far is our whole answer; the
                // resolver asks the target's own servers (RFC 1034 4.3.2 step 3a).
                Lookup::NotInZone => return,
                Lookup::NxDomain => {
                    // RFC 2308 2.1: NXDOMAIN is about the last name of a chain, the CNAMEs
                    // before it stay in the answer.
                    reply.header.aa = true;
                    reply.header.rcode = rcode::NXDOMAIN;
                    reply.authority.push(self.zone.negative_soa());
                    return;
                }
                Lookup::Found(records) => records,
            };
            reply.header.aa = true;
            let cname = records.iter().find(|r| r.rtype == rtype::CNAME);
            if let (Some(cname), false) = (cname, q.qtype == rtype::CNAME) {
                reply.answers.push(cname.clone());
                let RData::Name(target) = &cname.data else {
                    return;
                };
                name = target.clone();
                if seen.contains(&name.lowercase()) {
                    return; // a loop: what was found so far is the answer
                }
                seen.push(name.lowercase());
                continue;
            }
            let matching: Vec<Record> = records
                .iter()
                .filter(|r| q.qtype == rtype::ANY || r.rtype == q.qtype)
                .cloned()
                .collect();
            if matching.is_empty() {
                // NODATA (RFC 2308 2.2): NOERROR, no answer, the SOA says for how long.
                reply.authority.push(self.zone.negative_soa());
            }
            reply.answers.extend(matching);
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::{query, Question};
    use crate::dns::name::Name;

    const ZONE: &str = include_str!("../../lessons/15-dns/course.zone");

    fn server() -> Server {
        Server::new(Zone::parse(ZONE, "course.zone").unwrap(), DEFAULT_UDP_SIZE)
    }

    fn ask(name: &str, qtype: u16, edns: Option<u16>, transport: Transport) -> Message {
        let q = query(0x1234, &Name::parse(name).unwrap(), qtype, true, edns);
        Message::parse(&server().answer(&q, transport).expect("an answer")).unwrap()
    }

    #[test]
    fn a_records_come_back_with_aa_and_the_question_as_asked() {
        let r = ask("WwW.CoUrSe.TeSt", rtype::A, None, Transport::Udp);
        assert_eq!(r.header.id, 0x1234);
        assert!(r.header.qr && r.header.aa && r.header.rd && !r.header.ra && !r.header.tc);
        assert_eq!(r.questions[0].name.to_string(), "WwW.CoUrSe.TeSt.");
        assert_eq!(r.answers.len(), 1);
        assert_eq!(r.answers[0].data, RData::A([192, 0, 2, 10]));
        assert!(
            r.additional.is_empty(),
            "no OPT without an OPT in the query"
        );
    }

    #[test]
    fn a_cname_chain_is_followed_inside_the_zone() {
        let r = ask("chain1.course.test", rtype::A, None, Transport::Udp);
        let types: Vec<u16> = r.answers.iter().map(|a| a.rtype).collect();
        assert_eq!(types, [rtype::CNAME, rtype::CNAME, rtype::A]);
        let r = ask("chain1.course.test", rtype::CNAME, None, Transport::Udp);
        assert_eq!(r.answers.len(), 1, "a CNAME query gets the CNAME only");
        let r = ask("out.course.test", rtype::A, None, Transport::Udp);
        assert_eq!((r.header.rcode, r.answers.len()), (rcode::NOERROR, 1));
    }

    #[test]
    fn nxdomain_nodata_and_empty_non_terminals() {
        let r = ask("nope.course.test", rtype::A, None, Transport::Udp);
        assert_eq!(r.header.rcode, rcode::NXDOMAIN);
        assert!(r.header.aa && r.answers.is_empty());
        assert_eq!(r.authority[0].rtype, rtype::SOA);
        assert_eq!(r.authority[0].ttl, 60);
        for (name, t) in [
            ("v6only.course.test", rtype::A),
            ("deep.course.test", rtype::A),
        ] {
            let r = ask(name, t, None, Transport::Udp);
            assert_eq!(r.header.rcode, rcode::NOERROR, "{name}");
            assert!(r.answers.is_empty() && r.authority[0].rtype == rtype::SOA);
        }
    }

    #[test]
    fn outside_the_zone_is_refused_without_authority() {
        let r = ask("www.example.com", rtype::A, None, Transport::Udp);
        assert_eq!(r.header.rcode, rcode::REFUSED);
        assert!(!r.header.aa && r.answers.is_empty() && r.authority.is_empty());
    }

    #[test]
    fn the_big_name_is_truncated_over_udp_and_whole_over_tcp() {
        let r = ask("big.course.test", rtype::A, None, Transport::Udp);
        assert!(r.header.tc && r.answers.is_empty());
        let r = ask("big.course.test", rtype::A, Some(4096), Transport::Udp);
        assert!(
            !r.header.tc && r.answers.len() == 40,
            "1232 bytes hold them"
        );
        let r = ask("big.course.test", rtype::A, None, Transport::Tcp);
        assert!(!r.header.tc && r.answers.len() == 40);
        let r = ask("huge.course.test", rtype::TXT, Some(4096), Transport::Udp);
        assert!(r.header.tc);
        let r = ask("huge.course.test", rtype::TXT, None, Transport::Tcp);
        assert!(!r.header.tc && !r.answers.is_empty());
    }

    #[test]
    fn edns_is_answered_in_kind_and_version_1_gets_badvers() {
        let r = ask("www.course.test", rtype::A, Some(4096), Transport::Udp);
        assert_eq!(r.additional, vec![opt_record(DEFAULT_UDP_SIZE)]);
        let mut q = query(
            7,
            &Name::parse("www.course.test").unwrap(),
            rtype::A,
            true,
            Some(4096),
        );
        let n = q.len();
        q[n - 5] = 1; // the OPT's TTL: ext-rcode 0, version 1
        let r = Message::parse(&server().answer(&q, Transport::Udp).unwrap()).unwrap();
        assert_eq!(r.header.rcode, 0);
        assert_eq!(r.additional[0].ttl >> 24, 1, "BADVERS = 16 = 1 << 4");
        assert!(r.answers.is_empty());
    }

    #[test]
    fn responses_are_never_answered_and_garbage_gets_formerr_or_silence() {
        let s = server();
        let mut q = query(
            9,
            &Name::parse("www.course.test").unwrap(),
            rtype::A,
            true,
            None,
        );
        assert_eq!(s.answer(&q[..11], Transport::Udp), None);
        q[2] |= 0x80;
        assert_eq!(s.answer(&q, Transport::Udp), None);
        q[2] &= !0x80;
        let r = Message::parse(&s.answer(&q[..15], Transport::Udp).unwrap()).unwrap();
        assert_eq!((r.header.id, r.header.rcode), (9, rcode::FORMERR));
        // Two questions.
        let two = Message {
            questions: vec![
                Question {
                    name: Name::parse("a.course.test").unwrap(),
                    qtype: 1,
                    qclass: 1
                };
                2
            ],
            ..Message::default()
        };
        let r = Message::parse(&s.answer(&two.encode(), Transport::Udp).unwrap()).unwrap();
        assert_eq!(r.header.rcode, rcode::FORMERR);
        // Opcode 2 (STATUS).
        q[2] = 0x10;
        let r = Message::parse(&s.answer(&q, Transport::Udp).unwrap()).unwrap();
        assert_eq!((r.header.rcode, r.header.opcode), (rcode::NOTIMP, 2));
    }

    #[test]
    fn every_truncated_prefix_of_a_query_is_answered_safely() {
        let s = server();
        let q = query(
            1,
            &Name::parse("alias.course.test").unwrap(),
            rtype::A,
            true,
            Some(1232),
        );
        for n in 0..q.len() {
            let r = s.answer(&q[..n], Transport::Udp);
            if n < 12 {
                assert_eq!(r, None);
            } else {
                assert_eq!(
                    Message::parse(&r.unwrap()).unwrap().header.rcode,
                    rcode::FORMERR
                );
            }
        }
    }
}
