"""The server side of the opening handshake (RFC 6455, section 4.2)."""

from __future__ import annotations

import http
import logging
import re
from collections.abc import Sequence

import pytest

from anywebsockets.exceptions import (
    InvalidHandshake,
    InvalidMessage,
    InvalidOrigin,
    NegotiationError,
    RequestLineTooLong,
    TooManyHeaders,
)
from anywebsockets.protocol.client import ClientProtocol
from anywebsockets.protocol.frames import OP_TEXT, Frame
from anywebsockets.protocol.http11 import Request, Response
from anywebsockets.protocol.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)
from anywebsockets.protocol.protocol import SEND_EOF, State
from anywebsockets.protocol.server import ServerProtocol, http_status_for
from anywebsockets.protocol.uri import parse_uri

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 section 1.3


def request_bytes(*extra: str, request_line: str = "GET /chat HTTP/1.1", omit: str = "") -> bytes:
    headers = [
        "Host: server.example.com",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    headers = [h for h in headers if not (omit and h.startswith(omit + ":"))]
    return ("\r\n".join([request_line, *headers, *extra]) + "\r\n\r\n").encode()


def receive_request(server: ServerProtocol, data: bytes) -> Request:
    server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    return request


def handshake(server: ServerProtocol, *extra: str, **kwargs: str) -> Response:
    request = receive_request(server, request_bytes(*extra, **kwargs))
    response = server.accept(request)
    server.send_response(response)
    return response


def test_rfc_example_is_accepted() -> None:
    server = ServerProtocol()
    response = handshake(server)
    assert response.status_code == 101
    assert response.headers["Sec-WebSocket-Accept"] == ACCEPT
    assert response.headers["Upgrade"] == "websocket"
    assert response.headers["Connection"] == "Upgrade"
    assert "Sec-WebSocket-Extensions" not in response.headers
    assert server.state is State.OPEN
    [data] = server.data_to_send()
    assert data.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert server.handshake_exc is None


def test_request_fed_byte_by_byte() -> None:
    server = ServerProtocol()
    data = request_bytes()
    for i in range(len(data) - 1):
        server.receive_data(data[i : i + 1])
        assert server.events_received() == []
    server.receive_data(data[-1:])
    [request] = server.events_received()
    assert isinstance(request, Request)
    assert request.path == "/chat"


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["Origin: https://example.com", "X-Spaces:  a  b \t"],
        ["Content-Length: 0"],  # a head the fast parser leaves to h11
        ["X-Folded: a", " b"],  # obsolete line folding, likewise
    ],
)
def test_request_parsed_whole_or_byte_by_byte_is_the_same(extra: list[str]) -> None:
    """Whole, a request usually takes the fast parser; byte by byte, the line reader."""
    data = request_bytes(*extra)
    whole = receive_request(ServerProtocol(), data)
    server = ServerProtocol()
    for i in range(len(data)):
        server.receive_data(data[i : i + 1])
    [bytewise] = server.events_received()
    assert whole == bytewise
    assert list(whole.headers.raw_items()) == list(bytewise.headers.raw_items())


def test_request_errors_are_the_same_whole_or_byte_by_byte() -> None:
    data = request_bytes("X: a\x01b")
    results = []
    for chunks in ([data], [data[i : i + 1] for i in range(len(data))]):
        server = ServerProtocol()
        for chunk in chunks:
            server.receive_data(chunk)
        assert server.events_received() == []
        results.append((repr(server.handshake_exc), server.data_to_send()[0][:30]))
    assert results[0] == results[1]
    assert results[0][1].startswith(b"HTTP/1.1 400 Bad Request\r\n")


def test_frames_sent_before_the_response_wait_for_it() -> None:
    server = ServerProtocol()
    frame = b"\x81\x82\x00\x00\x00\x00hi"
    request = receive_request(server, request_bytes() + frame)
    server.receive_data(frame)
    assert server.events_received() == []
    server.send_response(server.accept(request))
    assert server.events_received() == [Frame(OP_TEXT, b"hi")] * 2


def test_eof_before_the_response_is_handled_after_it() -> None:
    server = ServerProtocol()
    request = receive_request(server, request_bytes())
    server.receive_eof()
    assert server.state is State.CONNECTING
    server.send_response(server.accept(request))
    assert server.state is State.CLOSED
    assert server.close_code == 1006


def rejected(server: ServerProtocol, data: bytes) -> Response:
    """Run a request that ``accept`` refuses; return the error response."""
    request = receive_request(server, data)
    response = server.accept(request)
    server.send_response(response)
    writes = server.data_to_send()
    assert writes[0] == response.serialize()
    assert writes[-1] == SEND_EOF
    assert server.state is State.CONNECTING
    assert server.handshake_exc is not None
    return response


@pytest.mark.parametrize(
    ("data", "status", "header"),
    [
        (request_bytes(request_line="POST /chat HTTP/1.1"), 405, ("Allow", "GET")),
        (request_bytes(request_line="GET /chat HTTP/1.0"), 505, None),
        (request_bytes(omit="Upgrade"), 426, ("Upgrade", "websocket")),
        (request_bytes("Upgrade: h2c", omit="Upgrade"), 426, ("Upgrade", "websocket")),
        (request_bytes(omit="Connection"), 426, ("Upgrade", "websocket")),
        (request_bytes("Connection: keep-alive", omit="Connection"), 426, None),
        (request_bytes(omit="Sec-WebSocket-Key"), 400, None),
        (request_bytes("Sec-WebSocket-Key: not base64!", omit="Sec-WebSocket-Key"), 400, None),
        (request_bytes("Sec-WebSocket-Key: AAAA", omit="Sec-WebSocket-Key"), 400, None),
        (request_bytes("Sec-WebSocket-Key: ÿÿÿÿ", omit="Sec-WebSocket-Key"), 400, None),
        (request_bytes(f"Sec-WebSocket-Key: {KEY}"), 400, None),
        (request_bytes(omit="Sec-WebSocket-Version"), 400, None),
        (
            request_bytes("Sec-WebSocket-Version: 8", omit="Sec-WebSocket-Version"),
            426,
            ("Sec-WebSocket-Version", "13"),
        ),
        (request_bytes("Origin: https://a", "Origin: https://b"), 400, None),
        (request_bytes("Sec-WebSocket-Extensions: permessage-deflate; ="), 400, None),
    ],
)
def test_rejections(data: bytes, status: int, header: tuple[str, str] | None) -> None:
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
    response = rejected(server, data)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert response.headers["Connection"] == "close"
    assert response.body.startswith(b"Failed to open a WebSocket connection: ")
    assert int(response.headers["Content-Length"]) == len(response.body)
    if header is not None:
        assert response.headers[header[0]] == header[1]


def test_plain_http_request_gets_426_with_an_explanation() -> None:
    server = ServerProtocol()
    response = rejected(server, b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert response.status_code == 426
    assert b"Connection" in response.body


@pytest.mark.parametrize(
    ("origins", "origin", "accepted"),
    [
        (["https://a.example"], "https://a.example", True),
        (["https://a.example"], "https://b.example", False),
        (["https://a.example"], None, False),
        ([re.compile(r"https://[a-z]+\.example")], "https://b.example", True),
        ([re.compile(r"https://[a-z]+\.example")], "https://b.example.evil", False),
        ([re.compile(r"https://.*")], None, False),
        ([None], None, True),
        ([None, "https://a.example"], "https://a.example", True),
        (None, "https://anything", True),
    ],
)
def test_origins(
    origins: Sequence[str | re.Pattern[str] | None] | None, origin: str | None, accepted: bool
) -> None:
    server = ServerProtocol(origins=origins)
    extra = [] if origin is None else [f"Origin: {origin}"]
    if accepted:
        assert handshake(server, *extra).status_code == 101
        assert server.origin == origin
    else:
        response = rejected(server, request_bytes(*extra))
        assert response.status_code == 403
        assert isinstance(server.handshake_exc, InvalidOrigin)


@pytest.mark.parametrize(
    ("available", "offered", "chosen"),
    [
        ([], ["chat"], None),
        (["chat"], ["chat"], "chat"),
        (["superchat", "chat"], ["chat", "superchat"], "superchat"),
        (["chat"], ["chat, other"], "chat"),
    ],
)
def test_default_subprotocol_selection(
    available: list[str], offered: list[str], chosen: str | None
) -> None:
    server = ServerProtocol(subprotocols=available)
    extra = [f"Sec-WebSocket-Protocol: {value}" for value in offered]
    response = handshake(server, *extra)
    assert server.subprotocol == chosen
    assert response.headers.get("Sec-WebSocket-Protocol") == chosen


@pytest.mark.parametrize("offered", [[], ["other"]])
def test_server_with_subprotocols_refuses_clients_without_one(offered: list[str]) -> None:
    server = ServerProtocol(subprotocols=["chat"])
    extra = [f"Sec-WebSocket-Protocol: {value}" for value in offered]
    response = rejected(server, request_bytes(*extra))
    assert response.status_code == 400
    assert isinstance(server.handshake_exc, NegotiationError)


def test_custom_select_subprotocol() -> None:
    seen: list[object] = []

    def select(protocol: ServerProtocol, offered: Sequence[str]) -> str | None:
        seen.append((protocol, list(offered)))
        return offered[-1]

    server = ServerProtocol(subprotocols=["ignored"], select_subprotocol=select)
    handshake(server, "Sec-WebSocket-Protocol: a, b")
    assert server.subprotocol == "b"
    assert seen == [(server, ["a", "b"])]


def test_select_subprotocol_that_crashes_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    def select(protocol: ServerProtocol, offered: Sequence[str]) -> str | None:
        raise ZeroDivisionError

    server = ServerProtocol(select_subprotocol=select)
    with caplog.at_level(logging.ERROR):
        response = rejected(server, request_bytes())
    assert response.status_code == 500
    assert b"server log" in response.body
    assert isinstance(server.handshake_exc, ZeroDivisionError)
    assert "opening handshake failed" in caplog.text


def test_compression_is_negotiated_with_a_real_client() -> None:
    client = ClientProtocol(parse_uri("ws://h/"), extensions=[ClientPerMessageDeflateFactory()])
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    assert client.state is State.OPEN
    assert isinstance(server.extensions[0], PerMessageDeflate)
    assert isinstance(client.extensions[0], PerMessageDeflate)
    client.send_text(b"hello " * 100)
    for data in client.data_to_send():
        assert len(data) < 100
        server.receive_data(data)
    assert server.events_received() == [Frame(OP_TEXT, b"hello " * 100)]


def test_unsupported_extension_offer_is_ignored() -> None:
    server = ServerProtocol(extensions=[ServerPerMessageDeflateFactory()])
    offers = "Sec-WebSocket-Extensions: x-unknown, permessage-deflate; bogus=1"
    response = handshake(server, offers)
    assert response.status_code == 101
    assert server.extensions == []
    assert "Sec-WebSocket-Extensions" not in response.headers


def test_extension_offers_are_ignored_without_factories() -> None:
    server = ServerProtocol()
    response = handshake(server, "Sec-WebSocket-Extensions: permessage-deflate")
    assert "Sec-WebSocket-Extensions" not in response.headers


def unparsable(data: bytes, eof: bool = False) -> ServerProtocol:
    server = ServerProtocol()
    server.receive_data(data)
    if eof:
        server.receive_eof()
    assert server.events_received() == []
    assert server.handshake_exc is not None
    return server


@pytest.mark.parametrize(
    ("data", "status", "exc_type"),
    [
        (b"GET /" + b"x" * 9000, 414, RequestLineTooLong),
        (request_bytes(*[f"X-{i}: y" for i in range(200)]), 431, TooManyHeaders),
        (b"GET / HTTP/1.1\r\nHost: a\r\nbad header line\r\n\r\n", 400, InvalidMessage),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400, InvalidMessage),
    ],
)
def test_unparsable_requests_are_answered_then_closed(
    data: bytes, status: int, exc_type: type[Exception]
) -> None:
    server = unparsable(data)
    assert isinstance(server.handshake_exc, exc_type)
    writes = server.data_to_send()
    assert writes[0].startswith(f"HTTP/1.1 {status} ".encode())
    assert writes[-1] == SEND_EOF
    assert server.close_expected()


def test_eof_before_a_request_sends_nothing_but_eof() -> None:
    server = unparsable(b"GET / HTTP/1.1\r\n", eof=True)
    exc = server.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert isinstance(exc.__cause__, EOFError)
    assert server.data_to_send() == [SEND_EOF]


def test_reject_builds_a_plain_text_response() -> None:
    server = ServerProtocol()
    response = server.reject(http.HTTPStatus.NOT_FOUND, "nothing here\n")
    assert response.status_code == 404
    assert response.reason_phrase == "Not Found"
    assert response.body == b"nothing here\n"
    with pytest.raises(ValueError):
        server.reject(999, "")


def test_sending_a_non_101_response_ends_the_handshake() -> None:
    server = ServerProtocol()
    request = receive_request(server, request_bytes())
    server.send_response(server.reject(200, "health check ok\n"))
    assert isinstance(server.handshake_exc, InvalidHandshake)
    assert "HTTP 200" in str(server.handshake_exc)
    assert server.data_to_send()[-1] == SEND_EOF
    assert request.path == "/chat"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        (RequestLineTooLong(), 414),
        (TooManyHeaders(), 431),
        (InvalidOrigin(None), 403),
        (NegotiationError(), 400),
        (RuntimeError(), 500),
    ],
)
def test_http_status_for(exc: Exception, status: int) -> None:
    assert http_status_for(exc) == status


def test_handshake_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.server.debug")
    logger.setLevel(logging.DEBUG)
    server = ServerProtocol(logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.server.debug"):
        handshake(server)
        bad = ServerProtocol(logger=logger)
        rejected(bad, request_bytes(request_line="PUT / HTTP/1.1"))
    messages = [r.getMessage() for r in caplog.records]
    assert "< GET /chat HTTP/1.1" in messages
    assert "> HTTP/1.1 101 Switching Protocols" in messages
    assert any(
        m.startswith("! invalid handshake request: unsupported HTTP method") for m in messages
    )


def test_open_state_skips_the_handshake() -> None:
    server = ServerProtocol(state=State.OPEN)
    server.receive_data(b"\x81\x82\x00\x00\x00\x00hi")
    assert server.events_received() == [Frame(OP_TEXT, b"hi")]


def test_subprotocols_must_be_a_list() -> None:
    with pytest.raises(TypeError):
        ServerProtocol(subprotocols="chat")  # type: ignore[arg-type]
