"""A connection that no task group owns: whoever waits on it reads the network."""

import anyio

from anywebsockets import connect, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    async with serve(echo, "127.0.0.1", 8767):
        ws = await connect("ws://127.0.0.1:8767")
        try:
            await ws.send(["fragmented ", "into ", "three frames"])
            print(await ws.recv())
            latency = await (await ws.ping())
            print(f"round trip: {latency * 1000:.1f} ms")
        finally:
            await ws.close()


if __name__ == "__main__":
    anyio.run(main, backend="trio")
