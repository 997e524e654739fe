//! Lesson 15 against real peers: `dig` (BIND's own client) asks our server over UDP and TCP,
//! with and without EDNS; our resolver asks dnsmasq (a DNS server nobody here wrote) and our
//! own server; and test sockets play a silent server and a server whose first reply has the
//! wrong ID. Replies the tests craft are written byte by byte here, not with `src/dns`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_15-dns");
const ZONE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/lessons/15-dns/course.zone");

/// A child process killed when the test ends, panic or not.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Our server on a free port, serving the example zone; returns the guard and the port
/// (UDP and TCP share it).
fn server() -> (Guard, u16) {
    let mut child = Command::new(BIN)
        .args(["server", "--zone", ZONE, "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("15-dns starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let udp = lines.next().unwrap().unwrap();
    let tcp = lines.next().unwrap().unwrap();
    let port = udp.rsplit(':').next().unwrap().parse().unwrap();
    assert!(udp.starts_with("listening on udp://127.0.0.1:"), "{udp}");
    assert_eq!(tcp, format!("listening on tcp://127.0.0.1:{port}"));
    (Guard(child), port)
}

/// What dig printed, cut into the parts the tests look at.
#[derive(Debug)]
struct Dig {
    text: String,
    status: String,
    flags: Vec<String>,
    /// Lines of the ANSWER and AUTHORITY sections: `name ttl class type data`.
    answer: Vec<String>,
    authority: Vec<String>,
    question: String,
    edns: Option<String>,
}

fn dig(port: u16, args: &[&str]) -> Dig {
    let out = Command::new("dig")
        .args(["+time=2", "+tries=1", "-p", &port.to_string(), "@127.0.0.1"])
        .args(args)
        .output()
        .expect("dig runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // With +tcp fallback dig prints two replies; the last one counts.
    let last = text
        .rsplit(";; Got answer:")
        .next()
        .unwrap_or("")
        .to_string();
    let mut d = Dig {
        text: text.clone(),
        status: String::new(),
        flags: Vec::new(),
        answer: Vec::new(),
        authority: Vec::new(),
        question: String::new(),
        edns: None,
    };
    let mut section = "";
    for line in last.lines() {
        if let Some(rest) = line.split("status: ").nth(1) {
            d.status = rest.split(',').next().unwrap().to_string();
        } else if let Some(rest) = line.strip_prefix(";; flags: ") {
            d.flags = rest
                .split(';')
                .next()
                .unwrap()
                .split_whitespace()
                .map(String::from)
                .collect();
        } else if let Some(rest) = line.strip_prefix("; EDNS: ") {
            d.edns = Some(rest.to_string());
        } else if line.starts_with(";; ") && line.ends_with("SECTION:") {
            section = if line.contains("ANSWER") {
                "answer"
            } else if line.contains("AUTHORITY") {
                "authority"
            } else if line.contains("QUESTION") {
                "question"
            } else {
                ""
            };
        } else if line.is_empty() || line.starts_with(";;") {
            section = "";
        } else {
            let fields = line.split_whitespace().collect::<Vec<_>>().join(" ");
            match section {
                "answer" => d.answer.push(fields),
                "authority" => d.authority.push(fields),
                "question" => d.question = fields,
                _ => {}
            }
        }
    }
    d
}

fn has_flag(d: &Dig, f: &str) -> bool {
    d.flags.iter().any(|x| x == f)
}

#[test]
#[cfg_attr(
    missing_dig,
    ignore = "peer test: dig not found (scripts/test.sh installs it)"
)]
fn dig_gets_a_aaaa_and_a_cname_chain() {
    let (_s, port) = server();
    let d = dig(port, &["www.course.test"]);
    assert_eq!(d.status, "NOERROR", "{}", d.text);
    assert!(has_flag(&d, "qr") && has_flag(&d, "aa") && has_flag(&d, "rd") && !has_flag(&d, "ra"));
    assert_eq!(d.answer, ["www.course.test. 300 IN A 192.0.2.10"]);
    assert_eq!(
        d.edns.as_deref(),
        Some("version: 0, flags:; udp: 1232"),
        "an OPT answers an OPT"
    );
    let d = dig(port, &["www.course.test", "AAAA"]);
    assert_eq!(d.answer, ["www.course.test. 300 IN AAAA 2001:db8::10"]);
    let d = dig(port, &["chain1.course.test"]);
    assert_eq!(
        d.answer,
        [
            "chain1.course.test. 300 IN CNAME chain2.course.test.",
            "chain2.course.test. 300 IN CNAME www.course.test.",
            "www.course.test. 300 IN A 192.0.2.10"
        ]
    );
}

#[test]
#[cfg_attr(
    missing_dig,
    ignore = "peer test: dig not found (scripts/test.sh installs it)"
)]
fn dig_sees_nxdomain_nodata_and_refused() {
    let (_s, port) = server();
    let d = dig(port, &["nope.course.test"]);
    assert_eq!(d.status, "NXDOMAIN", "{}", d.text);
    assert!(has_flag(&d, "aa") && d.answer.is_empty());
    assert!(
        d.authority[0].starts_with("course.test. 60 IN SOA ns1.course.test."),
        "{:?}",
        d.authority
    );
    for name in ["v6only.course.test", "deep.course.test"] {
        let d = dig(port, &[name]);
        assert_eq!(d.status, "NOERROR", "{name}: {}", d.text);
        assert!(
            d.answer.is_empty() && d.authority.len() == 1,
            "{name}: NODATA with the SOA"
        );
    }
    let d = dig(port, &["www.example.com"]);
    assert_eq!(d.status, "REFUSED", "{}", d.text);
    assert!(!has_flag(&d, "aa") && d.answer.is_empty());
}

#[test]
#[cfg_attr(
    missing_dig,
    ignore = "peer test: dig not found (scripts/test.sh installs it)"
)]
fn dig_over_tcp_without_edns_and_without_recursion() {
    let (_s, port) = server();
    let d = dig(port, &["+tcp", "alias.course.test"]);
    assert_eq!(d.answer.len(), 2, "{}", d.text);
    assert!(d.text.contains("(TCP)"), "{}", d.text);
    let d = dig(port, &["+noedns", "www.course.test"]);
    assert_eq!(
        (d.status.as_str(), d.edns.is_none()),
        ("NOERROR", true),
        "no OPT for a query without one"
    );
    let d = dig(port, &["+norec", "www.course.test"]);
    assert!(
        !has_flag(&d, "rd") && has_flag(&d, "aa"),
        "RD is copied, clear: {:?}",
        d.flags
    );
    // The question comes back exactly as asked: dig drops a reply whose question differs.
    let d = dig(port, &["WwW.CoUrSe.TeSt"]);
    assert_eq!(d.question, ";WwW.CoUrSe.TeSt. IN A", "{}", d.text);
    assert_eq!(d.answer, ["www.course.test. 300 IN A 192.0.2.10"]);
}

#[test]
#[cfg_attr(
    missing_dig,
    ignore = "peer test: dig not found (scripts/test.sh installs it)"
)]
fn the_big_name_is_truncated_over_udp_and_dig_retries_over_tcp() {
    let (_s, port) = server();
    let d = dig(port, &["+noedns", "+ignore", "big.course.test"]);
    assert!(has_flag(&d, "tc") && d.answer.is_empty(), "{}", d.text);
    let d = dig(port, &["+noedns", "big.course.test"]);
    assert!(
        d.text.contains("Truncated, retrying in TCP mode"),
        "{}",
        d.text
    );
    assert_eq!(d.answer.len(), 40, "{}", d.text);
    let d = dig(port, &["+bufsize=512", "+ignore", "big.course.test"]);
    assert!(has_flag(&d, "tc"), "an OPT of 512 bytes is 512: {}", d.text);
    let d = dig(port, &["+bufsize=4096", "big.course.test"]);
    assert!(
        !has_flag(&d, "tc") && d.answer.len() == 40,
        "1232 bytes hold 40 A records"
    );
    let d = dig(
        port,
        &["+bufsize=4096", "+ignore", "huge.course.test", "TXT"],
    );
    assert!(
        has_flag(&d, "tc"),
        "even 1232 bytes cannot hold huge: {}",
        d.text
    );
    let d = dig(port, &["+tcp", "huge.course.test", "TXT"]);
    assert_eq!(d.answer.len(), 24, "TCP carries it all");
}

#[test]
#[cfg_attr(
    missing_dig,
    ignore = "peer test: dig not found (scripts/test.sh installs it)"
)]
fn other_opcodes_get_notimp_and_edns_version_1_gets_badvers() {
    let (_s, port) = server();
    let d = dig(port, &["+opcode=status", "www.course.test"]);
    assert_eq!(d.status, "NOTIMP", "{}", d.text);
    let d = dig(port, &["+edns=1", "+noednsneg", "www.course.test"]);
    assert_eq!(d.status, "BADVERS", "{}", d.text);
    assert!(d.answer.is_empty());
    assert_eq!(d.edns.as_deref(), Some("version: 0, flags:; udp: 1232"));
}

// ---- Raw sockets: the server under stress -------------------------------------------------

/// A query for `name` type A, written byte by byte: header, labels, type, class.
fn raw_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

fn udp_to(port: u16) -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

#[test]
fn udp_is_served_while_a_tcp_client_sits_mid_message() {
    let (_s, port) = server();
    let mut stalled = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let q = raw_query(0x7777, "www.course.test");
    let mut framed = (q.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&q);
    stalled.write_all(&framed[..5]).unwrap(); // the length and 3 bytes of the message
    let udp = udp_to(port);
    udp.send(&raw_query(0x1111, "www.course.test")).unwrap();
    let mut buf = [0u8; 1500];
    let n = udp.recv(&mut buf).expect("UDP is answered while TCP waits");
    assert_eq!(
        &buf[..4],
        &[0x11, 0x11, 0x85, 0x00],
        "ID, QR AA RD, NOERROR"
    );
    assert!(n > q.len());
    // The stalled client finishes its message, one byte at a time, and gets its answer.
    for b in &framed[5..] {
        stalled.write_all(std::slice::from_ref(b)).unwrap();
    }
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut len = [0u8; 2];
    stalled.read_exact(&mut len).unwrap();
    let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
    stalled.read_exact(&mut reply).unwrap();
    assert_eq!(&reply[..2], &[0x77, 0x77]);
}

#[test]
fn two_pipelined_tcp_queries_in_one_write_get_two_answers() {
    let (_s, port) = server();
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut both = Vec::new();
    for (id, name) in [(1u16, "www.course.test"), (2, "alias.course.test")] {
        let q = raw_query(id, name);
        both.extend_from_slice(&(q.len() as u16).to_be_bytes());
        both.extend_from_slice(&q);
    }
    tcp.write_all(&both).unwrap();
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).unwrap();
        let mut reply = vec![0u8; u16::from_be_bytes(len) as usize];
        tcp.read_exact(&mut reply).unwrap();
        ids.push(u16::from_be_bytes([reply[0], reply[1]]));
    }
    ids.sort();
    assert_eq!(ids, [1, 2]);
}

#[test]
fn malformed_datagrams_get_formerr_or_silence_and_the_next_query_is_answered() {
    let (_s, port) = server();
    let udp = udp_to(port);
    let good = raw_query(0x0100, "www.course.test");
    let mut loop_ptr = raw_query(0x0101, "x");
    let n = loop_ptr.len();
    loop_ptr[n - 7..n - 5].copy_from_slice(&[0xc0, 12]); // the name is a pointer to itself
    let mut label64 = raw_query(0x0102, "www");
    label64[12] = 64;
    let mut forward = raw_query(0x0103, "www");
    forward[12] = 0xc0;
    forward[13] = 0x30;
    let mut response = good.clone();
    response[0] = 0x01;
    response[1] = 0x04;
    response[2] |= 0x80; // QR: a response must never be answered
    let mut two_questions = good.clone();
    two_questions[1] = 0x05;
    two_questions[5] = 2;
    let mut truncated_q = good.clone();
    truncated_q[1] = 0x06;
    truncated_q.truncate(20);
    // (datagram, the ID that must be answered with FORMERR, or None for silence)
    let cases: Vec<(Vec<u8>, Option<u16>)> = vec![
        (vec![], None),
        (vec![1, 2, 3], None),
        (good[..11].to_vec(), None),
        (loop_ptr, Some(0x0101)),
        (label64, Some(0x0102)),
        (forward, Some(0x0103)),
        (response, None),
        (two_questions, Some(0x0105)),
        (truncated_q, Some(0x0106)),
    ];
    for (datagram, _) in &cases {
        udp.send(datagram).unwrap();
    }
    udp.send(&good).unwrap();
    let mut formerr = Vec::new();
    let mut buf = [0u8; 1500];
    loop {
        let n = udp.recv(&mut buf).expect("the valid query is answered");
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        if id == 0x0100 {
            assert_eq!(buf[3] & 0x0f, 0, "NOERROR for the valid query");
            assert!(n > good.len());
            break;
        }
        assert_eq!(buf[3] & 0x0f, 1, "FORMERR for {id:#06x}");
        formerr.push(id);
    }
    let expected: Vec<u16> = cases.iter().filter_map(|c| c.1).collect();
    assert_eq!(formerr, expected);
}

// ---- The resolver ------------------------------------------------------------------------

fn resolve(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("resolve")
        .args(args)
        .output()
        .expect("15-dns resolve runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_resolver_falls_back_to_tcp_and_chases_a_cname_out_of_the_zone() {
    let (_s, port) = server();
    let at = format!("127.0.0.1:{port}");
    let out = resolve(&["big.course.test", "--server", &at, "--no-edns"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("TC set"), "{t}");
    assert_eq!(t.matches("\tIN\tA\t192.0.2.").count(), 40, "{t}");
    assert!(
        t.contains("carried by udp (1 try), then tcp (1 try)"),
        "{t}"
    );
    let out = resolve(&["out.course.test", "--server", &at]);
    let t = text(&out);
    assert!(
        t.contains("asking for www.example."),
        "a second query for the target: {t}"
    );
    assert!(t.contains("www.example. A to"), "{t}");
    assert!(
        !out.status.success() && t.contains("REFUSED"),
        "our server refuses example.: {t}"
    );
    let out = resolve(&["nope.course.test", "--server", &at]);
    assert!(!out.status.success() && text(&out).contains("NXDOMAIN"));
}

#[test]
fn the_resolver_tries_retries_plus_one_times_then_gives_up() {
    let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = silent.local_addr().unwrap().to_string();
    let child = Command::new(BIN)
        .args([
            "resolve",
            "www.course.test",
            "--server",
            &at,
            "--timeout",
            "300",
            "--retries",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child = Guard(child);
    silent
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut ids = Vec::new();
    let mut buf = [0u8; 512];
    for _ in 0..3 {
        let n = silent.recv(&mut buf).expect("a query arrives");
        assert!(n > 12);
        ids.push(u16::from_be_bytes([buf[0], buf[1]]));
    }
    let mut child = child;
    let out = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("timeout: no reply from") && t.contains("after 3 tries"),
        "{t}"
    );
    // Nothing more was sent after the third try.
    silent.set_nonblocking(true).unwrap();
    assert!(silent.recv(&mut buf).is_err(), "a fourth query");
    assert_eq!(ids.len(), 3);
}

#[test]
fn the_resolver_ignores_a_reply_with_the_wrong_id() {
    let fake = UdpSocket::bind("127.0.0.1:0").unwrap();
    let at = fake.local_addr().unwrap().to_string();
    let child = Command::new(BIN)
        .args([
            "resolve",
            "www.course.test",
            "--server",
            &at,
            "--no-edns",
            "--timeout",
            "5000",
            "--retries",
            "0",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Guard(child);
    fake.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 512];
    let (n, from) = fake.recv_from(&mut buf).unwrap();
    let query = &buf[..n];
    // A reply written by hand: the query's header with QR, AA and RD, one answer pointing at the
    // question's name (offset 12), and the question copied.
    let reply = |id: u16, ip: [u8; 4]| {
        let mut r = id.to_be_bytes().to_vec();
        r.extend_from_slice(&[0x85, 0x00, 0, 1, 0, 1, 0, 0, 0, 0]);
        r.extend_from_slice(&query[12..]);
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        r.extend_from_slice(&ip);
        r
    };
    let id = u16::from_be_bytes([query[0], query[1]]);
    fake.send_to(&reply(id ^ 0x5a5a, [6, 6, 6, 6]), from)
        .unwrap();
    fake.send_to(&reply(id, [192, 0, 2, 10]), from).unwrap();
    let out = std::mem::replace(&mut child.0, Command::new("true").spawn().unwrap())
        .wait_with_output()
        .unwrap();
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(
        t.contains("ignored a datagram") && t.contains("we asked with"),
        "{t}"
    );
    assert!(t.contains("192.0.2.10") && !t.contains("6.6.6.6"), "{t}");
}

// ---- dnsmasq: a server nobody here wrote ----------------------------------------------------

/// dnsmasq on a free loopback port with a small zone of its own: www (A and AAAA), a CNAME
/// chain, and `big` with 40 A records. Returns the guard and `127.0.0.1:PORT`.
fn dnsmasq() -> (Guard, String) {
    for _ in 0..10 {
        // A port free for both TCP and UDP right now; dnsmasq binds both.
        let port = {
            let t = TcpListener::bind("127.0.0.1:0").unwrap();
            let port = t.local_addr().unwrap().port();
            if UdpSocket::bind(("127.0.0.1", port)).is_err() {
                continue;
            }
            port
        };
        let mut cmd = Command::new("/usr/sbin/dnsmasq");
        cmd.args([
            "--keep-in-foreground",
            &format!("--port={port}"),
            "--listen-address=127.0.0.1",
            "--bind-interfaces",
            "--no-resolv",
            "--no-hosts",
            "--conf-file=/dev/null",
            "--pid-file=",
            "--log-facility=-",
            "--local=/lab.test/",
            "--host-record=www.lab.test,192.0.2.10,2001:db8::10",
            "--cname=alias.lab.test,www.lab.test",
            "--cname=c1.lab.test,c2.lab.test",
            "--cname=c2.lab.test,www.lab.test",
        ]);
        for i in 1..=40 {
            cmd.arg(format!("--host-record=big.lab.test,198.51.100.{i}"));
        }
        let mut child = Guard(
            cmd.stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("dnsmasq starts"),
        );
        // Ready when it answers a query; gone if the port was taken meanwhile.
        let probe = udp_to(port);
        probe
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        for _ in 0..250 {
            if let Ok(Some(_)) = child.0.try_wait() {
                break;
            }
            let _ = probe.send(&raw_query(9, "www.lab.test"));
            let mut buf = [0u8; 512];
            match probe.recv(&mut buf) {
                Ok(_) => return (child, format!("127.0.0.1:{port}")),
                // Not listening yet: the kernel answered with ICMP port unreachable, which a
                // connected UDP socket reports at once. Look again shortly.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(_) => {}
            }
        }
    }
    panic!("dnsmasq did not start on a free port in 10 attempts");
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "peer test: dnsmasq not found (scripts/test.sh installs it)"
)]
fn the_resolver_asks_dnsmasq() {
    let (_d, at) = dnsmasq();
    let out = resolve(&["www.lab.test", "--server", &at]);
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("www.lab.test.\t0\tIN\tA\t192.0.2.10"),
        "{t}"
    );
    let out = resolve(&["www.lab.test", "--server", &at, "--type", "AAAA"]);
    assert!(
        text(&out).contains("IN\tAAAA\t2001:db8::10"),
        "{}",
        text(&out)
    );
    let out = resolve(&["c1.lab.test", "--server", &at]);
    let t = text(&out);
    assert!(
        t.contains("c1.lab.test.\t0\tIN\tCNAME\tc2.lab.test."),
        "{t}"
    );
    assert!(
        t.contains("c2.lab.test.\t0\tIN\tCNAME\twww.lab.test."),
        "{t}"
    );
    assert!(t.contains("2 CNAME(s) followed"), "{t}");
    let out = resolve(&["nope.lab.test", "--server", &at]);
    let t = text(&out);
    assert!(!out.status.success() && t.contains("NXDOMAIN"), "{t}");
}

#[test]
#[cfg_attr(
    missing_dnsmasq,
    ignore = "peer test: dnsmasq not found (scripts/test.sh installs it)"
)]
fn the_resolver_falls_back_to_tcp_with_dnsmasq() {
    let (_d, at) = dnsmasq();
    let out = resolve(&["big.lab.test", "--server", &at, "--no-edns"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("TC set"), "{t}");
    assert!(t.contains("then tcp"), "TCP carried the answer: {t}");
    for i in 1..=40 {
        assert!(
            t.contains(&format!("IN\tA\t198.51.100.{i}\n")),
            "record {i} missing: {t}"
        );
    }
}

#[test]
fn a_zone_file_error_names_the_line() {
    let dir = std::env::temp_dir().join(format!("dns15-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("bad.zone");
    std::fs::write(
        &file,
        "$ORIGIN t.\n$TTL 60\n@ SOA ns h 1 2 3 4 5\nwww A 300.1.1.1\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["server", "--addr", "127.0.0.1:0", "--zone"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let t = text(&out);
    assert!(
        t.contains("bad.zone:4: 300.1.1.1: not an IPv4 address"),
        "{t}"
    );
}

#[test]
fn an_idle_tcp_connection_is_closed_by_the_server() {
    let mut child = Command::new(BIN)
        .args(["--addr", "127.0.0.1:0", "--idle-timeout", "0.2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let _guard = Guard(child);
    let udp = lines.next().unwrap().unwrap();
    let port: u16 = udp.rsplit(':').next().unwrap().parse().unwrap();
    let mut idle = TcpStream::connect(("127.0.0.1", port)).unwrap();
    // A bound on the wait, not a measurement: the server's FIN comes after its 0.2 s.
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert_eq!(
        idle.read(&mut buf).expect("end of stream, not a timeout"),
        0
    );
}
