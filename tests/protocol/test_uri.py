"""WebSocket URIs (RFC 6455, section 3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anywebsockets.exceptions import InvalidURI
from anywebsockets.protocol.uri import WebSocketURI, parse_uri

VALID = [
    ("ws://localhost/", WebSocketURI(False, "localhost", 80, "/")),
    ("ws://localhost", WebSocketURI(False, "localhost", 80, "/")),
    ("WSS://Example.COM", WebSocketURI(True, "example.com", 443, "/")),
    ("ws://localhost:8765/chat", WebSocketURI(False, "localhost", 8765, "/chat")),
    ("wss://[::1]:8443/a?b=c", WebSocketURI(True, "::1", 8443, "/a", "b=c")),
    ("ws://127.0.0.1/?", WebSocketURI(False, "127.0.0.1", 80, "/")),
    ("ws://münchen.de/", WebSocketURI(False, "xn--mnchen-3ya.de", 80, "/")),
    ("ws://h/é?q=ü", WebSocketURI(False, "h", 80, "/%C3%A9", "q=%C3%BC")),
    ("ws://h/a b", WebSocketURI(False, "h", 80, "/a%20b")),
    ("ws://h/%41", WebSocketURI(False, "h", 80, "/%41")),
    ("ws://user:pass@h/", WebSocketURI(False, "h", 80, "/", "", "user", "pass")),
    ("ws://us%40er:p%3Ass@h/", WebSocketURI(False, "h", 80, "/", "", "us@er", "p:ss")),
    ("ws://user:@h/", WebSocketURI(False, "h", 80, "/", "", "user", "")),
]

INVALID = [
    "http://localhost/",
    "localhost:8765",
    "ws://",
    "ws:///path",
    "ws://localhost/#fragment",
    "ws://localhost/#",
    "ws://localhost:99999/",
    "ws://localhost:port/",
    "ws://user@localhost/",
    "ws://[::1/",
    "ws://" + "a" * 64 + ".com/",
    "ws://a b/",
    "ws://a<b>/",
]


@pytest.mark.parametrize(("uri", "expected"), VALID)
def test_parse_valid(uri: str, expected: WebSocketURI) -> None:
    assert parse_uri(uri) == expected


@pytest.mark.parametrize("uri", INVALID)
def test_parse_invalid(uri: str) -> None:
    with pytest.raises(InvalidURI) as raised:
        parse_uri(uri)
    assert raised.value.uri == uri
    assert uri in str(raised.value)


def test_resource_name_and_user_info() -> None:
    uri = parse_uri("ws://u:p@h/path?x=1")
    assert uri.resource_name == "/path?x=1"
    assert uri.user_info == ("u", "p")
    bare = parse_uri("ws://h")
    assert bare.resource_name == "/"
    assert bare.user_info is None


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_invalid_uri(text: str) -> None:
    for candidate in (text, "ws://" + text):
        try:
            uri = parse_uri(candidate)
        except InvalidURI:
            continue
        assert uri.port in range(65536)
        assert uri.path.startswith("/")
        uri.resource_name.encode("ascii")
