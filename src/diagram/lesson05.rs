//! Lesson 05's diagram: one turn of the event loop in `src/event_loop.rs`, as a sequence.
//!
//! The script follows `EventLoop::run` call by call: `epoll_wait`, then the events by token
//! (the listener, a connection, the UDP socket), then the timers that are due; and, last, what
//! the signal pipe sets off. The system calls are the ones `strace -f` shows for the lesson's
//! binary, and the tokens are the loop's layout (listeners from 0, UDP sockets from 256, the
//! signal pipe 512, the waker 513, connections from 1024).

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;

const TITLE: &str = "Lesson 05: one turn of the event loop";
const ACTORS: [&str; 4] = [
    "peers (nc, nc -u, the load generator)",
    "kernel (sockets, epoll)",
    "event loop (src/event_loop.rs)",
    "service (Echo in main.rs)",
];
const PEERS: usize = 0;
const KERNEL: usize = 1;
const LOOP: usize = 2;
const SERVICE: usize = 3;

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: TITLE.to_string(),
        actors: ACTORS.iter().map(|a| a.to_string()).collect(),
        steps: one_turn(),
    };
    vec![Diagram {
        file: "05-event-loop.svg",
        title: TITLE,
        svg: render_sequence(&seq),
    }]
}

/// One turn of `EventLoop::run`, with three sockets ready at once.
fn one_turn() -> Vec<Step> {
    vec![
        call(LOOP, KERNEL, "epoll_wait(timeout)").noted(
            "timeout: 0 if a connection still has unread bytes, else until the earliest timer, \
             else forever",
        ),
        call(PEERS, KERNEL, "connect()").noted("while the loop sleeps, the kernel takes it all in"),
        call(PEERS, KERNEL, r#""hello\n" on connection 3"#),
        call(PEERS, KERNEL, "85 KiB uploaded on connection 4"),
        call(PEERS, KERNEL, "a datagram to port 7005"),
        call(
            KERNEL,
            LOOP,
            "epoll_wait returns 4 events:\nToken(0) READABLE\nToken(1027) READABLE\n\
             Token(1028) READABLE\nToken(256) READABLE",
        )
        .noted("readiness: nothing is read yet, the loop makes every call itself"),
        Step::Divider("Token(0), the listener: accept until WouldBlock".into()),
        call(LOOP, KERNEL, "accept4(SOCK_NONBLOCK) = fd 12"),
        call(LOOP, KERNEL, "epoll_ctl(ADD, fd 12, EPOLLIN|EPOLLET)")
            .noted("Token(1024 + n): the token is how an event names its connection"),
        call(LOOP, SERVICE, "on_open(conn n, peer)"),
        call(LOOP, KERNEL, "accept4() = EAGAIN").noted("WouldBlock: nobody else is waiting, go on"),
        Step::Divider("Token(1027), connection 3: one read per turn".into()),
        call(LOOP, KERNEL, "recvfrom(fd, shared 64 KiB buffer) = 6").noted(
            "short: 6 < 64 KiB, so the kernel's queue is empty; no EAGAIN read needed, \
             the next byte raises a new edge",
        ),
        call(LOOP, SERVICE, r#"on_data(conn 3, "hello\n")"#),
        call(SERVICE, LOOP, r#"cx.send(conn 3, "hello\n")"#)
            .noted("queued on connection 3 (a buffer from the pool); nothing is written yet"),
        call(LOOP, KERNEL, "sendto(fd, 6 bytes) = 6")
            .noted("flushed after the callback; all of it taken, so no WRITABLE interest"),
        call(KERNEL, PEERS, r#""hello\n""#),
        note(
            LOOP,
            "Had sendto taken only part: keep the rest, epoll_ctl(MOD, EPOLLIN|EPOLLOUT). \
             More than 64 KiB queued: stop reading from this peer (backpressure). \
             WRITABLE later: write the rest, and once the queue is empty MOD back to \
             EPOLLIN and give the buffer back to the pool.",
        ),
        Step::Divider("Token(1028), connection 4: its read fills the buffer".into()),
        call(LOOP, KERNEL, "recvfrom(fd, shared 64 KiB buffer) = 65536"),
        call(LOOP, SERVICE, "on_data(conn 4, 64 KiB), its echo flushed"),
        call(LOOP, LOOP, "still_readable.push(conn 4)").noted(
            "a full buffer: more may wait. Its one read of this turn is used: \
             carried to the next turn, so no connection can take the loop for itself",
        ),
        Step::Divider("Token(256), the UDP socket on the same poll".into()),
        call(LOOP, KERNEL, "recvfrom() = 9 bytes, from 127.0.0.1:40123"),
        call(LOOP, SERVICE, "on_datagram(udp 0, from, bytes)"),
        call(SERVICE, LOOP, "cx.send_to(udp 0, from, bytes)"),
        call(LOOP, KERNEL, "sendto(from, 9 bytes) = 9")
            .noted("no queue for UDP: a full buffer drops the datagram"),
        call(KERNEL, PEERS, "the datagram, back"),
        call(LOOP, KERNEL, "recvfrom() = EAGAIN"),
        Step::Divider("after the events: timers due; next turn, the carried connections".into()),
        call(LOOP, LOOP, "timers.pop_due(now)")
            .noted("a min-heap; cancelled entries are stale and skipped"),
        call(LOOP, SERVICE, "on_timer(key)"),
        call(LOOP, KERNEL, "epoll_wait(timeout 0): the next turn")
            .noted("zero: connection 4 was carried, so do not sleep"),
        call(LOOP, KERNEL, "recvfrom(conn 4) = 21504").noted(
            "short: drained. Read until WouldBlock, or a short read, across turns; \
             the next edge wakes it",
        ),
        Step::Divider("SIGTERM: the self-pipe".into()),
        call(KERNEL, LOOP, "Token(512) READABLE")
            .noted("the signal handler only wrote one byte into a pipe"),
        call(
            LOOP,
            KERNEL,
            "read(pipe) until EAGAIN\nepoll_ctl(DEL, listener)",
        ),
        call(LOOP, SERVICE, "on_shutdown()").noted("the last chance to queue goodbyes"),
        call(LOOP, KERNEL, "flush, shutdown(SHUT_WR), close()")
            .noted("for every connection, within 5 s"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_turn_names_every_step_of_the_loop() {
        let svg = &diagrams()[0].svg;
        for part in [
            "epoll_wait",
            "accept4() = EAGAIN",
            "recvfrom(conn 4) = 21504",
            "still_readable.push(conn 4)",
            "EPOLLIN|EPOLLOUT",
            "on_datagram",
            "pop_due",
            "Token(512)",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }
}
