"""Tests for :mod:`anywebsockets.server`: serve(), unix_serve(), serve_stream(), Server.

Every test runs on asyncio and trio over real sockets on 127.0.0.1 (or a Unix
socket, or an in-memory stream where the stream is the point), against our
client, hand-written raw clients that misbehave on purpose, or a
``websockets`` client in a child process.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import socket
import ssl
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import ByteStream, SocketAttribute, TaskStatus
from anyio.lowlevel import checkpoint

from anywebsockets import (
    ConnectionClosedError,
    ConnectionClosedOK,
    Headers,
    InvalidStatus,
    ProtocolError,
    Request,
    Response,
    Server,
    ServerConnection,
    State,
    connect,
    serve,
    serve_stream,
    unix_connect,
    unix_serve,
)
from anywebsockets.protocol.http11 import SERVER
from anywebsockets.server import _Options

from .utils import (
    TIMEOUT,
    echo,
    frame,
    memory_stream_pair,
    raw_client_handshake,
    running_server,
    server_uri,
)

pytestmark = pytest.mark.anyio


# Helpers.


def port_of(server: Server) -> int:
    """Return the TCP port of the server's first listener."""
    port: int = server.listeners[0].extra(SocketAttribute.local_port)
    return port


async def read_to_eof(stream: ByteStream) -> bytes:
    """Read everything until the peer closes."""
    data = b""
    while True:
        try:
            data += await stream.receive()
        except anyio.EndOfStream:
            return data


def parse_response(data: bytes) -> tuple[int, Headers, bytes]:
    """Split a raw HTTP response into status, headers and body."""
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("iso-8859-1").split("\r\n")
    headers = Headers()
    for line in lines:
        name, _, value = line.partition(":")
        headers[name] = value.strip()
    return int(status_line.split()[1]), headers, body


async def raw_http(port: int, request: bytes) -> tuple[int, Headers, bytes]:
    """Send ``request`` over TCP; return the answer once the server closed the connection."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(request)
        return parse_response(await read_to_eof(stream))


def upgrade_request(method: str = "GET", version: str = "HTTP/1.1", path: str = "/") -> bytes:
    """A handshake request, valid but for what the arguments change."""
    return (
        f"{method} {path} {version}\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()


async def assert_echoes(uri: str, **kwargs: Any) -> None:
    """Check that the server at ``uri`` answers a new client (it keeps serving)."""
    async with connect(uri, **kwargs) as ws:
        await ws.send("still serving")
        assert await ws.recv() == "still serving"


async def client_until_closed(
    uri: str, results: list[Any], *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED
) -> None:
    """Connect, then record how the server closed the connection."""
    async with connect(uri) as ws:
        task_status.started()
        with pytest.raises((ConnectionClosedOK, ConnectionClosedError)) as raised:
            await ws.recv()
    rcvd = raised.value.rcvd
    assert rcvd is not None
    results.append((type(raised.value), rcvd.code, rcvd.reason))


def messages(caplog: pytest.LogCaptureFixture, name: str = "anywebsockets.server") -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == name]


# Running a server: async with, serve_forever, task groups.


async def test_async_with_serve_forever_returns_after_close() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, "127.0.0.1", 0) as server:
            assert server.is_serving()
            uri = server_uri(server)

            async def client() -> None:
                async with connect(uri) as ws:
                    await ws.send("hello")
                    assert await ws.recv() == "hello"
                    server.close()
                    with pytest.raises(ConnectionClosedOK) as raised:
                        await ws.recv()
                    assert raised.value.rcvd is not None
                    results.append(raised.value.rcvd.code)

            async with anyio.create_task_group() as tg:
                tg.start_soon(client)
                await server.serve_forever()
                # It returned once close() was called and the handler returned.
                assert not server.is_serving()
                assert server.connections == set()
    assert results == [1001]


async def test_task_group_start_serve_forever() -> None:
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            server = await tg.start(serve(echo, "127.0.0.1", 0).serve_forever)
            assert isinstance(server, Server)
            assert server.is_serving()
            await assert_echoes(server_uri(server))
            server.close()
        # The task group ended: serve_forever returned by itself.
        assert not server.is_serving()


async def test_serve_forever_before_async_with_raises_oserror_on_busy_port() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, _):
            busy = serve(echo, "127.0.0.1", port_of(server))
            with pytest.raises(OSError, match="in use"):
                await busy.serve_forever()
            assert not busy.is_serving()


async def test_failing_host_closes_the_listeners_opened_before() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with anyio.fail_after(TIMEOUT):
        # The second listener cannot bind the port the first one took.
        with pytest.raises(OSError, match="in use"):
            async with serve(echo, ["127.0.0.1", "127.0.0.1"], port):
                pass  # pragma: no cover
        # The first listener was closed: the port is free again.
        async with serve(echo, "127.0.0.1", port) as server:
            assert port_of(server) == port


async def test_server_runs_once() -> None:
    with anyio.fail_after(TIMEOUT):
        server = serve(echo, "127.0.0.1", 0)
        async with server:
            with pytest.raises(RuntimeError, match="runs only once"):
                await server.__aenter__()
        with pytest.raises(RuntimeError, match="runs only once"):
            async with server:
                pass


async def test_close_before_running_does_nothing() -> None:
    server = serve(echo, "127.0.0.1", 0)
    server.close()
    assert not server.is_serving()
    assert server.listeners == []
    with anyio.fail_after(TIMEOUT):
        async with server:
            assert server.is_serving()
            await assert_echoes(server_uri(server))


async def test_exception_in_block_propagates_unchanged() -> None:
    error = ValueError("boom")
    results: list[Any] = []

    async def run() -> None:
        async with serve(echo, "127.0.0.1", 0) as server:
            servers.append(server)
            await outer.start(client_until_closed, server_uri(server), results)
            raise error

    servers: list[Server] = []
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer:
            with pytest.raises(ValueError, match="boom") as raised:
                await run()
    assert raised.value is error
    assert not servers[0].is_serving()
    # Leaving the block closed the connection with 1001.
    assert results == [(ConnectionClosedOK, 1001, "")]


# Each connection: handler, close codes, logging.


async def test_handler_return_closes_with_1000() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("bye")

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (_, uri), connect(uri) as ws:
            assert await ws.recv() == "bye"
            with pytest.raises(ConnectionClosedOK) as raised:
                await ws.recv()
    assert raised.value.rcvd is not None
    assert (raised.value.rcvd.code, raised.value.rcvd.reason) == (1000, "")


async def test_handler_exception_closes_with_1011_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    error = RuntimeError("handler bug")

    async def handler(ws: ServerConnection) -> None:
        raise error

    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (_, uri):
            async with connect(uri) as ws:
                with pytest.raises(ConnectionClosedError) as raised:
                    await ws.recv()
            assert raised.value.rcvd is not None
            assert (raised.value.rcvd.code, raised.value.rcvd.reason) == (1011, "")
    failures = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert len(failures) == 1
    record = failures[0]
    assert record.name == "anywebsockets.server"
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert record.exc_info[1] is error
    assert isinstance(record.websocket, ServerConnection)  # type: ignore[attr-defined]


async def test_handler_gets_a_server_connection() -> None:
    seen: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws)
        await echo(ws)

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (server, uri), connect(uri + "path?q=1") as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
            (connection,) = seen
            assert connection.server is server
            assert connection.state is State.OPEN
            assert connection.request is not None
            assert connection.request.path == "/path?q=1"
            assert connection.response is not None
            assert connection.response.status_code == 101
            assert connection.remote_address == ws.local_address
            assert connection.local_address == ws.remote_address
            assert connection.username is None


async def test_one_bad_or_crashing_client_does_not_affect_others() -> None:
    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/crash":
            raise RuntimeError("crash")
        await echo(ws)

    outcomes: dict[str, Any] = {}
    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (server, uri):
            port = port_of(server)

            async def crashing() -> None:
                async with connect(uri + "crash") as ws:
                    with pytest.raises(ConnectionClosedError) as raised:
                        await ws.recv()
                assert raised.value.rcvd is not None
                outcomes["crash"] = raised.value.rcvd.code

            async def garbage_before_handshake() -> None:
                status, _, _ = await raw_http(port, b"\x00\xffgarbage\x01\r\n\r\n")
                outcomes["garbage http"] = status

            async def garbage_after_handshake() -> None:
                async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                    rest = await raw_client_handshake(stream)
                    # An unmasked frame from a client is a protocol error.
                    await stream.send(frame(0x1, b"not masked"))
                    data = rest + await read_to_eof(stream)
                outcomes["garbage frames"] = (data[0], data[2:4])

            async def normal() -> None:
                async with connect(uri) as ws:
                    for i in range(20):
                        await ws.send(f"message {i}")
                        assert await ws.recv() == f"message {i}"
                outcomes["normal"] = "done"

            async with anyio.create_task_group() as tg:
                for client in (crashing, garbage_before_handshake, garbage_after_handshake):
                    tg.start_soon(client)
                tg.start_soon(normal)
            await assert_echoes(uri)
    assert outcomes == {
        "crash": 1011,
        "garbage http": 400,
        # A close frame (FIN + opcode 8), code 1002 after the length byte.
        "garbage frames": (0x88, b"\x03\xea"),
        "normal": "done",
    }


async def test_slowloris_is_dropped_after_open_timeout(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, open_timeout=0.2) as (server, uri):
            async with await anyio.connect_tcp("127.0.0.1", port_of(server)) as slow:
                slow_address = slow.extra(SocketAttribute.local_address)
                await slow.send(b"GET / HT")
                # Other clients are served meanwhile.
                await assert_echoes(uri)
                # The slow one gets no answer: the server closes the connection.
                assert await read_to_eof(slow) == b""
            await assert_echoes(uri)
    [record] = [r for r in caplog.records if r.getMessage().startswith("opening handshake timed")]
    assert record.getMessage() == "opening handshake timed out after 0.2 s"
    # Logged through the connection's adapter: formatters can read who it was.
    assert record.websocket.remote_address == slow_address  # type: ignore[attr-defined]


async def test_open_timeout_none_waits() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, open_timeout=None) as (server, _):
            async with await anyio.connect_tcp("127.0.0.1", port_of(server)) as slow:
                await slow.send(b"GET / HT")
                await anyio.sleep(0.1)
                await slow.send(b"TP/1.1\r\nHost: x\r\n\r\n")
                status, _, _ = parse_response(await read_to_eof(slow))
            assert status == 426


async def test_client_hanging_up_during_handshake(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri):
            async with await anyio.connect_tcp("127.0.0.1", port_of(server)) as stream:
                await stream.send(b"GET / HTTP/1.1\r\n")
                await stream.send_eof()
                assert await read_to_eof(stream) == b""
            await assert_echoes(uri)
    assert any(m.startswith("invalid opening handshake: ") for m in messages(caplog))


# Server.connections, close(), wait_closed(), aclose(), listeners, is_serving().


async def test_connections_holds_open_connections_only() -> None:
    handlers: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        handlers.append(ws)
        await echo(ws)

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (server, uri):
            assert server.connections == set()
            async with connect(uri) as ws1:
                async with connect(uri) as ws2:
                    for ws in (ws1, ws2):
                        await ws.send("x")
                        await ws.recv()
                    assert server.connections == set(handlers)
                    assert len(server.connections) == 2
                # ws2 got the server's close frame: that connection is not open any more.
                assert server.connections == {handlers[0]}
            assert all(c.state is not State.OPEN for c in handlers)
            assert server.connections == set()


async def test_listeners_and_is_serving() -> None:
    server = serve(echo, "127.0.0.1", 0)
    assert server.listeners == []
    assert not server.is_serving()
    with anyio.fail_after(TIMEOUT):
        async with server:
            assert server.is_serving()
            assert len(server.listeners) == 1
            assert server.listeners[0].extra(SocketAttribute.local_address)[0] == "127.0.0.1"
            await server.aclose()
            assert not server.is_serving()
            with pytest.raises(OSError):  # nothing listens any more
                await anyio.connect_tcp("127.0.0.1", port_of(server))


async def test_several_hosts() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, ["127.0.0.1", "127.0.0.2"], 0) as server:
            assert len(server.listeners) == 2
            for listener in server.listeners:
                host, port = listener.extra(SocketAttribute.local_address)[:2]
                await assert_echoes(f"ws://{host}:{port}/")


async def test_close_closes_connections_with_1001() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri), anyio.create_task_group() as tg:
            for _ in range(3):
                await tg.start(client_until_closed, uri, results)
            assert len(server.connections) == 3
            server.close()
            assert not server.is_serving()
            await server.wait_closed()
            assert server.connections == set()
    assert results == [(ConnectionClosedOK, 1001, "")] * 3


async def test_close_with_code_and_reason() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri), anyio.create_task_group() as tg:
            await tg.start(client_until_closed, uri, results)
            await server.aclose(code=1012, reason="restarting")
    assert results == [(ConnectionClosedError, 1012, "restarting")]


async def test_close_twice_keeps_the_first_arguments() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri), anyio.create_task_group() as tg:
            await tg.start(client_until_closed, uri, results)
            server.close(code=4000, reason="first")
            server.close(code=4001, reason="second")
            await server.wait_closed()
    assert results == [(ConnectionClosedError, 4000, "first")]


@pytest.mark.parametrize(("code", "reason"), [(1005, ""), (999, ""), (1000, "x" * 124)])
async def test_close_with_invalid_code_or_reason(code: int, reason: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri):
            with pytest.raises(ProtocolError):
                server.close(code=code, reason=reason)
            assert server.is_serving()
            await assert_echoes(uri)


async def test_close_without_closing_connections_lets_handlers_finish() -> None:
    async def handler(ws: ServerConnection) -> None:
        message = await ws.recv()
        await ws.send(message)

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (server, uri):
            async with connect(uri) as ws:
                server.close(close_connections=False)
                assert not server.is_serving()
                await ws.send("still here")
                assert await ws.recv() == "still here"
                with pytest.raises(ConnectionClosedOK) as raised:
                    await ws.recv()
                assert raised.value.rcvd is not None
                assert raised.value.rcvd.code == 1000
            await server.wait_closed()
            # Nobody new gets in.
            with pytest.raises(OSError):
                await anyio.connect_tcp("127.0.0.1", port_of(server))


async def test_wait_closed_waits_for_handlers() -> None:
    release = anyio.Event()
    finished: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        await release.wait()
        finished.append("handler")

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (server, uri), connect(uri):
            server.close(close_connections=False)
            async with anyio.create_task_group() as tg:

                async def waiter() -> None:
                    await server.wait_closed()
                    finished.append("wait_closed")

                tg.start_soon(waiter)
                await anyio.sleep(0.05)
                assert finished == []
                release.set()
    assert finished == ["handler", "wait_closed"]


async def test_wait_closed_waits_for_every_handler() -> None:
    """Waiters keep waiting after the first handler returns, until the last one does."""
    releases = [anyio.Event(), anyio.Event()]
    finished: list[str] = []
    started = 0
    both_started = anyio.Event()

    async def handler(ws: ServerConnection) -> None:
        nonlocal started
        index = started
        started += 1
        if started == 2:
            both_started.set()
        await releases[index].wait()
        finished.append(f"handler {index}")

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler) as (server, uri), connect(uri), connect(uri):
            await both_started.wait()
            server.close(close_connections=False)
            async with anyio.create_task_group() as tg:

                async def waiter(name: str) -> None:
                    await server.wait_closed()
                    finished.append(name)

                tg.start_soon(waiter, "first waiter")
                tg.start_soon(waiter, "second waiter")
                await anyio.sleep(0.05)
                releases[0].set()
                await anyio.sleep(0.05)
                assert finished == ["handler 0"]
                releases[1].set()
    assert finished[:2] == ["handler 0", "handler 1"]
    assert sorted(finished[2:]) == ["first waiter", "second waiter"]


async def test_aclose_closes_and_waits() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri), anyio.create_task_group() as tg:
            await tg.start(client_until_closed, uri, results)
            await server.aclose()
            assert results == [(ConnectionClosedOK, 1001, "")]
            assert server.connections == set()


async def test_503_while_shutting_down() -> None:
    entered = anyio.Event()
    release = anyio.Event()

    async def process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        await release.wait()

    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_request=process_request) as (server, uri):
            async with anyio.create_task_group() as tg:

                async def client() -> None:
                    with pytest.raises(InvalidStatus) as raised:
                        await connect(uri)
                    response = raised.value.response
                    assert response.status_code == 503
                    assert response.body == b"Server is shutting down.\n"

                tg.start_soon(client)
                await entered.wait()
                server.close()
                release.set()
            await server.wait_closed()


# Cancellation: graceful shutdown.


async def test_cancel_task_group_running_serve_forever() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer:
            async with anyio.create_task_group() as tg:
                server = await tg.start(
                    serve(echo, "127.0.0.1", 0, close_timeout=0.5).serve_forever
                )
                await outer.start(client_until_closed, server_uri(server), results)
                await outer.start(client_until_closed, server_uri(server), results)
                tg.cancel_scope.cancel()
            # Everything stopped when the task group ended.
            assert not server.is_serving()
            assert server.connections == set()
            with pytest.raises(OSError):
                await anyio.connect_tcp("127.0.0.1", port_of(server))
    assert results == [(ConnectionClosedOK, 1001, "")] * 2


async def test_cancel_serve_forever_inside_async_with() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, "127.0.0.1", 0, close_timeout=0.5) as server:
            async with anyio.create_task_group() as outer:
                await outer.start(client_until_closed, server_uri(server), results)
                with anyio.CancelScope() as scope:
                    async with anyio.create_task_group() as tg:
                        tg.start_soon(server.serve_forever)
                        await checkpoint()
                        scope.cancel()
                assert scope.cancelled_caught
                assert not server.is_serving()
                assert server.connections == set()
            assert results == [(ConnectionClosedOK, 1001, "")]
            await server.wait_closed()  # returns at once


async def test_cancel_async_with_block() -> None:
    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer:
            with anyio.CancelScope() as scope:
                async with serve(echo, "127.0.0.1", 0, close_timeout=0.5) as server:
                    await outer.start(client_until_closed, server_uri(server), results)
                    scope.cancel()
                    await anyio.sleep_forever()
            assert scope.cancelled_caught
    assert results == [(ConnectionClosedOK, 1001, "")]


async def test_handler_ignoring_close_is_cancelled_after_close_timeout() -> None:
    cancelled: list[bool] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(ws.state is State.CLOSED)
            raise

    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer, anyio.create_task_group() as tg:
            server = await tg.start(
                serve(handler, "127.0.0.1", 0, close_timeout=0.1).serve_forever
            )
            await outer.start(client_until_closed, server_uri(server), results)
            tg.cancel_scope.cancel()
    assert results == [(ConnectionClosedOK, 1001, "")]
    # The handler kept running after its connection closed, until cancelled.
    assert cancelled == [True]


async def test_leaving_async_with_cancels_handler_after_close_timeout() -> None:
    cancelled: list[bool] = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await anyio.sleep_forever()
        except anyio.get_cancelled_exc_class():
            cancelled.append(True)
            raise

    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            anyio.create_task_group() as outer,
            serve(handler, "127.0.0.1", 0, close_timeout=0.1) as server,
        ):
            await outer.start(client_until_closed, server_uri(server), results)
    assert results == [(ConnectionClosedOK, 1001, "")]
    assert cancelled == [True]


async def test_forced_exit_after_close_without_closing_connections() -> None:
    # close(close_connections=False) then leaving the block: after close_timeout
    # the handler is cancelled, and its open connection closes with 1011.
    async def handler(ws: ServerConnection) -> None:
        await anyio.sleep_forever()

    results: list[Any] = []
    with anyio.fail_after(TIMEOUT):
        async with (
            anyio.create_task_group() as outer,
            serve(handler, "127.0.0.1", 0, close_timeout=0.1) as server,
        ):
            await outer.start(client_until_closed, server_uri(server), results)
            server.close(close_connections=False)
    assert results == [(ConnectionClosedError, 1011, "")]


async def test_cancellation_during_handshake_shutdown() -> None:
    # A handshake in flight when the server is cancelled is answered 503.
    entered = anyio.Event()

    async def process_request(connection: ServerConnection, request: Request) -> None:
        entered.set()
        await anyio.sleep(0.05)

    statuses: list[int] = []
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as outer:

            async def client(uri: str) -> None:
                with pytest.raises(InvalidStatus) as raised:
                    await connect(uri)
                statuses.append(raised.value.response.status_code)

            async with anyio.create_task_group() as tg:
                server = await tg.start(
                    serve(echo, "127.0.0.1", 0, process_request=process_request).serve_forever
                )
                outer.start_soon(client, server_uri(server))
                await entered.wait()
                tg.cancel_scope.cancel()
    assert statuses == [503]


# HTTP answers to raw clients.

HTTP_CASES = [
    pytest.param(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 426, id="plain-get"),
    pytest.param(b"GARBAGE\r\n\r\n", 400, id="malformed-request-line"),
    pytest.param(b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400, id="malformed-header"),
    pytest.param(b"GET / HTTP/1.1\nHost: x\n\n", 400, id="bare-lf"),
    pytest.param(upgrade_request(method="POST"), 405, id="post"),
    pytest.param(upgrade_request(version="HTTP/1.0"), 505, id="http-1.0"),
    pytest.param(upgrade_request(path="/" + "a" * 8200), 414, id="request-line-too-long"),
    pytest.param(
        b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(129)) + b"\r\n",
        431,
        id="too-many-headers",
    ),
    pytest.param(
        b"GET / HTTP/1.1\r\nX-Long: " + b"a" * 8200 + b"\r\n\r\n", 431, id="header-too-long"
    ),
]


@pytest.mark.parametrize(("request_bytes", "status"), HTTP_CASES)
async def test_http_errors(request_bytes: bytes, status: int) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, uri):
            # The server answers, then closes the TCP connection (raw_http reads to EOF).
            got, headers, body = await raw_http(port_of(server), request_bytes)
            assert got == status
            assert headers["Server"] == SERVER
            assert email.utils.parsedate_to_datetime(headers["Date"]) is not None
            assert headers["Content-Type"] == "text/plain; charset=utf-8"
            assert headers["Content-Length"] == str(len(body))
            assert headers["Connection"] == "close"
            assert body.startswith(b"Failed to open a WebSocket connection")
            await assert_echoes(uri)


async def test_plain_http_gets_426_with_an_explanation() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (server, _):
            status, headers, body = await raw_http(
                port_of(server), b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
            )
    assert status == 426
    assert headers["Upgrade"] == "websocket"
    assert b"a WebSocket client is needed" in body
    assert int(headers["Content-Length"]) == len(body)


async def test_post_gets_405_after_process_request() -> None:
    seen: list[str] = []

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        seen.append(request.method)
        if request.path == "/form":
            return connection.respond(200, "form accepted\n")
        return None

    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_request=process_request) as (server, _):
            status, headers, _ = await raw_http(port_of(server), upgrade_request(method="POST"))
            assert (status, headers["Allow"]) == (405, "GET")
            status, _, body = await raw_http(
                port_of(server), upgrade_request(method="POST", path="/form")
            )
            assert (status, body) == (200, b"form accepted\n")
    assert seen == ["POST", "POST"]


# Hooks: process_request, process_response, select_subprotocol.


@pytest.mark.parametrize("is_coroutine", [False, True], ids=["function", "coroutine"])
async def test_process_request_answers_instead(is_coroutine: bool) -> None:
    seen: list[Any] = []

    def answer(connection: ServerConnection, request: Request) -> Response | None:
        seen.append((connection.request is request, connection.state))
        if request.path == "/health":
            return connection.respond(200, "healthy\n")
        return None

    async def answer_async(connection: ServerConnection, request: Request) -> Response | None:
        await checkpoint()
        return answer(connection, request)

    hook = answer_async if is_coroutine else answer
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_request=hook) as (server, uri):
            status, headers, body = await raw_http(
                port_of(server), b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
            )
            assert (status, body) == (200, b"healthy\n")
            assert headers["Server"] == SERVER
            assert "Date" in headers
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri + "health")
            assert raised.value.response.status_code == 200
            await assert_echoes(uri)
    assert seen == [(True, State.CONNECTING)] * 3


async def test_date_header_follows_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Date header is formatted once per second, and changes with the second."""
    from anywebsockets import server as server_module

    now = [0.0]
    monkeypatch.setattr(server_module, "time", types.SimpleNamespace(time=lambda: now[0]))
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo) as (_, uri):
            for clock in (1_800_000_000.25, 1_800_000_000.75, 1_800_000_001.0, 1_700_000_000.5):
                now[0] = clock
                async with connect(uri) as ws:
                    assert ws.response is not None
                    date = ws.response.headers["Date"]
                assert date == email.utils.formatdate(clock, usegmt=True)


async def test_process_request_response_built_by_hand() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return Response(204, "No Content", Headers([("X-Hand", "made")]))

    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_request=process_request) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri)
    response = raised.value.response
    assert response.status_code == 204
    assert response.headers["X-Hand"] == "made"
    assert response.headers["Server"] == SERVER
    assert "Date" in response.headers


@pytest.mark.parametrize("is_coroutine", [False, True], ids=["function", "coroutine"])
async def test_process_response_changes_response_in_place(is_coroutine: bool) -> None:
    seen: list[Any] = []

    def change(connection: ServerConnection, request: Request, response: Response) -> None:
        seen.append((connection.request is request, response.headers.get("Server")))
        response.headers["X-Extra"] = "added"

    async def change_async(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        await checkpoint()
        change(connection, request, response)

    hook = change_async if is_coroutine else change
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_response=hook) as (_, uri), connect(uri) as ws:
            assert ws.response is not None
            assert ws.response.headers["X-Extra"] == "added"
            await ws.send("x")
            assert await ws.recv() == "x"
    assert seen == [(True, SERVER)]


@pytest.mark.parametrize("is_coroutine", [False, True], ids=["function", "coroutine"])
async def test_process_response_replaces_response(is_coroutine: bool) -> None:
    def replace(connection: ServerConnection, request: Request, response: Response) -> Response:
        assert response.status_code == 101
        return connection.respond(418, "I'm a teapot\n")

    async def replace_async(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response:
        await checkpoint()
        return replace(connection, request, response)

    hook = replace_async if is_coroutine else replace
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_response=hook) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri)
    assert raised.value.response.status_code == 418
    assert raised.value.response.body == b"I'm a teapot\n"


async def test_process_response_sees_error_responses() -> None:
    statuses: list[int] = []

    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        statuses.append(response.status_code)

    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_response=process_response) as (server, _):
            status, _, _ = await raw_http(port_of(server), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 426
    assert statuses == [426]


async def test_process_response_may_remove_the_server_header() -> None:
    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> None:
        del response.headers["Server"]

    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(echo, process_response=process_response) as (_, uri),
            connect(uri) as ws,
        ):
            assert ws.response is not None
            assert "Server" not in ws.response.headers


def _raise(*args: Any) -> Any:
    raise RuntimeError("hook bug")


def _raise_on_bad(connection: ServerConnection, request: Request, *args: Any) -> None:
    if request.path == "/bad":
        raise RuntimeError("hook bug")


async def _raise_on_bad_async(connection: ServerConnection, request: Request, *args: Any) -> None:
    await checkpoint()
    _raise_on_bad(connection, request)


@pytest.mark.parametrize("hook", ["process_request", "process_response"])
@pytest.mark.parametrize(
    "function", [_raise_on_bad, _raise_on_bad_async], ids=["function", "coroutine"]
)
async def test_hook_that_raises_gets_500(
    hook: str, function: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, **{hook: function}) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri + "bad")
            response = raised.value.response
            assert response.status_code == 500
            assert response.body == (
                b"Failed to open a WebSocket connection.\n"
                b"See the server log for more information.\n"
            )
            assert response.headers["Server"] == SERVER
            await assert_echoes(uri)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert [r.getMessage() for r in errors] == ["opening handshake failed"]
    assert errors[0].exc_info is not None
    assert str(errors[0].exc_info[1]) == "hook bug"
    assert "connection rejected (500 Internal Server Error)" in messages(caplog)


async def test_hook_that_returns_something_else_gets_500(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def process_request(connection: ServerConnection, request: Request) -> Any:
        return "not a response"

    caplog.set_level(logging.ERROR)
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_request=process_request) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri)
    assert raised.value.response.status_code == 500
    (record,) = caplog.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], TypeError)


async def test_respond_builds_a_plain_text_response() -> None:
    responses: list[Response] = []

    def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(404, "nothing here: é\n")
        responses.append(response)
        return response

    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, process_request=process_request) as (server, _):
            status, headers, body = await raw_http(port_of(server), upgrade_request())
    (response,) = responses
    assert (response.status_code, response.reason_phrase) == (404, "Not Found")
    assert response.body == "nothing here: é\n".encode()
    assert (status, body) == (404, response.body)
    assert headers["Content-Type"] == "text/plain; charset=utf-8"
    assert headers["Content-Length"] == str(len(body))


async def test_select_subprotocol_sees_the_request() -> None:
    seen: list[Any] = []

    def select(connection: ServerConnection, subprotocols: Any) -> str | None:
        assert connection.request is not None
        seen.append((connection.request.path, list(subprotocols)))
        return "b" if "b" in subprotocols else None

    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.subprotocol or "none")

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler, select_subprotocol=select) as (_, uri):
            async with connect(uri + "room", subprotocols=["a", "b"]) as ws:
                assert ws.subprotocol == "b"
                assert await ws.recv() == "b"
            async with connect(uri, subprotocols=["a"]) as ws:
                assert ws.subprotocol is None
                assert await ws.recv() == "none"
    assert seen == [("/room", ["a", "b"]), ("/", ["a"])]


async def test_select_subprotocol_that_raises_gets_500() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, select_subprotocol=_raise) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri, subprotocols=["a"])
            assert raised.value.response.status_code == 500
            assert raised.value.response.headers["Server"] == SERVER


async def test_subprotocols_default_selection() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, subprotocols=["chat", "superchat"]) as (_, uri):
            async with connect(uri, subprotocols=["superchat", "chat"]) as ws:
                assert ws.subprotocol == "chat"
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri)
            assert raised.value.response.status_code == 400
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri, subprotocols=["other"])
            assert raised.value.response.status_code == 400


# Options: origins, server_header, compression, logger, create_connection.


@pytest.mark.parametrize(
    ("origins", "origin", "allowed"),
    [
        (["https://a.example"], "https://a.example", True),
        (["https://a.example"], "https://b.example", False),
        (["https://a.example"], None, False),
        ([re.compile(r"https://[a-z]+\.example")], "https://b.example", True),
        ([re.compile(r"https://[a-z]+\.example")], "https://b.example.evil", False),
        ([None], None, True),
        ([None, "https://a.example"], "https://a.example", True),
        ([None], "https://a.example", False),
        (None, "https://anything.example", True),
    ],
)
async def test_origins(origins: Any, origin: str | None, allowed: bool) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, origins=origins) as (_, uri):
            if allowed:
                await assert_echoes(uri, origin=origin)
            else:
                with pytest.raises(InvalidStatus) as raised:
                    await connect(uri, origin=origin)
                assert raised.value.response.status_code == 403


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, SERVER),
        ({"server_header": "custom/1.0"}, "custom/1.0"),
        ({"server_header": None}, None),
    ],
)
async def test_server_header(kwargs: dict[str, Any], expected: str | None) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, **kwargs) as (server, uri):
            async with connect(uri) as ws:
                assert ws.response is not None
                assert ws.response.headers.get("Server") == expected
                assert "Date" in ws.response.headers
            # Error responses, even those the engine writes by itself, too.
            _, headers, _ = await raw_http(port_of(server), b"GARBAGE\r\n\r\n")
            assert headers.get("Server") == expected
            assert "Date" in headers


@pytest.mark.parametrize(("compression", "extensions"), [("deflate", 1), (None, 0)])
async def test_compression(compression: str | None, extensions: int) -> None:
    seen: list[int] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(len(ws.protocol.extensions))
        await echo(ws)

    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(handler, compression=compression) as (_, uri),
            connect(uri) as ws,
        ):
            assert len(ws.protocol.extensions) == extensions
            await ws.send("a" * 10000)
            assert await ws.recv() == "a" * 10000
    assert seen == [extensions]


async def test_unsupported_compression() -> None:
    with pytest.raises(ValueError, match="unsupported compression: gzip"):
        serve(echo, "127.0.0.1", 0, compression="gzip")


async def test_invalid_subprotocols_fail_at_once() -> None:
    with pytest.raises(TypeError, match="subprotocols must be a list of str, not str"):
        serve(echo, "127.0.0.1", 0, subprotocols="chat")
    with pytest.raises(ValueError, match="invalid subprotocol: 'a b'"):
        unix_serve(echo, "/unused", subprotocols=["a b"])


async def test_unknown_option() -> None:
    with pytest.raises(TypeError, match="bogus"):
        serve(echo, "127.0.0.1", 0, bogus=True)


async def test_max_size() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, max_size=1000) as (_, uri), connect(uri) as ws:
            await ws.send(b"x" * 1000)
            assert await ws.recv() == b"x" * 1000
            await ws.send(b"x" * 1001)
            with pytest.raises(ConnectionClosedError) as raised:
                await ws.recv()
    assert raised.value.rcvd is not None
    assert raised.value.rcvd.code == 1009


@pytest.mark.parametrize("logger", ["custom.server", logging.getLogger("custom.server")])
async def test_logger(logger: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, logger=logger) as (_, uri):
            await assert_echoes(uri)
    assert messages(caplog, "anywebsockets.server") == []
    assert "connection open" in messages(caplog, "custom.server")
    assert messages(caplog, "custom.server")[-1] == "server closed"


async def test_create_connection() -> None:
    class MyConnection(ServerConnection):
        pass

    seen: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        seen.append(ws)

    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(handler, create_connection=MyConnection) as (_, uri),
            connect(uri) as ws,
        ):
            with pytest.raises(ConnectionClosedOK):
                await ws.recv()
    assert [type(ws) for ws in seen] == [MyConnection]


async def test_create_connection_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    def create_connection(*args: Any, **kwargs: Any) -> ServerConnection:
        raise RuntimeError("factory bug")

    caplog.set_level(logging.ERROR)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(echo, create_connection=create_connection) as (server, _),
            await anyio.connect_tcp("127.0.0.1", port_of(server)) as stream,
        ):
            # The server closes the connection before reading anything.
            assert await read_to_eof(stream) == b""
    (record,) = caplog.records
    assert record.getMessage() == "opening handshake failed"
    assert record.exc_info is not None
    assert str(record.exc_info[1]) == "factory bug"


async def test_logging(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, origins=["https://ok.example"]) as (server, uri):
            port = port_of(server)
            await assert_echoes(uri, origin="https://ok.example")
            with pytest.raises(InvalidStatus):
                await connect(uri, origin="https://bad.example")
    logged = messages(caplog)
    assert logged[0] == f"server listening on 127.0.0.1:{port}"
    assert logged[1:3] == ["connection open", "connection closed"]
    assert logged[3] == "connection rejected (403 Forbidden)"
    # The rejected connection closes while the client reads the answer: the
    # server may start closing before or after it.
    assert sorted(logged[4:-1]) == ["connection closed", "server closing"]
    assert logged[-1] == "server closed"
    records = [r for r in caplog.records if r.name == "anywebsockets.server"]
    assert all(r.levelno == logging.INFO for r in records)
    # Connection records carry the connection.
    assert isinstance(records[1].websocket, ServerConnection)  # type: ignore[attr-defined]


# Transports: serve_stream, unix_serve, sock=, TLS, reuse_port, backlog.


async def test_serve_stream_in_memory() -> None:
    client_stream, server_stream = memory_stream_pair()
    returned: list[bool] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.server is None
        await ws.send(await ws.recv())

    async def run_server() -> None:
        await serve_stream(handler, server_stream)
        returned.append(True)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            async with connect("ws://memory.invalid/", stream=client_stream) as ws:
                await ws.send("over memory")
                assert await ws.recv() == "over memory"
                with pytest.raises(ConnectionClosedOK) as raised:
                    await ws.recv()
                assert raised.value.rcvd is not None
                assert raised.value.rcvd.code == 1000
    assert returned == [True]
    # serve_stream closed its stream.
    with pytest.raises(anyio.ClosedResourceError):
        await server_stream.receive()


async def test_serve_stream_over_tcp_accepted_by_plain_anyio() -> None:
    with anyio.fail_after(TIMEOUT):
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        async with listener, anyio.create_task_group() as tg:
            port = listener.extra(SocketAttribute.local_port)

            async def accept_one() -> None:
                stream = await listener.listeners[0].accept()
                await serve_stream(echo, stream, compression=None)

            tg.start_soon(accept_one)
            async with connect(f"ws://127.0.0.1:{port}/") as ws:
                assert ws.protocol.extensions == []
                await ws.send(b"over tcp")
                assert await ws.recv() == b"over tcp"


async def test_serve_stream_cancelled_closes_with_1011() -> None:
    client_stream, server_stream = memory_stream_pair()
    started = anyio.Event()

    async def handler(ws: ServerConnection) -> None:
        started.set()
        await anyio.sleep_forever()

    scope = anyio.CancelScope()

    async def run_server() -> None:
        with scope:
            await serve_stream(handler, server_stream)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_server)
            async with connect("ws://memory.invalid/", stream=client_stream) as ws:
                await started.wait()
                scope.cancel()
                with pytest.raises(ConnectionClosedError) as raised:
                    await ws.recv()
    assert scope.cancelled_caught
    assert raised.value.rcvd is not None
    assert raised.value.rcvd.code == 1011


async def test_serve_stream_cancelled_during_handshake_closes_the_stream() -> None:
    client_stream, server_stream = memory_stream_pair()
    scope = anyio.CancelScope()

    async def run_server() -> None:
        with scope:
            await serve_stream(echo, server_stream)

    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg, client_stream:
            tg.start_soon(run_server)
            await client_stream.send(b"GET / HTTP/1.1\r\n")
            await anyio.sleep(0.05)
            scope.cancel()
            assert await read_to_eof(client_stream) == b""
    assert scope.cancelled_caught
    with pytest.raises(anyio.ClosedResourceError):
        await server_stream.receive()


async def test_serve_stream_failed_handshake_closes_the_stream() -> None:
    client_stream, server_stream = memory_stream_pair()
    with anyio.fail_after(TIMEOUT):
        async with anyio.create_task_group() as tg:
            tg.start_soon(serve_stream, echo, server_stream)
            async with client_stream:
                await client_stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                status, _, _ = parse_response(await read_to_eof(client_stream))
    assert status == 426
    with pytest.raises(anyio.ClosedResourceError):
        await server_stream.receive()


async def test_unix_serve(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    path = str(tmp_path / "ws.sock")
    with anyio.fail_after(TIMEOUT):
        async with unix_serve(echo, path) as server, unix_connect(path) as ws:
            assert server.is_serving()
            await ws.send("over unix")
            assert await ws.recv() == "over unix"
    assert f"server listening on {path}" in messages(caplog)


@pytest.mark.parametrize("listening", [True, False])
async def test_unix_serve_sock(tmp_path: Path, listening: bool) -> None:
    path = str(tmp_path / "ws.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(path)
    if listening:
        sock.listen()
    with anyio.fail_after(TIMEOUT):
        async with unix_serve(echo, sock=sock), unix_connect(path) as ws:
            await ws.send("over unix")
            assert await ws.recv() == "over unix"
    assert sock.fileno() == -1


async def test_unix_serve_needs_a_path_or_a_sock() -> None:
    with pytest.raises(TypeError, match="needs a path or a sock"):
        unix_serve(echo)


@pytest.mark.parametrize("listening", [True, False])
async def test_sock(listening: bool) -> None:
    """A listening socket, or one only bound: the server calls listen(), like asyncio's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    if listening:
        sock.listen()
    port = sock.getsockname()[1]
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, sock=sock) as server:
            assert port_of(server) == port
            await assert_echoes(f"ws://127.0.0.1:{port}/")
    # The server owns the socket and closed it.
    assert sock.fileno() == -1


async def test_tls(server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext) -> None:
    seen: list[Any] = []

    async def handler(ws: ServerConnection) -> None:
        from anyio.streams.tls import TLSAttribute

        seen.append(ws.extra(TLSAttribute.ssl_object).version())
        await echo(ws)

    with anyio.fail_after(TIMEOUT):
        async with running_server(handler, ssl=server_ssl) as (_, uri):
            assert uri.startswith("wss://")
            await assert_echoes(uri, ssl=client_ssl)
    assert len(seen) == 1
    assert seen[0].startswith("TLS")


async def test_tls_bad_clients_do_not_stop_the_server(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(echo, ssl=server_ssl, open_timeout=0.2) as (server, uri):
            port = port_of(server)
            # Plain HTTP to a TLS server: the TLS handshake fails.
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                await stream.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                    await stream.receive()
            # A client that never starts TLS is dropped after open_timeout.
            async with await anyio.connect_tcp("127.0.0.1", port) as stream:
                assert await read_to_eof(stream) == b""
            await assert_echoes(uri, ssl=client_ssl)


async def test_reuse_port() -> None:
    with anyio.fail_after(TIMEOUT):
        first = serve(echo, "127.0.0.1", 0, reuse_port=True)
        async with first:
            port = port_of(first)
            # Without reuse_port, the port is busy.
            with pytest.raises(OSError, match="in use"):
                async with serve(echo, "127.0.0.1", port):
                    pass
            async with serve(echo, "127.0.0.1", port, reuse_port=True) as second:
                assert port_of(second) == port
                await first.aclose()
                # The second server alone answers on the shared port.
                await assert_echoes(f"ws://127.0.0.1:{port}/")


async def test_backlog() -> None:
    with anyio.fail_after(TIMEOUT):
        async with serve(echo, "127.0.0.1", 0, backlog=1) as server:
            uri = server_uri(server)
            async with anyio.create_task_group() as tg:
                for _ in range(5):
                    tg.start_soon(assert_echoes, uri)


class _FlakyListener:
    """A listener whose first accept() fails as when the process is out of file descriptors."""

    def __init__(self, listener: Any) -> None:
        self._listener = listener
        self.failures = 1

    def extra(self, attribute: Any, default: Any = None) -> Any:
        return self._listener.extra(attribute, default)

    async def accept(self) -> Any:
        if self.failures:
            self.failures -= 1
            await checkpoint()
            raise OSError(24, "Too many open files")
        return await self._listener.accept()

    async def aclose(self) -> None:
        await self._listener.aclose()


async def test_accept_error_is_logged_and_serving_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def open_listeners() -> list[Any]:
        multi = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
        return [_FlakyListener(multi.listeners[0])]

    caplog.set_level(logging.INFO)
    with anyio.fail_after(TIMEOUT):
        async with Server(_Options(echo), open_listeners) as server:
            await assert_echoes(server_uri(server))
    assert "failed to accept a connection: [Errno 24] Too many open files" in messages(caplog)


# Interoperability: a websockets client in a child process.

WEBSOCKETS_CLIENT = """
import hashlib, json, os, sys
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

uri = sys.argv[1]
out = {}
# websockets applies max_size to the compressed frame: random data needs more.
with connect(uri + "echo", compression="deflate", max_size=2**21) as ws:
    out["extensions"] = [e.name for e in ws.protocol.extensions]
    ws.send("hello, é")
    out["text"] = ws.recv()
    ws.send(b"\\x00\\x01\\xfe\\xff")
    out["binary"] = ws.recv().hex()
    big = os.urandom(2**20)
    ws.send(big)
    out["big"] = hashlib.sha256(ws.recv()).hexdigest() == hashlib.sha256(big).hexdigest()
    ws.send("a" * 2**20)
    out["big text"] = ws.recv() == "a" * 2**20
with connect(uri + "close") as ws:
    try:
        ws.recv()
    except ConnectionClosed as exc:
        out["server close"] = [exc.rcvd.code, exc.rcvd.reason]
with connect(uri + "wait") as ws:
    ws.close(4002, "client says bye")
print(json.dumps(out))
"""


async def test_websockets_client_interop() -> None:
    server_closes: list[Any] = []
    extensions: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        if ws.request.path == "/echo":
            extensions.extend(e.name for e in ws.protocol.extensions)
            await echo(ws)
        elif ws.request.path == "/close":
            await ws.close(4001, "server says bye")
        else:
            await ws.wait_closed()
            server_closes.append((ws.close_code, ws.close_reason))

    with anyio.fail_after(TIMEOUT * 3):
        async with running_server(handler) as (_, uri):
            result = await anyio.run_process([sys.executable, "-c", WEBSOCKETS_CLIENT, uri])
    out = json.loads(result.stdout)
    assert out == {
        "extensions": ["permessage-deflate"],
        "text": "hello, é",
        "binary": "0001feff",
        "big": True,
        "big text": True,
        "server close": [4001, "server says bye"],
    }
    assert extensions == ["permessage-deflate"]
    assert server_closes == [(4002, "client says bye")]
