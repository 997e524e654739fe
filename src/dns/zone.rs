//! A zone: the names one authoritative server answers for, read from a master file (a subset of
//! RFC 1035 section 5), and the lookups the answerer needs.
//!
//! ```text
//! $ORIGIN course.test.
//! $TTL 300
//! @      IN SOA  ns1 hostmaster 2026112201 3600 600 86400 60
//! www    IN A    192.0.2.10
//! alias  IN CNAME www
//! ```
//!
//! One record per line, `OWNER [TTL] [IN] TYPE RDATA`; an owner left blank (the line starts
//! with a space) is the previous line's (RFC 1035 5.1). `@` is the origin, a name without a
//! final dot is relative to `$ORIGIN`. Types: SOA, NS, A, AAAA, CNAME, MX, TXT. The zone's apex
//! is the owner of its SOA record; every name in it is at or below the apex.
//!
//! Lookups answer the question an authoritative server asks first: does this name exist here?
//! A name exists if it owns records *or has names below it*: `deep.course.test.` with only
//! `sub.deep.course.test.` under it is an "empty non-terminal", and a query for it is NODATA,
//! not NXDOMAIN (RFC 8020: NXDOMAIN means "there is nothing at or below this name").

use super::message::{RData, Record};
use super::name::Name;
use super::{rtype, CLASS_IN};
use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

/// A zone file error: the file, the line and the rule broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZoneError {
    pub file: String,
    pub line: usize,
    pub why: String,
}

impl fmt::Display for ZoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.why)
    }
}

impl std::error::Error for ZoneError {}

/// What a zone holds at a name.
#[derive(Debug, PartialEq, Eq)]
pub enum Lookup<'z> {
    /// The name is not at or below the apex: not ours to answer (REFUSED).
    NotInZone,
    /// Nothing at or below the name (NXDOMAIN).
    NxDomain,
    /// The name exists; these are its records (none for an empty non-terminal).
    Found(&'z [Record]),
}

/// A parsed zone.
#[derive(Debug, Clone)]
pub struct Zone {
    apex: Name,
    soa: Record,
    /// Records by owner name in lower case, in file order.
    records: HashMap<Name, Vec<Record>>,
    /// Every name that exists: the owners and all their ancestors down to the apex.
    names: HashSet<Name>,
}

/// The largest TTL (RFC 2181 8: "a TTL value is an unsigned number, with a minimum value of 0,
/// and a maximum value of 2147483647").
const MAX_TTL: u32 = (1 << 31) - 1;

impl Zone {
    /// Parse a zone file's text; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Zone, ZoneError> {
        let mut origin: Option<Name> = None;
        let mut default_ttl: Option<u32> = None;
        let mut previous_owner: Option<Name> = None;
        let mut all: Vec<(usize, Record)> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let err = |why: String| ZoneError {
                file: file.to_string(),
                line: i + 1,
                why,
            };
            let tokens = tokenize(raw).map_err(err)?;
            let Some(first) = tokens.first() else {
                continue;
            };
            if first.text == "$ORIGIN" {
                let name = tokens
                    .get(1)
                    .ok_or_else(|| err("$ORIGIN needs a name".into()))?;
                if !name.text.ends_with('.') {
                    return Err(err("$ORIGIN must be an absolute name, ending in '.'".into()));
                }
                origin = Some(parse_name(&name.text, None).map_err(err)?);
                continue;
            }
            if first.text == "$TTL" {
                let ttl = tokens
                    .get(1)
                    .ok_or_else(|| err("$TTL needs a number".into()))?;
                default_ttl = Some(parse_ttl(&ttl.text).map_err(err)?);
                continue;
            }
            if first.text.starts_with('$') {
                return Err(err(format!(
                    "{}: only $ORIGIN and $TTL are supported",
                    first.text
                )));
            }
            let mut rest = &tokens[..];
            let owner = if raw.starts_with([' ', '\t']) {
                previous_owner
                    .clone()
                    .ok_or_else(|| err("a blank owner, but no record before this one".into()))?
            } else {
                rest = &rest[1..];
                parse_name(&first.text, origin.as_ref()).map_err(err)?
            };
            previous_owner = Some(owner.clone());
            let mut ttl = None;
            let mut rtype = None;
            while let Some((t, tail)) = rest.split_first() {
                rest = tail;
                if !t.quoted && t.text.bytes().all(|b| b.is_ascii_digit()) {
                    ttl = Some(parse_ttl(&t.text).map_err(err)?);
                } else if t.text.eq_ignore_ascii_case("IN") {
                    // the only class (RFC 1035 3.2.4)
                } else if ["CH", "HS", "CS"]
                    .iter()
                    .any(|c| t.text.eq_ignore_ascii_case(c))
                {
                    return Err(err(format!("class {}: only IN is supported", t.text)));
                } else {
                    rtype = Some(t.text.to_ascii_uppercase());
                    break;
                }
            }
            let rtype = rtype.ok_or_else(|| err("no record type".into()))?;
            let ttl = ttl.or(default_ttl).ok_or_else(|| {
                err("no TTL: give one on the line or a $TTL line before it".into())
            })?;
            let (t, data) = parse_rdata(&rtype, rest, origin.as_ref()).map_err(err)?;
            all.push((
                i + 1,
                Record {
                    name: owner,
                    rtype: t,
                    class: CLASS_IN,
                    ttl,
                    data,
                },
            ));
        }
        Zone::from_records(all, file)
    }

    /// Check the records make one zone, and index them.
    fn from_records(all: Vec<(usize, Record)>, file: &str) -> Result<Zone, ZoneError> {
        let err = |line: usize, why: String| ZoneError {
            file: file.to_string(),
            line,
            why,
        };
        let soas: Vec<&(usize, Record)> =
            all.iter().filter(|(_, r)| r.rtype == rtype::SOA).collect();
        let (soa_line, soa) = match soas.as_slice() {
            [one] => (one.0, one.1.clone()),
            [] => {
                return Err(err(
                    all.len().max(1),
                    "no SOA record: a zone starts with one (RFC 1035 5.2)".into(),
                ))
            }
            [_, second, ..] => {
                return Err(err(
                    second.0,
                    "a second SOA record: a zone has exactly one".into(),
                ))
            }
        };
        let apex = soa.name.lowercase();
        let mut records: HashMap<Name, Vec<Record>> = HashMap::new();
        let mut names = HashSet::new();
        for (line, r) in all {
            if !r.name.is_at_or_below(&apex) {
                return Err(err(
                    line,
                    format!(
                        "{} is outside the zone {apex} (its SOA is on line {soa_line})",
                        r.name
                    ),
                ));
            }
            let key = r.name.lowercase();
            let here = records.entry(key.clone()).or_default();
            // RFC 1034 3.6.2: "If a CNAME RR is present at a node, no other data should be
            // present; this ensures that the data for a canonical name and its aliases cannot
            // be different." (RFC 2181 10.1 makes it a must.)
            let cname_clash = (r.rtype == rtype::CNAME && !here.is_empty())
                || here.iter().any(|h| h.rtype == rtype::CNAME);
            if cname_clash {
                return Err(err(
                    line,
                    format!(
                        "{}: a CNAME cannot share its name with other records (RFC 2181 10.1)",
                        r.name
                    ),
                ));
            }
            here.push(r);
            let mut name = Some(key);
            while let Some(n) = name {
                if n.labels().len() < apex.labels().len() || !names.insert(n.clone()) {
                    break;
                }
                name = n.parent();
            }
        }
        Ok(Zone {
            apex,
            soa,
            records,
            names,
        })
    }

    pub fn apex(&self) -> &Name {
        &self.apex
    }

    pub fn soa(&self) -> &Record {
        &self.soa
    }

    /// The SOA record as a negative answer carries it: RFC 2308 3, "The TTL of this record is
    /// set from the minimum of the MINIMUM field of the SOA record and the TTL of the SOA
    /// itself".
    pub fn negative_soa(&self) -> Record {
        let mut soa = self.soa.clone();
        if let RData::Soa { numbers, .. } = &soa.data {
            soa.ttl = soa.ttl.min(numbers[4]);
        }
        soa
    }

    /// What the zone holds at `name` (case ignored).
    pub fn lookup(&self, name: &Name) -> Lookup<'_> {
        if !name.is_at_or_below(&self.apex) {
            return Lookup::NotInZone;
        }
        let key = name.lowercase();
        if !self.names.contains(&key) {
            return Lookup::NxDomain;
        }
        Lookup::Found(self.records.get(&key).map_or(&[], Vec::as_slice))
    }

    /// Every record, for tests and listings.
    pub fn len(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A token of a zone file line: a word, or a "quoted string" with its escapes resolved.
#[derive(Debug)]
struct Token {
    text: String,
    bytes: Vec<u8>,
    quoted: bool,
}

/// Split a line into tokens, dropping the `;` comment (outside quotes).
fn tokenize(line: &str) -> Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.bytes().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            b';' => break,
            b' ' | b'\t' | b'\r' => {
                chars.next();
            }
            b'(' | b')' => return Err(
                "parentheses (records over several lines) are not supported: one record per line"
                    .into(),
            ),
            b'"' => {
                chars.next();
                let mut bytes = Vec::new();
                loop {
                    match chars.next() {
                        None => return Err("a quoted string is not closed".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            match chars.next() {
                                Some(e @ (b'"' | b'\\')) => bytes.push(e),
                                _ => return Err(
                                    "only \\\" and \\\\ escapes are supported in a quoted string"
                                        .into(),
                                ),
                            }
                        }
                        Some(b) => bytes.push(b),
                    }
                }
                tokens.push(Token {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    bytes,
                    quoted: true,
                });
            }
            _ => {
                let mut bytes = Vec::new();
                while let Some(&b) = chars.peek() {
                    if matches!(b, b' ' | b'\t' | b'\r' | b';' | b'"') {
                        break;
                    }
                    bytes.push(b);
                    chars.next();
                }
                tokens.push(Token {
                    text: String::from_utf8_lossy(&bytes).into_owned(),
                    bytes,
                    quoted: false,
                });
            }
        }
    }
    Ok(tokens)
}

/// A name as the zone file writes it: `@`, relative to the origin, or absolute with a dot.
fn parse_name(text: &str, origin: Option<&Name>) -> Result<Name, String> {
    if text.contains('\\') {
        return Err(format!("{text}: escapes in names are not supported"));
    }
    if text == "@" {
        return origin.cloned().ok_or("@ before any $ORIGIN".into());
    }
    if text.contains("..") || (text.starts_with('.') && text != ".") {
        return Err(format!("{text}: an empty label"));
    }
    if text.ends_with('.') {
        return Name::parse(text).map_err(|e| format!("{text}: {e}"));
    }
    let origin = origin.ok_or(format!("{text} is relative, but no $ORIGIN was given"))?;
    let mut labels: Vec<Vec<u8>> = text.split('.').map(|l| l.as_bytes().to_vec()).collect();
    labels.extend(origin.labels().iter().cloned());
    Name::from_labels(labels)
        .map_err(|e| format!("{text}: {}", e.to_string().split(": ").last().unwrap_or("")))
}

fn parse_ttl(text: &str) -> Result<u32, String> {
    match text.parse::<u64>() {
        Ok(t) if t <= MAX_TTL as u64 => Ok(t as u32),
        _ => Err(format!(
            "TTL {text}: a number from 0 to {MAX_TTL} (RFC 2181 8)"
        )),
    }
}

/// The data of one record, by type.
fn parse_rdata(rtype: &str, rest: &[Token], origin: Option<&Name>) -> Result<(u16, RData), String> {
    let words: Vec<&str> = rest.iter().map(|t| t.text.as_str()).collect();
    let count = |n: usize| {
        if words.len() == n {
            Ok(())
        } else {
            Err(format!(
                "{rtype} takes {n} field(s) after the type, found {}",
                words.len()
            ))
        }
    };
    let number = |w: &str| w.parse::<u32>().map_err(|_| format!("{w}: not a number"));
    Ok(match rtype {
        "A" => {
            count(1)?;
            let ip: Ipv4Addr = words[0]
                .parse()
                .map_err(|_| format!("{}: not an IPv4 address", words[0]))?;
            (rtype::A, RData::A(ip.octets()))
        }
        "AAAA" => {
            count(1)?;
            let ip: Ipv6Addr = words[0]
                .parse()
                .map_err(|_| format!("{}: not an IPv6 address", words[0]))?;
            (rtype::AAAA, RData::Aaaa(ip.octets()))
        }
        "CNAME" | "NS" => {
            count(1)?;
            let t = if rtype == "NS" {
                rtype::NS
            } else {
                rtype::CNAME
            };
            (t, RData::Name(parse_name(words[0], origin)?))
        }
        "MX" => {
            count(2)?;
            let preference = u16::try_from(number(words[0])?)
                .map_err(|_| "MX preference: 0 to 65535".to_string())?;
            (
                rtype::MX,
                RData::Mx {
                    preference,
                    exchange: parse_name(words[1], origin)?,
                },
            )
        }
        "SOA" => {
            count(7)?;
            let mut numbers = [0u32; 5];
            for (n, w) in numbers.iter_mut().zip(&words[2..]) {
                *n = number(w)?;
            }
            (
                rtype::SOA,
                RData::Soa {
                    mname: parse_name(words[0], origin)?,
                    rname: parse_name(words[1], origin)?,
                    numbers,
                },
            )
        }
        "TXT" => {
            if rest.is_empty() || rest.iter().any(|t| !t.quoted) {
                return Err("TXT takes one or more \"quoted strings\"".into());
            }
            if let Some(t) = rest.iter().find(|t| t.bytes.len() > 255) {
                return Err(format!(
                    "a TXT string of {} bytes: at most 255 each (RFC 1035 3.3)",
                    t.bytes.len()
                ));
            }
            let total: usize = rest.iter().map(|t| 1 + t.bytes.len()).sum();
            if total > 65535 {
                return Err("the TXT data is longer than 65535 bytes".into());
            }
            (
                rtype::TXT,
                RData::Txt(rest.iter().map(|t| t.bytes.clone()).collect()),
            )
        }
        other => {
            return Err(format!(
                "type {other}: only SOA, NS, A, AAAA, CNAME, MX and TXT are supported"
            ))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "\
; the contract's example
$ORIGIN course.test.
$TTL 300
@        IN SOA  ns1 hostmaster 2026112201 3600 600 86400 60
@        IN NS   ns1
ns1      IN A    127.0.0.1
www      IN A    192.0.2.10
         IN AAAA 2001:db8::10
alias  60 IN CNAME www
sub.deep    A 192.0.2.99
txt      TXT \"hello \\\"world\\\"\" \"two\" ; a comment
mx.course.test. MX 10 www
";

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    #[test]
    fn the_contract_example_parses() {
        let z = Zone::parse(ZONE, "test.zone").unwrap();
        assert_eq!(z.apex(), &name("course.test"));
        assert_eq!(z.len(), 9);
        let Lookup::Found(www) = z.lookup(&name("WWW.Course.Test")) else {
            panic!()
        };
        assert_eq!(www.len(), 2);
        assert_eq!(
            www[1].data,
            RData::Aaaa("2001:db8::10".parse::<Ipv6Addr>().unwrap().octets())
        );
        let Lookup::Found(alias) = z.lookup(&name("alias.course.test")) else {
            panic!()
        };
        assert_eq!(
            (alias[0].ttl, &alias[0].data),
            (60, &RData::Name(name("www.course.test")))
        );
        let Lookup::Found(txt) = z.lookup(&name("txt.course.test")) else {
            panic!()
        };
        assert_eq!(
            txt[0].data,
            RData::Txt(vec![b"hello \"world\"".to_vec(), b"two".to_vec()])
        );
        // The negative-answer TTL: min(300, MINIMUM 60).
        assert_eq!(z.negative_soa().ttl, 60);
    }

    #[test]
    fn empty_non_terminals_exist_and_missing_names_do_not() {
        let z = Zone::parse(ZONE, "test.zone").unwrap();
        assert_eq!(z.lookup(&name("deep.course.test")), Lookup::Found(&[]));
        assert_eq!(z.lookup(&name("nope.course.test")), Lookup::NxDomain);
        assert_eq!(z.lookup(&name("x.sub.deep.course.test")), Lookup::NxDomain);
        assert_eq!(z.lookup(&name("example.com")), Lookup::NotInZone);
        assert_eq!(z.lookup(&name("test")), Lookup::NotInZone);
    }

    #[test]
    fn errors_name_the_file_line_and_rule() {
        let cases = [
            (
                "$TTL 300\n@ SOA a b 1 2 3 4 5\n",
                "line 2",
                "@ before any $ORIGIN",
            ),
            (
                "$ORIGIN t.\n@ 300 SOA a b 1 2 3 4 5\nx 300 A 1.2.3\n",
                "line 3",
                "not an IPv4",
            ),
            (
                "$ORIGIN t.\n@ 300 SOA a b 1 2 3 4 5\nx A 1.2.3.4\n",
                "line 3",
                "no TTL",
            ),
            (
                "$ORIGIN t.\n$TTL 1\n@ SOA a b 1 2 3 4 5\nx CNAME y\nx A 1.2.3.4\n",
                "line 5",
                "CNAME",
            ),
            (
                "$ORIGIN t.\n$TTL 1\n@ SOA a b 1 2 3 4 5\nx.u. A 1.2.3.4\n",
                "line 4",
                "outside the zone",
            ),
            ("$ORIGIN t.\n$TTL 1\nx A 1.2.3.4\n", "line 1", "no SOA"),
            (
                "$ORIGIN t.\n$TTL 1\n@ SOA a b 1 2 3 4 5\nx TXT \"open\n",
                "line 4",
                "not closed",
            ),
            (
                "$ORIGIN t.\n$TTL 1\n@ SOA a b 1 2 3 4 5\nx SRV 1 2 3 y\n",
                "line 4",
                "SRV",
            ),
            ("$ORIGIN t.\n$TTL 4294967295\n", "line 2", "RFC 2181 8"),
        ];
        for (text, line, why) in cases {
            let e = Zone::parse(text, "z").unwrap_err().to_string();
            assert!(e.starts_with(&format!("z:{}:", &line[5..])), "{e}");
            assert!(e.contains(why), "{e} should mention {why}");
        }
        let long = format!(
            "$ORIGIN t.\n$TTL 1\n@ SOA a b 1 2 3 4 5\n{} A 1.2.3.4\n",
            "a".repeat(64)
        );
        assert!(Zone::parse(&long, "z")
            .unwrap_err()
            .to_string()
            .contains("1 to 63"));
    }
}
