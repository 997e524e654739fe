//! What `course` remembers between runs, in `$NETCOURSE_HOME` (by default `~/.netcourse`):
//! which lessons the learner's own work has passed (`progress.tsv`, one `NN<TAB>date<TAB>target`
//! line each, shown by `course list`) and how many hints of each lesson they have seen
//! (`hints-NN`). The course's own `course` and the handed-out one (`course handout`) share it.

use super::Target;
use anyhow::Context;
use std::path::PathBuf;

/// Where progress is kept: $NETCOURSE_HOME, or ~/.netcourse.
pub fn home() -> anyhow::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("NETCOURSE_HOME") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").context("neither NETCOURSE_HOME nor HOME is set")?;
    Ok(PathBuf::from(home).join(".netcourse"))
}

/// Lessons passed, with when and against what: one `NN<TAB>date<TAB>target` line each.
pub fn read_progress() -> anyhow::Result<Vec<(u32, String)>> {
    let text = std::fs::read_to_string(home()?.join("progress.tsv")).unwrap_or_default();
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut parts = l.splitn(3, '\t');
            let n = parts.next()?.parse().ok()?;
            let when = parts.next()?;
            let what = parts.next().unwrap_or("");
            Some((n, format!("{when} ({what})")))
        })
        .collect())
}

pub fn record_pass(lesson: u32, target: &Target) -> anyhow::Result<()> {
    let what = match target {
        Target::Command(cmd) => format!("--cmd {cmd}"),
        Target::Running(l) => format!(
            "--addr {}",
            l.iter()
                .map(|l| l.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        ),
    };
    let dir = home()?;
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("progress.tsv");
    let mut text: String = std::fs::read_to_string(&path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with(&format!("{lesson}\t")))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!(
        "{lesson}\t{}\t{}\n",
        today(),
        what.replace(['\t', '\n'], " ")
    ));
    std::fs::write(&path, text)?;
    println!("Recorded: lesson {lesson:02} passed. `course list` shows your progress.");
    Ok(())
}

/// Today's date, UTC, as YYYY-MM-DD (days-to-civil, H. Hinnant's algorithm).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Show the next hint of `lesson` (or all of them), given as (exercise number, exercise
/// title, hint), and remember how far the learner has got.
pub fn give_hints(
    lesson: u32,
    hints: &[(usize, &str, &str)],
    all: bool,
    reset: bool,
) -> anyhow::Result<()> {
    let state = home()?.join(format!("hints-{lesson:02}"));
    if reset {
        let _ = std::fs::remove_file(&state);
        println!("Hints for lesson {lesson:02} start again from the first.");
        return Ok(());
    }
    let shown: usize = std::fs::read_to_string(&state)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0);
    let range = if all {
        0..hints.len()
    } else {
        shown.min(hints.len())..(shown + 1).min(hints.len())
    };
    if range.is_empty() {
        println!("That was the last of the {} hints for lesson {lesson:02}. `--all` shows them again; `--reset` starts over.", hints.len());
        return Ok(());
    }
    for i in range.clone() {
        let (exercise, title, text) = hints[i];
        println!(
            "Hint {} of {} (exercise {exercise}: {title}):\n  {text}\n",
            i + 1,
            hints.len()
        );
    }
    if !all {
        std::fs::create_dir_all(home()?)?;
        std::fs::write(&state, range.end.to_string())?;
        if range.end < hints.len() {
            println!("Run it again for the next hint.");
        }
    }
    Ok(())
}
