"""The permessage-deflate extension (RFC 7692).

Each data message is compressed on its own with DEFLATE (RFC 1951); the
first frame of a compressed message carries the RSV1 bit. Four parameters,
agreed on during the handshake, shape the compression contexts:

- ``server_no_context_takeover`` / ``client_no_context_takeover``: that side
  starts every message from an empty LZ77 window instead of keeping the
  window of its previous messages;
- ``server_max_window_bits`` / ``client_max_window_bits``: the base-2
  logarithm of the largest LZ77 window that side compresses with, from 8 to
  15; the receiving side sizes its decompressor accordingly.

Memory per connection is about ``2 ** (bits + 2) + 2 ** (memLevel + 9)``
bytes for a compressor and ``2 ** bits`` bytes for a decompressor.
:func:`enable_client_permessage_deflate` and
:func:`enable_server_permessage_deflate` add the defaults that
``compression="deflate"`` stands for. This module performs no I/O.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

from ..exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from .extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionName,
    ExtensionParameter,
    ServerExtensionFactory,
)
from .frames import CTRL_OPCODES, Frame, Opcode

__all__ = [
    "ClientPerMessageDeflateFactory",
    "PerMessageDeflate",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

_NAME: ExtensionName = "permessage-deflate"

# A sync flush ends with an empty stored block whose LEN and NLEN fields are
# these four bytes. The sender removes them from the end of each message and
# the receiver puts them back (RFC 7692, sections 7.2.1 and 7.2.2).
_TAIL = b"\x00\x00\xff\xff"

# The only spellings of a window size RFC 7692 allows (section 7.1.2): a
# decimal integer from 8 to 15 without leading zeros.
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}

# Settings a caller must not choose: the window comes from the negotiation,
# and a preset dictionary would be unknown to the peer.
_RESERVED_SETTINGS = ("wbits", "zdict")


def _check_window_bits(
    name: str, value: object, *, allow_none: bool = True, allow_true: bool = False
) -> None:
    """Raise ValueError unless ``value`` is a window size, or an allowed None or True."""
    if (allow_none and value is None) or (allow_true and value is True):
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 8 <= value <= 15:
        raise ValueError(f"{name} must be an integer from 8 to 15, got {value!r}")


def _check_compress_settings(settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a copy of the zlib compressor settings after checking them.

    Raises:
        ValueError: a setting is reserved or zlib refuses the settings.
    """
    if settings is None:
        return {}
    checked = dict(settings)
    for key in _RESERVED_SETTINGS:
        if key in checked:
            raise ValueError(f"compress_settings must not include {key}")
    try:
        zlib.compressobj(**checked)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"invalid compress_settings: {exc}") from exc
    return checked


def _new_compressor(bits: int, settings: Mapping[str, Any]) -> zlib._Compress:
    """Return a raw deflate compressor whose matches stay within ``2 ** bits`` bytes."""
    # zlib refuses a raw deflate window of 8 bits. A 9-bit compressor is a safe
    # stand-in: zlib (like zlib-ng) never emits a match more than the window
    # size minus 262 bytes back, which is 250 bytes for a 512-byte window, and
    # that is within reach of a peer whose decompressor keeps 256 bytes.
    return zlib.compressobj(wbits=-max(bits, 9), **settings)


def _check_end_of_stream(extra: bytes, fin: bool) -> None:
    """Check what follows a DEFLATE block with BFINAL set (RFC 7692, section 7.2.3.4).

    A peer may end a message with a final block, then the header of an
    empty stored block so that the four bytes we append complete it. That
    header is three bits, either in the final block's last byte or in a byte
    of its own; nothing else may follow.

    Args:
        extra: the bytes after the end of the stream, ours appended included.
        fin: whether the frame ends the message.

    Raises:
        ProtocolError: something else follows the end of the stream.
    """
    if fin and extra.endswith(_TAIL):
        extra = extra[:-4]
    if len(extra) > 1 or (extra and extra[0] & 0x07):
        raise ProtocolError("data after the end of the compressed stream")


class PerMessageDeflate(Extension):
    """The permessage-deflate extension as agreed for one connection.

    "Remote" parameters describe how the peer compresses, "local" ones how
    we do. Every outgoing data message is compressed. An incoming message is
    inflated when its first frame has RSV1 set and passes through otherwise.

    The decompressor only exists while a compressed message is being
    received when the peer resets its context after each message, and the
    compressor only while a message is being sent when we do; otherwise each
    lives as long as the connection.

    Args:
        remote_no_context_takeover: the peer starts each message with an
            empty window.
        local_no_context_takeover: we start each message with an empty window.
        remote_max_window_bits: the peer's window size, from 8 to 15.
        local_max_window_bits: our window size, from 8 to 15.
        compress_settings: extra keyword arguments for :func:`zlib.compressobj`
            such as ``level`` or ``memLevel``; not ``wbits`` nor ``zdict``.

    Raises:
        ValueError: a window size is out of range or a setting is refused.
    """

    name = _NAME

    def __init__(
        self,
        remote_no_context_takeover: bool,
        local_no_context_takeover: bool,
        remote_max_window_bits: int,
        local_max_window_bits: int,
        compress_settings: Mapping[str, Any] | None = None,
    ) -> None:
        _check_window_bits("remote_max_window_bits", remote_max_window_bits, allow_none=False)
        _check_window_bits("local_max_window_bits", local_max_window_bits, allow_none=False)
        self.remote_no_context_takeover = remote_no_context_takeover
        self.local_no_context_takeover = local_no_context_takeover
        self.remote_max_window_bits = remote_max_window_bits
        self.local_max_window_bits = local_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self._decoder: zlib._Decompress | None = None
        self._encoder: zlib._Compress | None = None
        # True between the first and the last frame of a compressed incoming
        # message; outgoing messages need no such flag since all are compressed.
        self._decoding = False

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}("
            f"remote_no_context_takeover={self.remote_no_context_takeover}, "
            f"local_no_context_takeover={self.local_no_context_takeover}, "
            f"remote_max_window_bits={self.remote_max_window_bits}, "
            f"local_max_window_bits={self.local_max_window_bits})"
        )

    def __str__(self) -> str:
        def side(bits: int, no_context_takeover: bool) -> str:
            takeover = "no context takeover" if no_context_takeover else "context takeover"
            return f"{bits}-bit window, {takeover}"

        remote = side(self.remote_max_window_bits, self.remote_no_context_takeover)
        local = side(self.local_max_window_bits, self.local_no_context_takeover)
        return f"{self.name} (remote: {remote}; local: {local})"

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Inflate a data frame of a compressed message; return other frames as they are.

        The first frame of a message decides: with RSV1 set, it and its
        continuation frames are inflated and come back with RSV1 cleared;
        without, the whole message passes through. Control frames always
        pass through, and so does any reserved bit left for the engine to
        check. Inflating stops one byte past ``max_size``, so a small frame
        that would inflate to gigabytes costs no more memory than a message
        that fits.

        A message may end with a DEFLATE block that has BFINAL set (RFC 7692,
        section 7.2.3.4). The next message then starts a new stream with an
        empty window: if it refers back to earlier messages, decoding fails
        with :exc:`ProtocolError` rather than producing wrong data.

        Args:
            frame: an incoming frame.
            max_size: how many bytes the inflated payload may hold, ``None``
                for no limit; the engine passes what is left of the
                message's budget.

        Returns:
            The frame with its payload inflated, or ``frame`` itself.

        Raises:
            PayloadTooBig: the inflated payload exceeds ``max_size``.
            ProtocolError: RSV1 is set on a continuation frame of a compressed
                message, the payload is not valid DEFLATE data, it refers
                back past what the agreed window kept, or data follows the
                end of the DEFLATE stream within a message.
        """
        if frame.opcode == Opcode.CONT:
            if not self._decoding:
                return frame
            if frame.rsv1:
                raise ProtocolError("RSV1 set on a continuation frame")
        elif frame.opcode in CTRL_OPCODES or not frame.rsv1:
            return frame
        else:
            self._decoding = True
        decoder = self._decoder
        if decoder is None:
            decoder = self._decoder = zlib.decompressobj(wbits=-self.remote_max_window_bits)

        data = frame.data
        if frame.fin:
            data = b"".join((data, _TAIL))
        try:
            # One byte more than the budget tells "too big" from "exactly full".
            output = decoder.decompress(data, 0 if max_size is None else max_size + 1)
        except zlib.error as exc:
            raise ProtocolError(f"invalid compressed data: {exc}") from exc
        if max_size is not None and len(output) > max_size:
            raise PayloadTooBig(None, max_size)
        if decoder.eof:
            _check_end_of_stream(decoder.unused_data, frame.fin)

        if frame.fin:
            self._decoding = False
            # After a final block, the next message needs a new decompressor.
            if self.remote_no_context_takeover or decoder.eof:
                self._decoder = None
        # Built directly: dataclasses.replace() costs several times more.
        return Frame(frame.opcode, output, frame.fin, False, frame.rsv2, frame.rsv3)

    def encode(self, frame: Frame) -> Frame:
        """Compress a data frame; return control frames as they are.

        Every data message is compressed: its first frame gets RSV1, each
        frame ends with a sync flush so the peer can inflate it at once, and
        the last frame drops the four bytes the peer appends back.

        Args:
            frame: an outgoing frame.

        Returns:
            The frame with its payload compressed, or ``frame`` itself.
        """
        if frame.opcode in CTRL_OPCODES:
            return frame
        encoder = self._encoder
        if encoder is None:
            encoder = self._encoder = _new_compressor(
                self.local_max_window_bits, self.compress_settings
            )
        data = encoder.compress(frame.data) + encoder.flush(zlib.Z_SYNC_FLUSH)
        if frame.fin:
            data = data[:-4]
            if self.local_no_context_takeover:
                self._encoder = None
        first = frame.opcode != Opcode.CONT
        return Frame(frame.opcode, data, frame.fin, first, frame.rsv2, frame.rsv3)


class _Params(NamedTuple):
    """The four parameters of one offer or one answer."""

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    # True stands for client_max_window_bits without a value, only in offers.
    client_max_window_bits: int | Literal[True] | None = None


def _parse_params(params: Sequence[ExtensionParameter], *, offer: bool) -> _Params:
    """Read the parameters of an offer (``offer=True``) or of an answer.

    Raises:
        InvalidParameterName: a parameter is unknown.
        DuplicateParameter: a parameter appears twice.
        InvalidParameterValue: a parameter has a wrong value or lacks one.
    """
    # Flags are stored as True; client_max_window_bits without a value too.
    found: dict[str, int] = {}
    for name, value in params:
        if name in found:
            raise DuplicateParameter(name)
        if name in ("server_no_context_takeover", "client_no_context_takeover"):
            if value is not None:
                raise InvalidParameterValue(name, value)
            found[name] = True
        elif name in ("server_max_window_bits", "client_max_window_bits"):
            if value is not None and value in _WINDOW_BITS:
                found[name] = _WINDOW_BITS[value]
            elif value is None and offer and name == "client_max_window_bits":
                found[name] = True
            else:
                raise InvalidParameterValue(name, value)
        else:
            raise InvalidParameterName(name)
    return _Params(
        "server_no_context_takeover" in found,
        "client_no_context_takeover" in found,
        found.get("server_max_window_bits"),
        found.get("client_max_window_bits"),
    )


def _build_params(params: _Params) -> list[ExtensionParameter]:
    """Return the parameters of an offer or an answer in the header's form."""
    result: list[ExtensionParameter] = []
    if params.server_no_context_takeover:
        result.append(("server_no_context_takeover", None))
    if params.client_no_context_takeover:
        result.append(("client_no_context_takeover", None))
    if params.server_max_window_bits is not None:
        result.append(("server_max_window_bits", str(params.server_max_window_bits)))
    if params.client_max_window_bits is True:
        result.append(("client_max_window_bits", None))
    elif params.client_max_window_bits is not None:
        result.append(("client_max_window_bits", str(params.client_max_window_bits)))
    return result


class ClientPerMessageDeflateFactory(ClientExtensionFactory):
    """Offers permessage-deflate from the client (RFC 7692, section 7.1).

    Each argument becomes the parameter of the same name in the offer.

    Args:
        server_no_context_takeover: ask the server to start each message
            with an empty window; an answer without it is refused.
        client_no_context_takeover: start each of our messages with an
            empty window, and tell the server so.
        server_max_window_bits: ask the server to use at most this window,
            from 8 to 15; an answer without it or above it is refused.
        client_max_window_bits: ``True`` to let the server choose our window,
            a number from 8 to 15 to also cap it ourselves, ``None`` to keep
            the full 15-bit window.
        compress_settings: extra keyword arguments for :func:`zlib.compressobj`
            such as ``level`` or ``memLevel``; not ``wbits`` nor ``zdict``.

    Raises:
        ValueError: a window size is out of range or a setting is refused.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | Literal[True] | None = True,
        compress_settings: Mapping[str, Any] | None = None,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits, allow_true=True)
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits})"
        )

    def get_request_params(self) -> list[ExtensionParameter]:
        """Return the parameters of our offer, in the order of RFC 7692, section 7.1.

        Returns:
            The parameters.
        """
        return _build_params(
            _Params(
                self.server_no_context_takeover,
                self.client_no_context_takeover,
                self.server_max_window_bits,
                self.client_max_window_bits,
            )
        )

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> PerMessageDeflate:
        """Check the server's answer against our offer (RFC 7692, section 7.1).

        The server may add ``server_no_context_takeover``,
        ``client_no_context_takeover`` or ``server_max_window_bits`` on its
        own; it must keep what we asked of it, and may send
        ``client_max_window_bits`` only if we offered it.

        Args:
            params: the parameters of the answer.
            accepted_extensions: the extensions accepted before this one.

        Returns:
            The extension for the connection.

        Raises:
            NegotiationError: permessage-deflate was already accepted, or the
                answer does not fit the offer.
            InvalidParameterName: the answer has an unknown parameter.
            DuplicateParameter: the answer repeats a parameter.
            InvalidParameterValue: the answer has a wrong value.
        """
        if any(extension.name == self.name for extension in accepted_extensions):
            raise NegotiationError(f"server accepted {self.name} twice")
        answer = _parse_params(params, offer=False)
        server_bits = answer.server_max_window_bits
        client_bits = answer.client_max_window_bits

        if self.server_no_context_takeover and not answer.server_no_context_takeover:
            raise NegotiationError("server did not accept server_no_context_takeover")
        if self.server_max_window_bits is not None and (
            server_bits is None or server_bits > self.server_max_window_bits
        ):
            raise NegotiationError(
                f"server_max_window_bits={server_bits} in the answer does not fit "
                f"server_max_window_bits={self.server_max_window_bits} in the offer"
            )
        if client_bits is None:
            if self.client_max_window_bits is not True:
                client_bits = self.client_max_window_bits
        elif self.client_max_window_bits is None:
            raise NegotiationError("server sent client_max_window_bits, which was not offered")
        elif self.client_max_window_bits is not True and client_bits > self.client_max_window_bits:
            raise NegotiationError(
                f"client_max_window_bits={client_bits} in the answer exceeds "
                f"client_max_window_bits={self.client_max_window_bits} in the offer"
            )

        return PerMessageDeflate(
            remote_no_context_takeover=answer.server_no_context_takeover,
            local_no_context_takeover=(
                answer.client_no_context_takeover or self.client_no_context_takeover
            ),
            remote_max_window_bits=server_bits or 15,
            local_max_window_bits=client_bits or 15,
            compress_settings=self.compress_settings,
        )


class ServerPerMessageDeflateFactory(ServerExtensionFactory):
    """Accepts permessage-deflate offers on the server (RFC 7692, section 7.1).

    What the client asks for is granted; the arguments add requirements of
    our own to the answer.

    Args:
        server_no_context_takeover: start each of our messages with an
            empty window.
        client_no_context_takeover: require the client to start each of its
            messages with an empty window.
        server_max_window_bits: use at most this window, from 8 to 15.
        client_max_window_bits: cap the client's window at this size, from 8
            to 15, when the client's offer lets us.
        compress_settings: extra keyword arguments for :func:`zlib.compressobj`
            such as ``level`` or ``memLevel``; not ``wbits`` nor ``zdict``.
        require_client_max_window_bits: decline offers that do not let us
            cap the client's window, instead of accepting them with a
            15-bit window; needs ``client_max_window_bits``.

    Raises:
        ValueError: a window size is out of range, a setting is refused, or
            ``require_client_max_window_bits`` comes without
            ``client_max_window_bits``.
    """

    name = _NAME

    def __init__(
        self,
        server_no_context_takeover: bool = False,
        client_no_context_takeover: bool = False,
        server_max_window_bits: int | None = None,
        client_max_window_bits: int | None = None,
        compress_settings: Mapping[str, Any] | None = None,
        require_client_max_window_bits: bool = False,
    ) -> None:
        _check_window_bits("server_max_window_bits", server_max_window_bits)
        _check_window_bits("client_max_window_bits", client_max_window_bits)
        if require_client_max_window_bits and client_max_window_bits is None:
            raise ValueError("require_client_max_window_bits needs client_max_window_bits")
        self.server_no_context_takeover = server_no_context_takeover
        self.client_no_context_takeover = client_no_context_takeover
        self.server_max_window_bits = server_max_window_bits
        self.client_max_window_bits = client_max_window_bits
        self.compress_settings = _check_compress_settings(compress_settings)
        self.require_client_max_window_bits = require_client_max_window_bits

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}("
            f"server_no_context_takeover={self.server_no_context_takeover}, "
            f"client_no_context_takeover={self.client_no_context_takeover}, "
            f"server_max_window_bits={self.server_max_window_bits}, "
            f"client_max_window_bits={self.client_max_window_bits}, "
            f"require_client_max_window_bits={self.require_client_max_window_bits})"
        )

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], PerMessageDeflate]:
        """Answer one permessage-deflate offer (RFC 7692, sections 7.1.1 and 7.1.2).

        Context takeover is disabled on a side when the offer or our
        configuration asks for it. Our window is the smaller of the one the
        offer asks for and ours. The client's window is capped at ours if
        the offer has ``client_max_window_bits``, at the offer's value if it
        has one, and left at 15 bits if the offer does not mention it.

        Args:
            params: the parameters of the offer.
            accepted_extensions: the extensions accepted from earlier offers.

        Returns:
            The parameters of the answer and the extension for the connection.

        Raises:
            NegotiationError: permessage-deflate was already accepted, or the
                offer does not allow ``require_client_max_window_bits``.
            InvalidParameterName: the offer has an unknown parameter.
            DuplicateParameter: the offer repeats a parameter.
            InvalidParameterValue: the offer has a wrong value.
        """
        if any(extension.name == self.name for extension in accepted_extensions):
            raise NegotiationError(f"declined a second {self.name} offer")
        offer = _parse_params(params, offer=True)

        server_bits = offer.server_max_window_bits
        if self.server_max_window_bits is not None and (
            server_bits is None or server_bits > self.server_max_window_bits
        ):
            server_bits = self.server_max_window_bits

        client_bits = offer.client_max_window_bits
        if client_bits is None:
            if self.require_client_max_window_bits:
                raise NegotiationError("offer does not allow a client_max_window_bits")
        elif self.client_max_window_bits is None:
            if client_bits is True:
                client_bits = None
        elif client_bits is True or client_bits > self.client_max_window_bits:
            client_bits = self.client_max_window_bits

        answer = _Params(
            offer.server_no_context_takeover or self.server_no_context_takeover,
            offer.client_no_context_takeover or self.client_no_context_takeover,
            server_bits,
            client_bits,
        )
        extension = PerMessageDeflate(
            remote_no_context_takeover=answer.client_no_context_takeover,
            local_no_context_takeover=answer.server_no_context_takeover,
            remote_max_window_bits=client_bits or 15,
            local_max_window_bits=server_bits or 15,
            compress_settings=self.compress_settings,
        )
        return _build_params(answer), extension


def enable_client_permessage_deflate(
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory]:
    """Return the client's extensions with permessage-deflate added if missing.

    This is what ``compression="deflate"`` does. The added factory lets the
    server choose our window and compresses with ``memLevel=5``. A
    permessage-deflate factory already present is kept as it is.

    Args:
        extensions: the factories configured by the user, if any.

    Returns:
        A new list of factories.
    """
    result = list(extensions or ())
    if not any(factory.name == _NAME for factory in result):
        result.append(ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}))
    return result


def enable_server_permessage_deflate(
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory]:
    """Return the server's extensions with permessage-deflate added if missing.

    This is what ``compression="deflate"`` does. The added factory uses
    12-bit windows on both sides where the client allows it and
    ``memLevel=5``: about 64 KiB per connection. A permessage-deflate factory
    already present is kept as it is.

    Args:
        extensions: the factories configured by the user, if any.

    Returns:
        A new list of factories.
    """
    result = list(extensions or ())
    if not any(factory.name == _NAME for factory in result):
        result.append(
            ServerPerMessageDeflateFactory(
                server_max_window_bits=12,
                client_max_window_bits=12,
                compress_settings={"memLevel": 5},
            )
        )
    return result
