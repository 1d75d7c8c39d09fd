"""Tests for anywebsockets.protocol.streams: the buffer behind generator-based parsers."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from anywebsockets.protocol.streams import StreamReader

PENDING = object()


def step(gen: Generator[None, None, Any]) -> Any:
    """Run ``gen`` until it yields or returns; return its value, or PENDING."""
    try:
        next(gen)
    except StopIteration as exc:
        return exc.value
    return PENDING


def reader_with(data: bytes | bytearray | memoryview = b"", *, eof: bool = False) -> StreamReader:
    reader = StreamReader()
    reader.feed_data(data)
    if eof:
        reader.feed_eof()
    return reader


# read_line


def test_read_line_returns_line_with_terminator_and_keeps_the_rest() -> None:
    reader = reader_with(b"spam\r\neggs\n")
    assert step(reader.read_line(32)) == b"spam\r\n"
    assert step(reader.read_line(32)) == b"eggs\n"
    assert reader.buffer == b""


def test_read_line_waits_for_terminator() -> None:
    reader = reader_with(b"sp")
    gen = reader.read_line(32)
    assert step(gen) is PENDING
    reader.feed_data(b"am")
    assert step(gen) is PENDING
    reader.feed_data(b"\nrest")
    assert step(gen) == b"spam\n"
    assert reader.buffer == b"rest"


def test_read_line_byte_by_byte() -> None:
    reader = StreamReader()
    gen = reader.read_line(32)
    assert step(gen) is PENDING
    for byte in b"abc\r":
        reader.feed_data(bytes([byte]))
        assert step(gen) is PENDING
    reader.feed_data(b"\n")
    assert step(gen) == b"abc\r\n"


def test_read_line_accepts_exactly_m_bytes() -> None:
    reader = reader_with(b"abc\n")
    assert step(reader.read_line(4)) == b"abc\n"


def test_read_line_refuses_complete_line_over_m() -> None:
    reader = reader_with(b"abcd\n")
    with pytest.raises(RuntimeError, match="read 5 bytes, expected no more than 4 bytes"):
        step(reader.read_line(4))


def test_read_line_refuses_incomplete_line_over_m() -> None:
    reader = reader_with(b"abcd")
    gen = reader.read_line(4)
    assert step(gen) is PENDING
    reader.feed_data(b"e")
    with pytest.raises(RuntimeError, match="read 5 bytes"):
        step(gen)


def test_read_line_eof_before_terminator() -> None:
    reader = reader_with(b"abc", eof=True)
    with pytest.raises(EOFError, match="stream ends after 3 bytes, before end of line"):
        step(reader.read_line(32))


def test_read_line_eof_while_waiting() -> None:
    reader = StreamReader()
    gen = reader.read_line(32)
    assert step(gen) is PENDING
    reader.feed_eof()
    with pytest.raises(EOFError, match="after 0 bytes"):
        step(gen)


# read_exact


def test_read_exact_returns_n_bytes_and_keeps_the_rest() -> None:
    reader = reader_with(b"abcdef")
    assert step(reader.read_exact(4)) == b"abcd"
    assert reader.buffer == b"ef"


def test_read_exact_zero_bytes() -> None:
    reader = StreamReader()
    assert step(reader.read_exact(0)) == b""


def test_read_exact_waits_for_data() -> None:
    reader = reader_with(b"ab")
    gen = reader.read_exact(4)
    assert step(gen) is PENDING
    reader.feed_data(b"c")
    assert step(gen) is PENDING
    reader.feed_data(b"de")
    assert step(gen) == b"abcd"
    assert reader.buffer == b"e"


def test_read_exact_eof_first() -> None:
    reader = reader_with(b"ab")
    gen = reader.read_exact(4)
    assert step(gen) is PENDING
    reader.feed_eof()
    with pytest.raises(EOFError, match="stream ends after 2 bytes, expected 4 bytes"):
        step(gen)


# read_to_eof


def test_read_to_eof_returns_everything() -> None:
    reader = reader_with(b"ab")
    gen = reader.read_to_eof(8)
    assert step(gen) is PENDING
    reader.feed_data(b"cd")
    assert step(gen) is PENDING
    reader.feed_eof()
    assert step(gen) == b"abcd"
    assert reader.buffer == b""


def test_read_to_eof_accepts_exactly_m_bytes() -> None:
    reader = reader_with(b"abcd", eof=True)
    assert step(reader.read_to_eof(4)) == b"abcd"


def test_read_to_eof_refuses_more_than_m_bytes_while_waiting() -> None:
    reader = reader_with(b"abcd")
    gen = reader.read_to_eof(4)
    assert step(gen) is PENDING
    reader.feed_data(b"e")
    with pytest.raises(RuntimeError, match="read 5 bytes, expected no more than 4 bytes"):
        step(gen)


def test_read_to_eof_refuses_more_than_m_bytes_at_eof() -> None:
    reader = reader_with(b"abcde", eof=True)
    with pytest.raises(RuntimeError, match="read 5 bytes"):
        step(reader.read_to_eof(4))


# at_eof


def test_at_eof_false_with_data() -> None:
    assert step(reader_with(b"a").at_eof()) is False


def test_at_eof_true_when_ended_and_empty() -> None:
    assert step(reader_with(eof=True).at_eof()) is True


def test_at_eof_waits_until_it_knows() -> None:
    reader = StreamReader()
    gen = reader.at_eof()
    assert step(gen) is PENDING
    reader.feed_data(b"a")
    assert step(gen) is False
    other = StreamReader()
    gen = other.at_eof()
    assert step(gen) is PENDING
    other.feed_eof()
    assert step(gen) is True


# feeding and discarding


@pytest.mark.parametrize("data", [b"ab", bytearray(b"ab"), memoryview(b"ab")])
def test_feed_data_accepts_bytes_like(data: bytes | bytearray | memoryview) -> None:
    reader = reader_with(data)
    assert reader.buffer == b"ab"


def test_feed_data_after_eof() -> None:
    reader = reader_with(eof=True)
    with pytest.raises(EOFError, match="stream ended"):
        reader.feed_data(b"a")


def test_feed_eof_twice() -> None:
    reader = reader_with(eof=True)
    with pytest.raises(EOFError, match="stream ended"):
        reader.feed_eof()


def test_discard_drops_buffer() -> None:
    reader = reader_with(b"abc")
    reader.discard()
    assert reader.buffer == b""
    reader.feed_data(b"d")
    assert step(reader.read_exact(1)) == b"d"


@given(st.binary(max_size=64), st.integers(min_value=1, max_value=8))
def test_read_line_any_split_gives_the_same_lines(data: bytes, split: int) -> None:
    """Feeding in pieces of any size gives the lines that feeding whole gives."""
    whole = reader_with(data, eof=True)
    expected = []
    while b"\n" in whole.buffer:
        expected.append(step(whole.read_line(100)))
    reader = StreamReader()
    lines = []
    gen = reader.read_line(100)
    for start in range(0, len(data), split):
        reader.feed_data(data[start : start + split])
        while (line := step(gen)) is not PENDING:
            lines.append(line)
            gen = reader.read_line(100)
    assert lines == expected
    assert reader.buffer == whole.buffer
