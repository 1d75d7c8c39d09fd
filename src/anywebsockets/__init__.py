"""anywebsockets: WebSocket client and server on anyio, for asyncio and trio alike."""

from __future__ import annotations

from .exceptions import *  # noqa: F403
from .exceptions import __all__ as _exceptions_all
from .protocol import CloseCode, Headers, Request, Response, State

__all__ = ["CloseCode", "Headers", "Request", "Response", "State", *_exceptions_all]
