"""A verified Chatwoot webhook body → the typed ChatwootDelivery the ticket service applies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ValidationError

from common.config import ChatwootIntegration
from gateway.payloads import (
    Account,
    ContactBody,
    ContactData,
    Conversation,
    Envelope,
    MessageBody,
    WidgetBody,
)
from gateway.verification import is_automation_event
from ticketing.ticket.v1 import chatwoot_pb2 as cw

Kind = cw.ChatwootEventKind
_CONVERSATION_EVENTS = {
    "conversation_created": Kind.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED,
    "conversation_updated": Kind.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED,
    "conversation_status_changed": Kind.CHATWOOT_EVENT_KIND_CONVERSATION_STATUS_CHANGED,
}
_MESSAGE_EVENTS = {
    "message_created": Kind.CHATWOOT_EVENT_KIND_MESSAGE_CREATED,
    "message_updated": Kind.CHATWOOT_EVENT_KIND_MESSAGE_UPDATED,
}
_CONTACT_EVENTS = {
    "contact_created": Kind.CHATWOOT_EVENT_KIND_CONTACT_CREATED,
    "contact_updated": Kind.CHATWOOT_EVENT_KIND_CONTACT_UPDATED,
}
WIDGET_EVENT = "webwidget_triggered"
# Events that carry nothing for the ticket service: acknowledged, never forwarded.
IGNORED_EVENTS = frozenset(
    {"conversation_typing_on", "conversation_typing_off", "inbox_created", "inbox_updated"}
)
# Rule events Chatwoot 4.15 can send as `automation_event.<name>`.
_AUTOMATION_EVENTS = frozenset(
    f"automation_event.{name}"
    for name in (
        "conversation_created",
        "conversation_updated",
        "conversation_opened",
        "conversation_resolved",
        "message_created",
    )
)
KNOWN_EVENTS = frozenset(
    {*_CONVERSATION_EVENTS, *_MESSAGE_EVENTS, *_CONTACT_EVENTS, WIDGET_EVENT, *IGNORED_EVENTS}
    | _AUTOMATION_EVENTS
    | {"macro.executed"}
)

_STATUSES = {
    "open": cw.CHATWOOT_STATUS_OPEN,
    "pending": cw.CHATWOOT_STATUS_PENDING,
    "snoozed": cw.CHATWOOT_STATUS_SNOOZED,
    "resolved": cw.CHATWOOT_STATUS_RESOLVED,
}
_PRIORITIES = {
    None: cw.CHATWOOT_PRIORITY_UNSPECIFIED,
    "low": cw.CHATWOOT_PRIORITY_LOW,
    "medium": cw.CHATWOOT_PRIORITY_MEDIUM,
    "high": cw.CHATWOOT_PRIORITY_HIGH,
    "urgent": cw.CHATWOOT_PRIORITY_URGENT,
}
_DIRECTIONS = {
    "incoming": cw.MESSAGE_DIRECTION_INCOMING,
    "outgoing": cw.MESSAGE_DIRECTION_OUTGOING,
    "template": cw.MESSAGE_DIRECTION_TEMPLATE,
}
# A top-level message sender without `type` is a contact (Contact#webhook_data has none).
_SENDER_TYPES = {
    None: cw.SENDER_TYPE_CONTACT,
    "contact": cw.SENDER_TYPE_CONTACT,
    "user": cw.SENDER_TYPE_USER,
    "agent_bot": cw.SENDER_TYPE_AGENT_BOT,
    "captain_assistant": cw.SENDER_TYPE_CAPTAIN_ASSISTANT,
}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

M = TypeVar("M", bound=BaseModel)


class InvalidPayload(Exception):
    """The body is not a Chatwoot payload we can read; `field` is the dotted path."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def event_label(event: str | None) -> str:
    """The event for metrics: its name when known, else "unknown" (bounded cardinality)."""
    return event if event in KNOWN_EVENTS else "unknown"


def map_delivery(
    body: Any, *, integration: ChatwootIntegration, delivery_id: str, content_key: str
) -> cw.ChatwootDelivery | None:
    """The delivery to forward, or None for an event the ticket service has no use for.

    Raises InvalidPayload naming the first problem.
    """
    event = _parse(Envelope, body).event
    delivery = cw.ChatwootDelivery(
        integration=integration.name, delivery_id=delivery_id, content_key=content_key
    )
    if event in _CONVERSATION_EVENTS or is_automation_event(event):
        conversation = _parse(Conversation, body)
        _check_account(integration, ("account", conversation.account))
        delivery.kind = _CONVERSATION_EVENTS.get(event, Kind.CHATWOOT_EVENT_KIND_AUTOMATION)
        delivery.conversation.CopyFrom(_state(conversation))
    elif event in _MESSAGE_EVENTS:
        message = _parse(MessageBody, body)
        _check_account(
            integration,
            ("account", message.account),
            ("conversation.account", message.conversation.account),
        )
        delivery.kind = _MESSAGE_EVENTS[event]
        delivery.conversation.CopyFrom(_state(message.conversation))
        delivery.message.CopyFrom(_message(message))
    elif event in _CONTACT_EVENTS:
        contact = _parse(ContactBody, body)
        _check_account(integration, ("account", contact.account))
        delivery.kind = _CONTACT_EVENTS[event]
        delivery.contact.CopyFrom(_contact(contact))
    elif event == WIDGET_EVENT:
        widget = _parse(WidgetBody, body)
        current = widget.current_conversation
        accounts = [("account", widget.account)]
        if current is not None:
            accounts.append(("current_conversation.account", current.account))
        _check_account(integration, *accounts)
        delivery.kind = Kind.CHATWOOT_EVENT_KIND_WEBWIDGET_TRIGGERED
        delivery.contact.CopyFrom(_contact(widget.contact))
        if current is not None:
            delivery.conversation.CopyFrom(_state(current))
    else:
        return None
    return delivery


def _parse(model: type[M], body: Any) -> M:
    if not isinstance(body, dict):
        raise InvalidPayload("body must be a JSON object", field="(body)")
    try:
        return model.model_validate(body)
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or "(body)"
        raise InvalidPayload(first["msg"], field=field) from None


def _check_account(integration: ChatwootIntegration, *accounts: tuple[str, Account]) -> None:
    for path, account in accounts:
        if account.id != integration.account_id:
            raise InvalidPayload(
                f"account {account.id} is not the Chatwoot account of integration "
                f"{integration.name!r}",
                field=f"{path}.id",
            )


def _state(conversation: Conversation) -> cw.ChatwootConversationState:
    assignee = conversation.meta.assignee
    state = cw.ChatwootConversationState(
        account_id=conversation.account.id,
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        status=_STATUSES[conversation.status],
        priority=_PRIORITIES[conversation.priority],
        # Tickets are assigned to agents; a bot holding the conversation is "unassigned".
        assignee_id=str(assignee.id) if assignee is not None and assignee.type == "user" else "",
        update_time=_from_micros(round(conversation.updated_at * 1e6)),
    )
    if conversation.snoozed_until is not None:
        state.snoozed_until.CopyFrom(_timestamp(conversation.snoozed_until))
    attributes = conversation.additional_attributes
    if attributes is not None and attributes.mail_subject is not None:
        state.mail_subject = attributes.mail_subject
    if conversation.meta.sender is not None:
        state.contact.CopyFrom(_contact(conversation.meta.sender))
    return state


def _contact(contact: ContactData) -> cw.ChatwootContact:
    return cw.ChatwootContact(
        id=contact.id,
        name=contact.name or "",
        email=contact.email or "",
        phone_number=contact.phone_number or "",
    )


def _message(message: MessageBody) -> cw.ChatwootMessage:
    sender = message.sender
    attributes = message.content_attributes
    return cw.ChatwootMessage(
        id=message.id,
        direction=_DIRECTIONS[message.message_type],
        private=message.private,
        # No sender: Chatwoot itself wrote it. An unknown sender type stays UNSPECIFIED.
        sender_type=(
            cw.SENDER_TYPE_SYSTEM
            if sender is None
            else _SENDER_TYPES.get(sender.type, cw.SENDER_TYPE_UNSPECIFIED)
        ),
        sender_id=sender.id if sender is not None else 0,
        sender_name=(sender.name or "") if sender is not None else "",
        content=message.content or "",
        content_type=message.content_type or "",
        attachment_count=len(message.attachments or ()),
        create_time=_timestamp(message.created_at),
        deleted=attributes is not None and attributes.deleted,
        ticketing_ref=(attributes.ticketing_ref or "") if attributes is not None else "",
    )


def _timestamp(when: datetime) -> Timestamp:
    return _from_micros((when - _EPOCH) // timedelta(microseconds=1))


def _from_micros(micros: int) -> Timestamp:
    seconds, rest = divmod(micros, 1_000_000)
    return Timestamp(seconds=seconds, nanos=rest * 1000)
