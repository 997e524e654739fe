#!/usr/bin/env python3
"""A TCP echo server written the Python way, to prove that the lesson 01 grader judges any
implementation by its bytes alone. One thread per connection (socketserver), unlike the
Rust reference, which serves one client at a time.

    python3 tests/peers/tcp_echo.py --addr 127.0.0.1:0
"""
import argparse
import socket
import socketserver


class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        try:
            while True:
                data = sock.recv(65536)
                if not data:  # the client half-closed: echo is complete
                    break
                sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # a reset ends this connection only


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7001")
    host, port = parser.parse_args().addr.rsplit(":", 1)
    with Server((host, int(port)), Echo) as server:
        host, port = server.server_address[:2]
        print(f"listening on tcp://{host}:{port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
