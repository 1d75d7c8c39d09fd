"""A wss:// server and its client, with certificates made at run time by trustme."""

import ssl

import anyio
import trustme

from anywebsockets import connect, serve

# A throwaway certificate authority and a certificate it signed for the server.
# In production the server loads a real certificate instead (see the text).
ca = trustme.CA()
server_cert = ca.issue_cert("ws.example.test")

server_ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
server_cert.configure_cert(server_ssl)  # load_cert_chain() with the cert and key

client_ssl = ssl.create_default_context()
ca.configure_trust(client_ssl)  # load_verify_locations() with the CA's certificate


async def hello(ws):
    await ws.send("hello over TLS")


async def main():
    async with serve(hello, "127.0.0.1", 8776, ssl=server_ssl):
        # The name in the URI is checked against the certificate; host= only
        # changes where the TCP connection goes (no DNS entry needed here).
        async with connect("wss://ws.example.test:8776", host="127.0.0.1", ssl=client_ssl) as ws:
            print("host=:", await ws.recv())
        # Or connect to the address, and name the host the certificate is for.
        uri = "wss://127.0.0.1:8776"
        async with connect(uri, ssl=client_ssl, server_hostname="ws.example.test") as ws:
            print("server_hostname=:", await ws.recv())
        # Without the custom CA, the default context does not trust the server.
        try:
            await connect("wss://ws.example.test:8776", host="127.0.0.1")
        except ssl.SSLCertVerificationError as exc:
            print("default trust store:", exc.verify_message)


if __name__ == "__main__":
    anyio.run(main)
