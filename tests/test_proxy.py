"""Tests for proxies: connect(proxy=...) through HTTP, HTTPS and SOCKS proxies, on both backends.

The proxies are the small but real servers of ``tests/proxy_servers.py`` on 127.0.0.1;
the WebSocket servers are ours. The environment's ``*_proxy`` variables are cleared
for every test, and set where a test is about them.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import ByteStream, SocketAttribute

from anywebsockets import (
    InvalidProxy,
    InvalidProxyMessage,
    InvalidProxyStatus,
    ProxyError,
    Response,
    ServerConnection,
    connect,
    process_exception,
    unix_connect,
    unix_serve,
)
from anywebsockets._proxy import (
    Proxy,
    get_proxy,
    open_http_tunnel,
    parse_proxy,
    resolve_proxy,
)
from anywebsockets.protocol import parse_uri
from anywebsockets.protocol.http11 import USER_AGENT

from .proxy_servers import ProxyLog, http_proxy, scripted_proxy, socks_proxy
from .utils import TIMEOUT, raw_listener, read_http_head, running_server

pytestmark = pytest.mark.anyio

SOCKS_SCHEMES = ["socks5h", "socks5", "socks4a", "socks4"]

# SOCKS needs the optional python-socks (in the "socks" and "test" extras).
needs_socks = pytest.mark.skipif(
    importlib.util.find_spec("python_socks") is None, reason="python-socks is not installed"
)


# Fixtures and helpers.


@pytest.fixture(autouse=True)
def clean_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Remove every proxy setting from the environment, so that each test sets its own."""
    for name in list(os.environ):
        if name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, ca_file: str) -> None:
    """Make ``ssl.create_default_context()``, used for HTTPS proxies, trust the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", ca_file)


@asynccontextmanager
async def ws_server(**kwargs: Any) -> AsyncIterator[tuple[str, list[ServerConnection]]]:
    """Run an echo server; yield its URI and the connections it accepted."""
    accepted: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        accepted.append(ws)
        async for message in ws:
            await ws.send(message)

    async with running_server(handler, **kwargs) as (_, uri):
        yield uri, accepted


async def assert_echo(ws: Any, message: str = "through the proxy") -> None:
    await ws.send(message)
    assert await ws.recv() == message


def with_credentials(url: str, user: str, password: str) -> str:
    scheme, rest = url.split("://")
    return f"{scheme}://{user}:{password}@{rest}"


def port_of(uri: str) -> int:
    return parse_uri(uri).port


@pytest.fixture
def refusing_port() -> Iterator[int]:
    """A port of 127.0.0.1 that refuses connections: bound (so kept), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


# HTTP CONNECT proxies.


async def test_ws_through_http_proxy() -> None:
    """A ws:// connection goes through CONNECT, with Host and User-Agent."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, accepted), http_proxy() as (proxy, log):
            async with connect(uri, proxy=proxy) as ws:
                await assert_echo(ws)
            port = port_of(uri)
            [(request_line, headers)] = log.requests
            assert request_line == f"CONNECT 127.0.0.1:{port} HTTP/1.1"
            assert headers["host"] == f"127.0.0.1:{port}"
            assert headers["user-agent"] == USER_AGENT
            assert "proxy-authorization" not in headers
            assert len(accepted) == 1


async def test_ws_through_http_proxy_await() -> None:
    """``ws = await connect(...)`` goes through the proxy as well."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy() as (proxy, log):
            ws = await connect(uri, proxy=proxy)
            try:
                await assert_echo(ws)
            finally:
                await ws.close()
            assert len(log.targets) == 1


async def test_wss_through_http_proxy(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    """TLS to the server runs inside the tunnel, checking the URI's host."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server(ssl=server_ssl) as (uri, _), http_proxy() as (proxy, log):
            uri = uri.replace("127.0.0.1", "localhost")
            async with connect(uri, proxy=proxy, ssl=client_ssl) as ws:
                await assert_echo(ws)
            assert log.targets == [("domain", "localhost", port_of(uri))]


async def test_wss_through_http_proxy_checks_server_certificate(
    server_ssl: ssl.SSLContext,
) -> None:
    """The server's certificate is verified even when the proxy is trusted."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server(ssl=server_ssl) as (uri, _), http_proxy() as (proxy, _):
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(uri, proxy=proxy)


@pytest.mark.usefixtures("trust_test_ca")
async def test_ws_through_https_proxy(server_ssl: ssl.SSLContext) -> None:
    """An https:// proxy gets TLS first; the tunnel runs inside it."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy(ssl_context=server_ssl) as (proxy, log):
            assert proxy.startswith("https://")
            async with connect(uri, proxy=proxy) as ws:
                await assert_echo(ws)
            assert len(log.requests) == 1


@pytest.mark.usefixtures("trust_test_ca")
async def test_wss_through_https_proxy(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    """TLS to the server runs inside TLS to the proxy."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server(ssl=server_ssl) as (uri, _),
            http_proxy(ssl_context=server_ssl) as (proxy, log),
        ):
            async with connect(uri, proxy=proxy, ssl=client_ssl) as ws:
                await assert_echo(ws)
                await assert_echo(ws, "x" * 100_000)
            assert len(log.requests) == 1


async def test_https_proxy_certificate_is_checked(server_ssl: ssl.SSLContext) -> None:
    """An https:// proxy whose certificate does not verify is refused."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy(ssl_context=server_ssl) as (proxy, log):
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(uri, proxy=proxy)
            assert log.requests == []


async def test_proxy_ssl_and_proxy_server_hostname(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    """``proxy_ssl`` trusts a private CA for the proxy; ``proxy_server_hostname`` is checked."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy(ssl_context=server_ssl) as (proxy, log):
            async with connect(uri, proxy=proxy, proxy_ssl=client_ssl) as ws:
                await assert_echo(ws)
            async with connect(
                uri, proxy=proxy, proxy_ssl=client_ssl, proxy_server_hostname="localhost"
            ) as ws:
                await assert_echo(ws)
            with pytest.raises(ssl.SSLCertVerificationError):
                await connect(
                    uri, proxy=proxy, proxy_ssl=client_ssl, proxy_server_hostname="other.example"
                )
            assert len(log.requests) == 2


async def test_proxy_credentials() -> None:
    """Credentials in the proxy URL become Proxy-Authorization, never seen by the server."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server() as (uri, accepted),
            http_proxy(credentials=("us@er", "p:ss wörd")) as (proxy, log),
        ):
            proxy = with_credentials(proxy, "us%40er", "p%3Ass%20w%C3%B6rd")
            async with connect(uri, proxy=proxy) as ws:
                await assert_echo(ws)
            [(_, headers)] = log.requests
            assert headers["proxy-authorization"].startswith("Basic ")
            [server_side] = accepted
            assert server_side.request is not None
            assert "Proxy-Authorization" not in server_side.request.headers


@pytest.mark.parametrize("password", [None, "wrong"])
async def test_proxy_credentials_refused(password: str | None) -> None:
    """Missing or wrong credentials: the proxy's 407 comes back in InvalidProxyStatus."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server() as (uri, accepted),
            http_proxy(credentials=("user", "secret")) as (
                proxy,
                _,
            ),
        ):
            if password is not None:
                proxy = with_credentials(proxy, "user", password)
            with pytest.raises(InvalidProxyStatus) as raised:
                await connect(uri, proxy=proxy)
            response = raised.value.response
            assert isinstance(response, Response)
            assert response.status_code == 407
            assert response.headers["Proxy-Authenticate"] == 'Basic realm="test proxy"'
            assert str(raised.value) == "proxy refused the connection: HTTP 407"
            assert accepted == []


@pytest.mark.parametrize("user_agent", ["probe/1.0", None])
async def test_proxy_user_agent(user_agent: str | None) -> None:
    """CONNECT carries the User-Agent of the handshake, or none."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy() as (proxy, log):
            async with connect(uri, proxy=proxy, user_agent_header=user_agent) as ws:
                await assert_echo(ws)
            [(_, headers)] = log.requests
            assert headers.get("user-agent") == user_agent


@pytest.mark.parametrize("status", [403, 502])
async def test_proxy_refuses(status: int) -> None:
    """A non-2xx answer to CONNECT raises InvalidProxyStatus with the response."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, accepted), http_proxy(refuse=status) as (proxy, _):
            with pytest.raises(InvalidProxyStatus) as raised:
                await connect(uri, proxy=proxy)
            response = raised.value.response
            assert response.status_code == status
            assert response.reason_phrase == "Refused"
            assert response.headers["Content-Type"] == "text/plain"
            assert isinstance(raised.value, ProxyError)
            assert accepted == []


async def test_proxy_cannot_reach_server(refusing_port: int) -> None:
    """A proxy that cannot connect to the server answers 502."""
    with anyio.fail_after(TIMEOUT):
        port = refusing_port
        async with http_proxy() as (proxy, log):
            with pytest.raises(InvalidProxyStatus) as raised:
                await connect(f"ws://127.0.0.1:{port}/", proxy=proxy)
            assert raised.value.response.status_code == 502
            assert log.targets == [("ipv4", "127.0.0.1", port)]


@pytest.mark.parametrize(
    "answer",
    [
        b"garbage\r\n\r\n",
        b"HTTP/1.1 2OO OK\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\n\n",
    ],
)
async def test_proxy_malformed_response(answer: bytes) -> None:
    """A malformed answer to CONNECT raises InvalidProxyMessage."""
    with anyio.fail_after(TIMEOUT):
        async with scripted_proxy(answer) as (proxy, log):
            with pytest.raises(InvalidProxyMessage) as raised:
                await connect("ws://example.invalid/", proxy=proxy)
            assert raised.value.__cause__ is not None
            assert len(log.requests) == 1


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 200 Connection established\r\n"])
async def test_proxy_hangs_up(answer: bytes) -> None:
    """A proxy that closes before the end of its answer: InvalidProxyMessage from EOFError."""
    with anyio.fail_after(TIMEOUT):
        async with scripted_proxy(answer) as (proxy, _):
            with pytest.raises(InvalidProxyMessage) as raised:
                await connect("ws://example.invalid/", proxy=proxy)
            assert isinstance(raised.value.__cause__, EOFError)


@pytest.mark.parametrize("scheme", ["http", pytest.param("socks5h", marks=needs_socks)])
async def test_proxy_never_answers(scheme: str) -> None:
    """A proxy that accepts the connection and stays silent: TimeoutError after open_timeout."""
    with anyio.fail_after(TIMEOUT):
        async with scripted_proxy(None) as (proxy, _):
            proxy = proxy.replace("http", scheme, 1)
            with pytest.raises(TimeoutError):
                await connect("ws://example.invalid/", proxy=proxy, open_timeout=0.5)


@pytest.mark.parametrize(
    "scheme", ["http", "https", *(pytest.param(s, marks=needs_socks) for s in SOCKS_SCHEMES)]
)
async def test_proxy_connection_refused(scheme: str, refusing_port: int) -> None:
    """A proxy that cannot be reached: ConnectionRefusedError, which ``async for`` retries."""
    with anyio.fail_after(TIMEOUT):
        port = refusing_port
        with pytest.raises(ConnectionRefusedError) as raised:
            await connect("ws://example.invalid/", proxy=f"{scheme}://127.0.0.1:{port}")
        assert process_exception(raised.value) is None


async def test_tunnel_keeps_bytes_after_the_response() -> None:
    """Bytes that came with the proxy's answer are delivered first by the tunnel."""
    with anyio.fail_after(TIMEOUT):
        async with raw_listener() as (listener, port), anyio.create_task_group() as tg:
            done = anyio.Event()

            async def proxy_side(stream: ByteStream) -> None:
                async with stream:
                    await read_http_head(stream)
                    await stream.send(b"HTTP/1.1 200 OK\r\n\r\nearly bytes")
                    assert await stream.receive() == b"client bytes"
                    await stream.send(b" and later bytes")
                    with pytest.raises(anyio.EndOfStream):
                        await stream.receive()
                    done.set()

            tg.start_soon(listener.serve, proxy_side)
            stream = await anyio.connect_tcp("127.0.0.1", port)
            proxy = parse_proxy(f"http://127.0.0.1:{port}")
            wsuri = parse_uri("ws://example.invalid/")
            tunnel = await open_http_tunnel(stream, proxy, wsuri, None)
            async with tunnel:
                assert tunnel.extra(SocketAttribute.remote_port) == port
                received = await tunnel.receive(5)
                assert received == b"early"
                received += await tunnel.receive()
                assert received == b"early bytes"
                await tunnel.send(b"client bytes")
                while received != b"early bytes and later bytes":
                    received += await tunnel.receive()
                await tunnel.send_eof()
                await done.wait()
            tg.cancel_scope.cancel()


async def test_async_for_through_proxy() -> None:
    """``async for ws in connect(...)`` goes through the proxy on every attempt."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy() as (proxy, log):
            count = 0
            async for ws in connect(uri, proxy=proxy):
                await assert_echo(ws)
                count += 1
                if count == 2:
                    break
            assert len(log.requests) == 2


@pytest.mark.parametrize("status", [403, 502])
async def test_async_for_does_not_retry_proxy_refusals(status: int) -> None:
    """The default process_exception stops on ProxyError, 502 included, as websockets does."""
    with anyio.fail_after(TIMEOUT):
        async with http_proxy(refuse=status) as (proxy, log):
            with pytest.raises(InvalidProxyStatus):
                async for _ in connect(
                    "ws://example.invalid/", proxy=proxy, reconnect_delays=lambda: iter([0.0] * 5)
                ):
                    pytest.fail("no connection expected")
            assert len(log.requests) == 1


async def test_async_for_process_exception_sees_proxy_errors() -> None:
    """A custom process_exception receives proxy errors and may retry them."""
    seen: list[Exception] = []

    def retry_twice(exc: Exception) -> Exception | None:
        seen.append(exc)
        return None if len(seen) < 3 else exc

    with anyio.fail_after(TIMEOUT):
        async with scripted_proxy(b"") as (proxy, log):
            with pytest.raises(InvalidProxyMessage):
                async for _ in connect(
                    "ws://example.invalid/",
                    proxy=proxy,
                    process_exception=retry_twice,
                    reconnect_delays=lambda: iter([0.0] * 5),
                ):
                    pytest.fail("no connection expected")
            assert len(seen) == 3
            assert all(isinstance(exc, InvalidProxyMessage) for exc in seen)
            assert len(log.requests) == 3


async def test_redirect_through_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A redirect target is reached through the proxy too, unless no_proxy names it."""

    async with ws_server() as (target, accepted), http_proxy() as (proxy, log):

        def redirect(connection: ServerConnection, request: Any) -> Response:
            response = connection.respond(302, "moved")
            response.headers["Location"] = target.replace("127.0.0.1", "localhost")
            return response

        with anyio.fail_after(TIMEOUT):
            async with running_server(None, process_request=redirect) as (_, uri):
                monkeypatch.setenv("http_proxy", proxy)
                async with connect(uri) as ws:
                    await assert_echo(ws)
                assert [host for _, host, _ in log.targets] == ["127.0.0.1", "localhost"]
                monkeypatch.setenv("no_proxy", "localhost")
                async with connect(uri) as ws:
                    await assert_echo(ws)
                assert [host for _, host, _ in log.targets] == [
                    "127.0.0.1",
                    "localhost",
                    "127.0.0.1",
                ]
                assert len(accepted) == 2


# SOCKS proxies.


@needs_socks
@pytest.mark.parametrize("scheme", SOCKS_SCHEMES)
async def test_ws_through_socks_proxy(scheme: str) -> None:
    """Each SOCKS flavour works; the ``h``/``a`` ones let the proxy resolve the name."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), socks_proxy() as (port, log):
            uri = uri.replace("127.0.0.1", "localhost")
            async with connect(uri, proxy=f"{scheme}://127.0.0.1:{port}") as ws:
                await assert_echo(ws)
            remote = scheme in ("socks5h", "socks4a")
            expected = ("domain", "localhost") if remote else ("ipv4", "127.0.0.1")
            assert log.targets == [(*expected, port_of(uri))]


@needs_socks
@pytest.mark.parametrize("scheme", ["socks5h", "socks4"])
async def test_wss_through_socks_proxy(
    scheme: str, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    """TLS to the server runs inside the SOCKS tunnel."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server(ssl=server_ssl) as (uri, _), socks_proxy() as (port, log):
            uri = uri.replace("127.0.0.1", "localhost")
            async with connect(uri, proxy=f"{scheme}://127.0.0.1:{port}", ssl=client_ssl) as ws:
                await assert_echo(ws)
            assert len(log.targets) == 1


@needs_socks
@pytest.mark.parametrize("scheme", SOCKS_SCHEMES)
async def test_socks_proxy_credentials(scheme: str) -> None:
    """Credentials go to the SOCKS proxy (username/password, or user id for SOCKS4)."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server() as (uri, accepted),
            socks_proxy(credentials=("user", "secret")) as (port, log),
        ):
            async with connect(uri, proxy=f"{scheme}://user:secret@127.0.0.1:{port}") as ws:
                await assert_echo(ws)
            assert log.users == ["user"]
            [server_side] = accepted
            assert server_side.request is not None
            assert "Proxy-Authorization" not in server_side.request.headers


@needs_socks
@pytest.mark.parametrize(
    ("scheme", "user"),
    [("socks5h", "user:wrong"), ("socks5", None), ("socks4a", "intruder:x"), ("socks4", None)],
)
async def test_socks_proxy_refuses_credentials(scheme: str, user: str | None) -> None:
    """A SOCKS refusal raises ProxyError chained to python-socks' error."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server() as (uri, accepted),
            socks_proxy(credentials=("user", "secret")) as (
                port,
                _,
            ),
        ):
            userinfo = "" if user is None else f"{user}@"
            with pytest.raises(ProxyError) as raised:
                await connect(uri, proxy=f"{scheme}://{userinfo}127.0.0.1:{port}")
            from python_socks import ProxyError as SocksError

            assert isinstance(raised.value.__cause__, SocksError)
            assert accepted == []


@needs_socks
@pytest.mark.parametrize("scheme", SOCKS_SCHEMES)
async def test_socks_proxy_cannot_reach_server(scheme: str, refusing_port: int) -> None:
    """A SOCKS proxy that cannot connect to the server: ProxyError."""
    with anyio.fail_after(TIMEOUT):
        port = refusing_port
        async with socks_proxy() as (proxy_port, log):
            with pytest.raises(ProxyError):
                await connect(
                    f"ws://127.0.0.1:{port}/", proxy=f"{scheme}://127.0.0.1:{proxy_port}"
                )
            assert log.targets == [("ipv4", "127.0.0.1", port)]


@needs_socks
async def test_socks5_local_resolution_fails() -> None:
    """socks5:// resolves the server's name here: an unknown name is an OSError."""
    with anyio.fail_after(TIMEOUT):
        async with socks_proxy() as (port, log):
            with pytest.raises(OSError):
                await connect("ws://nothing.invalid/", proxy=f"socks5://127.0.0.1:{port}")
            assert log.targets == []


async def test_socks_without_python_socks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without python-socks, a SOCKS proxy raises ImportError naming the extra."""
    monkeypatch.setitem(sys.modules, "python_socks", None)
    with anyio.fail_after(TIMEOUT):
        with pytest.raises(ImportError, match=r"anywebsockets\[socks\]"):
            await connect("ws://example.invalid/", proxy="socks5h://127.0.0.1:1080")


@needs_socks
async def test_socks_errors_go_to_process_exception(refusing_port: int) -> None:
    """``async for`` does not retry a SOCKS refusal by default."""
    with anyio.fail_after(TIMEOUT):
        port = refusing_port
        async with socks_proxy() as (proxy_port, log):
            with pytest.raises(ProxyError):
                async for _ in connect(
                    f"ws://127.0.0.1:{port}/",
                    proxy=f"socks5://127.0.0.1:{proxy_port}",
                    reconnect_delays=lambda: iter([0.0] * 5),
                ):
                    pytest.fail("no connection expected")
            assert len(log.targets) == 1


# Choosing the proxy from the environment.


@asynccontextmanager
async def two_proxies() -> AsyncIterator[tuple[str, ProxyLog, str, ProxyLog]]:
    async with http_proxy() as (first, first_log), http_proxy() as (second, second_log):
        yield first, first_log, second, second_log


@pytest.mark.parametrize(
    ("chosen", "other"),
    [("ws_proxy", "http_proxy"), ("ws_proxy", "https_proxy"), ("https_proxy", "http_proxy")],
)
async def test_environment_ws(monkeypatch: pytest.MonkeyPatch, chosen: str, other: str) -> None:
    """For ws://, ws_proxy comes first, then https_proxy, then http_proxy."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), two_proxies() as (good, good_log, bad, bad_log):
            monkeypatch.setenv(chosen, good)
            monkeypatch.setenv(other, bad)
            async with connect(uri) as ws:
                await assert_echo(ws)
            assert len(good_log.requests) == 1
            assert bad_log.requests == []


@pytest.mark.parametrize("variable", ["http_proxy", "HTTP_PROXY", "ws_proxy"])
async def test_environment_ws_single(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    """One variable is enough, in lower or upper case."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy() as (proxy, log):
            monkeypatch.setenv(variable, proxy)
            async with connect(uri) as ws:
                await assert_echo(ws)
            assert len(log.requests) == 1


@pytest.mark.parametrize(
    ("chosen", "other"), [("wss_proxy", "https_proxy"), ("https_proxy", None)]
)
async def test_environment_wss(
    monkeypatch: pytest.MonkeyPatch,
    server_ssl: ssl.SSLContext,
    client_ssl: ssl.SSLContext,
    chosen: str,
    other: str | None,
) -> None:
    """For wss://, wss_proxy comes first, then https_proxy."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server(ssl=server_ssl) as (uri, _),
            two_proxies() as (good, good_log, bad, bad_log),
        ):
            monkeypatch.setenv(chosen, good)
            if other is not None:
                monkeypatch.setenv(other, bad)
            async with connect(uri, ssl=client_ssl) as ws:
                await assert_echo(ws)
            assert len(good_log.requests) == 1
            assert bad_log.requests == []


async def test_environment_wss_ignores_http_proxy(
    monkeypatch: pytest.MonkeyPatch, server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    """http_proxy is for ws:// only: wss:// connects directly."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server(ssl=server_ssl) as (uri, accepted), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            async with connect(uri, ssl=client_ssl) as ws:
                await assert_echo(ws)
            assert log.requests == []
            assert len(accepted) == 1


@needs_socks
@pytest.mark.parametrize("form", ["socks5h", "http"])
async def test_environment_socks_proxy(monkeypatch: pytest.MonkeyPatch, form: str) -> None:
    """socks_proxy comes before https_proxy; an http:// value means socks5h://."""
    with anyio.fail_after(TIMEOUT):
        async with (
            ws_server() as (uri, _),
            socks_proxy() as (port, log),
            http_proxy() as (
                http,
                http_log,
            ),
        ):
            monkeypatch.setenv("socks_proxy", f"{form}://127.0.0.1:{port}")
            monkeypatch.setenv("https_proxy", http)
            uri = uri.replace("127.0.0.1", "localhost")
            async with connect(uri) as ws:
                await assert_echo(ws)
            assert log.targets == [("domain", "localhost", port_of(uri))]
            assert http_log.requests == []


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "localhost,127.0.0.1", "*"])
async def test_environment_no_proxy(monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    """Hosts in no_proxy are reached directly."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, accepted), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            monkeypatch.setenv("no_proxy", no_proxy)
            async with connect(uri) as ws:
                await assert_echo(ws)
            assert log.requests == []
            assert len(accepted) == 1


async def test_environment_no_proxy_other_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """no_proxy for other hosts leaves this one to the proxy."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            monkeypatch.setenv("no_proxy", "example.com,10.0.0.1")
            async with connect(uri) as ws:
                await assert_echo(ws)
            assert len(log.requests) == 1


@pytest.mark.parametrize("setting", [None, False])
async def test_no_proxy_setting_ignores_environment(
    monkeypatch: pytest.MonkeyPatch, setting: bool | None
) -> None:
    """proxy=None (or False) connects directly whatever the environment says."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, accepted), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            async with connect(uri, proxy=setting) as ws:
                await assert_echo(ws)
            assert log.requests == []
            assert len(accepted) == 1


async def test_proxy_url_overrides_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A proxy URL wins over the environment, no_proxy included."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), two_proxies() as (good, good_log, bad, bad_log):
            monkeypatch.setenv("http_proxy", bad)
            monkeypatch.setenv("no_proxy", "*")
            async with connect(uri, proxy=good) as ws:
                await assert_echo(ws)
            assert len(good_log.requests) == 1
            assert bad_log.requests == []


async def test_invalid_proxy_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad proxy URL in the environment raises InvalidProxy when connecting."""
    monkeypatch.setenv("http_proxy", "ftp://proxy.invalid")
    with anyio.fail_after(TIMEOUT), pytest.raises(InvalidProxy) as raised:
        await connect("ws://example.invalid/")
    assert raised.value.proxy == "ftp://proxy.invalid"


async def test_host_and_port_bypass_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """An explicit host/port says where the TCP connection goes: no proxy from the environment."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, accepted), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            async with connect("ws://example.invalid/", host="127.0.0.1", port=port_of(uri)) as ws:
                await assert_echo(ws)
            assert log.requests == []
            assert len(accepted) == 1


async def test_host_with_proxy_url_is_refused() -> None:
    """A proxy URL together with host or port is ambiguous: ValueError."""
    with anyio.fail_after(TIMEOUT), pytest.raises(ValueError, match="host or port"):
        await connect("ws://example.invalid/", host="127.0.0.1", proxy="http://127.0.0.1:1")


async def test_stream_bypasses_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """A given stream is used as it is, even with a proxy in the environment."""
    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, accepted), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            stream = await anyio.connect_tcp("127.0.0.1", port_of(uri))
            async with connect(uri, stream=stream) as ws:
                await assert_echo(ws)
            assert log.requests == []
            assert len(accepted) == 1


async def test_unix_bypasses_proxy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A Unix socket connection never goes through a proxy."""
    path = str(tmp_path / "ws.sock")

    async def handler(ws: ServerConnection) -> None:
        await ws.send("unix")

    with anyio.fail_after(TIMEOUT):
        async with unix_serve(handler, path), http_proxy() as (proxy, log):
            monkeypatch.setenv("http_proxy", proxy)
            async with unix_connect(path) as ws:
                assert await ws.recv() == "unix"
            assert log.requests == []


# Proxy URLs.


@pytest.mark.parametrize(
    "url",
    [
        "ftp://proxy.example",
        "proxy.example:3128",
        "",
        "http://",
        "http://:3128",
        "http://proxy.example:port",
        "http://proxy.example:99999",
        "http://proxy.example/path",
        "http://proxy.example?query",
        "http://proxy.example#fragment",
        "http://proxy..example",
        "http://user@proxy.example",
        "http://us%3Aer:secret@proxy.example",
        "socks5://user:%ff@proxy.example",
    ],
)
async def test_invalid_proxy(url: str) -> None:
    """A bad proxy URL raises InvalidProxy naming it, before any connection."""
    with anyio.fail_after(TIMEOUT), pytest.raises(InvalidProxy) as raised:
        await connect("ws://example.invalid/", proxy=url)
    assert raised.value.proxy == url
    assert str(raised.value).startswith(f"{url} is not a valid proxy: ")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://proxy.example", Proxy("http", "proxy.example", 80)),
        ("https://proxy.example", Proxy("https", "proxy.example", 443)),
        ("HTTP://Proxy.Example:3128/", Proxy("http", "proxy.example", 3128)),
        ("socks5h://127.0.0.1", Proxy("socks5h", "127.0.0.1", 1080)),
        ("socks5://[::1]:9050", Proxy("socks5", "::1", 9050)),
        ("socks4a://proxy.example", Proxy("socks4a", "proxy.example", 1080)),
        ("socks4://proxy.example:1081", Proxy("socks4", "proxy.example", 1081)),
        ("http://bücher.example", Proxy("http", "xn--bcher-kva.example", 80)),
        ("http://a%40b:c%3Ad@proxy.example", Proxy("http", "proxy.example", 80, "a@b", "c:d")),
        ("socks5://a%3Ab:@proxy.example", Proxy("socks5", "proxy.example", 1080, "a:b", "")),
    ],
)
def test_parse_proxy(url: str, expected: Proxy) -> None:
    assert parse_proxy(url) == expected


@pytest.mark.parametrize(
    ("uri", "environment", "expected"),
    [
        ("ws://h/", {}, None),
        ("ws://h/", {"http_proxy": "http://p:1"}, "http://p:1"),
        ("ws://h/", {"https_proxy": "http://p:2", "http_proxy": "http://p:1"}, "http://p:2"),
        ("ws://h/", {"ws_proxy": "http://p:3", "https_proxy": "http://p:2"}, "http://p:3"),
        ("ws://h/", {"socks_proxy": "socks4://p:4", "https_proxy": "http://p:2"}, "socks4://p:4"),
        ("ws://h/", {"socks_proxy": "http://p:4"}, "socks5h://p:4"),
        ("wss://h/", {"http_proxy": "http://p:1"}, None),
        ("wss://h/", {"https_proxy": "http://p:2"}, "http://p:2"),
        ("wss://h/", {"wss_proxy": "https://p:5", "https_proxy": "http://p:2"}, "https://p:5"),
        ("wss://h/", {"wss_proxy": "http://p:5", "ws_proxy": "http://p:3"}, "http://p:5"),
        ("ws://h/", {"http_proxy": "http://p:1", "no_proxy": "h"}, None),
        ("ws://h:8080/", {"http_proxy": "http://p:1", "no_proxy": "h"}, None),
        ("ws://sub.h/", {"http_proxy": "http://p:1", "no_proxy": ".h"}, None),
        ("ws://h/", {"http_proxy": "http://p:1", "no_proxy": "other"}, "http://p:1"),
    ],
)
def test_get_proxy(
    monkeypatch: pytest.MonkeyPatch,
    uri: str,
    environment: dict[str, str],
    expected: str | None,
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    assert get_proxy(parse_uri(uri)) == expected


def test_resolve_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    wsuri = parse_uri("ws://h/")
    monkeypatch.setenv("http_proxy", "http://p:1")
    assert resolve_proxy(True, wsuri) == Proxy("http", "p", 1)
    assert resolve_proxy("socks5://q", wsuri) == Proxy("socks5", "q", 1080)
    assert resolve_proxy(None, wsuri) is None
    assert resolve_proxy(False, wsuri) is None


# Interoperability: the test proxy serves another client too.


async def test_test_proxy_serves_websockets_client() -> None:
    """websockets 17.4 (in a thread) reaches our server through the test HTTP proxy."""
    from websockets.sync.client import connect as sync_connect

    def talk(uri: str, proxy: str) -> str:
        with sync_connect(uri, proxy=proxy, open_timeout=TIMEOUT) as ws:
            ws.send("interop")
            reply = ws.recv(timeout=TIMEOUT)
            assert isinstance(reply, str)
            return reply

    with anyio.fail_after(TIMEOUT):
        async with ws_server() as (uri, _), http_proxy() as (proxy, log):
            assert await anyio.to_thread.run_sync(talk, uri, proxy) == "interop"
            assert len(log.requests) == 1
