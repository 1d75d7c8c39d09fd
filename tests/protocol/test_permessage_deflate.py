"""Tests for anywebsockets.protocol.permessage_deflate: permessage-deflate (RFC 7692)."""

from __future__ import annotations

import dataclasses
import itertools
import random
import zlib
from collections.abc import Sequence
from typing import Any

import pytest
import websockets.extensions.permessage_deflate as ws_pmd
import websockets.frames as ws_frames
from hypothesis import given, settings
from hypothesis import strategies as st

import anywebsockets.extensions.permessage_deflate as public
from anywebsockets.exceptions import (
    DuplicateParameter,
    InvalidParameterName,
    InvalidParameterValue,
    NegotiationError,
    PayloadTooBig,
    ProtocolError,
)
from anywebsockets.protocol import permessage_deflate
from anywebsockets.protocol.extensions import (
    ClientExtensionFactory,
    Extension,
    ExtensionParameter,
    ServerExtensionFactory,
)
from anywebsockets.protocol.frames import Frame, Opcode
from anywebsockets.protocol.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
)

TAIL = b"\x00\x00\xff\xff"
BITS = (8, 9, 12, 15)
SNCT: ExtensionParameter = ("server_no_context_takeover", None)
CNCT: ExtensionParameter = ("client_no_context_takeover", None)


def text(size: int, seed: int = 0) -> bytes:
    """Return compressible text whose repeats lie at every distance up to the full window."""
    rng = random.Random(seed)
    words = [rng.randbytes(rng.randrange(3, 9)).hex().encode() for _ in range(300)]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


DATA = text(20_000)


def peers(
    remote_nct: bool = False,
    local_nct: bool = False,
    remote_bits: int = 15,
    local_bits: int = 15,
    compress_settings: dict[str, Any] | None = None,
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """Return a sender and a receiver that agree: one's local side is the other's remote side."""
    sender = PerMessageDeflate(remote_nct, local_nct, remote_bits, local_bits, compress_settings)
    receiver = PerMessageDeflate(local_nct, remote_nct, local_bits, remote_bits)
    return sender, receiver


def split(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets."""
    bounds = [0, *sorted(cuts), len(data)]
    return [data[start:end] for start, end in itertools.pairwise(bounds)]


def message(chunks: Sequence[bytes], opcode: Opcode = Opcode.BINARY) -> list[Frame]:
    """Return the frames of one message: ``opcode`` first, then continuation frames."""
    return [
        Frame(opcode if i == 0 else Opcode.CONT, chunk, fin=i == len(chunks) - 1)
        for i, chunk in enumerate(chunks)
    ]


def compressed(payloads: Sequence[bytes], opcode: Opcode = Opcode.TEXT) -> list[Frame]:
    """Return the frames of one compressed message carrying the given payloads."""
    frames = message(payloads, opcode)
    return [dataclasses.replace(frames[0], rsv1=True), *frames[1:]]


def decode_all(
    extension: Extension, frames: Sequence[Frame], max_size: int | None = None
) -> bytes:
    """Decode the frames of one message and return the whole payload."""
    out = []
    for frame in frames:
        decoded = extension.decode(frame, max_size=max_size)
        assert not decoded.rsv1
        out.append(bytes(decoded.data))
    return b"".join(out)


def transmit(
    sender: Extension, receiver: Extension, chunks: Sequence[bytes]
) -> tuple[list[Frame], bytes]:
    """Encode one message with ``sender``, decode it with ``receiver``; return both ends."""
    wire = [sender.encode(frame) for frame in message(chunks)]
    return wire, decode_all(receiver, wire)


def negotiate(
    client: ClientExtensionFactory, server: ServerExtensionFactory
) -> tuple[Extension, Extension]:
    """Run the handshake's negotiation; return the client's and the server's extension."""
    response, server_extension = server.process_request_params(client.get_request_params(), [])
    return client.process_response_params(response, []), server_extension


def describe(extension: PerMessageDeflate) -> tuple[bool, bool, int, int]:
    return (
        extension.remote_no_context_takeover,
        extension.local_no_context_takeover,
        extension.remote_max_window_bits,
        extension.local_max_window_bits,
    )


# Conversions to and from websockets' frames, for the interoperability tests.


def to_ws(frame: Frame) -> ws_frames.Frame:
    return ws_frames.Frame(
        ws_frames.Opcode(int(frame.opcode)),
        bytes(frame.data),
        frame.fin,
        frame.rsv1,
        frame.rsv2,
        frame.rsv3,
    )


def from_ws(frame: ws_frames.Frame) -> Frame:
    return Frame(
        Opcode(int(frame.opcode)), bytes(frame.data), frame.fin, frame.rsv1, frame.rsv2, frame.rsv3
    )


# RFC 7692, section 7.2.3: the examples, decoded whole and one byte per frame.

HELLO = bytes.fromhex("f2 48 cd c9 c9 07 00")

RFC_EXAMPLES = [
    # 7.2.3.1: one compressed block, in one frame and in two.
    pytest.param([[HELLO]], [b"Hello"], id="7.2.3.1-single-block"),
    pytest.param(
        [[bytes.fromhex("f2 48 cd"), bytes.fromhex("c9 c9 07 00")]],
        [b"Hello"],
        id="7.2.3.1-fragmented",
    ),
    # 7.2.3.2: the second message refers back to the first one.
    pytest.param(
        [[HELLO], [bytes.fromhex("f2 00 11 00 00")]],
        [b"Hello", b"Hello"],
        id="7.2.3.2-shared-window",
    ),
    # 7.2.3.3: a stored block, without compression.
    pytest.param(
        [[bytes.fromhex("00 05 00 fa ff 48 65 6c 6c 6f 00")]], [b"Hello"], id="7.2.3.3-stored"
    ),
    # 7.2.3.4: a block with BFINAL set, then the header of an empty stored
    # block; the next message starts a new stream.
    pytest.param(
        [[bytes.fromhex("f3 48 cd c9 c9 07 00 00")], [HELLO]],
        [b"Hello", b"Hello"],
        id="7.2.3.4-bfinal",
    ),
    # 7.2.3.5: two blocks in one message.
    pytest.param(
        [[bytes.fromhex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")]],
        [b"Hello"],
        id="7.2.3.5-two-blocks",
    ),
    # 7.2.3.6: an empty fragment in the middle of a compressed message.
    pytest.param([[bytes.fromhex("f2 48 cd"), b"", bytes.fromhex("c9 c9 07 00")]], [b"Hello"]),
]


@pytest.mark.parametrize(("messages", "expected"), RFC_EXAMPLES)
def test_rfc7692_examples_decode(messages: list[list[bytes]], expected: list[bytes]) -> None:
    """RFC 7692, section 7.2.3: every example decodes to "Hello"."""
    receiver = PerMessageDeflate(False, False, 15, 15)
    assert [decode_all(receiver, compressed(payloads)) for payloads in messages] == expected


@pytest.mark.parametrize(("messages", "expected"), RFC_EXAMPLES)
def test_rfc7692_examples_decode_byte_by_byte(
    messages: list[list[bytes]], expected: list[bytes]
) -> None:
    """RFC 7692, section 7.2.3: the examples decode with one payload byte per frame."""
    receiver = PerMessageDeflate(False, False, 15, 15)
    decoded = []
    for payloads in messages:
        data = b"".join(payloads)
        decoded.append(
            decode_all(receiver, compressed([data[i : i + 1] for i in range(len(data))]))
        )
    assert decoded == expected


@pytest.mark.parametrize(
    ("messages", "expected"), [RFC_EXAMPLES[0], RFC_EXAMPLES[3], RFC_EXAMPLES[5]]
)
def test_rfc7692_examples_decode_with_trailing_empty_frame(
    messages: list[list[bytes]], expected: list[bytes]
) -> None:
    """RFC 7692, section 7.2.2: the payload may end in an empty final frame."""
    receiver = PerMessageDeflate(False, False, 15, 15)
    frames = compressed([*messages[0], b""])
    assert decode_all(receiver, frames) == expected[0]


def test_rfc7692_hello_encodes_to_the_rfc_bytes() -> None:
    """RFC 7692, sections 7.2.3.1 and 7.2.3.2: our encoder produces the RFC's bytes."""
    sender = PerMessageDeflate(False, False, 15, 15)
    first = sender.encode(Frame(Opcode.TEXT, b"Hello"))
    second = sender.encode(Frame(Opcode.TEXT, b"Hello"))
    assert first == Frame(Opcode.TEXT, HELLO, rsv1=True)
    assert second == Frame(Opcode.TEXT, bytes.fromhex("f2 00 11 00 00"), rsv1=True)


def test_rfc7692_shared_window_needs_context_takeover() -> None:
    """RFC 7692, section 7.2.3.2: without the first message, the second cannot be inflated."""
    receiver = PerMessageDeflate(True, False, 15, 15)
    assert decode_all(receiver, compressed([HELLO])) == b"Hello"
    with pytest.raises(ProtocolError) as excinfo:
        decode_all(receiver, compressed([bytes.fromhex("f2 00 11 00 00")]))
    assert isinstance(excinfo.value.__cause__, zlib.error)


# Round trips: every parameter combination, fragmented or not (RFC 7692, section 7.2).

FRAGMENTATIONS = {
    "whole": [],
    "halves": [len(DATA) // 2],
    "with-empty-fragments": [0, 1, 1, 5000, len(DATA), len(DATA)],
    "many": list(range(0, len(DATA), 1500)),
}


@pytest.mark.parametrize("cuts", FRAGMENTATIONS.values(), ids=FRAGMENTATIONS.keys())
@pytest.mark.parametrize(
    ("remote_nct", "local_nct", "remote_bits", "local_bits"),
    itertools.product([False, True], [False, True], BITS, BITS),
)
def test_round_trip(
    remote_nct: bool, local_nct: bool, remote_bits: int, local_bits: int, cuts: list[int]
) -> None:
    """RFC 7692, section 7.2: one side compresses, the other inflates, message after message."""
    sender, receiver = peers(remote_nct, local_nct, remote_bits, local_bits)
    for seed in range(3):
        data = text(len(DATA), seed % 2)  # repeats the first message: context is used
        wire, received = transmit(sender, receiver, split(data, cuts))
        assert received == data
        assert [frame.rsv1 for frame in wire] == [True] + [False] * (len(wire) - 1)
        assert sum(len(frame.data) for frame in wire) < len(data)


def strict_inflate(payload: bytes, bits: int) -> bytes:
    """Inflate one byte per call, so that zlib checks every distance against its window.

    Within a single call zlib lets a match reach back into that call's own
    output, whatever the window; one byte at a time leaves only the window.
    """
    decoder = zlib.decompressobj(wbits=-bits)
    out = bytearray()
    pending = payload + TAIL
    while True:
        chunk = decoder.decompress(pending, 1)
        pending = decoder.unconsumed_tail
        if not chunk and not pending:
            return bytes(out)
        out += chunk


WINDOW_TEST_DATA = b"".join(
    random.Random(distance).randbytes(distance) * 2 for distance in range(20, 600, 13)
)


@pytest.mark.parametrize("bits", BITS)
def test_window_bits_bound_references(bits: int) -> None:
    """RFC 7692, section 7.1.2: a sender never refers back further than its window.

    For 8 bits this shows that the 9-bit compressor standing in for zlib's
    missing 8-bit one stays within 256 bytes.
    """
    for level in (1, 6, 9):
        sender = PerMessageDeflate(False, False, 15, bits, {"level": level})
        payload = bytes(sender.encode(Frame(Opcode.BINARY, WINDOW_TEST_DATA)).data)
        assert strict_inflate(payload, bits) == WINDOW_TEST_DATA
        # The data does compress, so the window is used, not avoided.
        assert len(payload) < len(WINDOW_TEST_DATA) * 0.95


def test_strict_inflate_catches_references_beyond_the_window() -> None:
    """The checker above fails on a 15-bit stream read with an 8-bit window."""
    compressor = zlib.compressobj(wbits=-15)
    payload = compressor.compress(WINDOW_TEST_DATA) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert strict_inflate(payload[:-4], 15) == WINDOW_TEST_DATA
    with pytest.raises(zlib.error, match="too far back"):
        strict_inflate(payload[:-4], 8)


def test_references_beyond_the_agreed_window_are_rejected() -> None:
    """RFC 7692, section 7.1.2.1: a peer using a larger window than agreed is caught."""
    block = random.Random(1).randbytes(1000)
    sender, _ = peers(local_bits=15)
    receiver = PerMessageDeflate(False, False, 9, 15)
    assert receiver.decode(sender.encode(Frame(Opcode.BINARY, block))).data == block
    with pytest.raises(ProtocolError, match="too far back"):
        receiver.decode(sender.encode(Frame(Opcode.BINARY, block)))


@pytest.mark.parametrize(
    ("nct", "second_is_smaller"), [(False, True), (True, False)], ids=["takeover", "no-takeover"]
)
def test_context_takeover(nct: bool, second_is_smaller: bool) -> None:
    """RFC 7692, sections 7.1.1.1 and 7.1.1.2: the second identical message shrinks only
    when the compression context carries over."""
    sender, receiver = peers(local_nct=nct)
    data = text(2000)
    first, received_first = transmit(sender, receiver, [data])
    second, received_second = transmit(sender, receiver, [data])
    assert received_first == received_second == data
    if second_is_smaller:
        assert len(second[0].data) < len(first[0].data) // 4
    else:
        assert second[0].data == first[0].data


def test_compress_settings_are_used() -> None:
    """compress_settings reach zlib: level 0 stores the data instead of compressing it."""
    stored, receiver = peers(compress_settings={"level": 0})
    default, _ = peers()
    payload = stored.encode(Frame(Opcode.BINARY, DATA)).data
    assert len(payload) > len(DATA)
    assert len(default.encode(Frame(Opcode.BINARY, DATA)).data) < len(DATA) // 2
    assert receiver.decode(Frame(Opcode.BINARY, payload, rsv1=True)).data == DATA


# Encoding (RFC 7692, sections 6.1 and 7.2.1).


def test_encode_sets_rsv1_on_the_first_frame_only() -> None:
    """RFC 7692, section 6.1: RSV1 marks the first frame of a compressed message."""
    sender, _ = peers()
    wire = [sender.encode(frame) for frame in message([b"spam", b"eggs", b"ham"], Opcode.TEXT)]
    assert [(frame.opcode, frame.rsv1, frame.fin) for frame in wire] == [
        (Opcode.TEXT, True, False),
        (Opcode.CONT, False, False),
        (Opcode.CONT, False, True),
    ]


def test_encode_strips_the_tail_of_the_last_frame_only() -> None:
    """RFC 7692, section 7.2.1: every frame is flushed; the last drops 00 00 ff ff."""
    sender, _ = peers()
    wire = [sender.encode(frame) for frame in message([b"spam", b"eggs", b"ham"])]
    assert all(bytes(frame.data).endswith(TAIL) for frame in wire[:-1])
    assert not bytes(wire[-1].data).endswith(TAIL)


def test_encode_keeps_other_fields() -> None:
    """Only the payload and RSV1 change: RSV2, RSV3 and FIN belong to others."""
    sender, _ = peers()
    encoded = sender.encode(Frame(Opcode.TEXT, b"spam", fin=False, rsv2=True, rsv3=True))
    assert (encoded.opcode, encoded.fin, encoded.rsv1, encoded.rsv2, encoded.rsv3) == (
        Opcode.TEXT,
        False,
        True,
        True,
        True,
    )


@pytest.mark.parametrize("opcode", [Opcode.CLOSE, Opcode.PING, Opcode.PONG])
def test_control_frames_pass_through(opcode: Opcode) -> None:
    """RFC 7692, section 6: only data messages are compressed; control frames stay as they are."""
    sender, receiver = peers()
    frame = Frame(opcode, b"\x03\xe8")
    assert sender.encode(frame) is frame
    assert receiver.decode(frame) is frame
    flagged = Frame(opcode, b"", rsv1=True)
    assert receiver.decode(flagged) is flagged  # the engine rejects RSV1 itself


def test_control_frame_between_fragments() -> None:
    """RFC 6455, section 5.4: a control frame may come between the fragments of a message."""
    sender, receiver = peers()
    first, last = (sender.encode(frame) for frame in message([b"spam ", b"spam"]))
    ping = Frame(Opcode.PING, b"ping")
    assert receiver.decode(first).data == b"spam "
    assert receiver.decode(ping) is ping
    assert receiver.decode(last).data == b"spam"


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_any_bytes_like_payload(kind: type) -> None:
    """Payloads may be bytes, bytearray or memoryview on both paths."""
    sender, receiver = peers()
    wire = [sender.encode(frame) for frame in message([kind(b"spam " * 10), kind(b"eggs")])]
    wire = [dataclasses.replace(frame, data=kind(frame.data)) for frame in wire]
    assert decode_all(receiver, wire) == b"spam " * 10 + b"eggs"


def test_empty_message() -> None:
    """An empty message compresses to a short payload and inflates to nothing."""
    sender, receiver = peers()
    wire, received = transmit(sender, receiver, [b""])
    assert received == b""
    assert wire[0].rsv1
    assert len(wire[0].data) <= 2


# Decoding: what passes through and what is rejected (RFC 7692, sections 6.2 and 7.2.2).


def test_uncompressed_messages_pass_through() -> None:
    """RFC 7692, section 6.2: a message whose first frame lacks RSV1 is not inflated."""
    _, receiver = peers()
    frames = message([b"spam", b"eggs"], Opcode.TEXT)
    assert [receiver.decode(frame) for frame in frames] == frames
    assert all(receiver.decode(frame) is frame for frame in frames)
    # RSV1 on a continuation frame is left for the engine to reject.
    flagged = Frame(Opcode.CONT, b"eggs", rsv1=True)
    assert receiver.decode(flagged) is flagged


def test_uncompressed_message_between_compressed_ones() -> None:
    """RFC 7692, section 6: a sender may leave a message uncompressed; context is unaffected."""
    sender, receiver = peers()
    assert decode_all(receiver, [sender.encode(Frame(Opcode.TEXT, b"Hello"))]) == b"Hello"
    plain = Frame(Opcode.TEXT, b"plain")
    assert receiver.decode(plain) is plain
    assert decode_all(receiver, [sender.encode(Frame(Opcode.TEXT, b"Hello"))]) == b"Hello"


def test_rsv1_on_a_continuation_frame_of_a_compressed_message() -> None:
    """RFC 7692, section 6.1: RSV1 is set on the first frame only."""
    _, receiver = peers()
    receiver.decode(Frame(Opcode.TEXT, bytes.fromhex("f2 48"), fin=False, rsv1=True))
    with pytest.raises(ProtocolError, match="RSV1"):
        receiver.decode(Frame(Opcode.CONT, bytes.fromhex("cd c9 c9 07 00"), rsv1=True))


@pytest.mark.parametrize(
    "payload",
    [
        pytest.param(b"\xff" * 10, id="reserved-block-type"),
        pytest.param(bytes.fromhex("00 05 00 00 00"), id="bad-stored-length"),
        pytest.param(bytes.fromhex("04 c0 81 08 00 00 00 00 20 7f eb 0b 00 00"), id="bad-codes"),
    ],
)
def test_corrupted_data(payload: bytes) -> None:
    """RFC 7692, section 7.2.2: data that is not DEFLATE is a protocol error, chained to zlib's."""
    _, receiver = peers()
    with pytest.raises(ProtocolError) as excinfo:
        receiver.decode(Frame(Opcode.BINARY, payload, rsv1=True))
    assert isinstance(excinfo.value.__cause__, zlib.error)


# BFINAL (RFC 7692, section 7.2.3.4).

FINAL_HELLO = bytes.fromhex("f3 48 cd c9 c9 07 00")  # ends in the middle of its last byte


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param([FINAL_HELLO], id="header-bits-in-last-byte"),
        pytest.param([FINAL_HELLO + b"\x00"], id="header-byte"),
        pytest.param([FINAL_HELLO + b"\xf8"], id="header-byte-with-padding-bits"),
        pytest.param([FINAL_HELLO, b"\x00", b""], id="header-byte-in-next-frame"),
        pytest.param([FINAL_HELLO + b"\x00", b"", b""], id="empty-frames-after-the-end"),
    ],
)
def test_final_block_then_empty_stored_block_header(payloads: list[bytes]) -> None:
    """RFC 7692, section 7.2.3.4: after a final block, only an empty stored block may follow."""
    _, receiver = peers()
    assert decode_all(receiver, compressed(payloads)) == b"Hello"
    # The next message starts a new stream.
    assert decode_all(receiver, compressed([HELLO])) == b"Hello"


def test_final_block_ends_the_window() -> None:
    """RFC 7692, section 7.2.3.4: a message after a final block cannot refer back to earlier
    data; it fails loudly instead of inflating to wrong data."""
    _, receiver = peers()
    assert decode_all(receiver, compressed([FINAL_HELLO])) == b"Hello"
    with pytest.raises(ProtocolError, match="too far back"):
        decode_all(receiver, compressed([bytes.fromhex("f2 00 11 00 00")]))


def test_final_stored_block_may_consume_the_tail() -> None:
    """RFC 7692, section 7.2.2: a final empty stored block completed by the appended bytes."""
    _, receiver = peers()
    assert decode_all(receiver, compressed([b"\x01"])) == b""
    assert decode_all(receiver, compressed([HELLO])) == b"Hello"


@pytest.mark.parametrize(
    "payloads",
    [
        pytest.param([FINAL_HELLO + HELLO], id="block-after-the-end"),
        pytest.param([FINAL_HELLO + b"\x01"], id="final-stored-block-header"),
        pytest.param([FINAL_HELLO + b"\x02"], id="fixed-block-header"),
        pytest.param([FINAL_HELLO + b"\x00\x00", b""], id="two-bytes-in-a-non-final-frame"),
        pytest.param([FINAL_HELLO, b"\x00", b"\x00", b""], id="two-bytes-over-frames"),
    ],
)
def test_data_after_the_final_block(payloads: list[bytes]) -> None:
    """RFC 7692, section 7.2.3.4: anything else after the final block is a protocol error."""
    _, receiver = peers()
    with pytest.raises(ProtocolError, match="after the end"):
        decode_all(receiver, compressed(payloads))


def test_final_block_without_context_takeover() -> None:
    """RFC 7692, section 7.1.1.1: without context takeover the next message starts afresh."""
    _, receiver = peers(local_nct=True)
    assert decode_all(receiver, compressed([FINAL_HELLO + b"\x00"])) == b"Hello"
    assert decode_all(receiver, compressed([HELLO])) == b"Hello"


# max_size (API.md: the limit applies after decompression).

MiB = 2**20


class SpyDecompressor:
    """Wrap a zlib decompressor and record the size of each output."""

    sizes: list[int] = []  # noqa: RUF012 - shared on purpose, reset per test

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._real = REAL_DECOMPRESSOBJ(*args, **kwargs)

    def decompress(self, data: Any, max_length: int = 0) -> bytes:
        out = self._real.decompress(data, max_length)
        self.sizes.append(len(out))
        return out

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


REAL_DECOMPRESSOBJ = zlib.decompressobj


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Make the extension's decompressors report the size of everything they produce."""
    SpyDecompressor.sizes = []
    monkeypatch.setattr(zlib, "decompressobj", SpyDecompressor)
    return SpyDecompressor.sizes


@pytest.mark.parametrize("cuts", [[], [3000, 6000]], ids=["one-frame", "three-frames"])
def test_decompression_bomb(spy: list[int], cuts: list[int]) -> None:
    """10 MB of zeros in about 10 kB: inflating stops just past max_size, not at 10 MB."""
    sender, receiver = peers()
    (wire,) = [sender.encode(Frame(Opcode.BINARY, bytes(10 * 10**6)))]
    assert len(wire.data) < 11_000
    frames = compressed(split(bytes(wire.data), cuts), Opcode.BINARY)
    budgets = [MiB]

    def receive() -> None:
        for frame in frames:
            budgets.append(budgets[-1] - len(receiver.decode(frame, max_size=budgets[-1]).data))

    with pytest.raises(PayloadTooBig) as excinfo:
        receive()
    assert (excinfo.value.size, excinfo.value.max_size) == (None, budgets[-1])
    # Everything inflated, the rejected frame included, fits in max_size plus the one
    # byte that tells "too big" from "exactly full".
    assert sum(spy) <= MiB + 1


def test_incompressible_message_of_exactly_max_size(spy: list[int]) -> None:
    """API.md: a message that fits max_size once inflated is accepted even though its
    compressed payload is a few bytes larger."""
    data = random.Random(2).randbytes(MiB)
    sender, receiver = peers()
    wire = sender.encode(Frame(Opcode.BINARY, data))
    assert len(wire.data) > MiB
    assert receiver.decode(wire, max_size=MiB).data == data
    assert max(spy) == MiB
    with pytest.raises(PayloadTooBig):
        peers()[1].decode(wire, max_size=MiB - 1)


def test_exactly_max_size_over_frames() -> None:
    """The engine passes each frame what is left of the budget; a full budget still fits."""
    data = text(10_000)
    sender, receiver = peers()
    wire = [sender.encode(frame) for frame in message(split(data, [4000, 8000]))]
    budget = len(data)
    for frame in wire:
        budget -= len(receiver.decode(frame, max_size=budget).data)
    assert budget == 0


@pytest.mark.parametrize(("data", "fits"), [(b"", True), (b"x", False)])
def test_max_size_zero(data: bytes, fits: bool) -> None:
    """max_size=0 is a limit of zero bytes, not "no limit" as zlib's max_length=0 would be."""
    sender, receiver = peers()
    wire = sender.encode(Frame(Opcode.BINARY, data))
    if fits:
        assert receiver.decode(wire, max_size=0).data == b""
    else:
        with pytest.raises(PayloadTooBig):
            receiver.decode(wire, max_size=0)


def test_max_size_none_is_unlimited() -> None:
    """Without max_size, any size inflates."""
    sender, receiver = peers()
    data = bytes(3 * MiB)
    assert receiver.decode(sender.encode(Frame(Opcode.BINARY, data))).data == data


# Interoperability with websockets' implementation.

WS_BITS = (9, 12, 15)  # websockets' compressor refuses 8


@pytest.mark.parametrize(
    ("remote_nct", "local_nct", "remote_bits", "local_bits"),
    itertools.product([False, True], [False, True], WS_BITS, WS_BITS),
)
def test_interop_with_websockets(
    remote_nct: bool, local_nct: bool, remote_bits: int, local_bits: int
) -> None:
    """Messages compressed by websockets inflate here, and the other way round."""
    ours = PerMessageDeflate(remote_nct, local_nct, remote_bits, local_bits)
    theirs = ws_pmd.PerMessageDeflate(local_nct, remote_nct, local_bits, remote_bits)
    for seed in (0, 1, 0):
        data = text(5000, seed)
        chunks = split(data, [1000, 1000, 3500])
        sent = [to_ws(ours.encode(frame)) for frame in message(chunks)]
        assert b"".join(bytes(theirs.decode(frame).data) for frame in sent) == data
        received = [from_ws(theirs.encode(to_ws(frame))) for frame in message(chunks)]
        assert decode_all(ours, received) == data


def test_interop_with_websockets_8_bit_window() -> None:
    """Our 8-bit compressor produces what websockets inflates with an 8-bit window."""
    ours = PerMessageDeflate(False, False, 15, 8)
    theirs = ws_pmd.PerMessageDeflate(False, False, 8, 15)
    for seed in range(3):
        data = text(5000, seed)
        frame = to_ws(ours.encode(Frame(Opcode.TEXT, data)))
        assert theirs.decode(frame).data == data


def test_interop_negotiation_with_websockets() -> None:
    """Our default factories agree with websockets' on both sides of the handshake."""
    (our_server,) = enable_server_permessage_deflate(None)
    their_client = ws_pmd.ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5})
    response, server_extension = our_server.process_request_params(
        their_client.get_request_params(), []
    )
    client_extension = their_client.process_response_params(response, [])
    assert (client_extension.remote_max_window_bits, client_extension.local_max_window_bits) == (
        12,
        12,
    )
    data = text(3000)
    frame = from_ws(client_extension.encode(to_ws(Frame(Opcode.TEXT, data))))
    assert server_extension.decode(frame).data == data

    (our_client,) = enable_client_permessage_deflate(None)
    their_server = ws_pmd.ServerPerMessageDeflateFactory(
        server_max_window_bits=12, client_max_window_bits=12
    )
    response, their_extension = their_server.process_request_params(
        our_client.get_request_params(), []
    )
    our_extension = our_client.process_response_params(response, [])
    assert isinstance(our_extension, PerMessageDeflate)
    assert describe(our_extension) == (False, False, 12, 12)
    ws_frame = to_ws(our_extension.encode(Frame(Opcode.TEXT, data)))
    assert their_extension.decode(ws_frame).data == data


# Property tests.

params_strategy = st.tuples(
    st.booleans(), st.booleans(), st.sampled_from(range(8, 16)), st.sampled_from(range(8, 16))
)


@st.composite
def fragmented_messages(draw: st.DrawFn) -> list[list[bytes]]:
    """Draw a few messages, each cut into fragments at random offsets."""
    messages = []
    for _ in range(draw(st.integers(1, 4))):
        data = draw(st.binary(max_size=3000) | st.text(max_size=1500).map(str.encode))
        cuts = draw(st.lists(st.integers(0, len(data)), max_size=4))
        messages.append(split(data, cuts))
    return messages


@settings(max_examples=150, deadline=None)
@given(params=params_strategy, messages=fragmented_messages())
def test_property_round_trip(
    params: tuple[bool, bool, int, int], messages: list[list[bytes]]
) -> None:
    """RFC 7692, section 7.2: any messages, cut anywhere, survive compression then inflation."""
    sender, receiver = peers(*params)
    for chunks in messages:
        _, received = transmit(sender, receiver, chunks)
        assert received == b"".join(chunks)


@settings(max_examples=100, deadline=None)
@given(
    params=st.tuples(
        st.booleans(), st.booleans(), st.sampled_from(WS_BITS), st.sampled_from(WS_BITS)
    ),
    messages=fragmented_messages(),
)
def test_property_interop_with_websockets(
    params: tuple[bool, bool, int, int], messages: list[list[bytes]]
) -> None:
    """Any messages compressed by websockets inflate here, and the other way round."""
    remote_nct, local_nct, remote_bits, local_bits = params
    ours = PerMessageDeflate(remote_nct, local_nct, remote_bits, local_bits)
    theirs = ws_pmd.PerMessageDeflate(local_nct, remote_nct, local_bits, remote_bits)
    for chunks in messages:
        data = b"".join(chunks)
        sent = [to_ws(ours.encode(frame)) for frame in message(chunks)]
        assert b"".join(bytes(theirs.decode(frame).data) for frame in sent) == data
        received = [from_ws(theirs.encode(to_ws(frame))) for frame in message(chunks)]
        assert decode_all(ours, received) == data


@settings(max_examples=300, deadline=None)
@given(
    payloads=st.lists(st.binary(max_size=64), min_size=1, max_size=4),
    max_size=st.none() | st.integers(0, 2000),
    bits=st.sampled_from(range(8, 16)),
)
def test_property_any_payload_inflates_or_fails_cleanly(
    payloads: list[bytes], max_size: int | None, bits: int
) -> None:
    """Arbitrary compressed payloads either inflate within max_size or raise a documented error."""
    receiver = PerMessageDeflate(False, False, bits, 15)
    try:
        for frame in compressed(payloads):
            output = receiver.decode(frame, max_size=max_size).data
            assert max_size is None or len(output) <= max_size
    except (ProtocolError, PayloadTooBig):
        pass


# Representations and constructor checks.


def test_repr_and_str() -> None:
    """Logs show the agreed parameters."""
    extension = PerMessageDeflate(True, False, 10, 12)
    assert repr(extension) == (
        "PerMessageDeflate(remote_no_context_takeover=True, local_no_context_takeover=False, "
        "remote_max_window_bits=10, local_max_window_bits=12)"
    )
    assert str(extension) == (
        "permessage-deflate (remote: 10-bit window, no context takeover; "
        "local: 12-bit window, context takeover)"
    )
    assert repr(ClientPerMessageDeflateFactory()) == (
        "ClientPerMessageDeflateFactory(server_no_context_takeover=False, "
        "client_no_context_takeover=False, server_max_window_bits=None, "
        "client_max_window_bits=True)"
    )
    assert repr(ServerPerMessageDeflateFactory(client_max_window_bits=9)) == (
        "ServerPerMessageDeflateFactory(server_no_context_takeover=False, "
        "client_no_context_takeover=False, server_max_window_bits=None, "
        "client_max_window_bits=9, require_client_max_window_bits=False)"
    )


BAD_BITS = [7, 16, 0, -15, True, False, 12.0, "12"]
BAD_SETTINGS = [
    pytest.param({"wbits": 15}, id="wbits"),
    pytest.param({"zdict": b"spam"}, id="zdict"),
    pytest.param({"level": 42}, id="level"),
    pytest.param({"memLevel": 0}, id="memLevel"),
    pytest.param({"spam": 1}, id="unknown"),
]


@pytest.mark.parametrize("bits", [*BAD_BITS, None])
def test_extension_rejects_bad_window_bits(bits: Any) -> None:
    """RFC 7692, section 7.1.2: window sizes run from 8 to 15."""
    with pytest.raises(ValueError, match="remote_max_window_bits"):
        PerMessageDeflate(False, False, bits, 15)
    with pytest.raises(ValueError, match="local_max_window_bits"):
        PerMessageDeflate(False, False, 15, bits)


@pytest.mark.parametrize("compress_settings", BAD_SETTINGS)
def test_bad_compress_settings(compress_settings: dict[str, Any]) -> None:
    """compress_settings cannot set the window or a dictionary, and zlib must accept them."""
    with pytest.raises(ValueError, match="compress_settings"):
        PerMessageDeflate(False, False, 15, 15, compress_settings)
    with pytest.raises(ValueError, match="compress_settings"):
        ClientPerMessageDeflateFactory(compress_settings=compress_settings)
    with pytest.raises(ValueError, match="compress_settings"):
        ServerPerMessageDeflateFactory(compress_settings=compress_settings)


def test_compress_settings_are_copied() -> None:
    """Changing the caller's dict later does not change the extension."""
    settings_dict = {"level": 1}
    extension = PerMessageDeflate(False, False, 15, 15, settings_dict)
    settings_dict["wbits"] = 9
    assert extension.compress_settings == {"level": 1}


@pytest.mark.parametrize("bits", BAD_BITS)
def test_factories_reject_bad_window_bits(bits: Any) -> None:
    """RFC 7692, section 7.1.2: window sizes run from 8 to 15 in the factories too."""
    for factory in (ClientPerMessageDeflateFactory, ServerPerMessageDeflateFactory):
        with pytest.raises(ValueError, match="server_max_window_bits"):
            factory(server_max_window_bits=bits)
    if bits is not True:  # True is how the client offers the parameter without a value
        with pytest.raises(ValueError, match="client_max_window_bits"):
            ClientPerMessageDeflateFactory(client_max_window_bits=bits)
    with pytest.raises(ValueError, match="client_max_window_bits"):
        ServerPerMessageDeflateFactory(client_max_window_bits=bits)


def test_require_client_max_window_bits_needs_a_value() -> None:
    """The server can only require the parameter if it has a value to give it."""
    with pytest.raises(ValueError, match="require_client_max_window_bits"):
        ServerPerMessageDeflateFactory(require_client_max_window_bits=True)


# Client negotiation (RFC 7692, section 7.1).


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, [("client_max_window_bits", None)]),
        ({"client_max_window_bits": None}, []),
        ({"client_max_window_bits": 8}, [("client_max_window_bits", "8")]),
        (
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 10,
                "client_max_window_bits": 12,
            },
            [SNCT, CNCT, ("server_max_window_bits", "10"), ("client_max_window_bits", "12")],
        ),
    ],
)
def test_client_request_params(kwargs: dict[str, Any], expected: list[ExtensionParameter]) -> None:
    """RFC 7692, section 7.1: the offer carries the configured parameters."""
    assert ClientPerMessageDeflateFactory(**kwargs).get_request_params() == expected


CLIENT_ACCEPTS = [
    # (factory arguments, response parameters,
    #  (remote_no_context_takeover, local_no_context_takeover, remote bits, local bits))
    ({}, [], (False, False, 15, 15)),
    # 7.1.1.1 and 7.1.1.2: the server may add either no_context_takeover.
    ({}, [SNCT], (True, False, 15, 15)),
    ({}, [CNCT], (False, True, 15, 15)),
    ({"client_no_context_takeover": True}, [], (False, True, 15, 15)),
    ({"server_no_context_takeover": True}, [SNCT], (True, False, 15, 15)),
    # 7.1.2.1: the server may choose its window, within what we asked.
    ({}, [("server_max_window_bits", "10")], (False, False, 10, 15)),
    ({"server_max_window_bits": 10}, [("server_max_window_bits", "10")], (False, False, 10, 15)),
    ({"server_max_window_bits": 10}, [("server_max_window_bits", "8")], (False, False, 8, 15)),
    # 7.1.2.2: the server may cap our window when we offer the parameter.
    ({}, [("client_max_window_bits", "10")], (False, False, 15, 10)),
    ({"client_max_window_bits": 10}, [], (False, False, 15, 10)),
    ({"client_max_window_bits": 10}, [("client_max_window_bits", "9")], (False, False, 15, 9)),
    ({"client_max_window_bits": 10}, [("client_max_window_bits", "10")], (False, False, 15, 10)),
    ({"client_max_window_bits": None}, [], (False, False, 15, 15)),
    (
        {},
        [SNCT, CNCT, ("server_max_window_bits", "8"), ("client_max_window_bits", "8")],
        (True, True, 8, 8),
    ),
    (
        {},
        [("client_max_window_bits", "15"), CNCT, ("server_max_window_bits", "15"), SNCT],
        (True, True, 15, 15),
    ),
]


@pytest.mark.parametrize(("kwargs", "response", "expected"), CLIENT_ACCEPTS)
def test_client_accepts(
    kwargs: dict[str, Any],
    response: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    """RFC 7692, section 7.1: answers that fit the offer give the right extension."""
    extension = ClientPerMessageDeflateFactory(**kwargs).process_response_params(response, [])
    assert describe(extension) == expected


BAD_VALUES = [None, "", "7", "16", "08", "+9", "9.0", " 9", "nine", "1" * 5000]
CLIENT_REJECTS = [
    ({}, [("client_no_context", None)], InvalidParameterName),
    ({}, [("Server_No_Context_Takeover", None)], InvalidParameterName),
    ({}, [SNCT, SNCT], DuplicateParameter),
    ({}, [CNCT, ("server_max_window_bits", "9"), CNCT], DuplicateParameter),
    (
        {},
        [("server_max_window_bits", "9"), ("server_max_window_bits", "9")],
        DuplicateParameter,
    ),
    (
        {},
        [("client_max_window_bits", "9"), ("client_max_window_bits", "10")],
        DuplicateParameter,
    ),
    ({}, [("server_no_context_takeover", "1")], InvalidParameterValue),
    ({}, [("client_no_context_takeover", "")], InvalidParameterValue),
    *[({}, [("server_max_window_bits", value)], InvalidParameterValue) for value in BAD_VALUES],
    *[({}, [("client_max_window_bits", value)], InvalidParameterValue) for value in BAD_VALUES],
    # 7.1.1.1: the server must accept server_no_context_takeover when asked.
    ({"server_no_context_takeover": True}, [], NegotiationError),
    ({"server_no_context_takeover": True}, [CNCT], NegotiationError),
    # 7.1.2.1: the server must answer server_max_window_bits with a value that fits.
    ({"server_max_window_bits": 10}, [], NegotiationError),
    ({"server_max_window_bits": 10}, [("server_max_window_bits", "11")], NegotiationError),
    # 7.1.2.2: client_max_window_bits only if offered, and within our value.
    ({"client_max_window_bits": None}, [("client_max_window_bits", "10")], NegotiationError),
    ({"client_max_window_bits": 10}, [("client_max_window_bits", "11")], NegotiationError),
]


@pytest.mark.parametrize(("kwargs", "response", "error"), CLIENT_REJECTS)
def test_client_rejects(
    kwargs: dict[str, Any], response: list[ExtensionParameter], error: type[Exception]
) -> None:
    """RFC 7692, section 7.1: answers that break the rules or do not fit the offer fail."""
    factory = ClientPerMessageDeflateFactory(**kwargs)
    with pytest.raises(error) as excinfo:
        factory.process_response_params(response, [])
    assert type(excinfo.value) is error
    assert str(excinfo.value)


def test_client_rejects_a_second_permessage_deflate() -> None:
    """RFC 7692, section 5: the server accepts at most one permessage-deflate."""
    factory = ClientPerMessageDeflateFactory()
    first = factory.process_response_params([], [])
    with pytest.raises(NegotiationError, match="twice"):
        factory.process_response_params([], [first])


def test_client_accepts_after_another_extension() -> None:
    """Another extension accepted first does not get in the way."""

    class Other(Extension):
        name = "x-other"

    extension = ClientPerMessageDeflateFactory().process_response_params([], [Other()])
    assert extension.name == "permessage-deflate"


# Server negotiation (RFC 7692, section 7.1).

SERVER_ACCEPTS = [
    # (factory arguments, offer parameters, response parameters,
    #  (remote_no_context_takeover, local_no_context_takeover, remote bits, local bits))
    ({}, [], [], (False, False, 15, 15)),
    # 7.1.1.1 and 7.1.1.2: no_context_takeover asked by either party is granted.
    ({}, [SNCT], [SNCT], (False, True, 15, 15)),
    ({}, [CNCT], [CNCT], (True, False, 15, 15)),
    ({"server_no_context_takeover": True}, [], [SNCT], (False, True, 15, 15)),
    ({"client_no_context_takeover": True}, [], [CNCT], (True, False, 15, 15)),
    ({"server_no_context_takeover": True}, [SNCT], [SNCT], (False, True, 15, 15)),
    # 7.1.2.1: our window is the smaller of the offer's and ours.
    (
        {},
        [("server_max_window_bits", "10")],
        [("server_max_window_bits", "10")],
        (False, False, 15, 10),
    ),
    (
        {"server_max_window_bits": 10},
        [],
        [("server_max_window_bits", "10")],
        (False, False, 15, 10),
    ),
    (
        {"server_max_window_bits": 10},
        [("server_max_window_bits", "9")],
        [("server_max_window_bits", "9")],
        (False, False, 15, 9),
    ),
    (
        {"server_max_window_bits": 10},
        [("server_max_window_bits", "12")],
        [("server_max_window_bits", "10")],
        (False, False, 15, 10),
    ),
    # 7.1.2.2: the client's window is capped only where the offer allows it.
    ({}, [("client_max_window_bits", None)], [], (False, False, 15, 15)),
    (
        {},
        [("client_max_window_bits", "10")],
        [("client_max_window_bits", "10")],
        (False, False, 10, 15),
    ),
    ({"client_max_window_bits": 10}, [], [], (False, False, 15, 15)),
    (
        {"client_max_window_bits": 10},
        [("client_max_window_bits", None)],
        [("client_max_window_bits", "10")],
        (False, False, 10, 15),
    ),
    (
        {"client_max_window_bits": 10},
        [("client_max_window_bits", "9")],
        [("client_max_window_bits", "9")],
        (False, False, 9, 15),
    ),
    (
        {"client_max_window_bits": 10},
        [("client_max_window_bits", "12")],
        [("client_max_window_bits", "10")],
        (False, False, 10, 15),
    ),
    (
        {"client_max_window_bits": 10, "require_client_max_window_bits": True},
        [("client_max_window_bits", None)],
        [("client_max_window_bits", "10")],
        (False, False, 10, 15),
    ),
    (
        {
            "server_no_context_takeover": True,
            "client_no_context_takeover": True,
            "server_max_window_bits": 8,
            "client_max_window_bits": 8,
        },
        [("client_max_window_bits", None)],
        [SNCT, CNCT, ("server_max_window_bits", "8"), ("client_max_window_bits", "8")],
        (True, True, 8, 8),
    ),
]


@pytest.mark.parametrize(("kwargs", "offer", "response", "expected"), SERVER_ACCEPTS)
def test_server_accepts(
    kwargs: dict[str, Any],
    offer: list[ExtensionParameter],
    response: list[ExtensionParameter],
    expected: tuple[bool, bool, int, int],
) -> None:
    """RFC 7692, sections 7.1.1 and 7.1.2: the answer and the extension follow the offer."""
    factory = ServerPerMessageDeflateFactory(**kwargs)
    params, extension = factory.process_request_params(offer, [])
    assert params == response
    assert describe(extension) == expected


SERVER_REJECTS = [
    ({}, [("x-spam", None)], InvalidParameterName),
    ({}, [SNCT, SNCT], DuplicateParameter),
    ({}, [("client_max_window_bits", None), ("client_max_window_bits", None)], DuplicateParameter),
    ({}, [("client_max_window_bits", None), ("client_max_window_bits", "9")], DuplicateParameter),
    ({}, [("server_no_context_takeover", "yes")], InvalidParameterValue),
    ({}, [("client_no_context_takeover", "1")], InvalidParameterValue),
    *[({}, [("server_max_window_bits", value)], InvalidParameterValue) for value in BAD_VALUES],
    *[
        ({}, [("client_max_window_bits", value)], InvalidParameterValue)
        for value in BAD_VALUES
        if value is not None  # an offer may omit the value
    ],
    (
        {"client_max_window_bits": 10, "require_client_max_window_bits": True},
        [],
        NegotiationError,
    ),
]


@pytest.mark.parametrize(("kwargs", "offer", "error"), SERVER_REJECTS)
def test_server_rejects(
    kwargs: dict[str, Any], offer: list[ExtensionParameter], error: type[Exception]
) -> None:
    """RFC 7692, section 7.1: the server declines offers it cannot accept."""
    factory = ServerPerMessageDeflateFactory(**kwargs)
    with pytest.raises(error) as excinfo:
        factory.process_request_params(offer, [])
    assert type(excinfo.value) is error
    assert str(excinfo.value)


def test_server_declines_a_second_permessage_deflate() -> None:
    """RFC 7692, section 5: once one offer is accepted, later ones are declined."""
    factory = ServerPerMessageDeflateFactory()
    _, first = factory.process_request_params([], [])
    with pytest.raises(NegotiationError, match="second"):
        factory.process_request_params([], [first])


CLIENT_CONFIGS = [
    {},
    {"client_max_window_bits": None},
    {"client_max_window_bits": 9},
    {"server_no_context_takeover": True, "server_max_window_bits": 11},
    {"client_no_context_takeover": True, "client_max_window_bits": 8},
]
SERVER_CONFIGS = [
    {},
    {"server_max_window_bits": 12, "client_max_window_bits": 12},
    {"server_no_context_takeover": True, "client_no_context_takeover": True},
    {"server_max_window_bits": 8, "client_max_window_bits": 10},
]


@pytest.mark.parametrize("client_kwargs", CLIENT_CONFIGS)
@pytest.mark.parametrize("server_kwargs", SERVER_CONFIGS)
def test_negotiation_round_trip(
    client_kwargs: dict[str, Any], server_kwargs: dict[str, Any]
) -> None:
    """RFC 7692, section 7.1: both sides end up with mirror-image parameters and can talk."""
    client, server = negotiate(
        ClientPerMessageDeflateFactory(**client_kwargs),
        ServerPerMessageDeflateFactory(**server_kwargs),
    )
    assert isinstance(client, PerMessageDeflate)
    assert isinstance(server, PerMessageDeflate)
    remote_nct, local_nct, remote_bits, local_bits = describe(client)
    assert describe(server) == (local_nct, remote_nct, local_bits, remote_bits)
    for sender, receiver in ((client, server), (server, client)):
        for _ in range(2):
            assert transmit(sender, receiver, split(DATA, [7000]))[1] == DATA


# compression="deflate".


def test_enable_client_permessage_deflate() -> None:
    """The default client factory lets the server pick our window and uses memLevel 5."""
    for client_extensions in (None, list[ClientExtensionFactory]()):
        (factory,) = enable_client_permessage_deflate(client_extensions)
        assert isinstance(factory, ClientPerMessageDeflateFactory)
        assert factory.get_request_params() == [("client_max_window_bits", None)]
        assert factory.compress_settings == {"memLevel": 5}


def test_enable_server_permessage_deflate() -> None:
    """The default server factory uses 12-bit windows and memLevel 5."""
    for server_extensions in (None, list[ServerExtensionFactory]()):
        (factory,) = enable_server_permessage_deflate(server_extensions)
        assert isinstance(factory, ServerPerMessageDeflateFactory)
        assert (factory.server_max_window_bits, factory.client_max_window_bits) == (12, 12)
        assert not factory.require_client_max_window_bits
        assert factory.compress_settings == {"memLevel": 5}


class OtherClient(ClientExtensionFactory):
    name = "x-other"


class OtherServer(ServerExtensionFactory):
    name = "x-other"


def test_enable_keeps_a_configured_factory() -> None:
    """A permessage-deflate factory the user configured stays, alone and unchanged."""
    client = ClientPerMessageDeflateFactory(client_max_window_bits=9)
    server = ServerPerMessageDeflateFactory(server_no_context_takeover=True)
    client_list = [OtherClient(), client]
    server_list = [server, OtherServer()]
    assert enable_client_permessage_deflate(client_list) == client_list
    assert enable_server_permessage_deflate(server_list) == server_list
    assert enable_client_permessage_deflate(client_list) is not client_list


def test_enable_appends_after_other_extensions() -> None:
    """Other extensions keep their place; permessage-deflate comes last; the input is untouched."""
    client_list: list[ClientExtensionFactory] = [OtherClient()]
    server_list: list[ServerExtensionFactory] = [OtherServer()]
    client_result = enable_client_permessage_deflate(client_list)
    server_result = enable_server_permessage_deflate(tuple(server_list))
    assert [factory.name for factory in client_result] == ["x-other", "permessage-deflate"]
    assert [factory.name for factory in server_result] == ["x-other", "permessage-deflate"]
    assert len(client_list) == 1


def test_public_module_reexports() -> None:
    """API.md: anywebsockets.extensions.permessage_deflate exposes the factories."""
    for name in permessage_deflate.__all__:
        assert getattr(public, name) is getattr(permessage_deflate, name)
    assert set(public.__all__) == set(permessage_deflate.__all__)
