//! Lesson 16-sockopts: not written yet.

fn main() {
    eprintln!("lesson 16-sockopts is not written yet");
    std::process::exit(1);
}
