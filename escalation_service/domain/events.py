"""The escalation service's own event log: one entry per change of an escalation's state,
a suggestion's, an SLA firing and an agent's availability, written in the transaction of
the change. Values match the proto enum's suffixes in lower case."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from escalation_service.domain.agents import Agent
from escalation_service.domain.escalation import Escalation, State, Suggestion, SuggestionState
from escalation_service.domain.sla_clock import Fired, FireKind


class EventType(StrEnum):
    ESCALATION_CREATED = "escalation_created"
    ESCALATION_ASSIGNED = "escalation_assigned"
    ESCALATION_ACKNOWLEDGED = "escalation_acknowledged"
    ESCALATION_RESOLVED = "escalation_resolved"
    ESCALATION_CANCELLED = "escalation_cancelled"
    ESCALATION_SUPERSEDED = "escalation_superseded"
    SUGGESTION_CREATED = "suggestion_created"
    SUGGESTION_ACCEPTED = "suggestion_accepted"
    SUGGESTION_REJECTED = "suggestion_rejected"
    SLA_WARNING = "sla_warning"
    SLA_BREACH = "sla_breach"
    SLA_LEVEL = "sla_level"
    AGENT_AVAILABILITY_CHANGED = "agent_availability_changed"


# The event an escalation's move into each state writes. A new escalation writes CREATED
# (queued); one that finds an agent at once writes ASSIGNED after it, in the same commit.
_ESCALATION_MOVES = {
    State.QUEUED: EventType.ESCALATION_CREATED,
    State.ASSIGNED: EventType.ESCALATION_ASSIGNED,
    State.ACKNOWLEDGED: EventType.ESCALATION_ACKNOWLEDGED,
    State.RESOLVED: EventType.ESCALATION_RESOLVED,
    State.CANCELLED: EventType.ESCALATION_CANCELLED,
    State.SUPERSEDED: EventType.ESCALATION_SUPERSEDED,
}
_SUGGESTION_MOVES = {
    SuggestionState.PENDING: EventType.SUGGESTION_CREATED,
    SuggestionState.ACCEPTED: EventType.SUGGESTION_ACCEPTED,
    SuggestionState.REJECTED: EventType.SUGGESTION_REJECTED,
}
_FIRINGS = {
    FireKind.WARNING: EventType.SLA_WARNING,
    FireKind.BREACH: EventType.SLA_BREACH,
    FireKind.LEVEL: EventType.SLA_LEVEL,
}


@dataclass(frozen=True)
class PendingEvent:
    """An event recorded by a unit of work; it gets its cursor when the unit commits. The
    conversation id is filled in then, from the ticket's view."""

    type: EventType
    create_time: datetime
    ticket_id: str = ""
    escalation_id: str = ""
    suggestion_id: str = ""
    agent_id: str = ""
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredEvent(PendingEvent):
    cursor: int = 0
    conversation_id: int | None = None


def escalation_event(escalation: Escalation, when: datetime) -> PendingEvent:
    """The event of `escalation` having just moved into its current state."""
    payload: dict[str, Any] = {
        "state": escalation.state.value,
        "level": escalation.level,
        "trigger": escalation.trigger.value,
        "reason": escalation.reason.value,
        "rule": escalation.explanation.rule,
        "priority_before": escalation.priority_before.value,
        "priority_after": escalation.priority_after.value,
        "assignee_id": escalation.assignee_id,
        "actor": escalation.actor,
    }
    if escalation.previous_escalation_id:
        payload["previous_escalation"] = f"escalations/{escalation.previous_escalation_id}"
    if escalation.suggestion_id:
        payload["suggestion"] = f"suggestions/{escalation.suggestion_id}"
    if escalation.previous_assignee_id:
        payload["previous_assignee_id"] = escalation.previous_assignee_id
    if escalation.effects_error:
        payload["effects_error"] = escalation.effects_error
    return PendingEvent(
        type=_ESCALATION_MOVES[escalation.state],
        create_time=when,
        ticket_id=escalation.ticket_id,
        escalation_id=escalation.id,
        suggestion_id=escalation.suggestion_id,
        payload=payload,
    )


def suggestion_event(suggestion: Suggestion, when: datetime) -> PendingEvent:
    payload: dict[str, Any] = {
        "state": suggestion.state.value,
        "trigger": suggestion.trigger.value,
        "reason": suggestion.reason.value,
        "rule": suggestion.explanation.rule,
        "priority": suggestion.priority.value if suggestion.priority else None,
    }
    if suggestion.decided_by:
        payload["decided_by"] = suggestion.decided_by
        payload["comment"] = suggestion.decision_comment
    return PendingEvent(
        type=_SUGGESTION_MOVES[suggestion.state],
        create_time=when,
        ticket_id=suggestion.ticket_id,
        escalation_id=suggestion.escalation_id,
        suggestion_id=suggestion.id,
        payload=payload,
    )


def sla_fired_event(fired: Fired, escalation_id: str, when: datetime) -> PendingEvent:
    return PendingEvent(
        type=_FIRINGS[fired.kind],
        create_time=when,
        ticket_id=fired.ticket_id,
        escalation_id=escalation_id,
        payload={
            "metric": fired.metric.value,
            "level": fired.level,
            "due_time": fired.due_time.isoformat(),
        },
    )


def availability_event(before: Agent | None, after: Agent, when: datetime) -> PendingEvent | None:
    """The event of an agent's availability change; None when it did not change."""
    previous = before.availability if before is not None else None
    if previous is after.availability:
        return None
    return PendingEvent(
        type=EventType.AGENT_AVAILABILITY_CHANGED,
        create_time=when,
        agent_id=after.agent_id,
        payload={
            "availability": after.availability.value,
            "previous_availability": previous.value if previous else None,
        },
    )
