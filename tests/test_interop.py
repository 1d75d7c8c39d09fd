"""Interoperability with both ``websockets`` implementations, asyncio and trio.

Each ``websockets`` peer runs in a child process, so that its event loop is its
own: a ``websockets`` server (``websockets.asyncio.server`` or
``websockets.trio.server``) against our client, and a ``websockets`` client
against our server, with our side on both backends.

Both directions play the same script, whichever side is the server:

- on every path the server first sends a JSON "hello" with the extensions and
  subprotocol it negotiated, so each side checks what the other agreed to;
- ``/echo`` sends every message back (text, binary, 1 MiB, fragmented);
- ``/fragments`` receives one message frame by frame, answers with the list of
  frames it saw, then sends a fragmented text and a fragmented binary message;
- ``/close`` closes at once with 4001 and a non-ASCII reason;
- any other path waits for the client to close.

The server remembers how each connection closed (code and reason), keyed by
the request path, so that a close initiated by the client is checked on the
server's side too. The ``websockets`` server serves those records on
``/report?KEY`` once connection ``KEY`` has closed.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from anywebsockets import (
    ConnectionClosed,
    ConnectionClosedError,
    ServerConnection,
    connect,
)

from .utils import TIMEOUT, running_server

pytestmark = pytest.mark.anyio

# The two websockets implementations we talk to.
PEERS = ["asyncio", "trio"]

# A prelude for the child processes: pick one websockets implementation.
PRELUDE = """
import functools, hashlib, json, os, sys
from websockets.exceptions import ConnectionClosed

impl = sys.argv[1]
if impl == "trio":
    import trio
    from websockets.trio.client import connect
    from websockets.trio.server import serve
    Event, run = trio.Event, trio.run
else:
    import asyncio
    from websockets.asyncio.client import connect
    from websockets.asyncio.server import serve
    Event = asyncio.Event

    def run(main):
        asyncio.run(main())


async def close(ws, code, reason):
    # The trio implementation spells it aclose(), the asyncio one close().
    await (ws.aclose if impl == "trio" else ws.close)(code, reason)


async def ping(ws):
    # Wait for the pong: a trio.Event in one implementation, a future in the other.
    pong = await ws.ping()
    await (pong.wait() if impl == "trio" else pong)
"""

PEER_SERVER = (
    PRELUDE
    + """
closes = {}  # request path -> [close code, close reason]
closed = {}  # request path -> Event set once that connection has closed


def event(path):
    return closed.setdefault(path, Event())


def select_subprotocol(ws, offered):
    return "superchat" if "superchat" in offered else None


async def handler(ws):
    path = ws.request.path
    if path.startswith("/report?"):
        key = path.removeprefix("/report?")
        await event(key).wait()
        await ws.send(json.dumps(closes[key]))
        return
    try:
        hello = {
            "extensions": [e.name for e in ws.protocol.extensions],
            "subprotocol": ws.subprotocol,
        }
        await ws.send(json.dumps(hello))
        if path.startswith("/echo"):
            async for message in ws:
                await ws.send(message)
        elif path.startswith("/fragments"):
            await ws.send(json.dumps([frame async for frame in ws.recv_streaming()]))
            await ws.send(["frag", "mented é"])
            await ws.send([b"\\x00\\x01", b"\\xfe\\xff"])
        elif path.startswith("/close"):
            await close(ws, 4001, "server says bye é")
        await ws.wait_closed()
    except ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        key = path.partition("?")[2]
        closes[key] = [ws.close_code, ws.close_reason]
        event(key).set()


options = dict(select_subprotocol=select_subprotocol, max_size=None)

if impl == "trio":
    async def main():
        async with trio.open_nursery() as nursery:
            start = functools.partial(serve, handler, 0, host="127.0.0.1", **options)
            server = await nursery.start(start)
            print(server.listeners[0].socket.getsockname()[1], flush=True)
else:
    async def main():
        async with serve(handler, "127.0.0.1", 0, **options) as server:
            print(server.sockets[0].getsockname()[1], flush=True)
            await asyncio.Future()

run(main)
"""
)

PEER_CLIENT = (
    PRELUDE
    + """
uri = sys.argv[2]


async def scenario(compression):
    out = {}
    # max_size=None: websockets limits the compressed size, which random data exceeds.
    options = dict(compression=compression, max_size=None)
    async with connect(uri + "echo", subprotocols=["chat", "superchat"], **options) as ws:
        out["hello"] = json.loads(await ws.recv())
        out["extensions"] = [e.name for e in ws.protocol.extensions]
        out["subprotocol"] = ws.subprotocol
        await ws.send("hello, é")
        out["text"] = await ws.recv()
        await ws.send(b"\\x00\\x01\\xfe\\xff")
        out["binary"] = (await ws.recv()).hex()
        noise = os.urandom(2**20)
        await ws.send(noise)
        out["1 MiB binary"] = await ws.recv() == noise
        await ws.send("é" * 2**19)
        out["1 MiB text"] = await ws.recv() == "é" * 2**19
        await ws.send(["frag", "mented"])
        out["fragmented text"] = await ws.recv()
        await ws.send([b"\\x00", b"\\xff"])
        out["fragmented binary"] = (await ws.recv()).hex()
        await ping(ws)
        out["pong"] = True
    async with connect(uri + "fragments", **options) as ws:
        await ws.recv()
        await ws.send(["frag", "mented é"])
        out["frames seen by the server"] = json.loads(await ws.recv())
        out["text frames"] = [frame async for frame in ws.recv_streaming()]
        out["binary frames"] = [frame.hex() async for frame in ws.recv_streaming()]
    async with connect(uri + "close", **options) as ws:
        await ws.recv()
        try:
            await ws.recv()
        except ConnectionClosed as exc:
            out["server close"] = [exc.rcvd.code, exc.rcvd.reason]
    async with connect(uri + "wait?" + str(compression), **options) as ws:
        await ws.recv()
        await close(ws, 4002, "client says bye é")
    return out


async def main():
    print(json.dumps({str(c): await scenario(c) for c in ["deflate", None]}))

run(main)
"""
)


# Our client against a websockets server.


@pytest.fixture(scope="module", params=PEERS, ids=lambda impl: f"websockets.{impl}")
def peer_uri(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run a websockets server of one implementation in a child process; yield its URI.

    The server lives for the whole module, shared by the tests on both backends.
    """
    process = subprocess.Popen(
        [sys.executable, "-c", PEER_SERVER, request.param], stdout=subprocess.PIPE
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], TIMEOUT)
        line = process.stdout.readline() if ready else b""
        if not line:
            pytest.fail(f"the websockets.{request.param} server did not start")
        yield f"ws://127.0.0.1:{int(line)}/"
    finally:
        process.kill()
        process.wait()
        process.stdout.close()


async def peer_close_record(uri: str, key: str) -> list[Any]:
    """Ask the websockets server how connection ``key`` closed: [code, reason]."""
    async with connect(f"{uri}report?{key}") as ws:
        record = json.loads(await ws.recv())
    assert isinstance(record, list)
    return record


@pytest.mark.parametrize("compression", ["deflate", None])
async def test_our_client_exchanges_messages(peer_uri: str, compression: str | None) -> None:
    key = uuid.uuid4().hex
    expected_extensions = ["permessage-deflate"] if compression else []
    with anyio.fail_after(TIMEOUT):
        async with connect(
            f"{peer_uri}echo?{key}", compression=compression, subprotocols=["chat", "superchat"]
        ) as ws:
            hello = json.loads(await ws.recv())
            assert hello == {"extensions": expected_extensions, "subprotocol": "superchat"}
            assert [e.name for e in ws.protocol.extensions] == expected_extensions
            assert ws.subprotocol == "superchat"
            assert ws.response is not None
            assert "websockets/" in ws.response.headers["Server"]
            await ws.send("hello, é")
            assert await ws.recv() == "hello, é"
            await ws.send(b"\x00\x01\xfe\xff")
            assert await ws.recv() == b"\x00\x01\xfe\xff"
            # Random data does not compress: with the default max_size of 1 MiB,
            # the compressed frame is a little larger than that.
            noise = os.urandom(2**20)
            await ws.send(noise)
            assert await ws.recv() == noise
            await ws.send("é" * 2**19)
            assert await ws.recv() == "é" * 2**19
            await ws.send(["frag", "mented"])
            assert await ws.recv() == "fragmented"
            await ws.send([b"\x00", b"\xff"])
            assert await ws.recv() == b"\x00\xff"
            assert await (await ws.ping()) >= 0
            await ws.close(4000, "client says bye é")
        assert (ws.close_code, ws.close_reason) == (4000, "client says bye é")
        assert await peer_close_record(peer_uri, key) == [4000, "client says bye é"]


async def test_our_client_fragments(peer_uri: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(f"{peer_uri}fragments") as ws:
            await ws.recv()
            await ws.send(["frag", "mented é"])
            assert json.loads(await ws.recv()) == ["frag", "mented é"]
            # websockets does not look ahead: an empty frame ends its fragmented messages.
            assert [frame async for frame in ws.recv_streaming()] == ["frag", "mented é", ""]
            frames = [frame async for frame in ws.recv_streaming()]
            assert frames == [b"\x00\x01", b"\xfe\xff", b""]


async def test_peer_server_closes(peer_uri: str) -> None:
    with anyio.fail_after(TIMEOUT):
        async with connect(f"{peer_uri}close") as ws:
            await ws.recv()
            with pytest.raises(ConnectionClosedError) as info:
                await ws.recv()
        assert info.value.rcvd is not None
        assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "server says bye é")
        assert (ws.close_code, ws.close_reason) == (4001, "server says bye é")


async def test_our_client_closes_with_1011_on_exception(peer_uri: str) -> None:
    key = uuid.uuid4().hex
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(RuntimeError):
            async with connect(f"{peer_uri}wait?{key}") as ws:
                await ws.recv()
                raise RuntimeError
        assert await peer_close_record(peer_uri, key) == [1011, ""]


# A websockets client against our server.


@pytest.mark.parametrize("peer", PEERS, ids=lambda impl: f"websockets.{impl}")
async def test_peer_client(peer: str) -> None:
    closes: dict[str, tuple[int | None, str | None]] = {}
    extensions: dict[str, list[str]] = {}

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        path = ws.request.path
        names = [e.name for e in ws.protocol.extensions]
        extensions[path] = names
        try:
            await ws.send(json.dumps({"extensions": names, "subprotocol": ws.subprotocol}))
            if path == "/echo":
                async for message in ws:
                    await ws.send(message)
            elif path == "/fragments":
                await ws.send(json.dumps([frame async for frame in ws.recv_streaming()]))
                await ws.send(["frag", "mented é"])
                await ws.send([b"\x00\x01", b"\xfe\xff"])
            elif path == "/close":
                await ws.close(4001, "server says bye é")
            await ws.wait_closed()
        except ConnectionClosed:
            pass
        finally:
            closes[path] = (ws.close_code, ws.close_reason)

    def select_subprotocol(ws: ServerConnection, offered: Any) -> str | None:
        return "superchat" if "superchat" in offered else None

    with anyio.fail_after(TIMEOUT * 3):
        async with running_server(handler, select_subprotocol=select_subprotocol) as (_, uri):
            result = await anyio.run_process([sys.executable, "-c", PEER_CLIENT, peer, uri])
    out = json.loads(result.stdout)

    for compression in ["deflate", "None"]:
        expected_extensions = ["permessage-deflate"] if compression == "deflate" else []
        assert out[compression] == {
            "hello": {"extensions": expected_extensions, "subprotocol": "superchat"},
            "extensions": expected_extensions,
            "subprotocol": "superchat",
            "text": "hello, é",
            "binary": "0001feff",
            "1 MiB binary": True,
            "1 MiB text": True,
            "fragmented text": "fragmented",
            "fragmented binary": "00ff",
            "pong": True,
            # websockets does not look ahead: an empty frame ends its fragmented messages.
            "frames seen by the server": ["frag", "mented é", ""],
            "text frames": ["frag", "mented é"],
            "binary frames": ["0001", "feff"],
            "server close": [4001, "server says bye é"],
        }
        assert closes[f"/wait?{compression}"] == (4002, "client says bye é")
    assert extensions["/wait?deflate"] == ["permessage-deflate"]
    assert extensions["/wait?None"] == []
    # The websockets client closes normally after each block.
    assert closes["/echo"] == closes["/fragments"] == (1000, "")
