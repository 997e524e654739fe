#!/usr/bin/env python3
"""An echo client on Python's `websockets` library (not ours): every message back, until the
server closes. Exit 0 after a clean close, 1 otherwise. `course check 12` must pass it.

    python3 ws_client_echo.py ws://127.0.0.1:PORT/PATH
"""
import sys

from websockets.exceptions import (
    ConnectionClosed,
    ConnectionClosedOK,
    InvalidHandshake,
    WebSocketException,
)
from websockets.sync.client import connect


def main():
    try:
        # No compression offered: the course's servers decline permessage-deflate, and the
        # grader answers what was offered.
        with connect(sys.argv[1], compression=None, max_size=None, open_timeout=10) as ws:
            for message in ws:
                ws.send(message)
            # The iteration ends on a normal closure (1000/1001); others raise.
    except ConnectionClosedOK:
        return 0
    except ConnectionClosed as e:
        # A closing handshake with a code that is not an error (3000-4999: the application's)
        # is a clean close too; 1002, 1007, ... mean the connection failed.
        if e.rcvd and e.sent and not (1002 <= e.rcvd.code <= 1011):
            return 0
        print(f"failed: {e!r}", file=sys.stderr)
        return 1
    except (InvalidHandshake, WebSocketException, OSError) as e:
        print(f"failed: {e!r}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
