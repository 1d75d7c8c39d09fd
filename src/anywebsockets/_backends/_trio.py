"""trio implementations of the services in :mod:`anywebsockets._backends`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import trio


def cleanup_scheduler() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run cleanups as trio system tasks, scheduled through the run's token."""
    token = trio.lowlevel.current_trio_token()

    def schedule(cleanup: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            await cleanup()

        def spawn() -> None:
            trio.lowlevel.spawn_system_task(run, name="anywebsockets cleanup")

        # When the run is over, there is nothing left to clean.
        with contextlib.suppress(trio.RunFinishedError):
            token.run_sync_soon(spawn)

    return schedule
