"""Every sample body Chatwoot 4.15 sends maps to the delivery the ticket service expects."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from common.config import ChatwootIntegration
from gateway import keys
from gateway.mapping import KNOWN_EVENTS, event_label, map_delivery
from tests.chatwoot_samples import sample, sample_names
from tests.gateway.support import INTEGRATION, gateway_tenants
from ticketing.ticket.v1 import chatwoot_pb2 as cw

Kind = cw.ChatwootEventKind
IGNORED_SAMPLES = {"conversation_typing_on", "conversation_typing_off"}


@pytest.fixture(scope="module")
def integration() -> ChatwootIntegration:
    return next(i for i in gateway_tenants().tenant("acme").chatwoot if i.name == INTEGRATION)


def mapped(integration: ChatwootIntegration, body: dict[str, Any]) -> cw.ChatwootDelivery:
    delivery = map_delivery(body, integration=integration, delivery_id="d-1", content_key="c" * 64)
    assert delivery is not None
    return delivery


def micros(timestamp: Any) -> int:
    return int(timestamp.seconds) * 1_000_000 + int(timestamp.nanos) // 1000


def test_there_are_samples_of_every_event_chatwoot_sends_us() -> None:
    assert len(sample_names()) == 14


@pytest.mark.parametrize("name", sample_names())
def test_every_sample_maps_without_error(integration: ChatwootIntegration, name: str) -> None:
    body = sample(name)

    delivery = map_delivery(body, integration=integration, delivery_id="d-1", content_key="c" * 64)

    if name in IGNORED_SAMPLES:
        assert delivery is None
        return
    assert delivery is not None
    assert delivery.integration == INTEGRATION
    assert delivery.delivery_id == "d-1"
    assert delivery.kind != Kind.CHATWOOT_EVENT_KIND_UNSPECIFIED
    assert body["event"] in KNOWN_EVENTS
    if delivery.HasField("conversation"):
        assert delivery.conversation.account_id == 3
        assert delivery.conversation.conversation_id == 1042
        assert delivery.conversation.inbox_id == 7
        assert delivery.conversation.contact.id == 5821
        assert delivery.conversation.update_time.seconds > 0
    if delivery.HasField("contact"):
        assert delivery.contact.id == 5821


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("conversation_created", Kind.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED),
        ("conversation_updated", Kind.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED),
        ("conversation_updated_status", Kind.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED),
        ("conversation_updated_sla_enterprise", Kind.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED),
        ("conversation_status_changed", Kind.CHATWOOT_EVENT_KIND_CONVERSATION_STATUS_CHANGED),
        ("message_created", Kind.CHATWOOT_EVENT_KIND_MESSAGE_CREATED),
        ("message_created_outgoing", Kind.CHATWOOT_EVENT_KIND_MESSAGE_CREATED),
        ("message_created_private", Kind.CHATWOOT_EVENT_KIND_MESSAGE_CREATED),
        ("message_updated", Kind.CHATWOOT_EVENT_KIND_MESSAGE_UPDATED),
        ("contact_created", Kind.CHATWOOT_EVENT_KIND_CONTACT_CREATED),
        ("contact_updated", Kind.CHATWOOT_EVENT_KIND_CONTACT_UPDATED),
        ("webwidget_triggered", Kind.CHATWOOT_EVENT_KIND_WEBWIDGET_TRIGGERED),
    ],
)
def test_each_event_has_its_kind(
    integration: ChatwootIntegration, name: str, kind: cw.ChatwootEventKind.ValueType
) -> None:
    assert mapped(integration, sample(name)).kind == kind


def test_conversation_state_keeps_updated_at_to_the_microsecond(
    integration: ChatwootIntegration,
) -> None:
    state = mapped(integration, sample("conversation_created")).conversation

    assert micros(state.update_time) == 1781691330_641207
    assert state.status == cw.CHATWOOT_STATUS_OPEN
    assert state.priority == cw.CHATWOOT_PRIORITY_UNSPECIFIED
    assert state.assignee_id == ""
    assert not state.HasField("snoozed_until")
    assert state.contact == cw.ChatwootContact(
        id=5821, name="Maria Lopez", email="maria.lopez@example.com", phone_number=""
    )


def test_an_integer_updated_at_is_whole_seconds(integration: ChatwootIntegration) -> None:
    body = sample("conversation_updated")
    body["updated_at"] = 1781691362

    state = mapped(integration, body).conversation

    assert micros(state.update_time) == 1781691362_000000


def test_the_assigned_agent_is_the_user_id(integration: ChatwootIntegration) -> None:
    state = mapped(integration, sample("conversation_status_changed")).conversation

    assert state.assignee_id == "12"
    assert state.status == cw.CHATWOOT_STATUS_RESOLVED
    assert state.priority == cw.CHATWOOT_PRIORITY_HIGH
    assert micros(state.update_time) == 1781691900_412876


def test_a_bot_assignee_is_no_assignee(integration: ChatwootIntegration) -> None:
    body = sample("conversation_updated")
    body["meta"]["assignee"] = {"id": 4, "name": "Triage bot", "type": "agent_bot"}

    assert mapped(integration, body).conversation.assignee_id == ""


def test_snoozed_until_is_read_from_its_iso_string(integration: ChatwootIntegration) -> None:
    body = sample("conversation_updated")
    body["status"] = "snoozed"
    body["snoozed_until"] = "2026-06-18T09:00:00.000Z"

    state = mapped(integration, body).conversation

    assert state.status == cw.CHATWOOT_STATUS_SNOOZED
    assert state.snoozed_until.ToDatetime(UTC) == datetime(2026, 6, 18, 9, tzinfo=UTC)


def test_the_email_subject_of_an_email_conversation(integration: ChatwootIntegration) -> None:
    body = sample("conversation_created")
    body["additional_attributes"] = {"mail_subject": "Refund for A-10293", "source": "email"}

    assert mapped(integration, body).conversation.mail_subject == "Refund for A-10293"


def test_an_incoming_message_from_the_contact(integration: ChatwootIntegration) -> None:
    delivery = mapped(integration, sample("message_created"))

    message = delivery.message
    assert message.id == 58231
    assert message.direction == cw.MESSAGE_DIRECTION_INCOMING
    assert message.sender_type == cw.SENDER_TYPE_CONTACT
    assert (message.sender_id, message.sender_name) == (5821, "Maria Lopez")
    assert message.content.startswith("Hi, I was charged twice")
    assert message.content_type == "text"
    assert not message.private
    assert not message.deleted
    assert message.create_time.ToDatetime(UTC) == datetime(
        2026, 6, 17, 10, 15, 30, 512000, tzinfo=UTC
    )
    assert delivery.conversation.conversation_id == 1042


def test_an_agent_reply_and_a_private_note(integration: ChatwootIntegration) -> None:
    reply = mapped(integration, sample("message_created_outgoing")).message
    note = mapped(integration, sample("message_created_private")).message

    assert (reply.id, reply.direction, reply.private) == (
        58237,
        cw.MESSAGE_DIRECTION_OUTGOING,
        False,
    )
    assert (reply.sender_type, reply.sender_id) == (cw.SENDER_TYPE_USER, 12)
    assert (note.id, note.direction, note.private) == (58236, cw.MESSAGE_DIRECTION_OUTGOING, True)
    assert mapped(integration, sample("message_updated")).message.id == 58237


@pytest.mark.parametrize(
    ("sender", "sender_type", "sender_id"),
    [
        (None, cw.SENDER_TYPE_SYSTEM, 0),
        ({"id": 4, "name": "Triage", "type": "agent_bot"}, cw.SENDER_TYPE_AGENT_BOT, 4),
        (
            {"id": 9, "name": "Captain", "type": "captain_assistant"},
            cw.SENDER_TYPE_CAPTAIN_ASSISTANT,
            9,
        ),
        ({"id": 12, "name": "Priya", "type": "user"}, cw.SENDER_TYPE_USER, 12),
        ({"id": 5821, "name": "Maria"}, cw.SENDER_TYPE_CONTACT, 5821),
        ({"id": 7, "name": "New kind", "type": "robot"}, cw.SENDER_TYPE_UNSPECIFIED, 7),
    ],
)
def test_sender_types(
    integration: ChatwootIntegration,
    sender: dict[str, Any] | None,
    sender_type: cw.SenderType.ValueType,
    sender_id: int,
) -> None:
    body = sample("message_created")
    body["sender"] = sender

    message = mapped(integration, body).message

    assert (message.sender_type, message.sender_id) == (sender_type, sender_id)


def test_template_messages_deleted_messages_and_our_own_marker(
    integration: ChatwootIntegration,
) -> None:
    body = sample("message_updated")
    body["message_type"] = "template"
    body["content"] = None
    body["content_attributes"] = {"deleted": True, "ticketing_ref": "note-77"}
    body["attachments"] = [{"id": 1, "file_type": "image"}, {"id": 2, "file_type": "file"}]

    message = mapped(integration, body).message

    assert message.direction == cw.MESSAGE_DIRECTION_TEMPLATE
    assert message.content == ""
    assert message.deleted
    assert message.ticketing_ref == "note-77"
    assert message.attachment_count == 2


def test_contact_events_carry_the_contact(integration: ChatwootIntegration) -> None:
    created = mapped(integration, sample("contact_created"))
    updated = mapped(integration, sample("contact_updated"))

    assert created.contact == cw.ChatwootContact(id=5821, name="snowy-sun-611")
    assert updated.contact == cw.ChatwootContact(
        id=5821, name="Maria Lopez", email="maria.lopez@example.com"
    )
    assert not created.HasField("conversation")


def test_a_widget_visit_with_and_without_a_current_conversation(
    integration: ChatwootIntegration,
) -> None:
    first_visit = mapped(integration, sample("webwidget_triggered"))
    body = sample("webwidget_triggered")
    body["current_conversation"] = sample("conversation_created")
    returning = mapped(integration, body)

    assert first_visit.contact.id == 5821
    assert not first_visit.HasField("conversation")
    assert returning.conversation.conversation_id == 1042


@pytest.mark.parametrize(
    "event",
    ["automation_event.conversation_updated", "automation_event.message_created", "macro.executed"],
)
def test_automation_and_macro_webhooks_carry_the_conversation(
    integration: ChatwootIntegration, event: str
) -> None:
    body = sample("conversation_updated")
    body["event"] = event

    delivery = mapped(integration, body)

    assert delivery.kind == Kind.CHATWOOT_EVENT_KIND_AUTOMATION
    assert delivery.conversation.assignee_id == "12"


@pytest.mark.parametrize(
    "event", ["conversation_typing_on", "inbox_created", "inbox_updated", "survey_submitted"]
)
def test_events_without_use_for_tickets_map_to_nothing(
    integration: ChatwootIntegration, event: str
) -> None:
    assert (
        map_delivery({"event": event}, integration=integration, delivery_id="", content_key="")
        is None
    )


def test_metric_labels_are_bounded() -> None:
    assert event_label("message_created") == "message_created"
    assert event_label("macro.executed") == "macro.executed"
    assert event_label("automation_event.something_new") == "unknown"
    assert event_label("x" * 1000) == "unknown"
    assert event_label(None) == "unknown"


def test_ordering_keys_group_a_conversation_or_a_contact(
    integration: ChatwootIntegration,
) -> None:
    message = mapped(integration, sample("message_created"))
    status = mapped(integration, sample("conversation_status_changed"))
    contact = mapped(integration, sample("contact_updated"))
    widget = mapped(integration, sample("webwidget_triggered"))

    assert keys.ordering_key(message) == keys.ordering_key(status) == "acme-chatwoot/3/1042"
    assert keys.ordering_key(contact) == keys.ordering_key(widget) == "acme-chatwoot/contact/5821"


def test_content_keys_ignore_key_order_and_spacing() -> None:
    one = keys.content_key(keys.canonical_json({"b": [1, 2.5], "a": "é"}))
    other = keys.content_key(keys.canonical_json({"a": "é", "b": [1, 2.5]}))

    assert one == other
    assert len(one) == 64


@pytest.mark.parametrize("name", sample_names())
def test_canonical_json_of_every_sample_is_the_json_modules_form(name: str) -> None:
    """Content keys must stay stable across releases (the ticket service remembers them):
    the fast encoder writes every sample body byte for byte as the json module did."""
    body = sample(name)
    stdlib = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    assert keys.canonical_json(body) == stdlib.encode()


def test_canonical_json_writes_integers_beyond_64_bits_exactly() -> None:
    assert keys.canonical_json({"b": 2**70, "a": -(2**64)}) == (
        f'{{"a":{-(2**64)},"b":{2**70}}}'.encode()
    )


def test_canonical_json_refuses_lone_surrogates_as_before() -> None:
    with pytest.raises(UnicodeEncodeError):
        keys.canonical_json({"a": "\ud800"})


def test_request_ids_come_from_the_delivery_id_or_else_the_content() -> None:
    by_delivery = keys.request_id("acme-chatwoot", delivery_id="d-1", content_key="k")
    same_delivery = keys.request_id("acme-chatwoot", delivery_id="d-1", content_key="other")
    by_content = keys.request_id("acme-chatwoot", delivery_id="", content_key="k")

    assert by_delivery == same_delivery
    assert by_delivery == str(uuid.uuid5(keys.NAMESPACE, "acme-chatwoot:delivery:d-1"))
    assert by_content == str(uuid.uuid5(keys.NAMESPACE, "acme-chatwoot:content:k"))
    assert keys.request_id("acme-legacy", delivery_id="d-1", content_key="k") != by_delivery
