//! The stub resolver's state machine: it builds queries and judges replies; the program around
//! it owns the sockets and the clock (lesson 15's `resolve`).
//!
//! A stub resolver asks one server (a recursive resolver, or an authoritative server for the
//! name) and trusts what comes back, so what it checks before believing a datagram is the
//! whole of its defence. Anyone on the path, and anyone who can guess, can send it a datagram
//! that looks like a reply: RFC 5452 ("Measures for Making DNS More Resilient against Forged
//! Answers") section 3 accepts a reply only if its question "is equivalent to that of a
//! question packet currently waiting for a response", its ID matches, it "comes from the same
//! network address to which the question was sent" and it "comes in on the same network
//! address, including port number, from which the question was sent". The sockets check the addresses
//! (a `connect()`ed UDP socket only receives from its peer) and the port (a random one, from
//! the kernel); this file checks the rest:
//!
//! - the ID, 16 random bits from getrandom(2) ([`random_id`]);
//! - QR set: it is a response;
//! - the question: the same name (ignoring case), type and class.
//!
//! A datagram that fails a check is ignored, not fatal. RFC 5452 9.1 says only that "a
//! mismatch and the response MUST be considered invalid"; this resolver drops it and keeps
//! waiting for the real answer until its timeout, or an attacker's junk would be a cheap way to
//! make lookups fail. Over TCP the connection is ours alone, so a mismatch there is an error.
//!
//! Then the reply itself: TC set means ask again over TCP ([`Step::RetryOverTcp`]); an RCODE
//! other than NOERROR ends the lookup; and an answer that ends in a CNAME whose target it
//! does not resolve means ask again for the target ([`Step::Chase`]), at most [`MAX_CHASE`]
//! CNAMEs deep and never the same name twice.

use super::message::{query, Message, Record};
use super::name::Name;
use super::server::Transport;
use super::{rcode, rtype, CLASS_IN};

/// Most CNAMEs followed from the name asked to the records found.
pub const MAX_CHASE: usize = 8;

/// What to do with a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not the reply to our query (why): ignore it and keep waiting until the timeout.
    Ignore(String),
    /// TC was set: ask the same question again over TCP.
    RetryOverTcp,
    /// The reply ended in a CNAME to this name, not resolved in it: ask again for it
    /// ([`Resolver::query`] now asks for the target).
    Chase(Name),
    /// The lookup is over: records found, NODATA, or an error RCODE.
    Done(Outcome),
    /// The lookup cannot go on (a CNAME loop, a chain too long, a broken reply over TCP).
    Failed(String),
}

/// The end of a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The RCODE, extended by the OPT record's top 8 bits when there is one.
    pub rcode: u16,
    /// The CNAMEs from the name asked to the last name, in order, across every query.
    pub chain: Vec<Record>,
    /// The records of the type asked at the last name (none for NODATA and errors).
    pub answers: Vec<Record>,
    /// The flags of the last reply, as dig prints them.
    pub flags: String,
}

/// One lookup: a name and a type, followed through CNAMEs.
#[derive(Debug, Clone)]
pub struct Resolver {
    qtype: u16,
    /// The name the next (or current) query asks about.
    current: Name,
    chain: Vec<Record>,
    seen: Vec<Name>,
    /// The ID of the query in flight.
    id: u16,
}

impl Resolver {
    pub fn new(name: Name, qtype: u16) -> Resolver {
        Resolver {
            qtype,
            seen: vec![name.lowercase()],
            current: name,
            chain: Vec::new(),
            id: 0,
        }
    }

    /// The name being asked about now.
    pub fn current(&self) -> &Name {
        &self.current
    }

    pub fn qtype(&self) -> u16 {
        self.qtype
    }

    /// The query for the current name, with a fresh `id` (take it from [`random_id`]), RD set,
    /// and an OPT record advertising `edns` bytes if given.
    pub fn query(&mut self, id: u16, edns: Option<u16>) -> Vec<u8> {
        self.id = id;
        query(id, &self.current, self.qtype, true, edns)
    }

    /// Judge the bytes of a reply that came over `transport`.
    pub fn on_reply(&mut self, bytes: &[u8], transport: Transport) -> Step {
        let reply = match Message::parse(bytes) {
            Ok(m) => m,
            Err(e) => return Step::Ignore(format!("not a DNS message: {e}")),
        };
        let h = reply.header;
        if h.id != self.id {
            return Step::Ignore(format!("ID {:#06x}, we asked with {:#06x}", h.id, self.id));
        }
        if !h.qr {
            return Step::Ignore("QR is 0: a query, not a response".into());
        }
        let same = match reply.questions.as_slice() {
            [q] => {
                q.name.eq_ignore_case(&self.current)
                    && q.qtype == self.qtype
                    && q.qclass == CLASS_IN
            }
            _ => false,
        };
        if !same {
            return Step::Ignore(format!(
                "its question is not ours ({} {})",
                self.current,
                super::type_name(self.qtype)
            ));
        }
        if h.tc && transport == Transport::Udp {
            return Step::RetryOverTcp;
        }
        let ext = reply.opt().map_or(0, |o| (o.ttl >> 24) as u16);
        let code = (ext << 4) | u16::from(h.rcode);
        let flags = h.flag_words();
        let done = |s: &Self, answers: Vec<Record>, rcode: u16| {
            Step::Done(Outcome {
                rcode,
                chain: s.chain.clone(),
                answers,
                flags: flags.clone(),
            })
        };
        if code != u16::from(rcode::NOERROR) && code != u16::from(rcode::NXDOMAIN) {
            return done(self, Vec::new(), code);
        }
        // Walk the answer from the name asked: its records, or a CNAME to the next name.
        let mut name = self.current.clone();
        loop {
            let at = |r: &&Record| r.name.eq_ignore_case(&name);
            let found: Vec<Record> = reply
                .answers
                .iter()
                .filter(at)
                .filter(|r| r.rtype == self.qtype || self.qtype == rtype::ANY)
                .cloned()
                .collect();
            if !found.is_empty() || self.qtype == rtype::CNAME {
                return done(self, found, code);
            }
            let Some(cname) = reply
                .answers
                .iter()
                .filter(at)
                .find(|r| r.rtype == rtype::CNAME)
            else {
                break;
            };
            let super::message::RData::Name(target) = &cname.data else {
                return Step::Failed("a CNAME whose data is not a name".into());
            };
            self.chain.push(cname.clone());
            if self.chain.len() > MAX_CHASE {
                return Step::Failed(format!("more than {MAX_CHASE} CNAMEs: given up"));
            }
            if self.seen.contains(&target.lowercase()) {
                return Step::Failed(format!("a CNAME loop: {target} again"));
            }
            self.seen.push(target.lowercase());
            name = target.clone();
        }
        if name == self.current || code == u16::from(rcode::NXDOMAIN) {
            // No records and no further CNAME: NODATA (NOERROR) or NXDOMAIN for the last name.
            return done(self, Vec::new(), code);
        }
        // RFC 1034 5.3.3 step 3: the chain ends in a name the reply does not resolve (it is
        // outside the server's zone): ask again, for that name.
        self.current = name.clone();
        Step::Chase(name)
    }
}

/// A random query ID from the kernel's random source, getrandom(2). Not `rand`, not the clock:
/// an ID an attacker can predict is half of a forged answer (RFC 5452 4.3).
pub fn random_id() -> u16 {
    let mut b = [0u8; 2];
    // SAFETY: the buffer is valid for 2 bytes; getrandom writes at most that many.
    let n = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
    assert_eq!(n, 2, "getrandom(2) failed");
    u16::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::{Header, Question, RData};
    use crate::dns::server::{Server, DEFAULT_UDP_SIZE};
    use crate::dns::zone::Zone;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn server() -> Server {
        let text = include_str!("../../lessons/15-dns/course.zone");
        Server::new(Zone::parse(text, "course.zone").unwrap(), DEFAULT_UDP_SIZE)
    }

    /// The resolver and the answerer against each other, with no socket in between.
    fn run(qname: &str, qtype: u16) -> (Vec<Step>, Resolver) {
        let s = server();
        let mut r = Resolver::new(name(qname), qtype);
        let mut steps = Vec::new();
        let mut transport = Transport::Udp;
        for id in 1..10 {
            let q = r.query(id, None);
            let step = r.on_reply(&s.answer(&q, transport).unwrap(), transport);
            steps.push(step.clone());
            match step {
                Step::RetryOverTcp => transport = Transport::Tcp,
                Step::Chase(_) => transport = Transport::Udp,
                _ => break,
            }
        }
        (steps, r)
    }

    #[test]
    fn a_chain_inside_one_reply_needs_one_query() {
        let (steps, _) = run("chain1.course.test", rtype::A);
        let [Step::Done(o)] = steps.as_slice() else {
            panic!("{steps:?}")
        };
        assert_eq!(o.chain.len(), 2);
        assert_eq!(o.answers[0].data, RData::A([192, 0, 2, 10]));
    }

    #[test]
    fn tc_means_tcp_and_tcp_brings_everything() {
        let (steps, _) = run("big.course.test", rtype::A);
        assert_eq!(steps[0], Step::RetryOverTcp);
        let Step::Done(o) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert_eq!(o.answers.len(), 40);
    }

    #[test]
    fn a_cname_out_of_the_zone_is_chased_with_a_second_query() {
        let (steps, r) = run("out.course.test", rtype::A);
        assert_eq!(steps[0], Step::Chase(name("www.example")));
        assert_eq!(r.current(), &name("www.example"));
        // Our server refuses www.example.: the lookup ends REFUSED, chain kept.
        let Step::Done(o) = &steps[1] else {
            panic!("{steps:?}")
        };
        assert_eq!((o.rcode, o.chain.len()), (5, 1));
    }

    #[test]
    fn nxdomain_and_nodata_end_the_lookup() {
        let (steps, _) = run("nope.course.test", rtype::A);
        assert!(matches!(&steps[0], Step::Done(o) if o.rcode == 3));
        let (steps, _) = run("v6only.course.test", rtype::A);
        assert!(matches!(&steps[0], Step::Done(o) if o.rcode == 0 && o.answers.is_empty()));
    }

    fn reply_to(r: &Resolver, id: u16, answers: Vec<Record>) -> Vec<u8> {
        Message {
            header: Header {
                id,
                qr: true,
                ..Header::default()
            },
            questions: vec![Question {
                name: r.current().clone(),
                qtype: r.qtype(),
                qclass: 1,
            }],
            answers,
            ..Message::default()
        }
        .encode()
    }

    fn cname(from: &str, to: &str) -> Record {
        Record {
            name: name(from),
            rtype: rtype::CNAME,
            class: 1,
            ttl: 1,
            data: RData::Name(name(to)),
        }
    }

    #[test]
    fn replies_that_do_not_match_are_ignored_not_believed() {
        let mut r = Resolver::new(name("www.course.test"), rtype::A);
        let q = r.query(0x4242, None);
        assert!(matches!(
            r.on_reply(&reply_to(&r, 0x4243, vec![]), Transport::Udp),
            Step::Ignore(_)
        ));
        assert!(
            matches!(r.on_reply(&q, Transport::Udp), Step::Ignore(_)),
            "a query is not a reply"
        );
        assert!(matches!(
            r.on_reply(b"\x42\x42", Transport::Udp),
            Step::Ignore(_)
        ));
        let mut other = Resolver::new(name("www.course.tesT.evil"), rtype::A);
        other.query(0x4242, None);
        assert!(matches!(
            r.on_reply(&reply_to(&other, 0x4242, vec![]), Transport::Udp),
            Step::Ignore(_)
        ));
        // The same name in other case is ours.
        let mut upper = Resolver::new(name("WWW.COURSE.TEST"), rtype::A);
        upper.query(0x4242, None);
        assert!(matches!(
            r.on_reply(&reply_to(&upper, 0x4242, vec![]), Transport::Udp),
            Step::Done(_)
        ));
    }

    #[test]
    fn cname_loops_and_long_chains_are_stopped() {
        let mut r = Resolver::new(name("a.test"), rtype::A);
        r.query(1, None);
        let looped = reply_to(
            &r,
            1,
            vec![cname("a.test", "b.test"), cname("b.test", "a.test")],
        );
        assert!(
            matches!(r.on_reply(&looped, Transport::Udp), Step::Failed(e) if e.contains("loop"))
        );
        let mut r = Resolver::new(name("c0.test"), rtype::A);
        r.query(1, None);
        let long: Vec<Record> = (0..10)
            .map(|i| cname(&format!("c{i}.test"), &format!("c{}.test", i + 1)))
            .collect();
        assert!(
            matches!(r.on_reply(&reply_to(&r, 1, long), Transport::Udp), Step::Failed(e) if e.contains("more than 8"))
        );
    }

    #[test]
    fn random_ids_differ() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| random_id()).collect();
        assert!(ids.len() > 32);
    }
}
