"""Tests for the byte streams and listeners of :mod:`anywebsockets._backends`.

The client and the server run over streams of their own (``_backends/_asyncio.py``
on asyncio, ``_backends/_trio.py`` on trio) rather than anyio's: they must behave
as anyio's do. Each scenario below runs on asyncio, uvloop and trio, with anyio's
stream and listener (``anyio``) and with ours (``ours``), over real sockets on
127.0.0.1 or a Unix socket. Then come the methods that only our streams have,
for the driver (``write_nowait``, ``wait_drained``, ``wait_unclaimed``...), on
both event loops, and what is particular to trio: one task at a time may wait
for a socket to be readable there, and unsent bytes wait in the stream itself.
"""

from __future__ import annotations

import socket
import ssl
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio import wait_all_tasks_blocked
from anyio.abc import ByteStream, SocketAttribute, SocketListener, SocketStream
from anyio.streams.tls import TLSAttribute, TLSStream

from anywebsockets import ServerConnection, connect
from anywebsockets._backends import (
    connect_tcp,
    connect_unix,
    create_tcp_listeners,
    create_unix_listener,
    fast_stream,
    listener_from_socket,
)
from anywebsockets._backends._asyncio import _AsyncioSocketListener, _AsyncioSocketStream
from anywebsockets._backends._trio import _TrioSocketListener, _TrioSocketStream

from .utils import TIMEOUT, running_server

pytestmark = pytest.mark.anyio

KINDS = ["anyio", "ours"]
BOTH_LOOPS = pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
OUR_STREAMS = {"asyncio": _AsyncioSocketStream, "trio": _TrioSocketStream}
OUR_LISTENERS = {"asyncio": _AsyncioSocketListener, "trio": _TrioSocketListener}
TRIO_ONLY = pytest.mark.parametrize("anyio_backend", ["trio"])


@pytest.fixture(params=["asyncio", "uvloop", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> Any:
    """Compare our stream with anyio's on each event loop.

    Under uvloop too when it is installed (it is not a test dependency): its
    transports are not ``asyncio.Transport`` subclasses.
    """
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
        return ("asyncio", {"use_uvloop": True})
    return request.param


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def tcp_listener(kind: str) -> SocketListener:
    """A listener on 127.0.0.1 with a free port: anyio's, or from ``_backends``."""
    if kind == "anyio":
        multi = await anyio.create_tcp_listener(local_host="127.0.0.1")
        listener: SocketListener = multi.listeners[0]  # type: ignore[assignment]
        return listener
    [listener] = await create_tcp_listeners("127.0.0.1", 0, backlog=16, reuse_port=False)
    return listener


def connector(kind: str) -> Callable[[str, int], Awaitable[Any]]:
    return anyio.connect_tcp if kind == "anyio" else connect_tcp


@asynccontextmanager
async def connected(kind: str) -> AsyncIterator[tuple[SocketStream, SocketStream]]:
    """A connected pair over TCP, (client, server), both streams of ``kind``."""
    listener = await tcp_listener(kind)
    async with listener:
        port = listener.extra(SocketAttribute.local_port)
        client = await connector(kind)("127.0.0.1", port)
        async with client:
            server = await listener.accept()
            async with server:
                yield client, server


def linger_zero(stream: SocketStream) -> None:
    """Make closing ``stream`` reset the connection (RST) instead of ending it (FIN)."""
    sock = stream.extra(SocketAttribute.raw_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


async def receive_exactly(stream: ByteStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        data += await stream.receive()
    return bytes(data)


# What kind of stream each side gets.


async def test_ours_are_the_backends_streams(anyio_backend_name: str) -> None:
    ours = OUR_STREAMS[anyio_backend_name]
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert type(client) is ours
            assert type(server) is ours
            assert fast_stream(client) is client
        async with connected("anyio") as (client, server):
            assert fast_stream(client) is None


# Data.


async def test_round_trip(kind: str) -> None:
    payload = bytes(range(256)) * 1024  # 256 KiB
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await client.send(b"hello")
            assert await server.receive() == b"hello"
            await server.send(payload)
            assert await receive_exactly(client, len(payload)) == payload


async def test_receive_respects_max_bytes(kind: str) -> None:
    payload = bytes(range(256)) * 64
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            with pytest.raises(ValueError):
                await server.receive(0)
            await client.send(payload)
            received = bytearray()
            while len(received) < len(payload):
                chunk = await server.receive(1000)
                assert 0 < len(chunk) <= 1000
                received += chunk
            assert received == payload


async def test_many_small_sends_arrive_in_order(kind: str) -> None:
    messages = [str(i).encode() + b"," for i in range(2000)]
    expected = b"".join(messages)
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            for message in messages:
                await client.send(message)
            assert await receive_exactly(server, len(expected)) == expected


# End of stream, half-close, errors.


async def test_end_of_stream_after_the_data(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await client.send(b"last words")
            await client.aclose()
            assert await receive_exactly(server, 10) == b"last words"
            with pytest.raises(anyio.EndOfStream):
                await server.receive()
            with pytest.raises(anyio.EndOfStream):  # and again
                await server.receive()


async def test_send_eof_half_closes(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await client.send(b"question")
            await client.send_eof()
            assert await receive_exactly(server, 8) == b"question"
            with pytest.raises(anyio.EndOfStream):
                await server.receive()
            # The other direction still works.
            await server.send(b"answer")
            assert await receive_exactly(client, 6) == b"answer"
            await server.aclose()
            with pytest.raises(anyio.EndOfStream):
                await client.receive()


async def test_reset_breaks_the_stream(kind: str, anyio_backend_name: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            linger_zero(server)
            await server.aclose()
            with pytest.raises(anyio.BrokenResourceError) as info:
                await client.receive()
            assert isinstance(info.value.__cause__, ConnectionResetError)
            with pytest.raises(anyio.BrokenResourceError) as info:
                await client.send(b"anyone?")
            if (kind, anyio_backend_name) == ("anyio", "trio"):
                # It asks the kernel again each time: a broken pipe this time.
                assert isinstance(info.value.__cause__, OSError)
                return
            # The error sticks, in both directions.
            assert isinstance(info.value.__cause__, ConnectionResetError)
            with pytest.raises(anyio.BrokenResourceError) as info:
                await client.receive()
            assert isinstance(info.value.__cause__, ConnectionResetError)


async def test_send_after_the_peer_closed(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await server.aclose()
            with pytest.raises(anyio.BrokenResourceError) as info:
                for _ in range(1000):  # the first sends land in the kernel's buffer
                    await client.send(b"x" * 1024)
                    await anyio.sleep(0.001)
            assert isinstance(info.value.__cause__, OSError)


async def test_failed_send_breaks_the_stream(kind: str, anyio_backend_name: str) -> None:
    # The send learns of the reset first; the receive that follows says the
    # same, rather than report a clean end of the stream.
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            linger_zero(server)
            await server.aclose()
            with pytest.raises(anyio.BrokenResourceError) as sending:
                for _ in range(1000):
                    await client.send(b"x" * 1024)
                    await anyio.sleep(0.001)
            if (kind, anyio_backend_name) == ("anyio", "trio"):
                return  # it asks the kernel again, which has nothing more to tell
            with pytest.raises(anyio.BrokenResourceError) as receiving:
                await client.receive()
            assert isinstance(sending.value.__cause__, OSError)
            assert type(receiving.value.__cause__) is type(sending.value.__cause__)


async def test_use_after_close(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await server.send(b"unread")
            await wait_all_tasks_blocked()
            await client.aclose()
            with pytest.raises(anyio.ClosedResourceError):
                await client.receive()
            with pytest.raises(anyio.ClosedResourceError):
                await client.send(b"late")
            await client.aclose()  # closing twice is fine


async def test_close_wakes_a_blocked_receive(kind: str) -> None:
    errors: list[BaseException] = []

    async def receive(stream: SocketStream) -> None:
        try:
            await stream.receive()
        except Exception as exc:
            errors.append(exc)

    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, _), anyio.create_task_group() as tg:
            tg.start_soon(receive, client)
            await wait_all_tasks_blocked()
            await client.aclose()
    assert [type(exc) for exc in errors] == [anyio.ClosedResourceError]


# Concurrency and cancellation.


async def test_concurrent_receive_is_busy(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server), anyio.create_task_group() as tg:
            tg.start_soon(client.receive)
            await wait_all_tasks_blocked()
            with pytest.raises(anyio.BusyResourceError):
                await client.receive()
            await server.send(b"for the first one")


async def test_cancelled_receive_loses_nothing(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.receive)
                await wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
            await server.send(b"after the cancellation")
            assert await receive_exactly(client, 22) == b"after the cancellation"


async def test_receive_with_data_ready_honours_a_cancellation(
    kind: str, anyio_backend: Any
) -> None:
    if kind == "anyio" and anyio_backend not in ("asyncio", "trio"):
        # Its wait for data ends before the cancellation is delivered.
        pytest.skip("anyio's own stream lets this receive through under uvloop")
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await server.send(b"ready")
            assert await client.receive() == b"ready"
            await server.send(b"waiting")
            await wait_all_tasks_blocked()
            with anyio.CancelScope() as scope:
                scope.cancel()
                await client.receive()
                pytest.fail("a cancelled receive returned")  # pragma: no cover
            assert scope.cancelled_caught
            assert await receive_exactly(client, 7) == b"waiting"


def small_buffers(sender: SocketStream, receiver: SocketStream) -> None:
    """Shrink the kernel's buffers, so that a peer that does not read blocks the sender."""
    sender.extra(SocketAttribute.raw_socket).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    receiver.extra(SocketAttribute.raw_socket).setsockopt(
        socket.SOL_SOCKET, socket.SO_RCVBUF, 16384
    )


async def test_backpressure_then_reading(kind: str) -> None:
    chunk = bytes(range(256)) * 256  # 64 KiB
    total = 64 * len(chunk)  # 4 MiB: far more than the kernel holds
    sent: list[int] = []

    async def sender(stream: SocketStream) -> None:
        for _ in range(total // len(chunk)):
            await stream.send(chunk)
            sent.append(len(chunk))

    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            small_buffers(client, server)
            async with anyio.create_task_group() as tg:
                tg.start_soon(sender, client)
                await wait_all_tasks_blocked()
                # The peer does not read: the sender waits, far from done.
                assert sum(sent) < total
                received = await receive_exactly(server, total)
            assert sum(sent) == total
            assert received == chunk * (total // len(chunk))


async def test_cancelled_blocked_send(kind: str, anyio_backend_name: str) -> None:
    if (kind, anyio_backend_name) == ("anyio", "trio"):
        pytest.skip("anyio's trio stream drops the rest of a cancelled send")
    chunk = bytes(range(256)) * 256
    sent: list[int] = []

    async def sender(stream: SocketStream) -> None:
        while True:
            await stream.send(chunk)
            sent.append(len(chunk))

    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            small_buffers(client, server)
            async with anyio.create_task_group() as tg:
                tg.start_soon(sender, client)
                await wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
            # The cancelled send had handed its chunk over: it still arrives,
            # whole, before what the next send writes (on trio, that send
            # writes it).
            size = sum(sent) + len(chunk)
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, b"more")
                received = await receive_exactly(server, size + 4)
            assert received == chunk * (size // len(chunk)) + b"more"


# Attributes.


async def test_typed_attributes(kind: str) -> None:
    listener = await tcp_listener(kind)
    async with listener:
        assert listener.extra(SocketAttribute.local_address)[0] == "127.0.0.1"
        port = listener.extra(SocketAttribute.local_port)
        assert listener.extra(SocketAttribute.family) == socket.AF_INET
        with anyio.fail_after(TIMEOUT):
            async with (
                await connector(kind)("127.0.0.1", port) as client,
                await listener.accept() as server,
            ):
                assert client.extra(SocketAttribute.remote_address) == ("127.0.0.1", port)
                assert client.extra(SocketAttribute.remote_port) == port
                assert server.extra(SocketAttribute.local_port) == port
                assert server.extra(SocketAttribute.remote_address) == client.extra(
                    SocketAttribute.local_address
                )
                assert server.extra(SocketAttribute.remote_port) == client.extra(
                    SocketAttribute.local_port
                )
                assert client.extra(SocketAttribute.family) == socket.AF_INET
                raw = client.extra(SocketAttribute.raw_socket)
                assert raw.getsockname() == client.extra(SocketAttribute.local_address)


async def test_tcp_nodelay(kind: str) -> None:
    # Small writes go out at once, as with anyio's streams.
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            for stream in (client, server):
                sock = stream.extra(SocketAttribute.raw_socket)
                assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


async def test_tls_on_top(
    kind: str, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            wrapped: list[TLSStream] = []

            async def wrap_server() -> None:
                wrapped.append(
                    await TLSStream.wrap(
                        server, server_side=True, ssl_context=server_ssl, standard_compatible=False
                    )
                )

            async with anyio.create_task_group() as tg:
                tg.start_soon(wrap_server)
                tls_client = await TLSStream.wrap(
                    client, hostname="localhost", ssl_context=client_ssl, standard_compatible=False
                )
            [tls_server] = wrapped
            await tls_client.send(b"secret")
            assert await tls_server.receive() == b"secret"
            payload = bytes(range(256)) * 1024
            await tls_server.send(payload)
            assert await receive_exactly(tls_client, len(payload)) == payload
            assert str(tls_client.extra(TLSAttribute.ssl_object).version()).startswith("TLS")
            assert tls_client.extra(SocketAttribute.remote_port) == server.extra(
                SocketAttribute.local_port
            )
            await tls_client.aclose()
            with pytest.raises((anyio.EndOfStream, anyio.BrokenResourceError)):
                await tls_server.receive()


# Unix sockets.


@asynccontextmanager
async def unix_connected(
    kind: str, path: str
) -> AsyncIterator[tuple[SocketStream, SocketStream, SocketListener]]:
    if kind == "anyio":
        listener: SocketListener = await anyio.create_unix_listener(path)
        connect: Callable[[str], Awaitable[Any]] = anyio.connect_unix
    else:
        listener = await create_unix_listener(path, backlog=16)
        connect = connect_unix
    async with listener, await connect(path) as client, await listener.accept() as server:
        yield client, server, listener


async def test_unix_socket(kind: str, tmp_path: Path) -> None:
    path = str(tmp_path / "stream.sock")
    with anyio.fail_after(TIMEOUT):
        async with unix_connected(kind, path) as (client, server, listener):
            assert listener.extra(SocketAttribute.local_address) == path
            assert client.extra(SocketAttribute.remote_address) == path
            assert client.extra(SocketAttribute.family) == socket.AF_UNIX
            assert client.extra(SocketAttribute.local_port, None) is None
            await client.send(b"over unix")
            assert await receive_exactly(server, 9) == b"over unix"
            await client.send_eof()
            with pytest.raises(anyio.EndOfStream):
                await server.receive()
            await server.send(b"back")
            assert await receive_exactly(client, 4) == b"back"


# Listeners.


async def test_listener_close(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        listener = await tcp_listener(kind)
        raw = listener.extra(SocketAttribute.raw_socket)
        errors: list[BaseException] = []

        async def accept() -> None:
            try:
                await listener.accept()
            except Exception as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(accept)
            await wait_all_tasks_blocked()
            with pytest.raises(anyio.BusyResourceError):
                await listener.accept()
            await listener.aclose()
        assert [type(exc) for exc in errors] == [anyio.ClosedResourceError]
        with pytest.raises(anyio.ClosedResourceError):
            await listener.accept()
        assert raw.fileno() == -1


async def test_cancelled_accept_takes_no_connection(kind: str) -> None:
    with anyio.fail_after(TIMEOUT):
        listener = await tcp_listener(kind)
        async with listener:
            port = listener.extra(SocketAttribute.local_port)
            with anyio.CancelScope() as scope:
                scope.cancel()
                await listener.accept()
            assert scope.cancelled_caught
            async with (
                await connector(kind)("127.0.0.1", port) as client,
                await listener.accept() as server,
            ):
                await client.send(b"x")
                assert await server.receive() == b"x"


# Our streams' own methods, for the driver (the FastStream protocol).


async def test_write_nowait_and_wait_drained() -> None:
    chunk = bytes(65536)
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            small_buffers(client, server)
            # Small writes go straight through; one in a few asks for a yield.
            yields = 0
            for _ in range(40):
                if client.write_nowait(b"x"):
                    yields += 1
                    await client.wait_drained()
            assert yields == 40 // 16
            # A caller that never waits (broadcast) is not asked to yield.
            assert not any(client.write_nowait(b"x", may_yield=False) for _ in range(40))
            # The peer does not read: the kernel fills up, the caller must wait.
            while not client.write_nowait(chunk, may_yield=False):
                pass  # only a full kernel stops it
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.wait_drained)
                await wait_all_tasks_blocked()
                with pytest.raises(anyio.BusyResourceError):
                    client.write_nowait(b"y")
                received = await server.receive()
                while not received.endswith(chunk[-100:]) or len(received) < 80 + 65536:
                    received += await server.receive()
            await client.aclose()
            with pytest.raises(anyio.ClosedResourceError):
                client.write_nowait(b"z")


async def test_send_eof_and_close_without_waiting() -> None:
    chunk = bytes(65536)
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            small_buffers(client, server)
            client.write_nowait(b"last")
            assert client.send_eof_nowait()  # nothing waits in the stream: done
            received = b""
            with pytest.raises(anyio.EndOfStream):
                while True:
                    received += await server.receive()
            assert received == b"last"
            assert client.send_eof_nowait()  # once is enough
            # Bytes the kernel did not take: trio's stream holds them and must
            # write them first (False: await send_eof()); asyncio's transport
            # writes them before the end of the stream by itself.
            while not server.write_nowait(chunk, may_yield=False):
                pass
            done = server.send_eof_nowait()
            assert done is isinstance(server, _AsyncioSocketStream)
            server.close_nowait()
            with pytest.raises(anyio.ClosedResourceError):
                await server.receive()
            server.close_nowait()  # closing twice is harmless


async def test_wait_unclaimed() -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            # Data for a task blocked in receive() is not unclaimed.
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.receive)
                tg.start_soon(client.wait_unclaimed)
                await wait_all_tasks_blocked()
                with pytest.raises(anyio.BusyResourceError):
                    await client.wait_unclaimed()
                await server.send(b"claimed")
                await wait_all_tasks_blocked()
                # receive() took it; wait_unclaimed() still waits.
                client.interrupt_unclaimed()
            # With no receive() waiting, data is unclaimed.
            await server.send(b"unclaimed")
            assert await client.wait_unclaimed() is True
            assert await receive_exactly(client, 9) == b"unclaimed"
            client.interrupt_unclaimed()
            assert await client.wait_unclaimed() is False
            await server.aclose()
            assert await client.wait_unclaimed() is True  # the end of the stream


def numbered_chunks(count: int, size: int) -> list[bytes]:
    """``count`` chunks of ``size`` bytes, each one different, to check the order."""
    return [struct.pack("!I", i) * (size // 4) for i in range(count)]


async def test_unsent_bytes_keep_their_order() -> None:
    # The peer does not read: the kernel takes the first chunks, and the rest
    # waits (in the transport on asyncio, in the stream on trio).
    chunks = numbered_chunks(64, 65536)  # 4 MiB: far more than the kernel holds
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            small_buffers(client, server)
            must_wait = [client.write_nowait(chunk) for chunk in chunks]
            assert must_wait[-1] is True  # the last ones could not go out at once
            expected = b"".join(chunks) + b"tail"
            async with anyio.create_task_group() as tg:

                async def drain_then_send() -> None:
                    await client.wait_drained()
                    await client.send(b"tail")

                tg.start_soon(drain_then_send)
                await wait_all_tasks_blocked()
                with pytest.raises(anyio.BusyResourceError):
                    await client.send(b"not now")
                assert await receive_exactly(server, len(expected)) == expected


async def test_cancelled_wait_drained_keeps_the_bytes() -> None:
    chunks = numbered_chunks(64, 65536)
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            small_buffers(client, server)
            for chunk in chunks:
                client.write_nowait(chunk)
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.wait_drained)
                await wait_all_tasks_blocked()
                tg.cancel_scope.cancel()
            # Nothing is lost, and what comes next comes after.
            expected = b"".join(chunks) + b"next"
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send, b"next")
                assert await receive_exactly(server, len(expected)) == expected


async def test_send_eof_after_unsent_bytes() -> None:
    chunks = numbered_chunks(64, 65536)
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            small_buffers(client, server)
            for chunk in chunks:
                client.write_nowait(chunk)
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.send_eof)
                expected = b"".join(chunks)
                assert await receive_exactly(server, len(expected)) == expected
                with pytest.raises(anyio.EndOfStream):
                    await server.receive()
            with pytest.raises(anyio.ClosedResourceError):
                client.write_nowait(b"after the end")
            await server.send(b"still open")
            assert await receive_exactly(client, 10) == b"still open"


async def test_receiver_takes_the_socket_from_the_watcher() -> None:
    # On trio, one task at a time may wait for a socket to be readable: a
    # receive() that must wait takes the socket from wait_unclaimed(), which
    # waits until no receive() does, then watches the socket again.
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            results: list[bool] = []

            async def watch() -> None:
                results.append(await client.wait_unclaimed())

            async def receive(*, task_status: anyio.abc.TaskStatus[None]) -> None:
                task_status.started()
                received.append(await client.receive())
                done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                await wait_all_tasks_blocked()  # the watcher waits for the socket
                for message in [b"first", b"second", b"third"]:
                    received: list[bytes] = []
                    done = anyio.Event()
                    await tg.start(receive)
                    await wait_all_tasks_blocked()  # the receiver waits, instead
                    await server.send(message)
                    await done.wait()
                    assert received == [message]
                    await wait_all_tasks_blocked()
                    assert results == []  # claimed: the watcher goes on waiting
                # With no receiver, the watcher sees what arrives.
                await server.send(b"unclaimed")
            assert results == [True]
            assert await receive_exactly(client, 9) == b"unclaimed"


async def test_cancelled_receiver_hands_the_socket_back() -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            results: list[bool] = []
            receiving = anyio.CancelScope()

            async def watch() -> None:
                results.append(await client.wait_unclaimed())

            async def receive() -> None:
                with receiving:
                    await client.receive()

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                tg.start_soon(receive)
                await wait_all_tasks_blocked()
                receiving.cancel()
                await wait_all_tasks_blocked()
                assert results == []
                await server.send(b"nobody receives")
            assert receiving.cancelled_caught
            assert results == [True]
            assert await receive_exactly(client, 15) == b"nobody receives"


async def test_cancelled_watcher_leaves_no_trace() -> None:
    # A watcher cancelled while it waits for a receiver to finish, then the
    # receiver finishes: nothing breaks, and the next watcher works.
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            received: list[bytes] = []

            async def receive() -> None:
                received.append(await client.receive())

            async with anyio.create_task_group() as tg:
                tg.start_soon(receive)
                await wait_all_tasks_blocked()
                with anyio.move_on_after(0.01) as scope:
                    await client.wait_unclaimed()
                assert scope.cancelled_caught
                await server.send(b"taken")
            assert received == [b"taken"]
            # Cancelled while watching the socket, too.
            with anyio.move_on_after(0.01) as scope:
                await client.wait_unclaimed()
            assert scope.cancelled_caught
            await server.send(b"seen")
            assert await client.wait_unclaimed() is True
            assert await receive_exactly(client, 4) == b"seen"


async def test_close_ends_every_wait() -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, _):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            results: list[bool] = []
            errors: list[BaseException] = []

            async def watch() -> None:
                results.append(await client.wait_unclaimed())

            async def receive() -> None:
                try:
                    await client.receive()
                except Exception as exc:
                    errors.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                tg.start_soon(receive)
                await wait_all_tasks_blocked()
                await client.aclose()
            assert results == [True]
            assert [type(exc) for exc in errors] == [anyio.ClosedResourceError]
            assert await client.wait_unclaimed() is True


async def test_broken_connection_is_unclaimed() -> None:
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _AsyncioSocketStream | _TrioSocketStream)
            linger_zero(server)
            await server.aclose()
            assert await client.wait_unclaimed() is True
            with pytest.raises(anyio.BrokenResourceError):
                await client.receive()
            assert await client.wait_unclaimed() is True
            # A write is refused too; the driver learns why from wait_drained().
            assert client.write_nowait(b"x") is True
            with pytest.raises(anyio.BrokenResourceError) as info:
                await client.wait_drained()
            assert isinstance(info.value.__cause__, ConnectionResetError)


async def test_concurrent_send_is_busy(kind: str) -> None:
    chunk = bytes(65536)

    async def sender(stream: SocketStream) -> None:
        while True:
            await stream.send(chunk)

    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            small_buffers(client, server)
            async with anyio.create_task_group() as tg:
                tg.start_soon(sender, client)
                await wait_all_tasks_blocked()
                with pytest.raises(anyio.BusyResourceError):
                    await client.send(b"x")
                tg.cancel_scope.cancel()


# trio only.


@TRIO_ONLY
async def test_trio_stream_keeps_a_copy_of_what_may_change(anyio_backend: str) -> None:
    # What the kernel does not take at once is kept: a copy, when the caller
    # may change the buffer afterwards.
    with anyio.fail_after(TIMEOUT):
        async with connected("ours") as (client, server):
            assert isinstance(client, _TrioSocketStream)
            small_buffers(client, server)
            filler = bytes(65536)
            count = 1
            while not client.write_nowait(filler):
                count += 1
            buffer = bytearray(b"original" * 1000)
            assert client.write_nowait(memoryview(buffer)) is True
            buffer[:] = b"changed!" * 1000
            expected = filler * count + b"original" * 1000
            async with anyio.create_task_group() as tg:
                tg.start_soon(client.wait_drained)
                assert await receive_exactly(server, len(expected)) == expected


@TRIO_ONLY
async def test_trio_receiving_ready_bytes_lets_other_tasks_run(
    anyio_backend: str, kind: str
) -> None:
    # A receive that finds data ready does not yield each time, but often
    # enough that a task reading a flood starves no one.
    turns: list[int] = []

    async def other_task() -> None:
        while True:
            turns.append(len(turns))
            await anyio.lowlevel.checkpoint()

    with anyio.fail_after(TIMEOUT):
        async with connected(kind) as (client, server):
            await server.send(b"x" * 100)
            await wait_all_tasks_blocked()
            async with anyio.create_task_group() as tg:
                tg.start_soon(other_task)
                await anyio.lowlevel.checkpoint()
                before = len(turns)
                for _ in range(100):
                    assert await client.receive(1) == b"x"
                await anyio.lowlevel.checkpoint()  # see test_receiving_ready_messages...
                assert len(turns) - before >= 100 // 16
                tg.cancel_scope.cancel()


# On each event loop.


@BOTH_LOOPS
async def test_backends_stream_per_event_loop(anyio_backend: str, tmp_path: Path) -> None:
    with anyio.fail_after(TIMEOUT):
        [listener] = await create_tcp_listeners("127.0.0.1", 0, backlog=16, reuse_port=False)
        async with listener:
            port = listener.extra(SocketAttribute.local_port)
            async with await connect_tcp("127.0.0.1", port) as client:
                assert type(client) is OUR_STREAMS[anyio_backend]
                assert type(listener) is OUR_LISTENERS[anyio_backend]
                assert fast_stream(client) is client
                async with await listener.accept() as server:
                    assert type(server) is OUR_STREAMS[anyio_backend]
                    await client.send(b"ping")
                    assert await receive_exactly(server, 4) == b"ping"
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        async with await listener_from_socket(sock, backlog=16) as listener:
            assert type(listener) is OUR_LISTENERS[anyio_backend]
            assert listener.extra(SocketAttribute.local_address) == sock.getsockname()
        assert sock.fileno() == -1
        path = str(tmp_path / "s.sock")
        async with (
            await create_unix_listener(path, backlog=4) as unix_listener,
            await connect_unix(path) as client,
            await unix_listener.accept() as server,
        ):
            assert type(client) is type(server) is OUR_STREAMS[anyio_backend]


@BOTH_LOOPS
async def test_connection_refused_as_anyio(anyio_backend: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(OSError) as ours:
            await connect_tcp("127.0.0.1", port)
        with pytest.raises(OSError) as theirs:
            await anyio.connect_tcp("127.0.0.1", port)
        assert str(ours.value) == str(theirs.value)
        assert type(ours.value.__cause__) is type(theirs.value.__cause__) is ConnectionRefusedError
        # localhost: one attempt per address, each refused.
        with pytest.raises(OSError) as ours:
            await connect_tcp("localhost", port)
        with pytest.raises(OSError) as theirs:
            await anyio.connect_tcp("localhost", port)
        assert str(ours.value) == str(theirs.value)
        assert type(ours.value.__cause__) is type(theirs.value.__cause__)
        with pytest.raises(FileNotFoundError):
            await connect_unix("/nonexistent/anywebsockets.sock")


@BOTH_LOOPS
async def test_localhost_tries_every_address(anyio_backend: str) -> None:
    # The listener is on 127.0.0.1 only: if localhost resolves to ::1 too,
    # that attempt is refused and the IPv4 one wins.
    with anyio.fail_after(TIMEOUT):
        [listener] = await create_tcp_listeners("127.0.0.1", 0, backlog=16, reuse_port=False)
        async with listener:
            port = listener.extra(SocketAttribute.local_port)
            async with await connect_tcp("localhost", port) as client:
                assert client.extra(SocketAttribute.remote_address) == ("127.0.0.1", port)


@BOTH_LOOPS
async def test_receiving_ready_messages_lets_other_tasks_run(anyio_backend: str) -> None:
    # recv() finds each message ready: on asyncio it does not yield each
    # time, but often enough that a task receiving a flood starves no one.
    turns: list[int] = []

    async def other_task() -> None:
        while True:
            turns.append(len(turns))
            await anyio.lowlevel.checkpoint()

    async def sender(ws: ServerConnection) -> None:
        for i in range(100):
            await ws.send(str(i))
        await ws.wait_closed()

    with anyio.fail_after(TIMEOUT):
        async with running_server(sender) as (_, uri), connect(uri, max_queue=None) as ws:
            await ws.recv()
            while len(ws._frames) < 99:  # noqa: ASYNC110  # until all are queued
                await anyio.sleep(0.01)
            async with anyio.create_task_group() as tg:
                tg.start_soon(other_task)
                await anyio.lowlevel.checkpoint()
                before = len(turns)
                for i in range(1, 100):
                    assert await ws.recv() == str(i)
                # trio runs the tasks of a scheduling round in a random order:
                # one more round, for the other task's turn in the last one.
                await anyio.lowlevel.checkpoint()
                assert len(turns) - before >= 99 // 16
                tg.cancel_scope.cancel()
