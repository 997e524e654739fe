//! Running the `course` command itself, as a learner or an instructor does: in its own
//! progress folder, from the course's folder, with a scratch folder per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `course ARGS...` with its progress kept in `home`.
pub fn course(home: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_course"))
        .args(args)
        .env("NETCOURSE_HOME", home)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("course runs")
}

/// Everything a command printed, stdout then stderr.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// An empty folder of this name under cargo's temporary folder for tests.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
