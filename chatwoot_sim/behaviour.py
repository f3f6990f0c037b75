"""What Chatwoot does when its state changes: side effects, `updated_at`, and the webhooks.

Every change goes through here, whether a REST call or the control API asked for it, so the
two cannot drift apart. Each method mirrors one Chatwoot code path (named in its docstring)
and hands the webhook bodies it causes to `emit`, built at once from the new state.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from chatwoot_sim import shapes
from chatwoot_sim.state import (
    ACTIVITY,
    INCOMING,
    MESSAGE_TYPES,
    OUTGOING,
    PRIORITIES,
    STATUSES,
    Agent,
    AgentBot,
    Author,
    Availability,
    Contact,
    Conversation,
    Message,
    Priority,
    Status,
    Team,
    World,
)

Json = dict[str, Any]
Emit = Callable[[Json], None]

_E164 = re.compile(r"\+[1-9]\d{1,14}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# `Messages::MentionService` keeps the second group, so a team mention's id is looked up as
# a user id. `[0-9]`, not `\d`: Ruby's `\d` matches ASCII digits only.
_MENTION = re.compile(r"\(mention://(user|team)/([0-9]+)/(.+?)\)")


class Invalid(Exception):
    """A validation failure: Chatwoot answers 422 `{"message": ..., "attributes": [...]}`."""

    def __init__(self, message: str, attributes: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.attributes = attributes


def _changes(before: Json, after: Json) -> list[Json]:
    """`BaseListener#extract_changed_attributes`: a list of single-key objects."""
    return [
        {key: {"previous_value": before[key], "current_value": after[key]}}
        for key in after
        if before[key] != after[key]
    ]


def _conversation_columns(conversation: Conversation) -> Json:
    """The columns whose change makes Chatwoot fire `conversation_updated`, as it writes them
    in `changed_attributes` (times as ISO text, enums as strings)."""
    return {
        "status": conversation.status,
        "snoozed_until": shapes.iso(conversation.snoozed_until),
        "priority": conversation.priority,
        "assignee_id": conversation.assignee_user_id,
        "assignee_agent_bot_id": conversation.assignee_bot_id,
        "team_id": conversation.team_id,
        "label_list": list(conversation.labels),
        "custom_attributes": dict(conversation.custom_attributes),
        "waiting_since": shapes.iso(conversation.waiting_since),
        "first_reply_created_at": shapes.iso(conversation.first_reply_created_at),
    }


def _contact_columns(contact: Contact) -> Json:
    return {
        "name": contact.name,
        "email": contact.email,
        "phone_number": contact.phone_number,
        "identifier": contact.identifier,
        "blocked": contact.blocked,
        "additional_attributes": dict(contact.additional_attributes),
        "custom_attributes": dict(contact.custom_attributes),
    }


def _later(previous: float) -> float:
    """Now, but strictly after `previous`: clients order deliveries by `updated_at`."""
    return max(time.time(), previous + 1e-6)


class Chatwoot:
    def __init__(self, world: World, emit: Emit) -> None:
        self.world = world
        self.emit = emit

    def silent(self) -> Chatwoot:
        """The same Chatwoot with its webhooks switched off (for seeding quietly)."""
        return Chatwoot(self.world, lambda _body: None)

    # --- the conversation save path --------------------------------------------------------

    def _save(self, conversation: Conversation, change: Callable[[], None]) -> bool:
        """Apply `change` as one `save!`: bump `updated_at` and fire Chatwoot's webhooks
        (`conversation_status_changed` first, then `conversation_updated`) if any column
        Chatwoot watches changed. Returns whether anything changed."""
        before = _conversation_columns(conversation)
        previous_update = conversation.updated_at
        change()
        changed = _changes(before, _conversation_columns(conversation))
        if not changed:
            return False
        conversation.updated_at = _later(previous_update)
        changed.append(
            {
                "updated_at": {
                    "previous_value": shapes.iso(previous_update),
                    "current_value": shapes.iso(conversation.updated_at),
                }
            }
        )
        if any("status" in item for item in changed):
            # `Conversation#notify_status_change` reads the status change after the commit,
            # when Rails has already forgotten it: Chatwoot sends null here.
            self._emit_conversation("conversation_status_changed", conversation, None)
        self._emit_conversation("conversation_updated", conversation, changed)
        return True

    def _touch(self, conversation: Conversation) -> None:
        """`belongs_to :conversation, touch: true`: a new message moves `updated_at` without
        a `conversation_updated` webhook."""
        conversation.updated_at = _later(conversation.updated_at)

    def _emit_conversation(
        self, event: str, conversation: Conversation, changed: list[Json] | None
    ) -> None:
        body = shapes.webhook_conversation(self.world, conversation) | {"event": event}
        if event != "conversation_created":  # the only one without changed_attributes
            body["changed_attributes"] = changed
        self.emit(body)

    def _activity(self, conversation: Conversation, content: str) -> None:
        """Chatwoot's activity lines ("Conversation was marked resolved by ..."): visible in
        REST, never sent as webhooks."""
        self.world.add_message(conversation, content=content, message_type=ACTIVITY, sender=None)
        self._touch(conversation)

    def _name(self, author: Author | None) -> str:
        if author is None:
            return "System"
        if author.kind == "user":
            return self.world.user(author.id).name
        if author.kind == "agent_bot":
            return self.world.bots[author.id].name
        return self.world.contacts[author.id].name

    # --- conversations ---------------------------------------------------------------------

    def toggle_status(
        self,
        conversation: Conversation,
        actor: Author,
        status: str | None,
        snoozed_until: float | None,
    ) -> bool | None:
        """`ConversationsController#toggle_status`. Returns the view's `success`: null on the
        bot hand-off path, like Chatwoot's."""
        target = _status(status) if status is not None else _toggled(conversation.status)
        success: bool | None = True
        if actor.kind == "agent_bot" and conversation.status == "pending" and target == "open":
            # `Conversation#bot_handoff!`: waiting_since set if blank, then open.
            success = None
            changed = self._save(conversation, lambda: self._handoff(conversation))
        else:
            changed = self._save(
                conversation, lambda: self._set_status(conversation, target, snoozed_until)
            )
        if changed:
            self._activity_for_status(conversation, actor)
        if conversation.status == "open" and self._is_agent_role(actor):
            # `should_assign_conversation?`: an agent-role user who opens it takes it.
            self._assign_user(conversation, actor, self.world.agents[actor.id])
        return success

    def _handoff(self, conversation: Conversation) -> None:
        if conversation.waiting_since is None:
            conversation.waiting_since = time.time()
        self._set_status(conversation, "open", None)

    @staticmethod
    def _set_status(conversation: Conversation, status: Status, until: float | None) -> None:
        conversation.status = status
        # `ensure_snooze_until_reset`: only a snoozed conversation keeps a snooze end.
        conversation.snoozed_until = until if status == "snoozed" else None

    def _activity_for_status(self, conversation: Conversation, actor: Author) -> None:
        wording = {
            "open": "Conversation was reopened by",
            "resolved": "Conversation was marked resolved by",
            "pending": "Conversation was marked as pending by",
            "snoozed": "Conversation was snoozed by",
        }[conversation.status]
        self._activity(conversation, f"{wording} {self._name(actor)}")

    def _is_agent_role(self, actor: Author) -> bool:
        return actor.kind == "user" and self.world.agents[actor.id].role == "agent"

    def toggle_priority(self, conversation: Conversation, actor: Author, priority: Any) -> None:
        """`Conversation#toggle_priority`: blank or absent clears it."""
        if priority in (None, ""):
            new: Priority | None = None
        elif priority in PRIORITIES:
            new = priority
        else:
            # Rails raises ArgumentError for an unknown enum value; Chatwoot answers 500.
            raise ValueError(f"'{priority}' is not a valid priority")
        old = conversation.priority

        def change() -> None:
            conversation.priority = new

        if self._save(conversation, change):
            name = self._name(actor)
            if new is None:
                self._activity(conversation, f"{name} removed the priority")
            elif old is None:
                self._activity(conversation, f"{name} set the priority to {new}")
            else:
                self._activity(conversation, f"{name} changed the priority from {old} to {new}")

    def assign_agent(
        self, conversation: Conversation, actor: Author, assignee_id: Any
    ) -> Agent | None:
        """`Conversations::AssignmentService`: an id that is no account user unassigns, as
        `find_by` gives nil. Returns what the answer renders (null for nobody)."""
        agent = self.world.agents.get(_int_or_none(assignee_id) or 0)
        self._assign_user(conversation, actor, agent)
        return agent

    def assign_bot(self, conversation: Conversation, bot_id: Any) -> AgentBot | None:
        """`assignee_type: "AgentBot"`: the bot holds the conversation instead of a user."""
        bot = self.world.bots.get(_int_or_none(bot_id) or 0)

        def change() -> None:
            conversation.assignee = Author("agent_bot", bot.id) if bot else None

        self._save(conversation, change)
        return bot

    def _assign_user(self, conversation: Conversation, actor: Author, agent: Agent | None) -> None:
        def change() -> None:
            conversation.assignee = Author("user", agent.id) if agent else None

        if not self._save(conversation, change):
            return
        name = self._name(actor)
        if agent is None:
            self._activity(conversation, f"Conversation unassigned by {name}")
        elif actor == Author("user", agent.id):
            self._activity(conversation, f"{name} self-assigned this conversation")
        else:
            self._activity(conversation, f"Assigned to {agent.name} by {name}")

    def assign_team(self, conversation: Conversation, team_id: Any) -> Team | None:
        """`conversation.update!(team:)`: a team change drops an assignee outside the team."""
        team = self.world.teams.get(_int_or_none(team_id) or 0)
        if team is not None and team.account_id != conversation.account_id:
            team = None

        def change() -> None:
            conversation.team_id = team.id if team else None
            user = conversation.assignee_user_id
            if team is not None and user is not None and user not in team.member_ids:
                conversation.assignee = None

        self._save(conversation, change)
        return team

    def set_labels(self, conversation: Conversation, labels: list[str]) -> None:
        """`Labelable#update_labels`: the new list replaces the old one."""
        unique = list(dict.fromkeys(labels))

        def change() -> None:
            conversation.labels = unique

        self._save(conversation, change)

    def set_custom_attributes(self, conversation: Conversation, attributes: Json) -> None:
        """POST .../custom_attributes replaces the whole hash."""

        def change() -> None:
            conversation.custom_attributes = dict(attributes)

        self._save(conversation, change)

    # --- messages --------------------------------------------------------------------------

    def create_message(
        self,
        conversation: Conversation,
        sender: Author,
        *,
        content: str | None,
        message_type: str = "outgoing",
        private: bool = False,
        content_type: str = "text",
        content_attributes: Json | None = None,
        source_id: str | None = None,
    ) -> Message:
        """`Messages::MessageBuilder` + `Message` callbacks: `message_created` for every
        message but activities (private notes included), the first human reply, reopening
        on a customer message."""
        kind = MESSAGE_TYPES.get(message_type)
        if kind is None:
            raise Invalid(f"'{message_type}' is not a valid message_type", ["message_type"])
        if kind == INCOMING:
            # An incoming message is the contact's, whoever posts it through the API.
            sender = Author("contact", conversation.contact_id)
        message = self.world.add_message(
            conversation,
            content=content,
            message_type=kind,
            sender=sender,
            private=private,
            content_type=content_type,
            content_attributes=dict(content_attributes or {}),
            source_id=source_id,
        )
        self._touch(conversation)
        conversation.last_activity_at = message.created_at
        body = shapes.webhook_message(self.world, conversation, message)
        self.emit(body | {"event": "message_created"})
        if kind == INCOMING:
            self._after_customer_message(conversation, message)
        elif kind == OUTGOING and not private and sender.kind == "user":
            self._after_human_reply(conversation, message)
        self._notify_mentions(conversation, message)
        return message

    def _notify_mentions(self, conversation: Conversation, message: Message) -> None:
        """`Messages::MentionService`: a private note notifies each account user it mentions,
        once per note however often it names them, and makes them participants. Ids are
        compared as text, as Chatwoot does, so `user/007/` mentions nobody."""
        content = message.content
        if not message.private or content is None or not content.strip():
            return
        mentioned = dict.fromkeys(match.group(2) for match in _MENTION.finditer(content))
        members = {str(agent_id) for agent_id in self.world.agents}
        for user_id in [int(text) for text in mentioned if text in members]:
            self.world.add_notification("conversation_mention", user_id, message)
            conversation.participant_ids.add(user_id)

    def _after_customer_message(self, conversation: Conversation, message: Message) -> None:
        contact = self.world.contacts[conversation.contact_id]
        contact.last_activity_at = message.created_at

        def change() -> None:
            # `Message#reopen_conversation`, and the wait clock starts if it was not running.
            if conversation.status in ("resolved", "snoozed"):
                self._set_status(conversation, "open", None)
            if conversation.waiting_since is None:
                conversation.waiting_since = message.created_at

        self._save(conversation, change)

    def _after_human_reply(self, conversation: Conversation, message: Message) -> None:
        def change() -> None:
            if conversation.first_reply_created_at is None:
                conversation.first_reply_created_at = message.created_at
            conversation.waiting_since = None

        self._save(conversation, change)

    # --- agents ----------------------------------------------------------------------------

    def set_availability(self, agent: Agent, status: Availability) -> None:
        """What `GET /agents` shows as `availability_status`. Presence goes out over
        ActionCable only: no webhook."""
        agent.availability_status = status

    def remove_agent(self, agent: Agent) -> None:
        """The account user destroyed, then `Agents::DestroyJob`: out of every team, and
        their conversations unassigned by `update_all`, so no webhook fires and `updated_at`
        stays. The user is kept for the messages they wrote; their token stops working."""
        world = self.world
        del world.agents[agent.id]
        world.former_agents[agent.id] = agent
        for team in world.teams.values():
            team.member_ids.discard(agent.id)
        for conversation in world.conversations.values():
            if conversation.assignee_user_id == agent.id:
                conversation.assignee = None
        user = Author("user", agent.id)
        world.tokens = {token: owner for token, owner in world.tokens.items() if owner != user}

    # --- contacts --------------------------------------------------------------------------

    def update_contact(self, contact: Contact, fields: Json) -> None:
        """`ContactsController#update`: attribute hashes merge; email is lower-cased and,
        like the phone number (E.164) and identifier, unique in the account."""
        before = _contact_columns(contact)
        updated = dict(before)
        for key in ("name", "identifier", "blocked"):
            if key in fields:
                updated[key] = fields[key]
        if "email" in fields:
            email = fields["email"]
            updated["email"] = email.lower() if isinstance(email, str) and email else None
            if updated["email"] is not None and not _EMAIL.fullmatch(updated["email"]):
                raise Invalid("Email Invalid email", ["email"])
        if "phone_number" in fields:
            phone = fields["phone_number"] or None
            if phone is not None and not (isinstance(phone, str) and _E164.fullmatch(phone)):
                raise Invalid("Phone number should be in e164 format", ["phone_number"])
            updated["phone_number"] = phone
        for key in ("additional_attributes", "custom_attributes"):
            if isinstance(fields.get(key), dict):
                updated[key] = before[key] | fields[key]
        self._check_unique(contact, updated)
        changed = _changes(before, updated)
        if not changed:
            return
        for key, value in updated.items():
            setattr(contact, key, value)
        previous_update = contact.updated_at
        contact.updated_at = _later(previous_update)
        changed.append(
            {
                "updated_at": {
                    "previous_value": shapes.iso(previous_update),
                    "current_value": shapes.iso(contact.updated_at),
                }
            }
        )
        self.emit(
            shapes.webhook_contact(self.world, contact)
            | {"event": "contact_updated", "changed_attributes": changed}
        )

    def _check_unique(self, contact: Contact, updated: Json) -> None:
        unique = (
            ("email", "Email"),
            ("phone_number", "Phone number"),
            ("identifier", "Identifier"),
        )
        for key, label in unique:
            value = updated[key]
            if value is None:
                continue
            for other in self.world.contacts.values():
                if (
                    other.id != contact.id
                    and other.account_id == contact.account_id
                    and getattr(other, key) == value
                ):
                    raise Invalid(f"{label} has already been taken", [key])

    def contact_created(self, contact: Contact) -> None:
        self.emit(shapes.webhook_contact(self.world, contact) | {"event": "contact_created"})

    def conversation_created(self, conversation: Conversation) -> None:
        self._emit_conversation("conversation_created", conversation, None)


def _status(value: str) -> Status:
    for status in STATUSES:
        if value == status:
            return status
    # Rails raises ArgumentError for an unknown enum value; Chatwoot answers 500.
    raise ValueError(f"'{value}' is not a valid status")


def _toggled(status: Status) -> Status:
    """`Conversation#toggle_status`: open <-> resolved; pending and snoozed open."""
    return "resolved" if status == "open" else "open"


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None
