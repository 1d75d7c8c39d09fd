"""The client side of the opening handshake (RFC 6455, section 4.1)."""

from __future__ import annotations

import logging

import pytest

from anywebsockets.exceptions import (
    InvalidHeader,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidUpgrade,
    NegotiationError,
    StatusLineTooLong,
)
from anywebsockets.protocol.client import ClientProtocol
from anywebsockets.protocol.extensions import ClientExtensionFactory
from anywebsockets.protocol.frames import OP_TEXT, Frame
from anywebsockets.protocol.http11 import Response
from anywebsockets.protocol.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
)
from anywebsockets.protocol.protocol import SEND_EOF, State
from anywebsockets.protocol.uri import parse_uri
from anywebsockets.protocol.utils import accept_key

URI = parse_uri("ws://example.com:8765/chat?room=1")


def make_client(**kwargs: object) -> ClientProtocol:
    protocol = ClientProtocol(URI, **kwargs)  # type: ignore[arg-type]
    protocol.send_request(protocol.connect())
    protocol.data_to_send()
    return protocol


def response_bytes(
    protocol: ClientProtocol, *extra: str, accept: str | None = None, omit: str = ""
) -> bytes:
    if accept is None:
        accept = accept_key(protocol.key)
    headers = ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}"]
    headers = [h for h in headers if not (omit and h.startswith(omit + ":"))]
    lines = ["HTTP/1.1 101 Switching Protocols", *headers, *extra]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_request_headers() -> None:
    protocol = ClientProtocol(URI)
    request = protocol.connect()
    assert request.path == "/chat?room=1"
    headers = request.headers
    assert headers["Host"] == "example.com:8765"
    assert headers["Upgrade"] == "websocket"
    assert headers["Connection"] == "Upgrade"
    assert headers["Sec-WebSocket-Key"] == protocol.key
    assert headers["Sec-WebSocket-Version"] == "13"
    for absent in (
        "Origin",
        "Authorization",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
    ):
        assert absent not in headers
    protocol.send_request(request)
    [data] = protocol.data_to_send()
    assert data.startswith(b"GET /chat?room=1 HTTP/1.1\r\nHost: example.com:8765\r\n")
    assert data.endswith(b"\r\n\r\n")


def test_keys_are_random() -> None:
    assert ClientProtocol(URI).key != ClientProtocol(URI).key


def test_request_with_credentials_origin_extensions_and_subprotocols() -> None:
    protocol = ClientProtocol(
        parse_uri("wss://alice:s%3Acret@example.com/"),
        origin="https://example.com",
        extensions=[ClientPerMessageDeflateFactory()],
        subprotocols=["chat", "superchat"],
    )
    headers = protocol.connect().headers
    assert headers["Host"] == "example.com"
    assert headers["Authorization"] == "Basic YWxpY2U6czpjcmV0"
    assert headers["Origin"] == "https://example.com"
    assert headers["Sec-WebSocket-Extensions"].startswith("permessage-deflate")
    assert headers["Sec-WebSocket-Protocol"] == "chat, superchat"


def test_subprotocols_must_be_a_list() -> None:
    with pytest.raises(TypeError):
        ClientProtocol(URI, subprotocols="chat")  # type: ignore[arg-type]


def test_successful_handshake_and_pipelined_frame() -> None:
    protocol = make_client()
    frame = b"\x81\x02hi"
    protocol.receive_data(response_bytes(protocol) + frame)
    response, message = protocol.events_received()
    assert isinstance(response, Response)
    assert response.status_code == 101
    assert message == Frame(OP_TEXT, b"hi")
    assert protocol.state is State.OPEN
    assert protocol.handshake_exc is None
    assert protocol.extensions == []
    assert protocol.subprotocol is None


def test_response_fed_byte_by_byte() -> None:
    protocol = make_client()
    data = response_bytes(protocol)
    for i in range(len(data)):
        assert protocol.state is State.CONNECTING
        protocol.receive_data(data[i : i + 1])
    [response] = protocol.events_received()
    assert isinstance(response, Response)
    assert protocol.state is State.OPEN


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["Date: Sun, 22 Nov 2026 04:49:28 GMT", "Server: test"],
        ["Content-Length: 0"],  # a head the fast parser leaves to h11
        ["X-Folded: a", " b"],  # obsolete line folding, likewise
    ],
)
def test_response_parsed_whole_or_byte_by_byte_is_the_same(extra: list[str]) -> None:
    """Whole, a 101 usually takes the fast parser; byte by byte, the line reader."""
    results = []
    for bytewise in (False, True):
        protocol = make_client()
        data = response_bytes(protocol, *extra)
        chunks = [data[i : i + 1] for i in range(len(data))] if bytewise else [data]
        for chunk in chunks:
            protocol.receive_data(chunk)
        [response] = protocol.events_received()
        assert isinstance(response, Response)
        assert protocol.state is State.OPEN
        headers = [(n, v) for n, v in response.headers.raw_items() if n != "Sec-WebSocket-Accept"]
        results.append((response.status_code, response.reason_phrase, headers))
    assert results[0] == results[1]


def test_negotiated_extension_and_subprotocol() -> None:
    protocol = make_client(
        extensions=[ClientPerMessageDeflateFactory()], subprotocols=["chat", "superchat"]
    )
    protocol.receive_data(
        response_bytes(
            protocol,
            "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12",
            "Sec-WebSocket-Protocol: superchat",
        )
    )
    assert protocol.state is State.OPEN
    [extension] = protocol.extensions
    assert isinstance(extension, PerMessageDeflate)
    assert protocol.subprotocol == "superchat"


def fail_with(protocol: ClientProtocol, data: bytes) -> Exception:
    protocol.receive_data(data)
    assert protocol.state is State.CONNECTING
    assert protocol.data_to_send() == [SEND_EOF]
    assert protocol.close_expected()
    assert protocol.handshake_exc is not None
    return protocol.handshake_exc


def test_rejected_with_status_keeps_the_body() -> None:
    protocol = make_client()
    data = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nno way"
    exc = fail_with(protocol, data)
    assert isinstance(exc, InvalidStatus)
    assert exc.response.status_code == 403
    assert exc.response.body == b"no way"
    [response] = protocol.events_received()
    assert response is exc.response
    assert str(exc) == "server rejected WebSocket connection: HTTP 403"


@pytest.mark.parametrize(
    ("extra", "accept", "omit", "exc_type", "message"),
    [
        (["Connection: keep-alive"], None, "Connection", InvalidUpgrade, "invalid Connection"),
        (["Upgrade: h2c"], None, "Upgrade", InvalidUpgrade, "invalid Upgrade header"),
        (["Upgrade: websocket"], None, "", InvalidUpgrade, "invalid Upgrade header"),
        ([], "", "", InvalidHeaderValue, "empty Sec-WebSocket-Accept header"),
        ([], "x" * 28, "", InvalidHeaderValue, "invalid Sec-WebSocket-Accept header"),
        (["Sec-WebSocket-Accept: again"], None, "", InvalidHeader, "multiple values"),
    ],
)
def test_invalid_101_response(
    extra: list[str], accept: str | None, omit: str, exc_type: type[Exception], message: str
) -> None:
    protocol = make_client()
    data = response_bytes(protocol, *extra, accept=accept, omit=omit)
    exc = fail_with(protocol, data)
    assert isinstance(exc, exc_type)
    assert message in str(exc)
    assert [type(e) for e in protocol.events_received()] == [Response]


def test_missing_upgrade_headers() -> None:
    protocol = make_client()
    data = f"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: {accept_key(protocol.key)}\r\n\r\n"
    exc = fail_with(protocol, data.encode())
    assert str(exc) == "missing Connection header"
    protocol = make_client()
    data = "HTTP/1.1 101 OK\r\nConnection: upgrade\r\n\r\n"
    assert str(fail_with(protocol, data.encode())) == "missing Upgrade header"
    protocol = make_client()
    data = "HTTP/1.1 101 OK\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\n\r\n"
    assert str(fail_with(protocol, data.encode())) == "missing Sec-WebSocket-Accept header"


@pytest.mark.parametrize(
    ("kwargs", "extra", "message"),
    [
        ({}, ["Sec-WebSocket-Extensions: permessage-deflate"], "unsupported extension"),
        (
            {"extensions": [ClientPerMessageDeflateFactory()]},
            ["Sec-WebSocket-Extensions: permessage-deflate; bogus"],
            "unsupported extension",
        ),
        ({}, ["Sec-WebSocket-Protocol: chat"], "unsupported subprotocol: chat"),
        ({"subprotocols": ["a"]}, ["Sec-WebSocket-Protocol: b"], "unsupported subprotocol: b"),
        ({"subprotocols": ["a", "b"]}, ["Sec-WebSocket-Protocol: a, b"], "multiple subprotocols"),
    ],
)
def test_negotiation_failures(kwargs: dict[str, object], extra: list[str], message: str) -> None:
    protocol = make_client(**kwargs)
    exc = fail_with(protocol, response_bytes(protocol, *extra))
    assert isinstance(exc, NegotiationError)
    assert message in str(exc)


class OtherFactory(ClientExtensionFactory):
    """A factory for another extension, which must not see permessage-deflate responses."""

    name = "x-other"

    def get_request_params(self) -> list[tuple[str, str | None]]:
        return []


def test_extension_declined_by_first_factory_is_tried_on_the_next() -> None:
    protocol = make_client(
        extensions=[
            OtherFactory(),
            ClientPerMessageDeflateFactory(client_max_window_bits=None),
            ClientPerMessageDeflateFactory(),
        ]
    )
    extra = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10"
    protocol.receive_data(response_bytes(protocol, extra))
    assert protocol.state is State.OPEN
    assert len(protocol.extensions) == 1


def test_eof_during_response_is_invalid_message_caused_by_eof() -> None:
    protocol = make_client()
    protocol.receive_data(b"HTTP/1.1 101 Switching")
    protocol.receive_eof()
    exc = protocol.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert isinstance(exc.__cause__, EOFError)
    assert protocol.events_received() == []
    assert protocol.data_to_send() == [SEND_EOF]


def test_malformed_response_is_invalid_message() -> None:
    protocol = make_client()
    exc = fail_with(protocol, b"HTTP/1.1 OK\r\n\r\n")
    assert isinstance(exc, InvalidMessage)


def test_status_line_too_long_is_reported_as_is() -> None:
    protocol = make_client()
    exc = fail_with(protocol, b"HTTP/1.1 200 " + b"x" * 9000)
    assert isinstance(exc, StatusLineTooLong)


def test_data_after_failed_handshake_is_ignored() -> None:
    protocol = make_client()
    fail_with(protocol, b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n")
    protocol.events_received()
    protocol.receive_data(b"\x81\x02hi")
    assert protocol.events_received() == []


def test_handshake_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.client.debug")
    logger.setLevel(logging.DEBUG)
    protocol = ClientProtocol(URI, logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.client.debug"):
        protocol.send_request(protocol.connect())
        protocol.receive_data(response_bytes(protocol))
    messages = [r.getMessage() for r in caplog.records]
    assert "> GET /chat?room=1 HTTP/1.1" in messages
    assert "< HTTP/1.1 101 Switching Protocols" in messages
    assert "< Upgrade: websocket" in messages


def test_open_state_skips_the_handshake() -> None:
    protocol = ClientProtocol(URI, state=State.OPEN)
    protocol.receive_data(b"\x81\x02hi")
    assert protocol.events_received() == [Frame(OP_TEXT, b"hi")]
