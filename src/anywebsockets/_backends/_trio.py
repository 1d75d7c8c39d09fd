"""trio implementations of the services in :mod:`anywebsockets._backends`.

Besides the cleanup scheduler, this module holds the byte stream that the
client and the server use on trio instead of anyio's: a socket stream that
tries each ``send()`` and ``recv()`` on the non-blocking socket first, and
asks trio to watch the socket only when the kernel has nothing to give or
no room to take. A call that need not wait is then no task switch, where
anyio's stream yields to the scheduler on every call.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import trio
from anyio.abc import SocketAttribute, SocketListener, SocketStream
from trio.lowlevel import (
    Abort,
    Task,
    cancel_shielded_checkpoint,
    checkpoint,
    checkpoint_if_cancelled,
    current_task,
    notify_closing,
    reschedule,
    wait_readable,
    wait_task_rescheduled,
    wait_writable,
)

from . import FastStream

__all__ = [
    "cleanup_scheduler",
    "connect_tcp",
    "connect_unix",
    "wrap_listener",
    "wrap_listeners",
]

# Calls in a row that need not wait, after which a receive or a send yields
# to the scheduler anyway, so that a task that only receives (from a peer
# that sends faster than it reads) or only sends cannot starve the others.
RECEIVES_BETWEEN_YIELDS = 16
SENDS_BETWEEN_YIELDS = 16


def cleanup_scheduler() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run cleanups as trio system tasks of the current run.

    A cleanup runs shielded from cancellation, so that it also finishes when
    the main task has just returned (trio then cancels system tasks, and
    waits for them); it must bound its own duration. Its errors are dropped:
    in a system task, any error would crash the whole run.
    """
    token = trio.lowlevel.current_trio_token()

    def schedule(cleanup: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await cleanup()

        def spawn() -> None:
            # Once the main task has returned, the run takes no new tasks.
            with contextlib.suppress(RuntimeError):
                trio.lowlevel.spawn_system_task(run, name="anywebsockets cleanup")

        if _current_token() is token:
            # In the run's own thread (garbage collection in a task): spawn
            # now, while the main task may still be running.
            spawn()
        else:
            # When the run is over, there is nothing left to clean.
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(spawn)

    return schedule


def _current_token() -> trio.lowlevel.TrioToken | None:
    """Return the token of the trio run of this thread, if one is running here."""
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None


class _TrioSocketStream(FastStream):
    """A socket stream over a non-blocking socket, for the client and the server on trio.

    It behaves as anyio's own trio socket stream does (the same errors, the
    same typed attributes), with less work per call: :meth:`receive` and
    :meth:`send` call the socket at once and wait for trio to report it
    ready only when the kernel answers that it would block.

    Writing never leaves a message half handed over: what the kernel did
    not take waits in the stream's buffer, and goes out, in order, before
    anything written later (:meth:`wait_drained`, or the next :meth:`send`).

    Errors stick, as with an asyncio transport: once the kernel reported
    the connection broken, on a receive or a send, every later receive and
    send raises :exc:`anyio.BrokenResourceError` from that error.

    Cancellation:
        :meth:`receive` and :meth:`send` check for cancellation first, as
        anyio's streams do, but yield to the scheduler only when they must
        wait, and once every :data:`RECEIVES_BETWEEN_YIELDS` (or
        :data:`SENDS_BETWEEN_YIELDS`) calls that did not, so that a busy task
        cannot keep the others from running. A receive that finds data ready
        therefore raises a pending cancellation but is no scheduling point.
        A cancelled :meth:`receive` loses nothing. A :meth:`send` cancelled
        while it waits for the kernel keeps what is left of its bytes in
        the stream: they go out before those of the next send, or are
        dropped by :meth:`aclose`.
    """

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self._sock = sock
        self._fd = sock.fileno()
        self._closed = False
        self._eof_sent = False
        # Receiving: whether a task is inside receive() at a scheduling
        # point (waiting for data, or yielding); calls since the last yield.
        self._receiving = False
        self._receives_since_yield = 0
        # The first error of the connection, in either direction: it sticks.
        self._error: OSError | None = None
        # Sending: bytes the kernel did not take yet, in order; whether a
        # task waits for it to take them; calls since the last yield.
        self._unsent: deque[memoryview] = deque()
        self._sending = False
        self._sends_since_yield = 0
        # The task in wait_unclaimed(), if any; its wait for the socket to be
        # readable (a scope that a receiver cancels to take the socket over),
        # or whether it is parked until no receiver waits any more.
        self._watcher: Task | None = None
        self._watch_scope: trio.CancelScope | None = None
        self._watcher_parked = False
        self._interrupted = False

    @property
    def _raw_socket(self) -> socket.socket:
        return self._sock

    # Receiving.

    async def receive_nocheck(self, max_bytes: int) -> bytes:
        """:meth:`receive`, for a caller that has just checked for cancellation itself.

        It still waits, cancellably, when the kernel holds no byte.
        """
        if self._receiving:
            raise anyio.BusyResourceError("reading from")
        if self._closed:
            raise anyio.ClosedResourceError
        if self._error is not None:
            raise anyio.BrokenResourceError from self._error
        self._receives_since_yield += 1
        if self._receives_since_yield >= RECEIVES_BETWEEN_YIELDS:
            return await self._receive_slowly(max_bytes, ready=True)
        try:
            data = self._sock.recv(max_bytes)
        except BlockingIOError:
            return await self._receive_slowly(max_bytes, ready=False)
        except OSError as exc:
            self._error = exc
            raise anyio.BrokenResourceError from exc
        if data:
            return data
        raise anyio.EndOfStream

    async def _receive_slowly(self, max_bytes: int, *, ready: bool) -> bytes:
        """Receive at a scheduling point: yield first, or wait until the socket is readable.

        Args:
            ready: the socket may hold data: yield once, then try it (the
                periodic yield); else wait for trio to report it readable.

        A watcher waiting in :meth:`wait_unclaimed` lets go of the socket
        for as long as this call waits, and looks again afterwards.
        """
        self._receiving = True
        self._receives_since_yield = 0
        try:
            if ready:
                await checkpoint()
            while True:
                if ready:
                    if self._closed:
                        raise anyio.ClosedResourceError
                    if self._error is not None:  # a send failed meanwhile
                        raise anyio.BrokenResourceError from self._error
                    try:
                        data = self._sock.recv(max_bytes)
                    except BlockingIOError:
                        pass
                    except OSError as exc:
                        self._error = exc
                        raise anyio.BrokenResourceError from exc
                    else:
                        break
                scope = self._watch_scope
                if scope is not None:
                    # trio lets one task at a time wait for a socket to be
                    # readable: take over. Cancelling the watcher's scope
                    # ends its wait at once; it parks until this call ends.
                    scope.cancel()
                try:
                    await wait_readable(self._fd)
                except trio.ClosedResourceError:
                    raise anyio.ClosedResourceError from None
                ready = True
        finally:
            self._receiving = False
            self._wake_watcher()
        if data:
            return data
        raise anyio.EndOfStream

    # Sending.

    def write_nowait(self, data: bytes | memoryview, *, may_yield: bool = True) -> bool:
        """Hand ``data`` over at once, all of it: to the kernel, and to the stream's buffer.

        For callers that write whole frames and hold their own lock: the
        bytes are the stream's now, and go out before any written later.

        Returns:
            Whether the caller must now await :meth:`wait_drained`: the
            kernel did not take everything, the write failed, or it is time
            to yield to the scheduler (every :data:`SENDS_BETWEEN_YIELDS`
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
        if self._error is not None:
            return True  # wait_drained() tells why
        if self._unsent:  # behind bytes that wait
            self._keep(data, 0)
            return True
        try:
            sent = self._sock.send(data)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._error = exc
            return True
        if sent < (len(data) if type(data) is bytes else memoryview(data).nbytes):
            self._keep(data, sent)
            return True
        if not may_yield:
            return False
        self._sends_since_yield += 1
        return self._sends_since_yield >= SENDS_BETWEEN_YIELDS

    def _keep(self, data: bytes | memoryview, start: int) -> None:
        """Buffer ``data`` from ``start`` on, copying what the caller might change."""
        view = memoryview(data)
        if view.format != "B" or view.ndim != 1:
            view = view.cast("B")
        if not (view.readonly and isinstance(view.obj, bytes)):
            view = memoryview(view[start:].tobytes())
        elif start:
            view = view[start:]
        if view.nbytes:
            self._unsent.append(view)

    async def wait_drained(self) -> None:
        """Wait until the kernel took every byte handed over.

        Yields to the scheduler even when there is nothing to wait for.

        Raises:
            anyio.BrokenResourceError: the connection failed; ``__cause__``
                is the ``OSError``.
            anyio.ClosedResourceError: the stream was closed.
            anyio.BusyResourceError: another task is sending.
        Cancellation:
            The bytes the kernel did not take stay in the stream's buffer,
            ahead of the next write.
        """
        if self._sending:
            raise anyio.BusyResourceError("writing to")
        self._sends_since_yield = 0
        if self._unsent and self._error is None:
            await self._drain()
        else:
            await cancel_shielded_checkpoint()
        self._raise_if_broken()

    async def _drain(self) -> None:
        """Write the buffer out, waiting for the kernel to take more each time."""
        self._sending = True
        try:
            while self._unsent and not self._closed and self._error is None:
                try:
                    await wait_writable(self._fd)
                except trio.ClosedResourceError:
                    raise anyio.ClosedResourceError from None
                self._write_buffered()
        finally:
            self._sending = False

    def _write_buffered(self) -> None:
        """Hand the kernel as much of the buffer as it takes now."""
        unsent = self._unsent
        while unsent:
            view = unsent[0]
            try:
                sent = self._sock.send(view)
            except BlockingIOError:
                return
            except OSError as exc:
                self._error = exc
                unsent.clear()
                return
            if sent < len(view):
                unsent[0] = view[sent:]
                return
            unsent.popleft()

    def _raise_if_broken(self) -> None:
        if self._closed:
            raise anyio.ClosedResourceError
        if self._error is not None:
            raise anyio.BrokenResourceError from self._error

    async def send_eof(self) -> None:
        """Close the sending side (half-close) once the buffer is written.

        The stream can still receive.

        Raises:
            anyio.BusyResourceError: another task is sending.
        Cancellation:
            A checkpoint only when bytes wait in the buffer; if it is
            cancelled, the end of the stream is not sent.
        """
        if self._closed or self._eof_sent:
            return
        if self._sending:
            raise anyio.BusyResourceError("writing to")
        self._eof_sent = True
        if self._unsent and self._error is None:
            await self._drain()
        if self._closed or self._unsent:
            return
        with contextlib.suppress(OSError):  # the connection is gone: nothing to half-close
            self._sock.shutdown(socket.SHUT_WR)

    def send_eof_nowait(self) -> bool:
        """:meth:`send_eof` when nothing waits to be written; else False, doing nothing."""
        if self._closed or self._eof_sent:
            return True
        if self._sending or (self._unsent and self._error is None):
            return False
        self._eof_sent = True
        if self._unsent:  # the stream failed: as send_eof(), nothing more goes out
            return True
        with contextlib.suppress(OSError):  # the connection is gone: nothing to half-close
            self._sock.shutdown(socket.SHUT_WR)
        return True

    # Closing.

    def close_nowait(self) -> None:
        """Close the socket at once, as :meth:`aclose` does, without its checkpoint."""
        if not self._closed:
            self._closed = True
            self._unsent.clear()
            notify_closing(self._fd)  # wakes the tasks waiting for the socket
            self._sock.close()
            self._wake_watcher()

    # For the driver: its task that watches the connection.

    checkpoint_if_cancelled = staticmethod(checkpoint_if_cancelled)
    """:func:`anyio.lowlevel.checkpoint_if_cancelled`, without looking the backend up."""

    async def wait_unclaimed(self) -> bool:
        """Wait until something arrived that no :meth:`receive` call waits for.

        That is: bytes, the end of the stream or an error, while no task is
        blocked in :meth:`receive`. For a task that reads only when no
        other task does. While a receive waits, this call lets go of the
        socket (trio lets only one task wait for it to be readable) and
        waits until that receive is over.

        Returns:
            False when :meth:`interrupt_unclaimed` ended the wait; True
            otherwise (the stream may also be closed).
        Raises:
            anyio.BusyResourceError: another task is waiting here already.
        """
        if self._watcher is not None:
            raise anyio.BusyResourceError("waiting on")
        self._watcher = current_task()
        parked = False
        try:
            while True:
                if self._interrupted:
                    self._interrupted = False
                    return False
                if self._closed or self._error is not None:
                    return True
                if self._receiving:
                    self._watcher_parked = parked = True
                    await wait_task_rescheduled(self._unpark)
                    continue
                if parked:
                    # The receiver is gone, but a task that receives usually
                    # comes back at once (it yielded while writing, say): let
                    # it, rather than watch the socket only to give it back.
                    parked = False
                    await cancel_shielded_checkpoint()
                    continue
                with trio.CancelScope() as scope:
                    self._watch_scope = scope
                    try:
                        await wait_readable(self._fd)
                    except trio.ClosedResourceError:
                        return True
                    finally:
                        self._watch_scope = None
                if not (scope.cancelled_caught or self._receiving):
                    return True
        finally:
            self._watcher = None

    def interrupt_unclaimed(self) -> None:
        """Make the pending (or next) :meth:`wait_unclaimed` call return at once."""
        self._interrupted = True
        if self._watch_scope is not None:
            self._watch_scope.cancel()
        else:
            self._wake_watcher()

    def _unpark(self, _: Any) -> Abort:
        """Let the parked watcher be cancelled (trio's abort function)."""
        self._watcher_parked = False
        return Abort.SUCCEEDED

    def _wake_watcher(self) -> None:
        """Make a watcher parked in :meth:`wait_unclaimed` look again."""
        if self._watcher_parked:
            self._watcher_parked = False
            assert self._watcher is not None
            reschedule(self._watcher)


def _take_over(stream: Any) -> _TrioSocketStream:
    """Turn a socket stream of anyio's into ours, over the same socket."""
    return _TrioSocketStream(stream.extra(SocketAttribute.raw_socket))


async def connect_tcp(host: str, port: int) -> SocketStream:
    """Open a TCP connection as anyio does, with this module's stream.

    An IP address is connected to directly; a host name goes through
    :func:`anyio.connect_tcp`, which tries every address (RFC 8305).

    Raises:
        OSError: ``"All connection attempts failed"``, caused by the one
            attempt's error, or by an ``ExceptionGroup`` of every attempt's;
            ``socket.gaierror`` when the name did not resolve.
    """
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return _take_over(await anyio.connect_tcp(host, port))
    family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
    try:
        sock = await _connect_socket(family, (literal.compressed, port))
    except OSError as exc:
        raise OSError("All connection attempts failed") from exc
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return _TrioSocketStream(sock)


async def _connect_socket(family: int, address: tuple[str, int]) -> socket.socket:
    """Connect a new non-blocking TCP socket of ``family`` to ``address``.

    Raises:
        OSError: the connection failed; the socket is closed.
    Cancellation:
        Always a checkpoint; a cancelled attempt closes its socket.
    """
    await checkpoint_if_cancelled()
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        try:
            sock.connect(address)
        except BlockingIOError:  # in progress
            await wait_writable(sock)
            error = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                message = f"Error connecting to {address!r}: {os.strerror(error)}"
                raise OSError(error, message) from None
        else:
            await cancel_shielded_checkpoint()
    except BaseException:
        sock.close()
        raise
    return sock


async def connect_unix(path: str) -> SocketStream:
    """Open a Unix socket connection with this module's stream.

    Raises:
        OSError: the connection failed.
    """
    return _take_over(await anyio.connect_unix(path))


class _TrioSocketListener(SocketListener):
    """Accept connections on a listening socket; each comes as a :class:`_TrioSocketStream`.

    Accepting is tried on the socket first; trio watches it only while
    nothing waits. The listener owns the socket: :meth:`aclose` closes it.
    """

    def __init__(self, raw_socket: socket.socket) -> None:
        raw_socket.setblocking(False)
        self.__raw_socket = raw_socket
        self._fd = raw_socket.fileno()
        self._tcp = raw_socket.family in (socket.AF_INET, socket.AF_INET6)
        self._closed = False
        self._accepting = False

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
        try:
            await checkpoint_if_cancelled()
            while True:
                if self._closed:
                    raise anyio.ClosedResourceError
                try:
                    client, _ = sock.accept()
                except BlockingIOError:
                    try:
                        await wait_readable(self._fd)
                    except trio.ClosedResourceError:
                        raise anyio.ClosedResourceError from None
                else:
                    break
            # The connection is taken: deliver it, whatever cancellation came.
            await cancel_shielded_checkpoint()
        finally:
            self._accepting = False
        try:
            if self._tcp:
                client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _TrioSocketStream(client)
        except BaseException:
            client.close()
            raise

    async def aclose(self) -> None:
        """Stop listening and close the socket; a waiting :meth:`accept` raises."""
        if not self._closed:
            self._closed = True
            notify_closing(self._fd)
            self.__raw_socket.close()
        await checkpoint()


def wrap_listener(sock: socket.socket) -> SocketListener:
    """Listen on ``sock``, an already listening socket, with this module's streams."""
    return _TrioSocketListener(sock)


def wrap_listeners(listeners: list[Any]) -> list[SocketListener]:
    """Take over the sockets of anyio listeners that never accepted anything."""
    return [wrap_listener(listener.extra(SocketAttribute.raw_socket)) for listener in listeners]
