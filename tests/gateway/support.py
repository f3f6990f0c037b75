"""Run the gateway app in-process and talk to it as Chatwoot does.

The app runs with its real lifespan (gRPC channel, SQLite spool, forwarder) and is driven
through httpx's ASGI transport. `ScriptedTicketService` is a real gRPC server standing in
for the ticket service where a test needs to choose the service's answers (refusals,
slowness, order of arrival); tests against the real ticket service use `ticket_app`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import httpx
from starlette.applications import Starlette

from common.clock import Clock, SystemClock
from common.config import TenantsConfig, parse_tenants
from common.grpc.server import start_server
from gateway.app import create_app
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.verification import sign
from tests.conftest import (
    ACME_GATEWAY_TOKEN,
    ACME_INTEGRATION,
    ACME_WEBHOOK_SECRET,
    tenants_document,
)
from ticketing.ticket.v1 import ticket_service_pb2 as api

SERVICE = "ticketing.ticket.v1.TicketService"
ACCOUNT_ID = 3
INTEGRATION = ACME_INTEGRATION
WEBHOOK_SECRET = ACME_WEBHOOK_SECRET
# Chatwoot < 4.12: no signatures, a token in the URL instead.
LEGACY_INTEGRATION = "acme-legacy"
URL_TOKEN = "acme-url-token-0123456789"
# Signed, and also takes unsigned automation-rule and macro webhooks.
AUTOMATION_INTEGRATION = "acme-automation"
AUTOMATION_SECRET = "acme-automation-secret-0123456789"
SECRETS = (WEBHOOK_SECRET, URL_TOKEN, AUTOMATION_SECRET, ACME_GATEWAY_TOKEN)


def _integration(name: str, **verification: Any) -> dict[str, Any]:
    return {
        "name": name,
        "base_url": "http://127.0.0.1:9",
        "account_id": ACCOUNT_ID,
        "api_access_token": "acme-chatwoot-access-token",
        **verification,
    }


def gateway_tenants() -> TenantsConfig:
    """tests.conftest's tenants, with two more Chatwoot integrations of acme (account 3)."""
    document = tenants_document()
    document["tenants"][0]["chatwoot"] += [
        _integration(LEGACY_INTEGRATION, verification="url_token", url_token=URL_TOKEN),
        _integration(
            AUTOMATION_INTEGRATION,
            webhook_secret=AUTOMATION_SECRET,
            accept_unsigned_automation=True,
        ),
    ]
    return parse_tenants(document)


def encode(body: bytes | dict[str, Any] | list[Any]) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@dataclass
class RunningGateway:
    app: Starlette
    client: httpx.AsyncClient
    spool: Spool
    clock: Clock
    secrets: dict[str, str] = field(
        default_factory=lambda: {
            INTEGRATION: WEBHOOK_SECRET,
            AUTOMATION_INTEGRATION: AUTOMATION_SECRET,
        }
    )

    def signed_headers(
        self, integration: str, raw: bytes, *, timestamp: int | None = None
    ) -> dict[str, str]:
        stamp = str(int(self.clock.now().timestamp()) if timestamp is None else timestamp)
        return {
            "content-type": "application/json",
            "x-chatwoot-timestamp": stamp,
            "x-chatwoot-signature": sign(self.secrets.get(integration, WEBHOOK_SECRET), stamp, raw),
        }

    async def post(
        self,
        body: bytes | dict[str, Any] | list[Any],
        *,
        integration: str = INTEGRATION,
        delivery_id: str | None = None,
        signed: bool = True,
        headers: Mapping[str, str | bytes] | None = None,
        params: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST a webhook as Chatwoot would: signed (unless told not to), with a delivery
        id when one is given; `headers` override the computed ones."""
        raw = encode(body)
        sent: dict[str, str | bytes] = {}
        if signed:
            sent.update(self.signed_headers(integration, raw))
        sent.setdefault("content-type", "application/json")
        if delivery_id is not None:
            sent["x-chatwoot-delivery"] = delivery_id
        sent.update(headers or {})
        # As bytes: a test may send header values that are not ASCII.
        wire = [(k.encode(), v if isinstance(v, bytes) else v.encode()) for k, v in sent.items()]
        return await self.client.post(
            f"/webhooks/chatwoot/{integration}", content=raw, headers=wire, params=params
        )


FAST_RETRIES = Settings(retry_initial_seconds=0.02, retry_max_seconds=0.2)


@asynccontextmanager
async def run_gateway(
    tenants: TenantsConfig,
    *,
    target: str,
    spool_path: Path,
    clock: Clock | None = None,
    settings: Settings = FAST_RETRIES,
) -> AsyncIterator[RunningGateway]:
    """The gateway app with its lifespan running, forwarding to `target`."""
    clock = clock or SystemClock()
    settings = replace(settings, ticket_service_target=target, spool_path=spool_path)
    app = create_app(settings, tenants, clock=clock)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://gateway"
        ) as client,
    ):
        yield RunningGateway(app, client, app.state.spool, clock)


@dataclass
class Call:
    request: api.ApplyChatwootDeliveryRequest
    authorization: str


class ScriptedTicketService:
    """ApplyChatwootDelivery that records each call and answers as the test says: OK by
    default, or the status code `answers` gives for a delivery id. The other methods of
    the service are UNIMPLEMENTED."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: dict[str, grpc.StatusCode] = {}
        self.delay_seconds = 0.0
        self.port = 0

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def delivery_ids(self) -> list[str]:
        return [call.request.delivery.delivery_id for call in self.calls]

    async def ApplyChatwootDelivery(
        self,
        request: api.ApplyChatwootDeliveryRequest,
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> api.ApplyChatwootDeliveryResponse:
        metadata = dict(context.invocation_metadata() or ())
        self.calls.append(Call(request, str(metadata.get("authorization", ""))))
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        code = self.answers.get(request.delivery.delivery_id)
        if code is not None:
            await context.abort(code, f"scripted {code.name}")
        return api.ApplyChatwootDeliveryResponse(
            outcome=api.DELIVERY_OUTCOME_APPLIED,
            ticket="tickets/tkt-2026-00001",
            effects=["ticket TKT-2026-00001 opened for the conversation"],
        )


@asynccontextmanager
async def scripted_service(port: int = 0) -> AsyncIterator[ScriptedTicketService]:
    """A real gRPC server on `port` (0: any free one) serving a ScriptedTicketService."""
    service = ScriptedTicketService()

    def register(server: grpc.aio.Server) -> list[str]:
        handler = grpc.unary_unary_rpc_method_handler(
            service.ApplyChatwootDelivery,
            request_deserializer=api.ApplyChatwootDeliveryRequest.FromString,
            response_serializer=api.ApplyChatwootDeliveryResponse.SerializeToString,
        )
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler(SERVICE, {"ApplyChatwootDelivery": handler})]
        )
        return [SERVICE]

    running = await start_server(listen=f"127.0.0.1:{port}", register=register)
    service.port = running.port
    try:
        yield service
    finally:
        await running.stop(0)


async def wait_until(
    condition: Callable[[], Awaitable[bool]], what: str, within: float = 10.0
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.02)


async def spool_drained(gateway: RunningGateway) -> bool:
    return not await gateway.spool.entries()
