"""Incoming messages: the ``_Assembler`` base of
:class:`~anywebsockets.connection.Connection`, which assembles queued frames
into messages, and the objects that ``Connection`` methods return to iterate
over messages, fragments, or to wait for a pong.

``_Assembler`` is a base class so that its methods cost no more than methods
of ``Connection`` itself; it uses the attributes that ``Connection.__init__``
sets, declared here for the type checker.
"""

from __future__ import annotations

import codecs
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Generator, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from anyio.lowlevel import checkpoint

from .exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK
from .protocol import Frame, Opcode

if TYPE_CHECKING:
    from .connection import Connection, Data


class _Assembler:
    """Message assembly, for :class:`~anywebsockets.connection.Connection`."""

    _frames: deque[Frame]
    _opcode: Opcode | None
    _parts: list[bytes | bytearray | memoryview]
    _message_complete: bool
    _text: str | None
    _receiving: bool
    _paused: bool
    _queue_low: float
    _stream_closed: bool

    if TYPE_CHECKING:  # defined by Connection and its other bases

        def _notify(self) -> None: ...

        async def _wait_until(self, predicate: Callable[[], bool]) -> None: ...

        def _closed_exc(self) -> ConnectionClosed: ...

        async def _invalid_utf8(self, exc: UnicodeDecodeError) -> ConnectionClosed: ...

    def _collect_message(self) -> bool:
        """Move frames of the current message from the queue to ``_parts``; True when done.

        Also True when the connection is closed, so that waiters wake up.
        """
        if self._frames and not self._message_complete:
            while self._frames and not self._message_complete:
                frame = self._frames.popleft()
                if self._opcode is None:
                    self._opcode = frame.opcode
                self._parts.append(frame.data)
                self._message_complete = frame.fin
            # Only a message of one frame can carry its decoded text.
            self._text = frame.text
            self._frames_taken()
        return self._message_complete or self._stream_closed

    def _frames_taken(self) -> None:
        """Wake a reader paused by ``max_queue`` once the queue is down to the low mark."""
        if self._paused and len(self._frames) <= self._queue_low:
            self._notify()

    def _take_parts(self) -> bytes:
        """Return and forget the bytes taken from the message in progress.

        Forgets its decoded text too: read ``_text`` first.
        """
        parts, self._parts = self._parts, []
        self._text = None
        return bytes(parts[0]) if len(parts) == 1 else b"".join(parts)

    async def _next_fragment(self, decode: bool | None) -> tuple[Data, bool]:
        """Return the next fragment of the message in progress, and whether it ends it."""
        if self._receiving:
            raise ConcurrencyError("another task is receiving from this connection")
        self._receiving = True
        try:
            await checkpoint()
            await self._wait_until(lambda: bool(self._frames) or self._stream_closed)
            if not self._frames:
                raise self._closed_exc()
            frame = self._frames.popleft()
            self._frames_taken()
            if self._opcode is None:
                self._opcode = frame.opcode
            opcode, fin = self._opcode, frame.fin
            self._parts.append(frame.data)
            data = self._take_parts()
            if fin:
                self._opcode = None
        finally:
            self._receiving = False
        if not (opcode is Opcode.TEXT if decode is None else decode):
            return data, fin
        try:
            text, used = codecs.utf_8_decode(data, "strict", fin)
        except UnicodeDecodeError as exc:
            raise await self._invalid_utf8(exc) from exc
        if used < len(data):
            self._parts.append(data[used:])  # the start of a split character
        return text, fin


def _fragment_reader(fragments: object) -> Callable[[], Awaitable[Any]]:
    """Return a coroutine function that returns the next fragment, or None at the end.

    Raises:
        TypeError: ``fragments`` is neither an iterable nor an async iterable,
            or it is a mapping.
    """
    if isinstance(fragments, Mapping):
        raise TypeError("a mapping is not a message; send its serialization")
    if isinstance(fragments, AsyncIterable):
        aiterator = fragments.__aiter__()

        async def next_async() -> Any:
            try:
                return await aiterator.__anext__()
            except StopAsyncIteration:
                return None

        return next_async
    if not isinstance(fragments, Iterable):
        raise TypeError(f"message has an unsupported type: {type(fragments).__name__}")
    iterator = iter(fragments)

    async def next_sync() -> Any:
        return next(iterator, None)

    return next_sync


class _Messages:
    """What ``async for message in ws`` iterates over: :meth:`Connection.recv` until closed."""

    __slots__ = ("_connection",)

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __aiter__(self) -> _Messages:
        return self

    async def __anext__(self) -> Data:
        try:
            return await self._connection.recv()
        except ConnectionClosedOK:
            raise StopAsyncIteration from None


class _Fragments:
    """What :meth:`Connection.recv_streaming` returns: the fragments of one message."""

    __slots__ = ("_connection", "_decode", "_done")

    def __init__(self, connection: Connection, decode: bool | None) -> None:
        self._connection = connection
        self._decode = decode
        self._done = False

    def __aiter__(self) -> _Fragments:
        return self

    async def __anext__(self) -> Data:
        if self._done:
            raise StopAsyncIteration
        data, self._done = await self._connection._next_fragment(self._decode)
        return data


class _PongWaiter:
    """What :meth:`Connection.ping` returns: awaiting it waits for the pong.

    It is not a coroutine, so dropping it unawaited is fine.
    """

    __slots__ = ("_box", "_connection", "_event")

    def __init__(self, connection: Connection, event: anyio.Event, box: list[float]) -> None:
        self._connection = connection
        self._event = event
        self._box = box

    def __await__(self) -> Generator[Any, None, float]:
        return self._connection._wait_for_pong(self._event, self._box).__await__()
