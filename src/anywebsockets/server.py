"""The server: :func:`serve`, :func:`unix_serve`, :func:`serve_stream`, :class:`Server`.

Who runs what
-------------
A :class:`Server` owns one task group. Its tasks accept connections, and
each accepted connection gets a task that runs the opening handshake
(bounded by ``open_timeout``), then the handler, then the closing handshake.
Handler tasks are shielded from a cancellation that comes from outside: the
server decides when they stop. On shutdown (:meth:`Server.close`, the end of
``async with``, or a cancelled :meth:`Server.serve_forever`) the server stops
listening, answers 503 to handshakes still in flight and closes open
connections with 1001; handlers then return. When shutdown was forced (the
block ended or the server was cancelled), handlers still running after
``close_timeout`` are cancelled.
"""

from __future__ import annotations

import contextlib
import email.utils
import http
import inspect
import logging
import math
import socket
import ssl as ssl_module
import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import (
    ByteStream,
    SocketAttribute,
    SocketListener,
    TaskGroup,
    TaskStatus,
)
from anyio.streams.tls import TLSStream

from ._backends import create_tcp_listeners, create_unix_listener, listener_from_socket
from .connection import Connection
from .exceptions import InvalidUpgrade, ProtocolError
from .protocol import (
    Close,
    Request,
    Response,
    ServerExtensionFactory,
    ServerProtocol,
    State,
    enable_server_permessage_deflate,
)
from .protocol.headers import validate_subprotocols
from .protocol.http11 import SERVER
from .protocol.protocol import MaxSize
from .protocol.server import Origin

__all__ = ["Server", "ServerConnection", "serve", "serve_stream", "unix_serve"]

Handler = Callable[["ServerConnection"], Awaitable[None]]
ProcessRequest = Callable[
    ["ServerConnection", Request], Awaitable[Response | None] | Response | None
]
ProcessResponse = Callable[
    ["ServerConnection", Request, Response], Awaitable[Response | None] | Response | None
]
SelectSubprotocol = Callable[["ServerConnection", Sequence[str]], str | None]

# Errors that mean "the client went away or misbehaved", not "we have a bug".
_NETWORK_ERRORS = (
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    anyio.EndOfStream,
    OSError,
)

_NOT_A_WEBSOCKET_CLIENT = (
    "\nThis address serves WebSocket connections only: "
    "a WebSocket client is needed to talk to it, not a plain HTTP client "
    "or a web browser.\n"
)


async def _maybe_await(value: Any) -> Any:
    """Await ``value`` if a hook returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


# The last Date header built, and the second it stands for.
_last_date: tuple[int, str] = (-1, "")


def _http_date() -> str:
    """Return the current time as an HTTP date, formatted once per second."""
    global _last_date
    now = int(time.time())
    if _last_date[0] != now:
        _last_date = (now, email.utils.formatdate(now, usegmt=True))
    return _last_date[1]


def _stamp(response: Response, server_header: str | None) -> None:
    """Add the ``Server`` and ``Date`` headers to ``response`` unless present."""
    headers = response.headers
    if server_header is not None and "Server" not in headers:
        headers["Server"] = server_header
    if "Date" not in headers:
        headers["Date"] = _http_date()


def _check_response(response: Any) -> Response:
    """Return what a hook returned, if it is a response.

    Raises:
        TypeError: it is not.
    """
    if not isinstance(response, Response):
        raise TypeError(f"a hook returned {type(response).__name__}, not a Response")
    return response


def _format_address(address: Any) -> str:
    """Render a listener's address for the log: ``host:port`` or a path."""
    if isinstance(address, tuple):
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return str(address)


class _ServerProtocol(ServerProtocol):
    """The server engine, stamping ``Server`` and ``Date`` on the responses it builds.

    That covers the answers the engine sends by itself (400, 414, 431) as
    well as those of :meth:`accept` and :meth:`ServerConnection.respond`.
    """

    server_header: str | None = SERVER

    def reject(self, status: int, text: str) -> Response:
        """Build a plain-text response, as the engine does, with ``Server`` and ``Date``."""
        response = super().reject(status, text)
        _stamp(response, self.server_header)
        return response


class ServerConnection(Connection):
    """The server side of a WebSocket connection; :func:`serve` hands it to the handler.

    Read its API in :class:`Connection`.
    """

    protocol: ServerProtocol

    def __init__(
        self,
        protocol: ServerProtocol,
        stream: ByteStream,
        *,
        server: Server | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(protocol, stream, **kwargs)
        self.server = server
        """The :class:`Server` this connection belongs to, if any."""
        self.username: str | None = None
        """The user name that :func:`basic_auth` authenticated, if any."""

    def respond(self, status: int, text: str) -> Response:
        """Build a plain-text HTTP response, for ``process_request`` to return.

        Args:
            status: the HTTP status.
            text: the body, sent as UTF-8 ``text/plain``.
        Returns:
            The response, with ``Connection: close`` and ``Content-Length``.
        Raises:
            ValueError: ``status`` is not an HTTP status.
        """
        return self.protocol.reject(status, text)

    async def _handshake(
        self,
        process_request: ProcessRequest | None,
        process_response: ProcessResponse | None,
        server_header: str | None,
    ) -> bool:
        """Read the request and answer it; True when the connection is open."""
        protocol = self.protocol
        while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
            events = protocol.events_received()
            if events:
                assert isinstance(events[0], Request)
                self.request = events[0]
                break
            try:
                data = await self._stream.receive(65536)
            except anyio.EndOfStream:
                self._eof_fed = True
                protocol.receive_eof()
            else:
                protocol.receive_data(data)
        if self.request is None:
            # Unparsable request: the engine wrote the error response, if any.
            await self._flush()
            self.logger.info("invalid opening handshake: %s", protocol.handshake_exc)
            return False
        request = self.request
        response = await self._process(process_request, process_response, request, server_header)
        self.response = response
        protocol.send_response(response)
        await self._flush()
        if protocol.state is not State.OPEN:
            self.logger.info(
                "connection rejected (%d %s)", response.status_code, response.reason_phrase
            )
            return False
        self.logger.info("connection open")
        self._dispatch(protocol.events_received())
        return True

    async def _process(
        self,
        process_request: ProcessRequest | None,
        process_response: ProcessResponse | None,
        request: Request,
        server_header: str | None,
    ) -> Response:
        """Run the hooks around the engine's answer; a crashing hook gets a 500.

        The ``Server`` and ``Date`` headers are added before
        ``process_response`` runs, so that it may change or remove them.
        """
        try:
            response = None
            if process_request is not None:
                response = await _maybe_await(process_request(self, request))
            if response is None:
                response = self._accept(request)
            _check_response(response)
            _stamp(response, server_header)
            if process_response is not None:
                replacement = await _maybe_await(process_response(self, request, response))
                if replacement is not None:
                    response = _check_response(replacement)
        except Exception:
            self.logger.error("opening handshake failed", exc_info=True)
            response = self.respond(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\n"
                "See the server log for more information.\n",
            )
        if (
            response.status_code == http.HTTPStatus.SWITCHING_PROTOCOLS
            and self.server is not None
            and not self.server.is_serving()
        ):
            # Checked last, with no await before send_response(): a server
            # that started closing meanwhile opens no new connection.
            response = self.respond(
                http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
            )
        return response

    def _accept(self, request: Request) -> Response:
        """Let the engine answer; tell plain HTTP clients what they are talking to."""
        response = self.protocol.accept(request)
        if response.status_code == http.HTTPStatus.UPGRADE_REQUIRED and isinstance(
            self.protocol.handshake_exc, InvalidUpgrade
        ):
            response.body += _NOT_A_WEBSOCKET_CLIENT.encode()
            del response.headers["Content-Length"]
            response.headers["Content-Length"] = str(len(response.body))
        return response


class _Options:
    """What :func:`serve` and :func:`serve_stream` need to run one connection."""

    def __init__(
        self,
        handler: Handler,
        *,
        origins: Sequence[Origin] | None = None,
        extensions: Sequence[ServerExtensionFactory] | None = None,
        subprotocols: Sequence[str] | None = None,
        select_subprotocol: SelectSubprotocol | None = None,
        compression: str | None = "deflate",
        process_request: ProcessRequest | None = None,
        process_response: ProcessResponse | None = None,
        server_header: str | None = SERVER,
        open_timeout: float | None = 10,
        ping_interval: float | None = 20,
        ping_timeout: float | None = 20,
        close_timeout: float | None = 10,
        max_size: MaxSize = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: logging.Logger | str | None = None,
        create_connection: Callable[..., ServerConnection] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.handler = handler
        if subprotocols is not None:
            validate_subprotocols(subprotocols)  # fail now, not at each connection
        if compression == "deflate":
            extensions = enable_server_permessage_deflate(extensions)
        elif compression is not None:
            raise ValueError(f"unsupported compression: {compression}")
        self.protocol_options: dict[str, Any] = {
            "origins": origins,
            "extensions": extensions,
            "subprotocols": subprotocols,
            "max_size": max_size,
        }
        self.select_subprotocol = select_subprotocol
        self.process_request = process_request
        self.process_response = process_response
        self.server_header = server_header
        self.open_timeout = math.inf if open_timeout is None else open_timeout
        self.close_timeout = math.inf if close_timeout is None else close_timeout
        self.connection_options: dict[str, Any] = {
            "ping_interval": ping_interval,
            "ping_timeout": ping_timeout,
            "close_timeout": close_timeout,
            "max_queue": max_queue,
            "write_limit": write_limit,
        }
        if isinstance(logger, str):
            logger = logging.getLogger(logger)
        self.logger = logger or logging.getLogger("anywebsockets.server")
        self.create_connection = create_connection or ServerConnection
        self.ssl = ssl

    def _protocol(self, connection: Callable[[], ServerConnection | None]) -> ServerProtocol:
        """Build the engine for one connection."""
        select = self.select_subprotocol

        def select_subprotocol(_: ServerProtocol, offered: Sequence[str]) -> str | None:
            assert select is not None
            return select(connection(), offered)  # type: ignore[arg-type]

        protocol = _ServerProtocol(
            select_subprotocol=None if select is None else select_subprotocol,
            logger=self.logger,
            **self.protocol_options,
        )
        protocol.server_header = self.server_header
        return protocol

    def _logger_for(
        self, connection: ServerConnection | None
    ) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        """The connection's logger once it exists (formatters then see it), else the server's."""
        return self.logger if connection is None else connection.logger

    async def open(self, stream: ByteStream, server: Server | None) -> ServerConnection | None:
        """TLS and the opening handshake within ``open_timeout``; None when it failed.

        Never raises but cancellation: a failure is logged, the stream closed.
        """
        connection: ServerConnection | None = None
        try:
            with anyio.move_on_after(self.open_timeout) as scope:
                try:
                    if self.ssl is not None:
                        stream = await TLSStream.wrap(
                            stream,
                            server_side=True,
                            ssl_context=self.ssl,
                            standard_compatible=False,
                        )
                    protocol = self._protocol(lambda: connection)
                    connection = self.create_connection(
                        protocol, stream, server=server, **self.connection_options
                    )
                    if await connection._handshake(
                        self.process_request, self.process_response, self.server_header
                    ):
                        return connection
                except _NETWORK_ERRORS as exc:
                    self._logger_for(connection).info(
                        "opening handshake failed: %s", exc or type(exc).__name__
                    )
                except Exception:
                    self._logger_for(connection).error("opening handshake failed", exc_info=True)
            if scope.cancelled_caught:
                self._logger_for(connection).info(
                    "opening handshake timed out after %s s", self.open_timeout
                )
        finally:
            if connection is None or connection.state is not State.OPEN:
                with anyio.CancelScope(shield=True):
                    if connection is None:
                        await stream.aclose()
                    else:
                        await connection._abort()
        return None

    async def run(self, stream: ByteStream, server: Server | None = None) -> None:
        """Serve one stream: handshake, handler, close. Never raises but cancellation."""
        connection = await self.open(stream, server)
        if connection is None:
            return
        if server is not None:
            server._connections.add(connection)
            if not server.is_serving():
                server._close_after_shutdown(connection)
        try:
            # The reader stops when the connection closes; if the handler is
            # cancelled, close() does the reading for the handshake. It runs
            # in the server's task group when there is one (a task group per
            # connection costs a kilobyte), else in a group of its own.
            if server is not None and server._tg is not None:
                connection._start(server._tg)
                await self._run_handler(connection)
            else:
                async with anyio.create_task_group() as tg:
                    connection._start(tg)
                    await self._run_handler(connection)
        finally:
            if server is not None:
                server._connections.discard(connection)

    async def _run_handler(self, connection: ServerConnection) -> None:
        """Run the handler, then close the connection: 1000, or 1011 if it failed."""
        try:
            await self.handler(connection)
        except Exception:
            connection.logger.error("connection handler failed", exc_info=True)
            await connection.close(1011)
        except BaseException:
            await connection.close(1011)
            raise
        else:
            await connection.close(1000)


class Server:
    """A WebSocket server: listeners, and a task for each connection.

    :func:`serve` creates it. Use it as an async context manager (listening
    inside the block) or run :meth:`serve_forever` in a task group. A server
    runs once: it cannot listen again after it closed.
    """

    def __init__(
        self,
        options: _Options,
        open_listeners: Callable[[], Awaitable[Sequence[SocketListener]]],
    ) -> None:
        self._options = options
        self._open_listeners = open_listeners
        self.logger = options.logger
        """The server's logger: ``anywebsockets.server`` unless ``logger`` was given."""
        self.listeners: list[SocketListener] = []
        """The anyio listeners accepting connections, once the server runs."""
        self._connections: set[ServerConnection] = set()
        self._tg: TaskGroup | None = None
        self._started = False
        self._serving = False
        self._closing = anyio.Event()
        self._listeners_closed = anyio.Event()
        self._close_args: tuple[bool, int, str] = (True, 1001, "")
        self._handler_scopes: set[anyio.CancelScope] = set()
        # Set when a handler returns; made by the first task that waits for it.
        self._handlers_changed: anyio.Event | None = None

    @property
    def connections(self) -> set[ServerConnection]:
        """The open connections: those past the opening handshake and not closing."""
        return {c for c in self._connections if c.state is State.OPEN}

    def is_serving(self) -> bool:
        """Tell whether the server accepts new connections."""
        return self._serving

    async def __aenter__(self) -> Server:
        """Start listening, and serving in a task group that spans the block.

        Raises:
            OSError: a listener could not be opened (such as an address in use).
            RuntimeError: the server runs already, or ran before.
        Cancellation:
            A checkpoint; cancelled while opening, nothing is left open.
        """
        if self._started:
            raise RuntimeError("a server runs only once")
        self._started = True
        self.listeners = list(await self._open_listeners())
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._serving = True
        for listener in self.listeners:
            tg.start_soon(self._accept, listener)
            address = listener.extra(SocketAttribute.local_address, None)
            self.logger.info("server listening on %s", _format_address(address))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Shut down: stop listening, close connections with 1001, wait for handlers.

        The block's exception, cancellation included, propagates unchanged.

        Cancellation:
            Shutdown runs shielded: handlers get ``close_timeout`` seconds to
            return, then they are cancelled and the server waits for them.
        """
        assert self._tg is not None
        tg = self._tg
        try:
            await self._shutdown()
        finally:
            tg.cancel_scope.cancel()
            await tg.__aexit__(None, None, None)
            self._tg = None
            self.logger.info("server closed")

    async def serve_forever(
        self, *, task_status: TaskStatus[Server] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until the server is closed, then wait for its handlers.

        Run it inside ``async with serve(...) as server`` or, on its own, in a
        task group: ``server = await tg.start(serve(...).serve_forever)``
        returns the server once it listens. It returns after another task
        called :meth:`close` and every handler has returned.

        Raises:
            OSError: a listener could not be opened (on its own only).
        Cancellation:
            Shuts the server down gracefully: it stops listening, open
            connections are closed with 1001, handlers get ``close_timeout``
            seconds to return and are cancelled after that; then the
            cancellation propagates.
        """
        if self._tg is None:
            async with self:
                task_status.started(self)
                await self.wait_closed()
            return
        task_status.started(self)
        try:
            await self.wait_closed()
        except BaseException:
            await self._shutdown()
            raise

    def close(self, close_connections: bool = True, code: int = 1001, reason: str = "") -> None:
        """Start shutting down and return at once.

        Stops listening, answers 503 to handshakes in flight, and closes open
        connections with ``code`` and ``reason`` unless ``close_connections``
        is false, which lets handlers finish in their own time. See
        :meth:`wait_closed`. Closing twice, or a server that does not run,
        does nothing.

        Raises:
            ProtocolError: ``code`` may not be sent, or ``reason`` is longer
                than 123 bytes once encoded.
        """
        if len(Close(code, reason).serialize()) > 125:
            raise ProtocolError("close reason too long")
        if self._closing.is_set() or self._tg is None:
            return
        self._serving = False
        self._close_args = (close_connections, code, reason)
        self._closing.set()
        self.logger.info("server closing")
        self._tg.start_soon(self._close_listeners)
        for connection in list(self._connections):
            self._close_after_shutdown(connection)

    async def _close_listeners(self) -> None:
        """Stop listening (shielded: it runs during a cancelled shutdown too)."""
        try:
            with anyio.CancelScope(shield=True):
                for listener in self.listeners:
                    with contextlib.suppress(OSError):  # closed either way
                        await listener.aclose()
        finally:
            self._listeners_closed.set()

    def _close_after_shutdown(self, connection: ServerConnection) -> None:
        """Close ``connection`` as :meth:`close` asked (a connection that opened late)."""
        close_connections, code, reason = self._close_args
        if close_connections and self._tg is not None:
            self._tg.start_soon(connection.close, code, reason)

    async def wait_closed(self) -> None:
        """Wait until :meth:`close` was called, listening stopped and every handler returned.

        Cancellation:
            Always a checkpoint; safe: cancelling it changes nothing.
        """
        await self._closing.wait()
        await self._listeners_closed.wait()
        while self._handler_scopes:
            if self._handlers_changed is None:
                self._handlers_changed = anyio.Event()
            await self._handlers_changed.wait()

    async def aclose(
        self, close_connections: bool = True, code: int = 1001, reason: str = ""
    ) -> None:
        """Close the server and wait for it: :meth:`close` then :meth:`wait_closed`.

        Cancellation:
            Always a checkpoint; the shutdown started by :meth:`close`
            continues.
        """
        self.close(close_connections, code, reason)
        await self.wait_closed()

    async def _shutdown(self) -> None:
        """Close, give handlers ``close_timeout`` seconds, cancel those left, wait."""
        self.close()
        with anyio.CancelScope(shield=True):
            with anyio.move_on_after(self._options.close_timeout):
                await self.wait_closed()
            for scope in self._handler_scopes:
                scope.cancel()
            await self.wait_closed()

    async def _accept(self, listener: SocketListener) -> None:
        """Accept connections until the listener closes."""
        assert self._tg is not None
        while True:
            try:
                stream = await listener.accept()
            except (anyio.ClosedResourceError, anyio.BrokenResourceError):
                return
            except OSError as exc:
                # Out of file descriptors, or a connection reset before it
                # was accepted: keep serving the others.
                if self._closing.is_set():
                    return
                self.logger.error("failed to accept a connection: %s", exc)
                await anyio.sleep(0.1)
                continue
            self._tg.start_soon(self._handle, stream)

    async def _handle(self, stream: ByteStream) -> None:
        """Run one connection, shielded from outside cancellation (see the module doc)."""
        with anyio.CancelScope(shield=True) as scope:
            self._handler_scopes.add(scope)
            try:
                await self._options.run(stream, self)
            finally:
                self._handler_scopes.discard(scope)
                if self._handlers_changed is not None:
                    self._handlers_changed.set()
                    self._handlers_changed = None


def serve(
    handler: Handler,
    host: str | Sequence[str] | None = None,
    port: int | None = None,
    *,
    sock: socket.socket | None = None,
    backlog: int | None = None,
    reuse_port: bool = False,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on ``host`` and ``port``.

    ``handler(connection)`` runs once per connection, in the server's task
    group; the connection closes with 1000 when it returns and 1011 when it
    raises (the error is logged). Leaving the ``async with`` block, or
    cancelling :meth:`Server.serve_forever`, shuts the server down: open
    connections close with 1001 and handlers get ``close_timeout`` seconds to
    return before they are cancelled. Nothing listens until the server runs::

        async with serve(handler, "localhost", 8765) as server:
            await server.serve_forever()

        server = await tg.start(serve(handler, "localhost", 0).serve_forever)

    Args:
        handler: the coroutine function that serves each connection.
        host: where to listen; all interfaces when ``None``.
        port: the TCP port; 0 picks a free one.
        sock: an already bound, listening socket to use instead.
        backlog: the listen backlog.
        reuse_port: let several processes listen on the same port.
        kwargs: connection options: ``origins``, ``extensions``,
            ``subprotocols``, ``select_subprotocol``, ``compression``,
            ``process_request``, ``process_response``, ``server_header``,
            ``open_timeout``, ``ping_interval``, ``ping_timeout``,
            ``close_timeout``, ``max_size``, ``max_queue``, ``write_limit``,
            ``logger``, ``create_connection``, ``ssl``.
    Returns:
        The server, not yet listening.
    Raises:
        ValueError: ``compression`` is not ``"deflate"`` or ``None``, or a
            subprotocol is not an HTTP token.
        TypeError: an unknown option, or ``subprotocols`` given as a string.
    """
    options = _Options(handler, **kwargs)
    backlog = 65536 if backlog is None else backlog

    async def open_listeners() -> Sequence[SocketListener]:
        if sock is not None:
            return [await listener_from_socket(sock, backlog=backlog)]
        hosts = [host] if host is None or isinstance(host, str) else list(host)
        listeners: list[SocketListener] = []
        try:
            for local_host in hosts:
                listeners += await create_tcp_listeners(
                    local_host, port or 0, reuse_port=reuse_port, backlog=backlog
                )
        except BaseException:
            with anyio.CancelScope(shield=True):
                for listener in listeners:
                    await listener.aclose()
            raise
        return listeners

    return Server(options, open_listeners)


def unix_serve(
    handler: Handler,
    path: str | None = None,
    *,
    sock: socket.socket | None = None,
    backlog: int | None = None,
    **kwargs: Any,
) -> Server:
    """Create a WebSocket server listening on a Unix socket at ``path``.

    Args:
        handler: as for :func:`serve`.
        path: the socket's path.
        sock: an already bound, listening Unix socket to use instead.
        backlog: the listen backlog.
        kwargs: the connection options of :func:`serve`.
    Returns:
        The server, not yet listening.
    Raises:
        TypeError: neither ``path`` nor ``sock`` was given.
    """
    if path is None and sock is None:
        raise TypeError("unix_serve() needs a path or a sock")
    options = _Options(handler, **kwargs)
    backlog = 65536 if backlog is None else backlog

    async def open_listeners() -> Sequence[SocketListener]:
        if sock is not None:
            return [await listener_from_socket(sock, backlog=backlog)]
        assert path is not None
        return [await create_unix_listener(path, backlog=backlog)]

    return Server(options, open_listeners)


async def serve_stream(handler: Handler, stream: ByteStream, **kwargs: Any) -> None:
    """Serve one WebSocket connection over an existing byte stream.

    Runs the opening handshake, then ``handler(connection)``, then closes the
    connection and the stream. For library authors who accept connections
    themselves (an HTTP server that hands over upgraded streams, a test).

    Args:
        handler: as for :func:`serve`.
        stream: the connected byte stream.
        kwargs: the connection options of :func:`serve`.
    Cancellation:
        Closes the connection with 1011, within ``close_timeout``, then
        propagates.
    """
    await _Options(handler, **kwargs).run(stream)
