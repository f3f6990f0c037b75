"""Typed results of the Chatwoot REST API (Chatwoot 4.15; shapes in ../shared/chatwoot/api.md).

Frozen dataclasses holding only what the sync uses. Each `parse` reads one JSON object
through `parsing.Reader`: unknown keys are ignored, wrong types raise
`UnexpectedResponse`. Times are timezone-aware UTC datetimes, whatever the wire format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from typing import Any

from ticket_service.chatwoot.parsing import Reader
from ticket_service.domain.chatwoot import ChatwootStatus
from ticket_service.domain.model import Priority  # Chatwoot's four are our tickets' own

__all__ = [
    "Agent",
    "AgentRole",
    "AvailabilityStatus",
    "ChatwootStatus",
    "Contact",
    "ContactPage",
    "Conversation",
    "ConversationCounts",
    "ConversationPage",
    "Message",
    "MessageType",
    "Priority",
    "StatusChange",
    "Team",
]


class AvailabilityStatus(StrEnum):
    """An agent's presence. With `auto_offline` on, Chatwoot reports `offline` for anyone
    without a heartbeat in the last 20 s, whatever they chose."""

    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class AgentRole(StrEnum):
    AGENT = "agent"
    ADMINISTRATOR = "administrator"


class MessageType(IntEnum):
    """REST message JSON carries the integer (webhooks carry the name)."""

    INCOMING = 0
    OUTGOING = 1
    ACTIVITY = 2
    TEMPLATE = 3


@dataclass(frozen=True)
class Contact:
    """A contact: `meta.sender` of a conversation, or a contact search result."""

    id: int
    name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    identifier: str | None = None
    custom_attributes: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, data: Reader) -> Contact:
        return cls(
            id=data.integer("id"),
            name=data.opt_text("name"),
            email=data.opt_text("email"),
            phone_number=data.opt_text("phone_number"),
            identifier=data.opt_text("identifier"),
            custom_attributes=data.mapping("custom_attributes"),
        )


@dataclass(frozen=True)
class Agent:
    """An account user (`GET /agents`, or the answer to an assignment)."""

    id: int
    name: str
    email: str | None
    role: AgentRole | None
    availability_status: AvailabilityStatus
    auto_offline: bool = True
    confirmed: bool = True
    available_name: str | None = None

    @property
    def is_online(self) -> bool:
        return self.availability_status is AvailabilityStatus.ONLINE

    @classmethod
    def parse(cls, data: Reader) -> Agent:
        return cls(
            id=data.integer("id"),
            name=data.text("name"),
            email=data.opt_text("email"),
            role=data.opt_choice("role", AgentRole),
            availability_status=data.choice("availability_status", AvailabilityStatus),
            auto_offline=data.flag("auto_offline", default=True),
            confirmed=data.flag("confirmed", default=True),
            available_name=data.opt_text("available_name"),
        )


@dataclass(frozen=True)
class Team:
    id: int
    name: str

    @classmethod
    def parse(cls, data: Reader) -> Team:
        return cls(id=data.integer("id"), name=data.text("name"))


@dataclass(frozen=True)
class Conversation:
    """`GET /conversations/{id}` and the items of the conversation list.

    `id` is the display id, the number in Chatwoot's URLs and webhook payloads. Chatwoot
    puts the assignee and team only under `meta`; a bot holding the conversation gives
    `assignee_id` None and `assignee_bot_id` its id, since tickets go to agents only.
    """

    id: int
    account_id: int
    inbox_id: int
    status: ChatwootStatus
    priority: Priority | None
    snoozed_until: datetime | None
    assignee_id: int | None
    team_id: int | None
    labels: tuple[str, ...]
    custom_attributes: Mapping[str, Any]
    updated_at: datetime
    contact: Contact | None
    assignee_bot_id: int | None = None
    uuid: str | None = None

    @classmethod
    def parse(cls, data: Reader) -> Conversation:
        meta = data.opt_child("meta")
        sender = None if meta is None else meta.opt_child("sender")
        assignee = None if meta is None else meta.opt_child("assignee")
        team = None if meta is None else meta.opt_child("team")
        contact = None if sender is None else Contact.parse(sender)
        bot_assignee = meta is not None and meta.opt_text("assignee_type") == "AgentBot"
        assignee_id = None if assignee is None else assignee.integer("id")
        return cls(
            id=data.integer("id"),
            account_id=data.integer("account_id"),
            inbox_id=data.integer("inbox_id"),
            status=data.choice("status", ChatwootStatus),
            priority=data.opt_choice("priority", Priority),
            snoozed_until=data.opt_time("snoozed_until"),
            assignee_id=None if bot_assignee else assignee_id,
            team_id=None if team is None else team.integer("id"),
            labels=data.strings("labels"),
            custom_attributes=data.mapping("custom_attributes"),
            updated_at=data.time("updated_at"),
            contact=contact,
            assignee_bot_id=assignee_id if bot_assignee else None,
            uuid=data.opt_text("uuid"),
        )


@dataclass(frozen=True)
class ConversationCounts:
    """`meta` of a conversation list: counts over the whole filter, not this page."""

    mine: int
    assigned: int
    unassigned: int
    all: int

    @classmethod
    def parse(cls, data: Reader) -> ConversationCounts:
        return cls(
            mine=data.opt_integer("mine_count") or 0,
            assigned=data.opt_integer("assigned_count") or 0,
            unassigned=data.opt_integer("unassigned_count") or 0,
            all=data.opt_integer("all_count") or 0,
        )


@dataclass(frozen=True)
class ConversationPage:
    conversations: tuple[Conversation, ...]
    # None when Chatwoot sent no `meta`.
    counts: ConversationCounts | None
    page: int

    @classmethod
    def parse(cls, body: object, page: int) -> ConversationPage:
        data = Reader(body).child("data")
        meta = data.opt_child("meta")
        return cls(
            conversations=data.objects("payload", Conversation.parse),
            counts=None if meta is None else ConversationCounts.parse(meta),
            page=page,
        )


@dataclass(frozen=True)
class Message:
    """A message as the REST API returns it (`POST …/messages`)."""

    id: int
    conversation_id: int
    content: str | None
    message_type: MessageType
    private: bool
    content_type: str | None
    content_attributes: Mapping[str, Any]
    created_at: datetime
    source_id: str | None = None
    sender_id: int | None = None
    sender_type: str | None = None

    @classmethod
    def parse(cls, data: Reader) -> Message:
        sender = data.opt_child("sender")
        return cls(
            id=data.integer("id"),
            conversation_id=data.integer("conversation_id"),
            content=data.opt_text("content"),
            message_type=data.choice("message_type", MessageType),
            private=data.flag("private"),
            content_type=data.opt_text("content_type"),
            content_attributes=data.mapping("content_attributes"),
            created_at=data.time("created_at"),
            source_id=data.opt_text("source_id"),
            sender_id=None if sender is None else sender.opt_integer("id"),
            sender_type=None if sender is None else sender.opt_text("type"),
        )


@dataclass(frozen=True)
class StatusChange:
    """The answer to `toggle_status`. `success` is None on the bot-handoff path."""

    conversation_id: int
    current_status: ChatwootStatus
    snoozed_until: datetime | None
    success: bool | None

    @classmethod
    def parse(cls, body: object) -> StatusChange:
        data = Reader(body).child("payload")
        return cls(
            conversation_id=data.integer("conversation_id"),
            current_status=data.choice("current_status", ChatwootStatus),
            snoozed_until=data.opt_time("snoozed_until"),
            success=data.opt_flag("success"),
        )


@dataclass(frozen=True)
class ContactPage:
    """One page of `GET /contacts/search` (15 contacts a page)."""

    PAGE_SIZE = 15

    contacts: tuple[Contact, ...]
    page: int
    has_more: bool

    @classmethod
    def parse(cls, body: object, page: int) -> ContactPage:
        data = Reader(body)
        contacts = data.objects("payload", Contact.parse)
        meta = data.opt_child("meta")
        # Chatwoot 4.x says `has_more`; without it, a full page may have a successor.
        has_more = meta.opt_flag("has_more") if meta is not None else None
        return cls(
            contacts=contacts,
            page=page,
            has_more=len(contacts) >= cls.PAGE_SIZE if has_more is None else has_more,
        )
