"""The ticket service's metrics move with real calls through its gRPC server, and its
/metrics endpoint serves them in Prometheus's text format."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from common.config import TenantsConfig
from tests.conftest import ACME
from tests.e2e.test_chatwoot_intake import GATEWAY, K, delivery, state
from tests.metrics.support import rpc, sample, scrape, value
from ticket_service import bootstrap
from ticket_service.adapters.tables import chatwoot_outbox
from ticketing.ticket.v1 import (
    customer_pb2,
    enums_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

SERVICE = "ticketing.ticket.v1.TicketService"


@pytest.fixture
async def ticket_app(
    engine: AsyncEngine, tenants: TenantsConfig, clock: ManualClock
) -> AsyncIterator[bootstrap.TicketApp]:
    app = await bootstrap.start(
        engine=engine,
        tenants=tenants,
        listen="127.0.0.1:0",
        clock=clock,
        metrics_listen="127.0.0.1:0",
    )
    yield app
    await app.stop(grace=1)


async def test_each_call_counts_with_the_code_the_client_saw(
    ticket_app: bootstrap.TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    registry = ticket_app.metrics.registry
    await stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject="Printer on fire"),
            customer=customer_pb2.Customer(email="ada@example.com"),
        ),
        metadata=ACME,
    )
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await stub.GetTicket(
            ticket_service_pb2.GetTicketRequest(name="tickets/tkt-2026-99999"), metadata=ACME
        )
    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await stub.GetTicket(ticket_service_pb2.GetTicketRequest(name="tickets/tkt-2026-00001"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    handled = "grpc_server_handled_total"
    assert sample(registry, handled, **rpc(SERVICE, "CreateTicket", "OK")) == 1
    assert sample(registry, handled, **rpc(SERVICE, "GetTicket", "NOT_FOUND")) == 1
    assert sample(registry, handled, **rpc(SERVICE, "GetTicket", "UNAUTHENTICATED")) == 1
    assert sample(registry, handled, **rpc(SERVICE, "GetTicket", "OK")) == 0
    assert sample(registry, "grpc_server_started_total", **rpc(SERVICE, "GetTicket")) == 2
    assert sample(registry, "grpc_server_handling_seconds_count", **rpc(SERVICE, "GetTicket")) == 2
    assert sample(registry, "grpc_server_msg_sent_total", **rpc(SERVICE, "CreateTicket")) == 1


async def test_the_endpoint_serves_the_text_format_with_the_outbox_backlog(
    ticket_app: bootstrap.TicketApp,
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub,
    engine: AsyncEngine,
    clock: ManualClock,
) -> None:
    assert ticket_app.metrics_server is not None
    port = ticket_app.metrics_server.port
    # No dispatcher in this app: the change for Chatwoot waits in the outbox.
    ticket = await stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(
                subject="Linked",
                conversation=ticket_pb2.ChatwootConversation(
                    account_id=3, conversation_id=77, inbox_id=1
                ),
            ),
            customer=customer_pb2.Customer(email="ada@example.com"),
        ),
        metadata=ACME,
    )
    await stub.ResolveTicket(
        ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )
    await stub.SetTicketPriority(
        ticket_service_pb2.SetTicketPriorityRequest(
            name=ticket.name, priority=enums_pb2.TICKET_PRIORITY_HIGH
        ),
        metadata=ACME,
    )
    async with engine.begin() as conn:  # as the dispatcher leaves a task Chatwoot refused
        await conn.execute(
            update(chatwoot_outbox).where(chatwoot_outbox.c.kind == "priority").values(state="dead")
        )
    clock.advance(timedelta(seconds=90))

    samples = await scrape(port)

    integration = {"integration": "acme-chatwoot"}
    assert value(samples, "chatwoot_outbox_pending", **integration) == 1
    assert value(samples, "chatwoot_outbox_dead_letters", **integration) == 1
    age = value(samples, "chatwoot_outbox_oldest_pending_age_seconds", **integration)
    assert age is not None
    assert 90 <= age < 91
    handled = value(samples, "grpc_server_handled_total", **rpc(SERVICE, "ResolveTicket", "OK"))
    assert handled == 1

    async with httpx.AsyncClient() as http:
        elsewhere = await http.get(f"http://127.0.0.1:{port}/")
        posted = await http.post(f"http://127.0.0.1:{port}/metrics")
    assert elsewhere.status_code == 404
    assert posted.status_code == 405


async def test_deliveries_count_by_event_and_outcome(
    ticket_app: bootstrap.TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    created = delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, conversation=state())
    # The same state once more, under a new delivery: nothing left to change.
    again = delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED, conversation=state())
    for request in (created, created, again):
        await stub.ApplyChatwootDelivery(request, metadata=GATEWAY)

    registry = ticket_app.metrics.registry
    counted = "chatwoot_deliveries_applied_total"
    labels = {"integration": "acme-chatwoot", "event": "conversation_created"}
    assert sample(registry, counted, outcome="applied", **labels) == 1
    assert sample(registry, counted, outcome="duplicate", **labels) == 1
    updated = {**labels, "event": "conversation_updated"}
    assert sample(registry, counted, outcome="ignored", **updated) == 1
