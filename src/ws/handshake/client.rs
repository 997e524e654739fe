//! The client's side of the opening handshake: write the upgrade request, then read the
//! server's response and check that it really agreed.
//!
//! ```text
//!   HTTP/1.1 101 Switching Protocols              status 101, else not a WebSocket
//!   Upgrade: websocket                            the token, any case
//!   Connection: Upgrade                           contains the token Upgrade
//!   Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=   base64(SHA-1(our key + GUID))
//!   Sec-WebSocket-Protocol: chat                  absent, or one we offered
//!   (no Sec-WebSocket-Extensions)                 we offered none
//! ```
//!
//! Anything else and the client MUST _Fail the WebSocket Connection_ (RFC 6455 4.1): there is
//! nobody to tell, so every error here is [`crate::ws::Code::Abort`]: close the socket.
//!
//! The key is the base64 of 16 random bytes that the caller passes in ([`ClientHandshake::new`]):
//! this code reads no random source, so tests choose their nonce. The response head is read
//! with a small reader of its own (lesson 07's parser reads requests): lines are found
//! incrementally, the search resumes where it stopped, and the head is limited in bytes and in
//! header count. [`parse_response`] runs it on one buffer, for fuzzing.

use super::{accept_key, is_token, key_from_nonce, MAX_HANDSHAKE_BYTES, MAX_HANDSHAKE_HEADERS};
use crate::http::Headers;
use crate::trace::quote;
use crate::ws::error::{ErrorKind, WsError};

/// What the client asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// The Host header: the server's name, with `:port` unless it is the default (80).
    pub host: String,
    /// The resource name: path and query, `/chat?room=1`.
    pub path: String,
    /// An Origin to send, as a browser would (`http://example.com`); none for a plain client.
    pub origin: Option<String>,
    /// Subprotocols to offer, most preferred first.
    pub protocols: Vec<String>,
    /// Largest response head accepted.
    pub max_bytes: usize,
    /// Most header fields in the response.
    pub max_headers: usize,
}

impl ClientConfig {
    pub fn new(host: impl Into<String>, path: impl Into<String>) -> Self {
        ClientConfig {
            host: host.into(),
            path: path.into(),
            origin: None,
            protocols: Vec::new(),
            max_bytes: MAX_HANDSHAKE_BYTES,
            max_headers: MAX_HANDSHAKE_HEADERS,
        }
    }
}

/// The server agreed: speak WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Established {
    /// The subprotocol the server chose, if any.
    pub protocol: Option<String>,
    /// The response's header fields (cookies set during the handshake, for instance).
    pub headers: Headers,
    /// Bytes after the response head: the server's first frames, already. Hand them to the
    /// frame decoder before the next read.
    pub unread: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed(WsError),
}

/// The client's handshake, one per connection.
#[derive(Debug)]
pub struct ClientHandshake {
    config: ClientConfig,
    key: String,
    buf: Vec<u8>,
    /// Where the line search resumes: no byte is searched twice.
    searched: usize,
    /// Start of the line being searched.
    line_start: usize,
    /// Header lines seen so far.
    lines: usize,
    state: State,
}

impl ClientHandshake {
    /// A handshake whose key is made from `nonce`, 16 bytes the caller drew from a strong
    /// random source (RFC 6455 4.1: "The nonce MUST be selected randomly for each connection").
    pub fn new(config: ClientConfig, nonce: [u8; 16]) -> Self {
        ClientHandshake {
            config,
            key: key_from_nonce(nonce),
            buf: Vec::new(),
            searched: 0,
            line_start: 0,
            lines: 0,
            state: State::Reading,
        }
    }

    /// The `Sec-WebSocket-Key` this handshake sends.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The upgrade request to write (RFC 6455 4.1, the twelve requirements on the handshake).
    pub fn request(&self) -> Vec<u8> {
        let c = &self.config;
        let mut out = format!(
            "GET {} HTTP/1.1\r\n\
             Host: {}\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: {}\r\n\
             Sec-WebSocket-Version: 13\r\n",
            c.path, c.host, self.key
        );
        if let Some(origin) = &c.origin {
            out.push_str(&format!("Origin: {origin}\r\n"));
        }
        if !c.protocols.is_empty() {
            out.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                c.protocols.join(", ")
            ));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }

    /// Hand the handshake whatever one read returned.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The result: `Ok(None)` if the response head is not complete, the established
    /// connection once, or why the response is refused. After an error every call returns it.
    #[allow(clippy::should_implement_trait)] // not an Iterator: "need more" is not "finished"
    pub fn next(&mut self) -> Result<Option<Established>, WsError> {
        match &self.state {
            State::Failed(e) => return Err(e.clone()),
            State::Done => return Ok(None),
            State::Reading => {}
        }
        let result = self.step();
        match &result {
            Err(e) => self.state = State::Failed(e.clone()),
            Ok(Some(_)) => self.state = State::Done,
            Ok(None) => {}
        }
        result
    }

    fn step(&mut self) -> Result<Option<Established>, WsError> {
        let Some(head_len) = self.find_head_end()? else {
            return Ok(None);
        };
        let head = &self.buf[..head_len];
        let (status, headers) = parse_head(head)?;
        let protocol = check_response(status, &headers, &self.key, &self.config.protocols)?;
        let unread = self.buf.split_off(head_len);
        Ok(Some(Established {
            protocol,
            headers,
            unread,
        }))
    }

    /// The length of the head (up to and including its empty line), once it has arrived.
    fn find_head_end(&mut self) -> Result<Option<usize>, WsError> {
        while let Some(i) = self.buf[self.searched..].iter().position(|&b| b == b'\n') {
            let end = self.searched + i;
            self.searched = end + 1;
            let line = &self.buf[self.line_start..end];
            if line.is_empty() || line == b"\r" {
                return Ok(Some(end + 1));
            }
            self.line_start = end + 1;
            self.lines += 1;
            // The status line and at most max_headers fields.
            if self.lines > self.config.max_headers + 1 {
                return Err(WsError::new(
                    ErrorKind::ResponseTooLarge,
                    format!(
                        "more than {} header fields in the response",
                        self.config.max_headers
                    ),
                ));
            }
        }
        self.searched = self.buf.len();
        if self.buf.len() > self.config.max_bytes {
            return Err(WsError::new(
                ErrorKind::ResponseTooLarge,
                format!(
                    "no end of the response head in {} bytes",
                    self.config.max_bytes
                ),
            ));
        }
        Ok(None)
    }
}

/// Split a complete head into its status code and header fields.
fn parse_head(head: &[u8]) -> Result<(u16, Headers), WsError> {
    let bad = |why: String| WsError::new(ErrorKind::BadResponse, why);
    let mut lines = head
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let status_line = lines.next().unwrap_or_default();
    // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4). The
    // second SP is forgiven when the reason is empty: a client goes by the number.
    let status = match status_line.splitn(3, |&b| b == b' ').collect::<Vec<_>>()[..] {
        [b"HTTP/1.1", code, ..] if code.len() == 3 && code.iter().all(u8::is_ascii_digit) => {
            code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'))
        }
        _ => {
            return Err(bad(format!(
                "{} is not an HTTP/1.1 status line",
                quote(status_line, 60)
            )))
        }
    };
    let mut headers = Headers::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(bad(format!(
                "a header line without a colon: {}",
                quote(line, 60)
            )));
        };
        let name = &line[..colon];
        if !std::str::from_utf8(name).is_ok_and(is_token) {
            return Err(bad(format!(
                "the header name {} is not a token",
                quote(name, 40)
            )));
        }
        let value = line[colon + 1..].trim_ascii();
        if value.iter().any(|&b| b.is_ascii_control() && b != b'\t') {
            return Err(bad(format!(
                "the {} value has a control character",
                quote(name, 40)
            )));
        }
        headers.push(name, value);
    }
    Ok((status, headers))
}

/// Check a response against RFC 6455 4.1, in the order of that section; the chosen
/// subprotocol if it passes.
pub fn check_response(
    status: u16,
    headers: &Headers,
    key: &str,
    offered: &[String],
) -> Result<Option<String>, WsError> {
    let fail = |kind, reason: String| Err(WsError::new(kind, reason));
    // "1. If the status code received from the server is not 101, the client handles the
    // response per HTTP procedures." For this client that means: no WebSocket.
    if status != 101 {
        let hint = match status {
            426 => match headers.get_str("sec-websocket-version") {
                Some(v) => format!(" (the server speaks version {v})"),
                None => String::new(),
            },
            _ => String::new(),
        };
        return fail(
            ErrorKind::NotSwitchingProtocols,
            format!("the server answered {status}, not 101{hint}"),
        );
    }
    // "2. If the response lacks an |Upgrade| header field or the |Upgrade| header field
    // contains a value that is not an ASCII case-insensitive match for the value "websocket",
    // the client MUST _Fail the WebSocket Connection_."
    let upgrade: Vec<&[u8]> = headers.get_all("upgrade").collect();
    if !matches!(upgrade[..], [v] if v.eq_ignore_ascii_case(b"websocket")) {
        return fail(
            ErrorKind::ResponseNoUpgrade,
            "the 101 lacks \"Upgrade: websocket\"".into(),
        );
    }
    // "3. [...] doesn't contain a token that is an ASCII case-insensitive match for the value
    // "Upgrade" [...]".
    if !headers.has_token("connection", "upgrade") {
        return fail(
            ErrorKind::ResponseNoConnection,
            "the 101 lacks \"Connection: Upgrade\"".into(),
        );
    }
    // exercise(12): begin "Check the 101 as a client must: the accept key, then no extension or subprotocol that was not offered"
    // hint: The accept key: `accept_key(key)` is base64(SHA-1(key + GUID)); compare it with every Sec-WebSocket-Accept header (`headers.get_all("sec-websocket-accept")`): exactly one, equal, or `ErrorKind::AcceptMismatch`.
    // hint: This client offers no extension, so any `Sec-WebSocket-Extensions` value in the response (`headers.list(...)`) is `ErrorKind::UnrequestedExtension`.
    // hint: `Sec-WebSocket-Protocol`: none gives `Ok(None)`; one that is in `offered` gives `Ok(Some(it))`; anything else (one not offered, or several headers) is `ErrorKind::UnrequestedProtocol`.
    // "4. If the response lacks a |Sec-WebSocket-Accept| header field or the
    // |Sec-WebSocket-Accept| contains a value other than the base64-encoded SHA-1 of [...] but
    // ignoring any leading and trailing whitespace, the client MUST _Fail the WebSocket
    // Connection_." (The header parser has trimmed the whitespace.)
    let expected = accept_key(key);
    let accepts: Vec<&[u8]> = headers.get_all("sec-websocket-accept").collect();
    if accepts[..] != [expected.as_bytes()] {
        return fail(
            ErrorKind::AcceptMismatch,
            match accepts[..] {
                [] => format!("no Sec-WebSocket-Accept; expected {expected}"),
                [got] => format!(
                    "Sec-WebSocket-Accept is {}; base64(SHA-1(key + GUID)) is {expected}",
                    quote(got, 40)
                ),
                _ => "several Sec-WebSocket-Accept headers".into(),
            },
        );
    }
    // "5. If the response includes a |Sec-WebSocket-Extensions| header field and this header
    // field indicates the use of an extension that was not present in the client's handshake
    // [...]". This client offers none, so any is unrequested.
    if let Some(ext) = headers.list("sec-websocket-extensions").next() {
        return fail(
            ErrorKind::UnrequestedExtension,
            format!(
                "the server uses the extension {}, which was not offered",
                quote(ext, 40)
            ),
        );
    }
    // "6. If the response includes a |Sec-WebSocket-Protocol| header field and this header
    // field indicates the use of a subprotocol that was not present in the client's handshake
    // [...]". The server's value is one token (Sec-WebSocket-Protocol-Server = token).
    let chosen: Vec<&[u8]> = headers.get_all("sec-websocket-protocol").collect();
    match chosen[..] {
        [] => Ok(None),
        [p] => match offered.iter().find(|o| o.as_bytes() == p) {
            Some(o) => Ok(Some(o.clone())),
            None => fail(
                ErrorKind::UnrequestedProtocol,
                format!(
                    "the server chose the subprotocol {}, which was not offered",
                    quote(p, 40)
                ),
            ),
        },
        _ => fail(
            ErrorKind::UnrequestedProtocol,
            "several Sec-WebSocket-Protocol headers; the server chooses one".into(),
        ),
    }
    // exercise: end
}

/// Run the client's handshake on one response buffer, for the key `key` and the subprotocols
/// `offered`: the entry point for fuzzing. `Ok(None)`: the head is incomplete.
pub fn parse_response(
    bytes: &[u8],
    nonce: [u8; 16],
    offered: &[&str],
) -> Result<Option<Established>, WsError> {
    let mut config = ClientConfig::new("localhost", "/");
    config.protocols = offered.iter().map(|p| p.to_string()).collect();
    let mut handshake = ClientHandshake::new(config, nonce);
    handshake.push(bytes);
    handshake.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: [u8; 16] = *b"the sample nonce";
    const RFC_RESPONSE: &str = "HTTP/1.1 101 Switching Protocols\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
        Sec-WebSocket-Protocol: chat\r\n\r\n";

    fn client() -> ClientHandshake {
        let mut config = ClientConfig::new("server.example.com", "/chat");
        config.origin = Some("http://example.com".into());
        config.protocols = vec!["chat".into(), "superchat".into()];
        ClientHandshake::new(config, NONCE)
    }

    fn answer(response: &str) -> Result<Option<Established>, WsError> {
        let mut c = client();
        c.push(response.as_bytes());
        c.next()
    }

    #[test]
    fn the_request_is_the_rfc_1_3_request() {
        assert_eq!(
            String::from_utf8(client().request()).unwrap(),
            "GET /chat HTTP/1.1\r\n\
             Host: server.example.com\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Version: 13\r\n\
             Origin: http://example.com\r\n\
             Sec-WebSocket-Protocol: chat, superchat\r\n\r\n"
        );
    }

    #[test]
    fn the_rfc_response_is_accepted_in_every_chunking() {
        let bytes = RFC_RESPONSE.as_bytes();
        for cut in 0..=bytes.len() {
            let mut c = client();
            c.push(&bytes[..cut]);
            let first = c.next().unwrap();
            c.push(&bytes[cut..]);
            let got = first.or_else(|| c.next().unwrap()).expect("established");
            assert_eq!(got.protocol.as_deref(), Some("chat"), "cut at {cut}");
        }
        let mut c = client();
        for (i, b) in bytes.iter().enumerate() {
            c.push(&[*b]);
            assert_eq!(c.next().unwrap().is_some(), i == bytes.len() - 1);
        }
    }

    #[test]
    fn the_servers_first_frames_are_handed_over() {
        let mut c = client();
        c.push(format!("{RFC_RESPONSE}\u{1}").as_bytes());
        assert_eq!(c.next().unwrap().unwrap().unread, [1]);
        assert_eq!(c.next(), Ok(None));
    }

    #[test]
    fn each_rule_fails_the_connection() {
        use ErrorKind::*;
        let edit = |from: &str, to: &str| {
            assert!(RFC_RESPONSE.contains(from), "{from}");
            RFC_RESPONSE.replacen(from, to, 1)
        };
        let cases = [
            (
                edit("101 Switching Protocols", "200 OK"),
                NotSwitchingProtocols,
            ),
            (edit("HTTP/1.1 101", "HTTP/1.0 101"), BadResponse),
            (edit("HTTP/1.1 101 ", "HTTP/1.1 1O1 "), BadResponse),
            (edit("Upgrade: websocket\r\n", ""), ResponseNoUpgrade),
            (
                edit("Upgrade: websocket", "Upgrade: websocket2"),
                ResponseNoUpgrade,
            ),
            (
                edit("Connection: Upgrade", "Connection: close"),
                ResponseNoConnection,
            ),
            (
                edit(
                    "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
                    "s3pPLMBiTxaEJMHowSYbNTB3wOU=",
                ),
                AcceptMismatch,
            ),
            (
                edit("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n", ""),
                AcceptMismatch,
            ),
            (
                edit("Protocol: chat", "Protocol: mqtt"),
                UnrequestedProtocol,
            ),
            (
                edit("Protocol: chat", "Protocol: chat, superchat"),
                UnrequestedProtocol,
            ),
            (
                edit(
                    "Protocol: chat\r\n",
                    "Protocol: chat\r\nSec-WebSocket-Extensions: permessage-deflate\r\n",
                ),
                UnrequestedExtension,
            ),
            (edit("Upgrade: websocket", "Upgrade websocket"), BadResponse),
        ];
        for (response, kind) in cases {
            let e = answer(&response).expect_err(&response);
            assert_eq!(
                (e.kind, e.code),
                (kind, crate::ws::Code::Abort),
                "{response}"
            );
        }
    }

    #[test]
    fn case_and_whitespace_are_forgiven_where_the_rfc_says_so() {
        let lenient = RFC_RESPONSE
            .replacen("Upgrade: websocket", "upgrade:   WebSocket  ", 1)
            .replacen("Connection: Upgrade", "connection: keep-alive, upgrade", 1)
            .replacen("Sec-WebSocket-Protocol: chat\r\n", "", 1);
        let established = answer(&lenient).unwrap().unwrap();
        assert_eq!(established.protocol, None);
    }

    #[test]
    fn a_426_says_which_version_the_server_speaks() {
        let e = answer("HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\n")
            .unwrap_err();
        assert!(
            e.reason.contains("426") && e.reason.contains("version 13"),
            "{e}"
        );
    }

    #[test]
    fn the_head_is_limited() {
        let mut c = client();
        c.push(&vec![b'x'; MAX_HANDSHAKE_BYTES + 1]);
        assert_eq!(c.next().unwrap_err().kind, ErrorKind::ResponseTooLarge);
        let many: String = (0..=MAX_HANDSHAKE_HEADERS)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect();
        let e = answer(&format!("HTTP/1.1 101 OK\r\n{many}\r\n")).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ResponseTooLarge);
    }

    #[test]
    fn parse_response_never_panics_on_truncations_and_junk() {
        let bytes = RFC_RESPONSE.as_bytes();
        for end in 0..bytes.len() {
            assert_eq!(
                parse_response(&bytes[..end], NONCE, &["chat"])
                    .ok()
                    .flatten(),
                None
            );
        }
        for junk in [
            &b"\n\n"[..],
            b"HTTP/1.1 101\r\n\r\n",
            b"\xff\xfe\n:\n\n",
            b"HTTP/1.1 999 x\n\n",
        ] {
            let _ = parse_response(junk, NONCE, &[]);
        }
    }
}
