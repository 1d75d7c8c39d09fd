"""Exceptions raised by anywebsockets.

The hierarchy::

    WebSocketException
    ├── ConnectionClosed
    │   ├── ConnectionClosedOK
    │   └── ConnectionClosedError
    ├── InvalidURI
    ├── InvalidProxy
    ├── InvalidHandshake
    │   ├── SecurityError
    │   │   ├── RequestLineTooLong
    │   │   ├── StatusLineTooLong
    │   │   ├── HeaderLineTooLong
    │   │   └── TooManyHeaders
    │   ├── ProxyError
    │   │   ├── InvalidProxyMessage
    │   │   └── InvalidProxyStatus
    │   ├── InvalidMessage
    │   ├── InvalidMethod
    │   ├── InvalidProtocol
    │   ├── InvalidStatus
    │   ├── InvalidHeader
    │   │   ├── InvalidHeaderFormat
    │   │   ├── InvalidHeaderValue
    │   │   ├── InvalidOrigin
    │   │   └── InvalidUpgrade
    │   └── NegotiationError
    │       ├── DuplicateParameter
    │       ├── InvalidParameterName
    │       └── InvalidParameterValue
    ├── ProtocolError
    ├── PayloadTooBig
    ├── InvalidState
    └── ConcurrencyError

Exceptions keep their context in attributes and build their message in
``__str__``. This module performs no I/O and imports nothing that does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .protocol.frames import Close
    from .protocol.http11 import Response

__all__ = [
    "WebSocketException",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidURI",
    "InvalidProxy",
    "InvalidHandshake",
    "SecurityError",
    "RequestLineTooLong",
    "StatusLineTooLong",
    "HeaderLineTooLong",
    "TooManyHeaders",
    "ProxyError",
    "InvalidProxyMessage",
    "InvalidProxyStatus",
    "InvalidMessage",
    "InvalidMethod",
    "InvalidProtocol",
    "InvalidStatus",
    "InvalidHeader",
    "InvalidHeaderFormat",
    "InvalidHeaderValue",
    "InvalidOrigin",
    "InvalidUpgrade",
    "NegotiationError",
    "DuplicateParameter",
    "InvalidParameterName",
    "InvalidParameterValue",
    "ProtocolError",
    "PayloadTooBig",
    "InvalidState",
    "ConcurrencyError",
]


class WebSocketException(Exception):
    """Base class for every exception that anywebsockets raises."""


class ConnectionClosed(WebSocketException):
    """Raised when using a connection that is closed or closing.

    Args:
        rcvd: the close frame received from the peer, if any.
        sent: the close frame sent to the peer, if any.
        rcvd_then_sent: when both frames exist, whether the peer's frame came
            first (the peer started the closing handshake).
    """

    def __init__(
        self,
        rcvd: Close | None,
        sent: Close | None,
        rcvd_then_sent: bool | None = None,
    ) -> None:
        self.rcvd = rcvd
        self.sent = sent
        self.rcvd_then_sent = rcvd_then_sent
        # rcvd_then_sent is meaningful exactly when both frames exist.
        assert (self.rcvd_then_sent is None) == (self.rcvd is None or self.sent is None)

    def __str__(self) -> str:
        if self.rcvd is None:
            if self.sent is None:
                return "no close frame received or sent"
            return f"sent {self.sent}; no close frame received"
        if self.sent is None:
            return f"received {self.rcvd}; no close frame sent"
        if self.rcvd_then_sent:
            return f"received {self.rcvd}; then sent {self.sent}"
        return f"sent {self.sent}; then received {self.rcvd}"


class ConnectionClosedOK(ConnectionClosed):
    """The connection ended normally: close code 1000 or 1001 both ways."""


class ConnectionClosedError(ConnectionClosed):
    """The connection ended with an error, or without a closing handshake."""


class InvalidURI(WebSocketException):
    """A URI is not a valid WebSocket URI.

    Args:
        uri: the offending URI.
        msg: why it was refused.
    """

    def __init__(self, uri: str, msg: str) -> None:
        self.uri = uri
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.uri} is not a valid WebSocket URI: {self.msg}"


class InvalidProxy(WebSocketException):
    """A proxy URL is not valid.

    Args:
        proxy: the offending proxy URL.
        msg: why it was refused.
    """

    def __init__(self, proxy: str, msg: str) -> None:
        self.proxy = proxy
        self.msg = msg

    def __str__(self) -> str:
        return f"{self.proxy} is not a valid proxy: {self.msg}"


class InvalidHandshake(WebSocketException):
    """The opening handshake failed."""


class SecurityError(InvalidHandshake):
    """The peer exceeded a limit set to protect against abuse, or a security
    rule was broken (such as a redirect from ``wss://`` to ``ws://``)."""


class RequestLineTooLong(SecurityError):
    """The HTTP request line is longer than the limit."""

    def __str__(self) -> str:
        return "request line too long"


class StatusLineTooLong(SecurityError):
    """The HTTP status line is longer than the limit."""

    def __str__(self) -> str:
        return "status line too long"


class HeaderLineTooLong(SecurityError):
    """An HTTP header line is longer than the limit."""

    def __str__(self) -> str:
        return "header line too long"


class TooManyHeaders(SecurityError):
    """An HTTP message has more headers than the limit."""

    def __str__(self) -> str:
        return "too many HTTP headers"


class ProxyError(InvalidHandshake):
    """Connecting through a proxy failed."""


class InvalidProxyMessage(ProxyError):
    """The proxy sent a malformed HTTP response."""


class InvalidProxyStatus(ProxyError):
    """The proxy refused the connection.

    Args:
        response: the proxy's HTTP response.
    """

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"proxy refused the connection: HTTP {self.response.status_code:d}"


class InvalidMessage(InvalidHandshake):
    """The handshake request or response is malformed."""


class InvalidMethod(InvalidHandshake):
    """The handshake request does not use the GET method.

    Args:
        method: the method the request used.
    """

    def __init__(self, method: str) -> None:
        self.method = method

    def __str__(self) -> str:
        return f"unsupported HTTP method: {self.method}"


class InvalidProtocol(InvalidHandshake):
    """The handshake request does not use HTTP/1.1.

    Args:
        protocol: the protocol version the request used.
    """

    def __init__(self, protocol: str) -> None:
        self.protocol = protocol

    def __str__(self) -> str:
        return f"unsupported HTTP version: {self.protocol}"


class InvalidStatus(InvalidHandshake):
    """The server answered the handshake with a status other than 101.

    Args:
        response: the server's HTTP response, body included.
    """

    def __init__(self, response: Response) -> None:
        self.response = response

    def __str__(self) -> str:
        return f"server rejected WebSocket connection: HTTP {self.response.status_code:d}"


class InvalidHeader(InvalidHandshake):
    """An HTTP header is missing or has a wrong value.

    Args:
        name: the header's name.
        value: its value, or ``None`` when it is missing.
    """

    def __init__(self, name: str, value: str | None = None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing {self.name} header"
        if self.value == "":
            return f"empty {self.name} header"
        return f"invalid {self.name} header: {self.value}"


class InvalidHeaderFormat(InvalidHeader):
    """An HTTP header could not be parsed.

    Args:
        name: the header's name.
        error: what the parser expected.
        header: the header's value.
        pos: where in the value the parser stopped.
    """

    def __init__(self, name: str, error: str, header: str, pos: int) -> None:
        super().__init__(name, f"{error} at {pos} in {header}")
        self.error = error
        self.header = header
        self.pos = pos


class InvalidHeaderValue(InvalidHeader):
    """An HTTP header has a value that is well-formed but not acceptable."""


class InvalidOrigin(InvalidHeader):
    """The ``Origin`` header of a request is not allowed.

    Args:
        origin: the ``Origin`` header's value, or ``None`` when it is missing.
    """

    def __init__(self, origin: str | None) -> None:
        super().__init__("Origin", origin)


class InvalidUpgrade(InvalidHeader):
    """The ``Upgrade`` or ``Connection`` header does not ask for a WebSocket."""


class NegotiationError(InvalidHandshake):
    """Negotiating an extension or a subprotocol failed."""


class DuplicateParameter(NegotiationError):
    """An extension parameter appears twice.

    Args:
        name: the parameter's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"duplicate parameter: {self.name}"


class InvalidParameterName(NegotiationError):
    """An extension parameter is unknown.

    Args:
        name: the parameter's name.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def __str__(self) -> str:
        return f"invalid parameter name: {self.name}"


class InvalidParameterValue(NegotiationError):
    """An extension parameter has a wrong value.

    Args:
        name: the parameter's name.
        value: its value, or ``None`` when it has none.
    """

    def __init__(self, name: str, value: str | None) -> None:
        self.name = name
        self.value = value

    def __str__(self) -> str:
        if self.value is None:
            return f"missing value for parameter {self.name}"
        if self.value == "":
            return f"empty value for parameter {self.name}"
        return f"invalid value for parameter {self.name}: {self.value}"


class ProtocolError(WebSocketException):
    """The peer, or the local code, broke the WebSocket protocol.

    The sans-I/O engine raises it for invalid frames; the connection closes
    with code 1002.
    """


class PayloadTooBig(WebSocketException):
    """A message is larger than ``max_size``.

    Args:
        size: the size of the frame or message that broke the limit, when
            known before reading it.
        max_size: the limit.
        current_size: how much of the message had been received before.
    """

    def __init__(
        self,
        size: int | None,
        max_size: int | None = None,
        current_size: int | None = None,
    ) -> None:
        self.size = size
        self.max_size = max_size
        self.current_size: int | None = None
        if current_size is not None:
            self.set_current_size(current_size)

    def __str__(self) -> str:
        if self.size is None:
            text = "frame exceeds limit"
        elif not self.current_size:
            text = f"frame of {self.size} bytes exceeds limit"
        else:
            text = f"{self.size} bytes after {self.current_size} bytes exceeds limit"
        if self.max_size is not None:
            text += f" of {self.max_size} bytes"
        return text

    def set_current_size(self, current_size: int) -> None:
        """Record how much of the message had arrived before this frame."""
        assert self.current_size is None
        self.current_size = current_size


class InvalidState(WebSocketException, AssertionError):
    """An operation is not allowed in the connection's current state.

    This is a bug in the calling code: for example, sending a message after
    the closing handshake started.
    """


class ConcurrencyError(WebSocketException, RuntimeError):
    """Two tasks used a connection in a way that cannot be shared.

    For example, two tasks called ``recv()`` at the same time.
    """
