"""asyncio implementations of the services in :mod:`anywebsockets._backends`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


def cleanup_scheduler() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run cleanups as tasks of the running loop, kept alive until they end."""
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def schedule(cleanup: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await cleanup()

        def spawn() -> None:
            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if not loop.is_closed():
            loop.call_soon_threadsafe(spawn)

    return schedule
