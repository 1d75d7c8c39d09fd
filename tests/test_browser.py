"""A real browser as the client: headless Chromium against our server, on both backends.

The test process runs an anywebsockets server on 127.0.0.1 that also serves,
through ``process_request``, an HTML page for a plain ``GET /``. Headless
Chromium loads the page; its script talks to the server with the browser's own
``WebSocket`` (text and ``ArrayBuffer`` echo, Chromium's permessage-deflate
offer, a subprotocol, a close initiated by the server) and then sends what it
saw as one JSON message on a second connection to ``/report``. The test reads
that report and the server's view of the same connection, and compares them.

Reporting over a WebSocket needs neither WebDriver nor the DevTools protocol:
Chromium only has to load one URL, and the channel that carries the results is
the code under test. Chromium runs in its own process group, which is killed
when the test ends, whatever happens.

Chromium (Debian's ``chromium`` package) must be installed: without it the test
fails, unless ``ANYWEBSOCKETS_BROWSER_OPTIONAL=1`` is set, in which case it is
skipped. ``.ci/run`` installs it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.abc import Process
from anyio.streams.memory import MemoryObjectReceiveStream

from anywebsockets import Request, Response, ServerConnection

from .utils import running_server

pytestmark = pytest.mark.anyio

# Starting a browser on a busy machine takes a while: a wider bound than TIMEOUT.
BROWSER_TIMEOUT = 60

PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>anywebsockets</title></head>
<body><script>
"use strict";
const base = "ws://" + location.host;
const results = {};

// Incoming messages in order, whenever they arrive; an error once the connection closes.
function receiver(ws) {
  const items = [], waiters = [];
  let closed = null;
  ws.onmessage = (event) => {
    if (waiters.length) waiters.shift().resolve(event.data); else items.push(event.data);
  };
  ws.addEventListener("close", (event) => {
    closed = new Error(`closed with ${event.code} ${event.reason}`);
    for (const waiter of waiters.splice(0)) waiter.reject(closed);
  });
  return () => {
    if (items.length) return Promise.resolve(items.shift());
    if (closed) return Promise.reject(closed);
    return new Promise((resolve, reject) => waiters.push({resolve, reject}));
  };
}

function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

async function main() {
  const ws = new WebSocket(base + "/echo", ["chat", "superchat"]);
  ws.binaryType = "arraybuffer";
  const closed = new Promise((resolve) => ws.addEventListener("close", resolve));
  const recv = receiver(ws);
  await new Promise((resolve, reject) => {
    ws.onopen = resolve;
    ws.onerror = () => reject(new Error("the connection failed"));
  });
  results.protocol = ws.protocol;
  results.extensions = ws.extensions;

  ws.send("hello, \\u00e9");
  results.text = await recv();

  ws.send(new Uint8Array([0, 1, 254, 255]).buffer);
  const small = await recv();
  results.binaryType = small instanceof ArrayBuffer ? "ArrayBuffer" : typeof small;
  results.binary = Array.from(new Uint8Array(small));

  const noise = crypto.getRandomValues(new Uint8Array(65536));
  ws.send(noise.buffer);
  results.bigBinary = sameBytes(new Uint8Array(await recv()), noise);

  const long = "compress me ".repeat(50000);
  ws.send(long);
  results.bigText = (await recv()) === long;

  ws.send("close, please");
  const event = await closed;
  results.close = {code: event.code, reason: event.reason, wasClean: event.wasClean};
}

function report() {
  const ws = new WebSocket(base + "/report", ["superchat"]);
  ws.onopen = () => ws.send(JSON.stringify(results));
}

main().catch((error) => { results.error = String(error); }).finally(report);
</script></body></html>
"""


def chromium_path() -> str:
    """Find Chromium, or skip or fail as ``ANYWEBSOCKETS_BROWSER_OPTIONAL`` says."""
    path = shutil.which("chromium")
    if path is None:
        message = (
            "Chromium is not installed (Debian: apt-get install chromium); "
            "set ANYWEBSOCKETS_BROWSER_OPTIONAL=1 to skip the browser test"
        )
        if os.environ.get("ANYWEBSOCKETS_BROWSER_OPTIONAL") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return path


def serve_page(connection: ServerConnection, request: Request) -> Response | None:
    """Answer plain GETs with the test page or 404; let WebSocket requests through."""
    if request.headers.get("Upgrade", "").lower() == "websocket":
        return None
    if request.path != "/":
        return connection.respond(404, "Not found.\n")
    response = connection.respond(200, PAGE)
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    return response


async def stop_browser(process: Process) -> None:
    """Stop Chromium's whole process group: TERM, then KILL what is left.

    The KILL goes to the group even when the leader has exited after TERM,
    since its helper processes may outlive it for a moment.
    """
    with anyio.CancelScope(shield=True):
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            with anyio.move_on_after(5):
                await process.wait()


def browser_log(path: Path) -> str:
    """Chromium's output, without the noise about D-Bus, which containers lack."""
    lines = path.read_text(errors="replace").splitlines()
    return "\n".join(line for line in lines if "dbus" not in line)


async def run_page(executable: str, uri: str, reports: MemoryObjectReceiveStream[Any]) -> Any:
    """Load the page served at ``uri`` in headless Chromium; return its report.

    Everything Chromium writes (profile, crash reports, temporary files, its
    log) goes to a fresh directory, removed afterwards. The directory is
    directly under the system's temporary directory: Chromium puts a Unix
    socket in it and socket paths are short.
    """
    with tempfile.TemporaryDirectory(prefix="anywebsockets-chromium-") as name:
        home = Path(name)
        (home / "tmp").mkdir()
        env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TMPDIR": str(home / "tmp"),
        }
        command = [
            executable,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={home / 'profile'}",
            "http" + uri.removeprefix("ws"),
        ]
        log_path = home / "chromium.log"
        with log_path.open("wb") as log:
            process = await anyio.open_process(
                command, stdin=None, stdout=log, stderr=log, env=env, start_new_session=True
            )
        reports_seen: list[Any] = []
        try:
            with anyio.move_on_after(BROWSER_TIMEOUT) as scope:
                async with anyio.create_task_group() as tg:

                    async def watch() -> None:
                        await process.wait()
                        tg.cancel_scope.cancel()

                    tg.start_soon(watch)
                    reports_seen.append(await reports.receive())
                    tg.cancel_scope.cancel()
        finally:
            await stop_browser(process)
        if scope.cancelled_caught:
            pytest.fail(f"no report from Chromium in time; its log:\n{browser_log(log_path)}")
        if not reports_seen:
            pytest.fail(
                f"Chromium exited early ({process.returncode}); its log:\n{browser_log(log_path)}"
            )
    return reports_seen[0]


async def test_chromium() -> None:
    executable = chromium_path()
    server_view: dict[str, Any] = {}
    send_report, receive_report = anyio.create_memory_object_stream[Any](1)

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None and ws.response is not None
        if ws.request.path == "/report":
            await send_report.send(json.loads(await ws.recv()))
            return
        server_view["offer"] = ws.request.headers.get("Sec-WebSocket-Extensions")
        server_view["answer"] = ws.response.headers.get("Sec-WebSocket-Extensions")
        server_view["extensions"] = [e.name for e in ws.protocol.extensions]
        server_view["subprotocol"] = ws.subprotocol
        async for message in ws:
            if message == "close, please":
                await ws.close(4000, "bye")
                break
            await ws.send(message)

    with send_report, receive_report:
        async with running_server(
            handler, process_request=serve_page, subprotocols=["superchat"]
        ) as (_, uri):
            report = await run_page(executable, uri, receive_report)

    assert report == {
        "protocol": "superchat",
        "extensions": server_view["answer"],
        "text": "hello, é",
        "binaryType": "ArrayBuffer",
        "binary": [0, 1, 254, 255],
        "bigBinary": True,
        "bigText": True,
        "close": {"code": 4000, "reason": "bye", "wasClean": True},
    }
    # Chromium's own offer, and our answer to it.
    assert server_view["offer"].startswith("permessage-deflate")
    assert "client_max_window_bits" in server_view["offer"]
    assert server_view["answer"].startswith("permessage-deflate")
    assert server_view["extensions"] == ["permessage-deflate"]
    assert server_view["subprotocol"] == "superchat"
