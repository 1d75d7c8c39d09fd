"""Two worker processes serving one port with ``reuse_port=True``, as behind nginx."""

import multiprocessing
import signal

import anyio

from anywebsockets import connect, serve

PORT = 8774
TRUSTED_PROXIES = {"127.0.0.1"}  # where nginx connects from


def client_address(ws):
    """The client's IP address: the last X-Forwarded-For entry if a trusted proxy set it."""
    proxy_ip = ws.remote_address[0]
    forwarded = ",".join(ws.request.headers.get_all("X-Forwarded-For"))
    if forwarded and proxy_ip in TRUSTED_PROXIES:
        return forwarded.split(",")[-1].strip()
    return proxy_ip


async def hello(ws):
    await ws.send(f"hello, {client_address(ws)}")


async def run_worker(ready):
    async with serve(hello, "127.0.0.1", PORT, reuse_port=True) as server:
        with anyio.open_signal_receiver(signal.SIGTERM) as signals:
            ready.set()
            async for _ in signals:
                server.close()  # leaving the block waits for the handlers
                break


def worker(ready):
    anyio.run(run_worker, ready)


async def clients(count):
    greetings = set()
    for _ in range(count):
        # nginx adds this header with proxy_set_header (see the text).
        headers = {"X-Forwarded-For": "203.0.113.7"}
        async with connect(f"ws://127.0.0.1:{PORT}", additional_headers=headers) as ws:
            greetings.add(await ws.recv())
    return greetings


if __name__ == "__main__":
    context = multiprocessing.get_context("spawn")
    events = [context.Event() for _ in range(2)]
    workers = [context.Process(target=worker, args=(event,)) for event in events]
    for process in workers:
        process.start()
    try:
        for event in events:
            event.wait(10)
        print(f"{len(workers)} workers listening on port {PORT}")
        greetings = anyio.run(clients, 10)
        print(f"10 connections succeeded; the workers said: {', '.join(greetings)}")
    finally:
        for process in workers:
            process.terminate()  # SIGTERM: each worker shuts down gracefully
        for process in workers:
            process.join()
    print("exit codes:", [process.exitcode for process in workers])
