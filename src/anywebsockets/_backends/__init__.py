"""The only place that may import asyncio or trio: small backend-specific services.

Everything else in anywebsockets is written once, on anyio. What anyio does not
offer lives here, behind a backend-neutral function, with one implementation
per backend imported lazily.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

import anyio
from anyio.abc import ByteStream

__all__ = ["Cleanup", "cleanup_scheduler", "connect_tcp", "connect_unix"]

Cleanup = Callable[[Callable[[], Awaitable[None]]], None]
"""Runs an async function later on the event loop it was made for, from any context."""


def cleanup_scheduler() -> Cleanup:
    """Capture the running event loop; return a function that runs cleanups on it.

    The returned function may be called where nothing can be awaited (a
    ``__del__`` method, garbage collection): the cleanup then runs soon, as a
    task of its own owned by the event loop, like the finalizer of an
    abandoned async generator. Call this function from a task.
    """
    trio = sys.modules.get("trio")
    if trio is not None and trio.lowlevel.in_trio_run():
        from ._trio import cleanup_scheduler as trio_scheduler

        return trio_scheduler()
    from ._asyncio import cleanup_scheduler as asyncio_scheduler

    return asyncio_scheduler()


async def connect_tcp(host: str, port: int) -> ByteStream:
    """Open a TCP connection to ``host``:``port`` with the running backend's best stream.

    Raises:
        OSError: the connection failed (anyio's "All connection attempts
            failed" when several addresses were tried).
    """
    return await anyio.connect_tcp(host, port)


async def connect_unix(path: str) -> ByteStream:
    """Open a Unix socket connection to ``path`` with the running backend's best stream.

    Raises:
        OSError: the connection failed.
    """
    return await anyio.connect_unix(path)
