//! Checks for lesson 03, the framed request/response protocol (the full specification is in
//! lessons/03-framing/README.md):
//!
//! - a connection starts with lines: a request ends at `\n` (a `\r` before it is dropped) and is
//!   at most 1,024 bytes; each response is one line;
//! - `ECHO <data>` answers `<data>`, `REV <data>` answers `<data>` reversed byte by byte,
//!   `QUIT` answers `BYE` and closes, anything else answers `ERR <reason>` and carries on;
//! - `BINARY` answers `OK`; from then on every message both ways is a 4-byte big-endian length
//!   and that many bytes (at most 1 MiB);
//! - breaking a limit answers `ERR <reason>` in the current framing, then the server closes.
//!
//! The encoders here are two lines each, on purpose: `line` and `frame`.

use super::wire::{self, connect, expect, expect_eof, send};
use super::{Check, Ctx, Failure, Suite};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::Duration;

const MAX_LINE: usize = 1024;
const MAX_FRAME: usize = 1 << 20;

pub const SUITE: Suite = Suite {
    lesson: 3,
    listeners: &["tcp"],
    checks: &[
        Check {
            name: "does_not_answer_a_request",
            misconception: "Each request line gets its response line right away, while the connection stays open.",
            run: simple_requests,
        },
        Check {
            name: "assumes_one_read_is_one_message",
            misconception: "A read returns whatever bytes have arrived: here one byte at a time. Buffer them \
                            until the delimiter arrives; only then is there a message.",
            run: one_byte_at_a_time,
        },
        Check {
            name: "answers_one_message_per_read",
            misconception: "One read can hold many messages. After each read, take every complete message out \
                            of the buffer, not only the first.",
            run: many_in_one_write,
        },
        Check {
            name: "loses_a_message_split_across_reads",
            misconception: "A message can start at the end of one read and finish in the next. Keep the \
                            unfinished tail in the buffer for the next read instead of throwing it away.",
            run: random_chunks,
        },
        Check {
            name: "keeps_the_carriage_return",
            misconception: "Clients such as telnet end lines with \\r\\n. The protocol drops a \\r before the \\n; \
                            otherwise it ends up inside the data.",
            run: crlf,
        },
        Check {
            name: "refuses_a_line_within_the_limit",
            misconception: "The limit is 1,024 bytes not counting the newline: a line of exactly 1,024 bytes \
                            is legal and must be answered.",
            run: longest_line,
        },
        Check {
            name: "has_no_line_length_limit",
            misconception: "A peer that never sends a newline would make the server buffer forever. Past \
                            1,024 bytes without one, answer ERR and close.",
            run: endless_line,
        },
        Check {
            name: "mishandles_an_unknown_command",
            misconception: "A request the server does not know gets an ERR line with a reason; the connection \
                            carries on, since the framing is still intact.",
            run: unknown_command,
        },
        Check {
            name: "ignores_half_close",
            misconception: "read() returning 0 means the client will send nothing more. Answer every complete \
                            request first, then shut down your side.",
            run: half_close,
        },
        Check {
            name: "ignores_quit",
            misconception: "QUIT is answered with BYE, then the server closes the connection.",
            run: quit,
        },
        Check {
            name: "loses_bytes_read_before_the_switch",
            misconception: "The read that brought BINARY may also have brought the first frame. Those bytes are \
                            already in your buffer: decode them with the new framing, do not start a fresh buffer.",
            run: switch_with_frame_in_same_write,
        },
        Check {
            name: "assumes_the_length_prefix_arrives_in_one_read",
            misconception: "Even the 4-byte length prefix can be split across reads. Wait until all 4 bytes \
                            are buffered before decoding it.",
            run: prefix_one_byte_at_a_time,
        },
        Check {
            name: "mangles_binary_payloads",
            misconception: "A length-prefixed payload is raw bytes: newlines, \\r and NUL are data, not \
                            delimiters, and the bytes need not be valid UTF-8.",
            run: binary_payload,
        },
        Check {
            name: "reads_the_length_prefix_little_endian",
            misconception: "The length is big-endian, \"network byte order\": 300 is 00 00 01 2c. Read as \
                            little-endian it becomes 738 million. Use u32::from_be_bytes.",
            run: length_byte_order,
        },
        Check {
            name: "has_no_frame_length_limit",
            misconception: "A length prefix is a promise made by the peer. Check it against the limit as soon as \
                            the 4 bytes are in, before waiting for (or allocating) the payload: answer ERR and close.",
            run: huge_frame,
        },
        Check {
            name: "refuses_a_frame_within_the_limit",
            misconception: "The limit is 1 MiB of payload: a frame of exactly 1,048,576 bytes is legal. It \
                            arrives in many reads; wait for all of it.",
            run: largest_frame,
        },
        Check {
            name: "dies_when_a_client_resets",
            misconception: "A client can vanish mid-message with a reset (RST). The error ends that connection, \
                            never the server.",
            run: reset_mid_message,
        },
        Check {
            name: "serves_only_one_client",
            misconception: "After one client is done, the server accepts the next.",
            run: clients_one_after_another,
        },
    ],
};

/// A request or response line, as the protocol frames it.
fn line(text: &[u8]) -> Vec<u8> {
    [text, b"\n"].concat()
}

/// A length-prefixed frame: 4 bytes of big-endian length, then the payload.
fn frame(payload: &[u8]) -> Vec<u8> {
    [&(payload.len() as u32).to_be_bytes()[..], payload].concat()
}

fn open(ctx: &Ctx) -> Result<TcpStream, Failure> {
    connect(ctx, ctx.addr("tcp"))
}

/// Request/expected-response pairs used in several checks: ECHO and REV of short texts.
fn requests(ctx: &Ctx, n: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut sent, mut want) = (Vec::new(), Vec::new());
    for i in 0..n {
        let data = format!("message {i}, {}", "xyz".repeat(ctx.below(20) as usize));
        if i % 2 == 0 {
            sent.extend(line(format!("ECHO {data}").as_bytes()));
            want.extend(line(data.as_bytes()));
        } else {
            sent.extend(line(format!("REV {data}").as_bytes()));
            want.extend(line(&data.bytes().rev().collect::<Vec<u8>>()));
        }
    }
    (sent, want)
}

/// Switch a fresh connection to frames: send BINARY, expect OK.
fn open_binary(ctx: &Ctx) -> Result<TcpStream, Failure> {
    let s = open(ctx)?;
    send(&s, b"BINARY\n")?;
    expect(ctx, &s, b"BINARY\n", b"OK\n")
        .map_err(|f| f.during("switching to frames with BINARY"))?;
    Ok(s)
}

/// Read one frame's header and payload (payloads up to `limit` bytes).
fn read_frame(ctx: &Ctx, s: &TcpStream, sent: &[u8], limit: usize) -> Result<Vec<u8>, Failure> {
    let header = wire::read_exactly(ctx, s, 4)
        .map_err(|f| f.during("reading a length prefix").sent(sent))?;
    let len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
    if len > limit {
        return Err(Failure::new(format!(
            "the response's length prefix says {len} bytes; expected at most {limit}"
        ))
        .sent(sent)
        .received(&header));
    }
    wire::read_exactly(ctx, s, len).map_err(|f| {
        f.during(&format!("reading a {len}-byte payload"))
            .sent(sent)
    })
}

fn simple_requests(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    for (req, resp) in [
        (&b"ECHO hello\n"[..], &b"hello\n"[..]),
        (b"REV stressed\n", b"desserts\n"),
    ] {
        send(&s, req)?;
        expect(ctx, &s, req, resp)?;
    }
    Ok(())
}

fn one_byte_at_a_time(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let req = b"REV one byte per write\n";
    let want = b"etirw rep etyb eno\n";
    wire::send_in_pieces(&s, req, || 1, Duration::from_millis(2)).map_err(|f| f.expected(want))?;
    expect(ctx, &s, req, want)
}

fn many_in_one_write(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let (sent, want) = requests(ctx, 40);
    send(&s, &sent)?;
    expect(ctx, &s, &sent, &want).map_err(|f| f.during("40 requests in one write"))
}

fn random_chunks(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let (sent, want) = requests(ctx, 30);
    wire::send_in_pieces(
        &s,
        &sent,
        || 1 + ctx.below(23) as usize,
        Duration::from_millis(1),
    )
    .map_err(|f| f.expected(&want))?;
    expect(ctx, &s, &sent, &want).map_err(|f| f.during("30 requests cut into random pieces"))
}

fn crlf(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    for (req, resp) in [
        (&b"ECHO crlf\r\n"[..], &b"crlf\n"[..]),
        (b"REV ab\r\n", b"ba\n"),
    ] {
        send(&s, req)?;
        expect(ctx, &s, req, resp)?;
    }
    Ok(())
}

fn longest_line(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let data = vec![b'x'; MAX_LINE - b"ECHO ".len()];
    let req = line(&[&b"ECHO "[..], &data].concat());
    send(&s, &req)?;
    expect(ctx, &s, &req, &line(&data))
        .map_err(|f| f.during("a request line of exactly 1,024 bytes"))
}

/// Expect an `ERR ...` line (or frame) and then the end of the connection.
fn expect_err_then_close(
    ctx: &Ctx,
    s: &TcpStream,
    sent: &[u8],
    framed: bool,
) -> Result<(), Failure> {
    let answer = if framed {
        read_frame(ctx, s, sent, 64 * 1024)?
    } else {
        wire::read_line(ctx, s, sent, 64 * 1024)?
    };
    if !answer.starts_with(b"ERR") {
        return Err(
            Failure::new("expected an ERR response naming the broken limit")
                .sent(sent)
                .expected(b"ERR ")
                .received(&answer),
        );
    }
    expect_eof(ctx, s, sent, "after the ERR response")
}

fn endless_line(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let req = vec![b'y'; MAX_LINE + 76];
    send(&s, &req)?;
    expect_err_then_close(ctx, &s, &req, false)
        .map_err(|f| f.during("1,100 bytes without a newline"))
}

fn unknown_command(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    for req in [&b"HELLO there\n"[..], b"\n", b"echo lowercase\n"] {
        send(&s, req)?;
        let answer = wire::read_line(ctx, &s, req, 4096)?;
        if !answer.starts_with(b"ERR ") {
            return Err(
                Failure::new("an unknown command must be answered with ERR and a reason")
                    .sent(req)
                    .expected(b"ERR ")
                    .received(&answer),
            );
        }
    }
    let req = b"ECHO still open\n";
    send(&s, req)?;
    expect(ctx, &s, req, b"still open\n").map_err(|f| f.during("after three ERR answers"))
}

fn half_close(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let req = b"ECHO a\nREV ab\n";
    send(&s, req)?;
    s.shutdown(Shutdown::Write).ok();
    expect(ctx, &s, req, b"a\nba\n").map_err(|f| f.during("we half-closed right after sending"))?;
    expect_eof(
        ctx,
        &s,
        req,
        "after answering everything we sent before half-closing",
    )
}

fn quit(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    send(&s, b"QUIT\n")?;
    expect(ctx, &s, b"QUIT\n", b"BYE\n")?;
    expect_eof(ctx, &s, b"QUIT\n", "after BYE")
}

fn switch_with_frame_in_same_write(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let req = [&b"BINARY\n"[..], &frame(b"REV abc")].concat();
    send(&s, &req)?;
    let want = [&b"OK\n"[..], &frame(b"cba")].concat();
    expect(ctx, &s, &req, &want).map_err(|f| f.during("BINARY and the first frame in one write"))
}

fn prefix_one_byte_at_a_time(ctx: &Ctx) -> Result<(), Failure> {
    let s = open_binary(ctx)?;
    let req = frame(b"ECHO split prefix");
    let want = frame(b"split prefix");
    wire::send_in_pieces(&s, &req, || 1, Duration::from_millis(3))
        .map_err(|f| f.expected(&want))?;
    expect(ctx, &s, &req, &want).map_err(|f| f.during("a frame sent one byte per write"))
}

fn binary_payload(ctx: &Ctx) -> Result<(), Failure> {
    let s = open_binary(ctx)?;
    let mut data: Vec<u8> = (0..=255u8).collect();
    data.extend_from_slice(b"\n\r\n\0\xff\xfe");
    let req = frame(&[&b"ECHO "[..], &data].concat());
    send(&s, &req)?;
    expect(ctx, &s, &req, &frame(&data))?;
    let req = frame(&[&b"REV "[..], &data].concat());
    send(&s, &req)?;
    let reversed: Vec<u8> = data.iter().rev().copied().collect();
    expect(ctx, &s, &req, &frame(&reversed))
}

fn length_byte_order(ctx: &Ctx) -> Result<(), Failure> {
    let s = open_binary(ctx)?;
    let data = vec![b'z'; 295]; // "ECHO " + 295 = 300 bytes: prefix 00 00 01 2c
    let req = frame(&[&b"ECHO "[..], &data].concat());
    send(&s, &req)?;
    expect(ctx, &s, &req, &frame(&data)).map_err(|f| f.during("a 300-byte frame"))
}

fn huge_frame(ctx: &Ctx) -> Result<(), Failure> {
    let s = open_binary(ctx)?;
    let req = 0xFFFF_FFF0u32.to_be_bytes();
    send(&s, &req)?;
    expect_err_then_close(ctx, &s, &req, true).map_err(|f| f.during("a length prefix of 4 GiB"))
}

fn largest_frame(ctx: &Ctx) -> Result<(), Failure> {
    let s = open(ctx)?;
    let data = ctx.bytes(MAX_FRAME - b"ECHO ".len());
    let req = [&b"BINARY\n"[..], &frame(&[&b"ECHO "[..], &data].concat())].concat();
    let want = [&b"OK\n"[..], &frame(&data)].concat();
    let pieces = (0..32).map(|_| 1 + ctx.below(100_000) as usize).collect();
    let got = wire::exchange_while_reading(ctx, &s, req, pieces, want.len())
        .map_err(|f| f.during("a frame of exactly 1 MiB"))?;
    if got != want {
        return Err(Failure::new("the response to a 1 MiB frame differs")
            .expected(&want)
            .received(&got));
    }
    expect_eof(
        ctx,
        &s,
        b"",
        "after answering everything we sent before half-closing",
    )
}

fn reset_mid_message(ctx: &Ctx) -> Result<(), Failure> {
    let rude = open(ctx)?;
    let writer = rude
        .try_clone()
        .map_err(|e| Failure::new(format!("grader: {e}")))?;
    let (flood, _) = requests(ctx, 8000);
    let sending = thread::spawn(move || {
        use std::io::Write;
        let _ = (&writer).write_all(&flood);
        let _ = (&writer).write_all(b"ECHO and then the connection is reset mid-mess");
    });
    thread::sleep(Duration::from_millis(300));
    wire::reset(rude);
    let _ = sending.join();
    thread::sleep(Duration::from_millis(200));
    let after = "after another client reset its connection mid-message";
    let s = open(ctx).map_err(|f| f.during(after))?;
    send(&s, b"REV still here\n")?;
    expect(ctx, &s, b"REV still here\n", b"ereh llits\n").map_err(|f| f.during(after))
}

fn clients_one_after_another(ctx: &Ctx) -> Result<(), Failure> {
    for i in 1..=3 {
        let client = format!("client {i} of 3, one after another");
        let s = open(ctx).map_err(|f| f.during(&client))?;
        let req = line(format!("ECHO client {i}").as_bytes());
        send(&s, &req)?;
        expect(ctx, &s, &req, &line(format!("client {i}").as_bytes()))
            .map_err(|f| f.during(&client))?;
        send(&s, b"QUIT\n")?;
        expect(ctx, &s, b"QUIT\n", b"BYE\n").map_err(|f| f.during(&client))?;
        expect_eof(ctx, &s, b"QUIT\n", &format!("{client}, after BYE"))?;
    }
    Ok(())
}
