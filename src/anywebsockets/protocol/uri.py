"""WebSocket URIs (RFC 6455, section 3)."""

from __future__ import annotations

import dataclasses
import re
import urllib.parse

from ..exceptions import InvalidURI

__all__ = ["WebSocketURI", "parse_uri"]

# Characters left as they are when percent-encoding a path, a query or user info.
_PATH_SAFE = "-._~!$&'()*+,;=:@/%"
_QUERY_SAFE = _PATH_SAFE + "?"
# Host names, IPv4 addresses and IPv6 addresses (with a zone) once IDNA-encoded.
_HOST_RE = re.compile(r"[A-Za-z0-9._~:%-]+")


@dataclasses.dataclass(frozen=True)
class WebSocketURI:
    """A parsed ``ws://`` or ``wss://`` URI.

    Attributes:
        secure: True for ``wss://``.
        host: the host, IDNA-encoded, without brackets around an IPv6 address.
        port: the port, the scheme's default when the URI has none.
        path: the path, percent-encoded, ``/`` at least.
        query: the query string, percent-encoded, without ``?``.
        username: the user name from the URI, percent-decoded, if any.
        password: the password from the URI, percent-decoded, if any.
    """

    secure: bool
    host: str
    port: int
    path: str
    query: str = ""
    username: str | None = None
    password: str | None = None

    @property
    def resource_name(self) -> str:
        """The request target: path and query (RFC 6455, section 3)."""
        return f"{self.path}?{self.query}" if self.query else self.path

    @property
    def user_info(self) -> tuple[str, str] | None:
        """The credentials in the URI, as ``(username, password)``, if any."""
        if self.username is None:
            return None
        assert self.password is not None
        return self.username, self.password


def parse_uri(uri: str) -> WebSocketURI:
    """Parse and validate a WebSocket URI.

    Non-ASCII hosts are IDNA-encoded; non-ASCII paths, queries and user info
    are percent-encoded as UTF-8.

    Returns:
        The parsed URI.
    Raises:
        InvalidURI: ``uri`` is not a valid ``ws://`` or ``wss://`` URI.
    """
    try:
        parsed = urllib.parse.urlsplit(uri)
        port = parsed.port
    except ValueError as exc:
        raise InvalidURI(uri, str(exc)) from exc
    scheme = parsed.scheme.lower()
    if scheme not in ("ws", "wss"):
        raise InvalidURI(uri, "scheme is not ws or wss")
    if parsed.fragment or uri.endswith("#"):
        raise InvalidURI(uri, "a fragment is not allowed")
    if not parsed.hostname:
        raise InvalidURI(uri, "host is missing")
    secure = scheme == "wss"
    try:
        host = parsed.hostname.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidURI(uri, f"host is not a valid domain name: {exc}") from exc
    if not _HOST_RE.fullmatch(host):
        raise InvalidURI(uri, "host contains invalid characters")
    if port is None:
        port = 443 if secure else 80
    path = urllib.parse.quote(parsed.path, safe=_PATH_SAFE) or "/"
    query = urllib.parse.quote(parsed.query, safe=_QUERY_SAFE)
    username = password = None
    if parsed.username is not None:
        if parsed.password is None:
            raise InvalidURI(uri, "a username needs a password")
        username = urllib.parse.unquote(parsed.username)
        password = urllib.parse.unquote(parsed.password)
    return WebSocketURI(secure, host, port, path, query, username, password)
