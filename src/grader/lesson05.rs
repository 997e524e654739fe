//! Checks for lesson 05, an echo server for TCP and UDP on one event loop.
//!
//! The server must first pass lesson 01's TCP checks and lesson 02's UDP checks (see
//! `Suite::all_checks`). What this lesson adds is *concurrency without threads*: many clients
//! at once, none able to hold up the others, TCP and UDP served side by side, and memory that
//! a misbehaving client cannot grow.

use super::procfs;
use super::wire::{self, connect, expect, send};
use super::{Check, Ctx, Failure, Suite};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 5,
    listeners: &["tcp", "udp"],
    checks: &[
        Check {
            name: "serves_one_client_at_a_time",
            misconception: "With non-blocking sockets and one poll, no client waits for another: a second \
                            connection is echoed while the first is still open and silent.",
            run: second_client_while_first_is_open,
        },
        Check {
            name: "cannot_hold_many_connections",
            misconception: "An event loop holds thousands of connections in one thread: each is a token \
                            and a small slot, not a thread or a big buffer.",
            run: many_connections_at_once,
        },
        Check {
            name: "a_slow_reader_stalls_everyone",
            misconception: "A client that sends but never reads must not block the loop: queue what cannot \
                            be written, register WRITABLE, and stop reading from that client (backpressure) \
                            while the others carry on.",
            run: slow_reader_does_not_stall_others,
        },
        Check {
            name: "udp_waits_behind_tcp",
            misconception: "TCP and UDP sockets sit on the same poll: a datagram is answered even while a TCP \
                            client is connected and sends half a message.",
            run: udp_while_tcp_is_busy,
        },
        Check {
            name: "memory_grows_with_a_slow_reader",
            misconception: "Echoes a client does not read pile up in user space unless the server stops \
                            reading from that client: without backpressure, one client can exhaust memory.",
            run: slow_reader_memory_is_bounded,
        },
        Check {
            name: "leaks_closed_connections",
            misconception: "Every connection's socket must be closed (deregistered and dropped) when the peer \
                            half-closes or resets; leaked descriptors run the server out of files.",
            run: closed_connections_are_released,
        },
    ],
};

fn tcp(ctx: &Ctx) -> std::net::SocketAddr {
    ctx.addr("tcp")
}

fn second_client_while_first_is_open(ctx: &Ctx) -> Result<(), Failure> {
    let first = connect(ctx, tcp(ctx))?;
    send(&first, b"first client, no newline yet")?;
    let second = connect(ctx, tcp(ctx))?;
    let msg = b"second client, while the first is open\n";
    send(&second, msg)?;
    expect(ctx, &second, msg, msg)
        .map_err(|f| f.during("a second client while the first stays connected"))?;
    expect(
        ctx,
        &first,
        b"first client, no newline yet",
        b"first client, no newline yet",
    )
}

fn many_connections_at_once(ctx: &Ctx) -> Result<(), Failure> {
    const N: usize = 1000;
    // The grader needs the descriptors too.
    let _ = crate::event_loop::raise_fd_limit();
    let mut conns: Vec<TcpStream> = Vec::with_capacity(N);
    for i in 0..N {
        let s = connect(ctx, tcp(ctx)).map_err(|f| {
            f.during(&format!(
                "opening connection {} of {N}, all kept open",
                i + 1
            ))
        })?;
        conns.push(s);
    }
    for (i, s) in conns.iter().enumerate() {
        send(s, format!("connection {i}\n").as_bytes())?;
    }
    for (i, s) in conns.iter().enumerate() {
        let msg = format!("connection {i}\n");
        expect(ctx, s, msg.as_bytes(), msg.as_bytes())
            .map_err(|f| f.during(&format!("{N} connections open at once, connection {i}")))?;
    }
    Ok(())
}

/// A client that writes without reading, in a thread, for at most `limit` bytes or `time`.
/// Returns how many bytes it managed to write.
fn flood(stream: TcpStream, limit: usize, time: Duration) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        stream
            .set_write_timeout(Some(Duration::from_millis(300)))
            .ok();
        let chunk = vec![b'z'; 64 * 1024];
        let (mut sent, start) = (0, Instant::now());
        while sent < limit && start.elapsed() < time {
            match (&stream).write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if wire::timed_out(&e) => {} // blocked: flow control reached us
                Err(_) => break,
            }
        }
        wire::reset(stream);
        sent
    })
}

fn slow_reader_does_not_stall_others(ctx: &Ctx) -> Result<(), Failure> {
    let slow = connect(ctx, tcp(ctx))?;
    let flooding = flood(slow, 256 << 20, Duration::from_secs(3));
    thread::sleep(Duration::from_millis(300));
    let other = connect(ctx, tcp(ctx))
        .map_err(|f| f.during("while another client floods without reading"))?;
    for i in 0..20 {
        let msg = format!("round trip {i} beside a client that does not read\n");
        send(&other, msg.as_bytes())?;
        expect(ctx, &other, msg.as_bytes(), msg.as_bytes())
            .map_err(|f| f.during("while another client floods without reading"))?;
        thread::sleep(Duration::from_millis(50));
    }
    let _ = flooding.join();
    Ok(())
}

fn udp_while_tcp_is_busy(ctx: &Ctx) -> Result<(), Failure> {
    let s = connect(ctx, tcp(ctx))?;
    let first = b"half a message, and the client waits";
    send(&s, first)?;
    let sock = wire::udp_socket(ctx, ctx.addr("udp"))?;
    let datagram = b"a datagram while TCP is busy";
    wire::udp_echo(ctx, &sock, ctx.addr("udp"), datagram, &[])
        .map_err(|f| f.during("a TCP client connected and mid-message"))?;
    // And the TCP client was not forgotten meanwhile.
    send(&s, b" ... and the rest\n")?;
    let whole = b"half a message, and the client waits ... and the rest\n";
    expect(ctx, &s, whole, whole)
        .map_err(|f| f.during("the TCP client, after the datagram was answered"))
}

/// How much the server's resident memory may grow while a client floods it without reading.
const RSS_BOUND: u64 = 32 << 20;

fn slow_reader_memory_is_bounded(ctx: &Ctx) -> Result<(), Failure> {
    let pid = procfs::server_pid(tcp(ctx)).map_err(Failure::new)?;
    let before = procfs::rss_bytes(pid).map_err(Failure::new)?;
    let slow = connect(ctx, tcp(ctx))?;
    let flooding = flood(slow, 256 << 20, Duration::from_secs(4));
    let mut peak = before;
    while !flooding.is_finished() {
        if let Ok(rss) = procfs::rss_bytes(pid) {
            peak = peak.max(rss);
        }
        thread::sleep(Duration::from_millis(100));
    }
    let sent = flooding.join().unwrap_or(0);
    // A server that died (or stopped serving) also keeps its memory flat: prove it is alive.
    let after = "after a client flooded it without reading";
    let probe = connect(ctx, tcp(ctx)).map_err(|f| f.during(after))?;
    send(&probe, b"still there?\n")?;
    expect(ctx, &probe, b"still there?\n", b"still there?\n").map_err(|f| f.during(after))?;
    let growth = peak.saturating_sub(before);
    if growth > RSS_BOUND {
        return Err(Failure::new(format!(
            "a client wrote {} MiB and read nothing; the server's resident memory grew by {} MiB \
             (from {} to {} MiB), more than the {} MiB allowed",
            sent >> 20,
            growth >> 20,
            before >> 20,
            peak >> 20,
            RSS_BOUND >> 20
        )));
    }
    Ok(())
}

fn closed_connections_are_released(ctx: &Ctx) -> Result<(), Failure> {
    let pid = procfs::server_pid(tcp(ctx)).map_err(Failure::new)?;
    let baseline = procfs::fd_count(pid).map_err(Failure::new)?;
    let mut conns = Vec::new();
    for i in 0..60 {
        let s = connect(ctx, tcp(ctx))?;
        let msg = format!("client {i}\n");
        send(&s, msg.as_bytes())?;
        expect(ctx, &s, msg.as_bytes(), msg.as_bytes())?;
        conns.push(s);
    }
    for (i, s) in conns.into_iter().enumerate() {
        match i % 3 {
            0 => wire::reset(s),
            1 => {
                let _ = s.shutdown(Shutdown::Write); // half-close, then let the server close
                let _ = wire::expect_eof(ctx, &s, b"", "after half-closing");
            }
            _ => drop(s),
        }
    }
    procfs::wait_for_fd_count(pid, baseline, Duration::from_secs(5)).map_err(|now| {
        Failure::new(format!(
            "60 clients came and went (a third reset, a third half-closed, a third closed), but the \
             server holds {now} open file descriptors, {} more than the {baseline} it had before",
            now.saturating_sub(baseline)
        ))
    })
}
