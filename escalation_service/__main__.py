"""`python -m escalation_service [serve|migrate]`: run the gRPC server (and its workers),
or migrate its database and exit."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from common.config import ConfigError, load_tenants
from common.db import create_engine
from common.grpc.server import run_until_signalled
from common.logging import configure_logging
from common.tracing import configure_tracing, shutdown_tracing
from escalation_service import bootstrap
from escalation_service.adapters.migrate import upgrade
from escalation_service.settings import Settings

log = structlog.get_logger("escalation_service")


async def _migrate(settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    log.info("migrated")


async def _serve(settings: Settings, *, migrate: bool) -> None:
    tenants = load_tenants(settings.tenants_file)
    engine = create_engine(settings.database_url)
    if migrate:
        await upgrade(engine)
    app = await bootstrap.start(
        engine=engine,
        tenants=tenants,
        listen=settings.listen,
        ticket_service_target=settings.ticket_service_target,
        workers=settings.workers,
        metrics_listen=settings.metrics_listen,
    )
    log.info("serving", port=app.port, tenants=len(tenants.tenants))
    await run_until_signalled(app.server, grace=settings.shutdown_grace_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="escalation_service", description=__doc__)
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    parser.add_argument("--migrate", action="store_true", help="migrate before serving")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(level=settings.log_level)
    try:
        if args.command != "migrate":
            configure_tracing("escalation_service")
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        else:
            asyncio.run(_serve(settings, migrate=args.migrate))
    except ConfigError as error:
        log.error("bad_config", error=str(error))
        print(f"escalation_service: {error}", file=sys.stderr)
        return 2
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
