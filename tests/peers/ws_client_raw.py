#!/usr/bin/env python3
"""A WebSocket echo client written from RFC 6455 on plain sockets, for lesson 12's grader.

    python3 ws_client_raw.py ws://127.0.0.1:PORT/PATH                 # a correct client
    python3 ws_client_raw.py --break unmasked ws://127.0.0.1:PORT/    # one classic mistake

It connects, checks the 101, then sends back every text and binary message the server sends,
answers pings, answers a Close with a Close echoing its code, and waits for the server to close
TCP. Exit status 0 after a clean close, 1 after a failed connection. It shares no code with the
course: it is an independent implementation that `course check 12` must pass, and each
`--break` mode is a mistake one check of the grader must catch.
"""
import argparse
import base64
import hashlib
import os
import socket
import sys

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BREAKS = [
    "none",
    "bad_request",  # sends Sec-WebSocket-Version: 8
    "unmasked",  # never masks
    "fixed_mask",  # one masking key for every frame
    "ignore_accept",  # does not check Sec-WebSocket-Accept
    "ignore_extensions",  # takes whatever extension or subprotocol the server names
    "accept_masked",  # unmasks a masked server frame instead of failing
    "no_pong",  # ignores pings
    "wrong_pong",  # answers pings with an empty pong
    "one_read_one_frame",  # takes each recv() for one whole frame
    "short_lengths",  # 16-bit length for everything over 125 bytes
    "no_utf8_check",  # echoes text without checking it is UTF-8
    "close_1000",  # answers every Close with 1000
    "close_tcp_first",  # closes TCP right after answering a Close
]


class Failed(Exception):
    def __init__(self, code, why):
        super().__init__(why)
        self.code = code


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--break", dest="brk", choices=BREAKS, default="none")
    p.add_argument("url")
    a = p.parse_args()
    brk = a.brk
    rest = a.url[len("ws://"):]
    hostport, _, path = rest.partition("/")
    host, _, port = hostport.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    version = "8" if brk == "bad_request" else "13"
    sock.sendall(
        (
            f"GET /{path} HTTP/1.1\r\nHost: {hostport}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: {version}\r\n\r\n"
        ).encode()
    )
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(4096)
        if not chunk:
            sys.exit("the server closed during the handshake")
        buf += chunk
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    if not lines[0].startswith("HTTP/1.1 101"):
        sys.exit(f"refused: {lines[0]}")
    if brk != "ignore_accept" and headers.get("sec-websocket-accept") != expected:
        sock.close()
        sys.exit("wrong Sec-WebSocket-Accept")
    if brk != "ignore_extensions" and (
        "sec-websocket-extensions" in headers or "sec-websocket-protocol" in headers
    ):
        sock.close()
        sys.exit("the server chose an extension or subprotocol we did not offer")

    fixed = os.urandom(4)

    def send(opcode, payload):
        if brk == "unmasked":
            mask = None
        elif brk == "fixed_mask":
            mask = fixed
        else:
            mask = os.urandom(4)
        n = len(payload)
        head = bytes([0x80 | opcode])
        m = 0x80 if mask else 0
        if n < 126:
            head += bytes([m | n])
        elif n <= 0xFFFF or brk == "short_lengths":
            head += bytes([m | 126]) + (n & 0xFFFF).to_bytes(2, "big")
        else:
            head += bytes([m | 127]) + n.to_bytes(8, "big")
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            head += mask
        sock.sendall(head + payload)

    def frames():
        nonlocal buf
        while True:
            if brk == "one_read_one_frame":
                # The mistake: whatever one recv() returns is taken for one frame.
                data = buf or sock.recv(65536)
                buf = b""
                if not data:
                    return
                yield parse(data, whole=True)[0]
                continue
            parsed = parse(buf)
            if parsed:
                frame, used = parsed
                buf = buf[used:]
                yield frame
                continue
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk

    def parse(data, whole=False):
        if len(data) < 2:
            return None if not whole else ((True, 0, b"?", False), len(data))
        fin, opcode = data[0] & 0x80, data[0] & 0x0F
        masked, n, at = data[1] & 0x80, data[1] & 0x7F, 2
        if data[0] & 0x70:
            raise Failed(1002, "reserved bits")
        if n == 126:
            if len(data) < 4:
                return None
            n, at = int.from_bytes(data[2:4], "big"), 4
        elif n == 127:
            if len(data) < 10:
                return None
            n, at = int.from_bytes(data[2:10], "big"), 10
        mask = None
        if masked:
            if brk != "accept_masked":
                raise Failed(1002, "a masked frame from the server")
            mask, at = data[at:at + 4], at + 4
        if not whole and len(data) < at + n:
            return None
        payload = data[at:at + n]
        if mask:
            payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return (fin, opcode, payload, masked), at + n

    message, kind = b"", None
    try:
        for fin, opcode, payload, _ in frames():
            if opcode == 0x9:
                if brk == "wrong_pong":
                    send(0xA, b"")
                elif brk != "no_pong":
                    send(0xA, payload)
            elif opcode == 0xA:
                pass
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
                if brk == "close_1000" or code is None:
                    send(0x8, (1000).to_bytes(2, "big") if code is not None else b"")
                else:
                    send(0x8, code.to_bytes(2, "big"))
                if brk == "close_tcp_first":
                    sock.close()
                    return 0
                # Wait for the server to close TCP (RFC 6455 7.1.1).
                sock.settimeout(5)
                try:
                    while sock.recv(4096):
                        pass
                except OSError:
                    pass
                sock.close()
                return 0
            elif opcode in (0x1, 0x2, 0x0):
                if opcode != 0:
                    kind = opcode
                message += payload
                if fin:
                    if kind == 0x1 and brk != "no_utf8_check":
                        try:
                            message.decode("utf-8")
                        except UnicodeDecodeError:
                            raise Failed(1007, "invalid UTF-8")
                    send(kind, message)
                    message = b""
            else:
                raise Failed(1002, f"opcode {opcode}")
    except Failed as f:
        send(0x8, f.code.to_bytes(2, "big"))
        sock.close()
        print(f"failed: {f}", file=sys.stderr)
        return 1
    print("the server closed TCP without a Close", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
