"""Type stubs for the C accelerator built from ``_speedups.c``."""

def apply_mask(
    data: bytes | bytearray | memoryview, mask: bytes | bytearray | memoryview, /
) -> bytes: ...
def concat_masked(
    prefix: bytes | bytearray | memoryview,
    data: bytes | bytearray | memoryview,
    mask: bytes | bytearray | memoryview,
    /,
) -> bytes: ...
