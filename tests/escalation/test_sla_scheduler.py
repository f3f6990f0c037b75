"""The SLA scheduler across replicas and restarts: every warning and breach fires once.

Replicas are whole escalation services (gRPC server, event consumer, effects worker and
scheduler) started against one database, as they run in production."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

import grpc
import pytest
from sqlalchemy import select

from common.clock import ManualClock
from common.config import TenantsConfig
from common.db import create_engine
from escalation_service import bootstrap as escalation_bootstrap
from escalation_service.adapters.tables import escalations, sla_events
from escalation_service.domain.policy import Priority
from escalation_service.domain.sla import Metric, SlaPolicy
from escalation_service.domain.sla_clock import SlaClock
from escalation_service.domain.tickets import TicketView
from escalation_service.service.unit_of_work import UnitOfWork
from tests.conftest import ACME, START
from tests.escalation.conftest import FAST, Desk
from tests.escalation.test_sla_clocks import FIRST, HOUR, MINUTE, SlaDesk, has, when
from tests.support import eventually
from ticket_service import bootstrap
from ticketing.escalation.v1 import (
    escalation_service_pb2_grpc,
    sla_pb2,
    sla_service_pb2,
    sla_service_pb2_grpc,
)

TICKETS = 1_000
Replica = Callable[[], Awaitable[escalation_bootstrap.EscalationApp]]


@pytest.fixture
async def start_replica(
    database_url: str,
    tenants: TenantsConfig,
    clock: ManualClock,
    ticket_app: bootstrap.TicketApp,
) -> AsyncIterator[Replica]:
    started: list[escalation_bootstrap.EscalationApp] = []

    async def start() -> escalation_bootstrap.EscalationApp:
        app = await escalation_bootstrap.start(
            engine=create_engine(database_url),
            tenants=tenants,
            listen="127.0.0.1:0",
            ticket_service_target=f"127.0.0.1:{ticket_app.port}",
            clock=clock,
            workers=FAST,
        )
        started.append(app)
        return app

    yield start
    for app in started:
        await app.stop(grace=1)


@asynccontextmanager
async def sla_desk_on(
    app: escalation_bootstrap.EscalationApp, desk_tickets: object, clock: ManualClock
) -> AsyncIterator[SlaDesk]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        desk = Desk(
            desk_tickets,  # type: ignore[arg-type]
            escalation_service_pb2_grpc.EscalationServiceStub(channel),
        )
        yield SlaDesk(desk, sla_service_pb2_grpc.SlaServiceStub(channel), clock)


async def _seed_due_clocks(database_url: str, count: int) -> list[str]:
    """`count` tickets with a resolution clock an hour overdue, written straight into the
    escalation service's tables: this test is about the scheduler, not the event log.
    They are HIGH already, so their escalations change no priority, and nobody is online,
    so they queue: nothing calls the ticket service for tickets it does not have."""
    policy = SlaPolicy("bulk", "Bulk", 0, {Metric.RESOLUTION: HOUR})
    started = START - 2 * HOUR
    engine = create_engine(database_url)
    ids = [f"tkt-2026-{n:05d}" for n in range(1, count + 1)]
    try:
        for chunk in range(0, count, 200):
            async with UnitOfWork(engine, "acme") as uow:
                for ticket_id in ids[chunk : chunk + 200]:
                    view = TicketView(ticket_id, "open", Priority.HIGH, "", (), started)
                    await uow.tickets.add(view)
                    clock = SlaClock.start(ticket_id, Metric.RESOLUTION, policy, None, started)
                    await uow.sla_clocks.save(ticket_id, {}, {Metric.RESOLUTION: clock})
                await uow.commit()
    finally:
        await engine.dispose()
    return ids


@pytest.mark.timeout(180)
async def test_two_replicas_escalate_each_of_a_thousand_breaches_exactly_once(
    database_url: str, start_replica: Replica, clock: ManualClock
) -> None:
    # Both replicas run before anything is due, then all thousand fall due at once.
    clock.set(START - 3 * HOUR)
    first, second = await start_replica(), await start_replica()
    ids = await _seed_due_clocks(database_url, TICKETS)
    clock.set(START)

    async def all_logged() -> int | None:
        async with first.engine.connect() as conn:
            rows = (await conn.execute(select(sla_events.c.ticket_id))).all()
        return len(rows) if len(rows) >= TICKETS else None

    await eventually(all_logged, within=150)
    await asyncio.sleep(0.3)  # a straggling double would show up now

    async with second.engine.connect() as conn:
        logged = (
            await conn.execute(
                select(sla_events.c.ticket_id, sla_events.c.kind, sla_events.c.escalation_id)
            )
        ).all()
        made = (
            await conn.execute(
                select(escalations.c.ticket_id, escalations.c.id, escalations.c.trigger)
            )
        ).all()
    assert Counter(row.kind for row in logged) == {"breach": TICKETS}
    assert sorted(row.ticket_id for row in logged) == ids
    assert sorted(row.ticket_id for row in made) == ids
    assert {row.trigger for row in made} == {"sla_breach"}
    assert {row.escalation_id for row in logged} == {row.id for row in made}


async def test_a_restart_between_warning_and_breach_repeats_nothing_and_loses_nothing(
    start_replica: Replica, clock: ManualClock, stub: object
) -> None:
    before = await start_replica()
    async with sla_desk_on(before, stub, clock) as sla_desk:
        await sla_desk.desk.agent("7", "Priya")
        await sla_desk.policy("standard", first=HOUR)
        ticket = await sla_desk.desk.open_ticket(9301)
        clocks = await sla_desk.clocks_when(ticket, has(FIRST))
        due = when(clocks[FIRST].due_time)
        clock.set(due - 10 * MINUTE)
        (warning,) = await sla_desk.events_when(ticket, 1)
        assert warning.kind == sla_pb2.SLA_EVENT_KIND_WARNING
    await before.stop(grace=1)

    clock.set(due + MINUTE)  # the breach falls due while no replica runs
    after = await start_replica()
    async with sla_desk_on(after, stub, clock) as sla_desk:
        breach = await sla_desk.breach(ticket)
        await asyncio.sleep(0.3)
        events = await sla_desk.events(ticket)
        assert [e.kind for e in events] == [
            sla_pb2.SLA_EVENT_KIND_WARNING,
            sla_pb2.SLA_EVENT_KIND_BREACH,
        ]
        assert events[0].event_id == warning.event_id
        (escalation,) = await sla_desk.escalations_of(ticket)
        assert breach.escalation == escalation.name
        assert escalation.assignee_id == "7"
    # The restarted replica's answer for the ticket's clocks matches what happened.
    async with grpc.aio.insecure_channel(f"127.0.0.1:{after.port}") as channel:
        sla = sla_service_pb2_grpc.SlaServiceStub(channel)
        answer = await sla.GetTicketSla(
            sla_service_pb2.GetTicketSlaRequest(ticket=ticket), metadata=ACME
        )
        assert answer.clocks[0].state == sla_pb2.SLA_CLOCK_STATE_BREACHED
        assert answer.clocks[0].remaining.ToTimedelta() < timedelta(0)


async def test_a_reply_made_while_the_service_was_down_is_no_breach_after_it_returns(
    start_replica: Replica, clock: ManualClock, stub: object
) -> None:
    # The reply came in time, but the clock fell due before the restarted replica read it:
    # the scheduler must wait for the event log before it calls anything a breach.
    before = await start_replica()
    async with sla_desk_on(before, stub, clock) as sla_desk:
        await sla_desk.policy("standard", first=HOUR)
        ticket = await sla_desk.desk.open_ticket(9302)
        await sla_desk.clocks_when(ticket, has(FIRST))
    await before.stop(grace=1)

    clock.advance(30 * MINUTE)
    await sla_desk.reply(9302)
    clock.advance(2 * HOUR)
    after = await start_replica()
    async with sla_desk_on(after, stub, clock) as sla_desk:
        clocks = await sla_desk.clocks_when(ticket, has(FIRST, state=sla_pb2.SLA_CLOCK_STATE_MET))
        assert clocks[FIRST].remaining.ToTimedelta() == pytest.approx(30 * MINUTE, abs=MINUTE)
        await sla_desk.quiet()
        assert await sla_desk.events(ticket) == []
        assert await sla_desk.escalations_of(ticket) == []
