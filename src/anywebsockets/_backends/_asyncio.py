"""asyncio implementations of the services in :mod:`anywebsockets._backends`.

Besides the cleanup scheduler, this module holds the byte stream that the
client and the server use on asyncio instead of anyio's: an
:class:`asyncio.Protocol` that keeps reading while its buffer has room, so
that a :meth:`~_AsyncioSocketStream.receive` finds data waiting without
asking the event loop to watch the socket again, and a
:meth:`~_AsyncioSocketStream.send` that hands bytes to the transport and
waits only when the transport's buffer is full.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any, cast

import anyio
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from anyio.lowlevel import cancel_shielded_checkpoint, checkpoint, checkpoint_if_cancelled

from . import FastStream

__all__ = [
    "cleanup_scheduler",
    "connect_tcp",
    "connect_unix",
    "wrap_listener",
    "wrap_listeners",
]

# Reading pauses when this many bytes wait in the protocol's buffer, and
# resumes once the consumer brings them down to the low mark.
READ_HIGH = 512 * 1024
READ_LOW = 128 * 1024
# A send() waits for the transport to drain when more than this many bytes
# wait in it. 0, as in anyio: when send() returns, every byte is in the
# kernel, so that closing the stream never drops data that a send() reported
# as sent.
WRITE_HIGH = 0
# Sends in a row that need not wait, after which one yields to the event loop
# anyway, so that a task that only sends cannot starve the others.
SENDS_BETWEEN_YIELDS = 16
# Seconds before starting the next connection attempt (RFC 8305), as anyio.
HAPPY_EYEBALLS_DELAY = 0.25


def _find_cancel_check() -> Callable[[], Awaitable[None]]:
    """Return a cancellation check for tasks of anyio on asyncio.

    :func:`anyio.lowlevel.checkpoint_if_cancelled` looks the running backend
    up at each call, then walks the task's cancel scopes through properties:
    together, more than the rest of a ``send()`` that need not wait. The
    streams here know they run on asyncio, and walk the scopes themselves;
    when a scope is cancelled, anyio's own check delivers the cancellation.
    Falls back to the public function if anyio's or asyncio's layout changes.
    """
    try:
        from asyncio import tasks

        from anyio._backends._asyncio import CancelScope, _task_states, backend_class

        current_tasks = tasks._current_tasks  # type: ignore[attr-defined]
        anyio_check: Callable[[], Awaitable[None]] = backend_class.checkpoint_if_cancelled
        if not {"_cancel_called", "_shield", "_parent_scope"} <= set(
            CancelScope.__init__.__code__.co_names
        ):  # pragma: no cover
            raise AttributeError("anyio's cancel scopes changed")
    except (ImportError, AttributeError):  # pragma: no cover
        return checkpoint_if_cancelled

    get_running_loop = asyncio.get_running_loop
    task_state = _task_states.get

    async def check() -> None:
        task = current_tasks.get(get_running_loop())
        state = None if task is None else task_state(task)
        if state is None:  # a task that anyio did not start: no scopes
            return
        scope = state.cancel_scope
        while scope is not None:
            if scope._cancel_called:
                await anyio_check()
                return
            if scope._shield:
                return
            scope = scope._parent_scope

    return check


_checkpoint_if_cancelled = _find_cancel_check()


def cleanup_scheduler() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run cleanups as tasks of the running loop, kept alive until they end.

    A cleanup scheduled just before ``asyncio.run()`` returns still runs:
    when the loop cancels its remaining tasks on the way out, the cleanup
    gets one more try instead of being dropped (it must bound its own
    duration). Its errors are dropped: nobody is there to handle them.
    """
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def schedule(cleanup: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            for _ in range(2):
                try:
                    await cleanup()
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    assert task is not None
                    task.uncancel()
                    continue
                except Exception:
                    pass
                return

        def spawn() -> None:
            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if loop.is_closed():
            return
        if asyncio._get_running_loop() is loop:
            # From a task of this loop (garbage collection in a task): spawn
            # now, before the main task may return and the loop winds down.
            spawn()
        else:
            loop.call_soon_threadsafe(spawn)

    return schedule


def _wake(waiter: asyncio.Future[None] | None) -> None:
    """Resolve ``waiter`` unless it is gone or done (a cancelled waiter is done)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


# The chunk queue of a buffer that is empty: an empty deque costs 760 bytes,
# so idle connections share this one, which stays empty.
_NO_CHUNKS: deque[bytes] = deque(maxlen=0)


class _StreamProtocol(asyncio.Protocol):
    """Buffer what the transport reads; tell the stream when it may write.

    Reading stays on until :data:`READ_HIGH` bytes wait, so that most
    receives find data ready; the stream turns it back on at :data:`READ_LOW`.
    """

    __slots__ = (
        "chunks",
        "eof",
        "exception",
        "lost",
        "lost_waiter",
        "offset",
        "read_waiter",
        "reading_paused",
        "size",
        "transport",
        "unclaimed_waiter",
        "write_paused",
        "write_waiter",
    )

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        # Received bytes: chunks in order, the first one used up to offset;
        # size counts the bytes not taken yet.
        self.chunks: deque[bytes] = _NO_CHUNKS
        self.offset = 0
        self.size = 0
        self.reading_paused = False
        self.eof = False
        self.lost = False
        self.exception: BaseException | None = None
        self.write_paused = False
        self.read_waiter: asyncio.Future[None] | None = None
        self.write_waiter: asyncio.Future[None] | None = None
        self.lost_waiter: asyncio.Future[None] | None = None
        # Wakes a task that reads only what no receive() waits for.
        self.unclaimed_waiter: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # A stream transport, whose class need not derive from Transport (uvloop's).
        self.transport = transport = cast(asyncio.Transport, transport)
        transport.set_write_buffer_limits(WRITE_HIGH)

    def data_received(self, data: bytes) -> None:
        if type(data) is not bytes:  # some loops hand over a bytearray
            data = bytes(data)
        if self.chunks is _NO_CHUNKS:
            self.chunks = deque()
        self.chunks.append(data)
        self.size += len(data)
        if self.size >= READ_HIGH and not self.reading_paused:
            assert self.transport is not None
            self.reading_paused = True
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        return True  # keep the transport open: the stream may still send

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.exception = exc
        self._wake_reader()
        _wake(self.write_waiter)
        _wake(self.lost_waiter)

    def _wake_reader(self) -> None:
        """Wake the task blocked in receive(), else the one waiting for unclaimed data."""
        if self.read_waiter is not None:
            # Woken already, or cancelled: then receive() passes the news on.
            _wake(self.read_waiter)
        else:
            _wake(self.unclaimed_waiter)

    def pause_writing(self) -> None:
        self.write_paused = True

    def resume_writing(self) -> None:
        self.write_paused = False
        _wake(self.write_waiter)

    def take(self, max_bytes: int) -> bytes:
        """Return up to ``max_bytes`` buffered bytes; some must be buffered."""
        chunks = self.chunks
        first = chunks[0]
        start = self.offset
        available = len(first) - start
        if available > max_bytes:
            self.offset = start + max_bytes
            data = first[start : start + max_bytes]
        else:
            chunks.popleft()
            self.offset = 0
            data = first[start:] if start else first
            if chunks and available + len(chunks[0]) <= max_bytes:
                # Several reads waiting: hand them over in one piece.
                parts = [data]
                while chunks and available + len(chunks[0]) <= max_bytes:
                    chunk = chunks.popleft()
                    parts.append(chunk)
                    available += len(chunk)
                data = b"".join(parts)
        if not chunks:
            self.chunks = _NO_CHUNKS
        self.size -= len(data)
        if self.reading_paused and self.size <= READ_LOW and not self.lost:
            assert self.transport is not None
            self.reading_paused = False
            self.transport.resume_reading()
        return data


class _AsyncioSocketStream(FastStream):
    """A socket stream over an asyncio transport, for the client and the server.

    It behaves as anyio's own asyncio socket stream does (the same errors,
    the same typed attributes, ``aclose()`` dropping the connection at once),
    with less work per call: the transport reads ahead into a buffer, up to
    :data:`READ_HIGH` bytes, and :meth:`send` writes to the transport and
    waits only when the kernel takes no more.

    Cancellation:
        :meth:`receive` and :meth:`send` check for cancellation first, as
        anyio's streams do, but yield to the event loop only when they must
        wait: for data, or for the kernel to take buffered bytes. A receive
        that finds data ready therefore raises a pending cancellation but is
        no scheduling point; a :meth:`send` that need not wait yields once
        every :data:`SENDS_BETWEEN_YIELDS` calls, so that a task that only
        sends cannot keep the others from running. A cancelled
        :meth:`receive` loses nothing: the data stays buffered for the next
        call. A :meth:`send` cancelled while it waits for the transport to
        drain has handed its bytes over already; they are still sent.
        :meth:`aclose` closes the transport before it yields.
    """

    def __init__(self, transport: asyncio.Transport, protocol: _StreamProtocol) -> None:
        self._transport = transport
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._eof_sent = False
        self._receiving = False
        self._sending = False
        self._sends_since_yield = 0
        self._interrupted = False

    @property
    def _raw_socket(self) -> socket.socket:
        sock: socket.socket = self._transport.get_extra_info("socket")
        return sock

    async def receive_nocheck(self, max_bytes: int) -> bytes:
        """:meth:`receive`, for a caller that has just checked for cancellation itself.

        It still waits, cancellably, when no byte is buffered.
        """
        if self._receiving:
            raise anyio.BusyResourceError("reading from")
        protocol = self._protocol
        if protocol.size and not self._closed:
            data = protocol.take(max_bytes)
            if protocol.size:
                _wake(protocol.unclaimed_waiter)
            return data
        self._receiving = True
        try:
            while not (protocol.size or protocol.eof or protocol.lost or self._closed):
                protocol.read_waiter = waiter = self._loop.create_future()
                try:
                    await waiter
                finally:
                    protocol.read_waiter = None
            if self._closed:
                raise anyio.ClosedResourceError
            if protocol.size:
                return protocol.take(max_bytes)
            if protocol.exception is not None:
                raise anyio.BrokenResourceError from protocol.exception
            raise anyio.EndOfStream
        finally:
            self._receiving = False
            if protocol.unclaimed_waiter is not None and self._unclaimed():
                # Bytes left, or this call was cancelled: they are unclaimed.
                _wake(protocol.unclaimed_waiter)

    def write_nowait(self, data: bytes | memoryview, *, may_yield: bool = True) -> bool:
        """Hand ``data`` to the transport at once, all of it.

        For callers that write whole frames and hold their own lock: the
        bytes are the transport's now, whatever happens next.

        Returns:
            Whether the caller must now await :meth:`wait_drained`: the
            kernel did not take everything, the write failed, or it is time
            to yield to the event loop (every :data:`SENDS_BETWEEN_YIELDS`
            calls, unless ``may_yield`` is False: for a caller that does not
            wait, such as :func:`~anywebsockets.broadcast`).
        Raises:
            anyio.ClosedResourceError: the stream was closed, or
                :meth:`send_eof` was called.
            anyio.BusyResourceError: a :meth:`wait_drained` is in progress.
        """
        if self._sending:
            raise anyio.BusyResourceError("writing to")
        if self._closed or self._eof_sent:
            raise anyio.ClosedResourceError
        transport = self._transport
        if transport.is_closing():
            return True  # wait_drained() tells why
        transport.write(data)
        if self._protocol.write_paused or transport.is_closing():
            return True
        if not may_yield:
            return False
        self._sends_since_yield += 1
        return self._sends_since_yield >= SENDS_BETWEEN_YIELDS

    async def wait_drained(self) -> None:
        """Wait until the transport has handed every byte to the kernel.

        Yields to the event loop even when there is nothing to wait for.

        Raises:
            anyio.BrokenResourceError: the connection failed; ``__cause__``
                is the ``OSError`` when there is one.
            anyio.ClosedResourceError: the stream was closed.
            anyio.BusyResourceError: another task is sending.
        Cancellation:
            Leaves the bytes with the transport, which still sends them.
        """
        if self._sending:
            raise anyio.BusyResourceError("writing to")
        self._sends_since_yield = 0
        protocol = self._protocol
        if protocol.write_paused:
            self._sending = True
            try:
                while protocol.write_paused and not (protocol.lost or self._closed):
                    protocol.write_waiter = waiter = self._loop.create_future()
                    try:
                        await waiter
                    finally:
                        protocol.write_waiter = None
            finally:
                self._sending = False
        else:
            await cancel_shielded_checkpoint()
        if self._closed:
            raise anyio.ClosedResourceError
        if protocol.lost or self._transport.is_closing():
            await self._raise_broken()

    checkpoint_if_cancelled = staticmethod(_checkpoint_if_cancelled)
    """:func:`anyio.lowlevel.checkpoint_if_cancelled`, without looking the backend up."""

    async def wait_unclaimed(self) -> bool:
        """Wait until something was received that no :meth:`receive` call waits for.

        That is: buffered bytes, the end of the stream or an error, while no
        task is blocked in :meth:`receive`. For a task that reads only when
        no other task does. Returns at once when that is the case already.

        Returns:
            False when :meth:`interrupt_unclaimed` ended the wait; True
            otherwise (the stream may also be closed).
        Raises:
            anyio.BusyResourceError: another task is waiting here already.
        """
        protocol = self._protocol
        if protocol.unclaimed_waiter is not None:
            raise anyio.BusyResourceError("waiting on")
        while not (
            self._interrupted or self._closed or (self._unclaimed() and not self._receiving)
        ):
            protocol.unclaimed_waiter = waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                protocol.unclaimed_waiter = None
        if self._interrupted:
            self._interrupted = False
            return False
        return True

    def interrupt_unclaimed(self) -> None:
        """Make the pending (or next) :meth:`wait_unclaimed` call return at once."""
        self._interrupted = True
        _wake(self._protocol.unclaimed_waiter)

    def _unclaimed(self) -> bool:
        protocol = self._protocol
        return bool(protocol.size) or protocol.eof or protocol.lost

    async def _raise_broken(self) -> None:
        """Wait until the transport reports why it closed; raise that.

        A transport that failed a write closes itself and tells its protocol
        why on the next turn of the event loop.

        Raises:
            anyio.BrokenResourceError: always.
        """
        protocol = self._protocol
        if not protocol.lost:
            protocol.lost_waiter = waiter = self._loop.create_future()
            try:
                await waiter
            finally:
                protocol.lost_waiter = None
        if self._closed:
            raise anyio.ClosedResourceError
        raise anyio.BrokenResourceError from protocol.exception

    async def send_eof(self) -> None:
        """Close the sending side (half-close); the stream can still receive."""
        self.send_eof_nowait()

    def send_eof_nowait(self) -> bool:
        """:meth:`send_eof`, which never waits: the transport sends its buffer first.

        Returns:
            True.
        """
        if not (self._closed or self._eof_sent):
            self._eof_sent = True
            with contextlib.suppress(OSError):  # the connection is gone: nothing to half-close
                self._transport.write_eof()
        return True

    def close_nowait(self) -> None:
        """Close the connection at once, as :meth:`aclose` does, without its checkpoint."""
        if not self._closed:
            self._closed = True
            self._transport.abort()
            protocol = self._protocol
            _wake(protocol.read_waiter)
            _wake(protocol.write_waiter)
            _wake(protocol.lost_waiter)
            _wake(protocol.unclaimed_waiter)


async def _connect_address(
    loop: asyncio.AbstractEventLoop, family: int, address: str, port: int
) -> _AsyncioSocketStream:
    """Connect to one address.

    Raises:
        OSError: the connection failed.
    """
    transport, protocol = await loop.create_connection(
        _StreamProtocol, address, port, family=family
    )
    return _AsyncioSocketStream(transport, protocol)


async def _target_addresses(host: str, port: int) -> list[tuple[int, str]]:
    """The addresses to try for ``host``: IPv6 first, then IPv4, then the rest.

    Raises:
        OSError: the name did not resolve (``socket.gaierror``).
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
        return [(family, literal.compressed)]
    found = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    first_v6 = next((info for info in found if info[0] == socket.AF_INET6), None)
    first_v4 = next((info for info in found if info[0] == socket.AF_INET), None)
    ordered = [info for info in (first_v6, first_v4) if info is not None]
    ordered += [info for info in found if info not in ordered]
    addresses: list[tuple[int, str]] = []
    for family, *_, sockaddr in ordered:
        address = (int(family), str(sockaddr[0]))
        if address not in addresses:
            addresses.append(address)
    return addresses


async def connect_tcp(host: str, port: int) -> SocketStream:
    """Open a TCP connection as anyio does, with this module's stream.

    Several addresses are tried as in RFC 8305: the next attempt starts when
    the previous one failed or after :data:`HAPPY_EYEBALLS_DELAY` seconds, and
    the first connection wins.

    Raises:
        OSError: ``"All connection attempts failed"``, caused by the one
            attempt's error, or by an ``ExceptionGroup`` of every attempt's;
            ``socket.gaierror`` when the name did not resolve.
    """
    loop = asyncio.get_running_loop()
    targets = await _target_addresses(host, port)
    if len(targets) == 1:
        family, address = targets[0]
        try:
            return await _connect_address(loop, family, address, port)
        except OSError as exc:
            raise OSError("All connection attempts failed") from exc

    errors: list[OSError] = []
    winner: list[_AsyncioSocketStream] = []

    async def attempt(family: int, address: str, done: anyio.Event) -> None:
        try:
            stream = await _connect_address(loop, family, address, port)
        except OSError as exc:
            errors.append(exc)
        else:
            if winner:
                await anyio.aclose_forcefully(stream)
            else:
                winner.append(stream)
                tg.cancel_scope.cancel()
        finally:
            done.set()

    try:
        async with anyio.create_task_group() as tg:
            for family, address in targets:
                done = anyio.Event()
                tg.start_soon(attempt, family, address, done)
                with anyio.move_on_after(HAPPY_EYEBALLS_DELAY):
                    await done.wait()
    except BaseException:
        for stream in winner:
            await anyio.aclose_forcefully(stream)
        raise
    if winner:
        return winner[0]
    cause: BaseException = (
        errors[0] if len(errors) == 1 else ExceptionGroup("all connection attempts failed", errors)
    )
    raise OSError("All connection attempts failed") from cause


async def connect_unix(path: str) -> SocketStream:
    """Open a Unix socket connection with this module's stream.

    Raises:
        OSError: the connection failed.
    """
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_unix_connection(_StreamProtocol, path)
    return _AsyncioSocketStream(transport, protocol)


class _AsyncioSocketListener(SocketListener):
    """Accept connections on a listening socket; each comes as an :class:`_AsyncioSocketStream`.

    The socket is accepted on directly (the event loop watches it only while
    an :meth:`accept` waits), then handed to the event loop as a transport
    with our protocol. The listener owns the socket: :meth:`aclose` closes it.
    """

    def __init__(self, raw_socket: socket.socket) -> None:
        raw_socket.setblocking(False)
        self.__raw_socket = raw_socket
        self._loop = asyncio.get_running_loop()
        self._closed = False
        self._accepting = False
        self._waiter: asyncio.Future[None] | None = None

    @property
    def _raw_socket(self) -> socket.socket:
        return self.__raw_socket

    async def accept(self) -> SocketStream:
        """Wait for a connection and return it as a stream.

        Raises:
            anyio.ClosedResourceError: the listener was closed.
            anyio.BusyResourceError: another task is accepting.
            OSError: accepting failed (out of file descriptors, a
                connection reset before it was accepted).
        Cancellation:
            Always a checkpoint; a cancelled accept takes no connection.
        """
        if self._closed:
            raise anyio.ClosedResourceError
        if self._accepting:
            raise anyio.BusyResourceError("accepting connections from")
        self._accepting = True
        sock = self.__raw_socket
        loop = self._loop
        try:
            await checkpoint()
            while True:
                if self._closed:
                    raise anyio.ClosedResourceError
                try:
                    client, _ = sock.accept()
                except (BlockingIOError, InterruptedError):
                    self._waiter = waiter = loop.create_future()
                    # By descriptor: given the socket, the event loop formats
                    # its repr (two system calls) for an error it catches.
                    loop.add_reader(sock.fileno(), _wake, waiter)
                    try:
                        await waiter
                    finally:
                        self._waiter = None
                        if not self._closed:
                            loop.remove_reader(sock.fileno())
                else:
                    break
        finally:
            self._accepting = False
        try:
            client.setblocking(False)
            if client.family in (socket.AF_INET, socket.AF_INET6):
                # asyncio sets it only where the socket's proto is
                # IPPROTO_TCP, and an accepted socket's is 0.
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport, protocol = await loop.connect_accepted_socket(_StreamProtocol, client)
        except BaseException:
            client.close()
            raise
        return _AsyncioSocketStream(transport, protocol)

    async def aclose(self) -> None:
        """Stop listening and close the socket; a waiting :meth:`accept` raises."""
        if not self._closed:
            self._closed = True
            if self._waiter is not None:
                self._loop.remove_reader(self.__raw_socket.fileno())
                _wake(self._waiter)
            self.__raw_socket.close()
        await checkpoint()


def wrap_listener(sock: socket.socket) -> SocketListener:
    """Listen on ``sock``, an already listening socket, with this module's streams."""
    return _AsyncioSocketListener(sock)


def wrap_listeners(listeners: list[Any]) -> list[SocketListener]:
    """Take over the sockets of anyio listeners that never accepted anything."""
    return [wrap_listener(listener.extra(SocketAttribute.raw_socket)) for listener in listeners]
