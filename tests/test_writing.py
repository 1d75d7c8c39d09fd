"""Helpers of the connection's writing (``anywebsockets._writing``).

``_Lock`` stands in for :class:`anyio.Lock` so that idle connections do not
carry a waiter queue each; these tests hold it to the same promises, on
asyncio and trio: first come, first served, and no waiter lost or
deadlocked by a cancellation. ``_pieces`` cuts the engine's chunks into
writes without copying large payloads.
"""

from __future__ import annotations

import anyio
import pytest
from anyio.lowlevel import checkpoint

from anywebsockets._writing import _MAX_WRITE, _Lock, _pieces

from .utils import TIMEOUT


@pytest.mark.anyio
async def test_free_lock_is_taken_without_waiting() -> None:
    lock = _Lock()
    assert not lock.locked()
    await lock.acquire()
    assert lock.locked()
    with pytest.raises(anyio.WouldBlock):
        lock.acquire_nowait()
    lock.release()
    assert not lock.locked()
    lock.acquire_nowait()
    assert lock.locked()
    lock.release()


@pytest.mark.anyio
async def test_taking_a_free_lock_checks_for_cancellation() -> None:
    lock = _Lock()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await lock.acquire()
    assert scope.cancelled_caught
    assert not lock.locked()


@pytest.mark.anyio
async def test_waiters_get_the_lock_in_order() -> None:
    lock = _Lock()
    order: list[int] = []

    async def take(n: int) -> None:
        async with lock:
            order.append(n)
            await checkpoint()

    with anyio.fail_after(TIMEOUT):
        await lock.acquire()
        async with anyio.create_task_group() as tg:
            for n in range(5):
                tg.start_soon(take, n)
                await anyio.sleep(0.01)  # each one queued before the next
            # A newcomer after release() does not overtake the queue.
            lock.release()
            assert lock.locked()  # handed straight to the first waiter
            tg.start_soon(take, 5)
    assert order == [0, 1, 2, 3, 4, 5]
    assert not lock.locked()


@pytest.mark.anyio
async def test_waiter_cancelled_before_its_turn_leaves_the_queue() -> None:
    lock = _Lock()
    got: list[str] = []

    async def take(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            async with lock:
                got.append(name)

    with anyio.fail_after(TIMEOUT):
        await lock.acquire()
        first, second = anyio.CancelScope(), anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(take, "first", first)
            await anyio.sleep(0.01)
            tg.start_soon(take, "second", second)
            await anyio.sleep(0.01)
            first.cancel()
            await anyio.sleep(0.01)
            lock.release()
    assert got == ["second"]
    assert not lock.locked()


@pytest.mark.anyio
async def test_waiter_cancelled_as_it_gets_the_lock_passes_it_on() -> None:
    lock = _Lock()
    got: list[str] = []

    async def take(name: str, scope: anyio.CancelScope) -> None:
        with scope:
            async with lock:
                got.append(name)
                await checkpoint()

    with anyio.fail_after(TIMEOUT):
        await lock.acquire()
        first, second = anyio.CancelScope(), anyio.CancelScope()
        async with anyio.create_task_group() as tg:
            tg.start_soon(take, "first", first)
            await anyio.sleep(0.01)
            tg.start_soon(take, "second", second)
            await anyio.sleep(0.01)
            # The lock goes to "first", cancelled before it runs again: on
            # asyncio its wait raises and it hands the lock on; on trio the
            # wait completes and the cancellation hits the body. Either way
            # "second" gets the lock and it ends up free.
            lock.release()
            first.cancel()
    assert got[-1] == "second"
    assert got in (["second"], ["first", "second"])
    assert not lock.locked()


def test_pieces_keeps_a_single_small_chunk() -> None:
    writes = [b"frame"]
    assert _pieces(writes) is writes


def test_pieces_joins_small_chunks_up_to_the_write_size() -> None:
    small = [bytes([n]) * 100_000 for n in range(5)]
    pieces = _pieces(small)
    assert [len(piece) for piece in pieces] == [200_000, 200_000, 100_000]
    assert b"".join(pieces) == b"".join(small)


def test_pieces_slices_a_large_chunk_without_copying() -> None:
    header, payload, after = b"\x82\x7f" + bytes(8), bytes(range(256)) * 4096, b"tail"
    pieces = _pieces([header, payload, after])
    assert b"".join(pieces) == header + payload + after
    assert all(len(piece) <= _MAX_WRITE for piece in pieces)
    assert pieces[0] == header  # written before the payload, not copied into it
    sliced = pieces[1:-1]
    assert sliced and all(
        isinstance(piece, memoryview) and piece.obj is payload for piece in sliced
    )
    assert pieces[-1] == after
