"""A Python `websockets` server (PyPI) for the websocket probe's tests, on loopback.

    websocket_server.py PORT

    /, /echo      the upgrade (101), then an echo of every message; a close is answered
    /token        401 with `WWW-Authenticate: Bearer`, as an API gateway wanting a token
    /forbidden    403
    anything else 404

The refusals are the server's own HTTP answers to the upgrade request (`process_request`).
"""

import asyncio
import sys
from http import HTTPStatus

from websockets.asyncio.server import serve
from websockets.datastructures import Headers


async def echo(ws):
    async for message in ws:
        await ws.send(message)


def gate(connection, request):
    path = request.path.split("?", 1)[0]
    if path in ("/", "/echo"):
        return None
    if path == "/token":
        r = connection.respond(HTTPStatus.UNAUTHORIZED, "a bearer token is required\n")
        r.headers["WWW-Authenticate"] = 'Bearer realm="portproof"'
        return r
    if path == "/forbidden":
        return connection.respond(HTTPStatus.FORBIDDEN, "forbidden\n")
    return connection.respond(HTTPStatus.NOT_FOUND, "no such endpoint\n")


async def main():
    port = int(sys.argv[1])
    async with serve(echo, "127.0.0.1", port, process_request=gate) as server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
