//! Lesson 06's diagram: one `SAY` fanned out to a room on the event loop, a member that never
//! reads dropped at its queue's bound, a sender that does not read its echoes paused, and an
//! idle timer that re-arms itself from `last_heard`.
//!
//! The script follows `lessons/06-mio-chat/main.rs` (`Chat::on_line`, `broadcast`, `on_close`,
//! `on_timer`) and the loop under it (`Cx::send`, `flush`, `finish` in `src/event_loop.rs`),
//! with the reference's numbers: a 256 KiB queue bound (`--max-queue`) and a 30 s idle timeout.

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;

const TITLE: &str =
    "Lesson 06: a broadcast, a slow consumer dropped, a sender paused, an idle timer";
const ACTORS: [&str; 4] = [
    "ada (says something)",
    "event loop + Chat (one thread)",
    "bob (reads)",
    "cy (never reads)",
];
const ADA: usize = 0;
const LOOP: usize = 1;
const BOB: usize = 2;
const CY: usize = 3;

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: TITLE.to_string(),
        actors: ACTORS.iter().map(|a| a.to_string()).collect(),
        steps: fan_out(),
    };
    vec![Diagram {
        file: "06-chat-fan-out.svg",
        title: TITLE,
        svg: render_sequence(&seq),
    }]
}

/// ada, bob and cy are in room `rust`; cy has stopped reading.
fn fan_out() -> Vec<Step> {
    vec![
        Step::Divider("one SAY in, one copy queued per member".into()),
        call(ADA, LOOP, "SAY rust hi").noted("read() = 12 bytes; Chat::on_data finds one line"),
        call(LOOP, LOOP, "broadcast: 3 x Action::Send").noted(
            "ChatService::apply calls cx.send once per member: each copy goes on that \
             member's own output queue",
        ),
        call(LOOP, ADA, "MSG rust ada hi").noted("the sender is a member too"),
        call(LOOP, BOB, "MSG rust ada hi")
            .noted("flushed after the callback: write() takes it all, the queue is freed"),
        call(LOOP, CY, "MSG rust ada hi").noted(
            "cy's socket buffers are full: write() = EAGAIN, the line stays queued, \
             WRITABLE is registered",
        ),
        Step::Divider("cy still does not read: its queue grows, nobody waits for it".into()),
        note(
            LOOP,
            "More SAYs: ada and bob get each line at once. cy's queue grows by one line \
             per message: 40 KiB, 120 KiB, 250 KiB. No thread blocks, no other member \
             notices.",
        ),
        call(ADA, LOOP, "SAY rust ..."),
        call(LOOP, LOOP, "cx.send(cy, line) = false").noted(
            "queued + line > max_output (256 KiB): the line is not queued, cy is marked \
             Closed::TooSlow",
        ),
        call(LOOP, CY, "close()").noted(
            "no ERR: the queue is full. cy reads what its kernel already holds, then end \
             of stream",
        ),
        call(LOOP, LOOP, "on_close(cy, TooSlow)")
            .noted("Chat::on_close: cy leaves every room, its nick is free"),
        call(LOOP, ADA, "LEFT rust cy"),
        call(LOOP, BOB, "LEFT rust cy"),
        Step::Divider("a sender that does not read its echoes: paused, not dropped".into()),
        call(ADA, LOOP, "a paste: 2,000 SAY lines")
            .noted("ada reads her own echoes more slowly than she writes"),
        call(LOOP, LOOP, "over 64 KiB queued for ada: stop reading her").noted(
            "pause_reading_above: her bytes wait in the kernel, TCP's window closes, her \
             write() blocks; bob notices nothing",
        ),
        call(LOOP, ADA, "MSG rust ada ... (her echoes)")
            .noted("written as fast as she reads; below 64 KiB again, reading resumes"),
        Step::Divider("timers: one per connection, re-armed from last_heard".into()),
        note(
            LOOP,
            "At HELLO (t = 0): Wake(bob, 30 s). bob sends PING at t = 20 s: only \
             last_heard changes, no timer is touched.",
        ),
        call(LOOP, LOOP, "t = 30 s: on_timer(bob)")
            .noted("last_heard + 30 s = 50 s, still ahead: Wake(bob, 50 s), one new heap entry"),
        call(LOOP, LOOP, "epoll_wait(timeout = 20000 ms)")
            .noted("the earliest deadline is the only clock the loop needs"),
        call(LOOP, LOOP, "t = 50 s: on_timer(bob)").noted("silent for the whole 30 s"),
        call(LOOP, BOB, "ERR idle timeout")
            .noted("then Close: flushed, shutdown(SHUT_WR), close()"),
        call(LOOP, ADA, "LEFT rust bob"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_names_the_policy_and_the_timer() {
        let svg = &diagrams()[0].svg;
        for part in [
            "MSG rust ada hi",
            "max_output",
            "Closed::TooSlow",
            "LEFT rust cy",
            "last_heard",
            "ERR idle timeout",
            "stop reading her",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }
}
