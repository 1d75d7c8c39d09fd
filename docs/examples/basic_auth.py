"""HTTP Basic authentication on the server, combined with a health check."""

import anyio

from anywebsockets import InvalidStatus, basic_auth, connect, serve

check = basic_auth(realm="example", credentials=("alice", "s3cret"))


async def process_request(connection, request):
    if request.path == "/health":
        return connection.respond(200, "OK\n")
    return await check(connection, request)


async def hello(ws):
    await ws.send(f"hello, {ws.username}")


async def main():
    async with serve(hello, "127.0.0.1", 8769, process_request=process_request):
        async with connect("ws://alice:s3cret@127.0.0.1:8769") as ws:
            print(await ws.recv())
        try:
            await connect("ws://alice:wrong@127.0.0.1:8769")
        except InvalidStatus as exc:
            print(exc.response.status_code, exc.response.body.decode().strip())


if __name__ == "__main__":
    anyio.run(main)
