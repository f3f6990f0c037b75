"""Keeps the agent directory in step with Chatwoot's agents API.

A sync adds new agents, updates names and emails, and marks agents Chatwoot no longer
lists. Availability follows Chatwoot only when Chatwoot's own value changes, so an explicit
SetAgentAvailability holds until the agent's presence in Chatwoot moves again.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

import structlog

from common.clock import Clock
from common.config import TenantsConfig
from common.errors import Aborted
from escalation_service.domain.agents import Agent
from escalation_service.domain.events import availability_event
from escalation_service.domain.selection import Availability
from escalation_service.service.escalations import EscalationService
from ticket_service.chatwoot import Agent as ChatwootAgent
from ticket_service.chatwoot import ChatwootError

log = structlog.get_logger("escalation_service.agents")

# Reads one Chatwoot account's agents; the composition root binds it to a client.
AgentSource = Callable[[], Awaitable[Sequence[ChatwootAgent]]]


@dataclass(frozen=True)
class SyncReport:
    seen: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0


class AgentDirectory:
    def __init__(
        self,
        service: EscalationService,
        sources: Mapping[str, AgentSource],
        clock: Clock,
    ) -> None:
        self._service = service
        self._sources = dict(sources)
        self._clock = clock

    @classmethod
    def for_tenants(
        cls,
        service: EscalationService,
        tenants: TenantsConfig,
        source_for: Callable[[str], AgentSource],
        clock: Clock,
    ) -> AgentDirectory:
        """One source per tenant: its first Chatwoot integration (agent ids are Chatwoot
        user ids, which only mean something within one account)."""
        sources = {
            tenant.id: source_for(tenant.chatwoot[0].name)
            for tenant in tenants.tenants
            if tenant.chatwoot
        }
        return cls(service, sources, clock)

    def has_source(self, tenant_id: str) -> bool:
        return tenant_id in self._sources

    async def sync_all(self) -> None:
        for tenant_id in self._sources:
            try:
                await self.sync(tenant_id)
            except ChatwootError as error:
                log.warning("agent_sync_failed", tenant=tenant_id, error=str(error))

    async def sync(self, tenant_id: str) -> SyncReport:
        listed = await self._sources[tenant_id]()
        try:
            return await self._apply(tenant_id, listed)
        except Aborted:
            # Another replica (or an UpdateAgent) added one of these agents meanwhile; the
            # second pass sees it.
            return await self._apply(tenant_id, listed)

    async def _apply(self, tenant_id: str, listed: Sequence[ChatwootAgent]) -> SyncReport:
        now = self._clock.now()
        added = changed = removed = 0
        came_online = False
        async with self._service.unit_of_work(tenant_id) as uow:
            known = {agent.agent_id: agent for agent in await uow.agents.list()}
            seen: set[str] = set()
            for entry in listed:
                agent_id = str(entry.id)
                seen.add(agent_id)
                presence = Availability(entry.availability_status.value)
                current = known.get(agent_id)
                if current is None:
                    new = Agent(
                        agent_id,
                        entry.available_name or entry.name,
                        entry.email or "",
                        presence,
                        now,
                        chatwoot_availability=presence,
                    )
                    await uow.agents.add(new)
                    uow.record(availability_event(None, new, now))
                    added += 1
                    came_online |= presence is Availability.ONLINE
                    continue
                update = current.with_changes(
                    display_name=entry.available_name or entry.name,
                    email=entry.email or "",
                    removed_from_chatwoot=False,
                    chatwoot_availability=presence,
                    # A returning agent, or a change of Chatwoot's own value, takes Chatwoot's.
                    availability=(
                        presence
                        if presence is not current.chatwoot_availability
                        or current.removed_from_chatwoot
                        else current.availability
                    ),
                )
                if update != current:
                    await uow.agents.save(update.with_changes(update_time=now))
                    uow.record(availability_event(current, update, now))
                    changed += 1
                    came_online |= (
                        update.availability is Availability.ONLINE
                        and current.availability is not Availability.ONLINE
                    )
            for agent_id, agent in known.items():
                if (
                    agent_id not in seen
                    and agent.chatwoot_availability is not None
                    and not agent.removed_from_chatwoot
                ):
                    # Offline too, so nothing that lists online agents shows them.
                    gone = agent.with_changes(
                        removed_from_chatwoot=True,
                        availability=Availability.OFFLINE,
                        update_time=now,
                    )
                    await uow.agents.save(gone)
                    uow.record(availability_event(agent, gone, now))
                    removed += 1
            await uow.commit()
        if came_online:
            await self._service.assign_queued(tenant_id)
        report = SyncReport(len(listed), added, changed, removed)
        if added or changed or removed:
            log.info("agents_synced", tenant=tenant_id, **report.__dict__)
        return report
