"""Which SLA moment each ticket event is."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from escalation_service.domain.policy import Priority
from escalation_service.domain.sla_clock import SlaEvent
from escalation_service.domain.sla_tracking import sla_event
from escalation_service.domain.tickets import EventType, TicketEvent, TicketView

NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
VIEW = TicketView("tkt-2026-00001", "open", Priority.MEDIUM, "", (), NOW, inbox_id=7)


def event(kind: EventType, after: dict[str, Any] | None = None) -> TicketEvent:
    return TicketEvent(1, kind, VIEW.ticket_id, "someone", after or {}, NOW)


def moved(kind: EventType, after: dict[str, Any]) -> SlaEvent | None:
    """The SLA moment of `kind`, folded into VIEW the way the consumer folds it."""
    view = replace(VIEW)
    view.apply(event(kind, after))
    return sla_event(event(kind, after), VIEW, view)


def test_a_new_ticket_starts_its_clocks() -> None:
    assert sla_event(event(EventType.TICKET_CREATED), None, VIEW) is SlaEvent.CREATED


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"direction": "incoming", "sender_type": "contact"}, SlaEvent.CUSTOMER_MESSAGE),
        ({"direction": "outgoing", "sender_type": "user"}, SlaEvent.AGENT_REPLY),
        ({"direction": "outgoing", "sender_type": "agent_bot"}, None),
        ({"direction": "outgoing", "sender_type": "captain_assistant"}, None),
        ({"direction": "template", "sender_type": "user"}, None),
        ({"direction": "outgoing", "sender_type": "user", "private": True}, None),
        ({"direction": "incoming", "sender_type": "contact", "private": True}, None),
    ],
)
def test_only_people_reply_and_only_public_messages_count(
    message: dict[str, Any], expected: SlaEvent | None
) -> None:
    assert moved(EventType.MESSAGE_ADDED, message) is expected


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("resolved", SlaEvent.RESOLVED),
        ("closed", SlaEvent.RESOLVED),
        ("waiting_on_customer", SlaEvent.PAUSED_CHANGED),
        ("in_progress", SlaEvent.PAUSED_CHANGED),
    ],
)
def test_status_changes(status: str, expected: SlaEvent) -> None:
    assert moved(EventType.STATUS_CHANGED, {"status": status}) is expected


def test_a_resolved_ticket_that_opens_again_is_reopened() -> None:
    resolved = replace(VIEW, status="resolved")
    view = replace(resolved, status="open")
    assert sla_event(event(EventType.STATUS_CHANGED), resolved, view) is SlaEvent.REOPENED


def test_snoozing_pauses_and_what_policies_match_on_retargets() -> None:
    assert moved(EventType.SNOOZE_CHANGED, {"snoozed": True}) is SlaEvent.PAUSED_CHANGED
    assert moved(EventType.PRIORITY_CHANGED, {"priority": "urgent"}) is SlaEvent.RETARGETED
    assert moved(EventType.TICKET_UPDATED, {"labels": ["vip"]}) is SlaEvent.RETARGETED
    assert moved(EventType.TICKET_UPDATED, {"subject": "x"}) is None
    assert moved(EventType.ASSIGNEE_CHANGED, {"assignee_id": "7"}) is None
    assert moved(EventType.TICKET_DELETED, {}) is SlaEvent.DELETED


def test_a_view_tracks_snoozes_and_replies() -> None:
    view = replace(VIEW)
    view.apply(event(EventType.SNOOZE_CHANGED, {"snoozed": True}))
    assert view.sla_paused
    view.apply(event(EventType.MESSAGE_ADDED, {"direction": "outgoing", "sender_type": "user"}))
    assert view.replied
