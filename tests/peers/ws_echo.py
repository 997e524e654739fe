#!/usr/bin/env python3
"""A WebSocket echo server built on Python's `websockets` library (nobody here wrote its
handshake), to prove that the lesson 09 grader judges any implementation by its bytes alone.

    python3 tests/peers/ws_echo.py --addr 127.0.0.1:0      # prints: listening on ws://IP:PORT
    python3 tests/peers/ws_echo.py --as-shipped              # without the version fix below

One thing is added to the library: websockets answers a handshake of another protocol version
with a plain 400, without the `Sec-WebSocket-Version: 13` header that RFC 6455 4.2.2 says the
refusal MUST carry ("a |Sec-WebSocket-Version| header field indicating the version(s) the server
is capable of understanding"). `process_request` answers those requests with 426 and the header
before the library sees them. `--as-shipped` leaves it out, and the grader's
`wrong_answer_to_another_version` check catches the library as it is.
"""
import argparse
import asyncio
import http

from websockets.asyncio.server import serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response


def version_fix(connection, request):
    version = request.headers.get_all("Sec-WebSocket-Version")
    if version != ["13"]:
        body = f"Sec-WebSocket-Version {version}: this server speaks 13\n".encode()
        headers = Headers(
            [
                ("Upgrade", "websocket"),
                ("Sec-WebSocket-Version", "13"),
                ("Connection", "close"),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ]
        )
        status = http.HTTPStatus.UPGRADE_REQUIRED
        return Response(status.value, status.phrase, headers, body)
    return None


async def echo(websocket):
    try:
        async for message in websocket:
            await websocket.send(message)
    except ConnectionClosed:
        # The library answers a Close as it reads it, before this handler has echoed the
        # messages that came before it: their echoes can no longer be sent. Not an error.
        pass


async def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--addr", default="127.0.0.1:7009")
    parser.add_argument("--as-shipped", action="store_true")
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    async with serve(
        echo,
        host,
        int(port),
        # No permessage-deflate: the grader's frames are plain, and so must the echoes be.
        compression=None,
        process_request=None if args.as_shipped else version_fix,
        open_timeout=10,
    ) as server:
        addr = server.sockets[0].getsockname()
        print(f"listening on ws://{addr[0]}:{addr[1]}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
