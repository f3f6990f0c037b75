"""Tickets and customers, and the rules for changing them.

Every mutating method validates, applies the change, bumps `version` and returns a
`Change` describing it (the service layer writes it to the audit log in the same
transaction). A call that would change nothing returns None and leaves `version` alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Violations
from ticket_service.domain.numbering import TicketNumber

MAX_SUBJECT = 300
MAX_DESCRIPTION = 65_536
MAX_LABELS = 50
MAX_LABEL = 255
MAX_DISPLAY_NAME = 255
MAX_ASSIGNEE_ID = 255
MAX_NOTE = 10_000


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"


_WORKING = {Status.OPEN, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER}
ALLOWED_TRANSITIONS: dict[Status, frozenset[Status]] = {
    **{s: frozenset(_WORKING - {s} | {Status.RESOLVED, Status.CLOSED}) for s in _WORKING},
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class EventType(StrEnum):
    TICKET_CREATED = "ticket_created"
    TICKET_UPDATED = "ticket_updated"
    STATUS_CHANGED = "status_changed"
    ASSIGNEE_CHANGED = "assignee_changed"
    PRIORITY_CHANGED = "priority_changed"
    TICKET_DELETED = "ticket_deleted"
    CUSTOMER_CREATED = "customer_created"
    CUSTOMER_UPDATED = "customer_updated"
    MESSAGE_ADDED = "message_added"
    SNOOZE_CHANGED = "snooze_changed"
    NOTE_ADDED = "note_added"


@dataclass(frozen=True)
class Change:
    """What one mutation did, keyed by proto field names, values in JSON form."""

    type: EventType
    before: dict[str, Any]
    after: dict[str, Any]


class InvalidTransition(FailedPrecondition):
    reason = "INVALID_STATUS_TRANSITION"


class TicketDeleted(FailedPrecondition):
    reason = "TICKET_DELETED"


class TicketClosed(FailedPrecondition):
    """A closed ticket is final: no edits, no reassignment, no new priority."""

    reason = "TICKET_CLOSED"


class ConversationHasTicket(AlreadyExists):
    reason = "CONVERSATION_HAS_TICKET"

    def __init__(self, ticket_name: str = "") -> None:
        super().__init__(
            "a live ticket already links to this Chatwoot conversation", ticket=ticket_name
        )


class ContactTaken(AlreadyExists):
    reason = "CUSTOMER_CONTACT_TAKEN"

    def __init__(self) -> None:
        super().__init__(
            "another customer already has this email, phone number or Chatwoot contact id"
        )


@dataclass(frozen=True)
class ConversationLink:
    account_id: int
    conversation_id: int
    inbox_id: int = 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _from_iso(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _required_time(record: dict[str, Any], key: str) -> datetime:
    value = _from_iso(record[key])
    if value is None:
        raise ValueError(f"record has no {key}")
    return value


def clean_subject(subject: str, violations: Violations) -> str:
    subject = subject.strip()
    if not subject:
        violations.add("subject", "is required")
    elif len(subject) > MAX_SUBJECT:
        violations.add("subject", f"must be at most {MAX_SUBJECT} characters")
    return subject


def clean_description(description: str, violations: Violations) -> str:
    if len(description) > MAX_DESCRIPTION:
        violations.add("description", f"must be at most {MAX_DESCRIPTION} characters")
    return description


def clean_labels(labels: list[str] | tuple[str, ...], violations: Violations) -> tuple[str, ...]:
    cleaned = {label.strip() for label in labels}
    if "" in cleaned:
        violations.add("labels", "labels must not be empty")
    if any(len(label) > MAX_LABEL for label in cleaned):
        violations.add("labels", f"each label must be at most {MAX_LABEL} characters")
    if len(cleaned) > MAX_LABELS:
        violations.add("labels", f"at most {MAX_LABELS} labels")
    return tuple(sorted(cleaned - {""}))


@dataclass
class Ticket:
    id: str
    number: TicketNumber
    subject: str
    customer_id: str
    create_time: datetime
    update_time: datetime
    description: str = ""
    status: Status = Status.OPEN
    priority: Priority = Priority.MEDIUM
    assignee_id: str = ""
    conversation: ConversationLink | None = None
    labels: tuple[str, ...] = ()
    version: int = 1
    resolve_time: datetime | None = None
    close_time: datetime | None = None
    delete_time: datetime | None = None
    snoozed: bool = False
    snooze_end_time: datetime | None = None

    @property
    def name(self) -> str:
        return self.number.resource_name

    @property
    def is_live(self) -> bool:
        """Still linked for sync: not closed, not deleted."""
        return self.delete_time is None and self.status is not Status.CLOSED

    @property
    def customer_name(self) -> str:
        return f"customers/{self.customer_id}"

    @classmethod
    def open(
        cls,
        *,
        id: str,
        number: TicketNumber,
        subject: str,
        customer_id: str,
        now: datetime,
        description: str = "",
        priority: Priority = Priority.MEDIUM,
        conversation: ConversationLink | None = None,
        labels: tuple[str, ...] = (),
    ) -> tuple[Ticket, Change]:
        violations = Violations()
        ticket = cls(
            id=id,
            number=number,
            subject=clean_subject(subject, violations),
            description=clean_description(description, violations),
            priority=priority,
            customer_id=customer_id,
            conversation=conversation,
            labels=clean_labels(labels, violations),
            create_time=now,
            update_time=now,
        )
        violations.raise_if_any()
        return ticket, Change(EventType.TICKET_CREATED, {}, ticket.as_record())

    def _mutable(self, *, closed_ok: bool = False) -> None:
        if self.delete_time is not None:
            raise TicketDeleted(f"ticket {self.number} is deleted", number=str(self.number))
        if self.status is Status.CLOSED and not closed_ok:
            raise TicketClosed(f"ticket {self.number} is closed", number=str(self.number))

    def _changed(self, now: datetime, kind: EventType, before: dict[str, Any]) -> Change:
        """Finish a change: bump the version and describe exactly the fields that moved."""
        self.version += 1
        self.update_time = now
        after = self.as_record()
        moved = [key for key in before if before[key] != after[key]]
        return Change(kind, {k: before[k] for k in moved}, {k: after[k] for k in moved})

    def edit(
        self,
        now: datetime,
        *,
        subject: str | None = None,
        description: str | None = None,
        labels: list[str] | None = None,
    ) -> Change | None:
        self._mutable()
        violations = Violations()
        updates: dict[str, Any] = {}
        if subject is not None:
            updates["subject"] = clean_subject(subject, violations)
        if description is not None:
            updates["description"] = clean_description(description, violations)
        if labels is not None:
            updates["labels"] = clean_labels(labels, violations)
        violations.raise_if_any()
        updates = {k: v for k, v in updates.items() if getattr(self, k) != v}
        if not updates:
            return None
        before = {k: v for k, v in self.as_record().items() if k in updates}
        for key, value in updates.items():
            setattr(self, key, value)
        return self._changed(now, EventType.TICKET_UPDATED, before)

    def change_status(self, target: Status, now: datetime) -> Change | None:
        self._mutable(closed_ok=True)
        if target == self.status:
            return None
        if target not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidTransition(
                f"ticket {self.number} cannot go from {self.status.name} to {target.name}",
                current=self.status.name,
                requested=target.name,
            )
        return self._move(target, now)

    def follow_chatwoot(self, target: Status, now: datetime) -> Change | None:
        """Move to the status Chatwoot's conversation shows.

        Chatwoot's own transitions are looser than our API's (a resolved conversation can
        go straight to pending), and Chatwoot is where they happened: only deleted and
        closed tickets refuse.
        """
        self._mutable(closed_ok=True)
        if target == self.status or self.status is Status.CLOSED:
            return None
        return self._move(target, now)

    def _move(self, target: Status, now: datetime) -> Change:
        before = {
            k: v
            for k, v in self.as_record().items()
            if k in ("status", "resolve_time", "close_time")
        }
        self.status = target
        if target is Status.RESOLVED:
            self.resolve_time = now
        elif target is Status.CLOSED:
            self.close_time = now
        else:
            self.resolve_time = None
        return self._changed(now, EventType.STATUS_CHANGED, before)

    def reopen(self, now: datetime) -> Change | None:
        self._mutable(closed_ok=True)
        if self.status is Status.OPEN:
            return None
        if self.status is not Status.RESOLVED:
            raise InvalidTransition(
                f"only resolved tickets can be reopened; {self.number} is {self.status.name}",
                current=self.status.name,
                requested=Status.OPEN.name,
            )
        return self.change_status(Status.OPEN, now)

    def assign(self, assignee_id: str, now: datetime) -> Change | None:
        self._mutable()
        assignee_id = assignee_id.strip()
        if len(assignee_id) > MAX_ASSIGNEE_ID:
            raise InvalidArgument.single(
                "assignee_id", f"must be at most {MAX_ASSIGNEE_ID} characters"
            )
        if assignee_id == self.assignee_id:
            return None
        before = {"assignee_id": self.assignee_id}
        self.assignee_id = assignee_id
        return self._changed(now, EventType.ASSIGNEE_CHANGED, before)

    def snooze(self, snoozed: bool, until: datetime | None, now: datetime) -> Change | None:
        """Record Chatwoot's snooze; `until` None with `snoozed` means until the next reply."""
        self._mutable()
        until = until if snoozed else None
        if (snoozed, until) == (self.snoozed, self.snooze_end_time):
            return None
        before = {"snoozed": self.snoozed, "snooze_end_time": _iso(self.snooze_end_time)}
        self.snoozed, self.snooze_end_time = snoozed, until
        return self._changed(now, EventType.SNOOZE_CHANGED, before)

    def set_priority(self, priority: Priority, now: datetime) -> Change | None:
        self._mutable()
        if priority == self.priority:
            return None
        before = {"priority": self.priority.value}
        self.priority = priority
        return self._changed(now, EventType.PRIORITY_CHANGED, before)

    def add_note(self, note_id: str, body: str) -> Change:
        """An internal note: commentary on the ticket, which it leaves unchanged."""
        self._mutable(closed_ok=True)
        body = body.strip()
        if not body:
            raise InvalidArgument.single("body", "must not be empty")
        if len(body) > MAX_NOTE:
            raise InvalidArgument.single("body", f"must be at most {MAX_NOTE} characters")
        return Change(EventType.NOTE_ADDED, {}, {"note_id": note_id, "body": body})

    def delete(self, now: datetime) -> Change:
        self._mutable(closed_ok=True)
        before = {"delete_time": None}
        self.delete_time = now
        return self._changed(now, EventType.TICKET_DELETED, before)

    def as_record(self) -> dict[str, Any]:
        """The whole ticket in JSON form; the audit log and idempotent replays use it."""
        return {
            "name": self.name,
            "uid": self.id,
            "number": str(self.number),
            "subject": self.subject,
            "description": self.description,
            "status": self.status.value,
            "priority": self.priority.value,
            "customer": self.customer_name,
            "assignee_id": self.assignee_id,
            "conversation": (
                None
                if self.conversation is None
                else {
                    "account_id": self.conversation.account_id,
                    "conversation_id": self.conversation.conversation_id,
                    "inbox_id": self.conversation.inbox_id,
                }
            ),
            "labels": list(self.labels),
            "version": self.version,
            "create_time": _iso(self.create_time),
            "update_time": _iso(self.update_time),
            "resolve_time": _iso(self.resolve_time),
            "close_time": _iso(self.close_time),
            "delete_time": _iso(self.delete_time),
            "snoozed": self.snoozed,
            "snooze_end_time": _iso(self.snooze_end_time),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Ticket:
        conversation = record["conversation"]
        return cls(
            id=record["uid"],
            number=TicketNumber.parse(record["number"]),
            subject=record["subject"],
            description=record["description"],
            status=Status(record["status"]),
            priority=Priority(record["priority"]),
            customer_id=record["customer"].removeprefix("customers/"),
            assignee_id=record["assignee_id"],
            conversation=ConversationLink(**conversation) if conversation else None,
            labels=tuple(record["labels"]),
            version=record["version"],
            create_time=_required_time(record, "create_time"),
            update_time=_required_time(record, "update_time"),
            resolve_time=_from_iso(record["resolve_time"]),
            close_time=_from_iso(record["close_time"]),
            delete_time=_from_iso(record["delete_time"]),
            # Responses stored before snoozing existed lack these keys.
            snoozed=record.get("snoozed", False),
            snooze_end_time=_from_iso(record.get("snooze_end_time")),
        )


@dataclass(frozen=True)
class Contact:
    """Normalized identifiers a customer can be recognised by."""

    email: str | None = None
    phone_number: str | None = None
    chatwoot_contact_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.email or self.phone_number or self.chatwoot_contact_id)


@dataclass
class Customer:
    id: str
    create_time: datetime
    update_time: datetime
    display_name: str = ""
    contact: Contact = field(default_factory=Contact)
    version: int = 1

    @property
    def name(self) -> str:
        return f"customers/{self.id}"

    @classmethod
    def register(
        cls, *, id: str, display_name: str, contact: Contact, now: datetime
    ) -> tuple[Customer, Change]:
        if contact.is_empty:
            raise InvalidArgument.single(
                "email", "a customer needs an email, a phone number or a Chatwoot contact id"
            )
        customer = cls(
            id=id,
            display_name=_clean_display_name(display_name),
            contact=contact,
            create_time=now,
            update_time=now,
        )
        return customer, Change(EventType.CUSTOMER_CREATED, {}, customer.as_record())

    def update(
        self, now: datetime, *, display_name: str | None = None, contact: Contact | None = None
    ) -> Change | None:
        new_name = self.display_name if display_name is None else _clean_display_name(display_name)
        new_contact = self.contact if contact is None else contact
        if new_contact.is_empty:
            raise InvalidArgument.single(
                "email", "a customer needs an email, a phone number or a Chatwoot contact id"
            )
        if new_name == self.display_name and new_contact == self.contact:
            return None
        old = self.as_record()
        self.display_name, self.contact = new_name, new_contact
        self.version += 1
        self.update_time = now
        new = self.as_record()
        changed = [
            k
            for k in ("display_name", "email", "phone_number", "chatwoot_contact_id")
            if old[k] != new[k]
        ]
        return Change(
            EventType.CUSTOMER_UPDATED, {k: old[k] for k in changed}, {k: new[k] for k in changed}
        )

    def fill_in(self, contact: Contact, now: datetime) -> Change | None:
        """Add identifiers the customer lacks; never overwrite ones it has."""
        merged = replace(
            self.contact,
            email=self.contact.email or contact.email,
            phone_number=self.contact.phone_number or contact.phone_number,
            chatwoot_contact_id=self.contact.chatwoot_contact_id or contact.chatwoot_contact_id,
        )
        return self.update(now, contact=merged)

    def as_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "email": self.contact.email or "",
            "phone_number": self.contact.phone_number or "",
            "chatwoot_contact_id": self.contact.chatwoot_contact_id or 0,
            "version": self.version,
            "create_time": _iso(self.create_time),
            "update_time": _iso(self.update_time),
        }

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Customer:
        return cls(
            id=record["name"].removeprefix("customers/"),
            display_name=record["display_name"],
            contact=Contact(
                email=record["email"] or None,
                phone_number=record["phone_number"] or None,
                chatwoot_contact_id=record["chatwoot_contact_id"] or None,
            ),
            version=record["version"],
            create_time=_required_time(record, "create_time"),
            update_time=_required_time(record, "update_time"),
        )


def _clean_display_name(display_name: str) -> str:
    display_name = display_name.strip()
    if len(display_name) > MAX_DISPLAY_NAME:
        raise InvalidArgument.single(
            "display_name", f"must be at most {MAX_DISPLAY_NAME} characters"
        )
    return display_name
