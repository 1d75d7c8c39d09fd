"""Proxies for the client: which one to use, what its URL says, and the tunnel through it.

An HTTP proxy (``http://`` or, with TLS to the proxy, ``https://``) is asked
for a tunnel with ``CONNECT host:port``; its answer is parsed by the
sans-I/O HTTP parser. SOCKS proxies (``socks5h://``, ``socks5://``,
``socks4a://``, ``socks4://``) go through the optional ``python-socks``
package, with its anyio backend. Either way the result is a byte stream
that reaches the WebSocket server, over which the caller runs TLS (for
``wss://``) and the opening handshake.

Written on anyio only: no event loop is imported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import anyio
from anyio.abc import ByteStream
from anyio.lowlevel import checkpoint

from .connection import _NETWORK_ERRORS
from .exceptions import (
    InvalidHandshake,
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
)
from .protocol import Headers, Request, Response, StreamReader, WebSocketURI
from .protocol.headers import build_authorization_basic, build_host

__all__ = [
    "Proxy",
    "get_proxy",
    "open_http_tunnel",
    "open_socks_tunnel",
    "parse_proxy",
    "resolve_proxy",
]

# Port used when the URL has none, by scheme. SOCKS servers listen on 1080
# (the port IANA registered for them, and what curl assumes).
_DEFAULT_PORTS = {
    "http": 80,
    "https": 443,
    "socks5h": 1080,
    "socks5": 1080,
    "socks4a": 1080,
    "socks4": 1080,
}


# Which system setting applies to a WebSocket URI, by order of preference,
# for ws:// (False) and wss:// (True). RFC 6455 (section 4.1) suggests SOCKS
# first, then HTTPS, then HTTP; ws_proxy and wss_proxy are ours to choose, and
# come first. A wss:// connection never goes through a plain http_proxy.
_PREFERENCE = {
    False: ("ws", "socks", "https", "http"),
    True: ("wss", "socks", "https"),
}


@dataclasses.dataclass(frozen=True)
class Proxy:
    """A parsed proxy URL.

    Attributes:
        scheme: ``http``, ``https``, ``socks5h``, ``socks5``, ``socks4a`` or
            ``socks4``.
        host: the proxy's host, lower case, IDNA-encoded, without brackets
            around an IPv6 address.
        port: the proxy's port, the scheme's default when the URL has none.
        username: the user name from the URL, percent-decoded, if any.
        password: the password from the URL, percent-decoded, if any.
    """

    scheme: str
    host: str
    port: int
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)


def parse_proxy(url: str) -> Proxy:
    """Parse and check a proxy URL such as ``http://user:secret@proxy:3128``.

    Returns:
        The parsed proxy.
    Raises:
        InvalidProxy: the scheme is not supported, the host is missing, the
            port is not a number within 0-65535, the URL has a path, a query
            or a fragment, or a user name comes without a password (or holds
            a colon, for an HTTP proxy, where Basic credentials forbid it).
    """
    try:
        parsed = urllib.parse.urlsplit(url)
        port = parsed.port
    except ValueError as exc:
        raise InvalidProxy(url, str(exc)) from exc
    scheme = parsed.scheme
    if scheme not in _DEFAULT_PORTS:
        known = ", ".join(_DEFAULT_PORTS)
        raise InvalidProxy(url, f"scheme {scheme or '(none)'} is not one of {known}")
    if not parsed.hostname:
        raise InvalidProxy(url, "host is missing")
    if parsed.path not in ("", "/"):
        raise InvalidProxy(url, "a proxy URL has no path")
    if parsed.query or url.endswith("?"):
        raise InvalidProxy(url, "a proxy URL has no query")
    if parsed.fragment or url.endswith("#"):
        raise InvalidProxy(url, "a proxy URL has no fragment")
    try:
        host = parsed.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidProxy(url, f"host is not a valid domain name: {exc}") from exc
    username = password = None
    if parsed.username is not None:
        if parsed.password is None:
            raise InvalidProxy(url, "a username needs a password")
        try:
            username = urllib.parse.unquote(parsed.username, errors="strict")
            password = urllib.parse.unquote(parsed.password, errors="strict")
        except UnicodeDecodeError as exc:
            raise InvalidProxy(url, "credentials are not valid UTF-8") from exc
        if scheme.startswith("http") and ":" in username:
            raise InvalidProxy(url, "the username of an HTTP proxy cannot contain a colon")
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    return Proxy(scheme, host, port, username, password)


def _no_proxy_variable() -> bool:
    """Tell, cheaply, whether the system settings surely give no proxy at all.

    Where :func:`urllib.request.getproxies` reads the environment only (not
    on macOS or Windows, which have settings of their own), it finds nothing
    unless a variable's name ends with ``_proxy``, in any case. Reading every
    variable with its value, as it does twice, and twice more for
    ``no_proxy``, costs some 200 us per connection with 35 variables;
    looking at the names alone, some 30 us.
    """
    return urllib.request.getproxies is urllib.request.getproxies_environment and not any(
        name[-6:].lower() == "_proxy" for name in os.environ
    )


def get_proxy(wsuri: WebSocketURI) -> str | None:
    """Return the URL of the proxy that the system settings give for ``wsuri``, if any.

    The settings are those of :func:`urllib.request.getproxies` (the
    ``*_proxy`` environment variables, in lower or upper case, or the
    operating system's settings where there are some), and
    :func:`urllib.request.proxy_bypass` applies ``no_proxy`` to the URI's
    ``host:port``. As RFC 6455 suggests (section 4.1), a SOCKS proxy comes
    before an HTTPS proxy, which comes before an HTTP proxy; ``ws_proxy``
    and ``wss_proxy`` come first of all. A ``wss://`` URI never uses
    ``http_proxy``. A SOCKS proxy that the system gives as ``http://`` is
    taken as ``socks5h://``.
    """
    if _no_proxy_variable():
        return None
    if urllib.request.proxy_bypass(f"{wsuri.host}:{wsuri.port}"):
        return None
    settings: Mapping[str, str] = urllib.request.getproxies()
    kind = next((k for k in _PREFERENCE[wsuri.secure] if k in settings), None)
    if kind is None:
        return None
    url = settings[kind]
    scheme, separator, rest = url.partition("://")
    if kind == "socks" and scheme == "http" and separator:
        # Operating system settings describe a SOCKS proxy with http://.
        return f"socks5h://{rest}"
    return url


def resolve_proxy(setting: str | bool | None, wsuri: WebSocketURI) -> Proxy | None:
    """Return the proxy to use for ``wsuri`` according to ``connect(proxy=setting)``.

    ``True`` asks the system settings (see :func:`get_proxy`), a string is
    the URL of the proxy to use, ``None`` and ``False`` mean no proxy.

    Raises:
        InvalidProxy: the URL is not a valid proxy URL.
    """
    if setting is None or setting is False:
        return None
    url = get_proxy(wsuri) if setting is True else setting
    return None if url is None else parse_proxy(url)


def _connect_request(proxy: Proxy, wsuri: WebSocketURI, user_agent_header: str | None) -> bytes:
    """Return the ``CONNECT`` request that asks ``proxy`` for a tunnel to ``wsuri``."""
    fields = [("Host", build_host(wsuri.host, wsuri.port, wsuri.secure))]
    if user_agent_header is not None:
        fields.append(("User-Agent", user_agent_header))
    if proxy.username is not None and proxy.password is not None:
        credentials = build_authorization_basic(proxy.username, proxy.password)
        fields.append(("Proxy-Authorization", credentials))
    authority = build_host(wsuri.host, wsuri.port, wsuri.secure, always_include_port=True)
    return Request(authority, Headers(fields), method="CONNECT").serialize()


async def _read_connect_response(stream: ByteStream) -> tuple[Response, bytes]:
    """Read the proxy's answer to ``CONNECT``; return it and the bytes that followed it.

    A network failure counts as the end of the stream.

    Raises:
        InvalidProxyMessage: the answer is malformed or incomplete.
    """
    reader = StreamReader()
    parser = Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof, proxy=True)
    try:
        next(parser)
        while True:
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, *_NETWORK_ERRORS):
                reader.feed_eof()
            else:
                reader.feed_data(data)
            next(parser)
    except StopIteration as stop:
        response: Response = stop.value
        return response, bytes(reader.buffer)
    except (EOFError, InvalidHandshake) as exc:
        message = "the proxy did not send a valid HTTP response"
        raise InvalidProxyMessage(f"{message}: {exc}") from exc


async def open_http_tunnel(
    stream: ByteStream, proxy: Proxy, wsuri: WebSocketURI, user_agent_header: str | None
) -> ByteStream:
    """Ask the HTTP proxy at the other end of ``stream`` for a tunnel to ``wsuri``.

    ``stream`` is the connection to the proxy (TLS included for an
    ``https://`` proxy). The ``CONNECT`` request carries ``Host``, the
    ``User-Agent`` header when there is one, and ``Proxy-Authorization``
    when the proxy URL has credentials. Bytes that the proxy sent after its
    answer are delivered first by the returned stream.

    Args:
        stream: the connection to the proxy; closed if this fails.
        proxy: the proxy.
        wsuri: where the tunnel must lead.
        user_agent_header: the ``User-Agent`` header, or ``None`` for none.
    Returns:
        A byte stream to the WebSocket server.
    Raises:
        InvalidProxyStatus: the proxy answered with a status outside 2xx.
        InvalidProxyMessage: the proxy's answer is malformed, or it closed
            the connection before answering.
    """
    try:
        # If sending fails, reading finds the end of the stream and says so.
        with contextlib.suppress(*_NETWORK_ERRORS):
            await stream.send(_connect_request(proxy, wsuri, user_agent_header))
        response, rest = await _read_connect_response(stream)
        if not 200 <= response.status_code < 300:
            raise InvalidProxyStatus(response)
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    return _PrefixedStream(stream, rest) if rest else stream


class _PrefixedStream(ByteStream):
    """A byte stream that delivers some bytes already read before those of ``stream``."""

    def __init__(self, stream: ByteStream, prefix: bytes) -> None:
        self._stream = stream
        self._prefix = prefix

    async def receive(self, max_bytes: int = 65536) -> bytes:
        if not self._prefix:
            return await self._stream.receive(max_bytes)
        await checkpoint()
        data, self._prefix = self._prefix[:max_bytes], self._prefix[max_bytes:]
        return data

    async def send(self, item: bytes) -> None:
        await self._stream.send(item)

    async def send_eof(self) -> None:
        await self._stream.send_eof()

    async def aclose(self) -> None:
        self._prefix = b""
        await self._stream.aclose()

    @property
    def extra_attributes(self) -> Mapping[Any, Any]:
        return self._stream.extra_attributes


async def open_socks_tunnel(proxy: Proxy, wsuri: WebSocketURI) -> ByteStream:
    """Connect to the SOCKS ``proxy`` and have it open a tunnel to ``wsuri``.

    ``socks5h`` and ``socks4a`` let the proxy resolve the server's name;
    ``socks5`` and ``socks4`` resolve it here. Credentials in the proxy URL
    are sent as SOCKS5 username and password (the user id for SOCKS4).
    python-socks opens the TCP connection to the proxy itself.

    Returns:
        A byte stream to the WebSocket server.
    Raises:
        ImportError: python-socks is not installed.
        OSError: the connection to the proxy failed (anyio's "All connection
            attempts failed" when several addresses were tried), or the
            server's name could not be resolved here.
        ProxyError: the proxy refused the connection or broke the protocol;
            ``__cause__`` is python-socks' error.
    """
    try:
        from python_socks import ProxyConnectionError, ProxyType
        from python_socks.async_.anyio import Proxy as SocksProxy
    except ImportError as exc:
        raise ImportError(
            "connecting through a SOCKS proxy requires python-socks: install anywebsockets[socks]"
        ) from exc
    version = ProxyType.SOCKS5 if proxy.scheme.startswith("socks5") else ProxyType.SOCKS4
    socks = SocksProxy(
        version,
        proxy.host,
        proxy.port,
        proxy.username,
        proxy.password,
        rdns=proxy.scheme in ("socks5h", "socks4a"),
    )
    try:
        # The caller's open_timeout bounds this step: no timeout of its own.
        return await socks.connect(wsuri.host, wsuri.port, timeout=math.inf)
    except ProxyConnectionError as exc:
        # python-socks hides the error of the connection to the proxy (such
        # as ConnectionRefusedError) behind an OSError without errno: raise
        # the original, as when connecting to an HTTP proxy or a server.
        error = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
    except OSError:
        raise
    except Exception as exc:
        raise ProxyError(f"the SOCKS proxy failed: {exc}") from exc
    raise error
