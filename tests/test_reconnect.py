"""The reconnecting iterator: ``async for ws in connect(...)``, on both backends."""

from __future__ import annotations

import itertools
import logging
import ssl
from collections.abc import Iterator
from typing import Any

import anyio
import pytest

from anywebsockets import (
    ConnectionClosed,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    Response,
    ServerConnection,
    backoff,
    connect,
    process_exception,
    serve,
)
from anywebsockets.protocol import Headers
from tests.utils import TIMEOUT, raw_listener, running_server

pytestmark = pytest.mark.anyio


def no_delay() -> Iterator[float]:
    return itertools.repeat(0.0)


class Recorder:
    """A server handler that greets each client and records how it closed."""

    def __init__(self) -> None:
        self.codes: list[int | None] = []
        self.closed = anyio.Event()

    async def __call__(self, ws: ServerConnection) -> None:
        await ws.send("hello")
        await ws.wait_closed()
        self.codes.append(ws.close_code)
        self.closed.set()
        self.closed = anyio.Event()

    async def wait_for(self, count: int) -> list[int | None]:
        while len(self.codes) < count:
            await self.closed.wait()
        return self.codes


async def test_continue_opens_a_new_connection_and_closes_the_old_one() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            seen = []
            async for ws in connect(uri):
                seen.append(await ws.recv())
                if len(seen) < 3:
                    continue
                break
            assert seen == ["hello"] * 3
            assert await recorder.wait_for(3) == [1000, 1000, 1000]


async def test_break_closes_with_1000() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            async for ws in connect(uri):
                await ws.recv()
                break
            assert await recorder.wait_for(1) == [1000]


async def test_return_closes_the_connection() -> None:
    recorder = Recorder()

    async def first_message(uri: str) -> Any:
        async for ws in connect(uri):
            return await ws.recv()
        raise AssertionError("unreachable")

    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            assert await first_message(uri) == "hello"
            assert await recorder.wait_for(1) == [1000]


async def test_exception_in_body_propagates_unchanged() -> None:
    recorder = Recorder()
    error = ValueError("from the loop body")
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            with pytest.raises(ValueError) as raised:
                async for ws in connect(uri):
                    await ws.recv()
                    raise error
            assert raised.value is error
            assert await recorder.wait_for(1) == [1011]


async def test_exception_inside_async_with_ws_closes_with_1011() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            with pytest.raises(KeyError):
                async for ws in connect(uri):
                    async with ws:
                        await ws.recv()
                        raise KeyError("x")
            assert await recorder.wait_for(1) == [1011]


async def test_exception_from_a_called_function_closes_with_1011() -> None:
    recorder = Recorder()

    def check(message: Any) -> None:
        raise LookupError(message)

    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            try:
                async for ws in connect(uri):
                    check(await ws.recv())
            except LookupError:
                pass
            assert await recorder.wait_for(1) == [1011]


async def test_normal_exits_after_a_caught_exception_close_with_1000() -> None:
    """The exit code depends on how the loop is left, not on earlier exceptions."""
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            count = 0
            async for ws in connect(uri):
                try:
                    raise ValueError(await ws.recv())
                except ValueError:
                    count += 1
                if count == 2:
                    break
            assert await recorder.wait_for(2) == [1000, 1000]


async def test_timeout_around_the_loop_closes_with_1011() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            with pytest.raises(TimeoutError):
                with anyio.fail_after(0.2):
                    async for ws in connect(uri):
                        await ws.recv()
                        await ws.wait_closed()
            assert await recorder.wait_for(1) == [1011]


async def test_outer_cancellation_leaves_nothing_behind() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            with anyio.move_on_after(0.2) as scope:
                async for ws in connect(uri):
                    await ws.recv()
                    await anyio.sleep_forever()
            assert scope.cancelled_caught
            assert await recorder.wait_for(1) == [1011]


async def test_cancellation_from_another_task() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            got_one = anyio.Event()

            async def consume() -> None:
                async for ws in connect(uri):
                    await ws.recv()
                    got_one.set()
                    await ws.wait_closed()

            async with anyio.create_task_group() as tg:
                tg.start_soon(consume)
                await got_one.wait()
                tg.cancel_scope.cancel()
            assert await recorder.wait_for(1) == [1011]


async def test_server_closing_the_connection_moves_to_the_next() -> None:
    count = 0

    async def kick(ws: ServerConnection) -> None:
        nonlocal count
        count += 1
        await ws.send(str(count))
        await ws.close(1001, "bye")

    with anyio.fail_after(TIMEOUT):
        async with running_server(kick) as (_, uri):
            seen = []
            async for ws in connect(uri):
                try:
                    async for message in ws:
                        seen.append(message)
                except ConnectionClosed:
                    pass
                if len(seen) == 3:
                    break
            assert seen == ["1", "2", "3"]


async def test_refused_connections_are_retried_with_the_delays(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failures: list[Exception] = []

    def policy(exc: Exception) -> Exception | None:
        failures.append(exc)
        return None if len(failures) < 3 else exc

    async with raw_listener() as (_, port):
        pass  # the port is free now: connections are refused
    uri = f"ws://127.0.0.1:{port}/"
    with (
        anyio.fail_after(TIMEOUT),
        caplog.at_level(logging.INFO, logger="anywebsockets.client"),
        pytest.raises(ConnectionRefusedError) as raised,
    ):
        async for _ in connect(
            uri, process_exception=policy, reconnect_delays=lambda: iter([0.01, 0.02])
        ):
            raise AssertionError("no connection should open")
    assert raised.value is failures[-1]
    assert all(isinstance(exc, ConnectionRefusedError) for exc in failures)
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    assert "retrying in 0.0 seconds" in retries[0]


async def test_finite_delays_end_the_loop_with_the_last_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with raw_listener() as (_, port):
        pass  # the port is free now: connections are refused
    # Credentials in the URI never reach the logs.
    uri = f"ws://user:secret@127.0.0.1:{port}/"
    with (
        anyio.fail_after(TIMEOUT),
        caplog.at_level(logging.INFO, logger="anywebsockets.client"),
        pytest.raises(ConnectionRefusedError),
    ):
        async for _ in connect(uri, reconnect_delays=lambda: iter([0.0, 0.0])):
            raise AssertionError("no connection should open")
    retries = [r.getMessage() for r in caplog.records if "retrying in" in r.getMessage()]
    assert len(retries) == 2
    for message in retries:
        assert message.startswith(f"connecting to ws://127.0.0.1:{port}/ failed (")
        assert "secret" not in message


async def test_reconnecting_over_a_given_stream_is_refused() -> None:
    recorder = Recorder()
    with anyio.fail_after(TIMEOUT):
        async with running_server(recorder) as (_, uri):
            port = int(uri.rsplit(":", 1)[1].strip("/"))
            stream = await anyio.connect_tcp("127.0.0.1", port)
            seen = []
            with pytest.raises(ValueError, match="given a stream"):
                async for ws in connect(uri, stream=stream):
                    seen.append(await ws.recv())
            assert seen == ["hello"]
            assert await recorder.wait_for(1) == [1000]


async def test_a_different_exception_is_chained_to_the_failure() -> None:
    class GiveUp(Exception):
        pass

    async with raw_listener() as (_, port):
        pass
    with anyio.fail_after(TIMEOUT), pytest.raises(GiveUp) as raised:
        async for _ in connect(f"ws://127.0.0.1:{port}/", process_exception=lambda e: GiveUp()):
            pass
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


async def test_a_raising_process_exception_works_the_same() -> None:
    def policy(exc: Exception) -> Exception | None:
        raise RuntimeError("stop") from exc

    async with raw_listener() as (_, port):
        pass
    with anyio.fail_after(TIMEOUT), pytest.raises(RuntimeError, match="stop") as raised:
        async for _ in connect(f"ws://127.0.0.1:{port}/", process_exception=policy):
            pass
    assert isinstance(raised.value.__cause__, ConnectionRefusedError)


async def test_http_errors_decide_between_retry_and_stop() -> None:
    statuses = iter([503, 502, 403])

    def answer(connection: ServerConnection, request: Any) -> Response:
        return connection.respond(next(statuses), "no\n")

    with anyio.fail_after(TIMEOUT):
        async with running_server(Recorder(), process_request=answer) as (_, uri):
            with pytest.raises(InvalidStatus) as raised:
                async for _ in connect(uri, reconnect_delays=no_delay):
                    pass
    assert raised.value.response.status_code == 403


async def test_delays_start_over_after_a_successful_connection() -> None:
    calls = 0

    def delays() -> Iterator[float]:
        nonlocal calls
        calls += 1
        return no_delay()

    outcomes = iter(["fail", "ok", "fail", "ok"])

    def answer(connection: ServerConnection, request: Any) -> Response | None:
        return connection.respond(503, "later\n") if next(outcomes) == "fail" else None

    with anyio.fail_after(TIMEOUT):
        async with running_server(Recorder(), process_request=answer) as (_, uri):
            opened = 0
            async for ws in connect(uri, reconnect_delays=delays):
                await ws.recv()
                opened += 1
                if opened == 2:
                    break
    assert calls == 2


async def test_server_hanging_up_during_the_handshake_is_retried() -> None:
    attempts = 0
    async with raw_listener() as (listener, port):

        async def hang_up_twice() -> None:
            nonlocal attempts
            while attempts < 2:
                stream = await listener.listeners[0].accept()
                attempts += 1
                await stream.receive()
                await stream.aclose()

        with anyio.fail_after(TIMEOUT):
            async with anyio.create_task_group() as tg:
                tg.start_soon(hang_up_twice)
                failures: list[Exception] = []

                def policy(exc: Exception) -> Exception | None:
                    failures.append(exc)
                    decision = process_exception(exc)
                    return decision if len(failures) < 2 else exc

                with pytest.raises(InvalidMessage):
                    async for _ in connect(
                        f"ws://127.0.0.1:{port}/",
                        process_exception=policy,
                        reconnect_delays=no_delay,
                    ):
                        pass
    assert attempts == 2
    assert all(isinstance(exc.__cause__, EOFError) for exc in failures)


# The default policy and delays.


def status(code: int) -> InvalidStatus:
    return InvalidStatus(Response(code, "", Headers()))


def eof_message() -> InvalidMessage:
    exc = InvalidMessage("hung up")
    exc.__cause__ = EOFError()
    return exc


@pytest.mark.parametrize(
    "exc",
    [
        OSError(),
        ConnectionRefusedError(),
        TimeoutError(),
        ssl.SSLError(),
        eof_message(),
        status(500),
        status(502),
        status(503),
        status(504),
    ],
)
def test_default_policy_retries(exc: Exception) -> None:
    assert process_exception(exc) is None


@pytest.mark.parametrize(
    "exc",
    [
        status(401),
        status(403),
        status(404),
        status(501),
        InvalidMessage("garbage"),
        InvalidURI("http://x", "no"),
        ValueError(),
    ],
)
def test_default_policy_stops(exc: Exception) -> None:
    assert process_exception(exc) is exc


def test_backoff_defaults() -> None:
    delays = backoff()
    first = next(delays)
    assert 0 <= first < 5
    rest = list(itertools.islice(delays, 12))
    assert rest[0] == 3.1
    assert rest[1] == pytest.approx(3.1 * 1.618)
    assert all(b >= a for a, b in itertools.pairwise(rest))
    assert rest[-1] == 90.0
    assert max(rest) == 90.0


def test_backoff_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYWEBSOCKETS_BACKOFF_INITIAL_DELAY", "0")
    monkeypatch.setenv("ANYWEBSOCKETS_BACKOFF_MIN_DELAY", "1")
    monkeypatch.setenv("ANYWEBSOCKETS_BACKOFF_MAX_DELAY", "4")
    monkeypatch.setenv("ANYWEBSOCKETS_BACKOFF_FACTOR", "2")
    assert list(itertools.islice(backoff(), 6)) == [0.0, 1.0, 2.0, 4.0, 4.0, 4.0]


async def test_body_exceptions_are_not_passed_to_process_exception() -> None:
    calls: list[Exception] = []

    def policy(exc: Exception) -> Exception | None:
        calls.append(exc)
        return None

    with anyio.fail_after(TIMEOUT):
        async with running_server(Recorder()) as (_, uri):
            with pytest.raises(OSError, match="from the body"):
                async for ws in connect(uri, process_exception=policy):
                    await ws.recv()
                    raise OSError("from the body")
    assert calls == []


@pytest.mark.parametrize("exit_by", ["break", "raise"])
def test_loop_left_as_the_run_ends_still_closes(anyio_backend: str, exit_by: str) -> None:
    """No checkpoint between leaving the loop and the end of ``anyio.run``.

    The server runs in another thread, with its own event loop; the client's run
    ends right after the loop, so the close must happen while the run winds down.
    """
    recorder = Recorder()
    with (
        anyio.from_thread.start_blocking_portal() as portal,
        portal.wrap_async_context_manager(serve(recorder, "127.0.0.1", 0)) as server,
    ):
        port = server.listeners[0].extra(anyio.abc.SocketAttribute.local_port)

        async def main() -> None:
            with anyio.fail_after(TIMEOUT):
                async for ws in connect(f"ws://127.0.0.1:{port}/"):
                    await ws.recv()
                    if exit_by == "break":
                        break
                    raise LookupError

        if exit_by == "break":
            anyio.run(main, backend=anyio_backend)
        else:
            with pytest.raises(LookupError):
                anyio.run(main, backend=anyio_backend)

        async def closed() -> list[int | None]:
            with anyio.fail_after(TIMEOUT):
                return await recorder.wait_for(1)

        assert portal.call(closed) == [1000 if exit_by == "break" else 1011]
