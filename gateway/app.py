"""The gateway's HTTP application: liveness and readiness for now."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.health_probe import HealthProbe
from gateway.settings import Settings

READINESS_TIMEOUT_SECONDS = 1.0


def create_app(settings: Settings) -> Starlette:
    ticket_service = HealthProbe(settings.ticket_service_target, timeout=READINESS_TIMEOUT_SECONDS)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        # One channel for the process: grpc.aio channels belong to the event loop that
        # uvicorn runs, so it is made here rather than in create_app.
        ticket_service.open()
        try:
            yield
        finally:
            await ticket_service.close()

    async def healthz(_request: Request) -> Response:
        # Liveness only: restarting the gateway would not bring a dependency back.
        return JSONResponse({"status": "ok"})

    async def readyz(_request: Request) -> Response:
        problem = await ticket_service.problem()
        if problem is not None:
            reason = f"ticket service: {problem}"
            return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
        ],
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )


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
