//! What the grader prints: one block per check, and a summary.
//!
//! A failure is written for a learner: what went wrong, the misconception behind it, then the
//! bytes, sent, expected and received, in hex and as text, with a caret under the first byte
//! where the received bytes differ from the expected ones. Long payloads show the 16 bytes
//! around that first difference, with their offset.

use super::Failure;
use crate::trace::printable;

/// The result of one check.
#[derive(Debug)]
pub struct Outcome {
    pub name: &'static str,
    pub misconception: &'static str,
    pub failure: Option<Failure>,
}

impl Outcome {
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// The results of a whole run.
#[derive(Debug)]
pub struct Report {
    pub lesson: u32,
    pub seed: u64,
    pub outcomes: Vec<Outcome>,
}

impl Report {
    pub fn new(lesson: u32, seed: u64) -> Self {
        Report {
            lesson,
            seed,
            outcomes: Vec::new(),
        }
    }

    /// Every check ran and passed (a run with no checks, e.g. a `--only` that matched none,
    /// has not passed).
    pub fn passed(&self) -> bool {
        !self.outcomes.is_empty() && self.outcomes.iter().all(Outcome::passed)
    }

    /// Names of the checks that failed.
    pub fn failed(&self) -> Vec<&'static str> {
        self.outcomes
            .iter()
            .filter(|o| !o.passed())
            .map(|o| o.name)
            .collect()
    }

    pub fn summary(&self) -> String {
        let failed = self.failed();
        let passed = self.outcomes.len() - failed.len();
        let mut s = format!(
            "\nlesson {:02}: {passed} passed, {} failed",
            self.lesson,
            failed.len()
        );
        if !failed.is_empty() {
            s.push_str(&format!(
                "\nreplay exactly this run with --seed {} (add --only NAME for one check)",
                self.seed
            ));
        }
        s
    }
}

/// One check's block: `ok   name`, or `FAIL name` and the evidence.
pub fn describe_outcome(outcome: &Outcome) -> String {
    match &outcome.failure {
        None => format!("  ok    {}\n", outcome.name),
        Some(failure) => {
            let mut s = format!("  FAIL  {}\n", outcome.name);
            for line in describe_failure(failure).lines() {
                s.push_str("        ");
                s.push_str(line);
                s.push('\n');
            }
            if failure.cannot_run {
                s.push_str(
                    "        (Not a mistake of the server: this check could not run as asked.)\n",
                );
            } else {
                s.push_str(&format!(
                    "        The misconception: {}\n",
                    outcome.misconception
                ));
            }
            s
        }
    }
}

/// Bytes per row of evidence.
const ROW: usize = 16;

/// The evidence of a failure, without indentation.
pub fn describe_failure(f: &Failure) -> String {
    let mut s = format!("What happened: {}\n", f.what);
    let diff = match (&f.expected, &f.received) {
        (Some(e), Some(r)) => first_difference(e, r),
        _ => None,
    };
    // Show expected and received around the first difference; sent from its start.
    let window = diff.map_or(0, |d| d - d % ROW);
    if let Some(sent) = &f.sent {
        s.push_str(&row("sent", sent, 0));
    }
    if let Some(expected) = &f.expected {
        s.push_str(&row("expected", expected, window));
    }
    if let Some(received) = &f.received {
        s.push_str(&row("received", received, window));
        if let (Some(d), Some(expected)) = (diff, &f.expected) {
            let column = LABEL_WIDTH + (d - window) * 3;
            let what = match (expected.get(d), received.get(d)) {
                (Some(e), Some(r)) => format!("expected {}, received {}", byte(*e), byte(*r)),
                (Some(e), None) => format!("expected {}, received nothing more", byte(*e)),
                (None, Some(r)) => format!("expected nothing more, received {}", byte(*r)),
                (None, None) => unreachable!("a difference is inside one of them"),
            };
            s.push_str(&format!(
                "{}^^ first difference at byte {d}: {what}\n",
                " ".repeat(column)
            ));
        }
    }
    s
}

/// Width of the `received 1048576 B @0000` prefix of every evidence row.
const LABEL_WIDTH: usize = 30;

fn row(label: &str, bytes: &[u8], from: usize) -> String {
    let from = from.min(bytes.len());
    let shown = &bytes[from..(from + ROW).min(bytes.len())];
    let hex: Vec<String> = shown.iter().map(|b| format!("{b:02x}")).collect();
    let text: String = shown.iter().map(|&b| printable(b)).collect();
    let more = if from + ROW < bytes.len() { " ..." } else { "" };
    let prefix = format!("{label:<9}{:>9} B @{from:<6}", bytes.len());
    format!(
        "{prefix:<LABEL_WIDTH$}{:<48}|{text}|{more}\n",
        hex.join(" ")
    )
}

fn byte(b: u8) -> String {
    format!("0x{b:02x} {:?}", printable(b))
}

/// Index of the first byte where `received` stops matching `expected`, if it does.
pub fn first_difference(expected: &[u8], received: &[u8]) -> Option<usize> {
    let common = expected.iter().zip(received).position(|(e, r)| e != r);
    match common {
        Some(i) => Some(i),
        None if expected.len() == received.len() => None,
        None => Some(expected.len().min(received.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_sits_under_the_first_differing_byte() {
        let f = Failure::new("wrong reply")
            .sent(b"REV abc\n")
            .expected(b"cba\n")
            .received(b"cbx\n");
        let text = describe_failure(&f);
        let lines: Vec<&str> = text.lines().collect();
        let received = lines.iter().find(|l| l.starts_with("received")).unwrap();
        let caret = lines.iter().find(|l| l.contains("^^")).unwrap();
        let col = caret.find('^').unwrap();
        assert_eq!(&received[col..col + 2], "78", "{text}");
        assert!(caret.contains("byte 2"));
    }

    #[test]
    fn long_payloads_show_the_window_around_the_difference() {
        let expected = vec![b'a'; 100_000];
        let mut received = expected.clone();
        received[70_001] = b'b';
        let text = describe_failure(
            &Failure::new("corrupt")
                .expected(&expected)
                .received(&received),
        );
        assert!(text.contains("@70000"), "{text}");
        assert!(text.contains("first difference at byte 70001"));
    }

    #[test]
    fn a_short_reply_is_a_difference_at_its_end() {
        assert_eq!(first_difference(b"abc", b"ab"), Some(2));
        assert_eq!(first_difference(b"ab", b"abc"), Some(2));
        assert_eq!(first_difference(b"abc", b"abc"), None);
    }
}
