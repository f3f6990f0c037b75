"""What our ticket changes owe Chatwoot, and the life of one such task in the outbox.

A task is written in the same transaction as the ticket change, so a change Chatwoot must
see can't be lost between the commit and the HTTP call. A dispatcher then delivers the
tasks of each conversation one at a time, oldest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from common.backoff import Backoff
from common.errors import FailedPrecondition
from ticket_service.domain.chatwoot import SHOWN_AS
from ticket_service.domain.model import Change, EventType, Status

# How long a webhook echoing a value we wrote to Chatwoot is expected (see EchoRegistry).
ECHO_WINDOW = timedelta(minutes=10)


class SyncKind(StrEnum):
    STATUS = "status"
    PRIORITY = "priority"
    ASSIGNEE = "assignee"
    PRIVATE_NOTE = "private_note"
    LABELS = "labels"

    @property
    def is_state(self) -> bool:
        """A state kind sets a value; a newer task of the same kind makes an older moot."""
        return self is not SyncKind.PRIVATE_NOTE


class SyncState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"
    SUPERSEDED = "superseded"


@dataclass(frozen=True)
class SyncCommand:
    """One thing to tell Chatwoot: a kind and its values, as Chatwoot's API takes them."""

    kind: SyncKind
    payload: dict[str, Any]


@dataclass
class SyncTask:
    """One command in the outbox, on its way to one conversation."""

    id: int
    tenant_id: str
    integration: str
    account_id: int
    conversation_id: int
    ticket_id: str | None
    ticket_number: str | None
    kind: SyncKind
    payload: dict[str, Any]
    state: SyncState
    attempts: int
    last_error: str
    create_time: datetime
    next_attempt_time: datetime
    deliver_time: datetime | None = None
    # The W3C traceparent of the change that queued it: its delivery continues that trace.
    trace_context: str = ""

    @property
    def name(self) -> str:
        return f"chatwootSyncTasks/{self.id}"

    def retry(self, now: datetime) -> None:
        """Queue a dead letter again (the caller checked it is not superseded)."""
        if self.state is not SyncState.DEAD:
            raise FailedPrecondition(
                f"{self.name} is {self.state.value}; only dead tasks are retried",
                reason="SYNC_TASK_NOT_DEAD",
            )
        self.state, self.attempts, self.next_attempt_time = SyncState.PENDING, 0, now

    def supersede(self) -> None:
        self.state = SyncState.SUPERSEDED

    def delivered(self, now: datetime) -> None:
        self.state, self.deliver_time, self.last_error = SyncState.DELIVERED, now, ""

    def failed(self, error: str, *, retry_at: datetime | None) -> None:
        """A failed attempt: retried at `retry_at`, or, without one, a dead letter."""
        self.last_error = error[:2000]
        if retry_at is None:
            self.state = SyncState.DEAD
        else:
            self.next_attempt_time = retry_at

    def echoes(self) -> list[tuple[str, str]]:
        """The (attribute, value) pairs Chatwoot's webhooks will show once this lands."""
        if self.kind is SyncKind.STATUS:
            return [("status", self.payload["status"])]
        if self.kind is SyncKind.PRIORITY:
            return [("priority", self.payload["priority"] or "")]
        if self.kind is SyncKind.ASSIGNEE:
            agent = self.payload["assignee_id"]
            return [("assignee", "" if agent is None else str(agent))]
        return []


def commands_for(change: Change) -> list[SyncCommand]:
    """The Chatwoot commands a ticket change needs; none for a change Chatwoot can't show."""
    before, after = change.before, change.after
    if change.type is EventType.STATUS_CHANGED:
        shown = SHOWN_AS[Status(after["status"])]
        if "status" in before and SHOWN_AS[Status(before["status"])] is shown:
            return []  # OPEN <-> IN_PROGRESS: both are `open` in Chatwoot
        return [SyncCommand(SyncKind.STATUS, {"status": shown.value})]
    if change.type is EventType.PRIORITY_CHANGED:
        return [SyncCommand(SyncKind.PRIORITY, {"priority": after["priority"]})]
    if change.type is EventType.ASSIGNEE_CHANGED:
        agent = chatwoot_agent_id(after["assignee_id"])
        if agent is None and after["assignee_id"]:
            return []  # not a Chatwoot agent: nobody to assign there
        return [SyncCommand(SyncKind.ASSIGNEE, {"assignee_id": agent})]
    if change.type is EventType.TICKET_UPDATED and "labels" in after:
        # Chatwoot keeps labels in lower case.
        old = {label.lower() for label in before.get("labels", [])}
        new = {label.lower() for label in after["labels"]}
        added, removed = sorted(new - old), sorted(old - new)
        if added or removed:
            return [SyncCommand(SyncKind.LABELS, {"add": added, "remove": removed})]
    if change.type is EventType.NOTE_ADDED:
        return [
            SyncCommand(
                SyncKind.PRIVATE_NOTE,
                {"content": after["body"], "ticketing_ref": f"note:{after['note_id']}"},
            )
        ]
    return []


def chatwoot_agent_id(assignee_id: str) -> int | None:
    """Our assignee ids for Chatwoot agents are their Chatwoot user ids."""
    return int(assignee_id) if assignee_id.isdigit() else None


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter, and when to give up on a Chatwoot that stays down."""

    initial: timedelta = timedelta(seconds=1)
    maximum: timedelta = timedelta(minutes=5)
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int, *, at_least: timedelta = timedelta(0)) -> timedelta:
        """The wait after `attempts` failed attempts: the backoff step with "equal jitter"
        (between half and all of it), so replicas retrying together spread out."""
        backoff = Backoff(self.initial.total_seconds(), self.maximum.total_seconds())
        return max(timedelta(seconds=backoff.delay(attempts)), at_least)

    def gives_up(self, create_time: datetime, now: datetime) -> bool:
        return now - create_time >= self.give_up_after
