"""End-to-end WebSocket benchmark: CPU time per operation of the tested side.

Run ``python benchmarks/bench_echo.py`` (about 3 to 5 minutes). Each cell puts the
tested library on one side (server or client) and a fixed peer on the other side
(websockets asyncio with its C speedups, the same peer for every tested library), in
separate processes over 127.0.0.1. The figure is CPU time (``time.process_time()``
read inside the tested process) per operation: per round trip for echo, per message
for streaming, per opening + closing handshake for handshake. Each cell is the median
of ``--rounds`` runs; rounds go over every library in turn (the order reversed every
other round), so that the machine's drift hits all of them alike. Ratios are to
websockets-asyncio on the same side in the same run (below 1: cheaper).

Scenarios (compression off unless said): ``echo-16``, ``echo-1k``, ``echo-64k``,
``echo-1m`` (binary echo, the tested side as server echoes, as client sends and waits);
``text-16``, ``text-1k``, ``text-64k``, ``text-1m`` (the same with text messages,
mostly ASCII with some non-ASCII characters, so each side decodes and checks UTF-8);
``stream-in-1k`` / ``stream-out-1k`` (1 KiB binary messages one way, the tested side
receives / sends); ``handshake`` (the client opens and closes; the server side's CPU
is read between two marks on a separate control connection); ``deflate-text-1k``,
``deflate-text-64k`` (permessage-deflate on, JSON-like text echo). Broadcasting to many
clients has its own script, ``bench_broadcast.py``.

``--profile LIB:SIDE:SCENARIO`` runs that one cell once with cProfile in the tested
process (only around the measured parts) and prints the top functions by own time.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
PROC = os.path.join(HERE, "echo_proc.py")
sys.path.insert(0, HERE)

from echo_proc import LIBS, PLAIN_LIBS, RAW_PEER, SCENARIOS  # noqa: E402

PEER = "ws-asyncio"
REFERENCE = "ws-asyncio"
CELL_TIMEOUT = 280  # s for one client process (all scenarios of a cell; its SIGALRM: 300 s)

REQUIRES = {
    "aws-asyncio": "anywebsockets",
    "aws-trio": "trio",
    "aws-uvloop": "uvloop",
    "ws-asyncio": "websockets",
    "ws-uvloop": "uvloop",
    "asyncio-plain": "asyncio",
    "anyio-plain": "anyio",
    "aws-plain": "anywebsockets",
    "ws-trio": "websockets.trio",
    "aiohttp": "aiohttp",
    "trio-websocket": "trio_websocket",
    "picows": "picows",
}


def available(lib: str) -> bool:
    try:
        return importlib.util.find_spec(REQUIRES[lib]) is not None
    except ModuleNotFoundError:
        return False


def start_server(lib: str, extra: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    proc = subprocess.Popen(
        [sys.executable, PROC, "server", lib, *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # {"ports": [...]}, or "" if it died
    if not line:
        stop(proc)
        raise RuntimeError(f"{lib} server did not start")
    return proc, [str(p) for p in json.loads(line)["ports"]]


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_cell(
    lib: str, side: str, scenarios: list[str], profile: str | None = None
) -> dict[str, float | None]:
    """One run of every scenario with ``lib`` on ``side``; CPU s per operation."""
    prof = ["--profile", profile] if profile else []
    peer = RAW_PEER if lib in PLAIN_LIBS else PEER
    server_lib, client_lib = (lib, peer) if side == "server" else (peer, lib)
    server, ports = start_server(server_lib, prof if side == "server" else [])
    try:
        cmd = [sys.executable, PROC, "client", client_lib, *ports]
        cmd += ["--scenarios", ",".join(scenarios)]
        if side == "client":
            cmd += ["--tested", *prof]
        out = subprocess.run(
            cmd, stdout=subprocess.PIPE, text=True, timeout=CELL_TIMEOUT, check=True
        ).stdout
        return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]
    finally:
        stop(server)  # SIGTERM: a profiled server dumps its stats first


def run_memory(lib: str, count: int) -> float:
    """Bytes of ``lib``'s server per idle connection, with ``count`` of them."""
    server, ports = start_server(lib, [])
    try:
        cmd = [sys.executable, PROC, "memory", PEER, ports[0], "--scenarios", str(count)]
        out = subprocess.run(
            cmd, stdout=subprocess.PIPE, text=True, timeout=CELL_TIMEOUT, check=True
        ).stdout
        return float(json.loads(out.strip().splitlines()[-1])["bytes"])
    finally:
        stop(server)


def run_header() -> str:
    """The date, the machine and every version, for the first line of a run's output."""
    return (
        f"{time.strftime('%Y-%m-%d %H:%M')} Python {platform.python_version()} "
        f"on {platform.machine()}, {os.cpu_count()} CPUs; anywebsockets "
        f"{version('anywebsockets')}, websockets {version('websockets')}, anyio "
        f"{version('anyio')}, trio {version('trio')}, aiohttp {version('aiohttp')}, "
        f"trio-websocket {version('trio-websocket')}, picows {version('picows')}"
    )


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def fmt(us: float) -> str:
    return f"{us:.0f}" if us >= 100 else f"{us:.1f}"


def print_table(
    results: dict[tuple[str, str], dict[str, list[float]]],
    libs: list[str],
    scenarios: list[str],
    sides: list[str],
) -> None:
    medians = {
        key: {s: (statistics.median(v) * 1e6 if v else None) for s, v in cell.items()}
        for key, cell in results.items()
    }
    width = max(len(s) for s in scenarios) + 2
    for side in sides:
        print(f"\n{side} side: CPU us per operation of the tested side; x = ratio to {REFERENCE}")
        print(f"{'':<20}" + "".join(f"{s:>{max(width, 16)}}" for s in scenarios))
        ref = medians.get((REFERENCE, side), {})
        for lib in libs:
            row = f"{lib:<20}"
            for s in scenarios:
                value = medians[(lib, side)].get(s)
                if value is None:
                    cell = "n/a"
                elif lib == REFERENCE or not ref.get(s):
                    cell = fmt(value)
                else:
                    cell = f"{fmt(value)} {value / ref[s]:.2f}x"  # type: ignore[operator]
                row += f"{cell:>{max(width, 16)}}"
            print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5, help="runs per cell (median)")
    parser.add_argument("--libs", default=",".join(LIBS), help=f"subset of {','.join(LIBS)}")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--sides", default="server,client")
    parser.add_argument("--profile", metavar="LIB:SIDE:SCENARIO")
    parser.add_argument("--top", type=int, default=15, help="functions shown with --profile")
    parser.add_argument(
        "--memory",
        type=int,
        metavar="N",
        help="instead: each server's memory per idle connection, with N of them open",
    )
    args = parser.parse_args()

    scenarios = [s for s in args.scenarios.split(",") if s]
    for s in scenarios:
        if s not in SCENARIOS:
            parser.error(f"unknown scenario {s}")

    if args.profile:
        lib, side, scenario = args.profile.split(":")
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "profile.out")
            value = run_cell(lib, side, [scenario], profile=out)[scenario]
            shown = "n/a" if value is None else f"{value * 1e6:.1f} us/op"
            print(f"{lib} as {side}, {scenario}: {shown} (profiled)")
            if value is None:
                return
            stats = pstats.Stats(out)
            stats.sort_stats("tottime").print_stats(args.top)
        return

    libs = [lib for lib in args.libs.split(",") if lib]
    missing = [lib for lib in libs if not available(lib)]
    libs = [lib for lib in libs if lib not in missing]
    if args.memory:
        print(f"server memory per idle connection ({args.memory} open), median of {args.rounds}")
        for lib in libs:
            if lib in PLAIN_LIBS:
                continue
            sizes = [run_memory(lib, args.memory) for _ in range(args.rounds)]
            print(f"{lib:<20}{statistics.median(sizes) / 1024:>10.1f} KiB")
        return
    if REFERENCE not in libs:
        libs.insert(0, REFERENCE)
    sides = args.sides.split(",")
    print(f"{run_header()}; peer: {PEER}; median of {args.rounds}")
    if missing:
        print(f"skipped (not installed): {', '.join(missing)}")

    start = time.perf_counter()
    results: dict[tuple[str, str], dict[str, list[float]]] = {
        (lib, side): {s: [] for s in scenarios} for lib in libs for side in sides
    }
    order = [(lib, side) for lib in libs for side in sides]
    for r in range(args.rounds):
        for lib, side in order if r % 2 == 0 else reversed(order):
            try:
                figures: dict[str, Any] = run_cell(lib, side, scenarios)
            except Exception as exc:  # one broken cell must not lose the others
                print(f"round {r}: {lib} as {side} failed: {exc!r}", file=sys.stderr)
                continue
            for s, value in figures.items():
                if value is not None:
                    results[(lib, side)][s].append(value)
        print(
            f"round {r + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
        )
    print_table(results, libs, scenarios, sides)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
