"""The server: :func:`serve`, :func:`unix_serve`, :func:`serve_stream`, :class:`Server`."""

from __future__ import annotations

import contextlib
import email.utils
import http
import inspect
import logging
import math
import socket
import ssl as ssl_module
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import (
    ByteStream,
    Listener,
    SocketAttribute,
    SocketListener,
    TaskGroup,
    TaskStatus,
)
from anyio.streams.tls import TLSStream

from .connection import Connection
from .protocol import (
    Request,
    Response,
    ServerExtensionFactory,
    ServerProtocol,
    State,
    enable_server_permessage_deflate,
)
from .protocol.http11 import SERVER
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


async def _maybe_await(value: Any) -> Any:
    """Await ``value`` if a hook returned an awaitable."""
    if inspect.isawaitable(value):
        return await value
    return value


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
        response = await self._process(process_request, process_response, request)
        if server_header is not None and "Server" not in response.headers:
            response.headers["Server"] = server_header
        if "Date" not in response.headers:
            response.headers["Date"] = email.utils.formatdate(usegmt=True)
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
    ) -> Response:
        """Run the hooks around the engine's answer; a crashing hook gets a 500."""
        try:
            response = None
            if process_request is not None:
                response = await _maybe_await(process_request(self, request))
            if response is None:
                if self.server is not None and not self.server.is_serving():
                    response = self.respond(
                        http.HTTPStatus.SERVICE_UNAVAILABLE, "Server is shutting down.\n"
                    )
                else:
                    response = self.protocol.accept(request)
            if process_response is not None:
                replacement = await _maybe_await(process_response(self, request, response))
                if replacement is not None:
                    response = replacement
        except Exception:
            self.logger.error("opening handshake failed", exc_info=True)
            response = self.respond(
                http.HTTPStatus.INTERNAL_SERVER_ERROR,
                "Failed to open a WebSocket connection.\n"
                "See the server log for more information.\n",
            )
        assert isinstance(response, Response)
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
        max_size: int | None = 2**20,
        max_queue: int | tuple[int, int | None] | None = 16,
        write_limit: int | tuple[int, int | None] = 2**15,
        logger: logging.Logger | str | None = None,
        create_connection: Callable[..., ServerConnection] | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.handler = handler
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

    async def open(self, stream: ByteStream, server: Server | None) -> ServerConnection | None:
        """TLS and the opening handshake within ``open_timeout``; None when it failed."""
        select = self.select_subprotocol
        connection: ServerConnection | None = None
        with anyio.move_on_after(self.open_timeout):
            try:
                if self.ssl is not None:
                    stream = await TLSStream.wrap(
                        stream, server_side=True, ssl_context=self.ssl, standard_compatible=False
                    )
                protocol = ServerProtocol(
                    select_subprotocol=(
                        None if select is None else lambda _, offered: select(connection, offered)  # type: ignore[arg-type]
                    ),
                    logger=self.logger,
                    **self.protocol_options,
                )
                connection = self.create_connection(
                    protocol, stream, server=server, **self.connection_options
                )
                if await connection._handshake(
                    self.process_request, self.process_response, self.server_header
                ):
                    return connection
            except (
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                anyio.EndOfStream,
                OSError,
            ) as exc:
                self.logger.info("opening handshake failed: %s", exc or type(exc).__name__)
        if connection is None:
            with anyio.CancelScope(shield=True):
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
            server.connections.add(connection)
            if not server.is_serving():
                server._close_after_shutdown(connection)
        try:
            async with anyio.create_task_group() as tg:
                await tg.start(connection._run)
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
        finally:
            if server is not None:
                server.connections.discard(connection)


class Server:
    """A WebSocket server: listeners, and a task for each connection.

    :func:`serve` creates it. Use it as an async context manager (listening
    inside the block) or run :meth:`serve_forever` in a task group.
    """

    def __init__(
        self,
        options: _Options,
        open_listeners: Callable[[], Awaitable[Sequence[Listener[Any]]]],
    ) -> None:
        self._options = options
        self._open_listeners = open_listeners
        self.logger = options.logger
        self.connections: set[ServerConnection] = set()
        """The open connections."""
        self.listeners: list[Listener[Any]] = []
        """The anyio listeners accepting connections."""
        self._tg: TaskGroup | None = None
        self._serving = False
        self._closing = anyio.Event()
        self._close_args: tuple[bool, int, str] = (True, 1001, "")
        self._handlers = 0
        self._handlers_changed = anyio.Event()

    def is_serving(self) -> bool:
        """Tell whether the server accepts new connections."""
        return self._serving

    async def __aenter__(self) -> Server:
        """Start listening and serving in a task group that spans the block."""
        if self._tg is not None:
            raise RuntimeError("the server is running already")
        self.listeners = list(await self._open_listeners())
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        self._serving = True
        for listener in self.listeners:
            tg.start_soon(self._accept, listener)
            address = listener.extra(SocketAttribute.local_address, None)
            self.logger.info("server listening on %s", address)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Shut down: stop listening, close connections with 1001, wait for handlers.

        Runs within ``close_timeout`` even when cancelled; handlers still
        running then are cancelled. The block's exception propagates unchanged.
        """
        assert self._tg is not None
        tg = self._tg
        self.close()
        with anyio.CancelScope(shield=True), anyio.move_on_after(self._options.close_timeout):
            await self.wait_closed()
        # Handlers still running after close_timeout are cancelled.
        tg.cancel_scope.cancel()
        await tg.__aexit__(None, None, None)
        self.logger.info("server closed")

    async def serve_forever(
        self, *, task_status: TaskStatus[Server] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until the server is closed or this call is cancelled.

        In a task group, ``await tg.start(server.serve_forever)`` returns the
        server once it listens.

        Cancellation:
            Shuts the server down gracefully: open connections are closed
            with 1001 within ``close_timeout``, then the cancellation propagates.
        """
        if self._tg is not None:
            task_status.started(self)
            await self._closing.wait()
            return
        async with self:
            task_status.started(self)
            await self._closing.wait()

    def close(self, close_connections: bool = True, code: int = 1001, reason: str = "") -> None:
        """Start shutting down and return at once.

        Stops listening, answers 503 to handshakes in flight, and closes open
        connections with ``code`` unless ``close_connections`` is false. See
        :meth:`wait_closed`.
        """
        if self._closing.is_set() or self._tg is None:
            return
        self._serving = False
        self._close_args = (close_connections, code, reason)
        self._closing.set()
        self.logger.info("server closing")
        for listener in self.listeners:
            self._tg.start_soon(listener.aclose)
        for connection in list(self.connections):
            self._close_after_shutdown(connection)

    def _close_after_shutdown(self, connection: ServerConnection) -> None:
        close_connections, code, reason = self._close_args
        if close_connections and self._tg is not None:
            self._tg.start_soon(connection.close, code, reason)

    async def wait_closed(self) -> None:
        """Wait until the server is closing and every handler has returned.

        Cancellation:
            Always a checkpoint; safe.
        """
        await self._closing.wait()
        while self._handlers:
            await self._handlers_changed.wait()

    async def aclose(
        self, close_connections: bool = True, code: int = 1001, reason: str = ""
    ) -> None:
        """Close the server and wait for it: :meth:`close` then :meth:`wait_closed`."""
        self.close(close_connections, code, reason)
        await self.wait_closed()

    async def _accept(self, listener: Listener[Any]) -> None:
        """Accept connections until the listener closes."""
        assert self._tg is not None
        with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
            await listener.serve(self._handle, self._tg)

    async def _handle(self, stream: ByteStream) -> None:
        """Run one connection, counted so that shutdown can wait for it."""
        self._handlers += 1
        try:
            await self._options.run(stream, self)
        finally:
            self._handlers -= 1
            self._handlers_changed.set()
            self._handlers_changed = anyio.Event()


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
    raises (the error is logged). Nothing listens until the server runs::

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
    """
    options = _Options(handler, **kwargs)

    async def open_listeners() -> Sequence[Listener[Any]]:
        if sock is not None:
            return [await SocketListener.from_socket(sock)]
        hosts = [host] if host is None or isinstance(host, str) else list(host)
        listeners: list[Listener[Any]] = []
        for local_host in hosts:
            listener = await anyio.create_tcp_listener(
                local_host=local_host,
                local_port=port or 0,
                reuse_port=reuse_port,
                backlog=65536 if backlog is None else backlog,
            )
            listeners.extend(listener.listeners)
        return listeners

    return Server(options, open_listeners)


def unix_serve(handler: Handler, path: str | None = None, **kwargs: Any) -> Server:
    """Create a WebSocket server listening on a Unix socket at ``path``.

    Args:
        handler: as for :func:`serve`.
        path: the socket's path.
        kwargs: as for :func:`serve`.
    """
    options = _Options(handler, **kwargs)

    async def open_listeners() -> Sequence[Listener[Any]]:
        assert path is not None
        return [await anyio.create_unix_listener(path)]

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
