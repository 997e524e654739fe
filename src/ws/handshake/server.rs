//! The server's side of the opening handshake: read the client's upgrade request, check it, and
//! answer `101 Switching Protocols` or a refusal with its reason.
//!
//! ```text
//!   GET /chat HTTP/1.1                           GET, HTTP/1.1 or higher        else 400
//!   Host: server.example.com                     present, not empty              else 400
//!   Upgrade: websocket                           the token, any case             else 400
//!   Connection: keep-alive, Upgrade              contains the token Upgrade      else 400
//!   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==  base64 of 16 bytes, once        else 400
//!   Sec-WebSocket-Version: 13                    exactly 13           else 426 + "Version: 13"
//!   Origin: http://example.com                   on the allow-list, if any       else 403
//!   Sec-WebSocket-Protocol: chat, superchat      tokens, unique; we pick one or none
//!   Sec-WebSocket-Extensions: permessage-deflate well-formed; declined by not echoing it
//! ```
//!
//! The head is read by [`crate::http::RequestParser`], the incremental parser of lesson 07, so
//! every limit and rule of HTTP/1.1 applies on the way (a 20 KB header line is a 431 before the
//! WebSocket checks run). What this file adds is the WebSocket checks, in the order above, and
//! the policy: [`ServerConfig::allowed_origins`] and [`ServerConfig::protocols`].
//!
//! Call order: [`ServerHandshake::push`] what a read returned, then [`ServerHandshake::next`]:
//! `Ok(None)` wants more bytes; `Ok(Some(accepted))` carries the 101 to write and any bytes the
//! client sent after its head (frames, already); `Err(e)` is answered with
//! [`refusal_response`] and the connection closed. [`ServerHandshake::check_deadline`] ends a
//! handshake that takes longer than [`ServerConfig::timeout`] (a slowloris holding a socket).
//! [`parse_request`] runs the whole machine on one buffer, for fuzzing.

use super::MAX_HANDSHAKE_HEADERS;
use super::{accept_key, decode_key, is_token, HANDSHAKE_TIMEOUT, MAX_HANDSHAKE_BYTES};
use crate::http::{self, BodyFraming, Event, Headers, RequestHead, RequestParser, Version};
use crate::trace::quote;
use crate::ws::error::{ErrorKind, WsError};
use std::time::{Duration, Instant, SystemTime};

/// What the server accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Largest request line, and separately the largest header section. Over it: 414 or 431.
    pub max_bytes: usize,
    /// Most header fields. Over it: 431.
    pub max_headers: usize,
    /// Time from the first byte to the end of the head. Over it: 408.
    pub timeout: Duration,
    /// Origins a browser may connect from, as `scheme://host[:port]`, compared without regard
    /// to case. `None` accepts every origin. A request without Origin is not from a browser
    /// (RFC 6455 4.2.1: "A connection attempt lacking this header field SHOULD NOT be
    /// interpreted as coming from a browser client") and is accepted either way.
    pub allowed_origins: Option<Vec<String>>,
    /// Subprotocols this server speaks. The first one in the *client's* list (ordered by the
    /// client's preference, RFC 6455 4.1) that is also here is chosen; none if there is none.
    pub protocols: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_bytes: MAX_HANDSHAKE_BYTES,
            max_headers: MAX_HANDSHAKE_HEADERS,
            timeout: HANDSHAKE_TIMEOUT,
            allowed_origins: None,
            protocols: Vec::new(),
        }
    }
}

/// A checked upgrade request: what the server needs to decide and to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// The whole HTTP head, for the path, cookies and anything else the application reads.
    pub head: RequestHead,
    pub key: String,
    /// The Origin, lowercased (RFC 6455 4.2.2: "The origin is serialized to ASCII and converted
    /// to lowercase").
    pub origin: Option<String>,
    /// The subprotocols the client offered, in its order of preference.
    pub protocols: Vec<String>,
    /// The names of the extensions the client offered (all of them are declined).
    pub extensions: Vec<String>,
}

/// The handshake succeeded: write `response`, then speak WebSocket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub request: UpgradeRequest,
    /// The subprotocol chosen, if any.
    pub protocol: Option<String>,
    /// The `101 Switching Protocols` response.
    pub response: Vec<u8>,
    /// Bytes the client sent after its head: the start of its first frames. Hand them to the
    /// frame decoder before the next read.
    pub unread: Vec<u8>,
}

#[derive(Debug)]
enum State {
    Reading,
    /// The head was checked and accepted; the parser's `End` comes next.
    Checked(Box<(UpgradeRequest, Option<String>)>),
    Done,
    Failed(WsError),
}

/// The server's handshake, one per connection, resumable: it holds the bytes of a head that
/// has not fully arrived.
#[derive(Debug)]
pub struct ServerHandshake {
    config: ServerConfig,
    parser: RequestParser,
    deadline: Instant,
    state: State,
}

impl ServerHandshake {
    /// A handshake on a connection accepted at `now`.
    pub fn new(config: ServerConfig, now: Instant) -> Self {
        let limits = http::Limits {
            max_request_line: config.max_bytes,
            max_header_bytes: config.max_bytes,
            max_headers: config.max_headers,
            // A body is refused after the head (HasBody), with our own reason.
            max_body: u64::MAX,
            max_trailer_bytes: 0,
        };
        ServerHandshake {
            deadline: now + config.timeout,
            config,
            parser: RequestParser::new(limits),
            state: State::Reading,
        }
    }

    /// Hand the handshake whatever one read returned.
    pub fn push(&mut self, bytes: &[u8]) {
        self.parser.push(bytes);
    }

    /// When the handshake times out.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// Fail with 408 if the head is not complete at `now` and the deadline has passed.
    pub fn check_deadline(&mut self, now: Instant) -> Result<(), WsError> {
        if matches!(self.state, State::Reading) && now >= self.deadline {
            let e = WsError::new(
                ErrorKind::HandshakeTimeout,
                format!(
                    "the handshake was not complete after {:?}",
                    self.config.timeout
                ),
            );
            self.state = State::Failed(e.clone());
            return Err(e);
        }
        Ok(())
    }

    /// The result: `Ok(None)` if more bytes are needed, the accepted handshake once, or the
    /// error to answer. After an error every call returns it again; after success, `Ok(None)`.
    #[allow(clippy::should_implement_trait)] // not an Iterator: "need more" is not "finished"
    pub fn next(&mut self) -> Result<Option<Accepted>, WsError> {
        let result = self.step();
        if let Err(e) = &result {
            self.state = State::Failed(e.clone());
        }
        result
    }

    fn step(&mut self) -> Result<Option<Accepted>, WsError> {
        loop {
            match &mut self.state {
                State::Failed(e) => return Err(e.clone()),
                State::Done => return Ok(None),
                State::Reading | State::Checked(_) => {}
            }
            match self.parser.next().map_err(WsError::http)? {
                None => return Ok(None),
                Some(Event::Head(head)) => {
                    let request = check_request(head)?;
                    let protocol = decide(&request, &self.config)?;
                    self.state = State::Checked(Box::new((request, protocol)));
                }
                Some(Event::End) => {
                    let State::Checked(checked) = std::mem::replace(&mut self.state, State::Done)
                    else {
                        unreachable!("the parser sends End after Head")
                    };
                    let (request, protocol) = *checked;
                    return Ok(Some(Accepted {
                        response: accept_response(&request.key, protocol.as_deref()),
                        protocol,
                        request,
                        unread: self.parser.take_unread(),
                    }));
                }
                // Bodies are refused in check_request, before the parser reads one.
                Some(Event::Body(_) | Event::Trailers(_)) => {
                    unreachable!("a request with a body is refused at its head")
                }
            }
        }
    }
}

/// Check a request head against RFC 6455 4.2.1, in the order of that section.
pub fn check_request(head: RequestHead) -> Result<UpgradeRequest, WsError> {
    let fail = |kind, reason: String| Err(WsError::new(kind, reason));
    // RFC 6455 4.2.1: "1. An HTTP/1.1 or higher GET request".
    if head.method != "GET" {
        return fail(
            ErrorKind::NotGet,
            format!(
                "the method is {}; a WebSocket handshake is a GET",
                head.method
            ),
        );
    }
    if head.version != Version::Http11 {
        return fail(
            ErrorKind::NotHttp11,
            format!("{}: a WebSocket handshake needs HTTP/1.1", head.version),
        );
    }
    if !matches!(head.body, BodyFraming::None | BodyFraming::ContentLength(0)) {
        return fail(
            ErrorKind::HasBody,
            "the request announces a body; an upgrade request has none".into(),
        );
    }
    let headers = &head.headers;
    // "2. A |Host| header field containing the server's authority." (The HTTP parser has
    // checked that there is exactly one, with the characters of a host.)
    if headers.get("host").is_none_or(<[u8]>::is_empty) {
        return fail(ErrorKind::EmptyHost, "the Host header is empty".into());
    }
    check_upgrade_headers(headers)?;
    // "6. A |Sec-WebSocket-Version| header field, with a value of 13." Checked before the key:
    // a client of another version learns from the 426 which one to use (RFC 6455 4.4).
    let versions: Vec<&[u8]> = headers.get_all("sec-websocket-version").collect();
    if versions != [b"13"] {
        return fail(
            ErrorKind::UnsupportedVersion,
            match versions.as_slice() {
                [] => "no Sec-WebSocket-Version; this server speaks 13".into(),
                [v] => format!(
                    "Sec-WebSocket-Version {}; this server speaks 13",
                    quote(v, 20)
                ),
                _ => "several Sec-WebSocket-Version headers; send one: 13".into(),
            },
        );
    }
    // "5. A |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded,
    // is 16 bytes in length."
    let keys: Vec<&[u8]> = headers.get_all("sec-websocket-key").collect();
    let key = match keys.as_slice() {
        [key] => std::str::from_utf8(key)
            .ok()
            .filter(|k| decode_key(k).is_some()),
        _ => None,
    };
    let Some(key) = key else {
        return fail(
            ErrorKind::BadKey,
            match keys.as_slice() {
                [] => "no Sec-WebSocket-Key".into(),
                [key] => format!(
                    "Sec-WebSocket-Key {} is not the base64 of 16 bytes",
                    quote(key, 40)
                ),
                _ => "several Sec-WebSocket-Key headers".into(),
            },
        );
    };
    // "8. Optionally, a |Sec-WebSocket-Protocol| header field" (1#token, unique: RFC 6455 4.1).
    let mut protocols: Vec<String> = Vec::new();
    if headers.get("sec-websocket-protocol").is_some() {
        for p in headers.list("sec-websocket-protocol") {
            let p = String::from_utf8_lossy(p).into_owned();
            if !is_token(&p) || protocols.contains(&p) {
                return fail(
                    ErrorKind::BadProtocolList,
                    format!(
                        "Sec-WebSocket-Protocol has {}, not a unique token",
                        quote(p.as_bytes(), 40)
                    ),
                );
            }
            protocols.push(p);
        }
        if protocols.is_empty() {
            return fail(
                ErrorKind::BadProtocolList,
                "an empty Sec-WebSocket-Protocol".into(),
            );
        }
    }
    // "9. Optionally, a |Sec-WebSocket-Extensions| header field". Parsed only to be sure it is
    // well-formed (RFC 6455 9.1) and to log what was declined.
    let mut extensions = Vec::new();
    for ext in headers.list("sec-websocket-extensions") {
        let ext = String::from_utf8_lossy(ext);
        match extension_name(&ext) {
            Some(name) => extensions.push(name.to_string()),
            None => {
                return fail(
                    ErrorKind::BadExtensionList,
                    format!(
                        "Sec-WebSocket-Extensions has {}, not extension-token *( \";\" extension-param )",
                        quote(ext.as_bytes(), 40)
                    ),
                )
            }
        }
    }
    let origin = headers.get_str("origin").map(|o| o.to_ascii_lowercase());
    Ok(UpgradeRequest {
        key: key.to_string(),
        origin,
        protocols,
        extensions,
        head,
    })
}

/// RFC 6455 4.2.1 items 3 and 4: the request asks to upgrade this connection to WebSocket.
fn check_upgrade_headers(headers: &Headers) -> Result<(), WsError> {
    // exercise(09): begin "Is it an upgrade to WebSocket? Upgrade and Connection, as tokens"
    // hint: RFC 6455 4.2.1 wants "3. An |Upgrade| header field containing the value "websocket", treated as an ASCII case-insensitive value." and "4. A |Connection| header field that includes the token "Upgrade"". Both fields are comma-separated lists of tokens: `Connection: keep-alive, Upgrade` (what Firefox sends) must pass.
    // hint: `headers.has_token(name, token)` looks for a token in every field of that name, without regard to case. Refuse with `Err(WsError::new(ErrorKind::NoUpgradeWebsocket, reason))`, or `ErrorKind::NoConnectionUpgrade`: both are answered with a 400.
    // hint: Say in the reason what came: `headers.get("upgrade")` is the raw value (or None), and `quote(value, 40)` prints it safely.
    let fail = |kind, reason: String| Err(WsError::new(kind, reason));
    // "3. An |Upgrade| header field containing the value "websocket", treated as an ASCII
    // case-insensitive value."
    if !headers.has_token("upgrade", "websocket") {
        return fail(
            ErrorKind::NoUpgradeWebsocket,
            match headers.get("upgrade") {
                None => "no Upgrade header: this is a WebSocket endpoint".into(),
                Some(v) => format!("Upgrade is {}, not websocket", quote(v, 40)),
            },
        );
    }
    // "4. A |Connection| header field that includes the token "Upgrade", treated as an ASCII
    // case-insensitive value."
    if !headers.has_token("connection", "upgrade") {
        return fail(
            ErrorKind::NoConnectionUpgrade,
            match headers.get("connection") {
                None => "no Connection header; it must contain Upgrade".into(),
                Some(v) => format!("Connection is {}, without Upgrade", quote(v, 40)),
            },
        );
    }
    Ok(())
    // exercise: end
}

/// The name of one element of an extension list, if it is well-formed:
/// `extension-token *( ";" extension-param )`, `extension-param = token [ "=" (token |
/// quoted-string) ]` (RFC 6455 9.1).
fn extension_name(element: &str) -> Option<&str> {
    let mut parts = element.split(';').map(|p| p.trim_matches([' ', '\t']));
    let name = parts.next().filter(|n| is_token(n))?;
    for param in parts {
        let (key, value) = match param.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v.trim_start())),
            None => (param, None),
        };
        let value_ok = match value {
            None => true,
            Some(v) => {
                is_token(v)
                    || v.len() >= 2
                        && v.starts_with('"')
                        && v.ends_with('"')
                        && is_token(&v[1..v.len() - 1])
            }
        };
        if !is_token(key) || !value_ok {
            return None;
        }
    }
    Some(name)
}

/// Apply the server's policy to a checked request: refuse a foreign Origin, choose a
/// subprotocol. Extensions are declined by saying nothing about them (RFC 6455 9.1: a server
/// accepts an extension by listing it in its response; we never do, so the client MUST NOT
/// use any, and every RSV bit stays 0).
pub fn decide(request: &UpgradeRequest, config: &ServerConfig) -> Result<Option<String>, WsError> {
    // RFC 6455 10.2: "If the origin indicated is unacceptable to the server, then it SHOULD
    // respond to the WebSocket handshake with a reply containing HTTP 403 Forbidden status
    // code."
    if let (Some(allowed), Some(origin)) = (&config.allowed_origins, &request.origin) {
        if !allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
            return Err(WsError::new(
                ErrorKind::OriginRefused,
                format!("the origin {origin} is not allowed here"),
            ));
        }
    }
    // RFC 6455 4.2.2: "The value chosen MUST be derived from the client's handshake,
    // specifically by selecting one of the values from the |Sec-WebSocket-Protocol| field that
    // the server is willing to use for this connection (if any)."
    Ok(request
        .protocols
        .iter()
        .find(|p| config.protocols.contains(p))
        .cloned())
}

/// The `101 Switching Protocols` for a key, with the chosen subprotocol if any (RFC 6455
/// 4.2.2 step 5). No Date: a 1xx response may omit it (RFC 9110 6.6.1).
pub fn accept_response(key: &str, protocol: Option<&str>) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(p) = protocol {
        // "if the server does not wish to agree to one of the suggested subprotocols, it MUST
        // NOT send back a |Sec-WebSocket-Protocol| header field in its response".
        out.push_str(&format!("Sec-WebSocket-Protocol: {p}\r\n"));
    }
    out.push_str("\r\n");
    out.into_bytes()
}

/// The answer to a refused handshake: the error's status (400 if it has none), a Date (RFC 9110
/// 6.6.1: an origin server with a clock MUST send one in a 4xx), `Connection: close`, and a
/// text body with the reason and the rule. A 426 also says `Sec-WebSocket-Version: 13` (RFC
/// 6455 4.2.2) and `Upgrade: websocket` (RFC 9110 15.5.22: "The server MUST send an Upgrade
/// header field in a 426 response").
pub fn refusal_response(error: &WsError, date: SystemTime) -> Vec<u8> {
    let status = error.status().unwrap_or(400);
    let body = format!("{error}\n");
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nDate: {}\r\nConnection: close\r\n",
        http::reason_phrase(status),
        http::http_date(date)
    );
    if status == 426 {
        out.push_str("Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n");
    }
    out.push_str(&format!(
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    out.into_bytes()
}

/// Run the server's handshake on one buffer with the default configuration: the entry point
/// for fuzzing. `Ok(None)`: the head is incomplete.
pub fn parse_request(bytes: &[u8]) -> Result<Option<Accepted>, WsError> {
    let mut handshake = ServerHandshake::new(ServerConfig::default(), Instant::now());
    handshake.push(bytes);
    handshake.next()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_REQUEST: &str = "GET /chat HTTP/1.1\r\n\
        Host: server.example.com\r\n\
        Upgrade: websocket\r\n\
        Connection: Upgrade\r\n\
        Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\n\
        Sec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    fn config() -> ServerConfig {
        ServerConfig {
            protocols: vec!["superchat".into(), "chat".into()],
            ..ServerConfig::default()
        }
    }

    fn run(config: ServerConfig, request: &str) -> Result<Option<Accepted>, WsError> {
        let mut h = ServerHandshake::new(config, Instant::now());
        h.push(request.as_bytes());
        h.next()
    }

    /// The RFC request with `from` replaced by `to`.
    fn edited(from: &str, to: &str) -> String {
        assert!(RFC_REQUEST.contains(from), "{from}");
        RFC_REQUEST.replacen(from, to, 1)
    }

    fn refused(request: &str) -> WsError {
        run(config(), request).expect_err("refused")
    }

    #[test]
    fn the_rfc_1_2_request_gets_the_rfc_1_2_response() {
        let accepted = run(config(), RFC_REQUEST).unwrap().unwrap();
        assert_eq!(
            accepted.protocol.as_deref(),
            Some("chat"),
            "the client's first choice"
        );
        assert_eq!(
            String::from_utf8(accepted.response).unwrap(),
            "HTTP/1.1 101 Switching Protocols\r\n\
             Upgrade: websocket\r\n\
             Connection: Upgrade\r\n\
             Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
             Sec-WebSocket-Protocol: chat\r\n\r\n"
        );
        assert_eq!(accepted.request.head.path(), "/chat");
        assert_eq!(
            accepted.request.origin.as_deref(),
            Some("http://example.com")
        );
        assert!(accepted.unread.is_empty());
    }

    #[test]
    fn every_chunking_gives_the_same_answer() {
        let expected = run(config(), RFC_REQUEST).unwrap().unwrap();
        let bytes = RFC_REQUEST.as_bytes();
        for cut in 0..=bytes.len() {
            let mut h = ServerHandshake::new(config(), Instant::now());
            h.push(&bytes[..cut]);
            let first = h.next().unwrap();
            h.push(&bytes[cut..]);
            let got = first.or_else(|| h.next().unwrap());
            assert_eq!(got.as_ref(), Some(&expected), "cut at {cut}");
        }
        let mut h = ServerHandshake::new(config(), Instant::now());
        let mut got = None;
        for b in bytes {
            h.push(&[*b]);
            if let Some(a) = h.next().unwrap() {
                got = Some(a);
            }
        }
        assert_eq!(got, Some(expected));
    }

    #[test]
    fn each_rule_has_its_status() {
        use ErrorKind::*;
        let cases: &[(String, ErrorKind, u16)] = &[
            (edited("GET", "POST"), NotGet, 400),
            (edited("HTTP/1.1", "HTTP/1.0"), NotHttp11, 400),
            (edited("Host: server.example.com", "Host:"), EmptyHost, 400),
            (
                edited("Upgrade: websocket", "Upgrade: h2c"),
                NoUpgradeWebsocket,
                400,
            ),
            (
                edited("Upgrade: websocket\r\n", ""),
                NoUpgradeWebsocket,
                400,
            ),
            (
                edited("Connection: Upgrade", "Connection: keep-alive"),
                NoConnectionUpgrade,
                400,
            ),
            (edited("Version: 13", "Version: 8"), UnsupportedVersion, 426),
            (
                edited("Sec-WebSocket-Version: 13\r\n", ""),
                UnsupportedVersion,
                426,
            ),
            (
                edited("Version: 13", "Version: 13\r\nSec-WebSocket-Version: 13"),
                UnsupportedVersion,
                426,
            ),
            (
                edited("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZ==="),
                BadKey,
                400,
            ),
            (
                edited("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZSE="),
                BadKey,
                400,
            ),
            (
                edited("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                BadKey,
                400,
            ),
            (
                edited("chat, superchat", "chat, chat"),
                BadProtocolList,
                400,
            ),
            (
                edited("chat, superchat", "chat, s/chat"),
                BadProtocolList,
                400,
            ),
            (
                edited("Origin", "Sec-WebSocket-Extensions: ;x\r\nOrigin"),
                BadExtensionList,
                400,
            ),
            (
                edited("Host: server.example.com\r\n", ""),
                Http(http::ErrorKind::BadHost),
                400,
            ),
            (
                edited("Upgrade: websocket", "Upgrade : websocket"),
                Http(http::ErrorKind::WhitespaceBeforeColon),
                400,
            ),
            (
                edited("Origin", "Content-Length: 3\r\nOrigin"),
                HasBody,
                400,
            ),
        ];
        for (request, kind, status) in cases {
            let e = refused(request);
            assert_eq!((e.kind, e.status()), (*kind, Some(*status)), "{request}");
        }
    }

    #[test]
    fn tokens_are_case_insensitive_and_lists_are_lists() {
        let request = edited("Upgrade: websocket", "Upgrade: WebSocket").replacen(
            "Connection: Upgrade",
            "Connection: keep-alive, UPGRADE",
            1,
        );
        assert!(run(config(), &request).unwrap().is_some());
    }

    #[test]
    fn origins_off_the_allow_list_get_403_and_no_origin_is_not_a_browser() {
        let strict = ServerConfig {
            allowed_origins: Some(vec!["http://Example.com".into()]),
            ..config()
        };
        assert!(run(strict.clone(), RFC_REQUEST).unwrap().is_some());
        let e = run(
            strict.clone(),
            &edited("http://example.com", "http://evil.example"),
        )
        .unwrap_err();
        assert_eq!((e.kind, e.status()), (ErrorKind::OriginRefused, Some(403)));
        let no_origin = edited("Origin: http://example.com\r\n", "");
        assert!(run(strict, &no_origin).unwrap().is_some());
    }

    #[test]
    fn no_common_subprotocol_means_no_header_and_extensions_are_never_echoed() {
        let request = edited("chat, superchat", "mqtt").replacen(
            "Origin",
            "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nOrigin",
            1,
        );
        let accepted = run(config(), &request).unwrap().unwrap();
        assert_eq!(accepted.protocol, None);
        assert_eq!(accepted.request.extensions, ["permessage-deflate"]);
        let response = String::from_utf8(accepted.response).unwrap();
        assert!(!response.contains("Sec-WebSocket-Protocol"));
        assert!(!response.contains("Extensions"));
    }

    #[test]
    fn extension_grammar() {
        for good in [
            "foo",
            "mux; max-channels=4; flow-control",
            "x; a=\"b\"",
            "x;a = b",
        ] {
            assert!(extension_name(good).is_some(), "{good}");
        }
        for bad in ["", ";x", "foo;", "foo; =1", "foo; a=\"b c\"", "a b"] {
            assert!(extension_name(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn frames_sent_right_after_the_head_are_handed_over() {
        let mut bytes = RFC_REQUEST.as_bytes().to_vec();
        bytes.extend_from_slice(&[0x81, 0x85, 0x37, 0xfa]);
        let mut h = ServerHandshake::new(config(), Instant::now());
        h.push(&bytes);
        let accepted = h.next().unwrap().unwrap();
        assert_eq!(accepted.unread, [0x81, 0x85, 0x37, 0xfa]);
        assert_eq!(h.next(), Ok(None), "done");
    }

    #[test]
    fn limits_and_the_deadline() {
        let big = edited("Origin", &format!("X-Big: {}\r\nOrigin", "x".repeat(9000)));
        assert_eq!(refused(&big).status(), Some(431));
        let many: String = (0..101).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            refused(&edited("Origin", &format!("{many}Origin"))).status(),
            Some(431)
        );
        let start = Instant::now();
        let mut h = ServerHandshake::new(config(), start);
        h.push(b"GET / HTTP/1.1\r\n");
        assert_eq!(h.next(), Ok(None));
        assert_eq!(h.deadline(), start + HANDSHAKE_TIMEOUT);
        assert!(h.check_deadline(start + Duration::from_secs(9)).is_ok());
        let e = h.check_deadline(start + HANDSHAKE_TIMEOUT).unwrap_err();
        assert_eq!(
            (e.kind, e.status()),
            (ErrorKind::HandshakeTimeout, Some(408))
        );
        assert_eq!(h.next(), Err(e));
    }

    #[test]
    fn refusals_say_why_and_426_names_the_version() {
        let e = refused(&edited("Version: 13", "Version: 8"));
        let date = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        let text = String::from_utf8(refusal_response(&e, date)).unwrap();
        assert!(
            text.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{text}"
        );
        assert!(text.contains("\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n"));
        assert!(text.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(text.contains("\r\nConnection: close\r\n"));
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("Content-Length: {}", body.len())));
        assert!(body.contains("Sec-WebSocket-Version \"8\"; this server speaks 13"));
        let e = refused(&edited("GET", "PUT"));
        let text = String::from_utf8(refusal_response(&e, date)).unwrap();
        assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\n"));
        assert!(!text.contains("Sec-WebSocket-Version"));
    }

    #[test]
    fn parse_request_never_panics_on_truncations_and_junk() {
        let bytes = RFC_REQUEST.as_bytes();
        for end in 0..bytes.len() {
            assert_eq!(parse_request(&bytes[..end]).ok().flatten(), None);
        }
        for junk in [
            &b"\x00\xff\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"\r\n\r\n\r\n",
        ] {
            let _ = parse_request(junk);
        }
    }
}
