"""The bare chain the real one is measured against: the same stack doing the least work.

    python -m bench.bare_chain service --database-url URL [--listen 127.0.0.1:0]
    python -m bench.bare_chain gateway --port PORT --target HOST:PORT

- gateway: a Starlette app on uvicorn (one process, standard asyncio loop, httptools, as
  `python -m gateway` runs) whose one POST endpoint reads the body and makes one grpc.aio
  unary call carrying the delivery id and the raw body;
- service: a grpc.aio server (one process, the services' shared server setup) whose
  `Insert` does one INSERT and whose `Get` one primary-key SELECT, through SQLAlchemy async
  Core on psycopg, with the engine the ticket service uses (`common.db.create_engine`: same
  pool, same driver). `Get` is the bare counterpart of GetTicket (`bench.rpc_load`).

No verification, parsing, mapping, auth, ordering or audit log: the real chain's cost above
this floor is what those add.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from types import FrameType
from typing import Any

import grpc
import uvicorn
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, bindparam, insert, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.bare_server import serve_until_signalled
from common.db import create_engine

SERVICE = "bench.BareChain"
METHOD = f"/{SERVICE}/Insert"
GET_METHOD = f"/{SERVICE}/Get"
PATH = "/deliveries"
DELIVERY_HEADER = "x-chatwoot-delivery"
# The real gateway's default forward timeout.
CALL_TIMEOUT = 2.0

metadata = MetaData()
deliveries = Table(
    "bench_bare_deliveries",
    metadata,
    Column("delivery_id", String(128), primary_key=True),
    Column("body_bytes", Integer, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
)


# The service


async def serve(database_url: str, listen: str) -> None:
    engine = create_engine(database_url)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    statement = insert(deliveries)
    by_id = select(deliveries.c.body_bytes).where(deliveries.c.delivery_id == bindparam("id"))

    async def insert_delivery(
        request: bytes, _context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        delivery_id, _, body = request.partition(b"\n")
        async with engine.begin() as conn:
            await conn.execute(
                statement,
                {
                    "delivery_id": delivery_id.decode(),
                    "body_bytes": len(body),
                    "create_time": datetime.now(UTC),
                },
            )
        return b""

    async def get_delivery(request: bytes, _context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        async with engine.connect() as conn:
            found = (await conn.execute(by_id, {"id": request.decode()})).scalar()
        return b"" if found is None else str(found).encode()

    # No (de)serializers: the handler gets and returns raw bytes, no protobuf involved.
    handler = grpc.method_handlers_generic_handler(
        SERVICE,
        {
            "Insert": grpc.unary_unary_rpc_method_handler(insert_delivery),
            "Get": grpc.unary_unary_rpc_method_handler(get_delivery),
        },
    )

    await serve_until_signalled(listen, handler)
    await engine.dispose()


# The gateway


def create_app(target: str) -> Starlette:
    calls: dict[str, grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]] = {}

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # grpc.aio channels belong to the loop that creates them: uvicorn's.
        async with grpc.aio.insecure_channel(target) as channel:
            # No (de)serializers: raw bytes both ways.
            calls["insert"] = channel.unary_unary(METHOD)
            yield

    async def deliver(request: Request) -> Response:
        body = await request.body()
        delivery_id = request.headers.get(DELIVERY_HEADER, "")
        try:
            await calls["insert"](delivery_id.encode() + b"\n" + body, timeout=CALL_TIMEOUT)
        except grpc.aio.AioRpcError as error:
            return JSONResponse({"error": error.code().name}, status_code=503)
        return JSONResponse({"outcome": "applied"})

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route(PATH, deliver, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def _already_handled(_signum: int, _frame: FrameType | None) -> None:
    pass


def run_gateway(port: int, target: str) -> None:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # As `python -m gateway`: uvicorn re-raises SIGTERM after its graceful shutdown against
    # the handlers set before it started; these let a clean stop exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _already_handled)
    config = uvicorn.Config(
        create_app(target),
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="warning",
        lifespan="on",
        # As the real gateway: grpc.aio needs the standard asyncio loop.
        loop="asyncio",
    )
    uvicorn.Server(config).run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.bare_chain", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    service = commands.add_parser("service")
    service.add_argument("--database-url", required=True)
    service.add_argument("--listen", default="127.0.0.1:0")
    gateway = commands.add_parser("gateway")
    gateway.add_argument("--port", type=int, required=True)
    gateway.add_argument("--target", required=True)
    args = parser.parse_args(argv)
    if args.command == "service":
        asyncio.run(serve(args.database_url, args.listen))
    else:
        run_gateway(args.port, args.target)
    return 0


if __name__ == "__main__":
    sys.exit(main())
