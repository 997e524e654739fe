//! Lesson 04: the reference chat server passes its grader; a second, independent chat server
//! written here passes it too; and that same server with one classic mistake switched on fails
//! the check meant to catch that mistake, for every check. `nc` and the lesson's own client
//! chat with the reference.
//!
//! Some checks read the server's file descriptors and memory from /proc, so every server graded
//! here runs in a process of its own: this test binary, started again with `CHILD_ENV` set, runs
//! only `chat_server_child_process`, which serves until its parent goes away.

mod common;

use common::*;
use netcourse::grader::{Listener, Target};
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

const LESSON: u32 = 4;
const BIN: &str = env!("CARGO_BIN_EXE_04-threaded-chat");

#[test]
fn reference_server_passes_every_check() {
    let cmd = format!("{} --idle-timeout 2", reference_cmd(BIN));
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
fn an_independent_server_passes_every_check() {
    // One process for every check, as `course check 04 --addr` grades a running server.
    let (_server, listeners) = spawn_chat_server(None, 2);
    assert_passes(LESSON, Target::Running(listeners));
}

#[test]
#[cfg_attr(
    missing_nc,
    ignore = "peer test: nc not found (scripts/test.sh installs it)"
)]
fn nc_is_a_chat_client() {
    let (_server, listeners) = start_peer(Command::new(BIN).args(["--addr", "127.0.0.1:0"]));
    let addr = listeners[0].addr;
    let mut bob = Line::connect(addr);
    assert_eq!(bob.line(), "HELLO 30");
    bob.send("NICK bob\nJOIN rust\n");
    assert_eq!(bob.line(), "OK NICK bob");
    assert_eq!(bob.line(), "OK JOIN rust");
    // nc -N sends its input, half-closes at its end, and prints what comes back until the
    // server closes: the whole conversation, deterministic since it is one client's.
    let out = pipe_through(
        Command::new("nc").args(["-N", &addr.ip().to_string(), &addr.port().to_string()]),
        b"NICK ada\r\nJOIN rust\nSAY rust hello from nc\nWHO\nQUIT\n".to_vec(),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HELLO 30\nOK NICK ada\nOK JOIN rust\nMSG rust ada hello from nc\n\
         ERR unknown command \"WHO\": try NICK, JOIN, LEAVE, SAY, PING or QUIT\nBYE\n"
    );
    assert_eq!(bob.line(), "JOINED rust ada");
    assert_eq!(bob.line(), "MSG rust ada hello from nc");
    assert_eq!(bob.line(), "LEFT rust ada");
}

#[test]
fn the_lesson_client_chats_until_its_input_ends() {
    let (_server, listeners) =
        start_peer(Command::new(BIN).args(["--addr", "127.0.0.1:0", "--idle-timeout", "7"]));
    let out = pipe_through(
        Command::new(BIN).args(["client", "--addr", &listeners[0].addr.to_string()]),
        b"NICK ada\nJOIN rust\nSAY rust typed, then end of input\n".to_vec(),
    );
    // End of input is a half-close: the server answers everything, forgets us, and closes.
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "HELLO 7\nOK NICK ada\nOK JOIN rust\nMSG rust ada typed, then end of input\n"
    );
}

#[test]
fn a_client_that_pastes_megabytes_is_slowed_not_dropped() {
    let (_server, listeners) = start_peer(Command::new(BIN).args(["--addr", "127.0.0.1:0"]));
    // 4,000 lines of 1 KB at once: far more than the 256 KiB queue, and the client reads its
    // echoes more slowly than it writes. Backpressure (its reader waits for its own queue)
    // slows it down; without it, the client is dropped as too slow after a few hundred lines.
    let mut paste = b"NICK paster\nJOIN rust\n".to_vec();
    for i in 0..4000 {
        paste.extend(format!("SAY rust {i:05} {}\n", "x".repeat(1000)).into_bytes());
    }
    let out = pipe_through(
        Command::new(BIN).args(["client", "--addr", &listeners[0].addr.to_string()]),
        paste,
    );
    let echoes = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"MSG"))
        .count();
    assert_eq!(echoes, 4000);
}

/// A blocking line reader for the peer tests.
struct Line(BufReader<TcpStream>);

impl Line {
    fn connect(addr: std::net::SocketAddr) -> Line {
        let s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        Line(BufReader::new(s))
    }

    fn send(&mut self, text: &str) {
        self.0.get_ref().write_all(text.as_bytes()).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.0.read_line(&mut line).unwrap();
        line.trim_end_matches('\n').to_string()
    }
}

// ---- Servers in child processes -------------------------------------------------------------

const CHILD_ENV: &str = "NETCOURSE_LESSON04_CHILD";

/// Not a test of its own: the body of the child processes that the other tests start. Run by
/// the test harness as usual, it returns at once.
#[test]
fn chat_server_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (name, idle) = spec.split_once(':').expect("MISTAKE:IDLE");
    let mistake = MISTAKES
        .iter()
        .map(|m| m.0)
        .find(|m| format!("{m:?}") == name);
    let idle = Duration::from_secs(idle.parse().expect("idle seconds"));
    // The parent holds our standard input: when it goes, so do we.
    thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("listening on tcp://{}", listener.local_addr().unwrap());
    serve(listener, mistake, idle);
}

/// Start the independent server (with `mistake`, if any) in a child process.
fn spawn_chat_server(mistake: Option<Mistake>, idle: u64) -> (Peer, Vec<Listener>) {
    let name = mistake.map_or("none".into(), |m| format!("{m:?}"));
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["chat_server_child_process", "--exact", "--nocapture"])
        .env(CHILD_ENV, format!("{name}:{idle}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the test binary starts again");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The test harness speaks first ("running 1 test"); the server's line follows.
    let listener = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|l| Listener::parse_line(&l))
        .expect("the child server announces its listener");
    thread::spawn(move || lines.for_each(drop));
    (Peer(child), vec![listener])
}

/// A broken server for `assert_all_caught`: a fresh child process for every check, the
/// previous one stopped when the next starts (and the last when the test ends).
fn broken_process(mistake: Mistake, must_fail: &'static [&'static str]) -> Broken {
    let current: Mutex<Option<Peer>> = Mutex::new(None);
    broken(
        format!("{mistake:?}"),
        move || {
            let (peer, listeners) = spawn_chat_server(Some(mistake), 1);
            *current.lock().unwrap() = Some(peer);
            listeners
        },
        must_fail,
    )
}

// ---- An independent chat server, and its classic mistakes ----------------------------------

/// One mistake to switch on in the independent server. Each is a bug learners really write.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mistake {
    /// Sends nothing on connect.
    NoGreeting,
    /// Answers SAY to the sender only.
    SaysOnlyToSender,
    /// Broadcasts to every member but the sender.
    SenderExcluded,
    /// Takes each read as one command and drops the rest of it.
    OneReadOneCommand,
    /// Lets two clients take the same nick.
    DuplicateNicks,
    /// Keeps a departed client's nick reserved forever.
    NickNeverFreed,
    /// Does not tell the members when someone joins.
    NoJoinedAnnouncement,
    /// LEAVE and QUIT take the client out silently.
    SilentLeave,
    /// On end of stream or reset, the reader thread just returns: nothing is cleaned up.
    ForgetsDisconnected,
    /// Queues a member's MSG twice for the sender (broadcast, then "echo to the sender").
    DeliversTwice,
    /// Broadcasts to every client, whatever its rooms.
    BroadcastsToAllRooms,
    /// Never sets a read timeout.
    NoIdleTimeout,
    /// Counts the idle timeout from the connection's start, not from the last line.
    IdleFromConnect,
    /// Writes each MSG straight to the members' sockets while holding the lock.
    WritesUnderLock,
    /// Queues without a bound: never drops anybody.
    UnboundedQueue,
    /// Keeps a copy of every accepted socket in a list nobody prunes.
    LeaksSockets,
    /// Buffers a line without a newline forever.
    NoLineLimit,
    /// Refuses lines of exactly 1,024 bytes.
    LineLimitOffByOne,
    /// Closes the connection after an unknown command.
    ClosesOnUnknown,
    /// Checks no rule: no nick needed, any name, any room.
    NoRules,
    /// Answers QUIT with BYE but keeps the connection open.
    IgnoresQuit,
}

/// Which mistake must fail which checks. Together they must trip every check.
const MISTAKES: &[(Mistake, &[&str])] = &[
    (Mistake::NoGreeting, &["sends_no_greeting"]),
    (
        Mistake::SaysOnlyToSender,
        &["does_not_deliver_messages_to_the_room"],
    ),
    (
        Mistake::SenderExcluded,
        &["leaves_the_sender_out_of_the_broadcast"],
    ),
    (
        Mistake::OneReadOneCommand,
        &["assumes_one_read_is_one_command"],
    ),
    (Mistake::DuplicateNicks, &["allows_duplicate_nicks"]),
    (
        Mistake::NickNeverFreed,
        &["never_frees_the_nick_of_a_client_that_left"],
    ),
    (Mistake::NoJoinedAnnouncement, &["does_not_announce_joins"]),
    (Mistake::SilentLeave, &["does_not_announce_leave_or_quit"]),
    (
        Mistake::ForgetsDisconnected,
        &[
            "keeps_disconnected_clients_in_their_rooms",
            "never_frees_the_nick_of_a_client_that_left",
            "leaks_descriptors_of_departed_clients",
        ],
    ),
    (
        Mistake::DeliversTwice,
        &["loses_reorders_or_duplicates_messages"],
    ),
    (
        Mistake::BroadcastsToAllRooms,
        &["leaks_messages_into_other_rooms"],
    ),
    (Mistake::NoIdleTimeout, &["has_no_idle_timeout"]),
    (
        Mistake::IdleFromConnect,
        &["times_out_a_client_that_keeps_pinging"],
    ),
    (
        Mistake::WritesUnderLock,
        &["blocks_the_room_on_a_slow_member"],
    ),
    (Mistake::UnboundedQueue, &["never_drops_a_slow_consumer"]),
    (
        Mistake::LeaksSockets,
        &["leaks_descriptors_of_departed_clients"],
    ),
    (Mistake::NoLineLimit, &["has_no_line_length_limit"]),
    (
        Mistake::LineLimitOffByOne,
        &["refuses_a_line_within_the_limit"],
    ),
    (Mistake::ClosesOnUnknown, &["closes_on_an_unknown_command"]),
    (Mistake::NoRules, &["ignores_the_command_rules"]),
    (Mistake::IgnoresQuit, &["ignores_quit"]),
];

fn broken_servers() -> Vec<Broken> {
    MISTAKES
        .iter()
        .map(|&(m, must_fail)| broken_process(m, must_fail))
        .collect()
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

#[test]
fn each_broken_server_is_caught() {
    // Most of the time goes into waiting (idle timers, a silent server's timeouts), so eight
    // at a time, each in its own processes.
    assert_all_caught_by_workers(LESSON, &broken_servers(), 8);
}

const MAX_LINE: usize = 1024;
const QUEUE_BYTES: usize = 256 * 1024;

/// A client's outgoing lines: a queue bounded in bytes, and a condition variable its writer
/// thread sleeps on. (The reference uses a channel and a counter; this is the other classic.)
#[derive(Default)]
struct Outbox {
    state: Mutex<(VecDeque<Vec<u8>>, usize, bool)>, // lines, their bytes, closed
    ready: Condvar,
}

impl Outbox {
    /// Queue a line; false if it does not fit under `bound`.
    fn push(&self, line: &[u8], bound: Option<usize>) -> bool {
        let mut s = self.state.lock().unwrap();
        if bound.is_some_and(|b| s.1 + line.len() > b) {
            return false;
        }
        if !s.2 {
            s.1 += line.len();
            s.0.push_back(line.to_vec());
            self.ready.notify_one();
        }
        true
    }

    fn close(&self) {
        self.state.lock().unwrap().2 = true;
        self.ready.notify_all();
    }

    /// The next line, waiting for one; None once closed and empty.
    fn pop(&self) -> Option<Vec<u8>> {
        let mut s = self.state.lock().unwrap();
        loop {
            if let Some(line) = s.0.pop_front() {
                s.1 -= line.len();
                return Some(line);
            }
            if s.2 {
                return None;
            }
            s = self.ready.wait(s).unwrap();
        }
    }
}

struct Member {
    nick: Option<String>,
    rooms: BTreeSet<String>,
    out: Arc<Outbox>,
    sock: TcpStream,
}

#[derive(Default)]
struct State {
    members: HashMap<u64, Member>,
    /// Nicks held back forever (the NickNeverFreed mistake).
    reserved: HashSet<String>,
}

struct Chat {
    mistake: Option<Mistake>,
    idle: Duration,
    state: Mutex<State>,
    /// Sockets kept forever (the LeaksSockets mistake).
    leaked: Mutex<Vec<TcpStream>>,
}

/// What the reader does after a command.
#[derive(PartialEq)]
enum Then {
    Go,
    Quit,
    Close,
}

fn serve(listener: TcpListener, mistake: Option<Mistake>, idle: Duration) {
    let chat = Arc::new(Chat {
        mistake,
        idle,
        state: Mutex::default(),
        leaked: Mutex::default(),
    });
    for (id, sock) in (0..).zip(listener.incoming().map_while(Result::ok)) {
        let chat = Arc::clone(&chat);
        thread::spawn(move || chat.client(id, sock));
    }
}

fn valid(name: &[u8]) -> bool {
    (1..=32).contains(&name.len())
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

impl Chat {
    fn is(&self, m: Mistake) -> bool {
        self.mistake == Some(m)
    }

    fn client(&self, id: u64, sock: TcpStream) {
        use Mistake::*;
        let out = Arc::new(Outbox::default());
        let (writer, queue) = (sock.try_clone().unwrap(), Arc::clone(&out));
        thread::spawn(move || {
            while let Some(line) = queue.pop() {
                if (&writer).write_all(&line).is_err() {
                    let _ = writer.shutdown(Shutdown::Both);
                    return;
                }
            }
            let _ = writer.shutdown(Shutdown::Write);
        });
        if self.is(LeaksSockets) {
            self.leaked.lock().unwrap().push(sock.try_clone().unwrap());
        }
        let member = Member {
            nick: None,
            rooms: BTreeSet::new(),
            out: Arc::clone(&out),
            sock: sock.try_clone().unwrap(),
        };
        self.state.lock().unwrap().members.insert(id, member);
        if !self.is(NoGreeting) {
            out.push(format!("HELLO {}\n", self.idle.as_secs()).as_bytes(), None);
        }
        let connected = Instant::now();
        let limit = if self.is(LineLimitOffByOne) {
            MAX_LINE - 1
        } else {
            MAX_LINE
        };
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let then = 'conn: loop {
            let timeout = if self.is(NoIdleTimeout) {
                None
            } else if self.is(IdleFromConnect) {
                Some((connected + self.idle).saturating_duration_since(Instant::now()))
                    .filter(|t| !t.is_zero())
                    .or(Some(Duration::from_millis(1)))
            } else {
                Some(self.idle)
            };
            sock.set_read_timeout(timeout).unwrap();
            let n = match (&sock).read(&mut chunk) {
                Ok(0) => break None,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    out.push(b"ERR idle timeout\n", None);
                    break Some(Then::Close);
                }
                Err(_) => break None,
            };
            if self.is(OneReadOneCommand) {
                buf = chunk[..n].split(|&b| b == b'\n').next().unwrap().to_vec();
                buf.push(b'\n');
            } else {
                buf.extend_from_slice(&chunk[..n]);
            }
            loop {
                let end = buf.iter().position(|&b| b == b'\n');
                let too_long = match end {
                    Some(i) => i > limit,
                    None => buf.len() > limit,
                };
                if too_long && !self.is(NoLineLimit) {
                    out.push(b"ERR line too long\n", None);
                    break 'conn Some(Then::Close);
                }
                let Some(i) = end else { break };
                let mut line: Vec<u8> = buf.drain(..=i).collect();
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                match self.command(id, &line) {
                    Then::Go => {}
                    then => break 'conn Some(then),
                }
            }
        };
        if then.is_none() && self.is(ForgetsDisconnected) {
            return; // the mistake: no cleanup for a client that vanished
        }
        self.forget(id, then == Some(Then::Quit) && self.is(SilentLeave));
        if then.is_some() {
            // A lingering close: the client's last bytes must not turn our close into a reset.
            let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
            let _ = std::io::copy(&mut (&sock).take(1 << 22), &mut std::io::sink());
        }
    }

    fn send(&self, st: &State, to: u64, line: &[u8]) {
        let Some(m) = st.members.get(&to) else { return };
        let bound = (!self.is(Mistake::UnboundedQueue)).then_some(QUEUE_BYTES);
        if !m.out.push(line, bound) {
            let _ = m.sock.shutdown(Shutdown::Both); // too slow: dropped
        }
    }

    fn broadcast(&self, st: &State, room: &str, line: &[u8], except: Option<u64>) {
        for (&id, m) in &st.members {
            let member = m.rooms.contains(room)
                || self.is(Mistake::BroadcastsToAllRooms) && m.nick.is_some();
            if member && Some(id) != except {
                self.send(st, id, line);
            }
        }
    }

    fn command(&self, id: u64, line: &[u8]) -> Then {
        use Mistake::*;
        let mut st = self.state.lock().unwrap();
        let (cmd, arg) = match line.iter().position(|&b| b == b' ') {
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &b""[..]),
        };
        let arg_s = String::from_utf8_lossy(arg).into_owned();
        let nick = st.members[&id].nick.clone().or_else(|| {
            self.is(NoRules)
                .then(|| "anon".to_string())
                .filter(|_| cmd != b"NICK")
        });
        let rules = !self.is(NoRules);
        let answer: String = match (cmd, nick) {
            (b"NICK", _) if rules && !valid(arg) => "ERR bad nick".into(),
            (b"NICK", _) => {
                let taken = st.reserved.contains(&arg_s)
                    || st
                        .members
                        .iter()
                        .any(|(&o, m)| o != id && m.nick.as_deref() == Some(&arg_s));
                if taken && !self.is(DuplicateNicks) {
                    "ERR taken".into()
                } else {
                    st.members.get_mut(&id).unwrap().nick = Some(arg_s.clone());
                    format!("OK NICK {arg_s}")
                }
            }
            (b"JOIN" | b"SAY" | b"LEAVE", None) => "ERR nick first".into(),
            (b"JOIN", _) if rules && !valid(arg) => "ERR bad room".into(),
            (b"JOIN", Some(nick)) => {
                if st.members[&id].rooms.contains(&arg_s) {
                    if rules {
                        "ERR already there".into()
                    } else {
                        format!("OK JOIN {arg_s}")
                    }
                } else {
                    if !self.is(NoJoinedAnnouncement) {
                        let joined = format!("JOINED {arg_s} {nick}\n");
                        self.broadcast(&st, &arg_s, joined.as_bytes(), None);
                    }
                    let m = st.members.get_mut(&id).unwrap();
                    m.rooms.insert(arg_s.clone());
                    format!("OK JOIN {arg_s}")
                }
            }
            (b"LEAVE", Some(nick)) => {
                let m = st.members.get_mut(&id).unwrap();
                if !m.rooms.remove(&arg_s) && rules {
                    "ERR not there".into()
                } else {
                    if !self.is(SilentLeave) {
                        let left = format!("LEFT {arg_s} {nick}\n");
                        self.broadcast(&st, &arg_s, left.as_bytes(), None);
                    }
                    format!("OK LEAVE {arg_s}")
                }
            }
            (b"SAY", Some(nick)) => {
                let (room, text) = match arg.iter().position(|&b| b == b' ') {
                    Some(i) => (&arg[..i], &arg[i + 1..]),
                    None => (arg, &b""[..]),
                };
                let room = String::from_utf8_lossy(room).into_owned();
                if rules && !st.members[&id].rooms.contains(&room) {
                    "ERR not there".into()
                } else {
                    let mut msg = format!("MSG {room} {nick} ").into_bytes();
                    msg.extend_from_slice(text);
                    msg.push(b'\n');
                    if self.is(SaysOnlyToSender) {
                        self.send(&st, id, &msg);
                    } else if self.is(WritesUnderLock) {
                        for m in st.members.values().filter(|m| m.rooms.contains(&room)) {
                            let _ = (&m.sock).write_all(&msg);
                        }
                    } else {
                        let except = self.is(SenderExcluded).then_some(id);
                        self.broadcast(&st, &room, &msg, except);
                        if self.is(DeliversTwice) {
                            self.send(&st, id, &msg);
                        }
                    }
                    return Then::Go;
                }
            }
            (b"PING", _) => "PONG".into(),
            (b"QUIT", _) => {
                self.send(&st, id, b"BYE\n");
                return if self.is(IgnoresQuit) {
                    Then::Go
                } else {
                    Then::Quit
                };
            }
            _ => {
                self.send(&st, id, b"ERR unknown command\n");
                return if self.is(ClosesOnUnknown) {
                    Then::Close
                } else {
                    Then::Go
                };
            }
        };
        self.send(&st, id, format!("{answer}\n").as_bytes());
        Then::Go
    }

    /// The client is gone: out of every room (announced unless `silent`), nick freed, queue
    /// closed so that its writer ends.
    fn forget(&self, id: u64, silent: bool) {
        let mut st = self.state.lock().unwrap();
        let Some(m) = st.members.remove(&id) else {
            return;
        };
        if let Some(nick) = &m.nick {
            for room in &m.rooms {
                if !silent {
                    let left = format!("LEFT {room} {nick}\n");
                    self.broadcast(&st, room, left.as_bytes(), None);
                }
            }
            if self.is(Mistake::NickNeverFreed) {
                st.reserved.insert(nick.clone());
            }
        }
        m.out.close();
    }
}
