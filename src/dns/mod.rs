//! DNS (RFC 1034, RFC 1035 and their updates), sans-IO: lesson 15.
//!
//! A DNS message is one binary structure for every purpose: the question a stub resolver asks,
//! the answer an authoritative server gives, over UDP (one message per datagram) or TCP (each
//! message behind a 2-byte length). This module reads and writes that structure and builds the
//! two programs of lesson 15 on top of it, with no socket and no clock in sight:
//!
//! | file | what it holds |
//! |---|---|
//! | [`name`] | domain names: labels, the 63/255 limits, compression pointers read with bounds checks and a hop limit |
//! | [`message`] | the header ([`HEADER_LAYOUT`](message::HEADER_LAYOUT)), questions, records; the parser and the encoder (compression, truncation at record boundaries) |
//! | [`tcp`] | the 2-byte length prefix of DNS over TCP: a streaming deframer |
//! | [`zone`] | the master-file subset of lesson 15's zone files, and lookups in a zone |
//! | [`server`] | the authoritative answerer: query bytes in, reply bytes (or silence) out |
//! | [`resolver`] | the stub resolver's state machine: build a query, judge a reply, chase CNAMEs |
//! | [`dissect`] | `--trace`: an annotated hexdump of a message, every field and label named |
//!
//! Parsing takes a whole message (a datagram, or what the deframer hands over) and either gives
//! a [`Message`](message::Message) or a [`DnsError`] naming the byte offset and the rule broken.
//! Once a length has been checked nothing indexes past it: every accessor is bounds-checked, so
//! no input makes the parser panic (the fuzz target `dns_message` holds it to that).

pub mod dissect;
pub mod message;
pub mod name;
pub mod resolver;
pub mod server;
pub mod tcp;
pub mod zone;

use std::fmt;

/// Record types this course knows by name (RFC 1035 3.2.2, RFC 3596, RFC 6891). Any other type
/// is carried as raw bytes and skipped by its RDLENGTH.
pub mod rtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const OPT: u16 = 41;
    pub const IXFR: u16 = 251;
    pub const AXFR: u16 = 252;
    pub const ANY: u16 = 255;
}

/// The one class in use on the Internet (RFC 1035 3.2.4).
pub const CLASS_IN: u16 = 1;

/// Response codes (RFC 1035 4.1.1; 16 BADVERS is an extended RCODE, RFC 6891 9).
pub mod rcode {
    pub const NOERROR: u8 = 0;
    pub const FORMERR: u8 = 1;
    pub const SERVFAIL: u8 = 2;
    pub const NXDOMAIN: u8 = 3;
    pub const NOTIMP: u8 = 4;
    pub const REFUSED: u8 = 5;
    pub const BADVERS: u16 = 16;
}

/// A type number in words: `A`, `AAAA`, or `TYPE99` (RFC 3597's name for a type without one).
pub fn type_name(t: u16) -> String {
    match t {
        rtype::A => "A".into(),
        rtype::NS => "NS".into(),
        rtype::CNAME => "CNAME".into(),
        rtype::SOA => "SOA".into(),
        rtype::MX => "MX".into(),
        rtype::TXT => "TXT".into(),
        rtype::AAAA => "AAAA".into(),
        rtype::OPT => "OPT".into(),
        rtype::IXFR => "IXFR".into(),
        rtype::AXFR => "AXFR".into(),
        rtype::ANY => "ANY".into(),
        other => format!("TYPE{other}"),
    }
}

/// The reverse of [`type_name`], ignoring case: `aaaa` is 28, `TYPE99` is 99.
pub fn type_from_name(s: &str) -> Option<u16> {
    let up = s.to_ascii_uppercase();
    let known = [
        rtype::A,
        rtype::NS,
        rtype::CNAME,
        rtype::SOA,
        rtype::MX,
        rtype::TXT,
        rtype::AAAA,
        rtype::ANY,
    ];
    if let Some(&t) = known.iter().find(|&&t| type_name(t) == up) {
        return Some(t);
    }
    up.strip_prefix("TYPE")?.parse().ok()
}

/// An RCODE in words, as dig prints it.
pub fn rcode_name(code: u16) -> String {
    match code {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        16 => "BADVERS".into(),
        other => format!("RCODE{other}"),
    }
}

/// What was wrong with a message: where, and which rule it broke. The one error type of the
/// DNS layer; the server turns it into FORMERR, the resolver into "ignore this datagram".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsError {
    /// Byte offset in the message (or line number, for a zone file: see [`zone::ZoneError`]).
    pub offset: usize,
    pub rule: Rule,
}

/// The rules a message can break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// The message ends inside a field that needs `needed` more bytes.
    Truncated { needed: usize },
    /// A label's length byte starts with bits 01 or 10: reserved label types (RFC 1035 4.1.4,
    /// RFC 6891 5 retired the extended label types).
    ReservedLabelType(u8),
    /// A name longer than 255 bytes in wire form (RFC 1035 3.1).
    NameTooLong,
    /// A compression pointer to `target` that does not point strictly backwards, before the
    /// bytes already read for this name: the only kind this reader accepts, which makes loops
    /// impossible.
    PointerNotBackward { target: usize },
    /// More compression pointers in one name than [`name::MAX_POINTERS`].
    TooManyPointers,
    /// A record's data does not have the shape its type requires (an A record of 5 bytes, a
    /// CNAME whose name ends before or after RDLENGTH).
    BadRdata { rtype: u16, why: &'static str },
    /// A label longer than 63 bytes, or empty, in a name being built (encoder side).
    BadLabel,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: ", self.offset)?;
        match &self.rule {
            Rule::Truncated { needed } => write!(
                f,
                "the message ends {needed} byte(s) too early, inside a field"
            ),
            Rule::ReservedLabelType(b) => write!(
                f,
                "length byte 0x{b:02x} starts with bits {}: a reserved label type (RFC 1035 4.1.4: only 00, a label, and 11, a pointer, are defined); a label is at most 63 bytes",
                if b & 0xc0 == 0x40 { "01" } else { "10" }
            ),
            Rule::NameTooLong => write!(
                f,
                "the name is longer than 255 bytes (RFC 1035 3.1: \"the total length of a domain name ... is restricted to 255 octets or less\")"
            ),
            Rule::PointerNotBackward { target } => write!(
                f,
                "a compression pointer to offset {target} does not point back before the name being read: refused (a forward pointer, a pointer past the end or one that loops)"
            ),
            Rule::TooManyPointers => write!(
                f,
                "more than {} compression pointers in one name: refused as a loop",
                name::MAX_POINTERS
            ),
            Rule::BadRdata { rtype, why } => {
                write!(f, "{} record data: {why}", type_name(*rtype))
            }
            Rule::BadLabel => write!(f, "a label must be 1 to 63 bytes (RFC 1035 2.3.4)"),
        }
    }
}

impl std::error::Error for DnsError {}

impl DnsError {
    pub fn new(offset: usize, rule: Rule) -> Self {
        DnsError { offset, rule }
    }
}
