"""Tests for :mod:`anywebsockets.client`: connect() and unix_connect() on both backends.

Every test talks over real sockets on 127.0.0.1 (or a Unix socket, or an in-memory
stream where the stream is the point) to our server, to a hand-written raw peer
that misbehaves on purpose, or to a ``websockets`` server in a child process.
"""

from __future__ import annotations

import base64
import logging
import socket
import ssl
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.buffered import BufferedByteReceiveStream
from anyio.streams.tls import TLSAttribute, TLSStream

from anywebsockets import (
    ClientConnection,
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    Headers,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    ServerConnection,
    State,
    connect,
    serve_stream,
    unix_connect,
    unix_serve,
)
from anywebsockets.protocol.http11 import USER_AGENT
from anywebsockets.protocol.permessage_deflate import PerMessageDeflate
from anywebsockets.protocol.utils import accept_key

from .utils import (
    TIMEOUT,
    echo,
    frame,
    memory_stream_pair,
    raw_listener,
    raw_server_handshake,
    read_http_head,
    running_server,
)

pytestmark = pytest.mark.anyio


# Helpers.


async def echo_loop(ws: Any) -> None:
    """Send every message back until the connection closes.

    Uses recv() rather than ``async for``, so that these tests do not depend
    on how the iterator is finalized.
    """
    try:
        while True:
            await ws.send(await ws.recv())
    except ConnectionClosed:
        pass


async def poll(predicate: Any) -> None:
    """Wait until ``predicate()`` is true: for state that no event announces."""
    while not predicate():  # noqa: ASYNC110
        await anyio.sleep(0.01)


class Closes:
    """What the server saw when each connection closed: (close_code, close_reason)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int | None, str | None]] = []
        self._event = anyio.Event()

    def add(self, ws: ServerConnection) -> None:
        self.seen.append((ws.close_code, ws.close_reason))
        self._event.set()

    async def first(self) -> tuple[int | None, str | None]:
        await self._event.wait()
        return self.seen[0]


@asynccontextmanager
async def echo_server(**kwargs: Any) -> AsyncIterator[tuple[str, Closes]]:
    """An echo server that records how each connection closed; yields its URI."""
    closes = Closes()

    async def handler(ws: ServerConnection) -> None:
        await echo_loop(ws)
        await ws.wait_closed()
        closes.add(ws)

    async with running_server(handler, **kwargs) as (_, uri):
        yield uri, closes


@asynccontextmanager
async def request_server(**kwargs: Any) -> AsyncIterator[tuple[str, list[ServerConnection]]]:
    """A server whose handler keeps each connection, to inspect its request."""
    seen: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws)
        await echo_loop(ws)

    async with running_server(handler, **kwargs) as (_, uri):
        yield uri, seen


@asynccontextmanager
async def raw_server(serve_one: Any) -> AsyncIterator[int]:
    """A TCP server running ``serve_one(stream)`` for each connection; yields its port."""
    async with raw_listener() as (listener, port), anyio.create_task_group() as tg:

        async def handle(stream: ByteStream) -> None:
            async with stream:
                await serve_one(stream)

        tg.start_soon(listener.serve, handle)
        yield port
        tg.cancel_scope.cancel()


async def read_frame(stream: BufferedByteReceiveStream) -> tuple[int, bytes]:
    """Read one masked frame sent by the client; return its opcode and payload."""
    head = await stream.receive_exactly(2)
    length = head[1] & 0x7F
    if length == 126:
        length = int.from_bytes(await stream.receive_exactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await stream.receive_exactly(8), "big")
    assert head[1] & 0x80, "client frames are masked"
    key = await stream.receive_exactly(4)
    data = await stream.receive_exactly(length) if length else b""
    return head[0] & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


class Abort(BaseException):
    """A BaseException that is not an Exception, like KeyboardInterrupt."""


class MyConnection(ClientConnection):
    """A ClientConnection subclass, for create_connection."""


# Opening and using a connection.


async def test_async_with_echo() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            async with connect(uri) as ws:
                assert isinstance(ws, ClientConnection)
                assert ws.state is State.OPEN
                await ws.send("hello")
                assert await ws.recv() == "hello"
                await ws.send(b"\x00\xff")
                assert await ws.recv() == b"\x00\xff"
            assert ws.state is State.CLOSED
            assert ws.close_code == 1000
            assert await closes.first() == (1000, "")


async def test_await_echo() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            ws = await connect(uri)
            try:
                assert ws.state is State.OPEN
                await ws.send("hello")
                assert await ws.recv() == "hello"
            finally:
                await ws.close()
            assert ws.state is State.CLOSED
            assert await closes.first() == (1000, "")


async def test_addresses_and_typed_attributes() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _), connect(uri) as ws:
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            assert ws.remote_address == ("127.0.0.1", port)
            assert ws.local_address[0] == "127.0.0.1"
            assert ws.extra(SocketAttribute.remote_port) == port


async def test_wss(server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext) -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server(ssl=server_ssl) as (uri, closes):
            assert uri.startswith("wss://127.0.0.1:")
            async with connect(uri, ssl=client_ssl) as ws:
                assert ws.extra(TLSAttribute.ssl_object).version() is not None
                await ws.send("secret")
                assert await ws.recv() == "secret"
            assert await closes.first() == (1000, "")


async def test_wss_await(server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext) -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server(ssl=server_ssl) as (uri, closes):
            ws = await connect(uri, ssl=client_ssl)
            await ws.send("secret")
            assert await ws.recv() == "secret"
            await ws.close()
            assert await closes.first() == (1000, "")


async def test_wss_server_hostname(server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext) -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            echo_server(ssl=server_ssl) as (uri, _),
            connect(uri, ssl=client_ssl, server_hostname="localhost") as ws,
        ):
            assert ws.extra(TLSAttribute.ssl_object).server_hostname == "localhost"
            await ws.send("a")
            assert await ws.recv() == "a"
            # The Host header still comes from the URI.
            assert ws.request is not None
            assert ws.request.headers["Host"].startswith("127.0.0.1:")


async def test_wss_wrong_server_hostname(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server(ssl=server_ssl) as (uri, _):
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(uri, ssl=client_ssl, server_hostname="example.com")


async def test_wss_untrusted_certificate(server_ssl: ssl.SSLContext) -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server(ssl=server_ssl) as (uri, _):
            # The default context does not trust our private CA.
            with pytest.raises(ssl.SSLCertVerificationError) as info:
                await connect(uri)
            assert type(info.value) is ssl.SSLCertVerificationError
            with pytest.raises(ssl.SSLCertVerificationError):
                async with connect(uri):
                    pytest.fail("must not open")


async def test_ssl_with_ws_uri_is_refused(client_ssl: ssl.SSLContext) -> None:
    with pytest.raises(ValueError, match="wss"):
        connect("ws://localhost/", ssl=client_ssl)


async def test_open_timeout() -> None:
    async def silent(stream: ByteStream) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(silent) as port:
            uri = f"ws://127.0.0.1:{port}/"
            with pytest.raises(TimeoutError):
                await connect(uri, open_timeout=0.1)
            with pytest.raises(TimeoutError):
                async with connect(uri, open_timeout=0.1):
                    pytest.fail("must not open")


async def test_open_timeout_tls(client_ssl: ssl.SSLContext) -> None:
    async def silent(stream: ByteStream) -> None:
        await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(silent) as port:
            with pytest.raises(TimeoutError):
                await connect(f"wss://127.0.0.1:{port}/", ssl=client_ssl, open_timeout=0.1)


async def test_open_timeout_none() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _), connect(uri, open_timeout=None) as ws:
            await ws.send("a")
            assert await ws.recv() == "a"


# The handshake request.


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Custom": "1", "X-Other": "2"},
        [("X-Custom", "1"), ("X-Other", "2")],
        Headers([("X-Custom", "1"), ("X-Other", "2")]),
    ],
    ids=["dict", "pairs", "Headers"],
)
async def test_additional_headers(headers: Any) -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri, additional_headers=headers) as ws:
            await ws.send("x")
            await ws.recv()
            request = seen[0].request
            assert request is not None
            assert request.headers["X-Custom"] == "1"
            assert request.headers["X-Other"] == "2"


async def test_additional_headers_repeated_name() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            request_server() as (uri, seen),
            connect(uri, additional_headers=[("X-Many", "1"), ("X-Many", "2")]) as ws,
        ):
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert seen[0].request.headers.get_all("X-Many") == ["1", "2"]


async def test_user_agent_default() -> None:
    assert USER_AGENT.startswith(f"Python/{sys.version_info.major}.{sys.version_info.minor} ")
    from anywebsockets.protocol.http11 import _package_version

    assert USER_AGENT.endswith(f" anywebsockets/{_package_version()}")
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri) as ws:
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert seen[0].request.headers["User-Agent"] == USER_AGENT
            assert ws.request is not None
            assert ws.request.headers["User-Agent"] == USER_AGENT


async def test_user_agent_custom() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            request_server() as (uri, seen),
            connect(uri, user_agent_header="MyAgent/1.0") as ws,
        ):
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert seen[0].request.headers.get_all("User-Agent") == ["MyAgent/1.0"]


async def test_user_agent_none() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri, user_agent_header=None) as ws:
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert "User-Agent" not in seen[0].request.headers


async def test_user_agent_in_additional_headers_wins() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            request_server() as (uri, seen),
            connect(uri, additional_headers={"User-Agent": "Mine/2"}) as ws,
        ):
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert seen[0].request.headers.get_all("User-Agent") == ["Mine/2"]


async def test_origin() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server(origins=["https://example.com"]) as (uri, seen):
            async with connect(uri, origin="https://example.com") as ws:
                await ws.send("x")
                await ws.recv()
                assert seen[0].request is not None
                assert seen[0].request.headers["Origin"] == "https://example.com"
            with pytest.raises(InvalidStatus) as info:
                await connect(uri, origin="https://evil.example")
            assert info.value.response.status_code == 403


async def test_no_origin_by_default() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri) as ws:
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert "Origin" not in seen[0].request.headers


async def test_subprotocols() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server(subprotocols=["chat", "other"]) as (uri, seen):
            async with connect(uri, subprotocols=["superchat", "chat"]) as ws:
                assert ws.subprotocol == "chat"
                await ws.send("x")
                await ws.recv()
                assert seen[0].subprotocol == "chat"
            # Like websockets, our server refuses a client with no common subprotocol.
            with pytest.raises(InvalidStatus) as info:
                await connect(uri, subprotocols=["nothing-in-common"])
            assert info.value.response.status_code == 400
        async with echo_server() as (uri, _):
            # A server that negotiates no subprotocol: the client gets none.
            async with connect(uri, subprotocols=["chat"]) as ws:
                assert ws.subprotocol is None
            async with connect(uri) as ws:
                assert ws.subprotocol is None


async def test_credentials_in_uri() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen):
            uri = uri.replace("ws://", "ws://alice:s%3Acret@")
            async with connect(uri) as ws:
                await ws.send("x")
                await ws.recv()
            request = seen[0].request
            assert request is not None
            expected = base64.b64encode(b"alice:s:cret").decode()
            assert request.headers["Authorization"] == f"Basic {expected}"
            # Credentials are never part of the Host header or the path.
            assert "alice" not in request.headers["Host"]
            assert request.path == "/"


async def test_path_and_query() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri + "chat/room?id=42") as ws:
            await ws.send("x")
            await ws.recv()
            assert seen[0].request is not None
            assert seen[0].request.path == "/chat/room?id=42"


# Extensions and limits.


async def test_compression_default_deflate() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri) as ws:
            assert [type(e) for e in ws.protocol.extensions] == [PerMessageDeflate]
            assert ws.request is not None
            assert "permessage-deflate" in ws.request.headers["Sec-WebSocket-Extensions"]
            message = "compressible " * 10_000
            await ws.send(message)
            assert await ws.recv() == message
            assert [type(e) for e in seen[0].protocol.extensions] == [PerMessageDeflate]


async def test_compression_none() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen), connect(uri, compression=None) as ws:
            assert ws.protocol.extensions == []
            assert ws.request is not None
            assert "Sec-WebSocket-Extensions" not in ws.request.headers
            await ws.send("x")
            assert await ws.recv() == "x"
            assert seen[0].protocol.extensions == []


async def test_compression_unknown() -> None:
    with pytest.raises(ValueError, match="compression"):
        connect("ws://localhost/", compression="gzip")


async def test_max_size() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"x" * 2000)
        await ws.wait_closed()
        closes.add(ws)

    closes = Closes()
    with anyio.fail_after(TIMEOUT):
        async with running_server(handler, compression=None) as (_, uri):
            async with connect(uri, max_size=1000) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
            assert info.value.sent is not None
            assert info.value.sent.code == 1009
            reason = info.value.sent.reason
            assert "2000" in reason and "1000" in reason
            assert await closes.first() == (1009, reason)


async def test_max_size_after_decompression() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"x" * 800)  # fits
        await ws.send(b"x" * 2000)  # compresses to a few bytes, too big once inflated
        await ws.wait_closed()
        closes.add(ws)

    closes = Closes()
    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (_, uri):
            async with connect(uri, max_size=1000) as ws:
                assert await ws.recv() == b"x" * 800
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
            assert info.value.sent is not None
            assert info.value.sent.code == 1009
            code, _ = await closes.first()
            assert code == 1009


async def test_max_size_none() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server(max_size=None) as (uri, _), connect(uri, max_size=None) as ws:
            message = b"\x01" * (2**20 + 1)
            await ws.send(message)
            assert await ws.recv() == message


@asynccontextmanager
async def pinging_server(
    messages: int, size: int
) -> AsyncIterator[tuple[str, anyio.Event, anyio.Event]]:
    """A server that sends ``messages`` binary messages, then a ping; yields events.

    The first event is set once everything is sent, the second when the pong
    comes back.
    """
    sent, ponged = anyio.Event(), anyio.Event()

    async def handler(ws: ServerConnection) -> None:
        for i in range(messages):
            await ws.send(bytes([i]) * size)
        waiter = await ws.ping(b"probe")
        sent.set()
        await waiter
        ponged.set()
        await ws.wait_closed()

    async with running_server(handler, compression=None, ping_interval=None) as (_, uri):
        yield uri, sent, ponged


async def test_max_queue_pauses_reading() -> None:
    # 8 messages of 60 kB: the client reads at most 64 KiB with the handshake
    # response and 256 KiB at a time after it, so the ping comes after the
    # point where max_queue=4 pauses reading. Until the application takes
    # messages, the ping stays unread and unanswered.
    with anyio.fail_after(TIMEOUT):
        async with (
            pinging_server(8, 60_000) as (uri, sent, ponged),
            connect(uri, compression=None, max_queue=4, ping_interval=None) as ws,
        ):
            await sent.wait()
            with anyio.move_on_after(0.2):
                await ponged.wait()
            assert not ponged.is_set()
            for i in range(8):
                assert await ws.recv() == bytes([i]) * 60_000
            await ponged.wait()


async def test_max_queue_none_never_pauses() -> None:
    with anyio.fail_after(TIMEOUT):
        async with (
            pinging_server(8, 20_000) as (uri, _, ponged),
            connect(uri, compression=None, max_queue=None, ping_interval=None) as ws,
        ):
            await ponged.wait()  # answered while the application reads nothing
            for i in range(8):
                assert await ws.recv() == bytes([i]) * 20_000


async def test_max_queue_tuple() -> None:
    # High mark 3, low mark 0: reading resumes only once the queue is empty.
    with anyio.fail_after(TIMEOUT):
        async with (
            pinging_server(8, 20_000) as (uri, sent, ponged),
            connect(uri, compression=None, max_queue=(3, 0), ping_interval=None) as ws,
        ):
            await sent.wait()
            for i in range(8):
                assert await ws.recv() == bytes([i]) * 20_000
            await ponged.wait()


async def test_write_limit() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _):
            async with connect(uri, write_limit=4096) as ws:
                assert ws.write_limit == (4096, 1024)
            async with connect(uri, write_limit=(1000, 10)) as ws:
                assert ws.write_limit == (1000, 10)
                await ws.send(b"y" * 100_000)
                assert await ws.recv() == b"y" * 100_000


# Keepalive and closing, with a raw server that never answers.


async def test_ping_interval_measures_latency() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _), connect(uri, ping_interval=0.05) as ws:
            assert ws.latency == 0
            await poll(lambda: ws.latency > 0)
            assert ws.state is State.OPEN


async def test_ping_interval_unowned_connection() -> None:
    # With ``ws = await connect()``, the task waiting in recv() runs keepalive.
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _):
            ws = await connect(uri, ping_interval=0.05)
            try:
                while ws.latency == 0:
                    with anyio.move_on_after(0.05):
                        await ws.recv()
                assert ws.latency > 0
            finally:
                await ws.close()


async def unanswering_peer(stream: ByteStream, seen: list[tuple[int, bytes]]) -> None:
    """Complete the handshake, then record frames and never answer anything."""
    rest = await raw_server_handshake(stream)
    assert not rest  # the client waits for the response before sending
    buffered = BufferedByteReceiveStream(stream)
    while True:
        try:
            seen.append(await read_frame(buffered))
        except (anyio.EndOfStream, anyio.IncompleteRead):
            return


async def test_ping_timeout_closes_with_1011() -> None:
    seen: list[tuple[int, bytes]] = []

    async def peer(stream: ByteStream) -> None:
        await unanswering_peer(stream, seen)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(peer) as port:
            async with connect(
                f"ws://127.0.0.1:{port}/",
                ping_interval=0.05,
                ping_timeout=0.05,
                close_timeout=0.1,
            ) as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
            assert info.value.sent is not None
            assert info.value.sent.code == 1011
            assert info.value.sent.reason == "keepalive ping timeout"
            assert info.value.rcvd is None
            assert ws.state is State.CLOSED
    opcodes = [opcode for opcode, _ in seen]
    assert opcodes[0] == 0x9  # ping
    assert seen[-1] == (0x8, b"\x03\xf3keepalive ping timeout")


async def test_ping_timeout_unowned_connection() -> None:
    seen: list[tuple[int, bytes]] = []

    async def peer(stream: ByteStream) -> None:
        await unanswering_peer(stream, seen)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(peer) as port:
            ws = await connect(
                f"ws://127.0.0.1:{port}/",
                ping_interval=0.05,
                ping_timeout=0.05,
                close_timeout=0.1,
            )
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
            await ws.close()
            assert info.value.sent is not None
            assert info.value.sent.code == 1011
            assert info.value.sent.reason == "keepalive ping timeout"
    assert seen[-1] == (0x8, b"\x03\xf3keepalive ping timeout")


async def test_ping_interval_none_sends_no_ping() -> None:
    seen: list[tuple[int, bytes]] = []

    async def peer(stream: ByteStream) -> None:
        await unanswering_peer(stream, seen)

    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(peer) as port,
            connect(f"ws://127.0.0.1:{port}/", ping_interval=None, close_timeout=0.1) as ws,
        ):
            await anyio.sleep(0.3)
            assert ws.state is State.OPEN
    assert seen == [(0x8, b"\x03\xe8")]


async def test_ping_timeout_none_waits_for_pong() -> None:
    seen: list[tuple[int, bytes]] = []

    async def peer(stream: ByteStream) -> None:
        await unanswering_peer(stream, seen)

    with anyio.fail_after(TIMEOUT):
        async with (
            raw_server(peer) as port,
            connect(
                f"ws://127.0.0.1:{port}/",
                ping_interval=0.05,
                ping_timeout=None,
                close_timeout=0.1,
            ) as ws,
        ):
            # Like websockets: a ping every ping_interval, none of them answered,
            # and the connection stays open.
            await poll(lambda: len(seen) >= 3)
            assert ws.state is State.OPEN
    assert {opcode for opcode, _ in seen[:-1]} == {0x9}
    assert seen[-1] == (0x8, b"\x03\xe8")


async def test_close_timeout_against_silent_peer() -> None:
    seen: list[tuple[int, bytes]] = []

    async def peer(stream: ByteStream) -> None:
        await unanswering_peer(stream, seen)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(peer) as port:
            async with connect(
                f"ws://127.0.0.1:{port}/", close_timeout=0.1, ping_interval=None
            ) as ws:
                pass
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006
            ws = await connect(f"ws://127.0.0.1:{port}/", close_timeout=0.1)
            await ws.close(4000, "bye")
            assert ws.state is State.CLOSED
            assert ws.close_code == 1006


# Logging and the connection class.


async def test_logger_object(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.client.object")
    caplog.set_level(logging.INFO, logger="test.client.object")
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _), connect(uri, logger=logger) as ws:
            assert ws.logger.logger is logger
            assert ws.logger.extra == {"websocket": ws}
    records = [r for r in caplog.records if r.name == "test.client.object"]
    assert [r.getMessage() for r in records] == ["connection open", "connection closed"]
    assert all(getattr(r, "websocket", None) is ws for r in records)


async def test_logger_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.client.name")
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _), connect(uri, logger="test.client.name") as ws:
            assert ws.logger.logger is logging.getLogger("test.client.name")
    assert [r.getMessage() for r in caplog.records if r.name == "test.client.name"] == [
        "connection open",
        "connection closed",
    ]


async def test_logger_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="anywebsockets.client")
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _), connect(uri) as ws:
            assert ws.logger.logger is logging.getLogger("anywebsockets.client")
    assert "connection open" in [
        r.getMessage() for r in caplog.records if r.name == "anywebsockets.client"
    ]


async def test_create_connection() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, _):
            async with connect(uri, create_connection=MyConnection) as ws:
                assert type(ws) is MyConnection
                await ws.send("x")
                assert await ws.recv() == "x"
            ws2 = await connect(uri, create_connection=MyConnection)
            assert type(ws2) is MyConnection
            await ws2.close()


# Where the connection goes: stream=, host=, port=.


async def test_stream_in_memory() -> None:
    client_stream, server_stream = memory_stream_pair()
    seen: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws)
        await echo_loop(ws)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve_stream, handler, server_stream)
            async with connect("ws://example.invalid/room", stream=client_stream) as ws:
                await ws.send("over memory")
                assert await ws.recv() == "over memory"
                assert ws.remote_address is None
            request = seen[0].request
            assert request is not None
            assert request.headers["Host"] == "example.invalid"
            assert request.path == "/room"
            assert seen[0].close_code == 1000


async def test_stream_in_memory_await() -> None:
    client_stream, server_stream = memory_stream_pair()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve_stream, echo_loop, server_stream)
            ws = await connect("ws://example.invalid/", stream=client_stream)
            await ws.send(b"bytes")
            assert await ws.recv() == b"bytes"
            await ws.close()
            assert ws.state is State.CLOSED


async def test_stream_tcp_connected_by_the_caller() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with connect("ws://ws.example:8080/x", stream=stream) as ws:
                await ws.send("mine")
                assert await ws.recv() == "mine"
                assert ws.remote_address == ("127.0.0.1", port)
            assert seen[0].request is not None
            assert seen[0].request.headers["Host"] == "ws.example:8080"


async def test_stream_with_wss_runs_tls_over_it(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, ssl=server_ssl) as (_, uri):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            stream = await anyio.connect_tcp("127.0.0.1", port)
            async with connect(f"wss://localhost:{port}/", stream=stream, ssl=client_ssl) as ws:
                await ws.send("secret")
                assert await ws.recv() == "secret"
                assert ws.extra(TLSAttribute.ssl_object).server_hostname == "localhost"
            # Without the CA, the certificate does not verify: TLS really ran.
            stream = await anyio.connect_tcp("127.0.0.1", port)
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(uri, stream=stream)


async def test_stream_already_running_tls_is_used_as_it_is(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, ssl=server_ssl) as (_, uri):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            tcp = await anyio.connect_tcp("127.0.0.1", port)
            stream = await TLSStream.wrap(
                tcp, hostname="localhost", ssl_context=client_ssl, standard_compatible=False
            )
            async with connect(f"wss://localhost:{port}/", stream=stream) as ws:
                await ws.send("once")
                assert await ws.recv() == "once"


async def test_sock_connected_by_the_caller(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    """``sock=`` (websockets' name) runs the connection over a connected socket."""
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            sock = socket.create_connection(("127.0.0.1", port))
            async with connect("ws://ws.example/", sock=sock) as ws:
                await ws.send("plain")
                assert await ws.recv() == "plain"
                assert ws.remote_address == ("127.0.0.1", port)
        async with running_server(echo, ssl=server_ssl) as (_, uri):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            sock = socket.create_connection(("127.0.0.1", port))
            async with connect(f"wss://localhost:{port}/", sock=sock, ssl=client_ssl) as ws:
                await ws.send("tls")
                assert await ws.recv() == "tls"


def test_unknown_keyword_argument() -> None:
    with pytest.raises(TypeError, match="unexpected keyword arguments: local_addr, family"):
        connect("ws://localhost/", local_addr=("127.0.0.1", 0), family=2)


async def test_host_and_port() -> None:
    with anyio.fail_after(TIMEOUT):
        async with request_server() as (uri, seen):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            async with connect("ws://ws.example.invalid:1234/", host="127.0.0.1", port=port) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
                assert ws.remote_address == ("127.0.0.1", port)
            assert seen[0].request is not None
            assert seen[0].request.headers["Host"] == "ws.example.invalid:1234"


async def test_host_and_port_tls_keep_the_uri_hostname(
    ca: trustme.CA, client_ssl: ssl.SSLContext
) -> None:
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    context.sni_callback = lambda _obj, name, _ctx: names.append(name)  # type: ignore[func-returns-value]
    with anyio.fail_after(TIMEOUT):
        async with request_server(ssl=context) as (uri, seen):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            async with connect(
                "wss://localhost:9999/", host="127.0.0.1", port=port, ssl=client_ssl
            ) as ws:
                await ws.send("x")
                assert await ws.recv() == "x"
            assert names == ["localhost"]
            assert seen[0].request is not None
            assert seen[0].request.headers["Host"] == "localhost:9999"


# Errors while opening.


async def test_connection_refused() -> None:
    async with raw_listener() as (_, port):
        pass  # the port is free again
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ConnectionRefusedError) as info:
            await connect(f"ws://127.0.0.1:{port}/")
        assert not isinstance(info.value.__cause__, BaseExceptionGroup)
        with pytest.raises(ConnectionRefusedError):
            async with connect(f"ws://127.0.0.1:{port}/"):
                pytest.fail("must not open")


async def test_server_hangs_up_after_request() -> None:
    async def hang_up(stream: ByteStream) -> None:
        await read_http_head(stream)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(hang_up) as port:
            with pytest.raises(InvalidMessage) as info:
                await connect(f"ws://127.0.0.1:{port}/")
            assert type(info.value.__cause__) is EOFError
            with pytest.raises(InvalidMessage) as info:
                async with connect(f"ws://127.0.0.1:{port}/"):
                    pytest.fail("must not open")
            assert type(info.value.__cause__) is EOFError


async def test_server_hangs_up_mid_response() -> None:
    async def half_answer(stream: ByteStream) -> None:
        await read_http_head(stream)
        await stream.send(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: web")

    with anyio.fail_after(TIMEOUT):
        async with raw_server(half_answer) as port:
            with pytest.raises(InvalidMessage) as info:
                await connect(f"ws://127.0.0.1:{port}/")
            assert type(info.value.__cause__) is EOFError


async def test_server_hangs_up_before_request() -> None:
    async def hang_up(stream: ByteStream) -> None:
        pass

    with anyio.fail_after(TIMEOUT):
        async with raw_server(hang_up) as port:
            with pytest.raises(InvalidMessage) as info:
                await connect(f"ws://127.0.0.1:{port}/")
            assert type(info.value.__cause__) is EOFError


async def test_server_resets_during_handshake() -> None:
    async def reset(stream: ByteStream) -> None:
        await read_http_head(stream)
        sock = stream.extra(SocketAttribute.raw_socket)
        # SO_LINGER with a zero timeout: close() sends RST instead of FIN.
        import socket
        import struct

        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    with anyio.fail_after(TIMEOUT):
        async with raw_server(reset) as port:
            with pytest.raises(InvalidMessage) as info:
                await connect(f"ws://127.0.0.1:{port}/")
            assert type(info.value.__cause__) is EOFError


async def test_connection_refused_localhost() -> None:
    # localhost may resolve to ::1 and 127.0.0.1: two refusals are still one
    # ConnectionRefusedError, not anyio's "All connection attempts failed".
    async with raw_listener() as (_, port):
        pass
    with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionRefusedError):
        await connect(f"ws://localhost:{port}/")


async def test_server_hangs_up_during_tls_handshake(client_ssl: ssl.SSLContext) -> None:
    async def hang_up(stream: ByteStream) -> None:
        await stream.receive()  # the ClientHello

    with anyio.fail_after(TIMEOUT):
        async with raw_server(hang_up) as port:
            with pytest.raises(ConnectionResetError):
                await connect(f"wss://127.0.0.1:{port}/", ssl=client_ssl)


async def test_server_does_not_speak_tls(client_ssl: ssl.SSLContext) -> None:
    async def plain_http(stream: ByteStream) -> None:
        await stream.receive()
        await stream.send(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

    with anyio.fail_after(TIMEOUT):
        async with raw_server(plain_http) as port:
            with pytest.raises(ssl.SSLError) as info:
                await connect(f"wss://127.0.0.1:{port}/", ssl=client_ssl)
            assert not isinstance(info.value, ssl.SSLCertVerificationError)


async def test_cancelled_while_opening_drops_the_connection() -> None:
    eof = anyio.Event()

    async def silent(stream: ByteStream) -> None:
        await read_http_head(stream)
        with pytest.raises(anyio.EndOfStream):
            await stream.receive()
        eof.set()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(silent) as port:
            with anyio.move_on_after(0.1) as scope:
                await connect(f"ws://127.0.0.1:{port}/")
            assert scope.cancelled_caught
            await eof.wait()


async def test_server_closes_right_after_handshake() -> None:
    async def drop(stream: ByteStream) -> None:
        await raw_server_handshake(stream)

    with anyio.fail_after(TIMEOUT):
        async with raw_server(drop) as port:
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                with pytest.raises(ConnectionClosedError) as info:
                    await ws.recv()
                assert info.value.rcvd is None
                assert ws.close_code == 1006
            ws = await connect(f"ws://127.0.0.1:{port}/")
            with pytest.raises(ConnectionClosedError):
                await ws.recv()
            await ws.close()


async def handshake_with(stream: ByteStream, frames: bytes) -> BufferedByteReceiveStream:
    """Answer the handshake with ``frames`` in the same write as the 101 response."""
    head, rest = await read_http_head(stream)
    assert not rest
    key = next(
        line.split(b":", 1)[1].strip()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    await stream.send(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n" + frames
    )
    return BufferedByteReceiveStream(stream)


@pytest.mark.parametrize("owned", [True, False], ids=["async-with", "await"])
async def test_ping_in_the_handshake_response_is_answered(owned: bool) -> None:
    # The server sends a ping with its 101 and waits for the pong before
    # anything else: the client must answer without waiting for more data.
    async def peer(stream: ByteStream) -> None:
        buffered = await handshake_with(stream, frame(0x9, b"early"))
        assert await read_frame(buffered) == (0xA, b"early")
        await stream.send(frame(0x1, b"got it"))
        assert await read_frame(buffered) == (0x8, b"\x03\xe8")
        await stream.send(frame(0x8, b"\x03\xe8"))

    with anyio.fail_after(TIMEOUT):
        async with raw_server(peer) as port:
            uri = f"ws://127.0.0.1:{port}/"
            if owned:
                async with connect(uri) as ws:
                    assert await ws.recv() == "got it"
            else:
                ws = await connect(uri)
                assert await ws.recv() == "got it"
                await ws.close()
            assert ws.close_code == 1000


@pytest.mark.parametrize("owned", [True, False], ids=["async-with", "await"])
async def test_close_in_the_handshake_response(owned: bool) -> None:
    # The server closes at once, in the same write as its 101, and waits for
    # the client's close frame: the client must answer it without delay.
    async def peer(stream: ByteStream) -> None:
        buffered = await handshake_with(stream, frame(0x1, b"hi") + frame(0x8, b"\x03\xe9bye"))
        assert await read_frame(buffered) == (0x8, b"\x03\xe9bye")

    with anyio.fail_after(TIMEOUT):
        async with raw_server(peer) as port:
            uri = f"ws://127.0.0.1:{port}/"
            if owned:
                async with connect(uri) as ws:
                    assert await ws.recv() == "hi"
                    with pytest.raises(ConnectionClosedOK):
                        await ws.recv()
            else:
                ws = await connect(uri)
                assert await ws.recv() == "hi"
                with pytest.raises(ConnectionClosedOK):
                    await ws.recv()
                await ws.close()
            assert (ws.close_code, ws.close_reason) == (1001, "bye")


async def test_server_sends_garbage() -> None:
    async def garbage(stream: ByteStream) -> None:
        await read_http_head(stream)
        await stream.send(b"SSH-2.0-OpenSSH\r\n\r\n")

    with anyio.fail_after(TIMEOUT):
        async with raw_server(garbage) as port:
            with pytest.raises(InvalidMessage):
                await connect(f"ws://127.0.0.1:{port}/")


async def test_invalid_status_raw() -> None:
    async def not_found(stream: ByteStream) -> None:
        await read_http_head(stream)
        await stream.send(
            b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\n"
            b"X-Thing: a\r\nContent-Length: 9\r\n\r\nnot here\n"
        )
        await anyio.sleep_forever()

    with anyio.fail_after(TIMEOUT):
        async with raw_server(not_found) as port:
            with pytest.raises(InvalidStatus) as info:
                await connect(f"ws://127.0.0.1:{port}/")
            response = info.value.response
            assert response.status_code == 404
            assert response.reason_phrase == "Not Found"
            assert response.headers["X-Thing"] == "a"
            assert response.body == b"not here\n"


async def test_invalid_status_body_until_eof() -> None:
    async def error(stream: ByteStream) -> None:
        await read_http_head(stream)
        await stream.send(b"HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\n\r\noops")

    with anyio.fail_after(TIMEOUT):
        async with raw_server(error) as port:
            with pytest.raises(InvalidStatus) as info:
                async with connect(f"ws://127.0.0.1:{port}/"):
                    pytest.fail("must not open")
            assert info.value.response.status_code == 500
            assert info.value.response.body == b"oops"


async def test_invalid_status_from_our_server() -> None:
    def refuse(ws: ServerConnection, request: Any) -> Any:
        response = ws.respond(403, "Go away.\n")
        response.headers["X-Reason"] = "test"
        return response

    with anyio.fail_after(TIMEOUT):
        async with running_server(echo_loop, process_request=refuse) as (_, uri):
            with pytest.raises(InvalidStatus) as info:
                await connect(uri)
            response = info.value.response
            assert response.status_code == 403
            assert response.headers["X-Reason"] == "test"
            assert response.body == b"Go away.\n"


@pytest.mark.parametrize(
    "uri",
    ["http://localhost/", "ws://", "ws://localhost/#frag", "localhost:8765", "ws://user@host/"],
)
async def test_invalid_uri(uri: str) -> None:
    with pytest.raises(InvalidURI):
        await connect(uri)
    with pytest.raises(InvalidURI):
        async with connect(uri):
            pytest.fail("must not open")


# Exceptions inside ``async with connect()``.


async def test_normal_exit_closes_with_1000() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            async with connect(uri) as ws:
                await ws.send("x")
                await ws.recv()
            assert await closes.first() == (1000, "")


async def test_exception_propagates_unchanged() -> None:
    error = ValueError("boom")
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):

            async def block() -> None:
                async with connect(uri) as ws:
                    await ws.send("x")
                    raise error

            with pytest.raises(ValueError) as info:
                await block()
            assert info.value is error
            assert not isinstance(info.value, BaseExceptionGroup)
            assert await closes.first() == (1011, "")


async def test_base_exception_propagates_unchanged() -> None:
    error = Abort()
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            with pytest.raises(Abort) as info:
                async with connect(uri):
                    raise error
            assert info.value is error
            assert await closes.first() == (1011, "")


async def test_connection_closed_in_block_propagates_unchanged() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.close(4001, "go")

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (_, uri):
            errors: list[ConnectionClosedError] = []

            async def block() -> None:
                async with connect(uri) as ws:
                    try:
                        await ws.recv()
                    except ConnectionClosedError as exc:
                        errors.append(exc)
                        raise

            with pytest.raises(ConnectionClosedError) as info:
                await block()
            assert info.value is errors[0]
            assert info.value.rcvd is not None
            assert info.value.rcvd.code == 4001


async def test_cancellation_in_block_closes_with_1011() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            with anyio.CancelScope() as scope:
                async with connect(uri) as ws:
                    await ws.send("x")
                    assert await ws.recv() == "x"
                    scope.cancel()
                    await anyio.sleep_forever()
            assert scope.cancelled_caught
            assert ws.state is State.CLOSED
            assert await closes.first() == (1011, "")


async def test_timeout_in_block_closes_with_1011() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            clients: list[ClientConnection] = []

            async def block() -> None:
                with anyio.fail_after(0.1):
                    async with connect(uri) as ws:
                        clients.append(ws)
                        await ws.recv()  # the echo server never sends first

            with pytest.raises(TimeoutError):
                await block()
            assert clients[0].state is State.CLOSED
            assert await closes.first() == (1011, "")


async def test_cancellation_from_another_task() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            opened = anyio.Event()

            async def client() -> None:
                async with connect(uri) as ws:
                    opened.set()
                    await ws.recv()

            async with anyio.create_task_group() as tg:
                tg.start_soon(client)
                await opened.wait()
                tg.cancel_scope.cancel()
            assert await closes.first() == (1011, "")


async def test_exception_in_block_while_server_is_gone() -> None:
    # The block raises after the server dropped the connection: the user's
    # exception still comes out as it is, with no group around it.
    async def drop(stream: ByteStream) -> None:
        await raw_server_handshake(stream)

    error = KeyError("k")
    with anyio.fail_after(TIMEOUT):
        async with raw_server(drop) as port:

            async def block() -> None:
                async with connect(f"ws://127.0.0.1:{port}/", close_timeout=0.5) as ws:
                    await ws.wait_closed()
                    raise error

            with pytest.raises(KeyError) as info:
                await block()
            assert info.value is error


# ``ws = await connect()`` is not tied to its task.


async def test_open_in_one_task_use_in_another() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            holder: list[ClientConnection] = []

            async def opener() -> None:
                holder.append(await connect(uri))

            async with anyio.create_task_group() as tg:
                tg.start_soon(opener)
            ws = holder[0]  # the opening task is gone

            async def user() -> None:
                await ws.send("from another task")
                assert await ws.recv() == "from another task"
                await ws.close()

            async with anyio.create_task_group() as tg:
                tg.start_soon(user)
            assert ws.state is State.CLOSED
            assert await closes.first() == (1000, "")


async def test_several_tasks_share_an_unowned_connection() -> None:
    with anyio.fail_after(TIMEOUT):
        async with echo_server() as (uri, closes):
            ws = await connect(uri)
            received: list[str | bytes] = []
            all_received = anyio.Event()

            async def reader() -> None:
                while len(received) < 10:
                    received.append(await ws.recv())
                all_received.set()
                await ws.wait_closed()

            async def writer() -> None:
                for i in range(10):
                    await ws.send(str(i))
                latency = await (await ws.ping())
                assert latency >= 0

            async with anyio.create_task_group() as tg:
                tg.start_soon(reader)
                async with anyio.create_task_group() as writers:
                    writers.start_soon(writer)
                await all_received.wait()
                await ws.close()
            assert received == [str(i) for i in range(10)]
            assert await closes.first() == (1000, "")


async def test_unowned_connection_notices_server_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.close(1001, "bye")

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (_, uri):
            ws = await connect(uri)
            with pytest.raises(ConnectionClosedOK) as info:
                await ws.recv()
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (1001, "bye")
            await ws.wait_closed()
            assert ws.state is State.CLOSED


# Unix sockets.


async def test_unix_connect(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    seen: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws)
        await echo_loop(ws)

    with anyio.fail_after(TIMEOUT):
        async with unix_serve(handler, path):
            async with unix_connect(path) as ws:
                await ws.send("over unix")
                assert await ws.recv() == "over unix"
            ws2 = await unix_connect(path, "ws://example.com/x")
            await ws2.send(b"b")
            assert await ws2.recv() == b"b"
            await ws2.close()
    assert seen[0].request is not None
    assert seen[0].request.headers["Host"] == "localhost"
    assert seen[1].request is not None
    assert seen[1].request.headers["Host"] == "example.com"
    assert seen[1].request.path == "/x"
    assert [ws.close_code for ws in seen] == [1000, 1000]


async def test_unix_connect_tls(
    tmp_path: Path, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    path = str(tmp_path / "wss.sock")
    with anyio.fail_after(TIMEOUT):
        async with (
            unix_serve(echo_loop, path, ssl=server_ssl),
            unix_connect(path, ssl=client_ssl) as ws,
        ):
            assert ws.extra(TLSAttribute.ssl_object).server_hostname == "localhost"
            await ws.send("tls over unix")
            assert await ws.recv() == "tls over unix"


async def test_unix_connect_missing_socket(tmp_path: Path) -> None:
    with anyio.fail_after(TIMEOUT), pytest.raises(FileNotFoundError):
        await unix_connect(str(tmp_path / "nothing.sock"))
