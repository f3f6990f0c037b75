"""The gateway's /metrics after real webhooks: deliveries by outcome, rejections by reason,
and its gRPC calls to the ticket service with the code each one got."""

from __future__ import annotations

from pathlib import Path

from common.config import TenantsConfig
from gateway.body import MAX_BODY_BYTES
from tests.chatwoot_samples import sample
from tests.gateway.support import RunningGateway, run_gateway
from tests.metrics.support import Samples, parse, rpc, value
from tests.metrics.support import sample as registry_sample
from tests.processes.support import free_port
from ticket_service import bootstrap

APPLY = rpc("ticketing.ticket.v1.TicketService", "ApplyChatwootDelivery")
ACME = {"integration": "acme-chatwoot"}


async def scraped(gateway: RunningGateway) -> Samples:
    answer = await gateway.client.get("/metrics")
    assert answer.status_code == 200
    return parse(answer.text)


async def test_deliveries_and_rejections_through_the_real_ticket_service(
    ticket_app: bootstrap.TicketApp, tenants: TenantsConfig, tmp_path: Path
) -> None:
    async with run_gateway(
        tenants, target=f"127.0.0.1:{ticket_app.port}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        assert (await gateway.post(sample("conversation_created"), delivery_id="d-1")).is_success
        await gateway.post(sample("conversation_created"), delivery_id="d-1")
        await gateway.post(sample("message_created"), signed=False)
        await gateway.post(b"{not json")
        await gateway.post(b"[]")
        await gateway.post(b"x" * (MAX_BODY_BYTES + 1))
        samples = await scraped(gateway)

    created = {**ACME, "event": "conversation_created"}
    deliveries = "chatwoot_webhook_deliveries_total"
    assert value(samples, deliveries, outcome="applied", **created) == 1
    assert value(samples, deliveries, outcome="duplicate", **created) == 1
    rejections = "chatwoot_webhook_rejections_total"
    unknown = {**ACME, "event": "unknown"}
    assert value(samples, rejections, reason="unauthorized", **unknown) == 1
    assert value(samples, rejections, reason="malformed_body", **unknown) == 1
    assert value(samples, rejections, reason="invalid_payload", **unknown) == 1
    assert value(samples, rejections, reason="body_too_large", **unknown) == 1
    assert value(samples, "grpc_client_handled_total", grpc_code="OK", **APPLY) == 2
    assert value(samples, "grpc_client_handling_seconds_count", **APPLY) == 2
    # The ticket service counted the same two from its side.
    applied = {**created, "outcome": "applied"}
    assert (
        registry_sample(ticket_app.metrics.registry, "chatwoot_deliveries_applied_total", **applied)
        == 1
    )
    ticket_side = registry_sample(
        ticket_app.metrics.registry, "grpc_server_handled_total", grpc_code="OK", **APPLY
    )
    assert ticket_side == 2


async def test_a_delivery_the_service_cannot_take_is_spooled_and_counted(
    tenants: TenantsConfig, tmp_path: Path
) -> None:
    async with run_gateway(
        tenants, target=f"127.0.0.1:{free_port()}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        answer = await gateway.post(sample("conversation_created"), delivery_id="d-1")
        samples = await scraped(gateway)

    assert answer.status_code == 202
    created = {**ACME, "event": "conversation_created"}
    assert value(samples, "chatwoot_webhook_deliveries_total", outcome="spooled", **created) == 1
    unavailable = value(samples, "grpc_client_handled_total", grpc_code="UNAVAILABLE", **APPLY)
    assert unavailable is not None
    assert unavailable >= 1
