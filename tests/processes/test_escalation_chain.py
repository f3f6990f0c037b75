"""Escalation end to end, as it runs in production: the Chatwoot simulator, the gateway, the
ticket service and the escalation service as separate processes on 127.0.0.1, on each backend.

A customer's message goes out of Chatwoot as a signed webhook and comes back as what a
support team sees in Chatwoot: the conversation assigned to the agent who is online, its
priority raised, one private note that @mentions the agent, and so one notification for them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.stack import Stack, local_environment, wait_until_ready
from tests.chatwoot_sim.support import SimulatorControl
from tests.processes.chain import METADATA, WITHIN, Chain, notes
from ticketing.escalation.v1 import (
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2, ticket_service_pb2_grpc

E = escalation_pb2


@pytest.fixture
async def chain(tmp_path: Path, database_url: str, engine: AsyncEngine) -> AsyncIterator[Chain]:
    """The whole stack as devstack runs it, on this backend's database (tables empty)."""
    env = local_environment(tmp_path) | {
        "TICKET_DATABASE_URL": database_url,
        "ESCALATION_DATABASE_URL": database_url,
    }
    # The test session migrated the database already; the demo's test covers the migrations.
    stack = await Stack.start(env, with_simulator=True, logs=tmp_path, migrate_first=False)
    try:
        await wait_until_ready(env, WITHIN)
        assert stack.simulator_url is not None
        sim = SimulatorControl(stack.simulator_url)
        async with (
            grpc.aio.insecure_channel(env["TICKET_GRPC_LISTEN"]) as ticket_channel,
            grpc.aio.insecure_channel(env["ESCALATION_GRPC_LISTEN"]) as escalation_channel,
        ):
            yield Chain(
                sim,
                ticket_service_pb2_grpc.TicketServiceStub(ticket_channel),
                escalation_service_pb2_grpc.EscalationServiceStub(escalation_channel),
            )
        sim.close()
        assert stack.exited() == [], (tmp_path / "escalation_service.log").read_text()
    finally:
        await stack.stop()


async def test_an_angry_customer_is_escalated_through_to_chatwoot(chain: Chain) -> None:
    agents = await chain.staff()
    priya = agents["Priya Raman"]
    [conversation] = chain.sim.seed(
        conversations=[
            {
                "contact": {"name": "Maria Lopez", "email": "maria@example.com"},
                "messages": [{"content": "Hi, I have a question about my order."}],
            }
        ]
    ).conversation_ids
    ticket = await chain.ticket_for(conversation)

    chain.sim.customer_message(conversation, "You charged me twice! I want a refund now.")

    escalation = await chain.settled_escalation(ticket.name)
    assert escalation.trigger == E.ESCALATION_TRIGGER_CUSTOMER_MESSAGE
    assert escalation.reason == E.ESCALATION_REASON_REFUND_DEMAND
    assert escalation.explanation.rule == "critical_reason"
    assert escalation.assignee_id == str(priya)
    assert escalation.priority_after == enums_pb2.TICKET_PRIORITY_URGENT
    shown = await chain.chatwoot_shows(conversation, assignee=priya, priority="urgent")
    [note] = notes(shown)
    assert f"[@Priya Raman](mention://user/{priya}/Priya%20Raman)" in note
    # Chatwoot's MentionService turned the note into exactly one notification, for Priya.
    notified = [(n["user_id"], n["conversation_id"]) for n in chain.sim.state().notifications]
    assert notified == [(priya, conversation)]
    # Chatwoot's webhooks for these changes came back without undoing or repeating them.
    await asyncio.sleep(1.0)
    assert notes(chain.sim.state().conversation(conversation)) == [note]
    current = await chain.tickets.GetTicket(
        ticket_service_pb2.GetTicketRequest(name=ticket.name), metadata=METADATA
    )
    assert current.assignee_id == str(priya)
    assert current.priority == enums_pb2.TICKET_PRIORITY_URGENT


async def test_a_manual_escalation_reaches_chatwoot(chain: Chain) -> None:
    agents = await chain.staff()
    priya = agents["Priya Raman"]
    [conversation] = chain.sim.seed(
        conversations=[{"messages": [{"content": "Where is my parcel?"}]}]
    ).conversation_ids
    ticket = await chain.ticket_for(conversation)
    assert await _escalations_of(chain, ticket.name) == []  # a calm message escalates nothing

    escalated = await chain.escalations.EscalateTicket(
        escalation_service_pb2.EscalateTicketRequest(
            ticket=ticket.name,
            reason=E.ESCALATION_REASON_LEGAL_THREAT,
            comment="Their lawyer called the hotline.",
        ),
        metadata=METADATA,
    )

    assert escalated.trigger == E.ESCALATION_TRIGGER_MANUAL
    assert escalated.actor == "developer"
    settled = await chain.settled_escalation(ticket.name)
    assert settled.name == escalated.name
    assert settled.assignee_id == str(priya)
    shown = await chain.chatwoot_shows(conversation, assignee=priya, priority="urgent")
    [note] = notes(shown)
    assert "Their lawyer called the hotline." in note
    assert f"(mention://user/{priya}/Priya%20Raman)" in note
    assert [n["user_id"] for n in chain.sim.state().notifications] == [priya]


async def _escalations_of(chain: Chain, ticket: str) -> list[E.Escalation]:
    listed = await chain.escalations.ListEscalations(
        escalation_service_pb2.ListEscalationsRequest(ticket=ticket), metadata=METADATA
    )
    return list(listed.escalations)
