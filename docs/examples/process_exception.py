"""Deciding which failures to retry with process_exception."""

import anyio

from anywebsockets import (
    InvalidStatus,
    Request,
    ServerConnection,
    connect,
    process_exception,
    serve,
)

attempts = 0


async def handler(ws):
    await ws.send("welcome")


def busy_then_ready(connection: ServerConnection, request: Request):
    # Answer 429 Too Many Requests twice, then 403 Forbidden.
    global attempts
    attempts += 1
    if attempts <= 2:
        return connection.respond(429, "slow down\n")
    return connection.respond(403, "go away\n")


def retry_when_throttled(exc: Exception) -> Exception | None:
    # Also retry on 429, which the default policy treats as final.
    if isinstance(exc, InvalidStatus) and exc.response.status_code == 429:
        print(f"throttled, retrying: {exc}")
        return None
    # Everything else as usual: network errors and 5xx retried, the rest raised.
    return process_exception(exc)


async def main():
    async with serve(handler, "127.0.0.1", 8779, process_request=busy_then_ready):
        try:
            async for ws in connect(
                "ws://127.0.0.1:8779",
                process_exception=retry_when_throttled,
                reconnect_delays=lambda: iter([0.1] * 9),
            ):
                print(await ws.recv())  # not reached: the third answer is 403
        except InvalidStatus as exc:
            print(f"gave up: {exc}")


if __name__ == "__main__":
    anyio.run(main)
