"""Tests for anywebsockets.protocol.utils: masking (RFC 6455, 5.3) and handshake keys (4)."""

from __future__ import annotations

import array
import base64
import hashlib
import threading
import time
import types
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anywebsockets.protocol import utils
from anywebsockets.protocol.utils import (
    GUID,
    _apply_mask_python,
    _concat_masked_python,
    accept_key,
    apply_mask,
    concat_masked,
    generate_key,
)

_speedups: types.ModuleType | None
try:
    from anywebsockets.protocol import _speedups
except ImportError:  # pragma: no cover  # the C extension is optional
    _speedups = None

needs_c = pytest.mark.skipif(_speedups is None, reason="C extension not built")

ApplyMask = Callable[[bytes | bytearray | memoryview, bytes | bytearray | memoryview], bytes]

# Both implementations of apply_mask; the C one is skipped when it was not built.
APPLY_MASK = [
    pytest.param(_apply_mask_python, id="python"),
    pytest.param(getattr(_speedups, "apply_mask", None), id="c", marks=needs_c),
]
CONCAT_MASKED = [
    pytest.param(_concat_masked_python, id="python"),
    pytest.param(getattr(_speedups, "concat_masked", None), id="c", marks=needs_c),
]

KEY = bytes.fromhex("37fa213d")


def reference_mask(data: bytes, mask: bytes) -> bytes:
    """Mask byte by byte, exactly as section 5.3 defines it."""
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


# Masking, RFC 6455 section 5.3.


@pytest.mark.parametrize("apply", APPLY_MASK)
def test_apply_mask_rfc_5_7_example(apply: ApplyMask) -> None:
    """The masked "Hello" of section 5.7."""
    assert apply(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
    assert apply(bytes.fromhex("7f9f4d5158"), KEY) == b"Hello"


@pytest.mark.parametrize("apply", APPLY_MASK)
@pytest.mark.parametrize(
    "size",
    # Around every block size of both implementations: 8 and 16 bytes in
    # C, 16 KiB chunks in Python; from 256 KiB on, C releases the GIL.
    [*range(70), 127, 128, 129, 1023, 16383, 16384, 16385, 32768, 49155, 65536, 262143, 262147],
)
def test_apply_mask_sizes(apply: ApplyMask, size: int) -> None:
    """Every length masks like the byte-by-byte definition of section 5.3."""
    data = bytes((i * 7 + 3) % 256 for i in range(size))
    result = apply(data, KEY)
    assert type(result) is bytes
    assert result == reference_mask(data, KEY)


@pytest.mark.parametrize("apply", APPLY_MASK)
def test_apply_mask_large(apply: ApplyMask) -> None:
    """A 1 MiB payload plus a tail, far beyond every block size."""
    data = bytes(range(251)) * 4200 + b"tail!"
    assert apply(data, KEY) == reference_mask(data, KEY)


@pytest.mark.parametrize("apply", APPLY_MASK)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_apply_mask_data_types(apply: ApplyMask, kind: type) -> None:
    """Data may be any bytes-like object; the result is bytes."""
    result = apply(kind(b"Hello, world!"), KEY)
    assert type(result) is bytes
    assert result == reference_mask(b"Hello, world!", KEY)


@pytest.mark.parametrize("apply", APPLY_MASK)
@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_apply_mask_mask_types(apply: ApplyMask, kind: type) -> None:
    """The key may be any bytes-like object of 4 bytes."""
    assert apply(b"Hello", kind(KEY)) == bytes.fromhex("7f9f4d5158")


@pytest.mark.parametrize("apply", APPLY_MASK)
@pytest.mark.parametrize("mask", [b"", b"abc", b"abcde", b"\x00" * 8])
def test_apply_mask_bad_mask_length(apply: ApplyMask, mask: bytes) -> None:
    """A key that is not 4 bytes long is a ValueError."""
    with pytest.raises(ValueError, match="mask must be 4 bytes long"):
        apply(b"Hello", mask)


@pytest.mark.parametrize("apply", APPLY_MASK)
def test_apply_mask_non_contiguous(apply: ApplyMask) -> None:
    """A strided memoryview is read in order, as if copied to bytes first."""
    base = bytes(range(200))
    view = memoryview(base)[1::3]
    assert not view.c_contiguous
    assert apply(view, KEY) == reference_mask(base[1::3], KEY)


@pytest.mark.parametrize("apply", APPLY_MASK)
def test_apply_mask_multidimensional(apply: ApplyMask) -> None:
    """A 2-D view, contiguous or not, is read in C order."""
    base = bytes(range(48))
    view = memoryview(base).cast("B", (6, 8))
    assert apply(view, KEY) == reference_mask(base, KEY)
    columns = view[::2]
    assert not columns.c_contiguous or columns.nbytes != len(base)
    assert apply(columns, KEY) == reference_mask(columns.tobytes(), KEY)


@pytest.mark.parametrize("apply", APPLY_MASK)
def test_apply_mask_item_format(apply: ApplyMask) -> None:
    """A view with multi-byte items is masked byte by byte, all of its bytes."""
    items = array.array("i", [1, 2, 3, -1, 1 << 20])
    view = memoryview(items)
    assert len(view) == 5
    assert apply(view, KEY) == reference_mask(items.tobytes(), KEY)


@needs_c
def test_apply_mask_c_errors() -> None:
    """The C functions check their arguments like Python functions would."""
    assert _speedups is not None
    with pytest.raises(TypeError, match="exactly 2 arguments"):
        _speedups.apply_mask(b"data")
    with pytest.raises(TypeError, match="exactly 3 arguments"):
        _speedups.concat_masked(b"", b"data")
    with pytest.raises(TypeError):
        _speedups.apply_mask("text", KEY)
    with pytest.raises(TypeError):
        _speedups.apply_mask(b"data", "abcd")
    with pytest.raises(TypeError):
        _speedups.concat_masked("text", b"data", KEY)
    with pytest.raises(ValueError, match="not 3"):
        _speedups.concat_masked(b"", b"data", b"abc")


def longest_pause_while(work: Callable[[], object]) -> tuple[float, float]:
    """Run ``work`` in a thread; return how long it took and the longest time
    this thread went without running meanwhile."""
    duration = 0.0
    go = threading.Event()

    def run() -> None:
        nonlocal duration
        go.wait()
        start = time.perf_counter()
        work()
        duration = time.perf_counter() - start

    thread = threading.Thread(target=run)
    thread.start()
    longest = 0.0
    last = time.perf_counter()
    go.set()
    while thread.is_alive():
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
    thread.join()
    return duration, longest


@needs_c
def test_apply_mask_c_releases_gil() -> None:
    """Large buffers are masked without the GIL: other threads keep running.

    Holding the GIL would stall this thread for the whole call; a few
    attempts absorb an unlucky pause from the operating system.
    """
    assert _speedups is not None
    apply = _speedups.apply_mask
    data = bytes(32 << 20)
    for _ in range(5):
        duration, longest = longest_pause_while(lambda: apply(data, KEY))
        if longest < duration / 4:
            break
    assert longest < duration / 4


@needs_c
def test_default_is_c() -> None:
    """The module picks the C versions when the extension is importable."""
    assert _speedups is not None
    assert utils.apply_mask is _speedups.apply_mask
    assert utils.concat_masked is _speedups.concat_masked


@st.composite
def buffers(draw: st.DrawFn) -> tuple[bytes | bytearray | memoryview, bytes]:
    """Any bytes-like object: bytes, bytearray, or an unaligned or strided view."""
    raw = draw(st.binary(max_size=300) | st.binary(min_size=0, max_size=7))
    kind = draw(st.sampled_from(["bytes", "bytearray", "offset view", "strided view"]))
    if kind == "bytes":
        return raw, raw
    if kind == "bytearray":
        return bytearray(raw), raw
    if kind == "offset view":
        offset = draw(st.integers(0, 7))
        view = memoryview(bytes(offset) + raw)[offset:]
        return view, raw
    step = draw(st.integers(1, 4))
    return memoryview(raw)[::step], raw[::step]


@needs_c
@given(data=buffers(), mask=st.binary(min_size=4, max_size=4))
def test_c_matches_python(data: tuple[bytes | bytearray | memoryview, bytes], mask: bytes) -> None:
    """Section 5.3: both implementations agree on any input, and on the definition."""
    assert _speedups is not None
    value, raw = data
    expected = reference_mask(raw, mask)
    assert _apply_mask_python(value, mask) == expected
    assert _speedups.apply_mask(value, mask) == expected


@pytest.mark.parametrize("apply", APPLY_MASK)
@given(data=buffers(), mask=st.binary(min_size=4, max_size=4))
def test_apply_mask_involution(
    apply: ApplyMask, data: tuple[bytes | bytearray | memoryview, bytes], mask: bytes
) -> None:
    """Masking twice with the same key gives the data back (section 5.3)."""
    value, raw = data
    assert apply(apply(value, mask), mask) == raw


@pytest.mark.parametrize("concat", CONCAT_MASKED)
@pytest.mark.parametrize("size", [0, 1, 5, 64, 1000, 70000])
def test_concat_masked(concat: Callable[..., bytes], size: int) -> None:
    """The prefix is kept as is and the data masked after it, in one bytes object."""
    prefix = b"\x82\x85" + KEY
    data = bytes(i % 251 for i in range(size))
    result = concat(prefix, data, KEY)
    assert type(result) is bytes
    assert result == prefix + reference_mask(data, KEY)
    assert concat(bytearray(prefix), memoryview(data)[::2], KEY) == prefix + reference_mask(
        data[::2], KEY
    )
    assert concat(b"", data, KEY) == reference_mask(data, KEY)


@pytest.mark.parametrize("concat", CONCAT_MASKED)
def test_concat_masked_bad_mask(concat: Callable[..., bytes]) -> None:
    """The key must be 4 bytes long."""
    with pytest.raises(ValueError, match="mask must be 4 bytes long"):
        concat(b"head", b"data", b"key")


def test_module_functions() -> None:
    """Whatever the implementation, the module's functions mask correctly."""
    assert apply_mask(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
    assert concat_masked(b"!", b"Hello", KEY) == b"!" + bytes.fromhex("7f9f4d5158")


# Opening handshake keys, RFC 6455 section 4.


def test_generate_key() -> None:
    """Section 4.1: a base64-encoded random 16-byte value, new each time."""
    key = generate_key()
    assert len(key) == 24
    assert len(base64.b64decode(key, validate=True)) == 16
    assert len({generate_key() for _ in range(100)}) == 100


def test_accept_key_rfc_example() -> None:
    """Section 1.3: the sample nonce and its Sec-WebSocket-Accept value."""
    assert accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def test_accept_key_definition() -> None:
    """Section 4.2.2: base64 of the SHA-1 of the key and the GUID."""
    key = generate_key()
    expected = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    assert accept_key(key) == expected
    assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
