"""Reads each tenant's ticket event log from a durable cursor and acts on it.

Each event is applied in its own transaction, together with the cursor's move (a
compare-and-set), so a restart resumes right after the last applied event and two replicas
never apply one event twice: the one whose compare-and-set fails rolls back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import structlog

from common.clock import Clock
from common.logging import log_context
from common.tracing import continued_span, tracer
from escalation_service.domain.events import escalation_event
from escalation_service.domain.policy import Policy
from escalation_service.domain.sentiment import SentimentReading
from escalation_service.domain.sla_tracking import sla_event
from escalation_service.domain.tickets import EventType, TicketEvent, TicketView
from escalation_service.service.escalations import EscalationService
from escalation_service.service.ports import Tickets, TicketServiceError
from escalation_service.service.sla_clocks import SlaTracker
from escalation_service.service.unit_of_work import UnitOfWork

log = structlog.get_logger("escalation_service.consumer")

CONSUMER = "escalation"
# An event is stamped when its change starts and gets its cursor when it commits a few
# milliseconds later: a log read at T is taken as complete only up to T minus this.
LOG_SETTLE = timedelta(seconds=1)


class EventConsumer:
    def __init__(
        self,
        service: EscalationService,
        sla: SlaTracker,
        tickets: Tickets,
        tenant_ids: Sequence[str],
        clock: Clock,
        *,
        page_size: int = 200,
    ) -> None:
        self._service = service
        self._sla = sla
        self._tickets = tickets
        self._tenants = tuple(tenant_ids)
        self._clock = clock
        self._page_size = page_size
        self._caught_up: dict[str, datetime] = {}

    async def poll_all(self) -> int:
        """One pass over every tenant; returns the events applied."""
        counts = await asyncio.gather(*(self._poll_logged(t) for t in self._tenants))
        return sum(counts)

    async def _poll_logged(self, tenant_id: str) -> int:
        try:
            return await self.poll(tenant_id)
        except TicketServiceError as error:
            log.warning("event_log_unreachable", tenant=tenant_id, error=str(error))
            return 0

    async def poll(self, tenant_id: str) -> int:
        """Apply every event after the tenant's cursor, one page at a time."""
        applied = 0
        while True:
            async with self._service.unit_of_work(tenant_id) as uow:
                cursor = await uow.cursors.get(CONSUMER)
            read_time = self._clock.now()
            events, head = await self._tickets.list_events(tenant_id, cursor, self._page_size)
            for event in events:
                if not await self._apply(tenant_id, cursor, event):
                    return applied  # another replica is ahead; leave the rest to it
                cursor = event.cursor
                applied += 1
            if not events or cursor >= head:
                self._caught_up[tenant_id] = read_time - LOG_SETTLE
                return applied

    def caught_up(self, tenant_id: str) -> datetime | None:
        """Every ticket event of the tenant that happened before this time has been applied
        (by this replica or another); None until this replica has seen the log's head.

        The SLA scheduler fires no clock due after it: a reply that met a clock but is not
        yet applied (the consumer lagging, or catching up after a restart) must stop the
        clock before the scheduler can call it a breach."""
        return self._caught_up.get(tenant_id)

    async def _apply(self, tenant_id: str, cursor: int, event: TicketEvent) -> bool:
        # A child of the request that made the change: one trace from a Chatwoot webhook
        # (or an API call) to what this service decides about it.
        with (
            continued_span(
                "ticket_event",
                event.trace_parent,
                {"ticket_event.cursor": event.cursor, "ticket_event.type": event.type.value},
            ),
            log_context(tenant=tenant_id, cursor=event.cursor),
        ):
            return await self._apply_traced(tenant_id, cursor, event)

    async def _apply_traced(self, tenant_id: str, cursor: int, event: TicketEvent) -> bool:
        policy: Policy | None = None
        reading: SentimentReading | None = None
        text = _customer_text(event)
        if text is not None:
            policy = await self._service.policy(tenant_id)
            reading = await self._service.read_text(tenant_id, policy, text)
        freed = False
        async with self._service.unit_of_work(tenant_id) as uow:
            if not await uow.cursors.advance(CONSUMER, cursor, event.cursor, self._clock.now()):
                return False
            before, view = await self._project(uow, event)
            if view is not None:
                sla = sla_event(event, before, view)
                if sla is not None:
                    await self._sla.on_ticket_event(uow, view, sla, event.create_time)
                freed = await self._after_change(uow, view, event)
                if view.new_message is not None and policy is not None:
                    # The version that read the text decides too, and the explanation
                    # names it.
                    with tracer().start_as_current_span("escalation_decision") as span:
                        outcome = await self._service.on_customer_message(
                            uow, policy, view, reading, view.new_message.text
                        )
                        span.set_attribute("escalation.escalate", outcome.decision.escalate)
                        span.set_attribute("escalation.rule", outcome.decision.explanation.rule)
                    if outcome.decision.escalate:
                        log.info(
                            "message_decision",
                            tenant=tenant_id,
                            ticket=view.ticket_id,
                            cursor=event.cursor,
                            rule=outcome.decision.explanation.rule,
                            escalation=outcome.escalation.id if outcome.escalation else None,
                            suggestion=outcome.suggestion.id if outcome.suggestion else None,
                        )
            await uow.commit()
        if freed:
            await self._service.assign_queued(tenant_id)
        return True

    async def _project(
        self, uow: UnitOfWork, event: TicketEvent
    ) -> tuple[TicketView | None, TicketView | None]:
        """Fold the event into the ticket's view, moving workload between agents as the
        ticket's holder changes. Returns the view as it was (None when this event made it)
        and as it is (None for events about no ticket, or one this service never saw)."""
        if not event.ticket_id or event.type is EventType.OTHER:
            return None, None
        view = await uow.tickets.get(event.ticket_id, for_update=True)
        if event.type is EventType.TICKET_CREATED:
            if view is not None:
                return None, view  # already known, from a GetTicket snapshot
            view = TicketView.from_ticket(event.after, event.create_time)
            if not await uow.tickets.add(view):
                # A GetTicket snapshot got there first: use it, locked.
                return None, await uow.tickets.get(event.ticket_id, for_update=True)
            if view.active:
                await uow.agents.add_workload(view.assignee_id, +1)
            return None, view
        if view is None:
            return None, None  # created before this service's log begins; nothing to count
        before = replace(view)
        holder = view.workload_holder
        view.apply(event)
        if view.workload_holder != holder:
            await uow.agents.add_workload(holder, -1)
            await uow.agents.add_workload(view.workload_holder, +1)
        await uow.tickets.save(view)
        return before, view

    async def _after_change(self, uow: UnitOfWork, view: TicketView, event: TicketEvent) -> bool:
        """Close the open escalation of a ticket that was resolved, closed or deleted.
        Returns whether an agent may have freed capacity."""
        freed = event.type in (
            EventType.STATUS_CHANGED,
            EventType.ASSIGNEE_CHANGED,
            EventType.TICKET_DELETED,
        )
        if view.active:
            return freed
        escalation = await uow.escalations.open_for_ticket(view.ticket_id, for_update=True)
        if escalation is not None:
            now = self._clock.now()
            if view.deleted:
                escalation.cancel(now)
            else:
                escalation.resolve(now)
            await uow.escalations.save(escalation)
            uow.record(escalation_event(escalation, now))
            log.info(
                "escalation_closed_with_ticket",
                tenant=uow.tenant_id,
                escalation=escalation.id,
                state=escalation.state.value,
            )
        return freed


def _customer_text(event: TicketEvent) -> str | None:
    """The text of a public customer message, which gets read for a decision."""
    if event.type is not EventType.MESSAGE_ADDED:
        return None
    after = event.after
    if after.get("private") or after.get("direction") != "incoming":
        return None
    return str(after.get("content") or "")
