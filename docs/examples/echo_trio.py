"""Echo server and client with trio: plain ``trio.run``, the same anywebsockets code."""

import trio

from anywebsockets import connect, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve(echo, "127.0.0.1", 8766).serve_forever)
        async with connect("ws://127.0.0.1:8766") as ws:
            await ws.send("Hello!")
            print(await ws.recv())
        server.close()


if __name__ == "__main__":
    trio.run(main)
