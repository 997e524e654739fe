#!/usr/bin/env python3
"""A UDP echo server in Python, to prove that the lesson 02 grader judges any implementation
by its datagrams alone.

    python3 tests/peers/udp_echo.py --addr 127.0.0.1:0
"""
import argparse
import socket


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7002")
    host, port = parser.parse_args().addr.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, int(port)))
    host, port = sock.getsockname()
    print(f"listening on udp://{host}:{port}", flush=True)
    while True:
        try:
            data, peer = sock.recvfrom(65535)
            sock.sendto(data, peer)
        except OSError:
            continue  # an error about one datagram never stops the server


if __name__ == "__main__":
    main()
