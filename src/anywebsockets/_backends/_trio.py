"""trio implementations of the services in :mod:`anywebsockets._backends`."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import trio


def cleanup_scheduler() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run cleanups as trio system tasks of the current run.

    A cleanup runs shielded from cancellation, so that it also finishes when
    the main task has just returned (trio then cancels system tasks, and
    waits for them); it must bound its own duration. Its errors are dropped:
    in a system task, any error would crash the whole run.
    """
    token = trio.lowlevel.current_trio_token()

    def schedule(cleanup: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            with trio.CancelScope(shield=True), contextlib.suppress(Exception):
                await cleanup()

        def spawn() -> None:
            # Once the main task has returned, the run takes no new tasks.
            with contextlib.suppress(RuntimeError):
                trio.lowlevel.spawn_system_task(run, name="anywebsockets cleanup")

        if _current_token() is token:
            # In the run's own thread (garbage collection in a task): spawn
            # now, while the main task may still be running.
            spawn()
        else:
            # When the run is over, there is nothing left to clean.
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(spawn)

    return schedule


def _current_token() -> trio.lowlevel.TrioToken | None:
    """Return the token of the trio run of this thread, if one is running here."""
    try:
        return trio.lowlevel.current_trio_token()
    except RuntimeError:
        return None
