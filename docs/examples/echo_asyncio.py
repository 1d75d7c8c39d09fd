"""Echo server and client with asyncio: plain ``asyncio.run``, anywebsockets inside."""

import asyncio

from anywebsockets import connect, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    async with serve(echo, "127.0.0.1", 8765), connect("ws://127.0.0.1:8765") as ws:
        await ws.send("Hello!")
        print(await ws.recv())


if __name__ == "__main__":
    asyncio.run(main())
