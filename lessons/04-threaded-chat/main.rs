//! Lesson 04: a chat server with one thread per connection, and the shared state behind a lock.
//!
//! ```text
//! cargo run --bin 04-threaded-chat                          # server on 127.0.0.1:7004
//! nc 127.0.0.1 7004                                         # type: NICK ada, JOIN rust, SAY rust hi
//! cargo run --bin 04-threaded-chat -- client                # the same, with the lesson's client
//! cargo run --bin 04-threaded-chat -- --idle-timeout 5      # quiet clients go after 5 s
//! cargo run --bin 04-threaded-chat -- --trace               # threads, accepts, reads, writes
//! ```
//!
//! The protocol is in PROTOCOL.md, next to this file: lines of text, `NICK`, `JOIN`, `LEAVE`,
//! `SAY`, `PING`, `QUIT`; every `SAY` goes to every member of the room, the sender included.
//!
//! The architecture, top to bottom:
//!
//! - the main thread accepts connections and starts one *reader* thread for each;
//! - each reader starts one *writer* thread for its client, fed by a bounded queue (`Outbox`);
//! - the chat itself (nicks, rooms, the queues) is one `Chat` behind one `Mutex`.
//!
//! A reader reads lines, takes the lock, runs the command and puts the answers on the queues of
//! whoever must receive them, without ever waiting: a full queue means that client is too slow,
//! and it is dropped. Only a client's own threads ever wait for that client: its writer for its
//! socket, its reader for its own queue to drain (so a client that sends faster than it reads
//! slows down itself, and nobody else).
//!
//! Threads are made by clone(2) (std's `thread::spawn`, through pthread_create); a `Mutex` or a
//! `Condvar` that must wait sleeps in futex(2); the idle timeout is SO_RCVTIMEO (setsockopt(2)).

use clap::{Parser, Subcommand};
use netcourse::framing::{FrameDecoder, Framing};
use netcourse::trace::{Trace, Traced};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Lesson 04: a chat server with one thread per connection")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Address to listen on (server) or connect to (client). Port 0 picks a free port.
    #[arg(long, global = true, default_value = "127.0.0.1:7004")]
    addr: SocketAddr,
    /// Print threads starting and ending, accepts, and every read and write, to stderr.
    #[arg(long, global = true)]
    trace: bool,
    /// Close a connection that sends nothing for this many seconds (server).
    #[arg(long, global = true, default_value_t = 30)]
    idle_timeout: u64,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve chat clients, one thread each (the default).
    Server,
    /// Send each line of standard input; print every line from the server as it arrives.
    Client,
}

/// A client's output queue holds at most this many bytes of lines: a client that stops reading
/// costs the server at most 256 KiB before it is dropped. Bytes, not lines: a burst of many
/// short lines is normal, and bytes are what cost memory.
const QUEUE_BYTES: usize = 256 * 1024;
/// A client's reader reads no more from it while its own queue holds more than this.
const BACKPRESSURE_BYTES: usize = QUEUE_BYTES / 4;
/// Nicks and room names: 1 to 32 bytes of `A-Z a-z 0-9 _ -`.
const MAX_NAME: usize = 32;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (trace, idle) = (Trace::new(cli.trace), cli.idle_timeout.max(1));
    match cli.mode.unwrap_or(Mode::Server) {
        Mode::Server => serve(cli.addr, Duration::from_secs(idle), trace)?,
        Mode::Client => client(cli.addr, trace)?,
    }
    Ok(())
}

/// One line on the wire, `\n` included. An `Arc` so that a broadcast to 100 members puts 100
/// pointers on 100 queues, not 100 copies of the text.
type Line = Arc<[u8]>;
/// Each connection's number, in accept order.
type Id = u64;

/// Build a line from its words: `line(["MSG", room, nick, text])`.
fn line<const N: usize>(words: [&[u8]; N]) -> Line {
    let mut out = words.join(&b' ');
    out.push(b'\n');
    out.into()
}

/// A client's lines waiting to be written, bounded in bytes. Any thread may add a line (`push`,
/// which never waits); the client's writer thread takes them (`take`, which sleeps on the
/// condition variable until there is something to write).
#[derive(Default)]
struct Outbox {
    queue: Mutex<Queue>,
    /// Signalled whenever the queue changes: a line added or taken, or the queue closed.
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    lines: VecDeque<Line>,
    /// Bytes queued, and being written by the writer thread.
    bytes: usize,
    /// No more lines: the client is gone. The writer writes what is left, then ends.
    closed: bool,
}

impl Outbox {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().expect("no thread panics holding a queue")
    }

    /// Queue a line, never waiting. False if it does not fit: the client is not reading.
    fn push(&self, line: &Line) -> bool {
        // exercise: begin "Queue a line within the bound, never waiting"
        // hint: Lock self.queue. If bytes + line.len() would pass QUEUE_BYTES, return false: the caller drops this client. Never wait for room here: the caller holds the chat's lock, and every other client waits for it.
        // hint: Otherwise push a clone of the Arc (a pointer, not the text), add its length to bytes, and wake the writer with self.changed.notify_all().
        // hint: A closed queue takes nothing (its writer is gone), but that is no reason to drop the client: return true.
        let mut queue = self.lock();
        if queue.bytes + line.len() > QUEUE_BYTES {
            return false;
        }
        if !queue.closed {
            queue.bytes += line.len();
            queue.lines.push_back(Arc::clone(line));
            self.changed.notify_all();
        }
        true
        // exercise: end
    }

    /// For the writer: every line waiting, as one buffer, once there is at least one; `None`
    /// once the queue is closed and empty. Call `written` after writing it.
    fn take(&self) -> Option<Vec<u8>> {
        // wait_while: sleep in futex(2) until notify_all and the condition is false.
        let waiting = |q: &mut Queue| q.lines.is_empty() && !q.closed;
        let mut queue = self
            .changed
            .wait_while(self.lock(), waiting)
            .expect("no panics");
        let lines: Vec<Line> = queue.lines.drain(..).collect();
        (!lines.is_empty()).then(|| lines.concat())
    }

    /// For the writer: `n` bytes have left.
    fn written(&self, n: usize) {
        self.lock().bytes -= n;
        self.changed.notify_all();
    }

    /// For the client's own reader: wait while more than `limit` bytes are queued for it.
    fn wait_below(&self, limit: usize) {
        drop(
            self.changed
                .wait_while(self.lock(), |q| q.bytes > limit && !q.closed),
        );
    }

    /// No more lines will come (or can be written): wake everyone who waits.
    fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
    }
}

/// What the chat knows about one connected client.
struct Client {
    nick: Option<String>,
    rooms: BTreeSet<String>,
    /// Its queue, shared with its writer thread.
    outbox: Arc<Outbox>,
    /// The socket, shared with the client's two threads: kept here so that another thread can
    /// shut it down when this client is too slow.
    conn: Arc<TcpStream>,
    /// Already shut down as too slow: its reader will clean up shortly.
    dropped: bool,
}

/// The whole shared state. Every thread that touches it holds the one lock, briefly: no
/// method below ever blocks, so the lock is never held across a read or a write on a socket.
#[derive(Default)]
struct Chat {
    clients: HashMap<Id, Client>,
    nicks: HashMap<String, Id>,
    rooms: HashMap<String, BTreeSet<Id>>,
    trace: Trace,
}

/// What the reader does after a command.
#[derive(Debug, PartialEq, Eq)]
enum After {
    Continue,
    Close,
}

impl Chat {
    /// Put `line` on client `to`'s queue. Never waits: the lock is held, and every other
    /// thread is waiting for it.
    fn deliver(&mut self, to: Id, line: &Line) {
        let trace = self.trace;
        let Some(client) = self.clients.get_mut(&to) else {
            return;
        };
        if client.dropped || client.outbox.push(line) {
            return;
        }
        // Too slow: drop it, rather than wait for it or queue more. shutdown(2) SHUT_RDWR, from
        // this thread: its writer's write() fails and its reader's read() returns 0, and that
        // reader's cleanup, `forget`, announces LEFT.
        trace.log(format_args!(
            "client {to}: {QUEUE_BYTES} bytes queued, dropping it as too slow"
        ));
        let _ = client.conn.shutdown(Shutdown::Both);
        client.dropped = true;
    }

    /// Deliver `line` to every member of `room`, except `except`.
    fn broadcast(&mut self, room: &str, line: &Line, except: Option<Id>) {
        let members = self.rooms.get(room).cloned().unwrap_or_default();
        for member in members.into_iter().filter(|&m| Some(m) != except) {
            self.deliver(member, line);
        }
    }

    /// Run one command from client `id` and queue the answers.
    fn command(&mut self, id: Id, request: &[u8]) -> After {
        let (command, arg) = match request.iter().position(|&b| b == b' ') {
            Some(i) => (&request[..i], &request[i + 1..]),
            None => (request, &[][..]),
        };
        let nick = self.clients.get(&id).and_then(|c| c.nick.clone());
        let answer = match (command, nick) {
            (b"NICK", _) => self.nick(id, arg),
            (b"JOIN", Some(nick)) => self.join(id, &nick, arg),
            (b"LEAVE", Some(nick)) => self.leave(id, &nick, arg),
            (b"SAY", Some(nick)) => self.say(id, &nick, arg),
            (b"JOIN" | b"LEAVE" | b"SAY", None) => Err("choose a nick first: NICK <name>".into()),
            (b"PING", _) => Ok(line([b"PONG"])),
            (b"QUIT", _) => {
                self.deliver(id, &line([b"BYE"]));
                return After::Close;
            }
            _ => Err(format!(
                "unknown command {:?}: try NICK, JOIN, LEAVE, SAY, PING or QUIT",
                String::from_utf8_lossy(&command[..command.len().min(32)])
            )),
        };
        let answer = answer.unwrap_or_else(|reason| {
            // A line cannot hold a newline, and the unknown command may hold a '\r'.
            line([b"ERR", reason.replace(['\n', '\r'], " ").as_bytes()])
        });
        self.deliver(id, &answer);
        After::Continue
    }

    fn nick(&mut self, id: Id, arg: &[u8]) -> Result<Line, String> {
        let name = valid_name(arg)?;
        if self.nicks.get(&name).is_some_and(|&owner| owner != id) {
            return Err(format!("nick {name} is taken"));
        }
        let client = self.clients.get_mut(&id).expect("a reader's client exists");
        if let Some(old) = client.nick.replace(name.clone()) {
            self.nicks.remove(&old);
        }
        self.nicks.insert(name.clone(), id);
        Ok(line([b"OK NICK", name.as_bytes()]))
    }

    fn join(&mut self, id: Id, nick: &str, arg: &[u8]) -> Result<Line, String> {
        let room = valid_name(arg)?;
        let client = self.clients.get_mut(&id).expect("a reader's client exists");
        if !client.rooms.insert(room.clone()) {
            return Err(format!("already in {room}"));
        }
        self.broadcast(
            &room,
            &line([b"JOINED", room.as_bytes(), nick.as_bytes()]),
            None,
        );
        self.rooms.entry(room.clone()).or_default().insert(id);
        Ok(line([b"OK JOIN", room.as_bytes()]))
    }

    fn leave(&mut self, id: Id, nick: &str, arg: &[u8]) -> Result<Line, String> {
        let room = String::from_utf8_lossy(arg).into_owned();
        if !self.part(id, nick, &room) {
            return Err(format!("not in {room}"));
        }
        Ok(line([b"OK LEAVE", room.as_bytes()]))
    }

    /// `SAY <room> <text>`: the sender's answer is the very line every member gets.
    fn say(&mut self, id: Id, nick: &str, arg: &[u8]) -> Result<Line, String> {
        let (room, text) = match arg.iter().position(|&b| b == b' ') {
            Some(i) => (&arg[..i], &arg[i + 1..]),
            None => (arg, &[][..]), // `SAY room` is an empty text
        };
        let room = String::from_utf8_lossy(room).into_owned();
        if !self.rooms.get(&room).is_some_and(|m| m.contains(&id)) {
            return Err(format!("not in {room}: JOIN it first"));
        }
        let msg = line([b"MSG", room.as_bytes(), nick.as_bytes(), text]);
        self.broadcast(&room, &msg, Some(id));
        Ok(msg)
    }

    /// Take client `id` out of `room` and tell the members that remain; a room nobody is in
    /// stops existing. False if it was not a member.
    fn part(&mut self, id: Id, nick: &str, room: &str) -> bool {
        let client = self.clients.get_mut(&id).expect("a reader's client exists");
        if !client.rooms.remove(room) {
            return false;
        }
        let members = self.rooms.get_mut(room).expect("a member's room exists");
        members.remove(&id);
        if members.is_empty() {
            self.rooms.remove(room);
        }
        self.broadcast(
            room,
            &line([b"LEFT", room.as_bytes(), nick.as_bytes()]),
            None,
        );
        true
    }

    /// A client is gone (QUIT, end of stream, reset, idle, too slow): every room it was in
    /// hears LEFT, its nick is free, and its queue closes.
    fn forget(&mut self, id: Id) {
        // exercise: begin "Forget a client that is gone"
        // hint: Leave each of its rooms with self.part(), which tells the members that remain: LEFT <room> <nick>. (Copy the set of rooms first: part() changes it.)
        // hint: Free its nick (self.nicks), then remove it from self.clients.
        // hint: Then close its outbox: its writer thread writes what is still queued and ends. Forget this and the writer waits forever: one thread and one socket leaked per client.
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let nick = client.nick.clone().unwrap_or_default();
        for room in client.rooms.clone() {
            self.part(id, &nick, &room);
        }
        self.nicks.remove(&nick);
        if let Some(client) = self.clients.remove(&id) {
            client.outbox.close();
        }
        // exercise: end
    }
}

/// A nick or room name: 1 to 32 bytes of `A-Z a-z 0-9 _ -`.
fn valid_name(arg: &[u8]) -> Result<String, String> {
    let ok = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-';
    if arg.is_empty() || arg.len() > MAX_NAME || !arg.iter().all(ok) {
        return Err("a name is 1 to 32 of A-Z a-z 0-9 _ -".into());
    }
    Ok(String::from_utf8(arg.to_vec()).expect("ASCII is UTF-8"))
}

/// Take the lock. `lock()` fails only if a thread panicked while holding it ("poisoned"), and
/// then the process is ending anyway (see `serve`).
fn lock(chat: &Mutex<Chat>) -> MutexGuard<'_, Chat> {
    // futex(2): an uncontended lock is one atomic instruction; only a thread that must wait
    // sleeps in the kernel, and the unlocking thread wakes it.
    chat.lock()
        .expect("no thread panics while holding the lock")
}

/// The server: accept forever, one reader thread per connection.
fn serve(addr: SocketAddr, idle: Duration, trace: Trace) -> io::Result<()> {
    // A thread that panics may leave the shared state half-changed (the Mutex is then
    // "poisoned"). Rather than serve on from a state nobody can trust, end the whole process.
    let report = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        report(info);
        std::process::exit(101);
    }));

    let listener = TcpListener::bind(addr)?; // socket, setsockopt(SO_REUSEADDR), bind, listen
    println!("listening on tcp://{}", listener.local_addr()?);
    let chat = Arc::new(Mutex::new(Chat {
        trace,
        ..Chat::default()
    }));
    for id in 1.. {
        // accept(2), blocking until a client has finished its handshake.
        let (conn, peer) = match listener.accept() {
            Ok(pair) => pair,
            Err(e) => {
                // EMFILE (out of descriptors) and friends: say so, keep the server up.
                eprintln!("accept failed: {e}");
                thread::sleep(Duration::from_millis(100));
                continue;
            }
        };
        trace.log(format_args!("accept() = client {id} from {peer}"));
        let chat = Arc::clone(&chat);
        // clone(2): a new thread, sharing our memory and our file descriptors. std reserves
        // a 2 MiB stack for it (mmap(2)); only the pages it touches become resident.
        let spawned = thread::Builder::new()
            .name(format!("reader-{id}"))
            .spawn(move || serve_client(&chat, Arc::new(conn), id, idle, trace));
        if let Err(e) = spawned {
            // EAGAIN: out of threads (ulimit -u, or memory). The socket closes as it drops.
            eprintln!("client {id}: cannot start a thread: {e}");
        }
    }
    Ok(())
}

/// How a client's reader loop ended.
#[derive(Debug)]
enum Ended {
    EndOfStream,
    Quit,
    LineTooLong,
    Idle,
    Failed(io::Error),
}

/// One client, on its reader thread: start its writer, register it, read until it is gone,
/// then forget it.
fn serve_client(chat: &Mutex<Chat>, conn: Arc<TcpStream>, id: Id, idle: Duration, trace: Trace) {
    trace.log(format_args!("thread reader-{id} started"));
    // setsockopt(2) SO_RCVTIMEO: a read() that waits longer than `idle` fails with EAGAIN.
    // SO_SNDTIMEO likewise ends a writer stuck on a client that reads nothing at all.
    let _ = conn.set_read_timeout(Some(idle));
    let _ = conn.set_write_timeout(Some(idle));
    // setsockopt(2) TCP_NODELAY: send each line at once. With Nagle's algorithm on, a small
    // write waits for the ACK of the previous one, and the peer may delay that ACK by 40 ms.
    let _ = conn.set_nodelay(true);
    let outbox = Arc::new(Outbox::default());
    let (writer, queue) = (Arc::clone(&conn), Arc::clone(&outbox));
    let spawned = thread::Builder::new()
        .name(format!("writer-{id}"))
        .spawn(move || write_lines(&writer, &queue, id, trace));
    if let Err(e) = spawned {
        eprintln!("client {id}: cannot start its writer thread: {e}");
        return;
    }
    {
        let mut chat = lock(chat);
        let client = Client {
            nick: None,
            rooms: BTreeSet::new(),
            outbox: Arc::clone(&outbox),
            conn: Arc::clone(&conn),
            dropped: false,
        };
        chat.clients.insert(id, client);
        chat.deliver(id, &line([b"HELLO", idle.as_secs().to_string().as_bytes()]));
    }

    let ended = read_lines(chat, &conn, &outbox, id, trace);
    lock(chat).forget(id);
    if let Ended::Failed(e) = &ended {
        eprintln!("client {id}: {e}; forgetting it");
    }
    trace.log(format_args!(
        "client {id}: {ended:?}; thread reader-{id} ends"
    ));
    if matches!(ended, Ended::Quit | Ended::LineTooLong) {
        linger(&conn);
    }
    // Our `conn` drops here; the socket is closed, close(2), once the writer's drops too.
}

/// The reader loop: read, cut the bytes into lines, run each line as a command.
fn read_lines(
    chat: &Mutex<Chat>,
    conn: &TcpStream,
    outbox: &Outbox,
    id: Id,
    trace: Trace,
) -> Ended {
    // exercise: begin "Read lines until the client is gone"
    // hint: Loop on read(). Ok(0) is end of stream (the client closed or half-closed); an error of kind WouldBlock (EAGAIN) is SO_RCVTIMEO firing: the client was idle too long, so queue "ERR idle timeout" before ending.
    // hint: Push the bytes into a FrameDecoder (Framing::Lines) and take every complete line out of it: one read can hold half a line or ten lines.
    // hint: Run each line with lock(chat).command(id, &line): the lock is held for one command only, never while reading. After::Close (QUIT) ends the loop.
    // hint: The decoder answers Err once a line passes 1,024 bytes: queue "ERR {e}" and end; the connection cannot go on.
    // hint: Before each read, outbox.wait_below(BACKPRESSURE_BYTES): a client that sends faster than it reads its answers then slows down itself, instead of filling its queue until it is dropped.
    let mut decoder = FrameDecoder::new(Framing::Lines);
    let mut io = Traced::new(conn, trace);
    let mut buf = [0u8; 4096];
    loop {
        // Backpressure: while much is queued for this client, read no more from it. Only this
        // thread waits, for this client: nobody else notices.
        outbox.wait_below(BACKPRESSURE_BYTES);
        // read(2): sleeps until bytes arrive, the client leaves, or SO_RCVTIMEO passes.
        let n = match io.read(&mut buf) {
            Ok(0) => return Ended::EndOfStream,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EAGAIN, which std calls WouldBlock: SO_RCVTIMEO passed without a byte.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                lock(chat).deliver(id, &line([b"ERR idle timeout"]));
                return Ended::Idle;
            }
            Err(e) => return Ended::Failed(e),
        };
        decoder.push(&buf[..n]);
        loop {
            match decoder.next_message() {
                Ok(Some(request)) => {
                    if lock(chat).command(id, &request) == After::Close {
                        return Ended::Quit;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    lock(chat).deliver(id, &line([b"ERR", e.to_string().as_bytes()]));
                    return Ended::LineTooLong;
                }
            }
        }
    }
    // exercise: end
}

/// The writer thread: write what is queued to the socket, in order, until the queue closes.
/// It is the only thread that ever waits for this client to read.
fn write_lines(conn: &TcpStream, outbox: &Outbox, id: Id, trace: Trace) {
    trace.log(format_args!("thread writer-{id} started"));
    let mut io = Traced::new(conn, trace);
    // Every line waiting, in one write(2): a system call per line would be slower than the
    // reader that queues them.
    while let Some(batch) = outbox.take() {
        let written = io.write_all(&batch);
        outbox.written(batch.len());
        if let Err(e) = written {
            // The client reset, or we shut it down as too slow, or SO_SNDTIMEO passed. Close
            // the queue and shut the socket down both ways, so that its reader ends too.
            trace.log(format_args!("client {id}: write failed: {e}"));
            outbox.close();
            let _ = conn.shutdown(Shutdown::Both);
            break;
        }
    }
    // shutdown(2) SHUT_WR: our FIN, after the last line (BYE, or an ERR).
    let _ = conn.shutdown(Shutdown::Write);
    trace.log(format_args!("thread writer-{id} ends"));
}

/// Close after QUIT or an error without losing the last line: if we close while the client's
/// bytes sit unread, Linux sends a reset, which can destroy our `BYE` before the client reads
/// it. So read and discard what still comes (at most 2 s and 4 MiB) until the client closes.
fn linger(conn: &TcpStream) {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut sink = [0u8; 16 * 1024];
    let mut discarded = 0;
    while discarded < 4 << 20 {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || conn.set_read_timeout(Some(left)).is_err() {
            return;
        }
        match (&*conn).read(&mut sink) {
            Ok(0) | Err(_) => return,
            Ok(n) => discarded += n,
        }
    }
}

/// The client: one thread sends standard input, line by line as it is typed; the main thread
/// prints what the server sends, as it arrives. Two threads, because either side may speak
/// at any time: a MSG can arrive while we wait for the user to type.
fn client(addr: SocketAddr, trace: Trace) -> io::Result<()> {
    let conn = Arc::new(TcpStream::connect(addr)?);
    trace.log(format_args!("connect({addr}) = 0"));
    let sender = Arc::clone(&conn);
    thread::spawn(move || {
        let mut io = Traced::new(&*sender, trace);
        let _ = io::copy(&mut io::stdin().lock(), &mut io);
        // End of input: half-close. The server forgets us and closes; our reads then end.
        let _ = sender.shutdown(Shutdown::Write);
    });
    // Standard output is line-buffered: each line shows as soon as it is complete.
    io::copy(&mut Traced::new(&*conn, trace), &mut io::stdout().lock())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chat with `n` clients, whose queues the test reads in place of writer threads.
    fn chat(n: u64) -> (Chat, Vec<Arc<Outbox>>, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut chat = Chat::default();
        let mut outboxes = Vec::new();
        for id in 0..n {
            let outbox = Arc::new(Outbox::default());
            let conn = Arc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
            let (nick, rooms, dropped) = (None, BTreeSet::new(), false);
            let client = Client {
                nick,
                rooms,
                outbox: Arc::clone(&outbox),
                conn,
                dropped,
            };
            chat.clients.insert(id, client);
            outboxes.push(outbox);
        }
        (chat, outboxes, listener)
    }

    /// Everything queued so far, as text.
    fn drain(outbox: &Outbox) -> String {
        let lines: Vec<Line> = outbox.queue.lock().unwrap().lines.drain(..).collect();
        String::from_utf8(lines.concat()).unwrap()
    }

    #[test]
    fn a_conversation_and_its_mistakes() {
        let (mut chat, q, _l) = chat(2);
        for (id, request) in [
            (0, "SAY x hi"),
            (0, "NICK ada"),
            (0, "JOIN rust"),
            (1, "NICK ada"),
            (1, "NICK bob"),
            (1, "JOIN rust"),
            (0, "SAY rust hi all"),
            (1, "WHO"),
            (1, "QUIT"),
        ] {
            chat.command(id, request.as_bytes());
        }
        chat.forget(1);
        let ada = "ERR choose a nick first: NICK <name>\nOK NICK ada\nOK JOIN rust\n\
                   JOINED rust bob\nMSG rust ada hi all\nLEFT rust bob\n";
        assert_eq!(drain(&q[0]), ada);
        let bob = drain(&q[1]);
        assert!(
            bob.starts_with("ERR nick ada is taken\nOK NICK bob\nOK JOIN rust\n"),
            "{bob}"
        );
        assert!(bob.ends_with(
            "hi all\nERR unknown command \"WHO\": try NICK, JOIN, LEAVE, SAY, PING or QUIT\nBYE\n"
        ));
        assert!(!chat.nicks.contains_key("bob") && chat.rooms["rust"].len() == 1);
        assert!(q[1].queue.lock().unwrap().closed, "forget closes the queue");
    }

    #[test]
    fn a_full_queue_drops_its_client_instead_of_waiting() {
        let (mut chat, q, _l) = chat(1);
        let kib = line([&[b'x'; 1023]]);
        for _ in 0..QUEUE_BYTES / 1024 {
            chat.deliver(0, &kib); // nobody writes: the queue fills up
        }
        assert!(!chat.clients[&0].dropped);
        chat.deliver(0, &line([b"PONG"]));
        assert!(chat.clients[&0].dropped);
        assert_eq!(q[0].take().map(|b| b.len()), Some(QUEUE_BYTES));
    }
}
