"""The agent directory synced from a real Chatwoot simulator process: SyncAgents, the
periodic job, presence, explicit overrides, removals, the queue, and Chatwoot failing.

acme's Chatwoot integration points at the simulator (account 3, the administrator's token).
Its two base users (the token owners, ids 1 and 2) are agents too; tests that check who is
chosen set them offline in Chatwoot first, so only the agents a test seeds can take work.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import grpc
import httpx
import pytest

from common.clock import ManualClock
from common.config import TenantsConfig, parse_tenants
from common.db import create_engine
from escalation_service import bootstrap as escalation_bootstrap
from tests.chatwoot_sim.support import (
    ADMIN_TOKEN,
    ADMIN_USER_ID,
    AGENT_USER_ID,
    SimulatorProcess,
    run_simulator,
)
from tests.conftest import ACME, GLOBEX
from tests.e2e.conftest import expect_error
from tests.escalation.conftest import FAST, Desk, escalation_tenants_document
from tests.support import eventually
from ticket_service import bootstrap
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)

Req = escalation_service_pb2
E = escalation_pb2
ONLINE = agent_pb2.AGENT_AVAILABILITY_ONLINE
BUSY = agent_pb2.AGENT_AVAILABILITY_BUSY
OFFLINE = agent_pb2.AGENT_AVAILABILITY_OFFLINE
# The account of acme's integration in the shared tenants document.
ACCOUNT_ID = 3


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with run_simulator(account_id=ACCOUNT_ID) as simulator:
        yield simulator


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    simulator.control.reset()
    return simulator


@pytest.fixture
def tenants(sim: SimulatorProcess) -> TenantsConfig:
    """The escalation tenants, with acme's Chatwoot being the simulator (globex has none)."""
    document = escalation_tenants_document()
    integration = document["tenants"][0]["chatwoot"][0]
    assert integration["account_id"] == ACCOUNT_ID
    integration["base_url"] = sim.url
    integration["api_access_token"] = ADMIN_TOKEN
    return parse_tenants(document)


def _seed_agents(sim: SimulatorProcess, *presences: tuple[str, str]) -> list[str]:
    """Agents (name, availability) in Chatwoot; their ids as the directory names them."""
    specs = [
        {"name": name, "email": f"{name.split()[0]}@acme.example", "availability_status": status}
        for name, status in presences
    ]
    return [str(agent_id) for agent_id in sim.control.seed(agents=specs).agent_ids]


def _base_users_away(sim: SimulatorProcess) -> None:
    for user_id in (ADMIN_USER_ID, AGENT_USER_ID):
        sim.control.set_availability(user_id, "offline")


async def _sync(desk: Desk) -> Req.SyncAgentsResponse:
    return await desk.escalations.SyncAgents(Req.SyncAgentsRequest(), metadata=ACME)


def _counts(report: Req.SyncAgentsResponse) -> tuple[int, int, int, int]:
    return (report.seen, report.added, report.changed, report.removed)


async def _directory(desk: Desk) -> dict[str, agent_pb2.Agent]:
    answer = await desk.escalations.ListAgents(Req.ListAgentsRequest(page_size=500), metadata=ACME)
    return {agent.name.removeprefix("agents/"): agent for agent in answer.agents}


async def _set_availability(desk: Desk, agent_id: str, availability: int) -> None:
    await desk.escalations.SetAgentAvailability(
        Req.SetAgentAvailabilityRequest(
            name=f"agents/{agent_id}",
            availability=availability,  # type: ignore[arg-type]
        ),
        metadata=ACME,
    )


async def _escalate(desk: Desk, conversation_id: int) -> E.Escalation:
    ticket = await desk.open_ticket(conversation_id)
    return await desk.escalations.EscalateTicket(
        Req.EscalateTicketRequest(ticket=ticket), metadata=ACME
    )


# --- what a sync brings in ----------------------------------------------------------------


async def test_sync_adds_chatwoots_agents_with_presence_names_and_emails(
    sim: SimulatorProcess, desk: Desk
) -> None:
    priya, sam, kim = _seed_agents(
        sim, ("Priya Raman", "online"), ("Sam Lee", "busy"), ("Kim Ode", "offline")
    )

    report = await _sync(desk)

    assert _counts(report) == (5, 5, 0, 0)
    directory = await _directory(desk)
    assert {
        agent_id: (agent.display_name, agent.email, agent.availability)
        for agent_id, agent in directory.items()
    } == {
        str(ADMIN_USER_ID): ("Sim Admin", "admin@chatwoot-sim.test", ONLINE),
        str(AGENT_USER_ID): ("Sim Agent", "agent@chatwoot-sim.test", ONLINE),
        priya: ("Priya Raman", "priya@acme.example", ONLINE),
        sam: ("Sam Lee", "sam@acme.example", BUSY),
        kim: ("Kim Ode", "kim@acme.example", OFFLINE),
    }
    assert not any(agent.removed_from_chatwoot for agent in directory.values())
    # Another tenant's directory is its own.
    others = await desk.escalations.ListAgents(Req.ListAgentsRequest(), metadata=GLOBEX)
    assert list(others.agents) == []


async def test_a_second_sync_with_nothing_changed_changes_nothing(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _seed_agents(sim, ("Priya Raman", "online"), ("Sam Lee", "busy"))
    await _sync(desk)
    before = await _directory(desk)

    report = await _sync(desk)

    assert _counts(report) == (4, 0, 0, 0)
    assert await _directory(desk) == before  # update_time included


async def test_name_and_email_changes_follow_chatwoot(sim: SimulatorProcess, desk: Desk) -> None:
    """Chatwoot lists the agent under a new name: the entry follows, keeping its skills."""
    [priya] = _seed_agents(sim, ("Priya Raman", "online"))
    await _sync(desk)
    await desk.agent(priya, "Priya R.", skills=("billing",))

    report = await _sync(desk)

    assert _counts(report) == (3, 0, 1, 0)
    entry = (await _directory(desk))[priya]
    assert entry.display_name == "Priya Raman"
    assert list(entry.skills) == ["billing"]


# --- presence and who is chosen -----------------------------------------------------------


async def test_an_agent_going_busy_or_offline_in_chatwoot_is_never_chosen(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _base_users_away(sim)
    priya, sam = _seed_agents(sim, ("Priya Raman", "online"), ("Sam Lee", "online"))
    await _sync(desk)

    sim.control.set_availability(int(priya), "busy")
    assert _counts(await _sync(desk)) == (4, 0, 1, 0)
    assert (await _directory(desk))[priya].availability == BUSY

    # Priya has the lower id and the same (empty) load, so only her presence keeps her out.
    first = await _escalate(desk, 701)
    assert first.state == E.ESCALATION_STATE_ASSIGNED
    assert first.assignee_id == sam

    sim.control.set_availability(int(sam), "offline")
    assert _counts(await _sync(desk)) == (4, 0, 1, 0)
    assert (await _directory(desk))[sam].availability == OFFLINE

    second = await _escalate(desk, 702)
    assert second.state == E.ESCALATION_STATE_QUEUED
    assert second.assignee_id == ""


async def test_an_agent_busy_in_chatwoot_from_the_start_is_never_chosen(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _base_users_away(sim)
    [sam] = _seed_agents(sim, ("Sam Lee", "busy"))
    await _sync(desk)

    escalation = await _escalate(desk, 703)

    assert escalation.state == E.ESCALATION_STATE_QUEUED
    await _sync(desk)  # nothing changed in Chatwoot, so the sync assigns nothing either
    still = await desk.escalations.GetEscalation(
        Req.GetEscalationRequest(name=escalation.name), metadata=ACME
    )
    assert still.state == E.ESCALATION_STATE_QUEUED
    assert (await _directory(desk))[sam].active_tickets == 0


async def test_an_explicit_availability_holds_until_chatwoots_own_value_changes(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _base_users_away(sim)
    [priya] = _seed_agents(sim, ("Priya Raman", "offline"))
    await _sync(desk)
    # She is at her desk, whatever Chatwoot says.
    await _set_availability(desk, priya, ONLINE)

    for _ in range(2):
        assert _counts(await _sync(desk)) == (3, 0, 0, 0)
        assert (await _directory(desk))[priya].availability == ONLINE
    assert (await _escalate(desk, 704)).assignee_id == priya

    # Chatwoot's own value moves: the directory follows it again.
    sim.control.set_availability(int(priya), "busy")
    assert _counts(await _sync(desk)) == (3, 0, 1, 0)
    assert (await _directory(desk))[priya].availability == BUSY
    assert (await _escalate(desk, 705)).state == E.ESCALATION_STATE_QUEUED


async def test_an_explicit_busy_holds_while_chatwoot_still_says_online(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _base_users_away(sim)
    [priya] = _seed_agents(sim, ("Priya Raman", "online"))
    await _sync(desk)
    await _set_availability(desk, priya, BUSY)

    assert _counts(await _sync(desk)) == (3, 0, 0, 0)
    assert (await _directory(desk))[priya].availability == BUSY
    assert (await _escalate(desk, 706)).state == E.ESCALATION_STATE_QUEUED

    sim.control.set_availability(int(priya), "offline")
    await _sync(desk)
    assert (await _directory(desk))[priya].availability == OFFLINE


async def test_an_agent_removed_from_chatwoot_is_marked_and_never_chosen(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _base_users_away(sim)
    priya, sam = _seed_agents(sim, ("Priya Raman", "online"), ("Sam Lee", "online"))
    await _sync(desk)

    sim.control.remove_agent(int(priya))
    report = await _sync(desk)

    assert _counts(report) == (3, 0, 0, 1)
    directory = await _directory(desk)
    assert directory[priya].removed_from_chatwoot
    assert not directory[sam].removed_from_chatwoot
    # Offline too, so a list of who is online leaves her out.
    assert directory[priya].availability == OFFLINE
    online = await desk.escalations.ListAgents(
        Req.ListAgentsRequest(availability=ONLINE), metadata=ACME
    )
    assert [agent.name for agent in online.agents] == [f"agents/{sam}"]
    # Priya has the lower id and the same load: only the removal keeps her out, even after
    # someone marks her online by hand.
    await _set_availability(desk, priya, ONLINE)
    assert (await _escalate(desk, 707)).assignee_id == sam
    assert (await _escalate(desk, 708)).assignee_id == sam
    # Marked once; later syncs count her no more.
    assert _counts(await _sync(desk)) == (3, 0, 0, 0)


async def test_concurrent_syncs_and_a_hand_made_entry_add_each_agent_once(
    sim: SimulatorProcess, desk: Desk
) -> None:
    ids = _seed_agents(sim, *((f"Agent {n}", "online") for n in range(20)))

    # Every call may insert the same new agents at once; the loser of an insert race
    # retries (SyncAgents) or is told to (ABORTED, UpdateAgent), never INTERNAL.
    results = await asyncio.gather(
        *(_sync(desk) for _ in range(4)),
        desk.agent(ids[0], "Agent 0", skills=("billing",)),
        return_exceptions=True,
    )

    for result in results:
        if isinstance(result, grpc.aio.AioRpcError):
            assert result.code() == grpc.StatusCode.ABORTED, result
        else:
            assert not isinstance(result, BaseException), result
    directory = await _directory(desk)
    assert set(ids) <= set(directory)
    assert len(directory) == len(ids) + 2  # and the two base users
    assert _counts(await _sync(desk))[1] == 0  # nothing left to add


async def test_a_queued_escalation_is_assigned_when_a_sync_brings_an_agent_online(
    sim: SimulatorProcess, desk: Desk
) -> None:
    _base_users_away(sim)
    [priya] = _seed_agents(sim, ("Priya Raman", "offline"))
    await _sync(desk)
    ticket = await desk.customer_writes(
        709, "This is ridiculous and unacceptable, I am furious with your terrible service!"
    )

    async def queued() -> E.Escalation | None:
        found = await desk.escalations_of(ticket)
        return found[0] if found and found[0].state == E.ESCALATION_STATE_QUEUED else None

    waiting = await eventually(queued)
    assert waiting.assignee_id == ""

    sim.control.set_availability(int(priya), "online")
    assert _counts(await _sync(desk)) == (3, 0, 1, 0)

    # The sync itself hands out the queue, before it answers.
    assigned = await desk.escalations.GetEscalation(
        Req.GetEscalationRequest(name=waiting.name), metadata=ACME
    )
    assert assigned.state == E.ESCALATION_STATE_ASSIGNED
    assert assigned.assignee_id == priya

    async def ticket_assigned() -> bool | None:
        return True if (await desk.ticket(ticket)).assignee_id == priya else None

    await eventually(ticket_assigned)


async def test_the_periodic_job_syncs_without_being_asked(
    sim: SimulatorProcess,
    database_url: str,
    tenants: TenantsConfig,
    clock: ManualClock,
    ticket_app: bootstrap.TicketApp,
) -> None:
    [priya] = _seed_agents(sim, ("Priya Raman", "online"))
    workers = dataclasses.replace(FAST, agent_sync_interval=timedelta(seconds=0.1))
    app = await escalation_bootstrap.start(
        engine=create_engine(database_url),
        tenants=tenants,
        listen="127.0.0.1:0",
        ticket_service_target=f"127.0.0.1:{ticket_app.port}",
        clock=clock,
        workers=workers,
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub = escalation_service_pb2_grpc.EscalationServiceStub(channel)

            async def priya_is(availability: int) -> bool | None:
                answer = await stub.ListAgents(Req.ListAgentsRequest(), metadata=ACME)
                found = {a.name: a.availability for a in answer.agents}
                return True if found.get(f"agents/{priya}") == availability else None

            await eventually(lambda: priya_is(ONLINE))
            sim.control.set_availability(int(priya), "busy")
            await eventually(lambda: priya_is(BUSY))
    finally:
        await app.stop(grace=1)


# --- failures -----------------------------------------------------------------------------


async def _back_up(sim: SimulatorProcess) -> None:
    """Wait out a `down`: the next test's reset goes through the same listener."""

    async def answering() -> bool | None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            try:
                response = await client.get(f"{sim.url}/_sim/faults")
            except httpx.TransportError:
                return None
        return True if response.status_code == 200 else None

    await eventually(answering)


async def test_chatwoot_down_is_unavailable_and_changes_nothing(
    sim: SimulatorProcess, desk: Desk
) -> None:
    [priya] = _seed_agents(sim, ("Priya Raman", "online"))
    await _sync(desk)
    before = await _directory(desk)
    sim.control.set_availability(int(priya), "busy")
    _seed_agents(sim, ("Sam Lee", "online"))

    sim.control.down(2.0)
    try:
        # The listener closes at once, but the connection the last sync left in the client's
        # pool is only dropped when uvicorn next looks at its exit flag (every 0.1 s).
        await asyncio.sleep(0.5)
        error = await expect_error(_sync(desk), grpc.StatusCode.UNAVAILABLE)
    finally:
        await _back_up(sim)

    assert "Chatwoot's agents API failed" in error.message
    assert await _directory(desk) == before
    # Back up, the next sync catches up with both changes.
    assert _counts(await _sync(desk)) == (4, 1, 1, 0)
    assert (await _directory(desk))[priya].availability == BUSY


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_chatwoot_failing_is_unavailable_and_changes_nothing(
    sim: SimulatorProcess, desk: Desk, status: int
) -> None:
    [priya] = _seed_agents(sim, ("Priya Raman", "online"))
    await _sync(desk)
    before = await _directory(desk)
    sim.control.set_availability(int(priya), "offline")
    sim.control.fault(path_prefix=sim.api_path("/agents"), status=status, times=1)

    error = await expect_error(_sync(desk), grpc.StatusCode.UNAVAILABLE)

    assert str(status) in error.message
    assert error.info.reason == "UNAVAILABLE"
    assert await _directory(desk) == before
    assert _counts(await _sync(desk)) == (3, 0, 1, 0)


async def test_a_tenant_without_chatwoot_gets_failed_precondition(
    sim: SimulatorProcess, desk: Desk
) -> None:
    error = await expect_error(
        desk.escalations.SyncAgents(Req.SyncAgentsRequest(), metadata=GLOBEX),
        grpc.StatusCode.FAILED_PRECONDITION,
    )

    assert error.info.reason == "NO_CHATWOOT_INTEGRATION"
    assert sim.control.calls() == []  # nobody asked Chatwoot
    others = await desk.escalations.ListAgents(Req.ListAgentsRequest(), metadata=GLOBEX)
    assert list(others.agents) == []
