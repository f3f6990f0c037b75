"""SLA clocks driven by the ticket event log and fired by the scheduler, through real gRPC
services on both backends. Time is the shared ManualClock: the tests move it instead of
sleeping, and the scheduler (ticking every 50 ms) acts on what fell due."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from google.type import date_pb2

from common.clock import ManualClock
from tests.conftest import ACME, GLOBEX
from tests.e2e.conftest import expect_error
from tests.e2e.test_chatwoot_intake import GATEWAY, K, S, delivery, message, state
from tests.escalation.conftest import Desk
from tests.support import eventually
from ticketing.escalation.v1 import escalation_pb2, sla_pb2
from ticketing.escalation.v1 import sla_service_pb2 as Req
from ticketing.ticket.v1 import chatwoot_pb2, enums_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.escalation.v1.sla_service_pb2_grpc import SlaServiceAsyncStub

M = sla_pb2
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def duration(value: timedelta) -> duration_pb2.Duration:
    proto = duration_pb2.Duration()
    proto.FromTimedelta(value)
    return proto


class SlaDesk:
    """The desk of test_escalation_flow, plus SLA policies, time and the SLA's answers."""

    def __init__(self, desk: Desk, sla: SlaServiceAsyncStub, clock: ManualClock) -> None:
        self.desk = desk
        self.sla = sla
        self.clock = clock
        self._message_ids = iter(range(500_000, 1_000_000))

    async def policy(
        self,
        policy_id: str,
        *,
        first: timedelta | None = None,
        next_response: timedelta | None = None,
        resolution: timedelta | None = None,
        position: int = 1,
        priorities: tuple[int, ...] = (),
        calendar: str = "",
        further_levels: tuple[timedelta, ...] = (),
    ) -> None:
        targets = M.SlaTargets(
            first_response=duration(first) if first else None,
            next_response=duration(next_response) if next_response else None,
            resolution=duration(resolution) if resolution else None,
        )
        await self.sla.CreateSlaPolicy(
            Req.CreateSlaPolicyRequest(
                sla_policy_id=policy_id,
                sla_policy=M.SlaPolicy(
                    display_name=policy_id,
                    position=position,
                    condition=M.SlaCondition(priorities=list(priorities)),  # type: ignore[arg-type]
                    targets=targets,
                    business_calendar=f"businessCalendars/{calendar}" if calendar else "",
                    further_levels=[duration(d) for d in further_levels],
                ),
            ),
            metadata=ACME,
        )

    async def clocks(self, ticket: str) -> dict[int, M.SlaClock]:
        answer = await self.sla.GetTicketSla(Req.GetTicketSlaRequest(ticket=ticket), metadata=ACME)
        return {clock.metric: clock for clock in answer.clocks}

    async def clocks_when(
        self, ticket: str, settled: Callable[[dict[int, M.SlaClock]], bool]
    ) -> dict[int, M.SlaClock]:
        """The clocks once the event log has moved them as `settled` expects."""

        async def read() -> dict[int, M.SlaClock] | None:
            clocks = await self.clocks(ticket)
            return clocks if settled(clocks) else None

        return await eventually(read)

    async def events(self, ticket: str = "") -> list[M.SlaEvent]:
        answer = await self.sla.ListSlaEvents(
            Req.ListSlaEventsRequest(ticket=ticket, page_size=1000), metadata=ACME
        )
        return list(answer.sla_events)

    async def breach(self, ticket: str) -> M.SlaEvent:
        """The ticket's breach, once the scheduler has logged it."""

        async def read() -> M.SlaEvent | None:
            events = await self.events(ticket)
            return next((e for e in events if e.kind == M.SLA_EVENT_KIND_BREACH), None)

        return await eventually(read)

    async def events_when(self, ticket: str, count: int) -> list[M.SlaEvent]:
        async def read() -> list[M.SlaEvent] | None:
            events = await self.events(ticket)
            return events if len(events) >= count else None

        return await eventually(read)

    async def quiet(self) -> None:
        """Let the consumer and a few scheduler ticks run."""
        await asyncio.sleep(0.3)

    async def reply(
        self, conversation_id: int, *, sender: int = chatwoot_pb2.SENDER_TYPE_USER
    ) -> None:
        msg = message(
            next(self._message_ids),
            content="Looking into it",
            direction=chatwoot_pb2.MESSAGE_DIRECTION_OUTGOING,
        )
        msg.sender_type = sender  # type: ignore[assignment]
        await self.desk.tickets.ApplyChatwootDelivery(
            delivery(
                K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED,
                conversation=state(
                    conversation_id,
                    contact_id=conversation_id,
                    email=f"c{conversation_id}@example.com",
                ),
                msg=msg,
            ),
            metadata=GATEWAY,
        )

    async def status(self, ticket: str, status: int) -> None:
        await self.desk.tickets.ChangeTicketStatus(
            ticket_service_pb2.ChangeTicketStatusRequest(name=ticket, status=status),  # type: ignore[arg-type]
            metadata=ACME,
        )

    async def escalations_of(self, ticket: str) -> list[Any]:
        return await self.desk.escalations_of(ticket)


@pytest.fixture
def sla_desk(desk: Desk, sla: SlaServiceAsyncStub, clock: ManualClock) -> SlaDesk:
    return SlaDesk(desk, sla, clock)


FIRST = M.SLA_METRIC_FIRST_RESPONSE
NEXT = M.SLA_METRIC_NEXT_RESPONSE
RESOLUTION = M.SLA_METRIC_RESOLUTION


def has(*metrics: int, state: int | None = None) -> Callable[[dict[int, M.SlaClock]], bool]:
    def check(clocks: dict[int, M.SlaClock]) -> bool:
        return all(m in clocks and (state is None or clocks[m].state == state) for m in metrics)

    return check


def when(proto_time: timestamp_pb2.Timestamp) -> datetime:
    return proto_time.ToDatetime(tzinfo=UTC)


async def test_first_response_warns_then_breaches_and_escalates_level_by_level(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    desk = sla_desk.desk
    await desk.agent("7", "Priya")
    await desk.agent("9", "Sam Supervisor", skills=("supervisor",))
    await sla_desk.policy(
        "standard", first=HOUR, resolution=8 * HOUR, further_levels=(30 * MINUTE,)
    )
    ticket = await desk.open_ticket(9101)
    clocks = await sla_desk.clocks_when(ticket, has(FIRST, RESOLUTION))
    first = clocks[FIRST]
    assert first.state == M.SLA_CLOCK_STATE_RUNNING
    assert first.sla_policy == "slaPolicies/standard"
    assert when(first.due_time) - when(first.start_time) == HOUR
    assert when(first.warn_time) - when(first.start_time) == 48 * MINUTE
    assert NEXT not in clocks  # next response starts with a message after a reply

    clock.set(when(first.warn_time) + MINUTE)
    (warning,) = await sla_desk.events_when(ticket, 1)
    assert warning.kind == M.SLA_EVENT_KIND_WARNING
    assert warning.metric == FIRST
    assert warning.level == 1
    assert warning.escalation == ""
    assert await sla_desk.escalations_of(ticket) == []

    clock.set(when(first.due_time) + MINUTE)
    events = await sla_desk.events_when(ticket, 2)
    breach = events[1]
    assert breach.kind == M.SLA_EVENT_KIND_BREACH
    assert breach.metric == FIRST
    assert when(breach.due_time) == when(first.due_time)
    assert when(breach.fire_time) - when(breach.due_time) < 2 * MINUTE
    (escalation,) = await sla_desk.escalations_of(ticket)
    assert breach.escalation == escalation.name
    assert escalation.trigger == escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH
    assert escalation.reason == escalation_pb2.ESCALATION_REASON_SLA_BREACH
    assert escalation.level == 1
    assert escalation.assignee_id == "7"
    assert escalation.priority_after == enums_pb2.TICKET_PRIORITY_HIGH
    assert escalation.explanation.rule == "sla_breach"
    (signal,) = escalation.explanation.signals
    assert signal.kind == escalation_pb2.SIGNAL_KIND_SLA
    assert signal.fired
    assert "first response" in escalation.explanation.summary

    breached = (await sla_desk.clocks(ticket))[FIRST]
    assert breached.state == M.SLA_CLOCK_STATE_BREACHED
    assert breached.remaining.ToTimedelta() <= -MINUTE

    # The further level, 30 minutes after the breach, goes one level up: the supervisor.
    clock.set(when(first.due_time) + 31 * MINUTE)
    events = await sla_desk.events_when(ticket, 3)
    assert (events[2].kind, events[2].level) == (M.SLA_EVENT_KIND_LEVEL, 2)
    escalations = await sla_desk.escalations_of(ticket)
    top = next(e for e in escalations if e.level == 2)
    assert top.assignee_id == "9"
    assert events[2].escalation == top.name

    # The first response clock has nothing more to fire.
    clock.advance(5 * HOUR)
    await sla_desk.quiet()
    assert len(await sla_desk.events(ticket)) == 4  # the resolution clock warned meanwhile
    kinds = [(e.metric, e.kind) for e in await sla_desk.events(ticket)]
    assert kinds.count((FIRST, M.SLA_EVENT_KIND_BREACH)) == 1


async def test_a_reply_meets_first_response_and_the_next_message_starts_next_response(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    await sla_desk.policy("chat", first=HOUR, next_response=30 * MINUTE)
    ticket = await sla_desk.desk.open_ticket(9102)
    await sla_desk.clocks_when(ticket, has(FIRST))

    # A bot's answer is no reply.
    clock.advance(10 * MINUTE)
    await sla_desk.reply(9102, sender=chatwoot_pb2.SENDER_TYPE_AGENT_BOT)
    await sla_desk.quiet()
    assert (await sla_desk.clocks(ticket))[FIRST].state == M.SLA_CLOCK_STATE_RUNNING

    clock.advance(10 * MINUTE)
    await sla_desk.reply(9102)
    clocks = await sla_desk.clocks_when(ticket, has(FIRST, state=M.SLA_CLOCK_STATE_MET))
    assert clocks[FIRST].remaining.ToTimedelta() == pytest.approx(40 * MINUTE, abs=MINUTE)
    assert NEXT not in clocks

    clock.advance(5 * MINUTE)
    await sla_desk.desk.customer_writes(9102, "Still not working")
    clocks = await sla_desk.clocks_when(ticket, has(NEXT, state=M.SLA_CLOCK_STATE_RUNNING))
    started = when(clocks[NEXT].start_time)
    assert when(clocks[NEXT].due_time) - started == 30 * MINUTE

    # Asleep past both, the scheduler logs the breach alone: a warning due with it adds
    # nothing.
    clock.set(started + 31 * MINUTE)
    breach = await sla_desk.breach(ticket)
    assert breach.metric == NEXT
    assert [e.kind for e in await sla_desk.events(ticket)] == [M.SLA_EVENT_KIND_BREACH]
    (escalation,) = await sla_desk.escalations_of(ticket)
    assert escalation.trigger == escalation_pb2.ESCALATION_TRIGGER_SLA_BREACH
    assert "next response" in escalation.explanation.summary


async def test_waiting_on_the_customer_pauses_the_clock(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    await sla_desk.policy("resolve", resolution=2 * HOUR)
    ticket = await sla_desk.desk.open_ticket(9103)
    await sla_desk.clocks_when(ticket, has(RESOLUTION))

    clock.advance(30 * MINUTE)
    await sla_desk.status(ticket, enums_pb2.TICKET_STATUS_WAITING_ON_CUSTOMER)
    clocks = await sla_desk.clocks_when(ticket, has(RESOLUTION, state=M.SLA_CLOCK_STATE_PAUSED))
    assert not clocks[RESOLUTION].HasField("due_time")

    clock.advance(5 * HOUR)
    await sla_desk.quiet()
    paused = (await sla_desk.clocks(ticket))[RESOLUTION]
    assert paused.state == M.SLA_CLOCK_STATE_PAUSED
    assert paused.remaining.ToTimedelta() == pytest.approx(90 * MINUTE, abs=MINUTE)
    assert await sla_desk.events(ticket) == []

    await sla_desk.status(ticket, enums_pb2.TICKET_STATUS_IN_PROGRESS)
    clocks = await sla_desk.clocks_when(ticket, has(RESOLUTION, state=M.SLA_CLOCK_STATE_RUNNING))
    assert when(clocks[RESOLUTION].due_time) == pytest.approx(clock.now() + 90 * MINUTE, abs=MINUTE)
    clock.advance(91 * MINUTE)
    await sla_desk.breach(ticket)


async def test_a_snooze_in_chatwoot_pauses_the_clock_until_it_ends(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    await sla_desk.policy("resolve", resolution=2 * HOUR)
    ticket = await sla_desk.desk.open_ticket(9108)
    await sla_desk.clocks_when(ticket, has(RESOLUTION))

    async def conversation(status: int, at: float) -> None:
        await sla_desk.desk.tickets.ApplyChatwootDelivery(
            delivery(
                K.CHATWOOT_EVENT_KIND_CONVERSATION_STATUS_CHANGED,
                conversation=state(
                    9108, at=at, status=status, contact_id=9108, email="c9108@example.com"
                ),
            ),
            metadata=GATEWAY,
        )

    clock.advance(HOUR)
    await conversation(S.CHATWOOT_STATUS_SNOOZED, at=60)
    await sla_desk.clocks_when(ticket, has(RESOLUTION, state=M.SLA_CLOCK_STATE_PAUSED))
    clock.advance(3 * HOUR)
    await sla_desk.quiet()
    assert await sla_desk.events(ticket) == []

    await conversation(S.CHATWOOT_STATUS_OPEN, at=120)
    clocks = await sla_desk.clocks_when(ticket, has(RESOLUTION, state=M.SLA_CLOCK_STATE_RUNNING))
    assert clocks[RESOLUTION].remaining.ToTimedelta() == pytest.approx(HOUR, abs=MINUTE)


async def test_a_reopened_ticket_resumes_its_resolution_clock(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    await sla_desk.policy("resolve", resolution=2 * HOUR)
    ticket = await sla_desk.desk.open_ticket(9104)
    await sla_desk.clocks_when(ticket, has(RESOLUTION))

    clock.advance(HOUR)
    await sla_desk.desk.tickets.ResolveTicket(
        ticket_service_pb2.ResolveTicketRequest(name=ticket), metadata=ACME
    )
    clocks = await sla_desk.clocks_when(ticket, has(RESOLUTION, state=M.SLA_CLOCK_STATE_MET))
    assert clocks[RESOLUTION].remaining.ToTimedelta() == pytest.approx(HOUR, abs=MINUTE)

    clock.advance(10 * HOUR)  # resolved: nothing runs, nothing fires
    await sla_desk.quiet()
    assert await sla_desk.events(ticket) == []

    await sla_desk.desk.tickets.ReopenTicket(
        ticket_service_pb2.ReopenTicketRequest(name=ticket), metadata=ACME
    )
    clocks = await sla_desk.clocks_when(ticket, has(RESOLUTION, state=M.SLA_CLOCK_STATE_RUNNING))
    assert when(clocks[RESOLUTION].due_time) == pytest.approx(clock.now() + HOUR, abs=MINUTE)
    assert not clocks[RESOLUTION].HasField("stop_time")

    clock.advance(HOUR + MINUTE)
    breach = await sla_desk.breach(ticket)
    assert breach.metric == RESOLUTION


async def test_a_priority_change_matches_the_policies_again_and_retargets(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    await sla_desk.policy(
        "urgent", resolution=HOUR, position=0, priorities=(enums_pb2.TICKET_PRIORITY_URGENT,)
    )
    await sla_desk.policy("everything-else", resolution=8 * HOUR, position=1)
    ticket = await sla_desk.desk.open_ticket(9105)
    clocks = await sla_desk.clocks_when(ticket, has(RESOLUTION))
    created = when(clocks[RESOLUTION].start_time)
    assert clocks[RESOLUTION].sla_policy == "slaPolicies/everything-else"
    assert when(clocks[RESOLUTION].due_time) - created == 8 * HOUR

    clock.advance(30 * MINUTE)
    await sla_desk.desk.tickets.SetTicketPriority(
        ticket_service_pb2.SetTicketPriorityRequest(
            name=ticket, priority=enums_pb2.TICKET_PRIORITY_URGENT, reason="VIP"
        ),
        metadata=ACME,
    )
    clocks = await sla_desk.clocks_when(
        ticket, lambda c: c[RESOLUTION].sla_policy == "slaPolicies/urgent"
    )
    # The time already used counts against the new target.
    assert when(clocks[RESOLUTION].due_time) == pytest.approx(created + HOUR, abs=MINUTE)
    assert clocks[RESOLUTION].target.ToTimedelta() == HOUR

    clock.set(created + HOUR + MINUTE)
    await sla_desk.breach(ticket)


async def test_business_hours_skip_a_weekend_a_holiday_and_a_daylight_saving_change(
    sla_desk: SlaDesk, clock: ManualClock
) -> None:
    # Budapest, Monday to Friday 9:00-17:00; Monday 26 October 2026 a holiday. Summer time
    # ends on Sunday the 25th (CEST, UTC+2 -> CET, UTC+1).
    await sla_desk.sla.CreateBusinessCalendar(
        Req.CreateBusinessCalendarRequest(
            business_calendar_id="budapest",
            business_calendar=M.BusinessCalendar(
                display_name="Budapest office",
                time_zone="Europe/Budapest",
                weekly_hours=[
                    M.WeeklyHours(day_of_week=day, start_minute=9 * 60, end_minute=17 * 60)
                    for day in range(1, 6)
                ],
                holidays=[date_pb2.Date(year=2026, month=10, day=26)],
            ),
        ),
        metadata=ACME,
    )
    await sla_desk.policy("office-hours", first=4 * HOUR, calendar="budapest")
    # Friday 23 October, 15:00 in Budapest (13:00 UTC): two business hours left that day.
    clock.set(datetime(2026, 10, 23, 13, 0, tzinfo=UTC))
    ticket = await sla_desk.desk.open_ticket(9106)
    clocks = await sla_desk.clocks_when(ticket, has(FIRST))
    # The other two on Tuesday 27th from 9:00 CET: 11:00 CET is 10:00 UTC.
    due = datetime(2026, 10, 27, 10, 0, tzinfo=UTC)
    assert when(clocks[FIRST].due_time) == pytest.approx(due, abs=timedelta(seconds=1))

    # 80% of 4 hours is 3:12: Tuesday 10:12 CET, 09:12 UTC.
    assert when(clocks[FIRST].warn_time) == pytest.approx(
        due - 48 * MINUTE, abs=timedelta(seconds=1)
    )
    clock.set(due - MINUTE)
    (warning,) = await sla_desk.events_when(ticket, 1)
    assert warning.kind == M.SLA_EVENT_KIND_WARNING
    await sla_desk.quiet()
    assert len(await sla_desk.events(ticket)) == 1

    clock.set(due + 2 * timedelta(seconds=1))
    breach = await sla_desk.breach(ticket)
    assert when(breach.due_time) == when(clocks[FIRST].due_time)


async def test_sla_reads_are_tenant_scoped_and_check_their_input(sla_desk: SlaDesk) -> None:
    await sla_desk.policy("standard", first=HOUR)
    ticket = await sla_desk.desk.open_ticket(9107)
    await sla_desk.clocks_when(ticket, has(FIRST))
    sla = sla_desk.sla

    for name in (ticket, "tickets/tkt-2026-99999"):
        await expect_error(
            sla.GetTicketSla(Req.GetTicketSlaRequest(ticket=name), metadata=GLOBEX),
            grpc.StatusCode.NOT_FOUND,
        )
    await expect_error(
        sla.GetTicketSla(Req.GetTicketSlaRequest(ticket="TKT-1"), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await expect_error(
        sla.ListSlaEvents(Req.ListSlaEventsRequest(page_token="nonsense"), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await expect_error(
        sla.ListSlaEvents(Req.ListSlaEventsRequest(page_size=-1), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    await expect_error(
        sla.GetTicketSla(Req.GetTicketSlaRequest(ticket=ticket)),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    answer = await sla.ListSlaEvents(Req.ListSlaEventsRequest(), metadata=GLOBEX)
    assert list(answer.sla_events) == []


async def test_the_sla_log_pages_in_order(sla_desk: SlaDesk, clock: ManualClock) -> None:
    await sla_desk.policy("standard", first=HOUR)
    tickets = [await sla_desk.desk.open_ticket(9200 + i) for i in range(3)]
    for ticket in tickets:
        await sla_desk.clocks_when(ticket, has(FIRST))
    clock.advance(2 * HOUR)
    await sla_desk.events_when("", 3)

    seen: list[int] = []
    token = ""
    while True:
        page = await sla_desk.sla.ListSlaEvents(
            Req.ListSlaEventsRequest(page_size=2, page_token=token), metadata=ACME
        )
        seen += [e.event_id for e in page.sla_events]
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == 3
    assert seen == sorted(seen)
    assert {e.ticket for e in await sla_desk.events()} == set(tickets)
