//! Lesson 15-dns: not written yet.

fn main() {
    eprintln!("lesson 15-dns is not written yet");
    std::process::exit(1);
}
