//! Header fields: parsing one field line, and [`Headers`], the ordered list a request carries.
//!
//! A field line is `name ":" OWS value OWS` (RFC 9112 section 5). Names are case-insensitive
//! tokens; values are bytes (visible ASCII, spaces, tabs, and for historical reasons bytes
//! 0x80 to 0xFF). The order of fields is kept, and so are repeated names: `Set-Cookie` may
//! appear many times, and two `Content-Length` lines matter for request smuggling.

use super::{is_tchar, trim_ows, ErrorKind, HttpError};
use crate::trace::quote;

/// Header (or trailer) fields in the order they arrived, with case-insensitive lookup.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Headers {
    pub fn new() -> Self {
        Headers::default()
    }

    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Add a field at the end (no checks: the parser has already made them).
    pub fn push(&mut self, name: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.fields.push((name.into(), value.into()));
    }

    /// Every field as `(name, value)`, in order, names as they were sent.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.fields
            .iter()
            .map(|(n, v)| (n.as_slice(), v.as_slice()))
    }

    /// The value of the first field called `name` (any case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// The value of the first field called `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// The values of every field called `name` (any case), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }

    /// How many fields are called `name`.
    pub fn count(&self, name: &str) -> usize {
        self.get_all(name).count()
    }

    /// The elements of a comma-separated list field (RFC 9110 5.6.1), over every line of that
    /// name, trimmed, empty elements skipped: `Connection: keep-alive, Upgrade`.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name)
            .flat_map(|v| v.split(|&b| b == b','))
            .map(trim_ows)
            .filter(|e| !e.is_empty())
    }

    /// Whether the list field `name` has the element `token` (any case): `Connection: close`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name)
            .any(|e| e.eq_ignore_ascii_case(token.as_bytes()))
    }
}

/// Parse one field line (its line end already removed) into name and value.
/// `first` says whether it is the first line after the request line.
pub(crate) fn parse_field_line(line: &[u8], first: bool) -> Result<(&[u8], &[u8]), HttpError> {
    if let [b' ' | b'\t', ..] = line {
        return Err(HttpError::new(
            ErrorKind::ObsFold,
            if first {
                // RFC 9112 2.2: "A recipient that receives whitespace between the start-line and
                // the first header field MUST either reject the message as invalid or consume
                // each whitespace-preceded line without further processing of it".
                format!(
                    "whitespace between the request line and the first header: {}",
                    quote(line, 40)
                )
            } else {
                // RFC 9112 5.2: obs-fold, a header value continued on the next line, is gone.
                format!(
                    "a header line starts with whitespace (obs-fold): {}",
                    quote(line, 40)
                )
            },
        ));
    }
    let Some(colon) = line.iter().position(|&b| b == b':') else {
        return Err(HttpError::new(
            ErrorKind::NoColon,
            format!("a header line without a colon: {}", quote(line, 40)),
        ));
    };
    let (name, value) = (&line[..colon], &line[colon + 1..]);
    if name.is_empty() {
        return Err(HttpError::new(
            ErrorKind::EmptyFieldName,
            format!(
                "a header line with no name before its colon: {}",
                quote(line, 40)
            ),
        ));
    }
    // RFC 9112 5.1: "No whitespace is allowed between the field name and colon. [...] A server
    // MUST reject, with a response status code of 400 (Bad Request), any received request
    // message that contains whitespace between a header field name and colon".
    if let [.., b' ' | b'\t'] = name {
        return Err(HttpError::new(
            ErrorKind::WhitespaceBeforeColon,
            format!(
                "whitespace between the header name {} and its colon",
                quote(name, 40)
            ),
        ));
    }
    if let Some(&bad) = name.iter().find(|&&b| !is_tchar(b)) {
        return Err(HttpError::new(
            ErrorKind::BadFieldName,
            format!(
                "the header name {} has the byte 0x{bad:02x}, which is not a token character",
                quote(name, 40)
            ),
        ));
    }
    let value = trim_ows(value);
    // field-value = *field-content: visible characters, SP, HTAB and obs-text (0x80-0xFF).
    // RFC 9110 5.5: "Field values containing CR, LF, or NUL characters are invalid and
    // dangerous"; the other control characters are not allowed by the grammar either.
    if let Some(&bad) = value.iter().find(|&&b| !is_field_vchar(b)) {
        return Err(HttpError::new(
            ErrorKind::BadFieldValue,
            format!(
                "the value of {} has the control byte 0x{bad:02x}",
                quote(name, 40)
            ),
        ));
    }
    Ok((name, value))
}

/// A byte allowed inside a field value: HTAB, SP, VCHAR, obs-text.
pub(crate) fn is_field_vchar(b: u8) -> bool {
    b == b'\t' || b == b' ' || b.is_ascii_graphic() || b >= 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_line_is_name_colon_value_with_optional_whitespace() {
        assert_eq!(
            parse_field_line(b"Host:  example.com \t", false),
            Ok((&b"Host"[..], &b"example.com"[..]))
        );
        assert_eq!(
            parse_field_line(b"X-Empty:", false),
            Ok((&b"X-Empty"[..], &b""[..]))
        );
        assert_eq!(
            parse_field_line(b"X-Url: http://a/b:c", false),
            Ok((&b"X-Url"[..], &b"http://a/b:c"[..]))
        );
        assert_eq!(
            parse_field_line(b"X-Latin1: caf\xe9", false),
            Ok((&b"X-Latin1"[..], &b"caf\xe9"[..]))
        );
    }

    #[test]
    fn each_broken_field_line_names_its_rule() {
        let kind = |line: &[u8], first| parse_field_line(line, first).unwrap_err().kind;
        assert_eq!(kind(b"Host example.com", false), ErrorKind::NoColon);
        assert_eq!(kind(b": x", false), ErrorKind::EmptyFieldName);
        assert_eq!(kind(b"Host : x", false), ErrorKind::WhitespaceBeforeColon);
        assert_eq!(kind(b"Ho st: x", false), ErrorKind::BadFieldName);
        assert_eq!(kind(b"X: a\x00b", false), ErrorKind::BadFieldValue);
        assert_eq!(kind(b" folded", false), ErrorKind::ObsFold);
        let first = parse_field_line(b"\tHost: x", true).unwrap_err();
        assert!(first.reason.contains("request line"), "{first}");
    }

    #[test]
    fn lookups_ignore_case_and_lists_span_lines() {
        let mut h = Headers::new();
        h.push("Connection", "keep-alive, ,Upgrade");
        h.push("connection", "close");
        h.push("Host", "a");
        assert_eq!(h.get("HOST"), Some(&b"a"[..]));
        assert_eq!(h.count("CONNECTION"), 2);
        assert!(h.has_token("connection", "upgrade"));
        assert!(h.has_token("Connection", "CLOSE"));
        assert_eq!(h.list("connection").count(), 3);
        assert_eq!(h.get_str("host"), Some("a"));
        assert_eq!(h.get("missing"), None);
    }
}
