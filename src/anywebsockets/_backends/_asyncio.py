"""asyncio implementations of the services in :mod:`anywebsockets._backends`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable


def cleanup_scheduler() -> Callable[[Callable[[], Awaitable[None]]], None]:
    """Run cleanups as tasks of the running loop, kept alive until they end.

    A cleanup scheduled just before ``asyncio.run()`` returns still runs:
    when the loop cancels its remaining tasks on the way out, the cleanup
    gets one more try instead of being dropped (it must bound its own
    duration). Its errors are dropped: nobody is there to handle them.
    """
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[None]] = set()

    def schedule(cleanup: Callable[[], Awaitable[None]]) -> None:
        async def run() -> None:
            for _ in range(2):
                try:
                    await cleanup()
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    assert task is not None
                    task.uncancel()
                    continue
                except Exception:
                    pass
                return

        def spawn() -> None:
            task = loop.create_task(run())
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        if loop.is_closed():
            return
        if asyncio._get_running_loop() is loop:
            # From a task of this loop (garbage collection in a task): spawn
            # now, before the main task may return and the loop winds down.
            spawn()
        else:
            loop.call_soon_threadsafe(spawn)

    return schedule
