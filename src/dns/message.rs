//! The DNS message (RFC 1035 4.1): a 12-byte header, then four sections: the questions, the
//! answers, the authority records and the additional records.
//!
//! ```text
//!                                   1  1  1  1  1  1
//!     0  1  2  3  4  5  6  7  8  9  0  1  2  3  4  5
//!   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//!   |                      ID                       |
//!   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//!   |QR|   Opcode  |AA|TC|RD|RA|   Z    |   RCODE   |
//!   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//!   |          QDCOUNT, ANCOUNT, NSCOUNT, ARCOUNT    |   (16 bits each)
//!   +--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+--+
//! ```
//!
//! [`HEADER_LAYOUT`] is that table as data: lesson 15's diagram and `--trace` are drawn from
//! it. A question is a name, a type and a class; a resource record a name, type, class, TTL,
//! RDLENGTH and RDLENGTH bytes of data. [`Message::parse`] reads a whole message (a UDP
//! datagram, or one TCP message without its length prefix); [`Message::encode`] writes one,
//! compressing names, and [`Message::encode_within`] writes as many whole RRsets as fit in a
//! size limit and sets TC when some did not.
//!
//! A type this module does not know is kept as raw bytes and skipped by its RDLENGTH: RFC 3597
//! asks exactly that of every implementation, so that new types can be deployed at all.

use super::name::{read_name, truncated, Name};
use super::{rtype, DnsError, Rule};
use crate::layout::Field;
use std::collections::HashMap;

/// The 12-byte header, field by field, as RFC 1035 4.1.1 draws it.
pub const HEADER_LAYOUT: &[Field] = &[
    Field {
        name: "ID",
        bits: Some(16),
        about: "chosen by the asker, copied into the reply: how a reply is matched to its query (random: RFC 5452)",
    },
    Field {
        name: "QR",
        bits: Some(1),
        about: "0 a query, 1 a response (a server never answers a response)",
    },
    Field {
        name: "Opcode",
        bits: Some(4),
        about: "0 QUERY (a standard query); 2 STATUS, 4 NOTIFY, 5 UPDATE: answered NOTIMP here",
    },
    Field {
        name: "AA",
        bits: Some(1),
        about: "authoritative answer: the server owns the zone of the name asked",
    },
    Field {
        name: "TC",
        bits: Some(1),
        about: "truncated: the reply did not fit (512 bytes over UDP without EDNS); ask again over TCP",
    },
    Field {
        name: "RD",
        bits: Some(1),
        about: "recursion desired: set by the asker, copied into the reply",
    },
    Field {
        name: "RA",
        bits: Some(1),
        about: "recursion available: clear from a server that only answers for its own zone",
    },
    Field {
        name: "Z",
        bits: Some(3),
        about: "zero in RFC 1035; DNSSEC (RFC 4035) took two of them as AD and CD",
    },
    Field {
        name: "RCODE",
        bits: Some(4),
        about: "0 NOERROR, 1 FORMERR, 2 SERVFAIL, 3 NXDOMAIN, 4 NOTIMP, 5 REFUSED (EDNS adds 8 bits in OPT)",
    },
    Field {
        name: "QDCOUNT",
        bits: Some(16),
        about: "number of questions: 1 in practice",
    },
    Field {
        name: "ANCOUNT",
        bits: Some(16),
        about: "number of records in the answer section",
    },
    Field {
        name: "NSCOUNT",
        bits: Some(16),
        about: "number of records in the authority section (the SOA of a negative answer)",
    },
    Field {
        name: "ARCOUNT",
        bits: Some(16),
        about: "number of records in the additional section (the EDNS OPT record lives here)",
    },
];

/// Bytes in the header.
pub const HEADER_LEN: usize = 12;

/// The header's values. The four counts are not here: they are the lengths of the sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Header {
    pub id: u16,
    pub qr: bool,
    pub opcode: u8,
    pub aa: bool,
    pub tc: bool,
    pub rd: bool,
    pub ra: bool,
    /// The three Z bits (AD and CD today), as received.
    pub z: u8,
    /// The low four bits of the response code.
    pub rcode: u8,
}

impl Header {
    /// Read the header's first four bytes (ID and flags) and the counts.
    pub fn parse(msg: &[u8]) -> Result<(Header, [u16; 4]), DnsError> {
        if msg.len() < HEADER_LEN {
            return Err(truncated(msg, 0, HEADER_LEN));
        }
        let word = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
        Ok((
            Header::from_flags(word(0), word(2)),
            [word(4), word(6), word(8), word(10)],
        ))
    }

    /// The header from its ID and its 16 bits of flags.
    pub fn from_flags(id: u16, flags: u16) -> Header {
        Header {
            id,
            qr: flags & 0x8000 != 0,
            opcode: ((flags >> 11) & 0xf) as u8,
            aa: flags & 0x0400 != 0,
            tc: flags & 0x0200 != 0,
            rd: flags & 0x0100 != 0,
            ra: flags & 0x0080 != 0,
            z: ((flags >> 4) & 0x7) as u8,
            rcode: (flags & 0xf) as u8,
        }
    }

    /// The 16 bits of flags: QR, Opcode, AA, TC, RD, RA, Z, RCODE from the top bit down.
    pub fn flags(&self) -> u16 {
        // exercise(15): begin "Write the header's flags: QR, the opcode, AA, TC, RD, RA, Z and RCODE in 16 bits"
        // hint: QR is the top bit (0x8000); the opcode takes the 4 bits below it (shift by 11).
        // hint: Then AA 0x0400, TC 0x0200, RD 0x0100, RA 0x0080, Z the 3 bits at 0x0070 and the RCODE the low 4 bits. Mask each value to its width before shifting it in.
        let bit = |on: bool, mask: u16| if on { mask } else { 0 };
        bit(self.qr, 0x8000)
            | (u16::from(self.opcode & 0xf) << 11)
            | bit(self.aa, 0x0400)
            | bit(self.tc, 0x0200)
            | bit(self.rd, 0x0100)
            | bit(self.ra, 0x0080)
            | (u16::from(self.z & 0x7) << 4)
            | u16::from(self.rcode & 0xf)
        // exercise(15): end
    }

    /// The flags as dig shows them: `qr aa rd`.
    pub fn flag_words(&self) -> String {
        let words = [
            (self.qr, "qr"),
            (self.aa, "aa"),
            (self.tc, "tc"),
            (self.rd, "rd"),
            (self.ra, "ra"),
        ];
        let on: Vec<&str> = words.iter().filter(|w| w.0).map(|w| w.1).collect();
        on.join(" ")
    }
}

/// A question: the name, type and class asked about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    pub name: Name,
    pub qtype: u16,
    pub qclass: u16,
}

/// A resource record. For OPT (EDNS, RFC 6891 6.1.2) the fields mean other things: the name is
/// the root, `class` is the sender's UDP payload size, and `ttl` holds the extended RCODE
/// (top byte), the EDNS version and the DO flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: Name,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
    pub data: RData,
}

/// A record's data, decoded for the types this course knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A([u8; 4]),
    Aaaa([u8; 16]),
    /// CNAME and NS: one name.
    Name(Name),
    Soa {
        mname: Name,
        rname: Name,
        /// Serial, refresh, retry, expire, minimum.
        numbers: [u32; 5],
    },
    Mx {
        preference: u16,
        exchange: Name,
    },
    /// One or more character strings of at most 255 bytes each.
    Txt(Vec<Vec<u8>>),
    /// OPT's options, and any type not listed above: the bytes as they came.
    Raw(Vec<u8>),
}

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub header: Header,
    pub questions: Vec<Question>,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
}

/// A cursor over a message: every read checks its length first and says where it failed.
struct Reader<'a> {
    msg: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DnsError> {
        let b = self
            .msg
            .get(self.pos..self.pos + n)
            .ok_or_else(|| truncated(self.msg, self.pos, n))?;
        self.pos += n;
        Ok(b)
    }
    fn u16(&mut self) -> Result<u16, DnsError> {
        let b = self.bytes(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, DnsError> {
        let b = self.bytes(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn name(&mut self) -> Result<Name, DnsError> {
        let (name, end) = read_name(self.msg, self.pos)?;
        self.pos = end;
        Ok(name)
    }
}

impl Message {
    /// Parse a whole message. Bytes after the last record are ignored (RFC 1035 does not say
    /// what they mean; servers in the wild ignore them too).
    pub fn parse(msg: &[u8]) -> Result<Message, DnsError> {
        let (header, [qd, an, ns, ar]) = Header::parse(msg)?;
        let mut r = Reader {
            msg,
            pos: HEADER_LEN,
        };
        // Counts come from the sender: never reserve memory by them, only by what is read.
        let mut questions = Vec::new();
        for _ in 0..qd {
            let name = r.name()?;
            let qtype = r.u16()?;
            let qclass = r.u16()?;
            questions.push(Question {
                name,
                qtype,
                qclass,
            });
        }
        let mut section = |count: u16| -> Result<Vec<Record>, DnsError> {
            let mut records = Vec::new();
            for _ in 0..count {
                records.push(parse_record(&mut r)?);
            }
            Ok(records)
        };
        let answers = section(an)?;
        let authority = section(ns)?;
        let additional = section(ar)?;
        Ok(Message {
            header,
            questions,
            answers,
            authority,
            additional,
        })
    }

    /// The EDNS OPT record, if the additional section holds one (the first, if several).
    pub fn opt(&self) -> Option<&Record> {
        self.additional.iter().find(|r| r.rtype == rtype::OPT)
    }

    /// Encode the whole message, compressing names.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_within(usize::MAX).0
    }

    /// Encode as much as fits in `limit` bytes (at least the header and the question), whole
    /// RRsets only. RFC 2181 9: "The TC bit should be set in responses only when an RRSet is
    /// required as a part of the response, but could not be included in its entirety"; it
    /// also allows the partial RRset to be left in, which this encoder does not do (a choice:
    /// no reply of ours holds part of an RRset). Once one RRset does not fit, nothing after it is
    /// written either, except the OPT record, which is always kept (RFC 6891 7: a truncated
    /// reply still says the server speaks EDNS). Returns the bytes and whether TC was set.
    pub fn encode_within(&self, limit: usize) -> (Vec<u8>, bool) {
        let mut e = Encoder::default();
        let mut header = self.header;
        e.out.extend_from_slice(&[0; HEADER_LEN]);
        for q in &self.questions {
            e.name(&q.name, true);
            e.out.extend_from_slice(&q.qtype.to_be_bytes());
            e.out.extend_from_slice(&q.qclass.to_be_bytes());
        }
        let opts: Vec<&Record> = self
            .additional
            .iter()
            .filter(|r| r.rtype == rtype::OPT)
            .collect();
        // Room for the OPT records is set aside first: they are written whatever else is cut.
        let mut budget = limit.saturating_sub(opts.iter().map(|r| record_len(r)).sum());
        let mut counts = [0u16; 3];
        let mut opts_written = 0;
        let mut truncated = false;
        let sections: [Vec<&Record>; 3] = [
            self.answers.iter().collect(),
            self.authority.iter().collect(),
            self.additional.iter().collect(),
        ];
        'sections: for (s, records) in sections.iter().enumerate() {
            for rrset in rrsets(records) {
                let mark = e.mark();
                for record in rrset {
                    e.record(record);
                }
                if s == 2 && rrset[0].rtype == rtype::OPT {
                    // (An OPT in another section is an ordinary record here: only the
                    // additional section's have room set aside.)
                    // In its place while nothing has been cut; the room kept for it is used now.
                    budget = budget.saturating_add(e.out.len() - mark.len);
                    opts_written += rrset.len();
                } else if e.out.len() > budget {
                    // exercise(15): begin "Truncate at a record boundary: undo the RRset that did not fit, set TC, stop"
                    // hint: `mark` remembers the output length and the compression table before this RRset; `e.rollback(mark)` puts both back.
                    // hint: Then set TC, and write no more records in this or any later section (the OPT is written after the loop).
                    e.rollback(mark);
                    truncated = true;
                    break 'sections;
                    // exercise(15): end
                }
                counts[s] += rrset.len() as u16;
            }
        }
        // A truncated reply still carries the OPT records the loop did not reach.
        for opt in &opts[opts_written..] {
            e.record(opt);
            counts[2] += 1;
        }
        header.tc |= truncated;
        let qd = self.questions.len() as u16;
        let mut head = Vec::with_capacity(HEADER_LEN);
        head.extend_from_slice(&header.id.to_be_bytes());
        head.extend_from_slice(&header.flags().to_be_bytes());
        for c in [qd, counts[0], counts[1], counts[2]] {
            head.extend_from_slice(&c.to_be_bytes());
        }
        e.out[..HEADER_LEN].copy_from_slice(&head);
        (e.out, truncated)
    }
}

/// Consecutive records with the same name, type and class: the unit of truncation.
fn rrsets<'r>(records: &'r [&'r Record]) -> Vec<&'r [&'r Record]> {
    let mut sets = Vec::new();
    let mut start = 0;
    for i in 1..=records.len() {
        let same = i < records.len() && {
            let (a, b) = (records[start], records[i]);
            a.rtype == b.rtype && a.class == b.class && a.name.eq_ignore_case(&b.name)
        };
        if !same {
            if i > start {
                sets.push(&records[start..i]);
            }
            start = i;
        }
    }
    sets
}

/// A record's length written alone (no earlier names to point at): an upper bound.
fn record_len(r: &Record) -> usize {
    let mut e = Encoder::default();
    e.record(r);
    e.out.len()
}

/// Read the resource record at `pos` in `msg`: the record, and the offset after it.
pub fn read_record(msg: &[u8], pos: usize) -> Result<(Record, usize), DnsError> {
    let mut r = Reader { msg, pos };
    let record = parse_record(&mut r)?;
    Ok((record, r.pos))
}

/// Read one resource record at the reader's position.
fn parse_record(r: &mut Reader<'_>) -> Result<Record, DnsError> {
    let name = r.name()?;
    let rtype = r.u16()?;
    let class = r.u16()?;
    let ttl = r.u32()?;
    let rdlength = r.u16()? as usize;
    let start = r.pos;
    // The data must be all there before any of it is looked at: RDLENGTH is checked against the
    // message, then every type reads inside [start, end) only.
    r.bytes(rdlength)?;
    let end = start + rdlength;
    let bad = |why| DnsError::new(start, Rule::BadRdata { rtype, why });
    let data = match rtype {
        rtype::A => RData::A(
            r.msg[start..end]
                .try_into()
                .map_err(|_| bad("an A record is 4 bytes"))?,
        ),
        rtype::AAAA => RData::Aaaa(
            r.msg[start..end]
                .try_into()
                .map_err(|_| bad("an AAAA record is 16 bytes (RFC 3596 2.2)"))?,
        ),
        rtype::CNAME | rtype::NS | rtype::SOA | rtype::MX => {
            // Names inside RDATA may be compressed (RFC 1035 4.1.4 allows it for these
            // well-known types); read them from a view that ends at RDLENGTH, so that a name
            // cannot run past its record, while pointers still reach back into the message.
            let mut d = Reader {
                msg: &r.msg[..end],
                pos: start,
            };
            let data = match rtype {
                rtype::SOA => {
                    let mname = d.name()?;
                    let rname = d.name()?;
                    let mut numbers = [0u32; 5];
                    for n in &mut numbers {
                        *n = d.u32()?;
                    }
                    RData::Soa {
                        mname,
                        rname,
                        numbers,
                    }
                }
                rtype::MX => RData::Mx {
                    preference: d.u16()?,
                    exchange: d.name()?,
                },
                _ => RData::Name(d.name()?),
            };
            if d.pos != end {
                return Err(bad("the data is longer than its fields"));
            }
            data
        }
        rtype::TXT => {
            let mut strings = Vec::new();
            let mut pos = start;
            while pos < end {
                let len = r.msg[pos] as usize;
                if pos + 1 + len > end {
                    return Err(bad("a character string runs past RDLENGTH"));
                }
                strings.push(r.msg[pos + 1..pos + 1 + len].to_vec());
                pos += 1 + len;
            }
            RData::Txt(strings)
        }
        // OPT's options and every unknown type: skipped by RDLENGTH, kept as bytes.
        _ => RData::Raw(r.msg[start..end].to_vec()),
    };
    Ok(Record {
        name,
        rtype,
        class,
        ttl,
        data,
    })
}

/// Writes a message, remembering where each name suffix was written so that later names can
/// point at it: `www.course.test.` written at 12 makes `course.test.` known at 16 and
/// `test.` at 23.
#[derive(Default)]
pub struct Encoder {
    pub out: Vec<u8>,
    /// Suffixes written so far, in their exact bytes (case kept: a pointer must give back the
    /// same bytes), and where.
    suffixes: HashMap<Vec<u8>, u16>,
    /// The order they were added in, to undo a rolled-back RRset.
    added: Vec<Vec<u8>>,
}

/// A point to roll the encoder back to.
#[derive(Clone, Copy)]
pub struct Mark {
    len: usize,
    added: usize,
}

impl Encoder {
    pub fn mark(&self) -> Mark {
        Mark {
            len: self.out.len(),
            added: self.added.len(),
        }
    }

    pub fn rollback(&mut self, mark: Mark) {
        self.out.truncate(mark.len);
        for key in self.added.drain(mark.added..) {
            self.suffixes.remove(&key);
        }
    }

    /// Write a name; with `compress`, its longest suffix already written becomes a pointer.
    pub fn name(&mut self, name: &Name, compress: bool) {
        let labels = name.labels();
        for i in 0..labels.len() {
            let key = suffix_key(&labels[i..]);
            if compress {
                if let Some(&at) = self.suffixes.get(&key) {
                    self.out.extend_from_slice(&(0xc000 | at).to_be_bytes());
                    return;
                }
            }
            // Pointers have 14 bits: a suffix written past 16383 cannot be pointed at.
            if self.out.len() < 0x4000 && !self.suffixes.contains_key(&key) {
                self.suffixes.insert(key.clone(), self.out.len() as u16);
                self.added.push(key);
            }
            self.out.push(labels[i].len() as u8);
            self.out.extend_from_slice(&labels[i]);
        }
        self.out.push(0);
    }

    /// Write one record, its RDLENGTH filled in after its data.
    pub fn record(&mut self, r: &Record) {
        self.name(&r.name, true);
        self.out.extend_from_slice(&r.rtype.to_be_bytes());
        self.out.extend_from_slice(&r.class.to_be_bytes());
        self.out.extend_from_slice(&r.ttl.to_be_bytes());
        let at = self.out.len();
        self.out.extend_from_slice(&[0, 0]);
        match &r.data {
            RData::A(a) => self.out.extend_from_slice(a),
            RData::Aaaa(a) => self.out.extend_from_slice(a),
            RData::Name(n) => self.name(n, true),
            RData::Soa {
                mname,
                rname,
                numbers,
            } => {
                self.name(mname, true);
                self.name(rname, true);
                for n in numbers {
                    self.out.extend_from_slice(&n.to_be_bytes());
                }
            }
            RData::Mx {
                preference,
                exchange,
            } => {
                self.out.extend_from_slice(&preference.to_be_bytes());
                self.name(exchange, true);
            }
            RData::Txt(strings) => {
                for s in strings {
                    let s = &s[..s.len().min(255)];
                    self.out.push(s.len() as u8);
                    self.out.extend_from_slice(s);
                }
            }
            RData::Raw(bytes) => self.out.extend_from_slice(bytes),
        }
        let len = (self.out.len() - at - 2) as u16;
        self.out[at..at + 2].copy_from_slice(&len.to_be_bytes());
    }
}

/// The wire form of the labels `labels` (a name's suffix), as the compression table's key.
fn suffix_key(labels: &[Vec<u8>]) -> Vec<u8> {
    let mut key = Vec::new();
    for label in labels {
        key.push(label.len() as u8);
        key.extend_from_slice(label);
    }
    key
}

/// Build a query: one question, RD as given, and an OPT record advertising `edns` bytes when
/// `Some` (RFC 6891 6.1.2: owner root, CLASS the UDP payload size, TTL 0: version 0, DO clear).
pub fn query(id: u16, name: &Name, qtype: u16, rd: bool, edns: Option<u16>) -> Vec<u8> {
    let msg = Message {
        header: Header {
            id,
            rd,
            ..Header::default()
        },
        questions: vec![Question {
            name: name.clone(),
            qtype,
            qclass: super::CLASS_IN,
        }],
        additional: edns.map(opt_record).into_iter().collect(),
        ..Message::default()
    };
    msg.encode()
}

/// An OPT record advertising `udp_size`, extended RCODE 0, version 0.
pub fn opt_record(udp_size: u16) -> Record {
    Record {
        name: Name::root(),
        rtype: rtype::OPT,
        class: udp_size,
        ttl: 0,
        data: RData::Raw(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::{rcode, CLASS_IN};
    use proptest::prelude::*;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    fn rec(owner: &str, rtype: u16, data: RData) -> Record {
        Record {
            name: name(owner),
            rtype,
            class: CLASS_IN,
            ttl: 300,
            data,
        }
    }

    fn reply() -> Message {
        Message {
            header: Header {
                id: 0xbeef,
                qr: true,
                aa: true,
                rd: true,
                ..Header::default()
            },
            questions: vec![Question {
                name: name("alias.course.test"),
                qtype: rtype::A,
                qclass: CLASS_IN,
            }],
            answers: vec![
                rec(
                    "alias.course.test",
                    rtype::CNAME,
                    RData::Name(name("www.course.test")),
                ),
                rec("www.course.test", rtype::A, RData::A([192, 0, 2, 10])),
            ],
            authority: vec![rec(
                "course.test",
                rtype::SOA,
                RData::Soa {
                    mname: name("ns1.course.test"),
                    rname: name("hostmaster.course.test"),
                    numbers: [1, 2, 3, 4, 5],
                },
            )],
            additional: vec![
                rec(
                    "course.test",
                    rtype::TXT,
                    RData::Txt(vec![b"hi".to_vec(), vec![]]),
                ),
                rec(
                    "mx.course.test",
                    rtype::MX,
                    RData::Mx {
                        preference: 10,
                        exchange: name("www.course.test"),
                    },
                ),
                rec("x.course.test", 99, RData::Raw(vec![1, 2, 3])),
                opt_record(1232),
            ],
        }
    }

    #[test]
    fn header_flags_round_trip_bit_by_bit() {
        for bit in 0..16 {
            let flags = 1u16 << bit;
            assert_eq!(Header::from_flags(7, flags).flags(), flags, "bit {bit}");
        }
        let h = Header::from_flags(1, 0x8580); // qr, aa, rd, ra
        assert_eq!(h.flag_words(), "qr aa rd ra");
        assert_eq!(h.rcode, rcode::NOERROR);
    }

    #[test]
    fn encode_then_parse_gives_the_message_back_and_compresses() {
        let m = reply();
        let wire = m.encode();
        assert_eq!(Message::parse(&wire).unwrap(), m);
        // The CNAME's owner is the question's name: a pointer to offset 12.
        let q_end = HEADER_LEN + name("alias.course.test").wire_len() + 4;
        assert_eq!(&wire[q_end..q_end + 2], &[0xc0, 12]);
        // www.course.test inside the CNAME's data: "www" then a pointer to course.test (18).
        let uncompressed: usize = HEADER_LEN + 1000;
        assert!(wire.len() < uncompressed);
    }

    #[test]
    fn every_truncated_prefix_of_a_valid_message_fails_cleanly() {
        let wire = reply().encode();
        for n in 0..wire.len() {
            let e = Message::parse(&wire[..n]).unwrap_err();
            assert!(matches!(e.rule, Rule::Truncated { .. }), "prefix {n}: {e}");
        }
    }

    #[test]
    fn an_unknown_type_is_skipped_by_its_rdlength() {
        let mut wire = query(1, &name("a.test"), rtype::A, true, None);
        wire[7] = 2; // ANCOUNT 2
                     // TYPE65280 with 5 bytes of data that look like a name gone wrong, then an A record.
        wire.extend_from_slice(b"\x00\xff\x00\x00\x01\x00\x00\x00\x05\x00\x05\xc0\xff\x40\x00\x01");
        wire.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x01\x02\x03\x04");
        let m = Message::parse(&wire).unwrap();
        assert_eq!(
            m.answers[0].data,
            RData::Raw(vec![0xc0, 0xff, 0x40, 0x00, 0x01])
        );
        assert_eq!(m.answers[1].data, RData::A([1, 2, 3, 4]));
    }

    #[test]
    fn a_record_whose_rdlength_runs_past_the_end_is_refused() {
        let mut wire = query(1, &name("a.test"), rtype::A, true, None);
        wire[7] = 1;
        wire.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x09\x01\x02\x03\x04");
        let e = Message::parse(&wire).unwrap_err();
        assert_eq!(e.rule, Rule::Truncated { needed: 5 });
        assert_eq!(e.offset, wire.len() - 4);
    }

    #[test]
    fn a_name_inside_rdata_may_not_run_past_rdlength() {
        let mut wire = query(1, &name("a.test"), rtype::CNAME, true, None);
        wire[7] = 1;
        // CNAME with RDLENGTH 2 but a name "b" + root of 3 bytes.
        wire.extend_from_slice(b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x05\x00\x02\x01b\x00");
        let e = Message::parse(&wire).unwrap_err();
        assert!(matches!(e.rule, Rule::Truncated { .. }), "{e}");
        // A and AAAA must have their exact sizes.
        let mut wire = query(1, &name("a.test"), rtype::A, true, None);
        wire[7] = 1;
        wire.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x03\x01\x02\x03");
        assert!(matches!(
            Message::parse(&wire).unwrap_err().rule,
            Rule::BadRdata { .. }
        ));
    }

    #[test]
    fn truncation_keeps_whole_rrsets_and_the_opt_record() {
        let mut m = reply();
        m.answers = (1..=40)
            .map(|i| rec("big.course.test", rtype::A, RData::A([192, 0, 2, i])))
            .collect();
        let (full, tc) = m.encode_within(usize::MAX);
        assert!(!tc && full.len() > 512);
        let (cut, tc) = m.encode_within(512);
        assert!(tc && cut.len() <= 512);
        let parsed = Message::parse(&cut).unwrap();
        assert!(parsed.header.tc);
        // The 40 A records are one RRset: it did not fit, so none of it is there, nor anything
        // after it; the OPT record is.
        assert!(parsed.answers.is_empty() && parsed.authority.is_empty());
        assert_eq!(parsed.additional, vec![opt_record(1232)]);
        // The rolled-back names are not pointed at by what follows.
        assert_eq!(parsed.questions, m.questions);
    }

    #[test]
    fn an_opt_record_keeps_its_place_when_nothing_is_cut() {
        // The fuzz target's round-trip property: the OPT before another additional record
        // must come back there, not moved to the end.
        let mut m = reply();
        m.additional.rotate_right(1); // OPT first
        assert_eq!(Message::parse(&m.encode()).unwrap(), m);
    }

    #[test]
    fn an_opt_record_in_the_answer_section_is_just_a_record() {
        // Found by the fuzz target: an OPT outside the additional section once made the
        // encoder count it among the additional section's OPT records and slice past them.
        let mut m = reply();
        m.answers.push(opt_record(512));
        assert_eq!(Message::parse(&m.encode()).unwrap(), m);
        let (_, tc) = m.encode_within(100);
        assert!(tc);
    }

    fn arb_name() -> impl Strategy<Value = Name> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 1..8), 0..5)
            .prop_map(|labels| Name::from_labels(labels).unwrap())
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        let data = prop_oneof![
            (any::<[u8; 4]>()).prop_map(|a| (rtype::A, RData::A(a))),
            (any::<[u8; 16]>()).prop_map(|a| (rtype::AAAA, RData::Aaaa(a))),
            arb_name().prop_map(|n| (rtype::CNAME, RData::Name(n))),
            (arb_name(), arb_name(), any::<[u32; 5]>()).prop_map(|(mname, rname, numbers)| (
                rtype::SOA,
                RData::Soa {
                    mname,
                    rname,
                    numbers
                }
            )),
            (any::<u16>(), arb_name()).prop_map(|(preference, exchange)| (
                rtype::MX,
                RData::Mx {
                    preference,
                    exchange
                }
            )),
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 0..3)
                .prop_map(|s| (rtype::TXT, RData::Txt(s))),
            (300u16..400, prop::collection::vec(any::<u8>(), 0..12))
                .prop_map(|(t, b)| (t, RData::Raw(b))),
        ];
        (arb_name(), data, any::<u16>(), any::<u32>()).prop_map(
            |(name, (rtype, data), class, ttl)| Record {
                name,
                rtype,
                class,
                ttl,
                data,
            },
        )
    }

    proptest! {
        /// Whatever the names share, compression must give every one of them back exactly.
        #[test]
        fn encode_parse_round_trip(
            id in any::<u16>(),
            flags in any::<u16>(),
            qname in arb_name(),
            answers in prop::collection::vec(arb_record(), 0..6),
            authority in prop::collection::vec(arb_record(), 0..3),
        ) {
            let m = Message {
                header: Header::from_flags(id, flags),
                questions: vec![Question { name: qname, qtype: 1, qclass: 1 }],
                answers,
                authority,
                additional: vec![],
            };
            let wire = m.encode();
            prop_assert_eq!(Message::parse(&wire).unwrap(), m);
        }
    }
}
