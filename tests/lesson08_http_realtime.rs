//! Lesson 08: the reference live feed passes its grader; so does one nobody here wrote (Python's
//! http.server, tests/peers/realtime_server.py); and the same Python server, started with
//! `--break NAME` to make one mistake, fails the check meant to catch that mistake.

mod common;

use common::*;
use netcourse::grader::{self, Options, Target};

const LESSON: u32 = 8;

/// The Python server, with one mistake or none; the grader starts a fresh one for each check.
fn python(mistake: Option<&str>) -> String {
    let mut cmd = format!(
        "python3 {} --addr 127.0.0.1:0 --tick-ms 0",
        repo("tests/peers/realtime_server.py")
    );
    if let Some(m) = mistake {
        cmd += &format!(" --break {m}");
    }
    cmd
}

#[test]
fn reference_server_passes_every_check() {
    let cmd = format!(
        "{} --tick-ms 0",
        reference_cmd(env!("CARGO_BIN_EXE_08-http-realtime"))
    );
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn an_independent_python_server_passes_every_check() {
    assert_passes(LESSON, Target::Command(python(None)));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn events_from_a_ticker_in_between_do_not_confuse_the_grader() {
    // A ticker every 50 ms: the grader must find its own events among the ticker's.
    let cmd = python(None).replace("--tick-ms 0", "--tick-ms 50");
    assert_passes(LESSON, Target::Command(cmd));
}

/// Each mistake the Python server can make, and the check that must catch it.
const BROKEN: &[(&str, &str)] = &[
    ("poll-latest-only", "loses_events_between_polls"),
    ("json-no-escape", "does_not_escape_json_strings"),
    ("no-cache-control", "lets_caches_keep_live_answers"),
    (
        "longpoll-immediate",
        "long_poll_answers_at_once_with_nothing",
    ),
    ("longpoll-sleeps", "long_poll_answers_at_once_with_nothing"),
    (
        "longpoll-ignores-since",
        "long_poll_loses_events_between_polls",
    ),
    ("longpoll-no-timeout", "long_poll_never_times_out"),
    ("longpoll-204-closes", "long_poll_never_times_out"),
    ("stream-batches", "buffers_the_stream"),
    ("chunk-size-decimal", "wrong_chunk_framing"),
    ("stream-not-chunked", "wrong_chunk_framing"),
    ("chunked-to-http10", "streams_chunked_to_http10"),
    ("sse-text-plain", "sse_wrong_content_type"),
    ("sse-no-retry", "sse_has_no_retry"),
    ("sse-no-id", "sse_events_have_no_id"),
    ("sse-no-blank-line", "sse_event_not_ended_by_a_blank_line"),
    ("sse-ignores-last-event-id", "sse_ignores_last_event_id"),
    ("publish-accepts-lf", "publishes_line_breaks"),
    ("publish-no-limit", "publish_has_no_size_limit"),
    (
        "slow-client-blocks",
        "a_slow_stream_reader_stalls_the_others",
    ),
    (
        "slow-client-unbounded",
        "memory_grows_with_a_slow_stream_reader",
    ),
    ("leaks-abandoned", "leaks_abandoned_long_polls_and_streams"),
];

#[test]
fn every_check_is_proven_by_a_broken_server() {
    let suite = grader::suite(LESSON).unwrap();
    for check in suite.checks {
        assert!(
            BROKEN.iter().any(|(_, name)| *name == check.name),
            "lesson 08: no broken server proves that `{}` can fail",
            check.name
        );
    }
    for (mistake, name) in BROKEN {
        assert!(
            suite.checks.iter().any(|c| c.name == *name),
            "`{mistake}` is meant to fail `{name}`, which is no check of lesson 08"
        );
    }
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn each_broken_server_is_caught() {
    // Only the check meant to catch each mistake runs (the grader starts the broken server
    // afresh for it), two at a time: the machine also runs the servers.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let problems = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((mistake, name)) = BROKEN.get(i) else {
                    return;
                };
                let options = Options {
                    only: Some(name.to_string()),
                    ..quick()
                };
                let (report, out) =
                    grade(LESSON, &Target::Command(python(Some(mistake))), &options);
                if !report.failed().contains(name) {
                    problems.lock().unwrap().push(format!(
                        "lesson 08: the broken server `{mistake}` should fail `{name}`\n{out}"
                    ));
                }
            });
        }
    });
    let problems = problems.into_inner().unwrap();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
