"""Tests for anywebsockets.protocol.frames: RFC 6455 section 5 framing and 5.5.1 close payloads."""

from __future__ import annotations

import array
import os
import struct
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anywebsockets.exceptions import PayloadTooBig, ProtocolError
from anywebsockets.protocol import frames
from anywebsockets.protocol.frames import (
    CTRL_OPCODES,
    DATA_OPCODES,
    OP_BINARY,
    OP_CLOSE,
    OP_CONT,
    OP_PING,
    OP_PONG,
    OP_TEXT,
    Close,
    CloseCode,
    Frame,
    Opcode,
    parse_frame,
)
from anywebsockets.protocol.utils import apply_mask

KEY = bytes.fromhex("37fa213d")
PAYLOAD_256 = bytes(range(256))
PAYLOAD_64K = bytes(range(256)) * 256


def h(text: str) -> bytes:
    """Bytes from hexadecimal, spaces allowed."""
    return bytes.fromhex(text)


def parse_everywhere(data: bytes, *, mask: bool, max_size: int | None = None) -> Frame:
    """Parse a complete frame fed whole, byte by byte, after other bytes and
    before trailing bytes, from bytes and from a bytearray; check that every
    way gives the same frame, consumes exactly the frame, and that every
    strict prefix is reported incomplete."""
    # Byte by byte: nothing until the last byte.
    buf = bytearray()
    for byte in data:
        assert parse_frame(buf, 0, mask=mask, max_size=max_size) is None
        buf.append(byte)
    results = []
    for kind in (bytes, bytearray):
        results.append(parse_frame(kind(data), 0, mask=mask, max_size=max_size))
        # Trailing bytes: the start of another frame, left for the next call.
        results.append(parse_frame(kind(data + h("81 05 48")), 0, mask=mask, max_size=max_size))
        # A frame further in the buffer, after the end of a previous one.
        parsed = parse_frame(kind(b"junk" + data + b"!"), 4, mask=mask, max_size=max_size)
        assert parsed is not None
        results.append((parsed[0], parsed[1] - 4))
    frame, end = results[0]  # type: ignore[misc]
    assert end == len(data)
    assert all(result == (frame, len(data)) for result in results)
    assert all(type(result[0].data) is bytes for result in results)  # type: ignore[index]
    return frame


# Parsing, RFC 6455 sections 5.2 and 5.7.

VALID_FRAMES = [
    # (id, side that receives the bytes is the server: mask, bytes, expected frame)
    ("5.7 unmasked text", False, h("81 05 48 65 6c 6c 6f"), Frame(OP_TEXT, b"Hello")),
    ("5.7 masked text", True, h("81 85 37 fa 21 3d 7f 9f 4d 51 58"), Frame(OP_TEXT, b"Hello")),
    ("5.7 first fragment", False, h("01 03 48 65 6c"), Frame(OP_TEXT, b"Hel", fin=False)),
    ("5.7 last fragment", False, h("80 02 6c 6f"), Frame(OP_CONT, b"lo")),
    ("5.7 unmasked ping", False, h("89 05 48 65 6c 6c 6f"), Frame(OP_PING, b"Hello")),
    (
        "5.7 masked pong",
        True,
        h("8a 85 37 fa 21 3d 7f 9f 4d 51 58"),
        Frame(OP_PONG, b"Hello"),
    ),
    (
        "5.7 256 bytes, 16-bit length",
        False,
        h("82 7e 01 00") + PAYLOAD_256,
        Frame(OP_BINARY, PAYLOAD_256),
    ),
    (
        "5.7 64 KiB, 64-bit length",
        False,
        h("82 7f 00 00 00 00 00 01 00 00") + PAYLOAD_64K,
        Frame(OP_BINARY, PAYLOAD_64K),
    ),
    (
        "masked 64 KiB, 64-bit length",
        True,
        h("82 ff 00 00 00 00 00 01 00 00") + KEY + apply_mask(PAYLOAD_64K, KEY),
        Frame(OP_BINARY, PAYLOAD_64K),
    ),
    (
        "masked 256 bytes, 16-bit length",
        True,
        h("82 fe 01 00") + KEY + apply_mask(PAYLOAD_256, KEY),
        Frame(OP_BINARY, PAYLOAD_256),
    ),
    ("empty text", False, h("81 00"), Frame(OP_TEXT, b"")),
    ("empty masked binary", True, h("82 80") + KEY, Frame(OP_BINARY, b"")),
    ("close 1000", False, h("88 02 03 e8"), Frame(OP_CLOSE, h("03 e8"))),
    ("empty close", True, h("88 80") + KEY, Frame(OP_CLOSE, b"")),
    ("unfinished binary", False, h("02 01 2a"), Frame(OP_BINARY, b"*", fin=False)),
    ("125-byte ping", False, h("89 7d") + bytes(125), Frame(OP_PING, bytes(125))),
    # 5.2: RSV bits are returned as they are, for the extensions.
    ("rsv1", False, h("c1 01 41"), Frame(OP_TEXT, b"A", rsv1=True)),
    ("rsv2", False, h("a2 01 41"), Frame(OP_BINARY, b"A", rsv2=True)),
    ("rsv3", False, h("90 01 41"), Frame(OP_CONT, b"A", rsv3=True)),
    ("all rsv, not fin", False, h("71 00"), Frame(OP_TEXT, b"", False, True, True, True)),
    ("rsv on control", False, h("c9 00"), Frame(OP_PING, b"", rsv1=True)),
    # 5.2 asks senders for the minimal length encoding; receivers accept more.
    ("non-minimal 16-bit", False, h("82 7e 00 05") + b"Hello", Frame(OP_BINARY, b"Hello")),
    (
        "non-minimal 64-bit",
        False,
        h("82 7f 00 00 00 00 00 00 00 05") + b"Hello",
        Frame(OP_BINARY, b"Hello"),
    ),
    ("non-minimal control", False, h("89 7e 00 7d") + bytes(125), Frame(OP_PING, bytes(125))),
]


@pytest.mark.parametrize(
    ("mask", "data", "expected"),
    [pytest.param(mask, data, expected, id=name) for name, mask, data, expected in VALID_FRAMES],
)
def test_parse_valid(mask: bool, data: bytes, expected: Frame) -> None:
    """Section 5.2 framing, with the examples of section 5.7."""
    frame = parse_everywhere(data, mask=mask)
    assert frame == expected
    assert frame.opcode is expected.opcode


@pytest.mark.parametrize(("name", "mask", "data", "expected"), VALID_FRAMES[:4])
def test_parse_opcode_is_enum(name: str, mask: bool, data: bytes, expected: Frame) -> None:
    """Parsed frames carry Opcode members, comparable by identity."""
    parsed = parse_frame(data, 0, mask=mask, max_size=None)
    assert parsed is not None
    assert type(parsed[0].opcode) is Opcode


def test_parse_consecutive_frames() -> None:
    """Section 5.4: the fragments of one message, parsed one after the other."""
    buf = bytearray(h("01 03 48 65 6c 89 00 80 02 6c 6f"))
    found = []
    pos = 0
    while (parsed := parse_frame(buf, pos, mask=False, max_size=None)) is not None:
        frame, pos = parsed
        found.append(frame)
    assert pos == len(buf)
    assert found == [
        Frame(OP_TEXT, b"Hel", fin=False),
        Frame(OP_PING, b""),
        Frame(OP_CONT, b"lo"),
    ]


def test_parse_does_not_modify_buffer() -> None:
    """The buffer is read only: the caller decides what to discard."""
    data = h("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    buf = bytearray(data)
    parse_frame(buf, 0, mask=True, max_size=None)
    assert buf == data


def test_parse_empty_buffer() -> None:
    """Nothing to parse: incomplete, also past the end of the buffer."""
    assert parse_frame(b"", 0, mask=False, max_size=None) is None
    assert parse_frame(b"\x81", 0, mask=False, max_size=None) is None
    assert parse_frame(h("81 00"), 2, mask=False, max_size=None) is None
    assert parse_frame(h("81 00"), 5, mask=False, max_size=None) is None


@pytest.mark.parametrize("opcode", [*range(0x3, 0x8), *range(0xB, 0x10)])
@pytest.mark.parametrize("first", [0x00, 0x80, 0xF0])
def test_parse_reserved_opcode(opcode: int, first: int) -> None:
    """Section 5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved: fail at once."""
    with pytest.raises(ProtocolError, match=f"invalid opcode: {opcode:#x}"):
        parse_frame(bytes([first | opcode, 0x80]), 0, mask=True, max_size=None)


# (id, mask, bytes: just the header, the error expected as soon as it is known)
INVALID_HEADERS = [
    ("server must not mask", False, h("81 85"), "a server must not mask"),
    ("client must mask", True, h("81 05"), "a client must mask"),
    ("client must mask, empty", True, h("82 00"), "a client must mask"),
    ("fragmented close", False, h("08 00"), "fragmented control frame"),
    ("fragmented ping", True, h("09 80"), "fragmented control frame"),
    ("fragmented pong", False, h("4a 00"), "fragmented control frame"),
    ("126-byte ping", False, h("89 7e 00 7e"), "control frame too long"),
    ("64-bit close", True, h("88 ff 00 00 00 00 00 00 01 00"), "control frame too long"),
    ("126 as length code", False, h("8a 7e 00 05"), None),  # non-minimal but valid
    ("64-bit MSB set", False, h("82 7f 80 00 00 00 00 00 00 00"), "most significant bit"),
    ("64-bit all ones", True, h("82 ff ff ff ff ff ff ff ff ff"), "most significant bit"),
]


@pytest.mark.parametrize(
    ("mask", "header", "error"),
    [pytest.param(mask, data, error, id=name) for name, mask, data, error in INVALID_HEADERS],
)
def test_parse_invalid_header(mask: bool, header: bytes, error: str | None) -> None:
    """Sections 5.1, 5.2 and 5.5: header errors, raised before the payload arrives."""
    for end in range(len(header)):
        assert parse_frame(header[:end], 0, mask=mask, max_size=None) is None
    if error is None:
        assert parse_frame(header, 0, mask=mask, max_size=None) is None
        return
    with pytest.raises(ProtocolError, match=error):
        parse_frame(header, 0, mask=mask, max_size=None)
    with pytest.raises(ProtocolError, match=error):
        parse_frame(b"xyz" + header + bytes(300), 3, mask=mask, max_size=1)


@pytest.mark.parametrize(
    ("header", "size"),
    [
        (h("82 06"), 6),
        (h("81 7e 01 00"), 256),
        (h("80 7f 00 00 00 01 00 00 00 00"), 1 << 32),
        (h("02 7f 7f ff ff ff ff ff ff ff"), (1 << 63) - 1),
    ],
)
def test_parse_payload_too_big(header: bytes, size: int) -> None:
    """A data frame over max_size fails as soon as its length is known."""
    for end in range(len(header)):
        assert parse_frame(header[:end], 0, mask=False, max_size=5) is None
    with pytest.raises(PayloadTooBig) as raised:
        parse_frame(header, 0, mask=False, max_size=5)
    assert raised.value.size == size
    assert raised.value.max_size == 5
    assert raised.value.current_size is None
    masked = bytes([header[0], header[1] | 0x80]) + header[2:]
    with pytest.raises(PayloadTooBig):
        parse_frame(masked, 0, mask=True, max_size=5)


def test_parse_max_size_boundary() -> None:
    """A payload of exactly max_size bytes is accepted; 0 allows empty frames only."""
    frame = parse_everywhere(h("82 05") + b"12345", mask=False, max_size=5)
    assert frame.data == b"12345"
    assert parse_everywhere(h("82 00"), mask=False, max_size=0) == Frame(OP_BINARY, b"")
    with pytest.raises(PayloadTooBig):
        parse_frame(h("82 01"), 0, mask=False, max_size=0)


def test_parse_max_size_ignores_control_frames() -> None:
    """Control frames are bounded by 125 bytes (section 5.5), not by max_size,
    which is the budget of the data message they may interrupt."""
    data = h("89 0a") + b"0123456789"
    assert parse_everywhere(data, mask=False, max_size=3) == Frame(OP_PING, b"0123456789")
    close = parse_everywhere(h("88 02 03 e8"), mask=False, max_size=0)
    assert close == Frame(OP_CLOSE, h("03 e8"))


def test_parse_length_known_before_payload() -> None:
    """A valid header whose payload has not arrived: incomplete, not an error."""
    assert parse_frame(h("82 7e 01 00") + bytes(255), 0, mask=False, max_size=256) is None
    assert parse_frame(h("82 fe 01 00") + KEY, 0, mask=True, max_size=None) is None


# Serializing, RFC 6455 section 5.2.

SERIALIZED = [
    ("5.7 unmasked text", Frame(OP_TEXT, b"Hello"), h("81 05 48 65 6c 6c 6f")),
    ("5.7 first fragment", Frame(OP_TEXT, b"Hel", fin=False), h("01 03 48 65 6c")),
    ("5.7 last fragment", Frame(OP_CONT, b"lo"), h("80 02 6c 6f")),
    ("5.7 unmasked ping", Frame(OP_PING, b"Hello"), h("89 05 48 65 6c 6c 6f")),
    ("5.7 256 bytes", Frame(OP_BINARY, PAYLOAD_256), h("82 7e 01 00") + PAYLOAD_256),
    (
        "5.7 64 KiB",
        Frame(OP_BINARY, PAYLOAD_64K),
        h("82 7f 00 00 00 00 00 01 00 00") + PAYLOAD_64K,
    ),
    ("125 bytes", Frame(OP_BINARY, bytes(125)), h("82 7d") + bytes(125)),
    ("126 bytes", Frame(OP_BINARY, bytes(126)), h("82 7e 00 7e") + bytes(126)),
    ("65535 bytes", Frame(OP_BINARY, bytes(65535)), h("82 7e ff ff") + bytes(65535)),
    ("empty", Frame(OP_PONG, b""), h("8a 00")),
    ("rsv1", Frame(OP_TEXT, b"", rsv1=True), h("c1 00")),
    ("rsv2", Frame(OP_TEXT, b"", rsv2=True), h("a1 00")),
    ("rsv3", Frame(OP_TEXT, b"", rsv3=True), h("91 00")),
    ("bytearray", Frame(OP_BINARY, bytearray(b"ab")), h("82 02 61 62")),
    ("memoryview", Frame(OP_BINARY, memoryview(b"xaby")[1:3]), h("82 02 61 62")),
]


@pytest.mark.parametrize(
    ("frame", "expected"),
    [pytest.param(frame, data, id=name) for name, frame, data in SERIALIZED],
)
def test_serialize_unmasked(frame: Frame, expected: bytes) -> None:
    """Section 5.2, shortest length encoding; section 5.7 examples."""
    data = frame.serialize(mask=False)
    assert type(data) is bytes
    assert data == expected


@pytest.mark.parametrize(
    ("frame", "expected"),
    [pytest.param(frame, data, id=name) for name, frame, data in SERIALIZED],
)
def test_serialize_masked(frame: Frame, expected: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    """Section 5.3: the same frames masked, with the key after the length."""
    monkeypatch.setattr(frames, "_new_mask_key", lambda: KEY)
    data = frame.serialize(mask=True)
    assert type(data) is bytes
    size = len(expected) - (2 if expected[1] < 126 else 4 if expected[1] == 126 else 10)
    head = len(expected) - size
    assert data[0] == expected[0]
    assert data[1] == expected[1] | 0x80
    assert data[2:head] == expected[2:head]
    assert data[head : head + 4] == KEY
    assert data[head + 4 :] == apply_mask(expected[head:], KEY)


def test_serialize_rfc_masked_example(monkeypatch: pytest.MonkeyPatch) -> None:
    """Section 5.7: "Hello" masked with 37 fa 21 3d."""
    monkeypatch.setattr(frames, "_new_mask_key", lambda: KEY)
    assert Frame(OP_TEXT, b"Hello").serialize(mask=True) == h("81 85 37 fa 21 3d 7f 9f 4d 51 58")
    assert Frame(OP_PONG, b"Hello").serialize(mask=True) == h("8a 85 37 fa 21 3d 7f 9f 4d 51 58")


def test_serialize_memoryview_shapes() -> None:
    """The payload length counts bytes, whatever the view's format or layout."""
    items = array.array("i", [1, 2, 3])
    frame = Frame(OP_BINARY, memoryview(items))
    assert frame.serialize(mask=False) == h("82 0c") + items.tobytes()
    parsed = parse_frame(frame.serialize(mask=True), 0, mask=True, max_size=None)
    assert parsed is not None
    assert parsed[0].data == items.tobytes()

    strided = memoryview(b"a-b-c-")[::2]
    frame = Frame(OP_TEXT, strided)
    assert frame.serialize(mask=False) == h("81 03") + b"abc"
    parsed = parse_frame(frame.serialize(mask=True), 0, mask=True, max_size=None)
    assert parsed is not None
    assert parsed[0].data == b"abc"


def test_serialize_does_not_check() -> None:
    """Extensions encode frames after check(): serialize writes what it gets."""
    frame = Frame(OP_PING, bytes(200), fin=False, rsv1=True)
    assert frame.serialize(mask=False) == h("49 7e 00 c8") + bytes(200)


def test_mask_keys_are_random() -> None:
    """Section 5.3: a fresh, unpredictable key for every frame."""
    keys = []
    for _ in range(3000):  # more than one pool of keys
        data = Frame(OP_TEXT, b"Hi").serialize(mask=True)
        keys.append(data[2:6])
    assert len(set(keys)) > 2990  # 3000 draws among 2**32 rarely collide


def test_mask_key_pool_refills() -> None:
    """When the pool runs dry, keys keep coming from a new one."""
    frames._forget_mask_keys()
    assert next(frames._keys, None) is None
    first = frames._new_mask_key()
    assert len(first) == 4
    remaining = sum(1 for _ in frames._keys)
    assert remaining == frames._KEY_POOL_SIZE // 4 - 1
    assert len(frames._new_mask_key()) == 4


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_mask_keys_after_fork() -> None:
    """A forked child does not reuse the keys its parent has yet to use."""
    frames._new_mask_key()  # make sure a pool exists before forking
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads
        pid = os.fork()
    if pid == 0:  # pragma: no cover  # the child exits without reporting coverage
        os.close(read_end)
        os.write(write_end, b"".join(frames._new_mask_key() for _ in range(8)))
        os._exit(0)
    os.close(write_end)
    child = b""
    while chunk := os.read(read_end, 64):
        child += chunk
    os.close(read_end)
    os.waitpid(pid, 0)
    parent = b"".join(frames._new_mask_key() for _ in range(8))
    assert len(child) == 32
    assert child != parent


# Round trips, RFC 6455 section 5.2.

SIZES = [0, 1, 125, 126, 127, 1023, 1024, 65535, 65536, 70000]


@pytest.mark.parametrize("mask", [False, True], ids=["unmasked", "masked"])
@pytest.mark.parametrize("opcode", list(Opcode))
@pytest.mark.parametrize("fin", [True, False])
@pytest.mark.parametrize("rsv", [(False, False, False), (True, False, True), (False, True, False)])
def test_round_trip(mask: bool, opcode: Opcode, fin: bool, rsv: tuple[bool, bool, bool]) -> None:
    """serialize() then parse_frame() gives the frame back, for every opcode and flag."""
    for size in SIZES:
        if opcode in CTRL_OPCODES and (size > 125 or not fin):
            continue  # not a valid control frame; covered by the error tests
        frame = Frame(opcode, bytes(i % 253 for i in range(size)), fin, *rsv)
        for kind in (bytes, bytearray):
            data = kind(frame.serialize(mask=mask))
            assert parse_frame(data, 0, mask=mask, max_size=None) == (frame, len(data))


@st.composite
def valid_frames(draw: st.DrawFn) -> Frame:
    """Frames that parse_frame accepts: control frames short and final."""
    opcode = draw(st.sampled_from(list(Opcode)))
    if opcode in CTRL_OPCODES:
        data = draw(st.binary(max_size=125))
        fin = True
    else:
        data = draw(st.binary(max_size=300))
        if draw(st.booleans()):  # long: around the 16-bit / 64-bit length boundary
            size = draw(st.sampled_from([65535, 65536, 65537]))
            data = (data or b"\x00") * (size // (len(data) or 1) + 1)
            data = data[:size]
        fin = draw(st.booleans())
    rsv1, rsv2, rsv3 = draw(st.tuples(st.booleans(), st.booleans(), st.booleans()))
    return Frame(opcode, data, fin, rsv1, rsv2, rsv3)


@given(frame=valid_frames(), mask=st.booleans())
def test_round_trip_property(frame: Frame, mask: bool) -> None:
    """Any valid frame survives serialize() then parse_frame(), and no strict
    prefix of its bytes parses."""
    data = frame.serialize(mask=mask)
    assert parse_frame(data, 0, mask=mask, max_size=None) == (frame, len(data))
    for end in {0, 1, 2, 3, 5, len(data) // 2, len(data) - 1}:
        if 0 <= end < len(data):
            assert parse_frame(data[:end], 0, mask=mask, max_size=None) is None


@given(
    data=st.binary(max_size=200),
    pos=st.integers(0, 4),
    mask=st.booleans(),
    max_size=st.none() | st.integers(0, 300),
)
def test_parse_any_bytes(data: bytes, pos: int, mask: bool, max_size: int | None) -> None:
    """Any input parses, is incomplete, or raises a documented exception."""
    try:
        parsed = parse_frame(data, pos, mask=mask, max_size=max_size)
    except (ProtocolError, PayloadTooBig):
        return
    if parsed is None:
        return
    frame, end = parsed
    assert pos + 2 <= end <= len(data)
    assert type(frame.data) is bytes
    assert frame.opcode in Opcode
    # The frame ends where parse_frame said: its bytes alone parse the same.
    assert parse_frame(data[:end], pos, mask=mask, max_size=max_size) == parsed
    assert parse_frame(data[: end - 1], pos, mask=mask, max_size=max_size) is None


# Frame.check, RFC 6455 sections 5.2 and 5.5.


@pytest.mark.parametrize(
    "frame",
    [
        Frame(OP_TEXT, b"x" * 100000, fin=False),
        Frame(OP_BINARY, b""),
        Frame(OP_CONT, b"x", fin=True),
        Frame(OP_PING, bytes(125)),
        Frame(OP_PONG, b""),
        Frame(OP_CLOSE, h("03 e8")),
    ],
)
def test_check_valid(frame: Frame) -> None:
    """Data frames of any size and fragmentation; short, final control frames."""
    frame.check()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (Frame(OP_TEXT, b"", rsv1=True), "reserved bits"),
        (Frame(OP_BINARY, b"", rsv2=True), "reserved bits"),
        (Frame(OP_CONT, b"", rsv3=True), "reserved bits"),
        (Frame(OP_PING, b"", rsv1=True), "reserved bits"),
        (Frame(OP_PING, bytes(126)), "control frame too long"),
        (Frame(OP_CLOSE, bytes(1000)), "control frame too long"),
        (Frame(OP_PONG, b"", fin=False), "fragmented control frame"),
        (Frame(OP_CLOSE, b"", fin=False), "fragmented control frame"),
    ],
)
def test_check_invalid(frame: Frame, error: str) -> None:
    """Section 5.2: RSV bits without an extension; 5.5: control frame limits."""
    with pytest.raises(ProtocolError, match=error):
        frame.check()


def test_check_counts_bytes() -> None:
    """Section 5.5: the 125-byte limit counts bytes, whatever the view's format."""
    Frame(OP_PING, memoryview(array.array("i", range(31)))).check()  # 124 bytes
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(OP_PING, memoryview(array.array("i", range(32)))).check()  # 128 bytes
    with pytest.raises(ProtocolError, match="control frame too long"):
        Frame(OP_PONG, memoryview(bytes(300))[::2]).check()  # 150 bytes, strided
    Frame(OP_PONG, memoryview(bytes(250))[::2]).check()  # 125 bytes, strided


# Frame.__str__, for debug logs.

LONG_TEXT = ("0123456789" * 100).encode()


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (Frame(OP_TEXT, b"Hello"), "TEXT 'Hello' [5 bytes]"),
        (Frame(OP_TEXT, b"Hel", fin=False), "TEXT 'Hel' [3 bytes, continued]"),
        (Frame(OP_TEXT, b""), "TEXT '' [0 bytes]"),
        (Frame(OP_TEXT, "café".encode()), "TEXT 'café' [5 bytes]"),
        (Frame(OP_TEXT, b"a\xffb"), "TEXT 'a\ufffdb' [3 bytes]"),
        (Frame(OP_TEXT, b"\x80"), "TEXT 80 [1 byte]"),
        (Frame(OP_TEXT, b"line\n"), "TEXT 'line\\n' [5 bytes]"),
        (
            Frame(OP_TEXT, LONG_TEXT),
            "TEXT '01234567890123456789012345678901234567890123456...78901234567890123456789' "
            "[1000 bytes]",
        ),
        (
            Frame(OP_TEXT, LONG_TEXT[:200]),
            "TEXT '01234567890123456789012345678901234567890123456...78901234567890123456789' "
            "[200 bytes]",
        ),
        (Frame(OP_BINARY, b"*"), "BINARY 2a [1 byte]"),
        (Frame(OP_BINARY, b"Hello"), "BINARY 48 65 6c 6c 6f [5 bytes]"),
        (Frame(OP_BINARY, b""), "BINARY '' [0 bytes]"),
        (
            Frame(OP_BINARY, bytes(range(100)), fin=False),
            "BINARY 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ... "
            "5c 5d 5e 5f 60 61 62 63 [100 bytes, continued]",
        ),
        (
            Frame(OP_BINARY, bytes(range(256)) * 4),
            "BINARY 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f ... "
            "f8 f9 fa fb fc fd fe ff [1024 bytes]",
        ),
        (Frame(OP_CONT, b"lo"), "CONT 'lo' [2 bytes]"),
        (Frame(OP_CONT, "é!".encode()[1:]), "CONT '!' [2 bytes]"),
        (Frame(OP_CONT, "!é".encode()[:2], fin=False), "CONT '!' [2 bytes, continued]"),
        (Frame(OP_CONT, b"a\tb\r\n"), "CONT 'a\\tb\\r\\n' [5 bytes]"),
        (Frame(OP_CONT, b"\x00\x01"), "CONT 00 01 [2 bytes]"),
        (Frame(OP_CONT, b"a\xffb"), "CONT 61 ff 62 [3 bytes]"),
        (Frame(OP_CONT, b"\x80\x80"), "CONT 80 80 [2 bytes]"),
        (Frame(OP_CONT, b"\x80\x80\x80\x80abc"), "CONT 80 80 80 80 61 62 63 [7 bytes]"),
        (
            Frame(OP_CONT, LONG_TEXT + b"\xff"),
            "CONT 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34 35 ... "
            "33 34 35 36 37 38 39 ff [1001 bytes]",
        ),
        (Frame(OP_PING, b""), "PING '' [0 bytes]"),
        (Frame(OP_PING, b"ping"), "PING 'ping' [4 bytes]"),
        (Frame(OP_PING, h("1a 2b 3c 4d")), "PING 1a 2b 3c 4d [4 bytes]"),
        (Frame(OP_PONG, "€".encode()), "PONG '€' [3 bytes]"),
        (Frame(OP_PONG, h("e2 82")), "PONG e2 82 [2 bytes]"),
        (Frame(OP_CLOSE, b""), "CLOSE '' [0 bytes]"),
        (Frame(OP_CLOSE, h("03 e8") + b"bye"), "CLOSE 1000 (OK) bye [5 bytes]"),
        (Frame(OP_CLOSE, h("03 e9")), "CLOSE 1001 (going away) [2 bytes]"),
        (Frame(OP_CLOSE, h("0f a0")), "CLOSE 4000 (private use) [2 bytes]"),
        (Frame(OP_CLOSE, h("03")), "CLOSE 03 [1 byte]"),
        (Frame(OP_CLOSE, h("03 ed")), "CLOSE 03 ed [2 bytes]"),
        (Frame(OP_CLOSE, h("03 e8 ff")), "CLOSE 03 e8 ff [3 bytes]"),
        (
            Frame(OP_CLOSE, h("03 e8") + b"x" * 100),
            # 75 characters: "1000 (OK) " and 38 x, "...", 24 x.
            f"CLOSE 1000 (OK) {'x' * 38}...{'x' * 24} [102 bytes]",
        ),
        (Frame(OP_TEXT, memoryview(b"Hello")), "TEXT 'Hello' [5 bytes]"),
        (Frame(OP_TEXT, memoryview(b"H-e-l-l-o")[::2]), "TEXT 'Hello' [5 bytes]"),
        (
            Frame(OP_BINARY, memoryview(array.array("H", [0x0102, 0x0304]))),
            f"BINARY {array.array('H', [0x0102, 0x0304]).tobytes().hex(' ')} [4 bytes]",
        ),
        (Frame(OP_CLOSE, bytearray(h("03 e8"))), "CLOSE 1000 (OK) [2 bytes]"),
    ],
)
def test_str(frame: Frame, expected: str) -> None:
    """A one-line description: kind, payload preview, length, fragmentation."""
    assert str(frame) == expected


def test_str_long_payload_is_sampled() -> None:
    """Only the ends of a long payload are read, and the preview stays short."""
    text = "é" * 100 + "x" * 100000 + "€" * 100
    result = str(Frame(OP_TEXT, text.encode()))
    assert result == f"TEXT '{'é' * 47}...{'€' * 23}' [100500 bytes]"


@given(frame=valid_frames())
def test_str_any_frame(frame: Frame) -> None:
    """Any frame has a short description starting with its kind."""
    result = str(frame)
    assert result.startswith(frame.opcode.name + " ")
    assert len(result) < 120


# Close payloads, RFC 6455 sections 5.5.1 and 7.4.

WIRE_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999]
WIRE_CODES += [4000, 4999]
NOT_WIRE_CODES = [0, 1, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535]


@pytest.mark.parametrize("code", WIRE_CODES)
def test_close_valid_codes(code: int) -> None:
    """Section 7.4: codes that a close frame may carry."""
    close = Close(code, "reason")
    close.check()
    data = close.serialize()
    assert data == struct.pack("!H", code) + b"reason"
    assert Close.parse(data) == close


@pytest.mark.parametrize("code", NOT_WIRE_CODES)
def test_close_invalid_codes(code: int) -> None:
    """Section 7.4: reserved, internal and unassigned codes never go on the wire."""
    close = Close(code, "")
    with pytest.raises(ProtocolError, match=f"invalid close code: {code}"):
        close.check()
    with pytest.raises(ProtocolError, match="invalid close code"):
        close.serialize()
    with pytest.raises(ProtocolError, match="invalid close code"):
        Close.parse(struct.pack("!H", code) + b"reason")


def test_close_parse_empty() -> None:
    """Section 7.1.5: no status code in the frame means 1005."""
    close = Close.parse(b"")
    assert close == Close(1005, "")
    assert close.code is CloseCode.NO_STATUS_RCVD


def test_close_parse_one_byte() -> None:
    """Section 5.5.1: the body starts with a 2-byte code, so 1 byte is an error."""
    with pytest.raises(ProtocolError, match="close frame too short"):
        Close.parse(b"\x03")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (h("03 e8"), Close(1000, "")),
        (h("03 e9") + b"bye", Close(1001, "bye")),
        (h("0b b8") + "déjà vu".encode(), Close(3000, "déjà vu")),
        (bytearray(h("03 e8 21")), Close(1000, "!")),
        (memoryview(h("03 e8 21")), Close(1000, "!")),
    ],
)
def test_close_parse(data: bytes, expected: Close) -> None:
    """Section 5.5.1: code in network byte order, then a UTF-8 reason."""
    assert Close.parse(data) == expected


@pytest.mark.parametrize("reason", [b"\xff", b"caf\xc3", b"\xed\xa0\x80"])
def test_close_parse_invalid_utf8(reason: bytes) -> None:
    """Section 5.5.1: the reason must be UTF-8 (the engine answers 1007)."""
    with pytest.raises(UnicodeDecodeError):
        Close.parse(h("03 e8") + reason)


def test_close_serialize_utf8() -> None:
    """The reason is sent UTF-8 encoded."""
    assert Close(1000, "ciao €").serialize() == h("03 e8") + "ciao €".encode()
    assert Close(CloseCode.GOING_AWAY, "").serialize() == h("03 e9")


@pytest.mark.parametrize(
    ("close", "expected"),
    [
        (Close(1000, ""), "1000 (OK)"),
        (Close(1000, "bye"), "1000 (OK) bye"),
        (Close(CloseCode.NORMAL_CLOSURE, "bye"), "1000 (OK) bye"),
        (Close(1001, ""), "1001 (going away)"),
        (Close(1002, ""), "1002 (protocol error)"),
        (Close(1003, ""), "1003 (unsupported data)"),
        (Close(1004, ""), "1004 (unknown)"),
        (Close(1005, ""), "1005 (no status received [internal])"),
        (Close(1006, ""), "1006 (abnormal closure [internal])"),
        (Close(1007, ""), "1007 (invalid frame payload data)"),
        (Close(1008, ""), "1008 (policy violation)"),
        (Close(1009, ""), "1009 (message too big)"),
        (Close(1010, ""), "1010 (mandatory extension)"),
        (Close(1011, "oops"), "1011 (internal error) oops"),
        (Close(1012, ""), "1012 (service restart)"),
        (Close(1013, ""), "1013 (try again later)"),
        (Close(1014, ""), "1014 (bad gateway)"),
        (Close(1015, ""), "1015 (TLS handshake failure [internal])"),
        (Close(1016, ""), "1016 (unknown)"),
        (Close(2999, ""), "2999 (unknown)"),
        (Close(3000, ""), "3000 (registered)"),
        (Close(3999, "x"), "3999 (registered) x"),
        (Close(4000, ""), "4000 (private use)"),
        (Close(4999, ""), "4999 (private use)"),
        (Close(5000, ""), "5000 (unknown)"),
        (Close(0, ""), "0 (unknown)"),
    ],
)
def test_close_str(close: Close, expected: str) -> None:
    """Code, meaning after the IANA registry, then the reason if any."""
    assert str(close) == expected


def test_every_close_code_has_a_meaning() -> None:
    """Every member of CloseCode is explained."""
    for code in CloseCode:
        assert "unknown" not in str(Close(code, ""))


@given(code=st.integers(0, 65535), reason=st.text(max_size=40))
def test_close_round_trip_property(code: int, reason: str) -> None:
    """Any code either serializes and parses back, or fails both ways."""
    close = Close(code, reason)
    try:
        data = close.serialize()
    except ProtocolError:
        with pytest.raises(ProtocolError):
            Close.parse(struct.pack("!H", code) + reason.encode())
    else:
        assert Close.parse(data) == close


@given(data=st.binary(max_size=40))
def test_close_parse_any_bytes(data: bytes) -> None:
    """Any payload parses or raises one of the documented exceptions."""
    try:
        close = Close.parse(data)
    except (ProtocolError, UnicodeDecodeError):
        return
    assert data == b"" or close.serialize() == data


# Module contents.


def test_opcode_groups() -> None:
    """Section 5.2: data opcodes 0x0-0x2, control opcodes 0x8-0xA."""
    assert DATA_OPCODES == (OP_CONT, OP_TEXT, OP_BINARY)
    assert CTRL_OPCODES == (OP_CLOSE, OP_PING, OP_PONG)
    assert [int(op) for op in Opcode] == [0, 1, 2, 8, 9, 10]


def test_all() -> None:
    """__all__ lists exactly the public names, and they exist."""
    assert {"Frame", "Close", "parse_frame", "Opcode", "CloseCode"} <= set(frames.__all__)
    for name in frames.__all__:
        assert hasattr(frames, name)
