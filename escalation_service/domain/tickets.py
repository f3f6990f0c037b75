"""What the escalation service knows of tickets: events read from the ticket service's log,
and the view it keeps of each ticket from them (status, priority, assignee, labels, and how
many customer messages wait for an agent's reply)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from escalation_service.domain.policy import Priority

ACTIVE_STATUSES = frozenset({"open", "in_progress", "waiting_on_customer"})
# The ticket service names tickets by their number: `tickets/tkt-2026-00042`.
TICKET_NAME = re.compile(r"^tickets/(tkt-\d{4}-\d{5,12})$", re.IGNORECASE)


def ticket_key(name: str) -> str | None:
    """The key this service stores for a ticket name (its number, lower case), or None
    for something that is not a ticket name."""
    match = TICKET_NAME.match(name)
    return match.group(1).lower() if match else None


class EventType(StrEnum):
    """The ticket service's event types this service reads; others pass by."""

    TICKET_CREATED = "ticket_created"
    TICKET_UPDATED = "ticket_updated"
    STATUS_CHANGED = "status_changed"
    ASSIGNEE_CHANGED = "assignee_changed"
    PRIORITY_CHANGED = "priority_changed"
    TICKET_DELETED = "ticket_deleted"
    MESSAGE_ADDED = "message_added"
    SNOOZE_CHANGED = "snooze_changed"
    OTHER = "other"


@dataclass(frozen=True)
class TicketEvent:
    cursor: int
    type: EventType
    ticket_id: str
    actor: str
    after: Mapping[str, Any]
    create_time: datetime
    # The W3C traceparent of the change's request: acting on the event continues its trace.
    trace_parent: str = ""


@dataclass(frozen=True)
class CustomerMessage:
    text: str
    create_time: datetime


@dataclass
class TicketView:
    ticket_id: str
    status: str
    priority: Priority
    assignee_id: str
    labels: tuple[str, ...]
    update_time: datetime
    deleted: bool = False
    customer_streak: int = 0
    # What SLA policies match on and pause for.
    inbox_id: int = 0
    snoozed: bool = False
    # A person has publicly replied at some time (SLA's next response starts after one).
    replied: bool = False
    # The Chatwoot conversation's id; 0 when the ticket has none (or it is not known).
    conversation_id: int = 0
    # Not stored: set while applying an event, for the caller to act on.
    new_message: CustomerMessage | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return f"tickets/{self.ticket_id}"

    @property
    def active(self) -> bool:
        return not self.deleted and self.status in ACTIVE_STATUSES

    @property
    def resolved(self) -> bool:
        return self.status in ("resolved", "closed")

    @property
    def sla_paused(self) -> bool:
        """SLA clocks stand still while the ticket waits on the customer or is snoozed."""
        return self.status == "waiting_on_customer" or self.snoozed

    @property
    def workload_holder(self) -> str:
        """The agent this ticket counts against: its assignee while it is active."""
        return self.assignee_id if self.active else ""

    @classmethod
    def from_ticket(cls, record: Mapping[str, Any], now: datetime) -> TicketView:
        """From a whole ticket, as TICKET_CREATED's `after` (or GetTicket) holds it."""
        conversation = record.get("conversation") or {}
        return cls(
            ticket_id=ticket_key(str(record["name"])) or str(record["name"]),
            status=str(record["status"]),
            priority=Priority(record["priority"]),
            assignee_id=str(record.get("assignee_id") or ""),
            labels=tuple(record.get("labels") or ()),
            update_time=now,
            deleted=bool(record.get("delete_time")),
            inbox_id=int(conversation.get("inbox_id") or 0),
            snoozed=bool(record.get("snoozed")),
            conversation_id=int(conversation.get("conversation_id") or 0),
        )

    def apply(self, event: TicketEvent) -> None:
        """Fold one event into the view."""
        self.new_message = None
        after = event.after
        if event.type is EventType.STATUS_CHANGED and "status" in after:
            self.status = str(after["status"])
        elif event.type is EventType.ASSIGNEE_CHANGED and "assignee_id" in after:
            self.assignee_id = str(after["assignee_id"] or "")
        elif event.type is EventType.PRIORITY_CHANGED and "priority" in after:
            self.priority = Priority(after["priority"])
        elif event.type is EventType.TICKET_UPDATED and "labels" in after:
            self.labels = tuple(after["labels"] or ())
        elif event.type is EventType.TICKET_DELETED:
            self.deleted = True
        elif event.type is EventType.SNOOZE_CHANGED and "snoozed" in after:
            self.snoozed = bool(after["snoozed"])
        elif event.type is EventType.MESSAGE_ADDED:
            self._message(after, event.create_time)
        self.update_time = event.create_time

    def _message(self, message: Mapping[str, Any], when: datetime) -> None:
        if message.get("private"):
            return
        direction = message.get("direction")
        if direction == "incoming":
            self.customer_streak += 1
            self.new_message = CustomerMessage(str(message.get("content") or ""), when)
        elif direction == "outgoing" and message.get("sender_type") == "user":
            # Only a person's reply answers the customer; a bot's does not.
            self.customer_streak = 0
            self.replied = True
