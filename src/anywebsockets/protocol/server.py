"""The server side of the opening handshake (RFC 6455, section 4.2)."""

from __future__ import annotations

import base64
import binascii
import http
import logging
import re
from collections.abc import Callable, Generator, Sequence

from ..exceptions import (
    HeaderLineTooLong,
    InvalidHandshake,
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidMethod,
    InvalidOrigin,
    InvalidProtocol,
    InvalidUpgrade,
    NegotiationError,
    RequestLineTooLong,
    TooManyHeaders,
)
from .extensions import Extension, ServerExtensionFactory
from .headers import (
    Headers,
    MultipleValuesError,
    build_extension,
    build_subprotocol,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)
from .http11 import Request, Response, _parse_request_fast
from .protocol import MaxSize, Protocol, Side, State
from .utils import accept_key

__all__ = ["ServerProtocol", "http_status_for"]

Origin = str | re.Pattern[str] | None
SelectSubprotocol = Callable[["ServerProtocol", Sequence[str]], str | None]

# Which HTTP status answers which handshake failure: the first match wins.
_HTTP_STATUS_FOR: tuple[tuple[type[Exception], http.HTTPStatus], ...] = (
    (RequestLineTooLong, http.HTTPStatus.REQUEST_URI_TOO_LONG),
    (HeaderLineTooLong, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
    (TooManyHeaders, http.HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE),
    (InvalidMethod, http.HTTPStatus.METHOD_NOT_ALLOWED),
    (InvalidProtocol, http.HTTPStatus.HTTP_VERSION_NOT_SUPPORTED),
    (InvalidUpgrade, http.HTTPStatus.UPGRADE_REQUIRED),
    (InvalidOrigin, http.HTTPStatus.FORBIDDEN),
    (InvalidHandshake, http.HTTPStatus.BAD_REQUEST),
)


def http_status_for(exc: Exception) -> http.HTTPStatus:
    """Return the HTTP status that answers a failed opening handshake.

    Handshake errors map to 4xx and 5xx statuses (414, 431, 405, 505, 426,
    403, 400); anything else is a server bug: 500.
    """
    for exc_type, status in _HTTP_STATUS_FOR:
        if isinstance(exc, exc_type):
            return status
    return http.HTTPStatus.INTERNAL_SERVER_ERROR


class ServerProtocol(Protocol):
    """Sans-I/O WebSocket server.

    Feed the client's bytes with :meth:`receive_data`: the first event is the
    client's :class:`~anywebsockets.protocol.http11.Request`. Answer it with
    :meth:`accept` (or :meth:`reject`), then :meth:`send_response`. A request
    too malformed to produce an event is answered here already, with 400,
    414 or 431, and :attr:`handshake_exc` says why.

    Args:
        origins: allowed ``Origin`` values: strings match exactly, compiled
            patterns must match the whole value, ``None`` allows requests
            without ``Origin``. ``None`` (the default) allows any origin.
        extensions: extensions to accept, in order of preference.
        subprotocols: subprotocols to accept, in order of preference.
        select_subprotocol: picks the subprotocol instead of the default rule;
            called as ``select_subprotocol(protocol, offered)``.
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
        *,
        origins: Sequence[Origin] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        state: State = State.CONNECTING,
        max_size: MaxSize = 2**20,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        super().__init__(Side.SERVER, state=state, max_size=max_size, logger=logger)
        if subprotocols is not None:
            validate_subprotocols(subprotocols)
        self.origins = None if origins is None else list(origins)
        self.available_extensions = list(extensions or [])
        self.available_subprotocols = list(subprotocols or [])
        self._select_subprotocol = select_subprotocol
        self.origin: str | None = None
        """The request's ``Origin`` header, once accepted."""
        if state is State.CONNECTING:
            self._handshake = self._parse_request()

    def accept(self, request: Request) -> Response:
        """Check the handshake request and build the response.

        A valid request gets a 101 response; an invalid one gets an error
        response (see :func:`http_status_for`) and :attr:`handshake_exc`
        says why. Either way, send it with :meth:`send_response`, after
        changing it if you like.
        """
        try:
            key, extensions_header, protocol_header = self._process_request(request)
        except InvalidHandshake as exc:
            self.handshake_exc = exc
            if self.debug:
                self.logger.debug("! invalid handshake request: %s", exc)
            return self._reject_for(exc)
        except Exception as exc:
            self.handshake_exc = exc
            self.logger.error("opening handshake failed", exc_info=True)
            return self.reject(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\n"
                "See the server log for more information.\n",
            )
        headers = Headers._from_checked(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", accept_key(key)),  # base64: a valid value
            ]
        )
        if extensions_header is not None:
            headers["Sec-WebSocket-Extensions"] = extensions_header
        if protocol_header is not None:
            headers["Sec-WebSocket-Protocol"] = protocol_header
        return Response(101, "Switching Protocols", headers)

    def reject(self, status: int, text: str) -> Response:
        """Build a plain-text response that refuses the connection.

        Args:
            status: the HTTP status.
            text: the body, encoded as UTF-8.
        Raises:
            ValueError: ``status`` is not an HTTP status.
        """
        status = http.HTTPStatus(status)
        body = text.encode()
        headers = Headers(
            [
                ("Connection", "close"),
                ("Content-Length", str(len(body))),
                ("Content-Type", "text/plain; charset=utf-8"),
            ]
        )
        return Response(status.value, status.phrase, headers, body)

    def send_response(self, response: Response) -> None:
        """Queue the handshake response; a 101 opens the connection.

        Any other status ends the connection once the response is sent.
        """
        if self.debug:
            self.logger.debug("> HTTP/1.1 %d %s", response.status_code, response.reason_phrase)
            for name, value in response.headers.raw_items():
                self.logger.debug("> %s: %s", name, value)
        self._send_handshake(response.serialize())
        if response.status_code == 101:
            assert self.state is State.CONNECTING
            self.state = State.OPEN
            if self._buffer:
                self._receive_frames()
            if self._eof_rcvd:
                self._eof_rcvd = False
                self.receive_eof()
        else:
            if self.handshake_exc is None:
                self.handshake_exc = InvalidHandshake(
                    f"handshake answered with HTTP {response.status_code}"
                )
            self._fail_handshake(self.handshake_exc)

    def _reject_for(self, exc: Exception) -> Response:
        """Build the error response for a handshake failure."""
        status = http_status_for(exc)
        response = self.reject(status, f"Failed to open a WebSocket connection: {exc}.\n")
        if status == http.HTTPStatus.METHOD_NOT_ALLOWED:
            response.headers["Allow"] = "GET"
        elif status == http.HTTPStatus.UPGRADE_REQUIRED:
            response.headers["Upgrade"] = "websocket"
            response.headers["Sec-WebSocket-Version"] = "13"
        return response

    def _parse_request(self) -> Generator[None, None, None]:
        """Read the client's request; answer it here if it cannot be parsed."""
        # Usually the whole request is there in the first bytes received.
        request = _parse_request_fast(self.reader.buffer)
        if request is None:
            try:
                request = yield from Request.parse(self.reader.read_line)
            except EOFError as exc:
                error = InvalidMessage("did not receive a valid HTTP request")
                error.__cause__ = exc
                self._fail_handshake(error)
                return
            except InvalidHandshake as exc:
                self.handshake_exc = exc
                self.send_response(self._reject_for(exc))
                return
        if self.debug:
            self.logger.debug("< %s %s %s", request.method, request.path, request.protocol)
            for name, value in request.headers.raw_items():
                self.logger.debug("< %s: %s", name, value)
        self.events.append(request)

    def _process_request(self, request: Request) -> tuple[str, str | None, str | None]:
        """Check the handshake request (RFC 6455, section 4.2.1).

        Returns:
            The key, and the ``Sec-WebSocket-Extensions`` and
            ``Sec-WebSocket-Protocol`` headers to answer with.
        Raises:
            InvalidHandshake: the request is not acceptable; the subclass
                tells which HTTP status answers it.
        """
        if request.method != "GET":
            raise InvalidMethod(request.method)
        if request.protocol != "HTTP/1.1":
            raise InvalidProtocol(request.protocol)
        headers = request.headers
        connection = [
            o.lower() for v in headers.get_all("Connection") for o in parse_connection(v)
        ]
        if "upgrade" not in connection:
            raise InvalidUpgrade("Connection", ", ".join(headers.get_all("Connection")) or None)
        upgrade = [p.lower() for v in headers.get_all("Upgrade") for p in parse_upgrade(v)]
        if upgrade != ["websocket"]:
            raise InvalidUpgrade("Upgrade", ", ".join(headers.get_all("Upgrade")) or None)
        key = _single_header(headers, "Sec-WebSocket-Key")
        try:
            raw_key = base64.b64decode(key.encode(), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key) from exc
        if len(raw_key) != 16:
            raise InvalidHeaderValue("Sec-WebSocket-Key", key)
        version = _single_header(headers, "Sec-WebSocket-Version")
        if version != "13":
            # RFC 6455, section 4.4: answer 426 with the versions we speak.
            raise InvalidUpgrade("Sec-WebSocket-Version", version)
        self.origin = self._check_origin(headers)
        self.extensions, extensions_header = self._negotiate_extensions(headers)
        self.subprotocol = self._negotiate_subprotocol(headers)
        protocol_header = (
            None if self.subprotocol is None else build_subprotocol([self.subprotocol])
        )
        return key, extensions_header, protocol_header

    def _check_origin(self, headers: Headers) -> str | None:
        """Return the ``Origin`` header after checking it against :attr:`origins`."""
        try:
            origin = headers.get("Origin")
        except MultipleValuesError as exc:
            raise InvalidHeader("Origin", "multiple values") from exc
        if self.origins is None:
            return origin
        for allowed in self.origins:
            if allowed == origin:
                return origin
            if (
                isinstance(allowed, re.Pattern)
                and origin is not None
                and allowed.fullmatch(origin)
            ):
                return origin
        raise InvalidOrigin(origin)

    def _negotiate_extensions(self, headers: Headers) -> tuple[list[Extension], str | None]:
        """Accept the client's extension offers we support (RFC 6455, section 9.1)."""
        accepted: list[Extension] = []
        response_params: list[tuple[str, list[tuple[str, str | None]]]] = []
        if not self.available_extensions:
            return accepted, None
        for value in headers.get_all("Sec-WebSocket-Extensions"):
            for name, params in parse_extension(value):
                for factory in self.available_extensions:
                    if factory.name != name:
                        continue
                    try:
                        params_out, extension = factory.process_request_params(params, accepted)
                    except NegotiationError:
                        continue
                    accepted.append(extension)
                    response_params.append((name, params_out))
                    break
        return accepted, build_extension(response_params) if response_params else None

    def _negotiate_subprotocol(self, headers: Headers) -> str | None:
        """Pick the subprotocol (RFC 6455, section 4.2.2)."""
        offered = [
            p for v in headers.get_all("Sec-WebSocket-Protocol") for p in parse_subprotocol(v)
        ]
        if self._select_subprotocol is not None:
            return self._select_subprotocol(self, offered)
        if not self.available_subprotocols:
            return None
        if not offered:
            raise NegotiationError("missing subprotocol")
        for subprotocol in self.available_subprotocols:
            if subprotocol in offered:
                return subprotocol
        raise NegotiationError(
            "no offered subprotocol is supported; expected one of "
            + ", ".join(self.available_subprotocols)
        )


def _single_header(headers: Headers, name: str) -> str:
    """Return a header that must appear exactly once.

    Raises:
        InvalidHeader: it is missing or repeated.
    """
    try:
        return headers[name]
    except KeyError as exc:
        raise InvalidHeader(name) from exc
    except MultipleValuesError as exc:
        raise InvalidHeader(name, "multiple values") from exc
