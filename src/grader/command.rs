//! `course check`: the command line of the grader, shared by the course's own `course`
//! (src/bin/course.rs) and the one handed out to a class (src/handout/grader_main.rs), so that
//! the two take the same flags and treat a target the same way.

use super::progress::record_pass;
use super::{Listener, Options, Target};
use anyhow::Context;
use std::time::Duration;

/// `course check NN ...`: which lesson, which server, and how to run the checks.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// Lesson number, e.g. 01.
    pub lesson: u32,
    /// A server already running: IP:PORT, or SCHEME://IP:PORT for each listener.
    #[arg(long, required_unless_present = "cmd", conflicts_with = "cmd")]
    pub addr: Vec<String>,
    /// A shell command that starts the server and prints `listening on SCHEME://IP:PORT`.
    /// It is started afresh for every check; use port 0 so restarts never collide.
    #[arg(long)]
    pub cmd: Option<String>,
    /// Seed for the random choices; a failing run prints the one to replay it.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seconds any single read may wait before the check fails.
    #[arg(long, default_value_t = 5.0)]
    pub timeout: f64,
    /// Run only the checks whose name contains this.
    #[arg(long)]
    pub only: Option<String>,
}

/// Grade the target (the caller has checked that the lesson exists); `Ok(true)` if every
/// check passed. A pass of the whole suite is recorded as the learner's (`course list`), unless
/// `not_yours` says whose work the target is (the reference, a server from the course's
/// tests): then it says so instead.
pub fn check(
    args: CheckArgs,
    not_yours: impl Fn(&Target) -> Option<String>,
) -> anyhow::Result<bool> {
    let CheckArgs {
        lesson,
        addr,
        cmd,
        seed,
        timeout,
        only,
    } = args;
    let suite =
        super::suite(lesson).with_context(|| format!("lesson {lesson:02} has no checks yet"))?;
    let target = match cmd {
        Some(cmd) => Target::Command(cmd),
        // A client lesson: the grader is the server, so it must start the client itself.
        None if suite.grades_a_client() => anyhow::bail!(
            "lesson {lesson:02} grades a client: the grader listens and starts it, so give \
             --cmd \"CLIENT ... {{url}}\" ({{url}} becomes the grader's ws:// address), not --addr"
        ),
        None => {
            let mut listeners = Vec::new();
            for (i, a) in addr.iter().enumerate() {
                let scheme = suite
                    .listeners
                    .get(i)
                    .copied()
                    .unwrap_or(suite.listeners[0]);
                listeners.push(
                    Listener::parse_arg(a, scheme)
                        .with_context(|| format!("--addr {a:?} is not IP:PORT"))?,
                );
            }
            Target::Running(listeners)
        }
    };
    let options = Options {
        timeout: Duration::from_secs_f64(timeout.max(0.1)),
        seed: seed.unwrap_or_else(fresh_seed),
        only,
    };
    let report = super::grade(lesson, &target, &options, &mut std::io::stdout())?;
    if report.passed() {
        if let Some(what) = not_yours(&target) {
            println!("(that command runs {what}: `course list` records only your own work)");
        } else if report.outcomes.len() == suite.all_checks().len() {
            // Every check ran (no --only): the whole lesson passed.
            record_pass(lesson, &target)?;
        }
    }
    Ok(report.passed())
}

/// A seed from the clock: different runs try different chunkings; the report prints it.
fn fresh_seed() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_nanos() as u64 % 1_000_000).max(1)
}
