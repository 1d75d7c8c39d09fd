"""Run the Autobahn Testsuite against our echo server or our client, on asyncio or trio.

Usage::

    python compliance/run.py server --backend asyncio [--quick] [--cases PATTERN ...]
    python compliance/run.py client --backend trio [--quick] [--cases PATTERN ...]

``server``: our echo server (``anywebsockets.serve``) runs on 127.0.0.1 in a child process and
the suite's fuzzing client (``wstest -m fuzzingclient``) tests it. ``client``: the suite's fuzzing
server (``wstest -m fuzzingserver``, bound to 127.0.0.1 only) runs in a child process and our
client, in another child process, runs every case and echoes every message back.

``--quick`` leaves out 9.* (limits and performance), 12.* and 13.* (permessage-deflate), which
take nearly all of the ~15 minutes of a full run. ``--cases`` selects cases by the suite's own
patterns (``1.*``, ``12.1.3``, ...). The report lands in ``compliance/reports/<mode>-<backend>/``
(``<mode>-<backend>-quick/`` for the quick set): ``index.json`` and the suite's HTML pages.
A summary follows: counts per behaviour, the failed cases, and as last line
``N ok, M failed of T``, where ok counts OK, NON-STRICT and INFORMATIONAL. The exit status is 1
if any case is neither of those (FAILED, UNIMPLEMENTED, missing, ...).

Every child process is bounded in time (``--timeout``) and killed at the end. The suite must be
installed first: ``bash compliance/install.sh``.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY2 = HERE / ".venv-py2" / "bin" / "python"
LAUNCHER = HERE / "wstest_loopback.py"
REPORTS = HERE / "reports"
HOST = "127.0.0.1"
MAX_SIZE = 16 * 2**20  # the suite's largest message (9.1.6, 9.2.6) is 16 MiB
QUICK_EXCLUDE = ["9.*", "12.*", "13.*"]
OK_BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL")
PASSING_CLOSE = ("OK", "INFORMATIONAL")


# Children: our echo server and our client (run with ``python run.py _echo-server|_client``).


def echo_server(backend: str, port_file: Path, lifetime: float) -> None:
    """Serve the echo handler on 127.0.0.1 until killed or ``lifetime`` seconds pass."""
    import anyio
    from anyio.abc import SocketAttribute

    from anywebsockets import ConnectionClosed, serve

    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass  # the suite closes with errors on purpose

    async def main() -> None:
        with anyio.move_on_after(lifetime):
            async with serve(echo, HOST, 0, max_size=MAX_SIZE, compression="deflate") as server:
                port = server.listeners[0].extra(SocketAttribute.local_port)
                tmp = port_file.with_suffix(".tmp")
                tmp.write_text(str(port))
                tmp.replace(port_file)  # atomic: the parent never reads half a number
                print(f"echo server ({backend}) listening on {HOST}:{port}", flush=True)
                await server.serve_forever()

    anyio.run(main, backend=backend)


def echo_client(backend: str, url: str, agent: str, case_timeout: float) -> int:
    """Run every case of the fuzzing server at ``url``, echoing each message; update reports."""
    import anyio

    from anywebsockets import ConnectionClosed, connect

    options: dict[str, Any] = {"max_size": MAX_SIZE, "compression": "deflate", "proxy": None}

    async def get_case_count() -> int:
        async with connect(f"{url}/getCaseCount", **options) as ws:
            return int(await ws.recv())

    async def run_case(case: int) -> str:
        async with connect(f"{url}/runCase?case={case}&agent={agent}", **options) as ws:
            try:
                async for message in ws:
                    await ws.send(message)
            except ConnectionClosed as exc:
                return f"closed: {exc}"
            return f"closed: {ws.close_code} {ws.close_reason!r}"

    async def update_reports() -> None:
        async with connect(f"{url}/updateReports?agent={agent}", **options) as ws:
            with contextlib.suppress(ConnectionClosed):
                await ws.recv()  # the suite closes once the reports are written

    async def main() -> int:
        with anyio.fail_after(30):
            count = await get_case_count()
        print(f"client ({backend}): {count} cases from {url}", flush=True)
        errors = 0
        for case in range(1, count + 1):
            result = "timed out"
            with anyio.move_on_after(case_timeout):
                try:
                    result = await run_case(case)
                except Exception as exc:  # a case's failure must not stop the run
                    result = f"error: {type(exc).__name__}: {exc}"
                    errors += 1
            print(f"case {case}/{count}: {result}", flush=True)
        with anyio.fail_after(120):  # writing the HTML reports of a full run takes a while
            await update_reports()
        print(f"client ({backend}): done, {errors} cases raised", flush=True)
        return 0

    return anyio.run(main, backend=backend)


# The parent: processes, specification, report.


def child_env() -> dict[str, str]:
    """The environment of our children: this tree's ``src`` first on the path."""
    env = dict(os.environ)
    src = str(ROOT / "src")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group, with its output in ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            cmd,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=log.parent,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate ``proc`` and its process group; kill it if it lingers."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_for(proc: subprocess.Popen[bytes], deadline: float, timeout: float) -> int | None:
    """Wait for ``proc`` until ``deadline`` (monotonic) or for ``timeout`` s; None if it runs."""
    try:
        return proc.wait(max(0.0, min(timeout, deadline - time.monotonic())))
    except subprocess.TimeoutExpired:
        return None


def free_port() -> int:
    """A port free on 127.0.0.1 now (the suite wants a fixed port in its spec)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> None:
    """Wait until something accepts on 127.0.0.1:``port``, or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with status {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"not listening on {HOST}:{port} after {timeout} s")


def tail(path: Path, lines: int = 25) -> str:
    """The last ``lines`` lines of the log ``path`` (empty if there is none)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def run_server_mode(args: argparse.Namespace, outdir: Path, agent: str) -> int | None:
    """Our echo server against ``wstest -m fuzzingclient``; the expected case count, if known."""
    started = time.monotonic()
    deadline = started + args.timeout
    port_file = outdir / "port"
    server = start(
        [
            sys.executable,
            str(Path(__file__).resolve()),
            "_echo-server",
            "--backend",
            args.backend,
            "--port-file",
            str(port_file),
            "--lifetime",
            str(args.timeout + 30),
        ],
        outdir / "server.log",
        child_env(),
    )
    try:
        while not port_file.exists():
            if server.poll() is not None or time.monotonic() > started + 30:
                raise RuntimeError(f"echo server did not start:\n{tail(outdir / 'server.log')}")
            time.sleep(0.05)
        port = int(port_file.read_text())
        spec = {
            "outdir": str(outdir),
            "servers": [{"agent": agent, "url": f"ws://{HOST}:{port}"}],
            "cases": args.cases,
            "exclude-cases": QUICK_EXCLUDE if args.quick else [],
            "exclude-agent-cases": {},
        }
        (outdir / "spec.json").write_text(json.dumps(spec, indent=2))
        print(f"our echo server ({args.backend}) on ws://{HOST}:{port}; wstest fuzzingclient ...")
        wstest = start(
            [str(PY2), str(LAUNCHER), "-m", "fuzzingclient", "-s", "spec.json"],
            outdir / "wstest.log",
        )
        try:
            status = wait_for(wstest, deadline, args.timeout)
            if status is None:
                print(f"wstest timed out after {args.timeout} s: killed")
            elif status != 0:
                print(f"wstest exited with status {status}:\n{tail(outdir / 'wstest.log')}")
        finally:
            stop(wstest)
        if server.poll() is not None:
            print(f"our echo server died (status {server.returncode}):")
            print(tail(outdir / "server.log"))
    finally:
        stop(server)
    # "Ok, will run N test cases against 1 servers": to tell missing results from none.
    log = ""
    with contextlib.suppress(OSError):
        log = (outdir / "wstest.log").read_text(errors="replace")
    for line in log.splitlines():
        if line.startswith("Ok, will run ") and " test cases " in line:
            return int(line.split()[3])
    return None


def run_client_mode(args: argparse.Namespace, outdir: Path, agent: str) -> int | None:
    """``wstest -m fuzzingserver`` against our client; the case count the suite announced."""
    deadline = time.monotonic() + args.timeout
    port = free_port()
    spec = {
        "url": f"ws://{HOST}:{port}",
        "outdir": str(outdir),
        "cases": args.cases,
        "exclude-cases": QUICK_EXCLUDE if args.quick else [],
        "exclude-agent-cases": {},
    }
    (outdir / "spec.json").write_text(json.dumps(spec, indent=2))
    # -u 0: no embedded web server; the launcher binds the WebSocket port to 127.0.0.1 only.
    wstest = start(
        [str(PY2), str(LAUNCHER), "-m", "fuzzingserver", "-s", "spec.json", "-u", "0"],
        outdir / "wstest.log",
    )
    count = None
    try:
        try:
            wait_listening(wstest, port, 30)
        except RuntimeError as exc:
            log = tail(outdir / "wstest.log")
            raise RuntimeError(f"wstest fuzzingserver: {exc}\n{log}") from None
        print(f"wstest fuzzingserver on ws://{HOST}:{port}; our client ({args.backend}) ...")
        client = start(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "_client",
                "--backend",
                args.backend,
                "--url",
                f"ws://{HOST}:{port}",
                "--agent",
                agent,
                "--case-timeout",
                str(args.case_timeout),
            ],
            outdir / "client.log",
            child_env(),
        )
        try:
            status = wait_for(client, deadline, args.timeout)
            if status is None:
                print(f"our client timed out after {args.timeout} s: killed")
            elif status != 0:
                print(f"our client exited with status {status}:\n{tail(outdir / 'client.log')}")
        finally:
            stop(client)
        log = ""
        with contextlib.suppress(OSError):
            log = (outdir / "client.log").read_text(errors="replace")
        for line in log.splitlines():
            if line.startswith(f"client ({args.backend}): ") and " cases from " in line:
                count = int(line.split(": ", 1)[1].split()[0])
    finally:
        stop(wstest)
    return count


def case_key(case_id: str) -> tuple[int, ...]:
    """Sort key of a case id: "9.10.1" after "9.2.1"."""
    return tuple(int(part) for part in case_id.split("."))


def summarize(outdir: Path, agent: str, expected: int | None) -> int:
    """Print the summary of ``outdir/index.json``; return the exit status."""
    index_path = outdir / "index.json"
    if not index_path.exists():
        print(f"no report: {index_path} is missing")
        print("0 ok, 0 failed of 0")
        return 1
    results: dict[str, dict[str, Any]] = json.loads(index_path.read_text()).get(agent, {})
    cases = sorted(results, key=case_key)
    behaviors = Counter(results[case]["behavior"] for case in cases)
    closes = Counter(results[case]["behaviorClose"] for case in cases)
    print(f"report: {outdir / 'index.html'}")
    print("behavior:       " + ", ".join(f"{k} {v}" for k, v in sorted(behaviors.items())))
    print("behaviorClose:  " + ", ".join(f"{k} {v}" for k, v in sorted(closes.items())))
    for label in ("NON-STRICT", "INFORMATIONAL"):
        ids = [case for case in cases if results[case]["behavior"] == label]
        if ids:
            print(f"{label}: {' '.join(ids)}")
    odd_close = [
        case
        for case in cases
        if results[case]["behavior"] in OK_BEHAVIORS
        and results[case]["behaviorClose"] not in PASSING_CLOSE
    ]
    if odd_close:
        print("passed, with a close behaviour that is not OK:")
        for case in odd_close:
            print(f"  {case}: behaviorClose {results[case]['behaviorClose']}")
    failed = [case for case in cases if results[case]["behavior"] not in OK_BEHAVIORS]
    for case in failed:
        entry = results[case]
        detail = ""
        report_file = outdir / entry.get("reportfile", "")
        if report_file.is_file():
            full = json.loads(report_file.read_text())
            detail = f" | {full.get('result', '')} | {full.get('resultClose', '')}"
        print(
            f"FAILED {case}: behavior {entry['behavior']}, behaviorClose {entry['behaviorClose']},"
            f" remoteCloseCode {entry.get('remoteCloseCode')}{detail}"
        )
    total = len(cases)
    missing = 0
    if expected is not None and expected > total:
        missing = expected - total
        print(f"MISSING: {missing} cases have no result in the report")
        total = expected
    n_failed = len(failed) + missing
    print(f"{total - n_failed} ok, {n_failed} failed of {total}")
    return 1 if n_failed or total == 0 else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    for mode in ("server", "client"):
        p = sub.add_parser(mode, help=f"test our {mode}")
        p.add_argument("--backend", choices=["asyncio", "trio"], required=True)
        p.add_argument("--quick", action="store_true", help="leave out 9.*, 12.*, 13.*")
        p.add_argument("--cases", nargs="+", default=["*"], metavar="PATTERN")
        p.add_argument(
            "--timeout", type=float, help="bound of the whole run, s (300 quick, 3600 full)"
        )
        p.add_argument("--case-timeout", type=float, default=120, help="client mode, per case, s")
    p = sub.add_parser("_echo-server")
    p.add_argument("--backend", required=True)
    p.add_argument("--port-file", type=Path, required=True)
    p.add_argument("--lifetime", type=float, required=True)
    p = sub.add_parser("_client")
    p.add_argument("--backend", required=True)
    p.add_argument("--url", required=True)
    p.add_argument("--agent", required=True)
    p.add_argument("--case-timeout", type=float, required=True)
    args = parser.parse_args()

    if args.mode == "_echo-server":
        echo_server(args.backend, args.port_file, args.lifetime)
        return 0
    if args.mode == "_client":
        return echo_client(args.backend, args.url, args.agent, args.case_timeout)

    if not PY2.exists():
        print(f"the suite is not installed ({PY2} is missing): run bash compliance/install.sh")
        return 2
    if args.timeout is None:
        args.timeout = 300.0 if args.quick else 3600.0
    agent = f"anywebsockets-{args.backend}"
    name = f"{args.mode}-{args.backend}" + ("-quick" if args.quick else "")
    outdir = REPORTS / name
    REPORTS.mkdir(exist_ok=True)
    # One run at a time per report directory: a second one would delete the first one's files.
    lock = (REPORTS / f".{name}.lock").open("w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print(f"another run of {args.mode} {args.backend} is writing {outdir}: wait for it")
        return 2
    shutil.rmtree(outdir, ignore_errors=True)
    outdir.mkdir(parents=True)
    what = "quick set (all but " + ", ".join(QUICK_EXCLUDE) + ")" if args.quick else "cases"
    print(f"== Autobahn {args.mode} {args.backend}: {what} {' '.join(args.cases)}")
    started = time.monotonic()
    try:
        if args.mode == "server":
            expected = run_server_mode(args, outdir, agent)
        else:
            expected = run_client_mode(args, outdir, agent)
    except RuntimeError as exc:
        print(f"error: {exc}")
        print("0 ok, 0 failed of 0")
        return 1
    print(f"ran in {time.monotonic() - started:.0f} s")
    return summarize(outdir, agent, expected)


if __name__ == "__main__":
    sys.exit(main())
