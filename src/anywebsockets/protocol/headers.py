"""HTTP headers: a case-insensitive multi-dict, and the handshake headers' grammar.

:class:`Headers` holds the header fields of a handshake request or response.
The functions below parse and build the values of the headers that the
opening handshake relies on (RFC 6455, section 4, and RFC 7692), following
the list and token rules of RFC 7230 (sections 3.2.6 and 7). Every parser is
a left-to-right scan with simple regular expressions anchored at the current
position, so it runs in linear time whatever the input.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import NoReturn, Protocol, TypeAlias, TypeVar, cast, overload

from ..exceptions import InvalidHeaderFormat, InvalidHeaderValue

__all__ = [
    "ConnectionOption",
    "ExtensionHeader",
    "ExtensionName",
    "ExtensionParameter",
    "Headers",
    "HeadersLike",
    "MultipleValuesError",
    "Subprotocol",
    "SupportsKeysAndGetItem",
    "UpgradeProtocol",
    "build_authorization_basic",
    "build_extension",
    "build_host",
    "build_subprotocol",
    "build_www_authenticate_basic",
    "parse_authorization_basic",
    "parse_connection",
    "parse_extension",
    "parse_subprotocol",
    "parse_upgrade",
    "validate_subprotocols",
]


# RFC 7230, section 3.2.6: token = 1*tchar.
_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_token_re = re.compile(_TOKEN)
_is_token = re.compile(_TOKEN).fullmatch

# RFC 7230, section 3.2: field-value = *( VCHAR / obs-text / SP / HTAB ), which
# leaves out every control character but HTAB, so CR and LF above all.
_is_field_value = re.compile(r"[\t\x20-\x7e\x80-\xff]*").fullmatch


_D = TypeVar("_D")


class MultipleValuesError(LookupError):
    """A header asked for as a single value has several.

    Args:
        name: the header's name.
    """

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name

    def __str__(self) -> str:
        return f"header {self.name!r} has several values"


class SupportsKeysAndGetItem(Protocol):
    """Anything with ``keys()`` and ``[]``, as :meth:`dict.update` accepts."""

    def keys(self) -> Iterable[str]: ...

    def __getitem__(self, key: str, /) -> str: ...


class Headers(MutableMapping[str, str]):
    """HTTP header fields: a multi-dict whose keys ignore case.

    A name may have several values. ``headers[name] = value`` *adds* a value;
    ``headers[name]`` returns the only value of ``name`` and raises
    :exc:`KeyError` when there is none, :exc:`MultipleValuesError` when there
    are several; ``del headers[name]`` removes every value of ``name``.
    :meth:`get_all` returns all the values of one name, and :meth:`raw_items`
    every ``(name, value)`` pair in the order they were added, with the names
    spelled as they were given. Iterating and :func:`len` see each distinct
    name once, lower-cased.

    Values are text; bytes outside ASCII stand for themselves as ISO-8859-1
    characters, the encoding used to read and write them on the wire, so any
    byte sequence survives a round trip. Names must be tokens and values may
    not hold control characters other than horizontal tab, so what is added
    can never break the framing of an HTTP message.

    Two :class:`Headers` are equal when they hold the same values for the same
    names (names compared without case, values in order), whatever the order
    of the names.

    Args:
        args: other :class:`Headers`, mappings, objects with ``keys()``, or
            iterables of ``(name, value)`` pairs, added in order.
        kwargs: more headers, added last.
    """

    __slots__ = ("_by_name", "_pairs")

    def __init__(self, *args: HeadersLike, **kwargs: str) -> None:
        self._by_name: dict[str, list[str]] = {}
        self._pairs: list[tuple[str, str]] = []
        self.update(*args, **kwargs)

    def __str__(self) -> str:
        lines = [f"{name}: {value}\r\n" for name, value in self._pairs]
        lines.append("\r\n")
        return "".join(lines)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._pairs!r})"

    def serialize(self) -> bytes:
        """Return the header block as it goes on the wire.

        Each field becomes ``Name: value`` and CRLF, and an empty line ends
        the block. The text is encoded as ISO-8859-1.
        """
        return str(self).encode("iso-8859-1")

    def copy(self) -> Headers:
        """Return an independent copy."""
        other = type(self)()
        other._by_name = {name: values.copy() for name, values in self._by_name.items()}
        other._pairs = self._pairs.copy()
        return other

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def __getitem__(self, name: str) -> str:
        values = self._by_name[name.lower()]
        if len(values) > 1:
            raise MultipleValuesError(name)
        return values[0]

    def __setitem__(self, name: str, value: str) -> None:
        """Add a value to ``name``, after those it already has.

        Raises:
            ValueError: ``name`` is not a token (RFC 7230, section 3.2.6).
            InvalidHeaderValue: ``value`` holds a control character other
                than horizontal tab, or a character beyond ``U+00FF``.
        """
        if not _is_token(name):
            raise ValueError(f"invalid header name: {name!r}")
        if not _is_field_value(value):
            raise InvalidHeaderValue(name, value)
        self._by_name.setdefault(name.lower(), []).append(value)
        self._pairs.append((name, value))

    def __delitem__(self, name: str) -> None:
        key = name.lower()
        del self._by_name[key]
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != key]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Headers):
            return NotImplemented
        return self._by_name == other._by_name

    def clear(self) -> None:
        """Remove every header."""
        self._by_name = {}
        self._pairs = []

    def update(self, *args: HeadersLike, **kwargs: str) -> None:
        """Add headers, keeping those already present.

        Args:
            args: other :class:`Headers`, mappings, objects with ``keys()``,
                or iterables of ``(name, value)`` pairs, added in order.
            kwargs: more headers, added last.
        Raises:
            ValueError: a name is not a token.
            InvalidHeaderValue: a value holds a forbidden character.
        """
        for arg in args:
            if isinstance(arg, Headers):
                pairs: Iterable[tuple[str, str]] = arg.raw_items()
            elif hasattr(arg, "keys"):
                # Like dict.update: anything with keys() is read as a mapping,
                # which may have no __iter__ of its own.
                mapping = cast(SupportsKeysAndGetItem, arg)
                pairs = [(name, mapping[name]) for name in mapping.keys()]  # noqa: SIM118
            else:
                pairs = arg
            for name, value in pairs:
                self[name] = value
        for name, value in kwargs.items():
            self[name] = value

    @overload
    def get(self, key: str) -> str | None: ...

    @overload
    def get(self, key: str, default: str | _D) -> str | _D: ...

    def get(self, key: str, default: object = None) -> object:
        """Return the only value of ``key``, or ``default`` when there is none.

        The same as :meth:`Mapping.get <collections.abc.Mapping.get>`, without
        the cost of an exception when the header is missing.

        Raises:
            MultipleValuesError: ``key`` has several values.
        """
        values = self._by_name.get(key.lower())
        if values is None:
            return default
        if len(values) > 1:
            raise MultipleValuesError(key)
        return values[0]

    def get_all(self, name: str) -> list[str]:
        """Return every value of ``name``, oldest first; an empty list if none."""
        return list(self._by_name.get(name.lower(), ()))

    def raw_items(self) -> Iterator[tuple[str, str]]:
        """Return every ``(name, value)`` pair in insertion order, names as given."""
        return iter(self._pairs)

    @classmethod
    def _from_checked(cls, pairs: list[tuple[str, str]]) -> Headers:
        """Build headers from pairs known to be valid, skipping the checks of ``[]=``.

        For the parser and the handshake, whose names are tokens and values
        field values by construction. The list is kept, not copied.
        """
        headers = cls.__new__(cls)
        by_name: dict[str, list[str]] = {}
        for name, value in pairs:
            key = name.lower()
            values = by_name.get(key)
            if values is None:
                by_name[key] = [value]
            else:
                values.append(value)
        headers._by_name = by_name
        headers._pairs = pairs
        return headers


HeadersLike: TypeAlias = (
    Headers | Mapping[str, str] | Iterable[tuple[str, str]] | SupportsKeysAndGetItem
)


ConnectionOption: TypeAlias = str
UpgradeProtocol: TypeAlias = str
Subprotocol: TypeAlias = str
ExtensionName: TypeAlias = str
ExtensionParameter: TypeAlias = tuple[str, str | None]
ExtensionHeader: TypeAlias = tuple[ExtensionName, list[ExtensionParameter]]


# Parsing ----------------------------------------------------------------------

_T = TypeVar("_T")

_ows_re = re.compile(r"[\t ]*")
# RFC 7230, section 6.7: protocol = protocol-name ["/" protocol-version].
_protocol_re = re.compile(rf"{_TOKEN}(?:/{_TOKEN})?")
_is_protocol = _protocol_re.fullmatch
# RFC 7230, section 3.2.6: DQUOTE *( qdtext / quoted-pair ) DQUOTE. A backslash
# is never qdtext, so each character has one reading and matching is linear.
_quoted_string_re = re.compile(r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t -~\x80-\xff])*"')
_quoted_pair_re = re.compile(r"\\(.)", re.DOTALL)
# RFC 7235, section 2.1: token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
_token68_re = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


class _Scanner:
    """A position in a header value, with the steps the grammars are made of."""

    __slots__ = ("name", "pos", "text")

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.pos = 0

    def fail(self, expected: str) -> NoReturn:
        raise InvalidHeaderFormat(self.name, expected, self.text, self.pos)

    def at_end(self) -> bool:
        return self.pos == len(self.text)

    def skip_ows(self) -> None:
        match = _ows_re.match(self.text, self.pos)
        assert match is not None  # the pattern also matches nothing
        self.pos = match.end()

    def skip(self, char: str) -> bool:
        """Step over ``char`` if it comes next; tell whether it did."""
        if self.text.startswith(char, self.pos):
            self.pos += 1
            return True
        return False

    def take(self, pattern: re.Pattern[str], expected: str) -> str:
        match = pattern.match(self.text, self.pos)
        if match is None:
            self.fail(expected)
        self.pos = match.end()
        return match.group()

    def token(self) -> str:
        return self.take(_token_re, "expected token")


def _parse_list(scanner: _Scanner, parse_item: Callable[[_Scanner], _T]) -> list[_T]:
    """Parse ``1#item``: one or more items separated by commas.

    RFC 7230, section 7 asks recipients to accept empty list elements, so
    ``", a ,, b ,"`` holds two items; at least one is required.
    """
    # Leading empty elements, and whitespace around the whole value.
    scanner.skip_ows()
    while scanner.skip(","):
        scanner.skip_ows()
    items = [parse_item(scanner)]
    while True:
        scanner.skip_ows()
        if scanner.at_end():
            return items
        if not scanner.skip(","):
            scanner.fail("expected comma")
        scanner.skip_ows()
        if not (scanner.at_end() or scanner.text.startswith(",", scanner.pos)):
            items.append(parse_item(scanner))


def _parse_token_item(scanner: _Scanner) -> str:
    return scanner.token()


def _parse_protocol_item(scanner: _Scanner) -> str:
    return scanner.take(_protocol_re, "expected protocol")


def parse_connection(header: str) -> list[ConnectionOption]:
    """Parse a ``Connection`` header (RFC 7230, section 6.1).

    Args:
        header: the header's value.
    Returns:
        The connection options, as sent.
    Raises:
        InvalidHeaderFormat: the value is not a list of tokens.
    """
    if _is_token(header):  # the usual value, such as "Upgrade": one item, as is
        return [header]
    return _parse_list(_Scanner(header, "Connection"), _parse_token_item)


def parse_upgrade(header: str) -> list[UpgradeProtocol]:
    """Parse an ``Upgrade`` header (RFC 7230, section 6.7).

    Args:
        header: the header's value.
    Returns:
        The protocols, each a token optionally followed by ``/`` and a
        version token, as sent.
    Raises:
        InvalidHeaderFormat: the value is not a list of protocols.
    """
    if _is_protocol(header):  # the usual value, such as "websocket": one item, as is
        return [header]
    return _parse_list(_Scanner(header, "Upgrade"), _parse_protocol_item)


def _parse_extension_item(scanner: _Scanner) -> ExtensionHeader:
    """Parse ``extension-token *( ";" extension-param )`` (RFC 6455, section 9.1)."""
    name = scanner.token()
    parameters: list[ExtensionParameter] = []
    while True:
        scanner.skip_ows()
        if not scanner.skip(";"):
            return name, parameters
        scanner.skip_ows()
        key = scanner.token()
        value: str | None = None
        scanner.skip_ows()
        if scanner.skip("="):
            scanner.skip_ows()
            if scanner.text.startswith('"', scanner.pos):
                start = scanner.pos
                value = _unquote(scanner.take(_quoted_string_re, "expected quoted string"))
                # RFC 6455, section 9.1: once unquoted, the value must be a token.
                if not _is_token(value):
                    scanner.pos = start
                    scanner.fail("expected token in quoted string")
            else:
                value = scanner.token()
        parameters.append((key, value))


def _unquote(quoted: str) -> str:
    return _quoted_pair_re.sub(r"\1", quoted[1:-1])


def parse_extension(header: str) -> list[ExtensionHeader]:
    """Parse a ``Sec-WebSocket-Extensions`` header (RFC 6455, section 9.1).

    Parameter values may be tokens or quoted strings; a quoted string must
    hold a token once its escapes are removed.

    Args:
        header: the header's value.
    Returns:
        ``(name, [(parameter, value or None), ...])`` for each extension,
        in order.
    Raises:
        InvalidHeaderFormat: the value does not follow the grammar.
    """
    return _parse_list(_Scanner(header, "Sec-WebSocket-Extensions"), _parse_extension_item)


def build_extension(extensions: Sequence[ExtensionHeader]) -> str:
    """Build a ``Sec-WebSocket-Extensions`` header value (RFC 6455, section 9.1).

    Names and values are written as they are; they are expected to be tokens.

    Args:
        extensions: ``(name, [(parameter, value or None), ...])`` pairs.
    Returns:
        The header's value.
    """
    items = []
    for name, parameters in extensions:
        parts = [name]
        for key, value in parameters:
            parts.append(key if value is None else f"{key}={value}")
        items.append("; ".join(parts))
    return ", ".join(items)


def parse_subprotocol(header: str) -> list[Subprotocol]:
    """Parse a ``Sec-WebSocket-Protocol`` header (RFC 6455, section 4.3).

    Args:
        header: the header's value.
    Returns:
        The subprotocols, in order.
    Raises:
        InvalidHeaderFormat: the value is not a list of tokens.
    """
    if _is_token(header):  # a single subprotocol: one item, as is
        return [header]
    return _parse_list(_Scanner(header, "Sec-WebSocket-Protocol"), _parse_token_item)


def build_subprotocol(subprotocols: Sequence[Subprotocol]) -> str:
    """Build a ``Sec-WebSocket-Protocol`` header value (RFC 6455, section 4.3).

    Args:
        subprotocols: tokens, as :func:`validate_subprotocols` checks.
    Returns:
        The header's value.
    """
    return ", ".join(subprotocols)


def validate_subprotocols(subprotocols: Sequence[Subprotocol]) -> None:
    """Check a list of subprotocols given by the application.

    Args:
        subprotocols: the subprotocols.
    Raises:
        TypeError: ``subprotocols`` is a string or not a sequence.
        ValueError: a subprotocol is not a token (RFC 6455, section 4.1).
    """
    if isinstance(subprotocols, str | bytes) or not isinstance(subprotocols, Sequence):
        raise TypeError(f"subprotocols must be a list of str, not {type(subprotocols).__name__}")
    for subprotocol in subprotocols:
        if not isinstance(subprotocol, str) or not _is_token(subprotocol):
            raise ValueError(f"invalid subprotocol: {subprotocol!r}")


def _quote(value: str) -> str:
    """Build a quoted-string (RFC 7230, section 3.2.6) holding ``value``.

    Raises:
        ValueError: ``value`` holds a control character other than tab, or a
            character beyond ``U+00FF``.
    """
    if not _is_field_value(value):
        raise ValueError(f"cannot quote {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def build_www_authenticate_basic(realm: str) -> str:
    """Build a ``WWW-Authenticate`` value asking for Basic auth (RFC 7617, section 2).

    Args:
        realm: the protection space, shown to users by some clients.
    Returns:
        ``Basic realm="...", charset="UTF-8"``.
    Raises:
        ValueError: ``realm`` cannot be written as a quoted string.
    """
    return f'Basic realm={_quote(realm)}, charset="UTF-8"'


def parse_authorization_basic(header: str) -> tuple[str, str]:
    """Parse an ``Authorization`` header with Basic credentials (RFC 7617, section 2).

    The scheme is matched without case. The credentials are decoded as
    UTF-8, the charset :func:`build_www_authenticate_basic` announces.

    Args:
        header: the header's value.
    Returns:
        The username and the password.
    Raises:
        InvalidHeaderFormat: the value is not ``scheme 1*SP token68``.
        InvalidHeaderValue: the scheme is not Basic, or the credentials are
            not base64 of UTF-8 ``username:password``.
    """
    name = "Authorization"
    scanner = _Scanner(header, name)
    scheme = scanner.token()
    if scheme.lower() != "basic":
        raise InvalidHeaderValue(name, f"unsupported scheme: {scheme}")
    if not scanner.skip(" "):
        scanner.fail("expected space after scheme")
    while scanner.skip(" "):
        pass
    encoded = scanner.take(_token68_re, "expected token68")
    scanner.skip_ows()
    if not scanner.at_end():
        scanner.fail("unexpected data after credentials")
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise InvalidHeaderValue(name, "expected base64-encoded UTF-8 credentials") from exc
    username, colon, password = decoded.partition(":")
    if not colon:
        raise InvalidHeaderValue(name, "expected username:password credentials")
    return username, password


def build_authorization_basic(username: str, password: str) -> str:
    """Build an ``Authorization`` value with Basic credentials (RFC 7617, section 2).

    Args:
        username: must not contain a colon.
        password: any text.
    Returns:
        ``Basic`` and the base64 of the UTF-8 ``username:password``.
    Raises:
        ValueError: ``username`` contains a colon, which would make the
            credentials ambiguous.
    """
    if ":" in username:
        raise ValueError("a Basic auth username cannot contain a colon")
    credentials = f"{username}:{password}".encode()
    return "Basic " + base64.b64encode(credentials).decode("ascii")


def build_host(host: str, port: int, secure: bool, *, always_include_port: bool = False) -> str:
    """Build a ``Host`` header value (RFC 7230, section 5.4).

    Args:
        host: a host name or an IP address; an IPv6 address is put in
            brackets.
        port: the TCP port.
        secure: whether the URI is ``wss://``, whose default port is 443
            rather than 80.
        always_include_port: write the port even when it is the default one.
    Returns:
        The header's value.
    """
    # Only an IPv6 address holds colons: spare the parsing of any other host.
    if ":" in host:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            pass
        else:
            host = f"[{host}]"
    if always_include_port or port != (443 if secure else 80):
        host = f"{host}:{port}"
    return host
