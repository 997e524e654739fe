//! Checks for lesson 01, a TCP echo server: every byte that arrives goes back, in order,
//! nothing added; when the client half-closes, the server sends what is left and closes too.
//!
//! The server may serve one client at a time (the reference does), so every check finishes
//! with its connections before the next check starts.

use super::wire::{self, connect, expect, expect_eof, send};
use super::{Check, Ctx, Failure, Suite};
use std::thread;
use std::time::Duration;

pub const SUITE: Suite = Suite {
    lesson: 1,
    listeners: &["tcp"],
    checks: &[
        Check {
            name: "waits_for_end_of_stream_before_echoing",
            misconception: "An echo server answers bytes as they arrive. A client may wait for the echo \
                            before it sends more, so a server that reads until end of stream first never answers it.",
            run: interactive,
        },
        Check {
            name: "stops_after_the_first_read",
            misconception: "One connection carries any number of reads. Keep reading until read() returns 0 \
                            (end of stream); one read is not the whole conversation.",
            run: several_round_trips,
        },
        Check {
            name: "assumes_one_read_is_one_message",
            misconception: "TCP is a byte stream: the client's bytes may arrive one at a time, and each read() \
                            returns only what has arrived so far. Echo each piece; never wait for a \"whole\" message.",
            run: one_byte_writes,
        },
        Check {
            name: "assumes_one_write_is_one_read",
            misconception: "Several writes by the client can arrive together in one read(). Echo every byte \
                            the read returned, not just the first line or the first message.",
            run: coalesced_writes,
        },
        Check {
            name: "corrupts_large_payloads",
            misconception: "A multi-megabyte payload arrives in many reads of varying size, and write() may \
                            accept only part of a buffer. Write back exactly the n bytes each read returned \
                            (buf[..n], not the whole buffer), all of them (write_all), as raw bytes (not text).",
            run: large_payload,
        },
        Check {
            name: "ignores_half_close",
            misconception: "read() returning 0 means the client has shut down its sending side (SHUT_WR), \
                            not that it stopped listening. Send back every byte, including a last line without \
                            a newline, then shut down your side so the client sees end of stream.",
            run: half_close,
        },
        Check {
            name: "dies_when_a_client_resets",
            misconception: "A client can vanish mid-message with a reset (RST): the next read or write fails \
                            with ECONNRESET or EPIPE. That error ends that connection, never the server.",
            run: reset_mid_message,
        },
        Check {
            name: "serves_only_one_client",
            misconception: "A server goes back to accept() after each client: the listening socket stays \
                            open for the next connection.",
            run: clients_one_after_another,
        },
    ],
};

fn addr(ctx: &Ctx) -> std::net::SocketAddr {
    ctx.addr("tcp")
}

fn interactive(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, addr(ctx))?;
    let msg = b"hello, echo\n";
    send(&s, msg)?;
    expect(ctx, &s, msg, msg)
        .map_err(|f| f.during("with the connection left open, as an interactive client leaves it"))
}

fn several_round_trips(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, addr(ctx))?;
    for (i, msg) in [&b"one\n"[..], b"two, a little longer\n", b"three\n"]
        .iter()
        .enumerate()
    {
        let round = format!(
            "message {} of 3 on one connection, each sent after the previous echo",
            i + 1
        );
        send(&s, msg).map_err(|f| f.during(&round))?;
        expect(ctx, &s, msg, msg).map_err(|f| f.during(&round))?;
    }
    Ok(())
}

fn one_byte_writes(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, addr(ctx))?;
    let msg = b"sent one byte per write: a stream has no message boundaries\n";
    wire::send_in_pieces(&s, msg, || 1, Duration::from_millis(2)).map_err(|f| f.expected(msg))?;
    expect(ctx, &s, msg, msg)
}

fn coalesced_writes(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, addr(ctx))?;
    let mut batch = Vec::new();
    for i in 0..40 {
        batch.extend_from_slice(format!("message {i} of 40\n").as_bytes());
    }
    send(&s, &batch)?;
    expect(ctx, &s, &batch, &batch)
}

fn large_payload(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, addr(ctx))?;
    // An odd size, random bytes (not text), written in pieces of odd sizes.
    let len = 3 * 1024 * 1024 + 7 + ctx.below(4096) as usize;
    let payload = ctx.bytes(len);
    let pieces: Vec<usize> = (0..64).map(|_| 1 + ctx.below(150_000) as usize).collect();
    let got = wire::exchange_while_reading(ctx, &s, payload.clone(), pieces, len)
        .map_err(|f| f.during(&format!("echoing {len} random bytes")))?;
    if got != payload {
        return Err(Failure::new(format!(
            "the echo of {len} random bytes differs from what was sent"
        ))
        .expected(&payload)
        .received(&got));
    }
    expect_eof(
        ctx,
        &s,
        b"",
        "after the whole payload came back and we half-closed",
    )
}

fn half_close(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, addr(ctx))?;
    let msg = b"first line\nthe last line has no newline";
    send(&s, msg)?;
    // shutdown(SHUT_WR): our FIN. We can still read.
    s.shutdown(std::net::Shutdown::Write)
        .map_err(|e| Failure::new(format!("grader: shutdown: {e}")))?;
    expect(ctx, &s, msg, msg).map_err(|f| f.during("we had half-closed right after sending"))?;
    expect_eof(
        ctx,
        &s,
        msg,
        "after echoing everything we sent before half-closing",
    )
}

fn reset_mid_message(ctx: &Ctx) -> Result<(), Failure> {
    // A client that sends a lot, reads nothing, and then resets: the server is busy writing
    // echoes to it when the reset arrives.
    let rude = connect(ctx, addr(ctx))?;
    let junk = ctx.bytes(512 * 1024);
    let writer = rude
        .try_clone()
        .map_err(|e| Failure::new(format!("grader: {e}")))?;
    let sending = thread::spawn(move || {
        use std::io::Write;
        let _ = (&writer).write_all(&junk);
    });
    thread::sleep(Duration::from_millis(300));
    wire::reset(rude);
    let _ = sending.join();
    thread::sleep(Duration::from_millis(200));

    let after = "after another client reset its connection mid-message";
    let polite = connect(ctx, addr(ctx)).map_err(|f| f.during(after))?;
    let msg = b"still serving after a reset?\n";
    send(&polite, msg)?;
    expect(ctx, &polite, msg, msg).map_err(|f| f.during(after))
}

fn clients_one_after_another(ctx: &Ctx) -> Result<(), Failure> {
    for i in 1..=5 {
        let client = format!("client {i} of 5, one after another");
        let s = connect(ctx, addr(ctx)).map_err(|f| f.during(&client))?;
        let msg = format!("client {i} says hello\n").into_bytes();
        send(&s, &msg)?;
        expect(ctx, &s, &msg, &msg).map_err(|f| f.during(&client))?;
        s.shutdown(std::net::Shutdown::Write).ok();
        expect_eof(ctx, &s, &msg, &format!("{client}, after it half-closed"))?;
    }
    Ok(())
}
