#!/usr/bin/env python3
"""Lesson 08's live feed (lessons/08-http-realtime/PROTOCOL.md) written independently, in
Python with the standard library only: polling, long polling, chunked streaming and
Server-Sent Events on http.server's ThreadingHTTPServer, one thread per connection.

The tests grade it as a server nobody here wrote (it must pass every check), and start it with
`--break NAME` to make one deliberate mistake (each must be caught by a check).

    python3 tests/peers/realtime_server.py --addr 127.0.0.1:0 [--tick-ms 1000] [--break NAME]
"""

import argparse
import collections
import json
import select
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

MISTAKES = {
    "poll-latest-only": "/poll answers with the latest event only, not all after the cursor",
    "json-no-escape": "event data is put between quotes as it is",
    "no-cache-control": "no Cache-Control: no-store anywhere",
    "longpoll-immediate": "/longpoll answers at once, like /poll",
    "longpoll-sleeps": "a held long poll looks for events every 2.5 s instead of being woken",
    "longpoll-ignores-since": "/longpoll waits for the next new event whatever the cursor",
    "longpoll-no-timeout": "/longpoll ignores timeout= and holds for 25 s",
    "longpoll-204-closes": "/longpoll closes the connection after its 204",
    "stream-batches": "a stream writes events 8 at a time",
    "chunk-size-decimal": "chunk sizes are written in decimal",
    "stream-not-chunked": "HTTP/1.1 streams are sent unframed, ended by the close",
    "chunked-to-http10": "HTTP/1.0 clients get a chunked stream too",
    "sse-text-plain": "/events is sent as text/plain",
    "sse-no-retry": "/events does not start with retry:",
    "sse-no-id": "SSE events have no id: line",
    "sse-no-blank-line": "SSE events are not ended by a blank line",
    "sse-ignores-last-event-id": "/events takes its cursor from since= only",
    "publish-accepts-lf": "publish takes any body, line breaks and bad UTF-8 included",
    "publish-no-limit": "publish takes data of any size",
    "slow-client-blocks": "publish writes each event to every stream itself, blocking on a slow one",
    "slow-client-unbounded": "each stream's queue grows without limit",
    "leaks-abandoned": "held long polls and idle streams never notice that their client left",
}

HISTORY = 1000
MAX_DATA = 4096
MAX_OUTPUT = 1 << 20
RETRY_MS = 2000
KEEPALIVE_SECS = 15


class Subscriber:
    def __init__(self, sse, sock):
        self.sse = sse
        self.sock = sock
        self.queue = collections.deque()
        self.queued = 0
        self.dropped = False


class Feed:
    """The events, who streams them, and one condition that wakes everyone waiting."""

    def __init__(self, mistake):
        self.mistake = mistake
        self.cond = threading.Condition()
        self.events = collections.deque(maxlen=HISTORY)
        self.latest = 0
        self.subscribers = []

    def after(self, since):
        """Kept events with ids above `since` (the caller holds the lock)."""
        return [e for e in self.events if e[0] > since]

    def publish(self, data):
        with self.cond:
            self.latest += 1
            event = (self.latest, data)
            self.events.append(event)
            for sub in self.subscribers:
                self.deliver(sub, event)
            self.cond.notify_all()
            return self.latest

    def deliver(self, sub, event):
        out = frame(sub, format_event(event, sub.sse, self.mistake), self.mistake)
        if self.mistake == "slow-client-blocks":
            try:
                sub.sock.sendall(out)  # under the lock: one slow client blocks everyone
            except OSError:
                sub.dropped = True
            return
        if sub.dropped:
            return
        sub.queue.append(out)
        sub.queued += len(out)
        if sub.queued > MAX_OUTPUT and self.mistake != "slow-client-unbounded":
            # The policy for a client that does not keep up: drop it.
            sub.dropped = True
            sub.queue.clear()
            try:
                sub.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def json_string(text, mistake):
    if mistake == "json-no-escape":
        return '"' + text + '"'
    return json.dumps(text, ensure_ascii=False)


def format_event(event, sse, mistake):
    ident, data = event
    if sse:
        lines = ""
        if mistake != "sse-no-id":
            lines += "id: %d\n" % ident
        lines += "data: %s\n" % data
        if mistake != "sse-no-blank-line":
            lines += "\n"
        return lines.encode()
    return ('{"id":%d,"data":%s}\n' % (ident, json_string(data, mistake))).encode()


def frame(sub, payload, mistake):
    if not getattr(sub, "chunked", True):
        return payload
    if mistake == "chunk-size-decimal":
        return b"%d\r\n" % len(payload) + payload + b"\r\n"
    return b"%x\r\n" % len(payload) + payload + b"\r\n"


def gone(sock):
    """Whether the client closed or reset (a read would return end of stream or fail)."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class BadRequest(Exception):
    pass


def cursor(value, latest):
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequest()
    return min(int(value), latest)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    feed = None  # set in main

    def log_message(self, *args):
        pass

    @property
    def mistake(self):
        return self.feed.mistake

    def answer(self, status, body=b"", ctype="application/json", close=False):
        self.send_response(status)
        if status != 204:
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
        if self.mistake != "no-cache-control":
            self.send_header("Cache-Control", "no-store")
        if close:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if status != 204:
            self.wfile.write(body)

    def refuse(self, status):
        """Answer, stop sending, and read what the client still sends for a moment before the
        close: closing with unread input would reset the connection and lose the answer."""
        self.answer(status, b"%d\n" % status, "text/plain", close=True)
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.3)
            while self.connection.recv(65536):
                pass
        except OSError:
            pass

    def poll_answer(self, events, since):
        if self.mistake == "poll-latest-only":
            events = events[-1:]
        listed = ",".join(
            '{"id":%d,"data":%s}' % (i, json_string(d, self.mistake)) for i, d in events
        )
        last = events[-1][0] if events else self.feed.latest
        return ('{"events":[%s],"cursor":%d}' % (listed, last)).encode()

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        try:
            route = {
                "/poll": self.poll,
                "/longpoll": self.longpoll,
                "/stream": lambda q: self.stream(q, sse=False),
                "/events": lambda q: self.stream(q, sse=True),
            }.get(url.path)
            if route is None:
                self.answer(404, b"not found\n", "text/plain")
            else:
                route(query)
        except BadRequest:
            self.refuse(400)

    def poll(self, query):
        feed = self.feed
        with feed.cond:
            since = cursor(query.get("since"), feed.latest)
            events = feed.after(since if since is not None else feed.latest)
            body = self.poll_answer(events, since)
        self.answer(200, body)

    def longpoll(self, query):
        feed = self.feed
        timeout = query.get("timeout", "25")
        if not timeout.isdigit() or not 1 <= int(timeout) <= 60:
            raise BadRequest()
        timeout = 25 if self.mistake == "longpoll-no-timeout" else int(timeout)
        if self.mistake == "longpoll-immediate":
            return self.poll(query)
        deadline = time.monotonic() + timeout
        with feed.cond:
            since = cursor(query.get("since"), feed.latest)
            if since is None or self.mistake == "longpoll-ignores-since":
                since = feed.latest
            while True:
                events = feed.after(since)
                left = deadline - time.monotonic()
                if events or left <= 0:
                    break
                if self.mistake == "longpoll-sleeps":
                    feed.cond.release()
                    time.sleep(min(2.5, left))
                    feed.cond.acquire()
                else:
                    feed.cond.wait(min(0.2, left))
                if self.mistake != "leaks-abandoned" and gone(self.connection):
                    self.close_connection = True
                    return
            body = self.poll_answer(events, since) if events else None
        if body is None:
            self.answer(204, close=self.mistake == "longpoll-204-closes")
        else:
            self.answer(200, body)

    def stream(self, query, sse):
        feed = self.feed
        sub = Subscriber(sse, self.connection)
        sub.chunked = self.request_version == "HTTP/1.1" or self.mistake == "chunked-to-http10"
        if self.mistake == "stream-not-chunked":
            sub.chunked = False
        self.send_response(200)
        if sse and self.mistake == "sse-text-plain":
            self.send_header("Content-Type", "text/plain")
        elif sse:
            self.send_header("Content-Type", "text/event-stream")
        else:
            self.send_header("Content-Type", "application/x-ndjson")
        if self.mistake != "no-cache-control":
            self.send_header("Cache-Control", "no-store")
        if sub.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Connection", "close")
        self.close_connection = True
        with feed.cond:
            value = query.get("since")
            if sse and self.mistake != "sse-ignores-last-event-id":
                value = self.headers.get("Last-Event-ID", value)
            since = cursor(value, feed.latest)
            backlog = feed.after(since) if since is not None else []
            self.end_headers()
            if sse and self.mistake != "sse-no-retry":
                self.wfile.write(frame(sub, b"retry: %d\n\n" % RETRY_MS, self.mistake))
            for event in backlog:
                feed.deliver(sub, event)
            feed.subscribers.append(sub)
        last_write = time.monotonic()
        try:
            while True:
                with feed.cond:
                    while not sub.dropped:
                        if sub.queue and not (
                            self.mistake == "stream-batches" and len(sub.queue) < 8
                        ):
                            break
                        feed.cond.wait(0.2)
                        if self.mistake != "leaks-abandoned" and gone(self.connection):
                            return
                        if sse and time.monotonic() - last_write > KEEPALIVE_SECS:
                            sub.queue.append(frame(sub, b": keep-alive\n\n", self.mistake))
                    if sub.dropped:
                        return
                    out = b"".join(sub.queue)
                    sub.queue.clear()
                    sub.queued = 0
                self.wfile.write(out)
                last_write = time.monotonic()
        except OSError:
            pass
        finally:
            with feed.cond:
                if sub in feed.subscribers:
                    feed.subscribers.remove(sub)

    def do_POST(self):
        if urlsplit(self.path).path != "/api/publish":
            return self.answer(404, b"not found\n", "text/plain")
        length = self.headers.get("Content-Length", "")
        if not length.isdigit():
            return self.refuse(400)
        length = int(length)
        if length > MAX_DATA and self.mistake != "publish-no-limit":
            return self.refuse(413)
        body = self.rfile.read(length)
        try:
            data = body.decode("utf-8")
            if "\r" in data or "\n" in data:
                raise ValueError()
        except ValueError:
            if self.mistake != "publish-accepts-lf":
                return self.answer(400, b"data must be one line of UTF-8\n", "text/plain")
            data = body.decode("utf-8", "replace")
        ident = self.feed.publish(data)
        self.answer(200, b'{"id":%d}' % ident)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7008")
    parser.add_argument("--tick-ms", type=int, default=0)
    parser.add_argument("--break", dest="mistake", choices=sorted(MISTAKES))
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    Handler.feed = feed = Feed(args.mistake)
    server = ThreadingHTTPServer((host, int(port)), Handler)
    server.daemon_threads = True
    if args.tick_ms > 0:

        def tick():
            price = 100.0
            while True:
                time.sleep(args.tick_ms / 1000)
                price += 0.25
                feed.publish(
                    '{"symbol":"NETC","price":"%.2f","at":%d}' % (price, time.time() * 1000)
                )

        threading.Thread(target=tick, daemon=True).start()
    ip, port = server.server_address[:2]
    print("listening on http://%s:%d" % (ip, port), flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
