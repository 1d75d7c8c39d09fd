"""An echo server and a client talking to it over 127.0.0.1.

Run it with ``python -m anywebsockets demo`` (add ``--backend trio`` for
trio): the same code runs on both backends.
"""

from __future__ import annotations

import anyio
from anyio.abc import SocketAttribute

from anywebsockets import ServerConnection, connect, serve


async def echo(ws: ServerConnection) -> None:
    """Send every message back to the client that sent it."""
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    """Start an echo server on a free port, talk to it, shut it down."""
    async with serve(echo, "127.0.0.1", 0) as server:
        port = server.listeners[0].extra(SocketAttribute.local_port)
        uri = f"ws://127.0.0.1:{port}/"
        print(f"echo server listening on {uri}")
        async with connect(uri) as ws:
            extensions = ", ".join(str(e) for e in ws.protocol.extensions) or "none"
            print(f"connected; extensions: {extensions}")
            messages: list[str | bytes] = [
                "Hello, anywebsockets!",
                b"\x00\x01binary\xfe\xff",
                "é" * 10,
            ]
            for message in messages:
                await ws.send(message)
                reply = await ws.recv()
                print(f"sent {message!r}, received {reply!r}")
            latency = await (await ws.ping())
            print(f"ping answered in {latency * 1000:.2f} ms")
        print(f"client closed with code {ws.close_code}")
    print("server closed")


def run(backend: str) -> None:
    """Run the demo on ``backend`` ("asyncio" or "trio")."""
    print(f"backend: {backend}")
    anyio.run(main, backend=backend)
