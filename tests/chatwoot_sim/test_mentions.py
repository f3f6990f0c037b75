"""@mentions in private notes: Chatwoot's `Messages::MentionService`, seen through
`/_sim/state` (its notifications and each conversation's participants)."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.chatwoot_sim.support import ADMIN_USER_ID, AGENT_USER_ID, SimulatorProcess


def _mention(user_id: int | str, name: str, kind: str = "user") -> str:
    """How Chatwoot's editor writes a mention into a note's content."""
    return f"[@{name}](mention://{kind}/{user_id}/{name.replace(' ', '%20')})"


def _desk(sim: SimulatorProcess) -> tuple[list[int], int]:
    """Two agents and a conversation: their ids and its display id."""
    seeded = sim.control.seed(
        agents=[{"name": "Priya Raman"}, {"name": "Sam Lee"}],
        conversations=[{"contact": {"name": "Ada"}, "messages": [{"content": "Help!"}]}],
        webhooks=False,
    )
    return seeded.agent_ids, seeded.conversation_ids[0]


def _write(client: httpx.Client, conversation: int, content: str, **fields: Any) -> Any:
    response = client.post(
        f"/conversations/{conversation}/messages", json={"content": content, **fields}
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_a_note_notifies_the_mentioned_agent_once(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya, _], conversation = _desk(sim)
    before = time.time()

    twice = f"{_mention(priya, 'Priya Raman')} please check, {_mention(priya, 'Priya')} again"
    note = _write(client, conversation, twice, private=True)

    [notification] = sim.control.state().notifications
    assert notification == {
        "id": notification["id"],
        "notification_type": "conversation_mention",
        "user_id": priya,
        "account_id": sim.account_id,
        "conversation_id": conversation,
        "message_id": note["id"],
        "created_at": notification["created_at"],
    }
    assert isinstance(notification["id"], int)
    assert before <= notification["created_at"] <= time.time()
    assert sim.control.state().conversation(conversation)["participant_ids"] == [priya]


def test_each_mentioned_agent_is_notified_and_becomes_a_participant(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya, sam], conversation = _desk(sim)

    content = f"{_mention(sam, 'Sam Lee')} and {_mention(priya, 'Priya Raman')}: refund?"
    note = _write(client, conversation, content, private=True)

    notifications = sim.control.state().notifications
    # In the order the note names them.
    assert [n["user_id"] for n in notifications] == [sam, priya]
    assert {n["message_id"] for n in notifications} == {note["id"]}
    assert notifications[0]["id"] < notifications[1]["id"]
    assert sim.control.state().conversation(conversation)["participant_ids"] == sorted([priya, sam])


def test_a_later_note_notifies_again_and_participants_accumulate(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya, sam], conversation = _desk(sim)

    _write(client, conversation, _mention(sam, "Sam Lee"), private=True)
    _write(client, conversation, _mention(priya, "Priya Raman"), private=True)
    _write(client, conversation, _mention(sam, "Sam Lee"), private=True)

    state = sim.control.state()
    assert [n["user_id"] for n in state.notifications] == [sam, priya, sam]
    assert state.conversation(conversation)["participant_ids"] == sorted([priya, sam])


def test_a_public_message_with_a_mention_notifies_nobody(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya, _], conversation = _desk(sim)

    _write(client, conversation, f"{_mention(priya, 'Priya Raman')} will help you")
    sim.control.customer_message(conversation, f"Is {_mention(priya, 'Priya Raman')} there?")

    state = sim.control.state()
    assert state.notifications == []
    assert state.conversation(conversation)["participant_ids"] == []


def test_a_mention_of_nobody_in_the_account_notifies_nobody(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya, _], conversation = _desk(sim)

    _write(client, conversation, _mention(9999, "Ghost"), private=True)
    # Chatwoot compares the ids as text, so a zero-padded id is nobody either.
    _write(client, conversation, _mention(f"0{priya}", "Priya Raman"), private=True)
    # Not the mention syntax: no parentheses around the link.
    _write(client, conversation, f"mention://user/{priya}/Priya", private=True)

    state = sim.control.state()
    assert state.notifications == []
    assert state.conversation(conversation)["participant_ids"] == []


def test_a_team_mentions_id_is_taken_as_a_user_id(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    """Chatwoot's quirk: the id of `mention://team/{id}/...` is looked up among the users."""
    [priya, _], conversation = _desk(sim)
    team = sim.control.seed(teams=[{"name": "Billing"}], webhooks=False).teams[0]["id"]

    _write(client, conversation, _mention(priya, "Billing", kind="team"), private=True)

    [notification] = sim.control.state().notifications
    assert notification["user_id"] == priya
    assert team != priya  # the team's own id played no part


def test_notes_by_a_bot_or_a_user_mention_administrators_and_agents(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    _, conversation = _desk(sim)
    content = f"{_mention(ADMIN_USER_ID, 'Sim Admin')} fyi"

    response = httpx.post(
        f"{sim.api_url}/conversations/{conversation}/messages",
        json={"content": content, "private": True},
        headers=sim.headers(sim.bot_token),
    )
    assert response.status_code == 200
    _write(client, conversation, _mention(AGENT_USER_ID, "Sim Agent"), private=True)

    assert [n["user_id"] for n in sim.control.state().notifications] == [
        ADMIN_USER_ID,
        AGENT_USER_ID,
    ]


def test_a_removed_agent_is_not_notified(sim: SimulatorProcess, client: httpx.Client) -> None:
    [priya, _], conversation = _desk(sim)
    sim.control.remove_agent(priya)

    _write(client, conversation, _mention(priya, "Priya Raman"), private=True)

    assert sim.control.state().notifications == []


def test_reset_clears_notifications_and_participants(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya, _], conversation = _desk(sim)
    _write(client, conversation, _mention(priya, "Priya Raman"), private=True)
    assert len(sim.control.state().notifications) == 1

    sim.control.reset()

    assert sim.control.state().notifications == []
    _, conversation = _desk(sim)
    assert sim.control.state().conversation(conversation)["participant_ids"] == []
