#!/usr/bin/env python3
"""An event-loop echo server for TCP and UDP on one selector, written the Python way, to prove
that the lesson 05 grader judges any implementation by its bytes and its process alone.

    python3 tests/peers/event_echo.py --addr 127.0.0.1:0

Like the reference: non-blocking sockets, one selector (epoll), write interest only while
output is queued, and backpressure (stop reading from a client whose echoes pile up).
"""
import argparse
import selectors
import socket

PAUSE_ABOVE = 64 * 1024


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7005")
    host, port = parser.parse_args().addr.rsplit(":", 1)

    sel = selectors.DefaultSelector()
    # TCP and UDP on the same port number. With port 0 the kernel picks a free TCP port, and
    # that number may be taken for UDP by someone else (tests run in parallel): then try again.
    for attempt in range(50):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, int(port)))
        chosen = listener.getsockname()[1]
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            udp.bind((host, chosen))
            break
        except OSError:
            listener.close()
            udp.close()
            if int(port) != 0 or attempt == 49:
                raise
    port = chosen
    listener.listen(1024)
    listener.setblocking(False)
    udp.setblocking(False)
    sel.register(listener, selectors.EVENT_READ, "listener")
    sel.register(udp, selectors.EVENT_READ, "udp")
    print(f"listening on tcp://{host}:{port}", flush=True)
    print(f"listening on udp://{host}:{port}", flush=True)

    out = {}  # socket -> bytearray still to send
    eof = set()

    def update(sock):
        pending = out[sock]
        if sock in eof and not pending:
            close(sock)
            return
        events = 0
        if len(pending) <= PAUSE_ABOVE and sock not in eof:
            events |= selectors.EVENT_READ
        if pending:
            events |= selectors.EVENT_WRITE
        if events:
            sel.modify(sock, events, "conn")
        else:
            sel.modify(sock, selectors.EVENT_READ, "conn")

    def close(sock):
        sel.unregister(sock)
        out.pop(sock, None)
        eof.discard(sock)
        sock.close()

    while True:
        for key, mask in sel.select():
            sock = key.fileobj
            if key.data == "listener":
                while True:
                    try:
                        conn, _ = sock.accept()
                    except BlockingIOError:
                        break
                    conn.setblocking(False)
                    out[conn] = bytearray()
                    sel.register(conn, selectors.EVENT_READ, "conn")
            elif key.data == "udp":
                while True:
                    try:
                        data, peer = sock.recvfrom(65535)
                        sock.sendto(data, peer)
                    except BlockingIOError:
                        break
                    except OSError:
                        break
            else:
                try:
                    if mask & selectors.EVENT_READ and sock not in eof:
                        data = sock.recv(65536)
                        if data:
                            out[sock] += data
                        else:
                            eof.add(sock)
                    if out[sock]:
                        sent = sock.send(out[sock])
                        del out[sock][:sent]
                    if sock in eof and not out[sock]:
                        sock.shutdown(socket.SHUT_WR)
                    update(sock)
                except BlockingIOError:
                    update(sock)
                except OSError:
                    close(sock)


if __name__ == "__main__":
    main()
