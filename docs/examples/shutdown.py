"""Graceful shutdown on SIGTERM, the same code on asyncio and on trio."""

import os
import signal

import anyio

from anywebsockets import connect, serve


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def shut_down_on_signal(server, *, task_status=anyio.TASK_STATUS_IGNORED):
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        task_status.started()
        async for signum in signals:
            print(f"server: got {signal.Signals(signum).name}, closing")
            server.close()  # stop listening, close connections with 1001
            return


async def main():
    async with anyio.create_task_group() as tg:
        server = await tg.start(serve(echo, "127.0.0.1", 8773).serve_forever)
        await tg.start(shut_down_on_signal, server)
        async with connect("ws://127.0.0.1:8773") as ws:
            os.kill(os.getpid(), signal.SIGTERM)  # what `kill`, systemd or docker stop send
            await ws.wait_closed()
            print(f"client: closed by the server with {ws.close_code}")
    # serve_forever() returned once every handler had returned.
    print("server: stopped")


if __name__ == "__main__":
    for backend in ["asyncio", "trio"]:
        print(f"--- {backend}")
        anyio.run(main, backend=backend)
