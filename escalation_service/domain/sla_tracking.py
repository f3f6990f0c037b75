"""Which SLA moment a ticket event is, read off the ticket's view before and after it.

The consumer folds each event into the ticket's view; this names what the change means for
the ticket's clocks (`sla_clock.track`), or None when it means nothing to them.
"""

from __future__ import annotations

from escalation_service.domain.sla_clock import SlaEvent
from escalation_service.domain.tickets import EventType, TicketEvent, TicketView


def sla_event(event: TicketEvent, before: TicketView | None, after: TicketView) -> SlaEvent | None:
    """`before` is the view as it was (None when this event created it)."""
    if event.type is EventType.TICKET_CREATED:
        return SlaEvent.CREATED
    if before is None:
        return None
    if event.type is EventType.TICKET_DELETED:
        return SlaEvent.DELETED
    if event.type is EventType.MESSAGE_ADDED:
        return _message(event)
    if event.type is EventType.STATUS_CHANGED:
        if before.resolved != after.resolved:
            return SlaEvent.RESOLVED if after.resolved else SlaEvent.REOPENED
        return SlaEvent.PAUSED_CHANGED
    if event.type is EventType.SNOOZE_CHANGED:
        return SlaEvent.PAUSED_CHANGED
    if (before.priority, before.labels, before.inbox_id) != (
        after.priority,
        after.labels,
        after.inbox_id,
    ):
        return SlaEvent.RETARGETED
    return None


def _message(event: TicketEvent) -> SlaEvent | None:
    message = event.after
    if message.get("private"):
        return None
    if message.get("direction") == "incoming":
        return SlaEvent.CUSTOMER_MESSAGE
    if message.get("direction") == "outgoing" and message.get("sender_type") == "user":
        # Bots, templates and private notes answer nobody.
        return SlaEvent.AGENT_REPLY
    return None
