"""Small but real proxy servers for the tests, on 127.0.0.1, written with anyio.

- :func:`http_proxy`: an HTTP proxy that answers ``CONNECT`` (over TLS too, as an
  ``https://`` proxy), checks ``Proxy-Authorization`` when told to, connects to the
  target and relays bytes both ways.
- :func:`socks_proxy`: a SOCKS server speaking SOCKS5 (RFC 1928; no authentication,
  or username and password as RFC 1929 says) and SOCKS4 / SOCKS4a (user id check),
  ``CONNECT`` only, relaying bytes both ways.
- :func:`scripted_proxy`: a misbehaving HTTP proxy that reads the ``CONNECT`` request,
  then sends fixed bytes and hangs up, or never answers.

Each records what clients asked for in a :class:`ProxyLog`, so that tests can check
what went over the wire.
"""

from __future__ import annotations

import base64
import ipaddress
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import anyio
from anyio.abc import ByteStream, SocketAttribute
from anyio.streams.buffered import BufferedByteStream
from anyio.streams.tls import TLSListener

__all__ = ["ProxyLog", "http_proxy", "scripted_proxy", "socks_proxy"]

# What a peer that goes away may make a stream raise.
_GONE = (
    anyio.EndOfStream,
    anyio.IncompleteRead,
    anyio.DelimiterNotFound,
    anyio.BrokenResourceError,
    anyio.ClosedResourceError,
    OSError,
)
_MAX_HEAD = 16384


@dataclass
class ProxyLog:
    """What a proxy was asked for.

    Attributes:
        requests: for HTTP proxies, each request line with its headers
            (names in lower case).
        targets: each destination asked for, as ``(kind, host, port)`` where
            kind is ``ipv4``, ``ipv6`` or ``domain`` (the form the client used).
        users: for SOCKS, the user name (SOCKS5) or user id (SOCKS4) sent, if any.
    """

    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    targets: list[tuple[str, str, int]] = field(default_factory=list)
    users: list[str | None] = field(default_factory=list)


async def _pipe(source: ByteStream, sink: ByteStream) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends, then half-close ``sink``."""
    with suppress(*_GONE):
        while True:
            await sink.send(await source.receive())
    with suppress(*_GONE):
        try:
            await sink.send_eof()
        except NotImplementedError:
            # TLS streams cannot half-close: close the whole connection, as
            # proxies do when the server is done.
            await sink.aclose()


async def _relay(client: ByteStream, upstream: ByteStream) -> None:
    """Relay bytes both ways until both directions are done, then close both."""
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(_pipe, client, upstream)
            tg.start_soon(_pipe, upstream, client)
    finally:
        await anyio.aclose_forcefully(upstream)


async def _connect(host: str, port: int) -> ByteStream | None:
    """Connect to the target; ``None`` when that fails."""
    try:
        return await anyio.connect_tcp(host, port)
    except OSError:
        return None


@asynccontextmanager
async def _serving(
    handler: Callable[[BufferedByteStream], Awaitable[None]],
    ssl_context: ssl.SSLContext | None = None,
) -> AsyncIterator[int]:
    """Run ``handler`` for each connection on a free port of 127.0.0.1; yield the port."""

    async def handle(stream: ByteStream) -> None:
        buffered = BufferedByteStream(stream)
        try:
            await handler(buffered)
        except _GONE:
            pass  # The client went away: nothing to do but close.
        finally:
            await anyio.aclose_forcefully(stream)

    tcp = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = tcp.extra(SocketAttribute.local_port)
    listener = tcp if ssl_context is None else TLSListener(tcp, ssl_context, False)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield port
        finally:
            tg.cancel_scope.cancel()


async def _read_head(stream: BufferedByteStream) -> tuple[str, dict[str, str]]:
    """Read an HTTP request head; return its request line and headers."""
    head = await stream.receive_until(b"\r\n\r\n", _MAX_HEAD)
    request_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return request_line, headers


def _address_kind(host: str) -> str:
    try:
        return "ipv6" if ipaddress.ip_address(host).version == 6 else "ipv4"
    except ValueError:
        return "domain"


@asynccontextmanager
async def http_proxy(
    *,
    credentials: tuple[str, str] | None = None,
    ssl_context: ssl.SSLContext | None = None,
    refuse: int | None = None,
) -> AsyncIterator[tuple[str, ProxyLog]]:
    """Run an HTTP CONNECT proxy; yield its URL and its log.

    Args:
        credentials: the user name and password it demands (407 otherwise).
        ssl_context: makes it an ``https://`` proxy with this server context.
        refuse: answer every ``CONNECT`` with this status (and a short body).
    """
    log = ProxyLog()
    expected = None
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        expected = f"Basic {token}"

    async def handler(client: BufferedByteStream) -> None:
        request_line, headers = await _read_head(client)
        log.requests.append((request_line, headers))
        method, target, _ = request_line.split(" ")
        if method != "CONNECT":
            await client.send(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, _, port = target.rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        log.targets.append((_address_kind(host), host, int(port)))
        if expected is not None and headers.get("proxy-authorization") != expected:
            await client.send(
                b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                b'Proxy-Authenticate: Basic realm="test proxy"\r\n'
                b"Content-Length: 0\r\n\r\n"
            )
            return
        if refuse is not None:
            body = b"no tunnel for you"
            await client.send(
                f"HTTP/1.1 {refuse} Refused\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            return
        upstream = await _connect(host, int(port))
        if upstream is None:
            await client.send(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        await client.send(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await _relay(client, upstream)

    async with _serving(handler, ssl_context) as port:
        scheme = "http" if ssl_context is None else "https"
        yield f"{scheme}://127.0.0.1:{port}", log


@asynccontextmanager
async def scripted_proxy(answer: bytes | None) -> AsyncIterator[tuple[str, ProxyLog]]:
    """Run an HTTP proxy that misbehaves; yield its URL and its log.

    It reads the ``CONNECT`` request head, then sends ``answer`` and closes
    the connection, or, when ``answer`` is ``None``, waits forever.
    """
    log = ProxyLog()

    async def handler(client: BufferedByteStream) -> None:
        log.requests.append(await _read_head(client))
        if answer is None:
            await anyio.sleep_forever()
        if answer:
            await client.send(answer)

    async with _serving(handler) as port:
        yield f"http://127.0.0.1:{port}", log


@asynccontextmanager
async def socks_proxy(
    *, credentials: tuple[str, str] | None = None
) -> AsyncIterator[tuple[int, ProxyLog]]:
    """Run a SOCKS4/4a/5 server; yield its port and its log.

    Args:
        credentials: the user name and password that SOCKS5 clients must give
            (RFC 1929); SOCKS4 clients must send the user name as user id.
    """
    log = ProxyLog()

    async def handler(client: BufferedByteStream) -> None:
        version = (await client.receive_exactly(1))[0]
        if version == 5:
            await _socks5(client, log, credentials)
        elif version == 4:
            await _socks4(client, log, credentials)

    async with _serving(handler) as port:
        yield port, log


async def _socks5(
    client: BufferedByteStream, log: ProxyLog, credentials: tuple[str, str] | None
) -> None:
    """Serve a SOCKS5 client, the version byte already read."""
    count = (await client.receive_exactly(1))[0]
    methods = await client.receive_exactly(count)
    method = 0x00 if credentials is None else 0x02
    if method not in methods:
        await client.send(b"\x05\xff")
        return
    await client.send(bytes([5, method]))
    user = None
    if credentials is not None:
        await client.receive_exactly(1)  # sub-negotiation version, 1
        user = (await client.receive_exactly((await client.receive_exactly(1))[0])).decode()
        password = (await client.receive_exactly((await client.receive_exactly(1))[0])).decode()
        if (user, password) != credentials:
            await client.send(b"\x01\x01")
            return
        await client.send(b"\x01\x00")
    log.users.append(user)
    _, command, _, address_type = await client.receive_exactly(4)
    if address_type == 1:
        host = str(ipaddress.IPv4Address(await client.receive_exactly(4)))
        kind = "ipv4"
    elif address_type == 4:
        host = str(ipaddress.IPv6Address(await client.receive_exactly(16)))
        kind = "ipv6"
    else:
        host = (await client.receive_exactly((await client.receive_exactly(1))[0])).decode()
        kind = "domain"
    port = int.from_bytes(await client.receive_exactly(2), "big")
    log.targets.append((kind, host, port))
    upstream = await _connect(host, port) if command == 1 else None
    if upstream is None:
        # 0x05: connection refused; 0x07: command not supported.
        code = 0x05 if command == 1 else 0x07
        await client.send(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))
        return
    await client.send(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x00")
    await _relay(client, upstream)


async def _socks4(
    client: BufferedByteStream, log: ProxyLog, credentials: tuple[str, str] | None
) -> None:
    """Serve a SOCKS4 or SOCKS4a client, the version byte already read."""
    command = (await client.receive_exactly(1))[0]
    port = int.from_bytes(await client.receive_exactly(2), "big")
    address = await client.receive_exactly(4)
    user = (await client.receive_until(b"\x00", 256)).decode()
    log.users.append(user or None)
    if address[:3] == b"\x00\x00\x00" and address[3] != 0:  # SOCKS4a: a name follows
        host = (await client.receive_until(b"\x00", 256)).decode()
        kind = "domain"
    else:
        host = str(ipaddress.IPv4Address(address))
        kind = "ipv4"
    log.targets.append((kind, host, port))
    refused = b"\x00\x5b\x00\x00\x00\x00\x00\x00"
    if credentials is not None and user != credentials[0]:
        await client.send(refused)
        return
    upstream = await _connect(host, port) if command == 1 else None
    if upstream is None:
        await client.send(refused)
        return
    await client.send(b"\x00\x5a" + port.to_bytes(2, "big") + address)
    await _relay(client, upstream)
