"""Two escalation replicas choosing agents at once never push anyone past capacity, and the
workload they count matches the ticket service's own assignments."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.conftest import ACME
from tests.escalation.conftest import Desk
from tests.support import eventually
from ticketing.escalation.v1 import (
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2

TICKETS = 100
AGENTS = {"11": 10, "12": 10, "13": 10}


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
