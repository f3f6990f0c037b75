"""The gateway in front of the real ticket service (both database backends)."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from common.config import TenantsConfig
from tests.chatwoot_samples import sample
from tests.conftest import ACME
from tests.gateway.support import (
    RunningGateway,
    run_gateway,
    spool_drained,
    wait_until,
)
from tests.processes.support import free_port
from ticket_service import bootstrap
from ticketing.ticket.v1 import ticket_service_pb2 as api
from ticketing.ticket.v1 import ticket_service_pb2_grpc


def skip_until_implemented(gateway_answer: dict[str, object]) -> None:
    if "UNIMPLEMENTED" in str(gateway_answer):
        pytest.xfail("the ticket service does not implement ApplyChatwootDelivery yet")


async def last_error(gateway: RunningGateway) -> str:
    entries = await gateway.spool.entries()
    return entries[0].last_error if entries else ""


async def test_a_conversation_becomes_a_ticket(
    ticket_app: bootstrap.TicketApp, tenants: TenantsConfig, tmp_path: Path
) -> None:
    async with run_gateway(
        tenants, target=f"127.0.0.1:{ticket_app.port}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        created = await gateway.post(sample("conversation_created"), delivery_id="d-1")
        skip_until_implemented({"spooled": await last_error(gateway)})
        again = await gateway.post(sample("conversation_created"), delivery_id="d-1")
        resent = await gateway.post(sample("conversation_created"), delivery_id="d-2")
        message = await gateway.post(sample("message_created"), delivery_id="d-3")

    assert created.status_code == 200
    assert created.json()["outcome"] == "applied"
    ticket = created.json()["ticket"]
    assert ticket.startswith("tickets/")
    # The same delivery, and the same content under a new delivery id, change nothing.
    assert again.json()["outcome"] == "duplicate"
    assert resent.json()["outcome"] == "duplicate"
    assert message.status_code == 200
    assert message.json()["ticket"] == ticket


async def test_deliveries_spooled_while_the_service_was_down_reach_it(
    engine: AsyncEngine, tenants: TenantsConfig, tmp_path: Path
) -> None:
    port = free_port()
    async with run_gateway(
        tenants, target=f"127.0.0.1:{port}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        for name in ("conversation_created", "message_created", "message_created_outgoing"):
            response = await gateway.post(sample(name), delivery_id=name)
            assert response.status_code == 202

        app = await bootstrap.start(
            engine=engine,
            tenants=tenants,
            listen=f"127.0.0.1:{port}",
            clock=ManualClock(gateway.clock.now()),
        )
        try:
            await wait_until(
                lambda: _drained_or_unimplemented(gateway), "the spool is drained", within=15
            )
            skip_until_implemented({"spooled": await last_error(gateway)})
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                tickets = await ticket_service_pb2_grpc.TicketServiceStub(channel).ListTickets(
                    api.ListTicketsRequest(), metadata=ACME
                )
        finally:
            await app.stop(grace=1)

    [ticket] = tickets.tickets
    assert ticket.conversation.conversation_id == 1042


async def _drained_or_unimplemented(gateway: RunningGateway) -> bool:
    return await spool_drained(gateway) or "UNIMPLEMENTED" in await last_error(gateway)


async def test_the_gateway_calls_as_the_tenants_chatwoot_credential(
    ticket_app: bootstrap.TicketApp, tenants: TenantsConfig, tmp_path: Path
) -> None:
    async with run_gateway(
        tenants, target=f"127.0.0.1:{ticket_app.port}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        response = await gateway.post(sample("contact_created"), delivery_id="d-1")
        skip_until_implemented({"spooled": await last_error(gateway)})

    # Neither UNAUTHENTICATED nor PERMISSION_DENIED (which would have been spooled).
    assert response.status_code == 200
