"""`python -m common.grpc.healthcheck`, the compose healthcheck, against a real server."""

from __future__ import annotations

import asyncio

from grpc_health.v1 import health_pb2

from common.grpc.healthcheck import main
from ticket_service import bootstrap


async def test_exit_code_follows_the_servers_health(ticket_app: bootstrap.TicketApp) -> None:
    address = f"127.0.0.1:{ticket_app.port}"
    assert await asyncio.to_thread(main, [address]) == 0

    # What SIGTERM does first (common/grpc/server.py): the healthcheck fails at once.
    await ticket_app.server.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
    assert await asyncio.to_thread(main, [address]) == 1

    await ticket_app.stop(grace=0)
    assert await asyncio.to_thread(main, [address, "--timeout", "1"]) == 1
