//! Lesson 09: the WebSocket opening handshake. An HTTP/1.1 request asks to switch protocols;
//! this server checks it and answers `101 Switching Protocols`, or 400, 403 or 426 with the
//! reason in the body.
//!
//! ```text
//! cargo run --bin 09-ws-handshake                     # listening on ws://127.0.0.1:7009
//! cargo run --bin 09-ws-handshake -- --explain dGhlIHNhbXBsZSBub25jZQ==   # the accept key, step by step
//! curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
//!      -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:7009/chat
//! curl -i -H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 8' \
//!      -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' http://127.0.0.1:7009/     # 426
//! cargo run --bin 09-ws-handshake -- --trace --origin http://localhost:8000    # 403 for others
//! ```
//!
//! The handshake itself is `src/ws/handshake/` (read its module docs first): a resumable state
//! machine that reads the head with lesson 07's parser, checks RFC 6455 4.2.1 rule by rule, and
//! computes `Sec-WebSocket-Accept = base64(SHA-1(key + GUID))`. This file plugs it into the
//! event loop of lesson 05, and after the 101 hands the connection to `src/ws`'s
//! [`Connection`], which echoes every message back, so that a browser (`new
//! WebSocket("ws://127.0.0.1:7009")` in a console) or `websocat` has something to talk to.
//! Frames, what that echo is made of, are lesson 10.
//!
//! What to watch for: the client's first frames may arrive in the same read as the end of its
//! head (they are handed over, not lost); a head that never ends is cut off after
//! `--handshake-timeout` seconds with a 408; and a refusal closes the connection, since after
//! a bad handshake there is no protocol left to speak.

use clap::Parser;
use netcourse::event_loop::{self, Closed, Config, ConnId, Cx, EventLoop, Service};
use netcourse::http::annotate_head;
use netcourse::trace::{Dir, Trace};
use netcourse::ws::connection::{self, Connection, Event};
use netcourse::ws::handshake::{explain_accept, refusal_response, ServerConfig, ServerHandshake};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

#[derive(Parser)]
#[command(about = "Lesson 09: the WebSocket opening handshake (101, or 400/403/426 with a reason)")]
struct Cli {
    /// Address to listen on. Port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:7009")]
    addr: SocketAddr,
    /// Print each handshake request, annotated, and each answer to stderr.
    #[arg(long)]
    trace: bool,
    /// Print how the Sec-WebSocket-Accept value for KEY is computed, and exit.
    #[arg(long, value_name = "KEY")]
    explain: Option<String>,
    /// Accept browsers only from this origin (repeat for several); without it, any origin.
    #[arg(long = "origin", value_name = "ORIGIN")]
    origins: Vec<String>,
    /// A subprotocol this server speaks (repeat for several); the client's favourite wins.
    #[arg(long = "protocol", value_name = "NAME")]
    protocols: Vec<String>,
    /// A handshake not complete this many seconds after the connection opened gets a 408.
    #[arg(long, default_value_t = 10)]
    handshake_timeout: u64,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(key) = &cli.explain {
        print!("{}", explain_accept(key));
        return Ok(());
    }
    let config = ServerConfig {
        allowed_origins: (!cli.origins.is_empty()).then(|| cli.origins.clone()),
        protocols: cli.protocols.clone(),
        timeout: Duration::from_secs(cli.handshake_timeout),
        ..ServerConfig::default()
    };
    serve(cli.addr, config, Trace::new(cli.trace))?;
    Ok(())
}

fn serve(addr: SocketAddr, config: ServerConfig, trace: Trace) -> io::Result<()> {
    event_loop::raise_fd_limit()?;
    let mut lp = EventLoop::new(Config::default())?;
    let local = lp.listen_tcp(addr)?;
    lp.stop_on_signals()?;
    println!("listening on ws://{local}");
    lp.run(&mut WsService {
        config,
        trace,
        conns: HashMap::new(),
    })?;
    Ok(())
}

/// A connection is first an HTTP request, then (after the 101) a WebSocket.
enum Phase {
    Handshake(ServerHandshake),
    Open(Connection),
}

struct Conn {
    phase: Phase,
    peer: SocketAddr,
    /// With `--trace`, the bytes of the head so far, shown annotated once it is complete.
    head: Vec<u8>,
}

struct WsService {
    config: ServerConfig,
    trace: Trace,
    conns: HashMap<ConnId, Conn>,
}

impl WsService {
    /// Push `data` into the handshake; answer it once it is complete.
    fn handshake(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        let Some(c) = self.conns.get_mut(&conn) else {
            return;
        };
        let Phase::Handshake(h) = &mut c.phase else {
            return;
        };
        if self.trace.is_on() {
            c.head.extend_from_slice(data);
        }
        h.push(data);
        // exercise: begin "Answer the handshake: 101 and the frames that came with it, or the refusal and close"
        // hint: `h.next()` is `Ok(None)` while the head is incomplete (wait for the next read), `Ok(Some(accepted))` once it is accepted, `Err(e)` if it is refused.
        // hint: Accepted: `cx.send(conn, &accepted.response)`, cancel the handshake timer (`cx.cancel_timer(conn as u64)`), make a `Connection::server(connection::Config::default(), cx.now())`, and give it `accepted.unread` first: those are frames the client sent in the same write as its head. Then `c.phase = Phase::Open(ws)` and `self.pump(cx, conn)`.
        // hint: Refused: `cx.send(conn, &refusal_response(&e, SystemTime::now()))`, then `cx.close(conn)`: after a refused handshake there is no protocol left to speak.
        match h.next() {
            Ok(None) => {} // the head is not complete: wait for more
            Ok(Some(accepted)) => {
                if self.trace.is_on() {
                    // `head` is only kept with --trace: without it, it is empty, and the
                    // frames that came with the head (`unread`) must not be subtracted from it.
                    let head = &c.head[..c.head.len() - accepted.unread.len()];
                    self.trace
                        .fields(Dir::In, &c.peer, head, &annotate_head(head));
                    if !accepted.unread.is_empty() {
                        self.trace.log(format_args!(
                            "{}: {} more bytes came after the head, in the same reads: \
                             WebSocket frames, handed to the connection",
                            c.peer,
                            accepted.unread.len()
                        ));
                    }
                }
                self.trace.log(format_args!(
                    "{}: 101, key {} -> accept, subprotocol {:?}, extensions declined: {:?}",
                    c.peer, accepted.request.key, accepted.protocol, accepted.request.extensions
                ));
                cx.send(conn, &accepted.response);
                cx.cancel_timer(conn as u64);
                let mut ws = Connection::server(connection::Config::default(), cx.now());
                // Frames that came in the same read as the end of the head.
                ws.receive(&accepted.unread, cx.now());
                c.phase = Phase::Open(ws);
                self.pump(cx, conn);
            }
            Err(e) => {
                self.trace.log(format_args!("{}: refused: {e}", c.peer));
                cx.send(conn, &refusal_response(&e, SystemTime::now()));
                cx.close(conn);
            }
        }
        // exercise: end
    }

    /// Act on everything the WebSocket connection has to say: echo messages, write what it
    /// queued, close when it says so, and wake it at its next deadline.
    fn pump(&mut self, cx: &mut Cx<'_>, conn: ConnId) {
        let Some(Conn {
            phase: Phase::Open(ws),
            peer,
            ..
        }) = self.conns.get_mut(&conn)
        else {
            return;
        };
        while let Some(event) = ws.poll_event() {
            match event {
                Event::Text(text) => {
                    ws.send_text(&text);
                }
                Event::Binary(data) => {
                    ws.send_binary(&data);
                }
                Event::Ping(_) | Event::Pong(_) => {}
                Event::Close(close) => self.trace.log(format_args!(
                    "{peer}: close {} {:?}",
                    close.code, close.reason
                )),
                Event::Failed(e) => self.trace.log(format_args!("{peer}: failed: {e}")),
            }
        }
        let out = ws.take_output();
        if !out.is_empty() {
            cx.send(conn, &out);
        }
        if ws.should_close_tcp() {
            cx.close(conn);
        } else if let Some(at) = ws.poll_timeout() {
            cx.set_timer(at, conn as u64);
        }
    }
}

impl Service for WsService {
    fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, peer: SocketAddr) {
        let handshake = ServerHandshake::new(self.config.clone(), cx.now());
        cx.set_timer(handshake.deadline(), conn as u64);
        self.conns.insert(
            conn,
            Conn {
                phase: Phase::Handshake(handshake),
                peer,
                head: Vec::new(),
            },
        );
    }

    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
        match self.conns.get_mut(&conn).map(|c| &mut c.phase) {
            Some(Phase::Handshake(_)) => self.handshake(cx, conn, data),
            Some(Phase::Open(ws)) => {
                ws.receive(data, cx.now());
                self.pump(cx, conn);
            }
            None => {}
        }
    }

    fn on_eof(&mut self, cx: &mut Cx<'_>, conn: ConnId) {
        if let Some(Conn {
            phase: Phase::Open(ws),
            peer,
            ..
        }) = self.conns.get_mut(&conn)
        {
            if let Event::Close(close) = ws.peer_closed_tcp() {
                self.trace.log(format_args!(
                    "{peer}: TCP closed: {} {}",
                    close.code, close.reason
                ));
            }
        }
        cx.close(conn);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, key: u64) {
        let conn = key as ConnId;
        let now: Instant = cx.now();
        match self.conns.get_mut(&conn).map(|c| (&mut c.phase, c.peer)) {
            Some((Phase::Handshake(h), peer)) => {
                if let Err(e) = h.check_deadline(now) {
                    self.trace.log(format_args!("{peer}: {e}"));
                    cx.send(conn, &refusal_response(&e, SystemTime::now()));
                    cx.close(conn);
                }
            }
            Some((Phase::Open(ws), _)) => {
                if let Some(Event::Failed(e)) = ws.handle_timeout(now) {
                    self.trace.log(format_args!("{conn}: {e}"));
                }
                self.pump(cx, conn);
            }
            None => {}
        }
    }

    fn on_close(&mut self, cx: &mut Cx<'_>, conn: ConnId, _why: Closed) {
        cx.cancel_timer(conn as u64);
        self.conns.remove(&conn);
    }
}
