"""The sans-I/O WebSocket engine: bytes in, events out; calls in, bytes out.

Nothing in this package performs I/O, reads a clock or imports an event loop,
so it serves any I/O framework. :class:`ClientProtocol` and
:class:`ServerProtocol` are the entry points; see the guide for the loop that
drives them.
"""

from __future__ import annotations

from .client import ClientProtocol
from .extensions import ClientExtensionFactory, Extension, ServerExtensionFactory
from .frames import Close, CloseCode, Frame, Opcode, parse_frame
from .headers import Headers, MultipleValuesError
from .http11 import Request, Response
from .permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)
from .protocol import SEND_EOF, Event, Protocol, Side, State
from .server import ServerProtocol
from .streams import StreamReader
from .uri import WebSocketURI, parse_uri

__all__ = [
    "ClientProtocol",
    "ServerProtocol",
    "Protocol",
    "Side",
    "State",
    "Event",
    "SEND_EOF",
    "Frame",
    "Close",
    "Opcode",
    "CloseCode",
    "parse_frame",
    "Request",
    "Response",
    "Headers",
    "MultipleValuesError",
    "Extension",
    "ClientExtensionFactory",
    "ServerExtensionFactory",
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
    "StreamReader",
    "WebSocketURI",
    "parse_uri",
]
