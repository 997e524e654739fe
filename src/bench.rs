//! Benchmarks: what a connection costs, measured on this machine, printed as tables and drawn
//! as a chart. Not tests: numbers vary from machine to machine and run to run, and a shared
//! 2-core machine makes timing assertions flaky. `scripts/bench.sh` builds the release binaries
//! and runs `course bench`.
//!
//! What is measured, from outside the server (its own /proc entries):
//! - **memory and threads as clients grow**: resident memory (VmRSS) and threads with 100,
//!   1,000, 5,000 (and for the event loop 10,000) idle connections, for lesson 04 (a thread per
//!   connection) against lesson 05 (one event loop);
//! - **throughput at 100 connections**: request/response round trips per second, one message
//!   in flight per connection, and the server's CPU time per message;
//! - **a slow reader**: one client writes as fast as it can and never reads, while ten others
//!   do round trips; the server's memory growth and the others' progress.

use crate::diagram::chart::{render_bars, Series};
use crate::grader::procfs;
use crate::grader::Server;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

/// How a server under test is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Bytes come back as sent (lesson 05).
    Echo,
    /// The chat protocol of lessons 04 and 06: `HELLO` on connect, `SAY` answered by `MSG`.
    Chat,
}

/// A lesson server to measure.
pub struct Subject {
    pub name: &'static str,
    pub binary: PathBuf,
    pub kind: Kind,
    /// The largest number of idle connections to try.
    pub max_conns: usize,
}

impl Subject {
    fn start(&self) -> io::Result<(Server, SocketAddr, u32)> {
        let cmd = format!("{} --addr 127.0.0.1:0", self.binary.display());
        let server = Server::start(&cmd, &["tcp"], Duration::from_secs(20))
            .map_err(|e| io::Error::other(e.to_string()))?;
        let addr = server.listeners()[0].addr;
        let pid = procfs::server_pid(addr).map_err(io::Error::other)?;
        Ok((server, addr, pid))
    }
}

/// Run every measurement and print the tables to `out`; draw the memory chart to `chart`.
pub fn run(subjects: &[Subject], out: &mut dyn Write, chart: Option<&Path>) -> io::Result<()> {
    let _ = crate::event_loop::raise_fd_limit();
    let steps = [100, 1000, 5000, 10_000];
    writeln!(out, "## Idle connections: resident memory and threads\n")?;
    writeln!(
        out,
        "| server | connections | resident memory | per connection | threads | open fds |"
    )?;
    writeln!(out, "|---|---:|---:|---:|---:|---:|")?;
    let mut memory: Vec<Series> = Vec::new();
    for subject in subjects {
        let rows = match idle_connections(subject, &steps) {
            Ok(rows) => rows,
            Err(e) => {
                writeln!(out, "| {} | not measured: {e} | | | | |", subject.name)?;
                continue;
            }
        };
        let mut values = Vec::new();
        for &step in &steps {
            let row = rows.iter().find(|r| r.conns == step);
            values.push(row.map(|r| r.rss as f64 / (1 << 20) as f64));
            if let Some(r) = row {
                writeln!(
                    out,
                    "| {} | {} | {:.1} MiB | {} | {} | {} |",
                    subject.name,
                    r.conns,
                    r.rss as f64 / (1 << 20) as f64,
                    per_connection(r.rss.saturating_sub(rows[0].baseline), r.conns),
                    r.threads,
                    r.fds
                )?;
            }
        }
        memory.push(Series {
            name: subject.name.to_string(),
            values,
        });
    }
    writeln!(out, "\n(per connection: growth over the server's resident memory before any client connected)\n")?;

    writeln!(
        out,
        "## Round trips at 100 connections (one message in flight each, 3 s)\n"
    )?;
    writeln!(
        out,
        "| server | round trips/s | server CPU per round trip |"
    )?;
    writeln!(out, "|---|---:|---:|")?;
    for subject in subjects {
        match throughput(subject, 100, Duration::from_secs(3)) {
            Ok(t) => writeln!(
                out,
                "| {} | {:.0} | {:.1} µs |",
                subject.name, t.per_second, t.cpu_per_message_us
            )?,
            Err(e) => writeln!(out, "| {} | not measured: {e} | |", subject.name)?,
        }
    }

    writeln!(
        out,
        "\n## A client that never reads (5 s), beside ten that do round trips\n"
    )?;
    writeln!(out, "| server | written by the slow client | server memory growth (peak) | others' round trips | slow client |")?;
    writeln!(out, "|---|---:|---:|---:|---|")?;
    for subject in subjects {
        let s = match slow_reader(subject, Duration::from_secs(5)) {
            Ok(s) => s,
            Err(e) => {
                writeln!(out, "| {} | not measured: {e} | | | |", subject.name)?;
                continue;
            }
        };
        writeln!(
            out,
            "| {} | {:.1} MiB | {:.1} MiB | {} | {} |",
            subject.name,
            s.flood_bytes as f64 / (1 << 20) as f64,
            s.peak_growth as f64 / (1 << 20) as f64,
            s.others_round_trips,
            s.slow_client_fate
        )?;
    }

    if let Some(path) = chart {
        let groups: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        let svg = render_bars(
            "Resident memory with idle connections: a thread each, or one event loop",
            "MiB",
            "idle connections held open",
            &groups,
            &memory,
            "Measured by `scripts/bench.sh` (VmRSS from /proc); a missing bar was not measured.",
        );
        std::fs::write(path, svg)?;
        writeln!(out, "\nchart written to {}", path.display())?;
    }
    Ok(())
}

fn per_connection(bytes: u64, conns: usize) -> String {
    let each = bytes as f64 / conns.max(1) as f64;
    if each >= 1024.0 {
        format!("{:.1} KiB", each / 1024.0)
    } else {
        format!("{each:.0} B")
    }
}

struct IdleRow {
    conns: usize,
    baseline: u64,
    rss: u64,
    threads: u64,
    fds: usize,
}

/// Open connections in steps and measure the server after each step, all held open.
fn idle_connections(subject: &Subject, steps: &[usize]) -> io::Result<Vec<IdleRow>> {
    let (_server, addr, pid) = subject.start()?;
    thread::sleep(Duration::from_millis(200));
    let baseline = procfs::rss_bytes(pid).map_err(io::Error::other)?;
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut rows = Vec::new();
    for &step in steps.iter().filter(|&&s| s <= subject.max_conns) {
        while conns.len() < step {
            conns.push(open_idle(subject.kind, addr, conns.len())?);
        }
        thread::sleep(Duration::from_millis(500)); // let the server settle
        rows.push(IdleRow {
            conns: step,
            baseline,
            rss: procfs::rss_bytes(pid).map_err(io::Error::other)?,
            threads: procfs::threads(pid).map_err(io::Error::other)?,
            fds: procfs::fd_count(pid).map_err(io::Error::other)?,
        });
    }
    Ok(rows)
}

/// A connection the server has certainly accepted and served once, then left idle. Source
/// addresses rotate over 127.0.0.1-8 so ephemeral ports never run short.
fn open_idle(kind: Kind, server: SocketAddr, i: usize) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    let source = SocketAddr::from(([127, 0, 0, 1 + (i % 8) as u8], 0));
    socket.bind(&source.into())?;
    socket.connect_timeout(&server.into(), Duration::from_secs(10))?;
    let mut s: TcpStream = socket.into();
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    match kind {
        Kind::Echo => {
            s.write_all(b"x")?;
            let mut one = [0u8; 1];
            s.read_exact(&mut one)?;
        }
        Kind::Chat => {
            read_line(&mut s)?; // HELLO: its thread (or its slot) exists
        }
    }
    Ok(s)
}

fn read_line(s: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while byte[0] != b'\n' {
        if s.read(&mut byte)? == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
        }
        line.push(byte[0]);
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

struct Throughput {
    per_second: f64,
    cpu_per_message_us: f64,
}

/// Round trips per second with `conns` clients, one message in flight each.
fn throughput(subject: &Subject, conns: usize, time: Duration) -> io::Result<Throughput> {
    let (_server, addr, pid) = subject.start()?;
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    let cpu_before = cpu_seconds(pid)?;
    let start = Instant::now();
    for i in 0..conns {
        let (done, stop, kind) = (Arc::clone(&done), Arc::clone(&stop), subject.kind);
        clients.push(thread::spawn(move || -> io::Result<()> {
            let mut s = TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            let mut reader = BufReader::new(s.try_clone()?);
            let mut line = String::new();
            let (request, reply_len) = match kind {
                Kind::Echo => (vec![b'e'; 64], 64),
                Kind::Chat => {
                    reader.read_line(&mut line)?; // HELLO
                    s.write_all(format!("NICK b{i}\nJOIN r{i}\n").as_bytes())?;
                    for _ in 0..2 {
                        line.clear();
                        reader.read_line(&mut line)?;
                    }
                    let say = format!("SAY r{i} {}\n", "m".repeat(48)).into_bytes();
                    let reply = format!("MSG r{i} b{i} {}\n", "m".repeat(48)).len();
                    (say, reply)
                }
            };
            let mut reply = vec![0u8; reply_len];
            while !stop.load(Ordering::Relaxed) {
                s.write_all(&request)?;
                reader.read_exact(&mut reply)?;
                done.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        }));
    }
    thread::sleep(time);
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a client thread")?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid)? - cpu_before;
    let n = done.load(Ordering::Relaxed) as f64;
    Ok(Throughput {
        per_second: n / elapsed,
        cpu_per_message_us: cpu / n.max(1.0) * 1e6,
    })
}

/// User plus system CPU seconds used by `pid` so far (/proc/PID/stat fields 14 and 15).
fn cpu_seconds(pid: u32) -> io::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks: f64 = fields
        .get(11)
        .and_then(|u| u.parse::<f64>().ok())
        .unwrap_or(0.0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<f64>().ok())
            .unwrap_or(0.0);
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok(ticks / per_second)
}

struct SlowReader {
    flood_bytes: u64,
    peak_growth: u64,
    others_round_trips: u64,
    slow_client_fate: String,
}

/// One client writes without reading for `time`; ten others do round trips meanwhile.
fn slow_reader(subject: &Subject, time: Duration) -> io::Result<SlowReader> {
    let (_server, addr, pid) = subject.start()?;
    thread::sleep(Duration::from_millis(200));
    let baseline = procfs::rss_bytes(pid).map_err(io::Error::other)?;
    let stop = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicU64::new(0));

    // The slow client: for chat, a member of a room that another client floods.
    let mut slow = TcpStream::connect(addr)?;
    let mut flooder = TcpStream::connect(addr)?;
    if subject.kind == Kind::Chat {
        for (s, nick) in [(&mut slow, "slow"), (&mut flooder, "flood")] {
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            read_line(s)?;
            s.write_all(format!("NICK {nick}\nJOIN flood\n").as_bytes())?;
            read_line(s)?;
            read_line(s)?;
        }
        read_line(&mut slow)?; // JOINED flood flood
    }
    let flood = {
        let (stop, flooded, kind) = (Arc::clone(&stop), Arc::clone(&flooded), subject.kind);
        let writer = if kind == Kind::Echo {
            slow.try_clone()?
        } else {
            flooder.try_clone()?
        };
        thread::spawn(move || {
            writer
                .set_write_timeout(Some(Duration::from_millis(200)))
                .ok();
            let chunk = match kind {
                Kind::Echo => vec![b'f'; 64 * 1024],
                Kind::Chat => format!("SAY flood {}\n", "f".repeat(1000))
                    .repeat(64)
                    .into_bytes(),
            };
            while !stop.load(Ordering::Relaxed) {
                match (&writer).write(&chunk) {
                    Ok(n) => {
                        flooded.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
            }
        })
    };
    // In chat, the flooder must read its own echoes, or it is the slow one.
    let drain = (subject.kind == Kind::Chat).then(|| {
        let mut reader = flooder.try_clone().expect("clone");
        thread::spawn(move || {
            let mut sink = vec![0u8; 1 << 16];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
        })
    });
    let others = throughput_beside(subject.kind, addr, 10, Arc::clone(&stop));
    let start = Instant::now();
    let mut peak = baseline;
    while start.elapsed() < time {
        if let Ok(rss) = procfs::rss_bytes(pid) {
            peak = peak.max(rss);
        }
        thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let _ = flood.join();
    let round_trips = others.join().expect("the other clients").unwrap_or(0);
    // Was the slow client dropped? Read what is waiting for it until end of stream.
    slow.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut sink = vec![0u8; 1 << 16];
    let fate = loop {
        match slow.read(&mut sink) {
            Ok(0) => break "dropped by the server".to_string(),
            Ok(_) => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                break "still connected (reading paused)".to_string()
            }
            Err(e) => break format!("reset ({e})"),
        }
    };
    let _ = flooder.shutdown(Shutdown::Both);
    if let Some(d) = drain {
        let _ = d.join();
    }
    Ok(SlowReader {
        flood_bytes: flooded.load(Ordering::Relaxed),
        peak_growth: peak.saturating_sub(baseline),
        others_round_trips: round_trips,
        slow_client_fate: fate,
    })
}

/// `conns` clients doing round trips until `stop`; returns how many they completed.
fn throughput_beside(
    kind: Kind,
    addr: SocketAddr,
    conns: usize,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<io::Result<u64>> {
    thread::spawn(move || {
        let done = Arc::new(AtomicU64::new(0));
        let mut clients = Vec::new();
        for i in 0..conns {
            let (done, stop) = (Arc::clone(&done), Arc::clone(&stop));
            clients.push(thread::spawn(move || -> io::Result<()> {
                let mut s = TcpStream::connect(addr)?;
                s.set_read_timeout(Some(Duration::from_secs(5)))?;
                let (request, reply_len) = match kind {
                    Kind::Echo => (b"0123456789abcdef".to_vec(), 16),
                    Kind::Chat => {
                        read_line(&mut s)?;
                        s.write_all(format!("NICK o{i}\nJOIN o{i}\n").as_bytes())?;
                        read_line(&mut s)?;
                        read_line(&mut s)?;
                        (
                            format!("SAY o{i} hi\n").into_bytes(),
                            format!("MSG o{i} o{i} hi\n").len(),
                        )
                    }
                };
                let mut reply = vec![0u8; reply_len];
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(&request)?;
                    s.read_exact(&mut reply)?;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }));
        }
        for c in clients {
            let _ = c.join();
        }
        Ok(done.load(Ordering::Relaxed))
    })
}
