"""A byte buffer read by generator-based parsers.

Parsers written as generators ``yield`` while the bytes they need have not
arrived yet; :class:`StreamReader` hands them complete lines, exact byte
counts, or everything up to the end of the stream. The opening handshake is
parsed this way: it is short-lived, so clarity wins over speed there.
"""

from __future__ import annotations

from collections.abc import Generator

__all__ = ["StreamReader"]


class StreamReader:
    """Buffer of incoming bytes for generator-based parsers.

    Feed it with :meth:`feed_data` and :meth:`feed_eof`; read from it with the
    ``read_*`` generators, which yield ``None`` while data is missing.
    """

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.eof = False

    def read_line(self, m: int) -> Generator[None, None, bytes]:
        """Read a line ending with ``\\n``, terminator included.

        Args:
            m: the longest line accepted, terminator included.
        Returns:
            The line.
        Raises:
            EOFError: the stream ended before a full line arrived.
            RuntimeError: the line is longer than ``m``.
        """
        n = 0  # how much of the buffer was already searched
        while True:
            end = self.buffer.find(b"\n", n) + 1
            if end > 0:
                break
            n = len(self.buffer)
            if n > m:
                raise RuntimeError(f"read {n} bytes, expected no more than {m} bytes")
            if self.eof:
                raise EOFError(f"stream ends after {n} bytes, before end of line")
            yield
        if end > m:
            raise RuntimeError(f"read {end} bytes, expected no more than {m} bytes")
        line = bytes(self.buffer[:end])
        del self.buffer[:end]
        return line

    def read_exact(self, n: int) -> Generator[None, None, bytes]:
        """Read exactly ``n`` bytes.

        Raises:
            EOFError: the stream ended first.
        """
        assert n >= 0
        while len(self.buffer) < n:
            if self.eof:
                p = len(self.buffer)
                raise EOFError(f"stream ends after {p} bytes, expected {n} bytes")
            yield
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def read_to_eof(self, m: int) -> Generator[None, None, bytes]:
        """Read everything until the end of the stream.

        Args:
            m: the most bytes accepted.
        Raises:
            RuntimeError: more than ``m`` bytes arrived.
        """
        while not self.eof:
            if len(self.buffer) > m:
                raise RuntimeError(
                    f"read {len(self.buffer)} bytes, expected no more than {m} bytes"
                )
            yield
        if len(self.buffer) > m:
            raise RuntimeError(f"read {len(self.buffer)} bytes, expected no more than {m} bytes")
        data = bytes(self.buffer)
        del self.buffer[:]
        return data

    def at_eof(self) -> Generator[None, None, bool]:
        """Tell whether the stream ended with no bytes left to read."""
        while True:
            if self.buffer:
                return False
            if self.eof:
                return True
            yield

    def feed_data(self, data: bytes | bytearray | memoryview) -> None:
        """Append bytes received from the network.

        Raises:
            EOFError: the stream already ended.
        """
        if self.eof:
            raise EOFError("stream ended")
        self.buffer += data

    def feed_eof(self) -> None:
        """Record the end of the stream.

        Raises:
            EOFError: the stream already ended.
        """
        if self.eof:
            raise EOFError("stream ended")
        self.eof = True

    def discard(self) -> None:
        """Drop what is buffered, for a connection that no longer parses."""
        del self.buffer[:]
