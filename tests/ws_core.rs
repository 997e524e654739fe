//! The WebSocket core (src/ws) against RFC 6455's own examples and random inputs.
//!
//! Every input is fed in every chunking the test can afford: all at once, cut at every point,
//! one byte at a time, and at random cuts. A push parser that depends on how reads happen to
//! split the stream shows up here, not in production.

use netcourse::ws::close::CloseFrame;
use netcourse::ws::handshake::{self, client, server};
use netcourse::ws::mask::{apply_mask, mask_bytewise};
use netcourse::ws::{
    encode_frame, parse_messages, ErrorKind, FrameDecoder, FrameEvent, Limits, Message,
    MessageReader, Opcode, Role,
};
use proptest::prelude::*;

/// Read `wire` as a `role` endpoint, pushed in pieces ending at each of `cuts` (increasing):
/// the messages, and the error kind if one stopped reading.
fn read_in_pieces(role: Role, wire: &[u8], cuts: &[usize]) -> (Vec<Message>, Option<ErrorKind>) {
    let mut reader = MessageReader::new(role, Limits::default());
    let mut messages = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&wire.len())) {
        reader.push(&wire[start..end]);
        start = end;
        loop {
            match reader.next() {
                Ok(Some(m)) => messages.push(m),
                Ok(None) => break,
                Err(e) => return (messages, Some(e.kind)),
            }
        }
    }
    (messages, None)
}

/// The same reading at once, cut at every single point, and one byte at a time; asserts they
/// all agree and returns the common answer.
fn read_every_way(role: Role, wire: &[u8]) -> (Vec<Message>, Option<ErrorKind>) {
    let whole = read_in_pieces(role, wire, &[]);
    for cut in 0..=wire.len() {
        assert_eq!(read_in_pieces(role, wire, &[cut]), whole, "cut at {cut}");
    }
    let bytes: Vec<usize> = (1..wire.len()).collect();
    assert_eq!(
        read_in_pieces(role, wire, &bytes),
        whole,
        "one byte at a time"
    );
    whole
}

fn hex(s: &str) -> Vec<u8> {
    s.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap())
        .collect()
}

// ---- RFC 6455 5.7, example by example: decoded in every chunking, encoded byte-exact ----

#[test]
fn rfc_single_frame_unmasked_text() {
    let wire = hex("81 05 48 65 6c 6c 6f");
    let (messages, error) = read_every_way(Role::Client, &wire);
    assert_eq!(
        (messages, error),
        (vec![Message::Text("Hello".into())], None)
    );
    assert_eq!(encode_frame(true, Opcode::Text, b"Hello", None), wire);
}

#[test]
fn rfc_single_frame_masked_text() {
    let wire = hex("81 85 37 fa 21 3d 7f 9f 4d 51 58");
    let (messages, error) = read_every_way(Role::Server, &wire);
    assert_eq!(
        (messages, error),
        (vec![Message::Text("Hello".into())], None)
    );
    assert_eq!(
        encode_frame(true, Opcode::Text, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
        wire
    );
}

#[test]
fn rfc_fragmented_unmasked_text() {
    let (first, last) = (hex("01 03 48 65 6c"), hex("80 02 6c 6f"));
    let wire = [first.clone(), last.clone()].concat();
    let (messages, error) = read_every_way(Role::Client, &wire);
    assert_eq!(
        (messages, error),
        (vec![Message::Text("Hello".into())], None)
    );
    assert_eq!(encode_frame(false, Opcode::Text, b"Hel", None), first);
    assert_eq!(encode_frame(true, Opcode::Continuation, b"lo", None), last);
}

#[test]
fn rfc_unmasked_ping_and_masked_pong() {
    let ping = hex("89 05 48 65 6c 6c 6f");
    let pong = hex("8a 85 37 fa 21 3d 7f 9f 4d 51 58");
    assert_eq!(
        read_every_way(Role::Client, &ping),
        (vec![Message::Ping(b"Hello".to_vec())], None)
    );
    assert_eq!(
        read_every_way(Role::Server, &pong),
        (vec![Message::Pong(b"Hello".to_vec())], None)
    );
    assert_eq!(encode_frame(true, Opcode::Ping, b"Hello", None), ping);
    assert_eq!(
        encode_frame(true, Opcode::Pong, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
        pong
    );
}

#[test]
fn rfc_256_bytes_binary_in_one_unmasked_frame() {
    let data: Vec<u8> = (0..=255).collect();
    let wire = [hex("82 7e 01 00"), data.clone()].concat();
    assert_eq!(
        read_every_way(Role::Client, &wire),
        (vec![Message::Binary(data.clone())], None)
    );
    assert_eq!(encode_frame(true, Opcode::Binary, &data, None), wire);
}

#[test]
fn rfc_64_kib_binary_in_one_unmasked_frame() {
    let data: Vec<u8> = (0..65536u32).map(|i| (i * 7 % 251) as u8).collect();
    let wire = [hex("82 7f 00 00 00 00 00 01 00 00"), data.clone()].concat();
    let expected = (vec![Message::Binary(data.clone())], None);
    assert_eq!(encode_frame(true, Opcode::Binary, &data, None), wire);
    // Every cut in the header and the first payload bytes, some across the payload, and one
    // byte at a time (cutting at all 65546 points would copy 4 GB).
    let cuts = (0..=24)
        .chain((100..wire.len()).step_by(4099))
        .chain([wire.len() - 1]);
    for cut in cuts {
        assert_eq!(
            read_in_pieces(Role::Client, &wire, &[cut]),
            expected,
            "cut at {cut}"
        );
    }
    let bytes: Vec<usize> = (1..wire.len()).collect();
    assert_eq!(read_in_pieces(Role::Client, &wire, &bytes), expected);
}

#[test]
fn decoded_headers_encode_back_to_the_same_bytes() {
    for (role, wire) in [
        (Role::Client, hex("81 05 48 65 6c 6c 6f")),
        (Role::Server, hex("81 85 37 fa 21 3d 7f 9f 4d 51 58")),
        (Role::Client, hex("01 03 48 65 6c")),
        (Role::Client, [hex("82 7e 01 00"), vec![0; 256]].concat()),
    ] {
        let mut d = FrameDecoder::new(netcourse::ws::DecoderConfig::new(role));
        d.push(&wire);
        let Ok(Some(FrameEvent::Header(h))) = d.next() else {
            panic!("a header")
        };
        let mut out = Vec::new();
        h.encode_into(&mut out);
        assert_eq!(out, wire[..h.encoded_len()]);
    }
}

// ---- Rules that span frames, in every chunking ----

#[test]
fn control_frames_between_fragments_in_every_chunking() {
    let key = Some([1, 2, 3, 4]);
    let wire = [
        encode_frame(false, Opcode::Text, "κό".as_bytes(), key),
        encode_frame(true, Opcode::Ping, b"ping", key),
        // The next character is split between two fragments.
        encode_frame(false, Opcode::Continuation, &"σμε".as_bytes()[..3], key),
        encode_frame(true, Opcode::Pong, b"", key),
        encode_frame(true, Opcode::Continuation, &"σμε".as_bytes()[3..], key),
        encode_frame(true, Opcode::Close, b"\x03\xe8", key),
    ]
    .concat();
    assert_eq!(
        read_every_way(Role::Server, &wire),
        (
            vec![
                Message::Ping(b"ping".to_vec()),
                Message::Pong(vec![]),
                Message::Text("κόσμε".into()),
                Message::Close(Some(CloseFrame::new(1000, ""))),
            ],
            None
        )
    );
}

#[test]
fn errors_are_the_same_in_every_chunking() {
    let cases: Vec<(Vec<u8>, ErrorKind)> = vec![
        // Autobahn 6.4.1: the bad sequence is in the second fragment; the third never matters.
        (
            [
                encode_frame(false, Opcode::Text, "κόσμε".as_bytes(), None),
                encode_frame(false, Opcode::Continuation, b"\xf4\x90\x80\x80", None),
                encode_frame(true, Opcode::Continuation, b"edited", None),
            ]
            .concat(),
            ErrorKind::InvalidUtf8,
        ),
        (
            encode_frame(true, Opcode::Continuation, b"x", None),
            ErrorKind::UnexpectedContinuation,
        ),
        (
            [
                encode_frame(false, Opcode::Binary, b"x", None),
                encode_frame(true, Opcode::Binary, b"y", None),
            ]
            .concat(),
            ErrorKind::ExpectedContinuation,
        ),
        (hex("88 01 03"), ErrorKind::CloseOneByte),
        (hex("88 02 03 ed"), ErrorKind::InvalidCloseCode),
        (hex("88 04 03 e8 c0 80"), ErrorKind::CloseReasonNotUtf8),
        (hex("09 00"), ErrorKind::ControlFragmented),
        (hex("83 00"), ErrorKind::ReservedOpcode),
        (hex("a1 00"), ErrorKind::ReservedBits),
        (
            hex("81 85 00 00 00 00 48 65 6c 6c 6f"),
            ErrorKind::MaskedServerFrame,
        ),
    ];
    for (wire, kind) in cases {
        let (_, error) = read_every_way(Role::Client, &wire);
        assert_eq!(error, Some(kind), "{wire:02x?}");
    }
    let (_, error) = read_every_way(Role::Server, &hex("81 05 48 65 6c 6c 6f"));
    assert_eq!(error, Some(ErrorKind::UnmaskedClientFrame));
}

// ---- Handshake: the RFC's vector end to end, client against server ----

#[test]
fn a_client_handshake_against_a_server_handshake() {
    let mut config = client::ClientConfig::new("server.example.com", "/chat");
    config.protocols = vec!["chat".into(), "superchat".into()];
    let mut c = client::ClientHandshake::new(config, *b"the sample nonce");
    assert_eq!(c.key(), "dGhlIHNhbXBsZSBub25jZQ==");
    let mut s = server::ServerHandshake::new(
        server::ServerConfig {
            protocols: vec!["superchat".into()],
            ..Default::default()
        },
        std::time::Instant::now(),
    );
    s.push(&c.request());
    let accepted = s.next().unwrap().unwrap();
    assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
    c.push(&accepted.response);
    let established = c.next().unwrap().unwrap();
    assert_eq!(established.protocol.as_deref(), Some("superchat"));
    assert_eq!(
        handshake::accept_key(c.key()),
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
}

// ---- Properties on random inputs ----

/// One message as a test generates it, and how to send it.
#[derive(Debug, Clone)]
struct Sent {
    text: bool,
    payload: Vec<u8>,
    /// Where to cut the payload into fragments (sorted, may repeat: empty fragments).
    cuts: Vec<usize>,
    /// A ping to slip in after the first fragment.
    ping: Option<Vec<u8>>,
}

fn sent() -> impl Strategy<Value = Sent> {
    let text = "\\PC{0,60}".prop_map(|s: String| (true, s.into_bytes()));
    let binary = proptest::collection::vec(any::<u8>(), 0..200).prop_map(|b| (false, b));
    (
        prop_oneof![text, binary],
        proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..=125)),
    )
        .prop_map(|((text, payload), cuts, ping)| {
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(payload.len() + 1)).collect();
            cuts.sort_unstable();
            Sent {
                text,
                payload,
                cuts,
                ping,
            }
        })
}

/// Encode a message's frames, masked with keys from `keys` if given (one per frame).
fn encode(m: &Sent, keys: &mut impl Iterator<Item = [u8; 4]>, masked: bool) -> Vec<u8> {
    let mut bounds = vec![0];
    bounds.extend(&m.cuts);
    bounds.push(m.payload.len());
    let pieces: Vec<&[u8]> = bounds.windows(2).map(|w| &m.payload[w[0]..w[1]]).collect();
    let mut wire = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let opcode = match (i, m.text) {
            (0, true) => Opcode::Text,
            (0, false) => Opcode::Binary,
            _ => Opcode::Continuation,
        };
        let fin = i == pieces.len() - 1;
        let mut key = || masked.then(|| keys.next().unwrap());
        wire.extend(encode_frame(fin, opcode, piece, key()));
        if let (0, Some(ping)) = (i, &m.ping) {
            wire.extend(encode_frame(true, Opcode::Ping, ping, key()));
        }
    }
    wire
}

/// What the reader should give for a message: the ping first when it came between fragments,
/// after the message when the message was a single frame.
fn expected(m: &Sent) -> Vec<Message> {
    let message = if m.text {
        Message::Text(String::from_utf8(m.payload.clone()).unwrap())
    } else {
        Message::Binary(m.payload.clone())
    };
    let ping = m.ping.clone().map(Message::Ping);
    if m.cuts.is_empty() {
        [Some(message), ping].into_iter().flatten().collect()
    } else {
        [ping, Some(message)].into_iter().flatten().collect()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// decode(encode(x)) == x: random messages, fragmentations, masks, interleaved pings and
    /// read sizes.
    #[test]
    fn messages_survive_encoding_and_any_chunking(
        messages in proptest::collection::vec(sent(), 1..5),
        keys in proptest::collection::vec(any::<[u8; 4]>(), 64),
        client_sends in any::<bool>(),
        read_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let mut keys = keys.into_iter().cycle();
        let wire: Vec<u8> = messages.iter().flat_map(|m| encode(m, &mut keys, client_sends)).collect();
        let mut cuts: Vec<usize> = read_cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        let reader = if client_sends { Role::Server } else { Role::Client };
        let want: Vec<Message> = messages.iter().flat_map(expected).collect();
        prop_assert_eq!(read_in_pieces(reader, &wire, &cuts), (want, None));
    }

    /// Random bytes never panic the reader, and the answer never depends on the chunking.
    #[test]
    fn random_bytes_never_panic_and_chunking_never_matters(
        bytes in proptest::collection::vec(any::<u8>(), 0..300),
        read_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        server_reads in any::<bool>(),
    ) {
        let role = if server_reads { Role::Server } else { Role::Client };
        let mut cuts: Vec<usize> = read_cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let whole = read_in_pieces(role, &bytes, &[]);
        prop_assert_eq!(read_in_pieces(role, &bytes, &cuts), whole);
        let _ = parse_messages(role, &bytes);
        let _ = netcourse::ws::decoder::parse_all(role, &bytes);
    }

    /// Frames with plausible headers (valid opcodes, right mask bit) and random payloads reach
    /// deeper: UTF-8, Close payloads, fragment order. Still no panic, still chunking-blind.
    #[test]
    fn random_plausible_frames_never_panic(
        frames in proptest::collection::vec(
            (any::<bool>(), 0u8..16, proptest::collection::vec(any::<u8>(), 0..40)),
            1..8,
        ),
        read_cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for (fin, op, payload) in &frames {
            match Opcode::from_u8(*op) {
                Some(opcode) => wire.extend(encode_frame(*fin, opcode, payload, None)),
                None => wire.extend([*op, 0]),
            }
        }
        let mut cuts: Vec<usize> = read_cuts.iter().map(|i| i.index(wire.len() + 1)).collect();
        cuts.sort_unstable();
        prop_assert_eq!(
            read_in_pieces(Role::Client, &wire, &cuts),
            read_in_pieces(Role::Client, &wire, &[])
        );
    }

    /// The word-at-a-time mask equals the RFC's byte-at-a-time definition.
    #[test]
    fn masking_equals_the_definition(
        data in proptest::collection::vec(any::<u8>(), 0..200),
        start in 0usize..8,
        key in any::<[u8; 4]>(),
        offset in any::<usize>(),
    ) {
        let start = start.min(data.len());
        let mut fast = data.clone();
        let mut slow = data;
        apply_mask(&mut fast[start..], key, offset);
        mask_bytewise(&mut slow[start..], key, offset);
        prop_assert_eq!(fast, slow);
    }

    /// The handshake readers take any bytes without panicking.
    #[test]
    fn handshake_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = server::parse_request(&bytes);
        let _ = client::parse_response(&bytes, [0; 16], &["chat"]);
        let mut request = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n".to_vec();
        request.extend(&bytes);
        let _ = server::parse_request(&request);
    }
}
