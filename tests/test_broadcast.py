"""Tests for :func:`anywebsockets.broadcast.broadcast`.

Every test runs on asyncio and trio over real sockets on 127.0.0.1, with our
clients and servers, and a raw client that completes the handshake and then
never reads (a stuck peer).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import SocketAttribute, SocketStream
from anyio.lowlevel import checkpoint

from anywebsockets import (
    ConcurrencyError,
    ConnectionClosedOK,
    ServerConnection,
    State,
    connect,
)
from anywebsockets.broadcast import broadcast
from anywebsockets.connection import Connection

from .utils import TIMEOUT, echo, raw_client_handshake, running_server

pytestmark = pytest.mark.anyio

SKIP_FULL = "skipped broadcast: outgoing buffer above write_limit"


class Gathering:
    """A server handler that keeps its connections open and tells when ``count`` are here."""

    def __init__(self, count: int, *, small_send_buffer: bool = False) -> None:
        self.count = count
        self.small_send_buffer = small_send_buffer
        self.connections: list[ServerConnection] = []
        self.ready = anyio.Event()

    async def __call__(self, ws: ServerConnection) -> None:
        if self.small_send_buffer:
            # So that a peer that never reads fills the kernel's buffers quickly.
            sock = ws.extra(SocketAttribute.raw_socket)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        self.connections.append(ws)
        if len(self.connections) == self.count:
            self.ready.set()
        await ws.wait_closed()


@asynccontextmanager
async def stuck_client(uri: str) -> AsyncIterator[SocketStream]:
    """A raw client that completes the handshake, then never reads."""
    host, port = uri.removeprefix("ws://").rstrip("/").rsplit(":", 1)
    async with await anyio.connect_tcp(host, int(port)) as stream:
        sock = stream.extra(SocketAttribute.raw_socket)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        await raw_client_handshake(stream)
        yield stream


def skip_records(caplog: pytest.LogCaptureFixture, prefix: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.levelno == logging.WARNING and r.getMessage().startswith(prefix)
    ]


def peer_of(connections: list[ServerConnection], stream: SocketStream) -> ServerConnection:
    """The server connection whose remote end is ``stream``."""
    port = stream.extra(SocketAttribute.local_port)
    (connection,) = [c for c in connections if c.remote_address and c.remote_address[1] == port]
    return connection


# Healthy connections.


async def test_many_clients_receive_every_message_in_order(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gathering = Gathering(20)
    received: list[list[Any]] = []

    async def client(uri: str) -> None:
        async with connect(uri) as ws:
            messages: list[Any] = []
            received.append(messages)
            for _ in range(50):
                messages.append(await ws.recv())

    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(gathering, compression=None) as (_, uri),
            anyio.create_task_group() as tg,
        ):
            for _ in range(20):
                tg.start_soon(client, uri)
            await gathering.ready.wait()
            for i in range(50):
                await broadcast(gathering.connections, f"message {i}")
    assert received == [[f"message {i}" for i in range(50)]] * 20
    assert skip_records(caplog, "skipped broadcast") == []


@pytest.mark.parametrize(
    ("message", "text", "expected"),
    [
        ("café", None, "café"),
        (b"\x00\xff", None, b"\x00\xff"),
        (bytearray(b"ab"), None, b"ab"),
        (memoryview(b"abcd")[1:3], None, b"bc"),
        (b"caf\xc3\xa9", True, "café"),
        ("café", False, b"caf\xc3\xa9"),
        ("café", True, "café"),
        (b"ab", False, b"ab"),
    ],
)
@pytest.mark.parametrize("compression", [None, "deflate"])
async def test_text_and_binary(
    message: Any, text: bool | None, expected: Any, compression: str | None
) -> None:
    gathering = Gathering(2)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(gathering, compression=compression) as (_, uri),
            connect(uri) as ws1,
            connect(uri) as ws2,
        ):
            await gathering.ready.wait()
            await broadcast(gathering.connections, message, text=text)
            assert await ws1.recv() == expected
            assert await ws2.recv() == expected


async def test_unsupported_type_raises_type_error() -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(TypeError, match="not int"):
        await broadcast([], 42)  # type: ignore[arg-type]


async def test_compressed_and_uncompressed_connections() -> None:
    gathering = Gathering(4)
    message = "compressible " * 1000
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(gathering) as (_, uri),
            connect(uri) as deflate1,
            connect(uri, compression=None) as plain1,
            connect(uri) as deflate2,
            connect(uri, compression=None) as plain2,
        ):
            await gathering.ready.wait()
            compressed = [c for c in gathering.connections if c.protocol.extensions]
            plain = [c for c in gathering.connections if not c.protocol.extensions]
            assert (len(compressed), len(plain)) == (2, 2)
            # Look at what is queued: with each write lock held, as if a task
            # were writing, the frames wait in the engine for that task.
            for c in gathering.connections:
                c._write_lock.acquire_nowait()
            await broadcast(gathering.connections, message)
            queued = {c: c.protocol.writes[-1] for c in gathering.connections}
            for c in gathering.connections:
                c._write_lock.release()
                await c._flush_quietly()  # what the lock holder does before it lets go
            # Uncompressed server connections share the very same bytes.
            assert queued[plain[0]] is queued[plain[1]]
            assert queued[compressed[0]] is not queued[compressed[1]]
            assert len(queued[compressed[0]]) < len(message) < len(queued[plain[0]])
            for i in range(3):
                await broadcast(gathering.connections, f"{message} {i}")
            for ws in (deflate1, plain1, deflate2, plain2):
                assert await ws.recv() == message
                for i in range(3):
                    assert await ws.recv() == f"{message} {i}"


async def test_broadcast_from_clients() -> None:
    """Client connections mask each frame; owned or not, they all send it."""
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri):
            owned_cm = connect(uri, compression=None)
            owned = await owned_cm.__aenter__()
            idle = await connect(uri)  # no task uses it: the next call writes
            reading = await connect(uri, compression=None)  # a task waits in recv()
            try:
                replies: list[Any] = []

                async def receive() -> None:
                    replies.append(await reading.recv())

                async with anyio.create_task_group() as tg:
                    tg.start_soon(receive)
                    while not reading._reading:  # let the reader block on the socket
                        await checkpoint()
                    await broadcast([owned, idle, reading], "hello")
                assert replies == ["hello"]
                assert await owned.recv() == "hello"
                assert await idle.recv() == "hello"
                for i in range(5):
                    await broadcast([owned, idle, reading], b"%d" % i)
                for ws in (owned, idle, reading):
                    assert [await ws.recv() for _ in range(5)] == [b"%d" % i for i in range(5)]
            finally:
                await idle.close()
                await reading.close()
                await owned_cm.__aexit__(None, None, None)


# Skipped connections.


async def test_closed_connections_are_skipped_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gathering = Gathering(2)
    with anyio.fail_after(TIMEOUT):
        async with running_server(gathering) as (_, uri), connect(uri) as ws:
            async with connect(uri) as gone:
                await gathering.ready.wait()
                port = gone.local_address[1]
                (closed,) = [c for c in gathering.connections if c.remote_address[1] == port]
            await closed.wait_closed()
            await broadcast([*gathering.connections, gone], "still here")
            assert await ws.recv() == "still here"
    records = skip_records(caplog, "skipped broadcast")
    assert [r.getMessage() for r in records] == ["skipped broadcast: connection is closed"] * 2
    assert {r.websocket for r in records} == {closed, gone}  # type: ignore[attr-defined]


async def test_fragmented_message_is_not_interleaved(caplog: pytest.LogCaptureFixture) -> None:
    gathering = Gathering(1)
    go_on = anyio.Event()

    async def fragments() -> AsyncIterator[str]:
        yield "one, "
        yield "two, "  # send() looks one fragment ahead: "one, " is sent now
        await go_on.wait()
        yield "three"

    with anyio.fail_after(TIMEOUT):
        async with running_server(gathering) as (_, uri), connect(uri) as ws:
            await gathering.ready.wait()
            (server_side,) = gathering.connections
            async with anyio.create_task_group() as tg:
                tg.start_soon(server_side.send, fragments())
                while not server_side._sending_fragments():
                    await checkpoint()
                await broadcast([server_side, ws], "broadcast")
                go_on.set()
            assert await ws.recv() == "one, two, three"
            await broadcast([server_side], "after")
            assert await ws.recv() == "after"
    records = skip_records(caplog, "skipped broadcast")
    assert [r.getMessage() for r in records] == ["skipped broadcast: sending a fragmented message"]
    assert records[0].websocket is server_side  # type: ignore[attr-defined]


async def test_raise_exceptions_collects_skips_in_an_exception_group(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gathering = Gathering(3, small_send_buffer=True)
    go_on = anyio.Event()

    async def fragments() -> AsyncIterator[bytes]:
        yield b"a"
        yield b"b"
        await go_on.wait()
        yield b"c"

    big = bytes(2**20)  # more than the kernel's buffers hold
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(gathering, compression=None) as (_, uri),
            stuck_client(uri) as stuck,
            connect(uri) as ws,
            connect(uri) as gone,
        ):
            await gone.close()
            await gathering.ready.wait()
            stuck_side = peer_of(gathering.connections, stuck)
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.send, fragments())
                while not ws._sending_fragments():
                    await checkpoint()
                await broadcast([stuck_side], big)  # fills its buffer
                connections: list[Connection] = [stuck_side, ws, gone]
                with pytest.raises(ExceptionGroup) as info:
                    await broadcast(connections, b"x", raise_exceptions=True)
                go_on.set()
    group = info.value
    assert group.message == "skipped broadcast"
    full, fragmenting, closed = group.exceptions
    assert isinstance(full, BlockingIOError)
    assert full.errno == errno.EAGAIN
    assert full.strerror.startswith("outgoing buffer above write_limit")
    assert isinstance(fragmenting, ConcurrencyError)
    assert str(fragmenting) == "sending a fragmented message"
    assert isinstance(closed, ConnectionClosedOK)
    assert closed.sent is not None and closed.sent.code == 1000
    assert full.__notes__ == [f"connection id: {stuck_side.id}"]
    assert fragmenting.__notes__ == [f"connection id: {ws.id}"]
    assert closed.__notes__ == [f"connection id: {gone.id}"]
    assert skip_records(caplog, "skipped broadcast") == []


async def test_stuck_client_is_skipped_and_others_get_everything(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The issue's scenario, sized for CI: 200 connections, one never reads."""
    healthy, count = 199, 200
    gathering = Gathering(healthy + 1, small_send_buffer=True)
    delivered = [0] * count
    all_delivered = [anyio.Event() for _ in range(count)]
    mismatches: list[tuple[int, bytes]] = []

    async def client(uri: str) -> None:
        async with connect(uri, ping_interval=None) as ws:
            for i in range(count):
                message = await ws.recv()
                if message[:4] != i.to_bytes(4, "big"):
                    mismatches.append((i, message[:4]))
                delivered[i] += 1
                if delivered[i] == healthy:
                    all_delivered[i].set()

    # 40,000 deliveries take longer than TIMEOUT in one process: each step is
    # bounded instead. The stuck connection's write makes no progress during
    # the whole test: close_timeout must not abort it before the end.
    options = {"compression": None, "ping_interval": None, "close_timeout": 10 * TIMEOUT}
    async with running_server(gathering, **options) as (_, uri):
        with anyio.fail_after(TIMEOUT):
            cm = stuck_client(uri)
            stuck = await cm.__aenter__()
        try:
            async with anyio.create_task_group() as tg:
                with anyio.fail_after(TIMEOUT):
                    for _ in range(healthy):
                        tg.start_soon(client, uri)
                    await gathering.ready.wait()
                stuck_side = peer_of(gathering.connections, stuck)
                for i in range(count):
                    with anyio.fail_after(TIMEOUT):
                        await broadcast(gathering.connections, i.to_bytes(4, "big") + bytes(4092))
                        # Pace on the healthy clients only: the stuck one never reads.
                        await all_delivered[i].wait()
            # Memory stays bounded: at most write_limit plus one message.
            assert stuck_side.state is State.OPEN
            assert stuck_side._outgoing_size() <= 2**15 + 4096 + 4
        finally:
            with anyio.fail_after(TIMEOUT):
                await cm.__aexit__(None, None, None)
    assert mismatches == []
    assert delivered == [healthy] * count
    records = skip_records(caplog, "skipped broadcast")
    assert records, "the stuck client was never skipped"
    assert all(r.getMessage().startswith(SKIP_FULL) for r in records)
    assert {r.websocket for r in records} == {stuck_side}  # type: ignore[attr-defined]
