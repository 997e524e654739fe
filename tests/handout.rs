//! `course handout DIR`, the course for a classroom: the folder it writes holds no reference
//! answer (the code `course new` cuts out) outside the one stated exception, its starters are
//! exactly `course new`'s, and its grader builds on its own and tells a correct server from a
//! starter.
//!
//! The answers are found here with this file's own marker reader and comparison, not with
//! `netcourse::handout`'s, so that a bug in the handout's scan cannot hide a leak.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;

mod common;
use common::cli::{course, scratch, text};

/// Every file under `dir`, as (path relative to `dir`, bytes).
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut found = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                found.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    found
}

/// Lines compared with whitespace collapsed; lines with fewer than eight letters and digits
/// (`}`, `Ok(())`) are skipped.
fn significant(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|l| l.chars().filter(|c| c.is_alphanumeric()).count() >= 8)
        .collect()
}

/// One exercise's answer: its lesson, title, the reference file, and its snippets (two
/// consecutive significant lines, or the one line of a one-line answer).
struct Answer {
    lesson: u32,
    title: String,
    file: String,
    snippets: Vec<Vec<String>>,
    /// The code as the reference file has it, indentation and all.
    raw: String,
}

/// The code between the exercise markers of `source`, by lesson (`// exercise(NN):` is lesson
/// NN's; an untagged marker is the lesson's whose main.rs it is, `own`), hints left out; and
/// the code outside every exercise.
fn marked(source: &str, own: u32) -> (Vec<(u32, String, String)>, String) {
    let mut found = Vec::new();
    let mut kept = String::new();
    let mut open: Option<(u32, String, String)> = None;
    for line in source.lines() {
        let t = line.trim();
        let (lesson, rest) = match t.strip_prefix("// exercise(") {
            Some(r) => match r.split_once("):") {
                Some((n, rest)) => (n.parse().unwrap(), rest.trim()),
                None => (own, ""),
            },
            None => (own, t.strip_prefix("// exercise:").unwrap_or("").trim()),
        };
        if let Some(title) = rest.strip_prefix("begin") {
            open = Some((
                lesson,
                title.trim().trim_matches('"').to_string(),
                String::new(),
            ));
        } else if rest == "end" {
            found.push(open.take().expect("an end after a begin"));
        } else if let Some((_, _, code)) = open.as_mut() {
            if !t.starts_with("// hint:") {
                code.push_str(line);
                code.push('\n');
            }
        } else {
            kept.push_str(line);
            kept.push('\n');
        }
    }
    (found, kept)
}

/// Every answer of every lesson with a reference, read from the repository's files.
fn answers() -> Vec<Answer> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources: Vec<(String, u32)> = Vec::new();
    for entry in std::fs::read_dir(root.join("lessons")).unwrap() {
        let dir = entry.unwrap().path();
        let main = dir.join("main.rs");
        if main.is_file() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            let number: u32 = name[..2].parse().unwrap();
            sources.push((format!("lessons/{name}/main.rs"), number));
        }
    }
    let mut pending = vec![root.join("src")];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if path.is_dir() {
                pending.push(path);
            } else if rel.ends_with(".rs")
                && !rel.starts_with("src/starter.rs")
                && !rel.starts_with("src/handout")
            {
                sources.push((rel, 0)); // library markers are always tagged
            }
        }
    }
    // What stays of every file with every exercise cut: a snippet found there is no answer.
    let mut public = HashSet::new();
    let mut all = Vec::new();
    for (file, own) in &sources {
        let source = std::fs::read_to_string(root.join(file)).unwrap();
        let (exercises, kept) = marked(&source, *own);
        let kept = significant(&kept);
        public.extend(kept.windows(2).map(|w| w.to_vec()));
        public.extend(kept.iter().map(|l| vec![l.clone()]));
        for (lesson, title, code) in exercises {
            all.push((lesson, title, file.clone(), significant(&code), code));
        }
    }
    all.into_iter()
        .map(|(lesson, title, file, lines, raw)| {
            let pieces: Vec<Vec<String>> = if lines.len() == 1 {
                vec![lines]
            } else {
                lines.windows(2).map(|w| w.to_vec()).collect()
            };
            Answer {
                lesson,
                title,
                file,
                snippets: pieces.into_iter().filter(|p| !public.contains(p)).collect(),
                raw,
            }
        })
        .collect()
}

/// The answers `text` holds a snippet of.
fn found_in<'a>(text: &str, answers: &'a [Answer]) -> Vec<&'a Answer> {
    let lines = significant(text);
    let pieces: HashSet<&[String]> = lines.chunks(1).chain(lines.windows(2)).collect();
    answers
        .iter()
        .filter(|a| a.snippets.iter().any(|s| pieces.contains(s.as_slice())))
        .collect()
}

/// Every leak in a handout: (handed-out file, lesson, exercise, reference file).
fn leaks(handout: &BTreeMap<String, Vec<u8>>, answers: &[Answer]) -> Vec<(String, u32, String)> {
    let mut found = Vec::new();
    for (path, bytes) in handout {
        let Ok(text) = std::str::from_utf8(bytes) else {
            continue;
        };
        for a in found_in(text, answers) {
            found.push((path.clone(), a.lesson, format!("{} ({})", a.title, a.file)));
        }
    }
    found
}

#[test]
fn the_scan_finds_every_answer_where_the_repository_holds_it() {
    // Without this, an empty snippet list would make every "no answer here" below vacuous.
    let answers = answers();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lessons: HashSet<u32> = answers.iter().map(|a| a.lesson).collect();
    assert!(lessons.len() >= 12, "answers of lessons {lessons:?}");
    for a in &answers {
        assert!(
            !a.snippets.is_empty(),
            "lesson {:02} \"{}\": nothing to look for",
            a.lesson,
            a.title
        );
        let source = std::fs::read_to_string(root.join(&a.file)).unwrap();
        assert!(
            found_in(&source, &answers)
                .iter()
                .any(|f| f.title == a.title),
            "the reference {} holds \"{}\"",
            a.file,
            a.title
        );
    }
    // The lesson texts walk through the reference: the repository's own text of lesson 01
    // quotes its answer, which the handout must leave out.
    let text = std::fs::read_to_string(root.join("lessons/01-tcp-echo/README.md")).unwrap();
    assert!(found_in(&text, &answers).iter().any(|a| a.lesson == 1));
}

#[test]
fn a_handout_holds_no_answer_its_starters_are_course_news_and_its_grader_works() {
    let home = scratch("handout-home");
    let dir = home.join("class");
    let out = course(&home, &["handout", dir.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let handout = files(&dir);
    let answers = answers();

    // No reference code: no lesson's main.rs or other code, no library module beyond the
    // starters' copies, and the grader's borrowed functions alone.
    for path in handout.keys() {
        assert!(
            path.starts_with("starters/")
                || !path.starts_with("lessons/")
                || !path.ends_with(".rs"),
            "{path} is reference code"
        );
        for module in [
            "src/ws",
            "src/http",
            "src/dns",
            "src/realtime",
            "src/framing.rs",
        ] {
            assert!(!path.starts_with(module), "{path} is a reference module");
        }
    }
    let event_loop = String::from_utf8_lossy(&handout["src/event_loop.rs"]).into_owned();
    assert!(
        event_loop.contains("pub fn raise_fd_limit") && !event_loop.contains("mio"),
        "{event_loop}"
    );
    assert!(handout.contains_key("lessons/15-dns/grader.zone"));
    assert!(handout.contains_key("lessons/01-tcp-echo/README.md"));
    assert!(handout.contains_key("diagrams/01-tcp-echo-sequence.svg"));
    assert!(handout.contains_key("README.md"));

    // No answer anywhere, except where a starter carries a library module whole and the module
    // holds another lesson's exercise (lesson 06's starter has lesson 05's event loop): there,
    // the file is the answer's own file, in another lesson's starter, and `course handout`
    // names it.
    for (path, lesson, what) in leaks(&handout, &answers) {
        let carried = path.strip_prefix("starters/").and_then(|rest| {
            let (name, file) = rest.split_once('/')?;
            let starter: u32 = name[..2].parse().ok()?;
            (starter != lesson && what.ends_with(&format!("({file})"))).then_some(starter)
        });
        let Some(starter) = carried else {
            panic!("{path} gives away lesson {lesson:02}'s answer to {what}");
        };
        assert!(
            text(&out).contains(&format!("starter {starter:02} reveals lesson")),
            "the handout does not say that starter {starter:02} carries lesson {lesson:02}'s answer:\n{}",
            text(&out)
        );
    }

    // Each starter is byte for byte what `course new NN` writes.
    let starters: Vec<String> = handout
        .keys()
        .filter_map(|p| {
            p.strip_prefix("starters/")?
                .split_once('/')
                .map(|(n, _)| n.to_string())
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert!(starters.len() >= 12, "{starters:?}");
    for name in &starters {
        let fresh = home.join(format!("new-{name}"));
        let out = course(&home, &["new", &name[..2], fresh.to_str().unwrap()]);
        assert!(out.status.success(), "{}", text(&out));
        let expected = files(&fresh);
        let prefix = format!("starters/{name}/");
        let given: BTreeMap<String, Vec<u8>> = handout
            .iter()
            .filter_map(|(p, b)| Some((p.strip_prefix(&prefix)?.to_string(), b.clone())))
            .collect();
        assert_eq!(
            given.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "{name}"
        );
        for (path, bytes) in &expected {
            assert!(
                given[path] == *bytes,
                "starters/{name}/{path} differs from course new"
            );
        }
    }

    // The grader builds on its own (one target folder with the starter tests, so the
    // dependencies build once), and judges: the reference of lesson 01 passes, its starter fails.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("starter-target");
    for manifest in ["Cargo.toml", "starters/01-tcp-echo/Cargo.toml"] {
        let build = Command::new(env!("CARGO"))
            .args(["build", "--quiet", "--offline", "--manifest-path"])
            .arg(dir.join(manifest))
            .env("CARGO_TARGET_DIR", &target)
            .output()
            .unwrap();
        assert!(build.status.success(), "{manifest}:\n{}", text(&build));
    }
    let grader = |args: &[&str]| {
        Command::new(target.join("debug/course"))
            .args(args)
            .env("NETCOURSE_HOME", &home)
            .current_dir(&dir)
            .output()
            .unwrap()
    };
    let reference = format!("{} --addr 127.0.0.1:0", env!("CARGO_BIN_EXE_01-tcp-echo"));
    let out = grader(&[
        "check",
        "01",
        "--cmd",
        &reference,
        "--timeout",
        "5",
        "--seed",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("Recorded: lesson 01 passed"),
        "{}",
        text(&out)
    );

    let starter = format!(
        "{} --addr 127.0.0.1:0",
        target.join("debug/01-tcp-echo").display()
    );
    let out = grader(&[
        "check",
        "01",
        "--cmd",
        &starter,
        "--timeout",
        "1.5",
        "--seed",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("not yet implemented: exercise"),
        "{}",
        text(&out)
    );

    // The reason for all this: the course's own binary embeds the references (`strings` shows
    // them); the handed-out one embeds none.
    // Two lines of an answer, exactly as the reference writes them, are what an embedded copy
    // of it looks like.
    let holds = |binary: &str, a: &Answer| -> Option<String> {
        let lines: Vec<&str> = a.raw.lines().collect();
        lines
            .windows(2)
            .map(|w| w.join("\n"))
            .filter(|w| significant(w).len() == 2)
            .find(|w| binary.contains(w.as_str()))
    };
    // Read as text (invalid bytes replaced) for the fast substring search of `str`.
    let ours =
        String::from_utf8_lossy(&std::fs::read(env!("CARGO_BIN_EXE_course")).unwrap()).into_owned();
    let handed =
        String::from_utf8_lossy(&std::fs::read(target.join("debug/course")).unwrap()).into_owned();
    let lesson01 = answers.iter().find(|a| a.lesson == 1).unwrap();
    assert!(holds(&ours, lesson01).is_some());
    for a in &answers {
        let found = holds(&handed, a);
        assert!(
            found.is_none(),
            "the handed-out course binary holds lesson {:02}'s \"{}\": {found:?}",
            a.lesson,
            a.title
        );
    }

    // `list` shows the pass; `hint` gives the starter's hints, one at a time.
    let out = grader(&["list"]);
    assert!(text(&out).contains("passed by your work"), "{}", text(&out));
    let out = grader(&["hint", "01"]);
    assert!(text(&out).starts_with("Hint 1 of"), "{}", text(&out));
    let first_exercise = &marked(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons/01-tcp-echo/main.rs"),
        )
        .unwrap(),
        1,
    )
    .0[0];
    assert!(text(&out).contains("exercise 1: "), "{}", text(&out));
    assert!(text(&out).contains(&first_exercise.1), "{}", text(&out));
}

#[test]
fn a_handout_of_lessons_whose_starters_carry_no_other_answer_holds_none_at_all() {
    // 01, 02, 03, 05 and 16 build on modules that hold no other lesson's exercise (03 and 05 cut
    // their own): such a handout holds no answer anywhere, with no exception.
    let home = scratch("handout-home-strict");
    let dir = home.join("class");
    let out = course(
        &home,
        &[
            "handout",
            dir.to_str().unwrap(),
            "--lessons",
            "01,02,03,05,16",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("reveals"), "{}", text(&out));
    let handout = files(&dir);
    assert!(handout.contains_key("starters/05-mio-echo/src/event_loop.rs"));
    assert!(!handout.keys().any(|p| p.starts_with("starters/04")));
    assert_eq!(leaks(&handout, &answers()), vec![]);
}

#[test]
fn a_handout_is_refused_over_a_folder_in_use_or_an_unknown_lesson() {
    let home = scratch("handout-home-refused");
    std::fs::write(home.join("notes.txt"), "mine").unwrap();
    let out = course(&home, &["handout", home.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not empty"), "{}", text(&out));
    let out = course(
        &home,
        &[
            "handout",
            home.join("x").to_str().unwrap(),
            "--lessons",
            "13",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("no reference"), "{}", text(&out));
}
