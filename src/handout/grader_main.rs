//! `course`, as handed out to a class: the grader (`check`), progress (`list`) and hints
//! (`hint`), without the reference solutions. `course handout` writes this file as the handout's
//! `src/main.rs`; it is not part of the course crate itself (the course's own `course` is
//! src/bin/course.rs, which also writes starters and diagrams from the references).
//!
//! ```text
//! cargo run --bin course -- list
//! cargo run --bin course -- check 01 --cmd "cargo run -q --manifest-path starters/01-tcp-echo/Cargo.toml -- --addr 127.0.0.1:0"
//! cargo run --bin course -- check 01 --addr 127.0.0.1:7001      # a server already running
//! cargo run --bin course -- hint 01                              # the next hint
//! ```
//!
//! Progress (which lessons your work has passed, which hints you have seen) is kept in
//! `$NETCOURSE_HOME`, by default `~/.netcourse`, in the same format as the full course's.

use anyhow::Context;
use clap::{Parser, Subcommand};
use netcourse::grader::command::{self, CheckArgs};
use netcourse::grader::progress::{self, read_progress};
use netcourse::grader;
use netcourse::lessons::{self, Lesson};

#[derive(Parser)]
#[command(about = "The network programming course, as handed out: grade, list, hint")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run lesson NN's checks against a server (exit code 0 only if every check passes).
    Check(CheckArgs),
    /// Show the lessons, which were handed out, and which your work has passed.
    List,
    /// Print lesson NN's next hint (or all of them, or start over).
    Hint {
        lesson: u32,
        #[arg(long, conflicts_with = "reset")]
        all: bool,
        #[arg(long)]
        reset: bool,
    },
}

fn main() -> anyhow::Result<()> {
    // `course hint 01 --all | head` ends quietly when head stops reading.
    // SAFETY: restoring the default action of a signal has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match Cli::parse().command {
        Command::Check(args) => {
            find(args.lesson)?;
            // The handout holds no reference to run, so every full pass is the learner's own.
            let passed = command::check(args, |_| None)?;
            std::process::exit(if passed { 0 } else { 1 });
        }
        Command::List => list(),
        Command::Hint { lesson, all, reset } => hint(lesson, all, reset),
    }
}

fn find(lesson: u32) -> anyhow::Result<&'static Lesson> {
    lessons::lesson(lesson)
        .with_context(|| format!("there is no lesson {lesson:02}: `course list` shows them"))
}

fn list() -> anyhow::Result<()> {
    let passed = read_progress()?;
    println!(
        "{:<4}{:<20}{:<12}{:<8}title",
        "NN", "starter", "handed out", "checks"
    );
    for l in lessons::LESSONS {
        let checks =
            grader::suite(l.number).map_or("-".to_string(), |s| s.all_checks().len().to_string());
        let handed = if l.handed_out { "yes" } else { "not yet" };
        println!(
            "{:<4}{:<20}{:<12}{:<8}{}",
            format!("{:02}", l.number),
            l.name,
            handed,
            checks,
            l.title
        );
        if let Some(when) = passed.iter().find(|(n, _)| *n == l.number).map(|(_, w)| w) {
            println!("{:<4}  passed by your work: {when}", "");
        }
    }
    println!("\nStart a lesson: read lessons/NN-name/README.md, then work in starters/NN-name/.");
    Ok(())
}

fn hint(lesson: u32, all: bool, reset: bool) -> anyhow::Result<()> {
    let info = find(lesson)?;
    if !info.handed_out {
        anyhow::bail!("lesson {lesson:02} was not handed out: it has no starter and no hints here");
    }
    let hints: Vec<(usize, &str, &str)> = info
        .exercises
        .iter()
        .enumerate()
        .flat_map(|(i, e)| e.hints.iter().map(move |h| (i + 1, e.title, *h)))
        .collect();
    progress::give_hints(lesson, &hints, all, reset)
}
