//! The event loop: one thread, one `mio::Poll`, thousands of connections.
//!
//! Lesson 05 teaches it and lessons 06 onwards run on it. The loop does the I/O and nothing
//! else; what the bytes mean is decided by a [`Service`], a sans-IO protocol core that gets
//! bytes and the current time, and answers through a [`Cx`] (send these bytes, close that
//! connection, wake me at this deadline). HTTP, WebSocket, STOMP and Socket.IO plug in here
//! without touching the loop.
//!
//! How it works, in the order a learner meets it:
//!
//! 1. **Non-blocking sockets and readiness.** Every socket is non-blocking: a call that would
//!    wait returns `WouldBlock` instead. `Poll::poll` (epoll_wait(2) on Linux) sleeps until
//!    some registered socket is *ready*, i.e. a read or write would not block, and says which by
//!    its [`Token`]. This is readiness, not completion: the loop still makes the read.
//! 2. **Edge-triggered.** mio registers sockets edge-triggered: an event says "something new
//!    arrived", once. So the loop reads until `WouldBlock`; otherwise bytes left in the kernel
//!    buffer never produce another event. To stay fair, it reads at most
//!    [`READS_PER_TURN`] times per connection per turn, and comes back to a connection that had
//!    more (the `still_readable` list) before sleeping again. A read shorter than the buffer
//!    has emptied the kernel's queue, so the read that would only say `WouldBlock` is skipped
//!    (unless the peer's end of stream was announced). A UDP socket is read the same way,
//!    at most [`DATAGRAMS_PER_TURN`] datagrams a turn, so that a flood of datagrams cannot
//!    starve the TCP connections either.
//! 3. **Write interest only while output is queued.** A socket is almost always writable, so
//!    asking for WRITABLE all the time would wake the loop for nothing. Output is queued per
//!    connection and written after each event; only if the kernel does not take it all does
//!    the connection register WRITABLE, until the queue is empty again.
//! 4. **Backpressure and slow consumers.** Two bounds per connection ([`Config`]): above
//!    `pause_reading_above` queued bytes the loop stops reading *from* that connection (its
//!    peer then blocks in its own kernel: TCP flow control); above `max_output` the connection
//!    is dropped as too slow. Memory per connection is bounded either way.
//! 5. **Timers without threads.** Deadlines sit in a heap; `poll` sleeps until the earliest.
//! 6. **TCP and UDP on one poll**, and **graceful shutdown**: SIGINT or SIGTERM stop the
//!    accepting, let the service say goodbye, flush what is queued, and close.
//! 7. **A lingering close.** When the service closes a connection whose peer may still be
//!    sending (an HTTP 413 for a body still arriving), closing the socket with the peer's bytes
//!    unread would make the kernel answer with a reset, and a reset can destroy the answer
//!    before the peer reads it. So after the output is flushed the loop sends its FIN
//!    (shutdown(2)), then reads and throws away what still comes until the peer's end of
//!    stream, [`Config::linger_timeout`] or [`Config::linger_max_bytes`], and only then closes.
//!
//! Memory: connections share one read buffer; a connection holds an output buffer only while
//! it has output queued, and a drained one goes to a small pool shared by all connections. An idle connection costs its slot (about a hundred bytes) plus what
//! the service keeps for it.

use crate::trace::Trace;
use mio::event::Event;
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use socket2::{Domain, Protocol, Socket, Type};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::io::{self, IoSlice, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection's number, stable for its lifetime. Numbers are reused after a connection is
/// gone, never within the same turn of the loop.
pub type ConnId = usize;
/// A UDP socket's number: the order in which [`EventLoop::bind_udp`] was called.
pub type UdpId = usize;

/// How many reads one connection gets per turn before the others have theirs. One: a read can
/// bring 64 KiB, and every message in it is handled before the next connection's turn, so a
/// client that sends without pause would otherwise take the loop for itself. (Measured with
/// `scripts/bench.sh`: a flooding chat client left ten others 2,018 round trips in 5 s with 4
/// reads per turn, 174,116 with 1.) Reading "until WouldBlock" then spans several turns.
pub const READS_PER_TURN: usize = 1;

/// From this size a buffer handed to [`Cx::send_owned`] behind queued bytes is queued as it
/// is (written with writev(2)); a smaller one costs less to copy than to write apart.
pub const OWNED_MIN: usize = 4096;

/// How many datagrams one UDP socket gets per turn before the connections have theirs. A
/// datagram is one message where one TCP read may bring hundreds, so a UDP socket gets more
/// than one; but a bound all the same: read "until WouldBlock", a sender that keeps the
/// socket's buffer full would keep the loop in `receive_datagrams` and every TCP connection
/// waiting. (A choice, not a measurement: 16 small datagrams cost about what one full read of
/// small TCP messages does.)
pub const DATAGRAMS_PER_TURN: usize = 16;

// Token layout: listeners from 0, then UDP sockets, then the two wake-up sources, then
// connections. The numbers are public so that diagrams and traces can name them.
/// Token of the first UDP socket (listeners take the tokens below it).
pub const UDP_BASE: usize = 1 << 8;
/// Token of the signal pipe's read end.
pub const SIGNAL: Token = Token(1 << 9);
/// Token of the [`StopHandle`]'s waker.
pub const WAKER: Token = Token((1 << 9) + 1);
/// Token of connection 0; connection `n` has `CONN_BASE + n`.
pub const CONN_BASE: usize = 1 << 10;
/// How long to wait before accepting again after accept(2) failed (EMFILE: out of descriptors).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The loop's limits and switches.
#[derive(Debug, Clone)]
pub struct Config {
    /// Stop reading from a connection while more than this many bytes wait to be sent to it.
    pub pause_reading_above: usize,
    /// Drop a connection (as [`Closed::TooSlow`]) whose queue would grow past this.
    pub max_output: usize,
    /// Size of the one read buffer all connections share.
    pub read_buffer: usize,
    /// How long graceful shutdown waits for queued output to drain.
    pub shutdown_grace: Duration,
    /// How long a closing connection may take to flush its output before it is cut off: a
    /// peer that never reads would otherwise keep a closing connection forever.
    pub close_timeout: Duration,
    /// After the service closed a connection and its output is flushed, how long the loop
    /// keeps reading (and discarding) what the peer still sends before it closes the socket:
    /// the lingering close (see [`Cx::close`]). Zero closes at once, reset and all.
    pub linger_timeout: Duration,
    /// ... and how many bytes it throws away at most, so that a peer that keeps sending
    /// cannot keep the loop busy for the whole `linger_timeout`.
    pub linger_max_bytes: usize,
    pub trace: Trace,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            pause_reading_above: 64 * 1024,
            max_output: 1 << 20,
            read_buffer: 64 * 1024,
            shutdown_grace: Duration::from_secs(5),
            close_timeout: Duration::from_secs(5),
            // Apache's lingering close waits 2 s for each read (MAX_SECS_TO_LINGER is 30 in all).
            linger_timeout: Duration::from_secs(2),
            linger_max_bytes: 4 << 20,
            trace: Trace::default(),
        }
    }
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// The service closed it (after its output was flushed).
    ByService,
    /// The peer closed and the service agreed (the default answer to end of stream).
    ByPeer,
    /// A read or write failed: a reset (ECONNRESET), a broken pipe (EPIPE), ...
    Error,
    /// Its output queue would have passed `max_output`: the peer does not read.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
}

/// The protocol side: called by the loop, talks back through [`Cx`]. Every method but
/// `on_data` has a default, so a service implements only what it needs.
pub trait Service {
    /// A connection was accepted.
    fn on_open(&mut self, _cx: &mut Cx<'_>, _conn: ConnId, _peer: SocketAddr) {}
    /// Bytes arrived: any number, a piece of a message or several messages.
    fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]);
    /// The peer half-closed: it will send nothing more, but may still read. By default the
    /// loop flushes what is queued and closes.
    fn on_eof(&mut self, cx: &mut Cx<'_>, conn: ConnId) {
        cx.close(conn);
    }
    /// Everything queued for `conn` has been written (after a time when it could not be).
    fn on_drained(&mut self, _cx: &mut Cx<'_>, _conn: ConnId) {}
    /// The connection is gone for the service: nothing more is sent or delivered, and `conn`
    /// may be reused once the loop lets go of the socket (after a lingering close, see
    /// [`Cx::close`]), never within the same turn.
    fn on_close(&mut self, _cx: &mut Cx<'_>, _conn: ConnId, _why: Closed) {}
    /// A datagram arrived on a UDP socket.
    fn on_datagram(&mut self, _cx: &mut Cx<'_>, _udp: UdpId, _from: SocketAddr, _data: &[u8]) {}
    /// A deadline set with [`Cx::set_timer`] has come.
    fn on_timer(&mut self, _cx: &mut Cx<'_>, _key: u64) {}
    /// Shutdown was requested: last chance to queue goodbyes. The loop then closes everything.
    fn on_shutdown(&mut self, _cx: &mut Cx<'_>) {}
}

/// One TCP connection as the loop sees it.
struct Conn {
    stream: TcpStream,
    /// Bytes queued for the peer; `out[written..]` is still to be sent. Freed when drained.
    out: Vec<u8>,
    written: usize,
    /// Buffers queued after `out`, handed over whole by [`Cx::send_owned`] (a large echo's
    /// payload): written with `out` in one writev(2) instead of being copied into it.
    more: VecDeque<Vec<u8>>,
    more_len: usize,
    /// Is WRITABLE registered right now?
    want_write: bool,
    /// In `Core::dirty`: to be flushed after the current callback.
    dirty: bool,
    /// The turn in which it last had its reads: a connection is read once per turn, even if
    /// it has an event *and* was carried over from the last turn.
    read_turn: u64,
    /// In `Core::still_readable`, to be read again next turn (so it is never listed twice).
    carried: bool,
    /// Reading paused by backpressure?
    paused: bool,
    /// The peer sent end of stream.
    eof: bool,
    /// Close once the output is flushed ...
    closing: Option<Closed>,
    /// ... or at this time at the latest (while lingering: stop lingering then).
    close_by: Option<Instant>,
    /// Lingering: our FIN is sent and the service was told the connection is closed, but the
    /// socket stays open while what the peer still sends is read and thrown away.
    lingering: bool,
    /// Bytes thrown away while lingering (bounded by `Config::linger_max_bytes`).
    discarded: u32,
    /// An event said the peer has closed its side or the socket has an error: read on until
    /// read(2) itself says so, even after a short read (see [`EventLoop::read`]).
    hup: bool,
}

impl Conn {
    fn queued(&self) -> usize {
        self.out.len() - self.written + self.more_len
    }

    /// `n` bytes were written: move past them, through `out` and then the buffers after it
    /// (each one done goes back to the pool).
    fn advance(&mut self, mut n: usize, spare: &mut BufferPool) {
        loop {
            let left = self.out.len() - self.written;
            if n < left {
                self.written += n;
                return;
            }
            n -= left;
            let Some(next) = self.more.pop_front() else {
                self.written = self.out.len();
                return;
            };
            self.more_len -= next.len();
            spare.put(std::mem::replace(&mut self.out, next));
            self.written = 0;
        }
    }
}

/// Ask the CPU to bring every cache line of `value` into its cache, and go on without waiting
/// for them.
///
/// A cache line is the 64-byte block in which memory moves between RAM and the CPU's caches:
/// reading one byte of a cold line waits for the whole line, about 100 ns from RAM. Why a
/// server would prefetch: with hundreds of connections, a connection's state is cold by the
/// time its next message comes, because the kernel's work for the other connections in
/// between (a loopback echo costs about 10 µs of kernel time) has pushed it out of the cache.
/// Reading it field by field then waits once per line touched, and mostly one wait after the
/// other, because which field is read next depends on what the last one said (a state, a
/// length, a pointer). Prefetching every line at once overlaps those waits. It is a hint
/// (`prefetcht0`): it never faults and changes no result; on other architectures this does
/// nothing.
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        const LINE: usize = 64;
        let start = value as *const T as *const i8;
        let size = std::mem::size_of::<T>();
        if size == 0 {
            return;
        }
        // From the line `value` starts in to the line of its last byte: a value need not start
        // at a line boundary (a 576-byte allocation from malloc is 16-byte aligned, so it can
        // touch 10 lines, not 9).
        let skip = start as usize % LINE;
        let mut offset = 0;
        while offset < skip + size {
            // SAFETY: a prefetch is a hint and never faults; the address is in a line that
            // holds part of `value` (wrapping_sub/add: it may lie just before `value`).
            unsafe { _mm_prefetch::<_MM_HINT_T0>(start.wrapping_sub(skip).wrapping_add(offset)) };
            offset += LINE;
        }
    }
}

/// A UDP socket, with the same fairness bookkeeping as a connection.
struct Udp {
    socket: UdpSocket,
    /// The turn in which it last had its reads.
    read_turn: u64,
    /// In `Core::udps_still_readable`, to be read again next turn.
    carried: bool,
}

/// Drained output buffers, kept for reuse: a server that answers every read would otherwise
/// allocate and free a buffer per answer, and a large one (64 KiB and up) costs page faults
/// each time the allocator gives its memory back to the kernel and takes it again. The pool
/// is shared by all connections and bounded, in count and in bytes, so it is a few buffers
/// for the whole server, not one per connection.
#[derive(Default)]
struct BufferPool {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

impl BufferPool {
    /// Buffers kept at most.
    const MAX_BUFFERS: usize = 16;
    /// Bytes of capacity kept at most, all buffers together; a larger buffer is freed.
    const MAX_BYTES: usize = 2 << 20;

    fn take(&mut self) -> Vec<u8> {
        let buffer = self.buffers.pop().unwrap_or_default();
        self.bytes -= buffer.capacity();
        buffer
    }

    fn put(&mut self, mut buffer: Vec<u8>) {
        let size = buffer.capacity();
        if size > 0
            && self.buffers.len() < Self::MAX_BUFFERS
            && self.bytes + size <= Self::MAX_BYTES
        {
            buffer.clear();
            self.bytes += size;
            self.buffers.push(buffer);
        }
    }
}

/// Everything the service may touch, borrowed for the length of one callback.
struct Core {
    registry: Registry,
    /// Connections by number; `None` marks a free slot.
    conns: Vec<Option<Conn>>,
    /// Slots freed this turn: reusable from the next one, once no event can name them.
    freed: Vec<ConnId>,
    free: Vec<ConnId>,
    udps: Vec<Udp>,
    timers: Timers,
    /// Connections that have output to write after this callback.
    dirty: Vec<ConnId>,
    /// Output buffers that drained, kept for the next connection that has something to send.
    spare: BufferPool,
    /// Connections to close for good (and tell the service about) after this callback.
    dead: Vec<(ConnId, Closed)>,
    /// Connections that are closing, to cut off if they are still there at their `close_by`.
    closing: Vec<ConnId>,
    /// Connections with bytes left unread: served again in the next turn, before it sleeps.
    still_readable: Vec<ConnId>,
    /// The same for UDP sockets with datagrams left unread.
    udps_still_readable: Vec<UdpId>,
    /// Turns of the loop so far.
    turn: u64,
    /// Connections cut off because their output did not drain in time (reported by `run`).
    cut_off: usize,
    /// After accept(2) failed (EMFILE), when to try the listeners again: with edge-triggered
    /// readiness the queued connections would otherwise wait for the next new client.
    accept_retry: Option<Instant>,
    config: Config,
}

/// What a [`Service`] callback can ask of the loop. Nothing here blocks.
pub struct Cx<'a> {
    core: &'a mut Core,
    now: Instant,
}

impl Cx<'_> {
    /// The time this turn of the loop started. Services never read the clock themselves, so
    /// their tests can use any time they like.
    pub fn now(&self) -> Instant {
        self.now
    }

    pub fn trace(&self) -> Trace {
        self.core.config.trace
    }

    /// Queue `bytes` for `conn`; they are written when the callback returns. Returns false if
    /// the connection is gone or closing, or was just dropped for being too slow.
    pub fn send(&mut self, conn: ConnId, bytes: &[u8]) -> bool {
        let max = self.core.config.max_output;
        let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) else {
            return false;
        };
        if c.closing.is_some() {
            return false;
        }
        if c.queued() + bytes.len() > max {
            // The slow consumer policy: a peer that does not read is dropped, so that its
            // queue cannot grow without bound.
            c.closing = Some(Closed::TooSlow);
            self.core.dead.push((conn, Closed::TooSlow));
            return false;
        }
        if let Some(last) = c.more.back_mut() {
            last.extend_from_slice(bytes); // after the buffers handed over whole
            c.more_len += bytes.len();
        } else {
            if c.out.capacity() == 0 {
                c.out = self.core.spare.take();
            }
            c.out.extend_from_slice(bytes);
        }
        if !c.dirty {
            c.dirty = true;
            self.core.dirty.push(conn);
        }
        true
    }

    /// An empty buffer for the service to write its next output into, from the buffers
    /// that drained earlier (or a new one, if none is kept). Give it back through
    /// [`Cx::send_owned`], or [`Cx::recycle`] if it stayed empty. A WebSocket connection is
    /// lent one for each batch of frames it encodes, so that neither it nor the loop allocates
    /// per message, and an idle connection holds no buffer.
    pub fn spare_buffer(&mut self) -> Vec<u8> {
        self.core.spare.take()
    }

    /// Give back a buffer the service no longer needs (from [`Cx::spare_buffer`] or its own).
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        self.core.spare.put(buffer);
    }

    /// [`Cx::send`] for bytes the service already holds in a `Vec` of its own (a WebSocket
    /// connection's output): the loop takes the buffer instead of copying it, so a 16 MiB echo
    /// is not copied once more on its way to the kernel. When nothing is queued the buffer
    /// becomes the queue; behind queued bytes, a large buffer (from [`OWNED_MIN`] bytes) is
    /// queued as it is, and the two go out in one writev(2); a small one is copied.
    pub fn send_owned(&mut self, conn: ConnId, bytes: Vec<u8>) -> bool {
        let max = self.core.config.max_output;
        match self.core.conns.get_mut(conn).and_then(Option::as_mut) {
            Some(c)
                if c.closing.is_none()
                    && !bytes.is_empty()
                    && c.queued() + bytes.len() <= max
                    && (c.queued() == 0 || bytes.len() >= OWNED_MIN) =>
            {
                if c.queued() == 0 {
                    let old = std::mem::replace(&mut c.out, bytes);
                    self.core.spare.put(old);
                    c.written = 0;
                } else {
                    c.more_len += bytes.len();
                    c.more.push_back(bytes);
                }
                if !c.dirty {
                    c.dirty = true;
                    self.core.dirty.push(conn);
                }
                true
            }
            _ => {
                let sent = self.send(conn, &bytes);
                self.core.spare.put(bytes);
                sent
            }
        }
    }

    /// Bytes waiting to be written to `conn`.
    pub fn queued(&self, conn: ConnId) -> usize {
        self.core
            .conns
            .get(conn)
            .and_then(Option::as_ref)
            .map_or(0, Conn::queued)
    }

    /// Flush what is queued, then close: shutdown(2) sends our FIN after the last byte.
    ///
    /// The peer may still be sending: the rest of a body we refused, requests pipelined behind
    /// the last one we answer. A host that closes with data unread "SHOULD send a RST to show
    /// that data was lost" (RFC 1122 4.2.2.13), and Linux does, which can make the peer's
    /// kernel throw away our answer before the peer has read it. RFC 9112 9.6 says why that
    /// matters and what servers do about it: "If a server performs an immediate close of a TCP
    /// connection, there is a significant risk that the client will not be able to read the
    /// last HTTP response." ... "To avoid the TCP reset problem, servers typically close a
    /// connection in stages. First, the server performs a half-close by closing only the write
    /// side of the read/write connection. The server then continues to read from the
    /// connection until it receives a corresponding close by the client, or until the server
    /// is reasonably certain that its own TCP stack has received the client's acknowledgement
    /// of the packet(s) containing the server's last response. Finally, the server fully
    /// closes the connection."
    ///
    /// So once the output is flushed, the loop half-closes, calls [`Service::on_close`] (the
    /// service is done with `conn`) and lingers: it reads and discards, with no buffer that
    /// grows, until the peer's end of stream, [`Config::linger_timeout`] or
    /// [`Config::linger_max_bytes`], whichever comes first, and only then closes the socket.
    pub fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) {
            if c.closing.is_none() {
                c.closing = Some(if c.eof {
                    Closed::ByPeer
                } else {
                    Closed::ByService
                });
                c.close_by = Some(self.now + self.core.config.close_timeout);
                self.core.closing.push(conn);
                self.core.dirty.push(conn);
            }
        }
    }

    /// Send a datagram now. UDP keeps no queue: if the socket's buffer is full the datagram
    /// is dropped, as a router would drop it. Returns whether it went out.
    pub fn send_to(&mut self, udp: UdpId, to: SocketAddr, bytes: &[u8]) -> bool {
        let trace = self.core.config.trace;
        match self.core.udps[udp].socket.send_to(bytes, to) {
            Ok(n) => {
                trace.log(format_args!(
                    "sendto(udp {udp}, {to}, {} bytes) = {n}",
                    bytes.len()
                ));
                true
            }
            Err(e) => {
                trace.log(format_args!(
                    "sendto(udp {udp}, {to}) failed ({e}): datagram dropped"
                ));
                false
            }
        }
    }

    /// Call [`Service::on_timer`] with `key` at `at` (replacing any deadline `key` had).
    pub fn set_timer(&mut self, at: Instant, key: u64) {
        self.core.timers.set(at, key);
    }

    pub fn cancel_timer(&mut self, key: u64) {
        self.core.timers.cancel(key);
    }
}

/// Deadlines in a min-heap, with cancellation by key: a popped entry whose deadline is no
/// longer the key's current one is stale and skipped. (Cheaper than removing from a heap.)
#[derive(Default)]
struct Timers {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    current: HashMap<u64, Instant>,
}

impl Timers {
    fn set(&mut self, at: Instant, key: u64) {
        self.current.insert(key, at);
        self.heap.push(Reverse((at, key)));
    }

    fn cancel(&mut self, key: u64) {
        self.current.remove(&key);
    }

    /// The earliest live deadline, dropping stale entries on the way.
    fn next(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, key))) = self.heap.peek() {
            if self.current.get(&key) == Some(&at) {
                return Some(at);
            }
            self.heap.pop();
        }
        None
    }

    /// Take one key whose deadline has passed.
    fn pop_due(&mut self, now: Instant) -> Option<u64> {
        let at = self.next()?;
        if at > now {
            return None;
        }
        let Reverse((_, key)) = self.heap.pop().expect("next() saw it");
        self.current.remove(&key);
        Some(key)
    }
}

/// Stops a running loop from another thread, as SIGTERM would.
#[derive(Clone)]
pub struct StopHandle(Arc<Waker>);

impl StopHandle {
    pub fn stop(&self) {
        let _ = self.0.wake();
    }
}

/// The loop itself: owns the poll, the listeners and the connections.
pub struct EventLoop {
    poll: Poll,
    core: Core,
    listeners: Vec<TcpListener>,
    /// The one read buffer, shared by every connection and UDP socket.
    buf: Vec<u8>,
    signals: Option<mio::unix::pipe::Receiver>,
    waker: Arc<Waker>,
}

impl EventLoop {
    pub fn new(config: Config) -> io::Result<EventLoop> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        Ok(EventLoop {
            buf: vec![0; config.read_buffer],
            poll,
            core: Core {
                registry,
                conns: Vec::new(),
                freed: Vec::new(),
                free: Vec::new(),
                udps: Vec::new(),
                timers: Timers::default(),
                dirty: Vec::new(),
                spare: BufferPool::default(),
                dead: Vec::new(),
                still_readable: Vec::new(),
                udps_still_readable: Vec::new(),
                turn: 0,
                cut_off: 0,
                closing: Vec::new(),
                accept_retry: None,
                config,
            },
            listeners: Vec::new(),
            signals: None,
            waker,
        })
    }

    /// Call [`Service::on_timer`] with `key` at `at`, set before [`run`](Self::run) (a ticker
    /// that must start whether or not a client ever connects).
    pub fn set_timer(&mut self, at: Instant, key: u64) {
        self.core.timers.set(at, key);
    }

    /// A handle that stops the loop from another thread.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(Arc::clone(&self.waker))
    }

    /// Listen for TCP connections: socket, SO_REUSEADDR, bind, listen(1024), non-blocking.
    /// Returns the address actually bound (port 0 picks one).
    pub fn listen_tcp(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.bind(&addr.into())?;
        // A long accept queue: thousands of clients may connect within one turn of the loop.
        socket.listen(1024)?;
        socket.set_nonblocking(true)?;
        let mut listener = TcpListener::from_std(socket.into());
        let token = Token(self.listeners.len());
        self.poll
            .registry()
            .register(&mut listener, token, Interest::READABLE)?;
        let local = listener.local_addr()?;
        self.listeners.push(listener);
        Ok(local)
    }

    /// Bind a UDP socket on the same poll. Returns the address bound.
    pub fn bind_udp(&mut self, addr: SocketAddr) -> io::Result<SocketAddr> {
        let mut sock = UdpSocket::bind(addr)?;
        let token = Token(UDP_BASE + self.core.udps.len());
        self.poll
            .registry()
            .register(&mut sock, token, Interest::READABLE)?;
        let local = sock.local_addr()?;
        self.core.udps.push(Udp {
            socket: sock,
            read_turn: 0,
            carried: false,
        });
        Ok(local)
    }

    /// Turn SIGINT and SIGTERM into a graceful shutdown (see [`signals`]).
    pub fn stop_on_signals(&mut self) -> io::Result<()> {
        let mut receiver = signals::install()?;
        self.poll
            .registry()
            .register(&mut receiver, SIGNAL, Interest::READABLE)?;
        self.signals = Some(receiver);
        Ok(())
    }

    /// Run until stopped by a signal or a [`StopHandle`], then shut down gracefully. Returns
    /// how many connections were cut off because their output could not be flushed in time.
    pub fn run(&mut self, service: &mut impl Service) -> io::Result<usize> {
        let trace = self.core.config.trace;
        let mut events = Events::with_capacity(1024);
        let mut stopping: Option<Instant> = None;
        loop {
            // Slots freed last turn can be reused now: no pending event names them.
            self.core.free.append(&mut self.core.freed);

            // Connections that used up their share of reads last turn: served after this
            // turn's events (each gets READS_PER_TURN reads per turn, no more).
            self.core.turn += 1;
            let carried = std::mem::take(&mut self.core.still_readable);
            for &conn in &carried {
                if let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) {
                    c.carried = false; // it may list itself again, for the turn after this one
                }
            }
            let carried_udps = std::mem::take(&mut self.core.udps_still_readable);
            for &udp in &carried_udps {
                self.core.udps[udp].carried = false;
            }
            // Sleep until an event, the next deadline, or not at all if a connection or a UDP
            // socket still has unread bytes from last turn.
            let timeout = if !carried.is_empty() || !carried_udps.is_empty() {
                Some(Duration::ZERO)
            } else {
                let close_by = self
                    .core
                    .closing
                    .iter()
                    .filter_map(|&c| self.core.conns[c].as_ref()?.close_by)
                    .min();
                let next = [
                    self.core.timers.next(),
                    stopping,
                    self.core.accept_retry,
                    close_by,
                ]
                .into_iter()
                .flatten()
                .min();
                next.map(|at| at.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue, // a signal arrived
                Err(e) => return Err(e),
            }
            if trace.is_on() {
                trace.log(format_args!(
                    "epoll_wait(timeout {}) = {} events",
                    timeout.map_or("none".to_string(), |t| format!("{} ms", t.as_millis())),
                    events.iter().count()
                ));
            }
            let now = Instant::now();

            for event in events.iter() {
                self.dispatch(service, event, now, &mut stopping)?;
            }
            for conn in carried {
                self.read(service, conn, now);
            }
            for udp in carried_udps {
                self.receive_datagrams(service, udp, now);
            }
            if self.core.accept_retry.is_some_and(|at| at <= now) {
                for listener in 0..self.listeners.len() {
                    self.accept(service, listener, now);
                }
            }
            while let Some(key) = self.core.timers.pop_due(now) {
                service.on_timer(&mut self.cx(now), key);
                self.settle(service, now);
            }
            self.cut_off_late_closers(service, now);

            if let Some(deadline) = stopping {
                let open = self.core.conns.iter().flatten().count();
                if open == 0 || now >= deadline {
                    trace.log(format_args!(
                        "shutdown complete ({} connections cut off)",
                        open + self.core.cut_off
                    ));
                    return Ok(open + self.core.cut_off);
                }
            }
        }
    }

    /// Closing connections whose output still has not drained by their deadline are closed
    /// anyway (the peer is not reading), with the reason they were closing for.
    fn cut_off_late_closers(&mut self, service: &mut impl Service, now: Instant) {
        let conns = &self.core.conns;
        let (late, waiting): (Vec<ConnId>, Vec<ConnId>) = std::mem::take(&mut self.core.closing)
            .into_iter()
            .filter(|&c| {
                conns
                    .get(c)
                    .and_then(Option::as_ref)
                    .is_some_and(|c| c.closing.is_some())
            })
            .partition(|&c| {
                conns[c]
                    .as_ref()
                    .and_then(|c| c.close_by)
                    .is_some_and(|at| at <= now)
            });
        self.core.closing = waiting;
        for conn in late {
            if self.conn(conn).is_some_and(|c| c.lingering) {
                // Its answer went out long ago; the peer just did not finish in time.
                self.core
                    .config
                    .trace
                    .log(format_args!("conn {conn}: lingering: time is up, closing"));
                self.release(conn);
                continue;
            }
            self.core.cut_off += 1;
            let why = self.core.conns[conn]
                .as_ref()
                .and_then(|c| c.closing)
                .unwrap_or(Closed::Error);
            self.core.config.trace.log(format_args!(
                "conn {conn}: output not drained in time, cut off"
            ));
            self.core.dead.push((conn, why));
        }
        self.settle(service, now);
    }

    fn cx(&mut self, now: Instant) -> Cx<'_> {
        Cx {
            core: &mut self.core,
            now,
        }
    }

    fn dispatch(
        &mut self,
        service: &mut impl Service,
        event: &Event,
        now: Instant,
        stopping: &mut Option<Instant>,
    ) -> io::Result<()> {
        let trace = self.core.config.trace;
        match event.token() {
            Token(i) if i < self.listeners.len() => self.accept(service, i, now),
            Token(i) if (UDP_BASE..UDP_BASE + self.core.udps.len()).contains(&i) => {
                self.receive_datagrams(service, i - UDP_BASE, now)
            }
            SIGNAL | WAKER => {
                if let Some(receiver) = self.signals.as_mut() {
                    let mut drain = [0u8; 64];
                    while matches!(receiver.read(&mut drain), Ok(n) if n > 0) {}
                }
                if stopping.is_none() {
                    trace.log(format_args!(
                        "shutdown requested: stop accepting, flush, close"
                    ));
                    *stopping = Some(now + self.core.config.shutdown_grace);
                    self.shutdown(service, now)?;
                }
            }
            Token(t) if t >= CONN_BASE => {
                let conn = t - CONN_BASE;
                trace.log(format_args!(
                    "conn {conn}:{}{}{}",
                    if event.is_readable() { " READABLE" } else { "" },
                    if event.is_writable() { " WRITABLE" } else { "" },
                    if event.is_read_closed() {
                        " (peer closed)"
                    } else {
                        ""
                    }
                ));
                if event.is_writable() {
                    self.core.dirty.push(conn);
                    self.settle(service, now);
                }
                if event.is_read_closed() || event.is_error() {
                    if let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) {
                        c.hup = true;
                    }
                }
                if event.is_readable() || event.is_read_closed() || event.is_error() {
                    self.read(service, conn, now);
                }
            }
            Token(_) => {} // a listener or socket already gone
        }
        Ok(())
    }

    /// Accept every pending connection: edge-triggered, so until WouldBlock.
    fn accept(&mut self, service: &mut impl Service, listener: usize, now: Instant) {
        let trace = self.core.config.trace;
        loop {
            let (mut stream, peer) = match self.listeners[listener].accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.core.accept_retry = None; // the queue is empty: nothing to retry
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // EMFILE and friends: the connection stays queued in the kernel. No new
                    // event will come for it (edge-triggered), so try again shortly rather than
                    // spin now: descriptors may have been freed by then.
                    if self.core.accept_retry.is_none() {
                        eprintln!("accept failed: {e}; trying again every {ACCEPT_RETRY:?}");
                    }
                    self.core.accept_retry = Some(now + ACCEPT_RETRY);
                    return;
                }
            };
            let conn = self.core.free.pop().unwrap_or_else(|| {
                self.core.conns.push(None);
                self.core.conns.len() - 1
            });
            if let Err(e) = self.core.registry.register(
                &mut stream,
                Token(CONN_BASE + conn),
                Interest::READABLE,
            ) {
                eprintln!("register failed: {e}");
                self.core.free.push(conn);
                continue;
            }
            trace.log(format_args!("accept() = conn {conn} from {peer}"));
            self.core.conns[conn] = Some(Conn {
                stream,
                out: Vec::new(),
                written: 0,
                more: VecDeque::new(),
                more_len: 0,
                want_write: false,
                dirty: false,
                read_turn: 0,
                carried: false,
                paused: false,
                eof: false,
                closing: None,
                close_by: None,
                lingering: false,
                discarded: 0,
                hup: false,
            });
            service.on_open(&mut self.cx(now), conn, peer);
            self.settle(service, now);
        }
    }

    /// Read from a connection until WouldBlock (or its share of reads this turn is used up),
    /// handing each piece to the service.
    fn read(&mut self, service: &mut impl Service, conn: ConnId, now: Instant) {
        // A lingering connection is still read, but no longer for the service.
        if self.conn(conn).is_some_and(|c| c.lingering) {
            return self.discard_input(conn);
        }
        // exercise(05): begin "Read until WouldBlock, fairly"
        // hint: mio is edge-triggered: one READABLE event per arrival, so read until read() returns Err with ErrorKind::WouldBlock, or the bytes left in the kernel never wake you again.
        // hint: Ok(0) is end of stream: set c.eof and call service.on_eof; Ok(n): hand &self.buf[..n] to service.on_data; after every callback call self.settle(service, now).
        // hint: Any other error (ECONNRESET...) ends the connection: push (conn, Closed::Error) onto self.core.dead and settle.
        // hint: Fairness: one read per connection per turn. Remember the turn in c.read_turn and return at once if it was already read this turn (it may have an event and be carried).
        // hint: After its READS_PER_TURN reads, if it did not hit WouldBlock, push conn onto self.core.still_readable, once: c.carried says whether it is already listed.
        // hint: A short read (n < self.buf.len()) has emptied the kernel's queue: you may stop there without a WouldBlock read, unless c.hup says the peer's end of stream is waiting.
        // hint: Do not read a connection that is paused (backpressure), closing, or already at end of stream.
        let trace = self.core.config.trace;
        let turn = self.core.turn;
        match self.core.conns.get_mut(conn).and_then(Option::as_mut) {
            None => return,
            Some(c) if c.read_turn == turn => return, // it has had its share this turn
            Some(c) => c.read_turn = turn,
        }
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) else {
                return;
            };
            if c.paused || c.eof || c.closing.is_some() {
                return;
            }
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    trace.log(format_args!("conn {conn}: read = 0, end of stream"));
                    c.eof = true;
                    service.on_eof(
                        &mut Cx {
                            core: &mut self.core,
                            now,
                        },
                        conn,
                    );
                    self.settle(service, now);
                    return;
                }
                Ok(n) => {
                    // A read that did not fill the buffer emptied the socket's receive queue:
                    // TCP hands over everything queued, up to the length asked. The next byte
                    // to arrive will raise a new edge, so the read that would only say
                    // WouldBlock can be skipped (one system call less per message). Unless an
                    // event said the peer has closed: its end of stream raises no new edge,
                    // so that read must still be made.
                    let drained = n < self.buf.len() && !c.hup;
                    trace.log(format_args!(
                        "conn {conn}: read = {n}{}",
                        if drained { ", short: drained" } else { "" }
                    ));
                    service.on_data(
                        &mut Cx {
                            core: &mut self.core,
                            now,
                        },
                        conn,
                        &self.buf[..n],
                    );
                    self.settle(service, now);
                    if drained {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    trace.log(format_args!(
                        "conn {conn}: read: WouldBlock, drained until the next event"
                    ));
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    trace.log(format_args!("conn {conn}: read failed: {e}"));
                    self.core.dead.push((conn, Closed::Error));
                    self.settle(service, now);
                    return;
                }
            }
        }
        // Its share is used up and bytes may remain: come back next turn, before sleeping.
        if let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) {
            if !c.carried {
                c.carried = true;
                self.core.still_readable.push(conn);
            }
        }
        // exercise: end
    }

    /// Read a lingering connection and throw the bytes away, with the same share of reads per
    /// turn as any connection. Its end of stream, an error, or a spent byte budget end the
    /// lingering: the socket is closed then (with nothing unread, so with no reset).
    fn discard_input(&mut self, conn: ConnId) {
        let trace = self.core.config.trace;
        let budget = self.core.config.linger_max_bytes;
        let turn = self.core.turn;
        match self.core.conns.get_mut(conn).and_then(Option::as_mut) {
            Some(c) if c.read_turn != turn => c.read_turn = turn,
            _ => return, // gone, or it has had its share this turn
        }
        for _ in 0..READS_PER_TURN {
            let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) else {
                return;
            };
            match c.stream.read(&mut self.buf) {
                Ok(0) => {
                    trace.log(format_args!(
                        "conn {conn}: lingering: read = 0, the peer is done too"
                    ));
                    return self.release(conn);
                }
                Ok(n) => {
                    c.discarded = c.discarded.saturating_add(n as u32);
                    trace.log(format_args!(
                        "conn {conn}: lingering: read = {n}, discarded ({} in all)",
                        c.discarded
                    ));
                    if c.discarded as usize >= budget {
                        trace.log(format_args!(
                            "conn {conn}: lingering: {budget} bytes discarded, enough"
                        ));
                        return self.release(conn);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    trace.log(format_args!("conn {conn}: lingering: read failed: {e}"));
                    return self.release(conn);
                }
            }
        }
        if let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) {
            if !c.carried {
                c.carried = true;
                self.core.still_readable.push(conn);
            }
        }
    }

    /// Receive datagrams until WouldBlock or until the socket's share of this turn is used up,
    /// handing each to the service; a socket that may have more is read again next turn.
    fn receive_datagrams(&mut self, service: &mut impl Service, udp: UdpId, now: Instant) {
        let trace = self.core.config.trace;
        let turn = self.core.turn;
        if self.core.udps[udp].read_turn == turn {
            return; // it has had its share this turn (an event, and carried from the last)
        }
        self.core.udps[udp].read_turn = turn;
        for _ in 0..DATAGRAMS_PER_TURN {
            match self.core.udps[udp].socket.recv_from(&mut self.buf) {
                Ok((n, from)) => {
                    trace.log(format_args!("recvfrom(udp {udp}) = {n} bytes from {from}"));
                    service.on_datagram(
                        &mut Cx {
                            core: &mut self.core,
                            now,
                        },
                        udp,
                        from,
                        &self.buf[..n],
                    );
                    self.settle(service, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // An error about one datagram (e.g. an ICMP report): not the socket's end,
                    // and more datagrams may be queued behind it, so go on reading.
                    trace.log(format_args!("recvfrom(udp {udp}) failed: {e}"));
                }
            }
        }
        // Its share is used up and datagrams may remain: come back next turn, before sleeping.
        trace.log(format_args!(
            "recvfrom(udp {udp}): {DATAGRAMS_PER_TURN} datagrams this turn, the rest next turn"
        ));
        let u = &mut self.core.udps[udp];
        if !u.carried {
            u.carried = true;
            self.core.udps_still_readable.push(udp);
        }
    }

    /// After a callback: write what was queued, adjust interests, pause or resume reading,
    /// and finish closing what must close. Repeats while closing triggers more callbacks.
    fn settle(&mut self, service: &mut impl Service, now: Instant) {
        while !self.core.dirty.is_empty() || !self.core.dead.is_empty() {
            // Flushing may make more connections dirty (a callback sends), so the list is
            // taken out while it is walked, and its storage put back after, when the new list
            // is empty: no allocation per turn for a list that is one entry long.
            let mut dirty = std::mem::take(&mut self.core.dirty);
            for conn in dirty.drain(..) {
                self.flush(service, conn, now);
            }
            if self.core.dirty.is_empty() {
                self.core.dirty = dirty;
            }
            for (conn, why) in std::mem::take(&mut self.core.dead) {
                self.finish(service, conn, why, now);
            }
        }
    }

    /// Write a connection's queue as far as the kernel takes it; register WRITABLE only if
    /// something is left.
    fn flush(&mut self, service: &mut impl Service, conn: ConnId, now: Instant) {
        // exercise(05): begin "Write what is queued; want WRITABLE only while something is left"
        // hint: Write c.out[c.written..] until it is all written or write() says WouldBlock; the kernel may take any part of it.
        // hint: c.more holds buffers queued after c.out by send_owned (lesson 05's echo never has any): write them too, in order (write_vectored takes several at once), and let c.advance(n, &mut self.core.spare) move past the n bytes the kernel took.
        // hint: Drained: take c.out away (into self.core.spare, the shared pool, or just replace it with Vec::new()) so an idle connection holds no buffer.
        // hint: Register READABLE | WRITABLE (registry.reregister) only while bytes are queued, READABLE alone once drained: a socket is nearly always writable, and asking for WRITABLE then wakes the loop for nothing.
        // hint: Backpressure: set c.paused while more than config.pause_reading_above bytes are queued; when it clears, push conn onto still_readable (bytes may have waited).
        // hint: Once drained: a closing connection goes to self.core.dead; otherwise, if it had been waiting for WRITABLE, call service.on_drained.
        let config = &self.core.config;
        let trace = config.trace;
        let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) else {
            return;
        };
        c.dirty = false;
        let had_backlog = c.want_write;
        while c.queued() > 0 {
            let result = if c.more.is_empty() {
                c.stream.write(&c.out[c.written..])
            } else {
                // Several buffers queued: one writev(2) takes them all (up to 8), no copy.
                let mut slices = [IoSlice::new(&[]); 8];
                slices[0] = IoSlice::new(&c.out[c.written..]);
                let mut k = 1;
                for (slot, buffer) in slices[1..].iter_mut().zip(&c.more) {
                    *slot = IoSlice::new(buffer);
                    k += 1;
                }
                c.stream.write_vectored(&slices[..k])
            };
            match result {
                Ok(n) => {
                    trace.log(format_args!(
                        "conn {conn}: {}({} bytes) = {n}",
                        if c.more.is_empty() { "write" } else { "writev" },
                        c.queued()
                    ));
                    c.advance(n, &mut self.core.spare);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    trace.log(format_args!("conn {conn}: write failed: {e}"));
                    self.core.dead.push((conn, Closed::Error));
                    return;
                }
            }
        }
        let queued = c.queued();
        if queued == 0 {
            // Drained: the buffer goes back to the pool, so an idle connection holds no
            // memory, and the next connection with something to send reuses it.
            self.core.spare.put(std::mem::take(&mut c.out));
            c.written = 0;
        } else if c.more.is_empty() && c.written * 2 >= c.out.len() {
            // Mostly written: drop the written part, so a queue that never quite empties
            // does not keep growing.
            c.out.drain(..c.written);
            c.written = 0;
        }
        // Backpressure: stop reading from a peer whose answers pile up; resume when drained.
        let pause = queued > config.pause_reading_above;
        if pause != c.paused {
            trace.log(format_args!(
                "conn {conn}: {} reading ({queued} bytes queued)",
                if pause { "pause" } else { "resume" }
            ));
            c.paused = pause;
            if !pause && !c.carried {
                c.carried = true; // bytes may have waited meanwhile: read it next turn
                self.core.still_readable.push(conn);
            }
        }
        let want_write = queued > 0;
        if want_write != c.want_write {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            trace.log(format_args!(
                "conn {conn}: {} WRITABLE ({queued} bytes queued)",
                if want_write { "register" } else { "deregister" }
            ));
            if let Err(e) =
                self.core
                    .registry
                    .reregister(&mut c.stream, Token(CONN_BASE + conn), interest)
            {
                eprintln!("reregister failed: {e}");
            }
            c.want_write = want_write;
        }
        if queued == 0 {
            if let Some(why) = c.closing {
                self.core.dead.push((conn, why));
            } else if had_backlog {
                service.on_drained(&mut self.cx(now), conn);
            }
        }
        // exercise: end
    }

    /// End a connection for the service and tell it; close the socket now, or linger first.
    fn finish(&mut self, service: &mut impl Service, conn: ConnId, why: Closed, now: Instant) {
        let config = &self.core.config;
        let trace = config.trace;
        let Some(c) = self.core.conns.get_mut(conn).and_then(Option::as_mut) else {
            return;
        };
        if c.lingering {
            return; // the service was told when the lingering began
        }
        if matches!(why, Closed::ByService | Closed::ByPeer | Closed::Shutdown) {
            // Our FIN after the last queued byte.
            let _ = c.stream.shutdown(Shutdown::Write);
        }
        // Linger when the service closed with its output all sent and the peer has not said
        // it is done (a connection that is cut off, or at shutdown, is closed at once).
        let linger = why == Closed::ByService
            && !c.eof
            && c.queued() == 0
            && !config.linger_timeout.is_zero();
        if linger {
            trace.log(format_args!(
                "conn {conn}: shutdown(SHUT_WR), lingering: reading until the peer's FIN, at most {:?}",
                config.linger_timeout
            ));
            c.lingering = true;
            c.close_by = Some(now + config.linger_timeout);
            // Bytes that came while it was closing were not read, and their edge is gone:
            // read it next turn. Cx::close put it on `closing`, whose deadline check now ends
            // the lingering at `close_by`.
            if !c.carried {
                c.carried = true;
                self.core.still_readable.push(conn);
            }
        } else {
            let _ = self.core.registry.deregister(&mut c.stream);
            trace.log(format_args!("conn {conn}: close ({why:?})"));
            self.core.conns[conn] = None; // close(2)
            self.core.freed.push(conn);
        }
        service.on_close(&mut self.cx(now), conn, why);
    }

    /// The end of a lingering close: deregister and close the socket, free the slot. The
    /// service heard `on_close` when the lingering began.
    fn release(&mut self, conn: ConnId) {
        let Some(mut c) = self.core.conns.get_mut(conn).and_then(Option::take) else {
            return;
        };
        let _ = self.core.registry.deregister(&mut c.stream);
        self.core.config.trace.log(format_args!(
            "conn {conn}: close (after lingering, {} bytes discarded)",
            c.discarded
        ));
        drop(c);
        self.core.freed.push(conn);
    }

    fn conn(&self, conn: ConnId) -> Option<&Conn> {
        self.core.conns.get(conn).and_then(Option::as_ref)
    }

    /// Stop accepting, let the service say goodbye, then close every connection once flushed.
    fn shutdown(&mut self, service: &mut impl Service, now: Instant) -> io::Result<()> {
        for mut listener in self.listeners.drain(..) {
            self.poll.registry().deregister(&mut listener)?;
        }
        service.on_shutdown(&mut self.cx(now));
        let open: Vec<ConnId> = (0..self.core.conns.len())
            .filter(|&i| self.core.conns[i].is_some())
            .collect();
        for conn in open {
            if let Some(c) = self.core.conns[conn].as_mut() {
                if c.lingering {
                    continue; // its service is done and its own deadline is near
                }
                c.closing.get_or_insert(Closed::Shutdown);
                c.close_by = Some(now + self.core.config.shutdown_grace);
                self.core.closing.push(conn);
                self.core.dirty.push(conn);
            }
        }
        self.settle(service, now);
        Ok(())
    }
}

/// SIGINT and SIGTERM, the self-pipe way.
///
/// A signal handler may run between any two instructions of the program, so it may call only
/// async-signal-safe functions (signal-safety(7)): it cannot take a lock, allocate, or touch
/// the loop. It writes one byte into a pipe whose other end is registered with the poll; the
/// loop wakes up and does the real work in ordinary code.
pub mod signals {
    use std::io;
    use std::os::fd::AsRawFd;
    use std::sync::atomic::{AtomicI32, Ordering};

    static PIPE: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn on_signal(_: libc::c_int) {
        let fd = PIPE.load(Ordering::Relaxed);
        if fd >= 0 {
            // write(2) is async-signal-safe; a full pipe already holds a wake-up.
            unsafe { libc::write(fd, b"!".as_ptr().cast(), 1) };
        }
    }

    /// Install the handler for SIGINT and SIGTERM (sigaction(2)); returns the pipe's read end.
    pub fn install() -> io::Result<mio::unix::pipe::Receiver> {
        let (sender, receiver) = mio::unix::pipe::new()?;
        PIPE.store(sender.as_raw_fd(), Ordering::Relaxed);
        std::mem::forget(sender); // the handler writes to it for the rest of the process
        for signal in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is valid; the handler only calls write(2).
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = on_signal as *const () as usize;
                action.sa_flags = libc::SA_RESTART;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(signal, &action, std::ptr::null_mut()) != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(receiver)
    }
}

/// Raise the soft limit on open files to the hard limit (setrlimit(2) RLIMIT_NOFILE): the
/// default soft limit, often 1,024, stops a server long before 10,000 connections.
/// Returns the new limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit with a valid pointer.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(limit.rlim_cur as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream as StdStream;

    /// Echo, with a record of what happened.
    #[derive(Default)]
    struct Echo {
        closed: Vec<Closed>,
    }

    impl Service for Echo {
        fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
            cx.send(conn, data);
        }
        fn on_datagram(&mut self, cx: &mut Cx<'_>, udp: UdpId, from: SocketAddr, data: &[u8]) {
            cx.send_to(udp, from, data);
        }
        fn on_close(&mut self, _cx: &mut Cx<'_>, _conn: ConnId, why: Closed) {
            self.closed.push(why);
        }
    }

    /// Start a loop with `service` in a thread; returns its addresses and a stop handle.
    fn start<S: Service + Send + 'static>(
        mut service: S,
        config: Config,
    ) -> (
        SocketAddr,
        SocketAddr,
        StopHandle,
        std::thread::JoinHandle<S>,
    ) {
        let mut lp = EventLoop::new(config).unwrap();
        let tcp = lp.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let udp = lp.bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let stop = lp.stop_handle();
        let thread = std::thread::spawn(move || {
            lp.run(&mut service).unwrap();
            service
        });
        (tcp, udp, stop, thread)
    }

    #[test]
    fn echoes_tcp_and_udp_on_one_poll() {
        let (tcp, udp, stop, thread) = start(Echo::default(), Config::default());
        let mut s = StdStream::connect(tcp).unwrap();
        s.write_all(b"hello").unwrap();
        let mut got = [0u8; 5];
        s.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello");

        let u = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        u.send_to(b"datagram", udp).unwrap();
        let mut buf = [0u8; 64];
        u.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let (n, from) = u.recv_from(&mut buf).unwrap();
        assert_eq!((&buf[..n], from), (&b"datagram"[..], udp));

        s.shutdown(Shutdown::Write).unwrap();
        assert_eq!(
            s.read(&mut buf).unwrap(),
            0,
            "end of stream after half-close"
        );
        stop.stop();
        let echo = thread.join().unwrap();
        assert_eq!(echo.closed, vec![Closed::ByPeer]);
    }

    #[test]
    fn a_peer_that_does_not_read_pauses_its_own_reading() {
        // Up to 64 MiB sent, nothing read: the loop must stop reading once the echoes pile up,
        // so the client's writes stall (flow control) instead of the server's memory growing.
        // (The kernels' socket buffers on loopback hold about 10 MB before that shows.)
        let config = Config {
            pause_reading_above: 64 * 1024,
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Echo::default(), config);
        let s = StdStream::connect(tcp).unwrap();
        s.set_write_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let mut sent = 0usize;
        while sent < 64 << 20 {
            match (&s).write(&chunk) {
                Ok(n) => sent += n,
                Err(_) => break, // the write timed out: backpressure reached us
            }
        }
        assert!(sent < 64 << 20, "the server kept reading everything");
        // Now read it all back: every byte sent is echoed.
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.shutdown(Shutdown::Write).unwrap();
        let mut back = Vec::new();
        (&s).read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), sent);
        stop.stop();
        thread.join().unwrap();
    }

    #[test]
    fn buffers_handed_over_whole_go_out_in_order_with_what_is_copied() {
        /// For each byte: a small copied head, a large buffer handed over, a small tail, and a
        /// small buffer handed over (copied, being small).
        struct Segments;
        fn pattern(seed: u8, len: usize) -> Vec<u8> {
            (0..len)
                .map(|i| seed.wrapping_add((i % 251) as u8))
                .collect()
        }
        impl Service for Segments {
            fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
                for &b in data {
                    cx.send(conn, &[b'<', b]);
                    cx.send_owned(conn, pattern(b, 300_000));
                    cx.send(conn, b">");
                    cx.send_owned(conn, pattern(b, 100));
                }
            }
        }
        let (tcp, _udp, stop, thread) = start(Segments, Config::default());
        let mut s = StdStream::connect(tcp).unwrap();
        s.write_all(&[7, 9]).unwrap();
        let mut expected = Vec::new();
        for b in [7u8, 9] {
            expected.extend([b'<', b]);
            expected.extend(pattern(b, 300_000));
            expected.push(b'>');
            expected.extend(pattern(b, 100));
        }
        let mut got = vec![0u8; expected.len()];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Read slowly at first, so that the kernel takes part of a buffer at a time.
        std::thread::sleep(Duration::from_millis(100));
        s.read_exact(&mut got).unwrap();
        assert!(got == expected, "the bytes came out of order or incomplete");
        stop.stop();
        thread.join().unwrap();
    }

    #[test]
    fn a_slow_consumer_is_dropped_at_the_bound() {
        /// Sends 4 KiB to every connection for each byte received: output outgrows input.
        struct Amplify;
        impl Service for Amplify {
            fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, data: &[u8]) {
                for _ in 0..data.len() {
                    cx.send(conn, &[1u8; 4096]);
                }
            }
        }
        let config = Config {
            max_output: 256 * 1024,
            pause_reading_above: usize::MAX,
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Amplify, config);
        let mut s = StdStream::connect(tcp).unwrap();
        s.write_all(&[0u8; 10_000]).unwrap(); // asks for 40 MB, reads nothing
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let mut total = 0;
        let mut buf = vec![0u8; 65536];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
        assert!(
            total < 40_000_000,
            "the connection was dropped, not fed 40 MB"
        );
        stop.stop();
        thread.join().unwrap();
    }

    #[test]
    fn a_closing_connection_whose_peer_never_reads_is_cut_off_in_time() {
        /// Answers anything with 16 MiB, then closes.
        #[derive(Default)]
        struct Flood {
            closed: Vec<Closed>,
        }
        impl Service for Flood {
            fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, _data: &[u8]) {
                for _ in 0..256 {
                    cx.send(conn, &[b'x'; 64 * 1024]);
                }
                cx.close(conn);
            }
            fn on_close(&mut self, _cx: &mut Cx<'_>, _conn: ConnId, why: Closed) {
                self.closed.push(why);
            }
        }
        let config = Config {
            max_output: 32 << 20,
            close_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Flood::default(), config);
        let mut s = StdStream::connect(tcp).unwrap();
        s.write_all(b"go").unwrap();
        std::thread::sleep(Duration::from_millis(1000)); // never reading
        stop.stop();
        let flood = thread.join().unwrap();
        assert_eq!(
            flood.closed,
            vec![Closed::ByService],
            "cut off before the stop"
        );
    }

    /// Answers the first bytes with "no\n" and closes, as an HTTP server answers 413 to a body
    /// that is still arriving.
    #[derive(Default)]
    struct Refuse {
        closed: Vec<Closed>,
    }

    impl Service for Refuse {
        fn on_data(&mut self, cx: &mut Cx<'_>, conn: ConnId, _data: &[u8]) {
            cx.send(conn, b"no\n");
            cx.close(conn);
        }
        fn on_close(&mut self, _cx: &mut Cx<'_>, _conn: ConnId, why: Closed) {
            self.closed.push(why);
        }
    }

    /// Write 64 KiB chunks to `s` every `pause` until `total` bytes or `until`, whichever is
    /// first; returns the bytes written and the first error.
    fn keep_sending(
        mut s: &StdStream,
        total: usize,
        pause: Duration,
        until: Instant,
    ) -> (usize, Option<io::Error>) {
        let chunk = [b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < total && Instant::now() < until {
            match s.write(&chunk[..chunk.len().min(total - sent)]) {
                Ok(n) => sent += n,
                Err(e) => return (sent, Some(e)),
            }
            std::thread::sleep(pause);
        }
        (sent, None)
    }

    #[test]
    fn a_refused_peer_that_keeps_sending_gets_the_answer_and_a_clean_end() {
        let config = Config {
            linger_timeout: Duration::from_secs(10),
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Refuse::default(), config);
        let mut s = StdStream::connect(tcp).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        // 1 MiB, paced, so that most of it arrives after the server has answered and closed.
        let until = Instant::now() + Duration::from_secs(10);
        let (sent, error) = keep_sending(&s, 1 << 20, Duration::from_millis(5), until);
        assert!(
            error.is_none(),
            "write failed after {sent} bytes: {error:?} (a reset: the server closed with our bytes unread)"
        );
        s.shutdown(Shutdown::Write).unwrap(); // our end of stream ends the server's lingering
        let mut answer = Vec::new();
        s.read_to_end(&mut answer)
            .expect("the answer and an end of stream, not a reset");
        assert_eq!(answer, b"no\n");
        stop.stop();
        assert_eq!(thread.join().unwrap().closed, vec![Closed::ByService]);
    }

    #[test]
    fn without_lingering_a_peer_that_keeps_sending_is_reset() {
        // The same exchange with lingering switched off: the proof that the test above can fail.
        let config = Config {
            linger_timeout: Duration::ZERO,
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Refuse::default(), config);
        let s = StdStream::connect(tcp).unwrap();
        let until = Instant::now() + Duration::from_secs(5);
        let (sent, error) = keep_sending(&s, usize::MAX, Duration::from_millis(5), until);
        let error = error.unwrap_or_else(|| panic!("{sent} bytes sent in 5 s without a reset"));
        assert!(
            matches!(
                error.kind(),
                io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe
            ),
            "{error}"
        );
        stop.stop();
        thread.join().unwrap();
    }

    #[test]
    fn lingering_ends_at_its_deadline_or_byte_budget() {
        // A peer that reads the answer but never closes: the socket is closed at the deadline
        // (then its next bytes meet a closed socket, and it gets a reset).
        let config = Config {
            linger_timeout: Duration::from_millis(300),
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Refuse::default(), config);
        let mut s = StdStream::connect(tcp).unwrap();
        s.write_all(b"go").unwrap();
        let mut answer = Vec::new();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.read_to_end(&mut answer).unwrap(); // the FIN comes at once, with the answer
        let fin = Instant::now();
        assert_eq!(answer, b"no\n");
        let until = fin + Duration::from_secs(5);
        let (_, error) = keep_sending(&s, usize::MAX, Duration::from_millis(20), until);
        assert!(error.is_some(), "still open 5 s after the FIN");
        assert!(
            fin.elapsed() >= Duration::from_millis(250),
            "closed after {:?}, before the deadline",
            fin.elapsed()
        );
        stop.stop();
        thread.join().unwrap();

        // A peer that sends without pause: closed once the budget is thrown away, long before
        // the deadline.
        let config = Config {
            linger_timeout: Duration::from_secs(30),
            linger_max_bytes: 256 * 1024,
            ..Config::default()
        };
        let (tcp, _udp, stop, thread) = start(Refuse::default(), config);
        let s = StdStream::connect(tcp).unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        let (sent, error) = keep_sending(&s, usize::MAX, Duration::ZERO, until);
        assert!(error.is_some(), "{sent} bytes taken in 10 s");
        stop.stop();
        thread.join().unwrap();
    }

    #[test]
    fn a_udp_flood_waits_its_turn_behind_tcp() {
        /// Records what it was handed, in order: 'u' per datagram, 't' per TCP read.
        #[derive(Default)]
        struct Log(String);
        impl Service for Log {
            fn on_data(&mut self, _: &mut Cx<'_>, _: ConnId, _: &[u8]) {
                self.0.push('t');
            }
            fn on_datagram(&mut self, _: &mut Cx<'_>, _: UdpId, _: SocketAddr, _: &[u8]) {
                self.0.push('u');
            }
        }
        // Everything is queued in the kernel before the loop runs: 150 datagrams (about 120 KB
        // of the ~208 KB receive buffer, counting each datagram's overhead) and a connection
        // with a byte to read. Read "until WouldBlock", the first turn would take all 150
        // datagrams before the connection's first turn; with a share per turn the byte comes
        // after at most a few shares.
        let mut lp = EventLoop::new(Config::default()).unwrap();
        let tcp = lp.listen_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        let udp = lp.bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
        let mut client = StdStream::connect(tcp).unwrap();
        client.write_all(b"x").unwrap();
        let flooder = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..150 {
            flooder.send_to(b"flood", udp).unwrap();
        }
        let stop = lp.stop_handle();
        let thread = std::thread::spawn(move || {
            let mut log = Log::default();
            lp.run(&mut log).unwrap();
            log.0
        });
        std::thread::sleep(Duration::from_millis(300));
        stop.stop();
        let log = thread.join().unwrap();
        assert_eq!(log.matches('u').count(), 150, "{log}");
        let tcp_at = log.find('t').expect("the connection was read");
        assert!(
            tcp_at < 100,
            "the TCP byte came after {tcp_at} of the 150 datagrams: {log}"
        );
    }

    #[test]
    fn timers_fire_in_order_and_cancelled_ones_do_not() {
        struct Clock {
            fired: Vec<u64>,
        }
        impl Service for Clock {
            fn on_open(&mut self, cx: &mut Cx<'_>, _conn: ConnId, _peer: SocketAddr) {
                let now = cx.now();
                cx.set_timer(now + Duration::from_millis(60), 2);
                cx.set_timer(now + Duration::from_millis(20), 1);
                cx.set_timer(now + Duration::from_millis(40), 3);
                cx.cancel_timer(3);
            }
            fn on_data(&mut self, _: &mut Cx<'_>, _: ConnId, _: &[u8]) {}
            fn on_timer(&mut self, _cx: &mut Cx<'_>, key: u64) {
                self.fired.push(key);
            }
        }
        let (tcp, _udp, stop, thread) = start(Clock { fired: vec![] }, Config::default());
        let _s = StdStream::connect(tcp).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        stop.stop();
        assert_eq!(thread.join().unwrap().fired, vec![1, 2]);
    }

    #[test]
    fn shutdown_flushes_goodbyes_then_closes() {
        struct Bye;
        impl Service for Bye {
            fn on_data(&mut self, _: &mut Cx<'_>, _: ConnId, _: &[u8]) {}
            fn on_open(&mut self, cx: &mut Cx<'_>, conn: ConnId, _: SocketAddr) {
                cx.send(conn, b"hi\n");
            }
            fn on_shutdown(&mut self, cx: &mut Cx<'_>) {
                for conn in 0..4 {
                    cx.send(conn, b"bye\n");
                }
            }
        }
        let (tcp, _udp, stop, thread) = start(Bye, Config::default());
        let clients: Vec<StdStream> = (0..3).map(|_| StdStream::connect(tcp).unwrap()).collect();
        std::thread::sleep(Duration::from_millis(100));
        stop.stop();
        for mut c in clients {
            c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut all = String::new();
            c.read_to_string(&mut all).unwrap();
            assert_eq!(all, "hi\nbye\n");
        }
        thread.join().unwrap();
    }

    #[test]
    fn the_buffer_pool_is_bounded_in_count_and_bytes() {
        let mut pool = BufferPool::default();
        assert_eq!(
            pool.take().capacity(),
            0,
            "empty: a new, unallocated buffer"
        );
        pool.put(Vec::new()); // nothing to keep
        assert!(pool.buffers.is_empty());
        for _ in 0..100 {
            pool.put(Vec::with_capacity(1024));
        }
        assert_eq!(pool.buffers.len(), BufferPool::MAX_BUFFERS);
        let mut pool = BufferPool::default();
        pool.put(Vec::with_capacity(BufferPool::MAX_BYTES + 1)); // too big: freed
        assert!(pool.buffers.is_empty());
        let mut full = Vec::with_capacity(4096);
        full.extend_from_slice(b"old bytes");
        pool.put(full);
        let again = pool.take();
        assert!(
            again.is_empty() && again.capacity() >= 4096,
            "cleared, capacity kept"
        );
        assert_eq!(pool.bytes, 0);
    }

    #[test]
    fn idle_connections_hold_no_buffers() {
        let (tcp, _udp, stop, thread) = start(Echo::default(), Config::default());
        let mut s = StdStream::connect(tcp).unwrap();
        s.write_all(&vec![1u8; 300_000]).unwrap();
        let mut back = vec![0u8; 300_000];
        s.read_exact(&mut back).unwrap();
        stop.stop();
        thread.join().unwrap();
        assert!(
            std::mem::size_of::<Option<Conn>>() <= 128,
            "a connection's slot stays small"
        );
    }
}
