"""HTTP Basic authentication for servers (RFC 7617): :func:`basic_auth`."""

from __future__ import annotations

import hmac
import http
import inspect
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidHeader
from .protocol import Request, Response
from .protocol.headers import build_www_authenticate_basic, parse_authorization_basic

if TYPE_CHECKING:
    from .server import ServerConnection

__all__ = ["basic_auth"]

Credentials = tuple[str, str]
CheckCredentials = Callable[[str, str], Awaitable[bool] | bool]


def _is_pair(value: object) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(item, str) for item in value)
    )


def _check_against(pairs: list[Credentials]) -> CheckCredentials:
    """Build a checker that compares with every known pair in constant time."""
    encoded = [
        (u.encode(errors="surrogateescape"), p.encode(errors="surrogateescape")) for u, p in pairs
    ]

    def check(username: str, password: str) -> bool:
        user = username.encode(errors="surrogateescape")
        secret = password.encode(errors="surrogateescape")
        found = False
        for known_user, known_secret in encoded:
            # Both comparisons always run, so the timing tells nothing.
            user_ok = hmac.compare_digest(user, known_user)
            secret_ok = hmac.compare_digest(secret, known_secret)
            found |= user_ok and secret_ok
        return found

    return check


def basic_auth(
    realm: str = "",
    credentials: Credentials | Iterable[Credentials] | None = None,
    check_credentials: CheckCredentials | None = None,
) -> Callable[[ServerConnection, Request], Awaitable[Response | None]]:
    """Build a ``process_request`` hook that enforces HTTP Basic authentication.

    A request without valid credentials gets 401 with a
    ``WWW-Authenticate: Basic realm="..."`` header; a valid one goes on with
    the handshake and the connection's ``username`` is set. Give exactly one
    of ``credentials`` and ``check_credentials``.

    Args:
        realm: the protection space, shown by browsers (ASCII).
        credentials: one ``(username, password)`` pair or an iterable of them,
            compared in constant time.
        check_credentials: a function or coroutine function taking the user
            name and the password and returning whether they are valid.
    Returns:
        The hook, for ``serve(..., process_request=basic_auth(...))``; to
        combine it with other checks, call it from your own hook and return
        its response when it returns one.
    Raises:
        ValueError: both or neither of ``credentials`` and
            ``check_credentials`` are given.
        TypeError: ``credentials`` is not a pair or an iterable of pairs.
    """
    if (credentials is None) == (check_credentials is None):
        raise ValueError("give either credentials or check_credentials")
    if credentials is not None:
        pairs: list[Any]
        if _is_pair(credentials):
            pairs = [credentials]
        elif isinstance(credentials, Iterable) and not isinstance(credentials, str | bytes):
            pairs = list(credentials)
            if not pairs or not all(_is_pair(pair) for pair in pairs):
                raise TypeError(f"invalid credentials: {credentials!r}")
        else:
            raise TypeError(f"invalid credentials: {credentials!r}")
        check_credentials = _check_against(pairs)
    assert check_credentials is not None
    check = check_credentials

    def unauthorized(connection: ServerConnection, text: str) -> Response:
        response = connection.respond(http.HTTPStatus.UNAUTHORIZED, text)
        response.headers["WWW-Authenticate"] = build_www_authenticate_basic(realm)
        return response

    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        """Check the request's credentials; return 401 unless they are valid."""
        try:
            authorization = request.headers["Authorization"]
        except KeyError:
            return unauthorized(connection, "Missing credentials\n")
        except LookupError:
            return unauthorized(connection, "Unsupported credentials\n")
        try:
            username, password = parse_authorization_basic(authorization)
        except InvalidHeader:
            return unauthorized(connection, "Unsupported credentials\n")
        valid: Any = check(username, password)
        if inspect.isawaitable(valid):
            valid = await valid
        if not valid:
            return unauthorized(connection, "Invalid credentials\n")
        connection.username = username
        return None

    return process_request
