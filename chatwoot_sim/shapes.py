"""Chatwoot 4.15's JSON, written from the simulator's state.

Chatwoot renders the same record differently depending on where it appears, and clients trip
on exactly that, so each view has its own function, named after the Chatwoot source it copies:

- REST views (`app/views/api/v1/...jbuilder`): `rest_*`. Times are int Unix seconds, except
  conversation `updated_at` (float) and `snoozed_until` (ISO text); `message_type` is an int.
- `push_event_data` (`meta.sender`, `meta.assignee`, `messages[]` inside conversations): `push_*`.
- `webhook_data` (the top level of webhook bodies): `webhook_*`. A message's `created_at` is
  ISO text and its `message_type` a string; a contact has no `type` key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chatwoot_sim.state import (
    ACTIVITY,
    MESSAGE_TYPE_NAMES,
    Agent,
    AgentBot,
    Author,
    Contact,
    Conversation,
    Message,
    Team,
    World,
)

Json = dict[str, Any]


def iso(when: float | None) -> str | None:
    """A Rails time through `to_json`: ISO-8601 UTC with milliseconds."""
    if when is None:
        return None
    text = datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def unix(when: float | None) -> int:
    """`time.to_i`, where nil.to_i is 0."""
    return int(when) if when is not None else 0


# --- agents, bots, teams -----------------------------------------------------------------


def rest_agent(agent: Agent, account_id: int) -> Json:
    """`api/v1/models/_agent.json.jbuilder` (GET /agents, assignment answers, meta.assignee)."""
    return {
        "id": agent.id,
        "account_id": account_id,
        "availability_status": agent.availability_status,
        "auto_offline": agent.auto_offline,
        "confirmed": True,
        "email": agent.email,
        "provider": "email",
        "available_name": agent.name,
        "name": agent.name,
        "role": agent.role,
        "thumbnail": "",
        "custom_role_id": None,
    }


def rest_agent_bot(bot: AgentBot) -> Json:
    """`agent_bot_slim`: what an assignment to a bot answers."""
    return {
        "id": bot.id,
        "name": bot.name,
        "description": bot.description,
        "thumbnail": "",
        "outgoing_url": bot.outgoing_url,
        "bot_type": "webhook",
    }


def rest_team(team: Team) -> Json:
    return {
        "id": team.id,
        "name": team.name,
        "description": team.description,
        "allow_auto_assign": team.allow_auto_assign,
        "account_id": team.account_id,
        "is_member": False,
    }


def push_user(agent: Agent) -> Json:
    return {
        "id": agent.id,
        "name": agent.name,
        "available_name": agent.name,
        "avatar_url": "",
        "type": "user",
        "availability_status": agent.availability_status,
        "thumbnail": "",
    }


def push_bot(bot: AgentBot) -> Json:
    return {"id": bot.id, "name": bot.name, "avatar_url": "", "type": "agent_bot"}


# --- contacts ------------------------------------------------------------------------------


def rest_contact(contact: Contact) -> Json:
    """`api/v1/models/_contact.json.jbuilder`."""
    shape: Json = {
        "additional_attributes": contact.additional_attributes,
        "availability_status": "offline",
        "email": contact.email,
        "id": contact.id,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "blocked": contact.blocked,
        "identifier": contact.identifier,
        "thumbnail": "",
        "custom_attributes": contact.custom_attributes,
        "created_at": unix(contact.created_at),
    }
    if contact.last_activity_at is not None:
        shape["last_activity_at"] = unix(contact.last_activity_at)
    return shape


def push_contact(contact: Contact) -> Json:
    """`Contact#push_event_data`: `meta.sender`, nested message senders."""
    return {
        "additional_attributes": contact.additional_attributes,
        "custom_attributes": contact.custom_attributes,
        "email": contact.email,
        "id": contact.id,
        "identifier": contact.identifier,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "thumbnail": "",
        "blocked": contact.blocked,
        "type": "contact",
    }


def webhook_contact(world: World, contact: Contact) -> Json:
    """`Contact#webhook_data`: `contact_*` bodies and a contact as a message's sender."""
    return {
        "account": _account(world, contact.account_id),
        "additional_attributes": contact.additional_attributes,
        "avatar": "",
        "custom_attributes": contact.custom_attributes,
        "email": contact.email,
        "id": contact.id,
        "identifier": contact.identifier,
        "name": contact.name,
        "phone_number": contact.phone_number,
        "thumbnail": "",
        "blocked": contact.blocked,
    }


# --- messages ------------------------------------------------------------------------------


def rest_message(world: World, message: Message) -> Json:
    """`api/v1/models/_message.json.jbuilder`: what POST and GET .../messages answer."""
    shape: Json = {
        "id": message.id,
        "content": message.content,
        "inbox_id": message.inbox_id,
        "conversation_id": message.conversation_id,
        "message_type": message.message_type,
        "content_type": message.content_type,
        "status": message.status,
        "content_attributes": message.content_attributes,
        "additional_attributes": message.additional_attributes,
        "created_at": unix(message.created_at),
        "private": message.private,
        "source_id": message.source_id,
    }
    if message.sender is not None:
        shape["sender"] = push_author(world, message.sender)
    return shape


def push_message(world: World, conversation: Conversation, message: Message) -> Json:
    """`Message#push_event_data`: the entries of a conversation's `messages[]`."""
    sender = message.sender
    shape: Json = {
        "id": message.id,
        "content": message.content,
        "account_id": message.account_id,
        "inbox_id": message.inbox_id,
        "conversation_id": message.conversation_id,
        "message_type": message.message_type,
        "created_at": unix(message.created_at),
        "updated_at": iso(message.updated_at),
        "private": message.private,
        "status": message.status,
        "source_id": message.source_id,
        "content_type": message.content_type,
        "content_attributes": message.content_attributes,
        "sender_type": _SENDER_TYPES[sender.kind] if sender else None,
        "sender_id": sender.id if sender else None,
        "external_source_ids": {},
        "additional_attributes": message.additional_attributes,
        "processed_message_content": message.content,
        "sentiment": {},
        "conversation": {
            "assignee_id": conversation.assignee_user_id,
            "unread_count": conversation.unread_count(),
            "last_activity_at": unix(conversation.last_activity_at),
            "contact_inbox": {"source_id": conversation.source_id},
        },
    }
    if sender is not None:
        shape["sender"] = push_author(world, sender)
    return shape


def webhook_message(world: World, conversation: Conversation, message: Message) -> Json:
    """`Message#webhook_data`: the body of `message_created` / `message_updated`."""
    inbox = world.inboxes[message.inbox_id]
    return {
        "account": _account(world, message.account_id),
        "additional_attributes": message.additional_attributes,
        "content_attributes": message.content_attributes,
        "content_type": message.content_type,
        "content": message.content,
        "conversation": webhook_conversation(world, conversation),
        "created_at": iso(message.created_at),
        "id": message.id,
        "inbox": {"id": inbox.id, "name": inbox.name},
        "message_type": MESSAGE_TYPE_NAMES[message.message_type],
        "private": message.private,
        "sender": webhook_author(world, message.sender) if message.sender else None,
        "source_id": message.source_id,
    }


_SENDER_TYPES = {"contact": "Contact", "user": "User", "agent_bot": "AgentBot"}


def push_author(world: World, author: Author) -> Json:
    if author.kind == "contact":
        return push_contact(world.contacts[author.id])
    if author.kind == "user":
        return push_user(world.user(author.id))
    return push_bot(world.bots[author.id])


def webhook_author(world: World, author: Author) -> Json:
    if author.kind == "contact":
        return webhook_contact(world, world.contacts[author.id])
    if author.kind == "user":
        agent = world.user(author.id)
        return {"id": agent.id, "name": agent.name, "email": agent.email, "type": "user"}
    bot = world.bots[author.id]
    return {"id": bot.id, "name": bot.name, "type": "agent_bot"}


# --- conversations -------------------------------------------------------------------------


def rest_conversation(world: World, conversation: Conversation) -> Json:
    """`api/v1/conversations/partials/_conversation.json.jbuilder` (GET, list)."""
    contact = world.contacts[conversation.contact_id]
    inbox = world.inboxes[conversation.inbox_id]
    meta: Json = {"sender": rest_contact(contact), "channel": inbox.channel_type}
    assignee = conversation.assignee
    if assignee is not None and assignee.kind == "user":
        meta["assignee"] = rest_agent(world.agents[assignee.id], conversation.account_id)
        meta["assignee_type"] = "User"
    elif assignee is not None:
        meta["assignee"] = rest_agent_bot(world.bots[assignee.id])
        meta["assignee_type"] = "AgentBot"
    if conversation.team_id is not None:
        meta["team"] = rest_team(world.teams[conversation.team_id])
    meta["hmac_verified"] = False
    # The REST view shows the last message of any kind; webhooks show the last chat message.
    last = conversation.messages[-1:] if conversation.messages else []
    non_activity = [m for m in conversation.messages if m.message_type != ACTIVITY]
    return {
        "meta": meta,
        "id": conversation.display_id,
        "messages": [push_message(world, conversation, m) for m in last],
        "account_id": conversation.account_id,
        "uuid": conversation.uuid,
        "additional_attributes": conversation.additional_attributes,
        "agent_last_seen_at": unix(conversation.agent_last_seen_at),
        "assignee_last_seen_at": 0,
        "can_reply": True,
        "contact_last_seen_at": unix(conversation.contact_last_seen_at),
        "custom_attributes": conversation.custom_attributes,
        "inbox_id": conversation.inbox_id,
        "labels": list(conversation.labels),
        "muted": False,
        "snoozed_until": iso(conversation.snoozed_until),
        "status": conversation.status,
        "created_at": unix(conversation.created_at),
        "updated_at": conversation.updated_at,
        "timestamp": unix(conversation.last_activity_at),
        "first_reply_created_at": unix(conversation.first_reply_created_at),
        "unread_count": conversation.unread_count(),
        "last_non_activity_message": (
            push_message(world, conversation, non_activity[-1]) if non_activity else None
        ),
        "last_activity_at": unix(conversation.last_activity_at),
        "priority": conversation.priority,
        "waiting_since": unix(conversation.waiting_since),
        "sla_policy_id": None,
    }


def webhook_conversation(world: World, conversation: Conversation) -> Json:
    """`Conversations::EventDataPresenter#webhook_data`: conversation_* bodies and
    `message_*.conversation`. `id` is the display id."""
    contact = world.contacts[conversation.contact_id]
    inbox = world.inboxes[conversation.inbox_id]
    assignee = conversation.assignee
    team = world.teams.get(conversation.team_id) if conversation.team_id else None
    last = conversation.last_chat_message()
    return {
        "additional_attributes": conversation.additional_attributes,
        "can_reply": True,
        "channel": inbox.channel_type,
        "contact_inbox": {
            "id": conversation.contact_inbox_id,
            "contact_id": contact.id,
            "inbox_id": inbox.id,
            "source_id": conversation.source_id,
            "created_at": iso(conversation.created_at),
            "updated_at": iso(conversation.created_at),
            "hmac_verified": False,
            "pubsub_token": conversation.uuid.replace("-", "")[:24],
        },
        "id": conversation.display_id,
        "inbox_id": conversation.inbox_id,
        "messages": [push_message(world, conversation, last)] if last else [],
        "labels": list(conversation.labels),
        "meta": {
            "sender": push_contact(contact),
            "assignee": push_author(world, assignee) if assignee else None,
            "assignee_type": (
                None if assignee is None else "User" if assignee.kind == "user" else "AgentBot"
            ),
            "team": {"id": team.id, "name": team.name} if team else None,
            "hmac_verified": False,
        },
        "status": conversation.status,
        "custom_attributes": conversation.custom_attributes,
        "snoozed_until": iso(conversation.snoozed_until),
        "unread_count": conversation.unread_count(),
        "first_reply_created_at": iso(conversation.first_reply_created_at),
        "priority": conversation.priority,
        "waiting_since": unix(conversation.waiting_since),
        "agent_last_seen_at": unix(conversation.agent_last_seen_at),
        "contact_last_seen_at": unix(conversation.contact_last_seen_at),
        "last_activity_at": unix(conversation.last_activity_at),
        "timestamp": unix(conversation.last_activity_at),
        "created_at": unix(conversation.created_at),
        "updated_at": conversation.updated_at,
        "account": _account(world, conversation.account_id),
    }


def _account(world: World, account_id: int) -> Json:
    return {"id": account_id, "name": world.accounts[account_id].name}
