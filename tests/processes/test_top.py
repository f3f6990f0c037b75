"""`make top` (`python -m devstack.top`) against the real stack: three processes on SQLite,
signed Chatwoot webhooks through the gateway while it watches, a Chatwoot-linked ticket with
a note waiting in the outbox, an agent with tickets. Then one process stopped: it is shown
as down, and the rest still shows."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import httpx
import pytest
from google.protobuf import field_mask_pb2

from common.db import create_engine
from devstack.stack import Stack, gateway_url, wait_until_ready
from escalation_service.adapters import migrate as escalation_migrate
from tests.chatwoot_samples import conversation_stream, signed_headers
from tests.processes.support import REPO_ROOT, child_env, free_port, run_module
from tests.support import eventually
from ticket_service.adapters import migrate as ticket_migrate
from ticketing.escalation.v1 import agent_pb2, escalation_service_pb2, escalation_service_pb2_grpc
from ticketing.ticket.v1 import ticket_service_pb2, ticket_service_pb2_grpc

SECRET = "top-webhook-secret-0123456789"
ACME_TOKEN = "top-acme-api-token-0123456789"
METADATA = (("authorization", f"Bearer {ACME_TOKEN}"),)
TENANTS = f"""
[[tenants]]
id = "acme"

[[tenants.api_tokens]]
principal = "tester"
token = "{ACME_TOKEN}"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "top-acme-gateway-token-0123456789"

[[tenants.api_tokens]]
principal = "escalation-service"
source = "escalation"
token = "top-acme-escalation-token-0123456789"

[[tenants.chatwoot]]
name = "acme-chatwoot"
base_url = "http://127.0.0.1:9"
account_id = 3
api_access_token = "unused-here"
webhook_secret = "{SECRET}"

[[tenants]]
id = "globex"

[[tenants.api_tokens]]
principal = "tester"
token = "top-globex-api-token-0123456789"
"""
WEBHOOKS = "/webhooks/chatwoot/acme-chatwoot"
# The agent the sample conversations are assigned to (tests/chatwoot_samples._AGENT).
AGENT_ID = "12"
CAPACITY = 4
# Generous: on a shared, loaded machine three interpreters can take this long to serve.
READY_WITHIN_SECONDS = 60.0


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    (tmp_path / "tenants.toml").write_text(TENANTS)
    ports: set[int] = set()
    while len(ports) < 5:  # the OS may hand a just-freed port out twice
        ports.add(free_port())
    ticket_grpc, escalation_grpc, ticket_metrics, escalation_metrics, gateway = [
        f"127.0.0.1:{port}" for port in ports
    ]
    env = child_env(
        {
            "TICKET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ticket_service.db'}",
            "ESCALATION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'escalation.db'}",
            "TICKETING_TENANTS_FILE": str(tmp_path / "tenants.toml"),
            "TICKET_GRPC_LISTEN": ticket_grpc,
            "TICKET_SERVICE_TARGET": ticket_grpc,
            "ESCALATION_TICKET_SERVICE_TARGET": ticket_grpc,
            "ESCALATION_GRPC_LISTEN": escalation_grpc,
            "TICKET_METRICS_LISTEN": ticket_metrics,
            "ESCALATION_METRICS_LISTEN": escalation_metrics,
            "GATEWAY_LISTEN_HOST": "127.0.0.1",
            "GATEWAY_PORT": gateway.rpartition(":")[2],
            "GATEWAY_SPOOL_PATH": str(tmp_path / "spool.db"),
            "ESCALATION_POLL_SECONDS": "0.1",
            "SHUTDOWN_GRACE_SECONDS": "2",
        }
    )
    # Migrated here, in-process: two interpreters fewer to start.
    for url, upgrade in (
        (env["TICKET_DATABASE_URL"], ticket_migrate.upgrade),
        (env["ESCALATION_DATABASE_URL"], escalation_migrate.upgrade),
    ):
        engine = create_engine(url)
        try:
            await upgrade(engine)
        finally:
            await engine.dispose()
    # Without a Chatwoot (Stack's default): the note's task waits in the outbox.
    running = await Stack.start(env, logs=tmp_path, migrate_first=False)
    try:
        ready = asyncio.ensure_future(wait_until_ready(running.env, READY_WITHIN_SECONDS))
        await asyncio.wait([ready, *running.exits.values()], return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():
            ready.cancel()
            raise AssertionError(f"{running.exited()} exited before ready; logs in {tmp_path}")
        await ready
        yield running
    finally:
        await running.stop()


def top(stack: Stack, interval: float) -> subprocess.CompletedProcess[str]:
    env = stack.env
    return run_module(
        "devstack.top",
        "--once",
        f"--interval={interval}",
        f"--gateway={gateway_url(env)}/metrics",
        f"--ticket-metrics=http://{env['TICKET_METRICS_LISTEN']}/metrics",
        f"--escalation-metrics=http://{env['ESCALATION_METRICS_LISTEN']}/metrics",
        f"--escalation={env['ESCALATION_GRPC_LISTEN']}",
        f"--tenants-file={env['TICKETING_TENANTS_FILE']}",
        env={},
        cwd=REPO_ROOT,
        timeout=30,
    )


def row(frame: str, *first: str) -> list[str]:
    """The cells (split on two spaces or more) of the frame's line that starts with `first`."""
    for line in frame.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells[: len(first)] == list(first):
            return cells
    raise AssertionError(f"no line starting {first} in:\n{frame}")


async def post_until(
    http: httpx.AsyncClient, done: asyncio.Future[subprocess.CompletedProcess[str]], first: int
) -> int:
    """Posts fresh signed conversations until `done`; how many were answered 200."""
    answered = 0
    while not done.done():
        for delivery in conversation_stream(1, first_display_id=first + answered):
            response = await http.post(
                WEBHOOKS, content=delivery.body, headers=signed_headers(SECRET, delivery)
            )
            answered += response.status_code == 200
    return answered


async def test_top_shows_live_throughput_outbox_agents_and_a_process_down(stack: Stack) -> None:
    env = stack.env
    async with (
        httpx.AsyncClient(base_url=gateway_url(env), timeout=5.0) as http,
        grpc.aio.insecure_channel(env["TICKET_GRPC_LISTEN"]) as tickets_channel,
        grpc.aio.insecure_channel(env["ESCALATION_GRPC_LISTEN"]) as escalation_channel,
    ):
        tickets = ticket_service_pb2_grpc.TicketServiceStub(tickets_channel)
        escalations = escalation_service_pb2_grpc.EscalationServiceStub(escalation_channel)
        await escalations.UpdateAgent(
            escalation_service_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(
                    name=f"agents/{AGENT_ID}",
                    display_name="Sam Agent",
                    capacity=CAPACITY,
                    availability=agent_pb2.AGENT_AVAILABILITY_ONLINE,
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["*"]),
                allow_missing=True,
            ),
            metadata=METADATA,
        )
        # Four conversations, all assigned to the agent; three stay open.
        for delivery in conversation_stream(4):
            response = await http.post(
                WEBHOOKS, content=delivery.body, headers=signed_headers(SECRET, delivery)
            )
            assert response.status_code == 200, response.text
        listed = await tickets.ListTickets(
            ticket_service_pb2.ListTicketsRequest(), metadata=METADATA
        )
        await tickets.AddTicketNote(
            ticket_service_pb2.AddTicketNoteRequest(
                ticket=listed.tickets[0].name, body="Called the customer back."
            ),
            metadata=METADATA,
        )

        async def agent_has_tickets() -> int | None:
            agents = await escalations.ListAgents(
                escalation_service_pb2.ListAgentsRequest(), metadata=METADATA
            )
            active = agents.agents[0].active_tickets
            return active if active > 0 else None

        active = await eventually(agent_has_tickets)

        # Webhooks keep arriving while top takes its two scrapes.
        watching = asyncio.ensure_future(asyncio.to_thread(top, stack, 1.0))
        posted = await post_until(http, watching, first=3000)
        watched = await watching
        frame = watched.stdout

    assert watched.returncode == 0, watched.stderr
    assert posted > 0
    for process in ("gateway", "ticket service", "escalation service"):
        assert row(frame, process)[-1] == "up", frame
    _, _, _, applied, applied_per_second = row(frame, "acme", "acme-chatwoot", "applied")
    assert float(applied) >= 40, frame
    assert float(applied_per_second) > 0, frame
    *_, requests_per_second, _, _, p99 = row(frame, "ticket service", "TicketService")
    assert float(requests_per_second) > 0, frame
    assert p99.endswith("ms") or p99.endswith("s"), frame
    outbox = row(frame, "acme", "acme-chatwoot", "1")  # pending
    assert outbox[-1] == "0", frame  # no dead letters
    # More conversations for the agent kept coming in while top watched.
    load = re.fullmatch(rf"(\d+)/{CAPACITY}", row(frame, "acme", "Sam Agent", "online")[3])
    assert load is not None, frame
    assert int(load.group(1)) >= active, frame
    assert "globex: no agents" in frame

    escalation = stack.children["escalation_service"]
    escalation.terminate()
    await escalation.wait()
    watched = top(stack, 0.2)
    frame = watched.stdout

    assert watched.returncode == 1, watched.stderr  # for scripts: something is down
    assert row(frame, "escalation service")[-1] == "DOWN (connection refused)", frame
    assert row(frame, "ticket service")[-1] == "up", frame
    assert "  escalation service is down" in frame
    assert "  acme: down" in frame
    assert row(frame, "acme", "acme-chatwoot", "applied")
