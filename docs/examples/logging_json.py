"""Server logs as JSON lines, each with the connection it is about."""

import io
import json
import logging

import anyio

from anywebsockets import connect, serve


class JSONFormatter(logging.Formatter):
    """Format each record as one JSON object on one line."""

    def format(self, record):
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Records about a connection carry it as record.websocket; records
        # about the server as a whole (listening, closing) do not.
        ws = getattr(record, "websocket", None)
        if ws is not None:
            entry["connection"] = str(ws.id)
            entry["remote"] = ws.remote_address
            if ws.request is not None:
                # get_all(): a header sent twice must not break logging.
                entry["user_agent"] = ", ".join(ws.request.headers.get_all("User-Agent"))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


async def echo(ws):
    async for message in ws:
        await ws.send(message)


async def main():
    uri = "ws://127.0.0.1:8777"
    async with (
        serve(echo, "127.0.0.1", 8777) as server,
        connect(uri, user_agent_header="demo-client/1.0") as ws,
    ):
        await ws.send("ping")
        await ws.recv()
        await server.aclose()  # the client is told 1001


if __name__ == "__main__":
    output = io.StringIO()  # sys.stderr in real life
    handler = logging.StreamHandler(output)
    handler.setFormatter(JSONFormatter())
    logging.getLogger("anywebsockets.server").addHandler(handler)
    logging.getLogger("anywebsockets.server").setLevel(logging.INFO)

    anyio.run(main)

    # Show the records without what changes at each run: time, id and port.
    for line in output.getvalue().splitlines():
        entry = json.loads(line)
        del entry["time"]
        if "connection" in entry:
            entry["connection"] = "<uuid>"
        if entry.get("remote"):
            entry["remote"][1] = "<port>"
        print(json.dumps(entry))
