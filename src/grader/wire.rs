//! The grader's own client side: connect, send in chosen pieces, expect exact bytes, expect
//! end of stream, reset. Every wait has a deadline, and every way of going wrong becomes a
//! [`Failure`] that says what happened in words.
//!
//! Deliberately simple and independent of the lessons' code.

use super::{Ctx, Failure};
use socket2::{SockRef, TcpKeepalive};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

/// Did a read give up because its timeout passed? (Linux says EAGAIN, which std calls
/// WouldBlock; other systems say ETIMEDOUT.)
pub fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Connect, with Nagle off (so that a 1-byte write goes out as a 1-byte segment) and the
/// check's timeout on every read and write.
pub fn connect(ctx: &Ctx, addr: SocketAddr) -> Result<TcpStream, Failure> {
    let stream = TcpStream::connect_timeout(&addr, ctx.timeout).map_err(|e| {
        let hint = match e.kind() {
            io::ErrorKind::ConnectionRefused => {
                "nothing is listening there: did the server exit or stop listening?"
            }
            io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => {
                "the handshake did not complete: is the listen backlog full?"
            }
            _ => "",
        };
        Failure::new(format!("could not connect to {addr}: {e}. {hint}"))
    })?;
    stream.set_nodelay(true).ok();
    stream.set_read_timeout(Some(ctx.timeout)).ok();
    stream.set_write_timeout(Some(ctx.timeout)).ok();
    let _ = SockRef::from(&stream).set_tcp_keepalive(&TcpKeepalive::new());
    Ok(stream)
}

/// Write all of `bytes` in one call (as far as the kernel takes it).
pub fn send(stream: &TcpStream, bytes: &[u8]) -> Result<(), Failure> {
    (&*stream).write_all(bytes).map_err(|e| {
        Failure::new(format!(
            "sending failed: {e}; the server closed or reset the connection early"
        ))
        .sent(bytes)
    })
}

/// Write `bytes` in pieces whose sizes `piece` picks, pausing between them so that each piece
/// arrives on its own (Nagle is off): the server's reads see exactly these pieces.
///
/// If the server closes or resets the connection before everything is sent, the failure
/// carries whatever it had sent back by then, as the received evidence.
pub fn send_in_pieces(
    stream: &TcpStream,
    bytes: &[u8],
    mut piece: impl FnMut() -> usize,
    pause: Duration,
) -> Result<(), Failure> {
    let mut at = 0;
    while at < bytes.len() {
        let n = piece().clamp(1, bytes.len() - at);
        if let Err(e) = (&*stream).write_all(&bytes[at..at + n]) {
            let (answered, _) = read_up_to(stream, 64 * 1024, None);
            return Err(Failure::new(format!(
                "the server closed the connection after {at} of the {} bytes had been sent in pieces ({e})",
                bytes.len()
            ))
            .sent(bytes)
            .received(&answered));
        }
        at += n;
        if at < bytes.len() {
            thread::sleep(pause);
        }
    }
    Ok(())
}

/// How a read loop ended before it had everything it wanted.
enum Stop {
    Eof,
    Timeout,
    Error(io::Error),
}

/// Read until `want` bytes have arrived, the peer stops (EOF, reset) or no byte comes within
/// the timeout. Stops early at the first byte that differs from `expected`, if given.
fn read_up_to(stream: &TcpStream, want: usize, expected: Option<&[u8]>) -> (Vec<u8>, Option<Stop>) {
    let mut got = Vec::with_capacity(want.min(1 << 20));
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < want {
        let room = (want - got.len()).min(buf.len());
        match (&*stream).read(&mut buf[..room]) {
            Ok(0) => return (got, Some(Stop::Eof)),
            Ok(n) => {
                let start = got.len();
                got.extend_from_slice(&buf[..n]);
                if let Some(e) = expected {
                    let end = got.len().min(e.len());
                    if got[start..end] != e[start..end] {
                        return (got, None);
                    }
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => return (got, Some(Stop::Timeout)),
            Err(e) => return (got, Some(Stop::Error(e))),
        }
    }
    (got, None)
}

fn stop_reason(stop: &Stop, got: usize, want: usize, timeout: Duration) -> String {
    match stop {
        Stop::Eof => format!(
            "the server closed the connection after sending {got} of the {want} bytes expected"
        ),
        Stop::Timeout => format!(
            "the reply stopped after {got} of {want} bytes: nothing more arrived within {} s",
            timeout.as_secs_f32()
        ),
        Stop::Error(e) => format!("the connection failed after {got} of {want} bytes: {e}"),
    }
}

/// Expect exactly `expected` next on the stream. `sent` is shown as evidence on failure.
pub fn expect(ctx: &Ctx, stream: &TcpStream, sent: &[u8], expected: &[u8]) -> Result<(), Failure> {
    let (got, stop) = read_up_to(stream, expected.len(), Some(expected));
    if got == expected {
        return Ok(());
    }
    let what = match &stop {
        Some(stop) if expected.starts_with(&got) => {
            stop_reason(stop, got.len(), expected.len(), ctx.timeout)
        }
        _ => "the reply differs from what was expected".to_string(),
    };
    Err(Failure::new(what)
        .sent(sent)
        .expected(expected)
        .received(&got))
}

/// Read exactly `n` bytes, whatever they are.
pub fn read_exactly(ctx: &Ctx, stream: &TcpStream, n: usize) -> Result<Vec<u8>, Failure> {
    match read_up_to(stream, n, None) {
        (got, Some(stop)) if got.len() < n => {
            Err(Failure::new(stop_reason(&stop, got.len(), n, ctx.timeout)).received(&got))
        }
        (got, _) => Ok(got),
    }
}

/// Expect the server to close its sending side now: no more bytes, then end of stream.
pub fn expect_eof(
    ctx: &Ctx,
    stream: &TcpStream,
    sent: &[u8],
    context: &str,
) -> Result<(), Failure> {
    let (extra, stop) = read_up_to(stream, 64 * 1024, None);
    match stop {
        Some(Stop::Eof) if extra.is_empty() => Ok(()),
        Some(Stop::Eof) | None => Err(Failure::new(format!(
            "{context}, the server sent {} more bytes that nobody asked for before closing",
            extra.len()
        ))
        .sent(sent)
        .expected(b"")
        .received(&extra)),
        Some(Stop::Timeout) if extra.is_empty() => Err(Failure::new(format!(
            "{context}, the server never closed the connection: no end of stream within {} s",
            ctx.timeout.as_secs_f32()
        ))
        .sent(sent)),
        Some(Stop::Timeout) => Err(Failure::new(format!(
            "{context}, the server sent bytes nobody asked for"
        ))
        .sent(sent)
        .expected(b"")
        .received(&extra)),
        Some(Stop::Error(e)) => Err(Failure::new(format!(
            "{context}, the connection failed instead of closing cleanly: {e} (a reset, not a FIN)"
        ))
        .sent(sent)),
    }
}

/// Read one `\n`-terminated line (the `\n` included), or fail saying why none came.
pub fn read_line(
    ctx: &Ctx,
    stream: &TcpStream,
    sent: &[u8],
    limit: usize,
) -> Result<Vec<u8>, Failure> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < limit {
        match (&*stream).read(&mut byte) {
            Ok(0) => {
                return Err(Failure::new(format!(
                "the server closed the connection before a whole line ({} bytes without a newline)",
                line.len()
            ))
                .sent(sent)
                .received(&line))
            }
            Ok(_) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    return Ok(line);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                let why = if timed_out(&e) {
                    format!(
                        "no complete line arrived within {} s",
                        ctx.timeout.as_secs_f32()
                    )
                } else {
                    format!("the connection failed: {e}")
                };
                return Err(Failure::new(why).sent(sent).received(&line));
            }
        }
    }
    Err(
        Failure::new(format!("a line longer than {limit} bytes came back"))
            .sent(sent)
            .received(&line),
    )
}

/// Send `payload` from a second thread in the pieces `pieces` lists, while this thread reads
/// the reply: a large payload written before reading would deadlock once every buffer between
/// us is full. Then half-close, and return everything received until end of stream.
pub fn exchange_while_reading(
    ctx: &Ctx,
    stream: &TcpStream,
    payload: Vec<u8>,
    pieces: Vec<usize>,
    want: usize,
) -> Result<Vec<u8>, Failure> {
    let writer = stream
        .try_clone()
        .map_err(|e| Failure::new(format!("grader: {e}")))?;
    let sending = thread::spawn(move || -> io::Result<()> {
        let mut at = 0;
        for n in pieces.into_iter().chain(std::iter::repeat(usize::MAX)) {
            if at >= payload.len() {
                break;
            }
            let n = n.clamp(1, payload.len() - at);
            (&writer).write_all(&payload[at..at + n])?;
            at += n;
        }
        writer.shutdown(Shutdown::Write)
    });
    let (got, stop) = read_up_to(stream, want, None);
    let sent = sending.join().expect("the sending thread does not panic");
    if let (Err(e), true) = (sent, got.len() < want) {
        return Err(Failure::new(format!(
            "sending failed after the server had returned {} bytes: {e}",
            got.len()
        )));
    }
    match stop {
        Some(stop) if got.len() < want => {
            Err(
                Failure::new(stop_reason(&stop, got.len(), want, ctx.timeout))
                    .received(&got[got.len().saturating_sub(64)..]),
            )
        }
        _ => Ok(got),
    }
}

/// Close with a reset (RST) instead of a FIN: SO_LINGER with a zero timeout makes close(2)
/// discard unsent data and abort the connection. The peer's next read or write fails with
/// ECONNRESET (or EPIPE).
pub fn reset(stream: TcpStream) {
    let _ = SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// A UDP socket for talking to `server`, on the same address family.
pub fn udp_socket(ctx: &Ctx, server: SocketAddr) -> Result<UdpSocket, Failure> {
    let any: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0"
    } else {
        "[::1]:0"
    }
    .parse()
    .expect("a valid address");
    let sock = UdpSocket::bind(any).map_err(|e| Failure::new(format!("grader: bind: {e}")))?;
    sock.set_read_timeout(Some(ctx.timeout)).ok();
    Ok(sock)
}

/// Send `datagram` and expect the same datagram back, from the server's own address. Tries
/// up to three times (a datagram can be lost, even on loopback, when a buffer is full).
/// A reply equal to one of `earlier` is a late answer to an earlier request, and is skipped.
pub fn udp_echo(
    ctx: &Ctx,
    sock: &UdpSocket,
    server: SocketAddr,
    datagram: &[u8],
    earlier: &[Vec<u8>],
) -> Result<(), Failure> {
    const TRIES: u32 = 3;
    let per_try = (ctx.timeout / TRIES).max(Duration::from_millis(200));
    let mut buf = vec![0u8; 70_000];
    for _ in 0..TRIES {
        sock.send_to(datagram, server)
            .map_err(|e| Failure::new(format!("sendto failed: {e}")).sent(datagram))?;
        let deadline = Instant::now() + per_try;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            sock.set_read_timeout(Some(left)).ok();
            let (n, from) = match sock.recv_from(&mut buf) {
                Ok(got) => got,
                Err(e) if timed_out(&e) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Failure::new(format!("recvfrom failed: {e}")).sent(datagram)),
            };
            let reply = &buf[..n];
            if from != server {
                return Err(Failure::new(format!(
                    "the reply came from {from}, not from {server} where the request went: a client that \
                     connect()s its socket, or sits behind a NAT or firewall, never sees it"
                ))
                .sent(datagram)
                .received(reply));
            }
            if reply == datagram {
                return Ok(());
            }
            if earlier.iter().any(|e| e == reply) {
                continue; // a late echo of an earlier datagram
            }
            let what = if datagram.starts_with(reply) {
                format!(
                    "the echo came back cut short: {n} of {} bytes",
                    datagram.len()
                )
            } else {
                "the echo differs from the datagram sent".to_string()
            };
            return Err(Failure::new(what)
                .sent(datagram)
                .expected(datagram)
                .received(reply));
        }
    }
    Err(Failure::new(format!(
        "no reply to a {}-byte datagram in {TRIES} tries, {} ms apart",
        datagram.len(),
        per_try.as_millis()
    ))
    .sent(datagram))
}
