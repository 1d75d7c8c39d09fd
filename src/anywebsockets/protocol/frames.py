"""WebSocket frames (RFC 6455, section 5) and close frame payloads (section 5.5.1).

:func:`parse_frame` reads one frame from a receive buffer and
:meth:`Frame.serialize` turns a frame back into bytes. Both sit on the hot path
of every message, so they work on the buffer in place: header fields come from
a table indexed by the first byte, the payload is copied once (and unmasked in
the same pass), and a whole frame is serialized into a single bytes object.

Neither validates what extensions may change: :func:`parse_frame` returns the
RSV bits as they arrived, and the engine calls :meth:`Frame.check` once the
extensions have decoded the frame.
"""

from __future__ import annotations

import codecs
import dataclasses
import enum
import os
import struct
from collections.abc import Iterator

from ..exceptions import PayloadTooBig, ProtocolError
from .utils import apply_mask, concat_masked

__all__ = [
    "CTRL_OPCODES",
    "DATA_OPCODES",
    "OP_BINARY",
    "OP_CLOSE",
    "OP_CONT",
    "OP_PING",
    "OP_PONG",
    "OP_TEXT",
    "Close",
    "CloseCode",
    "Frame",
    "Opcode",
    "parse_frame",
]


class Opcode(enum.IntEnum):
    """Frame opcodes (RFC 6455, section 5.2)."""

    CONT = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


OP_CONT = Opcode.CONT
OP_TEXT = Opcode.TEXT
OP_BINARY = Opcode.BINARY
OP_CLOSE = Opcode.CLOSE
OP_PING = Opcode.PING
OP_PONG = Opcode.PONG

DATA_OPCODES = (OP_CONT, OP_TEXT, OP_BINARY)
CTRL_OPCODES = (OP_CLOSE, OP_PING, OP_PONG)


class CloseCode(enum.IntEnum):
    """Close codes (RFC 6455, section 7.4.1, and the IANA registry)."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    # 1004 is reserved
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


# Human-readable meaning of each known close code, after the IANA registry.
# "[internal]" marks codes that an endpoint reports but never sends.
_CLOSE_CODE_MEANINGS: dict[int, str] = {
    CloseCode.NORMAL_CLOSURE: "OK",
    CloseCode.GOING_AWAY: "going away",
    CloseCode.PROTOCOL_ERROR: "protocol error",
    CloseCode.UNSUPPORTED_DATA: "unsupported data",
    CloseCode.NO_STATUS_RCVD: "no status received [internal]",
    CloseCode.ABNORMAL_CLOSURE: "abnormal closure [internal]",
    CloseCode.INVALID_DATA: "invalid frame payload data",
    CloseCode.POLICY_VIOLATION: "policy violation",
    CloseCode.MESSAGE_TOO_BIG: "message too big",
    CloseCode.MANDATORY_EXTENSION: "mandatory extension",
    CloseCode.INTERNAL_ERROR: "internal error",
    CloseCode.SERVICE_RESTART: "service restart",
    CloseCode.TRY_AGAIN_LATER: "try again later",
    CloseCode.BAD_GATEWAY: "bad gateway",
    CloseCode.TLS_HANDSHAKE: "TLS handshake failure [internal]",
}

# Codes below 3000 that a close frame may carry (section 7.4.1); 1004, 1005,
# 1006 and 1015 are reserved for reporting and never go on the wire.
_WIRE_CLOSE_CODES = frozenset({*range(1000, 1004), *range(1007, 1015)})

# First header byte -> (opcode, fin, rsv1, rsv2, rsv3), or None for the
# reserved opcodes 0x3-0x7 and 0xB-0xF (section 5.2).
_FIRST_BYTE: tuple[tuple[Opcode, bool, bool, bool, bool] | None, ...] = tuple(
    (
        Opcode(byte & 0x0F),
        bool(byte & 0x80),
        bool(byte & 0x40),
        bool(byte & 0x20),
        bool(byte & 0x10),
    )
    if byte & 0x0F in Opcode._value2member_map_
    else None
    for byte in range(256)
)

_unpack_length64 = struct.Struct("!Q").unpack_from
_pack_header = struct.Struct("!BB").pack
_pack_header16 = struct.Struct("!BBH").pack
_pack_header64 = struct.Struct("!BBQ").pack
_pack_masked_header = struct.Struct("!BB4s").pack
_pack_masked_header16 = struct.Struct("!BBH4s").pack
_pack_masked_header64 = struct.Struct("!BBQ4s").pack

# Payloads shorter than this are copied out of a bytearray with a slice, which
# beats creating a memoryview; longer ones through a memoryview, which saves a
# copy.
_VIEW_AT = 1024


# Masking keys (section 5.3) must come from a strong source of entropy.
# os.urandom() costs a system call, longer than the rest of serializing a small
# frame, so keys are drawn 4 bytes at a time from 4 KiB fetched at once. The
# iterator hands out each key in a single C call, so threads never share a
# key, and a forked child starts a fresh pool rather than repeating its
# parent's keys.
_KEY_POOL_SIZE = 4096
_iter_keys = struct.Struct("4s").iter_unpack
_keys: Iterator[tuple[bytes]] = iter(())


def _new_mask_key() -> bytes:
    """Return 4 random bytes for masking a frame."""
    global _keys
    item = next(_keys, None)
    if item is None:
        _keys = keys = _iter_keys(os.urandom(_KEY_POOL_SIZE))
        item = next(keys)
    return item[0]


def _forget_mask_keys() -> None:
    """Drop the pool of masking keys (in a forked child process)."""
    global _keys
    _keys = iter(())


if hasattr(os, "register_at_fork"):  # pragma: no branch  # absent on Windows only
    os.register_at_fork(after_in_child=_forget_mask_keys)


@dataclasses.dataclass(slots=True)
class Frame:
    """One WebSocket frame (RFC 6455, section 5.2).

    The masking bit, the masking key and the payload length are not stored:
    :func:`parse_frame` consumes them and :meth:`serialize` produces them.

    Args:
        opcode: the frame's opcode.
        data: the payload, unmasked.
        fin: False when more frames of the same message follow.
        rsv1: the first reserved bit (permessage-deflate uses it).
        rsv2: the second reserved bit.
        rsv3: the third reserved bit.
    """

    opcode: Opcode
    data: bytes | bytearray | memoryview
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    text: str | None = dataclasses.field(default=None, init=False, repr=False, compare=False)
    """The payload decoded, when the engine decoded it already to check it.

    Set on received text frames that hold a whole message and are not ASCII
    (ASCII needs no decoding to be checked), so that the application's
    decoding is not done twice; ``None`` otherwise.
    """

    def __str__(self) -> str:
        """Describe the frame in one line for debug logs.

        For example ``TEXT 'Hello' [5 bytes]`` or ``BINARY 00 ff [2 bytes, continued]``.
        Text is shown decoded and binary data in hexadecimal; a long payload is
        cut in the middle so that the preview stays around 75 characters.
        """
        size = len(_flat(self.data))
        meta = f"{size} byte" if size == 1 else f"{size} bytes"
        if not self.fin:
            meta += ", continued"
        return f"{self.opcode.name} {_preview(self)} [{meta}]"

    def check(self) -> None:
        """Check the rules that hold once extensions have decoded the frame.

        Raises:
            ProtocolError: a reserved bit is set (section 5.2), or a control
                frame is fragmented or carries more than 125 bytes (section 5.5).
        """
        if self.rsv1 or self.rsv2 or self.rsv3:
            raise ProtocolError("reserved bits must be 0")
        if self.opcode & 0x08:
            if len(_flat(self.data)) > 125:
                raise ProtocolError("control frame too long")
            if not self.fin:
                raise ProtocolError("fragmented control frame")

    def serialize(self, *, mask: bool) -> bytes:
        """Return the frame as it goes on the wire (section 5.2).

        The frame is not checked: call :meth:`check` before extensions encode
        it. The shortest length encoding is always used.

        Args:
            mask: True on the client side: mask the payload with a new random
                key (section 5.3).
        Returns:
            Header, masking key and payload, in one bytes object.
        """
        data = self.data
        if isinstance(data, memoryview):
            data = _flat(data)
        length = len(data)
        if mask:
            first = self._first_byte()
            key = _new_mask_key()
            if length < 126:
                header = _pack_masked_header(first, 0x80 | length, key)
            elif length < 65536:
                header = _pack_masked_header16(first, 0xFE, length, key)
            else:
                header = _pack_masked_header64(first, 0xFF, length, key)
            return concat_masked(header, data, key)
        return self._unmasked_header(length) + data

    def _first_byte(self) -> int:
        return (
            (0x80 if self.fin else 0)
            | (0x40 if self.rsv1 else 0)
            | (0x20 if self.rsv2 else 0)
            | (0x10 if self.rsv3 else 0)
            | self.opcode
        )

    def _unmasked_header(self, length: int) -> bytes:
        """The header of the frame unmasked, for a payload of ``length`` bytes."""
        first = self._first_byte()
        if length < 126:
            return _pack_header(first, length)
        if length < 65536:
            return _pack_header16(first, 126, length)
        return _pack_header64(first, 127, length)


def parse_frame(
    buf: bytes | bytearray, pos: int, *, mask: bool, max_size: int | None
) -> tuple[Frame, int] | None:
    """Parse the frame that starts at ``buf[pos]`` (RFC 6455, section 5.2).

    Errors in the header are raised as soon as the header is complete, before
    the payload arrives. RSV bits are returned as they are: the extensions
    negotiated on the connection give them a meaning, and :meth:`Frame.check`
    rejects those left set. Like ``websockets``, lengths written with more
    bytes than needed (say, 5 in the 16-bit form) are accepted: section 5.2
    requires the minimal form but does not ask the receiver to enforce it.

    ``max_size`` applies to data frames only. Control frames are bounded by
    the 125 bytes of section 5.5 and may arrive between the fragments of a
    message, where ``max_size`` is usually what is left of the message's
    budget: a ping must not fail a message that still fits.

    Args:
        buf: the receive buffer; it is not modified.
        pos: where the frame starts in ``buf``.
        mask: True on the server side: frames must be masked; False on the
            client side: frames must not be masked (section 5.1).
        max_size: the largest payload accepted, or None for no limit.
    Returns:
        The frame, with its payload unmasked in a new bytes object, and the
        position just past it; or None when ``buf`` does not hold the whole
        frame yet.
    Raises:
        ProtocolError: the opcode is reserved, the masking bit is wrong, the
            64-bit length has its most significant bit set, or a control frame
            is fragmented or longer than 125 bytes.
        PayloadTooBig: the payload of a data frame is longer than ``max_size``.
    """
    available = len(buf) - pos
    if available < 2:
        return None
    first = buf[pos]
    second = buf[pos + 1]
    fields = _FIRST_BYTE[first]
    if fields is None:
        raise ProtocolError(f"invalid opcode: {first & 0x0F:#x}")
    if second & 0x80:
        if not mask:
            raise ProtocolError("incorrect masking: a server must not mask its frames")
    elif mask:
        raise ProtocolError("incorrect masking: a client must mask its frames")
    if (first & 0x88) == 0x08:  # control opcode without FIN
        raise ProtocolError("fragmented control frame")

    length = second & 0x7F
    start = pos + 2
    if length == 126:
        if available < 4:
            return None
        length = buf[start] << 8 | buf[start + 1]
        start += 2
    elif length == 127:
        if available < 10:
            return None
        (length,) = _unpack_length64(buf, start)
        if length >> 63:
            raise ProtocolError("invalid frame length: most significant bit set")
        start += 8
    if first & 0x08:
        if length > 125:
            raise ProtocolError("control frame too long")
    elif max_size is not None and length > max_size:
        raise PayloadTooBig(length, max_size)

    if mask:
        end = start + 4 + length
        if len(buf) < end:
            return None
        key = buf[start : start + 4]
        if length < _VIEW_AT:
            data = apply_mask(buf[start + 4 : end], key)
        else:
            data = apply_mask(memoryview(buf)[start + 4 : end], key)
    else:
        end = start + length
        if len(buf) < end:
            return None
        if type(buf) is bytes:
            data = buf[start:end]
        elif length < _VIEW_AT:
            data = bytes(buf[start:end])
        else:
            data = bytes(memoryview(buf)[start:end])
    opcode, fin, rsv1, rsv2, rsv3 = fields
    return Frame(opcode, data, fin, rsv1, rsv2, rsv3), end


@dataclasses.dataclass(slots=True)
class Close:
    """The payload of a close frame: a close code and a reason (RFC 6455, section 5.5.1).

    Args:
        code: the close code (section 7.4).
        reason: the reason, which travels UTF-8 encoded.
    """

    code: int
    reason: str

    def __str__(self) -> str:
        """Describe the code, its meaning and the reason, as in ``1000 (OK) bye``."""
        if 3000 <= self.code < 4000:
            meaning = "registered"
        elif 4000 <= self.code < 5000:
            meaning = "private use"
        else:
            meaning = _CLOSE_CODE_MEANINGS.get(self.code, "unknown")
        if self.reason:
            return f"{self.code} ({meaning}) {self.reason}"
        return f"{self.code} ({meaning})"

    @classmethod
    def parse(cls, data: bytes | bytearray | memoryview) -> Close:
        """Parse the payload of a close frame.

        An empty payload means that the peer gave no code: it becomes 1005
        (section 7.1.5).

        Args:
            data: the payload of the close frame.
        Returns:
            The close code and reason.
        Raises:
            ProtocolError: the payload is 1 byte long, or the code may not be
                sent in a close frame.
            UnicodeDecodeError: the reason is not valid UTF-8 (section 5.5.1);
                the engine closes the connection with 1007 (section 8.1).
        """
        if len(data) >= 2:
            close = cls(data[0] << 8 | data[1], bytes(data[2:]).decode("utf-8"))
            close.check()
            return close
        if not data:
            return cls(CloseCode.NO_STATUS_RCVD, "")
        raise ProtocolError("close frame too short")

    def serialize(self) -> bytes:
        """Return the payload of a close frame carrying this code and reason.

        Returns:
            The code on two bytes, then the UTF-8 encoded reason.
        Raises:
            ProtocolError: the code may not be sent in a close frame.
        """
        self.check()
        return self.code.to_bytes(2, "big") + self.reason.encode("utf-8")

    def check(self) -> None:
        """Check that the code may be sent in a close frame (section 7.4).

        Allowed: 1000-1003 and 1007-1014 (defined by the RFC and the IANA
        registry) and 3000-4999 (registered and private use).

        Raises:
            ProtocolError: the code is not allowed on the wire.
        """
        code = self.code
        if code not in _WIRE_CLOSE_CODES and not 3000 <= code < 5000:
            raise ProtocolError(f"invalid close code: {code}")


# Debug previews: at most this many characters, cut in the middle when longer.
_PREVIEW_SIZE = 75
_PREVIEW_HEAD = 48
_PREVIEW_TAIL = _PREVIEW_SIZE - _PREVIEW_HEAD - 3
# Payloads longer than this are sampled: enough bytes for the head and the
# tail of the preview, even with 4-byte UTF-8 characters.
_SAMPLE_HEAD = 4 * _PREVIEW_HEAD
_SAMPLE_TAIL = 4 * _PREVIEW_TAIL
# Whitespace that does not make a payload look binary.
_WHITESPACE = str.maketrans("\t\n\r", "   ")


def _flat(data: bytes | bytearray | memoryview) -> bytes | bytearray | memoryview:
    """Return ``data`` with one item per byte: memoryviews of other formats or
    shapes become flat byte views (or copies, when not contiguous)."""
    if isinstance(data, memoryview):
        return data.cast("B") if data.c_contiguous else data.tobytes()
    return data


def _preview(frame: Frame) -> str:
    """Return a short rendering of a frame's payload for :meth:`Frame.__str__`."""
    data = _flat(frame.data)
    if not data:
        return "''"
    if frame.opcode is OP_CLOSE:
        try:
            return _shorten(str(Close.parse(data)))
        except (ProtocolError, UnicodeDecodeError):
            pass  # malformed: show the bytes
    if len(data) > _SAMPLE_HEAD + _SAMPLE_TAIL:
        samples = [bytes(data[:_SAMPLE_HEAD]), bytes(data[-_SAMPLE_TAIL:])]
    else:
        samples = [bytes(data)]
    texts = _as_text(frame.opcode, samples)
    rendered = [sample.hex(" ") for sample in samples] if texts is None else texts
    if len(rendered) == 1:
        return _shorten(rendered[0])
    return f"{rendered[0][:_PREVIEW_HEAD]}...{rendered[1][-_PREVIEW_TAIL:]}"


def _as_text(opcode: Opcode, samples: list[bytes]) -> list[str] | None:
    """Render payload samples as quoted text, or return None if they look binary.

    Text frames are always text (invalid bytes shown as U+FFFD); continuation
    and ping or pong frames are text when they decode cleanly into printable
    characters; other frames are binary.
    """
    if opcode is OP_TEXT:
        errors = "replace"
    elif opcode is OP_CONT or opcode is OP_PING or opcode is OP_PONG:
        errors = "strict"
    else:
        return None
    texts = []
    for sample in samples:
        # A sample may start or end inside a character: a fragment boundary or
        # a cut made for the preview. Skip the partial character at the start;
        # a non-final decode leaves out the one at the end.
        skip = 0
        while skip < 3 and skip < len(sample) and sample[skip] & 0xC0 == 0x80:
            skip += 1
        try:
            text = codecs.getincrementaldecoder("utf-8")(errors).decode(sample[skip:])
        except UnicodeDecodeError:
            return None
        if not text:  # only pieces of characters: nothing to show as text
            return None
        if errors == "strict" and not text.translate(_WHITESPACE).isprintable():
            return None
        texts.append(repr(text))
    return texts


def _shorten(text: str) -> str:
    """Cut the middle of ``text`` when it is longer than the preview size."""
    if len(text) <= _PREVIEW_SIZE:
        return text
    return f"{text[:_PREVIEW_HEAD]}...{text[-_PREVIEW_TAIL:]}"
