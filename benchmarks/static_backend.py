"""A fixed-answer HTTPS backend for measuring the gateway's own cost (the node's request
handling would otherwise dominate): one uvloop process, httptools, keep-alive, answering
every request with a small JSON body, like the nginx backend in the gateway reference.

    python -m benchmarks.static_backend --cert C --key K [--client-ca CA] (--port N | --unix P)
"""

from __future__ import annotations

import argparse
import asyncio
import ssl

import httptools
import uvloop

BODY = b'{"name":"static","tagline":"You Know, for Search"}'
RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)


class Static(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    def on_message_complete(self) -> None:
        assert self.transport is not None
        self.transport.write(RESPONSE)


async def serve(args: argparse.Namespace) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    if args.client_ca:
        ctx.load_verify_locations(args.client_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    loop = asyncio.get_running_loop()
    if args.unix:
        server = await loop.create_unix_server(Static, args.unix, ssl=ctx, backlog=1024)
    else:
        server = await loop.create_server(Static, "127.0.0.1", args.port, ssl=ctx, backlog=1024)
    await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--client-ca")
    parser.add_argument("--port", type=int)
    parser.add_argument("--unix")
    uvloop.run(serve(parser.parse_args()))


if __name__ == "__main__":
    main()
