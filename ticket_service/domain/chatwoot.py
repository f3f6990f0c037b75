"""What a Chatwoot conversation's state means for its ticket.

Chatwoot owns the conversation; the ticket follows it, with two rules that keep the sync
from flapping:
- A Chatwoot status maps onto a *set* of ticket statuses (`open` covers OPEN and
  IN_PROGRESS, `resolved` covers RESOLVED and CLOSED). A ticket already in the set stays
  as it is, so our finer statuses survive Chatwoot's coarser ones, and our own writes
  echoing back change nothing.
- A CLOSED ticket is final: Chatwoot can no longer move it. A new customer message on its
  conversation opens a follow-up ticket instead (see the service layer).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from ticket_service.domain.model import EventType, Priority, Status


class ChatwootStatus(StrEnum):
    OPEN = "open"
    PENDING = "pending"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


# Which ticket statuses each Chatwoot status covers; the first is where a ticket outside
# the set moves to. Snoozed covers every working status: snoozing pauses, it doesn't move.
COVERED_BY: dict[ChatwootStatus, tuple[Status, ...]] = {
    ChatwootStatus.OPEN: (Status.OPEN, Status.IN_PROGRESS),
    ChatwootStatus.PENDING: (Status.WAITING_ON_CUSTOMER,),
    ChatwootStatus.SNOOZED: (Status.OPEN, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER),
    ChatwootStatus.RESOLVED: (Status.RESOLVED, Status.CLOSED),
}

# The Chatwoot status that shows a ticket status, for writing back (and recognising the
# echo of what we wrote).
SHOWN_AS: dict[Status, ChatwootStatus] = {
    Status.OPEN: ChatwootStatus.OPEN,
    Status.IN_PROGRESS: ChatwootStatus.OPEN,
    Status.WAITING_ON_CUSTOMER: ChatwootStatus.PENDING,
    Status.RESOLVED: ChatwootStatus.RESOLVED,
    Status.CLOSED: ChatwootStatus.RESOLVED,
}


def echoes_of(change_type: EventType, after: dict[str, Any]) -> list[tuple[str, str]]:
    """The Chatwoot (attribute, value) pairs a change of ours will show up as."""
    if change_type is EventType.STATUS_CHANGED:
        return [("status", SHOWN_AS[Status(after["status"])].value)]
    if change_type is EventType.PRIORITY_CHANGED:
        return [("priority", after["priority"])]
    if change_type is EventType.ASSIGNEE_CHANGED:
        return [("assignee", after["assignee_id"])]
    return []


def status_following(current: Status, chatwoot: ChatwootStatus) -> Status | None:
    """The status a ticket moves to when its conversation is `chatwoot`; None to stay."""
    if current is Status.CLOSED:
        return None
    covered = COVERED_BY[chatwoot]
    return None if current in covered else covered[0]


class MessageDirection(StrEnum):
    INCOMING = "incoming"
    OUTGOING = "outgoing"
    TEMPLATE = "template"


class SenderType(StrEnum):
    CONTACT = "contact"
    USER = "user"
    AGENT_BOT = "agent_bot"
    CAPTAIN_ASSISTANT = "captain_assistant"
    SYSTEM = "system"


@dataclass(frozen=True)
class ChatwootContact:
    id: int
    name: str = ""
    email: str = ""
    phone_number: str = ""


@dataclass(frozen=True)
class ConversationState:
    """A conversation as one webhook payload saw it.

    `state_time_us` is Chatwoot's `updated_at` in microseconds: states are applied only in
    increasing order of it, so an old payload arriving late cannot undo a newer one.
    """

    account_id: int
    conversation_id: int
    state_time_us: int
    inbox_id: int = 0
    status: ChatwootStatus | None = None
    priority: Priority | None = None
    snoozed_until: datetime | None = None
    assignee_id: str = ""
    mail_subject: str = ""
    contact: ChatwootContact | None = None


@dataclass(frozen=True)
class ChatwootMessage:
    id: int
    direction: MessageDirection
    sender_type: SenderType
    create_time: datetime
    private: bool = False
    sender_id: int = 0
    sender_name: str = ""
    content: str = ""
    content_type: str = "text"
    attachment_count: int = 0
    deleted: bool = False
    ticketing_ref: str = ""

    @property
    def from_customer(self) -> bool:
        return self.direction is MessageDirection.INCOMING and not self.private

    def as_record(self) -> dict[str, object]:
        """The message in JSON form, for the MESSAGE_ADDED audit event."""
        return {
            "chatwoot_message_id": self.id,
            "direction": self.direction.value,
            "sender_type": self.sender_type.value,
            "sender_id": self.sender_id,
            "private": self.private,
            "content": self.content,
            "content_type": self.content_type,
            "attachment_count": self.attachment_count,
            "create_time": self.create_time.isoformat(),
        }
