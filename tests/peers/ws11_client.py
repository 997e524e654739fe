#!/usr/bin/env python3
"""Lesson 11's server against a client nobody here wrote: Python's `websockets` library.

    python3 tests/peers/ws11_client.py target/debug/11-ws-server

Starts the server three times on free ports (the defaults; `--max-message 1024`; one to stop
with SIGTERM) and runs every case against /echo: messages of every kind and size, fragments,
ping, and every way a connection ends. Prints one `ok CASE: detail` line per case and stops
with exit status 1 at the first case that fails.

What the library refuses to produce (text that is not UTF-8, an unmasked frame) is sent over a
raw socket with the small frame encoder below, and so is the check that the server, not the
client, closes TCP after the closing handshake (the library hides who closed first).
"""

import asyncio
import base64
import os
import signal
import socket
import struct
import subprocess
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

MIB = 1 << 20


class Failed(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failed(message)


def ok(case, detail=""):
    print(f"ok {case}: {detail}" if detail else f"ok {case}", flush=True)


def start(binary, *flags):
    """The server on a free port; returns the process and its ws:// base address."""
    proc = subprocess.Popen(
        [binary, "--addr", "127.0.0.1:0", *flags], stdout=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline().strip()
    check(line.startswith("listening on ws://"), f"not a listening line: {line!r}")
    return proc, line.removeprefix("listening on ")


def client(base, path="/echo", **kw):
    # No compression (the server declines it anyway), no proxy from the environment, no
    # keepalive pings of the library's own (the ping case sends its own), and room for the
    # 16 MiB message plus the frame header.
    return connect(
        base + path,
        compression=None,
        proxy=None,
        ping_interval=None,
        max_size=32 * MIB,
        close_timeout=5,
        **kw,
    )


# ---- Messages through the library -------------------------------------------------------------


async def echo(ws, message):
    await ws.send(message)
    back = await ws.recv()
    check(type(back) is type(message), f"sent {type(message).__name__}, got {type(back).__name__}")
    check(back == message, f"echo differs: sent {len(message)}, got {len(back)} ({back[:40]!r})")
    return back


async def messages(base):
    async with client(base) as ws:
        await echo(ws, "hello, lesson 11")
        ok("text", "'hello, lesson 11' back as text")
        text = "héllo wörld — ✓ 日本語 𝄞"
        await echo(ws, text)
        ok("non-ascii text", f"{len(text)} characters, {len(text.encode())} bytes of UTF-8")
        await echo(ws, bytes(range(256)))
        ok("binary", "bytes 0..255 back as binary")
        await echo(ws, "")
        ok("empty text", "'' back as text")
        await echo(ws, b"")
        ok("empty binary", "b'' back as binary")
        await echo(ws, "x")
        await echo(ws, b"\x00")
        ok("1-byte", "'x' and b'\\x00'")
        big = os.urandom(4 * MIB)
        await echo(ws, big)
        await echo(ws, "ab" * (2 * MIB))
        ok("4 MiB", "binary (random bytes) and text")
        # Exactly the default limit: the largest message /echo accepts.
        await echo(ws, big * 4)
        ok("16 MiB", f"{16 * MIB} bytes, the default --max-message")

        # A list is sent as fragments: the first frame, then one continuation per item.
        # The echo is one message, reassembled.
        await ws.send(["frag", "mented ", "téxt", ""])
        back = await ws.recv()
        check(back == "fragmented téxt", f"fragmented text came back as {back!r}")

        async def chunks():
            for i in range(5):
                yield bytes([i]) * 1000

        await ws.send(chunks())
        back = await ws.recv()
        check(back == b"".join(bytes([i]) * 1000 for i in range(5)), "fragmented binary differs")
        ok("fragmented", "4 text fragments and 5 binary fragments (async iterator), each back as one message")

        # The library resolves the waiter only for a pong carrying this ping's payload.
        payload = b"are you there? \x00\xff"
        waiter = await ws.ping(payload)
        latency = await asyncio.wait_for(waiter, 10)
        check(latency >= 0, "no latency")
        ok("ping", f"pong with the payload {payload!r}")
    check(ws.close_code == 1000, f"close code {ws.close_code}")
    check(ws.close_reason == "", f"close reason {ws.close_reason!r}")
    ok("client close 1000", "the server echoed 1000; a clean close")


async def client_close_4000(base):
    ws = await client(base)
    await echo(ws, "before the close")
    await ws.close(4000, "done here")
    check(ws.close_code == 4000, f"the server answered close code {ws.close_code}")
    # RFC 6455 5.5.1: the endpoint "typically echos the status code it received"; the
    # reason is ours to choose, and this server sends none.
    check(ws.close_reason == "", f"close reason {ws.close_reason!r}")
    try:
        await ws.recv()
        raise Failed("recv after the close returned a message")
    except ConnectionClosed as e:
        # The library files any code but 1000 and 1001 under ConnectionClosedError; what makes
        # the close clean is that both Close frames went across, ours first.
        check(e.sent is not None and e.rcvd is not None, f"sent {e.sent}, received {e.rcvd}")
        check(e.sent.code == 4000 and e.sent.reason == "done here", f"sent {e.sent}")
        check(e.rcvd.code == 4000 and e.rcvd_then_sent is False, f"received {e.rcvd}")
    ok("client close 4000", "code 4000 with reason 'done here'; the server echoed 4000; clean")


async def too_big(small):
    async with client(small) as ws:
        await echo(ws, "y" * 1024)
        try:
            await ws.send("z" * 1025)
            await ws.recv()
            raise Failed("a 1025-byte message came back from --max-message 1024")
        except ConnectionClosedError as e:
            check(e.rcvd is not None and e.rcvd.code == 1009, f"closed with {e.rcvd}")
    check(ws.close_code == 1009, f"close_code {ws.close_code}")
    ok("server close 1009", f"1024 bytes echoed, 1025 closed with 1009 {ws.close_reason!r}")
    # The limit is on the message, not on each frame: two fragments of 600 are too many.
    async with client(small) as ws:
        try:
            await ws.send(["a" * 600, "b" * 600])
            await ws.recv()
            raise Failed("a fragmented 1200-byte message came back")
        except ConnectionClosedError as e:
            check(e.rcvd is not None and e.rcvd.code == 1009, f"closed with {e.rcvd}")
    ok("server close 1009 fragmented", "600 + 600 bytes in two fragments")


async def sigterm(binary):
    proc, base = start(binary)
    try:
        ws = await client(base)
        await echo(ws, "still here")
        proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(ws.recv(), 10)
            raise Failed("a message after SIGTERM")
        except ConnectionClosed as e:
            check(e.rcvd is not None and e.rcvd.code == 1001, f"closed with {e.rcvd}")
        check(ws.close_code == 1001, f"close_code {ws.close_code}")
        status = await asyncio.to_thread(proc.wait, 10)
        check(status == 0, f"the server exited with {status}")
        ok("server close 1001 on SIGTERM", f"reason {ws.close_reason!r}; the server exited 0")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# ---- Raw frames: what the library will not send ---------------------------------------------


def raw_connect(base, path="/echo"):
    host, port = base.removeprefix("ws://").rsplit(":", 1)
    s = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        check(chunk, f"EOF in the 101: {head!r}")
        head += chunk
    check(head.startswith(b"HTTP/1.1 101 "), f"not a 101: {head!r}")
    return s


def frame(opcode, payload, fin=True, mask=True, key=None):
    """RFC 6455 5.2: FIN and opcode, then MASK and the length (7 bits, or 126 + 16 bits, or
    127 + 64 bits), the masking key, the payload XORed with it."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    if n < 126:
        head += bytes([m | n])
    elif n < 1 << 16:
        head += bytes([m | 126]) + struct.pack("!H", n)
    else:
        head += bytes([m | 127]) + struct.pack("!Q", n)
    if not mask:
        return head + payload
    key = key or os.urandom(4)
    if key == bytes(4):
        # An all-zero key is a key like any other (the client picks it), and XOR with it is
        # a no-op: the way to send megabytes from pure Python without masking them byte by byte.
        return head + key + payload
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        check(chunk, f"EOF after {len(data)} of {n} bytes")
        data += chunk
    return data


def read_frame(s):
    """One server frame: (fin, opcode, payload). Server frames are never masked (5.1)."""
    b0, b1 = read_exact(s, 2)
    check(b1 & 0x80 == 0, "the server masked a frame")
    n = b1 & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", read_exact(s, 2))
    elif n == 127:
        (n,) = struct.unpack("!Q", read_exact(s, 8))
    return bool(b0 & 0x80), b0 & 0x0F, read_exact(s, n)


def expect_close(s, code):
    fin, opcode, payload = read_frame(s)
    check(opcode == 0x8, f"expected a Close, got opcode {opcode:#x} {payload[:40]!r}")
    got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
    check(got == code, f"expected close {code}, got {got} {payload[2:]!r}")
    return payload[2:].decode()


def expect_eof(s):
    """After its Close the server closes TCP (RFC 6455 7.1.1: "the server SHOULD close the
    underlying TCP connection first"): the next read is the end of the stream."""
    try:
        rest = s.recv(100)
    except ConnectionResetError:
        raise Failed("the connection was reset instead of closed")
    check(rest == b"", f"bytes after the Close: {rest!r}")


def raw_cases(base):
    with raw_connect(base) as s:
        s.sendall(frame(0x1, "ok ".encode() + b"\xff\xfe not UTF-8"))
        reason = expect_close(s, 1007)
        expect_eof(s)
    ok("server close 1007", f"text with bytes ff fe: {reason!r}, then TCP closed")

    with raw_connect(base) as s:
        # Invalid in the middle of a fragmented message: the server may fail it at once.
        s.sendall(frame(0x1, "caf".encode(), fin=False) + frame(0x0, b"\xc3\x28", fin=True))
        reason = expect_close(s, 1007)
        expect_eof(s)
    ok("server close 1007 fragmented", f"c3 28 in a continuation: {reason!r}")

    with raw_connect(base) as s:
        # One byte over the default 16 MiB: the frame's header says so, and the server need
        # not read the payload to refuse it.
        # FIN + binary, MASK + 127, the 64-bit length, a (zero) masking key; no payload.
        s.sendall(bytes([0x82, 0x80 | 127]) + struct.pack("!Q", 16 * MIB + 1) + bytes(4))
        reason = expect_close(s, 1009)
    ok("server close 1009 at 16 MiB + 1", f"from the frame header alone: {reason!r}")

    with raw_connect(base) as s:
        # Exactly 16 MiB in a first fragment, then a continuation of 1 byte: the message is
        # over the limit although each frame is not.
        s.sendall(frame(0x2, bytes(16 * MIB), fin=False, key=bytes(4)))
        s.sendall(frame(0x0, b"!", key=bytes(4)))
        reason = expect_close(s, 1009)
    ok("server close 1009 at 16 MiB + 1 fragmented", f"16 MiB + 1 byte: {reason!r}")

    with raw_connect(base) as s:
        # RFC 6455 5.1: "The server MUST close the connection upon receiving a frame that is
        # not masked ... a server MAY send a Close frame with a status code of 1002".
        s.sendall(frame(0x1, b"unmasked", mask=False))
        reason = expect_close(s, 1002)
        expect_eof(s)
    ok("server close 1002", f"an unmasked frame: {reason!r}, then TCP closed")

    with raw_connect(base) as s:
        # A ping between two fragments of a message: answered at once (5.4: control frames
        # "MAY be injected in the middle of a fragmented message"), with its own payload.
        s.sendall(frame(0x1, b"one ", fin=False) + frame(0x9, b"ping payload"))
        fin, opcode, payload = read_frame(s)
        check((fin, opcode, payload) == (True, 0xA, b"ping payload"), f"got {opcode:#x} {payload!r}")
        s.sendall(frame(0x0, b"two", fin=True))
        fin, opcode, payload = read_frame(s)
        check((fin, opcode, payload) == (True, 0x1, b"one two"), f"got {opcode:#x} {payload!r}")
        ok("raw ping", "a pong with the ping's payload in the middle of a fragmented message")

        # The closing handshake, then the server's TCP close.
        s.sendall(frame(0x8, struct.pack("!H", 1000) + b"bye"))
        expect_close(s, 1000)
        expect_eof(s)
    ok("server closes tcp", "close 1000 echoed, then the server closed TCP")


async def main():
    if len(sys.argv) != 2:
        sys.exit("usage: ws11_client.py PATH/TO/11-ws-server")
    binary = sys.argv[1]
    procs = []
    try:
        proc, base = start(binary)
        procs.append(proc)
        proc, small = start(binary, "--max-message", "1024")
        procs.append(proc)
        await asyncio.wait_for(messages(base), 120)
        await asyncio.wait_for(client_close_4000(base), 30)
        await asyncio.wait_for(too_big(small), 30)
        await asyncio.to_thread(raw_cases, base)
        await asyncio.wait_for(sigterm(binary), 30)
    except (Failed, ConnectionClosed, OSError, asyncio.TimeoutError) as e:
        print(f"FAIL: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    finally:
        for p in procs:
            p.kill()
            p.wait()
    print("all cases passed")


asyncio.run(main())
