"""Conversation endpoints, each checked through the simulator's state and recorded calls."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tests.chatwoot_client.conftest import TIMEOUT, integration
from tests.chatwoot_sim.support import AGENT_TOKEN, AGENT_USER_ID, SimulatorProcess
from ticket_service.chatwoot import (
    AgentRole,
    AvailabilityStatus,
    ChatwootClient,
    ChatwootStatus,
    MessageType,
    NotFound,
    Priority,
)
from ticket_service.chatwoot.parsing import unix_time


def seed_one(sim: SimulatorProcess, **spec: object) -> int:
    return sim.control.seed(conversations=[spec], webhooks=False).conversation_ids[0]


async def test_get_conversation_reads_what_chatwoot_holds(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    seeded = sim.control.seed(
        agents=[{"name": "Priya", "availability_status": "busy"}],
        teams=[{"name": "billing"}],
        webhooks=False,
    )
    agent_id, team_id = seeded.agent_ids[0], seeded.teams[0]["id"]
    conversation_id = seed_one(
        sim,
        contact={"name": "Ada", "email": "Ada@Example.com", "phone_number": "+14155550123"},
        status="snoozed",
        snoozed_until=1781773200,
        priority="urgent",
        assignee_id=agent_id,
        team_id=team_id,
        labels=["billing", "refund"],
        custom_attributes={"order_id": "A-1"},
    )

    conversation = await chatwoot.get_conversation(conversation_id)

    held = sim.control.state().conversation(conversation_id)
    assert conversation.id == conversation_id
    assert conversation.account_id == sim.account_id
    assert conversation.inbox_id == held["inbox_id"]
    assert conversation.status is ChatwootStatus.SNOOZED
    assert conversation.snoozed_until == datetime.fromtimestamp(1781773200, UTC)
    assert conversation.priority is Priority.URGENT
    assert (conversation.assignee_id, conversation.team_id) == (agent_id, team_id)
    assert conversation.labels == ("billing", "refund")
    assert conversation.custom_attributes == {"order_id": "A-1"}
    # Chatwoot's float `updated_at`, to the microsecond.
    assert conversation.updated_at == unix_time(held["updated_at"], "updated_at")
    assert conversation.contact is not None
    assert conversation.contact.id == held["contact_id"]
    assert conversation.contact.email == "ada@example.com"
    assert conversation.contact.phone_number == "+14155550123"
    [call] = sim.control.calls()
    assert (call.method, call.path, call.actor) == (
        "GET",
        sim.api_path(f"/conversations/{conversation_id}"),
        "admin",
    )


async def test_an_unknown_conversation_is_not_found(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    with pytest.raises(NotFound) as raised:
        await chatwoot.get_conversation(999)
    assert raised.value.status == 404
    assert raised.value.reason == "Resource could not be found"
    assert str(raised.value) == (
        f"sim-chatwoot: GET {sim.api_path('/conversations/999')}: 404 Resource could not be found"
    )


async def test_list_defaults_to_every_status(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    ids = sim.control.seed(
        conversations=[{"status": s} for s in ("open", "pending", "snoozed", "resolved")],
        webhooks=False,
    ).conversation_ids

    page = await chatwoot.list_conversations()

    assert sorted(c.id for c in page.conversations) == sorted(ids)
    assert page.counts is not None
    assert page.counts.all == 4
    [call] = sim.control.calls()
    assert call.query == {"status": "all", "page": "1"}
    only_pending = await chatwoot.list_conversations(status=ChatwootStatus.PENDING)
    assert [c.status for c in only_pending.conversations] == [ChatwootStatus.PENDING]


async def test_updated_within_returns_only_recent_changes_in_one_call(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    old, changed = sim.control.seed(conversations=[{}, {}], webhooks=False).conversation_ids
    await asyncio.sleep(2.5)
    await chatwoot.toggle_status(changed, ChatwootStatus.RESOLVED)
    before = len(sim.control.calls())

    window = timedelta(seconds=2)
    recent = [c async for c in chatwoot.iter_conversations(updated_within=window)]

    assert [c.id for c in recent] == [changed]
    assert old not in {c.id for c in recent}
    [call] = sim.control.calls(since=before)
    # Chatwoot ignores `page` here and answers every match at once: one call, no page.
    assert call.query == {"status": "all", "updated_within": "2"}


async def test_iterating_pages_reads_every_conversation_once(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    ids = sim.control.seed(conversations=[{} for _ in range(30)], webhooks=False).conversation_ids

    seen = [c.id async for c in chatwoot.iter_conversations()]

    assert sorted(seen) == sorted(ids)
    assert [c.query.get("page") for c in sim.control.calls()] == ["1", "2"]


async def test_toggle_status(sim: SimulatorProcess, chatwoot: ChatwootClient) -> None:
    conversation_id = seed_one(sim)

    change = await chatwoot.toggle_status(conversation_id, ChatwootStatus.RESOLVED)

    assert change.conversation_id == conversation_id
    assert change.current_status is ChatwootStatus.RESOLVED
    assert change.success is True
    assert sim.control.state().conversation(conversation_id)["status"] == "resolved"
    assert sim.control.calls()[-1].json == {"status": "resolved"}


async def test_snoozing_until_a_time_sends_unix_seconds(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim)
    until = datetime(2026, 6, 18, 9, 0, 0, 750000, tzinfo=UTC)

    change = await chatwoot.toggle_status(conversation_id, ChatwootStatus.SNOOZED, until)

    assert sim.control.calls()[-1].json == {"status": "snoozed", "snoozed_until": 1781773200}
    assert change.current_status is ChatwootStatus.SNOOZED
    assert change.snoozed_until == until.replace(microsecond=0)
    held = sim.control.state().conversation(conversation_id)
    assert (held["status"], held["snoozed_until"]) == ("snoozed", 1781773200)
    with pytest.raises(ValueError, match="snoozed"):
        await chatwoot.toggle_status(conversation_id, ChatwootStatus.OPEN, until)


async def test_an_agent_user_token_opening_a_conversation_takes_it(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    """Why status sync uses an administrator (or bot) token: see the README."""
    by_admin, by_agent = sim.control.seed(
        conversations=[{"status": "pending"}, {"status": "pending"}], webhooks=False
    ).conversation_ids
    await chatwoot.toggle_status(by_admin, ChatwootStatus.OPEN)
    async with ChatwootClient(integration(sim, AGENT_TOKEN), timeout=TIMEOUT) as as_agent:
        await as_agent.toggle_status(by_agent, ChatwootStatus.OPEN)
    state = sim.control.state()
    assert state.conversation(by_admin)["assignee_id"] is None
    assert state.conversation(by_agent)["assignee_id"] == AGENT_USER_ID


async def test_priority_is_set_and_null_clears_it(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim)

    await chatwoot.toggle_priority(conversation_id, Priority.HIGH)
    assert sim.control.state().conversation(conversation_id)["priority"] == "high"
    await chatwoot.toggle_priority(conversation_id, None)

    assert sim.control.state().conversation(conversation_id)["priority"] is None
    assert [c.json for c in sim.control.calls()] == [{"priority": "high"}, {"priority": None}]


async def test_assign_and_unassign_an_agent(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    seeded = sim.control.seed(agents=[{"name": "Priya"}], teams=[{"name": "t"}], webhooks=False)
    agent_id, team_id = seeded.agent_ids[0], seeded.teams[0]["id"]
    conversation_id = seed_one(sim, team_id=team_id)

    agent = await chatwoot.assign(conversation_id, agent_id)

    assert agent is not None
    assert (agent.id, agent.name, agent.role) == (agent_id, "Priya", AgentRole.AGENT)
    assert sim.control.state().conversation(conversation_id)["assignee_id"] == agent_id

    assert await chatwoot.assign(conversation_id, None) is None

    held = sim.control.state().conversation(conversation_id)
    assert held["assignee_id"] is None
    assert held["team_id"] == team_id  # the key `assignee_id` made Chatwoot leave the team be
    # The key is there, as null: without it Chatwoot would not unassign.
    assert sim.control.calls()[-1].json == {"assignee_id": None}


async def test_assign_and_remove_a_team_never_sends_assignee_id(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    seeded = sim.control.seed(agents=[{"name": "Priya"}], webhooks=False)
    agent_id = seeded.agent_ids[0]
    team = sim.control.seed(teams=[{"name": "billing", "agent_ids": [agent_id]}], webhooks=False)
    team_id = team.teams[0]["id"]
    conversation_id = seed_one(sim, assignee_id=agent_id)

    assigned = await chatwoot.assign_team(conversation_id, team_id)

    assert assigned is not None
    assert (assigned.id, assigned.name) == (team_id, "billing")
    held = sim.control.state().conversation(conversation_id)
    assert (held["team_id"], held["assignee_id"]) == (team_id, agent_id)
    assert await chatwoot.assign_team(conversation_id, None) is None
    assert sim.control.state().conversation(conversation_id)["team_id"] is None
    assert [c.json for c in sim.control.calls()] == [{"team_id": team_id}, {"team_id": None}]


async def test_a_private_note(sim: SimulatorProcess, chatwoot: ChatwootClient) -> None:
    conversation_id = seed_one(sim)

    note = await chatwoot.create_private_note(
        conversation_id, "Escalated to billing", {"ticketing_ref": "TKT-2026-00042"}
    )

    assert note.private is True
    assert note.message_type is MessageType.OUTGOING
    assert note.conversation_id == conversation_id
    assert note.content == "Escalated to billing"
    assert note.content_attributes == {"ticketing_ref": "TKT-2026-00042"}
    [held] = [
        m
        for m in sim.control.state().conversation(conversation_id)["messages"]
        if m["id"] == note.id
    ]
    assert (held["private"], held["message_type"], held["content"]) == (
        True,
        "outgoing",
        "Escalated to billing",
    )
    assert sim.control.calls()[-1].json == {
        "content": "Escalated to billing",
        "message_type": "outgoing",
        "private": True,
        "content_type": "text",
        "content_attributes": {"ticketing_ref": "TKT-2026-00042"},
    }


async def test_labels_set_replaces_and_add_remove_read_modify_write(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim, labels=["vip"])
    path = sim.api_path(f"/conversations/{conversation_id}/labels")

    assert await chatwoot.list_labels(conversation_id) == ("vip",)
    assert await chatwoot.add_labels(conversation_id, ["billing", "vip"]) == ("vip", "billing")
    assert await chatwoot.remove_labels(conversation_id, ["vip"]) == ("billing",)
    # Nothing to change: read only.
    assert await chatwoot.add_labels(conversation_id, ["billing"]) == ("billing",)
    assert await chatwoot.remove_labels(conversation_id, ["absent"]) == ("billing",)
    assert await chatwoot.set_labels(conversation_id, ["a", "b", "a"]) == ("a", "b")

    assert sim.control.state().conversation(conversation_id)["labels"] == ["a", "b"]
    assert [(c.method, c.path, c.json) for c in sim.control.calls()] == [
        ("GET", path, None),
        ("GET", path, None),
        ("POST", path, {"labels": ["vip", "billing"]}),
        ("GET", path, None),
        ("POST", path, {"labels": ["billing"]}),
        ("GET", path, None),
        ("GET", path, None),
        ("POST", path, {"labels": ["a", "b"]}),
    ]


async def test_custom_attributes_set_replaces_and_merge_keeps_the_rest(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim, custom_attributes={"order_id": "A-1", "tier": "gold"})

    merged = await chatwoot.merge_custom_attributes(
        conversation_id, {"ticket": "TKT-2026-00042"}, remove=["tier"]
    )
    assert merged == {"order_id": "A-1", "ticket": "TKT-2026-00042"}
    held = sim.control.state().conversation(conversation_id)["custom_attributes"]
    assert held == {"order_id": "A-1", "ticket": "TKT-2026-00042"}

    replaced = await chatwoot.set_custom_attributes(conversation_id, {"only": 1})
    assert replaced == {"only": 1}
    assert sim.control.state().conversation(conversation_id)["custom_attributes"] == {"only": 1}
    # An unchanged merge only reads.
    before = len(sim.control.calls())
    assert await chatwoot.merge_custom_attributes(conversation_id, {"only": 1}) == {"only": 1}
    assert [c.method for c in sim.control.calls(since=before)] == ["GET"]


async def test_agents_with_their_presence(sim: SimulatorProcess, chatwoot: ChatwootClient) -> None:
    sim.control.seed(
        agents=[
            {"name": "Priya", "availability_status": "online"},
            {"name": "Sam", "availability_status": "busy", "auto_offline": False},
            {"name": "Kim", "availability_status": "offline", "role": "administrator"},
        ],
        webhooks=False,
    )

    agents = {agent.name: agent for agent in await chatwoot.list_agents()}

    assert agents["Priya"].availability_status is AvailabilityStatus.ONLINE
    assert agents["Sam"].availability_status is AvailabilityStatus.BUSY
    assert agents["Sam"].auto_offline is False
    assert agents["Kim"].availability_status is AvailabilityStatus.OFFLINE
    assert agents["Kim"].role is AgentRole.ADMINISTRATOR
    held = {a["name"]: a for a in sim.control.state().agents}
    assert {name: agent.id for name, agent in agents.items()} == {
        name: a["id"] for name, a in held.items()
    }
