//! Checks for lesson 15, an authoritative DNS server (RFC 1034, RFC 1035) for the grader's own
//! zone, over UDP and TCP on one port.
//!
//! The server must serve `lessons/15-dns/grader.zone` (embedded here as [`ZONE`]). With
//! `--cmd`, the grader writes that zone to a temporary file and replaces `{zone}` in the command
//! with its path:
//!
//! ```text
//! course check 15 --cmd "target/debug/15-dns server --zone {zone} --addr 127.0.0.1:0"
//! ```
//!
//! With `--addr`, start the server on `lessons/15-dns/grader.zone` yourself; one `--addr IP:PORT`
//! is enough, since UDP and TCP share the port.
//!
//! What the checks expect is written out below as text, record by record
//! (`www.course.test. 300 IN A 192.0.2.10`), straight from the zone file: nothing here uses
//! `src/dns`. Queries come from [`Query::bytes`], a dozen lines from the figures of RFC 1035
//! 4.1; replies are read by [`parse`], a strict reader that checks every count, length and
//! compression pointer and says what was wrong and at which byte. Every reply of every check
//! goes through it, so a malformed reply fails whichever check receives it.
//!
//! Datagrams can be lost even on loopback, so a UDP question is asked up to three times; a
//! correct server never needs the retries. Where the right answer is silence (a response sent
//! to the server, a malformed query), the grader listens for a bounded time, then proves the
//! server is still alive with an ordinary query.

use super::wire::{self, timed_out};
use super::{Check, Ctx, Failure, Suite};
use std::io::{self, Read};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::thread;
use std::time::{Duration, Instant};

/// The zone every check asks about.
pub const ZONE: &str = include_str!("../../lessons/15-dns/grader.zone");
/// Where it lives in the repository (for a learner who starts the server with `--addr`).
pub const ZONE_PATH: &str = "lessons/15-dns/grader.zone";

/// A sentence for the first failure a learner sees: the server may simply be serving another zone.
const ZONE_HINT: &str = "Is the server serving the grader's zone? With --cmd, write {zone} where \
     your server takes its zone file (`--zone {zone}`): the grader puts a copy of its zone there. \
     With --addr, start your server on lessons/15-dns/grader.zone.";

pub const SUITE: Suite = Suite {
    lesson: 15,
    listeners: &["udp", "tcp"],
    checks: &[
        Check {
            name: "wrong_a_record",
            misconception: "An answer is whole records: the owner name, TYPE 1, CLASS 1 (IN), the record's own \
                            TTL (the zone's $TTL only when the line gives none), RDLENGTH 4 and the four address \
                            bytes in network order (RFC 1035 3.2.1, 3.4.1).",
            run: a_records,
        },
        Check {
            name: "answers_with_a_different_id",
            misconception: "The ID is how a client matches a reply to its query: \"This identifier is copied \
                            [into] the corresponding reply\" (RFC 1035 4.1.1), both bytes, in network order.",
            run: ids_are_copied,
        },
        Check {
            name: "forgets_the_qr_bit",
            misconception: "QR is the top bit of byte 2: 0 in a query, 1 in a response (RFC 1035 4.1.1). A reply \
                            without it looks like another query, and a client drops it.",
            run: qr_is_set,
        },
        Check {
            name: "does_not_copy_the_question",
            misconception: "The reply repeats the question byte for byte, case included: resolvers send names in \
                            random case (\"0x20\") and drop a reply whose question differs (dig: \"question section \
                            mismatch\").",
            run: question_is_copied,
        },
        Check {
            name: "matches_names_case_sensitively",
            misconception: "\"comparisons between character strings (e.g., labels, domain names, etc.) are done in \
                            a case-insensitive manner\" (RFC 1035 2.3.3, RFC 4343): WWW.Course.TEST is \
                            www.course.test.",
            run: names_match_in_any_case,
        },
        Check {
            name: "does_not_copy_rd",
            misconception: "RD (recursion desired) \"is set in a query and is copied into the response\" (RFC 1035 \
                            4.1.1): set when it was set, clear when it was clear.",
            run: rd_is_copied,
        },
        Check {
            name: "claims_recursion_available",
            misconception: "RA says the server would recurse for the client. An authoritative-only server does not, \
                            so RA stays clear, whatever RD asked.",
            run: ra_is_clear,
        },
        Check {
            name: "forgets_authoritative_answer",
            misconception: "AA says the answer comes from the zone's own server (RFC 1035 4.1.1). Every answer \
                            about its zone sets it: records, NXDOMAIN and NODATA alike.",
            run: aa_is_set,
        },
        Check {
            name: "wrong_aaaa_record",
            misconception: "AAAA data is the 16 bytes of the IPv6 address (RFC 3596 2.2): `::` stands for as many \
                            zero groups as are missing, in the middle, not at the end.",
            run: aaaa_records,
        },
        Check {
            name: "mangles_txt_strings",
            misconception: "TXT data is one or more <character-string>s, each a length byte and up to 255 bytes \
                            (RFC 1035 3.3, 3.3.14): two quoted strings in the zone are two strings on the wire, \
                            and `\\\"` inside one is a quote, `;` inside one is not a comment.",
            run: txt_records,
        },
        Check {
            name: "wrong_name_in_rdata",
            misconception: "Names inside record data (NS, MX's exchange, SOA's MNAME and RNAME) follow the zone \
                            file's rule: a name without a final dot is relative to $ORIGIN (RFC 1035 5.1).",
            run: names_in_rdata,
        },
        Check {
            name: "does_not_follow_cnames_in_the_zone",
            misconception: "A query for another type at an alias gets the CNAME, then the answer for its target \
                            (RFC 1034 4.3.2 step 3a: \"change QNAME to the canonical name in the CNAME RR, and go \
                            back to step 1\"), chains included, the CNAME first.",
            run: cnames_are_followed,
        },
        Check {
            name: "fails_a_cname_that_leaves_the_zone",
            misconception: "When a CNAME points outside the zone the server has nothing more to say: the answer is \
                            the CNAME alone, NOERROR. The resolver follows it elsewhere; it is not NXDOMAIN or \
                            REFUSED.",
            run: cname_out_of_zone,
        },
        Check {
            name: "answers_cname_queries_with_the_target",
            misconception: "A query of type CNAME asks for the alias record itself: the answer is the CNAME only, \
                            not followed (RFC 1034 3.6.2).",
            run: cname_queries,
        },
        Check {
            name: "nxdomain_without_soa",
            misconception: "NXDOMAIN (RCODE 3) carries the zone's SOA in the authority section, so that resolvers \
                            know how long to remember the name does not exist: its TTL is the smaller of the SOA's \
                            TTL and its MINIMUM field (RFC 2308 3).",
            run: nxdomain_has_soa,
        },
        Check {
            name: "confuses_nodata_with_nxdomain",
            misconception: "A name that exists without records of the asked type, or that has only names below \
                            it (an empty non-terminal, RFC 8020), is NOERROR with an empty answer and the SOA \
                            (NODATA, RFC 2308 2.2). NXDOMAIN would tell a resolver the whole name is gone.",
            run: nodata_is_not_nxdomain,
        },
        Check {
            name: "answers_outside_the_zone",
            misconception: "An authoritative server answers for its zone only: the origin and names that end in \
                            `.` + origin, label by label (notcourse.test is not in course.test). Anything else \
                            is REFUSED (RCODE 5).",
            run: refuses_other_zones,
        },
        Check {
            name: "answers_unknown_opcodes",
            misconception: "Only OPCODE 0 (QUERY) is a question. Others (2 STATUS, 4 NOTIFY, 5 UPDATE) get \
                            NOTIMP (RCODE 4), with the opcode copied, not an answer to a question never asked.",
            run: other_opcodes,
        },
        Check {
            name: "answers_responses",
            misconception: "A message with QR=1 is a response: never answer it. Two servers that answer answers \
                            bounce one packet between them forever, and a forged source address turns that \
                            into a reflection attack.",
            run: responses_get_no_answer,
        },
        Check {
            name: "loops_on_compression_pointers",
            misconception: "A name read from the network may point at itself or forward: follow a pointer only \
                            backward (\"a prior occurance [sic] of the same name\", RFC 1035 4.1.4), with bounds checks \
                            and a hop limit, and answer FORMERR (or nothing), never loop.",
            run: pointer_loops,
        },
        Check {
            name: "answers_a_malformed_question",
            misconception: "A query whose question is cut short, missing, or doubled (QDCOUNT 0 or 2) is a format \
                            error: FORMERR (RCODE 1) when the 12-byte header was readable, otherwise nothing, \
                            and the server goes on serving everyone else.",
            run: malformed_questions,
        },
        Check {
            name: "accepts_a_label_over_63",
            misconception: "A label is at most 63 bytes (RFC 1035 2.3.4): a length byte of 64 to 191 has its top \
                            bits 01 or 10, label types that are reserved (4.1.4), and the query is FORMERR.",
            run: long_labels,
        },
        Check {
            name: "accepts_a_name_over_255",
            misconception: "A name is at most 255 bytes on the wire, length bytes included (RFC 1035 2.3.4, \
                            3.1): a longer one is a format error (FORMERR), however its labels are cut.",
            run: long_names,
        },
        Check {
            name: "accepts_two_opt_records",
            misconception: "\"If a query message with more than one OPT RR is received, a FORMERR (RCODE=1) \
                            MUST be returned\" (RFC 6891 6.1.1): which of the two would the server believe?",
            run: two_opt_records,
        },
        Check {
            name: "ignores_edns",
            misconception: "A query with an OPT record (RFC 6891) gets one back: owner root, TYPE 41, CLASS the \
                            server's UDP payload size (at least 512), TTL 0 (extended RCODE 0, version 0). A query \
                            without OPT gets none.",
            run: edns_is_answered,
        },
        Check {
            name: "ignores_the_edns_version",
            misconception: "An OPT of version 1 asks for EDNS the server does not speak: the answer is BADVERS, \
                            extended RCODE 16, split as header RCODE 0 and OPT TTL top byte 1, with the OPT's \
                            version 0 (RFC 6891 6.1.3).",
            run: edns_version,
        },
        Check {
            name: "sends_oversized_udp_replies",
            misconception: "Without EDNS a UDP reply is at most 512 bytes (RFC 1035 4.2.1); with EDNS at most the \
                            size the client offered. A longer answer is cut at a record boundary with TC set, and \
                            the client asks again over TCP.",
            run: udp_size_limits,
        },
        Check {
            name: "truncates_even_when_edns_allows_more",
            misconception: "EDNS exists to lift the 512-byte limit: when the client offers 1232 and the server's own \
                            size is 1232 (the contract's default), a 700-byte answer goes whole, TC clear.",
            run: edns_allows_more,
        },
        Check {
            name: "treats_a_small_edns_size_literally",
            misconception: "\"Values lower than 512 MUST be treated as equal to 512\" (RFC 6891 6.2.5): an OPT \
                            offering 100 bytes still gets a whole 230-byte answer.",
            run: small_edns_size,
        },
        Check {
            name: "truncates_over_tcp",
            misconception: "The 512-byte and EDNS limits are for UDP. Over TCP a reply is whole, up to 65535 bytes, \
                            and TC is never set: TCP is where a client goes after a TC reply.",
            run: tcp_is_whole,
        },
        Check {
            name: "forgets_the_tcp_length_prefix",
            misconception: "Over TCP \"the message is prefixed with a two byte length field which gives the message \
                            length, excluding the two byte length field\" (RFC 1035 4.2.2), in both directions.",
            run: tcp_length_prefix,
        },
        Check {
            name: "assumes_one_read_is_one_message",
            misconception: "TCP delivers bytes, not messages: a read may hold part of a query or several \
                            (RFC 7766 6.2.1 pipelining). Buffer until the 2-byte length and that many bytes are \
                            in, answer, and loop while whole messages remain.",
            run: tcp_reads_any_chunking,
        },
        Check {
            name: "closes_tcp_after_one_query",
            misconception: "A TCP connection carries as many queries as the client sends (RFC 7766 6.2.1); the \
                            server keeps it open until the client closes or it sits idle too long.",
            run: tcp_many_queries,
        },
        Check {
            name: "blocks_on_a_stalled_tcp_client",
            misconception: "A TCP client may send half a query and stop. Reading the rest with a blocking read \
                            freezes the server for everyone: keep the half in a buffer and serve the others (the \
                            event loop of lesson 05).",
            run: stalled_tcp_client,
        },
        Check {
            name: "dies_on_a_reset_connection",
            misconception: "A TCP client may vanish at any moment: a reset (RST) mid-query makes the next read \
                            fail with ECONNRESET, and a reset before the reply makes the write fail (EPIPE). \
                            Those errors close that one connection; the server goes on. A client that half-closes \
                            after its query still gets the answer.",
            run: reset_connections,
        },
        Check {
            name: "replies_to_the_wrong_client",
            misconception: "Every client shares the server's one UDP socket: answer each datagram to the address \
                            recvfrom() returned with it, not to the first client (a connect()ed socket) or the \
                            last one.",
            run: udp_clients_take_turns,
        },
        Check {
            name: "udp_and_tcp_on_different_ports",
            misconception: "A DNS server listens on the same port for UDP and TCP: a client that gets TC retries \
                            over TCP at the address it just asked over UDP (RFC 1035 4.2, RFC 7766 5).",
            run: one_port,
        },
        Check {
            name: "miscounts_compression_offsets",
            misconception: "A compression pointer is an offset from the first byte of the DNS message (RFC 1035 \
                            4.1.4): over TCP the 2-byte length prefix is not part of the message and is not \
                            counted. The question's name is at offset 12 over both transports.",
            run: compression_offsets,
        },
    ],
};

// ---- The zone, as the checks expect it ------------------------------------------------------------

const ORIGIN: &str = "course.test.";
const SOA_DATA: &str = "ns1.course.test. hostmaster.course.test. 2026112201 3600 600 86400 60";
/// The SOA's TTL in a negative answer: min(SOA TTL 300, MINIMUM 60) (RFC 2308 3).
const NEGATIVE_TTL: u32 = 60;

/// `name` relative to the origin (`@` is the origin itself) as an absolute name.
fn fqdn(name: &str) -> String {
    match name {
        "@" => ORIGIN.to_string(),
        n if n.ends_with('.') => n.to_string(),
        n => format!("{n}.{ORIGIN}"),
    }
}

/// One expected record, written the way [`Record::line`] prints a received one.
fn rr(owner: &str, ttl: u32, rtype: &str, data: &str) -> String {
    format!("{} {ttl} IN {rtype} {data}", fqdn(owner))
}

fn negative_soa() -> Vec<String> {
    vec![rr("@", NEGATIVE_TTL, "SOA", SOA_DATA)]
}

fn big() -> Vec<String> {
    (1..=40)
        .map(|i| rr("big", 300, "A", &format!("192.0.2.{i}")))
        .collect()
}

fn medium() -> Vec<String> {
    (101..=112)
        .map(|i| rr("medium", 300, "A", &format!("192.0.2.{i}")))
        .collect()
}

fn huge() -> Vec<String> {
    (1..=20)
        .map(|i| {
            let start = format!("huge record {i:02} ");
            let text: String = start
                .chars()
                .chain("abcdefghijklmnopqrstuvwxyz".chars().cycle())
                .take(240)
                .collect();
            rr("huge", 300, "TXT", &format!("\"{text}\""))
        })
        .collect()
}

/// Write the zone to a temporary file (named after its contents, so every run and every test
/// shares one) and put its path where `{zone}` is in `cmd`.
pub fn with_zone_file(cmd: &str) -> String {
    if !cmd.contains("{zone}") {
        return cmd.to_string();
    }
    let path = zone_file().unwrap_or_else(|_| PathBuf::from(ZONE_PATH));
    cmd.replace("{zone}", &path.display().to_string())
}

fn zone_file() -> io::Result<PathBuf> {
    // FNV-1a of the text: a new zone gets a new file.
    let hash = ZONE.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = std::env::temp_dir().join(format!("netcourse-grader-15-{hash:016x}.zone"));
    if std::fs::read_to_string(&path).is_ok_and(|text| text == ZONE) {
        return Ok(path);
    }
    // Write a private copy and rename it into place, so that a server started by a parallel
    // run never reads a half-written file.
    let private = path.with_extension(format!(
        "{}.{:?}",
        std::process::id(),
        thread::current().id()
    ));
    std::fs::write(&private, ZONE)?;
    std::fs::rename(&private, &path)?;
    Ok(path)
}

// ---- Queries, written out by hand (RFC 1035 4.1) ---------------------------------------------------

const A: u16 = 1;
const NS: u16 = 2;
const CNAME: u16 = 5;
const SOA: u16 = 6;
const MX: u16 = 15;
const TXT: u16 = 16;
const AAAA: u16 = 28;
const OPT: u16 = 41;

const NOERROR: u8 = 0;
const FORMERR: u8 = 1;
const NXDOMAIN: u8 = 3;
const NOTIMP: u8 = 4;
const REFUSED: u8 = 5;

fn type_name(t: u16) -> String {
    match t {
        A => "A".into(),
        NS => "NS".into(),
        CNAME => "CNAME".into(),
        SOA => "SOA".into(),
        MX => "MX".into(),
        TXT => "TXT".into(),
        AAAA => "AAAA".into(),
        OPT => "OPT".into(),
        t => format!("TYPE{t}"),
    }
}

fn rcode_name(r: u8) -> String {
    match r {
        0 => "NOERROR".into(),
        1 => "FORMERR".into(),
        2 => "SERVFAIL".into(),
        3 => "NXDOMAIN".into(),
        4 => "NOTIMP".into(),
        5 => "REFUSED".into(),
        r => format!("RCODE {r}"),
    }
}

/// An OPT record in a query: the UDP payload size the client offers, and its EDNS version.
#[derive(Debug, Clone, Copy)]
struct Edns {
    size: u16,
    version: u8,
}

/// A query: one question, and an OPT record if `edns` says so.
#[derive(Debug, Clone)]
struct Query {
    id: u16,
    qr: bool,
    opcode: u8,
    rd: bool,
    name: String,
    qtype: u16,
    edns: Option<Edns>,
}

impl Query {
    /// A standard query, RD set (as dig and stub resolvers send it), with a random ID (see
    /// [`random_id`]).
    fn new(ctx: &Ctx, name: &str, qtype: u16) -> Query {
        Query {
            id: random_id(ctx),
            qr: false,
            opcode: 0,
            rd: true,
            name: fqdn(name),
            qtype,
            edns: None,
        }
    }

    fn edns(mut self, size: u16) -> Query {
        self.edns = Some(Edns { size, version: 0 });
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let flags = (u16::from(self.qr) << 15)
            | (u16::from(self.opcode & 0xf) << 11)
            | (u16::from(self.rd) << 8);
        let mut m = header(self.id, flags, 1, u16::from(self.edns.is_some()));
        m.extend(encode_name(&self.name));
        m.extend(self.qtype.to_be_bytes());
        m.extend(1u16.to_be_bytes()); // CLASS IN
        if let Some(e) = self.edns {
            // RFC 6891 6.1.2: owner root, TYPE 41, CLASS = payload size, TTL = extended RCODE,
            // version, DO and Z; RDLENGTH 0.
            m.push(0);
            m.extend(OPT.to_be_bytes());
            m.extend(e.size.to_be_bytes());
            m.extend([0, e.version, 0, 0]);
            m.extend(0u16.to_be_bytes());
        }
        m
    }

    /// "A www.course.test. over UDP (ID 0x1a2b, RD, EDNS 1232)"
    fn describe(&self, via: Via) -> String {
        let mut s = format!(
            "{} {} over {via} (ID {:#06x}",
            type_name(self.qtype),
            self.name,
            self.id
        );
        if self.opcode != 0 {
            s += &format!(", OPCODE {}", self.opcode);
        }
        if self.qr {
            s += ", QR set";
        }
        s += if self.rd { ", RD set" } else { ", RD clear" };
        if let Some(e) = self.edns {
            s += &format!(", EDNS size {} version {}", e.size, e.version);
        }
        s + ")"
    }
}

/// A random ID whose two bytes differ, so that a byte-swapped ID shows, and of at least 0x1000,
/// so that a TCP reply sent without its length prefix (which then starts with the ID) cannot
/// pass for the prefix of a short reply.
fn random_id(ctx: &Ctx) -> u16 {
    loop {
        let id = ctx.below(0x10000) as u16;
        if id >> 8 != id & 0xff && id >= 0x1000 {
            return id;
        }
    }
}

/// The 12-byte header (RFC 1035 4.1.1): ID, flags, QDCOUNT, ANCOUNT 0, NSCOUNT 0, ARCOUNT.
fn header(id: u16, flags: u16, qdcount: u16, arcount: u16) -> Vec<u8> {
    [id, flags, qdcount, 0, 0, arcount]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect()
}

/// A name as labels, each a length byte and its bytes, then the zero byte of the root.
fn encode_name(name: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in name.split('.').filter(|l| !l.is_empty()) {
        out.push(label.len() as u8);
        out.extend(label.as_bytes());
    }
    out.push(0);
    out
}

/// `name` with each letter's case flipped at random, the way resolvers send it ("0x20").
fn mixed_case(ctx: &Ctx, name: &str) -> String {
    let mut flipped = 0;
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphabetic() && ctx.below(2) == 0 {
                flipped += 1;
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    if flipped == 0 {
        out = out.to_ascii_uppercase(); // never all lower case: that would test nothing
    }
    out
}

// ---- Replies, read strictly --------------------------------------------------------------------

/// Why a reply is not a well-formed DNS message, and at which byte.
#[derive(Debug)]
struct ParseError {
    at: usize,
    why: String,
}

fn bad<T>(at: usize, why: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError {
        at,
        why: why.into(),
    })
}

#[derive(Debug, Clone)]
struct Question {
    /// Where its bytes are in the message.
    span: (usize, usize),
}

/// A resource record, its data decoded to the zone file's text form.
#[derive(Debug, Clone)]
struct Record {
    name: String,
    rtype: u16,
    class: u16,
    ttl: u32,
    data: String,
}

impl Record {
    /// "www.course.test. 300 IN A 192.0.2.10"; names in lower case, since names compare
    /// without case and a server may copy the question's case into its answers.
    fn line(&self) -> String {
        if self.rtype == OPT {
            return format!(
                "{} OPT udp-size={} ext-rcode={} version={} flags={:#06x} {}",
                self.name,
                self.class,
                self.ttl >> 24,
                (self.ttl >> 16) & 0xff,
                self.ttl & 0xffff,
                self.data
            );
        }
        let class = match self.class {
            1 => "IN".to_string(),
            c => format!("CLASS{c}"),
        };
        let data = match self.rtype {
            NS | CNAME | SOA | MX => self.data.to_ascii_lowercase(),
            _ => self.data.clone(),
        };
        format!(
            "{} {} {class} {} {data}",
            self.name.to_ascii_lowercase(),
            self.ttl,
            type_name(self.rtype)
        )
    }
}

#[derive(Debug, Clone)]
struct Reply {
    bytes: Vec<u8>,
    id: u16,
    flags: u16,
    questions: Vec<Question>,
    answer: Vec<Record>,
    authority: Vec<Record>,
    additional: Vec<Record>,
}

impl Reply {
    fn qr(&self) -> bool {
        self.flags & 0x8000 != 0
    }
    fn opcode(&self) -> u8 {
        ((self.flags >> 11) & 0xf) as u8
    }
    fn aa(&self) -> bool {
        self.flags & 0x0400 != 0
    }
    fn tc(&self) -> bool {
        self.flags & 0x0200 != 0
    }
    fn rd(&self) -> bool {
        self.flags & 0x0100 != 0
    }
    fn ra(&self) -> bool {
        self.flags & 0x0080 != 0
    }
    fn rcode(&self) -> u8 {
        (self.flags & 0xf) as u8
    }
    fn opts(&self) -> Vec<&Record> {
        self.additional.iter().filter(|r| r.rtype == OPT).collect()
    }

    /// The reply in words, for a failure report.
    fn summary(&self) -> String {
        let mut flags: Vec<&str> = Vec::new();
        for (on, name) in [
            (self.qr(), "QR"),
            (self.aa(), "AA"),
            (self.tc(), "TC"),
            (self.rd(), "RD"),
            (self.ra(), "RA"),
        ] {
            if on {
                flags.push(name);
            }
        }
        let mut s = format!(
            "the reply ({} bytes): ID {:#06x}, OPCODE {}, flags [{}], {}",
            self.bytes.len(),
            self.id,
            self.opcode(),
            flags.join(" "),
            rcode_name(self.rcode())
        );
        for (name, records) in [
            ("answer", &self.answer),
            ("authority", &self.authority),
            ("additional", &self.additional),
        ] {
            if records.is_empty() {
                s += &format!("\n  {name}: (none)");
            }
            // Enough to see what is there: a 40-record answer would bury the rest of the report.
            const SHOWN: usize = 6;
            for r in records.iter().take(SHOWN) {
                s += &format!("\n  {name}: {}", r.line());
            }
            if records.len() > SHOWN {
                s += &format!("\n  {name}: ... and {} more", records.len() - SHOWN);
            }
        }
        s
    }
}

/// Read a whole reply, checking every count, length and pointer: a reply that passes is one
/// any client could read.
fn parse(msg: &[u8]) -> Result<Reply, ParseError> {
    if msg.len() < 12 {
        return bad(
            msg.len(),
            format!("{} bytes, shorter than the 12-byte header", msg.len()),
        );
    }
    let u16_at = |i: usize| u16::from_be_bytes([msg[i], msg[i + 1]]);
    let counts = [u16_at(4), u16_at(6), u16_at(8), u16_at(10)];
    let mut at = 12;
    let mut questions = Vec::new();
    for _ in 0..counts[0] {
        let start = at;
        let (_, end) = read_name(msg, at)?;
        at = end;
        need(msg, at, 4, "the question's TYPE and CLASS")?;
        at += 4;
        questions.push(Question { span: (start, at) });
    }
    let mut sections = [Vec::new(), Vec::new(), Vec::new()];
    let names = ["answer", "authority", "additional"];
    for (s, section) in sections.iter_mut().enumerate() {
        for i in 0..counts[s + 1] {
            let (record, end) = read_record(msg, at).map_err(|e| ParseError {
                at: e.at,
                why: format!(
                    "{} record {} of the {} the header counts: {}",
                    names[s],
                    i + 1,
                    counts[s + 1],
                    e.why
                ),
            })?;
            section.push(record);
            at = end;
        }
    }
    if at != msg.len() {
        return bad(
            at,
            format!(
                "{} bytes follow the last record the header counts",
                msg.len() - at
            ),
        );
    }
    let [answer, authority, additional] = sections;
    Ok(Reply {
        bytes: msg.to_vec(),
        id: u16_at(0),
        flags: u16_at(2),
        questions,
        answer,
        authority,
        additional,
    })
}

fn need(msg: &[u8], at: usize, n: usize, what: &str) -> Result<(), ParseError> {
    if at + n > msg.len() {
        return bad(
            at,
            format!(
                "the message ends ({} bytes) before {what} ({n} bytes at byte {at})",
                msg.len()
            ),
        );
    }
    Ok(())
}

/// Read the name at `start`: its text (case kept) and where the bytes after it begin.
fn read_name(msg: &[u8], start: usize) -> Result<(String, usize), ParseError> {
    let mut text = String::new();
    let mut pos = start;
    let mut after = None; // the first pointer ends the name in place
    let mut wire_len = 1;
    // Where the last pointer followed was, so that an error found where it leads names it.
    let mut came_from: Option<usize> = None;
    let reached = |came_from: Option<usize>, pos: usize| match came_from {
        Some(p) => format!(
            ", reached through the compression pointer at byte {p}, which points to byte {pos}"
        ),
        None => String::new(),
    };
    loop {
        need(msg, pos, 1, "a label's length byte")?;
        let len = msg[pos] as usize;
        match len >> 6 {
            0 if len == 0 => {
                let end = after.unwrap_or(pos + 1);
                return Ok((if text.is_empty() { ".".into() } else { text }, end));
            }
            0 => {
                need(msg, pos + 1, len, "the label's bytes")?;
                wire_len += 1 + len;
                if wire_len > 255 {
                    return bad(
                        pos,
                        "the name is longer than 255 bytes (RFC 1035 2.3.4): a pointer loop?",
                    );
                }
                for &b in &msg[pos + 1..pos + 1 + len] {
                    match b {
                        b'.' | b'\\' => text += &format!("\\{}", b as char),
                        0x21..=0x7e => text.push(b as char),
                        _ => text += &format!("\\{b:03}"),
                    }
                }
                text.push('.');
                pos += 1 + len;
            }
            3 => {
                need(msg, pos, 2, "a compression pointer")?;
                let target = ((len & 0x3f) << 8) | msg[pos + 1] as usize;
                if target >= pos {
                    return bad(
                        pos,
                        format!(
                            "the compression pointer at byte {pos} points to byte {target}: a pointer \
                             must point back to a prior occurrence of the name (RFC 1035 4.1.4){}",
                            if target >= msg.len() { ", and this one points past the end of the message" } else { "" }
                        ),
                    );
                }
                after.get_or_insert(pos + 2);
                came_from = Some(pos);
                pos = target;
            }
            bits => {
                return bad(
                    pos,
                    format!(
                        "byte {pos} is {:#04x}: its top bits {bits:02b} mark a reserved label type \
                         (RFC 1035 4.1.4: 00 is a label of up to 63 bytes, 11 a pointer){}",
                        msg[pos],
                        reached(came_from, pos)
                    ),
                )
            }
        }
    }
}

/// Read one resource record at `at`: the record and where the next begins.
fn read_record(msg: &[u8], at: usize) -> Result<(Record, usize), ParseError> {
    let (name, mut at) = read_name(msg, at)?;
    need(msg, at, 10, "TYPE, CLASS, TTL and RDLENGTH")?;
    let rtype = u16::from_be_bytes([msg[at], msg[at + 1]]);
    let class = u16::from_be_bytes([msg[at + 2], msg[at + 3]]);
    let ttl = u32::from_be_bytes([msg[at + 4], msg[at + 5], msg[at + 6], msg[at + 7]]);
    let rdlength = u16::from_be_bytes([msg[at + 8], msg[at + 9]]) as usize;
    at += 10;
    need(msg, at, rdlength, "the RDATA that RDLENGTH announces")?;
    let end = at + rdlength;
    let rdata = &msg[at..end];
    let wrong_length = |want: &str| {
        bad(
            at,
            format!("{} data of {rdlength} bytes: {want}", type_name(rtype)),
        )
    };
    // A name inside the data must end exactly where RDLENGTH says the data ends.
    let name_in_data = |from: usize| -> Result<(String, usize), ParseError> {
        let (n, after) = read_name(&msg[..end], from)?;
        Ok((n, after))
    };
    let data = match rtype {
        A if rdlength != 4 => return wrong_length("an IPv4 address is 4 bytes"),
        A => Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]).to_string(),
        AAAA if rdlength != 16 => return wrong_length("an IPv6 address is 16 bytes"),
        AAAA => Ipv6Addr::from(<[u8; 16]>::try_from(rdata).expect("16 bytes")).to_string(),
        NS | CNAME => {
            let (n, after) = name_in_data(at)?;
            if after != end {
                return wrong_length("the name inside ends before the data does");
            }
            n
        }
        MX => {
            if rdlength < 3 {
                return wrong_length("MX is a 2-byte preference and a name");
            }
            let (n, after) = name_in_data(at + 2)?;
            if after != end {
                return wrong_length("the exchange name ends before the data does");
            }
            format!("{} {n}", u16::from_be_bytes([rdata[0], rdata[1]]))
        }
        SOA => {
            let (mname, after) = name_in_data(at)?;
            let (rname, after) = name_in_data(after)?;
            if after + 20 != end {
                return wrong_length("SOA is two names and five 32-bit numbers");
            }
            let n = |i: usize| {
                u32::from_be_bytes([
                    msg[after + i],
                    msg[after + i + 1],
                    msg[after + i + 2],
                    msg[after + i + 3],
                ])
            };
            format!(
                "{mname} {rname} {} {} {} {} {}",
                n(0),
                n(4),
                n(8),
                n(12),
                n(16)
            )
        }
        TXT => {
            if rdlength == 0 {
                return wrong_length("TXT holds at least one <character-string>");
            }
            let mut strings = Vec::new();
            let mut i = 0;
            while i < rdata.len() {
                let len = rdata[i] as usize;
                if i + 1 + len > rdata.len() {
                    return bad(
                        at + i,
                        format!(
                            "a TXT string of {len} bytes at byte {} runs past the record's data",
                            at + i
                        ),
                    );
                }
                strings.push(quoted(&rdata[i + 1..i + 1 + len]));
                i += 1 + len;
            }
            strings.join(" ")
        }
        OPT => {
            if name != "." {
                return bad(
                    at,
                    format!("an OPT record's owner must be the root, not {name} (RFC 6891 6.1.2)"),
                );
            }
            format!("options={rdlength}B")
        }
        _ => rdata.iter().map(|b| format!("{b:02x}")).collect(),
    };
    Ok((
        Record {
            name,
            rtype,
            class,
            ttl,
            data,
        },
        end,
    ))
}

/// A <character-string> as the zone file writes it: in quotes, `"` and `\` escaped.
fn quoted(bytes: &[u8]) -> String {
    let mut s = String::from("\"");
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(b as char);
            }
            0x20..=0x7e => s.push(b as char),
            _ => s += &format!("\\{b:03}"),
        }
    }
    s + "\""
}

// ---- Talking to the server ---------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Via {
    Udp,
    Tcp,
}
use Via::{Tcp, Udp};

impl std::fmt::Display for Via {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Udp => "UDP",
            Tcp => "TCP",
        })
    }
}

fn udp_addr(ctx: &Ctx) -> SocketAddr {
    ctx.addr("udp")
}

/// The TCP address: the announced one, or with `--addr IP:PORT` alone, the same as UDP's.
fn tcp_addr(ctx: &Ctx) -> SocketAddr {
    ctx.try_addr("tcp").unwrap_or_else(|| udp_addr(ctx))
}

/// How long to listen for a reply that should not come.
fn quiet(ctx: &Ctx) -> Duration {
    ctx.timeout.min(Duration::from_secs(1))
}

/// Send a datagram and return the first one that comes back from the server; up to three tries.
fn udp_exchange(ctx: &Ctx, query: &[u8]) -> Result<Vec<u8>, Failure> {
    const TRIES: u32 = 3;
    let server = udp_addr(ctx);
    let sock = wire::udp_socket(ctx, server)?;
    let per_try = (ctx.timeout / TRIES).max(Duration::from_millis(200));
    let mut buf = vec![0u8; 65_536];
    for _ in 0..TRIES {
        sock.send_to(query, server)
            .map_err(|e| Failure::new(format!("sendto failed: {e}")).sent(query))?;
        let deadline = Instant::now() + per_try;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left)).ok();
            match sock.recv_from(&mut buf) {
                Ok((n, from)) if from == server => return Ok(buf[..n].to_vec()),
                Ok((n, from)) => {
                    return Err(Failure::new(format!(
                    "the reply came from {from}, not from {server} where the query went: clients \
                         drop it (the server must answer from the socket the query arrived on)"
                ))
                    .sent(query)
                    .received(&buf[..n]))
                }
                Err(e) if timed_out(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    return Err(Failure::new(format!(
                    "recvfrom failed: {e} (ICMP port unreachable: is the server listening on UDP?)"
                ))
                    .sent(query))
                }
            }
        }
    }
    Err(Failure::new(format!(
        "no reply over UDP in {TRIES} tries, {} ms apart",
        per_try.as_millis()
    ))
    .sent(query))
}

/// Send a datagram once and listen for [`quiet`]: the reply, if one came.
fn udp_reply_if_any(ctx: &Ctx, datagram: &[u8]) -> Result<Option<Vec<u8>>, Failure> {
    let server = udp_addr(ctx);
    let sock = wire::udp_socket(ctx, server)?;
    sock.send_to(datagram, server)
        .map_err(|e| Failure::new(format!("sendto failed: {e}")).sent(datagram))?;
    sock.set_read_timeout(Some(quiet(ctx))).ok();
    let mut buf = vec![0u8; 65_536];
    match sock.recv_from(&mut buf) {
        Ok((n, _)) => Ok(Some(buf[..n].to_vec())),
        Err(_) => Ok(None),
    }
}

/// `msg` with its 2-byte length prefix, as it goes over TCP.
fn framed(msg: &[u8]) -> Vec<u8> {
    let mut out = (msg.len() as u16).to_be_bytes().to_vec();
    out.extend(msg);
    out
}

/// Read one length-prefixed message from a TCP connection.
fn tcp_read_message(ctx: &Ctx, stream: &TcpStream, query: &[u8]) -> Result<Vec<u8>, Failure> {
    let prefix = wire::read_exactly(ctx, stream, 2).map_err(|f| Failure {
        what: format!("no reply over TCP: {}", f.what),
        sent: Some(framed(query)),
        ..f
    })?;
    let len = u16::from_be_bytes([prefix[0], prefix[1]]) as usize;
    let looks_unprefixed = query.len() >= 2 && prefix[..] == query[..2];
    match wire::read_exactly(ctx, stream, len) {
        Ok(msg) if !looks_unprefixed || parse(&msg).is_ok() => Ok(msg),
        Ok(msg)
        | Err(Failure {
            received: Some(msg),
            ..
        }) if looks_unprefixed => {
            let mut whole = prefix.clone();
            whole.extend(&msg);
            Err(Failure::new(
                "the reply over TCP starts with the query's ID where its 2-byte length should be: it \
                 was sent without the length prefix (RFC 1035 4.2.2)",
            )
            .sent(&framed(query))
            .expected(&framed(&whole))
            .received(&whole))
        }
        Ok(msg) => Ok(msg),
        Err(f) => Err(Failure {
            what: format!("the TCP length prefix announced {len} bytes: {}", f.what),
            sent: Some(framed(query)),
            ..f
        }),
    }
}

fn tcp_exchange(ctx: &Ctx, query: &[u8]) -> Result<Vec<u8>, Failure> {
    let stream = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&stream, &framed(query))?;
    tcp_read_message(ctx, &stream, query)
}

/// A copy of `bytes` with byte `at` replaced: an expected reply that differs from the received
/// one just where the mistake is, so the report's caret points at it.
fn patched(bytes: &[u8], at: usize, value: u8) -> Vec<u8> {
    let mut out = bytes.to_vec();
    if let Some(b) = out.get_mut(at) {
        *b = value;
    }
    out
}

fn not_well_formed(e: &ParseError, sent: &[u8], reply: &[u8]) -> Failure {
    let from = e.at.saturating_sub(8).min(reply.len());
    let to = (e.at + 8).min(reply.len());
    let around: Vec<String> = reply[from..to].iter().map(|b| format!("{b:02x}")).collect();
    Failure::new(format!(
        "the reply is not a well-formed DNS message: at byte {}: {} (bytes {from}..{to}: {})",
        e.at,
        e.why,
        around.join(" ")
    ))
    .sent(sent)
    .received(reply)
}

/// Check what every reply to `q` must have: well formed, the query's ID, QR set, its opcode,
/// and the question copied byte for byte (a FORMERR or NOTIMP may leave the question out).
fn check_reply(q: &Query, sent: &[u8], bytes: &[u8]) -> Result<Reply, Failure> {
    let r = parse(bytes).map_err(|e| not_well_formed(&e, sent, bytes))?;
    if r.id != q.id {
        let swapped = if r.id == q.id.swap_bytes() {
            ": its two bytes are swapped (written little-endian?)"
        } else {
            ""
        };
        let expected = [&q.id.to_be_bytes()[..], &bytes[2..]].concat();
        return Err(Failure::new(format!(
            "the reply's ID is {:#06x}, the query's was {:#06x}{swapped}",
            r.id, q.id
        ))
        .sent(sent)
        .expected(&expected)
        .received(bytes));
    }
    if !r.qr() {
        return Err(
            Failure::new("the reply has QR clear: it claims to be a query")
                .sent(sent)
                .expected(&patched(bytes, 2, bytes[2] | 0x80))
                .received(bytes),
        );
    }
    if r.opcode() != q.opcode {
        return Err(Failure::new(format!(
            "the reply's OPCODE is {}, the query's {}: the opcode is copied into the reply",
            r.opcode(),
            q.opcode
        ))
        .sent(sent)
        .expected(&patched(bytes, 2, (bytes[2] & 0x87) | (q.opcode << 3)))
        .received(bytes));
    }
    let question_optional = matches!(r.rcode(), FORMERR | NOTIMP) && r.questions.is_empty();
    if !question_optional {
        let sent_question = &sent[12..12 + encode_name(&q.name).len() + 4];
        let copied = match r.questions.as_slice() {
            [one] => &bytes[one.span.0..one.span.1] == sent_question,
            _ => false,
        };
        if !copied {
            let end = r.questions.first().map_or(12, |q| q.span.1);
            let mut expected = bytes[..12].to_vec();
            expected[4..6].copy_from_slice(&1u16.to_be_bytes());
            expected.extend(sent_question);
            expected.extend(&bytes[end.min(bytes.len())..]);
            return Err(Failure::new(format!(
                "the reply does not repeat the question exactly as it was asked ({} question(s); \
                 the question section must be the query's, byte for byte, case included)",
                r.questions.len()
            ))
            .sent(sent)
            .expected(&expected)
            .received(bytes));
        }
    }
    Ok(r)
}

/// Ask `q` over UDP or TCP and check the reply's header and question.
fn ask(ctx: &Ctx, q: &Query, via: Via) -> Result<(Vec<u8>, Reply), Failure> {
    let sent = q.bytes();
    let during = q.describe(via);
    let bytes = match via {
        Udp => udp_exchange(ctx, &sent),
        Tcp => tcp_exchange(ctx, &sent),
    }
    .map_err(|f| f.during(&during))?;
    let reply = check_reply(q, &sent, &bytes).map_err(|f| f.during(&during))?;
    Ok((sent, reply))
}

/// A failure about a reply that is well formed but wrong: the reply in words, and its bytes.
fn wrong(q: &Query, via: Via, sent: &[u8], r: &Reply, what: String) -> Failure {
    Failure::new(format!("{}: {what}\n{}", q.describe(via), r.summary()))
        .sent(sent)
        .received(&r.bytes)
}

fn expect_rcode(q: &Query, via: Via, sent: &[u8], r: &Reply, want: u8) -> Result<(), Failure> {
    if r.rcode() == want {
        return Ok(());
    }
    let mut f = wrong(
        q,
        via,
        sent,
        r,
        format!(
            "the RCODE is {}, expected {}",
            rcode_name(r.rcode()),
            rcode_name(want)
        ),
    );
    f.expected = Some(patched(&r.bytes, 3, (r.bytes[3] & 0xf0) | want));
    Err(f)
}

/// Compare a section with the expected records, in any order.
fn expect_records(
    q: &Query,
    via: Via,
    sent: &[u8],
    r: &Reply,
    section: &str,
    want: &[String],
) -> Result<(), Failure> {
    let records = match section {
        "answer" => &r.answer,
        "authority" => &r.authority,
        _ => unreachable!("answer or authority"),
    };
    let mut got: Vec<String> = records.iter().map(Record::line).collect();
    let mut expected = want.to_vec();
    got.sort();
    expected.sort();
    if got == expected {
        return Ok(());
    }
    let missing: Vec<&String> = expected.iter().filter(|e| !got.contains(e)).collect();
    let extra: Vec<&String> = got.iter().filter(|g| !expected.contains(g)).collect();
    let mut what = format!(
        "the {section} section holds {} record(s), expected {}",
        got.len(),
        expected.len()
    );
    for m in missing.iter().take(6) {
        what += &format!("\n  missing:    {m}");
    }
    for x in extra.iter().take(6) {
        what += &format!("\n  unexpected: {x}");
    }
    Err(wrong(q, via, sent, r, what))
}

/// Ask, and expect this RCODE, answer and authority.
fn expect_answer(
    ctx: &Ctx,
    q: &Query,
    via: Via,
    rcode: u8,
    answer: &[String],
    authority: &[String],
) -> Result<Reply, Failure> {
    let (sent, r) = ask(ctx, q, via)?;
    expect_rcode(q, via, &sent, &r, rcode)?;
    expect_records(q, via, &sent, &r, "answer", answer)?;
    expect_records(q, via, &sent, &r, "authority", authority)?;
    Ok(r)
}

/// An ordinary query, answered: the server survived what came before.
fn still_alive(ctx: &Ctx, after: &str) -> Result<(), Failure> {
    let q = Query::new(ctx, "www", A);
    expect_answer(
        ctx,
        &q,
        Udp,
        NOERROR,
        &[rr("www", 300, "A", "192.0.2.10")],
        &[],
    )
    .map(drop)
    .map_err(|f| f.during(&format!("an ordinary query after {after}")))
}

/// Send a malformed message over UDP: a FORMERR with its ID, or silence, are both right; then
/// the server must still answer.
fn formerr_or_silence(ctx: &Ctx, message: &[u8], what: &str) -> Result<(), Failure> {
    expect_formerr(ctx, message, what, true)
}

/// Send a malformed message over UDP and expect a FORMERR with its ID (or, if `silence_ok`,
/// no reply); then the server must still answer an ordinary query.
fn expect_formerr(ctx: &Ctx, message: &[u8], what: &str, silence_ok: bool) -> Result<(), Failure> {
    let reply = udp_reply_if_any(ctx, message)?;
    if reply.is_none() && !silence_ok {
        return Err(Failure::new(format!(
            "{what}: no reply within {} ms; expected FORMERR",
            quiet(ctx).as_millis()
        ))
        .sent(message));
    }
    if let Some(reply) = reply {
        let id_ok = message.len() >= 2 && reply.len() >= 4 && reply[..2] == message[..2];
        let formerr = id_ok && reply[2] & 0x80 != 0 && reply[3] & 0xf == FORMERR;
        if !formerr {
            let mut expected = message.get(..12).unwrap_or(message).to_vec();
            if expected.len() == 12 {
                expected[2] = 0x80 | (expected[2] & 0x79);
                expected[3] = FORMERR;
            }
            let rcode = reply
                .get(3)
                .map_or("nothing".into(), |b| rcode_name(b & 0xf));
            return Err(Failure::new(format!(
                "{what}: the reply is {rcode} (QR {}, ID {}), expected FORMERR with the query's ID{}",
                if reply.get(2).is_some_and(|b| b & 0x80 != 0) { "set" } else { "clear" },
                if id_ok { "copied" } else { "not copied" },
                if silence_ok { ", or no reply" } else { "" }
            ))
            .sent(message)
            .expected(&expected)
            .received(&reply));
        }
    }
    still_alive(ctx, what).map_err(|f| Failure {
        what: format!(
            "after {what} (the bytes sent below), the server stopped answering: {}",
            f.what
        ),
        sent: Some(message.to_vec()),
        ..f
    })
}

// ---- The checks --------------------------------------------------------------------------------

fn a_records(ctx: &Ctx) -> Result<(), Failure> {
    let hint = |mut f: Failure| {
        f.what = format!("{}\n{ZONE_HINT}", f.what);
        f
    };
    for (name, want) in [
        ("www", rr("www", 300, "A", "192.0.2.10")),
        ("ns1", rr("ns1", 3600, "A", "127.0.0.1")),
        ("mail", rr("mail", 300, "A", "192.0.2.25")),
    ] {
        let q = Query::new(ctx, name, A);
        expect_answer(ctx, &q, Udp, NOERROR, &[want], &[]).map_err(hint)?;
    }
    Ok(())
}

fn ids_are_copied(ctx: &Ctx) -> Result<(), Failure> {
    for via in [Udp, Udp, Udp, Tcp, Tcp] {
        ask(ctx, &Query::new(ctx, "www", A), via)?;
    }
    Ok(())
}

fn qr_is_set(ctx: &Ctx) -> Result<(), Failure> {
    for (name, via) in [("www", Udp), ("nosuch", Udp), ("www", Tcp)] {
        ask(ctx, &Query::new(ctx, name, A), via)?;
    }
    Ok(())
}

fn question_is_copied(ctx: &Ctx) -> Result<(), Failure> {
    let nosuch = format!("nosuch-{}", ctx.below(10_000));
    for (name, qtype, via) in [
        ("www", A, Udp),
        ("www", AAAA, Tcp),
        (nosuch.as_str(), A, Udp),
        ("alias", A, Udp),
    ] {
        let q = Query {
            name: mixed_case(ctx, &fqdn(name)),
            ..Query::new(ctx, name, qtype)
        };
        ask(ctx, &q, via)?;
    }
    Ok(())
}

fn names_match_in_any_case(ctx: &Ctx) -> Result<(), Failure> {
    let www = Query {
        name: "WWW.COURSE.TEST.".into(),
        ..Query::new(ctx, "www", A)
    };
    expect_answer(
        ctx,
        &www,
        Udp,
        NOERROR,
        &[rr("www", 300, "A", "192.0.2.10")],
        &[],
    )?;
    let alias = Query {
        name: mixed_case(ctx, "alias.course.test."),
        ..Query::new(ctx, "alias", A)
    };
    expect_answer(
        ctx,
        &alias,
        Udp,
        NOERROR,
        &[
            rr("alias", 300, "CNAME", "www.course.test."),
            rr("www", 300, "A", "192.0.2.10"),
        ],
        &[],
    )?;
    Ok(())
}

fn rd_is_copied(ctx: &Ctx) -> Result<(), Failure> {
    for (rd, via) in [(false, Udp), (true, Udp), (false, Tcp)] {
        let q = Query {
            rd,
            ..Query::new(ctx, "www", A)
        };
        let (sent, r) = ask(ctx, &q, via)?;
        if r.rd() != rd {
            let mut f = wrong(
                &q,
                via,
                &sent,
                &r,
                format!(
                    "RD is {} in the reply, {} in the query",
                    if r.rd() { "set" } else { "clear" },
                    if rd { "set" } else { "clear" }
                ),
            );
            f.expected = Some(patched(&r.bytes, 2, r.bytes[2] ^ 0x01));
            return Err(f);
        }
    }
    Ok(())
}

fn ra_is_clear(ctx: &Ctx) -> Result<(), Failure> {
    for name in ["www", "nosuch", "www.example."] {
        let q = Query::new(ctx, name, A);
        let (sent, r) = ask(ctx, &q, Udp)?;
        if r.ra() {
            let mut f = wrong(&q, Udp, &sent, &r, "RA is set".into());
            f.expected = Some(patched(&r.bytes, 3, r.bytes[3] & 0x7f));
            return Err(f);
        }
    }
    Ok(())
}

fn aa_is_set(ctx: &Ctx) -> Result<(), Failure> {
    for (name, qtype, kind) in [
        ("www", A, "an answer"),
        ("nosuch", A, "an NXDOMAIN"),
        ("www", TXT, "a NODATA"),
    ] {
        let q = Query::new(ctx, name, qtype);
        let (sent, r) = ask(ctx, &q, Udp)?;
        if !r.aa() {
            let mut f = wrong(&q, Udp, &sent, &r, format!("AA is clear in {kind}"));
            f.expected = Some(patched(&r.bytes, 2, r.bytes[2] | 0x04));
            return Err(f);
        }
    }
    Ok(())
}

fn aaaa_records(ctx: &Ctx) -> Result<(), Failure> {
    for (name, addr) in [("www", "2001:db8::10"), ("v6only", "2001:db8:0:1::6")] {
        let q = Query::new(ctx, name, AAAA);
        expect_answer(ctx, &q, Udp, NOERROR, &[rr(name, 300, "AAAA", addr)], &[])?;
    }
    Ok(())
}

fn txt_records(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "txt", TXT);
    let want = rr(
        "txt",
        300,
        "TXT",
        r#""hello, grader" "a \"quoted\" word; not a comment""#,
    );
    expect_answer(ctx, &q, Udp, NOERROR, &[want], &[]).map(drop)
}

fn names_in_rdata(ctx: &Ctx) -> Result<(), Failure> {
    for (name, qtype, want) in [
        ("@", NS, rr("@", 300, "NS", "ns1.course.test.")),
        ("mx", MX, rr("mx", 300, "MX", "10 mail.course.test.")),
        ("@", SOA, rr("@", 300, "SOA", SOA_DATA)),
    ] {
        let q = Query::new(ctx, name, qtype);
        expect_answer(ctx, &q, Udp, NOERROR, &[want], &[])?;
    }
    Ok(())
}

fn cnames_are_followed(ctx: &Ctx) -> Result<(), Failure> {
    let www_a = rr("www", 300, "A", "192.0.2.10");
    let cases = [
        (
            "alias",
            A,
            vec![rr("alias", 300, "CNAME", "www.course.test."), www_a.clone()],
        ),
        (
            "alias",
            AAAA,
            vec![
                rr("alias", 300, "CNAME", "www.course.test."),
                rr("www", 300, "AAAA", "2001:db8::10"),
            ],
        ),
        (
            "chain1",
            A,
            vec![
                rr("chain1", 300, "CNAME", "chain2.course.test."),
                rr("chain2", 300, "CNAME", "www.course.test."),
                www_a,
            ],
        ),
    ];
    for (name, qtype, want) in cases {
        let q = Query::new(ctx, name, qtype);
        let r = expect_answer(ctx, &q, Udp, NOERROR, &want, &[])?;
        // The chain in order: each CNAME before the records of its target.
        let got: Vec<String> = r.answer.iter().map(Record::line).collect();
        if got != want {
            return Err(wrong(
                &q,
                Udp,
                &q.bytes(),
                &r,
                format!(
                    "the records are right but out of order: a chain is given in order, from the \
                     name asked, CNAME by CNAME, to the records at its end:\n  expected: {}",
                    want.join("\n            ")
                ),
            ));
        }
    }
    Ok(())
}

fn cname_out_of_zone(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "out", A);
    expect_answer(
        ctx,
        &q,
        Udp,
        NOERROR,
        &[rr("out", 300, "CNAME", "www.example.")],
        &[],
    )
    .map(drop)
}

fn cname_queries(ctx: &Ctx) -> Result<(), Failure> {
    for (name, target) in [
        ("alias", "www.course.test."),
        ("chain1", "chain2.course.test."),
    ] {
        let q = Query::new(ctx, name, CNAME);
        expect_answer(
            ctx,
            &q,
            Udp,
            NOERROR,
            &[rr(name, 300, "CNAME", target)],
            &[],
        )?;
    }
    Ok(())
}

fn nxdomain_has_soa(ctx: &Ctx) -> Result<(), Failure> {
    let nosuch = format!("nosuch-{}", ctx.below(10_000));
    let deeper = format!("a.b.{nosuch}");
    for (name, via) in [
        (nosuch.as_str(), Udp),
        (deeper.as_str(), Udp),
        (nosuch.as_str(), Tcp),
    ] {
        let q = Query::new(ctx, name, A);
        expect_answer(ctx, &q, via, NXDOMAIN, &[], &negative_soa())?;
    }
    Ok(())
}

fn nodata_is_not_nxdomain(ctx: &Ctx) -> Result<(), Failure> {
    for (name, qtype) in [
        ("ns1", AAAA),
        ("v6only", A),
        ("www", TXT),
        ("deep", A),
        ("deep", AAAA),
    ] {
        let q = Query::new(ctx, name, qtype);
        expect_answer(ctx, &q, Udp, NOERROR, &[], &negative_soa()).map_err(|f| {
            if name == "deep" {
                f.during("deep.course.test. has no records but sub.deep.course.test. exists below it: an empty non-terminal")
            } else {
                f
            }
        })?;
    }
    Ok(())
}

fn refuses_other_zones(ctx: &Ctx) -> Result<(), Failure> {
    for name in [
        "www.example.",
        "notcourse.test.",
        "test.",
        "www.course.test.example.",
    ] {
        let q = Query::new(ctx, name, A);
        expect_answer(ctx, &q, Udp, REFUSED, &[], &[])?;
    }
    Ok(())
}

fn other_opcodes(ctx: &Ctx) -> Result<(), Failure> {
    for opcode in [2, 5] {
        let q = Query {
            opcode,
            ..Query::new(ctx, "www", A)
        };
        let (sent, r) = ask(ctx, &q, Udp)?;
        expect_rcode(&q, Udp, &sent, &r, NOTIMP)?;
        if !r.answer.is_empty() {
            return Err(wrong(
                &q,
                Udp,
                &sent,
                &r,
                "a NOTIMP carries no answer".into(),
            ));
        }
    }
    still_alive(ctx, "queries with other opcodes")
}

fn responses_get_no_answer(ctx: &Ctx) -> Result<(), Failure> {
    // The server's own answer, sent back to it, and a query with QR set.
    let q = Query::new(ctx, "www", A);
    let (_, answer) = ask(ctx, &q, Udp)?;
    let forged = Query {
        qr: true,
        ..Query::new(ctx, "www", A)
    };
    for (message, what) in [
        (answer.bytes.clone(), "its own answer, sent back to it"),
        (forged.bytes(), "a question with QR set"),
    ] {
        if let Some(reply) = udp_reply_if_any(ctx, &message)? {
            return Err(Failure::new(format!(
                "the server was sent {what} (a response) and answered it, within {} ms",
                quiet(ctx).as_millis()
            ))
            .sent(&message)
            .expected(b"")
            .received(&reply));
        }
    }
    still_alive(ctx, "responses sent to the server")
}

/// A query whose question name is `name_bytes` (raw), type A, class IN.
fn raw_query(ctx: &Ctx, qdcount: u16, question: &[u8]) -> Vec<u8> {
    let mut m = header(random_id(ctx), 0x0100, qdcount, 0);
    m.extend(question);
    m
}

fn with_type_a(name: &[u8]) -> Vec<u8> {
    [name, &[0, 1, 0, 1]].concat()
}

fn pointer_loops(ctx: &Ctx) -> Result<(), Failure> {
    let cases: [(Vec<u8>, &str); 4] = [
        (
            with_type_a(&[0xc0, 12]),
            "a question name that is a pointer to itself",
        ),
        (
            with_type_a(b"\x03www\xc0\x0c"),
            "a name whose pointer leads back to its own start (www.www.www...)",
        ),
        (
            with_type_a(&[0xc0, 16, 3, b'w', b'w', b'w', 0]),
            "a pointer forward, to a name after it",
        ),
        (
            with_type_a(&[0xc0, 0xff]),
            "a pointer past the end of the message",
        ),
    ];
    for (question, what) in cases {
        let message = raw_query(ctx, 1, &question);
        formerr_or_silence(ctx, &message, what)?;
    }
    // And over TCP: a looping handler there stops the whole server just as well.
    let message = raw_query(ctx, 1, &with_type_a(&[0xc0, 12]));
    let stream = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&stream, &framed(&message))?;
    // A FORMERR, silence or a close are all fine here: what matters is the server after it.
    stream.set_read_timeout(Some(quiet(ctx))).ok();
    let _ = (&stream).read(&mut [0u8; 512]);
    still_alive(ctx, "a self-pointing name over TCP")
}

fn malformed_questions(ctx: &Ctx) -> Result<(), Failure> {
    let www = encode_name("www.course.test.");
    let cases: [(Vec<u8>, &str); 5] = [
        (
            raw_query(ctx, 1, b"\x03www\x06cour"),
            "a question cut off inside a label",
        ),
        (
            raw_query(ctx, 1, &www),
            "a question without its TYPE and CLASS",
        ),
        (
            raw_query(ctx, 2, &[with_type_a(&www), with_type_a(&www)].concat()),
            "QDCOUNT 2: two questions in one query",
        ),
        (
            raw_query(ctx, 0, &[]),
            "QDCOUNT 0: a query without a question",
        ),
        (
            vec![0x12, 0x34, 0x01, 0x00, 0x00],
            "5 bytes: less than a header",
        ),
    ];
    for (message, what) in cases {
        formerr_or_silence(ctx, &message, what)?;
    }
    Ok(())
}

fn long_labels(ctx: &Ctx) -> Result<(), Failure> {
    let mut name = vec![64];
    name.extend(std::iter::repeat_n(b'a', 64));
    name.extend(encode_name("course.test."));
    formerr_or_silence(
        ctx,
        &raw_query(ctx, 1, &with_type_a(&name)),
        "a label of 64 bytes",
    )?;
    let mut name = vec![0x80 | 3];
    name.extend(b"www");
    name.extend(encode_name("course.test."));
    formerr_or_silence(
        ctx,
        &raw_query(ctx, 1, &with_type_a(&name)),
        "a length byte of 0x83 (top bits 10: a reserved label type)",
    )
}

fn long_names(ctx: &Ctx) -> Result<(), Failure> {
    // Four labels of 63 bytes and course.test: 4 * 64 + 13 = 269 bytes, all inside the zone.
    let label = "x".repeat(63);
    let name = encode_name(&format!("{label}.{label}.{label}.{label}.course.test."));
    formerr_or_silence(
        ctx,
        &raw_query(ctx, 1, &with_type_a(&name)),
        &format!("a name of {} bytes", name.len()),
    )
}

fn two_opt_records(ctx: &Ctx) -> Result<(), Failure> {
    let mut message = Query::new(ctx, "www", A).edns(1232).bytes();
    let opt = message[message.len() - 11..].to_vec();
    message.extend(opt);
    message[10..12].copy_from_slice(&2u16.to_be_bytes()); // ARCOUNT 2
    expect_formerr(ctx, &message, "a query with two OPT records", false)
}

/// The one OPT record a reply to an EDNS query must carry.
fn the_opt<'r>(q: &Query, via: Via, sent: &[u8], r: &'r Reply) -> Result<&'r Record, Failure> {
    match r.opts().as_slice() {
        [opt] => Ok(opt),
        [] => Err(wrong(
            q,
            via,
            sent,
            r,
            "the query had an OPT record; the reply has none".into(),
        )),
        many => Err(wrong(
            q,
            via,
            sent,
            r,
            format!(
                "{} OPT records in the reply; there is at most one",
                many.len()
            ),
        )),
    }
}

fn edns_is_answered(ctx: &Ctx) -> Result<(), Failure> {
    for via in [Udp, Tcp] {
        let q = Query::new(ctx, "www", A).edns(1232);
        let (sent, r) = ask(ctx, &q, via)?;
        expect_rcode(&q, via, &sent, &r, NOERROR)?;
        let opt = the_opt(&q, via, &sent, &r)?;
        if opt.class < 512 || opt.ttl >> 16 != 0 {
            return Err(wrong(
                &q,
                via,
                &sent,
                &r,
                format!(
                    "the OPT record says udp-size={} ext-rcode={} version={}: expected a size of at \
                     least 512, extended RCODE 0 and version 0",
                    opt.class,
                    opt.ttl >> 24,
                    (opt.ttl >> 16) & 0xff
                ),
            ));
        }
    }
    let q = Query::new(ctx, "www", A);
    let (sent, r) = ask(ctx, &q, Udp)?;
    if !r.opts().is_empty() {
        return Err(wrong(
            &q,
            Udp,
            &sent,
            &r,
            "the query had no OPT record, but the reply has one: a client that does not speak \
             EDNS may not understand it (RFC 6891 7)"
                .into(),
        ));
    }
    Ok(())
}

fn edns_version(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query {
        edns: Some(Edns {
            size: 1232,
            version: 1,
        }),
        ..Query::new(ctx, "www", A)
    };
    let (sent, r) = ask(ctx, &q, Udp)?;
    let opt = the_opt(&q, Udp, &sent, &r)?;
    let (ext, version) = (opt.ttl >> 24, (opt.ttl >> 16) & 0xff);
    if r.rcode() != 0 || ext != 1 || version != 0 {
        return Err(wrong(
            &q,
            Udp,
            &sent,
            &r,
            format!(
                "header RCODE {} and OPT ext-rcode {ext}, version {version}: BADVERS is header \
                 RCODE 0 and OPT ext-rcode 1 (16 = 1 << 4 | 0), with version 0, the one this server speaks",
                r.rcode()
            ),
        ));
    }
    Ok(())
}

/// A UDP reply that had to be cut: at most `limit` bytes, TC set, and only records that belong.
fn expect_truncated(ctx: &Ctx, q: &Query, limit: usize, full: &[String]) -> Result<(), Failure> {
    let (sent, r) = ask(ctx, q, Udp)?;
    if r.bytes.len() > limit {
        return Err(wrong(
            q,
            Udp,
            &sent,
            &r,
            format!(
                "the reply is {} bytes over UDP; the limit is {limit}: cut it at a record boundary \
                 and set TC",
                r.bytes.len()
            ),
        ));
    }
    if !r.tc() {
        let mut f = wrong(
            q,
            Udp,
            &sent,
            &r,
            format!(
                "the whole answer is {} records and does not fit in {limit} bytes, but TC is clear: \
                 the client takes {} records for all there are",
                full.len(),
                r.answer.len()
            ),
        );
        f.expected = Some(patched(&r.bytes, 2, r.bytes[2] | 0x02));
        return Err(f);
    }
    if let Some(stray) = r
        .answer
        .iter()
        .map(Record::line)
        .find(|l| !full.contains(l))
    {
        return Err(wrong(
            q,
            Udp,
            &sent,
            &r,
            format!("a truncated answer holds a record that is not one of the answer's: {stray}"),
        ));
    }
    Ok(())
}

fn udp_size_limits(ctx: &Ctx) -> Result<(), Failure> {
    expect_truncated(ctx, &Query::new(ctx, "big", A), 512, &big())?;
    expect_truncated(ctx, &Query::new(ctx, "huge", TXT).edns(4096), 4096, &huge())?;
    expect_truncated(ctx, &Query::new(ctx, "huge", TXT).edns(1232), 1232, &huge())
}

/// The whole answer, TC clear.
fn expect_whole(ctx: &Ctx, q: &Query, via: Via, want: &[String], why: &str) -> Result<(), Failure> {
    let (sent, r) = ask(ctx, q, via)?;
    if r.tc() {
        let mut f = wrong(
            q,
            via,
            &sent,
            &r,
            format!(
                "TC is set and the answer holds {} of its {} records: {why}",
                r.answer.len(),
                want.len()
            ),
        );
        f.expected = Some(patched(&r.bytes, 2, r.bytes[2] & !0x02));
        return Err(f);
    }
    expect_rcode(q, via, &sent, &r, NOERROR)?;
    expect_records(q, via, &sent, &r, "answer", want)
}

fn edns_allows_more(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "big", A).edns(1232);
    expect_whole(
        ctx,
        &q,
        Udp,
        &big(),
        "about 670 bytes fit in the 1232 the client offered",
    )
}

fn small_edns_size(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "medium", A).edns(100);
    expect_whole(
        ctx,
        &q,
        Udp,
        &medium(),
        "about 230 bytes fit in 512, and an offer below 512 counts as 512",
    )
}

fn tcp_is_whole(ctx: &Ctx) -> Result<(), Failure> {
    let why = "over TCP nothing is truncated";
    expect_whole(ctx, &Query::new(ctx, "big", A), Tcp, &big(), why)?;
    expect_whole(
        ctx,
        &Query::new(ctx, "huge", TXT).edns(1232),
        Tcp,
        &huge(),
        why,
    )
}

fn tcp_length_prefix(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "www", A);
    expect_answer(
        ctx,
        &q,
        Tcp,
        NOERROR,
        &[rr("www", 300, "A", "192.0.2.10")],
        &[],
    )
    .map(drop)
}

/// Read replies on `stream` until one has arrived for each query, matching them by ID.
fn expect_replies(
    ctx: &Ctx,
    stream: &TcpStream,
    queries: &[Query],
    how: &str,
) -> Result<(), Failure> {
    let sent: Vec<u8> = queries.iter().flat_map(|q| framed(&q.bytes())).collect();
    let mut waiting: Vec<&Query> = queries.iter().collect();
    while !waiting.is_empty() {
        let bytes = tcp_read_message(ctx, stream, &waiting[0].bytes()).map_err(|f| Failure {
            sent: Some(sent.clone()),
            ..f.during(&format!(
                "{how}: {} of {} replies arrived",
                queries.len() - waiting.len(),
                queries.len()
            ))
        })?;
        let id = u16::from_be_bytes([bytes[0], bytes[1]]);
        let Some(i) = waiting.iter().position(|q| q.id == id) else {
            return Err(Failure::new(format!(
                "{how}: a reply with ID {id:#06x}, which matches none of the queries still waiting"
            ))
            .sent(&sent)
            .received(&bytes));
        };
        let q = waiting.remove(i);
        let r = check_reply(q, &q.bytes(), &bytes).map_err(|f| f.during(how))?;
        expect_rcode(q, Tcp, &q.bytes(), &r, NOERROR).map_err(|f| f.during(how))?;
    }
    Ok(())
}

fn tcp_reads_any_chunking(ctx: &Ctx) -> Result<(), Failure> {
    // One query, one byte per write.
    let q = Query::new(ctx, "www", A);
    let stream = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send_in_pieces(&stream, &framed(&q.bytes()), || 1, Duration::from_millis(3))?;
    expect_replies(
        ctx,
        &stream,
        std::slice::from_ref(&q),
        "one query sent one byte per write",
    )?;
    // Three queries in one write.
    let three = [
        Query::new(ctx, "www", A),
        Query::new(ctx, "www", AAAA),
        Query::new(ctx, "mx", MX),
    ];
    let all: Vec<u8> = three.iter().flat_map(|q| framed(&q.bytes())).collect();
    let stream = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&stream, &all)?;
    expect_replies(ctx, &stream, &three, "three queries in one write")?;
    // A query and a half, then the rest: the split falls at a seeded place inside the second.
    let two = [Query::new(ctx, "alias", A), Query::new(ctx, "txt", TXT)];
    let all: Vec<u8> = two.iter().flat_map(|q| framed(&q.bytes())).collect();
    let first_len = framed(&two[0].bytes()).len();
    let split = first_len + 1 + ctx.below((all.len() - first_len - 1) as u64) as usize;
    let stream = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&stream, &all[..split])?;
    thread::sleep(Duration::from_millis(50));
    wire::send(&stream, &all[split..])?;
    expect_replies(
        ctx,
        &stream,
        &two,
        &format!(
            "two queries written as bytes 0..{split} and {split}..{}",
            all.len()
        ),
    )
}

fn tcp_many_queries(ctx: &Ctx) -> Result<(), Failure> {
    let stream = wire::connect(ctx, tcp_addr(ctx))?;
    for i in 0..3 {
        let q = Query::new(ctx, ["www", "mx", "txt"][i], [A, MX, TXT][i]);
        wire::send(&stream, &framed(&q.bytes())).map_err(|f| {
            f.during(&format!(
                "query {} of 3 on one connection, after {i} answered",
                i + 1
            ))
        })?;
        expect_replies(
            ctx,
            &stream,
            std::slice::from_ref(&q),
            &format!("query {} of 3 on one connection, one after another", i + 1),
        )?;
    }
    Ok(())
}

fn stalled_tcp_client(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "www", A);
    let whole = framed(&q.bytes());
    let stalled = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&stalled, &whole[..7])?;
    thread::sleep(Duration::from_millis(50));
    let during = "while another TCP client has sent 7 bytes of a query and stalls";
    still_alive(ctx, "nothing").map_err(|f| f.during(during))?;
    let other = Query::new(ctx, "www", AAAA);
    ask(ctx, &other, Tcp).map_err(|f| f.during(during))?;
    // The stalled client was not forgotten.
    wire::send(&stalled, &whole[7..])?;
    expect_replies(
        ctx,
        &stalled,
        std::slice::from_ref(&q),
        "the stalled client, finishing its query",
    )
}

fn reset_connections(ctx: &Ctx) -> Result<(), Failure> {
    let q = Query::new(ctx, "www", A);
    let whole = framed(&q.bytes());
    // Half a query, then a reset.
    let s = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&s, &whole[..7])?;
    wire::reset(s);
    // A whole query, reset before the reply can be read: the server's write fails.
    for _ in 0..3 {
        let s = wire::connect(ctx, tcp_addr(ctx))?;
        wire::send(&s, &whole)?;
        wire::reset(s);
    }
    thread::sleep(Duration::from_millis(50));
    let after = "TCP clients that reset their connections mid-query and before the reply";
    still_alive(ctx, after)?;
    ask(ctx, &Query::new(ctx, "www", AAAA), Tcp).map_err(|f| f.during(after))?;
    // A query, then the client half-closes: the answer still comes.
    let s = wire::connect(ctx, tcp_addr(ctx))?;
    wire::send(&s, &whole)?;
    let _ = s.shutdown(std::net::Shutdown::Write);
    expect_replies(
        ctx,
        &s,
        std::slice::from_ref(&q),
        "a query, then the client half-closed (shutdown(SHUT_WR))",
    )
}

fn udp_clients_take_turns(ctx: &Ctx) -> Result<(), Failure> {
    // Each client uses its own socket, so a reply sent to another client's address never
    // reaches the one that asked, and udp_exchange reports that as no reply.
    for round in 0..2 {
        for (client, name, qtype) in [("A", "www", A), ("B", "mx", MX), ("C", "txt", TXT)] {
            let q = Query::new(ctx, name, qtype);
            ask(ctx, &q, Udp).map_err(|f| {
                f.during(&format!(
                    "three clients taking turns, client {client} in round {}: a reply to another client's address never reaches this one",
                    round + 1
                ))
            })?;
        }
    }
    Ok(())
}

fn one_port(ctx: &Ctx) -> Result<(), Failure> {
    let (udp, tcp) = (udp_addr(ctx), tcp_addr(ctx));
    if udp.port() != tcp.port() {
        return Err(Failure::new(format!(
            "the server listens on udp://{udp} and tcp://{tcp}: two ports. A client that gets a \
             truncated reply from {udp} retries over TCP at that same address, and finds nothing there"
        )));
    }
    ask(ctx, &Query::new(ctx, "www", A), Udp)?;
    ask(ctx, &Query::new(ctx, "www", A), Tcp).map(drop)
}

fn compression_offsets(ctx: &Ctx) -> Result<(), Failure> {
    for via in [Tcp, Udp] {
        let q = Query::new(ctx, "alias", A);
        expect_answer(
            ctx,
            &q,
            via,
            NOERROR,
            &[
                rr("alias", 300, "CNAME", "www.course.test."),
                rr("www", 300, "A", "192.0.2.10"),
            ],
            &[],
        )?;
        let q = Query::new(ctx, "mx", MX);
        expect_answer(
            ctx,
            &q,
            via,
            NOERROR,
            &[rr("mx", 300, "MX", "10 mail.course.test.")],
            &[],
        )?;
        let q = Query::new(ctx, "nosuch", A);
        expect_answer(ctx, &q, via, NXDOMAIN, &[], &negative_soa())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_records_are_the_zone_files() {
        let count = |prefix: &str| ZONE.lines().filter(|l| l.starts_with(prefix)).count();
        assert_eq!(count("big      IN A"), big().len());
        assert_eq!(count("medium   IN A"), medium().len());
        assert_eq!(count("huge     IN TXT"), huge().len());
        for record in huge() {
            let text = record.split_once(" TXT ").unwrap().1;
            assert!(ZONE.contains(text), "{text}");
        }
        assert!(ZONE.contains("@        IN SOA  ns1 hostmaster 2026112201 3600 600 86400 60"));
    }

    #[test]
    fn a_query_is_laid_out_as_rfc_1035_draws_it() {
        let q = Query {
            id: 0x1234,
            qr: false,
            opcode: 0,
            rd: true,
            name: "www.course.test.".into(),
            qtype: A,
            edns: Some(Edns {
                size: 1232,
                version: 0,
            }),
        };
        let b = q.bytes();
        assert_eq!(&b[..12], &[0x12, 0x34, 0x01, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
        assert_eq!(&b[12..29], b"\x03www\x06course\x04test\x00");
        assert_eq!(&b[29..33], &[0, 1, 0, 1]);
        assert_eq!(&b[33..], &[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
    }

    /// A reply with an answer whose name points at the question, as servers write it.
    fn reply_with(answer_name: &[u8]) -> Vec<u8> {
        let mut m = header(0x1234, 0x8500, 1, 0);
        m[6..8].copy_from_slice(&1u16.to_be_bytes());
        m.extend(b"\x03www\x06course\x04test\x00\x00\x01\x00\x01");
        m.extend(answer_name);
        m.extend([0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 10]);
        m
    }

    #[test]
    fn the_reader_follows_a_pointer_back_to_the_question() {
        let r = parse(&reply_with(&[0xc0, 12])).unwrap();
        assert_eq!(r.answer[0].line(), "www.course.test. 300 IN A 192.0.2.10");
        assert!(r.qr() && r.aa() && r.rd() && !r.ra());
    }

    #[test]
    fn the_reader_refuses_bad_pointers_and_labels() {
        // Forward, to itself, past the end, and a reserved label type.
        for (name, why) in [
            (&[0xc0, 60][..], "points to byte 60"),
            (&[0xc0, 33], "points to byte 33"),
            (&[0xc1, 0], "past the end"),
            (&[0x40], "reserved label type"),
        ] {
            let e = parse(&reply_with(name)).unwrap_err();
            assert!(e.why.contains(why), "{name:?}: {}", e.why);
        }
        // A loop through backward pointers ends at the 255-byte limit.
        let mut m = header(1, 0x8000, 1, 0);
        m.extend(b"\x03www\xc0\x0c\x00\x01\x00\x01");
        assert!(parse(&m).unwrap_err().why.contains("255"));
        // A record cut short, and bytes after the last record.
        let whole = reply_with(&[0xc0, 12]);
        assert!(parse(&whole[..whole.len() - 1])
            .unwrap_err()
            .why
            .contains("RDATA"));
        let mut longer = whole.clone();
        longer.push(0);
        assert!(parse(&longer)
            .unwrap_err()
            .why
            .contains("follow the last record"));
    }

    #[test]
    fn txt_strings_are_read_as_the_zone_writes_them() {
        let mut m = header(1, 0x8000, 0, 0);
        m[6..8].copy_from_slice(&1u16.to_be_bytes());
        m.extend(b"\x03txt\x00\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x08\x02a\"\x04b\\ c");
        let r = parse(&m).unwrap();
        assert_eq!(r.answer[0].line(), r#"txt. 60 IN TXT "a\"" "b\\ c""#);
    }
}
