//! An open WebSocket connection as a state machine: messages in and out, ping and pong, the
//! closing handshake, keep-alive, and when to close the TCP connection.
//!
//! ```text
//!              close() sends Close                     peer's Close arrives
//!   Open ------------------------------> CloseSent ------------------------------+
//!     |                                                                           v
//!     | peer's Close arrives: our echo is queued         take_output() hands      Closed
//!     +--------------------------------> CloseReceived ---- the echo out -------> (close TCP:
//!                                                                                  the server at
//!   any protocol error: a Close with its code is queued ------------------------>  once, the
//!                                                                                  client after
//!                                                                                  the server)
//! ```
//!
//! The rules it follows, each at its line below: a ping is answered with a pong carrying the
//! same payload; an unsolicited pong is ignored; a Close is answered with a Close echoing its
//! code; nothing is sent after our Close; after an error nothing more is read; and the server
//! closes the TCP connection first, so that it, not the client, holds the TIME_WAIT state
//! (RFC 6455 7.1.1).
//!
//! Sans-IO, like quinn-proto: inputs are [`Connection::receive`] or
//! [`Connection::receive_some`] (bytes and the time they came) and
//! [`Connection::handle_timeout`]; outputs are [`Connection::poll_event`],
//! [`Connection::take_output`], [`Connection::poll_timeout`] and
//! [`Connection::should_close_tcp`]. The call order for a driver, after every read:
//!
//! 1. `receive(bytes, now)`, then `poll_event()` until it answers `None`, acting on each event
//!    (and perhaps calling `send_text`, `close`, ...); or, one message at a time,
//!    `receive_some(bytes, now)` and `poll_event()` in turn until the bytes are used up;
//! 2. write everything `take_output()` returns;
//! 3. if `should_close_tcp()`, close the socket once that output is flushed;
//! 4. arm a timer for `poll_timeout()`; when it fires, `handle_timeout(now)` and go to 1.
//!
//! No clock is read here and no randomness drawn: time comes in as `Instant` arguments, and a
//! client's masking keys come from the closure it is built with. Tests run whole conversations,
//! timeouts included, in microseconds.

use super::close::{close_payload, CloseFrame, NO_STATUS};
use super::error::{Code, ErrorKind, WsError};
use super::frame::{encode_frame_into, FrameHeader, Opcode, MAX_CONTROL_PAYLOAD};
use super::mask::apply_mask;
use super::message::{Message, MessageReader};
use super::{Limits, Role};
use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

/// From this size the `*_owned` sends queue a payload as it is instead of copying it.
const OWNED_MIN: usize = 4096;

/// Where a client's masking keys come from: 4 bytes from a strong random source per call
/// (RFC 6455 5.3: "the masking key MUST be derived from a strong source of entropy").
pub type MaskKeys = Box<dyn FnMut() -> [u8; 4] + Send>;

/// How a connection behaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub limits: Limits,
    /// Silence after which a ping is sent; `None`: never ping.
    pub ping_interval: Option<Duration>,
    /// Silence after a ping after which the peer is taken for gone (no close frame is sent:
    /// a peer that does not answer a ping would not read it).
    pub pong_timeout: Duration,
    /// How long to wait for the peer's Close after ours, and (a client) for the server to close
    /// the TCP connection after the closing handshake.
    pub close_timeout: Duration,
}

impl Default for Config {
    /// Default limits, a ping after 30 s of silence, 10 s for the pong, 5 s for closing.
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(10),
            close_timeout: Duration::from_secs(5),
        }
    }
}

/// The connection's state (RFC 6455 calls the middle two CLOSING).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a Close and wait for the peer's. Its messages are still delivered; we send none.
    CloseSent,
    /// The peer sent a Close; our answering Close is queued and not yet taken by the driver.
    CloseReceived,
    /// Both Close frames are exchanged, or the connection failed: nothing more is read or sent.
    Closed,
}

/// What happened on the connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Text(String),
    Binary(Vec<u8>),
    /// A ping arrived; the pong is already queued.
    Ping(Vec<u8>),
    /// A pong arrived (the answer to our ping, or an unsolicited heartbeat).
    Pong(Vec<u8>),
    /// The peer's Close, with its code and reason; `code` is 1005 when the frame had none.
    /// The answering Close is queued (unless we had sent ours first).
    Close(CloseFrame),
    /// The connection failed: what the peer did wrong (or that it stopped answering). A Close
    /// frame with the error's code is queued when there is one.
    Failed(WsError),
}

/// One WebSocket connection after the opening handshake.
pub struct Connection {
    role: Role,
    config: Config,
    reader: MessageReader,
    state: State,
    /// Output that goes before `out`: buffers handed over whole by the `*_owned` sends (a
    /// frame's header, then its payload), so that a large payload is not copied.
    parts: VecDeque<Vec<u8>>,
    out: Vec<u8>,
    masks: Option<MaskKeys>,
    /// When bytes last arrived from the peer.
    last_heard: Instant,
    /// Our ping waiting for a sign of life: when it was sent.
    ping_sent: Option<Instant>,
    pings: u32,
    /// When our Close was sent (CloseSent), or the closing handshake completed (Closed).
    closing_since: Instant,
    close_tcp: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state)
            .field("queued", &self.queued())
            .field("close_tcp", &self.close_tcp)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// The server's end of a connection whose handshake completed at `now`.
    pub fn server(config: Config, now: Instant) -> Self {
        Connection::new(Role::Server, config, now, None)
    }

    /// The client's end; `masks` gives a fresh masking key for every frame sent.
    pub fn client(config: Config, now: Instant, masks: MaskKeys) -> Self {
        Connection::new(Role::Client, config, now, Some(masks))
    }

    fn new(role: Role, config: Config, now: Instant, masks: Option<MaskKeys>) -> Self {
        Connection {
            role,
            reader: MessageReader::new(role, config.limits.clone()),
            config,
            state: State::Open,
            parts: VecDeque::new(),
            out: Vec::new(),
            masks,
            last_heard: now,
            ping_sent: None,
            pings: 0,
            closing_since: now,
            close_tcp: false,
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Bytes read from the socket at `now`. Any bytes are a sign of life: they end the wait
    /// for a pong.
    pub fn receive(&mut self, bytes: &[u8], now: Instant) {
        self.last_heard = now;
        self.ping_sent = None;
        if matches!(self.state, State::Open | State::CloseSent) {
            self.reader.push(bytes);
        }
        // After CloseReceived or Closed the bytes are discarded: RFC 6455 7.1.1, "discarding
        // any trailing bytes that may have been received".
    }

    /// [`Connection::receive`] one message at a time: the bytes are decoded up to the end of
    /// the first message they complete, and the number of bytes used is returned. Take that
    /// message's events (`poll_event`), then hand over the rest. A server that echoes each
    /// message before decoding the next needs one message buffer for a read of many messages
    /// (see [`Connection::lend_message_buffer`]), where `receive` would fill one per message.
    /// Bytes that will not be read (after the peer's Close or a failure) count as used.
    pub fn receive_some(&mut self, bytes: &[u8], now: Instant) -> usize {
        self.last_heard = now;
        self.ping_sent = None;
        if matches!(self.state, State::Open | State::CloseSent) {
            self.reader.push_some(bytes)
        } else {
            bytes.len()
        }
    }

    /// The next event from the bytes received so far, or `None` when more are needed.
    pub fn poll_event(&mut self) -> Option<Event> {
        if !matches!(self.state, State::Open | State::CloseSent) {
            return None;
        }
        match self.reader.next() {
            Ok(None) => None,
            Err(e) => Some(self.fail(e)),
            Ok(Some(message)) => Some(self.on_message(message)),
        }
    }

    fn on_message(&mut self, message: Message) -> Event {
        match message {
            Message::Text(text) => Event::Text(text),
            Message::Binary(data) => Event::Binary(data),
            Message::Ping(payload) => {
                // RFC 6455 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
                // frame in response, unless it already received a Close frame." 5.5.3: "A Pong
                // frame sent in response to a Ping frame must have identical "Application data"
                // as found in the message body of the Ping frame being replied to." After our
                // own Close we send nothing more.
                if self.state == State::Open {
                    self.write_frame(Opcode::Pong, &payload);
                }
                Event::Ping(payload)
            }
            // RFC 6455 5.5.3: "A Pong frame MAY be sent unsolicited. [...] A response to an
            // unsolicited Pong frame is not expected." Nothing to do: receive() has already
            // counted it as a sign of life.
            Message::Pong(payload) => Event::Pong(payload),
            Message::Close(frame) => {
                match self.state {
                    State::Open => {
                        // RFC 6455 5.5.1: "If an endpoint receives a Close frame and did not
                        // previously send a Close frame, the endpoint MUST send a Close frame in
                        // response. (When sending a Close frame in response, the endpoint
                        // typically echos the status code it received.)" A Close without code
                        // is answered without code: 1005 may not be sent.
                        let echo = frame.as_ref().map(|f| CloseFrame::new(f.code, ""));
                        self.write_frame(Opcode::Close, &close_payload(echo.as_ref()));
                        self.state = State::CloseReceived;
                    }
                    State::CloseSent => self.closed_cleanly(self.last_heard),
                    State::CloseReceived | State::Closed => {
                        unreachable!("nothing is read after the peer's Close")
                    }
                }
                Event::Close(frame.unwrap_or(CloseFrame::new(NO_STATUS, "")))
            }
        }
    }

    /// Fail the connection (RFC 6455 7.1.7): send a Close with the error's code if there is one
    /// and ours has not been sent, read nothing more, close the TCP connection.
    fn fail(&mut self, error: WsError) -> Event {
        if let (Code::Close(code), State::Open) = (error.code, self.state) {
            // "the endpoint SHOULD send a Close frame with an appropriate status code [...]
            // before proceeding to _Close the WebSocket Connection_."
            let close = CloseFrame::new(code, error.reason.clone());
            self.write_frame(Opcode::Close, &close_payload(Some(&close)));
        }
        self.state = State::Closed;
        // "An endpoint MUST NOT continue to attempt to process data (including a responding
        // Close frame) from the remote endpoint after being instructed to _Fail the WebSocket
        // Connection_." Both roles close at once: for a client this is one of the cases where it
        // closes first.
        self.close_tcp = true;
        Event::Failed(error)
    }

    /// Both Close frames are exchanged.
    fn closed_cleanly(&mut self, now: Instant) {
        self.state = State::Closed;
        self.closing_since = now;
        // RFC 6455 5.5.1: "After both sending and receiving a Close message, an endpoint
        // considers the WebSocket connection closed and MUST close the underlying TCP
        // connection. The server MUST close the underlying TCP connection immediately; the
        // client SHOULD wait for the server to close the connection but MAY close the
        // connection at any time after sending and receiving a Close message, e.g., if it has
        // not received a TCP Close from the server in a reasonable time period."
        self.close_tcp = self.role == Role::Server;
    }

    /// Everything to write to the socket, in order. Handing out the answer to the peer's Close
    /// completes the closing handshake.
    pub fn take_output(&mut self) -> Vec<u8> {
        let mut all: Option<Vec<u8>> = None;
        self.drain_output(|part| match &mut all {
            None => all = Some(part), // the usual case, one buffer: handed over as it is
            Some(all) => all.extend_from_slice(&part),
        });
        all.unwrap_or_default()
    }

    /// [`Connection::take_output`] without joining: each buffer in order (the lent buffer
    /// last, possibly empty), for a driver that can queue buffers whole (`Cx::send_owned`).
    pub fn drain_output(&mut self, mut write: impl FnMut(Vec<u8>)) {
        if self.state == State::CloseReceived {
            self.closed_cleanly(self.last_heard);
        }
        while let Some(part) = self.parts.pop_front() {
            write(part);
        }
        write(std::mem::take(&mut self.out));
    }

    /// Lend the connection an empty buffer to encode its next frames into (a driver's pooled
    /// buffer: see `Cx::spare_buffer`), so that it does not allocate one per message, and an
    /// idle connection holds none. It is taken only if nothing is queued and it is larger than
    /// the buffer the connection has; the one not taken is returned. The driver gets the lent
    /// buffer back from [`Connection::take_output`], with the output in it (or empty).
    pub fn lend_buffer(&mut self, mut buffer: Vec<u8>) -> Vec<u8> {
        if self.queued() == 0 && buffer.capacity() > self.out.capacity() {
            buffer.clear();
            std::mem::swap(&mut self.out, &mut buffer);
        }
        buffer
    }

    /// Lend the connection an empty buffer for the next message it receives to be unmasked
    /// into, before [`Connection::receive`] or [`Connection::receive_some`]: with
    /// [`Connection::lend_buffer`], what lets a driver serve messages without allocating. The larger of it and the one the connection keeps is
    /// kept; the other is returned. A message sent back with a `*_owned` send that copies it
    /// (under [`OWNED_MIN`]) leaves its buffer for the next message too. Take it back with
    /// [`Connection::take_message_buffer`] once the batch is served.
    pub fn lend_message_buffer(&mut self, buffer: Vec<u8>) -> Vec<u8> {
        self.reader.give_buffer(buffer)
    }

    /// The buffer kept for the next message (empty if none), for the driver's pool: an idle
    /// connection then keeps no buffer at all.
    pub fn take_message_buffer(&mut self) -> Vec<u8> {
        self.reader.take_buffer()
    }

    /// Bytes queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.parts.iter().map(Vec::len).sum::<usize>() + self.out.len()
    }

    /// Whether the driver should close the TCP connection (after writing what is queued).
    pub fn should_close_tcp(&self) -> bool {
        self.close_tcp
    }

    /// The peer closed the TCP connection (a read returned 0). Clean if the closing handshake
    /// was complete; otherwise the application sees 1006 ("closed abnormally").
    pub fn peer_closed_tcp(&mut self) -> Event {
        let clean = self.state == State::Closed && !self.close_tcp;
        let was = self.state;
        self.state = State::Closed;
        self.close_tcp = true;
        if clean {
            Event::Close(CloseFrame::new(
                super::close::NORMAL,
                "closed after the closing handshake",
            ))
        } else {
            Event::Close(CloseFrame::new(
                super::close::ABNORMAL,
                format!("the peer closed the TCP connection in state {was:?}"),
            ))
        }
    }

    /// Send a text message in one frame. `false` if the connection is no longer open.
    pub fn send_text(&mut self, text: &str) -> bool {
        self.send_data(Opcode::Text, text.as_bytes())
    }

    /// Send a binary message in one frame. `false` if the connection is no longer open.
    pub fn send_binary(&mut self, data: &[u8]) -> bool {
        self.send_data(Opcode::Binary, data)
    }

    fn send_data(&mut self, opcode: Opcode, payload: &[u8]) -> bool {
        // RFC 6455 5.5.1: "The application MUST NOT send any more data frames after sending a
        // Close frame."
        if self.state != State::Open {
            return false;
        }
        self.write_frame(opcode, payload);
        true
    }

    /// [`Connection::send_text`] taking the text itself: a long one is queued as it is, behind
    /// its frame header, instead of being copied (see [`Connection::drain_output`]).
    pub fn send_text_owned(&mut self, text: String) -> bool {
        self.send_data_owned(Opcode::Text, text.into_bytes())
    }

    /// [`Connection::send_binary`] taking the bytes themselves (an echo sends back the buffer
    /// the message arrived in).
    pub fn send_binary_owned(&mut self, data: Vec<u8>) -> bool {
        self.send_data_owned(Opcode::Binary, data)
    }

    fn send_data_owned(&mut self, opcode: Opcode, mut payload: Vec<u8>) -> bool {
        if self.state != State::Open {
            return false;
        }
        if payload.len() < OWNED_MIN {
            // Cheaper to copy than to queue apart; the buffer then serves the next message.
            self.write_frame(opcode, &payload);
            self.reader.give_buffer(payload); // the smaller of the two is dropped
            return true;
        }
        let mask = self.masks.as_mut().map(|next_key| next_key());
        let header = FrameHeader {
            fin: true,
            rsv: 0,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        header.encode_into(&mut self.out);
        if let Some(key) = mask {
            apply_mask(&mut payload, key, 0); // ours now: masked in place
        }
        self.parts.push_back(std::mem::take(&mut self.out));
        self.parts.push_back(payload);
        true
    }

    /// Send a ping with `payload` (125 bytes at most). `false` if not open or too long.
    pub fn ping(&mut self, payload: &[u8]) -> bool {
        if self.state != State::Open || payload.len() > MAX_CONTROL_PAYLOAD {
            return false;
        }
        self.write_frame(Opcode::Ping, payload);
        true
    }

    /// Start the closing handshake at `now` (RFC 6455 7.1.2) with a code and a reason (cut to
    /// 123 bytes). `false` if it has already started.
    pub fn close(&mut self, code: u16, reason: &str, now: Instant) -> bool {
        if self.state != State::Open {
            return false;
        }
        let close = CloseFrame::new(code, reason);
        self.write_frame(Opcode::Close, &close_payload(Some(&close)));
        self.state = State::CloseSent;
        self.closing_since = now;
        true
    }

    /// When [`Connection::handle_timeout`] should be called next, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.state {
            State::Open => match self.ping_sent {
                Some(sent) => Some(sent + self.config.pong_timeout),
                None => self.config.ping_interval.map(|i| self.last_heard + i),
            },
            State::CloseSent => Some(self.closing_since + self.config.close_timeout),
            State::Closed if !self.close_tcp => {
                Some(self.closing_since + self.config.close_timeout)
            }
            State::CloseReceived | State::Closed => None,
        }
    }

    /// Time has passed: send a ping after a silence, give up on a peer that does not answer,
    /// stop waiting for a Close or a TCP close that does not come.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<Event> {
        let due = self.poll_timeout().is_some_and(|t| now >= t);
        if !due {
            return None;
        }
        match self.state {
            State::Open => match self.ping_sent {
                Some(sent) => Some(self.fail(WsError::new(
                    ErrorKind::PongTimeout,
                    format!(
                        "nothing heard for {:?} after a ping",
                        now.duration_since(sent)
                    ),
                ))),
                None => {
                    // RFC 6455 5.5.2: "A Ping frame may serve either as a keepalive or as a
                    // means to verify that the remote endpoint is still responsive."
                    self.pings += 1;
                    self.write_frame(Opcode::Ping, &u64::from(self.pings).to_be_bytes());
                    self.ping_sent = Some(now);
                    None
                }
            },
            // The peer never answered our Close, or (a client) the server never closed the TCP
            // connection: RFC 6455 7.1.1, "In abnormal cases (such as not having received a TCP
            // Close from the server after a reasonable amount of time) a client MAY initiate
            // the TCP Close."
            State::CloseSent | State::Closed => {
                self.state = State::Closed;
                self.close_tcp = true;
                None
            }
            State::CloseReceived => None,
        }
    }

    fn write_frame(&mut self, opcode: Opcode, payload: &[u8]) {
        // RFC 6455 5.1: "a client MUST mask all frames that it sends to the server [...] A
        // server MUST NOT mask any frames that it sends to the client."
        let mask = self.masks.as_mut().map(|next_key| next_key());
        encode_frame_into(&mut self.out, true, opcode, payload, mask);
    }
}

#[cfg(test)]
mod tests {
    use super::super::frame::encode_frame;
    use super::super::message::parse_messages;
    use super::*;

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    /// A client frame, masked as a client must.
    fn from_client(opcode: Opcode, payload: &[u8]) -> Vec<u8> {
        encode_frame(true, opcode, payload, Some(KEY))
    }

    /// What a server wrote, read back as a client reads it.
    fn sent_by_server(c: &mut Connection) -> Vec<Message> {
        let parsed = parse_messages(Role::Client, &c.take_output());
        assert_eq!(parsed.error, None);
        parsed.messages
    }

    fn server() -> (Connection, Instant) {
        let t0 = Instant::now();
        (Connection::server(Config::default(), t0), t0)
    }

    fn events(c: &mut Connection) -> Vec<Event> {
        std::iter::from_fn(|| c.poll_event()).collect()
    }

    #[test]
    fn a_ping_is_answered_with_its_own_payload() {
        let (mut c, t0) = server();
        c.receive(&from_client(Opcode::Ping, b"Hello"), t0);
        assert_eq!(events(&mut c), [Event::Ping(b"Hello".to_vec())]);
        // RFC 6455 5.7: the unmasked pong for the ping "Hello".
        assert_eq!(c.take_output(), [0x8a, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    }

    #[test]
    fn frames_go_into_the_lent_buffer_and_leave_with_it() {
        let (mut c, t0) = server();
        let lent = Vec::with_capacity(4096);
        let address = lent.as_ptr();
        let unused = c.lend_buffer(lent);
        assert_eq!(
            unused.capacity(),
            0,
            "the connection had no buffer to give back"
        );
        c.receive(&from_client(Opcode::Text, b"echo me"), t0);
        assert_eq!(events(&mut c), [Event::Text("echo me".into())]);
        c.send_text("echo me");
        let out = c.take_output();
        assert_eq!(
            out.as_ptr(),
            address,
            "encoded into the lent buffer, not a new one"
        );
        let read_back = parse_messages(Role::Client, &out);
        assert_eq!(read_back.messages, [Message::Text("echo me".into())]);
        // The connection holds no buffer after handing its output over, and does not take a
        // lent buffer while something is queued.
        c.send_text("queued");
        let refused = c.lend_buffer(Vec::with_capacity(1 << 16));
        assert_eq!(refused.capacity(), 1 << 16);
    }

    #[test]
    fn messages_are_unmasked_into_the_lent_buffer_and_an_echo_by_copy_returns_it() {
        let (mut c, t0) = server();
        let lent = Vec::with_capacity(4096);
        let address = lent.as_ptr();
        assert_eq!(c.lend_message_buffer(lent).capacity(), 0);
        // A smaller buffer is not taken: the larger one is kept.
        assert_eq!(c.lend_message_buffer(Vec::with_capacity(8)).capacity(), 8);
        c.receive(&from_client(Opcode::Binary, b"echo me"), t0);
        let Some(Event::Binary(data)) = c.poll_event() else {
            panic!("expected the binary message");
        };
        assert_eq!(data, b"echo me");
        assert_eq!(data.as_ptr(), address, "unmasked into the lent buffer");
        assert_eq!(c.take_message_buffer().capacity(), 0, "lent to the message");
        // Echoed by copy (short), the message's buffer stays for the next message ...
        assert!(c.send_binary_owned(data));
        assert_eq!(
            sent_by_server(&mut c),
            [Message::Binary(b"echo me".to_vec())]
        );
        c.receive(&from_client(Opcode::Text, b"next"), t0);
        let Some(Event::Text(text)) = c.poll_event() else {
            panic!("expected the text message");
        };
        assert_eq!((text.as_str(), text.as_ptr()), ("next", address));
        // ... until the driver takes it back (to its pool: an idle connection keeps none).
        assert!(c.send_text_owned(text));
        let back = c.take_message_buffer();
        assert_eq!((back.as_ptr(), back.len()), (address, 0));
        assert_eq!(c.take_message_buffer().capacity(), 0);
        // With none lent, a message gets a buffer of its own.
        c.receive(&from_client(Opcode::Binary, b"own"), t0);
        assert_eq!(events(&mut c), [Event::Binary(b"own".to_vec())]);
    }

    #[test]
    fn a_read_of_several_messages_received_one_at_a_time_needs_one_buffer() {
        let (mut c, t0) = server();
        let lent = Vec::with_capacity(4096);
        let address = lent.as_ptr();
        c.lend_message_buffer(lent);
        let mut read = from_client(Opcode::Binary, b"first");
        read.extend(from_client(Opcode::Text, b"second"));
        read.extend(from_client(Opcode::Binary, b"third"));
        read.extend(from_client(Opcode::Close, &[0x03, 0xe8]));
        read.extend(from_client(Opcode::Text, b"after the close"));
        let mut rest = &read[..];
        let mut echoed = Vec::new();
        let mut used = Vec::new();
        while !rest.is_empty() {
            used.push(c.receive_some(rest, t0));
            rest = &rest[used[used.len() - 1]..];
            for event in events(&mut c) {
                match event {
                    Event::Binary(data) => {
                        assert_eq!(data.as_ptr(), address, "unmasked into the one buffer");
                        echoed.push(Message::Binary(data.clone()));
                        c.send_binary_owned(data);
                    }
                    Event::Text(text) => {
                        assert_eq!(text.as_ptr(), address, "unmasked into the one buffer");
                        echoed.push(Message::Text(text.clone()));
                        c.send_text_owned(text);
                    }
                    Event::Close(close) => assert_eq!(close.code, 1000),
                    other => panic!("unexpected {other:?}"),
                }
            }
        }
        let echoes = [
            Message::Binary(b"first".to_vec()),
            Message::Text("second".into()),
            Message::Binary(b"third".to_vec()),
        ];
        assert_eq!(echoed, echoes);
        // One call per message, and the bytes after the Close are used up with it: discarded,
        // not decoded (no event came for them).
        let frame = |payload: &[u8]| from_client(Opcode::Binary, payload).len();
        let close_and_after = frame(&[0x03, 0xe8]) + frame(b"after the close");
        assert_eq!(
            used,
            [
                frame(b"first"),
                frame(b"second"),
                frame(b"third"),
                close_and_after
            ]
        );
        assert_eq!(c.state(), State::CloseReceived);
        let mut expected = echoes.to_vec();
        expected.push(Message::Close(Some(CloseFrame::new(1000, ""))));
        assert_eq!(sent_by_server(&mut c), expected);
        let back = c.take_message_buffer();
        assert_eq!(back.as_ptr(), address, "and it is still the connection's");
    }

    #[test]
    fn a_long_payload_is_queued_whole_behind_its_header_and_in_order() {
        let (mut c, t0) = server();
        c.receive(&from_client(Opcode::Ping, b"p"), t0);
        assert_eq!(events(&mut c), [Event::Ping(b"p".to_vec())]);
        let big = vec![7u8; 70_000];
        let address = big.as_ptr();
        assert!(c.send_binary_owned(big));
        assert!(c.send_text_owned("after".into())); // short: copied
        let mut parts = Vec::new();
        c.drain_output(|part| parts.push(part));
        assert!(
            parts.iter().any(|p| p.as_ptr() == address),
            "the payload's own buffer"
        );
        let wire: Vec<u8> = parts.concat();
        let read_back = parse_messages(Role::Client, &wire);
        assert_eq!(read_back.error, None);
        assert_eq!(
            read_back.messages,
            [
                Message::Pong(b"p".to_vec()),
                Message::Binary(vec![7u8; 70_000]),
                Message::Text("after".into())
            ]
        );
        assert_eq!(c.queued(), 0);
    }

    #[test]
    fn an_unsolicited_pong_is_ignored() {
        let (mut c, t0) = server();
        c.receive(&from_client(Opcode::Pong, b"beat"), t0);
        assert_eq!(events(&mut c), [Event::Pong(b"beat".to_vec())]);
        assert_eq!(c.take_output(), b"");
    }

    #[test]
    fn the_peers_close_is_echoed_and_the_server_closes_tcp_after_handing_it_out() {
        let (mut c, t0) = server();
        let mut wire = from_client(Opcode::Text, b"bye");
        wire.extend(from_client(Opcode::Close, b"\x0b\xb8going"));
        wire.extend(from_client(Opcode::Text, b"ignored"));
        c.receive(&wire, t0);
        assert_eq!(
            events(&mut c),
            [
                Event::Text("bye".into()),
                Event::Close(CloseFrame::new(3000, "going"))
            ]
        );
        assert_eq!(c.state(), State::CloseReceived);
        assert!(!c.should_close_tcp(), "not before the echo is written");
        assert!(!c.send_text("too late"));
        assert_eq!(
            sent_by_server(&mut c),
            [Message::Close(Some(CloseFrame::new(3000, "")))]
        );
        assert_eq!((c.state(), c.should_close_tcp()), (State::Closed, true));
    }

    #[test]
    fn a_close_without_code_is_answered_without_code() {
        let (mut c, t0) = server();
        c.receive(&from_client(Opcode::Close, b""), t0);
        assert_eq!(events(&mut c), [Event::Close(CloseFrame::new(1005, ""))]);
        assert_eq!(c.take_output(), [0x88, 0x00]);
    }

    #[test]
    fn a_protocol_error_sends_its_close_code_and_stops_reading() {
        let (mut c, t0) = server();
        let mut wire = from_client(Opcode::Text, b"\xff");
        wire.extend(from_client(Opcode::Ping, b"never read"));
        c.receive(&wire, t0);
        let evs = events(&mut c);
        assert!(matches!(&evs[..], [Event::Failed(e)] if e.close_code() == Some(1007)));
        let sent = sent_by_server(&mut c);
        assert!(matches!(&sent[..], [Message::Close(Some(f))] if f.code == 1007));
        assert!(c.should_close_tcp());
        assert_eq!(c.state(), State::Closed);
    }

    #[test]
    fn our_close_waits_for_the_peers_and_then_for_nothing_more() {
        let (mut c, t0) = server();
        assert!(c.close(1001, "restarting", t0));
        assert!(!c.send_binary(b"x"));
        assert_eq!(
            sent_by_server(&mut c),
            [Message::Close(Some(CloseFrame::new(1001, "restarting")))]
        );
        // A message still in flight is delivered; a ping is not answered after our Close.
        let mut wire = from_client(Opcode::Binary, b"late");
        wire.extend(from_client(Opcode::Ping, b"?"));
        wire.extend(from_client(Opcode::Close, b"\x03\xe9"));
        c.receive(&wire, t0);
        assert_eq!(
            events(&mut c),
            [
                Event::Binary(b"late".to_vec()),
                Event::Ping(b"?".to_vec()),
                Event::Close(CloseFrame::new(1001, ""))
            ]
        );
        assert_eq!(c.take_output(), b"");
        assert!(c.should_close_tcp());
    }

    #[test]
    fn a_peer_that_never_answers_our_close_is_cut_off() {
        let (mut c, t0) = server();
        c.close(1000, "", t0);
        let deadline = c.poll_timeout().unwrap();
        assert_eq!(deadline, t0 + Duration::from_secs(5));
        assert_eq!(c.handle_timeout(deadline - Duration::from_millis(1)), None);
        assert!(!c.should_close_tcp());
        c.handle_timeout(deadline);
        assert!(c.should_close_tcp());
    }

    #[test]
    fn keep_alive_pings_after_silence_and_gives_up_without_an_answer() {
        let (mut c, t0) = server();
        let interval = Duration::from_secs(30);
        assert_eq!(c.poll_timeout(), Some(t0 + interval));
        // Traffic pushes the ping back.
        let t1 = t0 + Duration::from_secs(20);
        c.receive(&from_client(Opcode::Text, b"hi"), t1);
        events(&mut c);
        assert_eq!(c.poll_timeout(), Some(t1 + interval));
        // Silence: a ping goes out.
        let t2 = t1 + interval;
        assert_eq!(c.handle_timeout(t2), None);
        assert_eq!(
            sent_by_server(&mut c),
            [Message::Ping(1u64.to_be_bytes().to_vec())]
        );
        assert_eq!(c.poll_timeout(), Some(t2 + Duration::from_secs(10)));
        // An answer (any bytes) ends the wait.
        let t3 = t2 + Duration::from_secs(1);
        c.receive(&from_client(Opcode::Pong, &1u64.to_be_bytes()), t3);
        assert_eq!(events(&mut c).len(), 1);
        assert_eq!(c.poll_timeout(), Some(t3 + interval));
        // The next ping gets no answer: the connection fails, nothing is sent.
        let t4 = t3 + interval;
        c.handle_timeout(t4);
        c.take_output();
        let failed = c.handle_timeout(t4 + Duration::from_secs(10));
        assert!(matches!(failed, Some(Event::Failed(e)) if e.kind == ErrorKind::PongTimeout));
        assert_eq!(
            c.take_output(),
            b"",
            "no Close for a peer that is not listening"
        );
        assert!(c.should_close_tcp());
    }

    /// A client and a server wired together on virtual time: what one writes the other reads.
    #[test]
    fn a_client_and_a_server_talk_and_close_cleanly() {
        let t0 = Instant::now();
        let mut n = 0u32;
        let masks: MaskKeys = Box::new(move || {
            n = n.wrapping_mul(2_654_435_761).wrapping_add(1);
            n.to_be_bytes()
        });
        let mut client = Connection::client(Config::default(), t0, masks);
        let mut server = Connection::server(Config::default(), t0);
        let pass = |from: &mut Connection, to: &mut Connection| {
            to.receive(&from.take_output(), t0);
            events(to)
        };
        client.send_text("Hello");
        client.send_binary(&[0; 300]);
        client.ping(b"p");
        assert_eq!(
            pass(&mut client, &mut server),
            [
                Event::Text("Hello".into()),
                Event::Binary(vec![0; 300]),
                Event::Ping(b"p".to_vec())
            ]
        );
        server.send_text("world");
        assert_eq!(
            pass(&mut server, &mut client),
            [Event::Pong(b"p".to_vec()), Event::Text("world".into())]
        );
        client.close(1000, "done", t0);
        assert_eq!(
            pass(&mut client, &mut server),
            [Event::Close(CloseFrame::new(1000, "done"))]
        );
        assert_eq!(
            pass(&mut server, &mut client),
            [Event::Close(CloseFrame::new(1000, ""))]
        );
        // The server closes TCP at once; the client waits for it.
        assert!(server.should_close_tcp());
        assert!(!client.should_close_tcp());
        assert_eq!(client.poll_timeout(), Some(t0 + Duration::from_secs(5)));
        assert_eq!(
            client.peer_closed_tcp(),
            Event::Close(CloseFrame::new(1000, "closed after the closing handshake"))
        );
    }

    #[test]
    fn a_client_stops_waiting_for_the_servers_tcp_close() {
        let t0 = Instant::now();
        let mut client = Connection::client(Config::default(), t0, Box::new(|| [1, 2, 3, 4]));
        client.close(1000, "", t0);
        client.take_output();
        client.receive(&encode_frame(true, Opcode::Close, b"\x03\xe8", None), t0);
        events(&mut client);
        assert!(!client.should_close_tcp());
        client.handle_timeout(t0 + Duration::from_secs(5));
        assert!(client.should_close_tcp());
    }

    #[test]
    fn a_tcp_close_in_the_middle_is_abnormal() {
        let (mut c, _) = server();
        assert!(matches!(c.peer_closed_tcp(), Event::Close(f) if f.code == 1006));
    }
}
