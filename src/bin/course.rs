//! `course`: the learner's companion. Grades a server (`check`), shows progress (`list`),
//! writes exercise starters (`new`), hands out hints one at a time (`hint`), redraws the
//! diagrams (`diagrams`), and writes the course for a classroom without its answers (`handout`).
//!
//! ```text
//! cargo run --bin course -- list
//! cargo run --bin course -- check 01 --cmd "cargo run -q --bin 01-tcp-echo -- --addr 127.0.0.1:0"
//! cargo run --bin course -- check 01 --addr 127.0.0.1:7001      # a server already running
//! cargo run --bin course -- new 01 my-echo                       # a starter to fill in
//! cargo run --bin course -- hint 01                              # the next hint
//! cargo run --bin course -- handout ../class                    # the course without its answers
//! ```
//!
//! Progress (which lessons your own work has passed, which hints you have seen) is kept in
//! `$NETCOURSE_HOME`, by default `~/.netcourse`.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use netcourse::grader::command::{self, CheckArgs};
use netcourse::grader::progress::{self, read_progress};
use netcourse::grader::{self, Target};
use netcourse::lessons::{self, Lesson};
use netcourse::starter;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(about = "The network programming course: grade, list, start, hint")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run lesson NN's checks against a server (exit code 0 only if every check passes).
    Check(CheckArgs),
    /// Show the lessons, which have checks, and which your own work has passed.
    List,
    /// Write a starter for lesson NN into DIR: the reference with its key parts cut out.
    New {
        lesson: u32,
        /// Where to write it (default: lesson-NN-starter); it must not exist yet.
        dir: Option<PathBuf>,
    },
    /// Print lesson NN's next hint (or all of them, or start over).
    Hint {
        lesson: u32,
        #[arg(long, conflicts_with = "reset")]
        all: bool,
        #[arg(long)]
        reset: bool,
    },
    /// Measure what connections cost (lessons 04-06); see scripts/bench.sh, which builds the
    /// release binaries first.
    Bench {
        /// Lessons to measure.
        #[arg(long, value_delimiter = ',', default_value = "04,05,06")]
        lessons: Vec<u32>,
        /// Where the lesson binaries are (default: next to this program).
        #[arg(long)]
        bin_dir: Option<PathBuf>,
        /// Draw the memory chart into this SVG file.
        #[arg(long)]
        chart: Option<PathBuf>,
    },
    /// Write the course for a classroom into DIR, without its answers: lesson texts, diagrams,
    /// starters, and the graders as a Cargo project of their own (run it from the course's folder).
    Handout {
        dir: PathBuf,
        /// The lessons to hand out (default: every lesson with a reference), e.g. 01,02,03.
        #[arg(long, value_delimiter = ',')]
        lessons: Vec<u32>,
    },
    /// Redraw every diagram into diagrams/ (or, with --check, fail if one is out of date).
    Diagrams {
        #[arg(long)]
        check: bool,
        #[arg(long, default_value = "diagrams")]
        dir: PathBuf,
    },
}

fn main() -> anyhow::Result<()> {
    // Like any command-line tool: `course hint 01 --all | head` ends quietly when head stops
    // reading. (Rust ignores SIGPIPE by default, which turns the closed pipe into a panic.)
    // SAFETY: restoring the default action of a signal has no preconditions.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    match Cli::parse().command {
        Command::Check(args) => {
            let info = find(args.lesson)?;
            let passed = command::check(args, |target| not_yours(info, target))?;
            std::process::exit(if passed { 0 } else { 1 });
        }
        Command::List => list(),
        Command::New { lesson, dir } => new(lesson, dir),
        Command::Hint { lesson, all, reset } => hint(lesson, all, reset),
        Command::Diagrams { check, dir } => diagrams(check, &dir),
        Command::Handout { dir, lessons } => handout(&dir, lessons),
        Command::Bench {
            lessons,
            bin_dir,
            chart,
        } => bench(&lessons, bin_dir, chart.as_deref()),
    }
}

fn find(lesson: u32) -> anyhow::Result<&'static Lesson> {
    lessons::lesson(lesson)
        .with_context(|| format!("there is no lesson {lesson:02}: `course list` shows them"))
}

/// The reference, or one of the servers the course's tests grade (tests/peers/: real
/// libraries, and broken servers), is not the learner's work.
fn not_yours(info: &Lesson, target: &Target) -> Option<String> {
    match target {
        Target::Command(cmd) if cmd.contains(info.name) => {
            Some(format!("the reference {}", info.name))
        }
        Target::Command(cmd) if cmd.contains("tests/peers/") => {
            Some("a server from the course's tests/peers/".to_string())
        }
        _ => None,
    }
}

fn list() -> anyhow::Result<()> {
    let passed = read_progress()?;
    println!(
        "{:<4}{:<20}{:<10}{:<8}title",
        "NN", "binary", "written", "checks"
    );
    for l in lessons::LESSONS {
        let checks =
            grader::suite(l.number).map_or("-".to_string(), |s| s.all_checks().len().to_string());
        let written = if l.source.is_some() { "yes" } else { "not yet" };
        println!(
            "{:<4}{:<20}{:<10}{:<8}{}",
            format!("{:02}", l.number),
            l.name,
            written,
            checks,
            l.title
        );
        if let Some(when) = passed.iter().find(|(n, _)| *n == l.number).map(|(_, w)| w) {
            println!("{:<4}  passed by your work: {when}", "");
        }
    }
    println!(
        "\nStart a lesson: read lessons/NN-name/README.md, then `course new NN` for its exercise."
    );
    Ok(())
}

fn new(lesson: u32, dir: Option<PathBuf>) -> anyhow::Result<()> {
    let info = find(lesson)?;
    let dir = dir.unwrap_or_else(|| PathBuf::from(format!("lesson-{lesson:02}-starter")));
    if dir.exists()
        && dir
            .read_dir()
            .map(|mut d| d.next().is_some())
            .unwrap_or(true)
    {
        bail!(
            "{} already exists and is not empty: choose another folder",
            dir.display()
        );
    }
    let (files, exercises) = starter::starter(info).map_err(anyhow::Error::msg)?;
    for file in &files {
        let path = dir.join(&file.path);
        std::fs::create_dir_all(path.parent().expect("a file is inside the folder"))?;
        std::fs::write(&path, &file.text).with_context(|| format!("writing {}", path.display()))?;
    }
    println!(
        "Wrote the lesson {lesson:02} starter to {}/ ({} exercises):",
        dir.display(),
        exercises.len()
    );
    for (i, e) in exercises.iter().enumerate() {
        println!("  {}. {}", i + 1, e.title);
    }
    // A server is started on a free port; a client is started pointed at the grader.
    let args = starter::check_args(lesson);
    println!(
        "\nLook for `todo!(\"exercise` in {d}/src. Then check your work:\n  \
         cargo run --bin course -- check {lesson:02} --cmd \"cargo run -q --manifest-path {d}/Cargo.toml -- {args}\"\n\
         Stuck? cargo run --bin course -- hint {lesson:02}",
        d = dir.display()
    );
    Ok(())
}

fn hint(lesson: u32, all: bool, reset: bool) -> anyhow::Result<()> {
    let info = find(lesson)?;
    let exercises = starter::exercises(info).map_err(anyhow::Error::msg)?;
    let hints: Vec<(usize, &str, &str)> = exercises
        .iter()
        .enumerate()
        .flat_map(|(i, e)| {
            e.hints
                .iter()
                .map(move |h| (i + 1, e.title.as_str(), h.as_str()))
        })
        .collect();
    progress::give_hints(lesson, &hints, all, reset)
}

fn handout(dir: &Path, selected: Vec<u32>) -> anyhow::Result<()> {
    let selected = if selected.is_empty() {
        lessons::LESSONS
            .iter()
            .filter(|l| l.source.is_some())
            .map(|l| l.number)
            .collect()
    } else {
        selected
    };
    let repo = std::env::current_dir()?;
    let handout = netcourse::handout::build(&repo, &selected).map_err(anyhow::Error::msg)?;
    netcourse::handout::write(&handout, dir).map_err(anyhow::Error::msg)?;
    let list: Vec<String> = selected.iter().map(|n| format!("{n:02}")).collect();
    println!(
        "Wrote the handout of lessons {} to {}/ ({} files): lessons/ (texts), diagrams/, \
         starters/ (what `course new NN` writes), and the grader (Cargo.toml, src/).",
        list.join(", "),
        dir.display(),
        handout.files.len()
    );
    for (text, blocks) in &handout.redacted {
        let s = if *blocks == 1 { "" } else { "s" };
        println!("  {text}: {blocks} code block{s} quoting an answer replaced by a note");
    }
    if !handout.carried.is_empty() {
        println!(
            "\nStarters carry the library modules their lesson builds on whole, with these other \
             lessons' answers in them: hand each lesson out after the lessons it reveals are \
             done (--lessons picks which go out)."
        );
        // One line per starter: which lessons' exercises it carries, and how many of each.
        let mut starters: Vec<u32> = handout.carried.iter().map(|c| c.starter).collect();
        starters.dedup();
        for starter in starters {
            let mut revealed: Vec<(u32, &str)> = handout
                .carried
                .iter()
                .filter(|c| c.starter == starter)
                .map(|c| (c.lesson, c.exercise.as_str()))
                .collect();
            revealed.sort();
            revealed.dedup();
            let mut lessons: Vec<u32> = revealed.iter().map(|(l, _)| *l).collect();
            lessons.dedup();
            let parts: Vec<String> = lessons
                .iter()
                .map(|l| {
                    let n = revealed.iter().filter(|(r, _)| r == l).count();
                    format!("{l:02} ({n} exercise{})", if n == 1 { "" } else { "s" })
                })
                .collect();
            println!("  starter {starter:02} reveals lesson {}", parts.join(", "));
        }
    }
    println!(
        "\nTry it: cd {} && cargo run --bin course -- list",
        dir.display()
    );
    Ok(())
}

fn diagrams(check: bool, dir: &Path) -> anyhow::Result<()> {
    let mut stale = Vec::new();
    for d in netcourse::diagram::catalog() {
        let path = dir.join(d.file);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == d.svg {
            continue;
        }
        if check {
            stale.push(path.display().to_string());
        } else {
            std::fs::create_dir_all(dir)?;
            std::fs::write(&path, &d.svg)?;
            println!("wrote {}", path.display());
        }
    }
    if !stale.is_empty() {
        bail!(
            "out of date (run `cargo run --bin course -- diagrams`): {}",
            stale.join(", ")
        );
    }
    Ok(())
}

fn bench(lessons: &[u32], bin_dir: Option<PathBuf>, chart: Option<&Path>) -> anyhow::Result<()> {
    use netcourse::bench::{Kind, Subject};
    let dir = match bin_dir {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .context("the program's folder")?
            .to_path_buf(),
    };
    if cfg!(debug_assertions) {
        eprintln!("note: this is a debug build; scripts/bench.sh measures release builds");
    }
    let subjects: Vec<Subject> = lessons
        .iter()
        .filter_map(|&n| match n {
            4 => Some(Subject {
                name: "04 threads",
                binary: dir.join("04-threaded-chat"),
                kind: Kind::Chat,
                max_conns: 5000,
            }),
            5 => Some(Subject {
                name: "05 event loop",
                binary: dir.join("05-mio-echo"),
                kind: Kind::Echo,
                max_conns: 10_000,
            }),
            6 => Some(Subject {
                name: "06 event loop chat",
                binary: dir.join("06-mio-chat"),
                kind: Kind::Chat,
                max_conns: 10_000,
            }),
            _ => None,
        })
        .collect();
    netcourse::bench::run(&subjects, &mut std::io::stdout(), chart)?;
    Ok(())
}
