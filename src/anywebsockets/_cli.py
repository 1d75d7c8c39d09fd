"""The command line: an interactive client, an echo server and the demos.

``anywebsockets connect URI`` sends each line read on standard input as a text
message and prints what the server sends; ``anywebsockets serve [HOST:]PORT``
runs an echo server until Ctrl-C or SIGTERM. Both run on asyncio or trio
(``--backend``), through the same code.

Standard input is read by a daemon thread with :func:`os.read`: that works for
terminals, pipes and regular files alike, on both backends, and a thread
blocked in a read never delays the end of the process. What it reads reaches
the event loop through a blocking portal.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import functools
import importlib.util
import locale
import logging
import os
import shutil
import signal
import ssl
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Any, TextIO

import anyio
from anyio.abc import SocketAttribute
from anyio.from_thread import BlockingPortal
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from .client import ClientConnection, _without_userinfo, connect
from .connection import Connection
from .exceptions import ConnectionClosed, ConnectionClosedOK
from .protocol import Close
from .server import ServerConnection, serve

__all__ = ["main"]

COMMANDS = ("connect", "serve", "demo")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)

# Exit statuses besides 0: a failure, a usage error (argparse's), an interruption.
FAILURE = 1
INTERRUPTED = 130

# Control characters (C0, DEL and C1) would move the cursor or change colours
# when printed on a terminal: show them as Python escapes instead.
_CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(0x20), *range(0x7F, 0xA0))} | {
    ord("\t"): "\\t",
    ord("\n"): "\\n",
    ord("\r"): "\\r",
}


def escape(text: str) -> str:
    """Return ``text`` with its control characters written as escapes."""
    return text.translate(_CONTROL_ESCAPES)


# Arguments.


def parse_address(text: str) -> tuple[str | None, int]:
    """Parse the ``[HOST:]PORT`` argument of ``serve``.

    A missing host means ``localhost``; an empty one (``:8765``) means every
    interface. An IPv6 host may be written in brackets (``[::1]:8765``).

    Args:
        text: the argument as typed.
    Returns:
        The host (``None`` for every interface) and the port.
    Raises:
        argparse.ArgumentTypeError: the port is not a number from 0 to 65535.
    """
    host: str | None
    host, colon, port = text.rpartition(":")
    if not colon:
        host = "localhost"
    elif host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not (port.isascii() and port.isdigit() and int(port) <= 65535):
        raise argparse.ArgumentTypeError(f"expected [HOST:]PORT, got {text!r}")
    return host or None, int(port)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anywebsockets",
        description="WebSocket tools built on anywebsockets: an interactive client, "
        "an echo server and demos. A URI alone, as in 'anywebsockets ws://HOST:PORT', "
        "means 'connect'.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--backend",
        choices=["asyncio", "trio"],
        default="asyncio",
        help="the event loop to run on (default: asyncio)",
    )

    client = commands.add_parser(
        "connect",
        parents=[common],
        help="an interactive client",
        description="Connect to URI, send each line read on standard input as a text "
        "message and print the messages received: text as it is, binary as hex after "
        "'(binary)'. The end of the input (Ctrl-D on a terminal) closes the connection "
        "with 1000; so do Ctrl-C and SIGTERM. The exit status is 0 after a normal "
        "closure (1000 or 1001 both ways), 1 otherwise.",
    )
    client.add_argument("uri", metavar="URI", help="the ws:// or wss:// address of the server")
    client.add_argument(
        "--insecure",
        action="store_true",
        help="do not verify the server's TLS certificate nor its name (wss:// only)",
    )

    server = commands.add_parser(
        "serve",
        parents=[common],
        help="an echo server",
        description="Listen on HOST:PORT (localhost when HOST is left out, every interface "
        "when it is empty, as in ':8765'; PORT 0 picks a free port) and send every "
        "message back to its sender. Connections are logged on standard error. Ctrl-C "
        "or SIGTERM stops the server: open connections are closed with 1001.",
    )
    server.add_argument("address", metavar="[HOST:]PORT", type=parse_address)
    server.add_argument(
        "--echo",
        action="store_true",
        help="send each message back to its sender (the default, and for now the only behaviour)",
    )
    server.add_argument(
        "--certfile", help="PEM file with the certificate chain (and the key): serve wss://"
    )
    server.add_argument("--keyfile", help="PEM file with the private key, if not in --certfile")

    demo = commands.add_parser(
        "demo", parents=[common], help="an echo server and a client on 127.0.0.1"
    )
    demo.add_argument(
        "--sansio", action="store_true", help="show the sans-I/O engine alone, in memory"
    )
    return parser


def _with_command(argv: Sequence[str]) -> list[str]:
    """Read ``anywebsockets [OPTIONS] URI`` as ``anywebsockets connect [OPTIONS] URI``."""
    args = list(argv)
    if not any(arg in COMMANDS for arg in args) and any("://" in arg for arg in args):
        args.insert(0, "connect")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line interface.

    Args:
        argv: the arguments, without the program name; ``sys.argv[1:]`` by default.
    Returns:
        The process exit status.
    Raises:
        SystemExit: the arguments are wrong, or ``--help`` was given.
    """
    parser = _build_parser()
    args = parser.parse_args(_with_command(sys.argv[1:] if argv is None else argv))
    if args.command == "serve" and args.keyfile is not None and args.certfile is None:
        parser.error("--keyfile needs --certfile")

    if args.command == "demo":
        if args.sansio:
            from ._sansio_demo import main as sansio_demo

            sansio_demo()
        else:
            from ._demo import run

            run(args.backend)
        return 0

    if args.backend == "trio" and importlib.util.find_spec("trio") is None:
        _error("the trio backend needs trio: pip install trio")
        return FAILURE
    try:
        if args.command == "connect":
            return anyio.run(
                functools.partial(
                    run_client, args.uri, insecure=args.insecure, console=Console.for_stdio()
                ),
                backend=args.backend,
            )
        _log_to_stderr()
        host, port = args.address
        return anyio.run(
            functools.partial(
                run_server, host, port, certfile=args.certfile, keyfile=args.keyfile
            ),
            backend=args.backend,
        )
    except KeyboardInterrupt:  # before the signal handlers were in place
        return INTERRUPTED


def _error(message: str) -> None:
    """Print a one-line error on standard error."""
    print(f"anywebsockets: {message}", file=sys.stderr, flush=True)


# The client.


class Console:
    """Where the client writes: plain lines, or a terminal with a prompt.

    On a terminal (``interactive``), a prompt waits for input, and incoming
    messages are inserted above the line being typed, which stays as it was.

    Args:
        stream: where to write.
        interactive: whether standard input and ``stream`` are a terminal.
        width: the width of the terminal, to split long messages over lines.
    """

    def __init__(self, stream: TextIO, *, interactive: bool, width: int = 80) -> None:
        self.stream = stream
        self.interactive = interactive
        self.width = max(width, 1)

    @classmethod
    def for_stdio(cls) -> Console:
        """Return a console on standard output, interactive on a terminal."""
        interactive = sys.stdin is not None and sys.stdin.isatty() and sys.stdout.isatty()
        return cls(sys.stdout, interactive=interactive, width=shutil.get_terminal_size().columns)

    def _write(self, text: str) -> None:
        encoding = getattr(self.stream, "encoding", None)
        if encoding:  # never fail on a character the output cannot show
            text = text.encode(encoding, "backslashreplace").decode(encoding)
        self.stream.write(text)
        self.stream.flush()

    def prompt(self) -> None:
        """Invite the user to type a message (on a terminal only)."""
        if self.interactive:
            self._write("> ")

    def message(self, text: str) -> None:
        """Show an incoming message, above the line being typed on a terminal."""
        if not self.interactive:
            self._write(text + "\n")
            return
        for start in range(0, len(text), self.width):
            self._write(
                "\x1b7"  # remember where the cursor is, in the line being typed
                "\n\x1b[A"  # make room below that line (scrolling if needed), come back
                "\x1b[L\r"  # insert an empty line there, pushing the typed line down
                + text[start : start + self.width]
                + "\x1b8\x1b[B"  # back to the remembered place, one line lower
            )

    def status(self, text: str) -> None:
        """Show a line about the connection, in place of the prompt on a terminal."""
        self._write(("\r\x1b[K" if self.interactive else "") + text + "\n")


async def run_client(
    uri: str,
    *,
    insecure: bool = False,
    console: Console,
    stdin: int = 0,
    encoding: str | None = None,
) -> int:
    """Run the interactive client until the input ends or the connection closes.

    Prints ``Connected to URI.``, then each incoming message (``< `` and the
    text, or ``< (binary) `` and hex digits), and ``Connection closed: `` with
    the close code, its meaning and the reason received. Ctrl-C and SIGTERM
    close the connection with 1000, as the end of the input does.

    Args:
        uri: the server's address.
        insecure: skip the verification of the server's certificate.
        console: where to print.
        stdin: the file descriptor to read lines from.
        encoding: the encoding of the input; that of ``sys.stdin`` by default.
    Returns:
        The exit status: 0 after a normal closure, 1 when the connection
        could not open or closed abnormally, 130 when interrupted while
        connecting.
    Cancellation:
        Closes the connection (shielded, within ``close_timeout``) and
        propagates.
    """
    if encoding is None:
        encoding = getattr(sys.stdin, "encoding", None) or locale.getpreferredencoding(False)
    options: dict[str, Any] = {}
    if insecure and uri.lower().startswith("wss:"):
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        options["ssl"] = context

    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with anyio.create_task_group() as tg:
            session = anyio.CancelScope()
            tg.start_soon(_cancel_on_signal, signals, session)
            status = await _client_session(uri, options, console, stdin, encoding, session)
            tg.cancel_scope.cancel()
    return status


async def _client_session(
    uri: str,
    options: dict[str, Any],
    console: Console,
    stdin: int,
    encoding: str,
    session: anyio.CancelScope,
) -> int:
    """Connect, converse until ``session`` is cancelled or either side ends, close."""
    ws: ClientConnection | None = None
    try:
        with session:
            try:
                ws = await connect(uri, **options)
            except Exception as exc:
                _error(f"cannot connect to {_without_userinfo(uri)}: {_describe(exc)}")
                return FAILURE
            console.status(f"Connected to {_without_userinfo(uri)}.")
            await _converse(ws, console, stdin, encoding)
    finally:
        if ws is not None:
            await ws.close()  # 1000, unless it is closed already
    if ws is None:
        console.status("Interrupted.")
        return INTERRUPTED
    code = 1006 if ws.close_code is None else ws.close_code
    console.status(f"Connection closed: {escape(str(Close(code, ws.close_reason or '')))}.")
    return 0 if isinstance(ws.protocol.close_exc, ConnectionClosedOK) else FAILURE


async def _cancel_on_signal(
    signals: AsyncIterator[signal.Signals], scope: anyio.CancelScope
) -> None:
    """Cancel ``scope`` on each signal received."""
    async for _ in signals:
        scope.cancel()


def _describe(exc: BaseException) -> str:
    """Explain in a few words why a connection could not open."""
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{exc} (--insecure skips this check)"
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError) and (exc.errno or 0) > 0:
        # The same words on both backends, such as "Connection refused".
        return os.strerror(exc.errno or 0)
    return str(exc) or type(exc).__name__


async def _converse(ws: ClientConnection, console: Console, stdin: int, encoding: str) -> None:
    """Send the lines typed and print the messages received until the connection closes."""
    send, receive = anyio.create_memory_object_stream[bytes]()
    with send, receive:
        async with BlockingPortal() as portal:
            reader = threading.Thread(
                target=_read_input,
                args=(stdin, portal, send),
                name="anywebsockets input",
                daemon=True,
            )
            reader.start()
            try:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(_send_input, ws, receive, console, encoding)
                    await _print_incoming(ws, console)
                    tg.cancel_scope.cancel()
            finally:
                # Withdraw a chunk the reader may be handing over: nobody takes it now.
                await portal.stop(cancel_remaining=True)


def _read_input(fd: int, portal: BlockingPortal, send: MemoryObjectSendStream[bytes]) -> None:
    """Hand what arrives on ``fd`` to the event loop, then ``b""`` at the end (a thread)."""
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        try:
            portal.call(send.send, data)
        except Exception:  # the conversation is over: nobody reads any more
            return
        if not data:
            return


async def _send_input(
    ws: ClientConnection,
    receive: MemoryObjectReceiveStream[bytes],
    console: Console,
    encoding: str,
) -> None:
    """Send each line of the input as a text message; close with 1000 at its end."""
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    pending = ""
    console.prompt()
    try:
        async for data in receive:
            pending += decoder.decode(data, final=not data)
            *lines, pending = pending.split("\n")
            if not data and pending:  # the last line had no end of line
                lines.append(pending)
            for line in lines:
                await ws.send(line.removesuffix("\r"))
            if not data:
                break
            if lines:
                console.prompt()
    except ConnectionClosed:
        return  # the server closed first: _print_incoming sees it too
    await ws.close()


async def _print_incoming(ws: ClientConnection, console: Console) -> None:
    """Print the messages received until the connection closes."""
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            if isinstance(message, str):
                console.message("< " + escape(message))
            else:
                console.message("< (binary) " + message.hex())


# The server.


async def run_server(
    host: str | None,
    port: int,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
    out: TextIO | None = None,
) -> int:
    """Run the echo server until SIGINT or SIGTERM.

    Prints ``Listening on`` and the URIs it listens on (with the port chosen
    when ``port`` is 0), then serves; on a signal, it closes open connections
    with 1001 and returns.

    Args:
        host: where to listen; every interface when ``None``.
        port: the TCP port; 0 picks a free one.
        certfile: a PEM file with the certificate chain, to serve ``wss://``.
        keyfile: a PEM file with the private key, when not in ``certfile``.
        out: where to print the listening line; standard output by default.
    Returns:
        0 after a signal, 1 when the server could not listen.
    Cancellation:
        Shuts the server down gracefully and propagates.
    """
    out = sys.stdout if out is None else out
    context: ssl.SSLContext | None = None
    if certfile is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        try:
            context.load_cert_chain(certfile, keyfile)
        except (OSError, ssl.SSLError) as exc:
            _error(f"cannot load the certificate: {exc}")
            return FAILURE
    with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with contextlib.AsyncExitStack() as stack:
            try:
                server = await stack.enter_async_context(serve(_echo, host, port, ssl=context))
            except OSError as exc:
                _error(f"cannot listen on {_host_port(host or '', port)}: {exc}")
                return FAILURE
            scheme = "ws" if context is None else "wss"
            uris = [_listener_uri(scheme, listener) for listener in server.listeners]
            print(f"Listening on {', '.join(uris)}", file=out, flush=True)
            async for signum in signals:
                server.logger.info("%s received: stopping", signal.Signals(signum).name)
                break
    return 0


def _listener_uri(scheme: str, listener: Any) -> str:
    host, port = listener.extra(SocketAttribute.local_address)[:2]
    return f"{scheme}://{_host_port(host, port)}/"


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _echo(ws: ServerConnection) -> None:
    """Send every message back to its sender."""
    with contextlib.suppress(ConnectionClosed):
        async for message in ws:
            await ws.send(message)


class _LogFormatter(logging.Formatter):
    """Time, level, the peer's address for connection records, message."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(peer)s%(message)s")
        # Remembered while the socket is open: a closed socket has no address.
        self._peers: weakref.WeakKeyDictionary[Connection, str] = weakref.WeakKeyDictionary()

    def formatMessage(self, record: logging.LogRecord) -> str:
        ws = record.__dict__.get("websocket")
        peer = ""
        if isinstance(ws, Connection):
            if ws not in self._peers:
                try:
                    host, port = ws.remote_address[:2]
                    self._peers[ws] = _host_port(host, port) + " "
                except Exception:  # no address (closed, or not a socket)
                    pass
            peer = self._peers.get(ws, "")
        record.__dict__["peer"] = peer
        return super().formatMessage(record)


def _log_to_stderr() -> None:
    """Send the library's INFO records to standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LogFormatter())
    logger = logging.getLogger("anywebsockets")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
