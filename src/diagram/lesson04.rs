//! Lesson 04's diagram: the same story as lesson 06's (one `SAY` fanned out to a room, a member
//! that never reads dropped at its queue's bound, an idle timeout), told with threads: each
//! client has a reader thread and a writer thread, and the shared `Chat` sits behind one lock.
//!
//! The script follows `lessons/04-threaded-chat/main.rs` (`read_lines`, `Chat::command`,
//! `deliver`, `Outbox`, `forget`, `write_lines`) with the reference's numbers: a 256 KiB queue
//! bound, backpressure above 64 KiB, and a 30 s idle timeout. Lifelines are threads; the
//! clients' sockets are named in the labels.

use super::sequence::build::*;
use super::sequence::{render_sequence, Sequence, Step};
use super::Diagram;

const TITLE: &str = "Lesson 04: two threads per client, one lock, a slow consumer dropped";
const ACTORS: [&str; 5] = [
    "ada (a client)",
    "reader-1 (ada's reader thread)",
    "writer-2 (bob's writer thread)",
    "writer-3 (cy's writer thread)",
    "reader-3 (cy's reader thread)",
];
const ADA: usize = 0;
const READER_ADA: usize = 1;
const WRITER_BOB: usize = 2;
const WRITER_CY: usize = 3;
const READER_CY: usize = 4;

/// The lesson's diagrams, for the catalog.
pub fn diagrams() -> Vec<Diagram> {
    let seq = Sequence {
        title: TITLE.to_string(),
        actors: ACTORS.iter().map(|a| a.to_string()).collect(),
        steps: threads(),
    };
    vec![Diagram {
        file: "04-threaded-chat-threads.svg",
        title: TITLE,
        svg: render_sequence(&seq),
    }]
}

/// ada, bob and cy are in room `rust`; cy will stop reading.
fn threads() -> Vec<Step> {
    vec![
        note(
            READER_ADA,
            "Each accept(2) in the main thread is followed by clone(2): a reader thread, which \
             starts the client's writer thread and registers the client in the Chat under the \
             Mutex. Three clients: six threads, each with a 2 MiB stack reserved.",
        ),
        Step::Divider("one SAY: a copy queued per member, under the lock".into()),
        call(ADA, READER_ADA, "SAY rust hi")
            .noted("read(2) returns 12 bytes; the FrameDecoder finds one line"),
        call(READER_ADA, READER_ADA, "lock(chat)").noted(
            "one atomic instruction when free; futex(2) sleeps only if another thread holds it",
        ),
        call(READER_ADA, WRITER_BOB, "queue \"MSG rust ada hi\"")
            .noted("deliver(): Outbox::push, never a wait; notify_all wakes bob's writer"),
        call(READER_ADA, WRITER_CY, "queue \"MSG rust ada hi\""),
        call(
            READER_ADA,
            READER_ADA,
            "queue it for ada's own writer; unlock",
        )
        .noted("the sender is a member too"),
        call(WRITER_BOB, WRITER_BOB, "write(2) to bob").noted(
            "the writer wakes from its Condvar (futex) wait, takes every line queued, and \
             writes them in one call; only it ever waits for bob",
        ),
        Step::Divider("cy stops reading: only cy's writer waits".into()),
        call(WRITER_CY, WRITER_CY, "write(2) blocks").noted(
            "cy's receive window is full, and so is our send buffer: the thread sleeps in \
             the kernel",
        ),
        call(ADA, READER_ADA, "SAY rust ... (many)"),
        call(READER_ADA, WRITER_CY, "queue, queue, queue ...")
            .noted("cy's queue grows line by line; ada and bob notice nothing"),
        call(
            READER_ADA,
            READER_ADA,
            "deliver(cy): the next line does not fit",
        )
        .noted("256 KiB already queued: drop cy rather than wait, or queue more"),
        call(READER_ADA, READER_CY, "shutdown(cy, SHUT_RDWR)")
            .noted("from reader-1, lock still held: it wakes both of cy's threads"),
        call(WRITER_CY, WRITER_CY, "write(2) fails: EPIPE").noted("writer-3 ends"),
        call(READER_CY, READER_CY, "read(2) returns 0")
            .noted("lock; forget(cy): cy leaves every room, its nick is free, its queue closes"),
        call(READER_CY, WRITER_BOB, "queue \"LEFT rust cy\"").noted("and one for ada"),
        note(
            READER_CY,
            "reader-3 ends. The socket is closed, close(2), when the last of its handles \
             (an Arc<TcpStream>) is dropped: no descriptor is left behind.",
        ),
        Step::Divider("backpressure: a client that sends faster than it reads".into()),
        call(ADA, READER_ADA, "SAY rust ... (a 2 MB paste)"),
        call(READER_ADA, READER_ADA, "wait_below(64 KiB), then read(2)").noted(
            "more than 64 KiB queued for ada herself: her reader waits for her writer, so \
             ada slows down instead of being dropped; nobody else notices",
        ),
        Step::Divider("idle timeout: SO_RCVTIMEO".into()),
        call(READER_ADA, READER_ADA, "read(2) fails: EAGAIN")
            .noted("ada sent nothing for 30 s: setsockopt(SO_RCVTIMEO) ended the wait"),
        call(
            READER_ADA,
            READER_ADA,
            "queue \"ERR idle timeout\"; forget(ada)",
        )
        .noted("ada's writer writes it, then shutdown(SHUT_WR); bob gets LEFT rust ada"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_picture_names_the_threads_the_lock_and_the_policy() {
        let svg = &diagrams()[0].svg;
        for part in [
            "clone(2)",
            "futex(2)",
            "256 KiB",
            "SHUT_RDWR",
            "LEFT rust cy",
            "SO_RCVTIMEO",
            "wait_below",
        ] {
            assert!(svg.contains(part), "{part} is missing");
        }
    }
}
