"""The interfaces between the engine and WebSocket extensions (RFC 6455, section 9).

An extension is agreed on during the opening handshake through the
``Sec-WebSocket-Extensions`` header, then it transforms the frames of one
connection. Three roles take part:

- a :class:`ClientExtensionFactory` writes the client's offer and checks the
  server's answer;
- a :class:`ServerExtensionFactory` reads an offer and writes the answer;
- either factory returns an :class:`Extension`, the per-connection object
  that encodes outgoing frames and decodes incoming ones.

The engine encodes outgoing frames through the extensions in the order they
were negotiated and decodes incoming frames in the reverse order.

These are base classes: every method raises :exc:`NotImplementedError` and a
concrete extension overrides all of them. This module performs no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from .frames import Frame

__all__ = [
    "ClientExtensionFactory",
    "Extension",
    "ExtensionName",
    "ExtensionParameter",
    "ServerExtensionFactory",
]

ExtensionName: TypeAlias = str
"""The token that names an extension in ``Sec-WebSocket-Extensions``."""

ExtensionParameter: TypeAlias = tuple[str, str | None]
"""One extension parameter: its name, and its value or ``None`` when it has none."""


class Extension:
    """One extension as agreed for one connection.

    An instance may keep state from frame to frame (a compression context,
    for example), so it serves a single connection.
    """

    name: ExtensionName
    """The extension's token, as it appears in the handshake."""

    def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
        """Undo the extension's transformation on a frame received from the peer.

        Args:
            frame: the incoming frame, as parsed or as returned by the
                extension negotiated after this one.
            max_size: how many bytes of payload the decoded frame may hold
                at most; ``None`` means no limit.

        Returns:
            The decoded frame.

        Raises:
            PayloadTooBig: decoding would produce more than ``max_size`` bytes.
            ProtocolError: the frame breaks the extension's rules.
        """
        raise NotImplementedError

    def encode(self, frame: Frame) -> Frame:
        """Apply the extension's transformation to a frame about to be sent.

        Args:
            frame: the outgoing frame, as built by the engine or as returned
                by the extension negotiated before this one.

        Returns:
            The encoded frame.
        """
        raise NotImplementedError


class ClientExtensionFactory:
    """The client's side of the negotiation of one extension."""

    name: ExtensionName
    """The extension's token, as it appears in the handshake."""

    def get_request_params(self) -> Sequence[ExtensionParameter]:
        """Return the parameters to offer to the server for this extension.

        Returns:
            The parameters, in the order they go into the request header.
        """
        raise NotImplementedError

    def process_response_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> Extension:
        """Check the server's answer to our offer and build the extension.

        Args:
            params: the parameters the server sent back for this extension.
            accepted_extensions: the extensions already accepted earlier in
                the same response header.

        Returns:
            The extension to use on the connection.

        Raises:
            NegotiationError: the answer is not acceptable; the handshake fails.
        """
        raise NotImplementedError


class ServerExtensionFactory:
    """The server's side of the negotiation of one extension."""

    name: ExtensionName
    """The extension's token, as it appears in the handshake."""

    def process_request_params(
        self,
        params: Sequence[ExtensionParameter],
        accepted_extensions: Sequence[Extension],
    ) -> tuple[list[ExtensionParameter], Extension]:
        """Answer one offer of this extension made by the client.

        Args:
            params: the parameters of the offer.
            accepted_extensions: the extensions already accepted from
                earlier offers in the same request.

        Returns:
            The parameters to put in the response for this extension, and the
            extension to use on the connection.

        Raises:
            NegotiationError: the offer is declined; the server may accept
                another offer, or go on without this extension.
        """
        raise NotImplementedError
