"""The control API's agent endpoints: presence changes and removal from the account, seen
through Chatwoot's own API."""

from __future__ import annotations

import httpx
import pytest

from tests.chatwoot_sim.support import ADMIN_USER_ID, SimulatorProcess


def _agents(client: httpx.Client) -> dict[int, str]:
    """`GET /agents`: id -> availability_status."""
    return {agent["id"]: agent["availability_status"] for agent in client.get("/agents").json()}


def test_presence_changes_show_in_the_agents_api(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya] = sim.control.seed(agents=[{"name": "Priya Raman"}], webhooks=False).agent_ids
    for status in ("busy", "offline", "online"):
        sim.control.set_availability(priya, status)

        assert _agents(client)[priya] == status
        [seen] = [a for a in sim.control.state().agents if a["id"] == priya]
        assert seen["availability_status"] == status
    # Only that agent moved.
    assert _agents(client)[ADMIN_USER_ID] == "online"


def test_presence_changes_fire_no_webhook(sim: SimulatorProcess) -> None:
    [priya] = sim.control.seed(agents=[{"name": "Priya Raman"}], webhooks=False).agent_ids

    sim.control.set_availability(priya, "busy")

    assert sim.control.webhooks() == []


@pytest.mark.parametrize(
    "body",
    [{"availability_status": "away"}, {}, {"availability_status": "busy", "extra": 1}, None],
)
def test_a_bad_presence_is_400_and_changes_nothing(
    sim: SimulatorProcess, body: object, client: httpx.Client
) -> None:
    [priya] = sim.control.seed(agents=[{"name": "Priya Raman"}], webhooks=False).agent_ids

    response = httpx.post(f"{sim.url}/_sim/agents/{priya}", json=body)

    assert response.status_code == 400
    error = response.json()
    assert list(error) == ["error"]
    assert error["error"]
    assert _agents(client)[priya] == "online"


def test_a_bad_value_names_the_field(sim: SimulatorProcess) -> None:
    response = httpx.post(
        f"{sim.url}/_sim/agents/{ADMIN_USER_ID}", json={"availability_status": "away"}
    )
    assert "availability_status" in response.json()["error"]


def test_an_unknown_agent_is_404(sim: SimulatorProcess) -> None:
    for method in ("POST", "DELETE"):
        response = httpx.request(
            method, f"{sim.url}/_sim/agents/999", json={"availability_status": "busy"}
        )
        assert response.status_code == 404, method
        assert response.json() == {"error": "no agent 999 in the account"}


def test_a_removed_agent_leaves_the_agents_api_and_their_teams(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    seeded = sim.control.seed(agents=[{"name": "Priya Raman"}, {"name": "Sam Lee"}], webhooks=False)
    priya, sam = seeded.agent_ids
    team = sim.control.seed(
        teams=[{"name": "Billing", "agent_ids": [priya, sam]}], webhooks=False
    ).teams[0]["id"]

    sim.control.remove_agent(priya)

    assert priya not in _agents(client)
    assert sam in _agents(client)
    state = sim.control.state()
    assert priya not in [agent["id"] for agent in state.agents]
    [billing] = [t for t in state.raw["teams"] if t["id"] == team]
    assert billing["agent_ids"] == [sam]
    # Gone is gone: a second removal finds nobody.
    again = httpx.delete(f"{sim.url}/_sim/agents/{priya}")
    assert again.status_code == 404


def test_a_removed_agents_conversations_are_unassigned_quietly_and_still_readable(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    [priya] = sim.control.seed(
        agents=[{"name": "Priya Raman", "access_token": "priya-token-0123456789"}],
        webhooks=False,
    ).agent_ids
    conversation = sim.control.seed(
        conversations=[
            {
                "assignee_id": priya,
                "messages": [
                    {"content": "Help!"},
                    {"content": "On it", "message_type": "outgoing", "sender_id": priya},
                ],
            }
        ],
        webhooks=False,
    ).conversation_ids[0]
    updated_at = sim.control.state().conversation(conversation)["updated_at"]

    sim.control.remove_agent(priya)

    shown = client.get(f"/conversations/{conversation}")
    assert shown.status_code == 200
    assert "assignee" not in shown.json()["meta"]
    state = sim.control.state().conversation(conversation)
    assert state["assignee_id"] is None
    # Chatwoot unassigns with update_all: no webhook, no new updated_at.
    assert state["updated_at"] == updated_at
    assert sim.control.webhooks() == []
    # The messages they wrote still name them.
    messages = client.get(f"/conversations/{conversation}/messages").json()["payload"]
    assert messages[-1]["sender"]["name"] == "Priya Raman"
    # Their token no longer gets in, and they can no longer be assigned.
    refused = httpx.get(f"{sim.api_url}/agents", headers=sim.headers("priya-token-0123456789"))
    assert refused.status_code == 401
    path = f"/conversations/{conversation}/assignments"
    assert client.post(path, json={"assignee_id": priya}).json() is None
