//! `--trace`: what crosses the socket, printed to stderr as it happens.
//!
//! Every lesson takes `--trace`. Socket lessons print each system call with its arguments and
//! result (`accept(fd 3) = fd 4 from 127.0.0.1:51234`), so a learner sees the calls the text
//! talks about without reaching for strace. Protocol lessons print an annotated hexdump: the
//! bytes, and under them each field of the message named and decoded.
//!
//! The output goes to stderr so that stdout stays clean for the `listening on ...` line and for
//! whatever the lesson itself prints.

use std::fmt;
use std::io::{self, Read, Write};
use std::ops::Range;
use std::os::fd::{AsRawFd, RawFd};

/// Where bytes went: from us to the peer, or from the peer to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Bytes we wrote.
    Out,
    /// Bytes we read.
    In,
}

impl Dir {
    fn arrow(self) -> &'static str {
        match self {
            Dir::Out => "->",
            Dir::In => "<-",
        }
    }
}

/// The `--trace` switch. Cheap to pass around and to call when off.
#[derive(Debug, Clone, Copy, Default)]
pub struct Trace {
    on: bool,
}

impl Trace {
    pub fn new(on: bool) -> Self {
        Trace { on }
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// One line: a system call and what it returned, or an event worth seeing.
    /// Takes `format_args!` so that nothing is formatted when tracing is off.
    pub fn log(&self, line: fmt::Arguments<'_>) {
        if self.on {
            // One write per line, so lines from different threads do not interleave.
            let _ = writeln!(std::io::stderr().lock(), "[trace] {line}");
        }
    }

    /// A plain hexdump of bytes that crossed the socket.
    pub fn bytes(&self, dir: Dir, peer: &dyn fmt::Display, data: &[u8]) {
        self.fields(dir, peer, data, &[]);
    }

    /// An annotated hexdump: under the bytes, each named field is underlined and decoded.
    pub fn fields(&self, dir: Dir, peer: &dyn fmt::Display, data: &[u8], fields: &[Annotation]) {
        if self.on {
            let what = if dir == Dir::Out { "to" } else { "from" };
            let mut text = format!(
                "[trace] {} {} bytes {what} {peer}\n",
                dir.arrow(),
                data.len()
            );
            text.push_str(&annotated_hexdump(data, fields));
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
    }
}

/// A socket whose every `read(2)` and `write(2)` is traced with its result.
///
/// Wrap a borrowed socket in it and use it wherever a reader or writer is expected
/// (`io::copy`, `write_all`): each call the wrapper passes to the kernel shows up, which makes
/// partial reads and writes visible. With tracing off it costs one branch per call.
pub struct Traced<'a, S> {
    socket: &'a S,
    fd: RawFd,
    trace: Trace,
}

impl<'a, S: AsRawFd> Traced<'a, S> {
    pub fn new(socket: &'a S, trace: Trace) -> Self {
        Traced {
            fd: socket.as_raw_fd(),
            socket,
            trace,
        }
    }
}

impl<S> Read for Traced<'_, S>
where
    for<'s> &'s S: Read,
{
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let result = self.socket.read(buf);
        match &result {
            Ok(0) => self.trace.log(format_args!(
                "read(fd {}, buf, {}) = 0: end of stream, the peer will send nothing more",
                self.fd,
                buf.len()
            )),
            Ok(n) => self.trace.log(format_args!(
                "read(fd {}, buf, {}) = {n} {}",
                self.fd,
                buf.len(),
                quote(&buf[..*n], 32)
            )),
            Err(e) => self
                .trace
                .log(format_args!("read(fd {}) failed: {e}", self.fd)),
        }
        result
    }
}

impl<S> Write for Traced<'_, S>
where
    for<'s> &'s S: Write,
{
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let result = self.socket.write(buf);
        match &result {
            Ok(n) if *n < buf.len() => self.trace.log(format_args!(
                "write(fd {}, {} bytes) = {n}: a partial write, the rest must be written again",
                self.fd,
                buf.len()
            )),
            Ok(n) => self.trace.log(format_args!(
                "write(fd {}, {} bytes) = {n} {}",
                self.fd,
                buf.len(),
                quote(&buf[..*n], 32)
            )),
            Err(e) => self
                .trace
                .log(format_args!("write(fd {}) failed: {e}", self.fd)),
        }
        result
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a socket has no user-space buffer to flush
    }
}

/// A field to underline in an annotated hexdump: which bytes, and what they mean.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    pub bytes: Range<usize>,
    pub label: String,
}

impl Annotation {
    pub fn new(bytes: Range<usize>, label: impl Into<String>) -> Self {
        Annotation {
            bytes,
            label: label.into(),
        }
    }
}

/// Bytes shown per hexdump line.
const PER_LINE: usize = 16;
/// Longest dump printed in full; beyond it the middle is elided (a 5 MiB echo stays readable).
const MAX_DUMP: usize = 256;

/// The classic layout: offset, sixteen bytes in hex, the same bytes as text (`.` when not
/// printable). Each annotation is drawn under the line(s) it covers:
///
/// ```text
///   0000  00 00 00 05 52 45 56 20 61                       ....REV a
///         ^^^^^^^^^^^ length = 5
///                     ^^^^^^^^^^^^^^ payload: "REV a"
/// ```
pub fn annotated_hexdump(data: &[u8], fields: &[Annotation]) -> String {
    let mut out = String::new();
    let lines = data.len().div_ceil(PER_LINE);
    let keep = MAX_DUMP / PER_LINE / 2; // lines kept at each end of a long dump
    for line in 0..lines {
        if data.len() > MAX_DUMP && line == keep {
            let skipped = lines - 2 * keep;
            let lines = if skipped == 1 { "line" } else { "lines" };
            out.push_str(&format!("  ....  ({skipped} {lines} not shown)\n"));
        }
        if data.len() > MAX_DUMP && line >= keep && line < lines - keep {
            continue;
        }
        let start = line * PER_LINE;
        let chunk = &data[start..(start + PER_LINE).min(data.len())];
        let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = chunk.iter().map(|&b| printable(b)).collect();
        out.push_str(&format!("  {start:04x}  {:<47}  {text}\n", hex.join(" ")));
        for field in fields {
            let from = field.bytes.start.max(start);
            let to = field.bytes.end.min(start + chunk.len());
            if from >= to {
                continue;
            }
            let indent = 8 + (from - start) * 3;
            let width = (to - from) * 3 - 1;
            // Name the field once: on the line where it starts (or the first line shown).
            let label = if from == field.bytes.start
                || (from == start && line == keep && data.len() > MAX_DUMP)
            {
                field.label.as_str()
            } else {
                "(continued)"
            };
            out.push_str(&format!(
                "{}{} {label}\n",
                " ".repeat(indent),
                "^".repeat(width)
            ));
        }
    }
    out
}

/// A byte as it appears in the text column of a hexdump.
pub fn printable(b: u8) -> char {
    if b.is_ascii_graphic() || b == b' ' {
        b as char
    } else {
        '.'
    }
}

/// Bytes as a short quoted string for a label: `"REV a\n"`, at most `max` bytes shown.
pub fn quote(data: &[u8], max: usize) -> String {
    let shown = &data[..data.len().min(max)];
    let mut s: String = shown.escape_ascii().to_string();
    if data.len() > max {
        s.push_str("...");
    }
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hexdump_underlines_each_field_where_it_starts() {
        let dump = annotated_hexdump(
            b"\x00\x00\x00\x05REV a",
            &[
                Annotation::new(0..4, "length = 5"),
                Annotation::new(4..9, "payload"),
            ],
        );
        let lines: Vec<&str> = dump.lines().collect();
        assert_eq!(lines.len(), 3);
        assert!(lines[0].starts_with("  0000  00 00 00 05 52 45 56 20 61"));
        assert!(lines[0].ends_with("....REV a"));
        assert_eq!(lines[1], "        ^^^^^^^^^^^ length = 5");
        assert_eq!(lines[2], "                    ^^^^^^^^^^^^^^ payload");
    }

    #[test]
    fn a_long_field_is_named_once_and_then_continued() {
        let data = vec![b'x'; 200];
        let dump = annotated_hexdump(&data, &[Annotation::new(0..200, "header")]);
        assert_eq!(dump.matches(" header").count(), 1, "{dump}");
        assert_eq!(dump.matches("(continued)").count(), 12, "{dump}");
    }

    #[test]
    fn long_dumps_are_elided_in_the_middle() {
        let data = vec![b'x'; 4096];
        let dump = annotated_hexdump(&data, &[]);
        assert!(dump.contains("lines not shown"));
        assert!(dump.lines().count() < 20);
    }

    #[test]
    fn quote_escapes_and_truncates() {
        assert_eq!(quote(b"hi\n", 10), "\"hi\\n\"");
        assert_eq!(quote(b"abcdef", 3), "\"abc...\"");
    }
}
