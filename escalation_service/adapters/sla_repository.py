"""Tenant-scoped repositories for SLA policies and business calendars.

Durations are stored as seconds (float), weekly hours as `[[day, start, end], ...]` and
holidays as ISO dates. `version` rises by one on every change: updates and deletes are
conditional on the version they read, so of two concurrent changes the second is ABORTED.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import Row, delete, select, update

from common.errors import Aborted, AlreadyExists
from escalation_service.adapters.repository import _Repository
from escalation_service.adapters.tables import business_calendars, sla_policies
from escalation_service.domain.business_hours import BusinessCalendar, WeeklyHours
from escalation_service.domain.policy import Priority
from escalation_service.domain.sla import Metric, NamedCalendar, SlaPolicy

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
