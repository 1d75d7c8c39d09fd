"""Payload masking (RFC 6455, section 5.3) and opening handshake keys (section 4).

Masking is the hot loop of the protocol: servers unmask every frame they
receive and clients mask every frame they send. :func:`apply_mask` is the C
version from :mod:`anywebsockets.protocol._speedups` when that extension was
built, and the pure-Python :func:`_apply_mask_python` otherwise; both accept
any bytes-like object and return :class:`bytes`.
"""

from __future__ import annotations

import base64
import hashlib
import secrets

__all__ = ["GUID", "accept_key", "apply_mask", "concat_masked", "generate_key"]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
"""The fixed string that section 1.3 appends to ``Sec-WebSocket-Key``."""

# Big-integer XOR is fastest while the integers fit in the CPU caches, so the
# pure-Python version masks large payloads by chunks of this size (a multiple
# of 4, so every chunk starts in phase with the key): about twice as fast on
# a 1 MiB payload as one giant integer.
_CHUNK = 16384


def _apply_mask_python(
    data: bytes | bytearray | memoryview, mask: bytes | bytearray | memoryview, /
) -> bytes:
    """XOR ``data`` with the 4-byte ``mask`` repeated, in pure Python.

    The payload and the repeated key become two big integers; one XOR masks
    the whole chunk at C speed (about 150 to 300 MB/s).

    Args:
        data: the payload; a memoryview of any shape and contiguity is read
            in C order, byte by byte.
        mask: the masking key.
    Returns:
        The masked (or, equivalently, unmasked) payload.
    Raises:
        ValueError: ``mask`` is not exactly 4 bytes long.
    """
    # Calling bytes() costs more than the type checks that avoid it.
    if type(mask) is not bytes:
        mask = bytes(mask)
    if len(mask) != 4:
        raise ValueError(f"mask must be 4 bytes long, not {len(mask)}")
    if type(data) is not bytes:
        data = bytes(data)  # flattens a memoryview of any shape or format
    size = len(data)
    if size <= _CHUNK:
        key = int.from_bytes(mask * (size >> 2) + mask[: size & 3], "little")
        return (int.from_bytes(data, "little") ^ key).to_bytes(size, "little")
    view = memoryview(data)
    key = int.from_bytes(mask * (_CHUNK >> 2), "little")
    parts = [
        (int.from_bytes(view[start : start + _CHUNK], "little") ^ key).to_bytes(_CHUNK, "little")
        for start in range(0, size - _CHUNK + 1, _CHUNK)
    ]
    rest = size % _CHUNK
    if rest:
        parts.append(_apply_mask_python(view[size - rest :], mask))
    return b"".join(parts)


def _concat_masked_python(
    prefix: bytes | bytearray | memoryview,
    data: bytes | bytearray | memoryview,
    mask: bytes | bytearray | memoryview,
    /,
) -> bytes:
    """Return ``prefix`` followed by ``data`` masked with ``mask``, in pure Python.

    Args:
        prefix: bytes to put first, unmasked (a frame header and its key).
        data: the payload to mask.
        mask: the masking key.
    Returns:
        One bytes object: the prefix, then the masked payload.
    Raises:
        ValueError: ``mask`` is not exactly 4 bytes long.
    """
    return bytes(prefix) + _apply_mask_python(data, mask)


try:
    from ._speedups import apply_mask, concat_masked
except ImportError:  # pragma: no cover  # only when the C extension could not be built
    apply_mask = _apply_mask_python
    concat_masked = _concat_masked_python


def generate_key() -> str:
    """Return a new random ``Sec-WebSocket-Key`` (RFC 6455, section 4.1).

    Returns:
        The base64 encoding of 16 bytes from a cryptographically secure source.
    """
    return base64.b64encode(secrets.token_bytes(16)).decode("ascii")


def accept_key(key: str) -> str:
    """Return the ``Sec-WebSocket-Accept`` value that answers ``key`` (section 4.2.2).

    Args:
        key: the ``Sec-WebSocket-Key`` header of the client's request.
    Returns:
        The base64 encoding of the SHA-1 digest of ``key`` followed by :data:`GUID`.
    """
    digest = hashlib.sha1((key + GUID).encode(), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")
