"""Use cases for SLA policies and business calendars: create, read, change, delete.

Each public method is one unit of work for the caller's tenant. Field names in the
InvalidArgument errors raised here are relative to the resource (`targets.first_response`,
`time_zone`); the entrypoint knows where the resource sits in the request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import Clock
from common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
)
from common.etags import check_etag
from escalation_service.domain import sla
from escalation_service.domain.sla import NamedCalendar, SlaPolicy
from escalation_service.service.unit_of_work import UnitOfWork

log = structlog.get_logger("escalation_service")

# Fields of the stored calendar itself; the rest belong to the domain BusinessCalendar.
_CALENDAR_OWN_FIELDS = frozenset({"display_name"})


class SlaAdmin:
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        self._engine = engine
        self._clock = clock

    def unit_of_work(self, tenant_id: str) -> UnitOfWork:
        return UnitOfWork(self._engine, tenant_id)

    # --- policies -----------------------------------------------------------------------

    async def create_policy(self, tenant_id: str, policy: SlaPolicy) -> SlaPolicy:
        """ALREADY_EXISTS when the id is taken."""
        now = self._clock.now()
        policy = policy.with_changes(version=1, create_time=now, update_time=now)
        sla.validate(policy)
        async with self.unit_of_work(tenant_id) as uow:
            await _check_calendar(uow, policy.calendar_id)
            await uow.sla_policies.add(policy)
            await uow.commit()
        log.info("sla_policy_created", tenant=tenant_id, policy=policy.policy_id)
        return policy

    async def get_policy(self, tenant_id: str, policy_id: str) -> SlaPolicy:
        async with self.unit_of_work(tenant_id) as uow:
            return await _policy(uow, policy_id)

    async def list_policies(self, tenant_id: str) -> list[SlaPolicy]:
        async with self.unit_of_work(tenant_id) as uow:
            return await uow.sla_policies.list()

    async def update_policy(
        self, tenant_id: str, policy_id: str, changes: dict[str, Any], *, etag: str
    ) -> SlaPolicy:
        """Apply `changes` (SlaPolicy fields); ABORTED on a stale etag or a lost race."""
        async with self.unit_of_work(tenant_id) as uow:
            current = await _policy(uow, policy_id)
            check_etag(etag, current.etag)
            policy = current.with_changes(
                **changes, version=current.version + 1, update_time=self._clock.now()
            )
            sla.validate(policy)
            if policy.calendar_id != current.calendar_id:
                await _check_calendar(uow, policy.calendar_id)
            await uow.sla_policies.save(policy, read_version=current.version)
            await uow.commit()
        log.info(
            "sla_policy_changed",
            tenant=tenant_id,
            policy=policy_id,
            version=policy.version,
            fields=sorted(changes),
        )
        return policy

    async def delete_policy(self, tenant_id: str, policy_id: str, *, etag: str) -> None:
        async with self.unit_of_work(tenant_id) as uow:
            current = await _policy(uow, policy_id)
            check_etag(etag, current.etag)
            await uow.sla_policies.remove(current)
            await uow.commit()
        log.info("sla_policy_deleted", tenant=tenant_id, policy=policy_id)

    # --- calendars ----------------------------------------------------------------------

    async def create_calendar(self, tenant_id: str, named: NamedCalendar) -> NamedCalendar:
        """ALREADY_EXISTS when the id is taken."""
        now = self._clock.now()
        named = replace(named, version=1, create_time=now, update_time=now)
        sla.validate_calendar(named)
        async with self.unit_of_work(tenant_id) as uow:
            await uow.calendars.add(named)
            await uow.commit()
        log.info("business_calendar_created", tenant=tenant_id, calendar=named.calendar_id)
        return named

    async def get_calendar(self, tenant_id: str, calendar_id: str) -> NamedCalendar:
        async with self.unit_of_work(tenant_id) as uow:
            return await _calendar(uow, calendar_id)

    async def list_calendars(self, tenant_id: str) -> list[NamedCalendar]:
        async with self.unit_of_work(tenant_id) as uow:
            return await uow.calendars.list()

    async def update_calendar(
        self, tenant_id: str, calendar_id: str, changes: dict[str, Any], *, etag: str
    ) -> NamedCalendar:
        """Apply `changes` (display_name, time_zone, weekly_hours, holidays); ABORTED on a
        stale etag or a lost race."""
        async with self.unit_of_work(tenant_id) as uow:
            current = await _calendar(uow, calendar_id)
            check_etag(etag, current.etag)
            own = {k: v for k, v in changes.items() if k in _CALENDAR_OWN_FIELDS}
            hours = {k: v for k, v in changes.items() if k not in _CALENDAR_OWN_FIELDS}
            named = replace(
                current,
                **own,
                calendar=replace(current.calendar, **hours),
                version=current.version + 1,
                update_time=self._clock.now(),
            )
            sla.validate_calendar(named)
            await uow.calendars.save(named, read_version=current.version)
            await uow.commit()
        log.info(
            "business_calendar_changed",
            tenant=tenant_id,
            calendar=calendar_id,
            version=named.version,
            fields=sorted(changes),
        )
        return named

    async def delete_calendar(self, tenant_id: str, calendar_id: str, *, etag: str) -> None:
        """FAILED_PRECONDITION (CALENDAR_IN_USE) while a policy counts in its hours."""
        async with self.unit_of_work(tenant_id) as uow:
            # Locked first, as policies naming it lock it: neither side can miss the other.
            current = await _calendar(uow, calendar_id, for_update=True)
            check_etag(etag, current.etag)
            users = [f"slaPolicies/{p}" for p in await uow.sla_policies.using_calendar(calendar_id)]
            if users:
                raise FailedPrecondition(
                    f"{current.name} is used by {', '.join(users)}; change or delete "
                    "those policies first",
                    reason="CALENDAR_IN_USE",
                    business_calendar=current.name,
                    sla_policies=",".join(users),
                )
            await uow.calendars.remove(current)
            await uow.commit()
        log.info("business_calendar_deleted", tenant=tenant_id, calendar=calendar_id)


async def _policy(uow: UnitOfWork, policy_id: str) -> SlaPolicy:
    policy = await uow.sla_policies.get(policy_id)
    if policy is None:
        raise NotFound("sla_policy", f"slaPolicies/{policy_id}")
    return policy


async def _calendar(
    uow: UnitOfWork, calendar_id: str, *, for_update: bool = False
) -> NamedCalendar:
    named = await uow.calendars.get(calendar_id, for_update=for_update)
    if named is None:
        raise NotFound("business_calendar", f"businessCalendars/{calendar_id}")
    return named


async def _check_calendar(uow: UnitOfWork, calendar_id: str) -> None:
    """The calendar a policy names must exist; it stays locked until the policy is
    written, so a concurrent delete either sees the policy or happens first."""
    if calendar_id and await uow.calendars.get(calendar_id, for_update=True) is None:
        raise InvalidArgument.single(
            "business_calendar", f"businessCalendars/{calendar_id} does not exist"
        )
