"""SLA clocks at work: moved by ticket events, fired by a scheduler, read by the API.

Every change to a ticket's clocks happens while holding the ticket view's row lock: the
event consumer holds it while it applies an event, and the scheduler claims it with
SKIP LOCKED, so the two never work on one ticket at once, and two schedulers never fire
one clock twice. What fires is written to the SLA log in the same transaction as the
clock's new state and the escalation it starts, so a crash between them loses nothing and
a restart repeats nothing.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import Clock
from common.errors import Aborted
from escalation_service.adapters.sla_repository import SlaLogEntry, due_tickets
from escalation_service.domain.business_hours import BusinessCalendar
from escalation_service.domain.events import sla_fired_event
from escalation_service.domain.sla import Metric, matching
from escalation_service.domain.sla_clock import Fired, FireKind, SlaClock, SlaEvent, track
from escalation_service.domain.tickets import TicketView
from escalation_service.service.escalations import EscalationService
from escalation_service.service.unit_of_work import UnitOfWork

log = structlog.get_logger("escalation_service.sla")

SCHEDULER_BATCH = 200


class SlaTracker:
    """Moves a ticket's clocks and acts on what they fire, inside the caller's unit of work."""

    def __init__(self, escalations: EscalationService, clock: Clock) -> None:
        self._escalations = escalations
        self._clock = clock

    def unit_of_work(self, tenant_id: str) -> UnitOfWork:
        """The service's: its commits tell the event streams (see EscalationService)."""
        return self._escalations.unit_of_work(tenant_id)

    async def on_ticket_event(
        self, uow: UnitOfWork, view: TicketView, event: SlaEvent, when: datetime
    ) -> list[Fired]:
        """Apply `event`, which happened at `when`, to the clocks of `view`'s ticket (whose
        row the caller has locked). A clock found overdue fires here, at once."""
        clocks = await uow.sla_clocks.for_ticket(view.ticket_id)
        policies = await uow.sla_policies.list()
        if not clocks and not policies:
            return []
        policy = matching(policies, view.priority, view.inbox_id, view.labels)
        calendars = await _calendars(uow, clocks.values(), policy.calendar_id if policy else "")
        tracked = track(
            clocks,
            event,
            ticket_id=view.ticket_id,
            policy=policy,
            calendars=calendars,
            now=when,
            paused=view.sla_paused,
            resolved=view.resolved,
            replied=view.replied,
        )
        await uow.sla_clocks.save(view.ticket_id, clocks, tracked.clocks)
        await self.act_on(uow, view, tracked.fired)
        return tracked.fired

    async def act_on(self, uow: UnitOfWork, view: TicketView, fired: Sequence[Fired]) -> None:
        """Log each firing; breaches and further levels escalate the ticket, once for all
        that fired together."""
        if not fired:
            return
        self._escalations.metrics.fired(uow, fired)
        escalating = [f for f in fired if f.kind is not FireKind.WARNING]
        escalation = (
            await self._escalations.escalate_for_sla(uow, view, escalating) if escalating else None
        )
        now = self._clock.now()
        for item in fired:
            escalation_id = escalation.id if escalation and item in escalating else ""
            await uow.sla_events.add(item, escalation_id, now)
            uow.record(sla_fired_event(item, escalation_id, now))
            log.info(
                "sla_" + item.kind.value,
                tenant=uow.tenant_id,
                ticket=view.ticket_id,
                metric=item.metric.value,
                level=item.level,
                due=item.due_time.isoformat(),
                escalation=escalation_id or None,
            )


class SlaScheduler:
    """Finds due clocks through the index on their next fire time and fires them.

    Safe on several replicas: each ticket is claimed by locking its view row with SKIP
    LOCKED, and re-read under the lock, so a clock another replica has just fired is no
    longer due. On SQLite every transaction takes the database's write lock, which
    serialises them instead.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        tracker: SlaTracker,
        clock: Clock,
        *,
        batch: int = SCHEDULER_BATCH,
        watermark: Callable[[str], datetime | None] | None = None,
    ) -> None:
        """`watermark(tenant)`: the time up to which the tenant's ticket events have all
        been applied (None: not known yet); clocks due later wait for it. Without one,
        clocks fire as soon as they are due."""
        self._engine = engine
        self._tracker = tracker
        self._clock = clock
        self._batch = batch
        self._watermark = watermark

    async def tick(self) -> int:
        """Fire everything due now; returns how many firings were logged."""
        total = 0
        while True:
            now = self._clock.now()
            async with self._engine.connect() as conn:
                due = await due_tickets(conn, now, self._batch)
            # Replicas that read the same batch start at different places in it.
            random.shuffle(due)
            fired = 0
            for item in due:
                horizon = self._horizon(item.tenant_id, now)
                if horizon is not None:
                    fired += await self._fire_ticket(item.tenant_id, item.ticket_id, horizon)
            total += fired
            # A full batch that fired something: there may be more due behind it.
            if len(due) < self._batch or fired == 0:
                return total

    def _horizon(self, tenant_id: str, now: datetime) -> datetime | None:
        if self._watermark is None:
            return now
        caught_up = self._watermark(tenant_id)
        return None if caught_up is None else min(now, caught_up)

    async def _fire_ticket(self, tenant_id: str, ticket_id: str, now: datetime) -> int:
        """Fire what the ticket's clocks have due by `now`; 0 when nothing is (any more),
        or another transaction holds the ticket."""
        try:
            async with self._tracker.unit_of_work(tenant_id) as uow:
                view = await uow.tickets.get(ticket_id, for_update=True, skip_locked=True)
                if view is None:
                    return 0
                clocks = await uow.sla_clocks.for_ticket(ticket_id)
                after = {metric: replace(clock) for metric, clock in clocks.items()}
                fired = [f for clock in after.values() for f in clock.fire(now)]
                if not fired:
                    return 0  # fired meanwhile by someone else
                await uow.sla_clocks.save(ticket_id, clocks, after)
                await self._tracker.act_on(uow, view, fired)
                await uow.commit()
        except Aborted as error:
            # A firing already logged: this transaction rolled back whole; the clock's
            # stored state says what happened.
            log.warning("sla_fire_conflict", tenant=tenant_id, ticket=ticket_id, error=str(error))
            return 0
        return len(fired)


@dataclass(frozen=True)
class ClockReading:
    clock: SlaClock
    calendar: BusinessCalendar | None


class SlaReader:
    """The read side: a ticket's clocks with what is left, and the SLA log."""

    def __init__(self, engine: AsyncEngine, escalations: EscalationService, clock: Clock):
        self._engine = engine
        self._escalations = escalations
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def ticket_clocks(self, tenant_id: str, ticket_id: str) -> list[ClockReading]:
        """NOT_FOUND for a ticket the tenant does not have."""
        await self._escalations.ensure_ticket(tenant_id, ticket_id)
        async with UnitOfWork(self._engine, tenant_id) as uow:
            clocks = await uow.sla_clocks.for_ticket(ticket_id)
            calendars = await _calendars(uow, clocks.values(), "")
        order = list(Metric)
        return [
            ClockReading(clocks[metric], calendars.get(clocks[metric].calendar_id))
            for metric in sorted(clocks, key=order.index)
        ]

    async def events(
        self, tenant_id: str, *, ticket_id: str, after_id: int, limit: int
    ) -> list[SlaLogEntry]:
        if ticket_id:
            await self._escalations.ensure_ticket(tenant_id, ticket_id)
        async with UnitOfWork(self._engine, tenant_id) as uow:
            return await uow.sla_events.list(ticket_id=ticket_id, after_id=after_id, limit=limit)


async def _calendars(
    uow: UnitOfWork, clocks: Iterable[SlaClock], extra: str
) -> Mapping[str, BusinessCalendar]:
    """The calendars the clocks and the policy name, by id. A deleted one is left out, and
    its clocks then count around the clock (early, never never)."""
    wanted = {extra} | {clock.calendar_id for clock in clocks}
    wanted.discard("")
    found: dict[str, BusinessCalendar] = {}
    for calendar_id in sorted(wanted):
        named = await uow.calendars.get(calendar_id)
        if named is not None:
            found[calendar_id] = named.calendar
    return found
