//! Shared by the lesson test files: run the grader against a server and collect what failed.
//!
//! Broken servers live in each lesson's test file, in process: each is started afresh for
//! each check (as `course check --cmd` does for real servers), so that one mistake fails the
//! checks that catch it and nothing else cascades.

#![allow(dead_code)] // each test file uses a different part of this

pub mod cli;

use netcourse::grader::{self, Listener, Options, Report, Target};
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Grade with output captured; the report is printed by the test on failure.
pub fn grade(lesson: u32, target: &Target, options: &Options) -> (Report, String) {
    let mut out = Vec::new();
    let report = grader::grade(lesson, target, options, &mut out).expect("grading starts");
    (report, String::from_utf8_lossy(&out).into_owned())
}

/// Assert that every check of `lesson` passes against `target`, showing the report if not.
pub fn assert_passes(lesson: u32, target: Target) {
    let (report, out) = grade(lesson, &target, &Options::default());
    assert!(report.passed(), "{out}");
}

/// The reference binary of a lesson, started by the grader the way a learner would.
pub fn reference_cmd(bin: &str) -> String {
    format!("{bin} --addr 127.0.0.1:0")
}

/// Quick options for broken servers: a mistake shows within a second or two.
pub fn quick() -> Options {
    Options {
        timeout: Duration::from_millis(1500),
        seed: 42,
        only: None,
    }
}

/// Run each of `lesson`'s own checks against a fresh server from `start` and return the names
/// of the checks that failed, with the full output.
pub fn failing_checks(
    lesson: u32,
    start: &dyn Fn() -> Vec<Listener>,
) -> (Vec<&'static str>, String) {
    let suite = grader::suite(lesson).expect("the lesson has checks");
    let mut failed = Vec::new();
    let mut output = String::new();
    for check in suite.checks {
        let options = Options {
            only: Some(check.name.to_string()),
            ..quick()
        };
        let (report, out) = grade(lesson, &Target::Running(start()), &options);
        assert_eq!(
            report.outcomes.len(),
            1,
            "--only selects exactly {}",
            check.name
        );
        failed.extend(report.failed());
        output.push_str(&out);
    }
    (failed, output)
}

/// A deliberately broken server: its mistake, how to start a fresh one, and the checks that
/// must catch it.
pub struct Broken {
    pub mistake: String,
    pub start: Box<dyn Fn() -> Vec<Listener> + Sync>,
    pub must_fail: &'static [&'static str],
}

pub fn broken(
    mistake: impl Into<String>,
    start: impl Fn() -> Vec<Listener> + Sync + 'static,
    must_fail: &'static [&'static str],
) -> Broken {
    Broken {
        mistake: mistake.into(),
        start: Box::new(start),
        must_fail,
    }
}

/// Assert that every broken server fails (at least) the checks meant to catch it. They are
/// graded a few at a time: most of the time goes into waiting for timeouts.
pub fn assert_all_caught(lesson: u32, broken: &[Broken]) {
    let problems: Vec<String> = broken
        .chunks(4)
        .flat_map(|batch| {
            thread::scope(|scope| {
                let running: Vec<_> = batch
                    .iter()
                    .map(|b| {
                        scope.spawn(move || {
                            let (failed, output) = failing_checks(lesson, &b.start);
                            b.must_fail
                                .iter()
                                .filter(|name| !failed.contains(name))
                                .map(|name| {
                                    format!(
                                        "lesson {lesson:02}: the broken server `{}` should fail `{name}`, \
                                         but only failed {failed:?}\n{output}",
                                        b.mistake
                                    )
                                })
                                .collect::<Vec<_>>()
                        })
                    })
                    .collect();
                running.into_iter().flat_map(|t| t.join().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Assert that the broken servers of a lesson, between them, trip every one of its own checks.
/// (Checks a lesson takes over from earlier lessons are proven in those lessons' tests.)
pub fn assert_every_check_is_caught(lesson: u32, broken: &[Broken]) {
    let suite = grader::suite(lesson).unwrap();
    for check in suite.checks {
        assert!(
            broken.iter().any(|b| b.must_fail.contains(&check.name)),
            "lesson {lesson:02}: no broken server proves that `{}` can fail",
            check.name
        );
    }
}

pub fn tcp(addr: SocketAddr) -> Vec<Listener> {
    vec![Listener {
        scheme: "tcp".into(),
        addr,
    }]
}

pub fn udp(addr: SocketAddr) -> Vec<Listener> {
    vec![Listener {
        scheme: "udp".into(),
        addr,
    }]
}

/// An iterative TCP server in a thread: accept, call `handle`, repeat. If `handle` panics the
/// thread ends and the listener closes, as a crashed process's would.
pub fn tcp_server(handle: fn(TcpStream)) -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            handle(conn);
        }
    });
    tcp(addr)
}

/// A UDP server in a thread running `serve` on its bound socket.
pub fn udp_server(serve: fn(UdpSocket)) -> Vec<Listener> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    thread::spawn(move || serve(sock));
    udp(addr)
}

/// An outside program started by a test, stopped when dropped.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Start an outside program and wait for its `listening on` line (our peers print one).
pub fn start_peer(cmd: &mut Command) -> (Peer, Vec<Listener>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the peer starts");
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let line = lines.next().expect("the peer prints a line").unwrap();
    let listener =
        Listener::parse_line(&line).unwrap_or_else(|| panic!("not a listening line: {line}"));
    thread::spawn(move || lines.for_each(drop));
    (Peer(child), vec![listener])
}

/// socat as a TCP echo server nobody here wrote: a child per connection pipes its input back.
pub fn socat_tcp_echo() -> (Peer, SocketAddr) {
    let port = free_port();
    let socat = Command::new("socat")
        .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
        .arg("PIPE")
        .spawn()
        .expect("socat starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    wait_for_tcp(addr);
    (Peer(socat), addr)
}

/// Run a program with `input` on its standard input (written from another thread, so a
/// program that answers as it reads cannot deadlock us), and return what it printed.
pub fn pipe_through(cmd: &mut Command, input: Vec<u8>) -> std::process::Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the program starts");
    let mut stdin = child.stdin.take().unwrap();
    let writer = thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
    let output = child.wait_with_output().expect("the program runs");
    writer
        .join()
        .unwrap()
        .expect("the program reads all its input");
    output
}

/// A free loopback port for programs that cannot pick their own and tell us.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Wait until something accepts TCP connections on `addr`.
pub fn wait_for_tcp(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {addr}");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Broken servers panic on purpose (in unnamed threads): keep those panics quiet, and let the
/// test threads' own panics (named after the test) through.
pub fn quiet_broken_server_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if thread::current().name().is_some() {
            default(info)
        }
    }));
}

/// Path of a file in the repository.
pub fn repo(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// `assert_all_caught` for lessons whose checks mostly wait (idle timers, timeouts on a silent
/// server): `workers` threads take the broken servers one by one from a shared list instead of
/// in fixed batches, so that one slow server does not hold up the others of its batch.
pub fn assert_all_caught_by_workers(lesson: u32, broken: &[Broken], workers: usize) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems = std::sync::Mutex::new(Vec::new());
    thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(b) = broken.get(i) else { return };
                let (failed, output) = failing_checks(lesson, &b.start);
                for name in b.must_fail.iter().filter(|name| !failed.contains(name)) {
                    problems.lock().unwrap().push(format!(
                        "lesson {lesson:02}: the broken server `{}` should fail `{name}`, \
                         but only failed {failed:?}\n{output}",
                        b.mistake
                    ));
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
