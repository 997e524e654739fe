//! One error type for the whole WebSocket layer: what the peer sent wrong, which rule it broke,
//! and what to answer.
//!
//! A WebSocket connection fails in one of three places, and each has its own way to tell the
//! peer. During the opening handshake the server answers an HTTP status (400, 403, 426, ...).
//! After the handshake either side sends a Close frame carrying a close code (1002 protocol
//! error, 1007 invalid data, 1009 too big, ...). And a client that receives a bad handshake
//! response has nobody to tell: it simply closes the TCP connection. [`Code`] names the three,
//! [`ErrorKind`] names every rule the code enforces with the RFC sentence behind it, and
//! [`WsError`] carries both plus a one-line reason about this particular input.
//!
//! After any of these errors the connection is over: RFC 6455 7.1.7, "An endpoint MUST NOT
//! continue to attempt to process data (including a responding Close frame) from the remote
//! endpoint after being instructed to _Fail the WebSocket Connection_."

use std::fmt;

/// What to tell the peer about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Code {
    /// During the server side of the opening handshake: answer with this HTTP status, then close.
    Status(u16),
    /// After the handshake: send a Close frame with this close code (RFC 6455 7.4), then close.
    Close(u16),
    /// Nothing can be sent: close the TCP connection (a client refusing the server's handshake
    /// response, or a peer that stopped answering).
    Abort,
}

/// A WebSocket input refused: the answer, the rule, and what was wrong in this input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsError {
    /// What to send the peer before closing.
    pub code: Code,
    /// Which rule the input broke; tests match on it.
    pub kind: ErrorKind,
    /// What was wrong in this input, in one sentence for the log, the response body or the
    /// Close frame's reason.
    pub reason: String,
}

impl WsError {
    pub(crate) fn new(kind: ErrorKind, reason: impl Into<String>) -> Self {
        WsError {
            code: kind.code(),
            kind,
            reason: reason.into(),
        }
    }

    /// An error of the HTTP parser under the handshake, answered with its own status.
    pub(crate) fn http(e: crate::http::HttpError) -> Self {
        WsError {
            code: Code::Status(e.status),
            kind: ErrorKind::Http(e.kind),
            reason: e.reason,
        }
    }

    /// The close code to send, if this error happened after the handshake.
    pub fn close_code(&self) -> Option<u16> {
        match self.code {
            Code::Close(c) => Some(c),
            _ => None,
        }
    }

    /// The HTTP status to answer, if this error happened in the server's handshake.
    pub fn status(&self) -> Option<u16> {
        match self.code {
            Code::Status(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for WsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Code::Status(s) => write!(f, "HTTP {s}: ")?,
            Code::Close(c) => write!(f, "close {c}: ")?,
            Code::Abort => write!(f, "abort: ")?,
        }
        write!(f, "{} (breaks {})", self.reason, self.kind.rule())
    }
}

impl std::error::Error for WsError {}

/// Every rule the WebSocket code enforces. [`ErrorKind::code`] is the answer,
/// [`ErrorKind::rule`] says where the rule is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    // --- Opening handshake, server side: an HTTP status. ---
    /// The HTTP parser under the handshake refused the request (its own status: 400, 414, 431...).
    Http(crate::http::ErrorKind),
    /// The handshake did not complete in time. (408)
    HandshakeTimeout,
    /// The method is not GET. (400)
    NotGet,
    /// The version is not HTTP/1.1. (400)
    NotHttp11,
    /// The Host header is empty. (400)
    EmptyHost,
    /// The request announces a body. (400)
    HasBody,
    /// No `Upgrade: websocket`. (400)
    NoUpgradeWebsocket,
    /// No `Connection` header with the token `Upgrade`. (400)
    NoConnectionUpgrade,
    /// `Sec-WebSocket-Version` missing or not 13. (426, with `Sec-WebSocket-Version: 13`)
    UnsupportedVersion,
    /// `Sec-WebSocket-Key` missing, repeated, or not the base64 of 16 bytes. (400)
    BadKey,
    /// The Origin is not on the server's allow-list. (403)
    OriginRefused,
    /// `Sec-WebSocket-Protocol` is not a list of unique tokens. (400)
    BadProtocolList,
    /// `Sec-WebSocket-Extensions` does not follow its grammar. (400)
    BadExtensionList,

    // --- Opening handshake, client side: nothing to send, close the connection. ---
    /// The response head is longer than the limit, or has too many header fields.
    ResponseTooLarge,
    /// The status line or a header line is malformed.
    BadResponse,
    /// The status is not 101 Switching Protocols.
    NotSwitchingProtocols,
    /// The response has no `Upgrade: websocket`.
    ResponseNoUpgrade,
    /// The response has no `Connection: Upgrade`.
    ResponseNoConnection,
    /// `Sec-WebSocket-Accept` missing or not the one the key asks for.
    AcceptMismatch,
    /// The server chose a subprotocol the client did not offer.
    UnrequestedProtocol,
    /// The server named an extension the client did not offer.
    UnrequestedExtension,

    // --- Frames: close 1002 or 1009. ---
    /// An RSV bit is set and no extension was negotiated. (1002)
    ReservedBits,
    /// A reserved opcode (0x3-0x7, 0xB-0xF). (1002)
    ReservedOpcode,
    /// A control frame with a payload longer than 125 bytes. (1002)
    ControlTooLong,
    /// A control frame without FIN. (1002)
    ControlFragmented,
    /// A 64-bit payload length with its most significant bit set. (1002)
    LengthMsbSet,
    /// A payload length not encoded in the fewest bytes. (1002)
    NonMinimalLength,
    /// A client frame that is not masked (the server's decoder). (1002)
    UnmaskedClientFrame,
    /// A server frame that is masked (the client's decoder). (1002)
    MaskedServerFrame,
    /// A frame larger than [`super::Limits::max_frame`]. (1009)
    FrameTooLarge,

    // --- Messages: close 1002, 1007 or 1009. ---
    /// A continuation frame with no message in progress. (1002)
    UnexpectedContinuation,
    /// A new text or binary frame while a fragmented message is in progress. (1002)
    ExpectedContinuation,
    /// A message larger than [`super::Limits::max_message`]. (1009)
    MessageTooLarge,
    /// A message in more fragments than [`super::Limits::max_fragments`]. (1009)
    TooManyFragments,
    /// A text message that is not valid UTF-8. (1007)
    InvalidUtf8,

    // --- Closing handshake: close 1002 or 1007. ---
    /// A Close frame whose payload is one byte. (1002)
    CloseOneByte,
    /// A Close frame with a code that may not be sent. (1002)
    InvalidCloseCode,
    /// A Close frame whose reason is not UTF-8. (1007)
    CloseReasonNotUtf8,

    // --- Keep-alive: nothing to send. ---
    /// No frame arrived within the pong timeout after a ping.
    PongTimeout,
}

impl ErrorKind {
    /// What to tell the peer.
    pub fn code(self) -> Code {
        use ErrorKind::*;
        match self {
            Http(kind) => Code::Status(kind.status()),
            HandshakeTimeout => Code::Status(408),
            NotGet | NotHttp11 | EmptyHost | HasBody | NoUpgradeWebsocket | NoConnectionUpgrade
            | BadKey | BadProtocolList | BadExtensionList => Code::Status(400),
            UnsupportedVersion => Code::Status(426),
            OriginRefused => Code::Status(403),
            ResponseTooLarge
            | BadResponse
            | NotSwitchingProtocols
            | ResponseNoUpgrade
            | ResponseNoConnection
            | AcceptMismatch
            | UnrequestedProtocol
            | UnrequestedExtension
            | PongTimeout => Code::Abort,
            FrameTooLarge | MessageTooLarge | TooManyFragments => Code::Close(1009),
            InvalidUtf8 | CloseReasonNotUtf8 => Code::Close(1007),
            ReservedBits
            | ReservedOpcode
            | ControlTooLong
            | ControlFragmented
            | LengthMsbSet
            | NonMinimalLength
            | UnmaskedClientFrame
            | MaskedServerFrame
            | UnexpectedContinuation
            | ExpectedContinuation
            | CloseOneByte
            | InvalidCloseCode => Code::Close(1002),
        }
    }

    /// Where the rule is written, with its sentence when it is short.
    pub fn rule(self) -> &'static str {
        use ErrorKind::*;
        match self {
            Http(kind) => kind.rule(),
            HandshakeTimeout => "RFC 6455 10.4: implementations MUST protect themselves against exceeding their limits (a handshake that never ends holds a connection forever)",
            NotGet => "RFC 6455 4.2.1: the client's opening handshake is an HTTP/1.1 or higher GET request",
            NotHttp11 => "RFC 6455 4.1: the method of the request MUST be GET, and the HTTP version MUST be at least 1.1",
            EmptyHost => "RFC 6455 4.2.1: a |Host| header field containing the server's authority",
            HasBody => "RFC 6455 4.1: the client MUST wait for a response from the server before sending any further data (an upgrade request has no body)",
            NoUpgradeWebsocket => "RFC 6455 4.2.1: an |Upgrade| header field containing the value \"websocket\", treated as an ASCII case-insensitive value",
            NoConnectionUpgrade => "RFC 6455 4.2.1: a |Connection| header field that includes the token \"Upgrade\", treated as an ASCII case-insensitive value",
            UnsupportedVersion => "RFC 6455 4.2.2: if this version does not match a version understood by the server, the server MUST abort the WebSocket handshake and instead send an appropriate HTTP error code (such as 426 Upgrade Required) and a |Sec-WebSocket-Version| header field indicating the version(s) the server is capable of understanding",
            BadKey => "RFC 6455 4.2.1: a |Sec-WebSocket-Key| header field with a base64-encoded value that, when decoded, is 16 bytes in length",
            OriginRefused => "RFC 6455 10.2: if the origin indicated is unacceptable to the server, then it SHOULD respond to the WebSocket handshake with a reply containing HTTP 403 Forbidden status code",
            BadProtocolList => "RFC 6455 4.1: the elements that comprise this value MUST be non-empty strings with characters in the range U+0021 to U+007E not including separator characters and MUST all be unique strings (1#token)",
            BadExtensionList => "RFC 6455 9.1: if a value is received that does not conform to the ABNF, the recipient of such malformed data MUST immediately _Fail the WebSocket Connection_ (extension-list = 1#extension)",
            ResponseTooLarge => "RFC 6455 10.4: implementations MUST protect themselves against exceeding their limits (here: the size of the response head)",
            BadResponse => "RFC 6455 4.1: if the server's response does not conform to the requirements for the server's handshake, the client MUST _Fail the WebSocket Connection_",
            NotSwitchingProtocols => "RFC 6455 4.1: if the status code received from the server is not 101, the client handles the response per HTTP procedures (it is not a WebSocket connection)",
            ResponseNoUpgrade => "RFC 6455 4.1: if the response lacks an |Upgrade| header field or the |Upgrade| header field contains a value that is not an ASCII case-insensitive match for the value \"websocket\", the client MUST _Fail the WebSocket Connection_",
            ResponseNoConnection => "RFC 6455 4.1: if the response lacks a |Connection| header field or the |Connection| header field doesn't contain a token that is an ASCII case-insensitive match for the value \"Upgrade\", the client MUST _Fail the WebSocket Connection_",
            AcceptMismatch => "RFC 6455 4.1: if the response lacks a |Sec-WebSocket-Accept| header field or the |Sec-WebSocket-Accept| contains a value other than the base64-encoded SHA-1 of the concatenation of the |Sec-WebSocket-Key| with the string \"258EAFA5-E914-47DA-95CA-C5AB0DC85B11\", the client MUST _Fail the WebSocket Connection_",
            UnrequestedProtocol => "RFC 6455 4.1: if the response includes a |Sec-WebSocket-Protocol| header field and this header field indicates the use of a subprotocol that was not present in the client's handshake, the client MUST _Fail the WebSocket Connection_",
            UnrequestedExtension => "RFC 6455 4.1: if the response includes a |Sec-WebSocket-Extensions| header field and this header field indicates the use of an extension that was not present in the client's handshake, the client MUST _Fail the WebSocket Connection_",
            ReservedBits => "RFC 6455 5.2: RSV1, RSV2, RSV3 MUST be 0 unless an extension is negotiated that defines meanings for non-zero values",
            ReservedOpcode => "RFC 6455 5.2: if an unknown opcode is received, the receiving endpoint MUST _Fail the WebSocket Connection_",
            ControlTooLong => "RFC 6455 5.5: all control frames MUST have a payload length of 125 bytes or less",
            ControlFragmented => "RFC 6455 5.5: all control frames MUST NOT be fragmented",
            LengthMsbSet => "RFC 6455 5.2: if 127, the following 8 bytes interpreted as a 64-bit unsigned integer (the most significant bit MUST be 0) are the payload length",
            NonMinimalLength => "RFC 6455 5.2: in all cases, the minimal number of bytes MUST be used to encode the length",
            UnmaskedClientFrame => "RFC 6455 5.1: the server MUST close the connection upon receiving a frame that is not masked",
            MaskedServerFrame => "RFC 6455 5.1: a client MUST close a connection if it detects a masked frame",
            FrameTooLarge | MessageTooLarge | TooManyFragments => "RFC 6455 10.4: implementations that have limitations regarding the frame size or total message size after reassembly from multiple frames MUST protect themselves against exceeding those limits",
            UnexpectedContinuation | ExpectedContinuation => "RFC 6455 5.4: a fragmented message consists of a single frame with the FIN bit clear and an opcode other than 0, followed by zero or more frames with the FIN bit clear and the opcode set to 0, and terminated by a single frame with the FIN bit set and an opcode of 0",
            InvalidUtf8 => "RFC 6455 8.1: when an endpoint is to interpret a byte stream as UTF-8 but finds that the byte stream is not, in fact, a valid UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_",
            CloseOneByte => "RFC 6455 5.5.1: if there is a body, the first two bytes of the body MUST be a 2-byte unsigned integer representing a status code",
            InvalidCloseCode => "RFC 6455 7.4: 1004 is reserved, 1005, 1006 and 1015 MUST NOT be set as a status code in a Close control frame, 0-999 are not used, 1016-2999 are for this protocol's future revisions and extensions, 5000 and above are undefined",
            CloseReasonNotUtf8 => "RFC 6455 5.5.1: following the 2-byte integer, the body MAY contain UTF-8-encoded data with value /reason/",
            PongTimeout => "keep-alive (RFC 6455 5.5.2: a Ping frame may serve either as a keepalive or as a means to verify that the remote endpoint is still responsive)",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_answer_the_reason_and_the_rule() {
        let e = WsError::new(ErrorKind::ReservedOpcode, "opcode 0x3 is reserved");
        assert_eq!(e.close_code(), Some(1002));
        assert_eq!(e.status(), None);
        let text = e.to_string();
        assert!(text.starts_with("close 1002: opcode 0x3 is reserved (breaks RFC 6455 5.2"));
        let e = WsError::new(ErrorKind::UnsupportedVersion, "version 8");
        assert_eq!(e.status(), Some(426));
    }
}
