//! The opening handshake: an HTTP/1.1 request that asks to become a WebSocket, and the `101`
//! that agrees (RFC 6455 section 4).
//!
//! The client sends a random 16-byte nonce, base64-encoded, as `Sec-WebSocket-Key`. The server
//! proves that it read the request *as a WebSocket server* by answering
//! `Sec-WebSocket-Accept: base64(SHA-1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))`. The GUID
//! is a constant no other protocol would use, so an HTTP server that does not know WebSocket,
//! or a cache replaying an old response, cannot produce the right accept value by accident.
//! It is not security (anyone can compute it); it is a proof of understanding.
//!
//! ```text
//!   key                   dGhlIHNhbXBsZSBub25jZQ==            (base64 of "the sample nonce")
//!   key + GUID            dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11
//!   SHA-1                 b37a4f2cc0624f1690f64606cf385945b2bec4ea
//!   base64                s3pPLMBiTxaQ9kYGzzhZRbK+xOo=        (Sec-WebSocket-Accept)
//! ```
//!
//! [`explain_accept`] prints exactly these steps for any key (lesson 09's `--explain KEY`).
//! [`server`] has the server's side of the handshake and [`client`] the client's, both as
//! resumable state machines: push bytes as they arrive, ask for the result, get "need more"
//! until the head is complete.

pub mod client;
pub mod server;

pub use client::{ClientConfig, ClientHandshake, Established};
pub use server::{
    accept_response, refusal_response, Accepted, ServerConfig, ServerHandshake, UpgradeRequest,
};

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::Engine;
use sha1::{Digest, Sha1};
use std::fmt;
use std::time::Duration;

/// The constant of RFC 6455 4.2.2, appended to the key before hashing.
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Largest handshake head (request or response line and header fields), 8 KiB: a browser's
/// handshake with cookies fits in 2 to 4 KiB.
pub const MAX_HANDSHAKE_BYTES: usize = 8 * 1024;
/// Most header fields in a handshake.
pub const MAX_HANDSHAKE_HEADERS: usize = 100;
/// Time a peer has to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// SHA-1 of the key's text followed by the GUID.
fn sha1_of(key: &str) -> [u8; 20] {
    // exercise(09): begin "SHA-1 of the key and the GUID"
    // hint: RFC 6455 4.2.2: "concatenating /key/ [...] with the string "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", taking the SHA-1 hash of this concatenated value". The key is hashed as the text the client sent: do not base64-decode it first.
    // hint: With the sha1 crate: `let mut hasher = Sha1::new(); hasher.update(a); hasher.update(b); hasher.finalize().into()` gives a [u8; 20]. The GUID is the constant GUID above.
    let mut hasher = Sha1::new();
    hasher.update(key.as_bytes());
    hasher.update(GUID.as_bytes());
    hasher.finalize().into()
    // exercise: end
}

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// RFC 6455 4.2.2: "concatenating /key/ [...] with the string
/// "258EAFA5-E914-47DA-95CA-C5AB0DC85B11", taking the SHA-1 hash of this concatenated value to
/// obtain a 20-byte value and base64-encoding [...] this 20-byte hash." The key is used as the
/// text it is, not decoded.
pub fn accept_key(key: &str) -> String {
    // exercise(09): begin "The accept value: base64 of the 20-byte hash"
    // hint: `sha1_of(key)` gives the 20 raw bytes of SHA-1(key + GUID); the accept value is their standard base64 with padding (28 characters ending in `=`), not their hex.
    // hint: `STANDARD.encode(bytes)` from the base64 crate; check with `cargo run --bin 09-ws-handshake -- --explain dGhlIHNhbXBsZSBub25jZQ==`, which must end with s3pPLMBiTxaQ9kYGzzhZRbK+xOo=.
    STANDARD.encode(sha1_of(key))
    // exercise: end
}

/// The `Sec-WebSocket-Key` a client sends for 16 random bytes (RFC 6455 4.1: "a nonce
/// consisting of a randomly selected 16-byte value that has been base64-encoded").
pub fn key_from_nonce(nonce: [u8; 16]) -> String {
    STANDARD.encode(nonce)
}

/// The 16 bytes inside a `Sec-WebSocket-Key`, or `None` if it is not the base64 of 16 bytes.
///
/// Unused bits in the last character are allowed: RFC 6455's own example key in 4.1,
/// `AQIDBAUGBwgJCgsMDQ4PEC==`, has them set (its canonical form is `...EA==`), and a strict
/// decoder would refuse the RFC's example.
pub fn decode_key(key: &str) -> Option<[u8; 16]> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    );
    if key.len() != 24 {
        return None;
    }
    LENIENT.decode(key).ok()?.try_into().ok()
}

/// The accept key computed step by step, for `--explain KEY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The key as given.
    pub key: String,
    /// The 16 bytes it encodes, or `None` if it is not a valid key (the accept value can still
    /// be computed: a client only compares strings).
    pub nonce: Option<[u8; 16]>,
    /// Key and GUID, the text that is hashed.
    pub concatenated: String,
    /// SHA-1 of the concatenation.
    pub sha1: [u8; 20],
    /// base64 of the SHA-1: the `Sec-WebSocket-Accept` value.
    pub accept: String,
}

/// Compute the accept key for `key` and keep every intermediate value.
pub fn explain_accept(key: &str) -> Explanation {
    let sha1 = sha1_of(key);
    Explanation {
        key: key.to_string(),
        nonce: decode_key(key),
        concatenated: format!("{key}{GUID}"),
        sha1,
        accept: STANDARD.encode(sha1),
    }
}

impl Explanation {
    /// The steps as (what is done, the value), in order.
    pub fn steps(&self) -> Vec<(String, String)> {
        let nonce = match self.nonce {
            Some(bytes) => format!("{} (base64 of 16 bytes: {})", self.key, hex(&bytes)),
            None => format!(
                "{} (not the base64 of 16 bytes: a server refuses it with 400)",
                self.key
            ),
        };
        vec![
            ("1. the key, as the client sent it".into(), nonce),
            (
                format!("2. append the GUID ({} bytes)", self.concatenated.len()),
                self.concatenated.clone(),
            ),
            (
                "3. SHA-1 of that text (20 bytes, hex)".into(),
                hex(&self.sha1),
            ),
            (
                "4. base64 of the 20 bytes: Sec-WebSocket-Accept".into(),
                self.accept.clone(),
            ),
        ]
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (what, value) in self.steps() {
            writeln!(f, "{what}\n   {value}")?;
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `tchar` of RFC 9110 5.6.2: the characters of a token (subprotocol and extension names).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_accept_key_test_vector() {
        // RFC 6455 1.3 and 4.2.2.
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn the_explanation_shows_every_intermediate_value() {
        let e = explain_accept("dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(e.nonce, Some(*b"the sample nonce"));
        assert_eq!(
            e.concatenated,
            "dGhlIHNhbXBsZSBub25jZQ==258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        );
        // RFC 6455 4.2.2: "giving the value 0xb3 0x7a 0x4f 0x2c 0xc0 0x62 0x4f 0x16 0x90 0xf6
        // 0x46 0x06 0xcf 0x38 0x59 0x45 0xb2 0xbe 0xc4 0xea".
        assert_eq!(hex(&e.sha1), "b37a4f2cc0624f1690f64606cf385945b2bec4ea");
        assert_eq!(e.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        let text = e.to_string();
        assert_eq!(text.lines().count(), 8);
        assert!(text.contains("7468652073616d706c65206e6f6e6365"));
        assert!(explain_accept("hello")
            .to_string()
            .contains("not the base64"));
    }

    #[test]
    fn keys_are_the_base64_of_sixteen_bytes() {
        assert_eq!(
            decode_key("dGhlIHNhbXBsZSBub25jZQ=="),
            Some(*b"the sample nonce")
        );
        // RFC 6455 4.1's example, with unused bits set in its last character.
        assert_eq!(
            decode_key("AQIDBAUGBwgJCgsMDQ4PEC=="),
            Some([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16])
        );
        for bad in [
            "",
            "dGhlIHNhbXBsZSBub25jZQ",    // no padding
            "dGhlIHNhbXBsZSBub25jZQ===", // 25 characters
            "dGhlIHNhbXBsZSBub25jZ===",  // 15 bytes
            "dGhlIHNhbXBsZSBub25jZQ!=",  // not base64
            "dGhlIHNhbXBsZSBub25jZSE=",  // 17 bytes
        ] {
            assert_eq!(decode_key(bad), None, "{bad}");
        }
        let key = key_from_nonce([0xab; 16]);
        assert_eq!(decode_key(&key), Some([0xab; 16]));
    }
}
