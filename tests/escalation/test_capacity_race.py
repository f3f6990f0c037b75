"""Two escalation replicas choosing agents at once never push anyone past capacity, and the
workload they count matches the ticket service's own assignments."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest

from common.clock import ManualClock
from common.config import TenantsConfig
from common.db import create_engine
from escalation_service import bootstrap as escalation_bootstrap
from tests.conftest import ACME
from tests.escalation.conftest import FAST, Desk
from tests.support import eventually
from ticket_service import bootstrap
from ticketing.escalation.v1 import (
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2

TICKETS = 100
AGENTS = {"11": 10, "12": 10, "13": 10}


@pytest.fixture
async def second_replica(
    database_url: str, tenants: TenantsConfig, clock: ManualClock, ticket_app: bootstrap.TicketApp
) -> AsyncIterator[escalation_service_pb2_grpc.EscalationServiceStub]:
    app = await escalation_bootstrap.start(
        engine=create_engine(database_url),
        tenants=tenants,
        listen="127.0.0.1:0",
        ticket_service_target=f"127.0.0.1:{ticket_app.port}",
        clock=clock,
        workers=FAST,
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield escalation_service_pb2_grpc.EscalationServiceStub(channel)
    await app.stop(grace=1)


async def test_no_agent_exceeds_capacity_with_two_replicas_racing(
    desk: Desk, second_replica: escalation_service_pb2_grpc.EscalationServiceStub
) -> None:
    for agent_id, capacity in AGENTS.items():
        await desk.agent(agent_id, f"Agent {agent_id}", capacity=capacity)
    tickets = [await desk.open_ticket(3000 + i) for i in range(TICKETS)]
    replicas: list[Any] = [desk.escalations, second_replica]

    escalations = await asyncio.gather(
        *(
            replicas[i % 2].EscalateTicket(
                escalation_service_pb2.EscalateTicketRequest(ticket=ticket), metadata=ACME
            )
            for i, ticket in enumerate(tickets)
        )
    )

    assigned = [e for e in escalations if e.state == escalation_pb2.ESCALATION_STATE_ASSIGNED]
    queued = [e for e in escalations if e.state == escalation_pb2.ESCALATION_STATE_QUEUED]
    assert len(assigned) == sum(AGENTS.values())
    assert len(queued) == TICKETS - sum(AGENTS.values())
    per_agent = dict.fromkeys(AGENTS, 0)
    for escalation in assigned:
        per_agent[escalation.assignee_id] += 1
    assert per_agent == AGENTS

    async def ticket_service_counts() -> dict[str, int] | None:
        counts = {}
        for agent_id in AGENTS:
            listed = await desk.tickets.ListTickets(
                ticket_service_pb2.ListTicketsRequest(
                    assignee_id=agent_id,
                    page_size=500,
                    statuses=[enums_pb2.TICKET_STATUS_OPEN],
                ),
                metadata=ACME,
            )
            counts[agent_id] = len(listed.tickets)
        return counts if counts == AGENTS else None

    await eventually(ticket_service_counts, within=30)
    directory = await desk.escalations.ListAgents(
        escalation_service_pb2.ListAgentsRequest(), metadata=ACME
    )
    assert {a.name.removeprefix("agents/"): a.active_tickets for a in directory.agents} == AGENTS
