"""Exception messages: built in ``__str__`` from the attributes they carry."""

from __future__ import annotations

import pytest

from anywebsockets.exceptions import (
    ConcurrencyError,
    ConnectionClosed,
    ConnectionClosedOK,
    DuplicateParameter,
    HeaderLineTooLong,
    InvalidHeader,
    InvalidHeaderFormat,
    InvalidMethod,
    InvalidOrigin,
    InvalidParameterName,
    InvalidParameterValue,
    InvalidProtocol,
    InvalidProxy,
    InvalidProxyStatus,
    InvalidState,
    InvalidStatus,
    InvalidURI,
    PayloadTooBig,
    RequestLineTooLong,
    StatusLineTooLong,
    TooManyHeaders,
)
from anywebsockets.protocol import Close, Headers, Response

BYE = Close(1000, "bye")
OOPS = Close(1011, "oops")


@pytest.mark.parametrize(
    ("exc", "text"),
    [
        (ConnectionClosed(None, None), "no close frame received or sent"),
        (ConnectionClosed(None, BYE), "sent 1000 (OK) bye; no close frame received"),
        (ConnectionClosed(BYE, None), "received 1000 (OK) bye; no close frame sent"),
        (
            ConnectionClosed(BYE, BYE, True),
            "received 1000 (OK) bye; then sent 1000 (OK) bye",
        ),
        (
            ConnectionClosedOK(BYE, OOPS, False),
            "sent 1011 (internal error) oops; then received 1000 (OK) bye",
        ),
        (
            InvalidURI("http://x", "scheme is not ws or wss"),
            "http://x is not a valid WebSocket URI: scheme is not ws or wss",
        ),
        (InvalidProxy("ftp://p", "bad scheme"), "ftp://p is not a valid proxy: bad scheme"),
        (RequestLineTooLong(), "request line too long"),
        (StatusLineTooLong(), "status line too long"),
        (HeaderLineTooLong(), "header line too long"),
        (TooManyHeaders(), "too many HTTP headers"),
        (
            InvalidProxyStatus(Response(407, "Proxy Authentication Required", Headers())),
            "proxy refused the connection: HTTP 407",
        ),
        (InvalidMethod("POST"), "unsupported HTTP method: POST"),
        (InvalidProtocol("HTTP/1.0"), "unsupported HTTP version: HTTP/1.0"),
        (
            InvalidStatus(Response(404, "Not Found", Headers())),
            "server rejected WebSocket connection: HTTP 404",
        ),
        (InvalidHeader("Upgrade"), "missing Upgrade header"),
        (InvalidHeader("Upgrade", ""), "empty Upgrade header"),
        (InvalidHeader("Upgrade", "h2c"), "invalid Upgrade header: h2c"),
        (
            InvalidHeaderFormat("Upgrade", "expected token", "a b", 1),
            "invalid Upgrade header: expected token at 1 in a b",
        ),
        (InvalidOrigin(None), "missing Origin header"),
        (InvalidOrigin("https://evil"), "invalid Origin header: https://evil"),
        (DuplicateParameter("x"), "duplicate parameter: x"),
        (InvalidParameterName("x"), "invalid parameter name: x"),
        (InvalidParameterValue("x", None), "missing value for parameter x"),
        (InvalidParameterValue("x", ""), "empty value for parameter x"),
        (InvalidParameterValue("x", "9"), "invalid value for parameter x: 9"),
        (PayloadTooBig(None), "frame exceeds limit"),
        (PayloadTooBig(None, 100), "frame exceeds limit of 100 bytes"),
        (PayloadTooBig(200, 100), "frame of 200 bytes exceeds limit of 100 bytes"),
        (PayloadTooBig(60, 100, 50), "60 bytes after 50 bytes exceeds limit of 100 bytes"),
        (PayloadTooBig(200, 100, 0), "frame of 200 bytes exceeds limit of 100 bytes"),
    ],
)
def test_messages(exc: Exception, text: str) -> None:
    assert str(exc) == text


def test_connection_closed_keeps_its_frames() -> None:
    exc = ConnectionClosed(BYE, OOPS, True)
    assert (exc.rcvd, exc.sent, exc.rcvd_then_sent) == (BYE, OOPS, True)


def test_rcvd_then_sent_requires_both_frames() -> None:
    with pytest.raises(AssertionError):
        ConnectionClosed(BYE, None, True)


def test_state_and_concurrency_errors_are_builtin_kinds_too() -> None:
    assert issubclass(InvalidState, AssertionError)
    assert issubclass(ConcurrencyError, RuntimeError)
