//! Lesson 11-ws-server: being written.

fn main() {
    eprintln!("lesson 11-ws-server is not written yet");
    std::process::exit(2);
}
