//! # netcourse: network programming from the socket API up
//!
//! This library is what the lessons grow. Each lesson under `lessons/` is a small binary that
//! first writes a technique inline to teach it; once a later lesson needs it, the technique is
//! promoted here. The modules are in lesson order:
//!
//! | module | lessons | what it holds |
//! |---|---|---|
//! | [`trace`] | all | the `--trace` output: system calls as they happen, annotated hexdumps |
//! | [`layout`] | 03, 10 | wire formats as tables of fields, for traces and diagrams |
//! | [`framing`] | 03 | turning a byte stream into messages: delimited lines and length prefixes (sans-IO) |
//! | [`event_loop`] | 05 on | one thread, one mio poll, many connections; services plug in sans-IO |
//! | [`http`] | 07 on | HTTP/1.1: an incremental request parser and a response writer (sans-IO) |
//! | [`ws`] | 09 on | WebSocket (RFC 6455): handshake, frames, masking, messages, closing (sans-IO) |
//! | [`dns`] | 15 | DNS: the message codec, zones, an authoritative answerer, a stub resolver (sans-IO) |
//! | [`realtime`] | 08 | one live feed as polling, long polling, streaming and SSE; what each costs, measured |
//! | [`sockopts`] | 16 | what the kernel did with a socket: /proc/net/tcp, TCP_INFO, errno names, tables |
//! | [`diagram`] | all | SVG diagrams drawn from the code's own tables |
//! | [`grader`] | all | the black-box checks behind `course check NN` |
//! | [`bench`] | 04-06 | what connections cost, measured (`scripts/bench.sh`) |
//! | [`starter`] | all | exercise starters cut from the reference code (`course new NN`) |
//! | [`handout`] | all | the course for a classroom, without its answers (`course handout DIR`) |
//! | [`lessons`] | all | the list of lessons: numbers, names, titles, sources |
//!
//! The grader never calls the protocol code above it: it carries its own small encoders so that a
//! bug shared with the reference lessons cannot hide itself.

pub mod bench;
pub mod diagram;
pub mod dns;
pub mod event_loop;
pub mod framing;
pub mod grader;
pub mod handout;
pub mod http;
pub mod layout;
pub mod lessons;
pub mod realtime;
pub mod sockopts;
pub mod starter;
pub mod trace;
pub mod ws;
