"""A server that broadcasts each message it receives to every connected client."""

import anyio

from anywebsockets import broadcast, connect, serve


async def relay(ws):
    async for message in ws:
        await broadcast(ws.server.connections, message)


async def main():
    uri = "ws://127.0.0.1:8770"
    async with (
        serve(relay, "127.0.0.1", 8770) as server,
        connect(uri) as alice,
        connect(uri) as bob,
    ):
        while len(server.connections) < 2:  # the server registers each connection
            await anyio.sleep(0.01)
        await alice.send("hello, everyone")
        print("alice got:", await alice.recv())
        print("bob got:", await bob.recv())


if __name__ == "__main__":
    anyio.run(main)
