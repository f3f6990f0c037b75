"""The gateway's HTTP application: Chatwoot webhooks, liveness, readiness and metrics.

`create_app` is the composition root. Components are reachable on `app.state` (`spool`,
`forwarder`, `metrics`) for operators' tooling and tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from common.backoff import Backoff
from common.clock import Clock, SystemClock
from common.config import TenantsConfig
from gateway.channel import ServiceChannel
from gateway.dispatch import Dispatcher
from gateway.forwarder import Forwarder
from gateway.health_probe import HealthProbe
from gateway.integrations import integrations_from
from gateway.metrics import Metrics
from gateway.settings import Settings
from gateway.spool import Spool, SpoolUnavailable
from gateway.ticket_client import TicketClient
from gateway.verification import Window
from gateway.webhook import WebhookEndpoint

READINESS_TIMEOUT_SECONDS = 1.0

log = structlog.get_logger("gateway")


def create_app(
    settings: Settings, tenants: TenantsConfig, *, clock: Clock | None = None
) -> Starlette:
    """The app for `tenants`. Raises ConfigError when an integration cannot forward.

    `clock` judges signature timestamps and schedules spool retries (default: system time).
    """
    clock = clock or SystemClock()
    integrations = integrations_from(tenants)
    spool = Spool(settings.spool_path)
    metrics = Metrics(spool)
    service = ServiceChannel(settings.ticket_service_target)
    client = TicketClient(
        service, timeout=settings.forward_timeout_seconds, metrics=metrics.grpc_client
    )
    probe = HealthProbe(service, timeout=READINESS_TIMEOUT_SECONDS)
    backoff = Backoff(settings.retry_initial_seconds, settings.retry_max_seconds)
    forwarder = Forwarder(
        spool, client, integrations, clock=clock, backoff=backoff, metrics=metrics
    )
    webhooks = WebhookEndpoint(
        integrations,
        Dispatcher(spool, client, clock=clock, backoff=backoff),
        metrics,
        clock=clock,
        window=Window(settings.signature_max_age_seconds, settings.signature_max_future_seconds),
    )

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        service.open()
        try:
            await spool.open()
        except SpoolUnavailable as error:
            # Still serve: deliveries the service takes at once need no spool, and
            # /readyz reports the problem. Every spool use retries opening it.
            log.error("spool_unavailable", error=str(error))
        forwarder.start()
        try:
            yield
        finally:
            await forwarder.stop()
            await spool.close()
            await service.close()

    async def healthz(_request: Request) -> Response:
        # Liveness only: restarting the gateway would not bring a dependency back.
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problems = []
        service_problem = await probe.problem()
        if service_problem is not None:
            problems.append(f"ticket service: {service_problem}")
        if spool.problem is not None:
            problems.append(spool.problem)
        if problems:
            reason = "; ".join(problems)
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    async def metrics_endpoint(_request: Request) -> Response:
        return Response(metrics.render(), media_type=Metrics.content_type)

    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics_endpoint, methods=["GET"]),
            Route("/webhooks/chatwoot/{integration}", webhooks.handle, methods=["POST"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.spool = spool
    app.state.forwarder = forwarder
    app.state.metrics = metrics
    return app


async def _http_error(_request: Request, error: Exception) -> Response:
    # Clients of the gateway are programs (Chatwoot, probes): errors are JSON, never HTML.
    assert isinstance(error, HTTPException)
    return JSONResponse(
        {"error": error.detail}, status_code=error.status_code, headers=error.headers
    )


async def _server_error(_request: Request, _error: Exception) -> Response:
    # Starlette re-raises the error after this response, so uvicorn logs the traceback;
    # the client learns nothing about the internals.
    return JSONResponse({"error": "Internal Server Error"}, status_code=500)
