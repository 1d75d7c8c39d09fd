"""The I/O driver: one WebSocket connection over any anyio byte stream.

Written once, on anyio only, for clients and servers, asyncio and trio.

Who reads the network
---------------------
Every task that waits on the connection (``recv``, iteration, a pong,
``wait_closed``, ``close``) goes through :meth:`Connection._wait_until`: if no
task reads the stream, it reads it itself, else it waits for the reader to
report a change. Whoever reads answers pings, runs the keepalive timer and
enforces the closing deadline. A connection is *owned* when a task group runs
:meth:`Connection._run` for it (server connections; ``async with connect()``):
that task is one more waiter, which waits until the connection closes, so the
network is read whatever the application does. A connection from
``ws = await connect()`` has no such task: the application's own waiting
tasks read for it. When a reading task is cancelled, another waiter takes
over, with no byte lost.

On asyncio and trio, over TCP or Unix sockets without TLS, the stream comes
from ``_backends`` and lets the task that waits for a message read it, with
no task switch (on asyncio, it also reads ahead by itself); the owner's task
(:meth:`Connection._watch`) steps in only when bytes arrive that no task
waits to receive, and runs the timers for everyone.

Writing
-------
All writes go through :meth:`Connection._flush` under one lock, and
:func:`~anywebsockets.broadcast` queues frames that someone must then write:
see :mod:`._writing` for both.

Modules
-------
``Connection`` is split by concept into base classes that cost nothing at
run time: ``_Assembler`` (:mod:`._messages`) assembles the queued frames into
messages, ``_Writer`` (:mod:`._writing`) writes, broadcasts and aborts. This
module reads the network, runs the timers and holds the public methods.
"""

from __future__ import annotations

import logging
import math
import os
import uuid
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, overload

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.lowlevel import checkpoint, checkpoint_if_cancelled

from ._backends import fast_stream
from ._messages import _Assembler, _fragment_reader, _Fragments, _Messages, _PongWaiter
from ._writing import _NETWORK_ERRORS as _NETWORK_ERRORS  # re-exported: client, _proxy
from ._writing import _Lock, _Writer
from .exceptions import ConcurrencyError, ConnectionClosed
from .protocol import CloseCode, Event, Frame, Opcode, Protocol, Request, Response, State

__all__ = ["Connection", "Data"]

Data = str | bytes
"""A WebSocket message: ``str`` for text, ``bytes`` for binary."""

_MAX_READ = 65536
# A fast stream has read the bytes already, in chunks of up to 256 KiB on
# asyncio: take them whole rather than cut.
_MAX_FAST_READ = 262144
# On a fast stream, receiving calls that need not wait yield once every this many.
_CALLS_BETWEEN_YIELDS = 16
_DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)
_MESSAGE_TYPES = (str, bytes, bytearray, memoryview)
# The frame queue of a connection that has received no data frame yet: an
# empty deque costs 760 bytes, so idle connections share this one, which
# stays empty (nothing is appended to it: see _dispatch).
_NO_FRAMES: deque[Frame] = deque(maxlen=0)


def _marks(value: int | tuple[int, int | None] | None) -> tuple[float, float]:
    """Turn a ``max_queue`` or ``write_limit`` argument into (high, low) marks.

    The low mark defaults to a quarter of the high mark.
    """
    if value is None:
        return math.inf, math.inf
    if isinstance(value, int):
        return value, value // 4
    high, low = value
    return high, high // 4 if low is None else low


def _addresses(stream: ByteStream) -> tuple[Any, Any]:
    """Return the local and remote addresses of ``stream`` (``None`` where unknown)."""
    try:
        # One mapping for both: anyio's socket streams build it, with a
        # system call or two, each time they are asked for an attribute.
        attributes: Mapping[Any, Callable[[], Any]] = stream.extra_attributes
        local = attributes.get(SocketAttribute.local_address)
        remote = attributes.get(SocketAttribute.remote_address)
        return (None if local is None else local(), None if remote is None else remote())
    except OSError:  # the peer is already gone
        return None, None


class Connection(_Assembler, _Writer, anyio.TypedAttributeProvider):
    """A WebSocket connection, shared by :class:`ClientConnection` and
    :class:`ServerConnection`.

    Args:
        protocol: the sans-I/O engine for this connection.
        stream: the byte stream it runs over (TCP, TLS, Unix, in-memory, ...).
        ping_interval: seconds between keepalive pings; ``None`` disables them.
        ping_timeout: seconds of reading without receiving anything after a
            keepalive ping before closing with 1011; ``None`` waits forever.
        close_timeout: seconds for the closing handshake and the TCP close,
            then the connection is aborted; also the longest a write may go
            without progress. ``None`` waits forever.
        max_queue: high-water mark of incoming frames waiting for the
            application, or ``(high, low)``; reading pauses above the high
            mark and resumes at the low mark. ``None`` means no limit.
        write_limit: high-water mark in bytes of outgoing data not yet handed
            to the network, or ``(high, low)``.
    """

    # Slots, not a __dict__ per connection (1.6 KiB with this many attributes).
    # Subclasses keep a __dict__, for attributes that applications set.
    __slots__ = (
        "_addresses",
        "_calls_since_yield",
        "_changed",
        "_checkpoint_if_cancelled",
        "_close_cause",
        "_close_deadline",
        "_eof_fed",
        "_fast",
        "_flush_scheduled",
        "_frames",
        "_keepalive_ping",
        "_max_read",
        "_message_complete",
        "_message_lock",
        "_next_ping_at",
        "_opcode",
        "_parts",
        "_paused",
        "_pending_bytes",
        "_ping_budget",
        "_pings",
        "_queue_high",
        "_queue_low",
        "_read_scope",
        "_reading",
        "_receive",
        "_receiving",
        "_send_yields",
        "_stream",
        "_stream_closed",
        "_text",
        "_tg",
        "_undrained",
        "_waiting",
        "_watch_closing",
        "_watching",
        "_write_lock",
        "close_timeout",
        "id",
        "latency",
        "logger",
        "ping_interval",
        "ping_timeout",
        "protocol",
        "request",
        "response",
        "write_limit",
    )

    def __init__(
        self,
        protocol: Protocol,
        stream: ByteStream,
        *,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
    ) -> None:
        self.protocol = protocol
        self._stream = stream
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.close_timeout = close_timeout
        self._queue_high, self._queue_low = _marks(max_queue)
        self.write_limit = _marks(write_limit)
        """High and low marks of outgoing bytes not yet handed to the network."""

        self.id: uuid.UUID = protocol.id
        """Unique identifier of the connection, useful in logs."""
        base = protocol.logger
        if isinstance(base, logging.LoggerAdapter):
            base = base.logger
        self.logger: logging.LoggerAdapter[Any] = logging.LoggerAdapter(base, {"websocket": self})
        """Logger of this connection: a ``LoggerAdapter`` whose ``extra`` holds ``websocket``."""
        protocol.logger = self.logger
        self.request: Request | None = None
        """The opening handshake request."""
        self.response: Response | None = None
        """The opening handshake response."""
        self.latency: float = 0.0
        """Round-trip time of the last ping answered, in seconds; 0 until one is."""

        # Incoming messages. Frames wait in _frames until the application
        # takes them; _parts holds bytes taken from the message in progress
        # (of type _opcode) but not delivered yet, so that a cancelled recv or
        # an abandoned recv_streaming loses nothing.
        self._frames: deque[Frame] = _NO_FRAMES  # a deque of its own from the first frame
        self._opcode: Opcode | None = None
        self._parts: list[bytes | bytearray | memoryview] = []
        self._message_complete = False
        self._text: str | None = None  # the decoded text of a one-frame message in _parts
        self._receiving = False
        self._paused = False
        self._addresses = _addresses(stream)
        # Reading: at most one task reads the stream; others wait for _changed
        # (_waiting of them: with none, _notify() has no one to wake).
        self._reading = False
        self._changed: anyio.Event | None = None  # made by the first waiter
        self._waiting = 0
        # Whether _run watches a fast stream (see _watch): then it alone runs
        # the timers, and whether it saw the closing handshake start.
        self._watching = False
        self._watch_closing = False
        self._calls_since_yield = 0
        # Writing.
        # Taking a free lock is not a checkpoint: callers have had theirs.
        self._message_lock = _Lock()
        self._write_lock = _Lock()
        self._pending_bytes = 0
        # Bytes handed to a fast stream by broadcast() that the kernel had no
        # room for yet (counted in _pending_bytes too until drained).
        self._undrained = 0
        # The streams of _backends (asyncio and trio): they take whole frames
        # without waiting (no cancel scope needed around such a write) and
        # let the waiting task read.
        self._fast = fast_stream(stream)
        self._max_read = _MAX_READ if self._fast is None else _MAX_FAST_READ
        # A read follows the checkpoint of the public call that waits (or a
        # wait of _watch), and a read that finds nothing waits, cancellably:
        # a fast stream need not check for cancellation once more.
        self._receive: Callable[[int], Awaitable[bytes]] = (
            stream.receive if self._fast is None else self._fast.receive_nocheck
        )
        self._checkpoint_if_cancelled: Callable[[], Awaitable[None]] = (
            checkpoint_if_cancelled if self._fast is None else self._fast.checkpoint_if_cancelled
        )
        # Whether a send() on the stream always yields to the event loop, as
        # anyio's own socket streams do on both backends (a cancellation check,
        # then the write, then a shielded checkpoint or a wait until writable),
        # so that it can stand for the checkpoint of a public call. The fast
        # stream yields when it must wait and every few writes otherwise.
        self._send_yields = self._fast is not None or (
            isinstance(stream, anyio.abc.SocketStream)
            and type(stream).__module__ in ("anyio._backends._asyncio", "anyio._backends._trio")
        )
        # Broadcasting: the owner's task group while _run runs, where frames
        # queued by broadcast() get written; whether such a write is scheduled.
        self._tg: anyio.abc.TaskGroup | None = None
        self._flush_scheduled = False
        # The cancel scope of the read in progress; cancelling it makes the
        # reading task look again at what it must do (write queued frames).
        self._read_scope: anyio.CancelScope | None = None
        # Pings: payload -> (event set by the pong, time sent, latency box).
        self._pings: dict[bytes, tuple[anyio.Event, float, list[float]]] = {}
        self._keepalive_ping: bytes | None = None
        # Seconds of reading left for the peer to send anything after a
        # keepalive ping; None when no keepalive ping awaits proof of life.
        self._ping_budget: float | None = None
        self._next_ping_at = anyio.current_time() + (ping_interval or 0)
        # Closing.
        self._close_deadline: float | None = None
        self._eof_fed = False
        self._stream_closed = False
        self._close_cause: BaseException | None = None

    # Attributes.

    @property
    def state(self) -> State:
        """The state of the connection: CONNECTING, OPEN, CLOSING or CLOSED."""
        return self.protocol.state

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol negotiated in the opening handshake, if any."""
        return self.protocol.subprotocol

    @property
    def close_code(self) -> int | None:
        """The close code received from the peer; ``None`` until closed, 1006 if none was."""
        return self.protocol.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason received from the peer; ``None`` until closed."""
        return self.protocol.close_reason

    @property
    def local_address(self) -> Any:
        """The local address of the socket, or ``None`` for streams that have none.

        Read when the connection was made, so it stays available after closing.
        """
        return self._addresses[0]

    @property
    def remote_address(self) -> Any:
        """The remote address of the socket, or ``None`` for streams that have none.

        Read when the connection was made, so it stays available after closing.
        """
        return self._addresses[1]

    @property
    def extra_attributes(self) -> Mapping[Any, Callable[[], Any]]:
        """The typed attributes of the stream (``SocketAttribute``, ``TLSAttribute``, ...)."""
        return self._stream.extra_attributes

    # Receiving.

    @overload
    async def recv(self, decode: Literal[True]) -> str: ...

    @overload
    async def recv(self, decode: Literal[False]) -> bytes: ...

    @overload
    async def recv(self, decode: bool | None = None) -> Data: ...

    async def recv(self, decode: bool | None = None) -> Data:
        """Return the next message, reassembled from its fragments.

        Messages received before the connection closed are returned first.

        Args:
            decode: ``None`` returns text as ``str`` and binary as ``bytes``;
                ``False`` returns text as UTF-8 ``bytes`` (no decoding cost);
                ``True`` decodes binary messages as UTF-8 too.
        Returns:
            The message.
        Raises:
            ConnectionClosedOK: the connection closed normally (1000, 1001).
            ConnectionClosedError: any other closure; ``__cause__`` tells why.
                With ``decode=True``, a binary message that is not UTF-8
                closes the connection with 1007 (``__cause__`` is the
                ``UnicodeDecodeError``).
            ConcurrencyError: another task is already receiving.
        Cancellation:
            Always a checkpoint. Safe: no frame is lost; the message stays
            queued for the next call. Over TCP or Unix sockets without TLS,
            a call that finds a message ready checks for cancellation but
            yields to other tasks only every 16 calls, like asyncio's own
            streams.
        """
        if self._receiving:
            raise ConcurrencyError("another task is receiving from this connection")
        self._receiving = True
        try:
            if self._frames or self._stream_closed or not self._reading:
                await self._recv_checkpoint()
            # Else no frame is queued and another task reads the network:
            # _wait_until waits for that task's news at once, a wait that
            # always yields and can be cancelled: this call's checkpoint.
            await self._wait_until(self._collect_message)
            if not self._message_complete:
                raise self._closed_exc()
            opcode, text, data = self._opcode, self._text, self._take_parts()
            self._opcode, self._message_complete = None, False
        finally:
            self._receiving = False
        if not (opcode is Opcode.TEXT if decode is None else decode):
            return data
        if text is not None:  # decoded by the engine when it checked it
            return text
        try:
            return data.decode()
        except UnicodeDecodeError as exc:
            raise await self._invalid_utf8(exc) from exc

    def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """Iterate over the frames of the next message as they arrive.

        Args:
            decode: as for :meth:`recv`. Decoded text is yielded up to the last
                complete character; the bytes of a character split between
                frames come with the next frame.
        Returns:
            An async iterator over the fragments of one message. If it is not
            iterated to the end, the next :meth:`recv` or
            :meth:`recv_streaming` returns the rest of that message.
        Raises:
            ConnectionClosedOK: the connection closed normally before the
                message ended (or began).
            ConnectionClosedError: any other closure.
            ConcurrencyError: another task is receiving at the same time.
        Cancellation:
            Each step is a checkpoint and safe: a cancelled step loses nothing.
        """
        return _Fragments(self, decode)

    def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over incoming messages until the connection closes.

        The iteration ends quietly on a normal closure (1000 or 1001) and
        raises :exc:`ConnectionClosedError` otherwise.

        Cancellation:
            As :meth:`recv`: no message is lost.
        """
        return _Messages(self)

    async def _recv_checkpoint(self) -> None:
        """The checkpoint of a receiving call that may not wait.

        On a fast stream, which yields to the event loop only when it must
        wait, so does a receiving call: it checks for cancellation, and
        yields once every few calls even when messages are ready, so that a
        task receiving a flood cannot keep the others from running.
        """
        if self._fast is None:
            await checkpoint()
            return
        self._calls_since_yield += 1
        if self._calls_since_yield >= _CALLS_BETWEEN_YIELDS:
            self._calls_since_yield = 0
            await checkpoint()
        else:
            await self._checkpoint_if_cancelled()

    async def _invalid_utf8(self, exc: UnicodeDecodeError) -> ConnectionClosed:
        """Close with 1007 after a forced decoding failed; return the error to raise."""
        self._set_cause(exc)
        if self.protocol.state is State.OPEN:
            self.protocol.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        return await self._closed_error()

    # Sending.

    async def send(
        self,
        message: Data | bytearray | memoryview | Iterable[Data] | AsyncIterable[Data],
        *,
        text: bool | None = None,
    ) -> None:
        """Send a message.

        A ``str`` is sent as a text message, a bytes-like object as a binary
        message, and an iterable or async iterable of them as one message
        fragmented into one frame per item (all items of the same kind; an
        empty iterable sends nothing). ``text=True`` sends bytes as a text
        frame (they must be UTF-8); ``text=False`` sends a ``str`` as binary.

        Concurrent calls send their messages one after the other, never
        mixing their frames. A call returns once its frames are handed to the
        network, so it waits while the network takes no more data (the
        kernel's buffers being the outgoing buffer); a write that makes no
        progress for ``close_timeout`` seconds aborts the connection.

        Raises:
            ConnectionClosed: the connection is closed or closing (this waits
                until it is closed, so that the error tells how it closed).
                After a network failure it is ``ConnectionClosedError`` whose
                ``__cause__`` is the original error.
            TypeError: the message has an unsupported type, or fragments of
                different kinds.
        Cancellation:
            A checkpoint before anything is sent. Once a frame is handed to
            the engine it is written whole, even if the call is cancelled:
            a frame being written is finished first; a frame waiting behind
            another task's write is written by that task. A fragmented
            message cancelled between fragments cannot be finished: the
            connection is then closed with 1011. Over TCP or Unix sockets
            without TLS, a call that need not wait for the network checks
            for cancellation but yields to other tasks only every 16 calls,
            like asyncio's own streams.
        """
        if (
            self._send_yields
            and isinstance(message, _MESSAGE_TYPES)
            and self.protocol.state is State.OPEN
            and not self._message_lock.locked()
            and not self._write_lock.locked()
        ):
            # Fast path: nothing else is being sent, so the frame is written at
            # once, with no lock to wait for. The cancellation check happens
            # here, before anything is handed to the engine, and the stream's
            # send() yields (see _send_yields): one checkpoint.
            await self._checkpoint_if_cancelled()
            if isinstance(message, str):
                try:
                    message = message.encode()
                except UnicodeEncodeError:
                    await checkpoint()
                    raise
                text = True if text is None else text
            # No other fragmented message can be in progress: the message
            # lock is free, and this whole frame does not need it.
            if self.protocol.state is not State.OPEN:  # pragma: no cover
                raise await self._closed_error()  # changed while the check yielded
            if text:
                self.protocol.send_text(message)
            else:
                self.protocol.send_binary(message)
            await self._flush_user()
            return
        await checkpoint()
        if isinstance(message, str | bytes | bytearray | memoryview):
            async with self._message_lock:
                await self._send_frame(message, text, fin=True, first=True)
            return
        next_fragment = _fragment_reader(message)
        async with self._message_lock:
            await self._send_fragments(next_fragment, text)

    async def _send_fragments(
        self, next_fragment: Callable[[], Awaitable[Any]], text: bool | None
    ) -> None:
        """Send an (async) iterable as one fragmented message, holding the message lock."""
        fragment = await next_fragment()
        if fragment is None:
            return  # an empty iterable sends no message
        first = True
        try:
            while True:
                # Look one fragment ahead to know whether this one is the last.
                upcoming = await next_fragment()
                if upcoming is not None and isinstance(upcoming, str) != isinstance(fragment, str):
                    raise TypeError("all fragments of a message must be str, or all bytes-like")
                await self._send_frame(fragment, text, fin=upcoming is None, first=first)
                if upcoming is None:
                    return
                fragment, first = upcoming, False
        except BaseException:
            if not first and self.protocol.state is State.OPEN:
                # Half a message went out: the connection cannot carry another one.
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                await self._flush_quietly()
            raise

    async def _send_frame(
        self, data: Data | bytearray | memoryview, text: bool | None, *, fin: bool, first: bool
    ) -> None:
        """Hand one frame to the engine and write it."""
        if isinstance(data, str):
            payload: bytes | bytearray | memoryview = data.encode()
            is_text = True if text is None else text
        elif isinstance(data, bytes | bytearray | memoryview):
            payload, is_text = data, bool(text)
        else:
            raise TypeError(f"message has an unsupported type: {type(data).__name__}")
        if self.protocol.state is not State.OPEN:
            raise await self._closed_error()
        if not first:
            self.protocol.send_continuation(payload, fin=fin)
        elif is_text:
            self.protocol.send_text(payload, fin=fin)
        else:
            self.protocol.send_binary(payload, fin=fin)
        await self._flush_user()

    async def ping(self, data: Data | None = None) -> Awaitable[float]:
        """Send a ping; return an awaitable that waits for the pong.

        ``await (await ws.ping())`` returns the round-trip time in seconds.
        A pong also answers every earlier ping (RFC 6455, section 5.5.3).

        Args:
            data: the payload (at most 125 bytes; ``str`` is encoded as UTF-8);
                by default 4 random bytes.
        Returns:
            An awaitable whose result is the latency in seconds; it raises
            :exc:`ConnectionClosed` if the connection closes first. Awaiting
            it is a checkpoint and safe to cancel; dropping it is fine.
        Raises:
            ConnectionClosed: the connection is closed or closing.
            ConcurrencyError: a ping with the same payload awaits its pong.
        Cancellation:
            A checkpoint before sending; once sent, the ping is written whole.
        """
        await checkpoint()
        if isinstance(data, str):
            data = data.encode()
        elif data is None:
            data = os.urandom(4)
            while data in self._pings:  # pragma: no cover  # 1 chance in 2**32
                data = os.urandom(4)
        if data in self._pings:
            raise ConcurrencyError("a ping with the same payload is waiting for its pong")
        if self.protocol.state is not State.OPEN:
            raise await self._closed_error()
        self.protocol.send_ping(data)
        event = anyio.Event()
        box: list[float] = []
        self._pings[data] = (event, anyio.current_time(), box)
        await self._flush_user()
        return _PongWaiter(self, event, box)

    async def _wait_for_pong(self, event: anyio.Event, box: list[float]) -> float:
        """Wait for the pong that sets ``event``; return the round trip."""
        await checkpoint()
        await self._wait_until(lambda: event.is_set() or self._stream_closed)
        if not box:
            raise self._closed_exc()
        return box[0]

    async def pong(self, data: Data = b"") -> None:
        """Send an unsolicited pong, as a one-way heartbeat.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        Cancellation:
            A checkpoint before sending; once sent, the pong is written whole.
        """
        await checkpoint()
        if isinstance(data, str):
            data = data.encode()
        if self.protocol.state is not State.OPEN:
            raise await self._closed_error()
        self.protocol.send_pong(data)
        await self._flush_user()

    # Closing.

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake, then close the stream.

        Waits for the peer's close frame and the end of the TCP connection
        for at most ``close_timeout`` seconds, then aborts the connection.
        Closing a closed connection does nothing; closing a closing one waits
        for the end of the handshake in progress.

        Args:
            code: the close code (1000 by default).
            reason: the close reason, at most 123 bytes once encoded.
        Raises:
            ProtocolError: the code cannot be sent (such as 1005 or 1006).
        Cancellation:
            Not a shortcut: the closing handshake runs shielded, bounded by
            ``close_timeout``, and the cancellation is delivered afterwards.
        """
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
        await self._finish_closing(shield=True)
        await checkpoint()

    async def aclose(self) -> None:
        """Close the connection with code 1000: the same as :meth:`close`.

        Cancellation:
            As :meth:`close`.
        """
        await self.close()

    async def wait_closed(self) -> None:
        """Wait until the connection is closed and its stream released.

        While waiting, the task reads the network when no other task does:
        pings are answered, keepalive runs, and incoming messages are queued
        (reading pauses when ``max_queue`` of them wait).

        Cancellation:
            Always a checkpoint; safe.
        """
        await checkpoint()
        await self._wait_until(self._is_closed)

    async def __aenter__(self) -> Connection:
        """Return the connection, which :meth:`__aexit__` closes.

        Cancellation:
            Not a checkpoint.
        """
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close with 1000 on a normal exit, 1011 when an exception leaves the block.

        The block's exception propagates unchanged.

        Cancellation:
            A cancellation leaving the block counts as an exception: the
            connection closes with 1011. The close runs shielded, as in
            :meth:`close`, and a cancellation is delivered afterwards.
        """
        await self.close(CloseCode.NORMAL_CLOSURE if exc is None else CloseCode.INTERNAL_ERROR)

    async def _finish_closing(self, *, shield: bool = False) -> None:
        """Write what is queued, wait for the end of the connection until the
        closing deadline, then abort it.

        ``shield`` protects the wait from outside cancellation, in the same
        cancel scope as the deadline; the abort shields itself.
        """
        self._notify()  # a reader paused by max_queue resumes once closing
        with anyio.CancelScope(shield=shield, deadline=self._closing_deadline()) as scope:
            await self._flush_quietly()
            await self._wait_until(self._is_closed)
        if scope.cancelled_caught:
            self._set_cause(TimeoutError("timed out while closing the connection"))
        await self._abort()

    async def _closed_error(self) -> ConnectionClosed:
        """Wait until a closing connection is closed; return the error to raise."""
        if not self._stream_closed:
            await self._finish_closing()
        return self._closed_exc()

    # Internals: reading.

    def _is_closed(self) -> bool:
        return self._stream_closed

    def _closing_deadline(self) -> float:
        """When the closing handshake must be over; set when first asked."""
        if self._close_deadline is None:
            self._close_deadline = anyio.current_time() + self._close_timeout()
        return self._close_deadline

    def _notify(self) -> None:
        """Wake up every task waiting for a change."""
        if self._waiting and self._changed is not None:
            self._changed.set()
            self._changed = None

    async def _wait_for_change(self) -> None:
        """Wait for the next :meth:`_notify`."""
        if self._changed is None:
            self._changed = anyio.Event()
        self._waiting += 1
        try:
            await self._changed.wait()
        finally:
            self._waiting -= 1

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return when ``predicate()`` is true, reading the network if no one else does."""
        while not predicate():
            if self._reading:
                await self._wait_for_change()
                continue
            self._reading = True
            try:
                await self._read_once()
            finally:
                self._reading = False
                self._notify()

    def _start(self, tg: anyio.abc.TaskGroup) -> None:
        """Make the connection owned: start :meth:`_run` in ``tg``, without waiting.

        ``tg`` also runs the writes of frames that
        :func:`~anywebsockets.broadcast` leaves to a task. Until the task
        starts, the connection behaves as one that no task owns: a task that
        waits on it reads for itself.
        """
        self._tg = tg
        tg.start_soon(self._run)

    async def _run(self) -> None:
        """Read the network until the connection closes (an owned connection's task).

        When cancelled, it stops reading; tasks waiting on the connection,
        such as :meth:`close`, take over.
        """
        try:
            if self._fast is None:
                await self._wait_until(self._is_closed)
            else:
                await self._watch()
        except Exception as exc:  # a bug: log it, and fail the connection, not the server
            self.logger.error("connection crashed", exc_info=True)
            self._set_cause(exc)
            await self._abort()
        finally:
            self._tg = None

    async def _watch(self) -> None:
        """Read what no other task reads, and run the timers, until the connection closes.

        How :meth:`_run` reads a fast stream (see :mod:`._backends`), which
        reads ahead by itself. A task that waits for a message reads the
        stream itself, with no task switch, and without timers: this task
        runs them, and steps in only when something arrives that no task
        is waiting to receive (the application is busy elsewhere, or does not
        read at all), so that pings are answered and the closing handshake
        completes whatever the application does.
        """
        fast = self._fast
        assert fast is not None
        self._watching = True
        try:
            while not self._stream_closed:
                now = anyio.current_time()
                if self.protocol.state is not State.OPEN:
                    self._watch_closing = True
                delay = self._timer_delay(now)
                unclaimed = False
                if delay == math.inf:
                    unclaimed = await fast.wait_unclaimed()
                else:
                    with anyio.move_on_after(delay):
                        unclaimed = await fast.wait_unclaimed()
                later = anyio.current_time()
                if self._ping_budget is not None and not self._paused:
                    self._ping_budget -= later - now
                if later - now >= delay:
                    await self._on_timer()
                elif not unclaimed:
                    continue  # interrupted: the timers changed
                elif not self._reading:
                    # Read as any reader does, timers included: the bytes may
                    # be gone already, taken by a task that read meanwhile.
                    self._reading = True
                    self._watching = False
                    try:
                        await self._read_once()
                    finally:
                        self._watching = True
                        self._reading = False
                        self._notify()
                else:
                    # Bytes wait, but the task that reads has not gone back
                    # to the stream yet: it will, or it will let go.
                    with anyio.move_on_after(self._timer_delay(later)):
                        await self._wait_for_change()
        finally:
            self._watching = False

    def _timers_changed(self) -> None:
        """Make :meth:`_watch` look at its timers again once closing started."""
        if self._watching and not self._watch_closing and self.protocol.state is not State.OPEN:
            self._wake_watch()

    def _wake_watch(self) -> None:
        """Make :meth:`_watch` compute its timers again."""
        assert self._fast is not None
        self._fast.interrupt_unclaimed()

    def _should_pause(self) -> bool:
        """Apply ``max_queue``: pause above the high mark, resume at the low mark."""
        if self.protocol.state is not State.OPEN:
            self._paused = False  # read on to the end of the closing handshake
        elif len(self._frames) >= self._queue_high:
            self._paused = True
        elif len(self._frames) <= self._queue_low:
            self._paused = False
        return self._paused

    async def _read_once(self) -> None:
        """Read from the stream once, or run the timers, and handle what came."""
        if self.protocol.state is State.CLOSED:
            await self._abort()
            return
        if self._tg is None and self.protocol.writes:
            # Frames queued by broadcast() on a connection no task group owns.
            await self._flush_quietly()
        if self._should_pause():
            # The application notifies when it takes frames or starts closing.
            await self._wait_for_change()
            return
        # While _watch runs the timers, readers have none to run.
        watching = self._watching
        started = 0.0 if watching else anyio.current_time()
        data: bytes | None = None
        delay = math.inf if watching else self._timer_delay(started)
        try:
            if delay == math.inf and self._tg is not None:
                # No timer to run and no one to wake this reader up
                # (_start_writing spawns a task instead): no cancel scope.
                data = await self._receive(self._max_read)
            else:
                with anyio.move_on_after(delay) as self._read_scope:
                    data = await self._receive(self._max_read)
        except anyio.EndOfStream:
            data = b""
        except _NETWORK_ERRORS as exc:
            self._set_cause(exc)
            data = b""
        finally:
            self._read_scope = None
            if self._ping_budget is not None and not watching:
                self._ping_budget -= anyio.current_time() - started
        if data is None:
            await self._on_timer()
        elif data:
            if self._ping_budget is not None:
                self._ping_budget = None  # anything received is proof of life
                if watching:  # _watch waits for the end of the budget: no more
                    self._wake_watch()
            self.protocol.receive_data(data)
            await self._process_events()
        else:
            if not self._eof_fed:
                self._eof_fed = True
                self.protocol.receive_eof()
            await self._process_events()

    async def _process_events(self) -> None:
        """Dispatch the engine's events, then write what it queued."""
        self._dispatch(self.protocol.events_received())
        if self.protocol.writes:
            await self._flush_quietly()
        self._timers_changed()
        if self.protocol.state is State.CLOSED:
            await self._abort()

    def _dispatch(self, events: list[Event]) -> None:
        """Queue data frames for the application and match pongs to pings."""
        for event in events:
            if isinstance(event, Frame):
                if event.opcode in _DATA_OPCODES:
                    if self._frames is _NO_FRAMES:
                        self._frames = deque()
                    self._frames.append(event)
                elif event.opcode is Opcode.PONG:
                    self._pong_received(bytes(event.data))

    def _pong_received(self, data: bytes) -> None:
        """Resolve the ping this pong answers, and any older ones (RFC 6455 5.5.3)."""
        if data not in self._pings:
            return
        now = anyio.current_time()
        for payload in list(self._pings):
            event, sent_at, box = self._pings.pop(payload)
            box.append(now - sent_at)
            event.set()
            if payload == data:
                self.latency = now - sent_at
                break

    # Internals: timers.

    def _timer_delay(self, now: float) -> float:
        """Seconds until the keepalive timer or the closing deadline needs attention."""
        if self.protocol.state is not State.OPEN:
            return max(0.0, self._closing_deadline() - now)
        if self.ping_interval is None:
            return math.inf
        if self._ping_budget is not None:
            return max(0.0, self._ping_budget)
        return max(0.0, self._next_ping_at - now)

    async def _on_timer(self) -> None:
        """Abort after the closing deadline, fail after a keepalive timeout, or ping."""
        now = anyio.current_time()
        if self.protocol.state is not State.OPEN:
            if now >= self._closing_deadline():
                self.logger.info("closing handshake timed out; aborting the connection")
                self._set_cause(TimeoutError("timed out while closing the connection"))
                await self._abort()
        elif self._ping_budget is not None:
            if self._ping_budget <= 0:
                self.logger.info("no answer to a keepalive ping; closing the connection")
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                await self._flush_quietly()
        elif self.ping_interval is not None and now >= self._next_ping_at:
            await self._send_keepalive_ping(now, self.ping_interval)

    async def _send_keepalive_ping(self, now: float, interval: float) -> None:
        """Send a keepalive ping; the peer must then send something within ``ping_timeout``."""
        if self._keepalive_ping is not None:
            self._pings.pop(self._keepalive_ping, None)  # never answered; stop waiting
        data = os.urandom(4)
        while data in self._pings:  # pragma: no cover  # 1 chance in 2**32
            data = os.urandom(4)
        self._keepalive_ping = data
        self._pings[data] = (anyio.Event(), now, [])
        self.protocol.send_ping(data)
        self._ping_budget = self.ping_timeout
        self._next_ping_at = now + interval
        await self._flush_quietly()
