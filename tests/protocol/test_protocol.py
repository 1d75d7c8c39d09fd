"""The connection state machine (RFC 6455, sections 5, 6 and 7): bytes in, events and bytes out."""

from __future__ import annotations

import logging
import random
import struct
import zlib

import pytest

from anywebsockets.exceptions import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidState,
    PayloadTooBig,
    ProtocolError,
)
from anywebsockets.protocol.frames import (
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    Frame,
)
from anywebsockets.protocol.permessage_deflate import PerMessageDeflate
from anywebsockets.protocol.protocol import SEND_EOF, Protocol, Side, State

MASK = b"\x37\xfa\x21\x3d"


def wire(
    opcode: int,
    data: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    masked: bool = True,
) -> bytes:
    """Build a frame by hand, independently of the serializer under test."""
    head = bytes([(0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode])
    mask_bit = 0x80 if masked else 0
    if len(data) < 126:
        head += bytes([mask_bit | len(data)])
    elif len(data) < 65536:
        head += bytes([mask_bit | 126]) + struct.pack("!H", len(data))
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", len(data))
    if masked:
        data = bytes(b ^ MASK[i % 4] for i, b in enumerate(data))
        head += MASK
    return head + data


def close_payload(code: int, reason: str = "") -> bytes:
    return struct.pack("!H", code) + reason.encode()


def unmask(data: bytes) -> Frame:
    """Parse one frame written by a client (masked) for inspection."""
    from anywebsockets.protocol.frames import parse_frame

    parsed = parse_frame(data, 0, mask=True, max_size=None)
    assert parsed is not None
    frame, end = parsed
    assert end == len(data)
    return frame


def server() -> Protocol:
    return Protocol(Side.SERVER)


def client() -> Protocol:
    return Protocol(Side.CLIENT)


def sent_close(protocol: Protocol) -> Close | None:
    """Return the close frame in the bytes a server wrote, if any."""
    for data in protocol.data_to_send():
        if data and data[0] & 0x0F == OP_CLOSE:
            return Close.parse(data[2:])
    return None


# Receiving data frames.


def test_server_receives_masked_text() -> None:
    """RFC 6455 5.7: a masked "Hello"."""
    protocol = server()
    protocol.receive_data(bytes.fromhex("818537fa213d7f9f4d5158"))
    [frame] = protocol.events_received()
    assert frame == Frame(OP_TEXT, b"Hello")
    assert protocol.data_to_send() == []


def test_client_receives_unmasked_binary() -> None:
    protocol = client()
    protocol.receive_data(wire(OP_BINARY, b"\x00\xff", masked=False))
    assert protocol.events_received() == [Frame(OP_BINARY, b"\x00\xff")]


def test_frames_fed_byte_by_byte_and_in_one_chunk_agree() -> None:
    data = wire(OP_TEXT, b"spam", fin=False) + wire(OP_PING, b"x") + wire(OP_CONT, b"eggs")
    data += wire(OP_BINARY, bytes(300))
    whole = server()
    whole.receive_data(data)
    piecewise = server()
    events = []
    for i in range(len(data)):
        piecewise.receive_data(data[i : i + 1])
        events += piecewise.events_received()
    assert events == whole.events_received()
    assert [e.opcode for e in events if isinstance(e, Frame)] == [
        OP_TEXT,
        OP_PING,
        OP_CONT,
        OP_BINARY,
    ]


def test_server_rejects_unmasked_frame() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"hi", masked=False))
    assert protocol.events_received() == []
    writes = protocol.data_to_send()
    assert Close.parse(writes[0][2:]).code == 1002
    assert writes[-1] == SEND_EOF
    assert protocol.state is State.CLOSING


def test_client_rejects_masked_frame() -> None:
    protocol = client()
    protocol.receive_data(wire(OP_TEXT, b"hi"))
    [data] = protocol.data_to_send()
    assert unmask(data).opcode is OP_CLOSE
    assert Close.parse(unmask(data).data).code == 1002
    # A client waits for the server to close the TCP connection.
    assert protocol.close_expected()


def test_unexpected_continuation_is_a_protocol_error() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_CONT, b"x"))
    assert sent_close(protocol) == Close(1002, "unexpected continuation frame")


def test_new_message_inside_fragmented_message_is_a_protocol_error() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"a", fin=False) + wire(OP_TEXT, b"b"))
    assert len(protocol.events_received()) == 1
    assert sent_close(protocol) == Close(1002, "expected a continuation frame")


def test_reserved_bits_without_extension_are_a_protocol_error() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"x", rsv1=True))
    close = sent_close(protocol)
    assert close is not None and close.code == 1002


def test_data_after_discarding_is_ignored() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_CONT, b"x"))
    protocol.data_to_send()
    protocol.receive_data(wire(OP_TEXT, b"ignored"))
    assert protocol.events_received() == []
    assert protocol.data_to_send() == []


# UTF-8 (RFC 6455 8.1).


def test_invalid_utf8_text_closes_with_1007() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"\xff"))
    assert protocol.events_received() == []
    close = sent_close(protocol)
    assert close is not None and close.code == 1007


def test_invalid_utf8_fails_on_the_fragment_that_carries_it() -> None:
    """Fail fast: the message is not complete yet when the connection fails."""
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"caf", fin=False))
    assert len(protocol.events_received()) == 1
    protocol.receive_data(wire(OP_CONT, b"\xc3\x28", fin=False))
    assert protocol.events_received() == []
    close = sent_close(protocol)
    assert close is not None and close.code == 1007


def test_utf8_sequence_split_across_fragments_is_valid() -> None:
    protocol = server()
    data = "é".encode()
    protocol.receive_data(wire(OP_TEXT, data[:1], fin=False) + wire(OP_CONT, data[1:]))
    assert len(protocol.events_received()) == 2
    assert protocol.data_to_send() == []


def test_truncated_utf8_at_end_of_message_closes_with_1007() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"\xe2\x82", fin=False) + wire(OP_CONT, b""))
    close = sent_close(protocol)
    assert close is not None and close.code == 1007


def test_binary_is_not_decoded() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_BINARY, b"\xff", fin=False) + wire(OP_CONT, b"\xfe"))
    assert len(protocol.events_received()) == 2


# max_size (1009).


def test_frame_over_max_size_fails_before_its_payload_arrives() -> None:
    protocol = Protocol(Side.SERVER, max_size=100)
    data = wire(OP_BINARY, bytes(101))
    protocol.receive_data(data[:8])  # header and mask only
    close = sent_close(protocol)
    assert close is not None and close.code == 1009
    assert "101" in close.reason


def test_fragmented_message_over_max_size() -> None:
    protocol = Protocol(Side.SERVER, max_size=100)
    protocol.receive_data(wire(OP_BINARY, bytes(60), fin=False))
    protocol.receive_data(wire(OP_CONT, bytes(60)))
    close = sent_close(protocol)
    assert close is not None and close.code == 1009
    assert protocol.events_received()[0].opcode is OP_BINARY


def test_message_of_exactly_max_size_is_accepted() -> None:
    protocol = Protocol(Side.SERVER, max_size=100)
    protocol.receive_data(wire(OP_BINARY, bytes(50), fin=False) + wire(OP_CONT, bytes(50)))
    assert len(protocol.events_received()) == 2
    protocol.receive_data(wire(OP_BINARY, bytes(100)))
    assert len(protocol.events_received()) == 1
    assert protocol.data_to_send() == []


def test_max_size_none_disables_the_limit() -> None:
    protocol = Protocol(Side.SERVER, max_size=None)
    protocol.receive_data(wire(OP_BINARY, bytes(70000)))
    assert len(protocol.events_received()) == 1


def test_fragment_limit_fails_a_long_frame_before_its_payload() -> None:
    """A ``(message, fragment)`` pair: each frame is held to the fragment limit."""
    protocol = Protocol(Side.SERVER, max_size=(1000, 100))
    assert (protocol.max_size, protocol.max_fragment_size) == (1000, 100)
    protocol.receive_data(wire(OP_BINARY, bytes(101))[:8])
    close = sent_close(protocol)
    assert close is not None and close.code == 1009
    assert close.reason == "frame of 101 bytes exceeds limit of 100 bytes"


def test_fragment_limit_allows_long_messages_in_short_frames() -> None:
    protocol = Protocol(Side.SERVER, max_size=(None, 100))
    frames = [wire(OP_TEXT, b"a" * 100, fin=False)]
    frames += [wire(OP_CONT, b"a" * 100, fin=False)] * 50
    frames += [wire(OP_CONT, b"a" * 100)]
    protocol.receive_data(b"".join(frames))
    assert len(protocol.events_received()) == 52
    assert protocol.data_to_send() == []


def test_message_limit_still_applies_with_a_fragment_limit() -> None:
    protocol = Protocol(Side.SERVER, max_size=(150, 100))
    protocol.receive_data(wire(OP_BINARY, bytes(100), fin=False))
    protocol.receive_data(wire(OP_CONT, bytes(60))[:8])
    close = sent_close(protocol)
    assert close is not None and close.code == 1009
    assert close.reason == "60 bytes after 100 bytes exceeds limit of 150 bytes"


def test_message_limit_none_in_a_pair() -> None:
    protocol = Protocol(Side.SERVER, max_size=(None, None))
    protocol.receive_data(wire(OP_BINARY, bytes(70000)))
    assert len(protocol.events_received()) == 1


@pytest.mark.parametrize(
    ("limits", "reason"),
    [
        ((1000, 100), "frame exceeds limit of 100 bytes"),
        ((None, 100), "frame exceeds limit of 100 bytes"),
        ((150, 1000), "frame exceeds limit of 150 bytes"),
    ],
)
def test_fragment_limit_applies_after_decompression(
    limits: tuple[int | None, int], reason: str
) -> None:
    protocol = Protocol(Side.SERVER, max_size=limits)
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_BINARY, compress(bytes(200)), rsv1=True))
    assert protocol.events_received() == []
    close = sent_close(protocol)
    assert close is not None and close.code == 1009
    assert close.reason == reason


def deflate_extension() -> PerMessageDeflate:
    return PerMessageDeflate(False, False, 15, 15)


def compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-15)
    return (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]


def test_incompressible_message_of_max_size_is_accepted_compressed() -> None:
    """API.md: max_size applies after decompression, not to the compressed payload."""
    payload = random.Random(42).randbytes(1000)
    compressed = compress(payload)
    assert len(compressed) > 1000
    protocol = Protocol(Side.SERVER, max_size=1000)
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_BINARY, compressed, rsv1=True))
    [frame] = protocol.events_received()
    assert frame.data == payload
    assert protocol.data_to_send() == []


def test_decompression_bomb_closes_with_1009() -> None:
    bomb = compress(bytes(10_000_000))
    assert len(bomb) < 20_000
    protocol = Protocol(Side.SERVER, max_size=2**20)
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_BINARY, bomb, rsv1=True))
    assert protocol.events_received() == []
    close = sent_close(protocol)
    assert close is not None and close.code == 1009


def test_compressed_fragments_count_toward_max_size() -> None:
    protocol = Protocol(Side.SERVER, max_size=100)
    protocol.extensions = [deflate_extension()]
    compressor = zlib.compressobj(wbits=-15)
    first = compressor.compress(bytes(80)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    second = (compressor.compress(bytes(80)) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    protocol.receive_data(wire(OP_BINARY, first, rsv1=True, fin=False))
    protocol.receive_data(wire(OP_CONT, second))
    close = sent_close(protocol)
    assert close is not None and close.code == 1009


def test_compressed_text_is_validated_after_decompression() -> None:
    protocol = Protocol(Side.SERVER)
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_TEXT, compress("héllo".encode()), rsv1=True))
    [frame] = protocol.events_received()
    assert frame.data == "héllo".encode()
    protocol.receive_data(wire(OP_TEXT, compress(b"\xff\xfe"), rsv1=True))
    close = sent_close(protocol)
    assert close is not None and close.code == 1007


def test_unexpected_error_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(PerMessageDeflate):
        def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
            raise RuntimeError("bug")

    protocol = server()
    protocol.extensions = [Broken(False, False, 15, 15)]
    with caplog.at_level(logging.ERROR):
        protocol.receive_data(wire(OP_TEXT, b"x"))
    assert sent_close(protocol) == Close(1011, "RuntimeError")
    assert "unexpected error" in caplog.text


# Control frames.


def test_ping_is_answered_with_the_same_payload() -> None:
    protocol = client()
    protocol.receive_data(wire(OP_PING, b"abc", masked=False))
    assert protocol.events_received() == [Frame(OP_PING, b"abc")]
    [data] = protocol.data_to_send()
    assert unmask(data) == Frame(OP_PONG, b"abc")


def test_ping_inside_fragmented_message() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"a", fin=False) + wire(OP_PING) + wire(OP_CONT, b"b"))
    assert [e.opcode for e in protocol.events_received()] == [OP_TEXT, OP_PING, OP_CONT]
    assert protocol.data_to_send() == [bytes([0x8A, 0])]


def test_ping_after_close_sent_is_not_answered() -> None:
    protocol = server()
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.receive_data(wire(OP_PING, b"x"))
    assert protocol.events_received() == [Frame(OP_PING, b"x")]
    assert protocol.data_to_send() == []


def test_pong_is_reported_and_not_answered() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_PONG, b"x"))
    assert protocol.events_received() == [Frame(OP_PONG, b"x")]
    assert protocol.data_to_send() == []


def test_oversized_control_frame_is_a_protocol_error() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_PING, bytes(126)))
    close = sent_close(protocol)
    assert close is not None and close.code == 1002


# Closing handshake (RFC 6455 7).


def test_server_echoes_close_then_closes_tcp() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_CLOSE, close_payload(1000, "bye")))
    [event] = protocol.events_received()
    assert event.opcode is OP_CLOSE
    assert protocol.data_to_send() == [bytes([0x88, 5]) + close_payload(1000, "bye"), SEND_EOF]
    assert protocol.state is State.CLOSING
    assert protocol.close_code is None
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1000
    assert protocol.close_reason == "bye"
    assert protocol.data_to_send() == []
    assert isinstance(protocol.close_exc, ConnectionClosedOK)
    assert protocol.close_exc.rcvd_then_sent is True


def test_client_starts_closing_and_waits_for_the_server() -> None:
    protocol = client()
    protocol.send_close(1001, "going")
    [data] = protocol.data_to_send()
    assert unmask(data) == Frame(OP_CLOSE, close_payload(1001, "going"))
    assert protocol.state is State.CLOSING
    assert protocol.close_expected()
    protocol.receive_data(wire(OP_CLOSE, close_payload(1000), masked=False))
    assert protocol.data_to_send() == []
    protocol.receive_eof()
    assert protocol.data_to_send() == [SEND_EOF]
    assert protocol.state is State.CLOSED
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedOK)
    assert exc.rcvd_then_sent is False
    assert exc.sent == Close(1001, "going")


def test_close_without_payload_is_echoed_without_payload() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_CLOSE))
    assert protocol.data_to_send() == [bytes([0x88, 0]), SEND_EOF]
    protocol.receive_eof()
    assert protocol.close_code == 1005
    assert isinstance(protocol.close_exc, ConnectionClosedOK)


def test_send_close_without_code() -> None:
    protocol = server()
    protocol.send_close()
    assert protocol.data_to_send() == [bytes([0x88, 0])]
    assert protocol.close_sent == Close(1005, "")


def test_close_with_error_code_gives_connection_closed_error() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_CLOSE, close_payload(1011, "oops")))
    protocol.receive_eof()
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert str(exc) == "received 1011 (internal error) oops; then sent 1011 (internal error) oops"


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"\x03", 1002),  # one byte
        (close_payload(999), 1002),
        (close_payload(1005), 1002),
        (close_payload(1006), 1002),
        (close_payload(5000), 1002),
        (close_payload(1000) + b"\xff", 1007),
    ],
)
def test_invalid_close_payload(payload: bytes, code: int) -> None:
    protocol = server()
    protocol.receive_data(wire(OP_CLOSE, payload))
    close = sent_close(protocol)
    assert close is not None and close.code == code


def test_frame_after_close_is_a_protocol_error() -> None:
    protocol = client()
    protocol.send_close(1000)
    protocol.data_to_send()
    data = wire(OP_CLOSE, close_payload(1000), masked=False) + wire(OP_TEXT, b"x", masked=False)
    protocol.receive_data(data)
    assert [e.opcode for e in protocol.events_received()] == [OP_CLOSE]
    assert protocol.data_to_send() == []


def test_data_received_while_closing_is_delivered() -> None:
    protocol = server()
    protocol.send_close(1000)
    protocol.receive_data(wire(OP_TEXT, b"late"))
    assert protocol.events_received() == [Frame(OP_TEXT, b"late")]


def test_eof_without_close_frame_is_abnormal() -> None:
    protocol = client()
    protocol.receive_data(wire(OP_TEXT, b"partial", masked=False)[:3])
    protocol.receive_eof()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006
    assert protocol.close_reason == ""
    assert protocol.data_to_send() == [SEND_EOF]
    exc = protocol.close_exc
    assert isinstance(exc, ConnectionClosedError)
    assert exc.rcvd is None and exc.sent is None


def test_eof_on_server_does_not_send_eof() -> None:
    protocol = server()
    protocol.receive_eof()
    assert protocol.data_to_send() == []
    assert protocol.state is State.CLOSED


def test_receiving_after_eof_raises() -> None:
    protocol = server()
    protocol.receive_eof()
    with pytest.raises(EOFError):
        protocol.receive_data(b"x")
    with pytest.raises(EOFError):
        protocol.receive_eof()


def test_close_code_and_reason_are_none_until_closed() -> None:
    protocol = server()
    assert protocol.close_code is None
    assert protocol.close_reason is None
    assert not protocol.close_expected()


def test_fail_sends_close_then_server_closes_tcp() -> None:
    protocol = server()
    protocol.fail(1011, "crash")
    assert protocol.data_to_send() == [bytes([0x88, 7]) + close_payload(1011, "crash"), SEND_EOF]
    assert protocol.state is State.CLOSING


def test_fail_after_close_received_records_the_order() -> None:
    protocol = server()
    protocol.close_rcvd = Close(1000, "")
    protocol.fail(1002)
    assert protocol.close_rcvd_then_sent is True


def test_fail_with_1006_sends_nothing() -> None:
    protocol = client()
    protocol.fail(1006)
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN


def test_fail_while_closing_sends_no_second_close() -> None:
    protocol = server()
    protocol.send_close(1000)
    protocol.data_to_send()
    protocol.fail(1002)
    assert protocol.data_to_send() == [SEND_EOF]


def test_send_eof_twice_raises() -> None:
    protocol = server()
    protocol.send_eof()
    with pytest.raises(EOFError):
        protocol.send_eof()


# Sending.


def test_client_masks_and_server_does_not() -> None:
    sent = client()
    sent.send_binary(b"data")
    [data] = sent.data_to_send()
    assert data[1] & 0x80
    assert unmask(data) == Frame(OP_BINARY, b"data")
    plain = server()
    plain.send_text(b"data")
    assert plain.data_to_send() == [wire(OP_TEXT, b"data", masked=False)]


def test_send_fragmented_message() -> None:
    protocol = server()
    protocol.send_text(b"a", fin=False)
    protocol.send_continuation(b"b", fin=False)
    protocol.send_continuation(b"c", fin=True)
    assert protocol.data_to_send() == [
        wire(OP_TEXT, b"a", fin=False, masked=False),
        wire(OP_CONT, b"b", fin=False, masked=False),
        wire(OP_CONT, b"c", masked=False),
    ]
    with pytest.raises(ProtocolError):
        protocol.send_continuation(b"d", fin=True)


def test_send_new_message_while_fragmenting_raises() -> None:
    protocol = server()
    protocol.send_binary(b"a", fin=False)
    with pytest.raises(ProtocolError):
        protocol.send_binary(b"b")
    with pytest.raises(ProtocolError):
        protocol.send_text(b"b")


def test_ping_and_pong_while_closing_are_allowed() -> None:
    protocol = server()
    protocol.send_close(1000)
    protocol.send_ping(b"p")
    protocol.send_pong(b"q")
    assert protocol.data_to_send()[1:] == [
        wire(OP_PING, b"p", masked=False),
        wire(OP_PONG, b"q", masked=False),
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.send_text(b""),
        lambda p: p.send_binary(b""),
        lambda p: p.send_continuation(b"", fin=True),
        lambda p: p.send_close(),
    ],
)
def test_data_and_close_need_an_open_connection(call: object) -> None:
    protocol = server()
    protocol.send_close(1000)
    with pytest.raises(InvalidState, match="connection is closing"):
        call(protocol)  # type: ignore[operator]


def test_control_frames_need_an_open_or_closing_connection() -> None:
    protocol = Protocol(Side.SERVER, state=State.CONNECTING)
    with pytest.raises(InvalidState, match="connection is connecting"):
        protocol.send_ping(b"")
    with pytest.raises(InvalidState):
        protocol.send_pong(b"")


def test_send_close_with_invalid_arguments() -> None:
    protocol = server()
    with pytest.raises(ProtocolError):
        protocol.send_close(None, "reason without code")
    with pytest.raises(ProtocolError):
        protocol.send_close(1005)
    assert protocol.state is State.OPEN


def test_sent_frames_go_through_extensions() -> None:
    protocol = server()
    protocol.extensions = [deflate_extension()]
    protocol.send_text(b"a" * 1000)
    [data] = protocol.data_to_send()
    assert data[0] & 0x40  # rsv1: compressed
    assert len(data) < 100


# Logging.


def test_frames_are_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.protocol.debug")
    logger.setLevel(logging.DEBUG)
    protocol = Protocol(Side.SERVER, logger=logger)
    with caplog.at_level(logging.DEBUG, logger="test.protocol.debug"):
        protocol.receive_data(wire(OP_TEXT, b"hello"))
        protocol.send_text(b"world")
        protocol.receive_eof()
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("< ") and "hello" in m for m in messages)
    assert any(m.startswith("> ") and "world" in m for m in messages)
    assert "< EOF before the closing handshake" in messages


def test_default_loggers_follow_the_side() -> None:
    assert Protocol(Side.SERVER).logger.name == "anywebsockets.server"
    assert Protocol(Side.CLIENT).logger.name == "anywebsockets.client"
    assert Protocol(Side.CLIENT).id != Protocol(Side.CLIENT).id


def test_payload_too_big_message_mentions_the_message_size() -> None:
    exc = PayloadTooBig(60, 100, 60)
    assert str(exc) == "60 bytes after 60 bytes exceeds limit of 100 bytes"


def test_uncompressed_frame_on_compressed_connection_respects_max_size() -> None:
    """The wire limit has room for deflate overhead; the message limit is still exact."""
    protocol = Protocol(Side.SERVER, max_size=100)
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_BINARY, bytes(101)))
    assert protocol.events_received() == []
    close = sent_close(protocol)
    assert close is not None and close.code == 1009


def test_uncompressed_frame_on_compressed_connection_respects_fragment_limit() -> None:
    protocol = Protocol(Side.SERVER, max_size=(1000, 100))
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_BINARY, bytes(101)))
    assert protocol.events_received() == []
    assert sent_close(protocol) == Close(1009, "frame of 101 bytes exceeds limit of 100 bytes")


@pytest.mark.parametrize("mem_level", range(1, 10))
def test_incompressible_message_from_any_compressor_fits_max_size(mem_level: int) -> None:
    """Peers compress with any memLevel (websockets uses 5): the wire limit allows for all."""
    payload = random.Random(mem_level).randbytes(2**16)
    compressor = zlib.compressobj(wbits=-15, memLevel=mem_level)
    compressed = (compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
    assert len(compressed) > len(payload)
    protocol = Protocol(Side.SERVER, max_size=len(payload))
    protocol.extensions = [deflate_extension()]
    protocol.receive_data(wire(OP_BINARY, compressed, rsv1=True))
    [frame] = protocol.events_received()
    assert frame.data == payload
    assert protocol.data_to_send() == []


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.send_ping(bytes(126)),
        lambda p: p.send_pong(bytes(126)),
        lambda p: p.send_close(1000, "x" * 124),
    ],
)
def test_oversized_control_frames_cannot_be_sent(call: object) -> None:
    """RFC 6455 5.5: control frames carry at most 125 bytes."""
    protocol = server()
    with pytest.raises(ProtocolError, match="control frame too long"):
        call(protocol)  # type: ignore[operator]
    assert protocol.data_to_send() == []
    assert protocol.state is State.OPEN


def test_control_frames_of_125_bytes_can_be_sent() -> None:
    protocol = server()
    protocol.send_ping(bytes(125))
    protocol.send_close(1000, "é" * 61 + "x")
    assert len(protocol.data_to_send()[1]) == 2 + 125


def test_fail_cuts_long_reasons_on_a_character_boundary() -> None:
    protocol = server()
    protocol.fail(1011, "é" * 100)
    close = Close.parse(protocol.data_to_send()[0][2:])
    assert close == Close(1011, "é" * 61)


@pytest.mark.parametrize("size", [65535, 65536, 1 << 20])
def test_server_queues_a_large_payload_apart_from_its_header(size: int) -> None:
    payload = random.randbytes(size)
    protocol = server()
    protocol.send_binary(payload)
    protocol.send_text(b"after")
    writes = protocol.data_to_send()
    assert b"".join(writes) == wire(OP_BINARY, payload, masked=False) + wire(
        OP_TEXT, b"after", masked=False
    )
    if size < 65536:
        assert len(writes) == 2  # one chunk per frame
    else:
        # Header, then the application's own bytes object, not a copy.
        assert len(writes) == 3
        assert writes[1] is payload


@pytest.mark.parametrize("kind", [bytearray, memoryview])
def test_server_copies_a_large_mutable_payload(kind: type) -> None:
    payload = random.randbytes(65536)
    protocol = server()
    protocol.send_binary(kind(payload))
    assert protocol.data_to_send() == [wire(OP_BINARY, payload, masked=False)]


def test_client_masks_a_large_payload_in_one_chunk() -> None:
    payload = random.randbytes(65536)
    protocol = client()
    protocol.send_binary(payload)
    [chunk] = protocol.data_to_send()
    assert len(chunk) == 14 + len(payload)
    server_side = server()
    server_side.receive_data(chunk)
    [frame] = server_side.events_received()
    assert frame.data == payload


@pytest.mark.parametrize(
    ("payload", "text"),
    [
        ("café ☕".encode(), "café ☕"),  # decoded to be checked: kept
        (b"plain ascii", None),  # checked without decoding
    ],
)
def test_received_text_frame_keeps_its_decoded_text(payload: bytes, text: str | None) -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, payload))
    [frame] = protocol.events_received()
    assert frame.data == payload
    assert frame.text == text


def test_fragmented_and_binary_frames_carry_no_text() -> None:
    protocol = server()
    protocol.receive_data(wire(OP_TEXT, b"caf", fin=False))
    protocol.receive_data(wire(OP_CONT, "é".encode()))
    protocol.receive_data(wire(OP_BINARY, "é".encode()))
    assert [frame.text for frame in protocol.events_received()] == [None, None, None]


def test_text_is_not_part_of_a_frames_identity() -> None:
    frame = Frame(OP_TEXT, "é".encode())
    frame.text = "é"
    assert frame == Frame(OP_TEXT, "é".encode())
    assert "text" not in repr(frame)
