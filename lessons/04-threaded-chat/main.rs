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
//! - each reader starts one *writer* thread for its client, fed by a bounded queue;
//! - the chat itself (nicks, rooms, the queues) is one `Chat` behind one `Mutex`.
//!
//! A reader reads lines, takes the lock, runs the command and puts the answers on the queues of
//! whoever must receive them, without ever waiting: a full queue means that client is too slow,
//! and it is dropped. Only a client's own writer thread ever blocks on that client's socket.
//!
//! Threads are made by clone(2) (std's `thread::spawn`, through pthread_create); a `Mutex` and a
//! channel that must wait sleep in futex(2); the idle timeout is SO_RCVTIMEO (setsockopt(2)).

use clap::{Parser, Subcommand};
use netcourse::framing::{FrameDecoder, Framing};
use netcourse::trace::{Trace, Traced};
use std::collections::{BTreeSet, HashMap};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
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
/// Nicks and room names: 1 to 32 bytes of `A-Z a-z 0-9 _ -`.
const MAX_NAME: usize = 32;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    match cli.mode.unwrap_or(Mode::Server) {
        Mode::Server => serve(
            cli.addr,
            Duration::from_secs(cli.idle_timeout.max(1)),
            trace,
        )?,
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

/// What the chat knows about one connected client.
struct Client {
    nick: Option<String>,
    rooms: BTreeSet<String>,
    /// The sending end of this client's queue; its writer thread holds the other end.
    outbox: Sender<Line>,
    /// Bytes waiting in that queue: `deliver` adds (under the lock), the writer subtracts.
    queued: Arc<AtomicUsize>,
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
        // exercise: begin "Queue a line for a client, never waiting for it"
        // hint: You hold the chat's lock. A write() to the socket here would make every other client wait for this one; put the line on its queue instead (outbox.send on an unbounded channel never blocks).
        // hint: The bound is yours to keep: if client.queued plus this line's length would pass QUEUE_BYTES, the client is not reading. Drop it: conn.shutdown(Shutdown::Both). Its writer's write() then fails and its reader's read() returns 0, and the reader's cleanup announces LEFT.
        // hint: Otherwise add the line's length to client.queued (fetch_add) and send it; the writer subtracts once it is written. Ordering::Relaxed is enough: the channel itself orders the lines.
        // hint: Remember that you dropped it (the `dropped` field), so the next lines for it are skipped. A send() error means its writer has ended already (the peer reset): its reader is cleaning up, nothing to do.
        let trace = self.trace;
        let Some(client) = self.clients.get_mut(&to) else {
            return;
        };
        if client.dropped {
            return;
        }
        if client.queued.load(Ordering::Relaxed) + line.len() > QUEUE_BYTES {
            trace.log(format_args!(
                "client {to}: {QUEUE_BYTES} bytes queued, dropping it as too slow"
            ));
            // shutdown(2) SHUT_RDWR: wakes both of its threads, from this one.
            let _ = client.conn.shutdown(Shutdown::Both);
            client.dropped = true;
            return;
        }
        client.queued.fetch_add(line.len(), Ordering::Relaxed);
        let _ = client.outbox.send(Arc::clone(line));
        // exercise: end
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
        // hint: Removing the Client drops `outbox`, the last sender of its queue: its writer thread writes what is still queued, sees the queue close, and ends. Forget this and the writer waits forever: one thread and one socket leaked per client.
        let Some(client) = self.clients.get(&id) else {
            return;
        };
        let nick = client.nick.clone().unwrap_or_default();
        for room in client.rooms.clone() {
            self.part(id, &nick, &room);
        }
        self.nicks.remove(&nick);
        self.clients.remove(&id);
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
    // The queue: a channel, and the count of bytes in it that keeps it bounded.
    let (outbox, queue) = mpsc::channel();
    let queued = Arc::new(AtomicUsize::new(0));
    let (writer, written) = (Arc::clone(&conn), Arc::clone(&queued));
    let spawned = thread::Builder::new()
        .name(format!("writer-{id}"))
        .spawn(move || write_lines(&writer, queue, &written, id, trace));
    if let Err(e) = spawned {
        eprintln!("client {id}: cannot start its writer thread: {e}");
        return;
    }
    {
        let mut chat = lock(chat);
        let client = Client {
            nick: None,
            rooms: BTreeSet::new(),
            outbox,
            queued,
            conn: Arc::clone(&conn),
            dropped: false,
        };
        chat.clients.insert(id, client);
        chat.deliver(id, &line([b"HELLO", idle.as_secs().to_string().as_bytes()]));
    }

    let ended = read_lines(chat, &conn, id, trace);
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
fn read_lines(chat: &Mutex<Chat>, conn: &TcpStream, id: Id, trace: Trace) -> Ended {
    // exercise: begin "Read lines until the client is gone"
    // hint: Loop on read(). Ok(0) is end of stream (the client closed or half-closed); an error of kind WouldBlock (EAGAIN) is SO_RCVTIMEO firing: the client was idle too long, so queue "ERR idle timeout" before ending.
    // hint: Push the bytes into a FrameDecoder (Framing::Lines) and take every complete line out of it: one read can hold half a line or ten lines.
    // hint: Run each line with lock(chat).command(id, &line): the lock is held for one command only, never while reading. After::Close (QUIT) ends the loop.
    // hint: The decoder answers Err once a line passes 1,024 bytes: queue "ERR {e}" and end; the connection cannot go on.
    let mut decoder = FrameDecoder::new(Framing::Lines);
    let mut io = Traced::new(conn, trace);
    let mut buf = [0u8; 4096];
    loop {
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

/// The writer thread: write each queued line to the socket, in order, until the queue closes.
/// It is the only thread that ever waits for this client to read.
fn write_lines(
    conn: &TcpStream,
    queue: Receiver<Line>,
    queued: &AtomicUsize,
    id: Id,
    trace: Trace,
) {
    trace.log(format_args!("thread writer-{id} started"));
    let mut io = Traced::new(conn, trace);
    // recv() sleeps (futex) until a line is queued, and ends once every sender is gone, that
    // is, once the reader has called `forget`.
    for line in queue {
        let written = io.write_all(&line);
        queued.fetch_sub(line.len(), Ordering::Relaxed);
        if let Err(e) = written {
            // The client reset, or we shut it down as too slow, or SO_SNDTIMEO passed. Shut
            // the socket down both ways, so that its reader's read() returns too.
            trace.log(format_args!("client {id}: write failed: {e}"));
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
    fn chat(n: u64) -> (Chat, Vec<Receiver<Line>>, TcpListener) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut chat = Chat::default();
        let mut queues = Vec::new();
        for id in 0..n {
            let (outbox, queue) = mpsc::channel();
            let conn = Arc::new(TcpStream::connect(listener.local_addr().unwrap()).unwrap());
            let (nick, rooms, queued, dropped) = (None, BTreeSet::new(), Arc::default(), false);
            let client = Client {
                nick,
                rooms,
                outbox,
                queued,
                conn,
                dropped,
            };
            chat.clients.insert(id, client);
            queues.push(queue);
        }
        (chat, queues, listener)
    }

    fn drain(queue: &Receiver<Line>) -> String {
        queue
            .try_iter()
            .map(|l| String::from_utf8_lossy(&l).into_owned())
            .collect()
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
        assert_eq!(q[0].try_iter().count(), QUEUE_BYTES / 1024);
    }
}
