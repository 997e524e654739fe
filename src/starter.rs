//! Exercise starters, cut from the reference code itself so that they can never drift from it.
//!
//! The reference marks each exercise in place:
//!
//! ```text
//! fn echo(conn: &Socket) -> io::Result<u64> {
//!     // exercise: begin "Echo until end of stream, then half-close"
//!     // hint: read() returns however many bytes have arrived ...
//!     ...the reference code...
//!     // exercise: end
//! }
//! ```
//!
//! A marker may name its lesson, `// exercise(05): begin "..."`, when it sits in a library
//! module that later lessons include too: only lesson 05's starter cuts it; the others get the
//! code whole. A starter keeps everything around the markers and the hints, and replaces the
//! code between them with `todo!()`. An exercise always spans the whole rest of a function body, so the
//! starter compiles (with warnings about unused variables) and fails its checks until the
//! learner writes the missing parts. `course hint NN` prints the same hints one at a time.

use crate::lessons::Lesson;

const BEGIN: &str = "// exercise: begin";
const END: &str = "// exercise: end";
const HINT: &str = "// hint:";

/// One exercise found in a source file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exercise {
    pub title: String,
    pub hints: Vec<String>,
}

/// A source file with its exercises cut out, or why the markers are broken.
pub fn cut(
    source: &str,
    lesson: u32,
    first_number: usize,
) -> Result<(String, Vec<Exercise>), String> {
    let mut out = String::new();
    let mut exercises = Vec::new();
    let mut open: Option<(Exercise, String)> = None; // the exercise and its indentation
    let mut foreign = false; // inside another lesson's exercise, kept whole
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let (marker, mine) = lesson_marker(trimmed, lesson);
        if !mine || foreign {
            // Another lesson's exercise: this starter keeps its code whole, up to its end.
            foreign = if foreign {
                !is_end(trimmed)
            } else {
                trimmed.contains(": begin")
            };
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let trimmed = marker.as_deref().unwrap_or(trimmed);
        if let Some(rest) = trimmed.strip_prefix(BEGIN) {
            if open.is_some() {
                return Err(format!("line {}: an exercise begins inside another", i + 1));
            }
            let title = rest.trim().trim_matches('"').to_string();
            let number = first_number + exercises.len();
            out.push_str(&format!("{indent}// EXERCISE {number}: {title}\n"));
            open = Some((
                Exercise {
                    title,
                    hints: Vec::new(),
                },
                indent.to_string(),
            ));
        } else if trimmed.starts_with(END) {
            let Some((exercise, indent)) = open.take() else {
                return Err(format!("line {}: an exercise ends that never began", i + 1));
            };
            let number = first_number + exercises.len();
            out.push_str(&format!(
                "{indent}todo!(\"exercise {number}: {} (hints: cargo run --bin course -- hint {lesson:02})\")\n",
                exercise.title.replace('"', "'")
            ));
            exercises.push(exercise);
        } else if let Some((exercise, _)) = open.as_mut() {
            if let Some(hint) = trimmed.strip_prefix(HINT) {
                exercise.hints.push(hint.trim().to_string());
                out.push_str(line);
                out.push('\n');
            }
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    if open.is_some() {
        return Err("an exercise is never closed with `// exercise: end`".into());
    }
    Ok((out, exercises))
}

/// An exercise's end marker, tagged with a lesson (`// exercise(10): end`) or not.
fn is_end(line: &str) -> bool {
    line.starts_with(END)
        || line
            .strip_prefix("// exercise(")
            .and_then(|rest| rest.split_once(')'))
            .is_some_and(|(_, rest)| rest.starts_with(": end"))
}

/// Rewrite a lesson-tagged marker (`// exercise(05): ...`) to the plain form when it is for
/// `lesson`; say whether the line belongs to this starter (untagged lines always do). Hints and
/// code inside another lesson's exercise are kept too, since only its markers are tagged.
fn lesson_marker(line: &str, lesson: u32) -> (Option<String>, bool) {
    let Some(rest) = line.strip_prefix("// exercise(") else {
        return (None, true);
    };
    let Some((tag, rest)) = rest.split_once(')') else {
        return (None, true);
    };
    match tag.parse::<u32>() {
        Ok(n) if n == lesson => (Some(format!("// exercise{rest}")), true),
        _ => (None, false),
    }
}

/// A file of a starter project: where it goes, and its text.
#[derive(Debug, Clone)]
pub struct StarterFile {
    pub path: String,
    pub text: String,
}

/// The whole starter project for `lesson`: a standalone Cargo package whose library is named
/// `netcourse` (holding just the modules the lesson uses) and whose binary has the lesson's name,
/// so the lesson's own `use netcourse::...` lines work unchanged.
pub fn starter(lesson: &Lesson) -> Result<(Vec<StarterFile>, Vec<Exercise>), String> {
    let source = lesson
        .source
        .ok_or_else(|| format!("lesson {:02} has no reference yet", lesson.number))?;
    let mut files = Vec::new();
    let mut exercises = Vec::new();
    let mut lib = String::from(
        "//! The parts of the course library this lesson builds on (a copy, for this starter).\n\n",
    );
    for module in lesson.modules {
        lib.push_str(&format!("pub mod {};\n", module.name));
        // One file, or every file of a folder module (src/http/mod.rs, src/http/request.rs...).
        for (path, text) in module.files {
            // A module's tests may read the lesson's files (`include_str!` from the course's
            // lessons/ folder); in a starter those sit in src/, next to main.rs.
            let depth = path.matches('/').count();
            let text = text.replace(
                &format!("\"{}lessons/{}/", "../".repeat(depth + 1), lesson.name),
                &format!("\"{}", "../".repeat(depth)),
            );
            let (cut_text, found) = cut(&text, lesson.number, exercises.len() + 1)
                .map_err(|e| format!("src/{path}: {e}"))?;
            exercises.extend(found);
            files.push(StarterFile {
                path: format!("src/{path}"),
                text: cut_text,
            });
        }
    }
    // What main.rs includes, where its include_str! paths look for it.
    for (path, text) in lesson.assets {
        files.push(StarterFile {
            path: format!("src/{path}"),
            text: text.to_string(),
        });
    }
    let (main, found) =
        cut(source, lesson.number, exercises.len() + 1).map_err(|e| format!("main.rs: {e}"))?;
    exercises.extend(found);
    files.push(StarterFile {
        path: "src/main.rs".into(),
        text: main,
    });
    files.push(StarterFile {
        path: "src/lib.rs".into(),
        text: lib,
    });
    files.push(StarterFile {
        path: "Cargo.toml".into(),
        text: cargo_toml(lesson),
    });
    files.push(StarterFile {
        path: "Cargo.lock".into(),
        text: include_str!("../Cargo.lock").replace(
            "name = \"netcourse\"",
            &format!("name = \"{}\"", package_name(lesson)),
        ),
    });
    files.push(StarterFile {
        path: ".gitignore".into(),
        text: "/target\n".into(),
    });
    files.push(StarterFile {
        path: "README.md".into(),
        text: readme(lesson, &exercises),
    });
    Ok((files, exercises))
}

/// Every exercise and its hints, in the order a starter numbers them.
pub fn exercises(lesson: &Lesson) -> Result<Vec<Exercise>, String> {
    starter(lesson).map(|(_, exercises)| exercises)
}

fn package_name(lesson: &Lesson) -> String {
    format!("lesson-{}-starter", lesson.name)
}

fn cargo_toml(lesson: &Lesson) -> String {
    format!(
        r#"[package]
name = "{package}"
version = "0.1.0"
edition = "2021"
publish = false

# The same versions as the course, so the build can reuse what is already downloaded.
[dependencies]
socket2 = {{ version = "0.6", features = ["all"] }}
clap = {{ version = "4", features = ["derive"] }}
anyhow = "1"
mio = {{ version = "1", features = ["os-poll", "net", "os-ext"] }}
libc = "0.2"
{ws_deps}{dev_deps}
[lib]
name = "netcourse"
path = "src/lib.rs"

[[bin]]
name = "{name}"
path = "src/main.rs"

# A project of its own, even when created inside the course's folder.
[workspace]
"#,
        package = package_name(lesson),
        name = lesson.name,
        // The handshake's hash and encoding, for the lessons that include `ws`.
        ws_deps = if lesson.modules.iter().any(|m| m.name == "ws") {
            "sha1 = \"0.10\"\nbase64 = \"0.22\"\n"
        } else {
            ""
        },
        // The modules' own property tests, so that `cargo test` works in the starter too.
        dev_deps = if lesson
            .modules
            .iter()
            .flat_map(|m| m.files)
            .any(|(_, text)| text.contains("proptest::"))
        {
            "\n[dev-dependencies]\nproptest = { version = \"1\", default-features = false, features = [\"std\"] }\n"
        } else {
            ""
        }
    )
}

/// What follows `--` in the command that checks a starter: a server is started on a free
/// port, a client pointed at the grader, and the DNS server given the grader's zone.
pub fn check_args(lesson: u32) -> &'static str {
    match crate::grader::suite(lesson) {
        Some(suite) if suite.grades_a_client() => "echo {url}",
        _ if lesson == 15 => "--zone {zone} --addr 127.0.0.1:0",
        // The grader waits for the handshake timeout; 1 s instead of the default 10 s.
        _ if lesson == 9 => "--addr 127.0.0.1:0 --handshake-timeout 1",
        _ => "--addr 127.0.0.1:0",
    }
}

fn readme(lesson: &Lesson, exercises: &[Exercise]) -> String {
    let mut s = format!(
        "# Lesson {:02} starter: {}\n\n\
         The reference code of lesson {:02} with its key parts cut out. Each `todo!(\"exercise N: ...\")` is an exercise;\n\
         the `// hint:` comments above it, and `cargo run --bin course -- hint {:02}` in the course,\n\
         help you fill it in. The lesson text is lessons/{}/README.md in the course.\n\n## Exercises\n\n",
        lesson.number, lesson.title, lesson.number, lesson.number, lesson.name
    );
    for (i, e) in exercises.iter().enumerate() {
        s.push_str(&format!("{}. {}\n", i + 1, e.title));
    }
    s.push_str(&format!(
        "\n## Check your work\n\nFrom the course folder, with this starter in DIR:\n\n```\n\
         cargo run --bin course -- check {:02} --cmd \"cargo run -q --manifest-path DIR/Cargo.toml -- {}\"\n```\n",
        lesson.number,
        check_args(lesson.number)
    ));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOURCE: &str = "fn f() -> u32 {\n    let a = 1;\n    // exercise: begin \"Add\"\n    // hint: use +\n    a + 1\n    // exercise: end\n}\n";

    #[test]
    fn the_code_between_markers_becomes_todo_and_hints_stay() {
        let (text, exercises) = cut(SOURCE, 1, 1).unwrap();
        assert!(text
            .contains("    // EXERCISE 1: Add\n    // hint: use +\n    todo!(\"exercise 1: Add"));
        assert!(!text.contains("a + 1"));
        assert!(text.contains("let a = 1;"));
        assert_eq!(
            exercises,
            vec![Exercise {
                title: "Add".into(),
                hints: vec!["use +".into()]
            }]
        );
    }

    #[test]
    fn tagged_markers_cut_only_in_their_lesson() {
        let source = SOURCE.replace("// exercise: ", "// exercise(05): ");
        let (mine, found) = cut(&source, 5, 1).unwrap();
        assert!(mine.contains("todo!(\"exercise 1: Add") && found.len() == 1);
        let (theirs, found) = cut(&source, 6, 1).unwrap();
        assert!(theirs.contains("a + 1") && !theirs.contains("todo!") && found.is_empty());
    }

    #[test]
    fn another_lessons_tagged_end_closes_its_exercise() {
        let source = "// exercise(10): begin \"a\"\nx\n// exercise(10): end\n\
                      // exercise(11): begin \"b\"\nsecret\n// exercise(11): end\n";
        let (text, found) = cut(source, 11, 1).unwrap();
        assert!(text.contains("x\n"), "lesson 10's code is kept whole");
        assert!(!text.contains("secret"), "lesson 11's own exercise is cut");
        assert_eq!(found.len(), 1);
    }

    #[test]
    fn broken_markers_are_reported() {
        assert!(cut("// exercise: begin \"x\"\n", 1, 1).is_err());
        assert!(cut("// exercise: end\n", 1, 1).is_err());
    }

    #[test]
    fn a_folder_module_is_written_whole_as_a_folder_with_the_lessons_assets() {
        let lesson = crate::lessons::lesson(7).unwrap();
        let (files, _) = starter(lesson).unwrap();
        let file = |path: &str| files.iter().find(|f| f.path == path);
        for path in [
            "src/http/mod.rs",
            "src/http/request.rs",
            "src/http/response.rs",
            "src/http/chunked.rs",
            "src/http/fields.rs",
            "src/http/input.rs",
            "src/static/index.html",
        ] {
            assert!(file(path).is_some(), "the 07 starter has {path}");
        }
        let lib = &file("src/lib.rs").unwrap().text;
        assert_eq!(lib.matches("pub mod http;").count(), 1, "{lib}");
        assert!(!lib.contains("pub mod http/"), "{lib}");
        assert!(file("src/http/mod.rs")
            .unwrap()
            .text
            .contains("pub mod request;"));
    }

    #[test]
    fn every_written_lesson_has_exercises_with_hints() {
        for lesson in crate::lessons::LESSONS
            .iter()
            .filter(|l| l.source.is_some())
        {
            let exercises = exercises(lesson).unwrap();
            assert!(
                !exercises.is_empty(),
                "lesson {} has no exercise",
                lesson.name
            );
            for e in exercises {
                assert!(
                    !e.hints.is_empty(),
                    "{}: exercise {:?} has no hints",
                    lesson.name,
                    e.title
                );
            }
        }
    }
}
