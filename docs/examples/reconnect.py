"""A client that reconnects whenever the server goes away."""

import anyio

from anywebsockets import ConnectionClosed, connect, serve

served = 0


async def greet_and_leave(ws):
    global served
    served += 1
    await ws.send(f"hello from connection {served}")
    await ws.close(1012, "service restart")


async def main():
    async with serve(greet_and_leave, "127.0.0.1", 8768):
        received = 0
        async for ws in connect("ws://127.0.0.1:8768", reconnect_delays=lambda: iter([0.1] * 9)):
            try:
                async for message in ws:
                    print(message)
                    received += 1
            except ConnectionClosed as exc:
                print(f"closed: {exc.rcvd.code} {exc.rcvd.reason}")
            if received == 3:
                break


if __name__ == "__main__":
    anyio.run(main)
