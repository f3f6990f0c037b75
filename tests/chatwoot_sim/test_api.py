"""The simulator's Chatwoot endpoints, as a real process: shapes, auth and behaviour."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.chatwoot_sim.support import (
    ADMIN_USER_ID,
    AGENT_USER_ID,
    BOT_ID,
    SimulatorProcess,
)

MARIA = {"name": "Maria Lopez", "email": "Maria.Lopez@example.com"}


def _one_conversation(sim: SimulatorProcess, **fields: Any) -> int:
    seeded = sim.control.seed(
        conversations=[
            {"contact": MARIA, "messages": [{"content": "I was charged twice"}], **fields}
        ],
        webhooks=False,
    )
    return seeded.conversation_ids[0]


# --- auth ----------------------------------------------------------------------------------


def test_a_missing_or_wrong_token_is_401(sim: SimulatorProcess) -> None:
    for headers in ({}, {"api_access_token": "nope"}):
        response = httpx.get(f"{sim.api_url}/agents", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid Access Token"}
    assert [call.actor for call in sim.control.calls()] == [None, "invalid"]


def test_a_bot_token_works_only_on_bot_endpoints(sim: SimulatorProcess) -> None:
    conversation = _one_conversation(sim)
    bot = sim.headers(sim.bot_token)
    shown = httpx.get(f"{sim.api_url}/conversations/{conversation}", headers=bot)
    assert shown.status_code == 200
    for path in ("/conversations", f"/conversations/{conversation}/messages", "/agents"):
        refused = httpx.get(f"{sim.api_url}{path}", headers=bot)
        assert refused.status_code == 401, path
        assert refused.json() == {"error": "Access to this endpoint is not authorized for bots"}
    refused = httpx.get(f"{sim.api_url}/contacts/search", params={"q": "a"}, headers=bot)
    assert refused.status_code == 401


def test_another_account_or_conversation_is_404(sim: SimulatorProcess) -> None:
    headers = sim.headers()
    other_account = httpx.get(f"{sim.url}/api/v1/accounts/99/conversations/1", headers=headers)
    missing = httpx.get(f"{sim.api_url}/conversations/12345", headers=headers)
    for response in (other_account, missing):
        assert response.status_code == 404
        assert response.json() == {"error": "Resource could not be found"}


# --- conversations -------------------------------------------------------------------------


def test_get_conversation_has_chatwoots_rest_shape(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _one_conversation(
        sim, priority="high", labels=["billing"], custom_attributes={"order_id": "A-1"}
    )
    body = client.get(f"/conversations/{conversation}").json()
    assert body["id"] == conversation == 1
    assert body["account_id"] == sim.account_id
    assert body["status"] == "open"
    assert body["priority"] == "high"
    assert body["labels"] == ["billing"]
    assert body["custom_attributes"] == {"order_id": "A-1"}
    assert body["snoozed_until"] is None
    assert isinstance(body["updated_at"], float)
    for key in ("created_at", "timestamp", "last_activity_at", "waiting_since"):
        assert isinstance(body[key], int), key
    assert body["first_reply_created_at"] == 0  # int here (ISO text in webhooks)
    sender = body["meta"]["sender"]
    assert sender["email"] == "maria.lopez@example.com"  # lower-cased, like Chatwoot
    assert "assignee" not in body["meta"]
    [last] = body["messages"]
    assert last["message_type"] == 0
    assert isinstance(last["created_at"], int)
    assert last["sender"]["type"] == "contact"


def test_list_conversations_filters_counts_and_pages(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    specs = [{"status": "open"}] * 26 + [
        {"status": "resolved", "assignee_id": ADMIN_USER_ID},
        {"status": "open", "assignee_id": ADMIN_USER_ID},
    ]
    sim.control.seed(conversations=specs, webhooks=False)
    first = client.get("/conversations").json()["data"]
    assert first["meta"] == {
        "mine_count": 1,
        "assigned_count": 1,
        "unassigned_count": 26,
        "all_count": 27,
    }
    assert len(first["payload"]) == 25
    second = client.get("/conversations", params={"page": 2}).json()["data"]["payload"]
    assert len(second) == 2
    every = client.get("/conversations", params={"status": "all", "page": 1}).json()["data"]
    assert every["meta"]["all_count"] == 28
    mine = client.get("/conversations", params={"status": "all", "assignee_type": "me"})
    assert {c["id"] for c in mine.json()["data"]["payload"]} == {27, 28}


def test_updated_within_returns_every_recent_match_unpaged(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    sim.control.seed(conversations=[{}] * 30, webhooks=False)
    time.sleep(1.2)
    client.post("/conversations/3/toggle_status", json={"status": "resolved"})
    recent = client.get("/conversations", params={"status": "all", "updated_within": 1})
    assert [c["id"] for c in recent.json()["data"]["payload"]] == [3]
    everything = client.get("/conversations", params={"status": "all", "updated_within": 60})
    assert len(everything.json()["data"]["payload"]) == 30


def test_toggle_status_answers_and_snoozes_until_unix_seconds(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _one_conversation(sim)
    before = client.get(f"/conversations/{conversation}").json()["updated_at"]
    until = 1_900_000_000
    answer = client.post(
        f"/conversations/{conversation}/toggle_status",
        json={"status": "snoozed", "snoozed_until": until},
    ).json()
    assert answer == {
        "meta": {},
        "payload": {
            "success": True,
            "conversation_id": conversation,
            "current_status": "snoozed",
            "snoozed_until": "2030-03-17T17:46:40.000Z",
        },
    }
    after = client.get(f"/conversations/{conversation}").json()
    assert after["updated_at"] > before
    assert after["snoozed_until"] == "2030-03-17T17:46:40.000Z"
    # No status: a toggle (snoozed opens), and the snooze end goes.
    toggled = client.post(f"/conversations/{conversation}/toggle_status", json={}).json()
    assert toggled["payload"]["current_status"] == "open"
    assert toggled["payload"]["snoozed_until"] is None


def test_an_agent_role_token_opening_a_conversation_self_assigns(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _one_conversation(sim, status="resolved", assignee_id=ADMIN_USER_ID)
    agent = sim.headers(sim.agent_token)
    response = httpx.post(
        f"{sim.api_url}/conversations/{conversation}/toggle_status",
        json={"status": "open"},
        headers=agent,
    )
    assert response.json()["payload"]["current_status"] == "open"
    assert sim.control.state().conversation(conversation)["assignee_id"] == AGENT_USER_ID
    # The administrator's token changes the status and leaves the assignee alone.
    client.post(f"/conversations/{conversation}/toggle_status", json={"status": "resolved"})
    client.post(f"/conversations/{conversation}/toggle_status", json={"status": "open"})
    assert sim.control.state().conversation(conversation)["assignee_id"] == AGENT_USER_ID


def test_a_bot_opening_a_pending_conversation_hands_it_off(sim: SimulatorProcess) -> None:
    conversation = _one_conversation(sim, status="pending")
    response = httpx.post(
        f"{sim.api_url}/conversations/{conversation}/toggle_status",
        json={"status": "open"},
        headers=sim.headers(sim.bot_token),
    )
    payload = response.json()["payload"]
    assert payload["success"] is None  # the bot_handoff! path
    assert payload["current_status"] == "open"


def test_toggle_priority_sets_and_clears(sim: SimulatorProcess, client: httpx.Client) -> None:
    conversation = _one_conversation(sim)
    response = client.post(
        f"/conversations/{conversation}/toggle_priority", json={"priority": "urgent"}
    )
    assert response.status_code == 200
    assert response.content == b""
    assert client.get(f"/conversations/{conversation}").json()["priority"] == "urgent"
    client.post(f"/conversations/{conversation}/toggle_priority", json={"priority": None})
    assert client.get(f"/conversations/{conversation}").json()["priority"] is None
    bad = client.post(f"/conversations/{conversation}/toggle_priority", json={"priority": "none"})
    assert bad.status_code == 500


def test_assignments_follow_key_presence(sim: SimulatorProcess, client: httpx.Client) -> None:
    seeded = sim.control.seed(
        agents=[{"name": "Priya Raman"}],
        teams=[{"name": "Billing", "agent_ids": [ADMIN_USER_ID]}],
        webhooks=False,
    )
    priya = seeded.agent_ids[0]
    team = seeded.teams[0]["id"]
    conversation = _one_conversation(sim)
    path = f"/conversations/{conversation}/assignments"

    agent = client.post(path, json={"assignee_id": priya}).json()
    assert agent["id"] == priya
    assert agent["name"] == "Priya Raman"
    assert agent["availability_status"] == "online"
    assert set(agent) >= {"account_id", "auto_offline", "confirmed", "email", "role", "thumbnail"}
    # A team moves a member-less assignee out; assignee_id present wins over team_id.
    assert client.post(path, json={"team_id": team}).json()["name"] == "Billing"
    state = sim.control.state().conversation(conversation)
    assert (state["team_id"], state["assignee_id"]) == (team, None)
    assert client.post(path, json={"assignee_id": priya, "team_id": None}).json()["id"] == priya
    assert sim.control.state().conversation(conversation)["team_id"] == team
    # null unassigns and answers null; so does an id that is nobody.
    assert client.post(path, json={"assignee_id": None}).json() is None
    assert client.post(path, json={"assignee_id": 999}).json() is None
    assert client.post(path, json={}).json() is None
    bot = client.post(path, json={"assignee_id": BOT_ID, "assignee_type": "AgentBot"}).json()
    assert bot["id"] == BOT_ID
    assert bot["bot_type"] == "webhook"
    assert sim.control.state().conversation(conversation)["assignee"] == {
        "type": "agent_bot",
        "id": BOT_ID,
    }


def test_private_notes_keep_content_attributes(sim: SimulatorProcess, client: httpx.Client) -> None:
    conversation = _one_conversation(sim)
    created = client.post(
        f"/conversations/{conversation}/messages",
        json={
            "content": "Refund issued",
            "message_type": "outgoing",
            "private": True,
            "content_attributes": {"ticketing_ref": "TKT-2026-00001"},
        },
    ).json()
    assert created["message_type"] == 1
    assert isinstance(created["created_at"], int)
    assert created["private"] is True
    assert created["content_attributes"] == {"ticketing_ref": "TKT-2026-00001"}
    assert created["conversation_id"] == conversation
    assert created["sender"]["id"] == ADMIN_USER_ID
    assert created["sender"]["type"] == "user"
    listed = client.get(f"/conversations/{conversation}/messages").json()
    assert [m["content"] for m in listed["payload"]] == ["I was charged twice", "Refund issued"]
    assert listed["meta"]["contact"]["email"] == "maria.lopez@example.com"
    after = client.get(
        f"/conversations/{conversation}/messages", params={"after": created["id"] - 1}
    )
    assert [m["id"] for m in after.json()["payload"]] == [created["id"]]


def test_labels_and_custom_attributes_are_replaced(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _one_conversation(sim, labels=["a"], custom_attributes={"x": 1})
    labels = client.post(f"/conversations/{conversation}/labels", json={"labels": ["b", "c"]})
    assert labels.json() == {"payload": ["b", "c"]}
    assert client.get(f"/conversations/{conversation}/labels").json() == {"payload": ["b", "c"]}
    attributes = client.post(
        f"/conversations/{conversation}/custom_attributes", json={"custom_attributes": {"y": 2}}
    )
    assert attributes.json() == {"custom_attributes": {"y": 2}}


# --- contacts and agents -------------------------------------------------------------------


def test_contact_search_is_a_paged_substring_match(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    contacts = [{"name": f"Customer {n}", "email": f"c{n}@shop.example"} for n in range(17)]
    contacts.append({"name": "Tom", "phone_number": "+14155550123"})
    sim.control.seed(contacts=contacts, webhooks=False)
    first = client.get("/contacts/search", params={"q": "SHOP.example"}).json()
    assert first["meta"] == {"count": 15, "current_page": 1, "has_more": True}
    second = client.get("/contacts/search", params={"q": "shop", "page": 2}).json()
    assert second["meta"] == {"count": 2, "current_page": 2, "has_more": False}
    phone = client.get("/contacts/search", params={"q": "+1415555"}).json()["payload"]
    assert [c["name"] for c in phone] == ["Tom"]
    assert client.get("/contacts/search").status_code == 422


def test_contacts_show_and_update_merges_attributes(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    seeded = sim.control.seed(
        contacts=[
            {"name": "Ada", "email": "ada@example.com", "custom_attributes": {"plan": "pro"}},
            {"name": "Bob", "email": "bob@example.com"},
        ],
        webhooks=False,
    )
    ada, _ = seeded.contact_ids
    shown = client.get(f"/contacts/{ada}").json()["payload"]
    assert shown["email"] == "ada@example.com"
    assert isinstance(shown["created_at"], int)
    updated = client.put(
        f"/contacts/{ada}",
        json={"phone_number": "+442071838750", "custom_attributes": {"ticket": "TKT-1"}},
    ).json()["payload"]
    assert updated["phone_number"] == "+442071838750"
    assert updated["custom_attributes"] == {"plan": "pro", "ticket": "TKT-1"}
    taken = client.put(f"/contacts/{ada}", json={"email": "BOB@example.com"})
    assert taken.status_code == 422
    assert taken.json() == {"message": "Email has already been taken", "attributes": ["email"]}
    assert client.put(f"/contacts/{ada}", json={"phone_number": "0207"}).status_code == 422
    assert client.get("/contacts/999").status_code == 404


def test_agents_is_an_array_with_availability(sim: SimulatorProcess, client: httpx.Client) -> None:
    sim.control.seed(agents=[{"name": "Sam", "availability_status": "busy"}], webhooks=False)
    agents = client.get("/agents").json()
    assert [(a["name"], a["role"], a["availability_status"]) for a in agents] == [
        ("Sim Admin", "administrator", "online"),
        ("Sim Agent", "agent", "online"),
        ("Sam", "agent", "busy"),
    ]


# --- the record ----------------------------------------------------------------------------


def test_every_api_call_is_recorded(sim: SimulatorProcess, client: httpx.Client) -> None:
    conversation = _one_conversation(sim)
    client.get("/conversations", params={"status": "all"})
    client.post(f"/conversations/{conversation}/toggle_status", json={"status": "pending"})
    calls = sim.control.calls()
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("GET", sim.api_path("/conversations"), 200),
        ("POST", sim.api_path(f"/conversations/{conversation}/toggle_status"), 200),
    ]
    assert calls[0].query == {"status": "all"}
    assert calls[1].json == {"status": "pending"}
    assert calls[1].actor == "admin"
    assert [c.index for c in sim.control.calls(since=1)] == [1]


@pytest.mark.parametrize("preset", ["demo"])
def test_a_preset_seed(sim: SimulatorProcess, client: httpx.Client, preset: str) -> None:
    seeded = sim.control.seed(preset=preset, webhooks=False)
    assert seeded.conversation_ids == [1, 2]
    assert client.get("/conversations/2").json()["status"] == "pending"
