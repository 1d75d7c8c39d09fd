"""HTTP/1.1 messages of the opening handshake (RFC 6455, section 4; RFC 7230).

The head of a message is read line by line under our own limits, so that a
peer cannot make us buffer more than a bounded amount, then handed whole to
h11, which validates the grammar and the framing headers. Response bodies are
read on top of the same generator-based reader, by ``Content-Length``, by
chunked transfer coding, or up to the end of the stream, under a size limit.
No h11 type or exception leaves this module.

The usual head, a handshake request or a ``101`` response that arrived
whole, takes a shorter way first: :func:`_parse_request_fast` and
:func:`_parse_response_fast` match it in a few regular expression passes, in
a grammar narrower than h11's, and give up on anything else, which the
reader and h11 then accept or refuse as above.

The limits below may be set, before the first import, through the
environment variables ``ANYWEBSOCKETS_MAX_LINE_LENGTH``,
``ANYWEBSOCKETS_MAX_NUM_HEADERS`` and ``ANYWEBSOCKETS_MAX_BODY_SIZE``.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.metadata
import os
import re
import sys
from collections.abc import Callable, Generator

import h11

from ..exceptions import (
    HeaderLineTooLong,
    InvalidHeaderValue,
    InvalidMessage,
    RequestLineTooLong,
    SecurityError,
    StatusLineTooLong,
    TooManyHeaders,
)
from .headers import Headers, _is_field_value, _is_token

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_LINE_LENGTH",
    "MAX_NUM_HEADERS",
    "SERVER",
    "USER_AGENT",
    "Request",
    "Response",
]


def _limit_from_env(name: str, default: int) -> int:
    """Return the positive integer in environment variable ``name``, or ``default``.

    Raises:
        ValueError: the variable is set to something else than a positive
            integer.
    """
    raw = os.environ.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, not {raw!r}")
    return value


def _package_version() -> str:
    try:
        return importlib.metadata.version("anywebsockets")
    except importlib.metadata.PackageNotFoundError:
        return "0"


#: Longest request line, status line, header line or chunk size line, in
#: bytes, not counting the CRLF that ends it.
MAX_LINE_LENGTH = _limit_from_env("ANYWEBSOCKETS_MAX_LINE_LENGTH", 8192)
#: Most header lines in a message (and trailer lines after a chunked body).
MAX_NUM_HEADERS = _limit_from_env("ANYWEBSOCKETS_MAX_NUM_HEADERS", 128)
#: Largest response body kept, in bytes.
MAX_BODY_SIZE = _limit_from_env("ANYWEBSOCKETS_MAX_BODY_SIZE", 1_048_576)

#: Default ``User-Agent`` header of the client.
USER_AGENT = (
    f"Python/{sys.version_info.major}.{sys.version_info.minor} anywebsockets/{_package_version()}"
)
#: Default ``Server`` header of the server.
SERVER = USER_AGENT

#: A reader's ``read_line(m)``: a line ending with LF, at most ``m`` bytes.
ReadLine = Callable[[int], Generator[None, None, bytes]]
#: A reader's ``read_exact(n)``: exactly ``n`` bytes.
ReadExact = Callable[[int], Generator[None, None, bytes]]
#: A reader's ``read_to_eof(m)``: everything up to the end, at most ``m`` bytes.
ReadToEOF = Callable[[int], Generator[None, None, bytes]]

# RFC 7230, section 4.1: chunk-size [ chunk-ext ] CRLF, where the extensions
# are ignored and whitespace before them or before CRLF is tolerated.
_chunk_size_line_re = re.compile(rb"([0-9A-Fa-f]{1,16})(?:[\t ]*;[^\r\n]*)?[\t ]*\r\n")
# RFC 7230, section 3.2: a trailer field, checked loosely since it is dropped.
_trailer_line_re = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*\r\n")
_request_target_re = re.compile(r"[\x21-\x7e]+")
_http_version_re = re.compile(r"HTTP/[0-9]\.[0-9]")

# The usual head of a handshake request or of a 101 response, in a narrower
# grammar than h11's: CRLF line ends, no obsolete line folding, field values
# of visible characters (and obs-text) separated by spaces and tabs, no body.
# The head is decoded as ISO-8859-1 once, then each regular expression runs
# over all of it. What this grammar covers, h11 parses the same way.
_TCHAR = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]"
_FIELD_VALUE = r"(?:[\x21-\x7e\x80-\xff]+(?:[\t ]+[\x21-\x7e\x80-\xff]+)*)?"
_fast_request_line_re = re.compile(rf"({_TCHAR}+) ([\x21-\x7e]+) HTTP/1\.1\r\n")
_fast_status_line_re = re.compile(r"HTTP/1\.1 101(?: ([\t\x20-\x7e\x80-\xff]*))?\r\n")
_fast_fields_re = re.compile(rf"(?:{_TCHAR}+:[\t ]*{_FIELD_VALUE}[\t ]*\r\n)*\r\n")
_fast_field_re = re.compile(rf"({_TCHAR}+):[\t ]*({_FIELD_VALUE})[\t ]*\r\n")


@dataclasses.dataclass
class Request:
    """An HTTP request, such as the opening handshake request.

    Attributes:
        path: the request target as sent, such as ``/chat?room=1``.
        headers: the header fields.
        method: the method; a handshake needs ``GET``, which the server
            handshake checks, not the parser.
        protocol: the HTTP version, such as ``HTTP/1.1``; checked by the
            server handshake too.
    """

    path: str
    headers: Headers
    method: str = "GET"
    protocol: str = "HTTP/1.1"

    @classmethod
    def parse(cls, read_line: ReadLine) -> Generator[None, None, Request]:
        """Parse a request head; the bytes after it stay in the reader.

        Each line may be at most :data:`MAX_LINE_LENGTH` bytes long without
        its CRLF, and there may be at most :data:`MAX_NUM_HEADERS` header
        lines. A request with a body is refused: a handshake request has none.

        Args:
            read_line: :meth:`StreamReader.read_line` or the like.
        Returns:
            The request.
        Raises:
            EOFError: the stream ended before the end of the head.
            RequestLineTooLong: the request line is over the limit.
            HeaderLineTooLong: a header line is over the limit.
            TooManyHeaders: there are more header lines than the limit.
            InvalidMessage: the head is malformed, or announces a body.
        """
        head = yield from _read_head(read_line, RequestLineTooLong, "request line")
        event = _parse_head(h11.Connection(h11.SERVER), head, "request")
        if not isinstance(event, h11.Request):
            raise AssertionError(f"unexpected h11 event: {event!r}")
        headers = _convert_headers(event.headers.raw_items())
        if "Transfer-Encoding" in headers or any(
            int(value) != 0 for value in headers.get_all("Content-Length")
        ):
            raise InvalidMessage("unsupported HTTP request body")
        return cls(
            path=event.target.decode("ascii"),
            headers=headers,
            method=event.method.decode("ascii"),
            protocol="HTTP/" + event.http_version.decode("ascii"),
        )

    def serialize(self) -> bytes:
        """Return the request as it goes on the wire.

        Raises:
            ValueError: the method is not a token, the path is empty or holds
                spaces, control or non-ASCII characters, or the protocol is
                not ``HTTP/x.y``.
        """
        if not _is_token(self.method):
            raise ValueError(f"invalid HTTP method: {self.method!r}")
        if not _request_target_re.fullmatch(self.path):
            raise ValueError(f"invalid HTTP request target: {self.path!r}")
        if not _http_version_re.fullmatch(self.protocol):
            raise ValueError(f"invalid HTTP version: {self.protocol!r}")
        request_line = f"{self.method} {self.path} {self.protocol}\r\n"
        return request_line.encode("ascii") + self.headers.serialize()


@dataclasses.dataclass
class Response:
    """An HTTP response, such as the opening handshake response.

    Attributes:
        status_code: the status code, such as 101.
        reason_phrase: the reason phrase, such as ``Switching Protocols``.
        headers: the header fields.
        body: the body, for responses that have one, such as error pages.
    """

    status_code: int
    reason_phrase: str
    headers: Headers
    body: bytes = b""

    @classmethod
    def parse(
        cls,
        read_line: ReadLine,
        read_exact: ReadExact,
        read_to_eof: ReadToEOF,
        proxy: bool = False,
    ) -> Generator[None, None, Response]:
        """Parse a response to a handshake request, or to a proxy's CONNECT.

        The head follows the limits of :meth:`Request.parse`. The status line
        must say ``HTTP/1.1`` (or ``HTTP/1.0`` when ``proxy`` is true) and the
        status code must be within 100-599.

        Without ``proxy``, the response answers a ``GET`` asking for an
        upgrade: 1xx, 204 and 304 responses have no body; other bodies are
        read by ``Content-Length``, by chunked transfer coding (trailer fields
        are read and dropped) or up to the end of the stream, at most
        :data:`MAX_BODY_SIZE` bytes. With ``proxy``, the response answers a
        ``CONNECT`` and no body is read: what follows is the tunnel, or
        nothing worth reading. Bytes after the message stay in the reader.

        Args:
            read_line: :meth:`StreamReader.read_line` or the like.
            read_exact: :meth:`StreamReader.read_exact` or the like.
            read_to_eof: :meth:`StreamReader.read_to_eof` or the like.
            proxy: whether this answers a ``CONNECT`` sent to a proxy.
        Returns:
            The response.
        Raises:
            EOFError: the stream ended before the end of the message.
            StatusLineTooLong: the status line is over the limit.
            HeaderLineTooLong: a header or trailer line is over the limit.
            TooManyHeaders: there are more header or trailer lines than the
                limit.
            SecurityError: the body is larger than :data:`MAX_BODY_SIZE`, or
                a chunk size line is over the line limit.
            InvalidMessage: the message is malformed.
        """
        head = yield from _read_head(read_line, StatusLineTooLong, "status line")
        connection = _client_connection(proxy)
        event = _parse_head(connection, head, "response")
        if not isinstance(event, h11.Response | h11.InformationalResponse):
            raise AssertionError(f"unexpected h11 event: {event!r}")
        version = event.http_version.decode("ascii")
        if version != "1.1" and not (proxy and version == "1.0"):
            raise InvalidMessage(f"unsupported HTTP version: HTTP/{version}")
        status_code = event.status_code
        if not 100 <= status_code < 600:
            raise InvalidMessage(f"invalid HTTP status code: {status_code}")
        headers = _convert_headers(event.headers.raw_items())
        if proxy or status_code < 200 or status_code in (204, 304):
            body = b""
        else:
            body = yield from _read_body(headers, read_line, read_exact, read_to_eof)
        return cls(status_code, event.reason.decode("iso-8859-1"), headers, body)

    def serialize(self) -> bytes:
        """Return the response as it goes on the wire, body included.

        The status line always says ``HTTP/1.1``. Framing the body, with a
        ``Content-Length`` header for instance, is up to whoever built the
        response.

        Raises:
            ValueError: the status code is not within 100-599, or the reason
                phrase holds control characters other than tab or characters
                beyond ``U+00FF``.
        """
        if not 100 <= self.status_code < 600:
            raise ValueError(f"invalid HTTP status code: {self.status_code!r}")
        if not _is_field_value(self.reason_phrase):
            raise ValueError(f"invalid HTTP reason phrase: {self.reason_phrase!r}")
        status_line = f"HTTP/1.1 {self.status_code:d} {self.reason_phrase}\r\n"
        return status_line.encode("iso-8859-1") + self.headers.serialize() + self.body


def _parse_request_fast(buffer: bytearray) -> Request | None:
    """Parse a usual handshake request from ``buffer`` at once, without h11.

    When ``buffer`` starts with a complete ``HTTP/1.1`` request head in the
    narrow grammar above, within the limits, with one ``Host`` header and
    neither ``Content-Length`` nor ``Transfer-Encoding``, remove the head from
    ``buffer`` and return the request, equal to what :meth:`Request.parse`
    returns for it. Otherwise leave ``buffer`` as it is and return ``None``:
    then :meth:`Request.parse` decides, and refuses what it must with its own
    errors. This function never refuses anything itself.
    """
    parsed = _parse_head_fast(buffer, _fast_request_line_re)
    if parsed is None:
        return None
    start_line, headers, end = parsed
    if (
        len(headers.get_all("Host")) != 1  # h11 requires exactly one
        or "Content-Length" in headers
        or "Transfer-Encoding" in headers
    ):
        return None
    del buffer[:end]
    return Request(start_line[2], headers, start_line[1], "HTTP/1.1")


def _parse_response_fast(buffer: bytearray) -> Response | None:
    """Parse a usual ``101 Switching Protocols`` response from ``buffer`` at once.

    The counterpart of :func:`_parse_request_fast` for :meth:`Response.parse`
    without ``proxy``: a complete ``HTTP/1.1 101`` head in the narrow grammar,
    within the limits, with neither ``Content-Length`` nor
    ``Transfer-Encoding``, is removed from ``buffer`` and returned as the
    response :meth:`Response.parse` would return; anything else leaves
    ``buffer`` alone and returns ``None``.
    """
    parsed = _parse_head_fast(buffer, _fast_status_line_re)
    if parsed is None:
        return None
    status_line, headers, end = parsed
    if "Content-Length" in headers or "Transfer-Encoding" in headers:
        return None
    del buffer[:end]
    return Response(101, status_line[1] or "", headers)


def _parse_head_fast(
    buffer: bytearray, start_line_re: re.Pattern[str]
) -> tuple[re.Match[str], Headers, int] | None:
    """Match a complete head at the start of ``buffer``; ``None`` if it does not fit.

    Returns:
        The start line's match, the headers, and the length of the head.
    """
    end = buffer.find(b"\r\n\r\n") + 4
    if end < 4:
        return None
    head = buffer[:end].decode("iso-8859-1")
    start_line = start_line_re.match(head)
    if start_line is None:
        return None
    fields_start = start_line.end()
    if not _fast_fields_re.fullmatch(head, fields_start):
        return None
    # A head shorter than the line limit cannot have a line over it.
    if end > MAX_LINE_LENGTH + 2 and max(map(len, head.split("\r\n"))) > MAX_LINE_LENGTH:
        return None
    fields: list[tuple[str, str]] = _fast_field_re.findall(head, fields_start)
    if len(fields) > MAX_NUM_HEADERS:
        return None
    return start_line, Headers._from_checked(fields), end


def _read_line(
    read_line: ReadLine, too_long: Callable[[], SecurityError], what: str
) -> Generator[None, None, bytes]:
    """Read one line ending with CRLF, at most :data:`MAX_LINE_LENGTH` bytes before it.

    Raises:
        EOFError: the stream ended first.
        SecurityError: what ``too_long`` returns, for a line over the limit.
        InvalidMessage: the line ends with a bare LF.
    """
    try:
        line = yield from read_line(MAX_LINE_LENGTH + 2)
    except EOFError as exc:
        raise EOFError(f"connection closed while reading {what}") from exc
    except RuntimeError as exc:
        raise too_long() from exc
    if not line.endswith(b"\r\n"):
        raise InvalidMessage(f"{what} ends with LF instead of CRLF")
    return line


def _read_fields(read_line: ReadLine, what: str) -> Generator[None, None, list[bytes]]:
    """Read field lines, up to and including the empty line that ends them.

    Raises:
        EOFError: the stream ended first.
        HeaderLineTooLong: a line is over the limit.
        TooManyHeaders: there are more than :data:`MAX_NUM_HEADERS` fields.
        InvalidMessage: a line ends with a bare LF.
    """
    lines = []
    for _ in range(MAX_NUM_HEADERS + 1):
        line = yield from _read_line(read_line, HeaderLineTooLong, what)
        lines.append(line)
        if line == b"\r\n":
            return lines
    raise TooManyHeaders()


def _read_head(
    read_line: ReadLine, first_too_long: Callable[[], SecurityError], first: str
) -> Generator[None, None, bytes]:
    """Read a start line and the header block after it, as one bytes object."""
    start_line = yield from _read_line(read_line, first_too_long, f"HTTP {first}")
    lines = yield from _read_fields(read_line, "HTTP headers")
    return start_line + b"".join(lines)


def _client_connection(proxy: bool) -> h11.Connection:
    """Return an h11 client that sent the request a response will answer.

    h11 judges a response by the request it answers: a 101 is only valid
    after a request asking for an upgrade, and a 2xx answering a CONNECT
    opens a tunnel. The names of the hosts do not matter.
    """
    connection = h11.Connection(h11.CLIENT)
    if proxy:
        target = "proxy.invalid:443"
        request = h11.Request(method="CONNECT", target=target, headers=[("Host", target)])
    else:
        upgrade = [("Host", "server.invalid"), ("Connection", "Upgrade"), ("Upgrade", "websocket")]
        request = h11.Request(method="GET", target="/", headers=upgrade)
    connection.send(request)
    connection.send(h11.EndOfMessage())
    return connection


def _parse_head(connection: h11.Connection, head: bytes, what: str) -> object:
    """Let h11 parse a complete head and return its first event.

    Raises:
        InvalidMessage: h11 found the head malformed.
    """
    connection.receive_data(head)
    try:
        return connection.next_event()
    except h11.ProtocolError as exc:
        raise InvalidMessage(f"invalid HTTP {what}: {exc}") from exc


def _convert_headers(fields: list[tuple[bytes, bytes]]) -> Headers:
    """Turn h11's header list into :class:`Headers`, names as sent.

    Raises:
        InvalidMessage: a value holds control characters, which h11 lets by.
    """
    headers = Headers()
    for raw_name, raw_value in fields:
        try:
            headers[raw_name.decode("ascii")] = raw_value.decode("iso-8859-1")
        except InvalidHeaderValue as exc:
            raise InvalidMessage(f"invalid HTTP header value: {raw_value[:64]!r}") from exc
    return headers


def _read_body(
    headers: Headers, read_line: ReadLine, read_exact: ReadExact, read_to_eof: ReadToEOF
) -> Generator[None, None, bytes]:
    """Read a response body framed as RFC 7230, section 3.3.3 says.

    h11 already checked that ``Transfer-Encoding``, when present, is exactly
    ``chunked``, and that ``Content-Length`` is one number.

    Raises:
        EOFError: the stream ended before the announced end of the body.
        SecurityError: the body is over :data:`MAX_BODY_SIZE`, or a chunk
            size line is over the line limit.
        HeaderLineTooLong, TooManyHeaders: the trailer is over the limits.
        InvalidMessage: the chunked framing is malformed.
    """
    if "Transfer-Encoding" in headers:
        return (yield from _read_chunked(read_line, read_exact))
    lengths = headers.get_all("Content-Length")
    if lengths:
        size = int(lengths[0])
        if size > MAX_BODY_SIZE:
            raise SecurityError(f"body too large: {size} bytes, limit {MAX_BODY_SIZE}")
        try:
            return (yield from read_exact(size))
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP body") from exc
    try:
        return (yield from read_to_eof(MAX_BODY_SIZE))
    except RuntimeError as exc:
        raise SecurityError(f"body too large: over {MAX_BODY_SIZE} bytes") from exc


def _read_chunked(read_line: ReadLine, read_exact: ReadExact) -> Generator[None, None, bytes]:
    """Read a body in chunked transfer coding (RFC 7230, section 4.1)."""
    chunk_line_too_long = functools.partial(SecurityError, "chunk size line too long")
    body = bytearray()
    while True:
        line = yield from _read_line(read_line, chunk_line_too_long, "chunk size")
        match = _chunk_size_line_re.fullmatch(line)
        if match is None:
            raise InvalidMessage(f"invalid chunk size line: {line[:64]!r}")
        size = int(match[1], 16)
        if size == 0:
            break
        if len(body) + size > MAX_BODY_SIZE:
            raise SecurityError(
                f"body too large: {len(body) + size} bytes or more, limit {MAX_BODY_SIZE}"
            )
        try:
            chunk = yield from read_exact(size + 2)
        except EOFError as exc:
            raise EOFError("connection closed while reading HTTP body") from exc
        if not chunk.endswith(b"\r\n"):
            raise InvalidMessage("chunk data does not end with CRLF")
        body += chunk[:-2]
    trailer = yield from _read_fields(read_line, "chunked trailer")
    for line in trailer[:-1]:
        if not _trailer_line_re.fullmatch(line):
            raise InvalidMessage(f"invalid trailer line: {line[:64]!r}")
    return bytes(body)
