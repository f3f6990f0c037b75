"""The webhooks the simulator sends: signed like Chatwoot's, shaped like the shared samples,
and readable by our gateway's parser; sent once, never retried; droppable on demand."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from common.config import ChatwootIntegration
from gateway.mapping import map_delivery
from gateway.verification import Window, verify
from tests.chatwoot_samples import sample
from tests.chatwoot_sim.receiver import Received, Receiver
from tests.chatwoot_sim.support import (
    ADMIN_USER_ID,
    WEBHOOK_SECRET,
    SimulatorProcess,
    Webhook,
)
from ticketing.ticket.v1 import chatwoot_pb2 as cw

WINDOW = Window(max_age_seconds=300, max_future_seconds=60)
MARIA = {"name": "Maria Lopez", "email": "maria.lopez@example.com"}


def _integration(sim: SimulatorProcess) -> ChatwootIntegration:
    return ChatwootIntegration.model_validate(
        {
            "name": "sim",
            "base_url": sim.url,
            "account_id": sim.account_id,
            "api_access_token": sim.admin_token,
            "webhook_secret": WEBHOOK_SECRET,
        }
    )


def _verified(sim: SimulatorProcess, received: Received) -> dict[str, Any]:
    """The body, after the gateway's own signature check passed on it."""
    verify(
        _integration(sim),
        headers=received.headers,
        query={},
        body=received.body,
        event=lambda: None,
        now=time.time(),
        window=WINDOW,
    )
    body: dict[str, Any] = json.loads(received.body)
    return body


def _delivered(
    sim: SimulatorProcess, receiver: Receiver, count: int
) -> list[tuple[Webhook, dict[str, Any]]]:
    """The first `count` webhooks, each with the verified body the receiver got for it."""
    webhooks = sim.control.wait_for_settled_webhooks(count)[:count]
    assert [w.outcome for w in webhooks] == ["delivered"] * count, webhooks
    ids = {w.delivery_id for w in webhooks}
    deadline = time.monotonic() + 5
    while not ids <= {r.headers["x-chatwoot-delivery"] for r in receiver.received}:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    by_id = {r.headers["x-chatwoot-delivery"]: r for r in receiver.received}
    return [(w, _verified(sim, by_id[w.delivery_id])) for w in webhooks]


def _mapped(sim: SimulatorProcess, body: dict[str, Any]) -> cw.ChatwootDelivery:
    delivery = map_delivery(body, integration=_integration(sim), delivery_id="d", content_key="k")
    assert delivery is not None
    return delivery


def _seed(sim: SimulatorProcess, **conversation: Any) -> int:
    spec = {"contact": MARIA, "messages": [{"content": "Charged twice"}], **conversation}
    return sim.control.seed(conversations=[spec]).conversation_ids[0]


def test_seeding_sends_created_events_shaped_like_chatwoots(
    sim: SimulatorProcess, receiver: Receiver
) -> None:
    conversation = _seed(sim)
    events = _delivered(sim, receiver, 3)
    assert [w.event for w, _ in events] == [
        "contact_created",
        "conversation_created",
        "message_created",
    ]
    contact, created, message = (body for _, body in events)
    assert list(contact) == list(sample("contact_created"))
    assert list(created) == list(sample("conversation_created"))
    assert list(created["meta"]) == list(sample("conversation_created")["meta"])
    assert list(created["messages"][0]) == list(sample("conversation_created")["messages"][0])
    assert list(message) == list(sample("message_created"))
    assert created["id"] == conversation
    assert created["messages"][0]["message_type"] == 0
    assert message["message_type"] == "incoming"
    assert message["created_at"].endswith("Z")
    assert "type" not in message["sender"]  # a contact's webhook_data has none
    assert _mapped(sim, created).conversation.contact.email == "maria.lopez@example.com"
    assert _mapped(sim, message).message.content == "Charged twice"
    assert _mapped(sim, contact).contact.name == "Maria Lopez"


def test_a_status_change_sends_status_changed_and_updated(
    sim: SimulatorProcess, receiver: Receiver, client: httpx.Client
) -> None:
    conversation = _seed(sim)
    _delivered(sim, receiver, 3)
    before = client.get(f"/conversations/{conversation}").json()["updated_at"]
    client.post(f"/conversations/{conversation}/toggle_status", json={"status": "resolved"})
    (_, changed), (_, updated) = _delivered(sim, receiver, 5)[3:]
    assert changed["event"] == "conversation_status_changed"
    assert changed["changed_attributes"] is None
    assert updated["event"] == "conversation_updated"
    assert list(updated) == list(sample("conversation_updated"))
    status, updated_at = updated["changed_attributes"]
    assert status == {"status": {"previous_value": "open", "current_value": "resolved"}}
    assert set(updated_at) == {"updated_at"}
    assert updated["updated_at"] > before
    state = _mapped(sim, updated).conversation
    assert state.status == cw.CHATWOOT_STATUS_RESOLVED
    assert state.conversation_id == conversation


def test_priority_and_assignee_send_conversation_updated(
    sim: SimulatorProcess, receiver: Receiver, client: httpx.Client
) -> None:
    conversation = _seed(sim)
    client.post(f"/conversations/{conversation}/toggle_priority", json={"priority": "high"})
    client.post(f"/conversations/{conversation}/assignments", json={"assignee_id": ADMIN_USER_ID})
    (_, priority), (_, assigned) = _delivered(sim, receiver, 5)[3:]
    assert priority["changed_attributes"][0] == {
        "priority": {"previous_value": None, "current_value": "high"}
    }
    assert assigned["changed_attributes"][0] == {
        "assignee_id": {"previous_value": None, "current_value": ADMIN_USER_ID}
    }
    assert assigned["meta"]["assignee"]["type"] == "user"
    assert assigned["meta"]["assignee_type"] == "User"
    assert _mapped(sim, assigned).conversation.assignee_id == str(ADMIN_USER_ID)


def test_a_private_note_sends_message_created_with_its_attributes(
    sim: SimulatorProcess, receiver: Receiver, client: httpx.Client
) -> None:
    conversation = _seed(sim)
    client.post(
        f"/conversations/{conversation}/messages",
        json={
            "content": "Refund issued",
            "private": True,
            "content_attributes": {"ticketing_ref": "TKT-2026-00001"},
        },
    )
    (_, note) = _delivered(sim, receiver, 4)[3]
    assert list(note) == list(sample("message_created_private"))
    assert note["private"] is True
    assert note["message_type"] == "outgoing"
    assert note["content_attributes"] == {"ticketing_ref": "TKT-2026-00001"}
    assert note["sender"] == {
        "id": ADMIN_USER_ID,
        "name": "Sim Admin",
        "email": "admin@chatwoot-sim.test",
        "type": "user",
    }
    # Like Chatwoot, the nested conversation shows the last public message, not the note.
    assert note["conversation"]["messages"][0]["content"] == "Charged twice"
    mapped = _mapped(sim, note).message
    assert mapped.private
    assert mapped.ticketing_ref == "TKT-2026-00001"
    assert mapped.sender_type == cw.SENDER_TYPE_USER


def test_a_contact_update_sends_contact_updated(
    sim: SimulatorProcess, receiver: Receiver, client: httpx.Client
) -> None:
    contact = sim.control.seed(contacts=[MARIA]).contact_ids[0]
    client.put(f"/contacts/{contact}", json={"name": "Maria López"})
    (_, updated) = _delivered(sim, receiver, 2)[1]
    assert list(updated) == list(sample("contact_updated"))
    assert updated["changed_attributes"][0] == {
        "name": {"previous_value": "Maria Lopez", "current_value": "Maria López"}
    }


def test_a_customer_message_reopens_and_is_sent(
    sim: SimulatorProcess, receiver: Receiver, client: httpx.Client
) -> None:
    conversation = _seed(sim, status="resolved")
    sim.control.customer_message(conversation, "Still not refunded")
    events = [w.event for w, _ in _delivered(sim, receiver, 6)[3:]]
    assert events == ["message_created", "conversation_status_changed", "conversation_updated"]
    assert client.get(f"/conversations/{conversation}").json()["status"] == "open"


def test_a_failed_delivery_is_recorded_and_never_retried(
    sim: SimulatorProcess, receiver: Receiver
) -> None:
    receiver.status = 500
    sim.control.seed(contacts=[MARIA])
    [webhook] = sim.control.wait_for_settled_webhooks(1)
    assert (webhook.outcome, webhook.status_code) == ("failed", 500)
    time.sleep(0.3)
    sent = [r for r in receiver.received if r.headers["x-chatwoot-delivery"] == webhook.delivery_id]
    assert len(sent) == 1


def test_webhooks_can_be_dropped_and_sent_unsigned(
    sim: SimulatorProcess, receiver: Receiver
) -> None:
    sim.control.webhooks_enabled(False)
    sim.control.seed(contacts=[MARIA])
    [dropped] = sim.control.webhooks()
    assert (dropped.outcome, dropped.error) == ("dropped", "webhooks disabled")
    sim.control.webhooks_enabled(True, secret="")
    sim.control.seed(contacts=[{"name": "Tom"}])
    _, sent = sim.control.wait_for_settled_webhooks(2)
    assert sent.outcome == "delivered"
    [received] = [
        r for r in receiver.received if r.headers["x-chatwoot-delivery"] == sent.delivery_id
    ]
    assert "x-chatwoot-signature" not in received.headers
    assert dropped.delivery_id not in {r.headers["x-chatwoot-delivery"] for r in receiver.received}
