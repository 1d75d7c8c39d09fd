"""anywebsockets: WebSocket client and server on anyio, for asyncio and trio alike."""

from __future__ import annotations

from .auth import basic_auth
from .broadcast import broadcast
from .client import ClientConnection, backoff, connect, process_exception, unix_connect
from .exceptions import *  # noqa: F403
from .exceptions import __all__ as _exceptions_all
from .protocol import CloseCode, Headers, Request, Response, State
from .server import Server, ServerConnection, serve, serve_stream, unix_serve

__all__ = [
    "connect",
    "unix_connect",
    "serve",
    "unix_serve",
    "serve_stream",
    "basic_auth",
    "broadcast",
    "process_exception",
    "backoff",
    "ClientConnection",
    "ServerConnection",
    "Server",
    "CloseCode",
    "Headers",
    "Request",
    "Response",
    "State",
    *_exceptions_all,
]
