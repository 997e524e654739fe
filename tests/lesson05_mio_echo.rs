//! Lesson 05: the reference event-loop echo passes its grader (lesson 01's TCP checks, lesson
//! 02's UDP checks and its own), so does a Python event loop nobody here wrote, and each broken
//! server fails the check meant to catch its mistake.

mod common;

use common::*;
use netcourse::event_loop::{Config, ConnId, Cx, EventLoop, Service, UdpId};
use netcourse::grader::{Listener, Target};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::thread;

const LESSON: u32 = 5;

#[test]
fn reference_server_passes_every_check() {
    let cmd = reference_cmd(env!("CARGO_BIN_EXE_05-mio-echo"));
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
#[cfg_attr(
    missing_python,
    ignore = "peer test: python3 not found (scripts/test.sh installs it)"
)]
fn a_python_event_loop_passes_every_check() {
    let cmd = format!(
        "python3 {} --addr 127.0.0.1:0",
        repo("tests/peers/event_echo.py")
    );
    assert_passes(LESSON, Target::Command(cmd));
}

#[test]
fn the_load_generator_holds_a_thousand_connections_through_the_reference() {
    let bin = env!("CARGO_BIN_EXE_05-mio-echo");
    let (_server, listeners) =
        start_peer(std::process::Command::new(bin).args(["--addr", "127.0.0.1:0"]));
    let out = std::process::Command::new(bin)
        .args([
            "client",
            "--addr",
            &listeners[0].addr.to_string(),
            "--conns",
            "1000",
            "--messages",
            "3",
            "--sources",
            "4",
        ])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.starts_with("1000 of 1000 connections established, 3000 messages"),
        "{report}"
    );
}

#[test]
fn sigterm_stops_accepting_flushes_and_exits_cleanly() {
    let bin = env!("CARGO_BIN_EXE_05-mio-echo");
    let (mut server, listeners) =
        start_peer(std::process::Command::new(bin).args(["--addr", "127.0.0.1:0"]));
    let addr = listeners[0].addr;
    let mut client = TcpStream::connect(addr).unwrap();
    client
        .write_all(b"still connected when the signal comes\n")
        .unwrap();
    let mut echo = [0u8; 38];
    client.read_exact(&mut echo).unwrap();
    let status = std::process::Command::new("kill")
        .args(["-TERM", &server.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    // The open connection is closed in order (end of stream, not a reset) ...
    client
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .expect("a clean end of stream");
    // ... and the process exits by itself, with success.
    let exit = server.0.wait().unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
}

// ---- Broken servers: one classic mistake each ---------------------------------------------

/// Both listeners of a lesson 05 server on one port number.
fn listeners(tcp: SocketAddr, udp: SocketAddr) -> Vec<Listener> {
    vec![
        Listener {
            scheme: "tcp".into(),
            addr: tcp,
        },
        Listener {
            scheme: "udp".into(),
            addr: udp,
        },
    ]
}

/// A correct UDP echo in its own thread: the broken servers' mistakes are on the TCP side.
fn udp_echo_thread() -> SocketAddr {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    thread::spawn(move || {
        let mut buf = vec![0u8; 65536];
        while let Ok((n, peer)) = sock.recv_from(&mut buf) {
            let _ = sock.send_to(&buf[..n], peer);
        }
    });
    addr
}

/// Echo one connection with blocking calls until end of stream.
fn echo_blocking(mut conn: TcpStream) {
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = conn.read(&mut buf) {
        if conn.write_all(&buf[..n]).is_err() {
            return;
        }
    }
    let _ = conn.shutdown(std::net::Shutdown::Write);
}

/// Lesson 01's server: one client at a time.
fn iterative() -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap();
    thread::spawn(move || {
        listener
            .incoming()
            .map_while(Result::ok)
            .for_each(echo_blocking)
    });
    listeners(tcp, udp_echo_thread())
}

/// UDP is looked at only after a TCP client has been served: a connected client that waits
/// holds every datagram up.
fn udp_between_accepts() -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap();
    let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
    let udp_addr = udp.local_addr().unwrap();
    udp.set_nonblocking(true).unwrap();
    thread::spawn(move || loop {
        // Blocks until a client comes, then serves it to its end before looking at UDP.
        let Ok((conn, _)) = listener.accept() else {
            return;
        };
        echo_blocking(conn);
        let mut buf = [0u8; 65536];
        while let Ok((n, peer)) = udp.recv_from(&mut buf) {
            let _ = udp.send_to(&buf[..n], peer);
        }
    });
    listeners(tcp, udp_addr)
}

/// One thread and non-blocking reads, but a blocking write: a client that does not read
/// stops the whole loop.
fn blocking_write_in_the_loop() -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        let mut conns: Vec<TcpStream> = Vec::new();
        let mut buf = [0u8; 65536];
        loop {
            while let Ok((c, _)) = listener.accept() {
                c.set_nonblocking(true).unwrap();
                conns.push(c);
            }
            conns.retain_mut(|c| match c.read(&mut buf) {
                Ok(0) => false,
                Ok(n) => {
                    c.set_nonblocking(false).unwrap();
                    let ok = c.write_all(&buf[..n]).is_ok(); // blocks while the peer does not read
                    c.set_nonblocking(true).unwrap();
                    ok
                }
                Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
            });
            thread::sleep(std::time::Duration::from_millis(1));
        }
    });
    listeners(tcp, udp_echo_thread())
}

/// The event loop with backpressure switched off: it reads everything and queues every echo.
fn no_backpressure() -> Vec<Listener> {
    struct Echo;
    impl Service for Echo {
        fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
            cx.send(conn, data);
        }
        fn on_datagram(&mut self, cx: &mut Cx<'_>, udp: UdpId, from: SocketAddr, data: &[u8]) {
            cx.send_to(udp, from, data);
        }
    }
    let config = Config {
        pause_reading_above: usize::MAX,
        max_output: usize::MAX,
        ..Config::default()
    };
    let mut lp = EventLoop::new(config).unwrap();
    let tcp = lp.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
    let udp = lp.bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    thread::spawn(move || lp.run(&mut Echo));
    listeners(tcp, udp)
}

/// A thread per client that "keeps the socket for later" when the client leaves.
fn leaks_sockets() -> Vec<Listener> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let tcp = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming().map_while(Result::ok) {
            thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let mut c = &conn;
                while let Ok(n @ 1..) = c.read(&mut buf) {
                    if c.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                std::mem::forget(conn); // never closed
            });
        }
    });
    listeners(tcp, udp_echo_thread())
}

fn broken_servers() -> Vec<Broken> {
    vec![
        broken(
            "iterative",
            iterative,
            &[
                "serves_one_client_at_a_time",
                "cannot_hold_many_connections",
            ],
        ),
        broken(
            "udp_between_accepts",
            udp_between_accepts,
            &["udp_waits_behind_tcp"],
        ),
        broken(
            "blocking_write_in_the_loop",
            blocking_write_in_the_loop,
            &["a_slow_reader_stalls_everyone"],
        ),
        broken(
            "no_backpressure",
            no_backpressure,
            &["memory_grows_with_a_slow_reader"],
        ),
        broken(
            "leaks_sockets",
            leaks_sockets,
            &["leaks_closed_connections"],
        ),
    ]
}

#[test]
fn every_check_is_proven_by_a_broken_server() {
    assert_every_check_is_caught(LESSON, &broken_servers());
}

#[test]
fn each_broken_server_is_caught() {
    assert_all_caught_by_workers(LESSON, &broken_servers(), 5);
}
