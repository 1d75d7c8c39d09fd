"""The client side of the opening handshake (RFC 6455, section 4.1)."""

from __future__ import annotations

import logging
from collections.abc import Generator, Sequence

from ..exceptions import (
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
)
from .extensions import ClientExtensionFactory, Extension
from .headers import (
    Headers,
    MultipleValuesError,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)
from .http11 import Request, Response, _parse_response_fast
from .protocol import MaxSize, Protocol, Side, State
from .uri import WebSocketURI
from .utils import accept_key, generate_key

__all__ = ["ClientProtocol"]


class ClientProtocol(Protocol):
    """Sans-I/O WebSocket client.

    Build the handshake request with :meth:`connect`, send it with
    :meth:`send_request`, then feed the server's bytes with
    :meth:`receive_data`: the first event is the server's
    :class:`~anywebsockets.protocol.http11.Response`. If
    :attr:`handshake_exc` is set then, the handshake failed.

    Args:
        uri: where to connect; its credentials, if any, are sent with HTTP
            Basic authentication.
        origin: the ``Origin`` header to send, if any.
        extensions: extensions to offer, in order of preference.
        subprotocols: subprotocols to offer, in order of preference.
        state: :attr:`State.CONNECTING`, or :attr:`State.OPEN` to skip the
            opening handshake.
        max_size: the largest incoming message, after decompression, or a
            ``(message, fragment)`` pair of limits.
        logger: where to log.
    Raises:
        TypeError: ``subprotocols`` is a string rather than a list.
        ValueError: a subprotocol is not an HTTP token.
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        state: State = State.CONNECTING,
        max_size: MaxSize = 2**20,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        super().__init__(Side.CLIENT, state=state, max_size=max_size, logger=logger)
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.uri = uri
        self.origin = origin
        self.available_extensions = list(extensions or [])
        self.available_subprotocols = list(subprotocols or [])
        self.key = generate_key()
        if state is State.CONNECTING:
            self._handshake = self._parse_response()

    def connect(self) -> Request:
        """Build the opening handshake request.

        The caller may add headers (``User-Agent``, cookies, ...) before
        passing it to :meth:`send_request`.
        """
        headers = Headers()
        headers["Host"] = build_host(self.uri.host, self.uri.port, self.uri.secure)
        if self.uri.user_info is not None:
            headers["Authorization"] = build_authorization_basic(*self.uri.user_info)
        if self.origin is not None:
            headers["Origin"] = self.origin
        headers["Upgrade"] = "websocket"
        headers["Connection"] = "Upgrade"
        headers["Sec-WebSocket-Key"] = self.key
        headers["Sec-WebSocket-Version"] = "13"
        if self.available_extensions:
            offers = [(f.name, list(f.get_request_params())) for f in self.available_extensions]
            headers["Sec-WebSocket-Extensions"] = build_extension(offers)
        if self.available_subprotocols:
            headers["Sec-WebSocket-Protocol"] = build_subprotocol(self.available_subprotocols)
        return Request(self.uri.resource_name, headers)

    def send_request(self, request: Request) -> None:
        """Queue the opening handshake request for sending."""
        if self.debug:
            self.logger.debug("> GET %s HTTP/1.1", request.path)
            for name, value in request.headers.raw_items():
                self.logger.debug("> %s: %s", name, value)
        self._send_handshake(request.serialize())

    def _parse_response(self) -> Generator[None, None, None]:
        """Read the server's response and check it."""
        reader = self.reader
        # Usually the whole 101 response is there in the first bytes received.
        response = _parse_response_fast(reader.buffer)
        if response is None:
            try:
                response = yield from Response.parse(
                    reader.read_line, reader.read_exact, reader.read_to_eof
                )
            except InvalidHandshake as exc:
                self._fail_handshake(exc)
                return
            except Exception as exc:
                error = InvalidMessage("did not receive a valid HTTP response")
                error.__cause__ = exc
                self._fail_handshake(error)
                return
        if self.debug:
            self.logger.debug("< HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("< %s: %s", name, value)
        try:
            self._process_response(response)
        except InvalidHandshake as exc:
            self.events.append(response)
            self._fail_handshake(exc)
            return
        self.state = State.OPEN
        self.events.append(response)

    def _process_response(self, response: Response) -> None:
        """Check the handshake response and record what was negotiated.

        Raises:
            InvalidStatus: the status is not 101.
            InvalidUpgrade: ``Connection`` or ``Upgrade`` is wrong.
            InvalidHeader: ``Sec-WebSocket-Accept`` is missing or wrong.
            NegotiationError: the extensions or the subprotocol are not acceptable.
        """
        if response.status_code != 101:
            raise InvalidStatus(response)
        headers = response.headers
        connection = [
            option.lower()
            for value in headers.get_all("Connection")
            for option in parse_connection(value)
        ]
        if "upgrade" not in connection:
            raise InvalidUpgrade("Connection", ", ".join(headers.get_all("Connection")) or None)
        upgrade = [p.lower() for value in headers.get_all("Upgrade") for p in parse_upgrade(value)]
        if upgrade != ["websocket"]:
            raise InvalidUpgrade("Upgrade", ", ".join(headers.get_all("Upgrade")) or None)
        try:
            accept = headers["Sec-WebSocket-Accept"]
        except KeyError as exc:
            raise InvalidHeader("Sec-WebSocket-Accept") from exc
        except MultipleValuesError as exc:
            raise InvalidHeader("Sec-WebSocket-Accept", "multiple values") from exc
        if accept != accept_key(self.key):
            raise InvalidHeaderValue("Sec-WebSocket-Accept", accept)
        self.extensions = self._negotiate_extensions(headers)
        self.subprotocol = self._negotiate_subprotocol(headers)

    def _negotiate_extensions(self, headers: Headers) -> list[Extension]:
        """Build the extensions the server accepted, in its order (RFC 6455, section 9.1)."""
        accepted: list[Extension] = []
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            for name, params in parse_extension(value):
                for factory in self.available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        accepted.append(factory.process_response_params(params, accepted))
                    except NegotiationError:
                        continue
                    break
                else:
                    raise NegotiationError(f"unsupported extension: {name}; {params}")
        return accepted

    def _negotiate_subprotocol(self, headers: Headers) -> str | None:
        """Return the subprotocol the server chose, if any (RFC 6455, section 4.1)."""
        chosen = [
            p
            for value in headers.get_all("Sec-WebSocket-Protocol")
            for p in parse_subprotocol(value)
        ]
        if not chosen:
            return None
        if len(chosen) > 1:
            raise NegotiationError(f"multiple subprotocols: {', '.join(chosen)}")
        if chosen[0] not in self.available_subprotocols:
            raise NegotiationError(f"unsupported subprotocol: {chosen[0]}")
        return chosen[0]
