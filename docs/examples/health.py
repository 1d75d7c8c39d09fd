"""A health check endpoint next to the WebSocket endpoint, probed with plain HTTP."""

import anyio

from anywebsockets import connect, serve


def health_check(connection, request):
    if request.path == "/healthz" and request.method == "GET":
        return connection.respond(200, "OK\n")
    return None  # anything else goes on with the WebSocket handshake


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def http_get(port, path):
    """Send a plain HTTP/1.1 GET, as a load balancer's probe does; return the response."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        await stream.send(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        response = b""
        while True:  # the server closes the connection after its answer
            try:
                response += await stream.receive()
            except anyio.EndOfStream:
                return response.decode()


async def main():
    async with serve(echo, "127.0.0.1", 8772, process_request=health_check):
        response = await http_get(8772, "/healthz")
        head, body = response.split("\r\n\r\n", 1)
        print(head.splitlines()[0], repr(body))
        response = await http_get(8772, "/")
        print(response.splitlines()[0])
        async with connect("ws://127.0.0.1:8772/") as ws:
            await ws.send("still a WebSocket server")
            print(await ws.recv())


if __name__ == "__main__":
    anyio.run(main)
