//! Fuzz target: the WebSocket opening handshake (`netcourse::ws::handshake`, lesson 09) on any
//! bytes, both sides: a server reading a client's upgrade request, and a client reading a
//! server's answer. Neither may panic, whatever a peer sends before the first frame.

#![no_main]

use libfuzzer_sys::fuzz_target;
use netcourse::ws::handshake::{client, server};

fuzz_target!(|data: &[u8]| {
    let _ = server::parse_request(data);
    let _ = client::parse_response(data, *b"the sample nonce", &["chat", "v12.stomp"]);
});
