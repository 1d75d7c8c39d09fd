"""Where the memory of idle server connections goes, by allocation site (tracemalloc).

    python benchmarks/memory_breakdown.py [asyncio|trio] [N]

Opens N (300) idle connections to an anywebsockets server in the same process (compression
off), then prints the memory allocated per connection since before the first one, and the
allocation sites that account for most of it. The figure includes the client side's raw
streams, opened in the same process; ``bench_echo.py --memory`` gives the server alone.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

import anyio
from anyio.abc import SocketAttribute

from anywebsockets import ServerConnection, serve
from anywebsockets.protocol.utils import generate_key


async def idle(ws: ServerConnection) -> None:
    await ws.wait_closed()


def handshake_request() -> bytes:
    return (
        "GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {generate_key()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def main(count: int) -> None:
    async with serve(idle, "127.0.0.1", 0, compression=None) as server:
        port = server.listeners[0].extra(SocketAttribute.local_port)
        clients = []
        gc.collect()
        tracemalloc.start(1)
        before = tracemalloc.take_snapshot()
        for _ in range(count):
            stream = await anyio.connect_tcp("127.0.0.1", port)
            await stream.send(handshake_request())
            await stream.receive()
            clients.append(stream)
        await anyio.sleep(0.5)
        gc.collect()
        stats = tracemalloc.take_snapshot().compare_to(before, "lineno")
        print(f"{sum(s.size_diff for s in stats) / count / 1024:.1f} KiB per connection")
        for stat in stats[:25]:
            print(f"{stat.size_diff / count:8.0f} B  {stat.traceback[0]}")
        for stream in clients:
            await stream.aclose()


if __name__ == "__main__":
    backend = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    anyio.run(main, int(sys.argv[2]) if len(sys.argv) > 2 else 300, backend=backend)
