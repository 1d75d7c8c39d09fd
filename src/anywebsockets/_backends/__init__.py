"""The only place that may import asyncio or trio: small backend-specific services.

Everything else in anywebsockets is written once, on anyio. What anyio does not
offer lives here, behind a backend-neutral function, with one implementation
per backend imported lazily.
"""

from __future__ import annotations

import socket
import sys
from abc import abstractmethod
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ByteStream, SocketListener, SocketStream
from anyio.lowlevel import checkpoint

__all__ = [
    "Cleanup",
    "FastStream",
    "cleanup_scheduler",
    "connect_tcp",
    "connect_unix",
    "create_tcp_listeners",
    "create_unix_listener",
    "fast_stream",
    "listener_from_socket",
]


def _in_trio() -> bool:
    """Tell whether the running event loop is trio's (else it is asyncio's)."""
    trio = sys.modules.get("trio")
    return trio is not None and bool(trio.lowlevel.in_trio_run())


Cleanup = Callable[[Callable[[], Awaitable[None]]], None]
"""Runs an async function later on the event loop it was made for, from any context."""


def cleanup_scheduler() -> Cleanup:
    """Capture the running event loop; return a function that runs cleanups on it.

    The returned function may be called where nothing can be awaited (a
    ``__del__`` method, garbage collection): the cleanup then runs soon, as a
    task of its own owned by the event loop, like the finalizer of an
    abandoned async generator. Call this function from a task.
    """
    if _in_trio():
        from ._trio import cleanup_scheduler as trio_scheduler

        return trio_scheduler()
    from ._asyncio import cleanup_scheduler as asyncio_scheduler

    return asyncio_scheduler()


class FastStream(SocketStream):
    """The base of our streams (:mod:`._asyncio`, :mod:`._trio`): what the driver may do with them.

    They take whole writes without waiting (what the kernel does not take
    at once waits in the transport, or in the stream on trio) and let the
    task that waits for a message read the socket itself, which saves the
    driver a cancel scope per write and a task switch per message (see
    :meth:`~anywebsockets.connection.Connection._run`). The ``ByteStream``
    methods they share are written here, on top of those.
    """

    _receiving: bool
    _sending: bool
    # The same as anyio.lowlevel.checkpoint_if_cancelled, for less: each
    # backend sets the function (a static attribute, not a method, so that
    # calling it costs no extra coroutine).
    checkpoint_if_cancelled: Callable[[], Awaitable[None]]

    async def receive(self, max_bytes: int = 65536) -> bytes:
        """Return the bytes waiting, up to ``max_bytes``, or wait for some.

        Raises:
            ValueError: ``max_bytes`` is less than 1.
            anyio.EndOfStream: the peer closed its side of the connection.
            anyio.BrokenResourceError: the connection failed; ``__cause__``
                is the ``OSError``.
            anyio.ClosedResourceError: the stream was closed.
            anyio.BusyResourceError: another task is receiving.
        """
        if self._receiving:
            raise anyio.BusyResourceError("reading from")
        if max_bytes < 1:
            raise ValueError("max_bytes must be a positive integer")
        # Even when the wait would end at once: bytes that are ready must not
        # let a call in a cancelled scope go through.
        await self.checkpoint_if_cancelled()
        return await self.receive_nocheck(max_bytes)

    async def send(self, item: bytes) -> None:
        """Hand ``item`` over; wait while bytes wait to be written.

        Raises:
            anyio.BrokenResourceError: the connection failed; ``__cause__``
                is the ``OSError`` when there is one.
            anyio.ClosedResourceError: the stream was closed, or
                :meth:`send_eof` was called.
            anyio.BusyResourceError: another task is sending.
        """
        if self._sending:
            raise anyio.BusyResourceError("writing to")
        await self.checkpoint_if_cancelled()
        if self.write_nowait(item):
            await self.wait_drained()

    async def aclose(self) -> None:
        """Close the connection at once; bytes not handed to the kernel are dropped.

        Cancellation:
            The connection is closed before the checkpoint.
        """
        self.close_nowait()
        await checkpoint()

    @abstractmethod
    def write_nowait(self, data: bytes | memoryview, *, may_yield: bool = True) -> bool:
        """Hand ``data`` over whole; True when the caller must await :meth:`wait_drained`.

        ``may_yield=False`` leaves out the periodic yield: True then means
        that bytes wait to be written (or that the write failed).
        """

    @abstractmethod
    async def wait_drained(self) -> None:
        """Wait until the kernel took every byte; always yields."""

    @abstractmethod
    async def receive_nocheck(self, max_bytes: int) -> bytes:
        """``receive()`` without its cancellation check, which the caller just made."""

    @abstractmethod
    async def wait_unclaimed(self) -> bool:
        """Wait until bytes, EOF or an error arrived that no ``receive()`` waits for.

        Returns False when :meth:`interrupt_unclaimed` ended the wait.
        """

    @abstractmethod
    def interrupt_unclaimed(self) -> None:
        """Make the pending (or next) :meth:`wait_unclaimed` return False at once."""

    @abstractmethod
    def send_eof_nowait(self) -> bool:
        """Half-close at once, as ``send_eof()`` does when it need not wait.

        Returns False, having done nothing, when ``send_eof()`` must be
        awaited instead (bytes wait in the stream to be written first).
        """

    @abstractmethod
    def close_nowait(self) -> None:
        """Close the stream at once, as ``aclose()`` does, without its checkpoint."""


def fast_stream(stream: ByteStream) -> FastStream | None:
    """Return ``stream`` if it is one of our streams (:mod:`._asyncio`, :mod:`._trio`)."""
    return stream if isinstance(stream, FastStream) else None


async def connect_tcp(host: str, port: int) -> ByteStream:
    """Open a TCP connection to ``host``:``port`` with the running backend's best stream.

    On asyncio, that is the stream of :mod:`._asyncio`, which reads ahead and
    writes without waiting while the kernel takes the bytes; on trio, that
    of :mod:`._trio`, which calls the socket before it asks trio to watch
    it. Both try every address of ``host`` as anyio does (RFC 8305) and
    fail the same way.

    Raises:
        OSError: the connection failed: ``"All connection attempts failed"``
            caused by the error of the one attempt, or by an exception
            group of every attempt's errors; ``socket.gaierror`` when
            ``host`` did not resolve.
    """
    if _in_trio():
        from ._trio import connect_tcp as trio_connect_tcp

        return await trio_connect_tcp(host, port)
    from ._asyncio import connect_tcp as asyncio_connect_tcp

    return await asyncio_connect_tcp(host, port)


async def connect_unix(path: str) -> ByteStream:
    """Open a Unix socket connection to ``path`` with the running backend's best stream.

    Raises:
        OSError: the connection failed.
    """
    if _in_trio():
        from ._trio import connect_unix as trio_connect_unix

        return await trio_connect_unix(path)
    from ._asyncio import connect_unix as asyncio_connect_unix

    return await asyncio_connect_unix(path)


async def create_tcp_listeners(
    host: str | None, port: int, *, backlog: int, reuse_port: bool
) -> list[SocketListener]:
    """Listen on ``host``:``port``, one listener per address, as anyio does.

    ``host=None`` listens on every interface, IPv4 and IPv6; port 0 picks a
    free port (the same one for every address). The listeners accept
    connections as the streams of :mod:`._asyncio` or :mod:`._trio`.

    Raises:
        OSError: an address could not be bound (such as ``EADDRINUSE``).
    """
    multi = await anyio.create_tcp_listener(
        local_host=host, local_port=port, reuse_port=reuse_port, backlog=backlog
    )
    listeners: list[SocketListener] = list(multi.listeners)  # type: ignore[arg-type]
    return _wrap_listeners(listeners)


async def create_unix_listener(path: str, *, backlog: int) -> SocketListener:
    """Listen on a Unix socket at ``path``, as anyio does.

    Raises:
        OSError: the socket could not be bound.
    """
    listener = await anyio.create_unix_listener(path, backlog=backlog)
    return _wrap_listeners([listener])[0]


async def listener_from_socket(sock: socket.socket, *, backlog: int) -> SocketListener:
    """Listen on ``sock``, a bound socket; the listener owns it.

    A socket that is only bound is put in the listening state first, with
    ``backlog``, as asyncio's ``create_server(sock=...)`` does.

    Raises:
        ValueError: ``sock`` is not a bound stream socket.
    """
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        sock.listen(backlog)
    listener = await SocketListener.from_socket(sock)
    return _wrap_listeners([listener])[0]


def _wrap_listeners(listeners: list[SocketListener]) -> list[SocketListener]:
    """Make anyio's listeners accept connections as the running backend's best streams."""
    if _in_trio():
        from ._trio import wrap_listeners as trio_wrap_listeners

        return trio_wrap_listeners(listeners)
    from ._asyncio import wrap_listeners as asyncio_wrap_listeners

    return asyncio_wrap_listeners(listeners)
