"""The command line, used as a user would: ``python -m anywebsockets connect`` and ``serve``.

Each test runs the command line in child processes with ``--backend`` set to the
backend of the test itself, so both backends are covered; the client is driven
through a pseudo-terminal and through pipes. Every read from a child is bounded
by ``TIMEOUT`` and every child is killed if a test fails.
"""

from __future__ import annotations

import io
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import pytest
import trustme
from anyio.abc import ByteReceiveStream, Process

from anywebsockets import ConnectionClosedOK, ServerConnection, connect
from anywebsockets._cli import Console, escape, main, parse_address, run_client, run_server

from .utils import TIMEOUT, echo, raw_listener, read_http_head, running_server

pytestmark = pytest.mark.anyio

CLI = [sys.executable, "-m", "anywebsockets"]
PIPE = subprocess.PIPE


# Helpers.


class Output:
    """What a child process writes on one stream, read as it comes."""

    def __init__(self, receive: Callable[[], Awaitable[bytes]]) -> None:
        self._receive = receive
        self.data = b""

    @classmethod
    def of_stream(cls, stream: ByteReceiveStream | None) -> Output:
        assert stream is not None

        async def receive() -> bytes:
            try:
                return await stream.receive()
            except anyio.EndOfStream:
                return b""

        return cls(receive)

    @classmethod
    def of_terminal(cls, master: int) -> Output:
        async def receive() -> bytes:
            await anyio.wait_readable(master)
            try:
                return os.read(master, 65536)
            except OSError:  # EIO: the child closed its side of the terminal
                return b""

        return cls(receive)

    @property
    def text(self) -> str:
        return self.data.decode()

    async def expect(self, expected: str) -> None:
        """Read until ``expected`` has been written."""
        with anyio.fail_after(TIMEOUT):
            while expected.encode() not in self.data:
                chunk = await self._receive()
                assert chunk, f"no {expected!r} in {self.data!r}"
                self.data += chunk

    async def read_to_end(self) -> str:
        """Read until the child closes the stream; return everything written."""
        with anyio.fail_after(TIMEOUT):
            while chunk := await self._receive():
                self.data += chunk
        return self.text


@asynccontextmanager
async def child(*args: str, **kwargs: Any) -> AsyncIterator[Process]:
    """Run ``python -m anywebsockets ARGS``; kill it if it still runs at the end."""
    process = await anyio.open_process([*CLI, *args], **kwargs)
    try:
        yield process
    finally:
        with anyio.CancelScope(shield=True):
            if process.returncode is None:
                process.kill()
            await process.aclose()


async def exit_status(process: Process) -> int:
    with anyio.fail_after(TIMEOUT):
        return await process.wait()


@asynccontextmanager
async def cli_server(
    backend: str, tmp_path: Path, *options: str
) -> AsyncIterator[tuple[Process, str, Path]]:
    """Run ``serve`` on a free port; yield the process, its URI and its log file."""
    log = tmp_path / "serve.log"
    with log.open("wb") as stderr:
        async with child(
            "serve", "--backend", backend, *options, "127.0.0.1:0", stdout=PIPE, stderr=stderr
        ) as process:
            output = Output.of_stream(process.stdout)
            await output.expect("/\n")
            match = re.fullmatch(r"Listening on (wss?://127\.0\.0\.1:\d+/)\n", output.text)
            assert match, output.text
            yield process, match[1], log


@asynccontextmanager
async def client_through_pipes(
    backend: str, uri: str, *options: str
) -> AsyncIterator[tuple[Process, Output]]:
    """Run ``connect`` with its standard streams on pipes."""
    async with child(
        "connect", "--backend", backend, *options, uri, stdin=PIPE, stdout=PIPE, stderr=PIPE
    ) as process:
        yield process, Output.of_stream(process.stdout)


async def type_line(process: Process, line: str) -> None:
    assert process.stdin is not None
    await process.stdin.send(line.encode() + b"\n")


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (it did a moment ago)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# The client and the server together.


async def test_connect_in_a_terminal(anyio_backend: str, tmp_path: Path) -> None:
    """Lines typed are sent, echoes are shown above the prompt, Ctrl-D closes with 1000."""
    async with cli_server(anyio_backend, tmp_path) as (_, uri, log):
        master, slave = os.openpty()
        try:
            async with child(
                "connect", "--backend", anyio_backend, uri, stdin=slave, stdout=slave, stderr=PIPE
            ) as client:
                os.close(slave)
                slave = -1
                screen = Output.of_terminal(master)
                await screen.expect(f"Connected to {uri}.")
                await screen.expect("> ")
                os.write(master, "Hello, wörld!\n".encode())
                await screen.expect("< Hello, wörld!")
                os.write(master, b"\x04")  # Ctrl-D
                await screen.read_to_end()
                assert await exit_status(client) == 0
                assert client.stderr is not None
                assert await Output.of_stream(client.stderr).read_to_end() == ""
        finally:
            os.close(master)
            if slave != -1:
                os.close(slave)
    # What the user sees: the line typed (echoed by the terminal), the echo
    # inserted above the prompt with cursor movements, then the closure.
    assert "Hello, wörld!\r\n" in screen.text
    assert "\x1b7" in screen.text and "\x1b8" in screen.text
    assert screen.text.endswith("\r\x1b[KConnection closed: 1000 (OK).\r\n")
    assert "connection open" in log.read_text()


async def test_connect_through_pipes(anyio_backend: str, tmp_path: Path) -> None:
    """Without a terminal the output is plain lines; the end of the input closes with 1000."""
    async with (
        cli_server(anyio_backend, tmp_path) as (_, uri, _),
        client_through_pipes(anyio_backend, uri) as (client, output),
    ):
        await output.expect(f"Connected to {uri}.\n")
        await type_line(client, "first")
        await output.expect("< first\n")
        await type_line(client, "second\r")  # a line ending in CRLF
        await output.expect("< second\n")
        await type_line(client, "")
        await output.expect("< \n")
        assert client.stdin is not None
        await client.stdin.aclose()
        assert await output.read_to_end() == (
            f"Connected to {uri}.\n< first\n< second\n< \nConnection closed: 1000 (OK).\n"
        )
        assert await exit_status(client) == 0
        assert client.stderr is not None
        assert await Output.of_stream(client.stderr).read_to_end() == ""


@pytest.mark.parametrize(
    ("code", "status", "shown"),
    [(1001, 0, "1001 (going away) bye"), (4000, 1, "4000 (private use) bye")],
)
async def test_connect_shows_messages_until_the_server_closes(
    anyio_backend: str, code: int, status: int, shown: str
) -> None:
    """Binary as hex, control characters escaped; the server's close code decides the exit."""

    async def handler(ws: ServerConnection) -> None:
        await ws.send(b"\x00\x01\xfe\xff")
        await ws.send("red\x1b[31m\ttab\nline")
        await ws.close(code, "bye")

    # Standard input stays open: the closure alone ends the client.
    async with (
        running_server(handler) as (_, uri),
        client_through_pipes(anyio_backend, uri) as (client, output),
    ):
        assert await output.read_to_end() == (
            f"Connected to {uri}.\n"
            "< (binary) 0001feff\n"
            "< red\\x1b[31m\\ttab\\nline\n"
            f"Connection closed: {shown}.\n"
        )
        assert await exit_status(client) == status


@pytest.mark.parametrize("case", ["refused", "rejected"])
async def test_connect_failures_take_one_line(anyio_backend: str, case: str) -> None:
    """A refused connection or a rejected handshake: one line on stderr, exit status 1."""

    def reject(ws: ServerConnection, request: Any) -> Any:
        return ws.respond(404, "Not here\n")

    async with running_server(echo, process_request=reject) as (_, rejecting_uri):
        uri = rejecting_uri if case == "rejected" else f"ws://127.0.0.1:{free_port()}/"
        # Credentials in the URI are never shown.
        with_credentials = uri.replace("ws://", "ws://user:secret@")
        async with client_through_pipes(anyio_backend, with_credentials) as (client, output):
            assert await output.read_to_end() == ""
            assert await exit_status(client) == 1
            assert client.stderr is not None
            errors = await Output.of_stream(client.stderr).read_to_end()
    assert errors.startswith(f"anywebsockets: cannot connect to {uri}: ")
    assert errors.count("\n") == 1
    if case == "rejected":
        assert "HTTP 404" in errors
    else:
        assert errors.endswith(": Connection refused\n")


async def test_insecure_skips_certificate_checks(
    anyio_backend: str, tmp_path: Path, ca: trustme.CA
) -> None:
    """``serve --certfile --keyfile`` serves wss://; only ``connect --insecure`` accepts it."""
    certificate = ca.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    for pem in certificate.cert_chain_pems:
        with certfile.open("ab") as file:
            file.write(pem.bytes())
    certificate.private_key_pem.write_to_path(str(keyfile))

    options = ("--certfile", str(certfile), "--keyfile", str(keyfile))
    async with cli_server(anyio_backend, tmp_path, *options) as (_, uri, _):
        assert uri.startswith("wss://")
        async with client_through_pipes(anyio_backend, uri) as (client, output):
            assert await exit_status(client) == 1
            assert client.stderr is not None
            errors = await Output.of_stream(client.stderr).read_to_end()
            assert "certificate verify failed" in errors
            assert "--insecure" in errors
        async with client_through_pipes(anyio_backend, uri, "--insecure") as (client, output):
            await type_line(client, "secret")
            await output.expect("< secret\n")
            assert client.stdin is not None
            await client.stdin.aclose()
            assert (await output.read_to_end()).endswith("Connection closed: 1000 (OK).\n")
            assert await exit_status(client) == 0


async def test_connect_closes_with_1000_on_ctrl_c(anyio_backend: str) -> None:
    """SIGINT ends the session cleanly; a URI alone means ``connect``."""
    closed = anyio.Event()
    codes: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await echo(ws)
        codes.append(ws.close_code)
        closed.set()

    async with (
        running_server(handler) as (_, uri),
        child("--backend", anyio_backend, uri, stdin=PIPE, stdout=PIPE, stderr=PIPE) as client,
    ):
        output = Output.of_stream(client.stdout)
        await output.expect("Connected to")
        client.send_signal(signal.SIGINT)
        assert (await output.read_to_end()).endswith("Connection closed: 1000 (OK).\n")
        assert await exit_status(client) == 0
        with anyio.fail_after(TIMEOUT):
            await closed.wait()
    assert codes == [1000]


async def test_ctrl_c_while_connecting(anyio_backend: str) -> None:
    """Interrupted before the connection opens: a short notice and exit status 130."""
    async with (
        raw_listener() as (listener, port),
        child(
            "connect",
            "--backend",
            anyio_backend,
            f"ws://127.0.0.1:{port}/",
            stdin=subprocess.DEVNULL,
            stdout=PIPE,
        ) as client,
    ):
        with anyio.fail_after(TIMEOUT):
            stream = await listener.listeners[0].accept()
        async with stream:
            await read_http_head(stream)  # the client waits for the answer
            client.send_signal(signal.SIGINT)
            assert await Output.of_stream(client.stdout).read_to_end() == "Interrupted.\n"
            assert await exit_status(client) == 130


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
async def test_serve_stops_gracefully_on_a_signal(
    anyio_backend: str, tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGINT or SIGTERM: open connections get 1001, the server exits with 0."""
    async with cli_server(anyio_backend, tmp_path, "--echo") as (server, uri, log):
        async with connect(uri) as ws:
            await ws.send(b"\x00binary")
            with anyio.fail_after(TIMEOUT):
                assert await ws.recv() == b"\x00binary"
            server.send_signal(signum)
            with anyio.fail_after(TIMEOUT), pytest.raises(ConnectionClosedOK) as raised:
                await ws.recv()
            assert raised.value.rcvd is not None and raised.value.rcvd.code == 1001
        assert await exit_status(server) == 0
    lines = log.read_text().splitlines()
    assert any(re.search(r" INFO 127\.0\.0\.1:\d+ connection open$", line) for line in lines)
    assert any(line.endswith(f"INFO {signum.name} received: stopping") for line in lines)
    assert lines[-1].endswith("server closed")
    assert "Traceback" not in log.read_text()


# The parts, in this process.


async def test_serve_reports_what_prevents_listening(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port in use or a missing certificate: one line on stderr, status 1."""
    async with raw_listener() as (_, port):
        assert await run_server("127.0.0.1", port, out=io.StringIO()) == 1
    assert capsys.readouterr().err.startswith(
        f"anywebsockets: cannot listen on 127.0.0.1:{port}: "
    )
    missing = str(tmp_path / "missing.pem")
    assert await run_server("127.0.0.1", 0, certfile=missing) == 1
    assert capsys.readouterr().err.startswith("anywebsockets: cannot load the certificate: ")


async def test_client_reads_input_from_any_file_descriptor(tmp_path: Path) -> None:
    """Lines from a regular file, whatever their encoding, and a last line without newline."""
    source = tmp_path / "input.txt"
    source.write_bytes("caf\xe9\r\nlast".encode("latin-1"))
    received: list[str | bytes] = []

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            received.append(message)

    async with running_server(handler) as (_, uri):
        with source.open("rb") as file, anyio.fail_after(TIMEOUT):
            console = Console(io.StringIO(), interactive=False)
            status = await run_client(
                uri, console=console, stdin=file.fileno(), encoding="latin-1"
            )
    assert status == 0
    assert received == ["café", "last"]


def test_invalid_uri(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["connect", "http://example.com/"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "anywebsockets: cannot connect to http://example.com/: "
        "http://example.com/ is not a valid WebSocket URI: scheme is not ws or wss\n"
    )


def test_keyfile_needs_certfile(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["serve", "--keyfile", "key.pem", "8765"])
    assert raised.value.code == 2
    assert "--keyfile needs --certfile" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("8765", ("localhost", 8765)),
        ("127.0.0.1:0", ("127.0.0.1", 0)),
        (":8765", (None, 8765)),
        ("[::1]:8765", ("::1", 8765)),
        ("example.com:65535", ("example.com", 65535)),
    ],
)
def test_parse_address(text: str, address: tuple[str | None, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["", "localhost", "host:port", "host:65536", "host:-1", ":٣"])
def test_parse_address_rejects(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as raised:
        main(["serve", text])
    assert raised.value.code == 2
    assert "expected [HOST:]PORT" in capsys.readouterr().err


def test_escape_control_characters() -> None:
    assert escape("a\x00b\x7fc\x9bd\te\r\nf é\u00a0") == "a\\x00b\\x7fc\\x9bd\\te\\r\\nf é\u00a0"


def test_console_splits_long_messages_on_a_terminal() -> None:
    stream = io.StringIO()
    console = Console(stream, interactive=True, width=4)
    console.prompt()
    console.message("< abcdef")
    console.status("done")
    insert = "\x1b7\n\x1b[A\x1b[L\r{}\x1b8\x1b[B"
    assert stream.getvalue() == (
        "> " + insert.format("< ab") + insert.format("cdef") + "\r\x1b[Kdone\n"
    )


def test_console_replaces_what_the_output_cannot_encode() -> None:
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    Console(stream, interactive=False).message("< café")
    assert raw.getvalue() == b"< caf\\xe9\n"


def test_a_uri_alone_means_connect(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--backend", "trio", "ws://"]) == 1
    assert capsys.readouterr().err.startswith("anywebsockets: cannot connect to ws://: ")


def test_missing_backend(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert main(["connect", "--backend", "trio", "ws://localhost/"]) == 1
    assert "the trio backend needs trio" in capsys.readouterr().err
