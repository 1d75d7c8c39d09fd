"""The WebSocket connection state machine, shared by clients and servers.

A :class:`Protocol` turns bytes received from the network into events
(:meth:`Protocol.receive_data`, :meth:`Protocol.events_received`) and calls
made by the application into bytes to send (``send_*``,
:meth:`Protocol.data_to_send`). It performs no I/O and reads no clock: the
caller owns the socket and the timers.

Failures are mapped to close codes in one place, :meth:`Protocol._receive_frames`:

=================================  ==========
``ProtocolError``                  1002
``UnicodeDecodeError``             1007
``PayloadTooBig``                  1009
anything else (a bug)              1011
=================================  ==========
"""

from __future__ import annotations

import codecs
import enum
import logging
import uuid
from collections.abc import Generator

from ..exceptions import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from .extensions import Extension
from .frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    CloseCode,
    Frame,
    parse_frame,
)
from .http11 import Request, Response
from .streams import StreamReader

__all__ = ["Side", "State", "Event", "Protocol", "SEND_EOF", "OK_CLOSE_CODES"]


class Side(enum.IntEnum):
    """Which end of the connection a :class:`Protocol` plays."""

    SERVER = 0
    CLIENT = 1


class State(enum.IntEnum):
    """The state of a WebSocket connection (RFC 6455, sections 4 and 7)."""

    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


Event = Request | Response | Frame

MaxSize = int | tuple[int | None, int | None] | None
"""``max_size``: a message limit, or a ``(message, fragment)`` pair of limits."""
"""What :meth:`Protocol.events_received` returns."""

SEND_EOF = b""
"""The item of :meth:`Protocol.data_to_send` that asks to half-close the connection."""

OK_CLOSE_CODES = frozenset(
    {CloseCode.NORMAL_CLOSURE, CloseCode.GOING_AWAY, CloseCode.NO_STATUS_RCVD}
)
"""Close codes that end a connection normally (``ConnectionClosedOK``)."""

_UTF8Decoder = codecs.getincrementaldecoder("utf-8")


_MAX_CLOSE_REASON = 123  # a close frame's payload is at most 125 bytes, code included
# Unmasked payloads of this size or more are queued apart from their header:
# copying them behind it costs more than writing a second piece.
_SEPARATE_PAYLOAD_AT = 65536


def _truncate(text: str, size: int) -> str:
    """Cut ``text`` to at most ``size`` bytes of UTF-8, on a character boundary."""
    data = text.encode()
    if len(data) <= size:
        return text
    return data[:size].decode(errors="ignore")


def _deflate_bound(size: int) -> int:
    """Largest payload that compressing ``size`` bytes may produce, whatever the settings."""
    # zlib's deflateBound() for non-default parameters: a peer with a small
    # memLevel (websockets uses 5) emits a stored block every 2**(memLevel + 6)
    # bytes, up to 4% overhead for memLevel 1; zlib's generic bound covers them all.
    return size + ((size + 7) >> 3) + ((size + 63) >> 6) + 5 + 64


class Protocol:
    """Sans-I/O WebSocket connection: the part shared by clients and servers.

    Args:
        side: :attr:`Side.CLIENT` or :attr:`Side.SERVER`.
        state: the initial state; :attr:`State.OPEN` skips the opening handshake
            (for a connection whose handshake happened elsewhere).
        max_size: the largest incoming message, in bytes, after decompression;
            ``None`` disables the limit. A ``(message, fragment)`` pair also
            limits each frame of a message (either may be ``None``), for
            peers that send long messages in short fragments.
        logger: where to log; by default ``anywebsockets.client`` or
            ``anywebsockets.server``.
    """

    # Slots, not a __dict__ per connection (1.6 KiB with this many attributes).
    # Subclasses keep a __dict__ for their own attributes.
    __slots__ = (
        "__weakref__",
        "_buffer",
        "_decoder",
        "_discarding",
        "_eof_rcvd",
        "_handshake",
        "_message_size",
        "_sending_fragments",
        "close_rcvd",
        "close_rcvd_then_sent",
        "close_sent",
        "debug",
        "eof_sent",
        "events",
        "extensions",
        "handshake_exc",
        "id",
        "logger",
        "max_fragment_size",
        "max_size",
        "reader",
        "side",
        "state",
        "subprotocol",
        "writes",
    )

    def __init__(
        self,
        side: Side,
        *,
        state: State = State.OPEN,
        max_size: MaxSize = 2**20,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.id = uuid.uuid4()
        """Unique identifier of the connection, useful in logs."""
        if logger is None:
            logger = logging.getLogger(f"anywebsockets.{side.name.lower()}")
        self.logger = logger
        """Logger of this connection."""
        self.debug = logger.isEnabledFor(logging.DEBUG)
        self.side = side
        self.state = state
        if isinstance(max_size, tuple):
            self.max_size, self.max_fragment_size = max_size
        else:
            self.max_size, self.max_fragment_size = max_size, None
        """The largest message, and the largest frame, accepted (``None``: no limit)."""

        self.extensions: list[Extension] = []
        """Extensions negotiated in the opening handshake."""
        self.subprotocol: str | None = None
        """Subprotocol negotiated in the opening handshake."""
        self.handshake_exc: Exception | None = None
        """Why the opening handshake failed, if it did."""

        self.close_rcvd: Close | None = None
        self.close_sent: Close | None = None
        self.close_rcvd_then_sent: bool | None = None
        self.eof_sent = False

        self.events: list[Event] = []
        self.writes: list[bytes] = []

        # Opening handshake: a generator parser over a StreamReader.
        self.reader = StreamReader()
        self._handshake: Generator[None, None, None] | None = None
        # Frames: a byte buffer parsed in place.
        self._buffer = bytearray()
        self._eof_rcvd = False
        self._discarding = False
        # Incoming message being reassembled (None between messages).
        self._message_size: int | None = None
        self._decoder: codecs.IncrementalDecoder | None = None
        # Outgoing message being fragmented.
        self._sending_fragments = False

    # Public attributes.

    @property
    def close_code(self) -> int | None:
        """Close code received from the peer, once the connection is closed.

        ``None`` while the connection is open; 1006 when it ended without a
        close frame.
        """
        if self.state is not State.CLOSED:
            return None
        if self.close_rcvd is None:
            return CloseCode.ABNORMAL_CLOSURE
        return self.close_rcvd.code

    @property
    def close_reason(self) -> str | None:
        """Close reason received from the peer, once the connection is closed."""
        if self.state is not State.CLOSED:
            return None
        if self.close_rcvd is None:
            return ""
        return self.close_rcvd.reason

    @property
    def close_exc(self) -> ConnectionClosed:
        """The exception to raise when the application uses a closed connection.

        :exc:`ConnectionClosedOK` when both close frames carry 1000, 1001 or
        no code; :exc:`ConnectionClosedError` otherwise.
        """
        exc_type: type[ConnectionClosed] = ConnectionClosedError
        if (
            self.close_rcvd is not None
            and self.close_sent is not None
            and self.close_rcvd.code in OK_CLOSE_CODES
            and self.close_sent.code in OK_CLOSE_CODES
        ):
            exc_type = ConnectionClosedOK
        return exc_type(self.close_rcvd, self.close_sent, self.close_rcvd_then_sent)

    # Receiving.

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Feed bytes received from the network.

        Then call :meth:`events_received` for the events they completed and
        :meth:`data_to_send` for the bytes to write back (pongs, close frames,
        handshake error responses).

        Raises:
            EOFError: :meth:`receive_eof` was called already.
        """
        if self._eof_rcvd:
            raise EOFError("stream ended")
        if self._discarding:
            return
        if self._handshake is not None:
            self.reader.feed_data(data)
            self._step_handshake()
        else:
            self._buffer += data
            if self.state is not State.CONNECTING:
                self._receive_frames()

    def receive_eof(self) -> None:
        """Record that the peer closed its side of the connection.

        Then call :meth:`events_received` and :meth:`data_to_send`; the
        latter may end with :data:`SEND_EOF`.

        Raises:
            EOFError: :meth:`receive_eof` was called already.
        """
        if self._eof_rcvd:
            raise EOFError("stream ended")
        self._eof_rcvd = True
        if self._handshake is not None:
            self.reader.feed_eof()
            self._step_handshake()
            return
        if self.state is State.CONNECTING:
            # The server has the request but had not answered it yet.
            return
        if self.state is not State.CLOSED and self.close_rcvd is None and self.debug:
            self.logger.debug("< EOF before the closing handshake")
        self.state = State.CLOSED
        # A client echoes the server's end of stream to finish the TCP close.
        if self.side is Side.CLIENT and not self.eof_sent:
            self.send_eof()
        self._discard()

    def events_received(self) -> list[Event]:
        """Return the events completed since the last call, and forget them."""
        events, self.events = self.events, []
        return events

    def data_to_send(self) -> list[bytes]:
        """Return the bytes to write to the network, and forget them.

        An empty bytes object, :data:`SEND_EOF`, asks the caller to
        half-close the connection (or close it, on a transport that cannot
        half-close).
        """
        writes, self.writes = self.writes, []
        return writes

    def close_expected(self) -> bool:
        """Tell whether the peer should close the TCP connection soon.

        When it returns ``True``, the caller should wait for the end of the
        stream for at most its close timeout, then abort the connection.
        """
        return self.state is State.CLOSING or self.handshake_exc is not None

    # Sending.

    def send_text(self, data: bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a text frame: the first frame of a message, or the only one.

        Args:
            data: the text, encoded as UTF-8.
            fin: False when continuation frames follow.
        Raises:
            InvalidState: the connection is not open.
            ProtocolError: a fragmented message is being sent already.
        """
        self._start_message(fin)
        self._send_frame(Frame(OP_TEXT, data, fin))

    def send_binary(self, data: bytes | bytearray | memoryview, fin: bool = True) -> None:
        """Send a binary frame: the first frame of a message, or the only one.

        Raises:
            InvalidState: the connection is not open.
            ProtocolError: a fragmented message is being sent already.
        """
        self._start_message(fin)
        self._send_frame(Frame(OP_BINARY, data, fin))

    def send_continuation(self, data: bytes | bytearray | memoryview, fin: bool) -> None:
        """Send a continuation frame of a fragmented message.

        Raises:
            InvalidState: the connection is not open.
            ProtocolError: no fragmented message is being sent.
        """
        self._check_open()
        if not self._sending_fragments:
            raise ProtocolError("unexpected continuation frame")
        self._sending_fragments = not fin
        self._send_frame(Frame(OP_CONT, data, fin))

    def send_close(self, code: int | None = None, reason: str = "") -> None:
        """Start the closing handshake.

        Args:
            code: the close code; ``None`` sends a close frame without payload.
            reason: the close reason; must be empty when ``code`` is ``None``.
        Raises:
            InvalidState: the connection is not open.
            ProtocolError: the code is not valid, or a reason has no code.
        """
        self._check_open()
        if code is None:
            if reason:
                raise ProtocolError("cannot send a reason without a code")
            close = Close(CloseCode.NO_STATUS_RCVD, "")
            data = b""
        else:
            close = Close(code, reason)
            data = close.serialize()
        self._send_frame(Frame(OP_CLOSE, data))
        self.close_sent = close
        self.state = State.CLOSING

    def send_ping(self, data: bytes | bytearray | memoryview) -> None:
        """Send a ping; allowed while open and during the closing handshake.

        Raises:
            InvalidState: the connection is not open or closing.
        """
        self._check_control()
        self._send_frame(Frame(OP_PING, data))

    def send_pong(self, data: bytes | bytearray | memoryview) -> None:
        """Send a pong; allowed while open and during the closing handshake.

        Raises:
            InvalidState: the connection is not open or closing.
        """
        self._check_control()
        self._send_frame(Frame(OP_PONG, data))

    def fail(self, code: int, reason: str = "") -> None:
        """Fail the WebSocket connection (RFC 6455, section 7.1.7).

        Sends a close frame with ``code`` unless one was sent already or
        ``code`` is 1006 (the network failed: nothing can be sent). A server
        then closes the TCP connection; a client waits for the server to.
        Incoming data is ignored from now on.

        Raises:
            ProtocolError: ``code`` may not be sent.
        """
        if self.state is State.OPEN and code != CloseCode.ABNORMAL_CLOSURE:
            close = Close(code, _truncate(reason, _MAX_CLOSE_REASON))
            self._send_frame(Frame(OP_CLOSE, close.serialize()))
            self.close_sent = close
            if self.close_rcvd is not None:
                self.close_rcvd_then_sent = True
            self.state = State.CLOSING
        if self.side is Side.SERVER and not self.eof_sent:
            self.send_eof()
        self._discard()

    def send_eof(self) -> None:
        """Ask the caller to half-close the connection.

        Raises:
            EOFError: it was asked already.
        """
        if self.eof_sent:
            raise EOFError("end of stream already sent")
        self.eof_sent = True
        self.writes.append(SEND_EOF)

    # Internals: receiving frames.

    def _discard(self) -> None:
        """Stop parsing: everything received from now on is ignored."""
        self._discarding = True
        self._handshake = None
        self.reader.discard()
        self._buffer = bytearray()

    def _step_handshake(self) -> None:
        """Run the handshake parser as far as the buffered bytes allow."""
        assert self._handshake is not None
        try:
            next(self._handshake)
        except StopIteration:
            self._handshake = None
            if not self._discarding:
                self._buffer += self.reader.buffer
                self.reader.discard()
                if self.state is State.OPEN and self._buffer:
                    self._receive_frames()

    def _budget(self) -> int | None:
        """The largest payload the next data frame may carry once decoded."""
        fragment = self.max_fragment_size
        if self.max_size is None:
            return fragment
        budget = self.max_size - (self._message_size or 0)
        return budget if fragment is None else min(budget, fragment)

    def _frame_limit(self) -> int | None:
        """The largest payload the next data frame may carry on the wire."""
        budget = self._budget()
        if budget is None:
            return None
        return _deflate_bound(budget) if self.extensions else budget

    def _receive_frames(self) -> None:
        """Parse and handle every complete frame in the buffer."""
        buffer = self._buffer
        pos = 0
        mask = self.side is Side.SERVER
        try:
            while True:
                parsed = parse_frame(buffer, pos, mask=mask, max_size=self._frame_limit())
                if parsed is None:
                    break
                frame, pos = parsed
                self._receive_frame(frame)
        except ProtocolError as exc:
            self.fail(CloseCode.PROTOCOL_ERROR, str(exc))
        except UnicodeDecodeError as exc:
            self.fail(CloseCode.INVALID_DATA, f"{exc.reason} at position {exc.start}")
        except PayloadTooBig as exc:
            if exc.current_size is None:
                self._explain(exc)
            self.fail(CloseCode.MESSAGE_TOO_BIG, str(exc))
        except Exception as exc:
            self.logger.error("unexpected error while parsing frames", exc_info=True)
            self.fail(CloseCode.INTERNAL_ERROR, type(exc).__name__)
        if not self._discarding:
            del buffer[:pos]

    def _explain(self, exc: PayloadTooBig) -> None:
        """Name the limit a frame broke: its own, or what was left of the message's."""
        fragment = self.max_fragment_size
        if fragment is not None and (
            self.max_size is None or fragment < self.max_size - (self._message_size or 0)
        ):
            exc.max_size = fragment
        else:
            exc.set_current_size(self._message_size or 0)
            exc.max_size = self.max_size

    def _receive_frame(self, frame: Frame) -> None:
        """Check one frame, decode it through the extensions, and act on it."""
        if self.close_rcvd is not None:
            raise ProtocolError("data after the close frame")
        opcode = frame.opcode
        if opcode is OP_TEXT or opcode is OP_BINARY:
            if self._message_size is not None:
                raise ProtocolError("expected a continuation frame")
            self._message_size = 0
            self._decoder = _UTF8Decoder() if opcode is OP_TEXT and not frame.fin else None
        elif opcode is OP_CONT and self._message_size is None:
            raise ProtocolError("unexpected continuation frame")

        if self.extensions:
            budget = self._budget()
            for extension in reversed(self.extensions):
                frame = extension.decode(frame, max_size=budget)
        frame.check()
        if self.debug:
            self.logger.debug("< %s", frame)

        if self._message_size is not None and opcode in (OP_TEXT, OP_BINARY, OP_CONT):
            self._receive_data_frame(frame)
        elif opcode is OP_PING:
            if self.close_sent is None:
                self.send_pong(frame.data)
        elif opcode is OP_CLOSE:
            self._receive_close(frame)
        self.events.append(frame)

    def _receive_data_frame(self, frame: Frame) -> None:
        """Enforce ``max_size`` and UTF-8 validity on a data frame."""
        assert self._message_size is not None
        length = len(frame.data)
        size = self._message_size + length
        if self.max_fragment_size is not None and length > self.max_fragment_size:
            raise PayloadTooBig(length, self.max_fragment_size)
        if self.max_size is not None and size > self.max_size:
            raise PayloadTooBig(length, self.max_size, self._message_size)
        if self._decoder is not None:
            # Fragmented text: fail on the first invalid sequence, not at the end.
            self._decoder.decode(frame.data, frame.fin)
        elif frame.opcode is OP_TEXT:
            # A whole message: ASCII is valid UTF-8, checked without decoding;
            # otherwise the decoded text is kept for the application.
            data = frame.data
            if not (isinstance(data, bytes | bytearray) and data.isascii()):
                frame.text = codecs.utf_8_decode(data, "strict", True)[0]
        if frame.fin:
            self._message_size = None
            self._decoder = None
        else:
            self._message_size = size

    def _receive_close(self, frame: Frame) -> None:
        """Handle the peer's close frame (RFC 6455, section 5.5.1)."""
        self.close_rcvd = Close.parse(bytes(frame.data))
        if self.state is State.CLOSING:
            self.close_rcvd_then_sent = False
        else:
            # Echo the code (none when the peer sent none).
            data = b"" if self.close_rcvd.code == CloseCode.NO_STATUS_RCVD else frame.data
            self._send_frame(Frame(OP_CLOSE, data))
            self.close_sent = self.close_rcvd
            self.close_rcvd_then_sent = True
            self.state = State.CLOSING
        if self.side is Side.SERVER:
            self.send_eof()
        # Nothing may follow a close frame; stop reassembling.
        self._message_size = None
        self._decoder = None

    # Internals: sending frames.

    def _check_open(self) -> None:
        if self.state is not State.OPEN:
            raise InvalidState(f"connection is {self.state.name.lower()}")

    def _check_control(self) -> None:
        if self.state is not State.OPEN and self.state is not State.CLOSING:
            raise InvalidState(f"connection is {self.state.name.lower()}")

    def _start_message(self, fin: bool) -> None:
        self._check_open()
        if self._sending_fragments:
            raise ProtocolError("expected a continuation frame")
        self._sending_fragments = not fin

    def _send_frame(self, frame: Frame) -> None:
        """Encode a frame through the extensions and queue its bytes."""
        if frame.opcode >= OP_CLOSE:
            frame.check()  # control frames: at most 125 bytes (RFC 6455 5.5)
        if self.debug:
            self.logger.debug("> %s", frame)
        for extension in self.extensions:
            frame = extension.encode(frame)
        data = frame.data
        if (
            self.side is Side.SERVER
            and isinstance(data, bytes)
            and len(data) >= _SEPARATE_PAYLOAD_AT
        ):
            # A large payload goes out as it is, after its header, rather than
            # copied behind it: the driver writes the two pieces in turn. Only
            # bytes: the application may reuse a mutable buffer.
            self.writes += (frame._unmasked_header(len(data)), data)
        else:
            self.writes.append(frame.serialize(mask=self.side is Side.CLIENT))

    # Internals: sending handshake messages.

    def _send_handshake(self, data: bytes) -> None:
        """Queue an HTTP message of the opening handshake."""
        self.writes.append(data)

    def _fail_handshake(self, exc: Exception) -> None:
        """Record a failed opening handshake and ask to close the connection."""
        self.handshake_exc = exc
        self.send_eof()
        self._discard()
