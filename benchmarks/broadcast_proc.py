"""One side of a ``bench_broadcast.py`` measurement, run in its own process.

Not meant to be run by hand (``bench_broadcast.py`` starts it), but it can be::

    python benchmarks/broadcast_proc.py server aws-asyncio --clients 1000 --procs 2
    python benchmarks/broadcast_proc.py client PORT --connections 500   # twice

The server (the tested library) accepts ``--clients`` WebSocket connections, then
broadcasts messages to all of them following the plan (``--sizes``, ``--count``,
``--burst``) and prints one JSON line: the process's CPU seconds, read with
``time.process_time()``, for each measured size. The clients are plain sockets
driven by ``selectors`` (no WebSocket library): each process opens its share of the
connections with a raw opening handshake, then reads and counts every frame, checking
its opcode, length and that it is unmasked. After each burst of ``--burst`` messages,
once every connection of a client process holds all the messages sent so far, that
process sends one masked text frame (``ack``) on its first connection; the server
waits for one ack per client process before the next burst, so no message waits in
a buffer behind the next ones and no library has a reason to drop any. A client
process that sees no progress for ``STALL`` seconds, or a frame it did not expect,
reports it and exits with status 1.

Plan, the same on both sides: ``WARMUP_BROADCASTS`` messages of 1 KiB, then for
each size a warm-up of a tenth of ``--count`` and ``--count`` measured messages.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import resource
import selectors
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from echo_proc import HOST, MAX_SIZE, PLAIN_LIBS, run, text_payload
from echo_proc import LIBS as ECHO_LIBS

SERVE_SECONDS = 600
WARMUP_BROADCASTS = 20  # untimed messages of 1 KiB before the first size
STALL = 30.0  # seconds without a byte before a client process gives up
MESSAGES = 8  # distinct messages per size, sent in turn

# Every WebSocket library of echo_proc.py (the plain TCP rows have no broadcast).
LIBS = [lib for lib in ECHO_LIBS if lib not in PLAIN_LIBS]

# How each library sends one message to every connection (for the README and the
# driver's header): its own broadcast function, or a loop of sends.
HOW = {
    "aws-asyncio": "anywebsockets.broadcast()",
    "aws-trio": "anywebsockets.broadcast()",
    "aws-uvloop": "anywebsockets.broadcast()",
    "ws-asyncio": "websockets.asyncio.server.broadcast()",
    "ws-uvloop": "websockets.asyncio.server.broadcast()",
    "ws-trio": "websockets.trio.server.broadcast()",
    "aiohttp": "loop of await ws.send_str()",
    "trio-websocket": "loop of await ws.send_message()",
    "picows": "loop of transport.send() (bytes encoded once)",
}


def raise_fd_limit(needed: int) -> None:
    """Raise the soft limit on open files to the hard one if ``needed`` does not fit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise SystemExit(f"RLIMIT_NOFILE is {soft}, {needed} file descriptors needed")


def plan(sizes: list[int], count: int) -> list[tuple[int, int, bool]]:
    """The phases: (message size, number of messages, measured)."""
    phases = [(1024, WARMUP_BROADCASTS, False)]
    for size in sizes:
        phases += [(size, max(count // 10, 1), False), (size, count, True)]
    return phases


def bursts(phases: list[tuple[int, int, bool]], burst: int) -> list[int]:
    """Length of each burst, in order (a burst never spans two phases)."""
    out = []
    for _, n, _ in phases:
        out += [burst] * (n // burst) + ([n % burst] if n % burst else [])
    return out


def messages(size: int, binary: bool) -> list[str | bytes]:
    """``MESSAGES`` distinct JSON-like texts of ``size`` bytes (encoded, if binary)."""
    texts = [text_payload(size + i)[:size] for i in range(MESSAGES)]
    return [t.encode() for t in texts] if binary else list(texts)


# The server side.


class Hub:
    """The connections of a server, and the acks of the client processes."""

    def __init__(self, clients: int, procs: int, new_event: Callable[[], Any]) -> None:
        self.clients = clients
        self.procs = procs
        self.new_event = new_event
        self.conns: list[Any] = []
        self.all_in = new_event()
        self.acked = new_event()
        self.acks = 0

    def add(self, conn: Any) -> None:
        self.conns.append(conn)
        if len(self.conns) == self.clients:
            self.all_in.set()

    def ack(self) -> None:
        self.acks += 1
        if self.acks == self.procs:
            self.acks = 0
            self.acked.set()


async def broadcaster(
    hub: Hub,
    send_all: Callable[[list[Any], Any], Awaitable[None]],
    args: argparse.Namespace,
    prepare: Callable[[str | bytes], Any] = lambda m: m,
) -> None:
    """Run the plan once every client is in; print the CPU seconds; exit."""
    await hub.all_in.wait()
    conns = list(hub.conns)
    results: dict[str, float] = {}
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    for size, n, measured in plan(args.sizes, args.count):
        msgs = [prepare(m) for m in messages(size, args.binary)]
        if measured and profiler is not None:
            profiler.enable()
        t0 = time.process_time()
        sent = 0
        for length in bursts([(size, n, measured)], args.burst):
            hub.acked = hub.new_event()
            for i in range(sent, sent + length):
                await send_all(conns, msgs[i % MESSAGES])
            sent += length
            await hub.acked.wait()
        t1 = time.process_time()
        if measured:
            if profiler is not None:
                profiler.disable()
            results[str(size)] = t1 - t0
    if profiler is not None:
        profiler.dump_stats(args.profile)
    print(json.dumps({"cpu": results}), flush=True)
    os._exit(0)  # no closing handshakes with 1000 clients: they are not measured


def announce(port: int) -> None:
    print(json.dumps({"port": port}), flush=True)


async def serve_aws(args: argparse.Namespace) -> None:
    import anyio
    from anyio.abc import SocketAttribute

    from anywebsockets import ConnectionClosed, broadcast, serve

    hub = Hub(args.clients, args.procs, anyio.Event)

    async def handler(ws: Any) -> None:
        hub.add(ws)
        try:
            async for _ in ws:
                hub.ack()
        except ConnectionClosed:  # a client process gave up
            pass

    async def send_all(conns: list[Any], message: str | bytes) -> None:
        await broadcast(conns, message)

    async with serve(
        handler, HOST, 0, compression=None, ping_interval=None, max_size=MAX_SIZE, backlog=1024
    ) as server:
        announce(server.listeners[0].extra(SocketAttribute.local_port))
        with anyio.move_on_after(SERVE_SECONDS):
            await broadcaster(hub, send_all, args)


async def serve_ws_asyncio(args: argparse.Namespace) -> None:
    import asyncio

    from websockets.asyncio.server import broadcast, serve
    from websockets.exceptions import ConnectionClosed

    hub = Hub(args.clients, args.procs, asyncio.Event)

    async def handler(ws: Any) -> None:
        hub.add(ws)
        try:
            async for _ in ws:
                hub.ack()
        except ConnectionClosed:  # a client process gave up
            pass

    async def send_all(conns: list[Any], message: str | bytes) -> None:
        broadcast(conns, message)

    async with serve(
        handler, HOST, 0, compression=None, ping_interval=None, max_size=MAX_SIZE, backlog=1024
    ) as server:
        announce(server.sockets[0].getsockname()[1])
        await asyncio.wait_for(broadcaster(hub, send_all, args), SERVE_SECONDS)


async def serve_ws_trio(args: argparse.Namespace) -> None:
    import trio
    from websockets.exceptions import ConnectionClosed
    from websockets.trio.server import broadcast, serve

    hub = Hub(args.clients, args.procs, trio.Event)

    async def handler(ws: Any) -> None:
        hub.add(ws)
        try:
            async for _ in ws:
                hub.ack()
        except ConnectionClosed:  # a client process gave up
            pass

    async def send_all(conns: list[Any], message: str | bytes) -> None:
        await broadcast(conns, message)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve(
                handler,
                0,
                host=HOST,
                compression=None,
                ping_interval=None,
                max_size=MAX_SIZE,
                task_status=task_status,
            )
        )
        announce(server.listeners[0].socket.getsockname()[1])
        with trio.move_on_after(SERVE_SECONDS):
            await broadcaster(hub, send_all, args)
        nursery.cancel_scope.cancel()


async def serve_aiohttp(args: argparse.Namespace) -> None:
    import asyncio

    from aiohttp import WSMsgType, web

    hub = Hub(args.clients, args.procs, asyncio.Event)

    async def route(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=MAX_SIZE)
        await ws.prepare(request)
        hub.add(ws)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                hub.ack()
        return ws

    async def send_all(conns: list[Any], message: str | bytes) -> None:
        if isinstance(message, str):
            for ws in conns:
                await ws.send_str(message)
        else:
            for ws in conns:
                await ws.send_bytes(message)

    app = web.Application()
    app.router.add_get("/", route)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, HOST, 0, backlog=1024)
    await site.start()
    announce(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    await asyncio.wait_for(broadcaster(hub, send_all, args), SERVE_SECONDS)


async def serve_trio_websocket(args: argparse.Namespace) -> None:
    import trio
    from trio_websocket import ConnectionClosed, serve_websocket

    hub = Hub(args.clients, args.procs, trio.Event)

    async def route(request: Any) -> None:
        ws = await request.accept()
        hub.add(ws)
        try:
            while True:
                await ws.get_message()
                hub.ack()
        except ConnectionClosed:
            pass

    async def send_all(conns: list[Any], message: str | bytes) -> None:
        for ws in conns:
            await ws.send_message(message)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(
            lambda task_status: serve_websocket(
                route,
                HOST,
                0,
                ssl_context=None,
                max_message_size=MAX_SIZE,
                task_status=task_status,
            )
        )
        announce(server.port)
        with trio.move_on_after(SERVE_SECONDS):
            await broadcaster(hub, send_all, args)
        nursery.cancel_scope.cancel()


async def serve_picows(args: argparse.Namespace) -> None:
    import asyncio

    from picows import WSListener, WSMsgType, ws_create_server

    hub = Hub(args.clients, args.procs, asyncio.Event)
    kind = WSMsgType.BINARY if args.binary else WSMsgType.TEXT

    class Listener(WSListener):
        def on_ws_connected(self, transport: Any) -> None:
            hub.add(transport)

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.TEXT:
                hub.ack()
            elif frame.msg_type == WSMsgType.CLOSE:
                transport.disconnect()

    async def send_all(conns: list[Any], message: bytes) -> None:
        for transport in conns:
            transport.send(kind, message)

    def encode(message: str | bytes) -> bytes:
        return message.encode() if isinstance(message, str) else message

    server = await ws_create_server(
        lambda request: Listener(), HOST, 0, max_frame_size=MAX_SIZE, backlog=1024
    )
    announce(server.sockets[0].getsockname()[1])
    await asyncio.wait_for(broadcaster(hub, send_all, args, encode), SERVE_SECONDS)


SERVERS: dict[str, Callable[[argparse.Namespace], Awaitable[None]]] = {
    "aws-asyncio": serve_aws,
    "aws-trio": serve_aws,
    "aws-uvloop": serve_aws,
    "ws-asyncio": serve_ws_asyncio,
    "ws-uvloop": serve_ws_asyncio,
    "ws-trio": serve_ws_trio,
    "aiohttp": serve_aiohttp,
    "trio-websocket": serve_trio_websocket,
    "picows": serve_picows,
}


# The client side: plain sockets, no WebSocket library.


def open_raw(port: int) -> tuple[socket.socket, bytes]:
    """Open one WebSocket connection by hand; return the socket and any bytes past the 101."""
    sock = socket.create_connection((HOST, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("the server closed the connection during the handshake")
        response += chunk
    head, _, rest = response.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(head.decode(errors="replace"))
    return sock, rest


def ack_frame() -> bytes:
    """A masked text frame holding ``ack``, as a client must send it."""
    mask = os.urandom(4)
    return b"\x81\x83" + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(b"ack"))


class Counter:
    """Counts the frames of one connection, checking each against the plan."""

    __slots__ = ("buffer", "count", "expected", "first_byte")

    def __init__(self, expected: list[int], first_byte: int, initial: bytes) -> None:
        self.buffer = bytearray(initial)
        self.count = 0
        self.expected = expected  # payload size of each message, in order
        self.first_byte = first_byte

    def feed(self, data: bytes, target: int) -> None:
        """Take bytes; count the whole frames; raise ValueError on any frame not planned."""
        buf = self.buffer
        buf += data
        count = self.count
        pos = 0
        end = len(buf)
        while end - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if end - pos < head + length:
                break
            if b0 != self.first_byte or b1 & 0x80 or count >= target:
                self.count = count
                raise ValueError(f"unexpected frame {b0:#x} {b1:#x} ({length} B)")
            if length != self.expected[count]:
                self.count = count
                raise ValueError(f"{length} B instead of {self.expected[count]} B")
            count += 1
            pos += head + length
        del buf[:pos]
        self.count = count


def run_clients(args: argparse.Namespace) -> int:
    """Open the connections, count every frame, ack each burst; print the counts."""
    raise_fd_limit(args.connections + 64)
    phases = plan(args.sizes, args.count)
    expected: list[int] = []
    for size, n, _ in phases:
        expected += [size] * n
    targets = []  # messages per connection at the end of each burst
    total = 0
    for length in bursts(phases, args.burst):
        total += length
        targets.append(total)
    first_byte = 0x82 if args.binary else 0x81  # FIN + binary / text

    socks: list[socket.socket] = []
    counters: list[Counter] = []
    for _ in range(args.connections):
        sock, rest = open_raw(args.port)
        socks.append(sock)
        counters.append(Counter(expected, first_byte, rest))
    selector = selectors.DefaultSelector()
    for i, sock in enumerate(socks):
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, i)

    error = None
    burst = 0
    done = 0  # connections that hold every message of the current burst
    ready = list(range(len(socks)))  # some bytes may have come with the 101
    try:
        while burst < len(targets):
            target = targets[burst]
            for i in ready:
                try:
                    data = socks[i].recv(1 << 18)
                except BlockingIOError:
                    data = b""
                else:
                    if not data:
                        raise ValueError(f"connection {i}: closed by the server")
                counter = counters[i]
                before = counter.count
                try:
                    counter.feed(data, target)
                except ValueError as exc:
                    raise ValueError(f"connection {i}: {exc}") from None
                if before < target <= counter.count:
                    done += 1
            if done == len(socks):  # the server sends nothing more until the ack
                socks[0].sendall(ack_frame())
                burst += 1
                done = 0
                ready = []
                continue
            events = selector.select(STALL)
            if not events:
                raise ValueError(f"no byte for {STALL} s, burst {burst} of {len(targets)}")
            ready = [key.data for key, _ in events]
        # Keep the connections open until the server exits: closing them now
        # would make the server handle closes while it waits for the other
        # client processes' last ack, inside its measured time.
        left = len(socks)
        while left:
            events = selector.select(STALL)
            if not events:
                raise ValueError(f"the server did not exit within {STALL} s")
            for key, _ in events:
                try:
                    data = key.fileobj.recv(1 << 18)  # type: ignore[union-attr]
                except ConnectionResetError:
                    data = b""
                if data:
                    raise ValueError(f"connection {key.data}: bytes after the last message")
                selector.unregister(key.fileobj)
                left -= 1
    except ValueError as exc:
        error = str(exc)

    counts = [c.count for c in counters]
    print(
        json.dumps(
            {
                "received": sum(counts),
                "expected": targets[-1] * len(socks),
                "min": min(counts),
                "max": max(counts),
                "error": error,
            }
        ),
        flush=True,
    )
    for sock in socks:
        sock.close()
    return 0 if error is None else 1


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client"])
    parser.add_argument("target", help="server: the library; client: the server's port")
    parser.add_argument("--clients", type=int, default=1000, help="server: connections")
    parser.add_argument("--procs", type=int, default=2, help="server: client processes")
    parser.add_argument("--connections", type=int, default=500, help="client: connections")
    parser.add_argument("--sizes", default="16,1024")
    parser.add_argument("--count", type=int, default=100, help="measured messages per size")
    parser.add_argument("--burst", type=int, default=1, help="messages between acks")
    parser.add_argument("--binary", action="store_true", help="binary instead of text")
    parser.add_argument("--profile", help="server: cProfile output file (measured parts)")
    parser.add_argument("--deadline", type=int, default=600, help="SIGALRM after this many s")
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    signal.alarm(args.deadline)  # every process is bounded in time, whatever happens

    if args.role == "client":
        args.port = int(args.target)
        sys.exit(run_clients(args))
    lib = args.target
    raise_fd_limit(args.clients + 64)
    run(lib, lambda: SERVERS[lib](args))


if __name__ == "__main__":
    main()
