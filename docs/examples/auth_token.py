"""Tokens in the query string or in a cookie, with HTTP Basic as a fallback."""

from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import anyio

from anywebsockets import InvalidStatus, basic_auth, connect, serve

TOKENS = {"t0k3n-alice": "alice", "t0k3n-bob": "bob"}
check_basic = basic_auth(realm="example", credentials=("carol", "s3cret"))


def find_token(request):
    """Return the token from ``?token=...`` or from the ``session`` cookie, if any."""
    query = parse_qs(urlsplit(request.path).query)
    if "token" in query:
        return query["token"][0]
    cookie = SimpleCookie("; ".join(request.headers.get_all("Cookie")))
    if "session" in cookie:
        return cookie["session"].value
    return None


async def process_request(connection, request):
    token = find_token(request)
    if token is None:
        if "Authorization" in request.headers:
            return await check_basic(connection, request)  # sets connection.username
        return connection.respond(401, "Missing token\n")
    if token not in TOKENS:
        return connection.respond(403, "Invalid token\n")
    connection.username = TOKENS[token]
    return None  # go on with the handshake


async def hello(ws):
    await ws.send(f"hello, {ws.username}")


async def main():
    async with serve(hello, "127.0.0.1", 8771, process_request=process_request):
        uri = "ws://127.0.0.1:8771/"
        async with connect(uri + "?token=t0k3n-alice") as ws:
            print("query string:", await ws.recv())
        async with connect(uri, additional_headers={"Cookie": "session=t0k3n-bob"}) as ws:
            print("cookie:", await ws.recv())
        async with connect("ws://carol:s3cret@127.0.0.1:8771/") as ws:
            print("basic auth:", await ws.recv())
        for attempt in [uri, uri + "?token=guess"]:
            try:
                await connect(attempt)
            except InvalidStatus as exc:
                print(exc.response.status_code, exc.response.body.decode().strip())


if __name__ == "__main__":
    anyio.run(main)
