//! Checks for the chat protocol of lessons 04 (a thread per connection) and 06 (an event loop),
//! specified in lessons/04-threaded-chat/PROTOCOL.md:
//!
//! - every message is a line; the server greets with `HELLO <idle-seconds>`;
//! - `NICK`, `JOIN`, `LEAVE`, `SAY`, `PING`, `QUIT` are answered as the table there says, and a
//!   `SAY` reaches every member of the room once, the sender included, each sender's messages in
//!   the order sent;
//! - members hear `JOINED` and `LEFT`; a client that goes away in any manner leaves its rooms;
//! - a silent client is closed after the idle timeout; a client that does not read is dropped
//!   before it can hold up the others or grow the server's memory.
//!
//! Nothing here assumes the order of lines from *different* senders: only what one sender's
//! actions imply. Some checks look at the server's process through /proc ([`procfs`]) when it
//! runs on this machine: its file descriptors and its resident memory.
//!
//! The grader's client side is [`Chatter`], a few dozen lines of its own: a line reader with a
//! deadline on every read, and a writer.

use super::procfs;
use super::wire::{self, timed_out};
use super::{Check, Ctx, Failure, Suite};
use socket2::SockRef;
use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

/// Longest line, not counting the `\n`.
const MAX_LINE: usize = 1024;
/// The idle timeouts the grader is willing to wait for.
const MAX_IDLE_GRADED: u64 = 120;
/// The flooder never has more than this many of its own lines (about 32 KiB) waiting for their
/// echo, so it can never be the slow one.
const FLOOD_WINDOW: usize = 32;
/// A flood line's length: close to the limit, so that few lines make many bytes.
const FLOOD_LINE: usize = 1000;
/// What the flooder sends while a member does not read, when only stalls are looked for.
const FLOOD_BYTES: usize = 20 << 20;
/// How far it goes, at most, waiting for the server to drop the member that does not read.
const FLOOD_CAP: usize = 96 << 20;
/// How much the server's resident memory may grow meanwhile.
const RSS_GROWTH_BOUND: u64 = 64 << 20;
/// Clients that connect and then half-close or reset, in the descriptor check.
const DEPARTING: usize = 50;
/// Descriptors a server may open on its own along the way (a runtime's lazy file or two).
const FD_SLACK: usize = 2;

const CHECKS: &[Check] = &[
    Check {
        name: "sends_no_greeting",
        misconception: "The server speaks first: as soon as it accepts, it sends HELLO and the idle timeout \
                        in seconds, before the client has said anything.",
        run: greeting,
    },
    Check {
        name: "does_not_deliver_messages_to_the_room",
        misconception: "SAY is a broadcast: the line goes to every member of the room, not back to the \
                        sender only.",
        run: round_trip,
    },
    Check {
        name: "leaves_the_sender_out_of_the_broadcast",
        misconception: "The sender is a member too: it receives its own MSG line like everyone else, which \
                        is how it knows where its message falls among the others'.",
        run: sender_included,
    },
    Check {
        name: "assumes_one_read_is_one_command",
        misconception: "TCP delivers bytes, not lines: one read may hold three commands or a third of one. \
                        Buffer the bytes and run every complete line, and only complete lines.",
        run: split_and_coalesced,
    },
    Check {
        name: "allows_duplicate_nicks",
        misconception: "A nick names one connected client: NICK must refuse a nick another client holds, \
                        or messages can no longer be told apart.",
        run: duplicate_nick,
    },
    Check {
        name: "never_frees_the_nick_of_a_client_that_left",
        misconception: "A nick belongs to a connection: when the client quits, closes or resets, its nick \
                        must become free for the next client.",
        run: nick_freed,
    },
    Check {
        name: "does_not_announce_joins",
        misconception: "When a client joins, the members already in the room receive JOINED <room> <nick> \
                        (once each); the newcomer itself gets only OK JOIN.",
        run: joins_announced,
    },
    Check {
        name: "does_not_announce_leave_or_quit",
        misconception: "LEAVE and QUIT take the client out of its rooms and the members that remain \
                        receive LEFT <room> <nick>; after LEAVE, the room's messages stop reaching it.",
        run: leave_and_quit_announced,
    },
    Check {
        name: "keeps_disconnected_clients_in_their_rooms",
        misconception: "A client can vanish without QUIT: end of stream (close or half-close) and a reset \
                        mean it is gone. Remove it from every room and announce LEFT, or its room keeps a ghost.",
        run: disconnects_announced,
    },
    Check {
        name: "loses_reorders_or_duplicates_messages",
        misconception: "With many senders at once, every member must get every MSG exactly once, each \
                        sender's in the order sent: one lock (or one thread) must decide the order of a room, \
                        and each line must be queued once per member.",
        run: many_senders,
    },
    Check {
        name: "leaks_messages_into_other_rooms",
        misconception: "A room's messages go to its members only: not to other rooms, not to clients in no \
                        room, and once to a client in several rooms.",
        run: other_rooms,
    },
    Check {
        name: "has_no_idle_timeout",
        misconception: "A client that sends nothing for the idle timeout gets ERR idle timeout and is \
                        closed; without it, dead peers (a laptop closed, a cable pulled) hold a connection forever.",
        run: idle_timeout,
    },
    Check {
        name: "times_out_a_client_that_keeps_pinging",
        misconception: "The idle timer restarts at every line the client sends: a client that sends PING \
                        regularly is not idle, however long it stays.",
        run: pings_keep_alive,
    },
    Check {
        name: "blocks_the_room_on_a_slow_member",
        misconception: "A member that does not read must not slow the others: never write to a member's \
                        socket from the sender's thread (or while holding the lock); queue the line for the \
                        member's own writer, and never wait for room in that queue.",
        run: slow_member_does_not_stall,
    },
    Check {
        name: "never_drops_a_slow_consumer",
        misconception: "A queue without a bound turns one client that stops reading into unbounded memory. \
                        Bound each client's queue; when a line does not fit, drop that client and announce LEFT.",
        run: slow_member_is_dropped,
    },
    Check {
        name: "leaks_descriptors_of_departed_clients",
        misconception: "Every departed client's socket must be closed, whether it half-closed or reset: a \
                        thread that ends without dropping its socket, or a copy kept in the shared state, leaks \
                        one descriptor per client until accept() fails with EMFILE.",
        run: descriptors_released,
    },
    Check {
        name: "has_no_line_length_limit",
        misconception: "A client that never sends a newline would make the server buffer forever. Past \
                        1,024 bytes without one, answer ERR and close.",
        run: endless_line,
    },
    Check {
        name: "refuses_a_line_within_the_limit",
        misconception: "The limit is 1,024 bytes not counting the newline: a line of exactly 1,024 bytes \
                        is legal.",
        run: longest_line,
    },
    Check {
        name: "closes_on_an_unknown_command",
        misconception: "An unknown command is the client's mistake, not a broken stream: answer ERR with a \
                        reason and keep the connection open.",
        run: unknown_commands,
    },
    Check {
        name: "ignores_the_command_rules",
        misconception: "The server enforces the rules: a nick before JOIN or SAY, valid names (1 to 32 of \
                        A-Z a-z 0-9 _ -), SAY and LEAVE only in rooms one is in, no second JOIN; each broken \
                        rule is an ERR, and the connection goes on.",
        run: command_rules,
    },
    Check {
        name: "ignores_quit",
        misconception: "QUIT is answered with BYE, then the server closes the connection.",
        run: quit,
    },
];

/// Lesson 04: the chat with one thread per connection.
pub const SUITE04: Suite = Suite {
    lesson: 4,
    listeners: &["tcp"],
    checks: CHECKS,
};

/// Lesson 06: the same chat on an event loop, judged by the same checks.
pub const SUITE06: Suite = Suite {
    lesson: 6,
    listeners: &["tcp"],
    checks: CHECKS,
};

// ---- The grader's chat client ------------------------------------------------------------

/// What the next read brought.
enum Next {
    Line(Vec<u8>),
    /// End of stream, with the bytes of an unfinished line, if any.
    Eof(Vec<u8>),
    Timeout(Vec<u8>),
    Failed(io::Error, Vec<u8>),
}

/// One connection to the chat server: reads lines with a deadline, writes requests, and keeps
/// what is needed to explain a failure (who it is, what it sent last).
struct Chatter {
    who: String,
    stream: TcpStream,
    /// Received bytes; `pending[start..]` are not yet returned as lines.
    pending: Vec<u8>,
    start: usize,
    /// The last request sent, shown as evidence.
    sent: Vec<u8>,
    /// The idle timeout the greeting announced.
    idle: u64,
    timeout: Duration,
    /// Acknowledge every read at once (see `next`).
    quickack: bool,
}

impl Chatter {
    /// Connect and read the greeting.
    fn open(ctx: &Ctx, who: &str) -> Result<Chatter, Failure> {
        let stream = wire::connect(ctx, ctx.addr("tcp")).map_err(|f| f.during(who))?;
        let mut c = Chatter {
            who: who.to_string(),
            stream,
            pending: Vec::new(),
            start: 0,
            sent: Vec::new(),
            idle: 0,
            timeout: ctx.timeout,
            quickack: false,
        };
        let hello = c.line().map_err(|f| f.during("waiting for the greeting"))?;
        let idle = std::str::from_utf8(&hello)
            .ok()
            .and_then(|h| h.strip_prefix("HELLO "))
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|n| n.parse().ok())
            .filter(|&n: &u64| n > 0);
        match idle {
            Some(n) => c.idle = n,
            None => return Err(c.fail(
                "the first line must be the greeting HELLO <idle-seconds>, a whole number above 0",
                b"HELLO 30",
                &hello,
            )),
        }
        Ok(c)
    }

    /// Connect, take the nick and join the room: `OK NICK` and `OK JOIN` expected.
    fn member(ctx: &Ctx, nick: &str, room: &str) -> Result<Chatter, Failure> {
        let mut c = Chatter::named(ctx, nick)?;
        c.request(&format!("JOIN {room}"), &format!("OK JOIN {room}"))?;
        Ok(c)
    }

    /// Connect and take a nick.
    fn named(ctx: &Ctx, nick: &str) -> Result<Chatter, Failure> {
        let mut c = Chatter::open(ctx, nick)?;
        c.request(&format!("NICK {nick}"), &format!("OK NICK {nick}"))?;
        Ok(c)
    }

    /// A failure with this client's evidence: what it sent last, what was expected, what came.
    /// Empty evidence is left out, except what came back when something was expected.
    fn fail(&self, what: impl Into<String>, expected: &[u8], received: &[u8]) -> Failure {
        let mut failure = Failure::new(what.into()).during(&self.who);
        if !self.sent.is_empty() {
            failure = failure.sent(&self.sent);
        }
        if !expected.is_empty() {
            failure = failure.expected(expected);
        }
        if !expected.is_empty() || !received.is_empty() {
            failure = failure.received(received);
        }
        failure
    }

    /// Send one request line (the `\n` is added).
    fn send(&mut self, request: &str) -> Result<(), Failure> {
        self.send_raw(format!("{request}\n").as_bytes())
    }

    fn send_raw(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        self.sent = bytes[..bytes.len().min(2048)].to_vec();
        (&self.stream).write_all(bytes).map_err(|e| {
            Failure::new(format!(
                "sending failed: {e}; the server closed or reset the connection"
            ))
            .sent(&self.sent)
            .during(&self.who)
        })
    }

    /// The next line, without its `\n` (and a `\r` before it), waiting at most `wait`.
    fn next(&mut self, wait: Duration) -> Next {
        let deadline = Instant::now() + wait;
        let mut buf = [0u8; 64 * 1024];
        loop {
            if let Some(i) = self.pending[self.start..].iter().position(|&b| b == b'\n') {
                let mut line = self.pending[self.start..self.start + i].to_vec();
                self.start += i + 1;
                if self.start > 64 * 1024 {
                    self.pending.drain(..self.start);
                    self.start = 0;
                }
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Next::Line(line);
            }
            let rest = self.pending[self.start..].to_vec();
            if rest.len() > 64 * 1024 {
                return Next::Failed(
                    io::Error::other("a line longer than 64 KiB came back"),
                    rest,
                );
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Next::Timeout(rest);
            }
            let _ = self.stream.set_read_timeout(Some(left));
            match (&self.stream).read(&mut buf) {
                Ok(0) => return Next::Eof(rest),
                Ok(n) => {
                    self.pending.extend_from_slice(&buf[..n]);
                    if self.quickack {
                        // TCP_QUICKACK (tcp(7)), which the kernel clears again by itself:
                        // acknowledge at once. A server that leaves Nagle's algorithm on holds
                        // each small write until the previous one is acknowledged, and a
                        // delayed ACK (up to 40 ms) would make a flood crawl.
                        let _ = SockRef::from(&self.stream).set_tcp_quickack(true);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => return Next::Timeout(rest),
                Err(e) => return Next::Failed(e, rest),
            }
        }
    }

    /// The next line, or a failure that says why none came.
    fn line(&mut self) -> Result<Vec<u8>, Failure> {
        self.line_within(self.timeout, b"")
    }

    fn line_within(&mut self, wait: Duration, expected: &[u8]) -> Result<Vec<u8>, Failure> {
        match self.next(wait) {
            Next::Line(line) => Ok(line),
            Next::Eof(rest) => Err(self.fail(
                "the server closed the connection instead of sending the next line",
                expected,
                &rest,
            )),
            Next::Timeout(rest) => Err(self.fail(
                format!(
                    "no complete line arrived within {:.1} s",
                    wait.as_secs_f32()
                ),
                expected,
                &rest,
            )),
            Next::Failed(e, rest) => {
                Err(self.fail(format!("the connection failed: {e}"), expected, &rest))
            }
        }
    }

    /// The next line must be exactly `want`.
    fn expect(&mut self, want: &str) -> Result<(), Failure> {
        let got = self.line_within(self.timeout, want.as_bytes())?;
        if got != want.as_bytes() {
            return Err(self.fail(format!("expected the line `{want}`"), want.as_bytes(), &got));
        }
        Ok(())
    }

    /// Send `request` and expect exactly `answer`.
    fn request(&mut self, request: &str, answer: &str) -> Result<(), Failure> {
        self.send(request)?;
        self.expect(answer)
    }

    /// Send `request` and expect an `ERR <reason>` line; the connection must stay open.
    fn refused(&mut self, request: &str, why: &str) -> Result<(), Failure> {
        self.send(request)?;
        let got = self.line_within(self.timeout, b"ERR ")?;
        if !got.starts_with(b"ERR ") {
            return Err(self.fail(
                format!(
                    "`{}` must be refused with ERR and a reason: {why}",
                    request.trim_end()
                ),
                b"ERR ",
                &got,
            ));
        }
        Ok(())
    }

    /// PING, and return every line that arrived before the PONG: since the server answers a
    /// client's requests in order, whatever it had queued for us earlier comes first.
    fn sync(&mut self) -> Result<Vec<Vec<u8>>, Failure> {
        self.send("PING")?;
        let mut before = Vec::new();
        loop {
            let line = self.line_within(self.timeout, b"PONG")?;
            if line == b"PONG" {
                return Ok(before);
            }
            before.push(line);
        }
    }

    /// Like `sync`, but no line of `kind` (`MSG`, ...) may come before the PONG.
    fn expect_no(&mut self, kind: &str, why: &str) -> Result<(), Failure> {
        let before = self.sync()?;
        let prefix = format!("{kind} ");
        if let Some(line) = before.iter().find(|l| l.starts_with(prefix.as_bytes())) {
            return Err(self.fail(why, b"PONG", line));
        }
        Ok(())
    }

    /// The server must close now: end of stream, nothing more, within the timeout.
    fn expect_end(&mut self, context: &str) -> Result<(), Failure> {
        match self.next(self.timeout) {
            Next::Eof(rest) if rest.is_empty() => Ok(()),
            Next::Line(line) => Err(self.fail(
                format!("{context}, the server sent another line instead of closing"),
                b"",
                &line,
            )),
            Next::Eof(rest) => Err(self.fail(
                format!("{context}, the server closed in the middle of a line"),
                b"",
                &rest,
            )),
            Next::Timeout(_) => Err(self.fail(
                format!(
                    "{context}, the server never closed the connection: no end of stream within {:.1} s",
                    self.timeout.as_secs_f32()
                ),
                b"",
                b"",
            )),
            Next::Failed(e, _) => Err(self.fail(
                format!("{context}, the connection failed instead of closing cleanly: {e} (a reset, not a FIN: \
                         close after the client has stopped sending, or read what it still sends first)"),
                b"",
                b"",
            )),
        }
    }

    /// Leave the way `how` says: QUIT, close (FIN), half-close (FIN, still reading), reset (RST).
    fn depart(mut self, how: Departure) -> Result<Option<Chatter>, Failure> {
        match how {
            Departure::Quit => {
                self.request("QUIT", "BYE")?;
                self.expect_end("after BYE")?;
            }
            Departure::Close => {
                self.sync()?; // read everything first, so that close() sends a FIN, not a RST
                let _ = self.stream.shutdown(Shutdown::Both);
            }
            Departure::HalfClose => {
                let _ = self.stream.shutdown(Shutdown::Write);
                return Ok(Some(self)); // keep it open: the server must close its side
            }
            Departure::Reset => wire::reset(self.stream),
        }
        Ok(None)
    }
}

#[derive(Debug, Clone, Copy)]
enum Departure {
    Quit,
    Close,
    HalfClose,
    Reset,
}

impl Departure {
    fn describe(self) -> &'static str {
        match self {
            Departure::Quit => "sent QUIT",
            Departure::Close => "closed its connection",
            Departure::HalfClose => "half-closed its connection (shutdown SHUT_WR, still reading)",
            Departure::Reset => "reset its connection (RST)",
        }
    }
}

/// A short random tag, so that the names of one check never meet those of another on a
/// server that stays up between checks (`--addr`).
fn tag(ctx: &Ctx) -> String {
    format!("{:04x}", ctx.below(1 << 16))
}

// ---- The checks --------------------------------------------------------------------------

fn greeting(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = Chatter::open(ctx, "a new client")?;
    c.request("PING", "PONG")
        .map_err(|f| f.during("after the greeting, PING must get PONG and nothing else first"))
}

fn round_trip(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("room-{t}");
    let mut ada = Chatter::member(ctx, &format!("ada-{t}"), &room)?;
    let mut bob = Chatter::member(ctx, &format!("bob-{t}"), &room)?;
    ada.expect(&format!("JOINED {room} bob-{t}"))?;
    ada.send(&format!("SAY {room} hello, room"))?;
    bob.expect(&format!("MSG {room} ada-{t} hello, room"))
        .map_err(|f| f.during("bob is in the room where ada said something"))
}

fn sender_included(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("room-{t}");
    let mut ada = Chatter::member(ctx, &format!("ada-{t}"), &room)?;
    ada.send(&format!("SAY {room} alone here"))?;
    ada.expect(&format!("MSG {room} ada-{t} alone here"))
        .map_err(|f| f.during("ada, alone in the room, said something"))?;
    let mut bob = Chatter::member(ctx, &format!("bob-{t}"), &room)?;
    ada.expect(&format!("JOINED {room} bob-{t}"))?;
    bob.send(&format!("SAY {room} hi ada"))?;
    bob.expect(&format!("MSG {room} bob-{t} hi ada"))
        .map_err(|f| f.during("bob said something to a room of two"))?;
    ada.expect(&format!("MSG {room} bob-{t} hi ada"))
}

fn split_and_coalesced(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let (nick, room) = (format!("cat-{t}"), format!("room-{t}"));
    let mut c = Chatter::open(ctx, &nick)?;
    let three = format!("NICK {nick}\r\nJOIN {room}\nSAY {room} one, two\n");
    c.send_raw(three.as_bytes())?;
    c.expect(&format!("OK NICK {nick}"))
        .map_err(|f| f.during("three commands in one write"))?;
    c.expect(&format!("OK JOIN {room}"))
        .map_err(|f| f.during("three commands in one write"))?;
    c.expect(&format!("MSG {room} {nick} one, two"))
        .map_err(|f| f.during("three commands in one write"))?;
    let split = format!("SAY {room} sent one byte per write\n");
    c.sent = split.clone().into_bytes();
    wire::send_in_pieces(&c.stream, split.as_bytes(), || 1, Duration::from_millis(2))?;
    c.expect(&format!("MSG {room} {nick} sent one byte per write"))
        .map_err(|f| f.during("a command sent one byte per write"))?;
    // Half a command, then the rest together with a whole one.
    c.send_raw(format!("SAY {room} first ha").as_bytes())?;
    thread::sleep(Duration::from_millis(50));
    c.send_raw(format!("lf\r\nSAY {room} second\n").as_bytes())?;
    c.expect(&format!("MSG {room} {nick} first half"))
        .map_err(|f| f.during("a command split across two writes"))?;
    c.expect(&format!("MSG {room} {nick} second"))
}

fn duplicate_nick(ctx: &Ctx) -> Result<(), Failure> {
    let nick = format!("ada-{}", tag(ctx));
    let _first = Chatter::named(ctx, &nick)?;
    let mut second = Chatter::open(ctx, "a second client")?;
    second.refused(
        &format!("NICK {nick}"),
        "another connected client already has this nick",
    )?;
    second.request("PING", "PONG")
}

fn nick_freed(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    for how in [Departure::Quit, Departure::Close, Departure::Reset] {
        let nick = format!("{how:?}-{t}").to_lowercase();
        let owner = Chatter::named(ctx, &nick)?;
        let _kept = owner.depart(how)?;
        let mut next = Chatter::open(ctx, "the next client")?;
        let since = Instant::now();
        loop {
            next.send(&format!("NICK {nick}"))?;
            let answer = next.line()?;
            if answer == format!("OK NICK {nick}").as_bytes() {
                break;
            }
            if !answer.starts_with(b"ERR ") || since.elapsed() > ctx.timeout {
                return Err(next.fail(
                    format!(
                        "its owner {} {:.1} s ago, yet the nick {nick} is still taken",
                        how.describe(),
                        since.elapsed().as_secs_f32()
                    ),
                    format!("OK NICK {nick}").as_bytes(),
                    &answer,
                ));
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
    Ok(())
}

fn joins_announced(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("room-{t}");
    let mut ada = Chatter::member(ctx, &format!("ada-{t}"), &room)?;
    let mut bob = Chatter::member(ctx, &format!("bob-{t}"), &room)?;
    ada.expect(&format!("JOINED {room} bob-{t}"))
        .map_err(|f| f.during("bob joined ada's room"))?;
    let mut cy = Chatter::member(ctx, &format!("cy-{t}"), &room)?;
    ada.expect(&format!("JOINED {room} cy-{t}"))?;
    bob.expect(&format!("JOINED {room} cy-{t}"))?;
    for c in [&mut ada, &mut bob, &mut cy] {
        let extra = c.sync()?;
        if let Some(line) = extra.first() {
            return Err(c.fail(
                "a line nobody should have received: JOINED goes once to each member already in \
                 the room, and not to the newcomer",
                b"PONG",
                line,
            ));
        }
    }
    Ok(())
}

fn leave_and_quit_announced(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("room-{t}");
    let mut ada = Chatter::member(ctx, &format!("ada-{t}"), &room)?;
    let mut bob = Chatter::member(ctx, &format!("bob-{t}"), &room)?;
    ada.expect(&format!("JOINED {room} bob-{t}"))?;
    let mut cy = Chatter::member(ctx, &format!("cy-{t}"), &room)?;
    ada.expect(&format!("JOINED {room} cy-{t}"))?;
    bob.expect(&format!("JOINED {room} cy-{t}"))?;

    bob.request(&format!("LEAVE {room}"), &format!("OK LEAVE {room}"))?;
    let left = format!("LEFT {room} bob-{t}");
    ada.expect(&left).map_err(|f| f.during("bob sent LEAVE"))?;
    cy.expect(&left).map_err(|f| f.during("bob sent LEAVE"))?;
    ada.send(&format!("SAY {room} bob has gone"))?;
    let msg = format!("MSG {room} ada-{t} bob has gone");
    ada.expect(&msg)?;
    cy.expect(&msg)?;
    bob.expect_no(
        "MSG",
        "bob left the room, yet its messages still reach him: LEAVE must take him out of it",
    )?;

    cy.depart(Departure::Quit)?;
    ada.expect(&format!("LEFT {room} cy-{t}"))
        .map_err(|f| f.during("cy sent QUIT"))
}

fn disconnects_announced(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let room = format!("room-{t}");
    let mut ada = Chatter::member(ctx, &format!("ada-{t}"), &room)?;
    let mut kept = Vec::new();
    for how in [Departure::HalfClose, Departure::Close, Departure::Reset] {
        let nick = format!("{how:?}-{t}").to_lowercase();
        let c = Chatter::member(ctx, &nick, &room)?;
        ada.expect(&format!("JOINED {room} {nick}"))?;
        kept.extend(c.depart(how)?);
        ada.expect(&format!("LEFT {room} {nick}"))
            .map_err(|f| f.during(&format!("{nick}, a member, {}", how.describe())))?;
    }
    Ok(())
}

fn many_senders(ctx: &Ctx) -> Result<(), Failure> {
    const SENDERS: usize = 8;
    const EACH: usize = 40;
    let t = tag(ctx);
    let (room, quiet_room) = (format!("busy-{t}"), format!("quiet-{t}"));
    let nicks: Vec<String> = (0..SENDERS).map(|i| format!("m{i}-{t}")).collect();
    let mut members = Vec::new();
    for nick in &nicks {
        members.push(Chatter::member(ctx, nick, &room)?);
    }
    let mut quiet = Vec::new();
    for i in 0..2 {
        quiet.push(Chatter::member(ctx, &format!("q{i}-{t}"), &quiet_room)?);
    }
    // Each sender's 40 lines, cut into random pieces (chosen here: the seed replays them).
    let plans: Vec<(Vec<u8>, Vec<usize>)> = nicks
        .iter()
        .map(|nick| {
            let bytes: Vec<u8> = (0..EACH)
                .flat_map(|i| format!("SAY {room} {nick} #{i}\n").into_bytes())
                .collect();
            let pieces = (0..bytes.len())
                .map(|_| 1 + ctx.below(90) as usize)
                .collect();
            (bytes, pieces)
        })
        .collect();
    let start = Barrier::new(SENDERS);
    let results: Vec<Result<(), Failure>> = thread::scope(|scope| {
        let running: Vec<_> = members
            .iter_mut()
            .zip(plans)
            .map(|(member, (bytes, pieces))| {
                let (start, nicks, room) = (&start, &nicks, &room);
                scope.spawn(move || {
                    start.wait();
                    let mut at = 0;
                    for n in pieces {
                        if at == bytes.len() {
                            break;
                        }
                        let n = n.min(bytes.len() - at);
                        member.send_raw(&bytes[at..at + n])?;
                        at += n;
                    }
                    receive_all(member, nicks, room, EACH)
                })
            })
            .collect();
        running.into_iter().map(|r| r.join().unwrap()).collect()
    });
    results.into_iter().collect::<Result<Vec<()>, Failure>>()?;
    for member in &mut members {
        member.expect_no(
            "MSG",
            "every sender's 40 messages had arrived, and then another MSG came: a message was delivered twice",
        )?;
    }
    for q in &mut quiet {
        q.expect_no(
            "MSG",
            "a member of another room received a message of the busy room",
        )?;
    }
    Ok(())
}

/// Read until every sender's `each` messages have arrived, checking each sender's order.
fn receive_all(me: &mut Chatter, nicks: &[String], room: &str, each: usize) -> Result<(), Failure> {
    let mut next: HashMap<&str, usize> = nicks.iter().map(|n| (n.as_str(), 0)).collect();
    let mut missing = nicks.len() * each;
    let prefix = format!("MSG {room} ");
    while missing > 0 {
        let line = me.line().map_err(|f| {
            f.during(&format!(
                "{missing} of the {} messages of 8 concurrent senders had not arrived",
                nicks.len() * each
            ))
        })?;
        if line.starts_with(b"JOINED ") || line.starts_with(b"LEFT ") {
            continue;
        }
        // MSG <room> <nick> <nick> #<i>
        let text = String::from_utf8_lossy(&line).into_owned();
        let parsed = text.strip_prefix(&prefix).and_then(|rest| {
            let mut words = rest.split(' ');
            let (from, nick, i) = (words.next()?, words.next()?, words.next()?);
            let i: usize = i.strip_prefix('#')?.parse().ok()?;
            (from == nick && words.next().is_none()).then_some((from.to_string(), i))
        });
        let Some((from, i)) = parsed else {
            return Err(me.fail(
                "expected only MSG lines of the busy room (as `MSG <room> <nick> <nick> #<n>`)",
                prefix.as_bytes(),
                &line,
            ));
        };
        let Some(want) = next.get_mut(from.as_str()) else {
            return Err(me.fail("a MSG from a nick that is not in the room", b"", &line));
        };
        if i != *want {
            let what = if i < *want {
                format!("{from}'s message #{i} arrived a second time (or out of order): a message must reach each member exactly once")
            } else {
                format!("{from}'s message #{i} arrived while #{want} was expected next: a message was lost, or one sender's messages were reordered")
            };
            let expected = format!("MSG {room} {from} {from} #{want}");
            return Err(me.fail(what, expected.as_bytes(), &line));
        }
        *want += 1;
        missing -= 1;
    }
    Ok(())
}

fn other_rooms(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let (one, two) = (format!("one-{t}"), format!("two-{t}"));
    let mut ada = Chatter::member(ctx, &format!("ada-{t}"), &one)?;
    let mut bob = Chatter::member(ctx, &format!("bob-{t}"), &two)?;
    let mut cy = Chatter::named(ctx, &format!("cy-{t}"))?;
    let mut dee = Chatter::member(ctx, &format!("dee-{t}"), &one)?;
    dee.request(&format!("JOIN {two}"), &format!("OK JOIN {two}"))?;
    ada.expect(&format!("JOINED {one} dee-{t}"))?;
    bob.expect(&format!("JOINED {two} dee-{t}"))?;
    ada.send(&format!("SAY {one} for room one only"))?;
    let msg = format!("MSG {one} ada-{t} for room one only");
    ada.expect(&msg)?;
    dee.expect(&msg)
        .map_err(|f| f.during("dee is in both rooms"))?;
    dee.expect_no(
        "MSG",
        "dee is in both rooms and received the message of room one twice",
    )?;
    bob.expect_no(
        "MSG",
        "bob is only in room two, yet received a message said in room one",
    )?;
    cy.expect_no(
        "MSG",
        "cy is in no room, yet received a message said in room one",
    )
}

/// The idle timeout the greeting announced, if the grader can wait for it.
fn graded_idle(c: &Chatter) -> Result<u64, Failure> {
    if c.idle > MAX_IDLE_GRADED {
        return Err(Failure::new(format!(
            "the greeting announces an idle timeout of {} s, longer than this check waits ({MAX_IDLE_GRADED} s): \
             start the server with a shorter one for grading, e.g. --idle-timeout 5",
            c.idle
        )));
    }
    Ok(c.idle)
}

fn idle_timeout(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = Chatter::open(ctx, "a client that says nothing")?;
    let n = graded_idle(&c)?;
    let since = Instant::now();
    let wait = Duration::from_secs(n + 3);
    let want = b"ERR idle timeout";
    let got = match c.next(wait) {
        Next::Line(line) => line,
        Next::Timeout(_) => {
            return Err(c.fail(
                format!(
                    "the greeting promised an idle timeout of {n} s, but after {} s of silence the \
                     connection is still open",
                    wait.as_secs()
                ),
                want,
                b"",
            ))
        }
        Next::Eof(_) | Next::Failed(..) => {
            return Err(c.fail(
                format!(
                    "the connection ended after {:.1} s of silence without ERR idle timeout first",
                    since.elapsed().as_secs_f32()
                ),
                want,
                b"",
            ))
        }
    };
    if got != want {
        return Err(c.fail(
            "the only line a silent client gets is the idle timeout's ERR",
            want,
            &got,
        ));
    }
    let after = since.elapsed().as_secs_f32();
    if after < n as f32 - 0.5 {
        return Err(c.fail(
            format!("ERR idle timeout came after {after:.1} s of silence, but the greeting promised {n} s"),
            want,
            &got,
        ));
    }
    c.expect_end("after ERR idle timeout")
}

fn pings_keep_alive(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = Chatter::open(ctx, "a client that sends PING now and then")?;
    let n = graded_idle(&c)?;
    let every = Duration::from_millis(n * 1000 / 3).max(Duration::from_millis(100));
    let since = Instant::now();
    let until = since + Duration::from_secs(n + 1);
    while Instant::now() < until {
        thread::sleep(every.min(until.saturating_duration_since(Instant::now())));
        c.request("PING", "PONG").map_err(|f| {
            f.during(&format!(
                "{:.1} s after connecting, with a PING every {:.1} s (idle timeout: {n} s)",
                since.elapsed().as_secs_f32(),
                every.as_secs_f32()
            ))
        })?;
    }
    Ok(())
}

/// What happened while one member flooded a room in which another never reads.
struct Flood {
    /// Bytes of SAY lines sent.
    sent: usize,
    /// Bytes sent when `LEFT <room> <slow>` arrived.
    dropped_after: Option<usize>,
    /// Did the slow member's connection end after its LEFT?
    slow_closed: bool,
    /// The server's process, or why it could not be found.
    pid: Result<u32, String>,
    /// Resident memory before the flood, and the most seen during it.
    rss: Option<(u64, u64)>,
}

/// One member floods the room, reading its own echoes as they come (never more than
/// FLOOD_WINDOW lines ahead), while another member never reads (it only sends PING, so that
/// the idle timeout does not end it first). Stops after `bytes`, or, with `until_dropped`, as
/// soon as the server drops the silent member (at most FLOOD_CAP). Fails if the flooder's
/// echoes stop coming.
fn flood(ctx: &Ctx, bytes: usize, until_dropped: bool) -> Result<Flood, Failure> {
    let t = tag(ctx);
    let room = format!("flood-{t}");
    let (loud, quiet) = (format!("loud-{t}"), format!("slow-{t}"));
    let mut flooder = Chatter::member(ctx, &loud, &room)?;
    flooder.quickack = true;
    let mut slow = Chatter::member(ctx, &quiet, &room)?;
    flooder.expect(&format!("JOINED {room} {quiet}"))?;
    let pid = procfs::server_pid(ctx.addr("tcp"));
    let rss_now = || pid.as_ref().ok().and_then(|&p| procfs::rss_bytes(p).ok());
    let baseline = rss_now();
    let mut peak = baseline;

    // The silent member only PINGs, a third of the idle timeout apart, so that the idle timeout
    // does not end it before the flood can show what the server does with it.
    let ping_every = Duration::from_millis(slow.idle * 1000 / 3).max(Duration::from_millis(100));
    let mut last_ping = Instant::now();
    let mut keep_alive = |slow: &Chatter| {
        if last_ping.elapsed() >= ping_every {
            let _ = (&slow.stream).write(b"PING\n");
            last_ping = Instant::now();
        }
    };
    let echo_prefix = format!("MSG {room} {loud} ");
    let left = format!("LEFT {room} {quiet}");
    let pad = "x".repeat(FLOOD_LINE - format!("SAY {room} 00000000 \n").len());
    let mut flood = Flood {
        sent: 0,
        dropped_after: None,
        slow_closed: false,
        pid: pid.clone(),
        rss: None,
    };
    let (mut next_out, mut next_in) = (0usize, 0usize);
    let mut sampled_at = 0;
    loop {
        let enough = if until_dropped {
            flood.dropped_after.is_some() || flood.sent >= FLOOD_CAP
        } else {
            flood.sent >= bytes
        };
        if !enough && next_out - next_in < FLOOD_WINDOW / 2 {
            let mut batch = Vec::new();
            while next_out - next_in < FLOOD_WINDOW {
                batch.extend_from_slice(format!("SAY {room} {next_out:08} {pad}\n").as_bytes());
                next_out += 1;
            }
            flooder.send_raw(&batch).map_err(|f| {
                f.during(&format!(
                    "flooding, after {} KiB, while {quiet} does not read",
                    flood.sent >> 10
                ))
            })?;
            flood.sent += batch.len();
        }
        if enough && next_in == next_out {
            break;
        }
        let line = match flooder.next(ctx.timeout) {
            Next::Line(line) => line,
            Next::Timeout(_) => {
                return Err(flooder.fail(
                    format!(
                        "the flooder's own messages stopped coming back: none within {:.1} s, after {:.1} MiB \
                         sent, while {quiet}, a member of the room, reads nothing. The server is stuck writing \
                         to the member that does not read, and everyone waits for it",
                        ctx.timeout.as_secs_f32(),
                        flood.sent as f64 / (1 << 20) as f64
                    ),
                    echo_prefix.as_bytes(),
                    b"",
                ))
            }
            Next::Eof(_) | Next::Failed(..) => {
                return Err(flooder.fail(
                    format!(
                        "the server dropped the flooder, a client that reads everything and never has more \
                         than {FLOOD_WINDOW} lines in flight; it should drop {quiet}, who reads nothing"
                    ),
                    echo_prefix.as_bytes(),
                    b"",
                ))
            }
        };
        if let Some(rest) = line.strip_prefix(echo_prefix.as_bytes()) {
            let seq = std::str::from_utf8(&rest[..rest.len().min(8)])
                .ok()
                .and_then(|s| s.parse::<usize>().ok());
            if seq != Some(next_in) {
                return Err(flooder.fail(
                    format!("the flooder's message #{next_in} was expected next"),
                    format!("{echo_prefix}{next_in:08} ...").as_bytes(),
                    &line,
                ));
            }
            next_in += 1;
        } else if line == left.as_bytes() {
            flood.dropped_after.get_or_insert(flood.sent);
        } else if line.starts_with(b"ERR") {
            return Err(flooder.fail("the server refused a flood line", b"", &line));
        }
        keep_alive(&slow);
        if flood.sent >= sampled_at + (1 << 20) {
            sampled_at = flood.sent;
            peak = peak.max(rss_now());
        }
    }
    if until_dropped && flood.dropped_after.is_none() {
        // Out of bytes to send: give the server a last moment to drop the silent member.
        let deadline = Instant::now() + ctx.timeout;
        while Instant::now() < deadline {
            keep_alive(&slow);
            match flooder.next(ping_every.min(deadline.saturating_duration_since(Instant::now()))) {
                Next::Line(line) if line == left.as_bytes() => {
                    flood.dropped_after = Some(flood.sent);
                    break;
                }
                Next::Line(_) | Next::Timeout(_) => {}
                Next::Eof(_) | Next::Failed(..) => break,
            }
        }
    }
    peak = peak.max(rss_now());
    flood.rss = baseline.zip(peak);
    if flood.dropped_after.is_some() {
        flood.slow_closed = drains_to_end(&mut slow.stream, ctx.timeout);
    }
    Ok(flood)
}

/// Read and discard until end of stream or reset; false if the connection is still open after
/// `wait` without a byte.
fn drains_to_end(stream: &mut TcpStream, wait: Duration) -> bool {
    let _ = stream.set_read_timeout(Some(wait));
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return !timed_out(&e),
        }
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

fn slow_member_does_not_stall(ctx: &Ctx) -> Result<(), Failure> {
    flood(ctx, FLOOD_BYTES, false).map(drop)
}

fn slow_member_is_dropped(ctx: &Ctx) -> Result<(), Failure> {
    let flood = flood(ctx, FLOOD_CAP, true)?;
    let memory = match (&flood.pid, flood.rss) {
        (Ok(pid), Some((before, peak))) => format!(
            " The server (pid {pid}) grew from {:.1} MiB to {:.1} MiB resident.",
            mib(before),
            mib(peak)
        ),
        (Err(why), _) => format!(" (Its memory could not be measured: {why}.)"),
        _ => String::new(),
    };
    if flood.dropped_after.is_none() {
        let flat = flood
            .rss
            .is_some_and(|(before, peak)| peak.saturating_sub(before) < 16 << 20);
        let why = if flat {
            "Its memory stayed flat, so it may have cut the member off without taking it out of the room: \
             a dropped client must leave its rooms like any other."
        } else {
            "Its lines pile up somewhere: a queue without a bound."
        };
        return Err(Failure::new(format!(
            "a member read nothing while {:.0} MiB were said in its room, and no LEFT for it came.{memory} {why}",
            mib(flood.sent as u64)
        )));
    }
    if !flood.slow_closed {
        return Err(Failure::new(
            "the server announced LEFT for the member that read nothing, but its connection stayed open: \
             dropping a slow client means closing its socket too",
        ));
    }
    if let Some((before, peak)) = flood.rss {
        if peak.saturating_sub(before) > RSS_GROWTH_BOUND {
            return Err(Failure::new(format!(
                "the slow member was dropped, but only after the server's resident memory grew by {:.0} MiB \
                 (more than {} MiB).{memory} Bound each client's queue to a few hundred KiB.",
                mib(peak - before),
                RSS_GROWTH_BOUND >> 20
            )));
        }
    }
    Ok(())
}

fn descriptors_released(ctx: &Ctx) -> Result<(), Failure> {
    let pid = procfs::server_pid(ctx.addr("tcp")).map_err(|why| {
        Failure::new(format!(
            "this check counts the server's open descriptors, but {why}"
        ))
    })?;
    let count =
        |when: &str| procfs::fd_count(pid).map_err(|e| Failure::new(format!("{when}: {e}")));
    let baseline = count("before the clients connected")?;
    let t = tag(ctx);
    let room = format!("fd-{t}");
    let mut clients = Vec::new();
    for i in 0..DEPARTING {
        clients.push(Chatter::member(ctx, &format!("fd{i}-{t}"), &room)?);
    }
    let during = count("with the clients connected")?;
    if during < baseline + DEPARTING {
        return Err(Failure::new(format!(
            "the process holding the listening socket (pid {pid}) had {baseline} descriptors open, and \
             {during} with {DEPARTING} more clients connected: its connections must live in other \
             processes, so this check cannot see them"
        )));
    }
    let mut half_closed = Vec::new();
    for (i, c) in clients.into_iter().enumerate() {
        let how = if i % 2 == 0 {
            Departure::HalfClose
        } else {
            Departure::Reset
        };
        half_closed.extend(c.depart(how)?);
    }
    let wait = ctx.timeout + Duration::from_secs(3);
    procfs::wait_for_fd_count(pid, baseline + FD_SLACK, wait).map_err(|now| {
        Failure::new(format!(
            "{DEPARTING} clients joined a room, then half of them half-closed and half reset. The server \
             (pid {pid}) had {baseline} descriptors open before they came and {during} while they were \
             there; {:.1} s after they left it still has {now}: {} sockets were never closed",
            wait.as_secs_f32(),
            now.saturating_sub(baseline)
        ))
    })
}

fn endless_line(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = Chatter::open(ctx, "a client that never sends a newline")?;
    c.send_raw(&vec![b'y'; MAX_LINE + 76])?;
    let got = c.line_within(c.timeout, b"ERR ")?;
    if got.starts_with(b"ERR idle timeout") {
        return Err(c.fail(
            "the server kept buffering a line of 1,100 bytes and more without a newline, until the idle \
             timeout ended the connection: past 1,024 bytes, answer ERR and close at once",
            b"ERR line too long",
            &got,
        ));
    }
    if !got.starts_with(b"ERR ") {
        return Err(c.fail(
            "1,100 bytes without a newline must be answered with ERR",
            b"ERR ",
            &got,
        ));
    }
    c.expect_end("after the ERR for a line too long")
}

fn longest_line(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let (nick, room) = (format!("ada-{t}"), format!("room-{t}"));
    let mut c = Chatter::member(ctx, &nick, &room)?;
    let head = format!("SAY {room} ");
    let text = "z".repeat(MAX_LINE - head.len());
    c.send(&format!("{head}{text}"))?;
    c.expect(&format!("MSG {room} {nick} {text}"))
        .map_err(|f| f.during("a SAY line of exactly 1,024 bytes"))
}

fn unknown_commands(ctx: &Ctx) -> Result<(), Failure> {
    let mut c = Chatter::open(ctx, "a client")?;
    for request in ["HELLO there", "nick lowercase", "", "WHO", "PINGPONG"] {
        c.refused(request, "it is not a command")?;
    }
    c.request("PING", "PONG")
        .map_err(|f| f.during("after five unknown commands"))
}

fn command_rules(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let (nick, room) = (format!("ada-{t}"), format!("room-{t}"));
    let mut c = Chatter::open(ctx, "a client")?;
    c.refused(&format!("JOIN {room}"), "JOIN needs a nick first")?;
    c.refused(&format!("SAY {room} hi"), "SAY needs a nick first")?;
    for bad in ["", "two words", "dot.ted", "na\u{ef}ve", &"n".repeat(33)] {
        c.refused(
            &format!("NICK {bad}"),
            "a name is 1 to 32 of A-Z a-z 0-9 _ -",
        )?;
    }
    c.request(&format!("NICK {nick}"), &format!("OK NICK {nick}"))?;
    c.refused("JOIN no/slash", "a name is 1 to 32 of A-Z a-z 0-9 _ -")?;
    c.request(&format!("JOIN {room}"), &format!("OK JOIN {room}"))?;
    c.refused(&format!("JOIN {room}"), "the client is already a member")?;
    c.refused(
        &format!("SAY elsewhere-{t} hi"),
        "the client is not a member of that room",
    )?;
    c.refused(
        &format!("LEAVE elsewhere-{t}"),
        "the client is not a member of that room",
    )?;
    c.request("PING", "PONG")
        .map_err(|f| f.during("after the refused commands"))
}

fn quit(ctx: &Ctx) -> Result<(), Failure> {
    let t = tag(ctx);
    let c = Chatter::member(ctx, &format!("ada-{t}"), &format!("room-{t}"))?;
    c.depart(Departure::Quit).map(drop)
}
