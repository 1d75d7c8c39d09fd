"""A server that broadcasts each message it receives to every connected client."""

import anyio

from anywebsockets import broadcast, connect, serve


async def relay(ws):
    await ws.send("welcome")  # the handler runs once ws is in server.connections
    async for message in ws:
        await broadcast(ws.server.connections, message)


async def main():
    uri = "ws://127.0.0.1:8770"
    async with serve(relay, "127.0.0.1", 8770), connect(uri) as alice, connect(uri) as bob:
        for ws in (alice, bob):
            assert await ws.recv() == "welcome"
        await alice.send("hello, everyone")
        print("alice got:", await alice.recv())
        print("bob got:", await bob.recv())


if __name__ == "__main__":
    anyio.run(main)
