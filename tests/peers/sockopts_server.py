#!/usr/bin/env python3
"""A well-configured TCP echo server written the Python way, to prove that the lesson 16
grader judges any implementation: socketserver with one thread per connection, and the options
a production server sets, each with Python's own setsockopt.

    python3 tests/peers/sockopts_server.py --addr 127.0.0.1:0
    python3 tests/peers/sockopts_server.py --addr 127.0.0.1:0 --break nagle

--break NAME leaves out one option (or the echo itself), to show the grader catching it:
no-echo, no-reuseaddr, v6only, tiny-backlog, nagle, no-keepalive.
"""
import argparse
import socket
import socketserver

MISTAKES = ["no-echo", "no-reuseaddr", "v6only", "tiny-backlog", "nagle", "no-keepalive"]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7016")
    parser.add_argument("--break", dest="mistake", choices=MISTAKES)
    args = parser.parse_args()
    mistake = args.mistake
    host, port = args.addr.rsplit(":", 1)
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    class Echo(socketserver.BaseRequestHandler):
        def setup(self):
            sock = self.request
            if mistake != "nagle":
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if mistake != "no-keepalive":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 120)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 15)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 4)

        def handle(self):
            sock = self.request
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    if mistake == "no-echo":
                        data = data.upper()
                    sock.sendall(data)
                sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    class Server(socketserver.ThreadingTCPServer):
        address_family = family
        allow_reuse_address = mistake != "no-reuseaddr"
        daemon_threads = True
        # socketserver's default, 5, is the classic tiny backlog.
        request_queue_size = 5 if mistake == "tiny-backlog" else 512

        def server_bind(self):
            if family == socket.AF_INET6:
                only = 1 if mistake == "v6only" else 0
                self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, only)
            super().server_bind()

    with Server((host, int(port)), Echo) as server:
        host, port = server.server_address[:2]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        print(f"listening on tcp://{shown}:{port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
