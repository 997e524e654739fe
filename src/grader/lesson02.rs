//! Checks for lesson 02, a UDP echo server: each datagram comes back whole, as one datagram,
//! to the address it came from, from the address it was sent to.
//!
//! Datagrams can be lost even on loopback, so every request is tried up to three times (see
//! [`wire::udp_echo`]); a correct server never needs the retries.

use super::wire::{self, timed_out, udp_echo};
use super::{Check, Ctx, Failure, Suite};
use std::time::{Duration, Instant};

pub const SUITE: Suite = Suite {
    lesson: 2,
    listeners: &["udp"],
    checks: &[
        Check {
            name: "does_not_echo_a_datagram",
            misconception: "A UDP server has no connection to accept: recvfrom() on the bound socket returns \
                            each datagram and its sender, and sendto() answers that sender.",
            run: one_datagram,
        },
        Check {
            name: "truncates_large_datagrams",
            misconception: "recvfrom() cuts a datagram longer than the buffer and the rest is gone, with no \
                            error. A UDP datagram can carry up to 65,507 bytes over IPv4: size the buffer for that.",
            run: large_datagrams,
        },
        Check {
            name: "does_not_keep_datagram_boundaries",
            misconception: "Each sendto() is one datagram and each recvfrom() returns exactly one. Echo a \
                            datagram as one datagram: never split it, never join two.",
            run: boundaries_kept,
        },
        Check {
            name: "replies_to_the_wrong_sender",
            misconception: "Many clients share the server's one socket. Reply to the address recvfrom() returned \
                            for *this* datagram; do not connect() the server socket to its first client.",
            run: two_clients_interleaved,
        },
        Check {
            name: "stops_after_a_few_datagrams",
            misconception: "There is no end of stream in UDP: the server loops on recvfrom() for as long as it runs.",
            run: many_in_a_row,
        },
    ],
};

fn addr(ctx: &Ctx) -> std::net::SocketAddr {
    ctx.addr("udp")
}

fn one_datagram(ctx: &Ctx) -> Result<(), Failure> {
    let sock = wire::udp_socket(ctx, addr(ctx))?;
    udp_echo(ctx, &sock, addr(ctx), b"hello, datagram", &[])
}

fn large_datagrams(ctx: &Ctx) -> Result<(), Failure> {
    let sock = wire::udp_socket(ctx, addr(ctx))?;
    let mut earlier = Vec::new();
    // Around the Ethernet MTU, a jumbo frame, and the IPv4 maximum.
    for size in [1472, 1473, 9000, 65_507] {
        let mut datagram = ctx.bytes(size);
        datagram[..4].copy_from_slice(&(size as u32).to_be_bytes());
        udp_echo(ctx, &sock, addr(ctx), &datagram, &earlier)
            .map_err(|f| f.during(&format!("a datagram of {size} bytes")))?;
        earlier.push(datagram);
    }
    Ok(())
}

fn boundaries_kept(ctx: &Ctx) -> Result<(), Failure> {
    let sock = wire::udp_socket(ctx, addr(ctx))?;
    // Five datagrams sent back to back, without waiting: each must come back as one datagram,
    // unchanged. (On loopback they come back in order, but order is not part of the promise.)
    let sent: Vec<Vec<u8>> = (0..5)
        .map(|i| {
            let mut d = format!("datagram {i}:").into_bytes();
            d.extend(std::iter::repeat_n(
                b'a' + i as u8,
                1 + ctx.below(1800) as usize,
            ));
            d
        })
        .collect();
    for d in &sent {
        sock.send_to(d, addr(ctx))
            .map_err(|e| Failure::new(format!("sendto: {e}")))?;
    }
    let mut missing = sent.clone();
    let mut buf = vec![0u8; 70_000];
    let deadline = Instant::now() + ctx.timeout;
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        sock.set_read_timeout(Some(left)).ok();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => match missing.iter().position(|d| d[..] == buf[..n]) {
                Some(i) => {
                    missing.remove(i);
                }
                None => {
                    let closest = missing
                        .iter()
                        .find(|d| d.starts_with(&buf[..n.min(12)]))
                        .unwrap_or(&missing[0]);
                    return Err(Failure::new(format!(
                        "a reply of {n} bytes is not one of the datagrams sent: {}",
                        if n < closest.len() {
                            "part of a datagram (split?)"
                        } else {
                            "longer than the datagram (joined with another?)"
                        }
                    ))
                    .sent(closest)
                    .expected(closest)
                    .received(&buf[..n]));
                }
            },
            Err(e) if timed_out(&e) => break,
            Err(e) => return Err(Failure::new(format!("recvfrom: {e}"))),
        }
    }
    match missing.first() {
        None => Ok(()),
        // Loss is possible even on loopback: give each missing one the usual retries.
        Some(_) => {
            for d in &missing {
                udp_echo(ctx, &sock, addr(ctx), d, &sent)
                    .map_err(|f| f.during("datagrams sent back to back"))?;
            }
            Ok(())
        }
    }
}

fn two_clients_interleaved(ctx: &Ctx) -> Result<(), Failure> {
    let a = wire::udp_socket(ctx, addr(ctx))?;
    let b = wire::udp_socket(ctx, addr(ctx))?;
    let mut earlier = Vec::new();
    for round in 0..3 {
        for (name, sock) in [("A", &a), ("B", &b)] {
            let d = format!("client {name}, round {round}").into_bytes();
            udp_echo(ctx, sock, addr(ctx), &d, &earlier).map_err(|f| {
                f.during(&format!(
                    "two clients taking turns, client {name} in round {round}"
                ))
            })?;
            earlier.push(d);
        }
    }
    Ok(())
}

fn many_in_a_row(ctx: &Ctx) -> Result<(), Failure> {
    let sock = wire::udp_socket(ctx, addr(ctx))?;
    let mut earlier = Vec::new();
    for i in 0..50 {
        let d = format!("datagram {i} of 50").into_bytes();
        udp_echo(ctx, &sock, addr(ctx), &d, &earlier)
            .map_err(|f| f.during(&format!("datagram {i} of 50")))?;
        earlier.push(d);
    }
    // And a new client after all that.
    std::thread::sleep(Duration::from_millis(10));
    let late = wire::udp_socket(ctx, addr(ctx))?;
    udp_echo(ctx, &late, addr(ctx), b"a new client", &[])
        .map_err(|f| f.during("a new client after 50 datagrams"))
}
