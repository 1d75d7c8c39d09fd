"""HTTP Basic authentication on the server (RFC 7617), on both backends."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

from anywebsockets import InvalidStatus, Request, Response, ServerConnection, basic_auth, connect
from tests.utils import TIMEOUT, running_server

pytestmark = pytest.mark.anyio


async def whoami(ws: ServerConnection) -> None:
    await ws.send(ws.username or "")


def with_credentials(uri: str, user: str, password: str) -> str:
    return uri.replace("ws://", f"ws://{user}:{password}@")


async def refused(uri: str, **kwargs: Any) -> Response:
    with pytest.raises(InvalidStatus) as raised:
        await connect(uri, **kwargs)
    response = raised.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Basic realm="test", charset="UTF-8"'
    return response


@pytest.mark.parametrize(
    "credentials",
    [("alice", "s3cret"), [("bob", "x"), ("alice", "s3cret")]],
    ids=["one pair", "several pairs"],
)
async def test_valid_credentials_set_username(credentials: Any) -> None:
    hook = basic_auth("test", credentials=credentials)
    with anyio.fail_after(TIMEOUT):
        async with (
            running_server(whoami, process_request=hook) as (_, uri),
            connect(with_credentials(uri, "alice", "s3cret")) as ws,
        ):
            assert await ws.recv() == "alice"


async def test_missing_credentials() -> None:
    with anyio.fail_after(TIMEOUT):
        async with running_server(whoami, process_request=basic_auth("test", ("a", "b"))) as (
            _,
            uri,
        ):
            response = await refused(uri)
            assert response.body == b"Missing credentials\n"


@pytest.mark.parametrize(("user", "password"), [("alice", "wrong"), ("mallory", "s3cret")])
async def test_invalid_credentials(user: str, password: str) -> None:
    hook = basic_auth("test", credentials=("alice", "s3cret"))
    with anyio.fail_after(TIMEOUT):
        async with running_server(whoami, process_request=hook) as (_, uri):
            response = await refused(with_credentials(uri, user, password))
            assert response.body == b"Invalid credentials\n"


@pytest.mark.parametrize("header", ["Bearer abc", "Basic !!!", "Basic " + "YWxpY2U="])
async def test_unsupported_credentials(header: str) -> None:
    hook = basic_auth("test", credentials=("alice", "s3cret"))
    with anyio.fail_after(TIMEOUT):
        async with running_server(whoami, process_request=hook) as (_, uri):
            response = await refused(uri, additional_headers={"Authorization": header})
            assert response.body == b"Unsupported credentials\n"


async def test_repeated_authorization_header_is_refused() -> None:
    hook = basic_auth("test", credentials=("alice", "s3cret"))
    headers = [("Authorization", "Basic YWxpY2U6czNjcmV0")] * 2
    with anyio.fail_after(TIMEOUT):
        async with running_server(whoami, process_request=hook) as (_, uri):
            response = await refused(uri, additional_headers=headers)
            assert response.body == b"Unsupported credentials\n"


async def test_check_credentials_function_and_coroutine() -> None:
    seen: list[tuple[str, str]] = []

    def check(user: str, password: str) -> bool:
        seen.append((user, password))
        return password == "open sesame"

    async def acheck(user: str, password: str) -> bool:
        await anyio.lowlevel.checkpoint()
        return check(user, password)

    with anyio.fail_after(TIMEOUT):
        for checker in (check, acheck):
            hook = basic_auth("test", check_credentials=checker)
            async with running_server(whoami, process_request=hook) as (_, uri):
                async with connect(with_credentials(uri, "carol", "open%20sesame")) as ws:
                    assert await ws.recv() == "carol"
                await refused(with_credentials(uri, "carol", "closed"))
    assert seen == [("carol", "open sesame"), ("carol", "closed")] * 2


async def test_basic_auth_composes_with_other_checks() -> None:
    """The documented pattern: run basic_auth from your own hook."""
    auth = basic_auth("test", credentials=("alice", "s3cret"))

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/health":
            return connection.respond(200, "OK\n")
        return await auth(connection, request)

    with anyio.fail_after(TIMEOUT):
        async with running_server(whoami, process_request=process_request) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                await connect(uri + "health")
            assert raised.value.response.status_code == 200
            assert raised.value.response.body == b"OK\n"
            await refused(uri)
            async with connect(with_credentials(uri, "alice", "s3cret")) as ws:
                assert await ws.recv() == "alice"


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="either credentials or check_credentials"):
        basic_auth()
    with pytest.raises(ValueError, match="either credentials or check_credentials"):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    for bad in ["alice", ("alice",), [("a", "b"), ("c",)], [], 42]:
        with pytest.raises(TypeError, match="invalid credentials"):
            basic_auth(credentials=bad)  # type: ignore[arg-type]
