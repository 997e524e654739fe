//! Domain names on the wire: labels, the limits, and compression (RFC 1035 3.1 and 4.1.4).
//!
//! A name is a sequence of labels, each a length byte and that many bytes, ended by the empty
//! label of the root, a zero byte: `www.course.test.` is
//!
//! ```text
//!   03 77 77 77 06 63 6f 75 72 73 65 04 74 65 73 74 00
//!   3  w  w  w  6  c  o  u  r  s  e  4  t  e  s  t  root
//! ```
//!
//! To save room a message may replace the end of a name by a *pointer* to the same labels
//! written earlier in the message: two bytes whose top bits are `11`, the other 14 bits an
//! offset from the start of the message. RFC 1035 4.1.4: "The pointer takes the form of a two
//! octet sequence ... The first two bits are ones. This allows a pointer to be distinguished
//! from a label, since the label must begin with two zero bits because labels are restricted
//! to 63 octets or less. (The 10 and 01 combinations are reserved for future use.)"
//!
//! Following pointers is where parsers have gone wrong for thirty years: a pointer at itself,
//! two pointers at each other, a pointer past the end of the buffer. This reader accepts only
//! pointers that go strictly backwards, before the bytes it has already read for this name, and
//! counts its hops: every pointer makes progress towards offset 0, so no input can loop it.

use super::{DnsError, Rule};
use std::fmt;

/// Longest label (RFC 1035 2.3.4: "labels 63 octets or less").
pub const MAX_LABEL: usize = 63;
/// Longest name in wire form, length bytes and the root's zero byte included (RFC 1035 2.3.4).
pub const MAX_NAME: usize = 255;
/// Most compression pointers followed in one name. A name has at most 127 labels and an
/// encoder needs at most one pointer per name; the backward-only rule already stops loops, this
/// bounds the work on a hostile chain of pointers to pointers.
pub const MAX_POINTERS: usize = 32;

/// A domain name as its labels, case preserved (resolvers randomize the case of the names they
/// ask, "0x20", and check that it comes back unchanged). Compare with [`Name::eq_ignore_case`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Name {
    labels: Vec<Vec<u8>>,
}

impl Name {
    /// The root, `.`: no labels.
    pub fn root() -> Name {
        Name::default()
    }

    /// A name from its labels; each must be 1 to 63 bytes and the whole at most 255 on the wire.
    pub fn from_labels(labels: Vec<Vec<u8>>) -> Result<Name, DnsError> {
        if labels.iter().any(|l| l.is_empty() || l.len() > MAX_LABEL) {
            return Err(DnsError::new(0, Rule::BadLabel));
        }
        let name = Name { labels };
        if name.wire_len() > MAX_NAME {
            return Err(DnsError::new(0, Rule::NameTooLong));
        }
        Ok(name)
    }

    /// A name from text, `www.course.test.` or `www.course.test` (always taken as absolute), `.`
    /// for the root. No escapes: a dot always separates labels.
    pub fn parse(text: &str) -> Result<Name, DnsError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Ok(Name::root());
        }
        Name::from_labels(text.split('.').map(|l| l.as_bytes().to_vec()).collect())
    }

    pub fn labels(&self) -> &[Vec<u8>] {
        &self.labels
    }

    pub fn is_root(&self) -> bool {
        self.labels.is_empty()
    }

    /// Bytes on the wire without compression: a length byte per label, the labels, the root.
    pub fn wire_len(&self) -> usize {
        self.labels.iter().map(|l| 1 + l.len()).sum::<usize>() + 1
    }

    /// The uncompressed wire form.
    pub fn to_wire(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.wire_len());
        for label in &self.labels {
            out.push(label.len() as u8);
            out.extend_from_slice(label);
        }
        out.push(0);
        out
    }

    /// RFC 1035 2.3.3: "comparisons between character strings ... be done in a case-insensitive
    /// manner" (ASCII only, RFC 4343).
    pub fn eq_ignore_case(&self, other: &Name) -> bool {
        self.labels.len() == other.labels.len()
            && self
                .labels
                .iter()
                .zip(&other.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The same name in lower case: a key for maps that must ignore case.
    pub fn lowercase(&self) -> Name {
        Name {
            labels: self.labels.iter().map(|l| l.to_ascii_lowercase()).collect(),
        }
    }

    /// Is `self` equal to `ancestor` or below it (`www.course.test.` is below `course.test.`)?
    pub fn is_at_or_below(&self, ancestor: &Name) -> bool {
        let n = ancestor.labels.len();
        self.labels.len() >= n
            && self.labels[self.labels.len() - n..]
                .iter()
                .zip(&ancestor.labels)
                .all(|(a, b)| a.eq_ignore_ascii_case(b))
    }

    /// The name with its first label removed (`course.test.` for `www.course.test.`).
    pub fn parent(&self) -> Option<Name> {
        (!self.labels.is_empty()).then(|| Name {
            labels: self.labels[1..].to_vec(),
        })
    }

    /// `label` prepended: `www` + `course.test.`.
    pub fn child(&self, label: &[u8]) -> Result<Name, DnsError> {
        let mut labels = vec![label.to_vec()];
        labels.extend(self.labels.iter().cloned());
        Name::from_labels(labels)
    }
}

/// As dig writes names: labels joined by dots, a final dot, `.` and `\` escaped, bytes that are
/// not printable as `\DDD` (RFC 1035 5.1).
impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.labels.is_empty() {
            return f.write_str(".");
        }
        for label in &self.labels {
            for &b in label {
                match b {
                    b'.' | b'\\' => write!(f, "\\{}", b as char)?,
                    0x21..=0x7e => write!(f, "{}", b as char)?,
                    _ => write!(f, "\\{b:03}")?,
                }
            }
            f.write_str(".")?;
        }
        Ok(())
    }
}

/// Read the name that starts at `start` in `msg` (the whole message: pointers count from its
/// first byte). Returns the name and the offset just after it *where it was written*: after
/// its zero byte, or after the first pointer (what follows a pointer is never part of the
/// name).
pub fn read_name(msg: &[u8], start: usize) -> Result<(Name, usize), DnsError> {
    // exercise(15): begin "Read a name: labels, the root's zero byte, and compression pointers (backward only, bounded, counted)"
    // hint: A length byte's top two bits say what it is: 00 a label of that many bytes (0 is the root, the end), 11 a pointer whose other 14 bits and the next byte are an offset from the start of the message, 01 and 10 are reserved (an error).
    // hint: Before reading any byte, check it is there: `msg.get(pos)` returns None past the end.
    // hint: A pointer must go back before the first byte of the run of labels you are reading (not just before itself: labels from the target could lead back to the pointer).
    // hint: Count the name's wire length as you go (each label 1 + its length, the root 1) and stop at 255; count the pointers and stop at MAX_POINTERS.
    let mut labels = Vec::new();
    let mut pos = start;
    // Where the labels being read began: a pointer must point before it.
    let mut run_start = start;
    let mut end = None; // the offset after the name where it was written
    let mut wire_len = 0;
    let mut hops = 0;
    loop {
        let &len = msg.get(pos).ok_or_else(|| truncated(msg, pos, 1))?;
        match len & 0xc0 {
            0x00 => {
                wire_len += 1 + len as usize;
                if wire_len > MAX_NAME {
                    return Err(DnsError::new(pos, Rule::NameTooLong));
                }
                if len == 0 {
                    return Ok((Name { labels }, end.unwrap_or(pos + 1)));
                }
                let label = msg
                    .get(pos + 1..pos + 1 + len as usize)
                    .ok_or_else(|| truncated(msg, pos, 1 + len as usize))?;
                labels.push(label.to_vec());
                pos += 1 + len as usize;
            }
            0xc0 => {
                let &low = msg.get(pos + 1).ok_or_else(|| truncated(msg, pos, 2))?;
                let target = ((len as usize & 0x3f) << 8) | low as usize;
                if target >= run_start {
                    return Err(DnsError::new(pos, Rule::PointerNotBackward { target }));
                }
                hops += 1;
                if hops > MAX_POINTERS {
                    return Err(DnsError::new(pos, Rule::TooManyPointers));
                }
                end.get_or_insert(pos + 2);
                pos = target;
                run_start = target;
            }
            _ => return Err(DnsError::new(pos, Rule::ReservedLabelType(len))),
        }
    }
    // exercise(15): end
}

/// The error for a field of `len` bytes at `at` that runs past the end of `msg`.
pub(crate) fn truncated(msg: &[u8], at: usize, len: usize) -> DnsError {
    DnsError::new(
        at,
        Rule::Truncated {
            needed: (at + len).saturating_sub(msg.len()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> Name {
        Name::parse(s).unwrap()
    }

    /// RFC 1035 4.1.4's example: F.ISI.ARPA at offset 20, FOO.F.ISI.ARPA at 40 as a label and
    /// a pointer to 20, and the root at 64 as a lone zero byte.
    #[test]
    fn rfc1035_4_1_4_compression_example() {
        let mut msg = vec![0u8; 20];
        msg.extend_from_slice(b"\x01F\x03ISI\x04ARPA\x00"); // 20..32
        msg.resize(40, 0xee);
        msg.extend_from_slice(b"\x03FOO\xc0\x14"); // 40..46: FOO, pointer to 20
        msg.resize(64, 0xee);
        msg.push(0);
        assert_eq!(read_name(&msg, 20).unwrap(), (name("F.ISI.ARPA"), 32));
        assert_eq!(read_name(&msg, 40).unwrap(), (name("FOO.F.ISI.ARPA"), 46));
        assert_eq!(read_name(&msg, 64).unwrap(), (Name::root(), 65));
    }

    #[test]
    fn a_pointer_at_itself_is_refused() {
        let msg = b"\x00\x00\xc0\x02";
        let e = read_name(msg, 2).unwrap_err();
        assert_eq!(e.rule, Rule::PointerNotBackward { target: 2 });
    }

    #[test]
    fn two_pointers_at_each_other_are_refused() {
        // 0: pointer to 2; 2: pointer to 0. Reading from 2 jumps back to 0, whose pointer
        // goes forward again: refused, not followed around forever.
        let msg = b"\xc0\x02\xc0\x00";
        let e = read_name(msg, 2).unwrap_err();
        assert_eq!(e, DnsError::new(0, Rule::PointerNotBackward { target: 2 }));
    }

    #[test]
    fn a_pointer_back_into_the_labels_that_lead_to_it_is_refused() {
        // 0: label "a", then a pointer to 0: backwards from the pointer, but into its own name.
        let msg = b"\x01a\xc0\x00";
        let e = read_name(msg, 0).unwrap_err();
        assert_eq!(e.rule, Rule::PointerNotBackward { target: 0 });
    }

    #[test]
    fn forward_pointers_and_pointers_past_the_end_are_refused() {
        let msg = b"\xc0\x04\x00\x00\x01a\x00";
        assert_eq!(
            read_name(msg, 0).unwrap_err().rule,
            Rule::PointerNotBackward { target: 4 }
        );
        let msg = b"\x01a\xff\xff";
        assert_eq!(
            read_name(msg, 0).unwrap_err().rule,
            Rule::PointerNotBackward { target: 0x3fff }
        );
    }

    #[test]
    fn a_chain_of_backward_pointers_is_bounded() {
        // 40 pointers, each to the one before it, ending at a root: legal steps, too many.
        let mut msg = vec![0u8];
        for i in 0..40u16 {
            let target = if i == 0 { 0 } else { 1 + 2 * (i - 1) };
            msg.extend_from_slice(&(0xc000 | target).to_be_bytes());
        }
        let last = msg.len() - 2;
        assert_eq!(
            read_name(&msg, last).unwrap_err().rule,
            Rule::TooManyPointers
        );
        assert_eq!(read_name(&msg, 5).unwrap().0, Name::root());
    }

    #[test]
    fn a_label_of_64_bytes_is_a_reserved_label_type() {
        let mut msg = vec![64u8];
        msg.extend_from_slice(&[b'a'; 64]);
        msg.push(0);
        assert_eq!(
            read_name(&msg, 0).unwrap_err().rule,
            Rule::ReservedLabelType(64)
        );
        assert_eq!(
            read_name(b"\x80\x00", 0).unwrap_err().rule,
            Rule::ReservedLabelType(0x80)
        );
        assert!(Name::from_labels(vec![vec![b'a'; 64]]).is_err());
        assert!(Name::from_labels(vec![vec![b'a'; 63]]).is_ok());
    }

    #[test]
    fn a_name_of_256_bytes_is_refused_and_255_accepted() {
        // 4 labels of 63 = 256 bytes with the root: too long. 3 of 63 + one of 61: 255.
        let long: Vec<Vec<u8>> = vec![vec![b'a'; 63]; 4];
        let mut wire = Name { labels: long }.to_wire();
        assert_eq!(wire.len(), 257);
        assert_eq!(read_name(&wire, 0).unwrap_err().rule, Rule::NameTooLong);
        wire.truncate(0);
        let ok = vec![
            vec![b'a'; 63],
            vec![b'b'; 63],
            vec![b'c'; 63],
            vec![b'd'; 61],
        ];
        let name = Name::from_labels(ok).unwrap();
        assert_eq!(name.wire_len(), 255);
        assert_eq!(read_name(&name.to_wire(), 0).unwrap().0, name);
        let too_long = vec![
            vec![b'a'; 63],
            vec![b'b'; 63],
            vec![b'c'; 63],
            vec![b'd'; 62],
        ];
        assert_eq!(
            Name::from_labels(too_long).unwrap_err().rule,
            Rule::NameTooLong
        );
    }

    #[test]
    fn every_truncated_prefix_of_a_name_fails_cleanly() {
        let wire = name("www.course.test").to_wire();
        for n in 0..wire.len() {
            let e = read_name(&wire[..n], 0).unwrap_err();
            assert!(matches!(e.rule, Rule::Truncated { .. }), "{n}: {e}");
        }
    }

    #[test]
    fn names_compare_ignoring_case_and_print_like_dig() {
        assert!(name("WwW.CoUrSe.TeSt").eq_ignore_case(&name("www.course.test.")));
        assert_ne!(name("WwW.CoUrSe.TeSt"), name("www.course.test."));
        assert_eq!(name("WwW.CoUrSe.TeSt").to_string(), "WwW.CoUrSe.TeSt.");
        assert_eq!(Name::root().to_string(), ".");
        let odd = Name::from_labels(vec![b"a.b".to_vec(), vec![0, b'z']]).unwrap();
        assert_eq!(odd.to_string(), "a\\.b.\\000z.");
        assert!(name("sub.deep.course.test").is_at_or_below(&name("COURSE.test")));
        assert!(!name("course.test").is_at_or_below(&name("www.course.test")));
    }
}
