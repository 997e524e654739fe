//! Lesson 12-ws-client: being written.

fn main() {
    eprintln!("lesson 12-ws-client is not written yet");
    std::process::exit(2);
}
