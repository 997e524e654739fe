//! Fuzz target: the WebSocket receive path (`netcourse::ws`, lessons 10 and 11) on any bytes:
//! the frame decoder, unmasking, message assembly, incremental UTF-8 validation and Close
//! payloads, together, as a server (masked frames expected) or a client (unmasked).
//!
//! Promises checked on every input: no panic, and the same messages and the same error however
//! the bytes arrive (whole, or in two reads cut at a point taken from the input), since a peer
//! chooses how its bytes are split; and the same again when each read is decoded one message
//! at a time (`push_some`, as lesson 11 does), each message taken before the rest is pushed.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netcourse::ws::message::{parse_messages, MessageReader};
use netcourse::ws::{Limits, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&first, bytes)) = data.split_first() else {
        return;
    };
    let role = if first & 1 == 0 {
        Role::Server
    } else {
        Role::Client
    };
    let whole = parse_messages(role, bytes);
    let cut = usize::from(first >> 1) * 7 % (bytes.len() + 1);
    let mut reader = MessageReader::new(role, Limits::default());
    let mut messages = Vec::new();
    let mut error = None;
    'reads: for piece in [&bytes[..cut], &bytes[cut..]] {
        reader.push(piece);
        loop {
            match reader.next() {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'reads;
                }
            }
        }
    }
    assert_eq!(whole.messages, messages, "messages, whole vs cut at {cut}");
    let whole_error = whole.error.map(|e| e.code);
    assert_eq!(
        whole_error,
        error.map(|e| e.code),
        "error, whole vs cut at {cut}"
    );

    let mut reader = MessageReader::new(role, Limits::default());
    let mut messages = Vec::new();
    let mut error = None;
    'some: for mut piece in [&bytes[..cut], &bytes[cut..]] {
        while !piece.is_empty() {
            let used = reader.push_some(piece);
            assert!(used > 0 && used <= piece.len(), "push_some used {used}");
            piece = &piece[used..];
            match reader.next() {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => {}
                Err(e) => {
                    error = Some(e);
                    break 'some;
                }
            }
            assert!(
                matches!(reader.next(), Ok(None) | Err(_)),
                "push_some decoded more than one message"
            );
        }
    }
    assert_eq!(
        whole.messages, messages,
        "messages, one at a time, cut at {cut}"
    );
    assert_eq!(
        whole_error,
        error.map(|e| e.code),
        "error, one at a time, cut at {cut}"
    );
});
