"""`python -m ticket_service [serve|migrate|backfill INTEGRATION]`: run the gRPC server,
migrate and exit, or import a newly connected Chatwoot account's conversations (resumable)."""

from __future__ import annotations

import argparse
import asyncio
import sys

import structlog

from common.clock import SystemClock
from common.config import ConfigError, load_tenants
from common.db import create_engine
from common.grpc.server import run_until_signalled
from common.logging import configure_logging
from common.tracing import configure_tracing, shutdown_tracing
from ticket_service import bootstrap
from ticket_service.adapters.migrate import upgrade
from ticket_service.chatwoot import ChatwootError
from ticket_service.entrypoints.progress import ProgressBar
from ticket_service.service.chatwoot_dispatcher import DispatchSettings
from ticket_service.service.reconciler import Reconciler
from ticket_service.service.tickets import TicketService
from ticket_service.settings import Settings

log = structlog.get_logger("ticket_service")


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
        sync=settings.sync,
        reconcile=settings.reconcile,
        retention=settings.retention,
        metrics_listen=settings.metrics_listen,
    )
    log.info("serving", port=app.port, tenants=len(tenants.tenants))
    await run_until_signalled(app.server, grace=settings.shutdown_grace_seconds)


async def _backfill(settings: Settings, integration_name: str) -> None:
    tenants = load_tenants(settings.tenants_file)
    found = [
        (tenant, integration)
        for tenant in tenants.tenants
        for integration in tenant.chatwoot
        if integration.name == integration_name
    ]
    if not found:
        raise ConfigError(f"no chatwoot integration named {integration_name!r}")
    [(tenant, integration)] = found
    engine = create_engine(settings.database_url)
    clock = SystemClock()
    clients = bootstrap.chatwoot_clients(tenants, clock, settings.sync or DispatchSettings())
    reconciler = Reconciler(TicketService(engine, clock), clients, tenants, clock)
    bar = ProgressBar(f"backfill {integration_name}")
    try:
        report = await reconciler.backfill(tenant, integration, on_page=bar.update)
    finally:
        bar.close()
        for client in clients.values():
            await client.aclose()
        await engine.dispose()
    print(f"backfill {integration_name}: {report.seen} conversations, {report.applied} applied")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ticket_service", description=__doc__)
    parser.add_argument(
        "command", nargs="?", default="serve", choices=["serve", "migrate", "backfill"]
    )
    parser.add_argument(
        "integration", nargs="?", help="backfill: the Chatwoot integration to import"
    )
    parser.add_argument("--migrate", action="store_true", help="migrate before serving")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    configure_logging(level=settings.log_level)
    try:
        if args.command != "migrate":
            configure_tracing("ticket_service")
        if args.command == "migrate":
            asyncio.run(_migrate(settings))
        elif args.command == "backfill":
            if not args.integration:
                parser.error("backfill needs the integration's name")
            asyncio.run(_backfill(settings, args.integration))
        else:
            asyncio.run(_serve(settings, migrate=args.migrate))
    except ChatwootError as error:
        log.error("backfill_interrupted", error=str(error))
        print(f"ticket_service: {error}; run the backfill again to resume", file=sys.stderr)
        return 1
    except ConfigError as error:
        log.error("bad_config", error=str(error))
        print(f"ticket_service: {error}", file=sys.stderr)
        return 2
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
