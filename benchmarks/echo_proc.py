"""One side of an ``bench_echo.py`` measurement, run in its own process.

Not meant to be run by hand (``bench_echo.py`` starts it), but it can be::

    python benchmarks/echo_proc.py server ws-asyncio     # prints {"ports": [plain, deflate]}
    python benchmarks/echo_proc.py client aws-trio PORT PORT2 --tested --scenarios echo-16

The server side answers commands; the client side drives the scenarios and prints one
JSON line of results: CPU seconds per operation of the *tested* side, read with
``time.process_time()`` inside the tested process. When the server is the tested side
it measures itself and sends its figure back over the connection.

Commands (the first text message of a scenario, from the client to the server):

- ``echo N``: send back each of the next N messages;
- ``sink N``: receive N messages;
- ``source N SIZE``: send N binary messages of SIZE bytes;
- ``mark``: reply with the process's CPU time now (for the handshake scenario).

After ``echo``, ``sink`` and ``source`` the server sends its CPU seconds for the whole
command as a text message.
"""

from __future__ import annotations

import base64
import cProfile
import gc
import json
import os
import random
import signal
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

MAX_SIZE = 1 << 24
HOST = "127.0.0.1"
SERVE_SECONDS = 600  # the server process exits on its own after this, whatever happens
WARMUP = 3000  # untimed round trips before the first scenario

LIBS = [
    "aws-asyncio",
    "aws-trio",
    "aws-uvloop",
    "ws-asyncio",
    "ws-uvloop",
    "ws-trio",
    "aiohttp",
    "trio-websocket",
    "picows",
    "asyncio-plain",
    "anyio-plain",
    "aws-plain",
]
# No WebSocket at all: the bytes of each message echoed over a plain TCP
# stream, asyncio's own (StreamReader/StreamWriter), anyio's, or the one
# anywebsockets uses on asyncio, with raw-asyncio (asyncio's streams) as the
# peer. For what the byte stream alone costs.
PLAIN_LIBS = ("asyncio-plain", "anyio-plain", "aws-plain")
RAW_PEER = "raw-asyncio"

# name -> (kind, N, size, compression, text). kind: echo, stream-in, stream-out,
# handshake. size is in bytes (UTF-8 bytes for text). Text messages are
# mixed_text() without compression (mostly ASCII, some non-ASCII characters, so
# that UTF-8 validation has work to do) and JSON-like text_payload() with it.
SCENARIOS: dict[str, tuple[str, int, int, bool, bool]] = {
    "echo-16": ("echo", 4000, 16, False, False),
    "echo-1k": ("echo", 4000, 1024, False, False),
    "echo-64k": ("echo", 1000, 64 * 1024, False, False),
    "echo-1m": ("echo", 60, 1024 * 1024, False, False),
    "text-16": ("echo", 4000, 16, False, True),
    "text-1k": ("echo", 4000, 1024, False, True),
    "text-64k": ("echo", 1000, 64 * 1024, False, True),
    "text-1m": ("echo", 60, 1024 * 1024, False, True),
    "stream-in-1k": ("stream-in", 20000, 1024, False, False),
    "stream-out-1k": ("stream-out", 20000, 1024, False, False),
    "handshake": ("handshake", 200, 0, False, False),
    "deflate-text-1k": ("echo", 800, 1024, True, True),
    "deflate-text-64k": ("echo", 200, 64 * 1024, True, True),
}


def text_payload(size: int) -> str:
    """Deterministic JSON-ish text: compressible, but not trivially."""
    rng = random.Random(size)
    words = ["alpha", "beta", "gamma", "delta", "value", "id", "name", "status", "ok", "items"]
    parts = []
    length = 0
    while length < size:
        part = f'"{rng.choice(words)}":{rng.randrange(100000)},'
        parts.append(part)
        length += len(part)
    return "".join(parts)[:size]


def mixed_text(size: int) -> str:
    """Deterministic text of exactly ``size`` UTF-8 bytes, mostly ASCII.

    Plain ASCII words and, for the first word and one word in five after
    it, accented Latin, Greek, CJK or a 4-byte character (emoji): a UTF-8
    decoder meets every sequence length and cannot take an all-ASCII
    shortcut on whole blocks. 13 to 17 % of the bytes are non-ASCII (more
    at 16 B).
    """
    rng = random.Random(-size)
    ascii_words = ["message", "status", "update", "price", "value", "the", "and", "user"]
    other_words = ["café", "naïve", "Grüße", "señor", "αβγ", "日本語", "€5", "🙂"]
    parts: list[str] = []
    length = 0
    while length < size:  # the first word is never ASCII, so 16 B has some too
        pick = other_words if not parts or rng.random() < 0.2 else ascii_words
        word = rng.choice(pick) + " "
        parts.append(word)
        length += len(word.encode())
    text = "".join(parts)
    while len(text.encode()) > size:  # drop whole characters, never split one
        text = text[:-1]
    return text + " " * (size - len(text.encode()))


class Closed(Exception):
    pass


# Servers: echoer(ws) runs per connection; each adapter listens on two ports
# (compression off, compression on) and calls announce(ports).


async def echoer(ws: Any, profiler: cProfile.Profile | None) -> None:
    """Answer commands until the peer closes the connection."""
    while True:
        try:
            cmd = await ws.recv()
        except Exception:
            return
        op, *args = cmd.split()
        if op == "mark":
            if profiler is not None:  # marks come in pairs around the handshakes
                profiler.disable() if getattr(profiler, "_on", False) else profiler.enable()
                profiler._on = not getattr(profiler, "_on", False)  # type: ignore[attr-defined]
            await ws.send(repr(time.process_time()))
            continue
        if op == "mem":
            gc.collect()
            await ws.send(str(resident_bytes()))
            continue
        n = int(args[0])
        if profiler is not None:
            profiler.enable()
        t0 = time.process_time()
        if op == "echo":
            for _ in range(n):
                await ws.send(await ws.recv())
        elif op == "sink":
            for _ in range(n):
                await ws.recv()
        elif op == "source":
            payload = os.urandom(int(args[1]))
            for _ in range(n):
                await ws.send(payload)
        else:
            raise ValueError(cmd)
        t1 = time.process_time()
        if profiler is not None:
            profiler.disable()
        await ws.send(repr(t1 - t0))


def resident_bytes() -> int:
    """The process's resident memory now (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def idle_connection_memory(port: int, count: int) -> float:
    """Bytes of the server's memory per idle WebSocket connection.

    Opens ``count`` connections with plain sockets (the opening handshake, then
    nothing), and asks the server for its resident memory before and after,
    over a control connection.
    """
    from websockets.sync.client import connect as sync_connect

    request = (
        f"GET / HTTP/1.1\r\nHost: {HOST}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {}\r\n\r\n"
    )
    with sync_connect(f"ws://{HOST}:{port}/", compression=None) as control:
        control.send("mem")
        before = int(control.recv())
        socks = []
        try:
            for _ in range(count):
                sock = socket.create_connection((HOST, port))
                socks.append(sock)
                key = base64.b64encode(os.urandom(16)).decode()
                sock.sendall(request.format(key).encode())
            for sock in socks:
                response = b""
                while b"\r\n\r\n" not in response:
                    chunk = sock.recv(4096)
                    if not chunk:
                        raise RuntimeError("the server closed an idle connection")
                    response += chunk
                if not response.startswith(b"HTTP/1.1 101"):
                    raise RuntimeError(response.decode(errors="replace"))
            time.sleep(0.5)
            control.send("mem")
            after = int(control.recv())
        finally:
            for sock in socks:
                sock.close()
    return (after - before) / count


def announce(ports: list[int]) -> None:
    print(json.dumps({"ports": ports}), flush=True)


async def serve_websockets_like(lib: str, handler: Callable[[Any], Awaitable[None]]) -> None:
    """anywebsockets on asyncio or trio, websockets asyncio."""
    opts: dict[str, Any] = {"ping_interval": None, "max_size": MAX_SIZE}
    if lib in ("aws-asyncio", "aws-trio", "aws-uvloop"):
        import anyio
        from anyio.abc import SocketAttribute

        from anywebsockets import serve

        async with (
            serve(handler, HOST, 0, compression=None, **opts) as s1,
            serve(handler, HOST, 0, compression="deflate", **opts) as s2,
        ):
            announce([s.listeners[0].extra(SocketAttribute.local_port) for s in (s1, s2)])
            await anyio.sleep(SERVE_SECONDS)
    elif lib in ("ws-asyncio", "ws-uvloop"):
        import asyncio

        from websockets.asyncio.server import serve as ws_serve

        async with (
            ws_serve(handler, HOST, 0, compression=None, **opts) as s1,
            ws_serve(handler, HOST, 0, compression="deflate", **opts) as s2,
        ):
            announce([s.sockets[0].getsockname()[1] for s in (s1, s2)])
            await asyncio.sleep(SERVE_SECONDS)
    else:
        raise ValueError(lib)


async def serve_ws_trio(handler: Callable[[Any], Awaitable[None]]) -> None:
    import trio
    from websockets.trio.server import serve as ws_serve

    opts: dict[str, Any] = {"host": HOST, "ping_interval": None, "max_size": MAX_SIZE}
    async with trio.open_nursery() as nursery:
        s1 = await nursery.start(
            lambda task_status: ws_serve(
                handler, 0, compression=None, task_status=task_status, **opts
            )
        )
        s2 = await nursery.start(
            lambda task_status: ws_serve(
                handler, 0, compression="deflate", task_status=task_status, **opts
            )
        )
        announce([s.listeners[0].socket.getsockname()[1] for s in (s1, s2)])
        await trio.sleep(SERVE_SECONDS)
        nursery.cancel_scope.cancel()


class AiohttpWS:
    def __init__(self, ws: Any) -> None:
        import aiohttp

        self.ws = ws
        self.TEXT = aiohttp.WSMsgType.TEXT
        self.BINARY = aiohttp.WSMsgType.BINARY

    async def recv(self) -> str | bytes:
        msg = await self.ws.receive()
        if msg.type is self.BINARY or msg.type is self.TEXT:
            return msg.data  # type: ignore[no-any-return]
        raise Closed(msg.type)

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, str):
            await self.ws.send_str(data)
        else:
            await self.ws.send_bytes(data)


async def serve_aiohttp(handler: Callable[[Any], Awaitable[None]]) -> None:
    import asyncio

    from aiohttp import web

    def app(compress: bool) -> web.Application:
        async def route(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(compress=compress, max_msg_size=MAX_SIZE, autoping=True)
            await ws.prepare(request)
            await handler(AiohttpWS(ws))
            await ws.close()
            return ws

        a = web.Application()
        a.router.add_get("/", route)
        return a

    ports = []
    runners = []
    for compress in (False, True):
        runner = web.AppRunner(app(compress), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, HOST, 0)
        await site.start()
        ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        runners.append(runner)
    announce(ports)
    await asyncio.sleep(SERVE_SECONDS)


class TrioWebsocketWS:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def recv(self) -> str | bytes:
        return await self.ws.get_message()  # type: ignore[no-any-return]

    async def send(self, data: str | bytes) -> None:
        await self.ws.send_message(data)


async def serve_trio_websocket(handler: Callable[[Any], Awaitable[None]]) -> None:
    import trio
    from trio_websocket import serve_websocket

    async def route(request: Any) -> None:
        ws = await request.accept()
        await handler(TrioWebsocketWS(ws))

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
        announce([server.port, 0])  # no compression support
        await trio.sleep(SERVE_SECONDS)
        nursery.cancel_scope.cancel()


class PicowsWS:
    """recv()/send() over picows' callbacks (a queue of whole single-frame messages)."""

    def __init__(self) -> None:
        import asyncio

        self.queue: asyncio.Queue[str | bytes | None] = asyncio.Queue()
        self.writable = asyncio.Event()
        self.writable.set()
        self.transport: Any = None

    async def recv(self) -> str | bytes:
        item = await self.queue.get()
        if item is None:
            self.queue.put_nowait(None)
            raise Closed
        return item

    async def send(self, data: str | bytes) -> None:
        from picows import WSMsgType

        if not self.writable.is_set():
            await self.writable.wait()
        if isinstance(data, str):
            self.transport.send(WSMsgType.TEXT, data.encode())
        else:
            self.transport.send(WSMsgType.BINARY, data)

    def close(self, disconnect: bool) -> None:
        """Send a close frame; the server also drops the TCP connection."""
        from picows import WSCloseCode

        if not self.transport.is_disconnected:
            if not self.transport.is_close_frame_sent:
                self.transport.send_close(WSCloseCode.OK)
            if disconnect:
                self.transport.disconnect()


def picows_listener(ws: PicowsWS, on_connected: Callable[[], None] | None = None) -> Any:
    from picows import WSListener, WSMsgType

    class Listener(WSListener):
        def on_ws_connected(self, transport: Any) -> None:
            ws.transport = transport
            if on_connected is not None:
                on_connected()

        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            kind = frame.msg_type
            if kind == WSMsgType.BINARY:
                ws.queue.put_nowait(frame.get_payload_as_bytes())
            elif kind == WSMsgType.TEXT:
                ws.queue.put_nowait(frame.get_payload_as_utf8_text())
            elif kind == WSMsgType.CLOSE:
                if not transport.is_close_frame_sent:
                    transport.send_close(frame.get_close_code())
                transport.disconnect()

        def on_ws_disconnected(self, transport: Any) -> None:
            ws.queue.put_nowait(None)

        def pause_writing(self) -> None:
            ws.writable.clear()

        def resume_writing(self) -> None:
            ws.writable.set()

    return Listener()


async def serve_picows(handler: Callable[[Any], Awaitable[None]]) -> None:
    import asyncio

    from picows import ws_create_server

    tasks: set[asyncio.Task[None]] = set()

    def factory(request: Any) -> Any:
        ws = PicowsWS()

        async def run_handler() -> None:
            await handler(ws)
            ws.close(disconnect=True)

        def connected() -> None:
            task = asyncio.get_running_loop().create_task(run_handler())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        return picows_listener(ws, connected)

    server = await ws_create_server(factory, HOST, 0, max_frame_size=MAX_SIZE)
    announce([server.sockets[0].getsockname()[1], 0])  # no compression support
    await asyncio.sleep(SERVE_SECONDS)


# Clients: connect(lib, port) is an async context manager yielding an object with
# recv() and send().


def connector(lib: str) -> Callable[[int, bool], Any]:
    opts: dict[str, Any] = {"ping_interval": None, "max_size": MAX_SIZE}
    if lib in ("aws-asyncio", "aws-trio", "aws-uvloop"):
        from anywebsockets import connect as aws_connect

        return lambda port, deflate: aws_connect(
            f"ws://{HOST}:{port}/", compression="deflate" if deflate else None, **opts
        )
    if lib in ("ws-asyncio", "ws-uvloop"):
        from websockets.asyncio.client import connect as ws_connect

        return lambda port, deflate: ws_connect(
            f"ws://{HOST}:{port}/", compression="deflate" if deflate else None, **opts
        )
    if lib == "ws-trio":
        from websockets.trio.client import connect as wst_connect

        return lambda port, deflate: wst_connect(
            f"ws://{HOST}:{port}/", compression="deflate" if deflate else None, **opts
        )
    if lib == "aiohttp":
        import aiohttp

        @asynccontextmanager
        async def aiohttp_connect(port: int, deflate: bool) -> AsyncIterator[AiohttpWS]:
            async with (
                aiohttp.ClientSession() as session,
                session.ws_connect(
                    f"ws://{HOST}:{port}/",
                    compress=15 if deflate else 0,
                    max_msg_size=MAX_SIZE,
                    autoping=True,
                ) as ws,
            ):
                yield AiohttpWS(ws)

        return aiohttp_connect
    if lib == "trio-websocket":
        from trio_websocket import open_websocket_url

        @asynccontextmanager
        async def tw_connect(port: int, deflate: bool) -> AsyncIterator[TrioWebsocketWS]:
            if deflate:
                raise NotImplementedError
            async with open_websocket_url(f"ws://{HOST}:{port}/", max_message_size=MAX_SIZE) as ws:
                yield TrioWebsocketWS(ws)

        return tw_connect
    if lib == "picows":
        from picows import ws_connect as picows_ws_connect

        @asynccontextmanager
        async def picows_connect(port: int, deflate: bool) -> AsyncIterator[PicowsWS]:
            if deflate:
                raise NotImplementedError
            ws = PicowsWS()
            transport, _ = await picows_ws_connect(
                lambda: picows_listener(ws), f"ws://{HOST}:{port}/", max_frame_size=MAX_SIZE
            )
            try:
                yield ws
            finally:
                ws.close(disconnect=False)
                await transport.wait_disconnected()

        return picows_connect
    raise ValueError(lib)


async def drive(
    lib: str, ports: list[int], tested: bool, names: list[str], profile: str | None
) -> dict[str, float | None]:
    """Run the scenarios; CPU seconds per operation of the tested side, by name."""
    connect = connector(lib)
    profiler = cProfile.Profile(time.process_time) if profile else None
    results: dict[str, float | None] = {}
    # Untimed: the first measured scenario of a fresh pair of processes came
    # out a third dearer than the same one run later.
    async with connect(ports[0], False) as ws:
        await ws.send(f"echo {WARMUP} 1024")
        warmup = os.urandom(1024)
        for _ in range(WARMUP):
            await ws.send(warmup)
            await ws.recv()
        await ws.recv()
    for name in names:
        kind, n, size, deflate, text = SCENARIOS[name]
        port = ports[1] if deflate else ports[0]
        if port == 0 or (deflate and lib in ("trio-websocket", "picows")):  # no compression there
            results[name] = None
            continue
        if kind == "handshake":
            results[name] = await handshake(connect, port, n, tested, profiler)
            continue
        if deflate:
            payload: str | bytes = text_payload(size)
        elif text:
            payload = mixed_text(size)
        else:
            payload = os.urandom(size)
        if kind == "echo":
            cmd = "echo"
        elif kind == "stream-in":  # the tested side receives
            cmd = "source" if tested else "sink"
        else:
            cmd = "sink" if tested else "source"
        async with connect(port, deflate) as ws:
            for count, measured in ((max(n // 10, 1), False), (n, True)):
                prof = profiler if measured and tested else None
                if prof is not None:
                    prof.enable()
                t0 = time.process_time()
                await ws.send(f"{cmd} {count} {size}")
                if cmd == "echo":
                    for _ in range(count):
                        await ws.send(payload)
                        await ws.recv()
                elif cmd == "sink":
                    for _ in range(count):
                        await ws.send(payload)
                else:
                    for _ in range(count):
                        await ws.recv()
                reported = float(await ws.recv())
                t1 = time.process_time()
                if prof is not None:
                    prof.disable()
            results[name] = (t1 - t0 if tested else reported) / n
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return results


async def handshake(
    connect: Callable[[int, bool], Any],
    port: int,
    n: int,
    tested: bool,
    profiler: cProfile.Profile | None,
) -> float:
    """CPU per opening + closing handshake (client side opens and closes)."""
    async with connect(port, False) as control:
        for count, measured in ((max(n // 10, 1), False), (n, True)):
            await control.send("mark")
            s0 = float(await control.recv())
            if measured and profiler is not None:
                profiler.enable()
            t0 = time.process_time()
            for _ in range(count):
                async with connect(port, False):
                    pass
            t1 = time.process_time()
            if measured and profiler is not None:
                profiler.disable()
            await control.send("mark")
            s1 = float(await control.recv())
    return ((t1 - t0) if tested else (s1 - s0)) / n


# Plain TCP (PLAIN_LIBS and their peer): a command line, then raw bytes.


class PlainConnection:
    """Buffered reads over any ``receive()`` / ``send()`` pair."""

    def __init__(
        self, receive: Callable[[], Awaitable[bytes]], send: Callable[[bytes], Awaitable[None]]
    ) -> None:
        self.receive = receive
        self.send = send
        self.buffer = bytearray()

    async def fill(self) -> None:
        data = await self.receive()
        if not data:
            raise Closed
        self.buffer += data

    async def read_exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self.fill()
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    async def readline(self) -> str:
        while (end := self.buffer.find(b"\n")) < 0:
            await self.fill()
        line = self.buffer[:end].decode()
        del self.buffer[: end + 1]
        return line


async def plain_connection(lib: str, port: int) -> tuple[PlainConnection, Callable[[], Any]]:
    """Connect with ``lib``'s stream; return the connection and its close function."""
    if lib in (RAW_PEER, "asyncio-plain"):
        import asyncio

        reader, writer = await asyncio.open_connection(HOST, port)

        async def write(data: bytes) -> None:
            writer.write(data)
            await writer.drain()

        async def close() -> None:
            writer.close()

        return PlainConnection(lambda: reader.read(262144), write), close
    if lib == "anyio-plain":
        import anyio

        stream: Any = await anyio.connect_tcp(HOST, port)
    else:
        from anywebsockets._backends import connect_tcp

        stream = await connect_tcp(HOST, port)
    return PlainConnection(lambda: stream.receive(262144), stream.send), stream.aclose


async def plain_echoer(conn: PlainConnection) -> None:
    """Answer commands as echoer() does, over plain bytes."""
    while True:
        try:
            line = await conn.readline()
        except Exception:
            return
        op, n, size = line.split()
        count, length = int(n), int(size)
        t0 = time.process_time()
        if op == "echo":
            for _ in range(count):
                await conn.send(await conn.read_exactly(length))
        elif op == "sink":
            for _ in range(count):
                await conn.read_exactly(length)
        elif op == "source":
            payload = os.urandom(length)
            for _ in range(count):
                await conn.send(payload)
        else:
            raise ValueError(line)
        t1 = time.process_time()
        await conn.send(f"{t1 - t0!r}\n".encode())


async def serve_plain(lib: str) -> None:
    import asyncio

    if lib in (RAW_PEER, "asyncio-plain"):

        async def on_connection(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            async def write(data: bytes) -> None:
                writer.write(data)
                await writer.drain()

            await plain_echoer(PlainConnection(lambda: reader.read(262144), write))
            writer.close()

        server = await asyncio.start_server(on_connection, HOST, 0)
        announce([server.sockets[0].getsockname()[1], 0])
        await asyncio.sleep(SERVE_SECONDS)
        return

    import anyio
    from anyio.abc import SocketAttribute

    if lib == "anyio-plain":
        listener: Any = (await anyio.create_tcp_listener(local_host=HOST)).listeners[0]
    else:
        from anywebsockets._backends import create_tcp_listeners

        [listener] = await create_tcp_listeners(HOST, 0, backlog=100, reuse_port=False)

    async def handle(stream: Any) -> None:
        async with stream:
            await plain_echoer(PlainConnection(lambda: stream.receive(262144), stream.send))

    announce([listener.extra(SocketAttribute.local_port), 0])
    async with anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        await anyio.sleep(SERVE_SECONDS)
        tg.cancel_scope.cancel()


async def drive_plain(
    lib: str, ports: list[int], tested: bool, names: list[str]
) -> dict[str, float | None]:
    """drive() for plain TCP: echo and streaming scenarios only."""
    results: dict[str, float | None] = {}
    conn, close = await plain_connection(lib, ports[0])
    await conn.send(f"echo {WARMUP} 1024\n".encode())
    payload = os.urandom(1024)
    for _ in range(WARMUP):
        await conn.send(payload)
        await conn.read_exactly(1024)
    await conn.readline()
    await close()
    for name in names:
        kind, n, size, deflate, text = SCENARIOS[name]
        if kind == "handshake" or deflate or text:  # plain TCP has no text messages
            results[name] = None
            continue
        payload = os.urandom(size)
        if kind == "echo":
            cmd = "echo"
        elif kind == "stream-in":
            cmd = "source" if tested else "sink"
        else:
            cmd = "sink" if tested else "source"
        conn, close = await plain_connection(lib, ports[0])
        for count, _measured in ((max(n // 10, 1), False), (n, True)):
            t0 = time.process_time()
            await conn.send(f"{cmd} {count} {size}\n".encode())
            if cmd == "echo":
                for _ in range(count):
                    await conn.send(payload)
                    await conn.read_exactly(size)
            elif cmd == "sink":
                for _ in range(count):
                    await conn.send(payload)
            else:
                for _ in range(count):
                    await conn.read_exactly(size)
            reported = float(await conn.readline())
            t1 = time.process_time()
        await close()
        results[name] = (t1 - t0 if tested else reported) / n
    return results


def run(lib: str, main: Callable[[], Awaitable[Any]]) -> Any:
    if lib in ("aws-asyncio", "ws-asyncio", "aiohttp", "picows", RAW_PEER, *PLAIN_LIBS):
        import asyncio

        return asyncio.run(main())  # type: ignore[arg-type]
    if lib in ("aws-uvloop", "ws-uvloop"):
        import uvloop

        return uvloop.run(main())  # type: ignore[arg-type]
    if lib == "aws-trio" or lib in ("ws-trio", "trio-websocket"):
        import trio

        return trio.run(main)
    raise ValueError(lib)


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["server", "client", "memory"])
    parser.add_argument("lib", choices=[*LIBS, RAW_PEER])
    parser.add_argument("ports", nargs="*", type=int)
    parser.add_argument("--tested", action="store_true")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--profile", help="cProfile output file (tested side, measured parts)")
    parser.add_argument("--deadline", type=int, default=300, help="SIGALRM after this many s")
    args = parser.parse_args()
    signal.alarm(args.deadline)  # every process is bounded in time, whatever happens

    if args.role == "server":
        profiler = cProfile.Profile(time.process_time) if args.profile else None
        if profiler is not None:
            # dump on SIGTERM from the orchestrator
            def dump(*_: Any) -> None:
                profiler.dump_stats(args.profile)
                os._exit(0)

            signal.signal(signal.SIGTERM, dump)

        async def handler(ws: Any) -> None:
            await echoer(ws, profiler)

        if args.lib in (*PLAIN_LIBS, RAW_PEER):
            run(args.lib, lambda: serve_plain(args.lib))
        elif args.lib in ("aws-asyncio", "aws-trio", "aws-uvloop", "ws-asyncio", "ws-uvloop"):
            run(args.lib, lambda: serve_websockets_like(args.lib, handler))
        elif args.lib == "ws-trio":
            run(args.lib, lambda: serve_ws_trio(handler))
        elif args.lib == "aiohttp":
            run(args.lib, lambda: serve_aiohttp(handler))
        elif args.lib == "trio-websocket":
            run(args.lib, lambda: serve_trio_websocket(handler))
        elif args.lib == "picows":
            run(args.lib, lambda: serve_picows(handler))
    elif args.role == "memory":
        count = int(args.scenarios)
        print(json.dumps({"bytes": idle_connection_memory(args.ports[0], count)}), flush=True)
    elif args.lib in (*PLAIN_LIBS, RAW_PEER):
        names = [s for s in args.scenarios.split(",") if s]
        results = run(args.lib, lambda: drive_plain(args.lib, args.ports, args.tested, names))
        print(json.dumps(results), flush=True)
    else:
        names = [s for s in args.scenarios.split(",") if s]
        results = run(
            args.lib, lambda: drive(args.lib, args.ports, args.tested, names, args.profile)
        )
        print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main()
