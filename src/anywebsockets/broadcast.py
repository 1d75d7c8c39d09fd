"""Sending one message to many connections at once, never waiting on any of them."""

from __future__ import annotations

import errno
from collections.abc import Iterable

from anyio.lowlevel import checkpoint

from .connection import Connection
from .exceptions import ConcurrencyError, ConnectionClosed
from .protocol import Frame, Opcode, Side, State

__all__ = ["broadcast"]


async def broadcast(
    connections: Iterable[Connection],
    message: str | bytes | bytearray | memoryview,
    *,
    text: bool | None = None,
    raise_exceptions: bool = False,
) -> None:
    """Send a message to many connections, server or client side, without waiting.

    The message is encoded once for all the connections that can share its
    bytes (uncompressed server connections); the others (compressed ones,
    client ones, which mask each frame) encode it through their own engine.
    Then each connection writes it in the background: ``broadcast`` returns
    without waiting for any network write, so a slow or dead peer does not
    delay the others, and the messages of successive calls reach each
    connection in order, after what it was sent before.

    A connection is skipped for this message when it is not open (closing
    or closed), when it is in the middle of sending a fragmented message (a
    frame cannot be slipped between its fragments), or when its outgoing
    buffer (bytes being written plus bytes queued) is above the high mark of
    its ``write_limit``: a peer that stops reading costs at most that much
    memory. Each skip is logged at WARNING through the connection's logger,
    or collected when ``raise_exceptions`` is true.

    Who writes: a connection owned by a task group (a server's connections,
    ``async with connect()``) writes in a task of that group. A connection
    from ``ws = await connect()`` has no task of its own: the task that
    reads it (such as one waiting in ``recv()``) writes the message first;
    if no task uses the connection, the message goes out with the next call
    on it (``send``, ``recv``, ``close``, ...).

    Args:
        connections: the connections; each is used once, in this order.
        message: ``str`` is sent as a text message, a bytes-like object as a
            binary message.
        text: ``True`` sends bytes as text (they must be UTF-8), ``False``
            sends a ``str`` as binary; ``None`` follows the type.
        raise_exceptions: raise the skips together at the end instead of
            logging them.
    Raises:
        TypeError: the message is neither ``str`` nor bytes-like.
        ExceptionGroup: only with ``raise_exceptions=True``, after the message
            went to every other connection: one exception per skipped
            connection, with a note naming its ``id``:
            :exc:`ConnectionClosed` (closing or closed),
            :exc:`ConcurrencyError` (sending a fragmented message),
            :exc:`BlockingIOError` (outgoing buffer above ``write_limit``).
    Cancellation:
        A checkpoint before anything is sent; past it, nothing waits, so the
        message is queued for every connection or for none.
    """
    if isinstance(message, str):
        payload = message.encode()
        opcode = Opcode.BINARY if text is False else Opcode.TEXT
    elif isinstance(message, bytes | bytearray | memoryview):
        payload = message if isinstance(message, bytes) else bytes(message)
        opcode = Opcode.TEXT if text else Opcode.BINARY
    else:
        raise TypeError(f"message must be str or bytes-like, not {type(message).__name__}")
    await checkpoint()

    shared: bytes | None = None  # the frame as uncompressed server connections send it
    skipped: list[Exception] = []
    for connection in list(connections):
        reason = _skip_reason(connection)
        if reason is not None:
            if raise_exceptions:
                reason.add_note(f"connection id: {connection.id}")
                skipped.append(reason)
            elif isinstance(reason, ConnectionClosed):
                state = connection.protocol.state.name.lower()
                connection.logger.warning("skipped broadcast: connection is %s", state)
            else:
                why = reason.strerror if isinstance(reason, OSError) else str(reason)
                connection.logger.warning("skipped broadcast: %s", why)
            continue
        encoded = None
        if connection.protocol.side is Side.SERVER and not connection.protocol.extensions:
            if shared is None:
                shared = Frame(opcode, payload).serialize(mask=False)
            encoded = shared
        connection._send_nowait(opcode, payload, encoded)
    if skipped:
        raise ExceptionGroup("skipped broadcast", skipped)


def _skip_reason(connection: Connection) -> Exception | None:
    """Return why ``connection`` cannot take a broadcast message now, or ``None``."""
    if connection.protocol.state is not State.OPEN:
        return connection._closed_exc()
    if connection._sending_fragments():
        return ConcurrencyError("sending a fragmented message")
    size, high = connection._outgoing_size(), connection.write_limit[0]
    if size > high:
        return BlockingIOError(
            errno.EAGAIN, f"outgoing buffer above write_limit ({size} > {high} bytes)"
        )
    return None
