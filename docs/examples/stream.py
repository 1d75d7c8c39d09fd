"""Serving WebSocket connections from a server that accepts the connections itself."""

import anyio

from anywebsockets import connect, serve_stream


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    done_send, done_receive = anyio.create_memory_object_stream[str](10)

    async def handle(stream):
        """The part of your own server that hands a connection over to WebSocket."""
        address = stream.extra(anyio.abc.SocketAttribute.remote_address)
        # serve_stream() runs the handshake, then echo(), then closes the
        # connection and the stream; it returns when all of that is done.
        await serve_stream(echo, stream, ping_interval=None, max_size=2**16)
        await done_send.send(f"host: done with {address[0]}")

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=8775)
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        for text in ["first", "second"]:
            # The client side: run the handshake over a stream opened elsewhere.
            stream = await anyio.connect_tcp("127.0.0.1", 8775)
            async with connect("ws://127.0.0.1:8775/", stream=stream) as ws:
                await ws.send(text)
                print("client:", await ws.recv())
            print(await done_receive.receive())
        tg.cancel_scope.cancel()  # stop listener.serve(), which closes the listener


if __name__ == "__main__":
    anyio.run(main)
