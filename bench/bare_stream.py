"""The bare stream the real one is measured against: gRPC fan-out doing the least work.

    python -m bench.bare_stream [--listen 127.0.0.1:0]

A grpc.aio server (one process, the services' shared server setup) with two raw-bytes
methods: `Watch` streams every payload published after it opened, `Publish` hands one
payload to every open Watch. No database, no protobuf, no auth, no interceptors: what the
real stream costs above this is the log read, the filters, the mapping and the middleware.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import AsyncIterator
from typing import Any

import grpc

from bench.bare_server import serve_until_signalled

SERVICE = "bench.BareStream"
WATCH = f"/{SERVICE}/Watch"
PUBLISH = f"/{SERVICE}/Publish"


async def serve(listen: str) -> None:
    watchers: set[asyncio.Queue[bytes]] = set()

    async def watch(
        _request: bytes, _context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        watchers.add(queue)
        try:
            yield b""  # opened
            while True:
                yield await queue.get()
        finally:
            watchers.discard(queue)

    async def publish(request: bytes, _context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        for queue in watchers:
            queue.put_nowait(request)
        return b""

    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Watch": grpc.unary_stream_rpc_method_handler(watch),
            "Publish": grpc.unary_unary_rpc_method_handler(publish),
        },
    )

    await serve_until_signalled(listen, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bare_stream", description=__doc__)
    parser.add_argument("--listen", default="127.0.0.1:0")
    args = parser.parse_args(argv)
    asyncio.run(serve(args.listen))
    return 0


if __name__ == "__main__":
    sys.exit(main())
