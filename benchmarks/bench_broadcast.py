"""Broadcast benchmark: a server's CPU time per message per client, 1000 clients.

Run ``python benchmarks/bench_broadcast.py`` (about 1 minute per library and round).
The tested library runs the server, which holds ``--clients`` connections (1000) and
sends every message to all of them, with its own broadcast function where it has
one and a loop of sends where it has none (``HOW`` in ``broadcast_proc.py``). The
clients are plain sockets in ``--procs`` separate processes (no WebSocket library:
a raw opening handshake, then reads), the same for every library; they count every
frame and check its size, and the cell fails if one is missing. After each burst of
``--burst`` messages (1) the server waits until every client holds the burst (one
ack per client process), so no backlog builds up and no library drops anything.

The figure is the server process's CPU time (``time.process_time()`` inside it) for
``--count`` messages of each size, divided by messages x clients: CPU per message
delivered to one client, handling the acks included (one small incoming message
per client process per burst). Each cell is the median of ``--rounds`` runs; rounds
go over every library in turn, the order reversed every other round. Ratios are to
websockets-asyncio in the same run (below 1: cheaper).

``--profile LIB`` runs that library's server once with cProfile around the
measured parts and prints the top functions by own time.
"""

from __future__ import annotations

import argparse
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PROC = os.path.join(HERE, "broadcast_proc.py")
sys.path.insert(0, HERE)

from bench_echo import available, run_header, stop  # noqa: E402
from broadcast_proc import HOW, LIBS  # noqa: E402

REFERENCE = "ws-asyncio"


def run_cell(lib: str, args: argparse.Namespace, profile: str | None = None) -> dict[str, float]:
    """One run of every size with ``lib`` as the server; CPU s per message per client."""
    plan = ["--sizes", args.sizes, "--count", str(args.count), "--burst", str(args.burst)]
    plan += ["--deadline", str(args.timeout + 30)]
    if args.binary:
        plan.append("--binary")
    cmd = [sys.executable, PROC, "server", lib, "--clients", str(args.clients)]
    cmd += ["--procs", str(args.procs), *plan]
    if profile:
        cmd += ["--profile", profile]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    clients: list[subprocess.Popen[str]] = []
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise RuntimeError(f"{lib} server did not start")
        port = str(json.loads(line)["port"])
        share, extra = divmod(args.clients, args.procs)
        for i in range(args.procs):
            count = share + (1 if i < extra else 0)
            clients.append(
                subprocess.Popen(
                    [sys.executable, PROC, "client", port, "--connections", str(count), *plan],
                    stdout=subprocess.PIPE,
                    text=True,
                )
            )
        deadline = time.monotonic() + args.timeout
        reports = []
        for client in clients:
            out, _ = client.communicate(timeout=max(deadline - time.monotonic(), 1))
            reports.append(json.loads(out.strip().splitlines()[-1]))
        for report in reports:
            if report["error"] or report["received"] != report["expected"]:
                raise RuntimeError(f"{lib}: a client process reports {report}")
        out, _ = server.communicate(timeout=max(deadline - time.monotonic(), 1))
        cpu = json.loads(out.strip().splitlines()[-1])["cpu"]
    finally:
        for client in clients:
            stop(client)
        stop(server)
    return {size: seconds / (args.count * args.clients) for size, seconds in cpu.items()}


def fmt(us: float) -> str:
    return f"{us:.3g}"


def label(size: str) -> str:
    n = int(size)
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3, help="runs per cell (median)")
    parser.add_argument("--libs", default=",".join(LIBS), help=f"subset of {LIBS}")
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--procs", type=int, default=2, help="client processes")
    parser.add_argument("--sizes", default="16,1024", help="message sizes in bytes")
    parser.add_argument("--count", type=int, default=100, help="measured messages per size")
    parser.add_argument("--burst", type=int, default=1, help="messages between acks")
    parser.add_argument("--binary", action="store_true", help="binary messages (default: text)")
    parser.add_argument("--timeout", type=int, default=300, help="seconds for one cell")
    parser.add_argument("--profile", metavar="LIB")
    parser.add_argument("--top", type=int, default=15, help="functions shown with --profile")
    args = parser.parse_args()
    sizes = [str(int(s)) for s in args.sizes.split(",") if s]

    if args.profile:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "profile.out")
            figures = run_cell(args.profile, args, profile=out)
            shown = ", ".join(f"{label(s)}: {v * 1e6:.2f} us" for s, v in figures.items())
            print(f"{args.profile} ({HOW[args.profile]}), per message per client: {shown}")
            pstats.Stats(out).sort_stats("tottime").print_stats(args.top)
        return

    libs = [lib for lib in args.libs.split(",") if lib]
    for lib in libs:
        if lib not in LIBS:
            parser.error(f"unknown library {lib}")
    missing = [lib for lib in libs if not available(lib)]
    libs = [lib for lib in libs if lib not in missing]
    if REFERENCE not in libs:
        libs.insert(0, REFERENCE)
    kind = "binary" if args.binary else "text"
    print(
        f"{run_header()}; "
        f"{args.clients} clients in {args.procs} processes, {args.count} {kind} messages "
        f"per size, ack every {args.burst}; median of {args.rounds}"
    )
    if missing:
        print(f"skipped (not installed): {', '.join(missing)}")
    sys.stdout.flush()

    start = time.perf_counter()
    results: dict[str, dict[str, list[float]]] = {lib: {s: [] for s in sizes} for lib in libs}
    failures: list[str] = []
    for r in range(args.rounds):
        for lib in libs if r % 2 == 0 else reversed(libs):
            try:
                figures = run_cell(lib, args)
            except Exception as exc:  # one broken cell must not lose the others
                failures.append(f"round {r + 1}: {lib}: {exc!r}")
                print(failures[-1], file=sys.stderr)
                continue
            for s, seconds in figures.items():
                results[lib][s].append(seconds)
        print(
            f"round {r + 1}/{args.rounds} done ({time.perf_counter() - start:.0f} s)",
            file=sys.stderr,
        )

    medians = {
        lib: {s: (statistics.median(v) * 1e6 if v else None) for s, v in cell.items()}
        for lib, cell in results.items()
    }
    ref = medians[REFERENCE]
    print(
        f"\nserver CPU us per message per client (x {args.clients} = per broadcast); "
        f"x = ratio to {REFERENCE}"
    )
    print(f"{'':<16}" + "".join(f"{label(s):>16}" for s in sizes) + "   how")
    for lib in libs:
        row = f"{lib:<16}"
        for s in sizes:
            value = medians[lib][s]
            if value is None:
                cell = "failed"
            elif lib == REFERENCE or not ref[s]:
                cell = fmt(value)
            else:
                cell = f"{fmt(value)} {value / ref[s]:.2f}x"  # type: ignore[operator]
            row += f"{cell:>16}"
        print(f"{row}   {HOW[lib]}")
    for failure in failures:
        print(f"FAILED {failure}")
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
