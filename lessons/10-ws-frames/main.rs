//! Lesson 10-ws-frames: being written.

fn main() {
    eprintln!("lesson 10-ws-frames is not written yet");
    std::process::exit(2);
}
