"""Tests for anywebsockets.protocol.headers: Headers and the handshake headers' grammar."""

from __future__ import annotations

import base64
import signal
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anywebsockets.exceptions import InvalidHeaderFormat, InvalidHeaderValue
from anywebsockets.protocol import headers as headers_module
from anywebsockets.protocol.headers import (
    ExtensionHeader,
    Headers,
    MultipleValuesError,
    build_authorization_basic,
    build_extension,
    build_host,
    build_subprotocol,
    build_www_authenticate_basic,
    parse_authorization_basic,
    parse_connection,
    parse_extension,
    parse_subprotocol,
    parse_upgrade,
    validate_subprotocols,
)

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=12)
field_values = st.text(
    alphabet=st.sampled_from(["\t", *map(chr, range(0x20, 0x7F)), *map(chr, range(0x80, 0x100))]),
    max_size=16,
)


# Headers ----------------------------------------------------------------------


class KeysAndGetItem:
    """Has keys() and [] but is no Mapping and cannot be iterated."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    def keys(self) -> list[str]:
        return list(self.data)

    def __getitem__(self, key: str) -> str:
        return self.data[key]


def test_headers_from_each_kind_of_argument() -> None:
    expected = [("A", "1"), ("b", "2"), ("C", "3"), ("D", "4"), ("E", "5"), ("F", "6")]
    headers = Headers(
        Headers([("A", "1")]),
        {"b": "2"},
        [("C", "3")],
        iter([("D", "4")]),
        KeysAndGetItem({"E": "5"}),
        F="6",
    )
    assert list(headers.raw_items()) == expected


def test_headers_setitem_appends() -> None:
    headers = Headers()
    headers["Set-Cookie"] = "a=1"
    headers["set-cookie"] = "b=2"
    assert headers.get_all("SET-COOKIE") == ["a=1", "b=2"]
    assert list(headers.raw_items()) == [("Set-Cookie", "a=1"), ("set-cookie", "b=2")]


def test_headers_getitem_is_case_insensitive() -> None:
    headers = Headers(Upgrade="websocket")
    assert headers["upgrade"] == headers["UPGRADE"] == "websocket"


def test_headers_getitem_missing() -> None:
    with pytest.raises(KeyError):
        Headers()["Upgrade"]


def test_headers_getitem_several_values() -> None:
    headers = Headers([("X", "1"), ("x", "2")])
    with pytest.raises(MultipleValuesError) as info:
        headers["X"]
    assert isinstance(info.value, LookupError)
    assert not isinstance(info.value, KeyError)
    assert info.value.name == "X"
    assert str(info.value) == "header 'X' has several values"


def test_headers_get_falls_back_only_when_missing() -> None:
    headers = Headers([("X", "1"), ("x", "2")])
    assert headers.get("Y", "default") == "default"
    with pytest.raises(MultipleValuesError):
        headers.get("X")


def test_headers_get() -> None:
    headers = Headers([("X", "1"), ("Y", "2"), ("y", "3")])
    assert headers.get("x") == "1"
    assert headers.get("Z") is None
    assert headers.get("Z", "default") == "default"
    with pytest.raises(MultipleValuesError) as info:
        headers.get("Y", "default")
    assert info.value.name == "Y"


@given(st.lists(st.tuples(st.sampled_from(["A", "a", "B", "Cc"]), field_values), max_size=6))
def test_headers_from_checked_pairs(pairs: list[tuple[str, str]]) -> None:
    """Building from pairs known to be valid gives what adding them one by one gives."""
    headers = Headers._from_checked(list(pairs))
    expected = Headers(pairs)
    assert headers == expected
    assert list(headers.raw_items()) == list(expected.raw_items())
    assert headers.get_all("a") == expected.get_all("a")
    assert len(headers) == len(expected)


def test_headers_delitem_removes_every_value() -> None:
    headers = Headers([("X", "1"), ("Y", "2"), ("x", "3")])
    del headers["X"]
    assert list(headers.raw_items()) == [("Y", "2")]
    assert "x" not in headers


def test_headers_delitem_missing() -> None:
    with pytest.raises(KeyError):
        del Headers()["X"]


def test_headers_iter_and_len_see_distinct_lower_case_names() -> None:
    headers = Headers([("X", "1"), ("Y", "2"), ("x", "3")])
    assert list(headers) == ["x", "y"]
    assert len(headers) == 2


@pytest.mark.parametrize(("key", "expected"), [("X", True), ("x", True), ("Z", False), (1, False)])
def test_headers_contains(key: object, expected: bool) -> None:
    assert (key in Headers(X="1")) is expected


def test_headers_get_all() -> None:
    headers = Headers([("X", "1"), ("x", "2")])
    assert headers.get_all("X") == ["1", "2"]
    assert headers.get_all("Y") == []
    headers.get_all("X").append("3")
    assert headers.get_all("X") == ["1", "2"]


def test_headers_update_appends() -> None:
    headers = Headers(X="1")
    headers.update({"X": "2"}, [("Y", "3")], Z="4")
    assert list(headers.raw_items()) == [("X", "1"), ("X", "2"), ("Y", "3"), ("Z", "4")]


def test_headers_copy_is_independent() -> None:
    headers = Headers(X="1")
    copy = headers.copy()
    assert copy == headers
    assert copy is not headers
    copy["X"] = "2"
    copy["Y"] = "3"
    assert list(headers.raw_items()) == [("X", "1")]
    assert headers.get_all("X") == ["1"]


def test_headers_clear() -> None:
    headers = Headers(X="1")
    headers.clear()
    assert len(headers) == 0
    assert list(headers.raw_items()) == []
    headers["Y"] = "2"
    assert headers["y"] == "2"


def test_headers_mutable_mapping_mixins() -> None:
    headers = Headers(X="1")
    assert headers.setdefault("X", "9") == "1"
    assert headers.setdefault("Y", "2") == "2"
    assert headers.pop("X") == "1"
    assert list(headers.raw_items()) == [("Y", "2")]


def test_headers_equality() -> None:
    """Order of names does not matter; order of values does; case of names does not."""
    assert Headers([("A", "1"), ("B", "2")]) == Headers([("b", "2"), ("a", "1")])
    assert Headers([("A", "1"), ("A", "2")]) != Headers([("A", "2"), ("A", "1")])
    assert Headers(A="1") != Headers(A="2")
    assert Headers(A="1") != Headers(A="1", B="2")
    assert Headers(A="1") != {"a": ["1"]}
    assert Headers.__eq__(Headers(), {}) is NotImplemented


def test_headers_str_and_serialize() -> None:
    headers = Headers([("Host", "example.com"), ("X-Name", "caf\xe9")])
    assert str(headers) == "Host: example.com\r\nX-Name: caf\xe9\r\n\r\n"
    assert headers.serialize() == b"Host: example.com\r\nX-Name: caf\xe9\r\n\r\n"
    assert Headers().serialize() == b"\r\n"


def test_headers_repr() -> None:
    assert repr(Headers([("A", "1"), ("a", "2")])) == "Headers([('A', '1'), ('a', '2')])"


@pytest.mark.parametrize("name", ["", "X Y", "X:", "X\r\nY", "caf\xe9", "X\x00"])
def test_headers_refuse_non_token_names(name: str) -> None:
    """RFC 7230, section 3.2: a field name is a token."""
    with pytest.raises(ValueError, match="invalid header name"):
        Headers()[name] = "1"


@pytest.mark.parametrize("value", ["a\r\nB: c", "a\nb", "a\rb", "\x00", "\x7f", "\x1f", "\u0100"])
def test_headers_refuse_unsafe_values(value: str) -> None:
    """RFC 7230, section 3.2: a field value holds no control character but tab."""
    headers = Headers()
    with pytest.raises(InvalidHeaderValue) as info:
        headers["X"] = value
    assert info.value.name == "X"
    assert len(headers) == 0


@pytest.mark.parametrize("value", ["", "\t a \t", "caf\xe9", "\xff", "~!"])
def test_headers_accept_field_values(value: str) -> None:
    headers = Headers(X=value)
    assert headers["X"] == value


@st.composite
def header_operations(draw: st.DrawFn) -> list[tuple[str, str, str]]:
    names = st.sampled_from(["A", "a", "B", "b", "Content-Type", "content-type", "C"])
    operation = st.one_of(
        st.tuples(st.just("set"), names, st.sampled_from(["1", "2", "x y"])),
        st.tuples(st.just("del"), names, st.just("")),
        st.tuples(st.just("clear"), st.just(""), st.just("")),
        st.tuples(st.just("copy"), st.just(""), st.just("")),
    )
    return draw(st.lists(operation, max_size=30))


@given(header_operations())
def test_headers_behave_like_a_list_of_pairs(operations: list[tuple[str, str, str]]) -> None:
    """Compare Headers with a plain list of pairs searched without case."""
    headers = Headers()
    model: list[tuple[str, str]] = []
    for operation, name, value in operations:
        if operation == "set":
            headers[name] = value
            model.append((name, value))
        elif operation == "del":
            present = any(n.lower() == name.lower() for n, _ in model)
            if present:
                del headers[name]
            else:
                with pytest.raises(KeyError):
                    del headers[name]
            model = [(n, v) for n, v in model if n.lower() != name.lower()]
        elif operation == "clear":
            headers.clear()
            model = []
        else:
            headers = headers.copy()
        assert list(headers.raw_items()) == model
        names = list(dict.fromkeys(n.lower() for n, _ in model))
        assert list(headers) == names
        assert len(headers) == len(names)
        for key in ["a", "B", "content-TYPE", "c", "missing"]:
            values = [v for n, v in model if n.lower() == key.lower()]
            assert headers.get_all(key) == values
            assert (key in headers) is bool(values)
            if len(values) == 1:
                assert headers[key] == values[0]
            elif values:
                with pytest.raises(MultipleValuesError):
                    headers[key]
            else:
                with pytest.raises(KeyError):
                    headers[key]
        assert headers == Headers(model)
        assert headers.serialize() == "".join(f"{n}: {v}\r\n" for n, v in model).encode() + b"\r\n"


# Connection, Upgrade, Sec-WebSocket-Protocol ----------------------------------

PARSED_LISTS: list[tuple[Callable[[str], list[str]], str, list[str]]] = [
    (parse_connection, "Upgrade", ["Upgrade"]),
    (parse_connection, "keep-alive, Upgrade", ["keep-alive", "Upgrade"]),
    (parse_connection, "keep-alive,Upgrade", ["keep-alive", "Upgrade"]),
    (parse_connection, "a , b", ["a", "b"]),
    (parse_connection, "a\t,\tb", ["a", "b"]),
    # RFC 7230, section 7: empty list elements are accepted and ignored.
    (parse_connection, ", a", ["a"]),
    (parse_connection, ",, a ,, b ,,", ["a", "b"]),
    (parse_connection, "a,", ["a"]),
    (parse_connection, "a , ", ["a"]),
    (parse_connection, " a ", ["a"]),
    (parse_upgrade, "websocket", ["websocket"]),
    (parse_upgrade, "WebSocket", ["WebSocket"]),
    # RFC 7230, section 6.7: protocol-name [ "/" protocol-version ].
    (
        parse_upgrade,
        "HTTP/2.0, SHTTP/1.3, IRC/6.9, RTA/x11",
        ["HTTP/2.0", "SHTTP/1.3", "IRC/6.9", "RTA/x11"],
    ),
    (parse_upgrade, "h2c, websocket", ["h2c", "websocket"]),
    (parse_subprotocol, "chat", ["chat"]),
    (parse_subprotocol, "chat, superchat", ["chat", "superchat"]),
    (parse_subprotocol, "v2.bookings.example.net,v1", ["v2.bookings.example.net", "v1"]),
]


@pytest.mark.parametrize(("parse", "header", "expected"), PARSED_LISTS)
def test_parse_list_headers(
    parse: Callable[[str], list[str]], header: str, expected: list[str]
) -> None:
    assert parse(header) == expected


INVALID_LISTS: list[tuple[Callable[[str], list[str]], str, str, str, int]] = [
    (parse_connection, "Connection", "", "expected token", 0),
    (parse_connection, "Connection", ",", "expected token", 1),
    (parse_connection, "Connection", " , , ", "expected token", 5),
    (parse_connection, "Connection", "a b", "expected comma", 2),
    (parse_connection, "Connection", "a;b", "expected comma", 1),
    (parse_connection, "Connection", "a, @", "expected token", 3),
    (parse_connection, "Connection", "a/1", "expected comma", 1),
    (parse_upgrade, "Upgrade", "", "expected protocol", 0),
    (parse_upgrade, "Upgrade", "websocket/", "expected comma", 9),
    (parse_upgrade, "Upgrade", "/13", "expected protocol", 0),
    (parse_upgrade, "Upgrade", "a/b/c", "expected comma", 3),
    (parse_subprotocol, "Sec-WebSocket-Protocol", "", "expected token", 0),
    (parse_subprotocol, "Sec-WebSocket-Protocol", "chat superchat", "expected comma", 5),
    (parse_subprotocol, "Sec-WebSocket-Protocol", '"chat"', "expected token", 0),
]


@pytest.mark.parametrize(
    ("parse", "name", "parse_item"),
    [
        (parse_connection, "Connection", headers_module._parse_token_item),
        (parse_upgrade, "Upgrade", headers_module._parse_protocol_item),
        (parse_subprotocol, "Sec-WebSocket-Protocol", headers_module._parse_token_item),
    ],
)
@given(header=st.text(alphabet='ab/ ,;\t"@', max_size=10) | tokens)
def test_parse_list_headers_single_item_shortcut(
    parse: Callable[[str], list[str]],
    name: str,
    parse_item: Callable[[Any], str],
    header: str,
) -> None:
    """Values of one item skip the scanner, with the scanner's result."""
    try:
        expected: Any = headers_module._parse_list(
            headers_module._Scanner(header, name), parse_item
        )
    except InvalidHeaderFormat as exc:
        expected = str(exc)
    try:
        result: Any = parse(header)
    except InvalidHeaderFormat as exc:
        result = str(exc)
    assert result == expected


@pytest.mark.parametrize(("parse", "name", "header", "error", "pos"), INVALID_LISTS)
def test_parse_list_headers_errors(
    parse: Callable[[str], list[str]], name: str, header: str, error: str, pos: int
) -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse(header)
    assert (info.value.name, info.value.error, info.value.header, info.value.pos) == (
        name,
        error,
        header,
        pos,
    )
    assert str(info.value) == f"invalid {name} header: {error} at {pos} in {header}"


@pytest.mark.parametrize(
    ("subprotocols", "header"),
    [(["chat"], "chat"), (["chat", "superchat"], "chat, superchat"), ([], "")],
)
def test_build_subprotocol(subprotocols: list[str], header: str) -> None:
    assert build_subprotocol(subprotocols) == header


@given(st.lists(tokens, min_size=1, max_size=5))
def test_subprotocol_round_trip(subprotocols: list[str]) -> None:
    """RFC 6455, section 4.1: a list of tokens survives build then parse."""
    assert parse_subprotocol(build_subprotocol(subprotocols)) == subprotocols


@pytest.mark.parametrize("subprotocols", [["chat"], ("chat", "superchat"), []])
def test_validate_subprotocols_accepts(subprotocols: list[str]) -> None:
    validate_subprotocols(subprotocols)


@pytest.mark.parametrize("subprotocols", ["chat", b"chat", {"chat"}, None])
def test_validate_subprotocols_wants_a_sequence(subprotocols: Any) -> None:
    with pytest.raises(TypeError, match="subprotocols must be a list of str"):
        validate_subprotocols(subprotocols)


@pytest.mark.parametrize("subprotocol", ["", "chat room", "chat,room", "caf\xe9", b"chat", 1])
def test_validate_subprotocols_wants_tokens(subprotocol: Any) -> None:
    with pytest.raises(ValueError, match="invalid subprotocol"):
        validate_subprotocols(["chat", subprotocol])


# Sec-WebSocket-Extensions ------------------------------------------------------

PARSED_EXTENSIONS: list[tuple[str, list[ExtensionHeader]]] = [
    ("foo", [("foo", [])]),
    ("foo, bar", [("foo", []), ("bar", [])]),
    ("foo; name; token=token", [("foo", [("name", None), ("token", "token")])]),
    ("foo;name;token=token", [("foo", [("name", None), ("token", "token")])]),
    ("foo ; name = token", [("foo", [("name", "token")])]),
    ('foo; quoted="token"', [("foo", [("quoted", "token")])]),
    ('foo; quoted="tok\\en"', [("foo", [("quoted", "token")])]),
    ('foo; quoted="\\1\\0"', [("foo", [("quoted", "10")])]),
    ("foo; a=1, bar; b", [("foo", [("a", "1")]), ("bar", [("b", None)])]),
    (
        "permessage-deflate; client_max_window_bits, "
        "permessage-deflate; server_max_window_bits=10",
        [
            ("permessage-deflate", [("client_max_window_bits", None)]),
            ("permessage-deflate", [("server_max_window_bits", "10")]),
        ],
    ),
    # RFC 7692, section 7.1: the example offers.
    (
        'permessage-deflate; client_max_window_bits="10"',
        [("permessage-deflate", [("client_max_window_bits", "10")])],
    ),
    (",foo,,bar,", [("foo", []), ("bar", [])]),
]


@pytest.mark.parametrize(("header", "expected"), PARSED_EXTENSIONS)
def test_parse_extension(header: str, expected: list[ExtensionHeader]) -> None:
    assert parse_extension(header) == expected


INVALID_EXTENSIONS: list[tuple[str, str, int]] = [
    ("", "expected token", 0),
    (",", "expected token", 1),
    (";foo", "expected token", 0),
    ("foo;", "expected token", 4),
    ("foo;;bar", "expected token", 4),
    ("foo; =1", "expected token", 5),
    ("foo; a=", "expected token", 7),
    ("foo; a=b=c", "expected comma", 8),
    ("foo bar", "expected comma", 4),
    ('foo; a="', "expected quoted string", 7),
    ('foo; a="b', "expected quoted string", 7),
    ('foo; a="b\\"', "expected quoted string", 7),
    ('foo; a="b\x00"', "expected quoted string", 7),
    # RFC 6455, section 9.1: a quoted value must be a token once unquoted.
    ('foo; a=""', "expected token in quoted string", 7),
    ('foo; a="b c"', "expected token in quoted string", 7),
    ('foo; a="b,c"', "expected token in quoted string", 7),
    ('foo; a="\\""', "expected token in quoted string", 7),
]


@pytest.mark.parametrize(("header", "error", "pos"), INVALID_EXTENSIONS)
def test_parse_extension_errors(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_extension(header)
    assert info.value.name == "Sec-WebSocket-Extensions"
    assert (info.value.error, info.value.pos) == (error, pos)


@pytest.mark.parametrize(
    ("extensions", "header"),
    [
        ([("foo", [])], "foo"),
        ([("foo", []), ("bar", [])], "foo, bar"),
        ([("foo", [("a", None), ("b", "1")])], "foo; a; b=1"),
        (
            [("permessage-deflate", [("server_no_context_takeover", None)]), ("x", [("y", "z")])],
            "permessage-deflate; server_no_context_takeover, x; y=z",
        ),
        ([], ""),
    ],
)
def test_build_extension(extensions: list[ExtensionHeader], header: str) -> None:
    assert build_extension(extensions) == header


extension_headers = st.lists(
    st.tuples(tokens, st.lists(st.tuples(tokens, st.none() | tokens), max_size=3)),
    min_size=1,
    max_size=4,
)


@given(extension_headers)
def test_extension_round_trip(extensions: list[ExtensionHeader]) -> None:
    """RFC 6455, section 9.1: build then parse gives back the same offers."""
    assert parse_extension(build_extension(extensions)) == extensions


# Fuzzing and complexity ---------------------------------------------------------

LIST_PARSERS = [parse_connection, parse_upgrade, parse_extension, parse_subprotocol]
header_alphabet = st.sampled_from(list(' \t,;=/"\\ab\x00\xe9'))
header_texts = st.text(alphabet=header_alphabet, max_size=40) | st.text(max_size=40)


def outcome(parse: Callable[[str], Any], header: str) -> tuple[Any, Exception | None]:
    """Return what ``parse`` returns, or the header error it raises."""
    try:
        return parse(header), None
    except (InvalidHeaderFormat, InvalidHeaderValue) as exc:
        return None, exc


@pytest.mark.parametrize("parse", LIST_PARSERS)
@given(header=header_texts)
def test_parsers_return_a_list_or_raise_invalid_header_format(
    parse: Callable[[str], list[Any]], header: str
) -> None:
    result, exc = outcome(parse, header)
    if exc is None:
        assert result
    else:
        assert isinstance(exc, InvalidHeaderFormat)
        assert exc.header == header
        assert 0 <= exc.pos <= len(header)


@given(header=header_texts)
def test_parse_authorization_basic_returns_or_raises_invalid_header(header: str) -> None:
    result, exc = outcome(parse_authorization_basic, header)
    if exc is None:
        assert ":" not in result[0]
    else:
        assert isinstance(exc, InvalidHeaderFormat | InvalidHeaderValue)
        assert exc.name == "Authorization"


PATHOLOGICAL = [
    (parse_connection, " " * 100_000 + "@"),
    (parse_connection, ", " * 50_000 + "@"),
    (parse_connection, "a" * 100_000 + " " * 100_000 + "@"),
    (parse_upgrade, "a/" * 50_000),
    (parse_extension, 'x; a="' + "\\a" * 50_000),
    (parse_extension, 'x; a="' + "a" * 100_000),
    (parse_extension, "x" + " ;a" * 50_000 + " @"),
    (parse_extension, "x; a = " + " " * 100_000),
    (parse_authorization_basic, "Basic " + " " * 100_000 + "@"),
    (parse_authorization_basic, "Basic " + "A" * 100_000 + "=" * 100_000 + "@"),
]


@pytest.mark.parametrize(("parse", "header"), PATHOLOGICAL)
def test_parsers_do_not_backtrack(parse: Callable[[str], object], header: str) -> None:
    """Inputs shaped to trigger catastrophic backtracking are refused.

    A linear parser handles each in a fraction of a second; a backtracking one
    would take hours. The alarm only bounds a hang: it asserts no speed.
    """

    def hang(signum: int, frame: object) -> None:
        raise TimeoutError("the parser is backtracking")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(60)
    try:
        with pytest.raises((InvalidHeaderFormat, InvalidHeaderValue)):
            parse(header)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# Authorization, WWW-Authenticate ------------------------------------------------


@pytest.mark.parametrize(
    ("realm", "header"),
    [
        ("", 'Basic realm="", charset="UTF-8"'),
        ("WallyWorld", 'Basic realm="WallyWorld", charset="UTF-8"'),
        ('say "hi"', 'Basic realm="say \\"hi\\"", charset="UTF-8"'),
        ("back\\slash", 'Basic realm="back\\\\slash", charset="UTF-8"'),
    ],
)
def test_build_www_authenticate_basic(realm: str, header: str) -> None:
    """RFC 7617, section 2: the realm is a quoted string."""
    assert build_www_authenticate_basic(realm) == header


@pytest.mark.parametrize("realm", ["a\r\nb", "\x00", "\u0100"])
def test_build_www_authenticate_basic_refuses_unquotable_realm(realm: str) -> None:
    with pytest.raises(ValueError, match="cannot quote"):
        build_www_authenticate_basic(realm)


def encode_credentials(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        # RFC 7617, section 2: the example credentials.
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("BASIC   QWxhZGRpbjpvcGVuIHNlc2FtZQ==", ("Aladdin", "open sesame")),
        ("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== ", ("Aladdin", "open sesame")),
        ("Basic " + encode_credentials(":"), ("", "")),
        ("Basic " + encode_credentials("user:pass:word"), ("user", "pass:word")),
        ("Basic " + encode_credentials("t\xe9st:\u2603"), ("t\xe9st", "\u2603")),
    ],
)
def test_parse_authorization_basic(header: str, expected: tuple[str, str]) -> None:
    assert parse_authorization_basic(header) == expected


@pytest.mark.parametrize(
    ("header", "error", "pos"),
    [
        ("", "expected token", 0),
        ("Basic", "expected space after scheme", 5),
        ("Basic\tdXNlcjpwYXNz", "expected space after scheme", 5),
        ("Basic ", "expected token68", 6),
        ("Basic !!", "expected token68", 6),
        ("Basic dXNlcjpwYXNz x", "unexpected data after credentials", 19),
        ("Basic dXNl=cjpwYXNz", "unexpected data after credentials", 11),
    ],
)
def test_parse_authorization_basic_format_errors(header: str, error: str, pos: int) -> None:
    with pytest.raises(InvalidHeaderFormat) as info:
        parse_authorization_basic(header)
    assert info.value.name == "Authorization"
    assert (info.value.error, info.value.pos) == (error, pos)


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("Bearer dXNlcjpwYXNz", "unsupported scheme: Bearer"),
        ("Digest username=x", "unsupported scheme: Digest"),
        ("Basic YQ", "expected base64-encoded UTF-8 credentials"),
        ("Basic dX-lcjpwYXNz", "expected base64-encoded UTF-8 credentials"),
        ("Basic " + base64.b64encode(b"\xff:\xff").decode(), "expected base64-encoded UTF-8"),
        ("Basic " + encode_credentials("user"), "expected username:password credentials"),
    ],
)
def test_parse_authorization_basic_value_errors(header: str, message: str) -> None:
    with pytest.raises(InvalidHeaderValue) as info:
        parse_authorization_basic(header)
    assert info.value.name == "Authorization"
    assert info.value.value is not None
    assert info.value.value.startswith(message)


def test_build_authorization_basic() -> None:
    """RFC 7617, section 2: the example credentials."""
    assert build_authorization_basic("Aladdin", "open sesame") == (
        "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    )


def test_build_authorization_basic_refuses_colon_in_username() -> None:
    with pytest.raises(ValueError, match="cannot contain a colon"):
        build_authorization_basic("a:b", "c")


@given(st.text().filter(lambda s: ":" not in s), st.text())
def test_authorization_basic_round_trip(username: str, password: str) -> None:
    header = build_authorization_basic(username, password)
    assert parse_authorization_basic(header) == (username, password)


# Host ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "port", "secure", "always", "expected"),
    [
        ("example.com", 80, False, False, "example.com"),
        ("example.com", 443, True, False, "example.com"),
        ("example.com", 443, False, False, "example.com:443"),
        ("example.com", 80, True, False, "example.com:80"),
        ("example.com", 8080, False, False, "example.com:8080"),
        ("example.com", 80, False, True, "example.com:80"),
        ("127.0.0.1", 80, False, False, "127.0.0.1"),
        ("127.0.0.1", 8765, False, False, "127.0.0.1:8765"),
        # RFC 3986, section 3.2.2: an IPv6 literal goes in brackets.
        ("::1", 80, False, False, "[::1]"),
        ("::1", 8765, True, False, "[::1]:8765"),
        ("2001:db8::1", 443, True, True, "[2001:db8::1]:443"),
        ("::ffff:127.0.0.1", 80, False, False, "[::ffff:127.0.0.1]"),
        ("fe80::1%eth0", 80, False, False, "[fe80::1%eth0]"),
        # Colons but no IPv6 address: written as given.
        ("not:an:address", 80, False, False, "not:an:address"),
    ],
)
def test_build_host(host: str, port: int, secure: bool, always: bool, expected: str) -> None:
    """RFC 7230, section 5.4: the default port of the scheme is left out."""
    assert build_host(host, port, secure, always_include_port=always) == expected


def test_all_names_exist() -> None:
    from anywebsockets.protocol import headers

    for name in headers.__all__:
        assert hasattr(headers, name), name
