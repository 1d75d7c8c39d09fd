"""The client: :func:`connect`, :func:`unix_connect` and :class:`ClientConnection`."""

from __future__ import annotations

import logging
import ssl as ssl_module
from collections.abc import Callable, Generator, Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import ByteStream, TaskGroup

from .connection import Connection
from .exceptions import InvalidMessage
from .protocol import (
    ClientExtensionFactory,
    ClientProtocol,
    Response,
    State,
    enable_client_permessage_deflate,
    parse_uri,
)
from .protocol.headers import HeadersLike
from .protocol.http11 import USER_AGENT

__all__ = ["ClientConnection", "connect", "unix_connect"]


class ClientConnection(Connection):
    """The client side of a WebSocket connection.

    :func:`connect` creates it; read its API in :class:`Connection`.
    """

    protocol: ClientProtocol

    async def _handshake(
        self, additional_headers: HeadersLike | None, user_agent_header: str | None
    ) -> None:
        """Send the handshake request and read the response.

        Raises:
            InvalidHandshake: the server refused the connection or answered wrongly.
            OSError: the network failed.
        """
        protocol = self.protocol
        request = protocol.connect()
        if additional_headers is not None:
            request.headers.update(additional_headers)
        if user_agent_header is not None and "User-Agent" not in request.headers:
            request.headers["User-Agent"] = user_agent_header
        self.request = request
        protocol.send_request(request)
        await self._flush()
        while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
            try:
                data = await self._stream.receive(65536)
            except anyio.EndOfStream:
                protocol.receive_eof()
                self._eof_fed = True
            else:
                protocol.receive_data(data)
        events = protocol.events_received()
        if events and isinstance(events[0], Response):
            self.response = events[0]
            events = events[1:]
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        self._dispatch(events)
        self.logger.info("connection open")


def _compression_extensions(
    compression: str | None, extensions: Sequence[ClientExtensionFactory] | None
) -> list[ClientExtensionFactory] | None:
    if compression == "deflate":
        return enable_client_permessage_deflate(extensions)
    if compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return None if extensions is None else list(extensions)


def _one_cause(exc: OSError) -> OSError:
    """Unwrap anyio's "all connection attempts failed" when there was one attempt."""
    cause = exc.__cause__
    if isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
        only = cause.exceptions[0]
        if isinstance(only, OSError):
            return only
    return exc


class connect:
    """Open a WebSocket connection to ``uri``.

    Use it in one of three ways::

        async with connect(uri) as ws:      # a task group owns the connection
            ...
        ws = await connect(uri)             # the caller closes it
        async for ws in connect(uri):       # reconnects (see the client guide)
            ...

    Args:
        uri: ``ws://`` or ``wss://`` URI; ``user:password@`` in it sends HTTP
            Basic credentials.
        origin: the ``Origin`` header, if any.
        extensions: extension factories to offer.
        subprotocols: subprotocols to offer, in order of preference.
        compression: ``"deflate"`` offers permessage-deflate; ``None`` does not.
        additional_headers: headers added to the handshake request.
        user_agent_header: the ``User-Agent`` header; ``None`` sends none.
        open_timeout: seconds for the whole opening (TCP, TLS, handshake);
            ``None`` waits forever.
        ping_interval: seconds between keepalive pings; ``None`` disables them.
        ping_timeout: seconds to wait for the peer after a keepalive ping.
        close_timeout: seconds for the closing handshake.
        max_size: the largest incoming message, in bytes; ``None`` for no limit.
        max_queue: high-water mark of incoming frames, or ``(high, low)``.
        write_limit: high-water mark of outgoing bytes, or ``(high, low)``.
        logger: logger (or name) for this connection; ``anywebsockets.client``
            by default.
        create_connection: the class (or factory) of the connection object;
            :class:`ClientConnection` by default.
        ssl: TLS context for ``wss://``; a default context when omitted.
        server_hostname: the host name to check in the server's certificate;
            the URI's host by default.
        stream: an already connected byte stream to run the handshake over.
        host: connect the TCP socket here instead of the URI's host.
        port: connect the TCP socket here instead of the URI's port.
    Raises:
        InvalidURI: ``uri`` is not a valid WebSocket URI.
        InvalidHandshake: the server refused the connection (``InvalidStatus``
            carries its response) or the handshake was invalid.
        OSError: the TCP connection failed.
        ssl.SSLCertVerificationError: the certificate did not verify.
        TimeoutError: the opening took longer than ``open_timeout``.
    """

    def __init__(
        self,
        uri: str,
        *,
        origin: str | None = None,
        extensions: Sequence[ClientExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        compression: str | None = "deflate",
        additional_headers: HeadersLike | None = None,
        user_agent_header: str | None = USER_AGENT,
        proxy: str | bool | None = True,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: int | None = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: logging.Logger | str | None = None,
        create_connection: Callable[..., ClientConnection] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        stream: ByteStream | None = None,
        host: str | None = None,
        port: int | None = None,
        unix_path: str | None = None,
    ) -> None:
        self.uri = uri
        self._wsuri = parse_uri(uri)
        if ssl is not None and not self._wsuri.secure:
            raise ValueError("ssl is only for wss:// URIs")
        self._origin = origin
        self._extensions = _compression_extensions(compression, extensions)
        self._subprotocols = subprotocols
        self._additional_headers = additional_headers
        self._user_agent_header = user_agent_header
        self._proxy = proxy
        self._open_timeout = open_timeout
        self._options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
        }
        self._max_size = max_size
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        self._logger = logger or logging.getLogger("anywebsockets.client")
        self._create_connection = create_connection or ClientConnection
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._stream = stream
        self._host = host
        self._port = port
        self._unix_path = unix_path
        self._tg: TaskGroup | None = None
        self._connection: ClientConnection | None = None

    async def _open_stream(self) -> ByteStream:
        """Open the TCP (or Unix) connection, and TLS for ``wss://``."""
        if self._stream is not None:
            return self._stream
        wsuri = self._wsuri
        tls = None
        if wsuri.secure:
            tls = self._ssl or ssl_module.create_default_context()
        hostname = self._server_hostname or wsuri.host
        if self._unix_path is not None:
            stream: ByteStream = await anyio.connect_unix(self._unix_path)
            if tls is not None:
                from anyio.streams.tls import TLSStream

                stream = await TLSStream.wrap(
                    stream, hostname=hostname, ssl_context=tls, standard_compatible=False
                )
            return stream
        try:
            if tls is None:
                return await anyio.connect_tcp(self._host or wsuri.host, self._port or wsuri.port)
            return await anyio.connect_tcp(
                self._host or wsuri.host,
                self._port or wsuri.port,
                ssl_context=tls,
                tls_hostname=hostname,
                tls_standard_compatible=False,
            )
        except OSError as exc:
            raise _one_cause(exc) from exc.__cause__

    async def _open(self) -> ClientConnection:
        """Open the connection: stream, TLS, opening handshake, within ``open_timeout``."""
        open_timeout = float("inf") if self._open_timeout is None else self._open_timeout
        with anyio.fail_after(open_timeout):
            stream = await self._open_stream()
            protocol = ClientProtocol(
                self._wsuri,
                origin=self._origin,
                extensions=self._extensions,
                subprotocols=self._subprotocols,
                max_size=self._max_size,
                logger=self._logger,
            )
            connection = self._create_connection(protocol, stream, **self._options)
            try:
                await connection._handshake(self._additional_headers, self._user_agent_header)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await connection._abort()
                if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError):
                    error = InvalidMessage("the connection broke during the opening handshake")
                    raise error from exc
                raise
        return connection

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._open().__await__()

    async def __aenter__(self) -> ClientConnection:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        try:
            connection = await self._open()
            await tg.start(connection._run)
        except BaseException:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            raise
        self._tg = tg
        self._connection = connection
        return connection

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connection (1000, or 1011 after an exception) and leave the task group.

        The block's own exception propagates unchanged, never wrapped in an
        exception group.
        """
        assert self._tg is not None and self._connection is not None
        tg, connection = self._tg, self._connection
        self._tg = self._connection = None
        try:
            await connection.__aexit__(exc_type, exc, tb)
        finally:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)


def unix_connect(path: str | None = None, uri: str | None = None, **kwargs: Any) -> connect:
    """Open a WebSocket connection over a Unix socket.

    Args:
        path: the socket's path.
        uri: the URI sent in the handshake; ``ws://localhost/`` by default
            (``wss://localhost/`` when ``ssl`` is given).
        kwargs: as for :func:`connect`.
    """
    if uri is None:
        uri = "wss://localhost/" if kwargs.get("ssl") is not None else "ws://localhost/"
    return connect(uri, unix_path=path, **kwargs)
