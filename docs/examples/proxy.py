"""Connect through an HTTP proxy: a tiny CONNECT proxy runs in the same program."""

import os
from contextlib import suppress

import anyio
from anyio.streams.buffered import BufferedByteStream

from anywebsockets import connect, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def tiny_proxy(stream):
    """Answer one CONNECT request, then relay bytes both ways until one side is done."""
    client = BufferedByteStream(stream)
    head = await client.receive_until(b"\r\n\r\n", 65536)
    request_line = head.split(b"\r\n")[0].decode()
    print(f"proxy: {request_line}")
    host, port = request_line.split()[1].rsplit(":", 1)
    async with client, await anyio.connect_tcp(host, int(port)) as server:
        await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        async with anyio.create_task_group() as tg:

            async def relay(source, sink):
                with suppress(anyio.EndOfStream, anyio.BrokenResourceError):
                    while True:
                        await sink.send(await source.receive())
                tg.cancel_scope.cancel()

            tg.start_soon(relay, client, server)
            tg.start_soon(relay, server, client)


async def main():
    async with anyio.create_task_group() as tg:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=8791)
        tg.start_soon(listener.serve, tiny_proxy)
        async with serve(echo, "127.0.0.1", 8792):
            # A proxy given explicitly.
            async with connect("ws://127.0.0.1:8792", proxy="http://127.0.0.1:8791") as ws:
                await ws.send("hello through the proxy")
                print(f"received: {await ws.recv()}")

            # The default, proxy=True, reads the environment.
            os.environ["WS_PROXY"] = "http://127.0.0.1:8791"
            async with connect("ws://127.0.0.1:8792") as ws:
                await ws.send("hello again")
                print(f"received: {await ws.recv()}")

            # proxy=None connects directly, whatever the environment says.
            async with connect("ws://127.0.0.1:8792", proxy=None) as ws:
                await ws.send("hello directly")
                print(f"received: {await ws.recv()}")
        tg.cancel_scope.cancel()


if __name__ == "__main__":
    anyio.run(main)
