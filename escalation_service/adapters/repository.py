"""Tenant-scoped repositories over one transaction's connection."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, and_, case, func, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from common.errors import Aborted, ServiceError
from common.tracing import current_traceparent
from escalation_service.adapters.tables import (
    agents,
    consumer_cursors,
    escalations,
    policy_versions,
    request_ids,
    suggestions,
    ticket_views,
)
from escalation_service.domain.agents import Agent
from escalation_service.domain.decision import Explanation
from escalation_service.domain.escalation import (
    OPEN_STATES,
    Effect,
    EffectsState,
    Escalation,
    State,
    Suggestion,
    SuggestionState,
)
from escalation_service.domain.policy import Policy, Priority, as_record, from_record
from escalation_service.domain.reasons import Reason, Trigger
from escalation_service.domain.selection import Availability
from escalation_service.domain.tickets import ACTIVE_STATUSES, TicketView


class _Repository:
    def __init__(self, conn: AsyncConnection, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def _insert_unique(self, statement: Any, conflict: ServiceError) -> None:
        """Insert, raising `conflict` when a unique key is taken: the database decides, so
        two concurrent inserts of one key cannot both succeed."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(statement)
        except IntegrityError:
            raise conflict from None


class Policies(_Repository):
    async def current(self) -> Policy:
        row = (
            await self._conn.execute(
                select(policy_versions)
                .where(policy_versions.c.tenant_id == self._tenant)
                .order_by(policy_versions.c.version.desc())
                .limit(1)
            )
        ).first()
        if row is None:
            return Policy()
        return from_record(
            row.document, version=row.version, actor=row.actor, update_time=row.create_time
        )

    async def add(self, policy: Policy) -> None:
        """Store a new version. Two changes made from the same version: the second fails
        with ABORTED, as a stale etag would."""
        assert policy.update_time is not None
        await self._insert_unique(
            policy_versions.insert().values(
                tenant_id=self._tenant,
                version=policy.version,
                document=as_record(policy),
                actor=policy.update_actor,
                create_time=policy.update_time,
            ),
            Aborted("the policy changed meanwhile; read it again and retry"),
        )


def _agent(row: Row[Any]) -> Agent:
    return Agent(
        agent_id=row.agent_id,
        display_name=row.display_name,
        email=row.email,
        availability=Availability(row.availability),
        skills=frozenset(row.skills),
        capacity=row.capacity,
        active_tickets=row.active_tickets,
        last_assign_time=row.last_assign_time,
        removed_from_chatwoot=row.removed_from_chatwoot,
        chatwoot_availability=(
            Availability(row.chatwoot_availability) if row.chatwoot_availability else None
        ),
        update_time=row.update_time,
    )


class Agents(_Repository):
    def _where(self, agent_id: str) -> Any:
        return and_(agents.c.tenant_id == self._tenant, agents.c.agent_id == agent_id)

    async def get(self, agent_id: str) -> Agent | None:
        row = (await self._conn.execute(select(agents).where(self._where(agent_id)))).first()
        return None if row is None else _agent(row)

    async def list(
        self, *, availability: Availability | None = None, after: str = "", limit: int = 10_000
    ) -> list[Agent]:
        query = select(agents).where(agents.c.tenant_id == self._tenant)
        if availability is not None:
            query = query.where(agents.c.availability == availability.value)
        if after:
            query = query.where(agents.c.agent_id > after)
        query = query.order_by(agents.c.agent_id).limit(limit)
        return [_agent(row) for row in await self._conn.execute(query)]

    async def add(self, agent: Agent) -> None:
        """Insert a new entry, its workload counted from the tickets already assigned;
        Aborted when a concurrent call added the same agent first."""
        await self._insert_unique(
            agents.insert().values(
                tenant_id=self._tenant,
                agent_id=agent.agent_id,
                display_name=agent.display_name,
                email=agent.email,
                availability=agent.availability.value,
                skills=sorted(agent.skills),
                capacity=agent.capacity,
                active_tickets=await self._count_active(agent.agent_id),
                last_assign_time=agent.last_assign_time,
                removed_from_chatwoot=agent.removed_from_chatwoot,
                chatwoot_availability=(
                    agent.chatwoot_availability.value if agent.chatwoot_availability else None
                ),
                update_time=agent.update_time,
            ),
            Aborted(f"agents/{agent.agent_id} was added concurrently; retry"),
        )

    async def save(self, agent: Agent) -> None:
        """Write the directory fields; the workload and last assignment are not touched."""
        await self._conn.execute(
            update(agents)
            .where(self._where(agent.agent_id))
            .values(
                display_name=agent.display_name,
                email=agent.email,
                availability=agent.availability.value,
                skills=sorted(agent.skills),
                capacity=agent.capacity,
                removed_from_chatwoot=agent.removed_from_chatwoot,
                chatwoot_availability=(
                    agent.chatwoot_availability.value if agent.chatwoot_availability else None
                ),
                update_time=agent.update_time,
            )
        )

    async def claim(self, agent_id: str, capacity_default: int, now: datetime) -> bool:
        """Take one unit of the agent's capacity, if they are still online with room.

        One conditional UPDATE: PostgreSQL re-checks the condition on the locked row after
        any concurrent update commits, and SQLite runs writers one at a time, so no number
        of racing replicas can push an agent past capacity.
        """
        capacity = func.coalesce(func.nullif(agents.c.capacity, 0), capacity_default)
        result = await self._conn.execute(
            update(agents)
            .where(
                self._where(agent_id),
                agents.c.availability == Availability.ONLINE.value,
                agents.c.removed_from_chatwoot.is_(False),
                agents.c.active_tickets < capacity,
            )
            .values(active_tickets=agents.c.active_tickets + 1, last_assign_time=now)
        )
        return result.rowcount == 1

    async def add_workload(self, agent_id: str, delta: int) -> None:
        """The ticket projection moved a ticket onto (+1) or off (-1) the agent. This may
        exceed capacity: people can assign more by hand than escalation would."""
        if not agent_id:
            return
        await self._conn.execute(
            update(agents)
            .where(self._where(agent_id))
            .values(
                active_tickets=case(
                    (agents.c.active_tickets + delta < 0, 0),
                    else_=agents.c.active_tickets + delta,
                )
            )
        )

    async def _count_active(self, agent_id: str) -> int:
        views = ticket_views.c
        count = await self._conn.scalar(
            select(func.count())
            .select_from(ticket_views)
            .where(
                views.tenant_id == self._tenant,
                views.assignee_id == agent_id,
                views.deleted.is_(False),
                views.status.in_(ACTIVE_STATUSES),
            )
        )
        return int(count or 0)


def view_values(tenant_id: str, view: TicketView) -> dict[str, Any]:
    """A ticket view's row."""
    return {
        "tenant_id": tenant_id,
        "ticket_id": view.ticket_id,
        "status": view.status,
        "priority": view.priority.value,
        "assignee_id": view.assignee_id,
        "labels": list(view.labels),
        "deleted": view.deleted,
        "customer_streak": view.customer_streak,
        "inbox_id": view.inbox_id,
        "snoozed": view.snoozed,
        "replied": view.replied,
        "update_time": view.update_time,
        "conversation_id": view.conversation_id,
    }


def _view(row: Row[Any]) -> TicketView:
    return TicketView(
        ticket_id=row.ticket_id,
        status=row.status,
        priority=Priority(row.priority),
        assignee_id=row.assignee_id,
        labels=tuple(row.labels),
        deleted=row.deleted,
        customer_streak=row.customer_streak,
        inbox_id=row.inbox_id,
        snoozed=row.snoozed,
        replied=row.replied,
        update_time=row.update_time,
        conversation_id=row.conversation_id,
    )


class TicketViews(_Repository):
    async def get(
        self, ticket_id: str, *, for_update: bool = False, skip_locked: bool = False
    ) -> TicketView | None:
        """With `skip_locked` (and `for_update`), None also when another transaction holds
        the row: the SLA scheduler leaves a ticket that is being changed for its next tick."""
        query = select(ticket_views).where(
            ticket_views.c.tenant_id == self._tenant, ticket_views.c.ticket_id == ticket_id
        )
        if for_update:
            query = query.with_for_update(skip_locked=skip_locked)
        row = (await self._conn.execute(query)).first()
        return None if row is None else _view(row)

    async def add(self, view: TicketView) -> bool:
        """Insert the view unless the ticket already has one (the event consumer and a
        GetTicket snapshot may race to create it); returns whether this one was inserted."""
        try:
            async with self._conn.begin_nested():
                await self._conn.execute(
                    ticket_views.insert().values(view_values(self._tenant, view))
                )
        except IntegrityError:
            return False
        return True

    async def save(self, view: TicketView) -> None:
        await self._conn.execute(
            update(ticket_views)
            .where(
                ticket_views.c.tenant_id == self._tenant,
                ticket_views.c.ticket_id == view.ticket_id,
            )
            .values(view_values(self._tenant, view))
        )


def _escalation(row: Row[Any]) -> Escalation:
    return Escalation(
        id=row.id,
        ticket_id=row.ticket_id,
        state=State(row.state),
        level=row.level,
        trigger=Trigger(row.trigger),
        reason=Reason(row.reason),
        explanation=Explanation.from_record(row.explanation),
        priority_before=Priority(row.priority_before),
        priority_after=Priority(row.priority_after),
        actor=row.actor,
        comment=row.comment,
        required_skills=frozenset(row.required_skills),
        assignee_id=row.assignee_id,
        previous_assignee_id=row.previous_assignee_id,
        suggestion_id=row.suggestion_id,
        previous_escalation_id=row.previous_escalation_id,
        effects_state=EffectsState(row.effects_state),
        effects_done=frozenset(Effect(e) for e in row.effects_done),
        effects_error=row.effects_error,
        create_time=row.create_time,
        update_time=row.update_time,
        assign_time=row.assign_time,
        acknowledge_time=row.acknowledge_time,
        end_time=row.end_time,
        version=row.version,
    )


def _escalation_values(escalation: Escalation) -> dict[str, Any]:
    return {
        "ticket_id": escalation.ticket_id,
        "state": escalation.state.value,
        "level": escalation.level,
        "trigger": escalation.trigger.value,
        "reason": escalation.reason.value,
        "explanation": escalation.explanation.as_record(),
        "priority_before": escalation.priority_before.value,
        "priority_after": escalation.priority_after.value,
        "actor": escalation.actor,
        "comment": escalation.comment,
        "required_skills": sorted(escalation.required_skills),
        "assignee_id": escalation.assignee_id,
        "previous_assignee_id": escalation.previous_assignee_id,
        "suggestion_id": escalation.suggestion_id,
        "previous_escalation_id": escalation.previous_escalation_id,
        "effects_state": escalation.effects_state.value,
        "effects_done": sorted(e.value for e in escalation.effects_done),
        "effects_error": escalation.effects_error,
        "create_time": escalation.create_time,
        "update_time": escalation.update_time,
        "assign_time": escalation.assign_time,
        "acknowledge_time": escalation.acknowledge_time,
        "end_time": escalation.end_time,
        "version": escalation.version,
    }


_OPEN = sorted(state.value for state in OPEN_STATES)


class Escalations(_Repository):
    async def add(self, escalation: Escalation, due: datetime | None) -> None:
        """Insert; ABORTED if the ticket already has an open escalation (the database's
        partial unique index decides, so racing replicas cannot both escalate)."""
        await self._insert_unique(
            escalations.insert().values(
                tenant_id=self._tenant,
                id=escalation.id,
                effects_attempts=0,
                effects_due_time=due,
                # Inside the decision's span (or the RPC's): the effects continue its trace.
                trace_context=current_traceparent(),
                **_escalation_values(escalation),
            ),
            Aborted("the ticket was escalated meanwhile"),
        )

    async def save(
        self, escalation: Escalation, *, due: datetime | None = None, attempts: int | None = None
    ) -> None:
        values = _escalation_values(escalation)
        values["effects_due_time"] = due
        if attempts is not None:
            values["effects_attempts"] = attempts
        await self._conn.execute(
            update(escalations)
            .where(escalations.c.tenant_id == self._tenant, escalations.c.id == escalation.id)
            .values(values)
        )

    async def get(self, escalation_id: str, *, for_update: bool = False) -> Escalation | None:
        query = select(escalations).where(
            escalations.c.tenant_id == self._tenant, escalations.c.id == escalation_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _escalation(row)

    async def attempts(self, escalation_id: str) -> int:
        value = await self._conn.scalar(
            select(escalations.c.effects_attempts).where(
                escalations.c.tenant_id == self._tenant, escalations.c.id == escalation_id
            )
        )
        return int(value or 0)

    async def open_for_ticket(
        self, ticket_id: str, *, for_update: bool = False
    ) -> Escalation | None:
        query = select(escalations).where(
            escalations.c.tenant_id == self._tenant,
            escalations.c.ticket_id == ticket_id,
            escalations.c.state.in_(_OPEN),
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _escalation(row)

    async def queued(self, limit: int) -> list[Escalation]:
        """Queued escalations, most urgent first, then oldest."""
        c = escalations.c
        urgency = case({p.value: p.rank for p in Priority}, value=c.priority_after, else_=0)
        rows = await self._conn.execute(
            select(escalations)
            .where(c.tenant_id == self._tenant, c.state == State.QUEUED.value)
            .order_by(urgency.desc(), c.create_time, c.id)
            .limit(limit)
        )
        return [_escalation(row) for row in rows]

    async def list(
        self,
        *,
        state: State | None,
        ticket_id: str,
        assignee_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Escalation]:
        c = escalations.c
        query = select(escalations).where(c.tenant_id == self._tenant)
        if state is not None:
            query = query.where(c.state == state.value)
        if ticket_id:
            query = query.where(c.ticket_id == ticket_id)
        if assignee_id:
            query = query.where(c.assignee_id == assignee_id)
        if after is not None:
            time, last_id = after
            query = query.where(
                or_(c.create_time < time, and_(c.create_time == time, c.id < last_id))
            )
        query = query.order_by(c.create_time.desc(), c.id.desc()).limit(limit)
        return [_escalation(row) for row in await self._conn.execute(query)]


async def claim_due_effects(
    conn: AsyncConnection, now: datetime, lease: timedelta, limit: int
) -> list[tuple[str, str, str]]:
    """(tenant, escalation id, trace context) of escalations whose effects are due, across
    tenants, leased for `lease` so another replica leaves them alone meanwhile."""
    c = escalations.c
    query = (
        select(c.tenant_id, c.id, c.trace_context)
        .where(c.effects_state == EffectsState.PENDING.value, c.effects_due_time <= now)
        .order_by(c.effects_due_time)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    claimed = [(row.tenant_id, row.id, row.trace_context) for row in await conn.execute(query)]
    if claimed:
        await conn.execute(
            update(escalations)
            .where(tuple_(c.tenant_id, c.id).in_([(tenant, id_) for tenant, id_, _ in claimed]))
            .values(effects_due_time=now + lease)
        )
    return claimed


def _suggestion(row: Row[Any]) -> Suggestion:
    return Suggestion(
        id=row.id,
        ticket_id=row.ticket_id,
        state=SuggestionState(row.state),
        trigger=Trigger(row.trigger),
        reason=Reason(row.reason),
        explanation=Explanation.from_record(row.explanation),
        priority=Priority(row.priority) if row.priority else None,
        escalation_id=row.escalation_id,
        decided_by=row.decided_by,
        decision_comment=row.decision_comment,
        create_time=row.create_time,
        decide_time=row.decide_time,
    )


class Suggestions(_Repository):
    def _values(self, suggestion: Suggestion) -> dict[str, Any]:
        return {
            "ticket_id": suggestion.ticket_id,
            "state": suggestion.state.value,
            "trigger": suggestion.trigger.value,
            "reason": suggestion.reason.value,
            "explanation": suggestion.explanation.as_record(),
            "priority": suggestion.priority.value if suggestion.priority else None,
            "escalation_id": suggestion.escalation_id,
            "decided_by": suggestion.decided_by,
            "decision_comment": suggestion.decision_comment,
            "create_time": suggestion.create_time,
            "decide_time": suggestion.decide_time,
        }

    async def add(self, suggestion: Suggestion) -> None:
        """Insert; ABORTED if the ticket already has a pending suggestion."""
        await self._insert_unique(
            suggestions.insert().values(
                tenant_id=self._tenant, id=suggestion.id, **self._values(suggestion)
            ),
            Aborted("the ticket already has a pending suggestion"),
        )

    async def save(self, suggestion: Suggestion) -> None:
        await self._conn.execute(
            update(suggestions)
            .where(suggestions.c.tenant_id == self._tenant, suggestions.c.id == suggestion.id)
            .values(self._values(suggestion))
        )

    async def get(self, suggestion_id: str, *, for_update: bool = False) -> Suggestion | None:
        query = select(suggestions).where(
            suggestions.c.tenant_id == self._tenant, suggestions.c.id == suggestion_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _suggestion(row)

    async def pending_for_ticket(self, ticket_id: str) -> Suggestion | None:
        row = (
            await self._conn.execute(
                select(suggestions).where(
                    suggestions.c.tenant_id == self._tenant,
                    suggestions.c.ticket_id == ticket_id,
                    suggestions.c.state == SuggestionState.PENDING.value,
                )
            )
        ).first()
        return None if row is None else _suggestion(row)

    async def list(
        self,
        *,
        state: SuggestionState | None,
        ticket_id: str,
        after: tuple[datetime, str] | None,
        limit: int,
    ) -> list[Suggestion]:
        c = suggestions.c
        query = select(suggestions).where(c.tenant_id == self._tenant)
        if state is not None:
            query = query.where(c.state == state.value)
        if ticket_id:
            query = query.where(c.ticket_id == ticket_id)
        if after is not None:
            time, last_id = after
            query = query.where(
                or_(c.create_time < time, and_(c.create_time == time, c.id < last_id))
            )
        query = query.order_by(c.create_time.desc(), c.id.desc()).limit(limit)
        return [_suggestion(row) for row in await self._conn.execute(query)]


class Cursors(_Repository):
    async def get(self, consumer: str) -> int:
        value = await self._conn.scalar(
            select(consumer_cursors.c.cursor).where(
                consumer_cursors.c.tenant_id == self._tenant,
                consumer_cursors.c.consumer == consumer,
            )
        )
        return int(value or 0)

    async def advance(self, consumer: str, expected: int, to: int, now: datetime) -> bool:
        """Compare-and-set: move from `expected` to `to`. False when another replica moved
        it first; the caller's transaction must then roll back, as its work is theirs."""
        if expected == 0:
            try:
                async with self._conn.begin_nested():
                    await self._conn.execute(
                        consumer_cursors.insert().values(
                            tenant_id=self._tenant, consumer=consumer, cursor=to, update_time=now
                        )
                    )
                return True
            except IntegrityError:
                pass  # the row exists: fall through to the compare-and-set
        result = await self._conn.execute(
            update(consumer_cursors)
            .where(
                consumer_cursors.c.tenant_id == self._tenant,
                consumer_cursors.c.consumer == consumer,
                consumer_cursors.c.cursor == expected,
            )
            .values(cursor=to, update_time=now)
        )
        return result.rowcount == 1


class RequestIds(_Repository):
    async def get(self, request_id: str) -> Row[Any] | None:
        return (
            await self._conn.execute(
                select(request_ids).where(
                    request_ids.c.tenant_id == self._tenant,
                    request_ids.c.request_id == request_id,
                )
            )
        ).first()

    async def add(
        self, request_id: str, method: str, fingerprint: str, resource: str, now: datetime
    ) -> None:
        await self._insert_unique(
            request_ids.insert().values(
                tenant_id=self._tenant,
                request_id=request_id,
                method=method,
                fingerprint=fingerprint,
                resource=resource,
                create_time=now,
            ),
            Aborted("a concurrent call with the same request_id won; repeat it to read its result"),
        )
