"""The simulator's data: what a Chatwoot installation stores, reduced to what we read and write.

Conversations are addressed by (account id, display id), the `{conversation_id}` of the REST
API; display ids run 1, 2, 3, ... per account. Contact, message, user, bot and team ids are
global, as in Chatwoot's database. Times are Unix seconds (float); the shapes module writes
them the way each Chatwoot view does (int, float or ISO text).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["open", "resolved", "pending", "snoozed"]
Priority = Literal["low", "medium", "high", "urgent"]
Role = Literal["agent", "administrator"]
Availability = Literal["online", "busy", "offline"]
AuthorKind = Literal["contact", "user", "agent_bot"]

STATUSES: tuple[Status, ...] = ("open", "resolved", "pending", "snoozed")
PRIORITIES: tuple[Priority, ...] = ("low", "medium", "high", "urgent")
ROLES: tuple[Role, ...] = ("agent", "administrator")
AVAILABILITIES: tuple[Availability, ...] = ("online", "busy", "offline")

# Message `message_type`, as the database (and every REST view) stores it.
INCOMING, OUTGOING, ACTIVITY, TEMPLATE = 0, 1, 2, 3
MESSAGE_TYPES = {"incoming": INCOMING, "outgoing": OUTGOING, "template": TEMPLATE}
MESSAGE_TYPE_NAMES = {
    INCOMING: "incoming",
    OUTGOING: "outgoing",
    ACTIVITY: "activity",
    TEMPLATE: "template",
}


class NotFound(Exception):
    """Chatwoot's `ActiveRecord::RecordNotFound`: a 404 "Resource could not be found"."""


@dataclass
class Account:
    id: int
    name: str
    next_display_id: int = 1


@dataclass
class Inbox:
    id: int
    account_id: int
    name: str
    channel_type: str = "Channel::Api"


@dataclass
class Agent:
    """A user who is a member of every simulated account."""

    id: int
    name: str
    email: str
    role: Role = "agent"
    availability_status: Availability = "online"
    auto_offline: bool = True


@dataclass
class AgentBot:
    id: int
    name: str
    description: str = ""
    outgoing_url: str | None = None


@dataclass
class Team:
    id: int
    account_id: int
    name: str
    description: str = ""
    allow_auto_assign: bool = True
    member_ids: set[int] = field(default_factory=set)


@dataclass
class Contact:
    id: int
    account_id: int
    name: str
    email: str | None = None
    phone_number: str | None = None
    identifier: str | None = None
    blocked: bool = False
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_activity_at: float | None = None


@dataclass(frozen=True)
class Author:
    """Who wrote a message or holds a conversation: a contact, a user or an agent bot."""

    kind: AuthorKind
    id: int


@dataclass
class Message:
    id: int
    account_id: int
    inbox_id: int
    conversation_id: int  # the display id
    content: str | None
    message_type: int
    sender: Author | None
    private: bool = False
    content_type: str = "text"
    content_attributes: dict[str, Any] = field(default_factory=dict)
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    status: str = "sent"
    source_id: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)


@dataclass
class Conversation:
    account_id: int
    display_id: int
    inbox_id: int
    contact_id: int
    contact_inbox_id: int
    source_id: str
    status: Status = "open"
    priority: Priority | None = None
    snoozed_until: float | None = None
    # A user (agent) or an agent bot; Chatwoot keeps them in two columns, at most one is set.
    assignee: Author | None = None
    team_id: int | None = None
    labels: list[str] = field(default_factory=list)
    custom_attributes: dict[str, Any] = field(default_factory=dict)
    additional_attributes: dict[str, Any] = field(default_factory=dict)
    messages: list[Message] = field(default_factory=list)
    uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    last_activity_at: float = field(default_factory=time.time)
    waiting_since: float | None = None
    first_reply_created_at: float | None = None
    agent_last_seen_at: float | None = None
    contact_last_seen_at: float | None = None
    # `conversation_participants`: users who follow the conversation (a mention adds one).
    participant_ids: set[int] = field(default_factory=set)

    @property
    def assignee_user_id(self) -> int | None:
        return self.assignee.id if self.assignee and self.assignee.kind == "user" else None

    @property
    def assignee_bot_id(self) -> int | None:
        return self.assignee.id if self.assignee and self.assignee.kind == "agent_bot" else None

    def last_chat_message(self) -> Message | None:
        """What webhook payloads show in `messages[]`: the last public, non-activity one."""
        for message in reversed(self.messages):
            if not message.private and message.message_type != ACTIVITY:
                return message
        return None

    def unread_count(self) -> int:
        """Incoming messages since an agent last looked, capped at 10 like Chatwoot's."""
        seen = self.agent_last_seen_at or 0.0
        unread = [m for m in self.messages if m.message_type == INCOMING and m.created_at > seen]
        return min(len(unread), 10)


@dataclass(frozen=True)
class Notification:
    """A row of Chatwoot's `notifications`: what an agent's bell shows."""

    id: int
    notification_type: str
    user_id: int
    account_id: int
    conversation_id: int  # the display id
    message_id: int
    created_at: float = field(default_factory=time.time)


class Ids:
    """Sequences for the global ids (contacts, messages, users, bots, teams, inboxes)."""

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def next(self, kind: str) -> int:
        value = self._next.get(kind, 1)
        self._next[kind] = value + 1
        return value


@dataclass
class World:
    """Everything the simulated Chatwoot holds."""

    accounts: dict[int, Account] = field(default_factory=dict)
    inboxes: dict[int, Inbox] = field(default_factory=dict)
    agents: dict[int, Agent] = field(default_factory=dict)
    # Users removed from the account: their messages still name them as the sender.
    former_agents: dict[int, Agent] = field(default_factory=dict)
    bots: dict[int, AgentBot] = field(default_factory=dict)
    teams: dict[int, Team] = field(default_factory=dict)
    contacts: dict[int, Contact] = field(default_factory=dict)
    conversations: dict[tuple[int, int], Conversation] = field(default_factory=dict)
    # `api_access_token` -> the user or agent bot that owns it.
    tokens: dict[str, Author] = field(default_factory=dict)
    notifications: list[Notification] = field(default_factory=list)
    ids: Ids = field(default_factory=Ids)

    def user(self, user_id: int) -> Agent:
        """A message's author, who may have left the account since."""
        return self.agents.get(user_id) or self.former_agents[user_id]

    def account(self, account_id: int) -> Account:
        try:
            return self.accounts[account_id]
        except KeyError:
            raise NotFound(f"account {account_id}") from None

    def conversation(self, account_id: int, display_id: int) -> Conversation:
        try:
            return self.conversations[(account_id, display_id)]
        except KeyError:
            raise NotFound(f"conversation {display_id}") from None

    def contact(self, account_id: int, contact_id: int) -> Contact:
        contact = self.contacts.get(contact_id)
        if contact is None or contact.account_id != account_id:
            raise NotFound(f"contact {contact_id}")
        return contact

    def account_conversations(self, account_id: int) -> list[Conversation]:
        return [c for (account, _), c in self.conversations.items() if account == account_id]

    def default_inbox(self, account_id: int) -> Inbox:
        for inbox in self.inboxes.values():
            if inbox.account_id == account_id:
                return inbox
        raise NotFound(f"inbox of account {account_id}")

    def add_account(self, account_id: int, name: str) -> Account:
        """The account and its one inbox (an API channel, like an integration's)."""
        account = self.accounts.get(account_id)
        if account is None:
            account = self.accounts[account_id] = Account(id=account_id, name=name)
            inbox_id = self.ids.next("inbox")
            self.inboxes[inbox_id] = Inbox(inbox_id, account_id, f"{name} API inbox")
        return account

    def add_agent(self, name: str, email: str, **fields: Any) -> Agent:
        agent = Agent(id=self.ids.next("user"), name=name, email=email.lower(), **fields)
        self.agents[agent.id] = agent
        return agent

    def add_bot(self, name: str, **fields: Any) -> AgentBot:
        bot = AgentBot(id=self.ids.next("agent_bot"), name=name, **fields)
        self.bots[bot.id] = bot
        return bot

    def add_team(self, account_id: int, name: str, **fields: Any) -> Team:
        team = Team(id=self.ids.next("team"), account_id=account_id, name=name, **fields)
        self.teams[team.id] = team
        return team

    def add_contact(self, account_id: int, name: str, **fields: Any) -> Contact:
        contact = Contact(id=self.ids.next("contact"), account_id=account_id, name=name, **fields)
        self.contacts[contact.id] = contact
        return contact

    def add_conversation(self, account_id: int, contact: Contact, **fields: Any) -> Conversation:
        account = self.account(account_id)
        inbox = fields.pop("inbox_id", None) or self.default_inbox(account_id).id
        conversation = Conversation(
            account_id=account_id,
            display_id=account.next_display_id,
            inbox_id=inbox,
            contact_id=contact.id,
            contact_inbox_id=self.ids.next("contact_inbox"),
            source_id=str(uuid.uuid4()),
            **fields,
        )
        account.next_display_id += 1
        self.conversations[(account_id, conversation.display_id)] = conversation
        return conversation

    def add_message(self, conversation: Conversation, **fields: Any) -> Message:
        message = Message(
            id=self.ids.next("message"),
            account_id=conversation.account_id,
            inbox_id=conversation.inbox_id,
            conversation_id=conversation.display_id,
            **fields,
        )
        conversation.messages.append(message)
        return message

    def add_notification(self, notification_type: str, user_id: int, message: Message) -> None:
        self.notifications.append(
            Notification(
                id=self.ids.next("notification"),
                notification_type=notification_type,
                user_id=user_id,
                account_id=message.account_id,
                conversation_id=message.conversation_id,
                message_id=message.id,
            )
        )
