//! UTF-8 validation that works on pieces and fails at the first byte that cannot be valid.
//!
//! A text message must be UTF-8 "as a whole" (RFC 6455 5.6: "a particular text frame might
//! include a partial UTF-8 sequence; however, the whole message MUST contain valid UTF-8"). Its
//! bytes arrive in fragments, and each fragment in TCP reads of any size, so a code point can be
//! split anywhere. `std::str::from_utf8` cannot help on a piece: it says "invalid" for a piece
//! that merely ends in the middle of a character. Waiting for the whole message would work, but
//! a strict endpoint fails *as soon as* the bytes cannot become valid (the Autobahn 6.* cases
//! send the bad byte, then wait, and check that the connection fails before the rest arrives).
//!
//! The validator is the table of well-formed byte sequences from the Unicode Standard
//! (chapter 3, table 3-7), written as an explicit state: how many continuation bytes are still
//! needed, and the range the *next* one must fall in. The ranges are what exclude the three
//! traps: overlong encodings (`C0 80` for U+0000, `E0 80 80`), UTF-16 surrogates (U+D800 to
//! U+DFFF, that is `ED A0 80` to `ED BF BF`), and code points past U+10FFFF (`F4 90 80 80`).
//!
//! ```text
//!   first byte   needs  second byte   then
//!   00..7F       0
//!   C2..DF       1      80..BF
//!   E0           2      A0..BF        80..BF           (A0: no overlong 3-byte forms)
//!   E1..EC       2      80..BF        80..BF
//!   ED           2      80..9F        80..BF           (9F: no surrogates)
//!   EE..EF       2      80..BF        80..BF
//!   F0           3      90..BF        80..BF  80..BF   (90: no overlong 4-byte forms)
//!   F1..F3       3      80..BF        80..BF  80..BF
//!   F4           3      80..8F        80..BF  80..BF   (8F: nothing past U+10FFFF)
//!   C0, C1, F5..FF, or 80..BF where a first byte is expected: never valid
//! ```
//!
//! Because every check is on the byte just read against ranges fixed by the bytes before it, a
//! prefix is accepted exactly when some continuation could make it valid: that is fail-fast.
//! Runs of ASCII, the common case, are skipped 8 bytes at a time.

use std::fmt;

/// Where a piece stopped being valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// Index, in the piece given to [`Utf8Validator::feed`], of the byte that cannot be valid;
    /// the length of the piece when [`Utf8Validator::finish`] finds a sequence cut short.
    pub at: usize,
    /// That byte, or `None` when the text ended in the middle of a sequence.
    pub byte: Option<u8>,
}

impl fmt::Display for Utf8Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.byte {
            Some(b) => write!(f, "byte 0x{b:02x} cannot be part of valid UTF-8 here"),
            None => write!(f, "the text ends in the middle of a UTF-8 sequence"),
        }
    }
}

/// An incremental validator: feed it the pieces of one text in order, then call `finish`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Utf8Validator {
    /// Continuation bytes still needed by the sequence in progress (0: between characters).
    need: u8,
    /// The range the next continuation byte must be in.
    lo: u8,
    hi: u8,
    /// Set by the first error; every later call fails too.
    failed: bool,
}

impl Utf8Validator {
    pub fn new() -> Self {
        Utf8Validator::default()
    }

    /// Between two characters: the text so far is complete, valid UTF-8.
    pub fn is_complete(&self) -> bool {
        self.need == 0 && !self.failed
    }

    /// Check the next piece. Fails at the first byte that no continuation could make valid.
    pub fn feed(&mut self, bytes: &[u8]) -> Result<(), Utf8Error> {
        if self.failed {
            return Err(Utf8Error { at: 0, byte: None });
        }
        let mut i = 0;
        while i < bytes.len() {
            if self.need == 0 {
                i += ascii_run(&bytes[i..]);
                let Some(&b) = bytes.get(i) else { break };
                let (need, lo, hi) = match b {
                    0x00..=0x7f => (0, 0, 0),
                    0xc2..=0xdf => (1, 0x80, 0xbf),
                    0xe0 => (2, 0xa0, 0xbf),
                    0xe1..=0xec | 0xee..=0xef => (2, 0x80, 0xbf),
                    0xed => (2, 0x80, 0x9f),
                    0xf0 => (3, 0x90, 0xbf),
                    0xf1..=0xf3 => (3, 0x80, 0xbf),
                    0xf4 => (3, 0x80, 0x8f),
                    // 80..BF: a continuation byte with nothing to continue; C0, C1: only ever
                    // overlong; F5..FF: past U+10FFFF.
                    _ => return self.fail(i, b),
                };
                (self.need, self.lo, self.hi) = (need, lo, hi);
            } else {
                let b = bytes[i];
                if b < self.lo || b > self.hi {
                    return self.fail(i, b);
                }
                self.need -= 1;
                (self.lo, self.hi) = (0x80, 0xbf);
            }
            i += 1;
        }
        Ok(())
    }

    /// The text has ended: it is valid only if no sequence is left unfinished. `len` is the
    /// length of the last piece, reported as the error position.
    pub fn finish(&self, len: usize) -> Result<(), Utf8Error> {
        if self.is_complete() {
            Ok(())
        } else {
            Err(Utf8Error {
                at: len,
                byte: None,
            })
        }
    }

    fn fail(&mut self, at: usize, byte: u8) -> Result<(), Utf8Error> {
        self.failed = true;
        Err(Utf8Error {
            at,
            byte: Some(byte),
        })
    }
}

/// How many bytes at the start of `bytes` are ASCII, counted 8 at a time while possible.
fn ascii_run(bytes: &[u8]) -> usize {
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    let mut n = 0;
    for chunk in bytes.chunks_exact(8) {
        let word = u64::from_ne_bytes(chunk.try_into().expect("chunks_exact gives 8 bytes"));
        if word & HIGH_BITS != 0 {
            break;
        }
        n += 8;
    }
    n + bytes[n..].iter().take_while(|b| b.is_ascii()).count()
}

/// Validate a whole text at once (a Close frame's reason, for instance).
pub fn validate(bytes: &[u8]) -> Result<(), Utf8Error> {
    let mut v = Utf8Validator::new();
    v.feed(bytes)?;
    v.finish(bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// What std says about the whole input, in our terms: the index of the first byte that
    /// cannot be valid, or `len` for a text cut short, or `None` for valid.
    fn std_verdict(bytes: &[u8]) -> Option<usize> {
        let e = std::str::from_utf8(bytes).err()?;
        let start = e.valid_up_to();
        match e.error_len() {
            // std reports the "maximal subpart": the longest prefix of a valid sequence at
            // `start`, or the one bad byte when `start` holds no lead byte. With a lead byte
            // (C2..F4) the byte that cannot be valid is the one after that prefix.
            Some(n) if (0xc2..=0xf4).contains(&bytes[start]) => Some(start + n),
            Some(_) => Some(start),
            None => Some(bytes.len()),
        }
    }

    /// Our verdict, feeding `bytes` in pieces cut at `cuts`.
    fn our_verdict(bytes: &[u8], cuts: &[usize]) -> Option<usize> {
        let mut v = Utf8Validator::new();
        let mut start = 0;
        for &end in cuts.iter().chain(std::iter::once(&bytes.len())) {
            if let Err(e) = v.feed(&bytes[start..end]) {
                return Some(start + e.at);
            }
            start = end;
        }
        v.finish(0).err().map(|_| bytes.len())
    }

    fn check(bytes: &[u8]) {
        let expected = std_verdict(bytes);
        assert_eq!(our_verdict(bytes, &[]), expected, "{bytes:02x?} at once");
        for cut in 0..=bytes.len() {
            assert_eq!(
                our_verdict(bytes, &[cut]),
                expected,
                "{bytes:02x?} cut at {cut}"
            );
        }
        let each: Vec<usize> = (1..bytes.len()).collect();
        assert_eq!(our_verdict(bytes, &each), expected, "{bytes:02x?} by byte");
    }

    #[test]
    fn edge_cases_agree_with_std_in_every_split() {
        let cases: &[&[u8]] = &[
            b"",
            b"Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1-UTF-8!!",
            "κόσμε".as_bytes(),
            b"\x7f",
            b"\xc2\x80",                 // U+0080, the first 2-byte character
            b"\xdf\xbf",                 // U+07FF
            b"\xe0\xa0\x80",             // U+0800
            b"\xed\x9f\xbf",             // U+D7FF, just before the surrogates
            b"\xee\x80\x80",             // U+E000, just after
            b"\xef\xbf\xbf",             // U+FFFF
            b"\xf0\x90\x80\x80",         // U+10000
            b"\xf4\x8f\xbf\xbf",         // U+10FFFF, the last code point
            b"\xc0\x80",                 // overlong U+0000
            b"\xc1\xbf",                 // overlong U+007F
            b"\xe0\x80\xaf",             // overlong '/'
            b"\xe0\x9f\xbf",             // overlong U+07FF
            b"\xf0\x80\x80\xaf",         // overlong '/'
            b"\xf0\x8f\xbf\xbf",         // overlong U+FFFF
            b"\xed\xa0\x80",             // U+D800, a surrogate
            b"\xed\xbf\xbf",             // U+DFFF
            b"\xed\xa0\x80\xed\xb0\x80", // a surrogate pair, CESU-8 style
            b"\xf4\x90\x80\x80",         // U+110000
            b"\xf5\x80\x80\x80",
            b"\xff",
            b"\x80",
            b"\xbf\xbf",
            b"\xc2", // cut short
            b"\xe0\xa0",
            b"\xf0\x90\x80",
            b"\xc2\x41", // a continuation missing
            b"\xe1\x80\x41",
            b"ab\xf4\x90\x80\x80cd",
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited",
        ];
        for case in cases {
            check(case);
        }
    }

    #[test]
    fn every_truncation_of_valid_text_waits_and_finish_decides() {
        let text = "aé€😀z".as_bytes();
        for end in 0..=text.len() {
            let prefix = &text[..end];
            let mut v = Utf8Validator::new();
            assert_eq!(v.feed(prefix), Ok(()), "a valid prefix never fails early");
            assert_eq!(
                v.finish(end).is_ok(),
                std::str::from_utf8(prefix).is_ok(),
                "prefix of {end} bytes"
            );
        }
    }

    #[test]
    fn random_bytes_agree_with_std() {
        let mut seed = 0x2545_f491_4f6c_dd1d;
        for _ in 0..3000 {
            let len = (xorshift(&mut seed) % 24) as usize;
            // Mostly bytes that make UTF-8 interesting, some ASCII.
            let bytes: Vec<u8> = (0..len)
                .map(|_| match xorshift(&mut seed) % 4 {
                    0 => b'a',
                    1 => 0x80 | (xorshift(&mut seed) as u8 & 0x3f),
                    _ => xorshift(&mut seed) as u8,
                })
                .collect();
            check(&bytes);
        }
    }

    #[test]
    fn random_valid_text_passes_in_every_split() {
        let mut seed = 0x1234_5678_9abc_def1;
        for _ in 0..300 {
            let text: String = (0..(xorshift(&mut seed) % 20))
                .filter_map(|_| char::from_u32((xorshift(&mut seed) % 0x11_0000) as u32))
                .collect();
            check(text.as_bytes());
        }
    }

    #[test]
    fn long_ascii_runs_take_the_fast_path_and_still_see_the_bad_byte() {
        let mut bytes = vec![b'x'; 1000];
        bytes[777] = 0xff;
        let mut v = Utf8Validator::new();
        assert_eq!(v.feed(&bytes).unwrap_err().at, 777);
        assert!(v.feed(b"ok").is_err(), "a failed validator stays failed");
    }
}
