"""A trio-websocket program rewritten for anywebsockets; comments show the old calls."""

import trio

from anywebsockets import ConnectionClosed, InvalidStatus, connect, serve


def only_echo(connection, request):
    # Was: `await request.reject(404, body=...)` in the handler.
    if request.path != "/echo":
        return connection.respond(404, "Not found\n")
    return None


async def echo(ws):
    # Was: `ws = await request.accept()`; the handshake is over when the handler starts.
    async for message in ws:  # was: `await ws.get_message()` until ConnectionClosed
        if message == "quit":
            await ws.close(4000, "bye")  # was: `await ws.aclose(4000, "bye")`
            return
        await ws.send(message)  # was: `await ws.send_message(message)`


async def main():
    async with trio.open_nursery() as nursery:
        # Was: `await nursery.start(serve_websocket, echo, "127.0.0.1", 8778, None)`
        server = await nursery.start(
            serve(echo, "127.0.0.1", 8778, process_request=only_echo).serve_forever
        )
        # Was: `async with open_websocket_url("ws://127.0.0.1:8778/echo") as ws:`
        async with connect("ws://127.0.0.1:8778/echo") as ws:
            await ws.send("hello")
            await ws.send("quit")
            try:
                async for message in ws:  # ends quietly on 1000 and 1001 only
                    print(message)
            except ConnectionClosed as exc:  # was: exc.reason.code, exc.reason.reason
                print("closed:", exc.rcvd.code, exc.rcvd.reason)
        try:
            await connect("ws://127.0.0.1:8778/elsewhere")
        except InvalidStatus as exc:  # was: ConnectionRejected, exc.status_code
            print("rejected:", exc.response.status_code)
        server.close()  # was: `nursery.cancel_scope.cancel()` (that works too)


if __name__ == "__main__":
    trio.run(main)
