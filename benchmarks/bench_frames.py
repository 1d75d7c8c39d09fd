"""Frame parsing, serialization and masking: anywebsockets against websockets.

Run ``python benchmarks/bench_frames.py``; it takes about 20 seconds. Both
libraries are measured in the same run, alternately, and the table shows the
median time per operation and the ratio anywebsockets / websockets (below 1:
anywebsockets is faster). Absolute figures depend on the machine; the ratios
are what to compare between runs.

What is measured, as the protocol engines use these functions:

- parse: feed the bytes of one frame into the receive buffer, parse the frame,
  validate it, drop its bytes from the buffer. websockets is driven like its
  ``Protocol.parse()``: a long-lived generator around ``Frame.parse`` reading
  from a ``StreamReader`` that ``feed_data()`` fills. anywebsockets calls
  ``parse_frame()`` on a bytearray, then ``Frame.check()`` (which websockets'
  parser includes).
- parse 1000x16 B in 1 read: one read holding 1000 small frames, all parsed
  before the buffer is trimmed once (time per frame).
- serialize: a ready ``Frame`` to bytes; ``Frame.check()`` included for
  anywebsockets since websockets' ``serialize()`` runs it.
- mask: XOR a payload with a 4-byte key.

"mask=True" is the server side for parsing (clients mask) and the client side
for serializing.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Generator

import websockets.utils
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode as WsOpcode
from websockets.streams import StreamReader

from anywebsockets.protocol import utils as aws_utils
from anywebsockets.protocol.frames import OP_BINARY, Frame, parse_frame

try:
    from websockets.speedups import apply_mask as ws_apply_mask_c
except ImportError:  # pragma: no cover
    sys.exit("websockets was installed without its C speedups: nothing to compare with")

try:
    from anywebsockets.protocol._speedups import apply_mask as aws_apply_mask_c
except ImportError:  # pragma: no cover
    sys.exit("anywebsockets.protocol._speedups is not built: run `pip install -e .` first")

SIZES = [16, 1024, 64 * 1024, 1024 * 1024]
BATCH = 1000  # small frames in one read, for the batch case
KEY = b"\x37\xfa\x21\x3d"

Bench = Callable[[int], None]  # runs the operation n times


def label(size: int) -> str:
    """16 B, 1 KiB, 64 KiB, 1 MiB."""
    if size >= 1 << 20:
        return f"{size >> 20} MiB"
    if size >= 1 << 10:
        return f"{size >> 10} KiB"
    return f"{size} B"


# anywebsockets


def aws_parse(data: bytes, mask: bool, frames: int = 1) -> Bench:
    """Feed ``data`` into a bytearray, parse its frames, then drop them."""
    buf = bytearray()

    def run(n: int) -> None:
        for _ in range(n):
            buf.extend(data)
            pos = 0
            for _ in range(frames):
                parsed = parse_frame(buf, pos, mask=mask, max_size=None)
                assert parsed is not None
                frame, pos = parsed
                frame.check()
            del buf[:pos]

    return run


def aws_serialize(payload: bytes, mask: bool) -> Bench:
    frame = Frame(OP_BINARY, payload)

    def run(n: int) -> None:
        for _ in range(n):
            frame.check()
            frame.serialize(mask=mask)

    return run


# websockets


def ws_parse(data: bytes, mask: bool, frames: int = 1) -> Bench:
    """Drive ``Frame.parse`` the way ``websockets.protocol.Protocol`` does."""
    reader = StreamReader()
    parsed: list[WsFrame] = []

    def parser() -> Generator[None, None, None]:
        while True:
            frame = yield from WsFrame.parse(
                reader.read_exact, mask=mask, max_size=None, extensions=[]
            )
            parsed.append(frame)

    gen = parser()
    next(gen)  # waits for the first bytes

    def run(n: int) -> None:
        for _ in range(n):
            reader.feed_data(data)
            next(gen)  # parses every complete frame, then waits for more
            assert len(parsed) == frames
            parsed.clear()

    return run


def ws_serialize(payload: bytes, mask: bool) -> Bench:
    frame = WsFrame(WsOpcode.BINARY, payload)

    def run(n: int) -> None:
        for _ in range(n):
            frame.serialize(mask=mask)

    return run


def masking(apply: Callable[[bytes, bytes], bytes], payloads: list[bytes]) -> Bench:
    """Mask each of ``payloads`` in turn.

    Throughput on large buffers depends on how the input and the output
    happen to be placed relative to each other (cache sets, prefetchers);
    cycling through several inputs averages that luck out of the ratio.
    """

    def run(n: int) -> None:
        for i in range(n):
            apply(payloads[i & 3], KEY)

    return run


# Measurement


def calibrate(bench: Bench, min_time: float) -> int:
    """How many operations make a sample last about ``min_time`` seconds."""
    n = 1
    while True:
        start = time.perf_counter()
        bench(n)
        elapsed = time.perf_counter() - start
        if elapsed >= min_time / 4:
            return max(1, round(n * min_time / elapsed))
        n *= 4


def measure(benches: list[Bench], repeat: int, min_time: float) -> list[float]:
    """Median seconds per operation of each bench, sampled alternately.

    The order is reversed every other round, so that no bench always runs
    right after the same other one (and inherits its cache or heap state).
    """
    counts = [calibrate(bench, min_time) for bench in benches]
    samples: list[list[float]] = [[] for _ in benches]
    order = list(range(len(benches)))
    for _ in range(repeat):
        for i in order:
            start = time.perf_counter()
            benches[i](counts[i])
            samples[i].append((time.perf_counter() - start) / counts[i])
        order.reverse()
    return [statistics.median(times) for times in samples]


def fmt_time(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:8.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:8.2f} us"
    return f"{seconds * 1e9:8.0f} ns"


def frame_table(repeat: int, min_time: float) -> None:
    print(f"{'frames':<34}{'anywebsockets':>14}{'websockets':>14}{'ratio':>8}")
    for op in ("parse", "serialize"):
        for mask in (False, True):
            for size in SIZES:
                payload = os.urandom(size)
                if op == "parse":
                    data = WsFrame(WsOpcode.BINARY, payload).serialize(mask=mask)
                    benches = [aws_parse(data, mask), ws_parse(data, mask)]
                else:
                    benches = [aws_serialize(payload, mask), ws_serialize(payload, mask)]
                ours, theirs = measure(benches, repeat, min_time)
                name = f"{op} {label(size)} {'masked' if mask else 'unmasked'}"
                print(f"{name:<34}{fmt_time(ours):>14}{fmt_time(theirs):>14}{ours / theirs:>8.2f}")
        if op == "parse":
            for mask in (False, True):
                chunk = b"".join(
                    WsFrame(WsOpcode.BINARY, os.urandom(16)).serialize(mask=mask)
                    for _ in range(BATCH)
                )
                benches = [aws_parse(chunk, mask, BATCH), ws_parse(chunk, mask, BATCH)]
                ours, theirs = (t / BATCH for t in measure(benches, repeat, min_time))
                name = f"parse {BATCH}x16 B in 1 read, {'masked' if mask else 'unmasked'}"
                print(f"{name:<34}{fmt_time(ours):>14}{fmt_time(theirs):>14}{ours / theirs:>8.2f}")


def mask_table(repeat: int, min_time: float) -> None:
    implementations: list[tuple[str, Callable[[bytes, bytes], bytes]]] = [
        ("anywebsockets C", aws_apply_mask_c),
        ("websockets C", ws_apply_mask_c),
        ("anywebsockets Python", aws_utils._apply_mask_python),
        ("websockets Python", websockets.utils.apply_mask),
    ]
    print(f"{'masking':<34}{'time':>14}{'MB/s':>10}{'us/MiB':>10}{'vs ws C':>9}")
    for size in SIZES:
        payloads = [os.urandom(size) for _ in range(4)]
        times = measure(
            [masking(apply, payloads) for _, apply in implementations], repeat, min_time
        )
        reference = times[1]
        for (name, _), seconds in zip(implementations, times, strict=True):
            rate = size / seconds / 1e6
            per_mib = seconds * 1e6 * (1 << 20) / size
            row = f"{label(size) + ' ' + name:<34}{fmt_time(seconds):>14}{rate:>10.0f}"
            print(f"{row}{per_mib:>10.1f}{seconds / reference:>9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--repeat", type=int, default=7, help="samples per case (median)")
    parser.add_argument("--min-time", type=float, default=0.05, help="seconds per sample")
    args = parser.parse_args()
    print(
        f"Python {platform.python_version()} on {platform.machine()}, "
        f"websockets {importlib.metadata.version('websockets')}; median of {args.repeat} samples; "
        "ratio = anywebsockets / websockets (lower is better)\n"
    )
    start = time.perf_counter()
    frame_table(args.repeat, args.min_time)
    print()
    mask_table(args.repeat, args.min_time)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
