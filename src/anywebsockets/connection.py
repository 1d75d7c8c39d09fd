"""The I/O driver: one WebSocket connection over any anyio byte stream.

Written once, on anyio only, for clients and servers, asyncio and trio.

Who reads the network
---------------------
A connection is *owned* when a task group runs :meth:`Connection._run` for
it (server connections; ``async with connect()``): that background task
reads frames, answers pings, runs keepalive and notices the peer's close,
whatever the application does. A connection that no task group owns
(``ws = await connect()``) has no background task: whichever task waits on
it (``recv``, iteration, ``wait_closed``, a pong, ``close``) reads the
network for everyone, and keepalive runs while it waits. Both cases share
:meth:`Connection._read_once`; only who calls it differs.
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import math
import os
import uuid
from collections import deque
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Mapping,
)
from types import TracebackType
from typing import Any, Literal, overload

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.lowlevel import checkpoint

from .exceptions import ConcurrencyError, ConnectionClosed, ConnectionClosedOK, InvalidState
from .protocol import (
    SEND_EOF,
    CloseCode,
    Event,
    Frame,
    Opcode,
    Protocol,
    Request,
    Response,
    State,
)

__all__ = ["Connection", "Data"]

Data = str | bytes
"""A WebSocket message: ``str`` for text, ``bytes`` for binary."""

_MAX_READ = 65536
_NETWORK_ERRORS = (anyio.BrokenResourceError, anyio.ClosedResourceError, OSError)
_DATA_OPCODES = (Opcode.TEXT, Opcode.BINARY, Opcode.CONT)


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


class Connection(anyio.TypedAttributeProvider):
    """A WebSocket connection, shared by :class:`ClientConnection` and
    :class:`ServerConnection`.

    Args:
        protocol: the sans-I/O engine for this connection.
        stream: the byte stream it runs over (TCP, TLS, Unix, in-memory, ...).
        ping_interval: seconds between keepalive pings; ``None`` disables them.
        ping_timeout: seconds to wait for any frame after a keepalive ping
            before closing with 1011; ``None`` waits forever.
        close_timeout: seconds for the closing handshake and the TCP close,
            then the connection is aborted.
        max_queue: high-water mark of incoming frames waiting for the
            application, or ``(high, low)``; reading pauses above it.
            ``None`` means no limit.
        write_limit: high-water mark in bytes of outgoing data not yet handed
            to the network, or ``(high, low)``.
    """

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
        """Round-trip time of the last keepalive ping, in seconds; 0 until one is answered."""

        # Incoming messages: frames not yet taken by the application, and the
        # message being taken (kept here so that a cancelled recv loses nothing).
        self._frames: deque[Frame] = deque()
        self._parts: list[bytes | bytearray | memoryview] = []
        self._part_opcode: Opcode | None = None
        self._message_complete = False
        self._receiving = False
        # Reading: at most one task reads the stream at a time; the others
        # wait for it to report a change.
        self._reading = False
        self._owned = False
        self._changed = anyio.Event()
        self._idle_since = anyio.current_time()
        self._paused = False
        # Sending.
        self._message_lock = anyio.Lock()
        self._write_lock = anyio.Lock()
        self._pending_bytes = 0
        # Pings: payload -> (event set by the pong, time sent, latency box).
        self._pings: dict[bytes, tuple[anyio.Event, float, list[float]]] = {}
        self._keepalive_sent_at: float | None = None
        self._next_ping_at = anyio.current_time() + (ping_interval or 0)
        # Closing.
        self._closing_since: float | None = None
        self._eof_fed = False
        self._stream_closed = False
        self._close_cause: BaseException | None = None
        self._closed = anyio.Event()

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
        """The local address of the socket, or ``None`` for streams that have none."""
        return self._stream.extra(SocketAttribute.local_address, None)

    @property
    def remote_address(self) -> Any:
        """The remote address of the socket, or ``None`` for streams that have none."""
        return self._stream.extra(SocketAttribute.remote_address, None)

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

        Args:
            decode: ``None`` returns text as ``str`` and binary as ``bytes``;
                ``False`` returns text as UTF-8 ``bytes`` (no decoding cost);
                ``True`` decodes binary messages as UTF-8 too.
        Returns:
            The message.
        Raises:
            ConnectionClosedOK: the connection closed normally (1000, 1001).
            ConnectionClosedError: any other closure; ``__cause__`` tells why.
            ConcurrencyError: another task is already receiving.
            UnicodeDecodeError: ``decode=True`` and a binary message is not UTF-8.
        Cancellation:
            Always a checkpoint. Safe: no frame is lost; the message stays
            queued for the next call.
        """
        if self._receiving:
            raise ConcurrencyError("another task is receiving from this connection")
        self._receiving = True
        try:
            await checkpoint()
            await self._wait_until(self._collect_message)
            if not self._message_complete:
                raise self._closed_exc()
            opcode = self._part_opcode
            data = b"".join(self._parts) if len(self._parts) != 1 else bytes(self._parts[0])
            self._parts = []
            self._part_opcode = None
            self._message_complete = False
        finally:
            self._receiving = False
        if decode is None:
            decode = opcode is Opcode.TEXT
        return data.decode() if decode else data

    async def recv_streaming(self, decode: bool | None = None) -> AsyncIterator[Data]:
        """Yield the frames of the next message as they arrive.

        Args:
            decode: as for :meth:`recv`; text is decoded incrementally.
        Raises:
            ConnectionClosedOK: the connection closed normally before the message.
            ConnectionClosedError: any other closure, possibly in the middle of the message.
            ConcurrencyError: another task is already receiving.
        Cancellation:
            Always a checkpoint. Frames already yielded are consumed; if the
            iteration stops before the end of the message, the next call to
            :meth:`recv` or :meth:`recv_streaming` returns its remaining frames
            as one message.
        """
        if self._receiving:
            raise ConcurrencyError("another task is receiving from this connection")
        self._receiving = True
        try:
            await checkpoint()
            await self._wait_until(lambda: bool(self._frames or self._parts) or self._is_closed())
            if not (self._frames or self._parts):
                raise self._closed_exc()
            if self._part_opcode is None:
                self._part_opcode = self._frames[0].opcode
            if decode is None:
                decode = self._part_opcode is Opcode.TEXT
            decoder = codecs.getincrementaldecoder("utf-8")() if decode else None
            if self._parts:
                # A recv() cancelled in the middle of this message took these.
                chunk, self._parts = b"".join(self._parts), []
                yield decoder.decode(chunk) if decoder is not None else chunk
            while True:
                await self._wait_until(lambda: bool(self._frames) or self._is_closed())
                if not self._frames:
                    raise self._closed_exc()
                frame = self._frames.popleft()
                self._notify()
                if frame.fin:
                    self._part_opcode = None
                chunk = bytes(frame.data)
                yield decoder.decode(chunk, frame.fin) if decoder is not None else chunk
                if frame.fin:
                    return
        finally:
            self._receiving = False

    async def __aiter__(self) -> AsyncIterator[Data]:
        """Iterate over incoming messages until the connection closes.

        The iteration ends quietly on a normal closure (1000 or 1001) and
        raises :exc:`ConnectionClosedError` otherwise.

        Cancellation:
            As :meth:`recv`: no message is lost.
        """
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    def _collect_message(self) -> bool:
        """Move frames of the current message out of the queue; True when done.

        Also True when the connection is closed, so that waiters wake up.
        """
        moved = False
        while self._frames and not self._message_complete:
            frame = self._frames.popleft()
            moved = True
            if self._part_opcode is None:
                self._part_opcode = frame.opcode
            self._parts.append(frame.data)
            self._message_complete = frame.fin
        if moved:
            self._notify()  # a reader paused by max_queue may resume
        return self._message_complete or self._is_closed()

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
        fragmented into one frame per item (all items must have the same
        type). ``text=True`` sends bytes as a text frame (they must be UTF-8);
        ``text=False`` sends a ``str`` as binary.

        Waits while more than ``write_limit`` bytes are waiting to be written.

        Raises:
            ConnectionClosed: the connection is closed or closing.
            TypeError: the message has an unsupported type, or fragments of
                different types.
        Cancellation:
            Always a checkpoint. A message is written whole or not at all,
            except a fragmented message cancelled between fragments: the
            connection is then closed with 1011, since the message cannot be
            finished.
        """
        await checkpoint()
        if isinstance(message, str | bytes | bytearray | memoryview):
            async with self._message_lock:
                self._send_frame(message, text, fin=True, first=True)
                await self._flush_user()
            return
        if isinstance(message, Mapping):
            raise TypeError("a mapping is not a message; send its serialization")
        async with self._message_lock:
            await self._send_fragments(message, text)

    async def _send_fragments(
        self, fragments: Iterable[Data] | AsyncIterable[Data], text: bool | None
    ) -> None:
        """Send an (async) iterable as one fragmented message, holding the message lock."""
        iterator: Any
        if isinstance(fragments, AsyncIterable):
            iterator = fragments.__aiter__()

            async def next_fragment() -> Any:
                try:
                    return await iterator.__anext__()
                except StopAsyncIteration:
                    return None

        elif isinstance(fragments, Iterable):
            iterator = iter(fragments)

            async def next_fragment() -> Any:
                return next(iterator, None)

        else:
            raise TypeError(f"message has an unsupported type: {type(fragments).__name__}")

        fragment = await next_fragment()
        if fragment is None:
            return  # nothing to send: an empty iterable sends no message
        kind = str if isinstance(fragment, str) else bytes
        first = True
        try:
            while True:
                upcoming = await next_fragment()
                if upcoming is not None and (isinstance(upcoming, str) != (kind is str)):
                    raise TypeError("all fragments of a message must have the same type")
                self._send_frame(fragment, text, fin=upcoming is None, first=first)
                await self._flush_user()
                if upcoming is None:
                    return
                fragment, first = upcoming, False
        except BaseException:
            if not first and self.protocol.state is State.OPEN:
                # Half a message went out: the connection cannot carry another one.
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "error in fragmented message")
                with anyio.CancelScope(shield=True):
                    await self._flush_quietly()
            raise

    def _send_frame(
        self,
        data: Data | bytearray | memoryview,
        text: bool | None,
        *,
        fin: bool,
        first: bool,
    ) -> None:
        """Hand one frame to the engine."""
        if isinstance(data, str):
            payload: bytes | bytearray | memoryview = data.encode()
            is_text = True if text is None else text
        elif isinstance(data, bytes | bytearray | memoryview):
            payload = data
            is_text = bool(text)
        else:
            raise TypeError(f"message has an unsupported type: {type(data).__name__}")
        try:
            if not first:
                self.protocol.send_continuation(payload, fin=fin)
            elif is_text:
                self.protocol.send_text(payload, fin=fin)
            else:
                self.protocol.send_binary(payload, fin=fin)
        except InvalidState as exc:
            raise self._closed_exc() from exc

    async def ping(self, data: Data | bytes | None = None) -> Awaitable[float]:
        """Send a ping; return an awaitable that waits for the pong.

        ``await (await ws.ping())`` returns the round-trip time in seconds.

        Args:
            data: the payload (at most 125 bytes; ``str`` is encoded as UTF-8);
                by default 4 random bytes.
        Raises:
            ConnectionClosed: the connection is closed or closing.
            ConcurrencyError: a ping with the same payload awaits its pong.
        Cancellation:
            Always a checkpoint; the ping is sent whole or not at all.
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
        try:
            self.protocol.send_ping(data)
        except InvalidState as exc:
            raise self._closed_exc() from exc
        event = anyio.Event()
        box: list[float] = []
        self._pings[data] = (event, anyio.current_time(), box)
        await self._flush_user()
        return _PongWaiter(self, event, box)

    async def _wait_for_pong(self, event: anyio.Event, box: list[float]) -> float:
        """Wait for the pong that sets ``event``; return the round trip."""
        await checkpoint()
        await self._wait_until(lambda: event.is_set() or self._is_closed())
        if not box:
            raise self._closed_exc()
        return box[0]

    async def pong(self, data: Data | bytes = b"") -> None:
        """Send an unsolicited pong, as a one-way heartbeat.

        Raises:
            ConnectionClosed: the connection is closed or closing.
        Cancellation:
            Always a checkpoint; the pong is sent whole or not at all.
        """
        await checkpoint()
        if isinstance(data, str):
            data = data.encode()
        try:
            self.protocol.send_pong(data)
        except InvalidState as exc:
            raise self._closed_exc() from exc
        await self._flush_user()

    # Closing.

    async def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Perform the closing handshake, then close the stream.

        Waits for the peer's close frame and the end of the TCP connection
        for at most ``close_timeout`` seconds, then aborts the connection.
        Closing a closed connection does nothing.

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
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._close_timeout()):
                await self._flush_quietly()
                await self._wait_until(self._is_closed)
            await self._abort()
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
        pings are answered and keepalive runs.

        Cancellation:
            Always a checkpoint; safe.
        """
        await checkpoint()
        await self._wait_until(self._is_closed)

    async def __aenter__(self) -> Connection:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close with 1000 on a normal exit, 1011 when an exception leaves the block.

        Cancellation counts as an exception: the connection closes with 1011.
        """
        await self.close(CloseCode.NORMAL_CLOSURE if exc is None else CloseCode.INTERNAL_ERROR)

    # Internals: reading.

    def _is_closed(self) -> bool:
        return self._stream_closed

    def _closed_exc(self) -> ConnectionClosed:
        exc = self.protocol.close_exc
        if self._close_cause is not None:
            exc.__cause__ = self._close_cause
        return exc

    def _close_timeout(self) -> float:
        return math.inf if self.close_timeout is None else self.close_timeout

    def _notify(self) -> None:
        """Wake up every task waiting for a change."""
        self._changed.set()
        self._changed = anyio.Event()

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        """Return when ``predicate()`` is true, reading the network if no one else does."""
        while not predicate():
            if self._reading or self._owned:
                await self._changed.wait()
                continue
            self._reading = True
            try:
                await self._read_once()
            finally:
                self._reading = False
                self._idle_since = anyio.current_time()
                self._notify()

    async def _run(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Read the network until the connection closes (an owned connection's task)."""
        self._owned = True
        self._reading = True
        task_status.started()
        try:
            while not self._stream_closed:
                await self._read_once()
                self._notify()
        except Exception:
            self.logger.error("connection crashed", exc_info=True)
            await self._abort()
        except BaseException:
            with anyio.CancelScope(shield=True):
                await self._abort()
            raise
        finally:
            self._reading = False
            self._notify()

    def _should_pause(self) -> bool:
        """Apply ``max_queue``: pause above the high mark, resume at the low mark."""
        if self.protocol.state is not State.OPEN:
            self._paused = False
        elif len(self._frames) >= self._queue_high:
            self._paused = True
        elif len(self._frames) <= self._queue_low:
            self._paused = False
        return self._paused

    async def _read_once(self) -> None:
        """Read from the stream once, or run the timers, and handle what came."""
        if self._stream_closed:
            return
        if self._should_pause():
            # Wait for the application to take frames; it notifies when it does.
            await self._changed.wait()
            return
        now = anyio.current_time()
        if self._closing_since is None and self.protocol.state is State.CLOSING:
            self._closing_since = now
        self._shift_keepalive_for_idle_time(now)
        delay = min(self._keepalive_delay(now), self._closing_delay(now))
        data: bytes | None = None
        with anyio.move_on_after(delay):
            try:
                data = await self._stream.receive(_MAX_READ)
            except anyio.EndOfStream:
                data = b""
            except _NETWORK_ERRORS as exc:
                self._close_cause = exc
                data = b""
        if data is None:
            if self._closing_delay(anyio.current_time()) <= 0:
                self.logger.info("closing handshake timed out; aborting the connection")
                await self._abort()
            else:
                await self._keepalive()
            return
        if data:
            self._keepalive_sent_at = None  # any frame is proof of life
            self.protocol.receive_data(data)
        elif not self._eof_fed:
            self._eof_fed = True
            self.protocol.receive_eof()
        await self._process_events()

    async def _process_events(self) -> None:
        """Dispatch the engine's events, then write what it queued."""
        self._dispatch(self.protocol.events_received())
        await self._flush_quietly()
        if self.protocol.state is State.CLOSED:
            await self._abort()

    def _dispatch(self, events: list[Event]) -> None:
        """Queue data frames for the application and match pongs to pings."""
        for event in events:
            if isinstance(event, Frame):
                if event.opcode is Opcode.PONG:
                    self._pong_received(bytes(event.data))
                elif event.opcode in _DATA_OPCODES:
                    self._frames.append(event)

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

    # Internals: keepalive.

    def _keepalive_delay(self, now: float) -> float:
        """Seconds until the keepalive timer needs attention."""
        if self.ping_interval is None or self.protocol.state is not State.OPEN:
            return math.inf
        if self._keepalive_sent_at is not None:
            if self.ping_timeout is None:
                return math.inf
            return max(0.0, self._keepalive_sent_at + self.ping_timeout - now)
        return max(0.0, self._next_ping_at - now)

    def _closing_delay(self, now: float) -> float:
        """Seconds left for the peer to finish closing, once closing started."""
        if self._closing_since is None:
            return math.inf
        return max(0.0, self._closing_since + self._close_timeout() - now)

    def _shift_keepalive_for_idle_time(self, now: float) -> None:
        """Do not count time when no task read the network against the peer."""
        if self._keepalive_sent_at is not None and not self._owned:
            self._keepalive_sent_at += max(
                0.0, now - max(self._idle_since, self._keepalive_sent_at)
            )
            self._idle_since = now

    async def _keepalive(self) -> None:
        """Send a keepalive ping, or fail the connection when the last one went unanswered."""
        if self.ping_interval is None or self.protocol.state is not State.OPEN:
            return
        now = anyio.current_time()
        if self._keepalive_sent_at is not None:
            assert self.ping_timeout is not None
            if now >= self._keepalive_sent_at + self.ping_timeout:
                self.logger.info("no answer to a keepalive ping; closing the connection")
                self.protocol.fail(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
                await self._flush_quietly()
            return
        if now >= self._next_ping_at:
            data = os.urandom(4)
            self._pings[data] = (anyio.Event(), now, [])
            self.protocol.send_ping(data)
            self._keepalive_sent_at = now
            self._next_ping_at = now + self.ping_interval
            await self._flush_quietly()

    # Internals: writing and closing.

    async def _flush_user(self) -> None:
        """Write what the engine queued, for an application call: errors close the connection."""
        try:
            await self._flush()
        except _NETWORK_ERRORS as exc:
            self._close_cause = exc
            with anyio.CancelScope(shield=True):
                await self._abort()
            raise self._closed_exc() from exc

    async def _flush_quietly(self) -> None:
        """Write what the engine queued, for internal work: errors abort the connection."""
        try:
            await self._flush()
        except _NETWORK_ERRORS as exc:
            self._close_cause = self._close_cause or exc
            await self._abort()

    async def _flush(self) -> None:
        """Write the engine's pending bytes in order; an empty chunk half-closes the stream."""
        async with self._write_lock:
            writes = self.protocol.data_to_send()
            if not writes or self._stream_closed:
                return
            eof = writes[-1] == SEND_EOF
            chunks = [chunk for chunk in writes if chunk]
            if chunks:
                data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                self._pending_bytes += len(data)
                try:
                    # A frame is written whole or the connection is lost: never half a frame.
                    with anyio.CancelScope(shield=True):
                        with anyio.move_on_after(self._close_timeout()) as scope:
                            await self._stream.send(data)
                    if scope.cancelled_caught:
                        raise anyio.BrokenResourceError("timed out writing to the network")
                finally:
                    self._pending_bytes -= len(data)
            if eof:
                try:
                    await self._stream.send_eof()
                except (NotImplementedError, *_NETWORK_ERRORS):
                    # TLS cannot half-close: close the whole stream.
                    await self._abort()

    async def _abort(self) -> None:
        """Close the stream at once and mark the connection closed."""
        if self.protocol.state is not State.CLOSED:
            if not self._eof_fed:
                self._eof_fed = True
                self.protocol.receive_eof()
            self.protocol.events_received()
            self.protocol.data_to_send()
            self.protocol.state = State.CLOSED
        if not self._stream_closed:
            self._stream_closed = True
            with anyio.CancelScope(shield=True):
                with anyio.move_on_after(self._close_timeout()):
                    with contextlib.suppress(Exception):  # the stream is gone either way
                        await self._stream.aclose()
            self._closed.set()
            self.logger.info("connection closed")
        self._notify()


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
