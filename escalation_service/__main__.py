"""`python -m escalation_service`: run the escalation service's gRPC server.

For now it serves only gRPC health and reflection, so that deployment, health checks and
`make run` are wired end to end. The decision and agent-selection API arrives with the
escalation issue.
"""

from __future__ import annotations

import asyncio
import sys

import grpc
import structlog

from common.grpc.server import run_until_signalled, start_server
from common.logging import configure_logging
from escalation_service.settings import Settings

log = structlog.get_logger("escalation_service")


def _register(_server: grpc.aio.Server) -> list[str]:
    return []


async def _serve(settings: Settings) -> None:
    server = await start_server(listen=settings.listen, register=_register)
    log.info("serving", port=server.port)
    await run_until_signalled(server, grace=settings.shutdown_grace_seconds)


def main() -> int:
    settings = Settings.from_env()
    configure_logging(level=settings.log_level)
    asyncio.run(_serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
