"""Chatwoot webhook bodies for tests: the shared samples, and realistic streams built from them.

Streams reuse the samples' exact shapes (keys, nesting, value types) and change only ids,
texts, states and times, the way a real Chatwoot account would produce them.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

SAMPLES = Path(__file__).resolve().parent / "fixtures" / "chatwoot"
ACCOUNT_ID = 3

# The order these samples happened in (shared/chatwoot/payloads/README.md), for posting
# them as one conversation's timeline.
TIMELINE = [
    "contact_created",
    "webwidget_triggered",
    "conversation_created",
    "message_created",
    "contact_updated",
    "conversation_updated",
    "conversation_updated_sla_enterprise",
    "conversation_typing_on",
    "message_created_private",
    "message_created_outgoing",
    "conversation_typing_off",
    "message_updated",
    "conversation_updated_status",
    "conversation_status_changed",
]


@cache
def _sample_text(name: str) -> str:
    return (SAMPLES / f"{name}.json").read_text()


def sample(name: str) -> dict[str, Any]:
    """A fresh copy of one shared sample payload."""
    parsed: dict[str, Any] = json.loads(_sample_text(name))
    return parsed


def sample_names() -> list[str]:
    return sorted(path.stem for path in SAMPLES.glob("*.json"))


def body(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload).encode()


@dataclass(frozen=True)
class Delivery:
    """One webhook request: a delivery id and the exact body Chatwoot would send."""

    delivery_id: str
    body: bytes
    conversation_id: int

    @property
    def event(self) -> str:
        return str(json.loads(self.body)["event"])


@dataclass
class _Conversation:
    display_id: int
    contact_id: int
    email: str
    name: str
    clock: datetime
    status: str = "open"
    priority: str | None = None
    assignee: dict[str, Any] | None = None
    snoozed_until: str | None = None
    message_times: dict[int, datetime] = field(default_factory=dict)

    def tick(self) -> float:
        self.clock += timedelta(seconds=1, microseconds=137)
        return self.clock.timestamp()


_AGENT = {
    "id": 12,
    "name": "Sam Agent",
    "available_name": "Sam",
    "avatar_url": "",
    "type": "user",
    "availability_status": "online",
    "thumbnail": "",
}


def _conversation_object(conv: _Conversation, template: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(template)
    obj["id"] = conv.display_id
    obj["status"] = conv.status
    obj["priority"] = conv.priority
    obj["snoozed_until"] = conv.snoozed_until
    obj["updated_at"] = conv.tick()
    obj["meta"]["assignee"] = conv.assignee
    obj["meta"]["assignee_type"] = "User" if conv.assignee else None
    sender = obj["meta"]["sender"]
    sender.update(id=conv.contact_id, email=conv.email, name=conv.name)
    obj["contact_inbox"]["contact_id"] = conv.contact_id
    for nested in obj.get("messages", []):
        nested["conversation_id"] = conv.display_id
    return obj


def _conversation_event(conv: _Conversation, event: str) -> dict[str, Any]:
    template = sample("conversation_updated")
    payload = _conversation_object(conv, template)
    payload["event"] = event
    if event == "conversation_status_changed":
        payload["changed_attributes"] = None
    return payload


def _message_event(
    conv: _Conversation, message_id: int, kind: str, content: str, event: str
) -> dict[str, Any]:
    name = {"incoming": "message_created", "outgoing": "message_created_outgoing"}.get(
        kind, "message_created_private"
    )
    payload = sample(name)
    payload["id"] = message_id
    payload["content"] = content
    payload["event"] = event
    # A message keeps its creation time through later updates.
    created = conv.message_times.setdefault(message_id, conv.clock)
    payload["created_at"] = created.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if kind == "incoming":
        payload["sender"].update(id=conv.contact_id, email=conv.email, name=conv.name)
    payload["conversation"] = _conversation_object(conv, payload["conversation"])
    return payload


def conversation_stream(count: int, *, first_display_id: int = 2000) -> list[Delivery]:
    """`count` conversations of 10 deliveries each, in the order Chatwoot would send them.

    Each conversation: created, a customer message, an assignment, a reply, a private
    note, a priority change, an edit of the reply, a status change (resolved, pending,
    snoozed or open, by conversation), the contact identified, and the status event.
    """
    deliveries: list[Delivery] = []
    start = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
    for n in range(count):
        display_id = first_display_id + n
        conv = _Conversation(
            display_id=display_id,
            contact_id=70_000 + n,
            email=f"customer{n}@example.com",
            name=f"visitor-{n}",
            clock=start + timedelta(minutes=n),
        )
        base = display_id * 100
        payloads: list[dict[str, Any]] = [_conversation_event(conv, "conversation_created")]
        payloads.append(
            _message_event(conv, base + 1, "incoming", f"Help with order {n}", "message_created")
        )
        conv.assignee = _AGENT
        payloads.append(_conversation_event(conv, "conversation_updated"))
        payloads.append(_message_event(conv, base + 2, "outgoing", "Looking", "message_created"))
        payloads.append(_message_event(conv, base + 3, "private", "Refund?", "message_created"))
        conv.priority = ("low", "medium", "high", "urgent")[n % 4]
        payloads.append(_conversation_event(conv, "conversation_updated"))
        payloads.append(
            _message_event(conv, base + 2, "outgoing", "Looking into it", "message_updated")
        )
        conv.status = ("resolved", "pending", "snoozed", "open")[n % 4]
        if conv.status == "snoozed":
            conv.snoozed_until = "2026-06-18T09:00:00.000Z"
        payloads.append(_conversation_event(conv, "conversation_updated"))
        contact = sample("contact_updated")
        contact.update(id=conv.contact_id, email=conv.email, name=f"Customer {n}")
        payloads.append(contact)
        payloads.append(_conversation_event(conv, "conversation_status_changed"))
        for index, payload in enumerate(payloads):
            deliveries.append(
                Delivery(
                    delivery_id=f"00000000-0000-4000-8000-{display_id:06d}{index:06d}",
                    body=body(payload),
                    conversation_id=display_id,
                )
            )
    return deliveries


def signed_headers(secret: str, delivery: Delivery, *, now: float | None = None) -> dict[str, str]:
    """The headers Chatwoot sends with a signed delivery (lib/webhooks/trigger.rb)."""
    timestamp = str(int(time.time() if now is None else now))
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + delivery.body, hashlib.sha256)
    return {
        "Content-Type": "application/json",
        "X-Chatwoot-Delivery": delivery.delivery_id,
        "X-Chatwoot-Timestamp": timestamp,
        "X-Chatwoot-Signature": f"sha256={digest.hexdigest()}",
    }


def timeline() -> list[Delivery]:
    """Every shared sample, as deliveries of one conversation in the order they happened."""
    return [
        Delivery(f"10000000-0000-4000-8000-{index:012d}", body(sample(name)), 1042)
        for index, name in enumerate(TIMELINE)
    ]


# The final state of each conversation of `conversation_stream`, as `snapshot` reads it.
_STATUS_AFTER = {
    "resolved": ("TICKET_STATUS_RESOLVED", False),
    "pending": ("TICKET_STATUS_WAITING_ON_CUSTOMER", False),
    "snoozed": ("TICKET_STATUS_OPEN", True),
    "open": ("TICKET_STATUS_OPEN", False),
}


def expected_stream_state(count: int, *, first_display_id: int = 2000) -> dict[int, Any]:
    state: dict[int, Any] = {}
    for n in range(count):
        display_id = first_display_id + n
        status, snoozed = _STATUS_AFTER[("resolved", "pending", "snoozed", "open")[n % 4]]
        base = display_id * 100
        state[display_id] = {
            "status": status,
            "snoozed": snoozed,
            "priority": f"TICKET_PRIORITY_{('low', 'medium', 'high', 'urgent')[n % 4].upper()}",
            "assignee_id": "12",
            "customer": (f"customer{n}@example.com", f"Customer {n}", 70_000 + n),
            "messages": [
                (base + 1, "Help with order " + str(n), False, "MESSAGE_DIRECTION_INCOMING"),
                (base + 2, "Looking into it", False, "MESSAGE_DIRECTION_OUTGOING"),
                (base + 3, "Refund?", True, "MESSAGE_DIRECTION_OUTGOING"),
            ],
        }
    return state
