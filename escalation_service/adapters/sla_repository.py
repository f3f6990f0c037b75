"""Tenant-scoped repositories for SLA policies and business calendars.

Durations are stored as seconds (float), weekly hours as `[[day, start, end], ...]` and
holidays as ISO dates. `version` rises by one on every change: updates and deletes are
conditional on the version they read, so of two concurrent changes the second is ABORTED.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Row, Select, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from common.errors import Aborted, AlreadyExists
from escalation_service.adapters.repository import _Repository
from escalation_service.adapters.tables import (
    business_calendars,
    sla_clocks,
    sla_events,
    sla_policies,
)
from escalation_service.domain.business_hours import BusinessCalendar, WeeklyHours
from escalation_service.domain.policy import Priority
from escalation_service.domain.sla import Metric, NamedCalendar, SlaPolicy
from escalation_service.domain.sla_clock import (
    ClockRisk,
    ClockState,
    Fired,
    FireKind,
    Phase,
    SlaClock,
    clock_state,
    open_clock_risk,
)

# The most policies or calendars a list returns; tenants have a handful, so there is no
# paging. Anything past this is not listed (but still applies).
MAX_LISTED = 500


class _Versioned(_Repository):
    async def _changed_one(self, statement: Any, name: str) -> None:
        """Run a conditional UPDATE or DELETE; ABORTED when it matched no row, i.e. the
        row changed (or went) since it was read."""
        result = await self._conn.execute(statement)
        if result.rowcount != 1:
            raise Aborted(f"{name} changed meanwhile; read it again and retry")


def _policy(row: Row[Any]) -> SlaPolicy:
    return SlaPolicy(
        policy_id=row.policy_id,
        display_name=row.display_name,
        position=row.position,
        targets={Metric(m): timedelta(seconds=s) for m, s in row.targets.items()},
        priorities=frozenset(Priority(p) for p in row.priorities),
        inbox_ids=frozenset(row.inbox_ids),
        labels=frozenset(row.labels),
        calendar_id=row.calendar_id,
        warn_fraction=row.warn_fraction,
        further_levels=tuple(timedelta(seconds=s) for s in row.further_levels),
        version=row.version,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _policy_values(policy: SlaPolicy) -> dict[str, Any]:
    return {
        "display_name": policy.display_name,
        "position": policy.position,
        "priorities": sorted(p.value for p in policy.priorities),
        "inbox_ids": sorted(policy.inbox_ids),
        "labels": sorted(policy.labels),
        "targets": {m.value: t.total_seconds() for m, t in sorted(policy.targets.items())},
        "calendar_id": policy.calendar_id,
        "warn_fraction": policy.warn_fraction,
        "further_levels": [d.total_seconds() for d in policy.further_levels],
        "version": policy.version,
        "update_time": policy.update_time,
    }


class SlaPolicies(_Versioned):
    def _where(self, policy_id: str) -> Any:
        c = sla_policies.c
        return (c.tenant_id == self._tenant) & (c.policy_id == policy_id)

    async def get(self, policy_id: str) -> SlaPolicy | None:
        row = (await self._conn.execute(select(sla_policies).where(self._where(policy_id)))).first()
        return None if row is None else _policy(row)

    async def list(self, limit: int = MAX_LISTED) -> list[SlaPolicy]:
        c = sla_policies.c
        rows = await self._conn.execute(
            select(sla_policies)
            .where(c.tenant_id == self._tenant)
            .order_by(c.position, c.policy_id)
            .limit(limit)
        )
        return [_policy(row) for row in rows]

    async def using_calendar(self, calendar_id: str) -> tuple[str, ...]:
        """Ids of the policies that count in this calendar's hours."""
        c = sla_policies.c
        rows = await self._conn.execute(
            select(c.policy_id)
            .where(c.tenant_id == self._tenant, c.calendar_id == calendar_id)
            .order_by(c.policy_id)
        )
        return tuple(rows.scalars())

    async def add(self, policy: SlaPolicy) -> None:
        await self._insert_unique(
            sla_policies.insert().values(
                tenant_id=self._tenant,
                policy_id=policy.policy_id,
                create_time=policy.create_time,
                **_policy_values(policy),
            ),
            AlreadyExists(f"{policy.name} already exists", name=policy.name),
        )

    async def save(self, policy: SlaPolicy, *, read_version: int) -> None:
        """Write `policy` (its version already bumped) over `read_version`; ABORTED if the
        stored row is no longer at that version."""
        await self._changed_one(
            update(sla_policies)
            .where(self._where(policy.policy_id), sla_policies.c.version == read_version)
            .values(_policy_values(policy)),
            policy.name,
        )

    async def remove(self, policy: SlaPolicy) -> None:
        await self._changed_one(
            delete(sla_policies).where(
                self._where(policy.policy_id), sla_policies.c.version == policy.version
            ),
            policy.name,
        )


def _calendar(row: Row[Any]) -> NamedCalendar:
    return NamedCalendar(
        calendar_id=row.calendar_id,
        display_name=row.display_name,
        calendar=BusinessCalendar(
            time_zone=row.time_zone,
            weekly_hours=tuple(WeeklyHours(*hours) for hours in row.weekly_hours),
            holidays=frozenset(date.fromisoformat(day) for day in row.holidays),
        ),
        version=row.version,
        create_time=row.create_time,
        update_time=row.update_time,
    )


def _calendar_values(named: NamedCalendar) -> dict[str, Any]:
    calendar = named.calendar
    return {
        "display_name": named.display_name,
        "time_zone": calendar.time_zone,
        "weekly_hours": [
            [h.day_of_week, h.start_minute, h.end_minute] for h in calendar.weekly_hours
        ],
        "holidays": sorted(day.isoformat() for day in calendar.holidays),
        "version": named.version,
        "update_time": named.update_time,
    }


class BusinessCalendars(_Versioned):
    def _where(self, calendar_id: str) -> Any:
        c = business_calendars.c
        return (c.tenant_id == self._tenant) & (c.calendar_id == calendar_id)

    async def get(self, calendar_id: str, *, for_update: bool = False) -> NamedCalendar | None:
        """With `for_update`, the row stays locked until the transaction ends: policies
        referring to a calendar and the calendar's delete take this lock first, so a policy
        cannot come to name a calendar that is being deleted."""
        query = select(business_calendars).where(self._where(calendar_id))
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _calendar(row)

    async def list(self, limit: int = MAX_LISTED) -> list[NamedCalendar]:
        c = business_calendars.c
        rows = await self._conn.execute(
            select(business_calendars)
            .where(c.tenant_id == self._tenant)
            .order_by(c.calendar_id)
            .limit(limit)
        )
        return [_calendar(row) for row in rows]

    async def add(self, named: NamedCalendar) -> None:
        await self._insert_unique(
            business_calendars.insert().values(
                tenant_id=self._tenant,
                calendar_id=named.calendar_id,
                create_time=named.create_time,
                **_calendar_values(named),
            ),
            AlreadyExists(f"{named.name} already exists", name=named.name),
        )

    async def save(self, named: NamedCalendar, *, read_version: int) -> None:
        await self._changed_one(
            update(business_calendars)
            .where(self._where(named.calendar_id), business_calendars.c.version == read_version)
            .values(_calendar_values(named)),
            named.name,
        )

    async def remove(self, named: NamedCalendar) -> None:
        await self._changed_one(
            delete(business_calendars).where(
                self._where(named.calendar_id), business_calendars.c.version == named.version
            ),
            named.name,
        )


# --- clocks -------------------------------------------------------------------------------


def _clock(row: Row[Any]) -> SlaClock:
    return SlaClock(
        ticket_id=row.ticket_id,
        metric=Metric(row.metric),
        policy_id=row.policy_id,
        target=timedelta(seconds=row.target_seconds),
        calendar_id=row.calendar_id,
        warn_fraction=row.warn_fraction,
        further_levels=tuple(timedelta(seconds=s) for s in row.further_levels),
        start_time=row.start_time,
        phase=Phase(row.phase),
        consumed=timedelta(seconds=row.consumed_seconds),
        running_since=row.running_since,
        due_time=row.due_time,
        warn_time=row.warn_time,
        warned=row.warned,
        breached=row.breached,
        breach_time=row.breach_time,
        further_fired=row.further_fired,
        stop_time=row.stop_time,
        next_fire_time=row.next_fire_time,
    )


def clock_values(clock: SlaClock) -> dict[str, Any]:
    """A clock's stored columns, without its key (tenant, ticket, metric)."""
    return {
        "policy_id": clock.policy_id,
        "calendar_id": clock.calendar_id,
        "target_seconds": clock.target.total_seconds(),
        "warn_fraction": clock.warn_fraction,
        "further_levels": [d.total_seconds() for d in clock.further_levels],
        "phase": clock.phase.value,
        "consumed_seconds": clock.consumed.total_seconds(),
        "running_since": clock.running_since,
        "due_time": clock.due_time,
        "warn_time": clock.warn_time,
        "warned": clock.warned,
        "breached": clock.breached,
        "breach_time": clock.breach_time,
        "further_fired": clock.further_fired,
        "start_time": clock.start_time,
        "stop_time": clock.stop_time,
        "next_fire_time": clock.next_fire_time,
    }


class SlaClocks(_Repository):
    """A ticket's clocks. Callers hold the ticket view's row lock while they change them, so
    the consumer and the scheduler take turns on a ticket instead of racing on its clocks."""

    async def for_ticket(self, ticket_id: str) -> dict[Metric, SlaClock]:
        c = sla_clocks.c
        rows = await self._conn.execute(
            select(sla_clocks).where(c.tenant_id == self._tenant, c.ticket_id == ticket_id)
        )
        return {Metric(row.metric): _clock(row) for row in rows}

    async def save(
        self,
        ticket_id: str,
        before: Mapping[Metric, SlaClock],
        after: Mapping[Metric, SlaClock],
    ) -> None:
        """Write what changed between `before` (as read) and `after`."""
        c = sla_clocks.c
        gone = [metric.value for metric in before if metric not in after]
        if gone:
            await self._conn.execute(
                delete(sla_clocks).where(
                    c.tenant_id == self._tenant, c.ticket_id == ticket_id, c.metric.in_(gone)
                )
            )
        for metric, clock in after.items():
            if metric not in before:
                await self._conn.execute(
                    insert(sla_clocks).values(
                        tenant_id=self._tenant,
                        ticket_id=ticket_id,
                        metric=metric.value,
                        **clock_values(clock),
                    )
                )
            elif clock != before[metric]:
                await self._conn.execute(
                    update(sla_clocks)
                    .where(
                        c.tenant_id == self._tenant,
                        c.ticket_id == ticket_id,
                        c.metric == metric.value,
                    )
                    .values(clock_values(clock))
                )


@dataclass(frozen=True)
class DueTicket:
    tenant_id: str
    ticket_id: str


def due_query(now: datetime, limit: int) -> Select[tuple[str, str]]:
    """The clocks due by `now`, most overdue first, across tenants. Reads only the partial
    index on `next_fire_time`, so the cost follows the due clocks, not all clocks."""
    c = sla_clocks.c
    return (
        select(c.tenant_id, c.ticket_id)
        .where(c.next_fire_time.is_not(None), c.next_fire_time <= now)
        .order_by(c.next_fire_time)
        .limit(limit)
    )


async def due_tickets(conn: AsyncConnection, now: datetime, limit: int) -> list[DueTicket]:
    """Tickets with a clock due by `now` (see `due_query`), each once."""
    rows = await conn.execute(due_query(now, limit))
    return list(dict.fromkeys(DueTicket(row.tenant_id, row.ticket_id) for row in rows))


@dataclass(frozen=True)
class ClockTally:
    """How many clocks there are of each state, across tenants, and how many of each
    tenant's open clocks stand at each risk: for the metrics endpoint."""

    by_state: dict[tuple[Metric, ClockState], int]
    open_by_risk: dict[tuple[str, Metric, ClockRisk], int]


async def clock_tally(conn: AsyncConnection) -> ClockTally:
    """One grouped count over the clocks table."""
    c = sla_clocks.c
    rows = await conn.execute(
        select(c.tenant_id, c.metric, c.phase, c.warned, c.breached, func.count()).group_by(
            c.tenant_id, c.metric, c.phase, c.warned, c.breached
        )
    )
    tally = ClockTally({}, {})
    for tenant_id, metric_name, phase_name, warned, breached, count in rows:
        metric, phase = Metric(metric_name), Phase(phase_name)
        state = (metric, clock_state(phase, breached=bool(breached)))
        tally.by_state[state] = tally.by_state.get(state, 0) + count
        risk = open_clock_risk(phase, warned=bool(warned), breached=bool(breached))
        if risk is not None:
            key = (str(tenant_id), metric, risk)
            tally.open_by_risk[key] = tally.open_by_risk.get(key, 0) + count
    return tally


# --- the SLA log --------------------------------------------------------------------------


@dataclass(frozen=True)
class SlaLogEntry:
    event_id: int
    ticket_id: str
    metric: Metric
    kind: FireKind
    level: int
    due_time: datetime
    fire_time: datetime
    escalation_id: str

    @property
    def create_time(self) -> datetime:
        """The page token's time slot."""
        return self.fire_time

    @property
    def id(self) -> int:
        return self.event_id


_ENTRY_FIELDS = tuple(f.name for f in fields(SlaLogEntry))


class SlaEventLog(_Repository):
    async def add(self, fired: Fired, escalation_id: str, fire_time: datetime) -> None:
        """ABORTED if this firing is already logged: the database keeps each once."""
        await self._insert_unique(
            sla_events.insert().values(
                tenant_id=self._tenant,
                ticket_id=fired.ticket_id,
                metric=fired.metric.value,
                kind=fired.kind.value,
                level=fired.level,
                due_time=fired.due_time,
                fire_time=fire_time,
                escalation_id=escalation_id,
            ),
            Aborted(f"the {fired.kind.value} of tickets/{fired.ticket_id} is already logged"),
        )

    async def list(
        self, *, ticket_id: str = "", after_id: int = 0, limit: int = 100
    ) -> list[SlaLogEntry]:
        c = sla_events.c
        query = select(*(c[name] for name in _ENTRY_FIELDS)).where(
            c.tenant_id == self._tenant, c.event_id > after_id
        )
        if ticket_id:
            query = query.where(c.ticket_id == ticket_id)
        rows = await self._conn.execute(query.order_by(c.event_id).limit(limit))
        return [
            SlaLogEntry(
                event_id=row.event_id,
                ticket_id=row.ticket_id,
                metric=Metric(row.metric),
                kind=FireKind(row.kind),
                level=row.level,
                due_time=row.due_time,
                fire_time=row.fire_time,
                escalation_id=row.escalation_id,
            )
            for row in rows
        ]
