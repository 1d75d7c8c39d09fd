"""A client and a server talking through the sans-I/O engine, with no network.

Run it with ``python -m anywebsockets demo --sansio``: it prints each step of the
opening handshake, an echoed message (compressed with permessage-deflate) and
the closing handshake, with the bytes that would cross the network.
"""

from __future__ import annotations

from anywebsockets.protocol import (
    ClientProtocol,
    Frame,
    Opcode,
    Protocol,
    Request,
    Response,
    ServerProtocol,
    enable_client_permessage_deflate,
    enable_server_permessage_deflate,
    parse_uri,
)


def pump(sender: Protocol, receiver: Protocol, label: str) -> None:
    """Move every pending byte from ``sender`` to ``receiver``, as a network would."""
    for data in sender.data_to_send():
        if data:
            more = "..." if len(data) > 40 else ""
            print(f"{label} {len(data):5d} bytes: {bytes(data[:40])!r}{more}")
            receiver.receive_data(data)
        else:
            print(f"{label}   end of stream")
            receiver.receive_eof()


def main() -> None:
    client = ClientProtocol(
        parse_uri("ws://example.com/chat"),
        extensions=enable_client_permessage_deflate(None),
    )
    server = ServerProtocol(extensions=enable_server_permessage_deflate(None))

    # Opening handshake.
    client.send_request(client.connect())
    pump(client, server, "client -> server")
    [request] = server.events_received()
    assert isinstance(request, Request)
    server.send_response(server.accept(request))
    pump(server, client, "server -> client")
    [response] = client.events_received()
    assert isinstance(response, Response)
    print(f"handshake: HTTP {response.status_code}, client state {client.state.name}")
    print(f"extensions: {', '.join(str(e) for e in client.extensions)}")

    # One message, echoed.
    client.send_text(b"Hello, anywebsockets! " * 4)
    pump(client, server, "client -> server")
    for event in server.events_received():
        assert isinstance(event, Frame) and event.opcode is Opcode.TEXT
        print(f"server received: {bytes(event.data).decode()!r}")
        server.send_text(event.data)
    pump(server, client, "server -> client")
    [echo] = client.events_received()
    assert isinstance(echo, Frame)
    print(f"client received the echo: {len(echo.data)} bytes")

    # Closing handshake: the client starts it, the server echoes and closes TCP.
    client.send_close(1000, "done")
    pump(client, server, "client -> server")
    pump(server, client, "server -> client")
    pump(client, server, "client -> server")
    print(f"closed: client {client.state.name} ({client.close_code}), server {server.state.name}")


if __name__ == "__main__":
    main()
