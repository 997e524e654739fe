//! The Close frame's payload: a status code and a reason, and which codes may travel.
//!
//! RFC 6455 5.5.1: "If there is a body, the first two bytes of the body MUST be a 2-byte
//! unsigned integer (in network byte order) representing a status code with value /code/
//! defined in Section 7.4. Following the 2-byte integer, the body MAY contain UTF-8-encoded data
//! with value /reason/". So a Close payload is empty, or 2 bytes of code and 0 to 123 bytes of
//! UTF-8 (a control frame carries at most 125 bytes). One byte is never valid.
//!
//! ```text
//!   03 e8 62 79 65        code 1000 (normal closure), reason "bye"
//! ```
//!
//! Which codes may appear on the wire (RFC 6455 7.4 and the IANA registry it created):
//!
//! | codes | meaning | received in a Close frame |
//! |---|---|---|
//! | 0-999 | not used | invalid: fail with 1002 |
//! | 1000-1003, 1007-1011 | defined by RFC 6455 | valid |
//! | 1004 | reserved | invalid |
//! | 1005, 1006, 1015 | "MUST NOT be set as a status code in a Close control frame" | invalid |
//! | 1012-1014 | registered later with IANA (service restart, try again later, bad gateway) | valid |
//! | 1016-2999 | for future revisions of the protocol, unassigned | invalid |
//! | 3000-3999 | registered by libraries and frameworks | valid |
//! | 4000-4999 | private use | valid |
//! | 5000 and up | undefined | invalid |
//!
//! 1005 ("no status code was present") and 1006 ("closed without a Close frame") exist only
//! *inside* an endpoint, to tell the application how the connection ended.

use super::error::{ErrorKind, WsError};
use super::frame::MAX_CONTROL_PAYLOAD;
use super::utf8;
use crate::trace::quote;

/// 1000: the purpose of the connection has been fulfilled.
pub const NORMAL: u16 = 1000;
/// 1001: the endpoint is going away (server shutting down, browser leaving the page).
pub const GOING_AWAY: u16 = 1001;
/// 1002: the peer broke the protocol.
pub const PROTOCOL_ERROR: u16 = 1002;
/// 1003: a type of data the endpoint cannot accept (binary for a text-only endpoint).
pub const UNSUPPORTED_DATA: u16 = 1003;
/// 1005: no code was in the Close frame. Never sent; what the application is told.
pub const NO_STATUS: u16 = 1005;
/// 1006: the connection closed without a Close frame. Never sent.
pub const ABNORMAL: u16 = 1006;
/// 1007: data inconsistent with the message type (invalid UTF-8 in text).
pub const INVALID_PAYLOAD: u16 = 1007;
/// 1008: a message that violates the endpoint's policy.
pub const POLICY_VIOLATION: u16 = 1008;
/// 1009: a message too big to process.
pub const TOO_BIG: u16 = 1009;
/// 1010: (client) the server did not negotiate an extension the client needs.
pub const MANDATORY_EXTENSION: u16 = 1010;
/// 1011: the server hit an unexpected condition.
pub const INTERNAL_ERROR: u16 = 1011;

/// Longest reason that fits a Close frame: 125 bytes of payload less the 2-byte code.
pub const MAX_REASON: usize = MAX_CONTROL_PAYLOAD - 2;

/// Whether `code` may be carried by a Close frame (see the table above): what a receiver
/// accepts, and all a sender may use.
pub fn is_valid_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

/// A Close frame's code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    pub code: u16,
    pub reason: String,
}

impl CloseFrame {
    pub fn new(code: u16, reason: impl Into<String>) -> Self {
        CloseFrame {
            code,
            reason: reason.into(),
        }
    }
}

/// Check a received Close payload: `None` for an empty one (the application sees 1005).
pub fn parse_close_payload(payload: &[u8]) -> Result<Option<CloseFrame>, WsError> {
    let (code, reason) = match payload {
        [] => return Ok(None),
        // RFC 6455 5.5.1: "the first two bytes of the body MUST be a 2-byte unsigned integer".
        [_] => {
            return Err(WsError::new(
                ErrorKind::CloseOneByte,
                "a Close payload of one byte: a code takes two",
            ))
        }
        [hi, lo, reason @ ..] => (u16::from_be_bytes([*hi, *lo]), reason),
    };
    if !is_valid_code(code) {
        return Err(WsError::new(
            ErrorKind::InvalidCloseCode,
            format!("close code {code} may not be sent in a Close frame"),
        ));
    }
    // RFC 6455 8.1: a byte stream to be interpreted as UTF-8 that is not valid UTF-8 fails the
    // connection; the reason is "UTF-8-encoded data" (5.5.1).
    if let Err(e) = utf8::validate(reason) {
        return Err(WsError::new(
            ErrorKind::CloseReasonNotUtf8,
            format!("the close reason {} is not UTF-8: {e}", quote(reason, 40)),
        ));
    }
    let reason = String::from_utf8(reason.to_vec()).expect("validated above");
    Ok(Some(CloseFrame { code, reason }))
}

/// The payload of a Close frame to send: the code, and the reason cut to [`MAX_REASON`] bytes
/// at a character boundary. `None` sends an empty payload (the reply to a Close without code:
/// 1005 may not be sent).
pub fn close_payload(close: Option<&CloseFrame>) -> Vec<u8> {
    let Some(close) = close else {
        return Vec::new();
    };
    let mut reason = close.reason.as_str();
    while reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason = &reason[..end];
    }
    let mut out = Vec::with_capacity(2 + reason.len());
    out.extend_from_slice(&close.code.to_be_bytes());
    out.extend_from_slice(reason.as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_rfc_6455_7_4_and_the_iana_registry() {
        let valid = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        // The valid and invalid codes of Autobahn's cases 7.7.* and 7.9.*, and the edges.
        let invalid = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for code in valid {
            assert!(is_valid_code(code), "{code}");
            let payload = close_payload(Some(&CloseFrame::new(code, "ok")));
            assert_eq!(
                parse_close_payload(&payload),
                Ok(Some(CloseFrame::new(code, "ok")))
            );
        }
        for code in invalid {
            assert!(!is_valid_code(code), "{code}");
            let e = parse_close_payload(&code.to_be_bytes()).unwrap_err();
            assert_eq!(
                (e.kind, e.close_code()),
                (ErrorKind::InvalidCloseCode, Some(1002))
            );
        }
    }

    #[test]
    fn payload_shapes() {
        assert_eq!(parse_close_payload(b""), Ok(None));
        let e = parse_close_payload(&[0x03]).unwrap_err();
        assert_eq!(
            (e.kind, e.close_code()),
            (ErrorKind::CloseOneByte, Some(1002))
        );
        let e = parse_close_payload(
            b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80",
        )
        .unwrap_err();
        assert_eq!(
            (e.kind, e.close_code()),
            (ErrorKind::CloseReasonNotUtf8, Some(1007))
        );
        assert_eq!(
            parse_close_payload(b"\x03\xe8bye"),
            Ok(Some(CloseFrame::new(1000, "bye")))
        );
    }

    #[test]
    fn a_long_reason_is_cut_at_a_character_boundary() {
        let close = CloseFrame::new(1000, "é".repeat(100));
        let payload = close_payload(Some(&close));
        assert!(payload.len() <= MAX_CONTROL_PAYLOAD);
        assert_eq!(
            payload.len(),
            2 + 122,
            "61 two-byte characters fit in 123 bytes"
        );
        assert!(parse_close_payload(&payload).is_ok());
        assert_eq!(close_payload(None), b"");
    }
}
