//! Masking: the XOR that every client-to-server payload goes through, a machine word at a time.
//!
//! RFC 6455 5.3 defines it one byte at a time:
//!
//! ```text
//!   j                   = i MOD 4
//!   transformed-octet-i = original-octet-i XOR masking-key-octet-j
//! ```
//!
//! Masking is not encryption (the key travels in the frame, right before the payload). It exists
//! so that a script in a browser cannot choose the bytes that appear on the wire, and so cannot
//! make a WebSocket frame look like an HTTP request to a confused proxy (RFC 6455 10.3). The
//! same XOR masks and unmasks.
//!
//! Every byte of every client frame goes through it, so speed matters. [`mask_bytewise`] is the
//! definition; [`apply_mask`] does the same with 8 bytes per XOR: the 4-byte key repeated twice
//! is one `u64`, and XOR works on a word the same as on its bytes. Two details make it correct:
//!
//! - **Resuming.** A payload arrives in pieces, and a piece may start at any byte of the payload.
//!   `offset` is the position of `data[0]` in the payload; the key is rotated by `offset % 4` so
//!   that its first byte is the one payload byte `offset` needs.
//! - **Alignment.** Loads of a `u64` are fastest at addresses that are multiples of 8, so the
//!   first few bytes (up to the first such address) are done one at a time, and the key is
//!   rotated again by how many that was. The loads go through `from_ne_bytes`, which is safe
//!   Rust; the compiler turns it into one plain load (there is no `unsafe` here).

/// The definition (RFC 6455 5.3): byte `i` of the payload is XORed with key byte `i % 4`.
/// `offset` is the position of `data[0]` in the payload. Slow; the tests check [`apply_mask`]
/// against it.
pub fn mask_bytewise(data: &mut [u8], key: [u8; 4], offset: usize) {
    // exercise(10): begin "Unmask: XOR each byte with the key byte its position in the payload picks"
    // hint: RFC 6455 5.3: byte i of the payload is XORed with `key[i % 4]`, where i counts from the start of the frame's payload.
    // hint: `data` may be a piece from the middle of a payload (a read ended inside the frame): its first byte is payload byte `offset`, so byte j of `data` uses `key[(offset + j) % 4]`. Starting at key byte 0 for every piece is the classic mistake (course check 10: unmasks_with_the_wrong_key_offset).
    for (i, byte) in data.iter_mut().enumerate() {
        *byte ^= key[(offset + i) % 4];
    }
    // exercise(10): end
}

/// Mask (or unmask: the same XOR) `data`, the part of a payload that starts at byte `offset` of
/// that payload, a `u64` at a time. Same result as [`mask_bytewise`].
pub fn apply_mask(data: &mut [u8], key: [u8; 4], offset: usize) {
    // Bytes before the first 8-byte-aligned address, one at a time.
    let head = data.as_ptr().align_offset(8).min(data.len());
    let (unaligned, rest) = data.split_at_mut(head);
    mask_bytewise(unaligned, key, offset);
    // From here on the key starts at payload position `offset + head`.
    let key = rotate(key, offset + head);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut words = rest.chunks_exact_mut(8);
    for chunk in &mut words {
        let bytes: [u8; 8] = (*chunk).try_into().expect("chunks_exact gives 8 bytes");
        chunk.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    // Fewer than 8 bytes left: 8 is a multiple of 4, so they start at key byte 0 again.
    mask_bytewise(words.into_remainder(), key, 0);
}

/// The key as seen from payload position `offset`: `rotate(k, 1)` is `[k1, k2, k3, k0]`.
fn rotate(key: [u8; 4], offset: usize) -> [u8; 4] {
    let mut key = key;
    key.rotate_left(offset % 4);
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator, so the "random" cases are the same on every run.
    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    #[test]
    fn rfc_6455_5_7_masked_hello() {
        let mut payload = *b"Hello";
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(payload, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
        apply_mask(&mut payload, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(&payload, b"Hello");
    }

    #[test]
    fn word_masking_equals_the_definition_for_every_start_length_and_offset() {
        // Start (memory alignment) 0..16, length 0..48, offset into the key 0..8.
        let key = [0x12, 0x34, 0x56, 0x78];
        let source: Vec<u8> = (0..64u8).map(|b| b.wrapping_mul(37)).collect();
        for start in 0..16 {
            for len in 0..48 {
                for offset in 0..8 {
                    let mut fast = source.clone();
                    let mut slow = source.clone();
                    apply_mask(&mut fast[start..start + len], key, offset);
                    mask_bytewise(&mut slow[start..start + len], key, offset);
                    assert_eq!(fast, slow, "start {start}, len {len}, offset {offset}");
                }
            }
        }
    }

    #[test]
    fn word_masking_equals_the_definition_on_random_inputs() {
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..500 {
            let len = (xorshift(&mut seed) % 3000) as usize;
            let start = (xorshift(&mut seed) % 8) as usize;
            let offset = xorshift(&mut seed) as usize;
            let key = (xorshift(&mut seed) as u32).to_be_bytes();
            let data: Vec<u8> = (0..start + len)
                .map(|_| xorshift(&mut seed) as u8)
                .collect();
            let mut fast = data.clone();
            let mut slow = data;
            apply_mask(&mut fast[start..], key, offset);
            mask_bytewise(&mut slow[start..], key, offset);
            assert_eq!(fast, slow);
        }
    }

    #[test]
    fn masking_in_pieces_equals_masking_at_once() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let data: Vec<u8> = (0..100u8).collect();
        let mut whole = data.clone();
        apply_mask(&mut whole, key, 0);
        for cut in 0..=data.len() {
            let mut pieces = data.clone();
            let (a, b) = pieces.split_at_mut(cut);
            apply_mask(a, key, 0);
            apply_mask(b, key, cut);
            assert_eq!(pieces, whole, "cut at {cut}");
        }
    }
}
