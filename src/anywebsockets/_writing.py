"""Writing to the network, broadcasting, and aborting: the ``_Writer`` base of
:class:`~anywebsockets.connection.Connection`.

Written as a base class so that these methods cost no more than methods of
``Connection`` itself; they use the attributes that ``Connection.__init__``
sets, declared here for the type checker.

Writing
-------
All writes go through :meth:`Connection._flush` under one lock (not taken
for a frame that the stream of ``_backends`` takes whole at once). The write
itself is shielded, and aborted when it makes no progress for
``close_timeout``: a frame is written whole or the connection is lost. A task
that holds the lock writes everything the engine queued before it lets go, so
the reader never waits for the lock (it leaves its pongs to the current
writer) and a sender cancelled while waiting for the lock loses nothing.

Broadcasting
------------
:func:`~anywebsockets.broadcast` hands frames to the engine without waiting
(:meth:`Connection._send_nowait`); then someone must write them. A task that
holds the write lock does. Otherwise, an owned connection over a fast stream
hands them to the stream at once; over another stream, it spawns a short
task in its owner's task group to write them. A connection that no task
group owns wakes the task that reads it, which writes what is queued before
it reads again; with no such task, the frames go out with the application's
next call on the connection.
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections import deque
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import ByteStream
from anyio.lowlevel import checkpoint_if_cancelled

from ._backends import FastStream
from .exceptions import ConnectionClosed
from .protocol import SEND_EOF, Event, Frame, Opcode, Protocol, State

_MAX_WRITE = 262144  # larger writes are cut, each piece with its own deadline
# What a broken stream raises. TimeoutError (an OSError) is a write that could
# not finish within close_timeout.
_NETWORK_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)


def _pieces(writes: list[bytes]) -> list[bytes | memoryview]:
    """Cut the engine's chunks into writes of at most ``_MAX_WRITE`` bytes.

    Small chunks in a row are joined into one write; a chunk too large for
    one write is sliced, without copies. So a large payload that the engine
    queued apart from its header goes out without ever being copied.
    """
    if len(writes) == 1 and len(writes[0]) <= _MAX_WRITE:
        return writes  # type: ignore[return-value]  # the common case
    pieces: list[bytes | memoryview] = []
    run: list[bytes] = []  # small chunks waiting to be joined
    run_size = 0
    for chunk in writes:
        size = len(chunk)
        if run and run_size + size > _MAX_WRITE:
            pieces.append(run[0] if len(run) == 1 else b"".join(run))
            run, run_size = [], 0
        if size <= _MAX_WRITE:
            run.append(chunk)
            run_size += size
        else:
            view = memoryview(chunk)
            pieces += [view[start : start + _MAX_WRITE] for start in range(0, size, _MAX_WRITE)]
    if run:
        pieces.append(run[0] if len(run) == 1 else b"".join(run))
    return pieces


def _original(exc: BaseException) -> BaseException:
    """The OSError behind an anyio stream error, if there is one."""
    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError) and isinstance(
        exc.__cause__, OSError
    ):
        return exc.__cause__
    return exc


class _Lock:
    """A first-come, first-served lock that costs a few bytes until someone waits.

    The connection's locks, in place of :class:`anyio.Lock`, whose waiter
    queue (a ``deque`` of 760 bytes on asyncio, a parking lot on trio) would
    be made for every connection, idle ones included. Taking a free lock
    checks for cancellation but does not yield (as ``fast_acquire=True``);
    releasing hands the lock to the first waiter, so none is overtaken.
    Unlike anyio's, it does not check which task releases it.
    """

    __slots__ = ("_held", "_waiters")

    def __init__(self) -> None:
        self._held = False
        # Each waiter: [event set when the lock is handed over, handed over?].
        self._waiters: deque[list[Any]] | None = None

    def locked(self) -> bool:
        """Tell whether a task holds the lock."""
        return self._held

    def acquire_nowait(self) -> None:
        """Take the free lock.

        Raises:
            anyio.WouldBlock: the lock is held.
        """
        if self._held:
            raise anyio.WouldBlock
        self._held = True

    async def acquire(self) -> None:
        """Take the lock, waiting for it if it is held.

        Cancellation:
            A checkpoint only when the lock is held; when free, it checks for
            cancellation without yielding. A waiter cancelled once the lock
            was handed to it hands it on to the next.
        """
        if not self._held:
            await checkpoint_if_cancelled()
            self._held = True
            return
        if self._waiters is None:
            self._waiters = deque()
        waiter: list[Any] = [anyio.Event(), False]
        self._waiters.append(waiter)
        try:
            await waiter[0].wait()
        except BaseException:
            if waiter[1]:
                self.release()
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Let go of the lock: the first waiter, if any, holds it now."""
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter[1] = True
            waiter[0].set()
        else:
            self._held = False

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc_info: object) -> None:
        self.release()


class _Writer:
    """Writing, broadcasting and aborting, for :class:`~anywebsockets.connection.Connection`."""

    protocol: Protocol
    logger: logging.LoggerAdapter[Any]
    close_timeout: float | None
    _stream: ByteStream
    _fast: FastStream | None
    _write_lock: _Lock
    _pending_bytes: int
    _undrained: int
    _tg: anyio.abc.TaskGroup | None
    _flush_scheduled: bool
    _read_scope: anyio.CancelScope | None
    _eof_fed: bool
    _stream_closed: bool
    _close_cause: BaseException | None

    if TYPE_CHECKING:  # defined by Connection

        def _notify(self) -> None: ...

        def _dispatch(self, events: list[Event]) -> None: ...

        def _timers_changed(self) -> None: ...

    # The error that reports a closed connection, and its cause.

    def _closed_exc(self) -> ConnectionClosed:
        exc = self.protocol.close_exc
        if self._close_cause is not None:
            exc.__cause__ = self._close_cause
        return exc

    def _set_cause(self, exc: BaseException) -> None:
        """Remember why the connection failed, unless it is closed already."""
        if self._close_cause is None and not self._stream_closed:
            self._close_cause = _original(exc)

    def _close_timeout(self) -> float:
        return math.inf if self.close_timeout is None else self.close_timeout

    # Writing and aborting.

    async def _flush_user(self) -> None:
        """Write what the engine queued, for an application call.

        Raises:
            ConnectionClosedError: the network failed; the connection is aborted.
        """
        try:
            await self._flush()
        except _NETWORK_ERRORS as exc:
            self._set_cause(exc)
            await self._abort()
            raise self._closed_exc() from self._close_cause
        if self._stream_closed:
            # Closed while this call waited to write: what it queued may be lost.
            raise self._closed_exc()

    async def _flush_quietly(self) -> None:
        """Write what the engine queued, for internal work: errors abort the connection.

        Does not wait for a task that is writing already: that task writes
        these bytes too before it lets go of the stream.
        """
        try:
            await self._flush(wait=False)
        except _NETWORK_ERRORS as exc:
            self._set_cause(exc)
            await self._abort()

    async def _flush(self, *, wait: bool = True) -> None:
        """Write the engine's pending bytes in order, until none are left.

        Bytes queued while the lock is held are written by its holder before
        it lets go, so a caller cancelled while it waits for the lock loses
        nothing: its bytes still go out.

        Args:
            wait: False returns at once when another task holds the write lock.
        Raises:
            OSError, anyio.BrokenResourceError, anyio.ClosedResourceError: the
                network failed; TimeoutError: a write made no progress for
                ``close_timeout`` seconds.
        """
        lock = self._write_lock
        if lock.locked():
            if not wait:
                return
            await lock.acquire()
        else:
            pending = self.protocol.writes
            if not pending:
                return
            if (
                self._fast is not None
                and len(pending) == 1
                and 0 < len(pending[0]) <= _MAX_WRITE
                and not self._stream_closed
            ):
                # One frame, and a stream that takes it whole at once: no
                # other task can run meanwhile, so no lock is needed unless
                # the kernel did not take it all.
                data = self.protocol.data_to_send()[0]
                if not self._fast.write_nowait(data):
                    self._timers_changed()
                    return
                lock.acquire_nowait()
                try:
                    await self._drain(len(data))
                except BaseException:
                    lock.release()
                    raise
            else:
                lock.acquire_nowait()  # a free lock, taken without a checkpoint
        try:
            while not self._stream_closed and (writes := self.protocol.data_to_send()):
                await self._write(writes)
        finally:
            lock.release()
        self._timers_changed()

    async def _write(self, writes: list[bytes]) -> None:
        """Write one batch of chunks from the engine, holding the write lock.

        Shielded, so that no frame is ever half written; each piece of at most
        ``_MAX_WRITE`` bytes must go out within ``close_timeout``, so a slow
        peer that keeps reading is not mistaken for a dead one. An empty chunk
        from the engine half-closes the stream.
        """
        pieces = _pieces(writes)
        size = sum(len(piece) for piece in pieces)
        fast = self._fast
        if fast is not None:
            # The stream takes each piece whole at once: a frame cannot be
            # half written, and there is no deadline to watch unless the
            # kernel did not take it all. Each piece has its own deadline.
            if len(pieces) == 1:
                if pieces[0] and fast.write_nowait(pieces[0]):
                    await self._drain(size)
            else:
                self._pending_bytes += size
                try:
                    for piece in pieces:
                        if piece and fast.write_nowait(piece):
                            await self._drain(0)
                finally:
                    self._pending_bytes -= size
            # The end of the stream, when the engine queued it (nothing comes
            # after it), goes at once unless the stream must write first.
            if SEND_EOF not in writes or fast.send_eof_nowait():
                return
            pieces, size = [], 0  # all written: only the end of the stream is left
        self._pending_bytes += size
        try:
            # The deadline is set when the scope is created: setting it again
            # costs a timer reschedule, so only pieces after the first do.
            timeout = self._close_timeout()
            with anyio.CancelScope(shield=True, deadline=anyio.current_time() + timeout) as scope:
                for index, piece in enumerate(pieces):
                    if index:
                        scope.deadline = anyio.current_time() + timeout
                    if piece:
                        await self._stream.send(piece if type(piece) is bytes else bytes(piece))
                if SEND_EOF in writes:  # the engine queues nothing after it
                    scope.deadline = anyio.current_time() + self._close_timeout()
                    try:
                        await self._stream.send_eof()
                    except Exception:  # TLS cannot half-close, for one: close it all
                        await self._abort()
        finally:
            self._pending_bytes -= size
        if scope.cancelled_caught:
            raise TimeoutError("no progress writing to the network within close_timeout")

    async def _drain(self, size: int) -> None:
        """Wait until a fast stream handed the ``size`` bytes just written to the kernel.

        Shielded, within ``close_timeout``, as any write.

        Raises:
            TimeoutError: the kernel took nothing for ``close_timeout`` seconds.
            anyio.BrokenResourceError, anyio.ClosedResourceError: the network failed.
        """
        assert self._fast is not None
        deadline = anyio.current_time() + self._close_timeout()
        self._pending_bytes += size
        try:
            with anyio.CancelScope(shield=True, deadline=deadline) as scope:
                await self._fast.wait_drained()
        finally:
            self._pending_bytes -= size
        if scope.cancelled_caught:
            raise TimeoutError("no progress writing to the network within close_timeout")

    # Broadcasting.

    def _outgoing_size(self) -> int:
        """Bytes not handed to the network yet: being written, or queued in the engine."""
        writes = self.protocol.writes
        if not writes:
            return self._pending_bytes
        return self._pending_bytes + sum(len(chunk) for chunk in writes)

    def _sending_fragments(self) -> bool:
        """Tell whether a fragmented message is half sent: no other frame may go out now."""
        return self.protocol._sending_fragments

    def _send_nowait(self, opcode: Opcode, payload: bytes, encoded: bytes | None) -> None:
        """Queue a whole message without waiting, and make sure it gets written.

        The caller checked that the connection is open and not in the middle
        of a fragmented message.

        Args:
            opcode: TEXT or BINARY.
            payload: the message, as bytes (UTF-8 for text).
            encoded: the frame already serialized for this connection, shared
                with other connections, or ``None`` to let the engine encode it.
        """
        if encoded is None:
            if opcode is Opcode.TEXT:
                self.protocol.send_text(payload)
            else:
                self.protocol.send_binary(payload)
        else:
            if self.protocol.debug:
                self.logger.debug("> %s", Frame(opcode, payload))
            self.protocol.writes.append(encoded)
        self._start_writing()

    def _start_writing(self) -> None:
        """See that the frames queued in the engine get written, without waiting."""
        if self._write_lock.locked():
            return  # the task holding the lock writes everything queued
        fast = self._fast
        if fast is not None and self._tg is not None and self.protocol.state is State.OPEN:
            # A stream that takes whole frames at once gets them now, as in
            # send(): no task per frame. Only when the kernel takes no more
            # does a task in the owner's group wait for it, within
            # close_timeout; until then the bytes count as outgoing, for
            # write_limit.
            writes = self.protocol.data_to_send()
            if len(writes) == 1 and len(writes[0]) <= _MAX_WRITE:
                if not fast.write_nowait(writes[0], may_yield=False):
                    return
                size = len(writes[0])
            else:
                waiting = False
                for piece in _pieces(writes):
                    waiting = fast.write_nowait(piece, may_yield=False) or waiting
                if not waiting:
                    return
                size = sum(len(chunk) for chunk in writes)
            self._pending_bytes += size
            self._undrained += size
        if self._tg is not None:
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._tg.start_soon(self._background_flush)
            return
        if self._read_scope is not None:
            self._read_scope.cancel()  # the reader writes before it reads again
        self._notify()  # so does a reader paused by max_queue

    async def _background_flush(self) -> None:
        """Write what the engine queued, in the owner's task group (see :meth:`_start`)."""
        self._flush_scheduled = False
        try:
            if self._undrained:
                await self._drain_handed_over()
            await self._flush_quietly()
        except Exception as exc:  # a bug: fail the connection, not its owner
            self.logger.error("connection crashed", exc_info=True)
            self._set_cause(exc)
            await self._abort()

    async def _drain_handed_over(self) -> None:
        """Wait until the kernel took the frames :meth:`_start_writing` handed over.

        Aborts the connection when it takes none for ``close_timeout``.
        """
        lock = self._write_lock
        await lock.acquire()
        undrained, self._undrained = self._undrained, 0
        failure: BaseException | None = None
        try:
            await self._drain(0)
        except _NETWORK_ERRORS as exc:
            failure = exc
        finally:
            self._pending_bytes -= undrained
            lock.release()
        if failure is not None:
            self._set_cause(failure)
            await self._abort()

    async def _abort(self) -> None:
        """Close the stream at once and mark the connection closed."""
        if self.protocol.state is not State.CLOSED:
            if not self._eof_fed:
                self._eof_fed = True
                self.protocol.receive_eof()
            self._dispatch(self.protocol.events_received())
            self.protocol.data_to_send()  # nothing can be written any more
            self.protocol.state = State.CLOSED
        if not self._stream_closed:
            self._stream_closed = True
            if self._fast is not None:
                self._fast.close_nowait()  # at once: nothing to wait for
            else:
                with anyio.CancelScope(shield=True):
                    with anyio.move_on_after(self._close_timeout()):
                        with contextlib.suppress(Exception):  # the stream is gone either way
                            await self._stream.aclose()
            self.logger.info("connection closed")
        self._notify()
