//! DNS over TCP: every message travels behind a 2-byte length (RFC 1035 4.2.2: "The message is
//! prefixed with a two byte length field which gives the message length, excluding the two
//! byte length field"). RFC 7766 makes TCP a full citizen: a connection may carry many queries,
//! sent back to back ("pipelined") and answered in any order.
//!
//! TCP is a byte stream, so the length and the message arrive in whatever pieces the network
//! makes: one read may bring half a length, or three messages and the start of a fourth.
//! [`Deframer`] is lesson 03's length-prefix framing again, for 16 bits: push bytes in any
//! chunking, take out whole messages. Compression offsets inside a message count from its own
//! first byte, after the prefix.

/// Put the 2-byte length in front of a message (at most 65535 bytes: the caller's limit).
pub fn frame(msg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + msg.len());
    out.extend_from_slice(&(msg.len().min(0xffff) as u16).to_be_bytes());
    out.extend_from_slice(&msg[..msg.len().min(0xffff)]);
    out
}

/// A streaming deframer: bytes in, whole messages out. "Not enough bytes yet" is not an
/// error, it is `None`.
#[derive(Debug, Default)]
pub struct Deframer {
    buf: Vec<u8>,
}

impl Deframer {
    pub fn new() -> Self {
        Deframer::default()
    }

    /// Take the bytes of one read.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole message, without its length prefix, or `None` until more bytes come.
    pub fn next_message(&mut self) -> Option<Vec<u8>> {
        // exercise(15): begin "Take one length-prefixed message out of the buffer, or None if it has not all arrived"
        // hint: The first 2 bytes (once there are 2) are the length, big-endian; the message is complete when 2 + length bytes are buffered.
        // hint: Take it out with `drain` and leave the rest, which may be the start of the next message.
        let len = u16::from_be_bytes([*self.buf.first()?, *self.buf.get(1)?]) as usize;
        if self.buf.len() < 2 + len {
            return None;
        }
        let msg = self.buf[2..2 + len].to_vec();
        self.buf.drain(..2 + len);
        Some(msg)
        // exercise(15): end
    }

    /// Bytes buffered that do not yet make a whole message.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream() -> (Vec<u8>, Vec<Vec<u8>>) {
        let messages: Vec<Vec<u8>> = vec![b"first".to_vec(), vec![], vec![7; 300], b"x".to_vec()];
        let wire = messages.iter().flat_map(|m| frame(m)).collect();
        (wire, messages)
    }

    /// Every way of cutting the stream in two, and one byte at a time: the same messages.
    #[test]
    fn any_chunking_gives_the_same_messages() {
        let (wire, messages) = stream();
        for cut in 0..=wire.len() {
            let mut d = Deframer::new();
            let mut got = Vec::new();
            for piece in [&wire[..cut], &wire[cut..]] {
                d.push(piece);
                while let Some(m) = d.next_message() {
                    got.push(m);
                }
            }
            assert_eq!(got, messages, "cut at {cut}");
            assert_eq!(d.pending(), 0);
        }
        let mut d = Deframer::new();
        let mut got = Vec::new();
        for b in &wire {
            d.push(std::slice::from_ref(b));
            while let Some(m) = d.next_message() {
                got.push(m);
            }
        }
        assert_eq!(got, messages);
    }

    #[test]
    fn random_chunkings_give_the_same_messages() {
        let (wire, messages) = stream();
        let mut seed = 0x2545_f491_u32;
        for _ in 0..200 {
            let mut d = Deframer::new();
            let mut got = Vec::new();
            let mut at = 0;
            while at < wire.len() {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let n = 1 + seed as usize % 40;
                let end = (at + n).min(wire.len());
                d.push(&wire[at..end]);
                at = end;
                while let Some(m) = d.next_message() {
                    got.push(m);
                }
            }
            assert_eq!(got, messages);
        }
    }

    #[test]
    fn half_a_message_is_not_an_error_just_not_yet() {
        let mut d = Deframer::new();
        d.push(&[0]);
        assert_eq!(d.next_message(), None);
        d.push(&[3, b'a']);
        assert_eq!(d.next_message(), None);
        assert_eq!(d.pending(), 3);
        d.push(b"bc");
        assert_eq!(d.next_message(), Some(b"abc".to_vec()));
    }
}
