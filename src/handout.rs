//! `course handout DIR`: the course for a classroom, without its answers.
//!
//! Learners who clone the repository see every reference solution, and so would learners given
//! the `course` binary, which embeds the references to cut starters from them. A handout is a
//! folder that holds what a class needs and none of the answers:
//!
//! ```text
//! DIR/README.md                  how to start, run and check a lesson
//! DIR/lessons/NN-name/           each lesson's text and assets, but no *.rs (the reference)
//! DIR/diagrams/*.svg             the diagrams the texts link
//! DIR/starters/NN-name/          exactly what `course new NN` writes
//! DIR/Cargo.toml, DIR/src/       the graders as a Cargo project of their own: a `course` binary
//!                                with check, list and hint, so the texts' `cargo run --bin
//!                                course -- ...` commands work unchanged from DIR
//! ```
//!
//! The grader shares no protocol code with the references by design (`src/grader/mod.rs`), so
//! its files are copied whole; the two functions it borrows from the course library
//! (`trace::printable`, `event_loop::raise_fd_limit`) are copied alone, and a new borrowing
//! stops the handout with its name rather than dragging a reference module along.
//!
//! What counts as an answer is what `course new` removes: the lines between a lesson's
//! `// exercise: begin` and `// exercise: end` markers, hints aside. Lesson texts walk through the
//! reference and quote it, so every code block of a text that quotes an answer is replaced by a
//! note; then every handed-out file is scanned, and the handout is refused if an answer is left.
//!
//! One exception is stated, not hidden: a starter carries the library modules its lesson builds
//! on whole, and a module may hold another lesson's exercise (lesson 06's starter has lesson
//! 05's event loop, lesson 09's has lesson 10's frame code). Those are listed in
//! [`Handout::carried`], so that an instructor hands such a lesson out after the other one
//! (`--lessons` picks which lessons go out).

use crate::lessons::{Lesson, LESSONS};
use crate::starter;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

/// The `course` binary of the handout: check, list and hint (see the file itself).
const GRADER_MAIN: &str = include_str!("handout/grader_main.rs");

/// The functions the grader borrows from the course library, copied alone into the handout:
/// (module, function, the `use` lines the copy needs).
const BORROWED: &[(&str, &str, &str)] = &[
    ("trace", "printable", ""),
    ("event_loop", "raise_fd_limit", "use std::io;\n"),
];

/// One file of the handout: its path inside DIR, and its bytes.
#[derive(Debug, Clone)]
pub struct HandoutFile {
    pub path: String,
    pub bytes: Vec<u8>,
}

/// An exercise of one lesson whose reference code another lesson's starter carries whole,
/// because it sits in a library module that lesson builds on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Carried {
    /// The lesson whose starter carries it, and the file (`starters/06-mio-chat/src/event_loop.rs`).
    pub starter: u32,
    pub file: String,
    /// The lesson the exercise belongs to, and its title.
    pub lesson: u32,
    pub exercise: String,
}

/// A handout, ready to write.
#[derive(Debug)]
pub struct Handout {
    pub files: Vec<HandoutFile>,
    pub carried: Vec<Carried>,
    /// Lesson texts and how many code blocks each lost because they quoted an answer.
    pub redacted: Vec<(String, usize)>,
}

/// The code `course new` removes for one exercise, as the pieces a scan looks for.
#[derive(Debug, Clone)]
pub struct Answer {
    pub lesson: u32,
    pub exercise: String,
    /// Where the reference holds it: `lessons/01-tcp-echo/main.rs` or `src/event_loop.rs`.
    pub file: String,
    /// The pieces that give it away: every two consecutive significant lines of the removed code
    /// (see [`significant_lines`]), or the one line of a one-line answer; less those the starter
    /// keeps elsewhere in the same file, which a handout may show.
    pub snippets: Vec<Vec<String>>,
}

/// A line as the scan compares it: whitespace collapsed. Lines with fewer than eight letters and
/// digits (`}`, `Ok(())`, `break;`) say nothing about an answer and are left out, so that a
/// snippet is never made of braces.
pub fn significant_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= 8)
        .collect()
}

/// The lines between `lesson`'s exercise markers in `source` (hints aside), one list per
/// exercise: what `course new` cuts. Untagged markers belong to any lesson that includes the file
/// (`starter::cut` reads them the same way); `// exercise(NN):` markers to lesson NN only.
pub fn removed_lines(source: &str, lesson: u32) -> Vec<(String, Vec<String>)> {
    let mut found = Vec::new();
    let mut open: Option<(String, Vec<String>)> = None;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let marker = if let Some(rest) = trimmed.strip_prefix("// exercise:") {
            Some((true, rest))
        } else if let Some((tag, rest)) = trimmed
            .strip_prefix("// exercise(")
            .and_then(|r| r.split_once("):"))
        {
            Some((tag.parse::<u32>() == Ok(lesson), rest))
        } else {
            None
        };
        match marker {
            Some((mine, rest)) if rest.trim_start().starts_with("begin") => {
                if mine {
                    let title = rest.trim_start()["begin".len()..].trim().trim_matches('"');
                    open = Some((title.to_string(), Vec::new()));
                }
            }
            Some((_, rest)) if rest.trim_start().starts_with("end") => {
                if let Some(done) = open.take() {
                    found.push(done);
                }
            }
            _ => {
                if let Some((_, lines)) = open.as_mut() {
                    if !trimmed.starts_with("// hint:") {
                        lines.push(line.to_string());
                    }
                }
            }
        }
    }
    found
}

/// Every answer of every lesson that has a reference: its main.rs's exercises and those its
/// library modules hold for it.
pub fn answers() -> Vec<Answer> {
    // Every reference file once, as (where, text, the lesson whose starter cuts it).
    let mut files: Vec<(String, &str, u32)> = Vec::new();
    for lesson in LESSONS {
        let Some(source) = lesson.source else {
            continue;
        };
        files.push((
            format!("lessons/{}/main.rs", lesson.name),
            source,
            lesson.number,
        ));
        for module in lesson.modules {
            for (path, text) in module.files {
                files.push((format!("src/{path}"), *text, lesson.number));
            }
        }
    }
    // The code that stays when every exercise is cut: a line or two of it may look like part of
    // an answer (the same `trace.log(...)` call before and inside an exercise), but it is in the
    // starters anyway, so it gives nothing away.
    let mut public: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    for (file, text, _) in &files {
        if seen.insert(file.clone()) {
            public.extend(significant_lines(&without_exercises(text)));
            public.push(String::new()); // no pair across two files
        }
    }
    let public_pieces: HashSet<&[String]> = public.chunks(1).chain(public.windows(2)).collect();

    let mut all: Vec<Answer> = Vec::new();
    for (file, text, lesson) in &files {
        for (exercise, lines) in removed_lines(text, *lesson) {
            // A module included by several lessons is listed once per lesson that cuts it.
            if all
                .iter()
                .any(|a| a.lesson == *lesson && a.file == *file && a.exercise == exercise)
            {
                continue;
            }
            let lines = significant_lines(&lines.join("\n"));
            let pieces: Vec<&[String]> = if lines.len() == 1 {
                vec![&lines[..]]
            } else {
                lines.windows(2).collect()
            };
            all.push(Answer {
                lesson: *lesson,
                exercise,
                file: file.clone(),
                snippets: pieces
                    .into_iter()
                    .filter(|p| !public_pieces.contains(p))
                    .map(|p| p.to_vec())
                    .collect(),
            });
        }
    }
    all
}

/// `source` without the code of any exercise, whichever lesson it belongs to (hints and
/// markers go too).
fn without_exercises(source: &str) -> String {
    let mut out = String::new();
    let mut inside = false;
    for line in source.lines() {
        let trimmed = line.trim_start();
        let marker = trimmed.starts_with("// exercise:") || trimmed.starts_with("// exercise(");
        if marker && trimmed.contains(": begin") {
            inside = true;
        } else if marker && trimmed.contains(": end") {
            inside = false;
        } else if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The answers `text` gives away, each with the first of its snippets found there: a snippet
/// is found when its lines are consecutive significant lines of `text`.
pub fn answers_in<'a>(text: &str, answers: &'a [Answer]) -> Vec<(&'a Answer, &'a [String])> {
    let lines = significant_lines(text);
    let singles: HashSet<&[String]> = lines.chunks(1).collect();
    let pairs: HashSet<&[String]> = lines.windows(2).collect();
    answers
        .iter()
        .filter_map(|a| {
            a.snippets
                .iter()
                .find(|s| singles.contains(s.as_slice()) || pairs.contains(s.as_slice()))
                .map(|s| (a, s.as_slice()))
        })
        .collect()
}

/// Build the handout of `selected` lessons (those with a reference) from the checkout at `repo`.
pub fn build(repo: &Path, selected: &[u32]) -> Result<Handout, String> {
    for needed in ["src/grader/mod.rs", "lessons", "diagrams"] {
        if !repo.join(needed).exists() {
            return Err(format!(
                "{} is not a checkout of the course (no {needed}): run `course handout` from the \
                 course's folder",
                repo.display()
            ));
        }
    }
    let lessons: Vec<&Lesson> = LESSONS
        .iter()
        .filter(|l| l.source.is_some() && selected.contains(&l.number))
        .collect();
    if let Some(n) = selected
        .iter()
        .find(|n| !lessons.iter().any(|l| l.number == **n))
    {
        return Err(format!(
            "lesson {n:02} has no reference to hand out (`course list`)"
        ));
    }
    let answers = answers();
    let mut files: Vec<HandoutFile> = Vec::new();
    let mut texts: Vec<(String, String)> = Vec::new(); // markdown, rewritten at the end
    let mut hints = Vec::new();

    // The starters, exactly as `course new NN` writes them.
    for lesson in &lessons {
        let (starter_files, exercises) = starter::starter(lesson)?;
        for f in starter_files {
            files.push(HandoutFile {
                path: format!("starters/{}/{}", lesson.name, f.path),
                bytes: f.text.into_bytes(),
            });
        }
        hints.push((lesson.number, exercises));
    }

    // The texts and their assets; never code, which is the reference (the starter has its cut).
    for lesson in &lessons {
        let folder = repo.join("lessons").join(lesson.name);
        for path in walk(&folder)? {
            let rel = path.strip_prefix(repo).expect("under the checkout");
            let rel = rel.to_string_lossy().replace('\\', "/");
            if rel.ends_with(".rs") {
                continue;
            }
            let bytes = read(&path)?;
            if rel.ends_with(".md") {
                texts.push((rel, String::from_utf8_lossy(&bytes).into_owned()));
            } else {
                files.push(HandoutFile { path: rel, bytes });
            }
        }
    }
    // Texts of the whole course that the lessons link (lessons/socket-api.md).
    for path in walk(&repo.join("lessons"))? {
        let rel = path.strip_prefix(repo).expect("under the checkout");
        let rel = rel.to_string_lossy().replace('\\', "/");
        if rel.matches('/').count() == 1 && rel.ends_with(".md") {
            texts.push((rel, String::from_utf8_lossy(&read(&path)?).into_owned()));
        }
    }

    // The diagrams the texts link.
    let mut diagrams = BTreeSet::new();
    for (path, text) in &texts {
        for link in links(text) {
            let target = resolve(path, &link.target);
            if target.starts_with("diagrams/") && repo.join(&target).is_file() {
                diagrams.insert(target);
            }
        }
    }
    for d in diagrams {
        files.push(HandoutFile {
            bytes: read(&repo.join(&d))?,
            path: d,
        });
    }

    files.extend(grader_project(repo, &hints)?);

    // The texts, last: their links can now be checked against what the handout holds.
    let mut redacted = Vec::new();
    let present: HashSet<String> = files
        .iter()
        .map(|f| f.path.clone())
        .chain(texts.iter().map(|(p, _)| p.clone()))
        .collect();
    for (path, text) in &texts {
        let (text, blocks) = redact(text, &answers);
        if blocks > 0 {
            redacted.push((path.clone(), blocks));
        }
        let text = relink(path, &text, &present);
        files.push(HandoutFile {
            path: path.clone(),
            bytes: text.into_bytes(),
        });
    }
    files.push(HandoutFile {
        path: "README.md".into(),
        bytes: readme(&lessons, &hints).into_bytes(),
    });

    // The last word: scan everything. Only a module a starter keeps whole may hold another
    // lesson's answer; anything else stops the handout.
    let mut carried = Vec::new();
    for f in &files {
        let Ok(text) = std::str::from_utf8(&f.bytes) else {
            continue;
        };
        for (a, snippet) in answers_in(text, &answers) {
            match carrier(&f.path, a, &lessons) {
                Some(starter) => carried.push(Carried {
                    starter,
                    file: f.path.clone(),
                    lesson: a.lesson,
                    exercise: a.exercise.clone(),
                }),
                None => {
                    return Err(format!(
                        "{} would give away lesson {:02}'s answer to \"{}\" ({}): it has\n  {}\n\
                         Not handing out.",
                        f.path,
                        a.lesson,
                        a.exercise,
                        a.file,
                        snippet.join("\n  ")
                    ))
                }
            }
        }
    }
    Ok(Handout {
        files,
        carried,
        redacted,
    })
}

/// The lesson whose starter carries `answer` whole in `path`, if that is what `path` is: the
/// same library file, in the starter of another lesson.
fn carrier(path: &str, answer: &Answer, lessons: &[&Lesson]) -> Option<u32> {
    let rest = path.strip_prefix("starters/")?;
    let (name, file) = rest.split_once('/')?;
    let lesson = lessons.iter().find(|l| l.name == name)?;
    (lesson.number != answer.lesson && file == answer.file).then_some(lesson.number)
}

/// Write `handout` into `dir`, which must not exist or be empty.
pub fn write(handout: &Handout, dir: &Path) -> Result<(), String> {
    if dir.read_dir().is_ok_and(|mut d| d.next().is_some()) {
        return Err(format!(
            "{} already exists and is not empty: choose another folder",
            dir.display()
        ));
    }
    for f in &handout.files {
        let path = dir.join(&f.path);
        let parent = path.parent().expect("a file is inside the folder");
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        std::fs::write(&path, &f.bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The graders as a Cargo project: every file of src/grader, what they include, the two
/// borrowed functions, the lesson list with its hints, and the handout's `course` binary.
fn grader_project(
    repo: &Path,
    hints: &[(u32, Vec<starter::Exercise>)],
) -> Result<Vec<HandoutFile>, String> {
    let mut files = Vec::new();
    for path in walk(&repo.join("src/grader"))? {
        let rel = path.strip_prefix(repo).expect("under the checkout");
        let rel = rel.to_string_lossy().replace('\\', "/");
        let text = String::from_utf8_lossy(&read(&path)?).into_owned();
        // What the file borrows from outside the grader must be on the BORROWED list.
        for (i, _) in text.match_indices("crate::") {
            let path: String = text[i + "crate::".len()..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            let mut parts = path.split("::");
            let module = parts.next().unwrap_or("");
            let item = parts.next().unwrap_or("");
            if module != "grader" && !BORROWED.iter().any(|(m, f, _)| *m == module && *f == item) {
                return Err(format!(
                    "{rel} uses crate::{path}, which the handout does not carry: add it to \
                     BORROWED in src/handout.rs if it is no part of an answer"
                ));
            }
        }
        // Files the grader embeds (lesson 15's zone) come along, at the same place.
        for quoted in ["include_str!(\"", "include_bytes!(\""] {
            for (i, _) in text.match_indices(quoted) {
                let target = &text[i + quoted.len()..];
                let target = &target[..target.find('"').unwrap_or(0)];
                let embedded = resolve(&rel, target);
                if embedded.starts_with("..") || embedded.ends_with(".rs") {
                    return Err(format!("{rel} embeds {target}, which cannot be handed out"));
                }
                files.push(HandoutFile {
                    bytes: read(&repo.join(&embedded))?,
                    path: embedded,
                });
            }
        }
        files.push(HandoutFile {
            path: rel,
            bytes: text.into_bytes(),
        });
    }
    for (module, function, uses) in BORROWED {
        let source =
            String::from_utf8_lossy(&read(&repo.join(format!("src/{module}.rs")))?).into_owned();
        let code = function_source(&source, function)
            .ok_or_else(|| format!("src/{module}.rs has no `pub fn {function}`"))?;
        files.push(HandoutFile {
            path: format!("src/{module}.rs"),
            bytes: format!(
                "//! The one function of the course's `{module}` module that the grader uses, \
                 copied by\n//! `course handout`.\n\n{uses}{}{code}",
                if uses.is_empty() { "" } else { "\n" }
            )
            .into_bytes(),
        });
    }
    let mut lib = String::from(
        "//! The course's grader, handed out without the reference solutions: the checks of \
         every lesson\n//! (`grader`), the lessons and their hints (`lessons`), and the two \
         functions the grader borrows\n//! from the course library.\n\n",
    );
    let mut modules: Vec<&str> = BORROWED.iter().map(|(m, _, _)| *m).collect();
    modules.extend(["grader", "lessons"]);
    modules.sort();
    modules.dedup();
    for m in modules {
        lib.push_str(&format!("pub mod {m};\n"));
    }
    files.push(HandoutFile {
        path: "src/lib.rs".into(),
        bytes: lib.into_bytes(),
    });
    files.push(HandoutFile {
        path: "src/lessons.rs".into(),
        bytes: lessons_rs(hints).into_bytes(),
    });
    files.push(HandoutFile {
        path: "src/main.rs".into(),
        bytes: GRADER_MAIN.as_bytes().to_vec(),
    });
    files.push(HandoutFile {
        path: "Cargo.toml".into(),
        bytes: CARGO_TOML.as_bytes().to_vec(),
    });
    let lock = read(&repo.join("Cargo.lock"))?;
    files.push(HandoutFile {
        path: "Cargo.lock".into(),
        bytes: String::from_utf8_lossy(&lock)
            .replace("name = \"netcourse\"", "name = \"netcourse-grader\"")
            .into_bytes(),
    });
    files.push(HandoutFile {
        path: ".gitignore".into(),
        bytes: b"/target\n".to_vec(),
    });
    Ok(files)
}

const CARGO_TOML: &str = r#"[package]
name = "netcourse-grader"
version = "0.1.0"
edition = "2021"
publish = false
description = "The network programming course's grader, handed out without the reference solutions"

# The same versions as the course, so the build can reuse what is already downloaded. The grader
# carries its own small encoders; sha1 and base64 compute the WebSocket accept key it expects.
[dependencies]
socket2 = { version = "0.6", features = ["all"] }
clap = { version = "4", features = ["derive"] }
anyhow = "1"
libc = "0.2"
sha1 = "0.10"
base64 = "0.22"

[lib]
name = "netcourse"
path = "src/lib.rs"

[[bin]]
name = "course"
path = "src/main.rs"

# A project of its own, even when unpacked inside another one. The starters under starters/
# are projects of their own too.
[workspace]
"#;

/// The lesson list of the handout's `course`: every lesson of the course, and for those handed
/// out, each exercise's title and hints (the comments the starters keep, no code).
fn lessons_rs(hints: &[(u32, Vec<starter::Exercise>)]) -> String {
    let mut s = String::from(
        "//! The lessons: numbers, names and titles, and for those handed out each exercise's \
         hints\n//! (the comments the starters keep). Written by `course handout`.\n\n\
         pub struct Lesson {\n    pub number: u32,\n    pub name: &'static str,\n    \
         pub title: &'static str,\n    pub handed_out: bool,\n    \
         pub exercises: &'static [Exercise],\n}\n\n\
         pub struct Exercise {\n    pub title: &'static str,\n    \
         pub hints: &'static [&'static str],\n}\n\n\
         pub const LESSONS: &[Lesson] = &[\n",
    );
    for lesson in LESSONS {
        let exercises = hints.iter().find(|(n, _)| *n == lesson.number);
        s.push_str(&format!(
            "    Lesson {{\n        number: {},\n        name: {:?},\n        title: {:?},\n        \
             handed_out: {},\n        exercises: &[\n",
            lesson.number,
            lesson.name,
            lesson.title,
            exercises.is_some()
        ));
        for e in exercises.map(|(_, e)| e.as_slice()).unwrap_or_default() {
            s.push_str(&format!(
                "            Exercise {{\n                title: {:?},\n                hints: &[\n",
                e.title
            ));
            for h in &e.hints {
                s.push_str(&format!("                    {h:?},\n"));
            }
            s.push_str("                ],\n            },\n");
        }
        s.push_str("        ],\n    },\n");
    }
    s.push_str(
        "];\n\n/// The lesson numbered `n`.\npub fn lesson(n: u32) -> Option<&'static Lesson> {\n    \
         LESSONS.iter().find(|l| l.number == n)\n}\n",
    );
    s
}

/// `pub fn NAME` in `source` with the doc comment above it, up to the `}` that closes it at the
/// start of a line.
fn function_source(source: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = source.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("pub fn {name}(")))?;
    let mut first = start;
    while first > 0 && lines[first - 1].starts_with("///") {
        first -= 1;
    }
    let end = start + lines[start..].iter().position(|l| *l == "}")?;
    Some(lines[first..=end].join("\n") + "\n")
}

/// Replace each fenced code block of a markdown text that quotes an answer with a note; say how
/// many were replaced.
fn redact(text: &str, answers: &[Answer]) -> (String, usize) {
    let mut out = String::new();
    let mut block: Option<(String, Vec<&str>)> = None; // the fence's indentation, the lines
    let mut count = 0;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let fence = trimmed.starts_with("```");
        match block.as_mut() {
            None if fence => {
                let indent = line[..line.len() - trimmed.len()].to_string();
                block = Some((indent, vec![line]));
                continue;
            }
            None => {}
            Some((_, lines)) => {
                lines.push(line);
                if !fence {
                    continue;
                }
                let (indent, lines) = block.take().expect("open");
                let given: Vec<&Answer> = answers_in(&lines.join("\n"), answers)
                    .into_iter()
                    .map(|(a, _)| a)
                    .collect();
                if given.is_empty() {
                    for l in lines {
                        out.push_str(l);
                        out.push('\n');
                    }
                } else {
                    count += 1;
                    out.push_str(&note(&indent, &given));
                }
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    // An unclosed block runs to the end of the text, as markdown reads it.
    if let Some((indent, lines)) = block {
        let given: Vec<&Answer> = answers_in(&lines.join("\n"), answers)
            .into_iter()
            .map(|(a, _)| a)
            .collect();
        if given.is_empty() {
            for l in lines {
                out.push_str(l);
                out.push('\n');
            }
        } else {
            count += 1;
            out.push_str(&note(&indent, &given));
        }
    }
    (out, count)
}

/// What stands where a code block quoted the reference's answer.
fn note(indent: &str, given: &[&Answer]) -> String {
    let mut exercises: Vec<String> = given
        .iter()
        .map(|a| format!("\"{}\" (lesson {:02})", a.exercise, a.lesson))
        .collect();
    exercises.dedup();
    let lesson = given[0].lesson;
    format!(
        "{indent}> *Left out of this handout: the reference code quoted here answers the exercise \
         {}. Your starter has it to write; `cargo run --bin course -- hint {lesson:02}` gives the \
         hints.*\n",
        exercises.join(" and ")
    )
}

/// A markdown link: where it points.
struct Link {
    /// Byte range of the whole `[text](target)` and of the text inside the brackets.
    whole: std::ops::Range<usize>,
    text: std::ops::Range<usize>,
    target: String,
}

/// The `[text](target)` links of one markdown text, outside code blocks.
fn links(text: &str) -> Vec<Link> {
    let mut found = Vec::new();
    let mut offset = 0;
    let mut in_code = false;
    for line in text.split_inclusive('\n') {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if !in_code {
            let mut from = 0;
            while let Some(open) = line[from..].find('[').map(|i| from + i) {
                let Some(close) = line[open..].find("](").map(|i| open + i) else {
                    break;
                };
                let Some(end) = line[close..].find(')').map(|i| close + i) else {
                    break;
                };
                // The text is the part after the last `[` before `](` (no nested brackets).
                let start = open + line[open..close].rfind('[').unwrap_or(0);
                found.push(Link {
                    whole: offset + start..offset + end + 1,
                    text: offset + start + 1..offset + close,
                    target: line[close + 2..end].to_string(),
                });
                from = end + 1;
            }
        }
        offset += line.len();
    }
    found
}

/// `target` as a path from the top of the checkout, seen from the file `from`; `#anchors` and
/// URLs are returned as they are.
fn resolve(from: &str, target: &str) -> String {
    if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
        return target.to_string();
    }
    let target = target.split('#').next().unwrap_or("");
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop(); // the file's own name
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The same path, relative to the folder of `from`.
fn relative(from: &str, to: &str) -> String {
    let depth = from.matches('/').count();
    format!("{}{to}", "../".repeat(depth))
}

/// Rewrite the links of the text at `path`: those to something the handout holds stay; those to
/// the reference's code point at the starter's copy of the file when it has one (the cut
/// version); the rest (tests, the diagram code) become plain text.
fn relink(path: &str, text: &str, present: &HashSet<String>) -> String {
    let mut out = String::new();
    let mut last = 0;
    for link in links(text) {
        let target = &link.target;
        if target.contains("://") || target.starts_with('#') || target.starts_with("mailto:") {
            continue;
        }
        let resolved = resolve(path, target);
        if present.contains(&resolved) {
            continue;
        }
        let anchor = target.find('#').map_or("", |i| &target[i..]);
        let starter_copy = starter_path(path, &resolved, present);
        out.push_str(&text[last..link.whole.start]);
        match starter_copy {
            Some(copy) => out.push_str(&format!(
                "[{}]({}{anchor})",
                &text[link.text.clone()],
                relative(path, &copy)
            )),
            None => out.push_str(&text[link.text.clone()]),
        }
        last = link.whole.end;
    }
    out.push_str(&text[last..]);
    out
}

/// Where a starter holds its copy of a reference file: `lessons/NN-name/main.rs` is
/// `starters/NN-name/src/main.rs`; `src/ws/frame.rs` is in the starter of the lesson whose text
/// links it (`text` is at `lessons/NN-name/README.md`), or else of the first lesson that has it.
fn starter_path(text: &str, resolved: &str, present: &HashSet<String>) -> Option<String> {
    if let Some(rest) = resolved.strip_prefix("lessons/") {
        let (name, file) = rest.split_once('/')?;
        let copy = format!("starters/{name}/src/{file}");
        return (file.ends_with(".rs") && present.contains(&copy)).then_some(copy);
    }
    let file = resolved.strip_prefix("src/")?;
    let own = text
        .strip_prefix("lessons/")
        .and_then(|rest| rest.split_once('/'))
        .map(|(name, _)| name);
    own.into_iter()
        .chain(LESSONS.iter().map(|l| l.name))
        .map(|name| format!("starters/{name}/src/{file}"))
        .find(|copy| present.contains(copy))
}

/// The class's README: how to read, start, run and check a lesson.
fn readme(lessons: &[&Lesson], hints: &[(u32, Vec<starter::Exercise>)]) -> String {
    let mut s = String::from(
        "# Network programming from the socket API up: the class handout\n\n\
         Each lesson is a text to read, a starter to complete (the course's reference code with its\n\
         key parts cut out, hints left in) and a grader that judges your server, in any language, by\n\
         the bytes it puts on real sockets.\n\n\
         ```\n\
         lessons/NN-name/README.md   the lesson text (diagrams under diagrams/)\n\
         starters/NN-name/           your starting point: a Cargo project with todo!()s to fill in\n\
         src/, Cargo.toml            the grader: `cargo run --bin course -- ...` from this folder\n\
         ```\n\n\
         ## Working through a lesson\n\n\
         1. **Read** `lessons/NN-name/README.md`. The text walks through the course's reference\n   \
         code; where it quoted a part you are to write, a note says so, and the rest of its code\n   \
         is in your starter. Where the text runs the reference (`cargo run --bin NN-name`), run\n   \
         your starter instead: `cargo run --manifest-path starters/NN-name/Cargo.toml -- ...`.\n\
         2. **Fill in** each `todo!()` in `starters/NN-name/src/`: the `// hint:` comments above it,\n   \
         and `cargo run --bin course -- hint NN`, help, one hint at a time.\n\
         3. **Run** it: every server prints `listening on SCHEME://IP:PORT`, takes `--addr IP:PORT`\n   \
         (port 0 picks a free one) and `--trace`.\n\
         4. **Check** it with the grader, from this folder (the first run builds the grader):\n\n   \
         ```\n   \
         cargo run --bin course -- check 01 --cmd \"cargo run -q --manifest-path starters/01-tcp-echo/Cargo.toml -- --addr 127.0.0.1:0\"\n   \
         cargo run --bin course -- check 01 --addr 127.0.0.1:7001     # or a server already running\n   \
         ```\n\n   \
         The grader starts your server afresh for every check and names each check after the\n   \
         mistake it catches; a failure shows what was sent, what was expected and what came back.\n   \
         Exit code 0 means every check passed. `--seed` replays a run, `--only NAME` runs one check,\n   \
         and `cargo run --bin course -- list` shows what your work has passed.\n\n\
         ## The lessons\n\n\
         | NN | lesson | exercises | check your starter with |\n|---|---|---|---|\n",
    );
    for lesson in lessons {
        let count = hints
            .iter()
            .find(|(n, _)| *n == lesson.number)
            .map_or(0, |(_, e)| e.len());
        // A client is started pointed at the grader (`course new` says the same); lesson 15's
        // server is given the grader's zone.
        let client = crate::grader::suite(lesson.number).is_some_and(|s| s.grades_a_client());
        let args = match lesson.number {
            _ if client => "echo {url}",
            15 => "--addr 127.0.0.1:0 --zone {zone}",
            _ => "--addr 127.0.0.1:0",
        };
        s.push_str(&format!(
            "| {:02} | [{}](lessons/{}/README.md) | {count} | `cargo run --bin course -- check {:02} --cmd \"cargo run -q --manifest-path starters/{}/Cargo.toml -- {args}\"` |\n",
            lesson.number, lesson.title, lesson.name, lesson.number, lesson.name
        ));
    }
    s.push_str(
        "\nLesson 12's program is a client: the grader listens and starts it, and `{url}` becomes the\n\
         grader's address. Lesson 15's server serves the grader's zone: `{zone}` becomes the path of\n\
         a copy of it.\n",
    );
    s
}

/// Every file under `dir`, sorted, so that a handout comes out the same each time.
fn walk(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| format!("{}: {e}", d.display()))?;
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", d.display()))?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                found.push(path);
            }
        }
    }
    found.sort();
    Ok(found)
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_lines_are_what_the_markers_enclose_hints_aside() {
        let source = "fn f() {\n    // exercise: begin \"Add\"\n    // hint: use +\n    let total = first + second;\n    // exercise: end\n}\n";
        assert_eq!(
            removed_lines(source, 1),
            vec![(
                "Add".to_string(),
                vec!["    let total = first + second;".to_string()]
            )]
        );
        let tagged = source.replace("// exercise: begin", "// exercise(05): begin");
        assert_eq!(removed_lines(&tagged, 6), vec![]);
        assert_eq!(removed_lines(&tagged, 5).len(), 1);
    }

    #[test]
    fn a_code_block_quoting_an_answer_becomes_a_note_and_others_stay() {
        let answer = Answer {
            lesson: 1,
            exercise: "Echo".into(),
            file: "lessons/01-tcp-echo/main.rs".into(),
            snippets: vec![significant_lines(
                "let n = conn.read(&mut buf)?;\nconn.write_all(&buf[..n])?;",
            )],
        };
        let text = "Prose.\n\n```rust\nloop {\n    let n = conn.read(&mut buf)?;\n    conn.write_all(&buf[..n])?;\n}\n```\n\n```\n$ nc 127.0.0.1 7001\n```\n";
        let (out, count) = redact(text, std::slice::from_ref(&answer));
        assert_eq!(count, 1);
        assert!(!out.contains("write_all"), "{out}");
        assert!(out.contains("\"Echo\" (lesson 01)") && out.contains("$ nc 127.0.0.1 7001"));
        assert!(answers_in(&out, &[answer]).is_empty());
    }

    #[test]
    fn links_to_the_reference_point_at_the_starters_copy_or_become_text() {
        let present: HashSet<String> = [
            "starters/01-tcp-echo/src/main.rs".to_string(),
            "diagrams/a.svg".to_string(),
        ]
        .into();
        let text = "See [the code](main.rs#L3), [a](../../diagrams/a.svg) and [tests](../../tests/t.rs).\n";
        assert_eq!(
            relink("lessons/01-tcp-echo/README.md", text, &present),
            "See [the code](../../starters/01-tcp-echo/src/main.rs#L3), [a](../../diagrams/a.svg) and tests.\n"
        );
    }

    #[test]
    fn the_borrowed_functions_are_found_whole() {
        let code = function_source(include_str!("trace.rs"), "printable").unwrap();
        assert!(code.starts_with("///") && code.ends_with("}\n"), "{code}");
    }
}
