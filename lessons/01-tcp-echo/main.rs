//! Lesson 01: a TCP echo server and client, one system call at a time.
//!
//! ```text
//! cargo run --bin 01-tcp-echo                    # server on 127.0.0.1:7001
//! nc 127.0.0.1 7001                              # type a line: it comes back
//! cargo run --bin 01-tcp-echo -- client < FILE   # send a file, print the echo
//! cargo run --bin 01-tcp-echo -- --trace         # every system call on stderr
//! ```
//!
//! The server is *iterative*: it serves one client at a time, start to finish. A second client
//! still connects (the kernel completes its handshake and queues it, up to the listen backlog)
//! but waits until `accept` picks it up. Lesson 04 serves clients at once with threads, and
//! lesson 05 with an event loop.
//!
//! Each socket call below is a thin wrapper over one system call; the comment above it names
//! the call and its man page. The lesson text (lessons/01-tcp-echo/README.md) walks through them.

use clap::{Parser, Subcommand};
use netcourse::trace::{Trace, Traced};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::os::fd::AsRawFd;
use std::thread;

#[derive(Parser)]
#[command(about = "Lesson 01: a blocking TCP echo server and client")]
struct Cli {
    #[command(subcommand)]
    mode: Option<Mode>,
    /// The server's options, when no subcommand is given.
    #[command(flatten)]
    server: ServerArgs,
    /// Address to listen on (server) or connect to (client). Port 0 picks a free port.
    #[arg(long, global = true, default_value = "127.0.0.1:7001")]
    addr: SocketAddr,
    /// Print every system call and its result to stderr.
    #[arg(long, global = true)]
    trace: bool,
}

#[derive(clap::Args)]
struct ServerArgs {
    /// How many connections the kernel may queue, handshake done, before accept().
    #[arg(long, default_value_t = 128)]
    backlog: i32,
}

#[derive(Subcommand)]
enum Mode {
    /// Accept connections one at a time and echo every byte back (the default).
    Server(ServerArgs),
    /// Send standard input, print the echo; half-close when standard input ends.
    Client,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let trace = Trace::new(cli.trace);
    match cli.mode.unwrap_or(Mode::Server(cli.server)) {
        Mode::Server(args) => serve(cli.addr, args.backlog, trace)?,
        Mode::Client => client(cli.addr, trace)?,
    }
    Ok(())
}

/// The server: socket, setsockopt, bind, listen, then accept clients forever.
fn serve(addr: SocketAddr, backlog: i32, trace: Trace) -> io::Result<()> {
    // socket(2): a new endpoint. Domain: IPv4 or IPv6, from the address. Type: a byte stream.
    let listener = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    let fd = listener.as_raw_fd();
    trace.log(format_args!(
        "socket({:?}, SOCK_STREAM, IPPROTO_TCP) = fd {fd}",
        Domain::for_address(addr)
    ));

    // setsockopt(2) SO_REUSEADDR (socket(7)): bind even while connections from a previous run
    // of this server linger in TIME_WAIT. Without it, a restart fails with "Address in use".
    listener.set_reuse_address(true)?;
    trace.log(format_args!(
        "setsockopt(fd {fd}, SOL_SOCKET, SO_REUSEADDR, 1) = 0"
    ));

    // bind(2): claim the local address and port. Port 0 asks the kernel for a free one.
    listener.bind(&addr.into())?;
    let local = listener
        .local_addr()?
        .as_socket()
        .expect("an IP socket has an IP address");
    trace.log(format_args!(
        "bind(fd {fd}, {addr}) = 0; getsockname(fd {fd}) = {local}"
    ));

    // listen(2): from now on the kernel completes handshakes by itself and queues up to
    // `backlog` finished connections for accept().
    listener.listen(backlog)?;
    trace.log(format_args!("listen(fd {fd}, {backlog}) = 0"));

    // The contract with tests and graders: one line on stdout once we are ready.
    println!("listening on tcp://{local}");

    loop {
        // accept(2): take the next finished connection off the queue, blocking until there is
        // one. It returns a *new* socket for that one client; the listener keeps listening.
        let (conn, peer) = match listener.accept() {
            Ok(pair) => pair,
            // A signal interrupted the wait, or the client gave up before we took it: try again.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted
                ) =>
            {
                continue
            }
            Err(e) => {
                // EMFILE (out of file descriptors) and friends: say so, keep the server up.
                eprintln!("accept failed: {e}");
                thread::sleep(std::time::Duration::from_millis(100));
                continue;
            }
        };
        let peer = peer.as_socket().expect("a TCP peer has an IP address");
        trace.log(format_args!(
            "accept(fd {fd}) = fd {} from {peer}",
            conn.as_raw_fd()
        ));

        // One client's failure (a reset, a broken pipe) ends that client, never the server.
        match echo(&conn, trace) {
            Ok(bytes) => trace.log(format_args!("{peer}: echoed {bytes} bytes, closing")),
            Err(e) => eprintln!("{peer}: {e}; closing the connection, serving the next client"),
        }
        // close(2) happens here, when `conn` is dropped.
        trace.log(format_args!("close(fd {})", conn.as_raw_fd()));
    }
}

/// Echo one client: read whatever arrives and write all of it back, until the client
/// half-closes; then half-close our side too. Returns how many bytes were echoed.
fn echo(conn: &Socket, trace: Trace) -> io::Result<u64> {
    // exercise: begin "Echo until end of stream, then half-close"
    // hint: read() returns however many bytes have arrived: 1 byte, or half a message, or three messages. Never assume it fills the buffer or matches one write() of the client.
    // hint: read() returning Ok(0) is end of stream: the client called shutdown(SHUT_WR) or close(). It may still be reading, so write back everything first.
    // hint: write() may accept fewer bytes than you gave it; write_all() loops until all are written.
    // hint: When the client has finished sending, conn.shutdown(Shutdown::Write) sends our FIN: the client's read() then returns 0.
    // hint: Err(e) with e.kind() == ErrorKind::Interrupted means a signal arrived mid-call: just call read() again.
    let mut io = Traced::new(conn, trace);
    let mut buf = [0u8; 64 * 1024];
    let mut echoed = 0u64;
    loop {
        // read(2): blocks until at least one byte is there, or end of stream, or an error.
        let n = match io.read(&mut buf) {
            Ok(0) => break, // the client shut down its sending side: nothing more will come
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // write(2), as many times as it takes: a write may take only part of the buffer.
        io.write_all(&buf[..n])?;
        echoed += n as u64;
    }
    // shutdown(2) SHUT_WR: send our FIN. The client's read() returns 0 once it has read
    // every echoed byte, so it knows the echo is complete.
    conn.shutdown(Shutdown::Write)?;
    trace.log(format_args!(
        "shutdown(fd {}, SHUT_WR) = 0",
        conn.as_raw_fd()
    ));
    Ok(echoed)
    // exercise: end
}

/// The client: connect, then copy standard input to the socket and the socket to standard
/// output *at the same time*. Writing everything first and reading afterwards deadlocks on
/// large inputs: the server blocks writing echoes we are not reading, stops reading, and then
/// our writes block too, since every buffer on the way is full.
fn client(addr: SocketAddr, trace: Trace) -> io::Result<()> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // connect(2): the kernel picks a local port and runs the three-way handshake
    // (SYN, SYN-ACK, ACK). It returns once the connection is established.
    sock.connect(&addr.into())?;
    let local = sock.local_addr()?.as_socket().expect("an IP socket");
    trace.log(format_args!(
        "connect(fd {}, {addr}) = 0 (local address {local})",
        sock.as_raw_fd()
    ));

    // Another handle on the same socket for the sending thread: a duplicate file descriptor
    // (fcntl(2) F_DUPFD_CLOEXEC, the close-on-exec flavour of dup(2)).
    let sender = sock.try_clone()?;
    let sending = thread::spawn(move || -> io::Result<u64> {
        let sent = io::copy(&mut io::stdin().lock(), &mut Traced::new(&sender, trace))?;
        // Standard input is done: tell the server we will send nothing more. Its read()
        // returns 0; it finishes echoing and closes, and our reading loop sees end of stream.
        sender.shutdown(Shutdown::Write)?;
        trace.log(format_args!(
            "shutdown(fd {}, SHUT_WR) = 0",
            sender.as_raw_fd()
        ));
        Ok(sent)
    });

    let received = io::copy(&mut Traced::new(&sock, trace), &mut io::stdout().lock())?;
    let sent = sending.join().expect("the sending thread does not panic")?;
    trace.log(format_args!("sent {sent} bytes, received {received} bytes"));
    if received != sent {
        eprintln!("warning: sent {sent} bytes but {received} came back");
    }
    Ok(())
}
