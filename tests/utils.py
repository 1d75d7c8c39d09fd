"""Helpers shared by the driver tests: real servers on 127.0.0.1, raw peers."""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.abc import ByteStream, SocketAttribute

from anywebsockets import Server, serve
from anywebsockets.protocol.utils import accept_key

# Every network test is bounded: no single step may take longer than this.
TIMEOUT = 10


def server_uri(server: Server, scheme: str = "ws") -> str:
    """Return a URI that reaches the first listener of ``server``."""
    listener = server.listeners[0]
    host = listener.extra(SocketAttribute.local_address)[0]
    port = listener.extra(SocketAttribute.local_port)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}/"


@asynccontextmanager
async def running_server(handler: Any, **kwargs: Any) -> AsyncIterator[tuple[Server, str]]:
    """Serve ``handler`` on 127.0.0.1 with a free port; yield the server and its URI."""
    scheme = "wss" if kwargs.get("ssl") is not None else "ws"
    async with serve(handler, "127.0.0.1", 0, **kwargs) as server:
        yield server, server_uri(server, scheme)


async def echo(ws: Any) -> None:
    """A handler that sends every message back."""
    async for message in ws:
        await ws.send(message)


def frame(opcode: int, data: bytes = b"", *, fin: bool = True, mask: bool = False) -> bytes:
    """Build a frame by hand, for raw peers that misbehave on purpose."""
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if len(data) < 126:
        head += bytes([bit | len(data)])
    elif len(data) < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", len(data))
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", len(data))
    if mask:
        key = os.urandom(4)
        data = bytes(b ^ key[i % 4] for i, b in enumerate(data))
        head += key
    return head + data


async def read_http_head(stream: ByteStream) -> tuple[bytes, bytes]:
    """Read an HTTP head from ``stream``; return it and the bytes that followed it."""
    buffer = b""
    while b"\r\n\r\n" not in buffer:
        buffer += await stream.receive()
    head, _, rest = buffer.partition(b"\r\n\r\n")
    return head, rest


async def raw_server_handshake(stream: ByteStream) -> bytes:
    """Complete a server handshake by hand (no extension); return bytes read past it."""
    head, rest = await read_http_head(stream)
    key = next(
        line.split(b":", 1)[1].strip().decode()
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    await stream.send(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
    )
    return rest


async def raw_client_handshake(stream: ByteStream, path: str = "/") -> bytes:
    """Complete a client handshake by hand (no extension); return bytes read past it."""
    key = base64.b64encode(os.urandom(16)).decode()
    await stream.send(
        f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head, rest = await read_http_head(stream)
    assert head.startswith(b"HTTP/1.1 101"), head
    return rest


@asynccontextmanager
async def raw_listener() -> AsyncIterator[tuple[anyio.abc.SocketListener, int]]:
    """A plain TCP listener on 127.0.0.1, for hand-written peers."""
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    async with listener:
        yield listener, listener.extra(SocketAttribute.local_port)


class MemoryByteStream(ByteStream):
    """One end of an in-memory byte stream pair, built on anyio memory object streams.

    anyio has no in-memory :class:`~anyio.abc.ByteStream` of its own: this one
    carries bytes in order, supports ``send_eof()`` (half-close) and raises the
    usual anyio exceptions (``EndOfStream``, ``BrokenResourceError``,
    ``ClosedResourceError``).
    """

    def __init__(
        self,
        send: anyio.streams.memory.MemoryObjectSendStream[bytes],
        receive: anyio.streams.memory.MemoryObjectReceiveStream[bytes],
    ) -> None:
        self._send = send
        self._receive = receive
        self._buffer = b""

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._buffer:
            self._buffer = await self._receive.receive()
        data, self._buffer = self._buffer[:max_bytes], self._buffer[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        if item:
            await self._send.send(bytes(item))

    async def send_eof(self) -> None:
        await self._send.aclose()

    async def aclose(self) -> None:
        await self._send.aclose()
        await self._receive.aclose()


def memory_stream_pair() -> tuple[MemoryByteStream, MemoryByteStream]:
    """Return two connected in-memory byte streams (unbounded buffers)."""
    a_send, b_receive = anyio.create_memory_object_stream[bytes](float("inf"))
    b_send, a_receive = anyio.create_memory_object_stream[bytes](float("inf"))
    return MemoryByteStream(a_send, a_receive), MemoryByteStream(b_send, b_receive)
