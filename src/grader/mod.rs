//! The grader: black-box checks that judge any implementation of a lesson, in any language,
//! by the bytes it puts on real sockets.
//!
//! `course check NN --addr IP:PORT` grades a server that is already running; `--cmd "COMMAND"`
//! starts one (a fresh one for every check, so that one crash shows up in one check only) and
//! reads its `listening on SCHEME://IP:PORT` lines to learn where it listens.
//!
//! Each [`Check`] is named after the mistake it catches (`assumes_one_read_is_one_message`) and
//! carries the misconception behind that mistake in one sentence. A failing check reports what
//! was sent, what was expected and what came back, as hex and text with a caret under the first
//! byte that differs ([`Failure`]).
//!
//! The grader is adversarial on purpose: it splits writes down to single bytes, coalesces many
//! messages into one write, half-closes, resets connections mid-message, and sends more than a
//! server should accept. Every read has a deadline, so a hung server fails a check instead of
//! hanging the grader. Random choices come from a seeded generator ([`Rng`]); the report prints
//! the seed and `--seed` replays it.
//!
//! Independence: nothing here calls the reference lessons' protocol code. The checks carry
//! their own deliberately simple encoders, so a bug shared with the reference cannot hide.

mod chat;
pub mod command;
pub mod http;
mod lesson01;
mod lesson02;
mod lesson03;
mod lesson05;
mod lesson07;
mod lesson08;
mod lesson09;
mod lesson10;
mod lesson11;
mod lesson12;
mod lesson15;
mod lesson16;
pub mod procfs;
pub mod progress;
mod report;
mod server;
pub mod wire;

pub use report::{Outcome, Report};
pub use server::{Listener, Server, StartError};

use std::cell::RefCell;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// One check: a name that states the mistake it catches, the misconception in one sentence,
/// and the code that talks to the server.
pub struct Check {
    pub name: &'static str,
    pub misconception: &'static str,
    pub run: fn(&Ctx) -> Result<(), Failure>,
}

/// The checks of a lesson, and the listeners its server must announce.
pub struct Suite {
    pub lesson: u32,
    /// The schemes of the `listening on` lines the server prints, in any order.
    pub listeners: &'static [&'static str],
    pub checks: &'static [Check],
}

impl Suite {
    /// A suite with no listeners grades a client (lesson 12): the grader plays the server.
    pub fn grades_a_client(&self) -> bool {
        self.listeners.is_empty()
    }

    /// Every check the lesson is judged by: first those of the earlier lessons it builds on
    /// (lesson 05's server must still pass lesson 01's TCP checks and lesson 02's UDP checks),
    /// then its own.
    pub fn all_checks(&'static self) -> Vec<&'static Check> {
        let earlier: &[&Suite] = match self.lesson {
            5 => &[&lesson01::SUITE, &lesson02::SUITE],
            _ => &[],
        };
        earlier
            .iter()
            .flat_map(|s| s.checks.iter())
            .chain(self.checks.iter())
            .collect()
    }
}

/// Every lesson the grader knows, in order.
pub fn suites() -> &'static [Suite] {
    &[
        lesson01::SUITE,
        lesson02::SUITE,
        lesson03::SUITE,
        chat::SUITE04,
        lesson05::SUITE,
        chat::SUITE06,
        lesson07::SUITE,
        lesson08::SUITE,
        lesson09::SUITE,
        lesson10::SUITE,
        lesson11::SUITE,
        lesson12::SUITE,
        lesson15::SUITE,
        lesson16::SUITE,
    ]
}

/// The suite for lesson `n`, if the grader has checks for it yet.
pub fn suite(n: u32) -> Option<&'static Suite> {
    suites().iter().find(|s| s.lesson == n)
}

/// How to grade.
#[derive(Debug, Clone)]
pub struct Options {
    /// The longest any single read may wait. A server slower than this fails the check.
    pub timeout: Duration,
    /// Seed for every random choice (chunk sizes, payload bytes).
    pub seed: u64,
    /// Run only the check of this name, or else the checks whose name contains this.
    pub only: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: Duration::from_secs(5),
            seed: 1,
            only: None,
        }
    }
}

/// What a check is given: where the server listens, the timeout, and the seeded randomness.
pub struct Ctx {
    listeners: Vec<Listener>,
    pub timeout: Duration,
    rng: RefCell<Rng>,
    /// The process group of the server, when the grader started it (`--cmd`): checks that
    /// signal it or weigh its memory run only then.
    pub started: Option<u32>,
    /// A client lesson (12): the `--cmd` that starts the client under test, with `{url}` where
    /// its server's URL goes. Each check listens and starts the client itself.
    pub client_cmd: Option<String>,
    /// A server lesson graded with `--cmd`: the command, so that a check can start the server
    /// again itself (lesson 16 restarts it on the same port, and on `[::]`).
    pub server_cmd: Option<String>,
    /// Set by a check that stops the server itself (lesson 16 kills it to restart it): its end
    /// is then no crash to report.
    pub stopped_the_server: std::cell::Cell<bool>,
}

impl Ctx {
    pub fn new(listeners: Vec<Listener>, options: &Options, check_index: usize) -> Self {
        Ctx {
            listeners,
            timeout: options.timeout,
            // Each check gets its own stream of numbers, so `--only` replays the same bytes.
            rng: RefCell::new(Rng::new(
                options.seed ^ (check_index as u64).wrapping_mul(0x9E37_79B9),
            )),
            started: None,
            client_cmd: None,
            server_cmd: None,
            stopped_the_server: std::cell::Cell::new(false),
        }
    }

    /// The address announced for `scheme` (the first, if several).
    pub fn addr(&self, scheme: &str) -> SocketAddr {
        self.listeners
            .iter()
            .find(|l| l.scheme == scheme)
            .map(|l| l.addr)
            .unwrap_or_else(|| panic!("the suite declares a {scheme} listener"))
    }

    /// The address announced for `scheme`, if there is one (`--addr` may name fewer listeners).
    pub fn try_addr(&self, scheme: &str) -> Option<SocketAddr> {
        self.listeners
            .iter()
            .find(|l| l.scheme == scheme)
            .map(|l| l.addr)
    }

    /// A random number in `0..n`.
    pub fn below(&self, n: u64) -> u64 {
        self.rng.borrow_mut().below(n)
    }

    /// `len` random bytes.
    pub fn bytes(&self, len: usize) -> Vec<u8> {
        let mut rng = self.rng.borrow_mut();
        (0..len).map(|_| rng.next_u64() as u8).collect()
    }
}

/// Why a check failed, with the evidence.
#[derive(Debug, Clone, Default)]
pub struct Failure {
    /// What happened, in one sentence: "the reply stopped after 3 of 9 bytes".
    pub what: String,
    /// The check could not run as asked (it needs `--cmd`, or rights the grader lacks): no
    /// mistake of the server's, so the report does not blame one.
    pub cannot_run: bool,
    pub sent: Option<Vec<u8>>,
    pub expected: Option<Vec<u8>>,
    pub received: Option<Vec<u8>>,
}

impl Failure {
    pub fn new(what: impl Into<String>) -> Self {
        Failure {
            what: what.into(),
            ..Default::default()
        }
    }

    /// The check could not run here; `what` says why and how to run it.
    pub fn cannot_run(what: impl Into<String>) -> Self {
        Failure {
            cannot_run: true,
            ..Failure::new(what)
        }
    }

    pub fn sent(mut self, bytes: &[u8]) -> Self {
        self.sent = Some(bytes.to_vec());
        self
    }

    pub fn expected(mut self, bytes: &[u8]) -> Self {
        self.expected = Some(bytes.to_vec());
        self
    }

    pub fn received(mut self, bytes: &[u8]) -> Self {
        self.received = Some(bytes.to_vec());
        self
    }

    /// Say in which situation it happened: "client 3 of 5: the reply stopped ...".
    pub fn during(mut self, situation: &str) -> Self {
        self.what = format!("{situation}: {}", self.what);
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&report::describe_failure(self))
    }
}

/// Why grading could not even start.
#[derive(Debug)]
pub enum GradeError {
    NoSuchLesson(u32),
    Start(StartError),
}

impl fmt::Display for GradeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GradeError::NoSuchLesson(n) => {
                write!(f, "the grader has no checks for lesson {n:02} yet")
            }
            GradeError::Start(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for GradeError {}

/// Where the server under test is.
#[derive(Debug, Clone)]
pub enum Target {
    /// Already running at these addresses (the first of the suite's schemes, unless the
    /// listener list names each).
    Running(Vec<Listener>),
    /// Start this shell command for every check, and read its `listening on` lines.
    Command(String),
}

/// Run lesson `lesson`'s checks against `target`, printing each result to `out` as it comes.
pub fn grade(
    lesson: u32,
    target: &Target,
    options: &Options,
    out: &mut dyn std::io::Write,
) -> Result<Report, GradeError> {
    let suite = suite(lesson).ok_or(GradeError::NoSuchLesson(lesson))?;
    // Lesson 15's server serves the grader's own zone: `{zone}` in the command becomes its path.
    let with_zone;
    let target = match target {
        Target::Command(cmd) if lesson == 15 => {
            with_zone = Target::Command(lesson15::with_zone_file(cmd));
            &with_zone
        }
        _ => target,
    };
    let checks = suite.all_checks();
    let mut report = Report::new(lesson, options.seed);
    let exact = options
        .only
        .as_deref()
        .is_some_and(|only| checks.iter().any(|c| c.name == only));
    let selected = |check: &Check| match options.only.as_deref() {
        None => true,
        Some(only) if exact => check.name == only,
        Some(only) => check.name.contains(only),
    };
    let count = checks.iter().filter(|c| selected(c)).count();
    let _ = writeln!(
        out,
        "lesson {lesson:02}: {count} of {} checks, seed {}",
        checks.len(),
        options.seed
    );
    for (i, check) in checks.iter().enumerate() {
        if !selected(check) {
            continue;
        }
        // A fresh server per check when we start it ourselves; a crash then fails one check.
        let (mut server, listeners) = match target {
            Target::Running(listeners) => (None, listeners.clone()),
            // A client lesson: the grader is the server, and each check starts the client.
            Target::Command(_) if suite.grades_a_client() => (None, Vec::new()),
            Target::Command(cmd) => {
                let server = Server::start(
                    cmd,
                    suite.listeners,
                    options.timeout.max(Duration::from_secs(60)),
                )
                .map_err(GradeError::Start)?;
                let listeners = server.listeners().to_vec();
                (Some(server), listeners)
            }
        };
        let mut ctx = Ctx::new(listeners, options, i);
        ctx.started = server.as_ref().map(Server::pid);
        if let (Target::Command(cmd), true) = (target, suite.grades_a_client()) {
            ctx.client_cmd = Some(cmd.clone());
        }
        if let (Target::Command(cmd), false) = (target, suite.grades_a_client()) {
            ctx.server_cmd = Some(cmd.clone());
        }
        let mut result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (check.run)(&ctx)))
                .unwrap_or_else(|panic| {
                    Err(Failure::new(format!(
                        "the grader itself failed: {}",
                        panic_message(&panic)
                    )))
                });
        if let (Err(failure), Some(server), false) =
            (&mut result, &mut server, ctx.stopped_the_server.get())
        {
            if let Some(death) = server.exit_report() {
                failure.what = format!("{}\n{death}", failure.what);
            }
        }
        let outcome = Outcome {
            name: check.name,
            misconception: check.misconception,
            failure: result.err(),
        };
        let _ = write!(out, "{}", report::describe_outcome(&outcome));
        report.outcomes.push(outcome);
        drop(server);
    }
    let _ = writeln!(out, "{}", report.summary());
    Ok(report)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// A small seeded generator (splitmix64): enough to pick chunk sizes and payload bytes, and
/// the same seed always gives the same run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }
}
