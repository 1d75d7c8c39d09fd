"""Tests for anywebsockets.protocol.http11: handshake requests and responses (RFC 7230)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
from collections.abc import Callable, Generator
from typing import Any

import h11
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anywebsockets.exceptions import (
    HeaderLineTooLong,
    InvalidMessage,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from anywebsockets.protocol import http11
from anywebsockets.protocol.headers import Headers
from anywebsockets.protocol.http11 import Request, Response
from anywebsockets.protocol.streams import StreamReader

PENDING = object()
TRAILING = b"\x81\x05Hello"  # a WebSocket frame right after the head

Parser = Callable[[StreamReader], Generator[None, None, Any]]


def request_parser(reader: StreamReader) -> Generator[None, None, Request]:
    return Request.parse(reader.read_line)


def response_parser(proxy: bool = False) -> Parser:
    def parse(reader: StreamReader) -> Generator[None, None, Response]:
        return Response.parse(reader.read_line, reader.read_exact, reader.read_to_eof, proxy=proxy)

    return parse


def drive(parser: Parser, chunks: list[bytes], *, eof: bool = False) -> tuple[Any, StreamReader]:
    """Feed ``chunks`` one at a time, then maybe the end of the stream.

    Returns what the parser returned, or PENDING, and the reader with whatever
    the parser left in it. Exceptions from the parser propagate.
    """
    reader = StreamReader()
    gen = parser(reader)
    result: Any = PENDING

    def advance() -> None:
        nonlocal result
        try:
            next(gen)
        except StopIteration as exc:
            result = exc.value

    advance()
    for chunk in chunks:
        reader.feed_data(chunk)
        if result is PENDING:
            advance()
    if eof:
        reader.feed_eof()
        if result is PENDING:
            advance()
    return result, reader


def split(data: bytes, mode: str) -> list[bytes]:
    if mode == "whole":
        return [data]
    return [data[i : i + 1] for i in range(len(data))]


MODES = ["whole", "bytewise"]


def parse_whole(parser: Parser, data: bytes, *, eof: bool = False) -> Any:
    result, _ = drive(parser, [data], eof=eof)
    return result


# Requests -----------------------------------------------------------------------

HANDSHAKE_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)

VALID_REQUESTS: list[tuple[bytes, Request]] = [
    # RFC 6455, section 1.2: the example handshake request.
    (
        HANDSHAKE_REQUEST,
        Request(
            "/chat",
            Headers(
                [
                    ("Host", "server.example.com"),
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                    ("Origin", "http://example.com"),
                    ("Sec-WebSocket-Protocol", "chat, superchat"),
                    ("Sec-WebSocket-Version", "13"),
                ]
            ),
        ),
    ),
    # Names keep their case; repeated names keep every value, in order.
    (
        b"GET /?a=1&b=%20 HTTP/1.1\r\nhOsT: x\r\nX-A: 1\r\nx-a: 2\r\n\r\n",
        Request("/?a=1&b=%20", Headers([("hOsT", "x"), ("X-A", "1"), ("x-a", "2")])),
    ),
    # RFC 7230, section 3.2.4: whitespace around values is dropped.
    (
        b"GET / HTTP/1.1\r\nHost:x\r\nX-Empty:\r\nX-Spaces: \t a  b \t\r\n\r\n",
        Request("/", Headers([("Host", "x"), ("X-Empty", ""), ("X-Spaces", "a  b")])),
    ),
    # Bytes beyond ASCII are read as ISO-8859-1.
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Name: caf\xe9\r\n\r\n",
        Request("/", Headers([("Host", "x"), ("X-Name", "caf\xe9")])),
    ),
    # RFC 7230, section 3.2.4: obsolete line folding is unfolded.
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Folded: a\r\n  b\r\n\r\n",
        Request("/", Headers([("Host", "x"), ("X-Folded", "a b")])),
    ),
    # Method and version are recorded; the server handshake judges them.
    (
        b"POST /form HTTP/1.1\r\nHost: x\r\n\r\n",
        Request("/form", Headers([("Host", "x")]), method="POST"),
    ),
    (b"GET / HTTP/1.0\r\n\r\n", Request("/", Headers(), protocol="HTTP/1.0")),
    (
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        Request("/", Headers([("Host", "x")]), protocol="HTTP/2.0"),
    ),
    (
        b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
        Request("*", Headers([("Host", "x")]), method="OPTIONS"),
    ),
    # A body of zero bytes is no body.
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        Request("/", Headers([("Host", "x"), ("Content-Length", "0")])),
    ),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 00\r\n\r\n",
        Request("/", Headers([("Host", "x"), ("Content-Length", "00")])),
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "expected"), VALID_REQUESTS)
def test_parse_request(data: bytes, expected: Request, mode: str) -> None:
    """RFC 7230, section 3: the request head, fed whole or byte by byte."""
    request, reader = drive(request_parser, split(data, mode))
    assert request == expected
    assert reader.buffer == b""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "expected"), VALID_REQUESTS)
def test_parse_request_leaves_trailing_bytes(data: bytes, expected: Request, mode: str) -> None:
    """Frames sent right after the handshake stay in the reader."""
    request, reader = drive(request_parser, split(data + TRAILING, mode))
    assert request == expected
    assert reader.buffer == TRAILING


@pytest.mark.parametrize(("data", "expected"), VALID_REQUESTS)
def test_parse_request_then_eof(data: bytes, expected: Request) -> None:
    assert parse_whole(request_parser, data, eof=True) == expected


def test_parse_request_values_are_str() -> None:
    request = parse_whole(request_parser, HANDSHAKE_REQUEST)
    assert type(request.path) is str
    assert type(request.method) is str
    assert type(request.protocol) is str
    assert all(type(n) is str and type(v) is str for n, v in request.headers.raw_items())


INVALID_REQUESTS: list[tuple[bytes, str]] = [
    # RFC 7230, section 5.4: HTTP/1.1 needs exactly one Host.
    (b"GET / HTTP/1.1\r\n\r\n", "Missing mandatory Host"),
    (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "multiple Host"),
    # RFC 7230, section 3.1.1: method SP request-target SP HTTP-version.
    (b"GET /\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"GET / HTTP/1.1 \r\nHost: x\r\n\r\n", "illegal request line"),
    (b"GET /caf\xe9 HTTP/1.1\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"GET / HTTP/1\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"GET / http/1.1\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"GET / HTTP/1.1\r\r\nHost: x\r\n\r\n", "illegal request line"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "illegal request line"),
    (b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", "no request line"),
    # RFC 7230, section 3.2: field-name ":" OWS field-value OWS.
    (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", "illegal header line"),
    (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "illegal header line"),
    (b"GET / HTTP/1.1\r\nHo\xe9st: x\r\n\r\n", "illegal header line"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n", "illegal header line"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", "illegal header line"),
    (b"GET / HTTP/1.1\r\n Host: x\r\n\r\n", "continuation line at start of headers"),
    # Control characters h11 lets by, refused by our own check.
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x01b\r\n\r\n", "invalid HTTP header value"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nX: \x7f\r\n\r\n", "invalid HTTP header value"),
    # RFC 7230, section 3.5: lines end with CRLF here.
    (b"GET / HTTP/1.1\nHost: x\r\n\r\n", "ends with LF instead of CRLF"),
    (b"GET / HTTP/1.1\r\nHost: x\n\r\n", "ends with LF instead of CRLF"),
    (b"GET / HTTP/1.1\r\nHost: x\r\n\n", "ends with LF instead of CRLF"),
    # RFC 6455, section 4.1: a handshake request has no body.
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n", "unsupported HTTP request body"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\n", "unsupported HTTP request body"),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "unsupported HTTP request body",
    ),
    (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", "Transfer-Encoding"),
    (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n", "bad Content-Length"),
    (
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "conflicting Content-Length",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "message"), INVALID_REQUESTS)
def test_parse_request_invalid(data: bytes, message: str, mode: str) -> None:
    with pytest.raises(InvalidMessage, match=re.escape(message)):
        drive(request_parser, split(data + TRAILING, mode))


def test_parse_request_maps_h11_errors() -> None:
    """h11's errors become InvalidMessage, chained to the original."""
    with pytest.raises(InvalidMessage) as info:
        parse_whole(request_parser, b"GET / HTTP/1.1\r\n\r\n")
    assert str(info.value) == "invalid HTTP request: Missing mandatory Host: header"
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)
    assert not isinstance(info.value, h11.ProtocolError)


def test_parse_request_own_errors_are_chained() -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_whole(request_parser, b"GET / HTTP/1.1\r\nHost: x\r\nX: \x01\r\n\r\n")
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("length", range(len(HANDSHAKE_REQUEST)))
def test_parse_request_eof_at_every_point(length: int) -> None:
    """The stream ends before the end of the head, wherever that is."""
    first_line_end = HANDSHAKE_REQUEST.index(b"\r\n") + 2
    where = "HTTP request line" if length < first_line_end else "HTTP headers"
    with pytest.raises(EOFError, match=f"connection closed while reading {where}"):
        parse_whole(request_parser, HANDSHAKE_REQUEST[:length], eof=True)


def test_parse_request_waits_for_more() -> None:
    result, reader = drive(request_parser, split(HANDSHAKE_REQUEST[:-1], "bytewise"))
    assert result is PENDING
    assert reader.buffer == b"\r"


# Limits -------------------------------------------------------------------------


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower the limits so that byte-by-byte tests stay fast."""
    monkeypatch.setattr(http11, "MAX_LINE_LENGTH", 64)
    monkeypatch.setattr(http11, "MAX_NUM_HEADERS", 4)
    monkeypatch.setattr(http11, "MAX_BODY_SIZE", 32)


def request_with_target_length(length: int) -> bytes:
    prefix, suffix = b"GET /", b" HTTP/1.1"
    target = b"/" + b"a" * (length - len(prefix) - len(suffix))
    line = b"GET " + target + suffix
    assert len(line) == length
    return line + b"\r\nHost: x\r\n\r\n"


def header_line_of_length(length: int) -> bytes:
    line = b"X: " + b"a" * (length - 3)
    assert len(line) == length
    return line + b"\r\n"


@pytest.mark.parametrize("mode", MODES)
def test_request_line_limit(mode: str, small_limits: None) -> None:
    """The request line may be MAX_LINE_LENGTH bytes long, CRLF not counted."""
    data = request_with_target_length(64)
    request, reader = drive(request_parser, split(data + TRAILING, mode))
    assert len(request.path) == 64 - len(b"GET  HTTP/1.1")
    assert reader.buffer == TRAILING
    with pytest.raises(RequestLineTooLong) as info:
        drive(request_parser, split(request_with_target_length(65), mode))
    assert isinstance(info.value.__cause__, RuntimeError)


def test_request_line_limit_detected_before_line_ends(small_limits: None) -> None:
    """A line that is already too long fails without waiting for its end."""
    with pytest.raises(RequestLineTooLong):
        drive(request_parser, [b"GET /" + b"a" * 70])


def test_request_line_limit_default() -> None:
    assert http11.MAX_LINE_LENGTH == 8192
    request = parse_whole(request_parser, request_with_target_length(8192))
    assert len(request.path) == 8192 - len(b"GET  HTTP/1.1")
    with pytest.raises(RequestLineTooLong):
        parse_whole(request_parser, request_with_target_length(8193))


@pytest.mark.parametrize("mode", MODES)
def test_header_line_limit(mode: str, small_limits: None) -> None:
    """Each header line may be MAX_LINE_LENGTH bytes long, CRLF not counted."""
    head = b"GET / HTTP/1.1\r\nHost: x\r\n"
    request, _ = drive(request_parser, split(head + header_line_of_length(64) + b"\r\n", mode))
    assert len(request.headers["X"]) == 61
    with pytest.raises(HeaderLineTooLong):
        drive(request_parser, split(head + header_line_of_length(65) + b"\r\n", mode))


def test_header_line_limit_default() -> None:
    head = b"GET / HTTP/1.1\r\nHost: x\r\n"
    request = parse_whole(request_parser, head + header_line_of_length(8192) + b"\r\n")
    assert len(request.headers["X"]) == 8189
    with pytest.raises(HeaderLineTooLong):
        parse_whole(request_parser, head + header_line_of_length(8193) + b"\r\n")


def request_with_headers(count: int) -> bytes:
    fields = b"Host: x\r\n" + b"".join(b"X-%d: %d\r\n" % (i, i) for i in range(count - 1))
    return b"GET / HTTP/1.1\r\n" + fields + b"\r\n"


@pytest.mark.parametrize("mode", MODES)
def test_number_of_headers_limit(mode: str, small_limits: None) -> None:
    """A request may have MAX_NUM_HEADERS header lines."""
    request, reader = drive(request_parser, split(request_with_headers(4) + TRAILING, mode))
    assert len(request.headers) == 4
    assert reader.buffer == TRAILING
    with pytest.raises(TooManyHeaders):
        drive(request_parser, split(request_with_headers(5), mode))


def test_number_of_headers_limit_default() -> None:
    assert len(parse_whole(request_parser, request_with_headers(128)).headers) == 128
    with pytest.raises(TooManyHeaders):
        parse_whole(request_parser, request_with_headers(129))


def test_folded_lines_count_as_header_lines(small_limits: None) -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n c\r\n d\r\n\r\n"
    with pytest.raises(TooManyHeaders):
        parse_whole(request_parser, data)


def test_limit_errors_are_security_errors() -> None:
    for exc_type in (RequestLineTooLong, StatusLineTooLong, HeaderLineTooLong, TooManyHeaders):
        assert issubclass(exc_type, SecurityError)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(None, 7), ("42", 42), ("1_000", 1000), (" 9 ", 9)],
)
def test_limit_from_env(monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: int) -> None:
    if raw is None:
        monkeypatch.delenv("ANYWEBSOCKETS_TEST_LIMIT", raising=False)
    else:
        monkeypatch.setenv("ANYWEBSOCKETS_TEST_LIMIT", raw)
    assert http11._limit_from_env("ANYWEBSOCKETS_TEST_LIMIT", 7) == expected


@pytest.mark.parametrize("raw", ["", "0", "-1", "abc", "1.5"])
def test_limit_from_env_refuses(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("ANYWEBSOCKETS_TEST_LIMIT", raw)
    with pytest.raises(ValueError, match="ANYWEBSOCKETS_TEST_LIMIT must be a positive integer"):
        http11._limit_from_env("ANYWEBSOCKETS_TEST_LIMIT", 7)


def test_limits_read_from_environment_at_import() -> None:
    env = {
        **os.environ,
        "ANYWEBSOCKETS_MAX_LINE_LENGTH": "100",
        "ANYWEBSOCKETS_MAX_NUM_HEADERS": "5",
        "ANYWEBSOCKETS_MAX_BODY_SIZE": "2_000",
    }
    code = (
        "from anywebsockets.protocol import http11 as h; "
        "print(h.MAX_LINE_LENGTH, h.MAX_NUM_HEADERS, h.MAX_BODY_SIZE)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["100", "5", "2000"]


def test_user_agent_and_server() -> None:
    version = importlib.metadata.version("anywebsockets")
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    expected = f"Python/{python} anywebsockets/{version}"
    assert expected == http11.USER_AGENT
    assert http11.SERVER == http11.USER_AGENT


def test_package_version_fallback(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    assert http11._package_version() == "0"


# Responses ----------------------------------------------------------------------

HANDSHAKE_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)

CHUNKED_RESPONSE = (
    b"HTTP/1.1 403 Forbidden\r\n"
    b"Transfer-Encoding: chunked\r\n"
    b"\r\n"
    b"5\r\nHello\r\n"
    b"1;name=value\r\n,\r\n"
    b"00007 \r\n world!\r\n"
    b"0\r\n"
    b"Expires: never\r\n"
    b"X-Checksum: abc\r\n"
    b"\r\n"
)

LENGTH_RESPONSE = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nNot here."
)

# (bytes, response); each one ends where the message ends.
FRAMED_RESPONSES: list[tuple[bytes, Response]] = [
    # RFC 6455, section 1.2: the example handshake response.
    (
        HANDSHAKE_RESPONSE,
        Response(
            101,
            "Switching Protocols",
            Headers(
                [
                    ("Upgrade", "websocket"),
                    ("Connection", "Upgrade"),
                    ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                    ("Sec-WebSocket-Protocol", "chat"),
                ]
            ),
        ),
    ),
    # RFC 7230, section 3.3.3: a body framed by Content-Length.
    (
        LENGTH_RESPONSE,
        Response(
            404,
            "Not Found",
            Headers([("Content-Type", "text/plain"), ("Content-Length", "9")]),
            b"Not here.",
        ),
    ),
    (
        b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
        Response(500, "Oops", Headers([("Content-Length", "0")])),
    ),
    # RFC 7230, section 4.1: a chunked body; extensions and trailers are dropped.
    (
        CHUNKED_RESPONSE,
        Response(403, "Forbidden", Headers([("Transfer-Encoding", "chunked")]), b"Hello, world!"),
    ),
    # Transfer-Encoding wins over Content-Length (RFC 7230, section 3.3.3, item 3).
    (
        b"HTTP/1.1 400 Bad\r\nContent-Length: 100\r\nTransfer-Encoding: Chunked\r\n\r\n"
        b"2\r\nok\r\n0\r\n\r\n",
        Response(
            400,
            "Bad",
            Headers([("Content-Length", "100"), ("Transfer-Encoding", "chunked")]),
            b"ok",
        ),
    ),
    # RFC 7230, section 3.3: 1xx, 204 and 304 responses have no body.
    (
        b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
        Response(204, "No Content", Headers([("Content-Length", "5")])),
    ),
    (
        b"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        Response(304, "Not Modified", Headers([("Transfer-Encoding", "chunked")])),
    ),
    (b"HTTP/1.1 100 Continue\r\n\r\n", Response(100, "Continue", Headers())),
    (
        b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
        Response(103, "Early Hints", Headers([("Link", "</style.css>; rel=preload")])),
    ),
    # Reason phrases may be missing, empty or hold bytes beyond ASCII.
    (b"HTTP/1.1 101\r\n\r\n", Response(101, "", Headers())),
    (b"HTTP/1.1 101 \r\n\r\n", Response(101, "", Headers())),
    (
        b"HTTP/1.1 101 Sw\xeftching\tProtocols \r\n\r\n",
        Response(101, "Sw\xeftching\tProtocols ", Headers()),
    ),
    (
        b"HTTP/1.1 101 OK\r\nX: caf\xe9\r\nx: 2\r\n\r\n",
        Response(101, "OK", Headers([("X", "caf\xe9"), ("x", "2")])),
    ),
]

# (bytes, response): the body runs to the end of the stream.
UNFRAMED_RESPONSES: list[tuple[bytes, Response]] = [
    (
        b"HTTP/1.1 503 Unavailable\r\nContent-Type: text/html\r\n\r\n<p>Later</p>",
        Response(503, "Unavailable", Headers([("Content-Type", "text/html")]), b"<p>Later</p>"),
    ),
    (b"HTTP/1.1 200 OK\r\n\r\n", Response(200, "OK", Headers())),
]

PROXY_RESPONSES: list[tuple[bytes, Response]] = [
    (
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        Response(200, "Connection established", Headers()),
    ),
    (b"HTTP/1.0 200 OK\r\n\r\n", Response(200, "OK", Headers())),
    # Not even an error page is read: the caller drops the connection.
    (
        b"HTTP/1.1 407 Proxy Authentication Required\r\n"
        b"Proxy-Authenticate: Basic\r\nContent-Length: 4\r\n\r\n",
        Response(
            407,
            "Proxy Authentication Required",
            Headers([("Proxy-Authenticate", "Basic"), ("Content-Length", "4")]),
        ),
    ),
    (b"HTTP/1.0 403 Forbidden\r\n\r\n", Response(403, "Forbidden", Headers())),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "expected"), FRAMED_RESPONSES)
def test_parse_response(data: bytes, expected: Response, mode: str) -> None:
    response, reader = drive(response_parser(), split(data, mode))
    assert response == expected
    assert reader.buffer == b""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "expected"), FRAMED_RESPONSES)
def test_parse_response_leaves_trailing_bytes(data: bytes, expected: Response, mode: str) -> None:
    """After a 101, frames sent at once stay in the reader; so do bytes after a body."""
    response, reader = drive(response_parser(), split(data + TRAILING, mode))
    assert response == expected
    assert reader.buffer == TRAILING


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "expected"), UNFRAMED_RESPONSES)
def test_parse_response_body_until_eof(data: bytes, expected: Response, mode: str) -> None:
    """RFC 7230, section 3.3.3, item 7: without framing, the body runs to the end."""
    response, _ = drive(response_parser(), split(data, mode))
    assert response is PENDING
    response, reader = drive(response_parser(), split(data, mode), eof=True)
    assert response == expected
    assert reader.buffer == b""


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "expected"), PROXY_RESPONSES)
def test_parse_proxy_response(data: bytes, expected: Response, mode: str) -> None:
    """A response to CONNECT: no body is read; what follows is the tunnel."""
    response, reader = drive(response_parser(proxy=True), split(data + TRAILING, mode))
    assert response == expected
    tail = data[data.index(b"\r\n\r\n") + 4 :]
    assert reader.buffer == tail + TRAILING


INVALID_RESPONSES: list[tuple[bytes, str]] = [
    # RFC 7230, section 3.1.2: HTTP-version SP status-code SP reason-phrase.
    (b"HTTP/1.1 20 OK\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1 2000 OK\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1 abc OK\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1  101 OK\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1\r\n\r\n", "illegal status line"),
    (b"HTTP 101 OK\r\n\r\n", "illegal status line"),
    (b"ICY 200 OK\r\n\r\n", "illegal status line"),
    (b"HTTP/1.1 101 a\x00b\r\n\r\n", "illegal status line"),
    (b"\r\nHTTP/1.1 101 OK\r\n\r\n", "no response line"),
    (b"HTTP/1.1 099 OK\r\n\r\n", "should be in range [100, 200), not 99"),
    (b"HTTP/1.1 600 OK\r\n\r\n", "invalid HTTP status code: 600"),
    (b"HTTP/1.1 999 OK\r\n\r\n", "invalid HTTP status code: 999"),
    # Only HTTP/1.1 answers a handshake.
    (b"HTTP/1.0 101 OK\r\n\r\n", "unsupported HTTP version: HTTP/1.0"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", "unsupported HTTP version: HTTP/1.0"),
    (b"HTTP/2.0 101 OK\r\n\r\n", "unsupported HTTP version: HTTP/2.0"),
    # Header lines.
    (b"HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n", "illegal header line"),
    (b"HTTP/1.1 101 OK\r\nX: \x1b[31m\r\n\r\n", "invalid HTTP header value"),
    (b"HTTP/1.1 101 OK\nUpgrade: websocket\r\n\r\n", "ends with LF instead of CRLF"),
    (b"HTTP/1.1 101 OK\r\nUpgrade: websocket\n\r\n", "ends with LF instead of CRLF"),
    # Framing headers.
    (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "Transfer-Encoding"),
    # Chunked framing (RFC 7230, section 4.1).
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "invalid chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\n", "invalid chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1 1\r\n", "invalid chunk size line"),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 17 + b"1\r\n",
        "invalid chunk size line",
    ),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\n", "ends with LF instead of CRLF"),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n",
        "chunk data does not end with CRLF",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nNo colon\r\n\r\n",
        "invalid trailer line",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: \x00\r\n\r\n",
        "invalid trailer line",
    ),
    (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\n\r\n",
        "ends with LF instead of CRLF",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("data", "message"), INVALID_RESPONSES)
def test_parse_response_invalid(data: bytes, message: str, mode: str) -> None:
    with pytest.raises(InvalidMessage, match=re.escape(message)):
        drive(response_parser(), split(data + TRAILING, mode), eof=True)


@pytest.mark.parametrize(
    "data",
    [
        # h11 refuses a 101 that answers no upgrade request.
        b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        b"HTTP/2.0 200 OK\r\n\r\n",
        b"HTTP/1.1 200\r\nX\r\n\r\n",
    ],
)
def test_parse_proxy_response_invalid(data: bytes) -> None:
    with pytest.raises(InvalidMessage):
        parse_whole(response_parser(proxy=True), data)


def test_parse_response_maps_h11_errors() -> None:
    with pytest.raises(InvalidMessage) as info:
        parse_whole(response_parser(), b"HTTP/1.1 20 OK\r\n\r\n")
    assert str(info.value).startswith("invalid HTTP response: illegal status line")
    assert isinstance(info.value.__cause__, h11.RemoteProtocolError)


@pytest.mark.parametrize("data", [HANDSHAKE_RESPONSE, LENGTH_RESPONSE, CHUNKED_RESPONSE])
def test_parse_response_eof_at_every_point(data: bytes) -> None:
    """The stream ends before the end of the message, wherever that is."""
    status_end = data.index(b"\r\n") + 2
    head_end = data.index(b"\r\n\r\n") + 4
    for length in range(len(data)):
        if length < status_end:
            where = "HTTP status line"
        elif length < head_end:
            where = "HTTP headers"
        else:
            where = "(HTTP body|chunk size|chunked trailer)"
        with pytest.raises(EOFError, match=f"^connection closed while reading {where}$"):
            parse_whole(response_parser(), data[:length], eof=True)


@pytest.mark.parametrize(
    ("length", "where"),
    [
        (
            len(CHUNKED_RESPONSE) - len(b"0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n") - 1,
            "HTTP body",
        ),
        (
            len(CHUNKED_RESPONSE) - len(b"0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n") + 1,
            "chunk size",
        ),
        (len(CHUNKED_RESPONSE) - 1, "chunked trailer"),
    ],
)
def test_parse_chunked_response_eof_messages(length: int, where: str) -> None:
    with pytest.raises(EOFError, match=f"connection closed while reading {where}$"):
        parse_whole(response_parser(), CHUNKED_RESPONSE[:length], eof=True)


@pytest.mark.parametrize("mode", MODES)
def test_status_line_limit(mode: str, small_limits: None) -> None:
    line = b"HTTP/1.1 101 " + b"a" * (64 - 13)
    response, _ = drive(response_parser(), split(line + b"\r\n\r\n", mode))
    assert len(response.reason_phrase) == 51
    with pytest.raises(StatusLineTooLong) as info:
        drive(response_parser(), split(line + b"a\r\n\r\n", mode))
    assert isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("proxy", [False, True])
def test_response_header_limits(proxy: bool, small_limits: None) -> None:
    head = b"HTTP/1.1 101 OK\r\n"
    data = head + header_line_of_length(64) + b"\r\n"
    assert parse_whole(response_parser(proxy), data.replace(b"101", b"204")).status_code == 204
    with pytest.raises(HeaderLineTooLong):
        parse_whole(response_parser(proxy), head + header_line_of_length(65) + b"\r\n")
    fields = b"".join(b"X-%d: 1\r\n" % i for i in range(4))
    assert (
        len(parse_whole(response_parser(proxy), b"HTTP/1.1 204 OK\r\n" + fields + b"\r\n").headers)
        == 4
    )
    with pytest.raises(TooManyHeaders):
        parse_whole(response_parser(proxy), head + fields + b"X-4: 1\r\n\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_body_limit_content_length(mode: str, small_limits: None) -> None:
    """The body may be MAX_BODY_SIZE bytes; more is refused before it is read."""
    ok = b"HTTP/1.1 400 Bad\r\nContent-Length: 32\r\n\r\n" + b"x" * 32
    response, _ = drive(response_parser(), split(ok, mode))
    assert response.body == b"x" * 32
    head = b"HTTP/1.1 400 Bad\r\nContent-Length: 33\r\n\r\n"
    with pytest.raises(SecurityError, match="body too large: 33 bytes, limit 32"):
        drive(response_parser(), split(head, mode))


def test_body_limit_content_length_default() -> None:
    assert http11.MAX_BODY_SIZE == 1_048_576
    huge = b"HTTP/1.1 400 Bad\r\nContent-Length: 99999999999999999999\r\n\r\n"
    with pytest.raises(SecurityError, match="body too large"):
        parse_whole(response_parser(), huge)
    head = b"HTTP/1.1 400 Bad\r\nContent-Length: 1048576\r\n\r\n"
    assert len(parse_whole(response_parser(), head + b"x" * 1_048_576).body) == 1_048_576
    with pytest.raises(SecurityError):
        parse_whole(response_parser(), head.replace(b"576", b"577"))


@pytest.mark.parametrize("mode", MODES)
def test_body_limit_chunked(mode: str, small_limits: None) -> None:
    head = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n"
    ok = head + b"10\r\n" + b"x" * 16 + b"\r\n10\r\n" + b"y" * 16 + b"\r\n0\r\n\r\n"
    response, _ = drive(response_parser(), split(ok, mode))
    assert response.body == b"x" * 16 + b"y" * 16
    # The second chunk would pass the limit: refused before reading it.
    too_big = head + b"10\r\n" + b"x" * 16 + b"\r\n11\r\n"
    with pytest.raises(SecurityError, match="body too large: 33 bytes or more, limit 32"):
        drive(response_parser(), split(too_big, mode))
    with pytest.raises(SecurityError):
        drive(response_parser(), split(head + b"ffffffffffffffff\r\n", mode))


@pytest.mark.parametrize("mode", MODES)
def test_chunk_size_line_limit(mode: str, small_limits: None) -> None:
    head = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n"
    line = b"1;" + b"e" * 62
    response, _ = drive(response_parser(), split(head + line + b"\r\nx\r\n0\r\n\r\n", mode))
    assert response.body == b"x"
    with pytest.raises(SecurityError, match="chunk size line too long"):
        drive(response_parser(), split(head + line + b"e\r\nx\r\n0\r\n\r\n", mode))


def test_trailer_limits(small_limits: None) -> None:
    head = b"HTTP/1.1 400 Bad\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n"
    trailer = b"".join(b"T-%d: 1\r\n" % i for i in range(4))
    assert parse_whole(response_parser(), head + trailer + b"\r\n").body == b""
    with pytest.raises(TooManyHeaders):
        parse_whole(response_parser(), head + trailer + b"T-4: 1\r\n\r\n")
    with pytest.raises(HeaderLineTooLong):
        parse_whole(response_parser(), head + header_line_of_length(65) + b"\r\n")


@pytest.mark.parametrize("mode", MODES)
def test_body_limit_until_eof(mode: str, small_limits: None) -> None:
    head = b"HTTP/1.1 400 Bad\r\n\r\n"
    response, _ = drive(response_parser(), split(head + b"x" * 32, mode), eof=True)
    assert response.body == b"x" * 32
    with pytest.raises(SecurityError, match="body too large: over 32 bytes") as info:
        drive(response_parser(), split(head + b"x" * 33, mode), eof=True)
    assert isinstance(info.value.__cause__, RuntimeError)


# Serialization ------------------------------------------------------------------


def test_serialize_request() -> None:
    """RFC 6455, section 1.2: the example request, as bytes."""
    request = Request(
        "/chat",
        Headers(
            [
                ("Host", "server.example.com"),
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("Origin", "http://example.com"),
                ("Sec-WebSocket-Protocol", "chat, superchat"),
                ("Sec-WebSocket-Version", "13"),
            ]
        ),
    )
    assert request.serialize() == HANDSHAKE_REQUEST


def test_serialize_request_method_and_protocol() -> None:
    request = Request("/", Headers(Host="x"), method="POST", protocol="HTTP/1.0")
    assert request.serialize() == b"POST / HTTP/1.0\r\nHost: x\r\n\r\n"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "G T"}, "invalid HTTP method"),
        ({"method": ""}, "invalid HTTP method"),
        ({"path": ""}, "invalid HTTP request target"),
        ({"path": "/a b"}, "invalid HTTP request target"),
        ({"path": "/\r\nX: y"}, "invalid HTTP request target"),
        ({"path": "/caf\xe9"}, "invalid HTTP request target"),
        ({"protocol": "HTTP/1.1\r\n"}, "invalid HTTP version"),
        ({"protocol": "HTTP/11"}, "invalid HTTP version"),
    ],
)
def test_serialize_request_refuses_unsafe_fields(kwargs: dict[str, str], message: str) -> None:
    fields = {"path": "/", "method": "GET", "protocol": "HTTP/1.1", **kwargs}
    request = Request(fields["path"], Headers(), fields["method"], fields["protocol"])
    with pytest.raises(ValueError, match=message):
        request.serialize()


def test_serialize_response() -> None:
    """RFC 6455, section 1.2: the example response, as bytes."""
    response = Response(
        101,
        "Switching Protocols",
        Headers(
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
                ("Sec-WebSocket-Protocol", "chat"),
            ]
        ),
    )
    assert response.serialize() == HANDSHAKE_RESPONSE


def test_serialize_response_with_body() -> None:
    response = Response(404, "Not Found", Headers([("Content-Length", "2")]), b"no")
    assert response.serialize() == b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno"
    assert Response(200, "caf\xe9", Headers()).serialize() == b"HTTP/1.1 200 caf\xe9\r\n\r\n"


@pytest.mark.parametrize(
    ("status_code", "reason", "message"),
    [
        (99, "OK", "invalid HTTP status code"),
        (600, "OK", "invalid HTTP status code"),
        (200, "OK\r\nX: y", "invalid HTTP reason phrase"),
        (200, "\x00", "invalid HTTP reason phrase"),
        (200, "\u2603", "invalid HTTP reason phrase"),
    ],
)
def test_serialize_response_refuses_unsafe_fields(
    status_code: int, reason: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Response(status_code, reason, Headers()).serialize()


# Property tests -------------------------------------------------------------------

TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
tokens = st.text(alphabet=TCHARS, min_size=1, max_size=10)
FRAMING = {"host", "content-length", "transfer-encoding"}
names = tokens.filter(lambda name: name.lower() not in FRAMING)
value_chars = st.sampled_from(["\t", *map(chr, range(0x20, 0x7F)), *map(chr, range(0x80, 0x100))])
# RFC 7230, section 3.2.4: whitespace around a value is not part of it.
values = st.text(alphabet=value_chars, max_size=20).map(lambda value: value.strip(" \t"))
header_lists = st.lists(st.tuples(names, values), max_size=6)
targets = st.text(
    alphabet=st.sampled_from([chr(c) for c in range(0x21, 0x7F)]), min_size=1, max_size=30
)


@given(targets, tokens, header_lists, st.sampled_from(["HTTP/1.1", "HTTP/1.0"]))
def test_request_round_trip(
    path: str, method: str, fields: list[tuple[str, str]], protocol: str
) -> None:
    """serialize() then parse() gives back the same request."""
    request = Request(path, Headers([("Host", "example.com"), *fields]), method, protocol)
    assert parse_whole(request_parser, request.serialize() + TRAILING) == request


@st.composite
def responses(draw: st.DrawFn) -> Response:
    status_code = draw(st.integers(min_value=100, max_value=599))
    reason = draw(st.text(alphabet=value_chars, max_size=20))
    headers = Headers(draw(header_lists))
    body = b""
    if status_code >= 200 and status_code not in (204, 304):
        body = draw(st.binary(max_size=50))
        headers["Content-Length"] = str(len(body))
    return Response(status_code, reason, headers, body)


@given(responses())
def test_response_round_trip(response: Response) -> None:
    """serialize() then parse() gives back the same response."""
    assert parse_whole(response_parser(), response.serialize() + TRAILING) == response


@given(responses())
def test_response_round_trip_bytewise(response: Response) -> None:
    data = response.serialize()
    parsed, reader = drive(response_parser(), split(data + TRAILING, "bytewise"))
    assert parsed == response
    assert reader.buffer == TRAILING


REQUEST_ERRORS = (EOFError, InvalidMessage, SecurityError)


def mutations(valid: bytes) -> st.SearchStrategy[bytes]:
    """Valid messages with a few bytes replaced, inserted or removed."""

    @st.composite
    def mutate(draw: st.DrawFn) -> bytes:
        data = bytearray(valid)
        for _ in range(draw(st.integers(min_value=1, max_value=4))):
            pos = draw(st.integers(min_value=0, max_value=len(data)))
            action = draw(st.sampled_from(["replace", "insert", "delete"]))
            byte = draw(st.sampled_from([0, 9, 10, 13, 32, 58, 59, 0x7F, 0xE9, *b"0aA:;,"]))
            if action == "insert" or pos == len(data):
                data.insert(pos, byte)
            elif action == "replace":
                data[pos] = byte
            else:
                del data[pos]
        return bytes(data)

    return mutate()


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | mutations(HANDSHAKE_REQUEST))
def test_random_requests_parse_or_raise_documented_errors(data: bytes) -> None:
    try:
        request = parse_whole(request_parser, data, eof=True)
    except REQUEST_ERRORS:
        return
    assert isinstance(request, Request)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.binary(max_size=200)
    | mutations(HANDSHAKE_RESPONSE)
    | mutations(CHUNKED_RESPONSE)
    | mutations(LENGTH_RESPONSE),
    st.booleans(),
)
def test_random_responses_parse_or_raise_documented_errors(data: bytes, proxy: bool) -> None:
    try:
        response = parse_whole(response_parser(proxy), data, eof=True)
    except REQUEST_ERRORS:
        return
    assert isinstance(response, Response)


def test_all_names_exist() -> None:
    for name in http11.__all__:
        assert hasattr(http11, name), name
