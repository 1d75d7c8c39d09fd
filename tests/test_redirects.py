"""Tests for redirects followed by :func:`anywebsockets.connect`, on both backends.

Every server here is a real anywebsockets server on 127.0.0.1 whose ``process_request``
answers with a redirect; the tests check where the client goes next and what it sends there.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme

from anywebsockets import (
    InvalidStatus,
    InvalidURI,
    Request,
    Response,
    SecurityError,
    ServerConnection,
    connect,
    unix_connect,
    unix_serve,
)

from .utils import TIMEOUT, echo, raw_listener, running_server

pytestmark = pytest.mark.anyio


def redirecting(
    location: str | Callable[[Request], str | None], status: int = 302
) -> Callable[[ServerConnection, Request], Response | None]:
    """A ``process_request`` that redirects to ``location`` (or to what it returns)."""

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        target = location(request) if callable(location) else location
        if target is None:
            return None
        response = connection.respond(status, "moved\n")
        response.headers["Location"] = target
        return response

    return process_request


class Recorder:
    """A ``process_request`` that records each request and lets it through."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    def __call__(self, connection: ServerConnection, request: Request) -> None:
        self.requests.append(request)


def recording(
    recorder: Recorder, routes: dict[str, str]
) -> Callable[[ServerConnection, Request], Response | None]:
    """A ``process_request`` that records each request and redirects the paths in ``routes``."""

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        recorder(connection, request)
        target = routes.get(request.path)
        return None if target is None else redirecting(target)(connection, request)

    return process_request


@asynccontextmanager
async def target_server(**kwargs: Any) -> AsyncIterator[tuple[Recorder, str]]:
    """An echo server that records requests; yield the recorder and its URI."""
    recorder = Recorder()
    async with running_server(echo, process_request=recorder, **kwargs) as (_, uri):
        yield recorder, uri


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308])
async def test_each_redirect_status_is_followed(status: int) -> None:
    async with (
        target_server() as (recorder, target),
        running_server(echo, process_request=redirecting(target + "ws", status)) as (_, uri),
    ):
        with anyio.fail_after(TIMEOUT):
            async with connect(uri) as ws:
                await ws.send("hi")
                assert await ws.recv() == "hi"
    assert [r.path for r in recorder.requests] == ["/ws"]


@pytest.mark.parametrize("status", [304, 305, 200, 404])
async def test_other_statuses_are_not_followed(status: int) -> None:
    async with (
        target_server() as (recorder, target),
        running_server(echo, process_request=redirecting(target, status)) as (_, uri),
    ):
        with anyio.fail_after(TIMEOUT), pytest.raises(InvalidStatus) as info:
            await connect(uri)
    assert info.value.response.status_code == status
    assert recorder.requests == []


async def test_redirect_without_location_raises_invalid_status() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(302, "no location\n")

    async with running_server(echo, process_request=process_request) as (_, uri):
        with anyio.fail_after(TIMEOUT), pytest.raises(InvalidStatus) as info:
            await connect(uri)
    assert info.value.response.status_code == 302
    assert info.value.response.body == b"no location\n"


async def test_redirect_with_two_locations_is_not_followed() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(302, "ambiguous\n")
        response.headers["Location"] = "/a"
        response.headers["Location"] = "/b"
        return response

    async with running_server(echo, process_request=process_request) as (_, uri):
        with anyio.fail_after(TIMEOUT), pytest.raises(InvalidStatus):
            await connect(uri)


async def test_relative_location_is_resolved_against_the_current_uri() -> None:
    recorder = Recorder()
    process_request = recording(recorder, {"/a/b?x=1": "c?y=2", "/a/c?y=2": "/d"})

    async with running_server(echo, process_request=process_request) as (_, uri):
        with anyio.fail_after(TIMEOUT):
            async with connect(uri + "a/b?x=1") as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
    assert [r.path for r in recorder.requests] == ["/a/b?x=1", "/a/c?y=2", "/d"]


async def test_redirect_chain_and_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="anywebsockets.client")
    async with (
        target_server() as (recorder, target),
        running_server(echo, process_request=redirecting(target + "end", 301)) as (_, hop),
        running_server(echo, process_request=redirecting(hop)) as (_, uri),
    ):
        with anyio.fail_after(TIMEOUT):
            ws = await connect(uri)
            await ws.close()
    assert ws.request is not None
    assert ws.request.path == "/end"
    assert ws.request.headers["Host"] == target.split("/")[2]
    assert [r.path for r in recorder.requests] == ["/end"]
    logged = [r.getMessage() for r in caplog.records if "redirected" in r.getMessage()]
    assert logged == [f"redirected to {hop} (HTTP 302)", f"redirected to {target}end (HTTP 301)"]


async def test_redirect_log_hides_credentials(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="anywebsockets.client")
    async with running_server(
        echo, process_request=redirecting(lambda r: "/next" if r.path == "/" else None)
    ) as (_, uri):
        with anyio.fail_after(TIMEOUT):
            ws = await connect(uri.replace("ws://", "ws://user:secret@"))
            await ws.close()
    logged = [r.getMessage() for r in caplog.records if "redirected" in r.getMessage()]
    assert logged == [f"redirected to {uri}next (HTTP 302)"]


async def test_at_most_ten_redirects() -> None:
    count = 0

    def process_request(connection: ServerConnection, request: Request) -> Response:
        nonlocal count
        count += 1
        return redirecting(f"/{count}")(connection, request)  # type: ignore[return-value]

    async with running_server(echo, process_request=process_request) as (_, uri):
        with anyio.fail_after(TIMEOUT), pytest.raises(SecurityError, match="more than 10"):
            await connect(uri)
    assert count == 11


async def test_max_redirects_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYWEBSOCKETS_MAX_REDIRECTS", "2")
    requests: list[str] = []

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        requests.append(request.path)
        if len(requests) <= 2:
            return redirecting(f"/{len(requests)}")(connection, request)
        return None

    async with running_server(echo, process_request=process_request) as (_, uri):
        with anyio.fail_after(TIMEOUT):
            ws = await connect(uri)
            await ws.close()
        assert requests == ["/", "/1", "/2"]
        requests.clear()
        monkeypatch.setenv("ANYWEBSOCKETS_MAX_REDIRECTS", "1")
        with anyio.fail_after(TIMEOUT), pytest.raises(SecurityError, match="more than 1 "):
            await connect(uri)
        assert requests == ["/", "/1"]


async def test_redirects_share_one_open_timeout() -> None:
    """Each hop is quick, but together they exceed ``open_timeout``."""

    async def slow_redirect(connection: ServerConnection, request: Request) -> Response:
        await anyio.sleep(0.3)
        return redirecting("/again")(connection, request)  # type: ignore[return-value]

    async with running_server(echo, process_request=slow_redirect) as (_, uri):
        with anyio.fail_after(TIMEOUT):
            with pytest.raises(TimeoutError, match="opening handshake"):
                await connect(uri, open_timeout=1)


async def test_redirect_to_a_silent_server_times_out() -> None:
    async with raw_listener() as (_, port):
        silent = f"ws://127.0.0.1:{port}/"
        async with running_server(echo, process_request=redirecting(silent)) as (_, uri):
            with anyio.fail_after(TIMEOUT), pytest.raises(TimeoutError):
                await connect(uri, open_timeout=0.5)


async def test_invalid_location_raises_invalid_uri() -> None:
    async with running_server(echo, process_request=redirecting("http://example/")) as (_, uri):
        with anyio.fail_after(TIMEOUT), pytest.raises(InvalidURI) as info:
            await connect(uri)
    assert isinstance(info.value.__context__, InvalidStatus)


async def test_credentials_kept_on_same_origin_redirect() -> None:
    recorder = Recorder()
    process_request = recording(recorder, {"/": "/next"})

    headers = {"Authorization": "Bearer t", "Cookie": "a=b", "X-Other": "1"}
    async with running_server(echo, process_request=process_request) as (_, uri):
        with anyio.fail_after(TIMEOUT):
            ws = await connect(uri, additional_headers=headers)
            await ws.close()
    assert [r.path for r in recorder.requests] == ["/", "/next"]
    for request in recorder.requests:
        assert request.headers["Authorization"] == "Bearer t"
        assert request.headers["Cookie"] == "a=b"
        assert request.headers["X-Other"] == "1"


async def test_credentials_dropped_on_cross_origin_redirect() -> None:
    headers = [
        ("Authorization", "Bearer t"),
        ("Cookie", "a=b"),
        ("Proxy-Authorization", "Basic eDp5"),
        ("X-Other", "1"),
        ("X-Other", "2"),
    ]
    async with (
        target_server() as (recorder, target),
        running_server(echo, process_request=redirecting(target)) as (_, uri),
    ):
        assert uri != target  # another port: another origin
        with anyio.fail_after(TIMEOUT):
            ws = await connect(uri, additional_headers=headers)
            await ws.close()
    (request,) = recorder.requests
    for name in ("Authorization", "Cookie", "Proxy-Authorization"):
        assert name not in request.headers
    assert request.headers.get_all("X-Other") == ["1", "2"]


async def test_uri_credentials_follow_the_uri() -> None:
    """``user:pass@`` belongs to a URI: a relative redirect keeps it, another host drops it."""
    recorder = Recorder()
    process_request = recording(recorder, {"/": "/next"})

    async with (
        target_server() as (other, target),
        running_server(echo, process_request=process_request) as (_, uri),
    ):
        with anyio.fail_after(TIMEOUT):
            ws = await connect(uri.replace("ws://", "ws://user:pw@"))
            await ws.close()
        assert [r.headers["Authorization"] for r in recorder.requests] == [
            "Basic dXNlcjpwdw=="
        ] * 2
        async with running_server(echo, process_request=redirecting(target)) as (_, away):
            with anyio.fail_after(TIMEOUT):
                ws = await connect(away.replace("ws://", "ws://user:pw@"))
                await ws.close()
        (request,) = other.requests
        assert "Authorization" not in request.headers


async def test_each_attempt_starts_from_the_original_uri() -> None:
    """``connect`` objects are reusable: a redirect is not remembered for the next open."""
    async with (
        target_server() as (recorder, target),
        running_server(echo, process_request=redirecting(target + "x")) as (_, uri),
    ):
        connector = connect(uri)
        with anyio.fail_after(TIMEOUT):
            for _ in range(2):
                ws = await connector
                await ws.close()
    assert [r.path for r in recorder.requests] == ["/x", "/x"]


async def test_reconnect_loop_follows_redirects() -> None:
    async with (
        target_server() as (recorder, target),
        running_server(echo, process_request=redirecting(target)) as (_, uri),
    ):
        with anyio.fail_after(TIMEOUT):
            count = 0
            async for ws in connect(uri, reconnect_delays=lambda: iter([0.0] * 9)):
                await ws.send("x")
                assert await ws.recv() == "x"
                count += 1
                if count == 2:
                    break
    assert len(recorder.requests) == 2


async def test_wss_to_ws_is_refused(
    server_ssl: ssl.SSLContext, client_ssl: ssl.SSLContext
) -> None:
    async with (
        target_server() as (recorder, target),
        running_server(echo, ssl=server_ssl, process_request=redirecting(target)) as (_, uri),
    ):
        assert uri.startswith("wss://")
        with anyio.fail_after(TIMEOUT), pytest.raises(SecurityError, match="wss://"):
            await connect(uri, ssl=client_ssl)
    assert recorder.requests == []


async def test_ws_to_wss_is_followed(
    ca: trustme.CA, server_ssl: ssl.SSLContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # ssl= is only for wss:// URIs: the default context must trust the test CA.
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    async with (
        target_server(ssl=server_ssl) as (recorder, target),
        running_server(echo, process_request=redirecting(target)) as (_, uri),
    ):
        assert target.startswith("wss://")
        with anyio.fail_after(TIMEOUT):
            async with connect(uri) as ws:
                await ws.send("secure")
                assert await ws.recv() == "secure"
    assert len(recorder.requests) == 1


async def test_redirect_over_a_given_stream_is_refused() -> None:
    async with running_server(echo, process_request=redirecting("/elsewhere")) as (_, uri):
        port = int(uri.rsplit(":", 1)[1].rstrip("/"))
        stream = await anyio.connect_tcp("127.0.0.1", port)
        with anyio.fail_after(TIMEOUT), pytest.raises(ValueError, match="given stream") as info:
            await connect(uri, stream=stream)
    assert isinstance(info.value.__context__, InvalidStatus)


async def test_redirect_with_explicit_port() -> None:
    """Same origin: followed through the same port; another origin: refused."""
    async with (
        target_server() as (recorder, target),
        running_server(
            echo,
            process_request=redirecting(lambda r: "/b" if r.path == "/a" else None),
        ) as (_, same),
    ):
        port = int(same.rsplit(":", 1)[1].rstrip("/"))
        with anyio.fail_after(TIMEOUT):
            ws = await connect("ws://example.invalid/a", host="127.0.0.1", port=port)
            await ws.close()
        assert ws.request is not None
        assert ws.request.path == "/b"
        async with running_server(echo, process_request=redirecting(target)) as (_, away):
            port = int(away.rsplit(":", 1)[1].rstrip("/"))
            with anyio.fail_after(TIMEOUT), pytest.raises(ValueError, match="port="):
                await connect("ws://example.invalid/", host="127.0.0.1", port=port)
    assert recorder.requests == []


async def test_redirect_over_unix_socket(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/same":
            return redirecting("/landed")(connection, request)
        if request.path == "/away":
            return redirecting("ws://elsewhere.invalid/")(connection, request)
        return None

    async with unix_serve(echo, path, process_request=process_request):
        with anyio.fail_after(TIMEOUT):
            ws = await unix_connect(path, "ws://localhost/same")
            await ws.close()
            assert ws.request is not None
            assert ws.request.path == "/landed"
            with pytest.raises(ValueError, match="Unix socket"):
                await unix_connect(path, "ws://localhost/away")
