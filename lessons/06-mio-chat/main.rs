//! Lesson 06: the chat of lesson 04 on the event loop. One thread serves every client; rooms,
//! broadcast fan-out, idle timeouts and slow consumers are handled without a single extra thread.
//!
//! ```text
//! cargo run --bin 06-mio-chat                          # server on 127.0.0.1:7006
//! cargo run --bin 06-mio-chat -- client                # type: NICK ada, JOIN rust, SAY rust hi
//! nc 127.0.0.1 7006                                    # the protocol is plain lines
//! cargo run --bin 06-mio-chat -- --idle-timeout 5 --trace
//! ```
//!
//! The protocol is lessons/04-threaded-chat/PROTOCOL.md. The file has three parts: the chat
//! itself as a sans-IO core ([`Chat`]: a line in, [`Action`]s out, time passed in), the thin
//! adapter that plugs it into the loop ([`ChatService`]), and `main`.

use clap::{Parser, Subcommand};
use netcourse::event_loop::{self, Closed, Config, ConnId, Cx, EventLoop, Service};
use netcourse::framing::{self, FrameDecoder, Framing};
use netcourse::trace::Trace;
use std::collections::{BTreeSet, HashMap};
use std::io::{self, BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Lesson 06: a chat server with rooms on one event loop")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The server's options, when no subcommand is given.
    #[command(flatten)]
    server: ServerArgs,
    /// Address to listen on (server) or connect to (client). Port 0 picks a free port.
    #[arg(long, global = true, default_value = "127.0.0.1:7006")]
    addr: SocketAddr,
    /// Print the loop's events and system calls to stderr.
    #[arg(long, global = true)]
    trace: bool,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// Close a connection that sends nothing for this many seconds.
    #[arg(long, default_value_t = 30)]
    idle_timeout: u64,
    /// Drop a client when this many bytes wait for it: it is not reading.
    #[arg(long, default_value_t = 256 * 1024)]
    max_queue: usize,
}

#[derive(Subcommand)]
enum Mode {
    /// Serve the chat (the default).
    Server(ServerArgs),
    /// Send lines from standard input, print every line from the server.
    Client,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    match cli.mode.unwrap_or(Mode::Server(cli.server)) {
        Mode::Server(args) => serve(cli.addr, args.idle_timeout, args.max_queue, trace)?,
        Mode::Client => client(cli.addr)?,
    }
    Ok(())
}

fn serve(addr: SocketAddr, idle_timeout: u64, max_queue: usize, trace: Trace) -> io::Result<()> {
    event_loop::raise_fd_limit()?;
    let config = Config {
        // The slow consumer policy: a client with more than `max_queue` bytes waiting is
        // dropped. A sender whose own echoes pile up is paused (it is reading too slowly too).
        max_output: max_queue,
        pause_reading_above: max_queue / 4,
        trace,
        ..Config::default()
    };
    let mut lp = EventLoop::new(config)?;
    let local = lp.listen_tcp(addr)?;
    lp.stop_on_signals()?;
    println!("listening on tcp://{local}");
    let mut service = ChatService {
        chat: Chat::new(Duration::from_secs(idle_timeout)),
        actions: Vec::new(),
    };
    lp.run(&mut service)?;
    Ok(())
}

// ---- The chat, sans-IO ----------------------------------------------------------------------

/// What the chat asks of the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    /// Send this line (the `\n` included) to this connection.
    Send(ConnId, Vec<u8>),
    /// Close the connection after what was sent to it.
    Close(ConnId),
    /// Call [`Chat::on_timer`] for this connection at this time.
    Wake(ConnId, Instant),
}

/// One connected client.
struct Member {
    nick: Option<String>,
    rooms: BTreeSet<String>,
    /// Bytes of an unfinished line. Empty (no allocation) between lines.
    lines: FrameDecoder,
    /// It sent QUIT or broke a limit: the rest of what it sends is ignored.
    leaving: bool,
    last_heard: Instant,
}

/// The whole chat: members, nicks and rooms. No sockets, no clock: every method gets the time
/// and appends what must happen to `out`.
struct Chat {
    idle: Duration,
    members: HashMap<ConnId, Member>,
    nicks: HashMap<String, ConnId>,
    rooms: HashMap<String, BTreeSet<ConnId>>,
}

impl Chat {
    fn new(idle: Duration) -> Self {
        Chat {
            idle,
            members: HashMap::new(),
            nicks: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    fn on_open(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        self.members.insert(
            conn,
            Member {
                nick: None,
                rooms: BTreeSet::new(),
                lines: FrameDecoder::new(Framing::Lines),
                last_heard: now,
                leaving: false,
            },
        );
        out.push(Action::Send(
            conn,
            format!("HELLO {}\n", self.idle.as_secs()).into_bytes(),
        ));
        out.push(Action::Wake(conn, now + self.idle));
    }

    /// Bytes from a client: answer every complete line in them.
    fn on_data(&mut self, conn: ConnId, bytes: &[u8], now: Instant, out: &mut Vec<Action>) {
        let Some(member) = self.members.get_mut(&conn) else {
            return;
        };
        if member.leaving {
            return; // after QUIT (or an error) nothing more is acted on
        }
        member.last_heard = now;
        member.lines.push(bytes);
        loop {
            let Some(member) = self.members.get_mut(&conn) else {
                return;
            };
            match member.lines.next_message() {
                Ok(Some(line)) => self.on_line(conn, &line, out),
                Ok(None) => return,
                Err(e) => {
                    out.push(Action::Send(conn, format!("ERR {e}\n").into_bytes()));
                    out.push(Action::Close(conn));
                }
            }
            if out.last() == Some(&Action::Close(conn)) {
                // QUIT, or a broken limit: the lines after it in the same read are ignored.
                if let Some(member) = self.members.get_mut(&conn) {
                    member.leaving = true;
                    member.lines = FrameDecoder::new(Framing::Lines);
                }
                return;
            }
        }
    }

    fn on_line(&mut self, conn: ConnId, line: &[u8], out: &mut Vec<Action>) {
        // Commands and names are ASCII; the text of SAY is any bytes and is passed on as is.
        let (command, rest_bytes) = split_word(line);
        let command = String::from_utf8_lossy(command);
        let rest = String::from_utf8_lossy(rest_bytes);
        let rest = rest.as_ref();
        let reply = |text: String| Action::Send(conn, format!("{text}\n").into_bytes());
        let nick = self.members[&conn].nick.clone();
        match (command.as_ref(), nick) {
            ("PING", _) => out.push(reply("PONG".into())),
            ("QUIT", _) => {
                out.push(reply("BYE".into()));
                out.push(Action::Close(conn));
            }
            ("NICK", _) if !valid_name(rest) => out.push(reply(format!(
                "ERR invalid nick {rest:?}: 1 to 32 of A-Z a-z 0-9 _ -"
            ))),
            ("NICK", _) if self.nicks.get(rest).is_some_and(|&c| c != conn) => {
                out.push(reply(format!("ERR nick {rest} is taken")))
            }
            ("NICK", old) => {
                if let Some(old) = old {
                    self.nicks.remove(&old);
                }
                self.nicks.insert(rest.to_string(), conn);
                self.members.get_mut(&conn).expect("a member").nick = Some(rest.to_string());
                out.push(reply(format!("OK NICK {rest}")));
            }
            ("JOIN" | "LEAVE" | "SAY", None) => {
                out.push(reply("ERR no nick yet: send NICK <name> first".into()))
            }
            ("JOIN", Some(nick)) => {
                if !valid_name(rest) {
                    return out.push(reply(format!(
                        "ERR invalid room {rest:?}: 1 to 32 of A-Z a-z 0-9 _ -"
                    )));
                }
                if !self
                    .members
                    .get_mut(&conn)
                    .expect("a member")
                    .rooms
                    .insert(rest.to_string())
                {
                    return out.push(reply(format!("ERR already in {rest}")));
                }
                out.push(reply(format!("OK JOIN {rest}")));
                self.broadcast(
                    rest,
                    Some(conn),
                    format!("JOINED {rest} {nick}\n").as_bytes(),
                    out,
                );
                self.rooms.entry(rest.to_string()).or_default().insert(conn);
            }
            ("LEAVE", Some(nick)) => {
                if !self.leave(conn, rest, &nick, out) {
                    return out.push(reply(format!("ERR not in {rest:?}")));
                }
                out.push(reply(format!("OK LEAVE {rest}")));
            }
            ("SAY", Some(nick)) => {
                let (room, text) = split_word(rest_bytes);
                let room = String::from_utf8_lossy(room);
                if !self.members[&conn].rooms.contains(room.as_ref()) {
                    return out.push(reply(format!("ERR not in {room:?}")));
                }
                let line = [
                    b"MSG ",
                    room.as_bytes(),
                    b" ",
                    nick.as_bytes(),
                    b" ",
                    text,
                    b"\n",
                ]
                .concat();
                self.broadcast(&room, None, &line, out);
            }
            _ => out.push(reply(format!("ERR unknown command {command:?}"))),
        }
    }

    /// Send `line` to every member of `room` but `except`.
    fn broadcast(&self, room: &str, except: Option<ConnId>, line: &[u8], out: &mut Vec<Action>) {
        // exercise: begin "Fan a line out to a room"
        // hint: self.rooms[room] is the set of members' connections; skip `except` (the member the line is about, who joined or left).
        // hint: Push one Action::Send per member: the loop queues each copy and writes it when it can, so a slow member never holds up the others (and is dropped if its queue passes the bound).
        // hint: A room with no entry has no members: use self.rooms.get(room) and send nothing.
        for &member in self.rooms.get(room).into_iter().flatten() {
            if Some(member) != except {
                out.push(Action::Send(member, line.to_vec()));
            }
        }
        // exercise: end
    }

    /// Remove `conn` from `room`, telling the others. False if it was not a member.
    fn leave(&mut self, conn: ConnId, room: &str, nick: &str, out: &mut Vec<Action>) -> bool {
        let removed = self
            .members
            .get_mut(&conn)
            .is_some_and(|m| m.rooms.remove(room));
        if removed {
            self.left(conn, room, nick, out);
        }
        removed
    }

    /// The connection is gone, however it went: leave every room, free the nick.
    fn on_close(&mut self, conn: ConnId, out: &mut Vec<Action>) {
        let Some(member) = self.members.remove(&conn) else {
            return;
        };
        if let Some(nick) = &member.nick {
            self.nicks.remove(nick);
            for room in &member.rooms {
                self.left(conn, room, nick, out);
            }
        }
    }

    /// Take `conn` out of the room's member list (the room goes when empty) and announce it.
    fn left(&mut self, conn: ConnId, room: &str, nick: &str, out: &mut Vec<Action>) {
        if let Some(members) = self.rooms.get_mut(room) {
            members.remove(&conn);
            if members.is_empty() {
                self.rooms.remove(room);
            }
        }
        let line = format!("LEFT {room} {nick}\n");
        self.broadcast(room, Some(conn), line.as_bytes(), out);
    }

    /// A connection's wake-up time has come: close it if it has been silent for the whole
    /// idle timeout, otherwise sleep again until its new deadline.
    fn on_timer(&mut self, conn: ConnId, now: Instant, out: &mut Vec<Action>) {
        // exercise: begin "The idle timeout, with one timer per connection"
        // hint: Resetting a timer on every message would fill the timer heap; instead remember when the client was last heard (member.last_heard) and keep one wake-up per connection.
        // hint: When it fires: if now >= last_heard + self.idle, send "ERR idle timeout\n" and push Action::Close(conn).
        // hint: Otherwise the client spoke meanwhile: push Action::Wake(conn, last_heard + self.idle) for its new deadline.
        let Some(member) = self.members.get(&conn) else {
            return;
        };
        let deadline = member.last_heard + self.idle;
        if now >= deadline {
            out.push(Action::Send(conn, b"ERR idle timeout\n".to_vec()));
            out.push(Action::Close(conn));
        } else {
            out.push(Action::Wake(conn, deadline));
        }
        // exercise: end
    }
}

/// The first word of a line and the rest after one space: `SAY rust hi` gives `SAY`,
/// `rust hi`.
fn split_word(line: &[u8]) -> (&[u8], &[u8]) {
    match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &[]),
    }
}

/// A nick or room name: 1 to 32 of `A-Z a-z 0-9 _ -`.
fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

// ---- Plugging the chat into the loop ---------------------------------------------------------

/// The adapter: loop events in, chat actions out to the loop.
struct ChatService {
    chat: Chat,
    /// Reused between callbacks, so that handling a message allocates no list.
    actions: Vec<Action>,
}

impl ChatService {
    fn apply(&mut self, cx: &mut Cx<'_>) {
        for action in self.actions.drain(..) {
            match action {
                // A `false` here means the member was just dropped as too slow; the loop will
                // call on_close for it, and the room hears LEFT.
                Action::Send(conn, bytes) => {
                    cx.send(conn, &bytes);
                }
                Action::Close(conn) => cx.close(conn),
                Action::Wake(conn, at) => cx.set_timer(at, conn as u64),
            }
        }
    }
}

impl Service for ChatService {
    fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, _peer: SocketAddr) {
        self.chat.on_open(conn, cx.now(), &mut self.actions);
        self.apply(cx);
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        self.chat.on_data(conn, data, cx.now(), &mut self.actions);
        self.apply(cx);
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, conn: ConnId, why: Closed) {
        cx.trace().log(format_args!("conn {conn} gone: {why:?}"));
        cx.cancel_timer(conn as u64);
        self.chat.on_close(conn, &mut self.actions);
        self.apply(cx);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        self.chat
            .on_timer(key as ConnId, cx.now(), &mut self.actions);
        self.apply(cx);
    }

    fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
        for &conn in self.chat.members.keys() {
            cx.send(conn, b"ERR server shutting down\n");
        }
    }
}

// ---- The client ------------------------------------------------------------------------------

/// Lines from standard input go to the server; lines from the server are printed as they come.
fn client(addr: SocketAddr) -> io::Result<()> {
    let conn = TcpStream::connect(addr)?;
    let reader = conn.try_clone()?;
    let printing = std::thread::spawn(move || -> io::Result<()> {
        let mut decoder = FrameDecoder::new(Framing::Lines);
        let mut buf = [0u8; 4096];
        let mut stdout = io::stdout().lock();
        loop {
            let n = (&reader).read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            decoder.push(&buf[..n]);
            while let Some(line) = decoder.next_message().map_err(io::Error::other)? {
                stdout.write_all(&line)?;
                stdout.write_all(b"\n")?;
            }
            stdout.flush()?;
        }
    });
    for line in io::stdin().lock().lines() {
        (&conn).write_all(&framing::encode(Framing::Lines, line?.as_bytes()))?;
    }
    conn.shutdown(std::net::Shutdown::Write)?;
    printing.join().expect("the printing thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Drive the sans-IO chat: the sends to each connection, as text.
    fn sent_to(actions: &[Action], conn: ConnId) -> String {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Send(c, bytes) if *c == conn => {
                    Some(String::from_utf8_lossy(bytes).into_owned())
                }
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_conversation_without_sockets() {
        let t0 = Instant::now();
        let mut chat = Chat::new(Duration::from_secs(30));
        let mut out = Vec::new();
        chat.on_open(1, t0, &mut out);
        chat.on_open(2, t0, &mut out);
        assert_eq!(sent_to(&out, 1), "HELLO 30\n");
        out.clear();
        chat.on_data(1, b"NICK ada\nJOIN rust\n", t0, &mut out);
        chat.on_data(2, b"NICK bob\nJO", t0, &mut out);
        chat.on_data(2, b"IN rust\nSAY rust hi all\n", t0, &mut out);
        assert_eq!(
            sent_to(&out, 1),
            "OK NICK ada\nOK JOIN rust\nJOINED rust bob\nMSG rust bob hi all\n"
        );
        assert_eq!(
            sent_to(&out, 2),
            "OK NICK bob\nOK JOIN rust\nMSG rust bob hi all\n"
        );
        out.clear();
        chat.on_data(2, b"NICK ada\n", t0, &mut out);
        assert_eq!(sent_to(&out, 2), "ERR nick ada is taken\n");
        out.clear();
        chat.on_close(2, &mut out);
        assert_eq!(sent_to(&out, 1), "LEFT rust bob\n");
    }

    #[test]
    fn the_idle_timer_rearms_until_the_client_is_silent_long_enough() {
        let t0 = Instant::now();
        let idle = Duration::from_secs(10);
        let mut chat = Chat::new(idle);
        let mut out = Vec::new();
        chat.on_open(7, t0, &mut out);
        chat.on_data(7, b"PING\n", t0 + Duration::from_secs(6), &mut out);
        out.clear();
        chat.on_timer(7, t0 + idle, &mut out);
        assert_eq!(out, vec![Action::Wake(7, t0 + Duration::from_secs(16))]);
        out.clear();
        chat.on_timer(7, t0 + Duration::from_secs(16), &mut out);
        assert_eq!(
            out,
            vec![
                Action::Send(7, b"ERR idle timeout\n".to_vec()),
                Action::Close(7)
            ]
        );
    }

    #[test]
    fn nothing_after_quit_is_acted_on_and_text_is_passed_on_as_bytes() {
        let t0 = Instant::now();
        let mut chat = Chat::new(Duration::from_secs(30));
        let mut out = Vec::new();
        chat.on_open(1, t0, &mut out);
        chat.on_open(2, t0, &mut out);
        chat.on_data(1, b"NICK ada\nJOIN r\n", t0, &mut out);
        chat.on_data(2, b"NICK bob\nJOIN r\n", t0, &mut out);
        out.clear();
        chat.on_data(2, b"SAY r caf\xe9\nQUIT\nSAY r too late\n", t0, &mut out);
        chat.on_data(2, b"SAY r later still\n", t0, &mut out);
        assert_eq!(sent_to(&out, 2), "MSG r bob caf\u{fffd}\nBYE\n"); // (lossy only in this view)
        let to_ada: Vec<&Vec<u8>> = out
            .iter()
            .filter_map(|a| match a {
                Action::Send(1, bytes) => Some(bytes),
                _ => None,
            })
            .collect();
        assert_eq!(to_ada, vec![&b"MSG r bob caf\xe9\n".to_vec()]);
    }

    #[test]
    fn names_are_checked() {
        assert!(valid_name("rust-lang_2"));
        assert!(!valid_name("") && !valid_name("a b") && !valid_name(&"x".repeat(33)));
    }
}
