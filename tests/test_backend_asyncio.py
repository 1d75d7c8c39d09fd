"""The cancellation check of the asyncio streams of ``_backends``, in tasks anyio did not start.

The check walks anyio's cancel scopes itself (see ``_find_cancel_check``); a
task created with plain asyncio has none, and must still be able to use a
stream, as it can use anyio's own.
"""

from __future__ import annotations

import asyncio

import anyio
import pytest

from anywebsockets._backends import connect_tcp

from .utils import TIMEOUT

pytestmark = pytest.mark.parametrize("anyio_backend", ["asyncio"])


@pytest.mark.anyio
async def test_plain_asyncio_task_uses_the_stream() -> None:
    async def serve(stream: anyio.abc.ByteStream) -> None:
        async with stream:
            await stream.send(await stream.receive())

    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        async with anyio.create_task_group() as tg:
            tg.start_soon(listener.serve, serve)

            async def client() -> bytes:
                stream = await connect_tcp("127.0.0.1", port)
                async with stream:
                    await stream.send(b"ping")
                    return await stream.receive()

            with anyio.fail_after(TIMEOUT):
                assert await asyncio.get_running_loop().create_task(client()) == b"ping"
            tg.cancel_scope.cancel()


@pytest.mark.anyio
async def test_cancelled_scope_stops_a_send_that_need_not_wait() -> None:
    async with await anyio.create_tcp_listener(local_host="127.0.0.1") as listener:
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        with anyio.fail_after(TIMEOUT):
            stream = await connect_tcp("127.0.0.1", port)
            async with stream:
                with anyio.CancelScope() as outer:
                    with anyio.CancelScope():  # the check walks up to the cancelled scope
                        outer.cancel()
                        await stream.send(b"never")
                assert outer.cancelled_caught
