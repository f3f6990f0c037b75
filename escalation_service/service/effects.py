"""Carries out escalations' effects on their tickets through the ticket service: assign,
raise the priority, post the private note that @mentions the agent.

Each effect's request_id is derived from the escalation and the effect, so a retry after
a lost answer, a crash or a second replica is recognised by the ticket service and changes
nothing: one assignment, one note. Progress is stored after each effect.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from common.backoff import Backoff
from common.clock import Clock
from common.logging import log_context
from common.tracing import continued_span, untraced
from escalation_service.adapters.repository import claim_due_effects
from escalation_service.domain.agents import Agent
from escalation_service.domain.escalation import Effect, Escalation
from escalation_service.domain.events import escalation_event
from escalation_service.domain.policy import Policy
from escalation_service.domain.selection import Availability
from escalation_service.service.ports import TicketRefused, Tickets, TicketServiceError
from escalation_service.service.unit_of_work import UnitOfWork

log = structlog.get_logger("escalation_service.effects")

# Fixed: the request ids of one escalation's effects must be the same on every replica.
_EFFECTS = uuid.UUID("6f1b0c2e-5b8a-4c1e-9a53-2f4d3c8e7a10")


def request_id(tenant_id: str, escalation_id: str, effect: Effect) -> str:
    return str(uuid.uuid5(_EFFECTS, f"{tenant_id}/{escalation_id}/{effect.value}"))


def mention(agent: Agent) -> str:
    """Chatwoot's mention markup: a private note holding it notifies the user
    (`Messages::MentionService` scans for `mention://user/<id>/<name>`)."""
    name = agent.display_name or f"agent {agent.agent_id}"
    return f"[@{name}](mention://user/{agent.agent_id}/{quote(name)})"


def note_body(escalation: Escalation, agent: Agent, policy: Policy) -> str:
    level = policy.level(escalation.level)
    level_name = f" ({level.display_name})" if level and level.display_name else ""
    lines = [
        f"Escalated to {mention(agent)}, level {escalation.level}{level_name}: "
        f"{escalation.reason.value.replace('_', ' ')}.",
        escalation.explanation.summary,
    ]
    if escalation.priority_after != escalation.priority_before:
        lines.append(
            f"Priority raised from {escalation.priority_before.value} to "
            f"{escalation.priority_after.value}."
        )
    if escalation.comment:
        lines.append(f"Comment from {escalation.actor}: {escalation.comment}")
    lines.append(f"Ref: escalations/{escalation.id}")
    return "\n".join(lines)


@dataclass(frozen=True)
class EffectsSettings:
    retry_initial: timedelta = timedelta(seconds=1)
    retry_max: timedelta = timedelta(seconds=60)
    lease: timedelta = timedelta(seconds=30)
    batch: int = 20
    poll_interval: timedelta = timedelta(seconds=1)


class EffectsWorker:
    def __init__(
        self,
        engine: AsyncEngine,
        tickets: Tickets,
        clock: Clock,
        settings: EffectsSettings,
        *,
        on_events_committed: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._events_committed = on_events_committed
        self._tickets = tickets
        self._clock = clock
        self._settings = settings
        self._backoff = Backoff(
            settings.retry_initial.total_seconds(), settings.retry_max.total_seconds()
        )
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def _unit_of_work(self, tenant_id: str) -> UnitOfWork:
        return UnitOfWork(self._engine, tenant_id, on_events_committed=self._events_committed)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="escalation-effects")

    async def stop(self, grace: float = 5.0) -> None:
        """Let the escalation in hand finish (its effects are idempotent anyway), then end."""
        self._stopping = True
        self._wake.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping:
            try:
                # Each escalation's effects continue the trace of its decision.
                with untraced():
                    while not self._stopping and await self.run_once():
                        pass
            except Exception:
                log.exception("effects_pass_failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self._settings.poll_interval.total_seconds()
                )
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim a batch of due escalations and carry out their effects."""
        async with self._engine.begin() as conn:
            claimed = await claim_due_effects(
                conn, self._clock.now(), self._settings.lease, self._settings.batch
            )
        for tenant_id, escalation_id, trace_context in claimed:
            # A child of the decision that opened the escalation: the ticket service's
            # changes, and its Chatwoot calls after them, stay in that trace.
            with (
                continued_span(
                    "escalation_effects", trace_context, {"escalation.id": escalation_id}
                ),
                log_context(tenant=tenant_id),
            ):
                await self._carry_out(tenant_id, escalation_id)
        return len(claimed)

    async def _carry_out(self, tenant_id: str, escalation_id: str) -> None:
        async with self._unit_of_work(tenant_id) as uow:
            escalation = await uow.escalations.get(escalation_id)
            policy = await uow.policies.current()
            agent = await uow.agents.get(escalation.assignee_id) if escalation else None
        if escalation is None:
            return
        for effect in escalation.effects_due():
            try:
                await self._perform(tenant_id, escalation, effect, agent, policy)
            except TicketRefused as refused:
                await self._failed(tenant_id, escalation_id, str(refused))
                return
            except TicketServiceError as error:
                await self._retry_later(tenant_id, escalation_id, str(error))
                return
            async with self._unit_of_work(tenant_id) as uow:
                current = await uow.escalations.get(escalation_id, for_update=True)
                if current is None:
                    return
                current.effect_done(effect, self._clock.now())
                due = self._clock.now() if current.effects_due() else None
                await uow.escalations.save(current, due=due)
                await uow.commit()
                escalation = current
        log.info("escalation_effects_done", tenant=tenant_id, escalation=escalation_id)

    async def _perform(
        self,
        tenant_id: str,
        escalation: Escalation,
        effect: Effect,
        agent: Agent | None,
        policy: Policy,
    ) -> None:
        key = request_id(tenant_id, escalation.id, effect)
        reason = f"escalations/{escalation.id}: {escalation.reason.value}"
        if effect is Effect.ASSIGN:
            await self._tickets.assign(
                tenant_id, escalation.ticket_id, escalation.assignee_id, key, reason
            )
        elif effect is Effect.PRIORITY:
            await self._tickets.set_priority(
                tenant_id, escalation.ticket_id, escalation.priority_after, key, reason
            )
        else:
            # An agent deleted from the directory meanwhile is still mentioned by id.
            who = agent or Agent(
                escalation.assignee_id, "", "", Availability.OFFLINE, self._clock.now()
            )
            await self._tickets.add_note(
                tenant_id, escalation.ticket_id, note_body(escalation, who, policy), key
            )

    async def _failed(self, tenant_id: str, escalation_id: str, error: str) -> None:
        """The ticket service refused for good: end the escalation, and hand back the
        capacity it took if the ticket still counts against that agent only because of it."""
        async with self._unit_of_work(tenant_id) as uow:
            escalation = await uow.escalations.get(escalation_id, for_update=True)
            if escalation is None:
                return
            was_open = escalation.state.is_open
            escalation.effects_failed(error, self._clock.now())
            await uow.escalations.save(escalation)
            if was_open:
                uow.record(escalation_event(escalation, escalation.update_time))
            view = await uow.tickets.get(escalation.ticket_id, for_update=True)
            if (
                view is not None
                and escalation.assignee_id
                and view.assignee_id == escalation.assignee_id
            ):
                if view.active:
                    await uow.agents.add_workload(escalation.assignee_id, -1)
                    await uow.agents.add_workload(escalation.previous_assignee_id, +1)
                view.assignee_id = escalation.previous_assignee_id
                await uow.tickets.save(view)
            await uow.commit()
        log.warning(
            "escalation_effects_failed", tenant=tenant_id, escalation=escalation_id, error=error
        )

    async def _retry_later(self, tenant_id: str, escalation_id: str, error: str) -> None:
        async with self._unit_of_work(tenant_id) as uow:
            escalation = await uow.escalations.get(escalation_id, for_update=True)
            if escalation is None:
                return
            attempts = await uow.escalations.attempts(escalation_id) + 1
            escalation.effects_error = error
            delay = timedelta(seconds=self._backoff.delay(attempts))
            await uow.escalations.save(escalation, due=self._clock.now() + delay, attempts=attempts)
            await uow.commit()
        log.info(
            "escalation_effects_retry",
            tenant=tenant_id,
            escalation=escalation_id,
            attempts=attempts,
            error=error,
        )
