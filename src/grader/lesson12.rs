//! Lesson 12's checks: a WebSocket client, judged by a grader that plays the server.
//!
//! The roles are the other way round from every other lesson: `course check 12 --cmd
//! "CLIENT {url}"` starts the client for each check, with `{url}` replaced by
//! `ws://127.0.0.1:PORT/PATH` where the check listens (without `{url}` the URL is appended).
//! The client must connect, complete the handshake, and then **echo**: send back every text
//! and binary message as one message of the same type, answer pings, answer a Close, and exit
//! (0 after a clean close, non-zero after a failed connection). Lesson 12's reference does this
//! with `12-ws-client echo URL`; Autobahn's fuzzing server asks the same of a client.
//!
//! The grader reads the upgrade request and writes the 101 (or a wrong one) with a small
//! parser of its own, sends frames it encodes itself (unmasked, as a server must, except where
//! a check breaks that rule on purpose), and decodes the client's masked frames with its own
//! reader. Nothing here uses `src/ws`.

use super::lesson09::expected_accept;
use super::wire::{send, send_in_pieces};
use super::{Check, Ctx, Failure, Suite};
use std::collections::{HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 12,
    // No listeners: the grader listens, the client connects (see `Suite::grades_a_client`).
    listeners: &[],
    checks: &[
        Check {
            name: "sends_a_bad_upgrade_request",
            misconception: "a client's request only needs to look like HTTP; but the server checks GET, Host, Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13 and a key of 16 random bytes in base64 (RFC 6455 4.1)",
            run: request_is_an_upgrade,
        },
        Check {
            name: "sends_unmasked_frames",
            misconception: "masking is optional, or only for browsers; but RFC 6455 5.1 says a client MUST mask every frame it sends, and a server must fail a connection that does not",
            run: frames_are_masked,
        },
        Check {
            name: "reuses_one_masking_key",
            misconception: "one masking key per connection is enough; but RFC 6455 5.3 wants a fresh, unpredictable key for every frame, so that a script cannot choose the bytes on the wire (10.3)",
            run: keys_differ,
        },
        Check {
            name: "ignores_a_wrong_accept_key",
            misconception: "a 101 is a 101; but the client MUST check Sec-WebSocket-Accept against base64(SHA-1(key + GUID)) and fail the connection, sending nothing, if it differs (RFC 6455 4.1)",
            run: wrong_accept,
        },
        Check {
            name: "accepts_an_unoffered_extension_or_subprotocol",
            misconception: "whatever the server picks is fine; but a server that answers with an extension or subprotocol the client did not offer must make the client fail the connection (RFC 6455 4.1, steps 5 and 6)",
            run: unoffered,
        },
        Check {
            name: "accepts_masked_server_frames",
            misconception: "a masked frame can simply be unmasked; but RFC 6455 5.1 says a client MUST close the connection when it sees a masked frame from a server (with 1002)",
            run: masked_from_server,
        },
        Check {
            name: "does_not_answer_ping",
            misconception: "pings are for servers, or any pong will do; but a ping MUST be answered with a pong carrying the ping's payload exactly (RFC 6455 5.5.2, 5.5.3)",
            run: ping_pong,
        },
        Check {
            name: "loses_split_frames",
            misconception: "one read is one frame; but TCP is a byte stream: a frame may come one byte per read, and a message in fragments with a ping between them (RFC 6455 5.4)",
            run: split_frames,
        },
        Check {
            name: "mishandles_16_and_64_bit_lengths",
            misconception: "the 7-bit length is the length; but 126 means a 16-bit length follows and 127 a 64-bit one, and the sender MUST use the shortest form (RFC 6455 5.2)",
            run: lengths,
        },
        Check {
            name: "accepts_invalid_utf8",
            misconception: "a text frame is just bytes; but a text message that is not valid UTF-8 MUST fail the connection, with 1007 (RFC 6455 8.1, 7.4.1)",
            run: invalid_utf8,
        },
        Check {
            name: "does_not_echo_close_code",
            misconception: "any Close answers a Close; but the answer typically echoes the status code received (RFC 6455 5.5.1), and it must come before the client stops",
            run: close_echo,
        },
        Check {
            name: "closes_tcp_before_the_server",
            misconception: "after the closing handshake either side may hang up; but the client SHOULD wait for the server to close TCP (RFC 6455 7.1.1), so that the server, not the client, keeps the TIME_WAIT",
            run: waits_for_server_close,
        },
    ],
};

// ---- The client process --------------------------------------------------------------------

/// The client under test, started for one check. Dropping it kills its process group.
struct ClientProcess {
    child: Child,
    /// Its stdout and stderr, last lines, for the report.
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl ClientProcess {
    fn start(ctx: &Ctx, url: &str) -> Result<ClientProcess, Failure> {
        let Some(template) = &ctx.client_cmd else {
            return Err(Failure::new(
                "lesson 12 grades a client: give --cmd \"YOUR CLIENT {url}\" (the grader listens and starts it)",
            ));
        };
        let cmd = if template.contains("{url}") {
            template.replace("{url}", url)
        } else {
            format!("{template} {url}")
        };
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .stdin(Stdio::null())
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| Failure::new(format!("could not start `{cmd}`: {e}")))?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        // Drain both pipes, so that the client never blocks on a full one.
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().expect("piped"));
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().expect("piped"));
        for pipe in [out, err] {
            let tail = Arc::clone(&tail);
            thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut t = tail.lock().unwrap();
                    t.push_back(line);
                    if t.len() > 8 {
                        t.pop_front();
                    }
                }
            });
        }
        Ok(ClientProcess { child, tail })
    }

    /// Its exit status, waiting up to `timeout`.
    fn exit_within(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    fn output(&self) -> String {
        let t = self.tail.lock().unwrap();
        if t.is_empty() {
            return String::new();
        }
        let lines: Vec<String> = t.iter().map(|l| format!("    {l}")).collect();
        format!("\n  the client's last output:\n{}", lines.join("\n"))
    }
}

impl Drop for ClientProcess {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group we created.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

// ---- One connection from the client ----------------------------------------------------------

/// A frame the client sent, as read off the wire.
#[derive(Debug, Clone)]
struct Frame {
    fin: bool,
    rsv: u8,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// The length field's form: 7, 16 or 64 bits.
    length_bits: u8,
    /// Unmasked.
    payload: Vec<u8>,
    /// The frame as it came, for evidence.
    raw: Vec<u8>,
}

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const CLOSE: u8 = 0x8;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;

/// The upgrade request the client sent.
struct Upgrade {
    head: Vec<u8>,
    /// (lowercase name, value)
    headers: Vec<(String, String)>,
    request_line: String,
}

impl Upgrade {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// The grader's side of one connection: a listener, the client process, the accepted socket.
struct Session {
    client: ClientProcess,
    stream: TcpStream,
    upgrade: Upgrade,
    /// Bytes read and not yet parsed.
    buf: Vec<u8>,
    timeout: Duration,
}

impl Session {
    /// Listen, start the client pointed at us, accept its connection and read its request.
    fn open(ctx: &Ctx, path: &str) -> Result<Session, Failure> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|e| Failure::new(format!("the grader could not listen: {e}")))?;
        let url = format!("ws://{}{path}", listener.local_addr().expect("bound"));
        let mut client = ClientProcess::start(ctx, &url)?;
        listener.set_nonblocking(true).expect("nonblocking");
        // Starting a client (`cargo run` may build it) can take a while: a minute at most.
        let deadline = Instant::now() + ctx.timeout.max(Duration::from_secs(60));
        let stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    if let Ok(Some(status)) = client.child.try_wait() {
                        return Err(Failure::new(format!(
                            "the client exited ({status}) without connecting to {url}{}",
                            client.output()
                        )));
                    }
                    if Instant::now() >= deadline {
                        return Err(Failure::new(format!(
                            "the client did not connect to {url} within 60 s{}",
                            client.output()
                        )));
                    }
                    thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(Failure::new(format!("accept: {e}"))),
            }
        };
        stream.set_nonblocking(false).ok();
        stream.set_nodelay(true).ok();
        stream.set_read_timeout(Some(ctx.timeout)).ok();
        stream.set_write_timeout(Some(ctx.timeout)).ok();
        let mut s = Session {
            client,
            stream,
            upgrade: Upgrade {
                head: Vec::new(),
                headers: Vec::new(),
                request_line: String::new(),
            },
            buf: Vec::new(),
            timeout: ctx.timeout,
        };
        s.upgrade = s.read_request()?;
        Ok(s)
    }

    /// Open, and answer the request with a correct 101.
    fn accepted(ctx: &Ctx, path: &str) -> Result<Session, Failure> {
        let s = Session::open(ctx, path)?;
        s.answer(&[])?;
        Ok(s)
    }

    fn fail(&self, what: impl Into<String>) -> Failure {
        Failure::new(format!("{}{}", what.into(), self.client.output()))
    }

    /// Read bytes into `buf`; false at EOF. A timeout or error is a failure.
    fn fill(&mut self, what: &str) -> Result<bool, Failure> {
        let mut chunk = [0u8; 64 * 1024];
        match (&self.stream).read(&mut chunk) {
            Ok(0) => Ok(false),
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Ok(true)
            }
            Err(e) if super::wire::timed_out(&e) => Err(self
                .fail(format!(
                    "waited {} s for {what}; nothing came",
                    self.timeout.as_secs_f64()
                ))
                .received(&self.buf)),
            // A reset counts as the end of the connection.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Ok(false),
            Err(e) => Err(self.fail(format!("reading {what}: {e}"))),
        }
    }

    fn read_request(&mut self) -> Result<Upgrade, Failure> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if self.buf.len() > 16 * 1024 {
                return Err(self
                    .fail("the request head did not end within 16 KiB")
                    .received(&self.buf));
            }
            if !self.fill("the upgrade request")? {
                return Err(self
                    .fail("the client closed the connection before its request head ended")
                    .received(&self.buf));
            }
        };
        let head: Vec<u8> = self.buf.drain(..end).collect();
        let text = String::from_utf8_lossy(&head).into_owned();
        let mut lines = text.split("\r\n");
        let request_line = lines.next().unwrap_or_default().to_string();
        let headers = lines
            .filter(|l| !l.is_empty())
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        Ok(Upgrade {
            head,
            headers,
            request_line,
        })
    }

    fn key(&self) -> String {
        self.upgrade
            .header("sec-websocket-key")
            .unwrap_or_default()
            .to_string()
    }

    /// Write a 101 with the right accept key, plus `extra` header lines.
    fn answer(&self, extra: &[&str]) -> Result<(), Failure> {
        self.answer_with_accept(&expected_accept(&self.key()), extra)
    }

    fn answer_with_accept(&self, accept: &str, extra: &[&str]) -> Result<(), Failure> {
        let mut response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n"
        );
        for line in extra {
            response.push_str(line);
            response.push_str("\r\n");
        }
        response.push_str("\r\n");
        send(&self.stream, response.as_bytes())
    }

    fn send(&self, bytes: &[u8]) -> Result<(), Failure> {
        send(&self.stream, bytes)
    }

    /// The client's next frame; `None` at EOF.
    fn frame(&mut self, what: &str) -> Result<Option<Frame>, Failure> {
        loop {
            if let Some(frame) = parse_frame(&self.buf) {
                self.buf.drain(..frame.raw.len());
                return Ok(Some(frame));
            }
            if !self.fill(what)? {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(self
                    .fail(format!(
                        "the client closed the connection in the middle of a frame ({what})"
                    ))
                    .received(&self.buf));
            }
        }
    }

    /// The next frame, which must be there and masked.
    fn masked_frame(&mut self, what: &str) -> Result<Frame, Failure> {
        let Some(frame) = self.frame(what)? else {
            return Err(self.fail(format!(
                "the client closed the connection while the grader waited for {what}"
            )));
        };
        if frame.mask.is_none() {
            return Err(self
                .fail(format!(
                    "{what} came unmasked: a client MUST mask every frame (RFC 6455 5.1)"
                ))
                .received(&frame.raw));
        }
        Ok(frame)
    }

    /// Expect the echo of a message: one or more frames, reassembled, of type `opcode`.
    fn expect_echo(&mut self, opcode: u8, payload: &[u8], sent: &[u8]) -> Result<(), Failure> {
        let kind = if opcode == TEXT { "text" } else { "binary" };
        let what = format!("the echo of a {kind} message of {} bytes", payload.len());
        let mut got = Vec::new();
        let mut first = true;
        loop {
            let frame = self.masked_frame(&what)?;
            if frame.opcode == PONG || frame.opcode == PING {
                continue; // control frames may come between fragments
            }
            let want = if first { opcode } else { 0 };
            if frame.opcode != want || frame.rsv != 0 {
                return Err(self
                    .fail(format!(
                        "expected {what}; got a frame with opcode 0x{:x} (RSV {:03b})",
                        frame.opcode, frame.rsv
                    ))
                    .sent(sent)
                    .received(&frame.raw));
            }
            if !minimal(&frame) {
                return Err(self
                    .fail(format!(
                        "a {}-byte payload was sent with a {}-bit length: RFC 6455 5.2 says the minimal number of bytes MUST be used",
                        frame.payload.len(),
                        frame.length_bits
                    ))
                    .received(&frame.raw[..frame.raw.len().min(16)]));
            }
            got.extend_from_slice(&frame.payload);
            first = false;
            if frame.fin {
                break;
            }
        }
        if got != payload {
            return Err(self
                .fail(format!("{what} differs from what was sent"))
                .expected(payload)
                .received(&got));
        }
        Ok(())
    }

    /// Expect the client to fail the connection: a Close with `code` (if given) and EOF, or
    /// (`code` None) EOF with no frame at all, and a non-zero exit.
    fn expect_failure(&mut self, code: Option<u16>, why: &str, sent: &[u8]) -> Result<(), Failure> {
        match (self.frame(why)?, code) {
            (None, None) => {}
            (Some(frame), None) => {
                return Err(self
                    .fail(format!(
                        "{why}: the client must fail the connection without sending anything, but it sent a frame"
                    ))
                    .sent(sent)
                    .received(&frame.raw))
            }
            (None, Some(code)) => {
                return Err(self
                    .fail(format!(
                        "{why}: the client closed TCP without a Close {code} first"
                    ))
                    .sent(sent))
            }
            (Some(frame), Some(code)) => {
                let got = close_code(&frame);
                if frame.opcode != CLOSE || got != Some(code) {
                    return Err(self
                        .fail(format!(
                            "{why}: expected a Close with code {code}; got opcode 0x{:x}{}",
                            frame.opcode,
                            got.map_or(String::new(), |c| format!(", code {c}"))
                        ))
                        .sent(sent)
                        .expected(&[0x88, 0x82, (code >> 8) as u8, code as u8])
                        .received(&frame.raw));
                }
                // After failing, nothing more is processed or sent. The client may close TCP
                // at once or wait for the server to: we close our side as a server would, and
                // then expect EOF with nothing before it.
                let _ = self.stream.shutdown(std::net::Shutdown::Write);
                if let Some(more) = self.frame("the end of the connection after the Close")? {
                    return Err(self
                        .fail(format!("{why}: the client sent more after its Close"))
                        .received(&more.raw));
                }
            }
        }
        match self.client.exit_within(self.timeout) {
            Some(status) if !status.success() => Ok(()),
            Some(_) => Err(self.fail(format!(
                "{why}: the client failed the connection but exited with status 0; a failed connection is not a success"
            ))),
            None => Err(self.fail(format!(
                "{why}: the client closed the connection but did not exit within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    /// After the closing handshake: close TCP as a server must, and expect exit status 0.
    fn close_and_expect_success(mut self) -> Result<(), Failure> {
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        match self.client.exit_within(self.timeout) {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(self.fail(format!(
                "after a clean closing handshake the client exited with {status}; expected 0"
            ))),
            None => Err(self.fail(format!(
                "the server closed TCP after the closing handshake, and the client did not exit within {} s",
                self.timeout.as_secs_f64()
            ))),
        }
    }

    /// Send Close 1000, expect its echo, then close TCP and expect a clean exit.
    fn finish(mut self) -> Result<(), Failure> {
        let close = server_frame(CLOSE, &[0x03, 0xe8]);
        self.send(&close)?;
        loop {
            let frame = self.masked_frame("the answer to the grader's Close 1000")?;
            if frame.opcode == CLOSE {
                break;
            }
        }
        self.close_and_expect_success()
    }
}

/// Parse one frame from the start of `b` if it is all there.
fn parse_frame(b: &[u8]) -> Option<Frame> {
    if b.len() < 2 {
        return None;
    }
    let masked = b[1] & 0x80 != 0;
    let (len, mut at, length_bits) = match b[1] & 0x7f {
        126 => (
            u64::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])),
            4,
            16,
        ),
        127 => {
            let bytes: [u8; 8] = b.get(2..10)?.try_into().ok()?;
            (u64::from_be_bytes(bytes), 10, 64)
        }
        n => (u64::from(n), 2, 7),
    };
    let mask = if masked {
        let key: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(key)
    } else {
        None
    };
    let len = usize::try_from(len).ok()?;
    let end = at.checked_add(len)?;
    let mut payload = b.get(at..end)?.to_vec();
    if let Some(key) = mask {
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= key[i % 4];
        }
    }
    Some(Frame {
        fin: b[0] & 0x80 != 0,
        rsv: (b[0] >> 4) & 0x7,
        opcode: b[0] & 0x0f,
        mask,
        length_bits,
        payload,
        raw: b[..end].to_vec(),
    })
}

/// The shortest length form was used (RFC 6455 5.2).
fn minimal(f: &Frame) -> bool {
    match f.length_bits {
        7 => true,
        16 => f.payload.len() >= 126,
        _ => f.payload.len() > 0xffff,
    }
}

fn close_code(f: &Frame) -> Option<u16> {
    (f.payload.len() >= 2).then(|| u16::from_be_bytes([f.payload[0], f.payload[1]]))
}

/// A frame as a server sends it: FIN set, unmasked, the shortest length.
fn server_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    frame_bytes(true, opcode, payload, None)
}

fn frame_bytes(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![u8::from(fin) << 7 | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n if n <= 0xffff => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            f.push(m | 127);
            f.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    match mask {
        Some(key) => {
            f.extend_from_slice(&key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// Printable random text of `len` bytes.
fn random_text(ctx: &Ctx, len: usize) -> Vec<u8> {
    ctx.bytes(len).iter().map(|b| b'a' + b % 26).collect()
}

// ---- The checks -----------------------------------------------------------------------------

fn request_is_an_upgrade(ctx: &Ctx) -> Result<(), Failure> {
    let s = Session::open(ctx, "/grader?check=request")?;
    let u = &s.upgrade;
    let bad = |why: String| Err(s.fail(why).received(&u.head));
    let parts: Vec<&str> = u.request_line.split(' ').collect();
    if !matches!(parts[..], ["GET", "/grader?check=request", "HTTP/1.1"]) {
        return bad(format!(
            "the request line is {:?}; expected \"GET /grader?check=request HTTP/1.1\" (the URL's path and query)",
            u.request_line
        ));
    }
    if u.header("host").is_none() {
        return bad("no Host header (RFC 6455 4.1, item 4)".into());
    }
    if !u
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
    {
        return bad("no \"Upgrade: websocket\" (RFC 6455 4.1, item 5)".into());
    }
    if !u.has_token("connection", "upgrade") {
        return bad("no \"Connection: Upgrade\" (RFC 6455 4.1, item 6)".into());
    }
    if u.header("sec-websocket-version") != Some("13") {
        return bad("no \"Sec-WebSocket-Version: 13\" (RFC 6455 4.1, item 9)".into());
    }
    let key = s.key();
    if !matches!(base64_len(&key), Some(16)) {
        return bad(format!(
            "Sec-WebSocket-Key is {key:?}: it must be 16 random bytes in base64, 24 characters (RFC 6455 4.1, item 7)"
        ));
    }
    // A second connection must bring a fresh key: "randomly selected [...] for each connection".
    s.answer(&[])?;
    s.finish()?;
    let second = Session::open(ctx, "/grader?check=request")?;
    if second.key() == key {
        return Err(second.fail(format!(
            "two connections sent the same Sec-WebSocket-Key {key:?}: the nonce MUST be selected randomly for each connection (RFC 6455 4.1, item 7)"
        )));
    }
    second.answer(&[])?;
    second.finish()
}

/// The length of what a base64 string decodes to, if it is well-formed base64.
fn base64_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return None;
    }
    let pad = b.iter().rev().take_while(|&&c| c == b'=').count();
    let body = &b[..b.len() - pad];
    if pad > 2
        || !body
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/')
    {
        return None;
    }
    Some(b.len() / 4 * 3 - pad)
}

fn frames_are_masked(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=masking")?;
    for (opcode, payload) in [
        (TEXT, b"Hello".to_vec()),
        (BINARY, ctx.bytes(40)),
        (TEXT, Vec::new()),
    ] {
        let sent = server_frame(opcode, &payload);
        s.send(&sent)?;
        s.expect_echo(opcode, &payload, &sent)?;
    }
    s.finish()
}

fn keys_differ(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=keys")?;
    // Eight random 32-bit keys repeat with a probability of about 28 in 4 billion: a repeat
    // means the keys are not fresh.
    let mut seen = HashSet::new();
    for i in 0..8 {
        let payload = format!("message {i}").into_bytes();
        s.send(&server_frame(TEXT, &payload))?;
        let frame = s.masked_frame("the echo of a short text message")?;
        let key = frame.mask.expect("masked_frame checks");
        if !seen.insert(key) {
            return Err(s
                .fail(format!(
                    "frame {} reused the masking key {key:02x?}: each frame needs a fresh key from a strong random source (RFC 6455 5.3)",
                    i + 1
                ))
                .received(&frame.raw));
        }
    }
    s.finish()
}

fn wrong_accept(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::open(ctx, "/grader?check=accept")?;
    // The accept value of some other key (the RFC's example key), not of the client's.
    let wrong = expected_accept("dGhlIHNhbXBsZSBub25jZQ==");
    s.answer_with_accept(&wrong, &[])?;
    let bait = server_frame(TEXT, b"echo me if you trust this server");
    s.send(&bait)?;
    s.expect_failure(
        None,
        &format!("the 101 carried Sec-WebSocket-Accept {wrong}, which is not the client key's"),
        &bait,
    )
}

fn unoffered(ctx: &Ctx) -> Result<(), Failure> {
    for (header, what) in [
        (
            "Sec-WebSocket-Extensions: x-grader-unoffered",
            "an extension",
        ),
        (
            "Sec-WebSocket-Protocol: x-grader-unoffered",
            "a subprotocol",
        ),
    ] {
        let mut s = Session::open(ctx, "/grader?check=unoffered")?;
        s.answer(&[header])?;
        let bait = server_frame(TEXT, b"echo me");
        s.send(&bait)?;
        s.expect_failure(
            None,
            &format!("the 101 chose {what} the client never offered ({header})"),
            &bait,
        )?;
    }
    Ok(())
}

fn masked_from_server(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=masked")?;
    let masked = frame_bytes(true, TEXT, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d]));
    s.send(&masked)?;
    s.expect_failure(Some(1002), "the grader sent a masked text frame", &masked)
}

fn ping_pong(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=ping")?;
    for payload in [random_text(ctx, 12), Vec::new(), ctx.bytes(125)] {
        let ping = server_frame(PING, &payload);
        s.send(&ping)?;
        let frame = s.masked_frame("a pong")?;
        if frame.opcode != PONG {
            return Err(s
                .fail(format!(
                    "a ping got no pong: the next frame has opcode 0x{:x}",
                    frame.opcode
                ))
                .sent(&ping)
                .received(&frame.raw));
        }
        if frame.payload != payload {
            return Err(s
                .fail("the pong's payload is not the ping's (RFC 6455 5.5.3: identical Application data)")
                .sent(&ping)
                .expected(&payload)
                .received(&frame.payload));
        }
    }
    s.finish()
}

fn split_frames(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=split")?;
    // A 200-byte text message (16-bit length) one byte per write.
    let payload = random_text(ctx, 200);
    let frame = server_frame(TEXT, &payload);
    send_in_pieces(&s.stream, &frame, || 1, Duration::from_millis(1))?;
    s.expect_echo(TEXT, &payload, &frame)?;
    // A message in three fragments with a ping between them, in pieces of random sizes.
    let parts = [
        random_text(ctx, 30),
        random_text(ctx, 1),
        random_text(ctx, 20),
    ];
    let mut wire = frame_bytes(false, TEXT, &parts[0], None);
    wire.extend(server_frame(PING, b"between"));
    wire.extend(frame_bytes(false, 0, &parts[1], None));
    wire.extend(frame_bytes(true, 0, &parts[2], None));
    send_in_pieces(
        &s.stream,
        &wire,
        || 1 + ctx.below(7) as usize,
        Duration::from_millis(1),
    )?;
    let whole = parts.concat();
    s.expect_echo(TEXT, &whole, &wire)?;
    s.finish()
}

fn lengths(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=lengths")?;
    for len in [125, 126, 0xffff, 0x10000, 70_000] {
        let payload = ctx.bytes(len);
        let frame = server_frame(BINARY, &payload);
        s.send(&frame)?;
        s.expect_echo(BINARY, &payload, &frame[..frame.len().min(16)])?;
    }
    s.finish()
}

fn invalid_utf8(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=utf8")?;
    // "κόσμε" then a UTF-16 surrogate (ED A0 80), which UTF-8 forbids, then "edited".
    let bad = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited";
    let frame = server_frame(TEXT, bad);
    s.send(&frame)?;
    s.expect_failure(
        Some(1007),
        "the grader sent a text frame that is not UTF-8",
        &frame,
    )
}

fn close_echo(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=close")?;
    let close = server_frame(CLOSE, b"\x0b\xb8grader done");
    s.send(&close)?;
    let frame = s.masked_frame("the answer to the grader's Close 3000")?;
    if frame.opcode != CLOSE || close_code(&frame) != Some(3000) {
        return Err(s
            .fail("the answer to a Close 3000 is not a Close with code 3000")
            .sent(&close)
            .expected(&[0x88, 0x82, 0x0b, 0xb8])
            .received(&frame.raw));
    }
    s.close_and_expect_success()
}

/// How long a client must keep the connection open after the closing handshake, waiting for
/// the server's FIN. The reference waits 5 s (`--timeout`).
const MUST_WAIT: Duration = Duration::from_secs(1);

fn waits_for_server_close(ctx: &Ctx) -> Result<(), Failure> {
    let mut s = Session::accepted(ctx, "/grader?check=tcp-close")?;
    let close = server_frame(CLOSE, &[0x03, 0xe8]);
    s.send(&close)?;
    let frame = s.masked_frame("the answer to the grader's Close 1000")?;
    if frame.opcode != CLOSE {
        return Err(s
            .fail("the grader's Close got no Close back")
            .sent(&close)
            .received(&frame.raw));
    }
    // Now the client should wait for us. Watch for its FIN for a while.
    s.stream.set_read_timeout(Some(MUST_WAIT)).ok();
    let mut byte = [0u8; 1];
    match (&s.stream).read(&mut byte) {
        Ok(0) => {
            return Err(s.fail(format!(
                "the client closed TCP within {} s of the closing handshake, before the server did (RFC 6455 7.1.1: the client SHOULD wait for the server's TCP close)",
                MUST_WAIT.as_secs()
            )))
        }
        Ok(_) => {
            return Err(s
                .fail("the client sent more after its Close")
                .received(&byte))
        }
        Err(_) => {} // still open: good
    }
    s.close_and_expect_success()
}
