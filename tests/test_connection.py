"""The driver, :class:`anywebsockets.connection.Connection`, over real sockets.

Every test runs on asyncio and on trio. Normal peers are our own ``serve`` and
``connect``; peers that misbehave on purpose (never answer pings or close
frames, send garbage, reset the TCP connection) are written by hand with
:class:`RawPeer`. Most client tests run twice more: on a connection owned by
``async with connect()`` (a background task reads) and on one from
``ws = await connect()`` (the waiting task reads).
"""

from __future__ import annotations

import logging
import random
import socket
import ssl
import struct
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.tls import TLSAttribute

from anywebsockets import (
    ClientConnection,
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    ProtocolError,
    ServerConnection,
    State,
    connect,
)
from anywebsockets.connection import Data

from .utils import (
    TIMEOUT,
    echo,
    frame,
    raw_client_handshake,
    raw_listener,
    raw_server_handshake,
    running_server,
)

pytestmark = pytest.mark.anyio

OWNERSHIP = pytest.mark.parametrize("owned", [True, False], ids=["owned", "unowned"])

TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


# Helpers.


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def parse_close(data: bytes) -> tuple[int, str]:
    if not data:
        return 1005, ""
    return struct.unpack("!H", data[:2])[0], data[2:].decode()


def unmask(data: bytes, key: bytes) -> bytes:
    size = len(data)
    repeated = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(size, "big")


class RawPeer:
    """One end of a WebSocket connection driven frame by frame, to misbehave on purpose."""

    def __init__(self, stream: ByteStream, buffer: bytes, *, client: bool) -> None:
        self.stream = stream
        self.buffer = bytearray(buffer)
        self.client = client
        self.write_lock = anyio.Lock()

    async def _fill(self, size: int) -> None:
        while len(self.buffer) < size:
            self.buffer += await self.stream.receive()

    async def read_frame(self) -> tuple[bool, int, bytes] | None:
        """Return (fin, opcode, payload) of the next frame, or None at the end of the stream."""
        try:
            await self._fill(2)
            fin, opcode = bool(self.buffer[0] & 0x80), self.buffer[0] & 0x0F
            masked, length, pos = bool(self.buffer[1] & 0x80), self.buffer[1] & 0x7F, 2
            if length == 126:
                await self._fill(4)
                length, pos = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                await self._fill(10)
                length, pos = struct.unpack("!Q", self.buffer[2:10])[0], 10
            key = b""
            if masked:
                await self._fill(pos + 4)
                key, pos = bytes(self.buffer[pos : pos + 4]), pos + 4
            await self._fill(pos + length)
        except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
            return None
        assert masked == (not self.client), "masking is wrong for this side"
        data = bytes(self.buffer[pos : pos + length])
        del self.buffer[: pos + length]
        return fin, opcode, unmask(data, key) if masked else data

    async def read_until(self, opcode: int) -> bytes:
        """Skip frames until one with ``opcode``; return its payload."""
        while True:
            got = await self.read_frame()
            assert got is not None, f"stream ended before opcode {opcode}"
            if got[1] == opcode:
                return got[2]

    async def send(self, opcode: int, data: bytes = b"", *, fin: bool = True) -> None:
        async with self.write_lock:
            await self.stream.send(frame(opcode, data, fin=fin, mask=self.client))

    async def close_handshake(self, code: int = 1000, reason: str = "") -> tuple[int, str]:
        """Send a close frame, return the peer's answer, and finish the TCP close."""
        await self.send(CLOSE, close_payload(code, reason))
        answer = parse_close(await self.read_until(CLOSE))
        await self.finish_closing()
        return answer

    async def answer_close(self) -> tuple[int, str]:
        """Wait for the peer's close frame, echo it, and finish the TCP close."""
        data = await self.read_until(CLOSE)
        await self.send(CLOSE, data)
        await self.finish_closing()
        return parse_close(data)

    async def finish_closing(self) -> None:
        """A server closes the TCP connection first; a client waits for it."""
        if self.client:
            await self.wait_eof()
        else:
            await self.stream.aclose()

    async def wait_eof(self) -> None:
        while await self.read_frame() is not None:
            pass


RawBehaviour = Callable[[RawPeer], Awaitable[None]]


@asynccontextmanager
async def raw_server(behaviour: RawBehaviour) -> AsyncIterator[str]:
    """Accept one connection, complete the handshake by hand, then run ``behaviour``."""
    async with raw_listener() as (listener, port), anyio.create_task_group() as tg:

        async def serve_one() -> None:
            stream = await listener.listeners[0].accept()
            async with stream:
                rest = await raw_server_handshake(stream)
                await behaviour(RawPeer(stream, rest, client=False))

        tg.start_soon(serve_one)
        yield f"ws://127.0.0.1:{port}/"


@asynccontextmanager
async def raw_client(uri: str) -> AsyncIterator[RawPeer]:
    """Connect to ``uri`` and complete the handshake by hand."""
    host, port = uri.removeprefix("ws://").rstrip("/").rsplit(":", 1)
    async with await anyio.connect_tcp(host, int(port)) as stream:
        rest = await raw_client_handshake(stream)
        yield RawPeer(stream, rest, client=True)


@asynccontextmanager
async def client(uri: str, owned: bool, **kwargs: Any) -> AsyncIterator[ClientConnection]:
    """``async with connect()`` when ``owned``, else ``ws = await connect()`` closed at the end."""
    if owned:
        async with connect(uri, **kwargs) as ws:
            yield ws
    else:
        ws = await connect(uri, **kwargs)
        try:
            yield ws
        finally:
            await ws.close()


async def collect(iterable: AsyncIterator[Data], into: list[Data]) -> None:
    async for item in iterable:
        into.append(item)


async def send_until_it_fails(ws: ClientConnection, count: int = 100) -> None:
    for _ in range(count):
        await ws.send(b"x" * 65536)
        await anyio.sleep(0.01)


class Recorder:
    """A server handler that records its connection and how it ended."""

    def __init__(self, body: Callable[[ServerConnection], Awaitable[None]] | None = None) -> None:
        self.body = body or echo
        self.connection: ServerConnection | None = None
        self.exception: BaseException | None = None
        self.done = anyio.Event()

    async def __call__(self, ws: ServerConnection) -> None:
        self.connection = ws
        try:
            await self.body(ws)
        except BaseException as exc:
            self.exception = exc
            raise
        finally:
            self.done.set()

    async def close_code(self) -> tuple[int | None, str | None]:
        """Wait until the handler is done and its connection closed; return its close code."""
        await self.done.wait()
        assert self.connection is not None
        await self.connection.wait_closed()
        return self.connection.close_code, self.connection.close_reason


# Receiving.


@OWNERSHIP
async def test_text_and_binary_round_trip(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            await ws.send("café")
            assert await ws.recv() == "café"
            await ws.send(b"\x00\xff")
            assert await ws.recv() == b"\x00\xff"


@OWNERSHIP
async def test_recv_decode(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            await ws.send("café")
            assert await ws.recv(decode=False) == "café".encode()
            await ws.send("café".encode())
            assert await ws.recv(decode=True) == "café"
            await ws.send("text")
            assert await ws.recv(decode=True) == "text"
            await ws.send(b"bytes")
            assert await ws.recv(decode=False) == b"bytes"


@OWNERSHIP
async def test_recv_decode_invalid_utf8_fails_with_1007(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(BINARY, b"\xff\xfe")
        closes.append(await peer.answer_close())

    closes: list[tuple[int, str]] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv(decode=True)
            assert isinstance(info.value.__cause__, UnicodeDecodeError)
            assert info.value.sent is not None and info.value.sent.code == 1007
    assert closes[0][0] == 1007


@OWNERSHIP
async def test_fragmented_message_is_reassembled(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(echo, compression=None) as (_, uri),
            client(uri, owned, compression=None) as ws,
        ):
            await ws.send(["ca", "f", "é"])
            assert await ws.recv() == "café"
            await ws.send([b"\x00", b"", b"\x01"])
            assert await ws.recv() == b"\x00\x01"


async def send_frames(peer: RawPeer, frames: list[tuple[int, bytes, bool]]) -> None:
    for opcode, data, fin in frames:
        await peer.send(opcode, data, fin=fin)


CAFE = "café".encode()
SPLIT_CAFE = [(TEXT, CAFE[:4], False), (CONT, CAFE[4:], True)]  # "é" is split


@OWNERSHIP
async def test_recv_streaming_yields_each_frame(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await send_frames(peer, [(TEXT, b"ca", False), (CONT, b"f", False), (CONT, b"!", True)])
        await send_frames(
            peer, [(BINARY, b"\x00", False), (CONT, b"", False), (CONT, b"\x01", True)]
        )
        await send_frames(peer, [(TEXT, b"whole", True)])
        await peer.answer_close()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            assert [chunk async for chunk in ws.recv_streaming()] == ["ca", "f", "!"]
            assert [chunk async for chunk in ws.recv_streaming()] == [b"\x00", b"", b"\x01"]
            assert [chunk async for chunk in ws.recv_streaming()] == ["whole"]


@OWNERSHIP
async def test_recv_streaming_decode(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await send_frames(peer, SPLIT_CAFE)
        await send_frames(peer, SPLIT_CAFE)
        await send_frames(peer, [(BINARY, CAFE[:4], False), (CONT, CAFE[4:], True)])
        await peer.answer_close()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            # The split character is yielded once complete.
            assert [c async for c in ws.recv_streaming()] == ["caf", "é"]
            assert [c async for c in ws.recv_streaming(decode=False)] == [CAFE[:4], CAFE[4:]]
            assert [c async for c in ws.recv_streaming(decode=True)] == ["caf", "é"]


@OWNERSHIP
async def test_recv_streaming_stopped_midway_leaves_the_rest_to_recv(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await send_frames(peer, [(TEXT, b"ca", False), (CONT, b"f\xc3", False)])
        await send_frames(
            peer, [(CONT, b"\xa9", False), (CONT, b"!", True), (TEXT, b"next", True)]
        )
        await send_frames(peer, SPLIT_CAFE)
        await send_frames(peer, [(BINARY, b"ab", False), (CONT, b"cd", True)])
        await peer.answer_close()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            async for chunk in ws.recv_streaming():
                assert chunk == "ca"
                break
            # The rest of the message, then the next message.
            assert await ws.recv() == "fé!"
            assert await ws.recv() == "next"
            # Stopped after half a character: the other half is not lost.
            iterator = ws.recv_streaming()
            assert await iterator.__anext__() == "caf"
            assert [c async for c in ws.recv_streaming()] == ["é"]
            iterator = ws.recv_streaming()
            assert await iterator.__anext__() == b"ab"
            assert await ws.recv() == b"cd"


@OWNERSHIP
async def test_recv_streaming_ends_with_the_connection(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(TEXT, b"half", fin=False)
        await peer.close_handshake(1000)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            chunks: list[Data] = []
            # The peer closed normally in the middle of a message.
            with pytest.raises(ConnectionClosedOK):
                await collect(ws.recv_streaming(), chunks)
            assert chunks == ["half"]
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            with pytest.raises(ConnectionClosedOK):
                await ws.recv_streaming().__anext__()


@OWNERSHIP
async def test_cancelled_recv_keeps_a_partial_message(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(TEXT, b"first ", fin=False)
        await go.wait()
        await peer.send(CONT, b"second")
        await peer.answer_close()

    go = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            with anyio.move_on_after(0.2) as scope:
                await ws.recv()
            assert scope.cancelled_caught
            go.set()
            assert await ws.recv() == "first second"


@OWNERSHIP
async def test_cancelled_recv_then_recv_streaming(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(BINARY, b"one", fin=False)
        await go.wait()
        await peer.send(CONT, b"two")
        await peer.answer_close()

    go = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            with anyio.move_on_after(0.2):
                await ws.recv()
            go.set()
            # What the cancelled recv() took comes with the next frame.
            assert [c async for c in ws.recv_streaming()] == [b"onetwo"]


@OWNERSHIP
async def test_recv_after_close(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            await ws.close()
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
            with pytest.raises(ConnectionClosedOK):
                await ws.send("late")
            with pytest.raises(ConnectionClosedOK):
                await ws.ping()
            with pytest.raises(ConnectionClosedOK):
                await ws.pong()


# Iteration.


@OWNERSHIP
@pytest.mark.parametrize("code", [1000, 1001])
async def test_iteration_ends_quietly_on_normal_closure(owned: bool, code: int) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(TEXT, b"a")
        await peer.send(BINARY, b"b")
        await peer.close_handshake(code)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            assert [message async for message in ws] == ["a", b"b"]
            assert ws.close_code == code


@OWNERSHIP
async def test_iteration_raises_on_error_closure(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(TEXT, b"a")
        await peer.close_handshake(1011, "oops")

    messages: list[Data] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await collect(ws, messages)
    assert messages == ["a"]
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (1011, "oops")


# Sending.


@OWNERSHIP
async def test_send_bytes_like(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            await ws.send(bytearray(b"array"))
            assert await ws.recv() == b"array"
            await ws.send(memoryview(b"xxview")[2:])
            assert await ws.recv() == b"view"
            await ws.send(b"")
            assert await ws.recv() == b""
            await ws.send("")
            assert await ws.recv() == ""


@OWNERSHIP
async def test_send_text_override(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            await ws.send("café".encode(), text=True)
            assert await ws.recv() == "café"
            await ws.send("café", text=False)
            assert await ws.recv() == "café".encode()
            await ws.send([b"a", b"b"], text=True)
            assert await ws.recv() == "ab"
            await ws.send(["a", "b"], text=False)
            assert await ws.recv() == b"ab"


class fragments:  # lower case: used like an async generator function
    """An async iterable of fragments (not a generator: abandoning it needs no cleanup)."""

    def __init__(self, *items: Any) -> None:
        self.items = list(items)

    def __aiter__(self) -> fragments:
        return self

    async def __anext__(self) -> Any:
        await anyio.lowlevel.checkpoint()
        if not self.items:
            raise StopAsyncIteration
        return self.items.pop(0)


@OWNERSHIP
async def test_send_fragments_on_the_wire(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        while (got := await peer.read_frame()) is not None and got[1] != CLOSE:
            seen.append(got)
        await peer.send(CLOSE, close_payload(1000))

    seen: list[tuple[bool, int, bytes]] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            await ws.send(fragments("a", "b", "c"))
            await ws.send(fragments(b"a", bytearray(b"b"), memoryview(b"c")))
            await ws.send(["x", "y"])
            await ws.send(fragments())
            await ws.send([])
            await ws.send("after empty ones")
    assert seen == [
        (False, TEXT, b"a"),
        (False, CONT, b"b"),
        (True, CONT, b"c"),
        (False, BINARY, b"a"),
        (False, CONT, b"b"),
        (True, CONT, b"c"),
        (False, TEXT, b"x"),
        (True, CONT, b"y"),
        (True, TEXT, b"after empty ones"),
    ]


@OWNERSHIP
async def test_send_unsupported_types(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            with pytest.raises(TypeError):
                await ws.send(42)  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await ws.send({"a": 1})  # type: ignore[arg-type]
            with pytest.raises(TypeError):
                await ws.send([1, 2])  # type: ignore[list-item]
            # Nothing was sent: the connection still works.
            await ws.send("still open")
            assert await ws.recv() == "still open"


@OWNERSHIP
async def test_send_text_that_cannot_be_encoded(owned: bool) -> None:
    """A lone surrogate is not UTF-8: nothing is sent and the connection stays usable."""
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            with pytest.raises(UnicodeEncodeError):
                await ws.send("\ud800")
            await ws.send("still open")
            assert await ws.recv() == "still open"


@OWNERSHIP
@pytest.mark.parametrize("make", [list, lambda items: fragments(*items)], ids=["sync", "async"])
async def test_send_mixed_fragments(owned: bool, make: Callable[[list[Any]], Any]) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri), client(uri, owned) as ws:
            # The second fragment shows the mix before anything was sent.
            with pytest.raises(TypeError):
                await ws.send(make(["a", b"b"]))
            await ws.send("fine")
            assert await ws.recv() == "fine"
            # Here the first fragment went out: the message cannot be finished.
            with pytest.raises(TypeError):
                await ws.send(make(["a", "b", b"c"]))
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent is not None
            assert (info.value.sent.code, info.value.sent.reason) == (
                1011,
                "error in fragmented message",
            )
        assert await recorder.close_code() == (1011, "error in fragmented message")


@OWNERSHIP
async def test_concurrent_sends_never_interleave(owned: bool) -> None:
    received: list[str] = []

    async def collect(ws: ServerConnection) -> None:
        async for message in ws:
            assert isinstance(message, str)
            received.append(message)

    async def sender(k: int) -> None:
        for j in range(10):
            parts = [f"{k}-{j}-{n}|" for n in range(4)]
            if j % 3 == 0:
                await ws.send(fragments(*parts))
            elif j % 3 == 1:
                await ws.send(parts)
            else:
                await ws.send("".join(parts))

    recorder = Recorder(collect)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(recorder, compression=None) as (_, uri),
            client(uri, owned, compression=None) as ws,
            anyio.create_task_group() as tg,
        ):
            for k in range(5):
                tg.start_soon(sender, k)
        assert await recorder.close_code() == (1000, "")
    expected = ["".join(f"{k}-{j}-{n}|" for n in range(4)) for k in range(5) for j in range(10)]
    assert sorted(received) == sorted(expected)


# Pings and pongs.


@OWNERSHIP
async def test_ping_returns_the_latency(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            assert ws.latency == 0
            waiter = await ws.ping()
            latency = await waiter
            assert isinstance(latency, float) and latency > 0
            assert ws.latency == latency
            assert await (await ws.ping("text")) > 0
            assert await (await ws.ping(b"bytes")) > 0


@OWNERSHIP
async def test_ping_payloads_and_pong(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        seen.append(await peer.read_until(PING))
        seen.append(await peer.read_until(PING))
        await peer.send(PONG, seen[1])  # answers the second ping, hence the first too
        seen.append(await peer.read_until(PONG))
        await peer.answer_close()

    seen: list[bytes] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            first = await ws.ping("first")
            second = await ws.ping()
            with pytest.raises(ConcurrencyError):
                await ws.ping("first")
            assert await second > 0
            assert await first > 0
            await ws.pong("heartbeat")
    assert seen[0] == b"first"
    assert len(seen[1]) == 4
    assert seen[2] == b"heartbeat"


@OWNERSHIP
async def test_pong_waiter_fails_when_the_connection_closes(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.read_until(PING)
        await peer.close_handshake(1000)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            waiter = await ws.ping()
            with pytest.raises(ConnectionClosedOK):
                await waiter


# Attributes.


@OWNERSHIP
async def test_attributes(owned: bool) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder, subprotocols=["chat"]) as (server, uri):
            port = server.listeners[0].extra(SocketAttribute.local_port)
            async with client(uri, owned, subprotocols=["chat"]) as ws:
                assert isinstance(ws.id, uuid.UUID) and ws.id.version == 4
                assert isinstance(ws.logger, logging.LoggerAdapter)
                assert ws.logger.extra is not None and ws.logger.extra["websocket"] is ws
                assert ws.logger.logger.name == "anywebsockets.client"
                assert ws.remote_address == ("127.0.0.1", port)
                assert ws.local_address[0] == "127.0.0.1"
                assert ws.extra(SocketAttribute.remote_port) == port
                assert ws.state is State.OPEN
                assert ws.subprotocol == "chat"
                assert ws.request is not None and ws.request.path == "/"
                assert ws.response is not None and ws.response.status_code == 101
                assert ws.close_code is None and ws.close_reason is None
                await ws.send("hello")
                assert await ws.recv() == "hello"
                server_ws = recorder.connection
                assert server_ws is not None
                assert server_ws.logger.extra is not None
                assert server_ws.logger.extra["websocket"] is server_ws
                assert server_ws.logger.logger.name == "anywebsockets.server"
                assert server_ws.remote_address == ws.local_address
                assert server_ws.local_address == ws.remote_address
                assert server_ws.request is not None and server_ws.response is not None
                assert server_ws.subprotocol == "chat"
                assert server_ws.id != ws.id
                addresses = (ws.local_address, ws.remote_address)
                await ws.close(4000, "done")
                assert ws.state is State.CLOSED
                assert (ws.close_code, ws.close_reason) == (4000, "done")
            # Still known once the socket is closed, for logs and handlers' finally blocks.
            assert (ws.local_address, ws.remote_address) == addresses
        assert await recorder.close_code() == (4000, "done")
        assert (server_ws.local_address, server_ws.remote_address) == addresses[::-1]


@OWNERSHIP
async def test_tls_attributes(
    owned: bool, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    server_context, client_context = server_ssl, client_ssl
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder, ssl=server_context) as (server, uri):
            assert uri.startswith("wss://")
            port = server.listeners[0].extra(SocketAttribute.local_port)
            async with client(uri, owned, ssl=client_context) as ws:
                await ws.send("secret")
                assert await ws.recv() == "secret"
                assert ws.extra(TLSAttribute.server_side) is False
                assert ws.extra(TLSAttribute.tls_version).startswith("TLS")
                assert ws.extra(TLSAttribute.peer_certificate) is not None
                assert ws.extra(SocketAttribute.remote_port) == port
                assert ws.remote_address == ("127.0.0.1", port)
                server_ws = recorder.connection
                assert server_ws is not None
                assert server_ws.extra(TLSAttribute.server_side) is True
                assert server_ws.extra(SocketAttribute.local_port) == port
        assert await recorder.close_code() == (1000, "")
    assert ws.close_code == 1000


async def test_missing_typed_attribute() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), connect(uri) as ws:
            with pytest.raises(anyio.TypedAttributeLookupError):
                ws.extra(TLSAttribute.server_side)
            assert ws.extra(TLSAttribute.server_side, "none") == "none"


# Ownership: who reads the network.


@OWNERSHIP
async def test_pings_are_answered_while_waiting_in_recv(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        for payload in [b"1", b"2"]:
            await peer.send(PING, payload)
            pongs.append(await peer.read_until(PONG))
        await peer.send(TEXT, b"after the pings")
        await peer.answer_close()

    pongs: list[bytes] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            assert await ws.recv() == "after the pings"
    assert pongs == [b"1", b"2"]


@OWNERSHIP
async def test_pings_are_answered_while_iterating(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(TEXT, b"one")
        await peer.send(PING, b"ping")
        pongs.append(await peer.read_until(PONG))
        await peer.send(TEXT, b"two")
        await peer.close_handshake(1000)

    pongs: list[bytes] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            assert [message async for message in ws] == ["one", "two"]
    assert pongs == [b"ping"]


@OWNERSHIP
async def test_pings_are_answered_while_waiting_in_wait_closed(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(PING, b"ping")
        pongs.append(await peer.read_until(PONG))
        await peer.close_handshake(1001, "bye")

    pongs: list[bytes] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            await ws.wait_closed()
            assert ws.state is State.CLOSED
            assert (ws.close_code, ws.close_reason) == (1001, "bye")
    assert pongs == [b"ping"]


async def test_owned_connection_answers_pings_while_the_application_is_busy() -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(PING, b"ping")
        pongs.append(await peer.read_until(PONG))
        done.set()
        await peer.answer_close()

    pongs: list[bytes] = []
    done = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, connect(uri):
            await done.wait()  # not waiting on the connection at all
    assert pongs == [b"ping"]


async def test_handler_that_only_sends_notices_the_close() -> None:
    async def ticker(ws: ServerConnection) -> None:
        while True:
            await ws.send("tick")
            await anyio.sleep(0.01)

    recorder = Recorder(ticker)
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async with connect(uri) as ws:
                assert await ws.recv() == "tick"
            await recorder.done.wait()
    assert isinstance(recorder.exception, ConnectionClosedOK)
    assert await recorder.close_code() == (1000, "")


async def test_unowned_connection_is_used_and_closed_from_other_tasks() -> None:
    recorder = Recorder()
    opened: list[ClientConnection] = []
    replies: list[Any] = []

    async def opener() -> None:
        opened.append(await connect(uri))

    async def user() -> None:
        ws = opened[0]
        await ws.send("from another task")
        replies.append(await ws.recv())
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()

    async def closer() -> None:
        await anyio.sleep(0.05)
        await opened[0].close()

    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async with anyio.create_task_group() as tg:
                tg.start_soon(opener)
            async with anyio.create_task_group() as tg:
                tg.start_soon(user)
                tg.start_soon(closer)
            assert await recorder.close_code() == (1000, "")
    assert replies == ["from another task"]
    assert opened[0].state is State.CLOSED


@OWNERSHIP
async def test_close_while_another_task_reads(owned: bool) -> None:
    recorder = Recorder()
    errors: list[BaseException] = []

    async def reader(ws: ClientConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            errors.append(exc)

    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async with (
                client(uri, owned, close_timeout=2 * TIMEOUT) as ws,
                anyio.create_task_group() as tg,
            ):
                tg.start_soon(reader, ws)
                await anyio.sleep(0.05)
                await ws.close(1000, "from the side")
            assert await recorder.close_code() == (1000, "from the side")
    assert [type(e) for e in errors] == [ConnectionClosedOK]


# Keepalive.


@OWNERSHIP
async def test_keepalive_pings_while_waiting(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        for _ in range(2):
            payload = await peer.read_until(PING)
            await anyio.sleep(0.01)
            await peer.send(PONG, payload)
            pings.append(payload)
        await peer.send(TEXT, b"pinged twice")
        await peer.answer_close()

    pings: list[bytes] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned, ping_interval=0.05, ping_timeout=TIMEOUT) as ws,
        ):
            assert await ws.recv() == "pinged twice"
            assert ws.latency > 0
    assert len(pings) == 2 and pings[0] != pings[1]


@OWNERSHIP
async def test_keepalive_timeout(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.read_until(PING)  # and never answer it
        closes.append(parse_close(await peer.read_until(CLOSE)))

    closes: list[tuple[int, str]] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned, ping_interval=0.05, ping_timeout=0.1) as ws,
        ):
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.sent is not None
            assert (info.value.sent.code, info.value.sent.reason) == (
                1011,
                "keepalive ping timeout",
            )
            assert ws.close_code == 1006
    assert closes == [(1011, "keepalive ping timeout")]


async def test_server_keepalive_timeout() -> None:
    async def wait(ws: ServerConnection) -> None:
        await ws.recv()

    recorder = Recorder(wait)
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder, ping_interval=0.05, ping_timeout=0.1) as (_, uri):
            async with raw_client(uri) as peer:
                await peer.read_until(PING)
                close = parse_close(await peer.read_until(CLOSE))
                await peer.wait_eof()  # the server closes the TCP connection
            await recorder.done.wait()
    assert close == (1011, "keepalive ping timeout")
    assert isinstance(recorder.exception, ConnectionClosedError)


@OWNERSHIP
async def test_data_counts_as_proof_of_life(owned: bool) -> None:
    # The peer answers pings long after ping_timeout, but it sends data all
    # the time: the connection must stay open.
    async def behaviour(peer: RawPeer) -> None:
        async def flood() -> None:
            for i in range(100):
                await peer.send(TEXT, str(i).encode())
                await anyio.sleep(0.01)
            flooding.set()

        async def answer_late() -> None:
            while (got := await peer.read_frame()) is not None and got[1] != CLOSE:
                if got[1] == PING and not flooding.is_set():
                    pings.append(got[2])
                    await anyio.sleep(0.9)  # three times ping_timeout
                    await peer.send(PONG, got[2])
            closes.append(parse_close(got[2]) if got else None)

        async with anyio.create_task_group() as tg:
            tg.start_soon(answer_late)
            await flood()
            await peer.send(CLOSE, close_payload(1000))

    flooding = anyio.Event()
    pings: list[bytes] = []
    closes: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned, ping_interval=0.1, ping_timeout=0.3) as ws,
        ):
            messages = [message async for message in ws]
    assert messages == [str(i) for i in range(100)]
    assert pings  # at least one ping went unanswered for three times ping_timeout
    assert closes == [(1000, "")]


@OWNERSHIP
async def test_slow_application_does_not_cause_keepalive_timeout(owned: bool) -> None:
    # The pong arrives while reading is paused by max_queue, long before the
    # application reads again: time spent paused is not held against the peer.
    async def behaviour(peer: RawPeer) -> None:
        payload = await peer.read_until(PING)
        for i in range(10):
            await peer.send(TEXT, str(i).encode())
        await anyio.sleep(0.05)
        await peer.send(PONG, payload)
        while (got := await peer.read_frame()) is not None:
            if got[1] == PING:
                await peer.send(PONG, got[2])
            elif got[1] == CLOSE:
                closes.append(parse_close(got[2]))
                await peer.send(CLOSE, got[2])
                return

    closes: list[tuple[int, str]] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned, ping_interval=0.05, ping_timeout=0.5, max_queue=2) as ws,
        ):
            messages = [] if owned else [await ws.recv()]
            await anyio.sleep(1.5)  # three times ping_timeout
            while len(messages) < 10:
                messages.append(await ws.recv())
            assert await (await ws.ping()) > 0
    assert messages == [str(i) for i in range(10)]
    assert closes == [(1000, "")]


@OWNERSHIP
async def test_keepalive_disabled(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        with anyio.move_on_after(0.3):
            frames.append(await peer.read_frame())
        await peer.send(TEXT, b"done")
        await peer.answer_close()

    frames: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned, ping_interval=None, ping_timeout=0.01) as ws,
        ):
            assert await ws.recv() == "done"
    assert frames == []


# Flow control.


def payload(i: int, size: int) -> bytes:
    return i.to_bytes(4, "big") + random.Random(i).randbytes(size - 4)


class Flooder:
    """A handler that sends ``count`` binary messages of ``size`` bytes as fast as it can."""

    def __init__(self, count: int, size: int) -> None:
        self.count, self.size, self.sent = count, size, 0
        self.all_sent = anyio.Event()

    async def __call__(self, ws: ServerConnection) -> None:
        for i in range(self.count):
            await ws.send(payload(i, self.size))
            self.sent += 1
        self.all_sent.set()
        await ws.wait_closed()

    async def stalls(self) -> bool:
        """Tell whether sending stops before the end (the reader paused)."""
        while True:
            before = self.sent
            await anyio.sleep(0.3)
            if self.sent == self.count:
                return False
            if self.sent == before:
                return True


async def check_all_received(ws: ClientConnection, flooder: Flooder) -> None:
    for i in range(flooder.count):
        assert await ws.recv() == payload(i, flooder.size)


@OWNERSHIP
@pytest.mark.parametrize("max_queue", [4, (8, 2), (8, None)])
async def test_reading_pauses_at_max_queue(owned: bool, max_queue: Any) -> None:
    # 150 messages of 256 KiB: far more than the kernel buffers hold.
    flooder = Flooder(150, 2**18)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(flooder, compression=None) as (_, uri),
            client(uri, owned, compression=None, max_queue=max_queue) as ws,
        ):
            if owned:
                assert await flooder.stalls()
            else:
                # A task waits on the connection without taking messages.
                async with anyio.create_task_group() as tg:
                    tg.start_soon(ws.wait_closed)
                    assert await flooder.stalls()
                    tg.cancel_scope.cancel()
            await check_all_received(ws, flooder)


async def test_max_queue_none_reads_everything() -> None:
    flooder = Flooder(50, 2**16)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(flooder, compression=None) as (_, uri),
            connect(uri, compression=None, max_queue=None) as ws,
        ):
            # Everything is sent while the application reads nothing.
            await flooder.all_sent.wait()
            await check_all_received(ws, flooder)


@OWNERSHIP
@pytest.mark.parametrize("write_limit", [1024, (1024, 256), (1024, None)])
async def test_write_limit(owned: bool, write_limit: Any) -> None:
    big = random.Random(0).randbytes(2**17)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(echo, write_limit=write_limit) as (_, uri),
            client(uri, owned, write_limit=write_limit) as ws,
        ):
            for _ in range(3):
                await ws.send(big)
            for _ in range(3):
                assert await ws.recv() == big


@OWNERSHIP
async def test_write_that_makes_no_progress_aborts(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await done.wait()  # never reads

    done = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri:
            async with client(uri, owned, close_timeout=0.3, ping_interval=None) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await send_until_it_fails(ws, 1000)
                assert isinstance(info.value.__cause__, TimeoutError)
                assert ws.state is State.CLOSED
            done.set()


@OWNERSHIP
async def test_slow_reader_is_not_a_dead_one(owned: bool) -> None:
    # The message takes several times close_timeout to go out, but the peer
    # keeps reading: the write must not be aborted.
    async def behaviour(peer: RawPeer) -> None:
        peer.stream.extra(SocketAttribute.raw_socket).setsockopt(
            socket.SOL_SOCKET, socket.SO_RCVBUF, 16384
        )
        size, expected = len(peer.buffer), 14 + len(message)  # header, mask, payload
        peer.buffer.clear()
        while size < expected:
            await anyio.sleep(0.01)
            size += len(await peer.stream.receive(min(16384, expected - size)))
        received.set()
        await peer.send(CLOSE, close_payload(1000))
        await peer.read_until(CLOSE)

    message = random.Random(0).randbytes(3 * 2**20)
    received = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned, close_timeout=0.6, ping_interval=None, compression=None) as ws,
        ):
            ws.extra(SocketAttribute.raw_socket).setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 16384
            )
            await ws.send(message)
            await received.wait()
            await ws.wait_closed()
            assert ws.close_code == 1000


async def test_close_while_reading_is_paused() -> None:
    flooder = Flooder(150, 2**18)
    recorder = Recorder(flooder)
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder, compression=None) as (_, uri):
            async with connect(
                uri, compression=None, max_queue=4, close_timeout=2 * TIMEOUT
            ) as ws:
                assert await flooder.stalls()
                await ws.close(1000, "enough")
            # Not an abort after close_timeout: the closing handshake completed.
            assert await recorder.close_code() == (1000, "enough")


# Closing.


@OWNERSHIP
async def test_aclose(owned: bool) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri), client(uri, owned) as ws:
            await ws.aclose()
            assert ws.state is State.CLOSED
            assert (ws.close_code, ws.close_reason) == (1000, "")
            await ws.close()  # closing again does nothing
            await ws.wait_closed()
        assert await recorder.close_code() == (1000, "")


@OWNERSHIP
async def test_close_with_a_code_that_cannot_be_sent(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            with pytest.raises(ProtocolError):
                await ws.close(1006)
            assert ws.state is State.OPEN


@OWNERSHIP
async def test_close_timeout_when_the_peer_never_answers(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        got.append(parse_close(await peer.read_until(CLOSE)))
        await peer.wait_eof()  # never answers; the client drops the connection
        got.append("eof")

    got: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned, close_timeout=0.2) as ws:
            await ws.close(1000, "bye")
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, TimeoutError)
    assert got == [(1000, "bye"), "eof"]


async def test_server_close_timeout_when_the_client_never_closes_tcp() -> None:
    recorder = Recorder(lambda ws: ws.close(1000, "server done"))
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(recorder, close_timeout=0.2) as (_, uri),
            raw_client(uri) as peer,
        ):
            data = await peer.read_until(CLOSE)
            await peer.send(CLOSE, data)
            await peer.wait_eof()
            # We keep our side open: the server gives up after close_timeout.
            assert await recorder.close_code() == (1000, "server done")
    assert parse_close(data) == (1000, "server done")


@OWNERSHIP
async def test_peer_that_never_closes_tcp_after_its_close_frame(owned: bool) -> None:
    # The client answers the close frame, then waits close_timeout for the
    # server to close the TCP connection, reading in recv() meanwhile.
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(CLOSE, close_payload(1000, "bye"))
        got.append(parse_close(await peer.read_until(CLOSE)))
        await peer.wait_eof()
        got.append("eof")

    got: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned, close_timeout=0.2) as ws:
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, TimeoutError)
            assert (ws.close_code, ws.close_reason) == (1000, "bye")
    assert got == [(1000, "bye"), "eof"]


@OWNERSHIP
async def test_close_in_a_cancelled_scope_completes_the_handshake(owned: bool) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri), client(uri, owned) as ws:
            with anyio.CancelScope() as scope:
                scope.cancel()
                await ws.close(1000, "cancelled")
                pytest.fail("the cancellation was swallowed")
            assert scope.cancelled_caught
            assert ws.state is State.CLOSED
            assert (ws.close_code, ws.close_reason) == (1000, "cancelled")
        assert await recorder.close_code() == (1000, "cancelled")


async def test_block_exit_closes_with_1000() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async with connect(uri) as ws:
                await ws.send("hello")
                assert await ws.recv() == "hello"
            assert ws.state is State.CLOSED
            assert await recorder.close_code() == (1000, "")


@OWNERSHIP
async def test_block_exception_closes_with_1011_and_propagates_unchanged(owned: bool) -> None:
    async def block() -> None:
        async with connect(uri) if owned else await connect(uri):
            raise error

    recorder = Recorder()
    error = RuntimeError("boom")
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            with pytest.raises(RuntimeError) as info:
                await block()
            assert info.value is error
            assert await recorder.close_code() == (1011, "")


@pytest.mark.parametrize(
    ("backend", "options"),
    [("asyncio", {}), ("trio", {"strict_exception_groups": True})],
    ids=["asyncio", "trio-strict"],
)
def test_block_exception_is_never_wrapped(backend: str, options: dict[str, Any]) -> None:
    error = ValueError("mine")

    async def main() -> None:
        async with running_server(echo) as (_, uri), connect(uri) as ws:
            await ws.send("hello")
            raise error

    with pytest.raises(ValueError) as info:
        anyio.run(main, backend=backend, backend_options=options)
    assert info.value is error


async def test_block_connection_closed_error_propagates_unchanged() -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(CLOSE, close_payload(4321, "custom"))
        await peer.read_until(CLOSE)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri:
            with pytest.raises(ConnectionClosedError) as info:
                async with connect(uri) as ws:
                    await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 4321
    assert ws.close_code == 4321


@OWNERSHIP
@pytest.mark.parametrize("where", ["sleep", "recv"])
async def test_block_cancellation_closes_with_1011(owned: bool, where: str) -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            with anyio.move_on_after(0.1) as scope:
                if owned:
                    async with connect(uri) as ws:
                        await (ws.recv() if where == "recv" else anyio.sleep_forever())
                else:
                    async with await connect(uri) as ws:
                        await (ws.recv() if where == "recv" else anyio.sleep_forever())
            assert scope.cancelled_caught
            assert ws.state is State.CLOSED
            assert await recorder.close_code() == (1011, "")


async def test_block_cancelled_from_outside_closes_with_1011() -> None:
    recorder = Recorder()
    entered = anyio.Event()

    async def user() -> None:
        async with connect(uri) as ws:
            entered.set()
            await ws.recv()

    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async with anyio.create_task_group() as tg:
                tg.start_soon(user)
                await entered.wait()
                tg.cancel_scope.cancel()
            assert await recorder.close_code() == (1011, "")


# Cancellation and concurrency.


class Numbered:
    """A handler that sends ``count`` numbered messages, some fragmented and slow."""

    def __init__(self, count: int) -> None:
        self.count = count

    async def __call__(self, ws: ServerConnection) -> None:
        for i in range(self.count):
            if i % 5 == 0:
                await ws.send(fragments(f"{i}", ":", "frag", "mented"))
            elif i % 5 == 1:
                await ws.send(f"{i}".encode())
            else:
                await ws.send(f"{i}")
            if i % 7 == 0:
                await anyio.sleep(0.002)
        await ws.wait_closed()

    def expected(self) -> list[Data]:
        return [
            f"{i}:fragmented" if i % 5 == 0 else f"{i}".encode() if i % 5 == 1 else f"{i}"
            for i in range(self.count)
        ]


@OWNERSHIP
async def test_cancelling_recv_never_loses_a_message(owned: bool) -> None:
    numbered = Numbered(300)
    rng = random.Random(1234)
    received: list[Data] = []
    cancelled = 0
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(numbered, compression=None) as (_, uri),
            client(uri, owned, compression=None) as ws,
        ):
            while len(received) < numbered.count:
                delay = rng.choice([0, 0, 0.0001, 0.0005, 0.001, 0.003])
                with anyio.move_on_after(delay) as scope:
                    received.append(await ws.recv())
                cancelled += scope.cancelled_caught
    assert received == numbered.expected()
    assert cancelled > 0


@OWNERSHIP
async def test_cancelling_recv_streaming_never_loses_a_frame(owned: bool) -> None:
    numbered = Numbered(100)
    rng = random.Random(4321)
    received: list[Data] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(numbered, compression=None) as (_, uri),
            client(uri, owned, compression=None) as ws,
        ):
            while len(received) < numbered.count:
                iterator = ws.recv_streaming()
                chunks: list[Data] = []
                while True:
                    with anyio.move_on_after(rng.choice([0, 0.0005, 0.002])):
                        try:
                            chunks.append(await iterator.__anext__())
                        except StopAsyncIteration:
                            break
                received.append(
                    "".join(chunks) if isinstance(chunks[0], str) else b"".join(chunks)  # type: ignore[arg-type]
                )
    assert received == numbered.expected()


@OWNERSHIP
async def test_concurrent_recv(owned: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), client(uri, owned) as ws:
            async with anyio.create_task_group() as tg:
                tg.start_soon(ws.recv)
                await anyio.sleep(0.05)
                with pytest.raises(ConcurrencyError):
                    await ws.recv()
                with pytest.raises(ConcurrencyError):
                    await ws.recv_streaming().__anext__()
                with pytest.raises(ConcurrencyError):
                    await anext(aiter(ws))
                await ws.send("for the first task")
            # The failed calls changed nothing.
            await ws.send("again")
            assert await ws.recv() == "again"


@OWNERSHIP
async def test_concurrent_waiters_share_the_reading(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        payloads = [await peer.read_until(PING) for _ in range(3)]
        for data in payloads:
            await peer.send(PONG, data)
        await peer.send(TEXT, b"message")
        await peer.close_handshake(1000)

    latencies: list[float] = []

    async def wait_pong(waiter: Awaitable[float]) -> None:
        latencies.append(await waiter)

    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(behaviour) as uri,
            client(uri, owned) as ws,
            anyio.create_task_group() as tg,
        ):
            for _ in range(3):
                tg.start_soon(wait_pong, await ws.ping())
            tg.start_soon(ws.wait_closed)
            assert await ws.recv() == "message"
    assert len(latencies) == 3


# Errors.


@OWNERSHIP
async def test_connection_reset_by_peer(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.read_until(TEXT)
        raw = peer.stream.extra(SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.stream.aclose()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            await ws.send("reset me")
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert isinstance(info.value.__cause__, ConnectionResetError)
            assert info.value.rcvd is None and info.value.sent is None
            assert ws.close_code == 1006
            with pytest.raises(ConnectionClosedError):
                await ws.send("too late")


@OWNERSHIP
async def test_send_to_a_reset_connection(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        raw = peer.stream.extra(SocketAttribute.raw_socket)
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await peer.stream.aclose()
        reset.set()

    reset = anyio.Event()
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned, ping_interval=None) as ws:
            await reset.wait()
            with pytest.raises(ConnectionClosedError) as info:
                await send_until_it_fails(ws)
            assert isinstance(info.value.__cause__, OSError)
            assert ws.state is State.CLOSED


@OWNERSHIP
async def test_tcp_closed_without_a_close_frame(owned: bool) -> None:
    async def behaviour(peer: RawPeer) -> None:
        await peer.send(TEXT, b"last words")

    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, client(uri, owned) as ws:
            assert await ws.recv() == "last words"
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert info.value.rcvd is None and info.value.sent is None
            assert info.value.__cause__ is None
            assert (ws.close_code, ws.close_reason) == (1006, "")
            with pytest.raises(ConnectionClosedError):
                async for _ in ws:
                    pass


async def failing_peer(frames_to_send: bytes) -> tuple[tuple[int, str], BaseException]:
    """Send raw bytes to a client; return the close frame it answered and what recv raised."""

    async def behaviour(peer: RawPeer) -> None:
        await peer.stream.send(frames_to_send)
        closes.append(parse_close(await peer.read_until(CLOSE)))

    closes: list[tuple[int, str]] = []
    with anyio.fail_after(TIMEOUT):
        async with raw_server(behaviour) as uri, connect(uri, max_size=1000) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            assert ws.close_code == 1006  # the peer never sent a close frame
    return closes[0], info.value


async def test_message_too_big_closes_with_1009() -> None:
    close, exc = await failing_peer(frame(BINARY, b"x" * 1001))
    assert close == (1009, "frame of 1001 bytes exceeds limit of 1000 bytes")
    assert isinstance(exc, ConnectionClosedError)
    assert exc.sent is not None and (exc.sent.code, exc.sent.reason) == close


async def test_fragmented_message_too_big_closes_with_1009() -> None:
    close, exc = await failing_peer(frame(BINARY, b"x" * 600, fin=False) + frame(CONT, b"x" * 600))
    assert close == (1009, "600 bytes after 600 bytes exceeds limit of 1000 bytes")
    assert exc.sent is not None and (exc.sent.code, exc.sent.reason) == close


async def test_invalid_utf8_closes_with_1007() -> None:
    close, exc = await failing_peer(frame(TEXT, b"caf\xc3"))
    assert close[0] == 1007
    assert exc.sent is not None and (exc.sent.code, exc.sent.reason) == close


async def test_garbage_closes_with_1002() -> None:
    close, exc = await failing_peer(b"\xff\xff\xff\xff\xff\xff")
    assert close == (1002, "invalid opcode: 0xf")
    assert exc.sent is not None and (exc.sent.code, exc.sent.reason) == close


async def test_server_fails_unmasked_frames_with_1002() -> None:
    async def wait(ws: ServerConnection) -> None:
        await ws.recv()

    recorder = Recorder(wait)
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async with raw_client(uri) as peer:
                await peer.stream.send(frame(TEXT, b"not masked"))
                close = parse_close(await peer.read_until(CLOSE))
                await peer.wait_eof()
            await recorder.done.wait()
    assert close[0] == 1002
    assert isinstance(recorder.exception, ConnectionClosedError)
    assert recorder.exception.sent is not None
    assert (recorder.exception.sent.code, recorder.exception.sent.reason) == close


# Logging.


async def test_logs_open_and_close_at_info(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="anywebsockets")
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), connect(uri) as ws:
            await ws.send("hello")
            await ws.recv()
    client_records = [r for r in caplog.records if r.name == "anywebsockets.client"]
    assert [r.getMessage() for r in client_records] == ["connection open", "connection closed"]
    assert all(r.levelno == logging.INFO for r in client_records)
    assert all(getattr(r, "websocket", None) is ws for r in client_records)
    server_messages = [r.getMessage() for r in caplog.records if r.name == "anywebsockets.server"]
    assert "connection open" in server_messages and "connection closed" in server_messages


async def test_logs_frames_at_debug_only_when_enabled(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="anywebsockets.client")
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), connect(uri, compression=None) as ws:
            await ws.send("hello")
            await ws.recv()
    debug = [r.getMessage() for r in caplog.records if r.levelno == logging.DEBUG]
    assert "> TEXT 'hello' [5 bytes]" in debug
    assert "< TEXT 'hello' [5 bytes]" in debug


async def test_frames_are_not_logged_when_debug_was_off_at_opening(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Whether to log frames is decided once per connection, so that it costs
    # nothing when off.
    caplog.set_level(logging.INFO, logger="anywebsockets.client")
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri), connect(uri, compression=None) as ws:
            caplog.set_level(logging.DEBUG, logger="anywebsockets.client")
            await ws.send("hello")
            await ws.recv()
    assert not [r for r in caplog.records if r.levelno == logging.DEBUG]


async def test_logs_handler_crash_at_error(caplog: pytest.LogCaptureFixture) -> None:
    async def crash(ws: ServerConnection) -> None:
        raise RuntimeError("handler bug")

    caplog.set_level(logging.INFO, logger="anywebsockets")
    with anyio.fail_after(TIMEOUT):
        async with running_server(crash) as (_, uri), connect(uri) as ws:
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
    assert info.value.rcvd is not None and info.value.rcvd.code == 1011
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert errors[0].exc_info is not None and errors[0].exc_info[1] is not None
    assert str(errors[0].exc_info[1]) == "handler bug"
