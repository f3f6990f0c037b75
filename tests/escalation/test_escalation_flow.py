"""Escalation end to end between the two real services: decisions from customer messages
read off the ticket event log, manual escalation, levels, agent choice and the queue."""

from __future__ import annotations

import grpc

from tests.conftest import ACME, GLOBEX
from tests.e2e.conftest import expect_error
from tests.escalation.conftest import Desk
from tests.support import eventually
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_pb2,
    escalation_service_pb2,
)
from ticketing.ticket.v1 import enums_pb2

E = escalation_pb2
Req = escalation_service_pb2


async def settled(desk: Desk, ticket: str) -> escalation_pb2.Escalation:
    """The ticket's newest escalation once its effects are done."""

    async def read() -> escalation_pb2.Escalation | None:
        found = await desk.escalations_of(ticket)
        if found and found[0].effects_state == E.EFFECTS_STATE_DONE:
            newest: escalation_pb2.Escalation = found[0]
            return newest
        return None

    return await eventually(read)


async def test_an_angry_english_message_escalates_to_an_online_agent(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    await desk.agent("8", "Alan Turing", online=False)
    ticket = await desk.customer_writes(
        501, "This is ridiculous and unacceptable, I am furious with your terrible service!"
    )

    escalation = await settled(desk, ticket)

    assert escalation.trigger == E.ESCALATION_TRIGGER_CUSTOMER_MESSAGE
    assert escalation.reason == E.ESCALATION_REASON_NEGATIVE_SENTIMENT
    assert escalation.assignee_id == "7"
    assert escalation.explanation.rule == "sentiment_below_threshold"
    assert escalation.explanation.language == "en"
    assert escalation.explanation.policy_version == 1
    sentiment = next(s for s in escalation.explanation.signals if s.kind == E.SIGNAL_KIND_SENTIMENT)
    assert sentiment.fired
    assert sentiment.value <= -0.5
    assert sentiment.threshold == -0.5
    stored = await desk.ticket(ticket)
    assert stored.assignee_id == "7"
    assert stored.priority == enums_pb2.TICKET_PRIORITY_HIGH
    [note] = await desk.notes_of(ticket)
    assert "[@Grace Hopper](mention://user/7/Grace%20Hopper)" in note
    assert escalation.name in note


async def test_a_portuguese_legal_threat_is_urgent(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    ticket = await desk.customer_writes(502, "Vou processar vocês, já falei com meu advogado.")

    escalation = await settled(desk, ticket)

    assert escalation.reason == E.ESCALATION_REASON_LEGAL_THREAT
    assert escalation.explanation.rule == "critical_reason"
    assert escalation.explanation.language == "pt"
    assert (await desk.ticket(ticket)).priority == enums_pb2.TICKET_PRIORITY_URGENT


async def test_a_hungarian_refund_demand_is_urgent(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    ticket = await desk.customer_writes(503, "Azonnal kérem a pénzemet vissza, ez csalás!")

    escalation = await settled(desk, ticket)

    assert escalation.reason == E.ESCALATION_REASON_REFUND_DEMAND
    assert escalation.explanation.language == "hu"
    assert (await desk.ticket(ticket)).priority == enums_pb2.TICKET_PRIORITY_URGENT


async def test_a_calm_message_escalates_nothing(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    calm = await desk.customer_writes(504, "Hello, could you tell me when my order ships?")
    angry = await desk.customer_writes(505, "I want to speak to a manager right now!")

    await settled(desk, angry)  # the log was read past the calm message

    assert await desk.escalations_of(calm) == []


async def test_nobody_online_queues_until_an_agent_comes_online(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper", online=False)
    ticket = await desk.customer_writes(506, "I want to talk to a human, now.")

    async def queued() -> escalation_pb2.Escalation | None:
        found = await desk.escalations_of(ticket)
        return found[0] if found and found[0].state == E.ESCALATION_STATE_QUEUED else None

    waiting = await eventually(queued)
    assert waiting.assignee_id == ""
    # A queued escalation already raises the priority; the assignment waits.

    async def urgent() -> bool | None:
        ticket_now = await desk.ticket(ticket)
        return True if ticket_now.priority == enums_pb2.TICKET_PRIORITY_URGENT else None

    await eventually(urgent)
    assert (await desk.ticket(ticket)).assignee_id == ""

    await desk.escalations.SetAgentAvailability(
        Req.SetAgentAvailabilityRequest(
            name="agents/7", availability=agent_pb2.AGENT_AVAILABILITY_ONLINE
        ),
        metadata=ACME,
    )

    escalation = await settled(desk, ticket)
    assert escalation.state == E.ESCALATION_STATE_ASSIGNED
    assert escalation.assignee_id == "7"
    assert (await desk.ticket(ticket)).assignee_id == "7"


async def test_manual_escalation_goes_up_one_level_and_no_further(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    await desk.agent("9", "Barbara Liskov", skills=("supervisor",))
    ticket = await desk.open_ticket(507)

    first = await desk.escalations.EscalateTicket(
        Req.EscalateTicketRequest(ticket=ticket, comment="VIP customer"), metadata=ACME
    )
    assert first.level == 1
    assert first.reason == E.ESCALATION_REASON_MANUAL
    assert first.explanation.rule == "manual"
    # Level 1 has no skill of its own: both are equally free, and the lower id goes first.
    assert first.assignee_id == "7"

    second = await desk.escalations.EscalateTicket(
        Req.EscalateTicketRequest(ticket=ticket, reason=E.ESCALATION_REASON_SAFETY), metadata=ACME
    )
    assert second.level == 2
    assert second.assignee_id == "9"
    assert second.previous_escalation == first.name
    replaced = await desk.escalations.GetEscalation(
        Req.GetEscalationRequest(name=first.name), metadata=ACME
    )
    assert replaced.state == E.ESCALATION_STATE_SUPERSEDED

    error = await expect_error(
        desk.escalations.EscalateTicket(Req.EscalateTicketRequest(ticket=ticket), metadata=ACME),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error.info.reason == "TOP_LEVEL_REACHED"
    done = await settled(desk, ticket)
    assert done.name == second.name
    assert (await desk.ticket(ticket)).assignee_id == "9"


async def test_bad_input_gets_clear_codes(desk: Desk) -> None:
    ticket = await desk.open_ticket(508)

    error = await expect_error(
        desk.escalations.EvaluateEscalation(
            Req.EvaluateEscalationRequest(ticket=ticket, confidence=1.5), metadata=ACME
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "confidence" in error.violations

    unknown = "tickets/tkt-2026-99999"
    await expect_error(
        desk.escalations.EscalateTicket(Req.EscalateTicketRequest(ticket=unknown), metadata=ACME),
        grpc.StatusCode.NOT_FOUND,
    )
    # Another tenant's ticket does not exist for this caller.
    await expect_error(
        desk.escalations.EscalateTicket(Req.EscalateTicketRequest(ticket=ticket), metadata=GLOBEX),
        grpc.StatusCode.NOT_FOUND,
    )
    error = await expect_error(
        desk.escalations.EscalateTicket(Req.EscalateTicketRequest(ticket="nope"), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "ticket" in error.violations
    await expect_error(
        desk.escalations.ListEscalations(Req.ListEscalationsRequest()),
        grpc.StatusCode.UNAUTHENTICATED,
    )
