//! Lesson 03: framing. A request/response server that finds message boundaries in a byte
//! stream, first by a delimiter (lines), then, after the client asks for it, by length prefix.
//!
//! ```text
//! cargo run --bin 03-framing                            # server on 127.0.0.1:7003
//! nc 127.0.0.1 7003                                     # type: REV hello   -> olleh
//! cargo run --bin 03-framing -- client                  # the same, with the lesson's client
//! cargo run --bin 03-framing -- client --binary         # switch to length-prefixed frames
//! cargo run --bin 03-framing -- --trace                 # hexdumps: reads are not messages
//! ```
//!
//! The protocol (the lesson text has the full specification):
//!
//! | request        | response                       |
//! |----------------|--------------------------------|
//! | `ECHO <data>`  | `<data>`                       |
//! | `REV <data>`   | `<data>` with its bytes reversed |
//! | `BINARY`       | `OK`, then length-prefixed frames both ways |
//! | `QUIT`         | `BYE`, then the server closes  |
//! | anything else  | `ERR <reason>`; the connection stays open |
//!
//! A connection starts with lines (`\n`-terminated, at most 1,024 bytes). After `BINARY`, every
//! message both ways is a 4-byte big-endian length and that many bytes (at most 1 MiB). Breaking
//! a limit gets `ERR <reason>` in the current framing, then the server closes the connection.
//!
//! The decoder is `netcourse::framing` (src/framing.rs); this file is the server around it.

use clap::{Parser, Subcommand};
use netcourse::framing::{self, FrameDecoder, Framing};
use netcourse::trace::{annotated_hexdump, Trace, Traced};
use std::io::{self, BufRead, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Lesson 03: a framed request/response protocol (lines, then length prefixes)")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Address to listen on (server) or connect to (client). Port 0 picks a free port.
    #[arg(long, global = true, default_value = "127.0.0.1:7003")]
    addr: SocketAddr,
    /// Print each read and write as a hexdump, and each message found in them, to stderr.
    #[arg(long, global = true)]
    trace: bool,
}

#[derive(Subcommand)]
enum Mode {
    /// Answer requests, one client at a time (the default).
    Server,
    /// Send each line of standard input as a request and print the response.
    Client {
        /// Send BINARY first, then each line as a length-prefixed frame.
        #[arg(long)]
        binary: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    match cli.mode.unwrap_or(Mode::Server) {
        Mode::Server => serve(cli.addr, trace)?,
        Mode::Client { binary } => client(cli.addr, binary, trace)?,
    }
    Ok(())
}

fn serve(addr: SocketAddr, trace: Trace) -> io::Result<()> {
    // std's bind() makes the calls lesson 01 made one by one: socket, setsockopt(SO_REUSEADDR),
    // bind, listen(128).
    let listener = TcpListener::bind(addr)?;
    println!("listening on tcp://{}", listener.local_addr()?);
    for conn in listener.incoming() {
        let conn = match conn {
            Ok(conn) => conn,
            Err(e) => {
                eprintln!("accept failed: {e}");
                continue;
            }
        };
        let peer = conn.peer_addr().map_or("?".into(), |a| a.to_string());
        if let Err(e) = handle(&conn, trace) {
            eprintln!("{peer}: {e}; closing the connection, serving the next client");
        }
    }
    Ok(())
}

/// Serve one connection: read, let the session answer every complete message, write the
/// answers, until the client half-closes, quits, or breaks a rule.
fn handle(conn: &TcpStream, trace: Trace) -> io::Result<()> {
    let mut session = Session::new();
    let mut io = Traced::new(conn, trace);
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match io.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if trace.is_on() {
            eprint!("{}", annotated_hexdump(&buf[..n], &[]));
        }
        let mut out = Vec::new();
        let flow = session.receive(&buf[..n], &mut out, trace);
        io.write_all(&out)?;
        if flow == Flow::Close {
            return close_gracefully(conn);
        }
    }
    // End of stream: every complete request has been answered. Bytes of an unfinished message
    // are dropped; the client gave up on it.
    conn.shutdown(Shutdown::Write)
}

/// Close after an error without losing the error message.
///
/// If we close() while the client's bytes sit unread in our receive buffer, Linux answers with
/// a reset (RST) instead of a FIN, and a reset may destroy our `ERR` reply before the client
/// reads it. So: send FIN, then read and discard what is still coming for a moment, then close.
/// HTTP servers call this a "lingering close".
fn close_gracefully(conn: &TcpStream) -> io::Result<()> {
    conn.shutdown(Shutdown::Write)?;
    // At most 2 s and 4 MiB in all: a client that keeps sending must not hold the server.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 16 * 1024];
    let mut discarded = 0usize;
    while discarded < 4 << 20 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        conn.set_read_timeout(Some(left))?;
        match (&*conn).read(&mut sink) {
            Ok(0) | Err(_) => break,
            Ok(n) => discarded += n,
        }
    }
    Ok(())
}

/// What the connection does after a batch of bytes.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// The protocol, sans-IO: bytes in, response bytes out. No socket in here, so the unit tests
/// below drive it directly with any chunking.
struct Session {
    decoder: FrameDecoder,
}

impl Session {
    fn new() -> Self {
        Session {
            decoder: FrameDecoder::new(Framing::Lines),
        }
    }

    /// Take the bytes of one read; append the response to every message they complete to
    /// `out`. One read can complete no message, one, or many.
    fn receive(&mut self, bytes: &[u8], out: &mut Vec<u8>, trace: Trace) -> Flow {
        // exercise: begin "Answer every complete message in the buffer"
        // hint: Push the bytes into self.decoder, then call next_message() in a loop until it answers Ok(None): one read can hold several messages, or none.
        // hint: Answer each message with respond(); frame the answer with framing::encode in the decoder's *current* framing.
        // hint: After answering BINARY with OK (in lines), switch the decoder to Framing::LengthPrefixed. Keep looping: the next frame may already be in the buffer.
        // hint: On Err(e) from the decoder, answer "ERR {e}" and return Flow::Close: after a framing error nobody knows where the next message starts.
        self.decoder.push(bytes);
        loop {
            let framing = self.decoder.framing();
            let message = match self.decoder.next_message() {
                Ok(Some(message)) => message,
                Ok(None) => return Flow::Continue,
                Err(e) => {
                    send(out, framing, format!("ERR {e}").as_bytes(), trace);
                    return Flow::Close;
                }
            };
            trace.log(format_args!(
                "message: {}",
                netcourse::trace::quote(&message, 48)
            ));
            let (answer, then) = respond(&message, framing);
            send(out, framing, &answer, trace);
            match then {
                After::Continue => {}
                After::SwitchToFrames => self.decoder.switch_to(Framing::LengthPrefixed),
                After::Close => return Flow::Close,
            }
        }
        // exercise: end
    }
}

/// Frame one response and add it to the output, tracing its fields.
fn send(out: &mut Vec<u8>, framing: Framing, payload: &[u8], trace: Trace) {
    let wire = framing::encode(framing, payload);
    if trace.is_on() {
        eprint!(
            "[trace] response:\n{}",
            annotated_hexdump(&wire, &framing::annotate(framing, &wire))
        );
    }
    out.extend_from_slice(&wire);
}

/// What happens after a response is sent.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Continue,
    SwitchToFrames,
    Close,
}

/// Answer one request. The command is everything before the first space; the data is
/// everything after it, any bytes at all.
fn respond(request: &[u8], framing: Framing) -> (Vec<u8>, After) {
    let (command, data) = match request.iter().position(|&b| b == b' ') {
        Some(i) => (&request[..i], &request[i + 1..]),
        None => (request, &[][..]),
    };
    match command {
        b"ECHO" => (data.to_vec(), After::Continue),
        b"REV" => (data.iter().rev().copied().collect(), After::Continue),
        b"BINARY" if framing == Framing::Lines => (b"OK".to_vec(), After::SwitchToFrames),
        b"BINARY" => (
            b"ERR already using length-prefixed frames".to_vec(),
            After::Continue,
        ),
        b"QUIT" => (b"BYE".to_vec(), After::Close),
        _ => {
            let shown = String::from_utf8_lossy(&command[..command.len().min(32)]).into_owned();
            let reason = format!("ERR unknown command {shown:?}: try ECHO, REV, BINARY or QUIT");
            // A line cannot carry a newline, and the unknown command might contain a '\r'.
            (
                reason.replace(['\n', '\r'], " ").into_bytes(),
                After::Continue,
            )
        }
    }
}

/// The client: one request per line of standard input, printing each response. Responses are
/// decoded with the same streaming decoder, since a response can arrive in pieces too.
fn client(addr: SocketAddr, binary: bool, trace: Trace) -> io::Result<()> {
    let conn = TcpStream::connect(addr)?;
    let mut io = Traced::new(&conn, trace);
    let mut decoder = FrameDecoder::new(Framing::Lines);
    let mut out = io::stdout().lock();
    if binary {
        io.write_all(&framing::encode(Framing::Lines, b"BINARY"))?;
        let answer = read_message(&mut io, &mut decoder)?;
        if answer != b"OK" {
            return Err(io::Error::other(format!(
                "BINARY refused: {}",
                String::from_utf8_lossy(&answer)
            )));
        }
        decoder.switch_to(Framing::LengthPrefixed);
        writeln!(out, "(switched to length-prefixed frames)")?;
    }
    for line in io::stdin().lock().lines() {
        let line = line?;
        let wire = framing::encode(decoder.framing(), line.as_bytes());
        if trace.is_on() {
            eprint!(
                "[trace] request:\n{}",
                annotated_hexdump(&wire, &framing::annotate(decoder.framing(), &wire))
            );
        }
        io.write_all(&wire)?;
        let answer = read_message(&mut io, &mut decoder)?;
        writeln!(out, "{}", String::from_utf8_lossy(&answer))?;
        out.flush()?;
    }
    Ok(())
}

/// Read until the decoder has one complete message.
fn read_message(io: &mut impl Read, decoder: &mut FrameDecoder) -> io::Result<Vec<u8>> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(message) = decoder.next_message().map_err(io::Error::other)? {
            return Ok(message);
        }
        match io.read(&mut buf)? {
            0 => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the server closed the connection",
                ))
            }
            n => decoder.push(&buf[..n]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Run a whole conversation through a session, split into reads of `chunk` bytes.
    fn converse(input: &[u8], chunk: usize) -> (Vec<u8>, Flow) {
        let mut session = Session::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            if session.receive(piece, &mut out, Trace::default()) == Flow::Close {
                return (out, Flow::Close);
            }
        }
        (out, Flow::Continue)
    }

    #[test]
    fn answers_are_the_same_in_every_chunking() {
        let mut input = b"REV abc\r\nECHO hi there\nNOPE\nBINARY\n".to_vec();
        input.extend(framing::encode(Framing::LengthPrefixed, b"REV a\nb\0"));
        input.extend(framing::encode(Framing::LengthPrefixed, b"QUIT"));
        let mut want =
            b"cba\nhi there\nERR unknown command \"NOPE\": try ECHO, REV, BINARY or QUIT\nOK\n"
                .to_vec();
        want.extend(framing::encode(Framing::LengthPrefixed, b"\0b\na"));
        want.extend(framing::encode(Framing::LengthPrefixed, b"BYE"));
        for chunk in 1..=input.len() {
            assert_eq!(
                converse(&input, chunk),
                (want.clone(), Flow::Close),
                "chunk size {chunk}"
            );
        }
    }

    #[test]
    fn a_line_without_end_is_refused_and_closed() {
        let (out, flow) = converse(&vec![b'x'; 5000], 700);
        assert_eq!(flow, Flow::Close);
        assert!(out.starts_with(b"ERR line too long"));
    }

    #[test]
    fn a_huge_frame_is_refused_before_its_payload() {
        let mut input = b"BINARY\n".to_vec();
        input.extend(u32::MAX.to_be_bytes());
        let (out, flow) = converse(&input, 3);
        assert_eq!(flow, Flow::Close);
        let payload = &out[3 + 4..];
        assert!(
            payload.starts_with(b"ERR frame too large"),
            "{:?}",
            String::from_utf8_lossy(payload)
        );
    }

    #[test]
    fn empty_commands_and_data_are_answered() {
        assert_eq!(respond(b"ECHO", Framing::Lines).0, b"");
        assert_eq!(respond(b"REV ", Framing::Lines).0, b"");
        assert!(respond(b"", Framing::Lines).0.starts_with(b"ERR"));
    }
}
