//! The DNS dissector behind `--trace`: a message's bytes as a hexdump, with every header field,
//! every label (length byte and all), every compression pointer (and where it points) and every
//! record's fields named and decoded under the bytes that hold them.
//!
//! ```text
//!   0000  12 34 85 00 00 01 00 01 00 00 00 00 03 77 77 77  .4...........www
//!         ^^^^^ ID = 0x1234
//!               ^^^^^ flags 0x8500: QR=1 response, Opcode=0 QUERY, AA=1, TC=0, RD=1, RA=0, Z=0, RCODE=0 NOERROR
//!         ...
//!                                             ^^^^^^^^^^^ label 3 "www"
//! ```
//!
//! It reads with the codec's own functions ([`read_name`], [`read_record`]), so what it shows is
//! what the server and the resolver make of the bytes, errors included: a message that breaks a
//! rule is dissected up to the broken field, and the rule is printed under the dump.

use super::message::{read_record, Header, RData, Record, HEADER_LEN};
use super::name::read_name;
use super::{rcode_name, rtype, type_name, DnsError};
use crate::trace::{annotated_hexdump, Annotation, Dir, Trace};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// The annotations of a message, and the first rule it breaks, if any.
pub fn annotate(msg: &[u8]) -> (Vec<Annotation>, Option<DnsError>) {
    let mut out = Vec::new();
    let err = walk(msg, &mut out).err();
    (out, err)
}

/// The whole dissection as text: a summary line, the annotated hexdump, the error if any.
pub fn dissect(msg: &[u8]) -> String {
    let (fields, err) = annotate(msg);
    let mut s = summary(msg);
    s.push('\n');
    s.push_str(&annotated_hexdump(msg, &fields));
    if let Some(e) = err {
        s.push_str(&format!("  broken: {e}\n"));
    }
    s
}

/// `--trace` for one message that crossed a socket (`how`: "udp" or "tcp").
pub fn trace(trace: Trace, dir: Dir, peer: &dyn fmt::Display, how: &str, msg: &[u8]) {
    if trace.is_on() {
        let way = if dir == Dir::In { "<- from" } else { "-> to" };
        trace.log(format_args!(
            "{way} {peer} over {how}: {}",
            dissect(msg).trim_end()
        ));
    }
}

/// One line: what the message is, in dig's words.
pub fn summary(msg: &[u8]) -> String {
    match Header::parse(msg) {
        Err(_) => format!("{} bytes: too short for a DNS header (12 bytes)", msg.len()),
        Ok((h, [qd, an, ns, ar])) => format!(
            "DNS {}, {} bytes: id {:#06x}, opcode {}, {}, flags [{}]; {qd} question(s), {an} answer(s), {ns} authority, {ar} additional",
            if h.qr { "response" } else { "query" },
            msg.len(),
            h.id,
            opcode_name(h.opcode),
            rcode_name(h.rcode.into()),
            h.flag_words(),
        ),
    }
}

fn opcode_name(op: u8) -> String {
    match op {
        0 => "QUERY".into(),
        1 => "IQUERY".into(),
        2 => "STATUS".into(),
        4 => "NOTIFY".into(),
        5 => "UPDATE".into(),
        n => format!("{n}"),
    }
}

fn walk(msg: &[u8], out: &mut Vec<Annotation>) -> Result<(), DnsError> {
    let (h, counts) = Header::parse(msg)?;
    let flags = h.flags();
    out.push(Annotation::new(0..2, format!("ID = {:#06x}", h.id)));
    out.push(Annotation::new(
        2..4,
        format!(
            "flags {flags:#06x}: QR={} {}, Opcode={} {}, AA={}, TC={}, RD={}, RA={}, Z={}, RCODE={} {}",
            h.qr as u8,
            if h.qr { "response" } else { "query" },
            h.opcode,
            opcode_name(h.opcode),
            h.aa as u8,
            h.tc as u8,
            h.rd as u8,
            h.ra as u8,
            h.z,
            h.rcode,
            rcode_name(h.rcode.into())
        ),
    ));
    for (i, name) in ["QDCOUNT", "ANCOUNT", "NSCOUNT", "ARCOUNT"]
        .iter()
        .enumerate()
    {
        out.push(Annotation::new(
            4 + 2 * i..6 + 2 * i,
            format!("{name} = {}", counts[i]),
        ));
    }
    let mut pos = HEADER_LEN;
    for i in 0..counts[0] {
        pos = name_labels(msg, pos, &format!("question {}", i + 1), out)?;
        let t = u16_at(msg, pos)?;
        let c = u16_at(msg, pos + 2)?;
        out.push(Annotation::new(
            pos..pos + 2,
            format!("QTYPE = {t} ({})", type_name(t)),
        ));
        out.push(Annotation::new(
            pos + 2..pos + 4,
            format!("QCLASS = {c}{}", class_name(c)),
        ));
        pos += 4;
    }
    let sections = [
        ("answer", counts[1]),
        ("authority", counts[2]),
        ("additional", counts[3]),
    ];
    for (section, count) in sections {
        for i in 0..count {
            let (record, end) = read_record(msg, pos)?;
            let what = format!("{section} {}", i + 1);
            let at = name_labels(msg, pos, &what, out)?;
            let rdlen = end - at - 10;
            let (class, ttl) = if record.rtype == rtype::OPT {
                (
                    format!("CLASS = {}: OPT's UDP payload size", record.class),
                    format!(
                        "TTL = {:#010x}: OPT's extended RCODE {}, version {}, DO={}",
                        record.ttl,
                        record.ttl >> 24,
                        (record.ttl >> 16) & 0xff,
                        (record.ttl >> 15) & 1
                    ),
                )
            } else {
                (
                    format!("CLASS = {}{}", record.class, class_name(record.class)),
                    format!("TTL = {} s", record.ttl),
                )
            };
            out.push(Annotation::new(
                at..at + 2,
                format!("TYPE = {} ({})", record.rtype, type_name(record.rtype)),
            ));
            out.push(Annotation::new(at + 2..at + 4, class));
            out.push(Annotation::new(at + 4..at + 8, ttl));
            out.push(Annotation::new(
                at + 8..at + 10,
                format!("RDLENGTH = {rdlen}"),
            ));
            if rdlen > 0 {
                out.push(Annotation::new(
                    end - rdlen..end,
                    format!("RDATA: {}", rdata_text(&record)),
                ));
            }
            pos = end;
        }
    }
    if pos < msg.len() {
        out.push(Annotation::new(
            pos..msg.len(),
            format!("{} bytes after the last record (ignored)", msg.len() - pos),
        ));
    }
    Ok(())
}

/// Annotate the name at `pos` where it is written: each label with its length byte, then the
/// root's zero byte or a pointer. Returns the offset after it.
fn name_labels(
    msg: &[u8],
    pos: usize,
    what: &str,
    out: &mut Vec<Annotation>,
) -> Result<usize, DnsError> {
    // Validate the whole name (pointers and all) first: after that, every byte below is there.
    let (name, end) = read_name(msg, pos)?;
    let mut at = pos;
    let mut first = true;
    while at < end {
        let len = msg[at];
        let prefix = if first {
            format!("{what} name {name}: ")
        } else {
            String::new()
        };
        first = false;
        if len == 0 {
            out.push(Annotation::new(
                at..at + 1,
                format!("{prefix}0: the root, end of name"),
            ));
            at += 1;
        } else if len & 0xc0 == 0xc0 {
            let target = (usize::from(len & 0x3f) << 8) | usize::from(msg[at + 1]);
            let rest = read_name(msg, target)
                .map(|(n, _)| n.to_string())
                .unwrap_or_default();
            out.push(Annotation::new(
                at..at + 2,
                format!("{prefix}pointer to offset {target}: {rest}"),
            ));
            at += 2;
        } else {
            let label = &msg[at + 1..at + 1 + len as usize];
            out.push(Annotation::new(
                at..at + 1 + len as usize,
                format!("{prefix}label {len} \"{}\"", label.escape_ascii()),
            ));
            at += 1 + len as usize;
        }
    }
    Ok(end)
}

fn u16_at(msg: &[u8], pos: usize) -> Result<u16, DnsError> {
    let b = msg
        .get(pos..pos + 2)
        .ok_or_else(|| super::name::truncated(msg, pos, 2))?;
    Ok(u16::from_be_bytes([b[0], b[1]]))
}

fn class_name(c: u16) -> &'static str {
    match c {
        1 => " (IN)",
        3 => " (CH)",
        255 => " (ANY)",
        _ => "",
    }
}

/// A record's data as a zone file would write it.
pub fn rdata_text(r: &Record) -> String {
    match &r.data {
        RData::A(a) => Ipv4Addr::from(*a).to_string(),
        RData::Aaaa(a) => Ipv6Addr::from(*a).to_string(),
        RData::Name(n) => n.to_string(),
        RData::Soa {
            mname,
            rname,
            numbers,
        } => {
            let n: Vec<String> = numbers.iter().map(u32::to_string).collect();
            format!("{mname} {rname} {}", n.join(" "))
        }
        RData::Mx {
            preference,
            exchange,
        } => format!("{preference} {exchange}"),
        RData::Txt(strings) => {
            let s: Vec<String> = strings
                .iter()
                .map(|s| format!("\"{}\"", s.escape_ascii()))
                .collect();
            s.join(" ")
        }
        RData::Raw(b) if b.is_empty() => "(no data)".into(),
        RData::Raw(b) => format!(
            "\\# {} {}",
            b.len(),
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        ),
    }
}

/// A record as one line of dig's output: `www.course.test. 300 IN A 192.0.2.10`.
pub fn record_line(r: &Record) -> String {
    format!(
        "{}\t{}\tIN\t{}\t{}",
        r.name,
        r.ttl,
        type_name(r.rtype),
        rdata_text(r)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::message::query;
    use crate::dns::name::Name;

    #[test]
    fn a_query_is_dissected_field_by_field() {
        let q = query(
            0x1234,
            &Name::parse("www.course.test").unwrap(),
            1,
            true,
            Some(1232),
        );
        let text = dissect(&q);
        for want in [
            "ID = 0x1234",
            "QR=0 query",
            "RD=1",
            "QDCOUNT = 1",
            "label 3 \"www\"",
            "label 6 \"course\"",
            "0: the root, end of name",
            "QTYPE = 1 (A)",
            "CLASS = 1232: OPT's UDP payload size",
            "version 0",
        ] {
            assert!(text.contains(want), "{want} missing in\n{text}");
        }
        assert!(!text.contains("broken"));
    }

    #[test]
    fn pointers_show_their_target_and_errors_their_rule() {
        let mut q = query(1, &Name::parse("a.test").unwrap(), 1, true, None);
        q[7] = 1;
        q.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x05\x00\x04\x01\x02\x03\x04");
        let text = dissect(&q);
        assert!(text.contains("pointer to offset 12: a.test."), "{text}");
        assert!(text.contains("RDATA: 1.2.3.4"), "{text}");
        let mut bad = q.clone();
        let n = bad.len();
        bad[n - 16] = 0xc0;
        bad[n - 15] = 0x40; // a pointer forward
        let text = dissect(&bad);
        assert!(
            text.contains("broken: at byte 24: a compression pointer to offset 64"),
            "{text}"
        );
    }
}
