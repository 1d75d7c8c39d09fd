"""The client: :func:`connect`, :func:`unix_connect` and :class:`ClientConnection`."""

from __future__ import annotations

import dis
import functools
import logging
import math
import os
import random
import socket
import ssl as ssl_module
import sys
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from types import CodeType, TracebackType
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketStream, TaskGroup
from anyio.streams.tls import TLSAttribute, TLSStream

from ._backends import Cleanup, cleanup_scheduler, connect_tcp, connect_unix
from ._proxy import open_http_tunnel, open_socks_tunnel, resolve_proxy
from .connection import _NETWORK_ERRORS, Connection
from .exceptions import InvalidMessage, InvalidStatus, SecurityError
from .protocol import (
    ClientExtensionFactory,
    ClientProtocol,
    Response,
    State,
    WebSocketURI,
    enable_client_permessage_deflate,
    parse_uri,
)
from .protocol.headers import Headers, HeadersLike
from .protocol.http11 import USER_AGENT
from .protocol.protocol import MaxSize

__all__ = ["ClientConnection", "backoff", "connect", "process_exception", "unix_connect"]


class ClientConnection(Connection):
    """The client side of a WebSocket connection.

    :func:`connect` creates it; read its API in :class:`Connection`.
    """

    protocol: ClientProtocol

    async def _handshake(
        self, additional_headers: HeadersLike | None, user_agent_header: str | None
    ) -> None:
        """Send the handshake request and read the response.

        A network failure is handled as the end of the stream: the engine
        then reports an ``InvalidMessage`` caused by an ``EOFError``, as for
        a server that hangs up.

        Raises:
            InvalidHandshake: the server refused the connection or answered wrongly.
        """
        protocol = self.protocol
        request = protocol.connect()
        if additional_headers is not None:
            request.headers.update(additional_headers)
        if user_agent_header is not None and "User-Agent" not in request.headers:
            request.headers["User-Agent"] = user_agent_header
        self.request = request
        protocol.send_request(request)
        try:
            await self._flush()
            while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
                protocol.receive_data(await self._stream.receive(65536))
        except (anyio.EndOfStream, *_NETWORK_ERRORS):
            self._eof_fed = True
            protocol.receive_eof()
        events = protocol.events_received()
        if events and isinstance(events[0], Response):
            self.response = events[0]
            events = events[1:]
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        self.logger.info("connection open")
        # Frames that came with the response: queue them, and answer any ping
        # or close now, since the next read may wait for the server.
        self._dispatch(events)
        await self._flush_quietly()
        if protocol.state is State.CLOSED:
            await self._abort()


_default_logger = logging.getLogger("anywebsockets.client")

_REDIRECT_STATUSES = frozenset({300, 301, 302, 303, 307, 308})
_CREDENTIAL_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def _redirect_location(response: Response) -> str | None:
    """Return the ``Location`` of a redirect response, ``None`` if it is not one.

    A redirect without a ``Location``, or with several, is not followed.
    """
    if response.status_code not in _REDIRECT_STATUSES:
        return None
    locations = response.headers.get_all("Location")
    return locations[0] if len(locations) == 1 else None


def _compression_extensions(
    compression: str | None, extensions: Sequence[ClientExtensionFactory] | None
) -> list[ClientExtensionFactory] | None:
    if compression == "deflate":
        return enable_client_permessage_deflate(extensions)
    if compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return None if extensions is None else list(extensions)


def _connect_error(exc: OSError) -> OSError:
    """Return the error to raise when anyio could not connect.

    anyio raises ``OSError("All connection attempts failed")`` caused by the
    error of each attempt. When there was one attempt, or every attempt
    failed the same way (``ConnectionRefusedError`` for both addresses of
    ``localhost``), that error is more useful, and it is what asyncio and
    trio users expect.
    """
    cause = exc.__cause__
    errors = list(cause.exceptions) if isinstance(cause, BaseExceptionGroup) else [cause]
    first = errors[0]
    if isinstance(first, OSError) and all(
        type(error) is type(first) and error.errno == first.errno for error in errors
    ):
        return first
    return exc


async def _wrap_tls(
    stream: ByteStream, ssl_context: ssl_module.SSLContext, hostname: str
) -> ByteStream:
    """Run the TLS handshake over ``stream``; close it if the handshake fails.

    Raises:
        ssl.SSLError: the handshake failed (``SSLCertVerificationError``
            when the certificate did not verify).
        ConnectionResetError: the server closed the connection during the handshake.
    """
    try:
        return await TLSStream.wrap(
            stream, hostname=hostname, ssl_context=ssl_context, standard_compatible=False
        )
    except BaseException as exc:
        await anyio.aclose_forcefully(stream)
        if isinstance(exc, anyio.EndOfStream | anyio.BrokenResourceError):
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else None
            error = ConnectionResetError("the connection closed during the TLS handshake")
            raise error from cause
        raise


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
        proxy: ``True`` uses the proxy that the environment gives for the URI
            (``ws_proxy`` or ``wss_proxy``, then ``socks_proxy``, then
            ``https_proxy``, then, for ``ws://`` only, ``http_proxy``; none
            for hosts in ``no_proxy``); a URL (``http://``, ``https://``,
            ``socks5h://``, ``socks5://``, ``socks4a://`` or ``socks4://``,
            with ``user:password@`` for credentials) forces that proxy;
            ``None`` or ``False`` connects directly. Unused with ``stream``,
            a Unix socket, ``host`` or ``port``. SOCKS needs python-socks
            (``anywebsockets[socks]``).
        open_timeout: seconds for the whole opening (TCP, proxy, TLS,
            redirects, handshake); ``None`` waits forever.
        ping_interval: seconds between keepalive pings; ``None`` disables them.
        ping_timeout: seconds to wait for the peer after a keepalive ping.
        close_timeout: seconds for the closing handshake.
        max_size: the largest incoming message, in bytes; ``None`` for no limit;
            a ``(message, fragment)`` pair also limits each frame.
        max_queue: high-water mark of incoming frames, or ``(high, low)``.
        write_limit: high-water mark of outgoing bytes, or ``(high, low)``.
        logger: logger (or name) for this connection; ``anywebsockets.client``
            by default.
        create_connection: the class (or factory) of the connection object;
            :class:`ClientConnection` by default.
        ssl: TLS context for ``wss://``; a default context when omitted.
        server_hostname: the host name to check in the server's certificate;
            the URI's host by default.
        proxy_ssl: TLS context for an ``https://`` proxy; a default context
            when omitted.
        proxy_server_hostname: the host name to check in an ``https://``
            proxy's certificate; the proxy URL's host by default.
        stream: an already connected byte stream to run the handshake over;
            for ``wss://``, TLS runs over it unless it already runs TLS.
        host: connect the TCP socket here instead of the URI's host.
        port: connect the TCP socket here instead of the URI's port.
        kwargs: ``sock``, an already connected socket to use, like ``stream``
            (as with websockets' ``sock=``); any other name is refused.
        process_exception: for ``async for``: decides, for each failure to
            open a connection, whether to retry (return ``None``) or to stop
            (return or raise an exception); :func:`process_exception` by default.
        reconnect_delays: for ``async for``: a function returning an
            iterator of delays in seconds between attempts; :func:`backoff`
            by default. When the iterator ends, the loop raises the last
            failure.
    Redirects (300, 301, 302, 303, 307 and 308 with a ``Location``) are
    followed, at most 10 times (``ANYWEBSOCKETS_MAX_REDIRECTS``), each
    ``Location`` resolved against the URI that answered it. A redirect from
    ``wss://`` to ``ws://`` is refused; when the scheme, host or port
    changes, ``Authorization``, ``Cookie`` and ``Proxy-Authorization`` are
    dropped from ``additional_headers``. Each opening starts again from
    ``uri``: a redirect is not remembered for the next reconnection.

    Raises:
        InvalidURI: ``uri`` is not a valid WebSocket URI (when called), or a
            redirect's ``Location`` is not one.
        ValueError: ``compression`` is unknown, or ``ssl`` is given for a
            ``ws://`` URI (when called).
        TypeError: an unknown keyword argument (when called).
        InvalidHandshake: the server refused the connection (``InvalidStatus``
            carries its response) or the handshake was invalid;
            ``InvalidMessage``, caused by an ``EOFError``, when the server
            hung up before answering.
        OSError: the connection failed: ``ConnectionRefusedError`` when
            every address refused it, ``ConnectionResetError`` when the server
            hung up during the TLS handshake.
        ssl.SSLError: the TLS handshake failed;
            ``ssl.SSLCertVerificationError`` when the certificate did not verify.
        TimeoutError: the opening took longer than ``open_timeout``.
        InvalidProxy: the proxy URL is not valid.
        ProxyError: the proxy refused the tunnel (``InvalidProxyStatus``
            carries an HTTP proxy's response) or answered wrongly
            (``InvalidProxyMessage``, also when it hung up); for a SOCKS
            proxy, ``__cause__`` is python-socks' error.
        ImportError: a SOCKS proxy is needed and python-socks is missing.
        ValueError: ``proxy`` is a URL while ``host`` or ``port`` is given.
        SecurityError: a redirect from ``wss://`` to ``ws://``, or too many
            redirects.
        ValueError: a redirect that cannot be followed: with ``stream=``, or
            to another origin over a Unix socket or with ``host``/``port``.
    Cancellation:
        Opening (``await`` or entering ``async with``) is a checkpoint; a
        cancellation then drops the half-open connection at once. Leaving
        ``async with`` runs the closing handshake shielded, bounded by
        ``close_timeout``, then lets the cancellation propagate.
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
        process_exception: Callable[[Exception], Exception | None] | None = None,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: MaxSize = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        reconnect_delays: Callable[[], Iterator[float]] | None = None,
        logger: logging.Logger | str | None = None,
        create_connection: Callable[..., ClientConnection] | None = None,
        ssl: ssl_module.SSLContext | None = None,
        server_hostname: str | None = None,
        proxy_ssl: ssl_module.SSLContext | None = None,
        proxy_server_hostname: str | None = None,
        stream: ByteStream | None = None,
        host: str | None = None,
        port: int | None = None,
        unix_path: str | None = None,
        **kwargs: Any,
    ) -> None:
        sock: socket.socket | None = kwargs.pop("sock", None)
        if kwargs:
            raise TypeError(f"connect() got unexpected keyword arguments: {', '.join(kwargs)}")
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
        self._process_exception = process_exception or _default_process_exception
        self._reconnect_delays = reconnect_delays or backoff
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
        self._logger = logger or _default_logger
        self._create_connection = create_connection or ClientConnection
        self._ssl = ssl
        self._server_hostname = server_hostname
        self._proxy_ssl = proxy_ssl
        self._proxy_server_hostname = proxy_server_hostname
        self._stream = stream
        self._host = host
        self._port = port
        self._unix_path = unix_path
        self._sock = sock
        self._tg: TaskGroup | None = None
        self._connection: ClientConnection | None = None

    async def _open_stream(self, wsuri: WebSocketURI) -> ByteStream:
        """Open the connection to ``wsuri``, through a proxy if any, and TLS for ``wss://``.

        No proxy applies to a given ``stream``, a Unix socket, or an explicit
        ``host`` or ``port`` (which say where the TCP connection goes).

        Raises:
            OSError: the connection (to the server or the proxy) failed;
                ``ssl.SSLError`` for TLS.
            InvalidProxy: the proxy URL is not valid.
            ProxyError: the proxy refused the tunnel or answered wrongly.
            ImportError: a SOCKS proxy is needed and python-socks is missing.
            ValueError: both a proxy URL and ``host`` or ``port`` were given.
        """
        if self._sock is not None and self._stream is None:
            self._stream = await SocketStream.from_socket(self._sock)
        if self._stream is not None:
            # A stream that already runs TLS is used as it is.
            if wsuri.secure and self._stream.extra(TLSAttribute.ssl_object, None) is None:
                return await self._wrap_tls(self._stream, wsuri)
            return self._stream

        async def connected(opening: Awaitable[ByteStream]) -> ByteStream:
            try:
                return await opening
            except OSError as exc:
                error = _connect_error(exc)
                if error is exc:
                    raise
                raise error from None

        stream: ByteStream
        if self._unix_path is not None:
            stream = await connect_unix(self._unix_path)
        elif self._host is not None or self._port is not None:
            if isinstance(self._proxy, str):
                raise ValueError("a proxy URL cannot be combined with host or port")
            host = wsuri.host if self._host is None else self._host
            port = wsuri.port if self._port is None else self._port
            stream = await connected(connect_tcp(host, port))
        else:
            proxy = resolve_proxy(self._proxy, wsuri)
            if proxy is None:
                stream = await connected(connect_tcp(wsuri.host, wsuri.port))
            elif proxy.scheme.startswith("socks"):
                stream = await connected(open_socks_tunnel(proxy, wsuri))
            else:
                stream = await connected(connect_tcp(proxy.host, proxy.port))
                if proxy.scheme == "https":
                    context = self._proxy_ssl or ssl_module.create_default_context()
                    hostname = self._proxy_server_hostname or proxy.host
                    stream = await _wrap_tls(stream, context, hostname)
                stream = await open_http_tunnel(stream, proxy, wsuri, self._user_agent_header)
        if wsuri.secure:
            stream = await self._wrap_tls(stream, wsuri)
        return stream

    async def _wrap_tls(self, stream: ByteStream, wsuri: WebSocketURI) -> ByteStream:
        """Run TLS to the WebSocket server over ``stream``."""
        ssl_context = self._ssl or ssl_module.create_default_context()
        hostname = self._server_hostname or wsuri.host
        return await _wrap_tls(stream, ssl_context, hostname)

    async def _open(self) -> ClientConnection:
        """Open the connection within ``open_timeout``, following redirects.

        Each call starts from the URI given to :func:`connect`.

        Raises:
            TimeoutError: ``open_timeout`` expired.
            SecurityError: a redirect from ``wss://`` to ``ws://``, or more
                than ``ANYWEBSOCKETS_MAX_REDIRECTS`` (10) redirects.
            ValueError: a redirect that cannot be followed with ``stream=``,
                a Unix socket or an explicit ``host``/``port``.
        """
        open_timeout = math.inf if self._open_timeout is None else self._open_timeout
        max_redirects = int(os.environ.get("ANYWEBSOCKETS_MAX_REDIRECTS", "10"))
        uri, wsuri, headers = self.uri, self._wsuri, self._additional_headers
        try:
            with anyio.fail_after(open_timeout):
                for _ in range(max_redirects + 1):
                    try:
                        return await self._open_once(wsuri, headers)
                    except InvalidStatus as exc:
                        location = _redirect_location(exc.response)
                        if location is None:
                            raise
                        new_uri = urllib.parse.urljoin(uri, location)
                        new_wsuri = parse_uri(new_uri)
                        headers = self._check_redirect(wsuri, new_uri, new_wsuri, headers)
                        self._logger.info(
                            "redirected to %s (HTTP %d)",
                            _without_userinfo(new_uri),
                            exc.response.status_code,
                        )
                        uri, wsuri = new_uri, new_wsuri
                raise SecurityError(f"more than {max_redirects} redirects")
        except TimeoutError as exc:
            if exc.args:
                raise
            raise TimeoutError("timed out during the opening handshake") from None

    def _check_redirect(
        self,
        wsuri: WebSocketURI,
        new_uri: str,
        new_wsuri: WebSocketURI,
        headers: HeadersLike | None,
    ) -> HeadersLike | None:
        """Refuse a redirect that cannot be followed; return the headers to send next.

        Raises:
            SecurityError: the redirect goes from ``wss://`` to ``ws://``.
            ValueError: the connection runs over ``stream=``, or goes
                cross-origin over a Unix socket or an explicit ``host``/``port``.
        """
        if self._stream is not None:
            raise ValueError(f"cannot follow a redirect to {new_uri} over the given stream")
        if wsuri.secure and not new_wsuri.secure:
            raise SecurityError(f"refused a redirect from wss:// to {new_uri}")
        if (wsuri.secure, wsuri.host, wsuri.port) == (
            new_wsuri.secure,
            new_wsuri.host,
            new_wsuri.port,
        ):
            return headers
        if self._unix_path is not None:
            raise ValueError(f"cannot follow a redirect to {new_uri} over a Unix socket")
        if self._host is not None or self._port is not None:
            raise ValueError(f"cannot follow a redirect to {new_uri} with host= or port= set")
        if headers is None:
            return None
        # Credentials for one origin must not reach another.
        return Headers(
            (name, value)
            for name, value in Headers(headers).raw_items()
            if name.lower() not in _CREDENTIAL_HEADERS
        )

    async def _open_once(
        self, wsuri: WebSocketURI, additional_headers: HeadersLike | None
    ) -> ClientConnection:
        """Open the stream to ``wsuri`` and run the opening handshake over it."""
        stream = await self._open_stream(wsuri)
        try:
            protocol = ClientProtocol(
                wsuri,
                origin=self._origin,
                extensions=self._extensions,
                subprotocols=self._subprotocols,
                max_size=self._max_size,
                logger=self._logger,
            )
            connection = self._create_connection(protocol, stream, **self._options)
        except BaseException:
            await anyio.aclose_forcefully(stream)
            raise
        try:
            await connection._handshake(additional_headers, self._user_agent_header)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await connection._abort()
            raise
        return connection

    def __await__(self) -> Generator[Any, None, ClientConnection]:
        return self._open().__await__()

    def __aiter__(self) -> AsyncIterator[ClientConnection]:
        """Yield a new connection each time the previous one is done, forever.

        When opening fails, ``process_exception`` decides: ``None`` waits the
        next delay of ``reconnect_delays`` and tries again (the delays start
        over after a successful connection); an exception, returned or raised,
        ends the loop, chained to the original failure when it differs.
        Exceptions raised in the loop body are not passed to it: they
        propagate unchanged.

        Each connection is driven by the tasks that use it: no background
        task, and no task group or cancel scope stays open across iterations.
        It is closed with 1000 when the loop moves to the next iteration, and
        when the loop is left the closing handshake runs at once in a task of
        the event loop's own, like the finalizer of an abandoned async
        generator: with 1000 after ``break`` or ``return``, with 1011 when an
        exception or a cancellation leaves the loop (on CPython, which frees
        the iterator as the loop is left). Wrap the body in ``async with ws:``
        to wait for the closing handshake before leaving.

        Cancellation:
            Waiting between attempts and opening are checkpoints; a
            cancellation leaves no connection behind.
        """
        return _Reconnecting(self)

    def _retry_or_raise(self, exc: Exception) -> None:
        """Return when ``process_exception`` says to retry; raise otherwise."""
        try:
            decision = self._process_exception(exc)
        except Exception as raised:
            decision = raised
        if decision is None:
            return
        if decision is exc:
            raise exc
        raise decision from exc

    async def __aenter__(self) -> ClientConnection:
        """Open the connection, and start a task group that reads it in the background.

        Raises:
            As :class:`connect`.
        Cancellation:
            Always a checkpoint. A cancellation during the opening drops the
            connection (no closing handshake: it was not open yet).
        """
        if self._tg is not None:
            raise RuntimeError("this connect() is in use already; call connect() again")
        connection = await self._open()
        tg = anyio.create_task_group()
        await tg.__aenter__()
        connection._start(tg)
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

        Cancellation:
            The closing handshake runs shielded, bounded by ``close_timeout``;
            a cancellation of the block closes with 1011 and propagates.
        """
        assert self._tg is not None and self._connection is not None
        tg, connection = self._tg, self._connection
        self._tg = self._connection = None
        try:
            await connection.__aexit__(exc_type, exc, tb)
        finally:
            # The reader stops by itself once the connection is closed. Cancel
            # the task group anyway: its exit then absorbs any cancellation
            # instead of raising it in place of the block's exception.
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


def process_exception(exc: Exception) -> Exception | None:
    """Decide whether ``async for ws in connect(...)`` retries after a failure.

    Retries (returns ``None``) on network errors (``OSError``, which covers
    refused and reset connections), ``TimeoutError``, a server that hung up
    during the handshake (``InvalidMessage`` caused by ``EOFError``) and HTTP
    500, 502, 503 and 504; returns ``exc`` for everything else, which ends
    the loop (a 401 or a 403, an invalid URI, a negotiation failure). TLS
    errors are ``OSError`` too, so a certificate that does not verify is
    retried: pass your own function to stop on it.
    Pass your own function as ``process_exception=`` to change the policy.
    """
    if isinstance(exc, OSError | TimeoutError):
        return None
    if isinstance(exc, InvalidMessage) and isinstance(exc.__cause__, EOFError):
        return None
    if isinstance(exc, InvalidStatus) and exc.response.status_code in {500, 502, 503, 504}:
        return None
    return exc


_default_process_exception = process_exception


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return default if value is None else float(value)


def backoff(
    initial_delay: float | None = None,
    min_delay: float | None = None,
    max_delay: float | None = None,
    factor: float | None = None,
) -> Iterator[float]:
    """Yield the delays between reconnection attempts, in seconds.

    The first delay is random in ``[0, initial_delay)`` (5 s), so that many
    clients do not reconnect at once after a server restart; then
    ``min_delay`` (3.1 s) grows by ``factor`` (1.618) up to ``max_delay``
    (90 s), and stays there. The environment variables
    ``ANYWEBSOCKETS_BACKOFF_INITIAL_DELAY``, ``_MIN_DELAY``, ``_MAX_DELAY``
    and ``_FACTOR`` change the defaults.
    """
    if initial_delay is None:
        initial_delay = _env_float("ANYWEBSOCKETS_BACKOFF_INITIAL_DELAY", 5.0)
    if min_delay is None:
        min_delay = _env_float("ANYWEBSOCKETS_BACKOFF_MIN_DELAY", 3.1)
    if max_delay is None:
        max_delay = _env_float("ANYWEBSOCKETS_BACKOFF_MAX_DELAY", 90.0)
    if factor is None:
        factor = _env_float("ANYWEBSOCKETS_BACKOFF_FACTOR", 1.618)
    yield random.random() * initial_delay
    delay = min_delay
    while delay < max_delay:
        yield delay
        delay *= factor
    while True:
        yield max_delay


class _Reconnecting:
    """The iterator of ``async for ws in connect(...)``.

    Not an async generator: trio warns about abandoned ones, and a plain
    object can close its last connection from ``__del__`` through the event
    loop, quietly, whichever way the loop was left.
    """

    def __init__(self, connector: connect) -> None:
        self._connector = connector
        self._connection: ClientConnection | None = None
        self._cleanup: Cleanup | None = None
        self._loop_code: CodeType | None = None
        self._stream_used = False

    def __aiter__(self) -> _Reconnecting:
        return self

    async def __anext__(self) -> ClientConnection:
        if self._cleanup is None:
            self._cleanup = cleanup_scheduler()
            # The code of the function running the loop, to recognise its frame
            # in __del__ (a code object, unlike a frame, makes no cycle).
            self._loop_code = _caller_code()
        previous, self._connection = self._connection, None
        if previous is not None:
            await previous.close()
        connector = self._connector
        delays: Iterator[float] | None = None
        while True:
            if connector._stream is not None:
                if self._stream_used:
                    raise ValueError("cannot reconnect: connect() was given a stream")
                self._stream_used = True
            try:
                connection = await connector._open()
            except Exception as exc:
                connector._retry_or_raise(exc)
                if delays is None:
                    delays = connector._reconnect_delays()
                delay = next(delays, None)
                if delay is None:
                    # reconnect_delays gave up: so does the loop.
                    raise
                connector._logger.info(
                    "connecting to %s failed (%s); retrying in %.1f seconds",
                    _without_userinfo(connector.uri),
                    str(exc) or type(exc).__name__,
                    delay,
                )
                # The traceback holds this frame, hence this iterator, in a
                # cycle with the failed connection: drop it, so that the
                # iterator is freed, and its connection closed, as soon as
                # the loop is left.
                exc.__traceback__ = None
                del exc
                await anyio.sleep(delay)
                continue
            self._connection = connection
            return connection

    def __del__(self) -> None:
        connection, self._connection = self._connection, None
        if (
            connection is not None
            and self._cleanup is not None
            and connection.state is not State.CLOSED
        ):
            code = _loop_exit_code(self._loop_code)
            self._cleanup(functools.partial(connection.close, code))


def _without_userinfo(uri: str) -> str:
    """Return ``uri`` without ``user:password@``, for logs."""
    parts = urllib.parse.urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()


_POP_TOP = dis.opmap["POP_TOP"]


def _caller_code() -> CodeType | None:
    """Return the code object of the function that called our caller, if known."""
    getframe = getattr(sys, "_getframe", None)
    return None if getframe is None else getframe(2).f_code


def _loop_exit_code(loop_code: CodeType | None) -> int:
    """Tell how the ``async for`` loop of ``loop_code`` was left: 1000 or 1011.

    Called from ``__del__`` of the loop's iterator. When the loop's frame drops
    the iterator while it runs (CPython frees objects as soon as their count
    drops), its current instruction tells why: ``POP_TOP`` removes the iterator
    on ``break`` and ``return``; any other instruction is one that raised (the
    body's exception, or a cancellation thrown into an ``await``), the stack
    being cleared as the exception propagates. Anywhere else (a garbage
    collection, another interpreter), the exit counts as normal.
    """
    getframe = getattr(sys, "_getframe", None)
    if loop_code is None or getframe is None:
        return 1000
    try:
        frame = getframe(2)
    except ValueError:  # pragma: no cover - __del__ called with no caller
        return 1000
    if frame.f_code is not loop_code:
        return 1000
    return 1000 if loop_code.co_code[frame.f_lasti] == _POP_TOP else 1011
