"""Tests for the fast path of anywebsockets.protocol.http11: heads parsed without h11.

The fast path must agree with :meth:`Request.parse` and :meth:`Response.parse`
(the line reader and h11) on everything it accepts, and leave everything else
to them untouched, so that every error stays theirs.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from anywebsockets.exceptions import HeaderLineTooLong, InvalidMessage, TooManyHeaders
from anywebsockets.protocol import http11
from anywebsockets.protocol.headers import Headers
from anywebsockets.protocol.http11 import (
    Request,
    Response,
    _parse_request_fast,
    _parse_response_fast,
)
from anywebsockets.protocol.streams import StreamReader

from .test_http11 import PENDING, drive, request_parser, response_parser

TRAILING = b"\x81\x05Hello"

BROWSER_REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\n"
    b"Host: example.com:8000\r\n"
    b"Connection: Upgrade\r\n"
    b"Pragma: no-cache\r\n"
    b"Cache-Control: no-cache\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)\r\n"
    b"Upgrade: websocket\r\n"
    b"Origin: https://example.com\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Accept-Encoding: gzip, deflate, br\r\n"
    b"Accept-Language: fr-FR,fr;q=0.9,en;q=0.8\r\n"
    b"Cookie: session=abc; theme=dark\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)
SWITCHING_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Date: Sun, 22 Nov 2026 04:49:28 GMT\r\n"
    b"Server: Python/3.11 websockets/17.4\r\n"
    b"\r\n"
)


def slow_request(data: bytes) -> tuple[Any, bytes]:
    """What Request.parse makes of ``data``: (result or PENDING or the error, what is left)."""
    try:
        result, reader = drive(request_parser, [data])
    except Exception as exc:
        return exc, b""
    return result, bytes(reader.buffer)


def slow_response(data: bytes) -> tuple[Any, bytes]:
    try:
        result, reader = drive(response_parser(), [data])
    except Exception as exc:
        return exc, b""
    return result, bytes(reader.buffer)


def assert_same_message(fast: Request | Response, slow: Any) -> None:
    assert fast == slow
    # Names as sent, in order: what == does not compare.
    assert list(fast.headers.raw_items()) == list(slow.headers.raw_items())


# Usual heads take the fast path, with the same result as the slow one.


@pytest.mark.parametrize(
    "data",
    [
        BROWSER_REQUEST,
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8765\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nUser-Agent: Python/3.11 websockets/17.4\r\n\r\n",
        # Whitespace around values, empty values, obs-text, other methods.
        b"GET /x HTTP/1.1\r\nhost:a\r\nX-Empty:\r\nX-Blank: \t \r\n"
        b"X-Spaces: \t one  two\t\r\nX-Latin: caf\xe9\r\n\r\n",
        b"POST /x HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET * HTTP/1.1\r\nHost: a\r\nHost-Like: b\r\n\r\n",
    ],
)
def test_usual_request_takes_fast_path(data: bytes) -> None:
    buffer = bytearray(data + TRAILING)
    request = _parse_request_fast(buffer)
    assert request is not None
    assert buffer == TRAILING
    expected, left = slow_request(data + TRAILING)
    assert_same_message(request, expected)
    assert left == TRAILING


def test_usual_request_values() -> None:
    buffer = bytearray(b"GET /a?b HTTP/1.1\r\nHost: h\r\nX:  v  w \t\r\nY:\r\n\r\n")
    request = _parse_request_fast(buffer)
    assert request == Request("/a?b", Headers([("Host", "h"), ("X", "v  w"), ("Y", "")]))
    assert request.method == "GET"
    assert request.protocol == "HTTP/1.1"


@pytest.mark.parametrize(
    "data",
    [
        SWITCHING_RESPONSE,
        b"HTTP/1.1 101\r\nUpgrade: websocket\r\n\r\n",  # no reason phrase
        b"HTTP/1.1 101 \r\n\r\n",  # an empty one
        b"HTTP/1.1 101 Changing \t Protocols \xe9\r\nX:\r\n\r\n",
    ],
)
def test_usual_response_takes_fast_path(data: bytes) -> None:
    buffer = bytearray(data + TRAILING)
    response = _parse_response_fast(buffer)
    assert response is not None
    assert buffer == TRAILING
    expected, left = slow_response(data + TRAILING)
    assert_same_message(response, expected)
    assert left == TRAILING


def test_usual_response_values() -> None:
    buffer = bytearray(b"HTTP/1.1 101\r\nUpgrade: websocket\r\n\r\n")
    response = _parse_response_fast(buffer)
    assert response == Response(101, "", Headers([("Upgrade", "websocket")]))
    assert response.body == b""


# Anything else is left to the slow path, the buffer untouched.


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"GET / HTTP/1.1\r\nHost: a\r\n",  # incomplete
        b"GET / HTTP/1.1\r\nHost: a\r\n\r",
        b"GET / HTTP/1.0\r\nHost: a\r\n\r\n",  # only HTTP/1.1
        b"GET / HTTP/1.1\r\n\r\n",  # no Host: h11 refuses
        b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n",  # two Hosts: h11 refuses
        b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",  # a body, maybe
        b"GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n",  # obsolete line folding
        b"GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n",  # bare LF
        b"GET / HTTP/1.1\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x01c\r\n\r\n",  # control character
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x7f\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nX: b\rc\r\n\r\n",  # bare CR
        b"GET / HTTP/1.1\r\nHost: a\r\nX : b\r\n\r\n",  # space before the colon
        b"GET / HTTP/1.1\r\nHost: a\r\nX\r\n\r\n",  # no colon
        b"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n",  # no name
        b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
        b"GET /\xe9 HTTP/1.1\r\nHost: a\r\n\r\n",
        b"G(ET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    ],
)
def test_unusual_request_left_to_slow_path(data: bytes) -> None:
    buffer = bytearray(data)
    assert _parse_request_fast(buffer) is None
    assert buffer == data


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",  # not 101
        b"HTTP/1.1 404 Not Found\r\n\r\n",
        b"HTTP/1.0 101 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 101 Switching\x01Protocols\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nX: \x00\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 1010 Switching Protocols\r\n\r\n",
        b"HTTP/1.1 101 Switching Protocols\nX: a\r\n\r\n",
    ],
)
def test_unusual_response_left_to_slow_path(data: bytes) -> None:
    buffer = bytearray(data)
    assert _parse_response_fast(buffer) is None
    assert buffer == data


# The limits: over them, the slow path refuses with its own errors.


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(http11, "MAX_LINE_LENGTH", 64)
    monkeypatch.setattr(http11, "MAX_NUM_HEADERS", 4)


def test_head_longer_than_a_line_takes_fast_path(small_limits: None) -> None:
    """Only each line counts against the line limit, not the whole head."""
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: " + b"x" * 61 + b"\r\n" + b"Y: y\r\n\r\n"
    assert len(data) > 64 + 2
    request = _parse_request_fast(bytearray(data))
    assert request is not None
    assert request == slow_request(data)[0]


def test_line_over_the_limit_left_to_slow_path(small_limits: None) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: " + b"x" * 62 + b"\r\n\r\n"
    buffer = bytearray(data)
    assert _parse_request_fast(buffer) is None
    assert buffer == data
    assert isinstance(slow_request(data)[0], HeaderLineTooLong)


def test_request_line_over_the_limit_left_to_slow_path(small_limits: None) -> None:
    data = b"GET /" + b"x" * 60 + b" HTTP/1.1\r\nHost: a\r\n\r\n"
    assert _parse_request_fast(bytearray(data)) is None


def test_headers_up_to_the_limit_take_fast_path(small_limits: None) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nB: b\r\nC: c\r\nD: d\r\n\r\n"
    assert _parse_request_fast(bytearray(data)) is not None


def test_too_many_headers_left_to_slow_path(small_limits: None) -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nB: b\r\nC: c\r\nD: d\r\nE: e\r\n\r\n"
    buffer = bytearray(data)
    assert _parse_request_fast(buffer) is None
    assert buffer == data
    assert isinstance(slow_request(data)[0], TooManyHeaders)


def test_response_limits(small_limits: None) -> None:
    many = b"HTTP/1.1 101 OK\r\nA: a\r\nB: b\r\nC: c\r\nD: d\r\nE: e\r\n\r\n"
    assert _parse_response_fast(bytearray(many)) is None
    long = b"HTTP/1.1 101 OK\r\nA: " + b"a" * 62 + b"\r\n\r\n"
    assert _parse_response_fast(bytearray(long)) is None


# Whatever the input, the fast path agrees with the slow one or stays out.

_NAMES = [
    "Host",
    "host",
    "Upgrade",
    "Content-Length",
    "Transfer-Encoding",
    "X-A",
    "a!#$%&'*+-.^_`|~z",
]
_BAD_NAMES = ["", "X Y", "X\tY", "(x)", "\xe9", " X", "X\x00"]
_GOOD_VALUE_CHARS = 'ab0 \t\x80\xe9\xff,;="\\'
_BAD_VALUE_CHARS = "a \x00\x01\x1f\x7f\r\n"


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Draw from ``good`` nine times in ten, so that many heads are valid."""
    return st.sampled_from([good] * 9 + [bad]).flatmap(lambda strategy: strategy)


@st.composite
def clean_header_lines(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_NAMES[3:]))
    separator = draw(st.sampled_from([":", ": ", ":\t", ":  "]))
    value = draw(st.text(alphabet=_GOOD_VALUE_CHARS, max_size=12))
    return name + separator + value + "\r\n"


@st.composite
def header_lines(draw: st.DrawFn) -> str:
    name = draw(mostly(st.sampled_from(_NAMES), st.sampled_from(_BAD_NAMES)))
    separator = draw(mostly(st.sampled_from([":", ": ", ":\t", ":  "]), st.just(" :")))
    value = draw(
        mostly(
            st.text(alphabet=_GOOD_VALUE_CHARS, max_size=12),
            st.text(alphabet=_GOOD_VALUE_CHARS + _BAD_VALUE_CHARS, max_size=12),
        )
    )
    if name.lower() == "content-length" and draw(st.booleans()):
        value = draw(st.sampled_from(["0", "00", "1", " 0 ", "0, 0", "-1", "x"]))
    end = draw(mostly(st.just("\r\n"), st.sampled_from(["\n", "\r\r\n"])))
    fold = draw(mostly(st.just(""), st.sampled_from([" folded\r\n", "\tfolded\r\n"])))
    return name + separator + value + end + fold


@st.composite
def request_heads(draw: st.DrawFn) -> bytes:
    method = draw(
        mostly(st.sampled_from(["GET", "POST"]), st.sampled_from(["G ET", "", "G\xe9T"]))
    )
    target = draw(
        mostly(
            st.sampled_from(["/", "/chat?room=1", "*"]),
            st.sampled_from(["", "/a b", "/\xe9", "/\x7f"]),
        )
    )
    version = draw(
        mostly(st.just("HTTP/1.1"), st.sampled_from(["HTTP/1.0", "HTTP/2.0", "http/1.1"]))
    )
    space = draw(mostly(st.just(" "), st.sampled_from(["  ", "\t"])))
    lines = draw(st.lists(mostly(clean_header_lines(), header_lines()), max_size=8))
    if draw(mostly(st.just(True), st.just(False))):
        lines.insert(draw(st.integers(0, len(lines))), "Host: example.com\r\n")
    end = draw(mostly(st.just("\r\n"), st.sampled_from(["", "\r", "\n"])))
    head = f"{method}{space}{target}{space}{version}\r\n" + "".join(lines) + end
    return head.encode("iso-8859-1")


@st.composite
def response_heads(draw: st.DrawFn) -> bytes:
    version = draw(mostly(st.just("HTTP/1.1"), st.just("HTTP/1.0")))
    status = draw(mostly(st.just("101"), st.sampled_from(["200", "404", "1010", "10"])))
    reason = draw(
        mostly(
            st.sampled_from(["", " ", " Switching Protocols", " \tx\t", " \xe9"]),
            st.sampled_from([" a\x01", "\tx", "  a\r"]),
        )
    )
    lines = draw(st.lists(mostly(clean_header_lines(), header_lines()), max_size=8))
    end = draw(mostly(st.just("\r\n"), st.sampled_from(["", "\n"])))
    head = f"{version} {status}{reason}\r\n" + "".join(lines) + end
    return head.encode("iso-8859-1")


@given(request_heads(), st.sampled_from([b"", TRAILING]))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_fast_request_agrees_with_slow_path(head: bytes, trailing: bytes) -> None:
    data = head + trailing
    buffer = bytearray(data)
    request = _parse_request_fast(buffer)
    if request is None:
        assert buffer == data
        return
    expected, left = slow_request(data)
    assert_same_message(request, expected)
    assert bytes(buffer) == left


@given(response_heads(), st.sampled_from([b"", TRAILING]))
@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
def test_fast_response_agrees_with_slow_path(head: bytes, trailing: bytes) -> None:
    data = head + trailing
    buffer = bytearray(data)
    response = _parse_response_fast(buffer)
    if response is None:
        assert buffer == data
        return
    expected, left = slow_response(data)
    assert_same_message(response, expected)
    assert bytes(buffer) == left


@given(st.binary(max_size=200))
@settings(max_examples=500)
def test_fast_paths_on_random_bytes(data: bytes) -> None:
    for fast, slow in ((_parse_request_fast, slow_request), (_parse_response_fast, slow_response)):
        buffer = bytearray(data)
        message = fast(buffer)
        if message is None:
            assert buffer == data
        else:  # pragma: no cover - random bytes are hardly ever a valid head
            expected, left = slow(data)
            assert_same_message(message, expected)
            assert bytes(buffer) == left


def test_strategies_reach_both_paths() -> None:
    """The heads generated above take either path: the agreement tests test something."""
    find(request_heads(), lambda head: _parse_request_fast(bytearray(head)) is not None)
    find(request_heads(), lambda head: _parse_request_fast(bytearray(head)) is None)
    find(response_heads(), lambda head: _parse_response_fast(bytearray(head)) is not None)
    find(response_heads(), lambda head: _parse_response_fast(bytearray(head)) is None)


def test_slow_path_still_parses_what_the_fast_path_leaves() -> None:
    """A request in two pieces, or with a folded line, still parses the slow way."""
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"
    assert _parse_request_fast(bytearray(data)) is None
    request, _ = slow_request(data)
    assert request.headers["X"] == "b c"
    pending, _ = drive(request_parser, [data[:10]])
    assert pending is PENDING


def test_slow_path_errors_unchanged() -> None:
    data = b"GET / HTTP/1.1\r\nHost: a\r\nX: b\x01\r\n\r\n"
    assert _parse_request_fast(bytearray(data)) is None
    error, _ = slow_request(data)
    assert isinstance(error, InvalidMessage)
    assert str(error) == "invalid HTTP header value: b'b\\x01'"


def test_reader_buffer_is_what_the_protocols_pass() -> None:
    """The engines hand the fast path the reader's own buffer, which it consumes."""
    reader = StreamReader()
    reader.feed_data(BROWSER_REQUEST + TRAILING)
    assert _parse_request_fast(reader.buffer) is not None
    assert reader.buffer == TRAILING
