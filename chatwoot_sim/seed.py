"""Starting state: the base every reset returns to, and seeds (`POST /_sim/seed`, `--seed`).

The base is one account with one API inbox, an administrator, an agent-role user and an
agent bot, each owning one of the configured tokens. A seed adds agents, teams, contacts and
conversations (display ids continue per account) and, unless told not to, fires the webhooks
Chatwoot would: `contact_created`, `conversation_created`, `message_created`. A seed naming an
agent, team or contact that does not exist fails (422) at that entry; the entries before it
stay applied.
"""

from __future__ import annotations

import re
import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chatwoot_sim import shapes
from chatwoot_sim.behaviour import Chatwoot
from chatwoot_sim.options import Options
from chatwoot_sim.state import (
    INCOMING,
    MESSAGE_TYPES,
    OUTGOING,
    Author,
    Availability,
    Contact,
    Conversation,
    Priority,
    Role,
    Status,
    World,
)

Json = dict[str, Any]


class SeedError(ValueError):
    """The seed names something that does not exist."""


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AgentSpec(_Spec):
    name: str
    email: str | None = None
    role: Role = "agent"
    availability_status: Availability = "online"
    auto_offline: bool = True
    # Registers a user token for this agent (acts with the agent's role).
    access_token: str | None = None


class TeamSpec(_Spec):
    name: str
    account_id: int | None = None
    description: str = ""
    allow_auto_assign: bool = True
    agent_ids: list[int] = Field(default_factory=list)


class ContactSpec(_Spec):
    name: str
    account_id: int | None = None
    email: str | None = None
    phone_number: str | None = None
    identifier: str | None = None
    blocked: bool = False
    additional_attributes: dict[str, Any] = Field(default_factory=dict)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)


class MessageSpec(_Spec):
    content: str
    message_type: Literal["incoming", "outgoing", "template"] = "incoming"
    private: bool = False
    # The user who wrote an outgoing message; default: the conversation's assignee, else the
    # base administrator. Incoming messages are the contact's.
    sender_id: int | None = None
    content_attributes: dict[str, Any] = Field(default_factory=dict)


class ConversationSpec(_Spec):
    account_id: int | None = None
    # An existing contact, or a new one described inline; neither: a new anonymous visitor.
    contact_id: int | None = None
    contact: ContactSpec | None = None
    status: Status = "open"
    priority: Priority | None = None
    assignee_id: int | None = None
    team_id: int | None = None
    labels: list[str] = Field(default_factory=list)
    custom_attributes: dict[str, Any] = Field(default_factory=dict)
    additional_attributes: dict[str, Any] = Field(default_factory=dict)
    snoozed_until: float | None = None
    messages: list[MessageSpec] = Field(default_factory=list)


class SeedSpec(_Spec):
    preset: Literal["demo"] | None = None
    webhooks: bool = True
    agents: list[AgentSpec] = Field(default_factory=list)
    teams: list[TeamSpec] = Field(default_factory=list)
    contacts: list[ContactSpec] = Field(default_factory=list)
    conversations: list[ConversationSpec] = Field(default_factory=list)


ADMIN_NAME = "Sim Admin"
AGENT_NAME = "Sim Agent"
BOT_NAME = "Sim Bot"


def base_world(options: Options) -> World:
    world = World()
    world.add_account(options.account_id, options.account_name)
    admin = world.add_agent(ADMIN_NAME, "admin@chatwoot-sim.test", role="administrator")
    agent = world.add_agent(AGENT_NAME, "agent@chatwoot-sim.test", role="agent")
    bot = world.add_bot(BOT_NAME, description="The agent bot of --bot-token")
    world.tokens = {
        options.admin_token: Author("user", admin.id),
        options.agent_token: Author("user", agent.id),
        options.bot_token: Author("agent_bot", bot.id),
    }
    return world


def apply(world: World, chatwoot: Chatwoot, spec: SeedSpec, default_account: int) -> Json:
    """Add what `spec` describes; the answer lists what was created, in REST shapes."""
    created: dict[str, list[Json]] = {
        "agents": [],
        "teams": [],
        "contacts": [],
        "conversations": [],
    }
    if spec.preset == "demo":
        demo = apply(world, chatwoot, _demo(), default_account)
        for key, items in demo.items():
            created[key].extend(items)
    for agent_spec in spec.agents:
        agent = world.add_agent(
            agent_spec.name,
            agent_spec.email or f"{_slug(agent_spec.name)}@chatwoot-sim.test",
            role=agent_spec.role,
            availability_status=agent_spec.availability_status,
            auto_offline=agent_spec.auto_offline,
        )
        if agent_spec.access_token:
            world.tokens[agent_spec.access_token] = Author("user", agent.id)
        created["agents"].append(shapes.rest_agent(agent, default_account))
    for team_spec in spec.teams:
        account_id = team_spec.account_id or default_account
        world.add_account(account_id, f"Account {account_id}")
        team = world.add_team(
            account_id,
            team_spec.name,
            description=team_spec.description,
            allow_auto_assign=team_spec.allow_auto_assign,
            member_ids=set(team_spec.agent_ids),
        )
        created["teams"].append(shapes.rest_team(team))
    for contact_spec in spec.contacts:
        contact = _add_contact(world, chatwoot, contact_spec, default_account)
        created["contacts"].append(shapes.rest_contact(contact))
    for conversation_spec in spec.conversations:
        conversation = _add_conversation(world, chatwoot, conversation_spec, default_account)
        created["conversations"].append(shapes.rest_conversation(world, conversation))
    return dict(created)


def _add_contact(
    world: World, chatwoot: Chatwoot, spec: ContactSpec, default_account: int
) -> Contact:
    account_id = spec.account_id or default_account
    world.add_account(account_id, f"Account {account_id}")
    fields = spec.model_dump(exclude={"name", "account_id"})
    fields["email"] = spec.email.lower() if spec.email else None
    contact = world.add_contact(account_id, spec.name, **fields)
    chatwoot.contact_created(contact)
    return contact


def _add_conversation(
    world: World, chatwoot: Chatwoot, spec: ConversationSpec, default_account: int
) -> Conversation:
    account_id = spec.account_id or default_account
    world.add_account(account_id, f"Account {account_id}")
    if spec.contact_id is not None:
        contact = world.contacts.get(spec.contact_id)
        if contact is None or contact.account_id != account_id:
            raise SeedError(f"no contact {spec.contact_id} in account {account_id}")
    else:
        contact_spec = spec.contact or ContactSpec(name=f"visitor-{world.ids.next('visitor')}")
        contact = _add_contact(
            world, chatwoot, contact_spec.model_copy(update={"account_id": account_id}), account_id
        )
    if spec.assignee_id is not None and spec.assignee_id not in world.agents:
        raise SeedError(f"no agent {spec.assignee_id}")
    if spec.team_id is not None and spec.team_id not in world.teams:
        raise SeedError(f"no team {spec.team_id}")
    assignee = Author("user", spec.assignee_id) if spec.assignee_id is not None else None
    conversation = world.add_conversation(
        account_id,
        contact,
        status=spec.status,
        priority=spec.priority,
        snoozed_until=spec.snoozed_until if spec.status == "snoozed" else None,
        assignee=assignee,
        team_id=spec.team_id,
        labels=list(dict.fromkeys(spec.labels)),
        custom_attributes=dict(spec.custom_attributes),
        additional_attributes=dict(spec.additional_attributes),
    )
    administrator = min(a.id for a in world.agents.values() if a.role == "administrator")
    default_sender = assignee or Author("user", administrator)
    for message_spec in spec.messages:
        _add_message(world, conversation, message_spec, default_sender)
    chatwoot.conversation_created(conversation)
    for message in conversation.messages:
        chatwoot.emit(
            shapes.webhook_message(world, conversation, message) | {"event": "message_created"}
        )
    return conversation


def _add_message(
    world: World, conversation: Conversation, spec: MessageSpec, default_sender: Author
) -> None:
    kind = MESSAGE_TYPES[spec.message_type]
    if kind == INCOMING:
        sender = Author("contact", conversation.contact_id)
    elif spec.sender_id is not None:
        if spec.sender_id not in world.agents:
            raise SeedError(f"no agent {spec.sender_id}")
        sender = Author("user", spec.sender_id)
    else:
        sender = default_sender
    message = world.add_message(
        conversation,
        content=spec.content,
        message_type=kind,
        sender=sender,
        private=spec.private,
        content_attributes=dict(spec.content_attributes),
    )
    conversation.last_activity_at = message.created_at
    # The wait clock and first reply, as the live message callbacks would have set them.
    if kind == INCOMING and conversation.waiting_since is None:
        conversation.waiting_since = message.created_at
    elif kind == OUTGOING and not spec.private and sender.kind == "user":
        conversation.first_reply_created_at = (
            conversation.first_reply_created_at or message.created_at
        )
        conversation.waiting_since = None
    conversation.updated_at = max(time.time(), conversation.updated_at)


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", ".", name.lower()).strip(".") or "agent"


def _demo() -> SeedSpec:
    """A small support desk to watch the loop with (`--seed demo`)."""
    return SeedSpec(
        agents=[
            AgentSpec(name="Priya Raman", email="priya@acme.example"),
            AgentSpec(name="Sam Lee", email="sam@acme.example", availability_status="busy"),
        ],
        conversations=[
            ConversationSpec(
                contact=ContactSpec(name="Maria Lopez", email="maria.lopez@example.com"),
                custom_attributes={"order_id": "A-10293"},
                messages=[
                    MessageSpec(content="Hi, I was charged twice for order A-10293. Can you help?")
                ],
            ),
            ConversationSpec(
                contact=ContactSpec(name="Tom Becker", phone_number="+14155550123"),
                status="pending",
                priority="high",
                messages=[MessageSpec(content="My package has not arrived after two weeks.")],
            ),
        ],
    )
