"""The escalation event log through the real services: every change writes exactly one
event in its own transaction, cursors are 1..N per tenant in commit order with no gaps
(also with two replicas writing and several readers reading at once), and tenants never
see each other's events."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from escalation_service.adapters.event_log import CHANNEL
from escalation_service.domain.events import EventType, PendingEvent
from escalation_service.domain.policy import Priority
from escalation_service.domain.tickets import TicketView
from escalation_service.service.unit_of_work import UnitOfWork
from tests.conftest import ACME, GLOBEX, START
from tests.escalation.conftest import Desk
from tests.escalation.test_sla_clocks import FIRST, HOUR, MINUTE, SlaDesk, has, when
from tests.support import eventually
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_event_pb2,
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.escalation.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

Req = escalation_service_pb2
T = escalation_event_pb2.EscalationEventType
Event = escalation_event_pb2.EscalationEvent


def kind(name: str) -> int:
    return T.Value(f"ESCALATION_EVENT_TYPE_{name}")


class Log:
    """Reads the log from where the test last looked."""

    def __init__(self, stub: Any, metadata: Any = ACME) -> None:
        self._stub = stub
        self._metadata = metadata
        self.cursor = 0

    async def read(self, after: int = 0, ticket: str = "") -> list[Event]:
        answer = await self._stub.ListEscalationEvents(
            Req.ListEscalationEventsRequest(after_cursor=after, page_size=1000, ticket=ticket),
            metadata=self._metadata,
        )
        return list(answer.events)

    async def new(self, *expected: str) -> list[Event]:
        """The events written since the last call: exactly `expected`, by type, waiting a
        while for those the background workers write."""

        async def read() -> list[Event] | None:
            events = await self.read(self.cursor)
            return events if len(events) >= len(expected) else None

        events = await eventually(read)
        assert [T.Name(e.type).removeprefix("ESCALATION_EVENT_TYPE_") for e in events] == list(
            expected
        )
        assert [e.cursor for e in events] == list(
            range(self.cursor + 1, self.cursor + 1 + len(events))
        )
        if events:
            self.cursor = events[-1].cursor
        return events

    async def nothing_more(self) -> None:
        await asyncio.sleep(0.3)  # the consumer and the workers had time to write
        assert await self.read(self.cursor) == []


async def test_an_escalations_life_writes_one_event_per_change(desk: Desk) -> None:
    log = Log(desk.escalations)
    await desk.agent("7", "Grace Hopper")
    await desk.agent("9", "Barbara Liskov", skills=("supervisor",))
    (grace, _) = await log.new("AGENT_AVAILABILITY_CHANGED", "AGENT_AVAILABILITY_CHANGED")
    assert grace.agent == "agents/7"
    assert dict(grace.payload) == {"availability": "online", "previous_availability": None}
    ticket = await desk.open_ticket(801)

    first = await desk.escalations.EscalateTicket(
        Req.EscalateTicketRequest(ticket=ticket, comment="VIP"), metadata=ACME
    )
    created, assigned = await log.new("ESCALATION_CREATED", "ESCALATION_ASSIGNED")
    assert created.name == f"escalationEvents/{created.cursor}"
    assert (created.ticket, created.escalation) == (ticket, first.name)
    assert created.chatwoot_conversation_id == 801
    assert created.create_time.seconds > 0
    assert created.payload["state"] == "queued"
    assert created.payload["level"] == 1
    assert created.payload["trigger"] == "manual"
    assert created.payload["rule"] == "manual"
    assert created.payload["priority_after"] == "medium"
    assert (assigned.escalation, assigned.payload["assignee_id"]) == (first.name, "7")

    await desk.escalations.AcknowledgeEscalation(
        Req.AcknowledgeEscalationRequest(name=first.name), metadata=ACME
    )
    (acknowledged,) = await log.new("ESCALATION_ACKNOWLEDGED")
    assert acknowledged.payload["state"] == "acknowledged"
    # A repeat changes nothing, and writes nothing.
    await desk.escalations.AcknowledgeEscalation(
        Req.AcknowledgeEscalationRequest(name=first.name), metadata=ACME
    )

    second = await desk.escalations.EscalateTicket(
        Req.EscalateTicketRequest(ticket=ticket, reason=escalation_pb2.ESCALATION_REASON_SAFETY),
        metadata=ACME,
    )
    superseded, created, assigned = await log.new(
        "ESCALATION_SUPERSEDED", "ESCALATION_CREATED", "ESCALATION_ASSIGNED"
    )
    assert superseded.escalation == first.name
    assert created.escalation == second.name
    assert created.payload["level"] == 2
    assert created.payload["previous_escalation"] == first.name
    assert assigned.payload["assignee_id"] == "9"

    await desk.escalations.ResolveEscalation(
        Req.ResolveEscalationRequest(name=second.name), metadata=ACME
    )
    await log.new("ESCALATION_RESOLVED")
    await log.nothing_more()
    # The ticket filter, and the tenant's other events left out of it.
    assert [e.cursor for e in await log.read(ticket=ticket)] == list(range(3, log.cursor + 1))


async def test_suggestions_write_created_rejected_and_accepted(desk: Desk) -> None:
    log = Log(desk.escalations)
    await desk.agent("7", "Grace Hopper")
    await log.new("AGENT_AVAILABILITY_CHANGED")
    ticket = await desk.open_ticket(802)

    async def suggest() -> escalation_pb2.Suggestion:
        return await desk.escalations.SuggestEscalation(
            Req.SuggestEscalationRequest(ticket=ticket, confidence=0.1), metadata=ACME
        )

    rejected = await suggest()
    (made,) = await log.new("SUGGESTION_CREATED")
    assert (made.suggestion, made.ticket, made.chatwoot_conversation_id) == (
        rejected.name,
        ticket,
        802,
    )
    assert made.payload["state"] == "pending"
    await desk.escalations.RejectSuggestion(
        Req.RejectSuggestionRequest(name=rejected.name, comment="fine"), metadata=ACME
    )
    (answer,) = await log.new("SUGGESTION_REJECTED")
    assert answer.payload["decided_by"] == "tester"
    assert answer.payload["comment"] == "fine"

    accepted = await suggest()
    await log.new("SUGGESTION_CREATED")
    done = await desk.escalations.AcceptSuggestion(
        Req.AcceptSuggestionRequest(name=accepted.name), metadata=ACME
    )
    created, _, answer = await log.new(
        "ESCALATION_CREATED", "ESCALATION_ASSIGNED", "SUGGESTION_ACCEPTED"
    )
    assert created.suggestion == accepted.name
    assert answer.escalation == created.escalation == done.escalation
    await log.nothing_more()


async def test_queued_assigned_and_ended_with_the_ticket(desk: Desk) -> None:
    log = Log(desk.escalations)
    await desk.agent("7", "Grace Hopper", online=False)
    await log.new("AGENT_AVAILABILITY_CHANGED")
    resolved = await desk.open_ticket(803)
    deleted = await desk.open_ticket(804)

    for ticket in (resolved, deleted):
        await desk.escalations.EscalateTicket(
            Req.EscalateTicketRequest(ticket=ticket), metadata=ACME
        )
    await log.new("ESCALATION_CREATED", "ESCALATION_CREATED")

    # The agent comes online: the availability, then the queue's assignment.
    await desk.escalations.SetAgentAvailability(
        Req.SetAgentAvailabilityRequest(
            name="agents/7", availability=agent_pb2.AGENT_AVAILABILITY_ONLINE
        ),
        metadata=ACME,
    )
    online, first, second = await log.new(
        "AGENT_AVAILABILITY_CHANGED", "ESCALATION_ASSIGNED", "ESCALATION_ASSIGNED"
    )
    assert online.payload["previous_availability"] == "offline"
    assert {first.ticket, second.ticket} == {resolved, deleted}

    # The ticket service's changes end the escalations, through the consumer.
    await desk.tickets.ChangeTicketStatus(
        ticket_service_pb2.ChangeTicketStatusRequest(
            name=resolved, status=enums_pb2.TICKET_STATUS_RESOLVED
        ),
        metadata=ACME,
    )
    (ended,) = await log.new("ESCALATION_RESOLVED")
    assert ended.ticket == resolved
    await desk.tickets.DeleteTicket(
        ticket_service_pb2.DeleteTicketRequest(name=deleted), metadata=ACME
    )
    (cancelled,) = await log.new("ESCALATION_CANCELLED")
    assert (cancelled.ticket, cancelled.payload["state"]) == (deleted, "cancelled")
    await log.nothing_more()


async def test_effects_the_ticket_service_refuses_cancel_the_escalation(
    desk: Desk, engine: AsyncEngine
) -> None:
    """A ticket this service knows but the ticket service does not: AssignTicket is
    NOT_FOUND, for good, and the escalation ends CANCELLED with the error."""
    log = Log(desk.escalations)
    await desk.agent("7", "Grace Hopper")
    await log.new("AGENT_AVAILABILITY_CHANGED")
    async with UnitOfWork(engine, "acme") as uow:
        await uow.tickets.add(TicketView("tkt-2026-99999", "open", Priority.MEDIUM, "", (), START))
        await uow.commit()

    await desk.escalations.EscalateTicket(
        Req.EscalateTicketRequest(ticket="tickets/tkt-2026-99999"), metadata=ACME
    )
    created, _, cancelled = await log.new(
        "ESCALATION_CREATED", "ESCALATION_ASSIGNED", "ESCALATION_CANCELLED"
    )
    assert cancelled.escalation == created.escalation
    assert cancelled.chatwoot_conversation_id == 0  # a ticket without a conversation
    assert "AssignTicket" in str(cancelled.payload["effects_error"])
    await log.nothing_more()


async def test_sla_warning_and_breach_are_logged_with_the_escalation_they_start(
    desk: Desk, sla: SlaServiceAsyncStub, clock: ManualClock
) -> None:
    sla_desk = SlaDesk(desk, sla, clock)
    log = Log(desk.escalations)
    await desk.agent("7", "Priya")
    await log.new("AGENT_AVAILABILITY_CHANGED")
    await sla_desk.policy("standard", first=HOUR)
    ticket = await desk.open_ticket(9201)
    first = (await sla_desk.clocks_when(ticket, has(FIRST)))[FIRST]

    clock.set(when(first.warn_time) + MINUTE)
    (warning,) = await log.new("SLA_WARNING")
    assert (warning.ticket, warning.escalation, warning.chatwoot_conversation_id) == (
        ticket,
        "",
        9201,
    )
    assert warning.payload["metric"] == "first_response"

    clock.set(when(first.due_time) + MINUTE)
    created, _, breach = await log.new("ESCALATION_CREATED", "ESCALATION_ASSIGNED", "SLA_BREACH")
    assert created.payload["trigger"] == "sla_breach"
    assert breach.escalation == created.escalation
    assert breach.payload["level"] == 1


async def test_tenants_have_their_own_logs(desk: Desk) -> None:
    acme, globex = Log(desk.escalations), Log(desk.escalations, GLOBEX)
    await desk.agent("7", "Grace Hopper")
    await desk.agent("8", "Alan Turing", metadata=GLOBEX)
    await desk.agent("9", "Ada Lovelace", metadata=GLOBEX)

    assert [e.agent for e in await acme.new("AGENT_AVAILABILITY_CHANGED")] == ["agents/7"]
    [*theirs] = await globex.new("AGENT_AVAILABILITY_CHANGED", "AGENT_AVAILABILITY_CHANGED")
    assert [(e.cursor, e.agent) for e in theirs] == [(1, "agents/8"), (2, "agents/9")]
    head = await desk.escalations.ListEscalationEvents(
        Req.ListEscalationEventsRequest(), metadata=GLOBEX
    )
    assert head.head_cursor == 2


WRITERS = 12
CHANGES = 8  # per writer


async def test_concurrent_writers_on_two_replicas_get_cursors_in_commit_order(
    desk: Desk, second_replica: escalation_service_pb2_grpc.EscalationServiceStub
) -> None:
    """Writers on both replicas flip agents' availability at once while readers follow
    the log: every reader must see 1, 2, 3, ... in order, never a cursor before an earlier
    one has committed (a reader that did would skip that one for good)."""
    for n in range(WRITERS):
        await desk.agent(f"{100 + n}", f"Agent {n}", online=False)
    total = WRITERS + WRITERS * CHANGES
    replicas: Sequence[Any] = (desk.escalations, second_replica)

    async def writer(n: int) -> None:
        for change in range(CHANGES):
            availability = (
                agent_pb2.AGENT_AVAILABILITY_BUSY
                if change % 2 == 0
                else agent_pb2.AGENT_AVAILABILITY_OFFLINE
            )
            await replicas[(n + change) % 2].SetAgentAvailability(
                Req.SetAgentAvailabilityRequest(
                    name=f"agents/{100 + n}", availability=availability
                ),
                metadata=ACME,
            )

    async def reader(n: int) -> list[int]:
        log, seen = Log(replicas[n % 2]), list[int]()
        while len(seen) < total:
            for event in await log.read(seen[-1] if seen else 0):
                assert event.cursor == len(seen) + 1, f"reader {n} after {len(seen)}"
                seen.append(event.cursor)
            await asyncio.sleep(0.005)
        return seen

    async def with_deadline() -> list[list[int]]:
        readers = [asyncio.create_task(reader(n)) for n in range(3)]
        await asyncio.gather(*(writer(n) for n in range(WRITERS)))
        return await asyncio.gather(*readers)

    for seen in await asyncio.wait_for(with_deadline(), 30):
        assert seen == list(range(1, total + 1))
    events = await Log(desk.escalations).read()
    assert len(events) == total
    counted: dict[str, int] = {}
    for event in events:
        counted[event.agent] = counted.get(event.agent, 0) + 1
    assert set(counted.values()) == {CHANGES + 1}


async def test_postgresql_notifies_on_commit_and_a_rollback_leaves_no_gap(
    database_url: str, engine: AsyncEngine
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("NOTIFY is PostgreSQL's")
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(False)
    event = PendingEvent(EventType.AGENT_AVAILABILITY_CHANGED, START, agent_id="7")
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as listener:
        await listener.execute(f"LISTEN {CHANNEL}")
        notifies = listener.notifies(timeout=0.5)
        async with UnitOfWork(engine, "globex") as uow:
            uow.record(event)
            await uow.events.append([event])  # as commit would, but it rolls back
        async with UnitOfWork(engine, "acme") as uow:
            uow.record(event)
            await uow.commit()
        received = [(n.channel, n.payload) async for n in notifies]
        assert received == [(CHANNEL, "acme")]
    async with UnitOfWork(engine, "globex") as uow:
        uow.record(event)
        await uow.commit()
    async with UnitOfWork(engine, "globex") as uow:
        assert [e.cursor for e in await uow.events.read(after_cursor=0, limit=10)] == [1]
