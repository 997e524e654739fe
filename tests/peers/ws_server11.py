#!/usr/bin/env python3
"""Lesson 11's interface served by Python's `websockets` library (nobody here wrote its frame
code), to prove that `course check 11` judges any implementation by its bytes alone.

    python3 tests/peers/ws_server11.py --addr 127.0.0.1:0     # prints: listening on ws://IP:PORT
    python3 tests/peers/ws_server11.py --break sender-left-out  # one deliberate mistake

- `GET /` (plain HTTP): a chat page whose script opens a WebSocket to /chat.
- `/echo` (Upgrade): every message back, as one message of the same type.
- `/chat?room=R&name=N` (Upgrade): each text message to every member of room R, sender
  included, as `N: TEXT`; binary is refused with close 1003.
- SIGTERM or SIGINT: every open WebSocket gets a Close 1001 (going away), then the process ends.

A member whose unsent output passes SLOW_LIMIT bytes is dropped, so one that never reads
neither stalls its room nor grows the server's memory.

`--break NAME` makes one mistake a learner could make (see BREAKS); the lesson 11 grader test
proves that the check named beside it catches the mistake. Mistakes in the frame layer itself
(masking, close codes, UTF-8) cannot be made with this library, which refuses to send bad
frames: the test file has a small Rust server for those.
"""
import argparse
import asyncio
import http
import os
import signal
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import broadcast, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

BREAKS = {
    "sender-left-out": "chat delivers to every member but the sender",
    "one-room": "chat ignores the room: every member hears every room",
    "no-percent-decoding": "the query is split on & and = but %XX is left encoded",
    "vanished-member-stops-delivery": "members are never removed, and a failed send ends the fan-out",
    "slow-member-blocks": "chat awaits each member's send in turn, so a member that never reads blocks the sender",
    "slow-member-unbounded": "chat queues for a member that never reads without any limit",
    "page-not-html": "the page at / is served as text/plain",
    "plain-get-served": "a GET of /echo without Upgrade is answered with the page",
    "max-size-1mib": "the library's default message limit (1 MiB) is left as it is",
    "no-going-away": "SIGTERM ends the process at once, without closing the WebSockets",
    "buffer-per-connection": "every connection allocates a 256 KiB receive buffer up front",
    "connection-table-256": "a fixed table of 256 connections: the 257th is refused",
    "room-of-8": "a room is a fixed array of 8 members: the 9th and later are never added",
}

# Unsent bytes a chat member may have queued before it is dropped as too slow.
SLOW_LIMIT = 1 << 20

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>chat (lesson 11 test peer)</title></head>
<body>
<ul id="log"></ul>
<form id="f"><input id="msg" autocomplete="off"><button>send</button></form>
<script>
const params = new URLSearchParams(location.search);
const room = encodeURIComponent(params.get("room") || "lobby");
const name = encodeURIComponent(params.get("name") || "guest");
const ws = new WebSocket(`ws://${location.host}/chat?room=${room}&name=${name}`);
ws.onmessage = (e) => {
  const li = document.createElement("li");
  li.textContent = e.data;
  document.getElementById("log").append(li);
};
document.getElementById("f").onsubmit = (e) => {
  e.preventDefault();
  ws.send(document.getElementById("msg").value);
  document.getElementById("msg").value = "";
};
</script>
</body></html>
"""


def respond(status, content_type, body, extra=()):
    body = body.encode() if isinstance(body, str) else body
    headers = Headers(
        [
            ("Content-Type", content_type),
            ("Content-Length", str(len(body))),
            ("Connection", "close"),
            *extra,
        ]
    )
    return Response(status.value, status.phrase, headers, body)


class Server:
    def __init__(self, mistake):
        self.mistake = mistake
        # room -> members in the order they joined (a dict keeps insertion order).
        self.rooms = {}
        self.open = 0

    def broke(self, name):
        return self.mistake == name

    # ---- Plain HTTP, before the handshake ----------------------------------------------------

    def process_request(self, connection, request):
        path = urlsplit(request.path).path
        upgrade = any(
            "websocket" in v.lower() for v in request.headers.get_all("Upgrade")
        )
        page_type = "text/plain" if self.broke("page-not-html") else "text/html; charset=utf-8"
        if path == "/" and not upgrade:
            return respond(http.HTTPStatus.OK, page_type, PAGE)
        if path not in ("/echo", "/chat"):
            return respond(http.HTTPStatus.NOT_FOUND, "text/plain", f"no {path} here\n")
        if not upgrade:
            if self.broke("plain-get-served"):
                return respond(http.HTTPStatus.OK, page_type, PAGE)
            return respond(
                http.HTTPStatus.UPGRADE_REQUIRED,
                "text/plain",
                f"{path} speaks WebSocket only\n",
                [("Upgrade", "websocket")],
            )
        if self.broke("connection-table-256") and self.open >= 256:
            return respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "text/plain", "table full\n")
        return None

    # ---- WebSockets --------------------------------------------------------------------------

    async def handler(self, ws):
        self.open += 1
        if self.broke("buffer-per-connection"):
            ws.receive_buffer = bytearray(b"\x01" * (256 * 1024))
        try:
            url = urlsplit(ws.request.path)
            if url.path == "/echo":
                async for message in ws:
                    await ws.send(message)
            else:
                room, name = self.query(url.query)
                await self.chat(ws, room, name)
        except ConnectionClosed:
            pass  # the peer vanished, or the close handshake timed out: nothing to tell
        finally:
            self.open -= 1

    def query(self, query):
        if self.broke("no-percent-decoding"):
            fields = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
        else:
            fields = {k: v[0] for k, v in parse_qs(query).items()}
        return fields.get("room", "lobby"), fields.get("name", "anonymous")

    async def chat(self, ws, room, name):
        if self.broke("one-room"):
            room = "the only room"
        members = self.rooms.setdefault(room, {})
        if not (self.broke("room-of-8") and len(members) >= 8):
            members[ws] = name
        await self.deliver(ws, members, f"* {name} joined")
        try:
            async for message in ws:
                if isinstance(message, bytes):
                    await ws.close(1003, "this chat takes text only")
                    break
                await self.deliver(ws, members, f"{name}: {message}")
        finally:
            if not self.broke("vanished-member-stops-delivery"):
                members.pop(ws, None)
                await self.deliver(ws, members, f"* {name} left")

    async def deliver(self, sender, members, text):
        targets = [m for m in members if not (self.broke("sender-left-out") and m is sender)]
        if self.broke("slow-member-blocks") or self.broke("vanished-member-stops-delivery"):
            for member in targets:
                await member.send(text)
            return
        for member in targets:
            transport = member.transport
            if (
                not self.broke("slow-member-unbounded")
                and transport is not None
                and transport.get_write_buffer_size() > SLOW_LIMIT
            ):
                # Too slow: drop it rather than queue without end or wait for it.
                transport.abort()
                continue
            broadcast([member], text)


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7011")
    parser.add_argument("--break", dest="mistake", choices=sorted(BREAKS))
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    server = Server(args.mistake)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(
            sig, lambda: stop.done() or stop.set_result(None)
        )
    async with serve(
        server.handler,
        host,
        int(port),
        # No permessage-deflate: the grader's frames are plain, and so must the echoes be.
        compression=None,
        process_request=server.process_request,
        max_size=(1 << 20) if server.broke("max-size-1mib") else 16 << 20,
        max_queue=16,
        open_timeout=10,
    ) as ws_server:
        addr = ws_server.sockets[0].getsockname()
        print(f"listening on ws://{addr[0]}:{addr[1]}", flush=True)
        await stop
        if server.broke("no-going-away"):
            os._exit(0)
        # close() sends every open connection a Close 1001 (going away) and waits for them.
        ws_server.close(close_connections=True)
        await ws_server.wait_closed()


if __name__ == "__main__":
    asyncio.run(main())
