"""A WebSocket server on a Unix socket, and a client for it."""

import os
import tempfile

import anyio

from anywebsockets import unix_connect, unix_serve


async def hello(ws):
    await ws.send(f"hello, you asked for {ws.request.path}")


async def main():
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        async with unix_serve(hello, path):
            async with unix_connect(path) as ws:
                print(await ws.recv())
            # The URI only fills the handshake's Host header and path.
            async with unix_connect(path, "ws://app.internal/chat") as ws:
                print(await ws.recv())
                print("Host:", ws.request.headers["Host"])


if __name__ == "__main__":
    anyio.run(main)
