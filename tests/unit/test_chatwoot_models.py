"""Parsing Chatwoot's REST JSON into the client's typed results.

The bodies are the shapes of ../shared/chatwoot/api.md (Chatwoot 4.15 jbuilder views), with
every key Chatwoot sends, including the ones we ignore.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from ticket_service.chatwoot.errors import PermanentError, UnexpectedResponse
from ticket_service.chatwoot.models import (
    Agent,
    AgentRole,
    AvailabilityStatus,
    ChatwootStatus,
    Contact,
    ContactPage,
    Conversation,
    ConversationPage,
    Message,
    MessageType,
    Priority,
    StatusChange,
)
from ticket_service.chatwoot.parsing import Reader, objects, unix_time

AGENT: dict[str, Any] = {
    "id": 12,
    "account_id": 3,
    "availability_status": "online",
    "auto_offline": True,
    "confirmed": True,
    "email": "sam@acme.example",
    "provider": "email",
    "available_name": "Sam",
    "name": "Sam Agent",
    "role": "agent",
    "thumbnail": "",
    "custom_role_id": None,
}

CONTACT: dict[str, Any] = {
    "additional_attributes": {"city": "Lisbon"},
    "availability_status": "offline",
    "email": "ada@example.com",
    "id": 5821,
    "name": "Ada",
    "phone_number": "+14155550123",
    "blocked": False,
    "identifier": None,
    "thumbnail": "",
    "custom_attributes": {"plan": "pro"},
    "last_activity_at": 1781691270,
    "created_at": 1781691240,
}

CONVERSATION: dict[str, Any] = {
    "meta": {
        "sender": CONTACT,
        "channel": "Channel::WebWidget",
        "assignee": AGENT,
        "assignee_type": "User",
        "team": {
            "id": 4,
            "name": "billing",
            "description": "",
            "allow_auto_assign": True,
            "account_id": 3,
            "is_member": False,
        },
        "hmac_verified": False,
    },
    "id": 1042,
    "messages": [],
    "account_id": 3,
    "uuid": "2b7c1d1e-0000-4000-8000-000000001042",
    "additional_attributes": {},
    "agent_last_seen_at": 0,
    "assignee_last_seen_at": 0,
    "can_reply": True,
    "contact_last_seen_at": 0,
    "custom_attributes": {"order_id": "A-1"},
    "inbox_id": 7,
    "labels": ["billing", "refund"],
    "muted": False,
    "snoozed_until": "2026-06-18T09:00:00.000Z",
    "status": "snoozed",
    "created_at": 1781691240,
    "updated_at": 1781692530.512345,
    "timestamp": 1781692530,
    "first_reply_created_at": 0,
    "unread_count": 0,
    "last_non_activity_message": None,
    "last_activity_at": 1781692530,
    "priority": "high",
    "waiting_since": 0,
    "sla_policy_id": None,
}


def conversation(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(CONVERSATION)
    body.update(changes)
    return body


def test_a_conversation_reads_every_field_we_use() -> None:
    parsed = Conversation.parse(Reader(conversation()))
    assert parsed.id == 1042
    assert parsed.account_id == 3
    assert parsed.inbox_id == 7
    assert parsed.status is ChatwootStatus.SNOOZED
    assert parsed.priority is Priority.HIGH
    assert parsed.snoozed_until == datetime(2026, 6, 18, 9, tzinfo=UTC)
    assert parsed.assignee_id == 12
    assert parsed.assignee_bot_id is None
    assert parsed.team_id == 4
    assert parsed.labels == ("billing", "refund")
    assert parsed.custom_attributes == {"order_id": "A-1"}
    assert parsed.uuid == "2b7c1d1e-0000-4000-8000-000000001042"
    assert parsed.contact == Contact(
        id=5821,
        name="Ada",
        email="ada@example.com",
        phone_number="+14155550123",
        identifier=None,
        custom_attributes={"plan": "pro"},
    )


def test_updated_at_keeps_every_microsecond() -> None:
    # Plain float arithmetic turns some of these into the microsecond before.
    for text, micros in [("1781692530.512345", 512345), ("1781692530.000001", 1)]:
        parsed = Conversation.parse(Reader(conversation(updated_at=float(text))))
        assert parsed.updated_at.microsecond == micros
        assert parsed.updated_at.tzinfo is UTC
    assert unix_time(1781692530, "x") == datetime.fromtimestamp(1781692530, UTC)


def test_an_unassigned_teamless_conversation_without_priority_or_snooze() -> None:
    body = conversation(priority=None, snoozed_until=None, status="open")
    del body["meta"]["assignee"], body["meta"]["assignee_type"], body["meta"]["team"]
    parsed = Conversation.parse(Reader(body))
    assert (parsed.assignee_id, parsed.team_id, parsed.priority, parsed.snoozed_until) == (
        None,
        None,
        None,
        None,
    )


def test_a_bot_assignee_is_not_an_agent() -> None:
    body = conversation()
    body["meta"]["assignee"] = {
        "id": 2,
        "name": "Triage bot",
        "description": "",
        "thumbnail": "",
        "outgoing_url": "https://bot.example/hook",
        "bot_type": "webhook",
    }
    body["meta"]["assignee_type"] = "AgentBot"
    parsed = Conversation.parse(Reader(body))
    assert parsed.assignee_id is None
    assert parsed.assignee_bot_id == 2


def test_unknown_keys_are_ignored() -> None:
    body = conversation(brand_new_field={"x": [1, 2]}, applied_sla={"id": 1})
    body["meta"]["something_else"] = True
    assert Conversation.parse(Reader(body)).id == 1042


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"id": "1042"}, "id: expected an integer, got a string"),
        ({"id": True}, "id: expected an integer, got a boolean"),
        ({"status": "closed"}, "status: expected one of 'open'"),
        ({"priority": "none"}, "priority: expected one of 'low'"),
        ({"labels": "billing"}, "labels: expected an array, got a string"),
        ({"labels": ["ok", 3]}, "labels[1]: expected a string, got an integer"),
        ({"custom_attributes": []}, "custom_attributes: expected an object, got an array"),
        ({"snoozed_until": "tomorrow"}, "snoozed_until: not an ISO-8601 time"),
        ({"snoozed_until": "2026-06-18T09:00:00"}, "snoozed_until: an ISO-8601 time without"),
        ({"updated_at": None}, "updated_at: expected a time, got null"),
        ({"updated_at": -1.5}, "updated_at: out of range"),
        ({"meta": []}, "meta: expected an object, got an array"),
    ],
)
def test_a_wrong_type_is_an_unexpected_response_naming_the_field(
    change: dict[str, Any], where: str
) -> None:
    with pytest.raises(UnexpectedResponse) as raised:
        Conversation.parse(Reader(conversation(**change)))
    assert where in str(raised.value)
    assert isinstance(raised.value, PermanentError)


def test_a_missing_required_field_is_named() -> None:
    body = conversation()
    del body["updated_at"]
    with pytest.raises(UnexpectedResponse, match="updated_at: missing"):
        Conversation.parse(Reader(body))
    body = conversation()
    body["meta"]["sender"] = {"name": "no id"}
    with pytest.raises(UnexpectedResponse, match=r"meta\.sender\.id: missing"):
        Conversation.parse(Reader(body))


def test_the_conversation_list() -> None:
    second = conversation(id=1043, labels=[])
    body = {
        "data": {
            "meta": {"mine_count": 0, "assigned_count": 1, "unassigned_count": 1, "all_count": 2},
            "payload": [conversation(), second],
        }
    }
    page = ConversationPage.parse(body, 1)
    assert [c.id for c in page.conversations] == [1042, 1043]
    assert page.counts is not None
    assert (page.counts.all, page.counts.assigned, page.counts.unassigned) == (2, 1, 1)
    with pytest.raises(UnexpectedResponse, match=r"data\.payload\[1\]\.id"):
        ConversationPage.parse({"data": {"payload": [conversation(), {"id": "x"}]}}, 1)
    with pytest.raises(UnexpectedResponse, match="body: expected an object, got an array"):
        ConversationPage.parse([], 1)


def test_toggle_status_answer() -> None:
    change = StatusChange.parse(
        {
            "meta": {},
            "payload": {
                "success": True,
                "conversation_id": 1042,
                "current_status": "snoozed",
                "snoozed_until": "2026-06-18T09:00:00.000Z",
            },
        }
    )
    assert change == StatusChange(
        conversation_id=1042,
        current_status=ChatwootStatus.SNOOZED,
        snoozed_until=datetime(2026, 6, 18, 9, tzinfo=UTC),
        success=True,
    )
    # The bot hand-off path renders `success: null`.
    handoff = StatusChange.parse(
        {
            "meta": {},
            "payload": {
                "success": None,
                "conversation_id": 1042,
                "current_status": "open",
                "snoozed_until": None,
            },
        }
    )
    assert handoff.success is None
    assert handoff.snoozed_until is None


def test_a_private_note_answer() -> None:
    message = Message.parse(
        Reader(
            {
                "id": 90211,
                "content": "Escalated",
                "inbox_id": 7,
                "conversation_id": 1042,
                "message_type": 1,
                "content_type": "text",
                "status": "sent",
                "content_attributes": {"ticketing_ref": "TKT-2026-00042"},
                "created_at": 1781692600,
                "private": True,
                "source_id": None,
                "sender": {"id": 12, "name": "Sam", "type": "user", "thumbnail": ""},
            }
        )
    )
    assert message.id == 90211
    assert message.message_type is MessageType.OUTGOING
    assert message.private is True
    assert message.content_attributes == {"ticketing_ref": "TKT-2026-00042"}
    assert message.created_at == datetime.fromtimestamp(1781692600, UTC)
    assert (message.sender_id, message.sender_type) == (12, "user")


def test_agents_and_their_presence() -> None:
    agents = objects(
        [AGENT, AGENT | {"id": 13, "availability_status": "busy"}], "body", Agent.parse
    )
    assert [(a.id, a.availability_status) for a in agents] == [
        (12, AvailabilityStatus.ONLINE),
        (13, AvailabilityStatus.BUSY),
    ]
    assert agents[0].role is AgentRole.AGENT
    assert agents[0].is_online
    assert not agents[1].is_online
    with pytest.raises(UnexpectedResponse, match=r"body\[0\]\.availability_status"):
        objects([AGENT | {"availability_status": "away"}], "body", Agent.parse)
    with pytest.raises(UnexpectedResponse, match="body: expected an array, got an object"):
        objects({"payload": []}, "body", Agent.parse)


def test_a_contact_search_page() -> None:
    body = {"meta": {"count": 1, "current_page": 1, "has_more": False}, "payload": [CONTACT]}
    page = ContactPage.parse(body, 1)
    assert [c.email for c in page.contacts] == ["ada@example.com"]
    assert page.has_more is False
    # Without `has_more`, a full page of 15 may have a successor.
    full = ContactPage.parse({"payload": [CONTACT | {"id": i} for i in range(1, 16)]}, 2)
    assert full.has_more is True
    assert full.page == 2
