"""Two-way sync as it runs in production: the ticket service, the gateway and the Chatwoot
simulator as separate processes on 127.0.0.1.

Our changes go out through the outbox; Chatwoot's come back as signed webhooks through the
gateway; neither bounces back. Chatwoot goes down for 30 s while 200 changes are made; two
ticket-service replicas drain one PostgreSQL outbox.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine
from tests.chatwoot_sim.support import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    WEBHOOK_SECRET,
    SimulatorProcess,
    run_simulator,
)
from tests.conftest import empty_tables
from tests.processes.support import Process, free_port, run_module, wait_for_http
from ticketing.ticket.v1 import (
    chatwoot_sync_pb2,
    customer_pb2,
    enums_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

ACCOUNT_ID = 3
API_TOKEN = "sync-api-token-0123456789"
METADATA = (("authorization", f"Bearer {API_TOKEN}"),)
P = enums_pb2.TicketPriority
S = enums_pb2.TicketStatus
Pending = chatwoot_sync_pb2.ChatwootSyncState.CHATWOOT_SYNC_STATE_PENDING
Delivered = chatwoot_sync_pb2.ChatwootSyncState.CHATWOOT_SYNC_STATE_DELIVERED
API = enums_pb2.EventSource.EVENT_SOURCE_API
# Fast retries, so the test waits for Chatwoot, not for our backoff.
FAST_SYNC_ENV = {
    "TICKET_SYNC_POLL_SECONDS": "0.1",
    "TICKET_SYNC_RETRY_INITIAL_SECONDS": "0.1",
    "TICKET_SYNC_RETRY_MAX_SECONDS": "1",
    "TICKET_SYNC_BREAKER_COOL_DOWN_SECONDS": "1",
    "TICKET_RECONCILE_ENABLED": "false",
}


def _tenants(chatwoot_url: str) -> str:
    return f"""
[[tenants]]
id = "acme"

[[tenants.api_tokens]]
principal = "tester"
token = "{API_TOKEN}"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "sync-gateway-token-0123456789"

[[tenants.chatwoot]]
name = "acme-chatwoot"
base_url = "{chatwoot_url}"
account_id = {ACCOUNT_ID}
api_access_token = "{ADMIN_TOKEN}"
webhook_secret = "{WEBHOOK_SECRET}"
"""


class Stack:
    """The simulator, one or more ticket-service replicas, and optionally a gateway."""

    def __init__(self, directory: Path, database_url: str, exits: ExitStack) -> None:
        self.directory = directory
        self.database_url = database_url
        self.gateway_port = free_port()
        self.sim: SimulatorProcess = exits.enter_context(
            run_simulator(
                account_id=ACCOUNT_ID,
                webhook_url=f"http://127.0.0.1:{self.gateway_port}/webhooks/chatwoot/acme-chatwoot",
            )
        )
        self.tenants = directory / "tenants.toml"
        self.tenants.write_text(_tenants(self.sim.url))
        self._exits = exits
        self.ports: list[int] = []

    def start_ticket_service(self) -> int:
        port = free_port()
        env = {
            "TICKET_DATABASE_URL": self.database_url,
            "TICKETING_TENANTS_FILE": str(self.tenants),
            "TICKET_GRPC_LISTEN": f"127.0.0.1:{port}",
            "SHUTDOWN_GRACE_SECONDS": "2",
            **FAST_SYNC_ENV,
        }
        args = ["serve", "--migrate"] if not self.ports else ["serve"]
        service = Process("ticket_service", *args, env=env, cwd=self.directory)
        self._exits.callback(service.close)
        service.serving_port()
        self.ports.append(port)
        return port

    def start_gateway(self) -> None:
        assert self.ports, "start a ticket service first"
        env = {
            "GATEWAY_PORT": str(self.gateway_port),
            "TICKET_SERVICE_TARGET": f"127.0.0.1:{self.ports[0]}",
            "TICKETING_TENANTS_FILE": str(self.tenants),
            "GATEWAY_SPOOL_PATH": str(self.directory / "spool.db"),
        }
        gateway = Process("gateway", env=env, cwd=self.directory)
        self._exits.callback(gateway.close)
        wait_for_http(f"http://127.0.0.1:{self.gateway_port}/readyz", 200)


@pytest.fixture
def stack(tmp_path: Path, database_url: str, engine: AsyncEngine) -> Iterator[Stack]:
    """On each backend, with empty tables."""
    with ExitStack() as exits:
        yield Stack(tmp_path, database_url, exits)


@pytest.fixture
async def pg_stack(tmp_path: Path, postgresql_url: str) -> AsyncIterator[Stack]:
    """On PostgreSQL, the production store, with empty tables."""
    engine = create_engine(postgresql_url)
    await empty_tables(engine)
    await engine.dispose()
    with ExitStack() as exits:
        yield Stack(tmp_path, postgresql_url, exits)


@asynccontextmanager
async def _stubs(ports: list[int]) -> AsyncIterator[list[TicketServiceAsyncStub]]:
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for port in ports]
    try:
        yield [ticket_service_pb2_grpc.TicketServiceStub(c) for c in channels]
    finally:
        for channel in channels:
            await channel.close()


async def _ticket_for(stub: TicketServiceAsyncStub, conversation: int) -> ticket_pb2.Ticket:
    return await stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(
                subject=f"Conversation {conversation}",
                conversation=ticket_pb2.ChatwootConversation(
                    account_id=ACCOUNT_ID, conversation_id=conversation, inbox_id=1
                ),
            ),
            customer=customer_pb2.Customer(email=f"customer{conversation}@example.com"),
        ),
        metadata=METADATA,
    )


async def _wait_until_delivered(
    stub: TicketServiceAsyncStub, within: float
) -> list[chatwoot_sync_pb2.ChatwootSyncTask]:
    """Every task, once none is pending."""
    deadline = time.monotonic() + within
    while True:
        tasks: list[chatwoot_sync_pb2.ChatwootSyncTask] = []
        token = ""
        while True:
            page = await stub.ListChatwootSyncTasks(
                ticket_service_pb2.ListChatwootSyncTasksRequest(page_size=500, page_token=token),
                metadata=METADATA,
            )
            tasks += page.tasks
            token = page.next_page_token
            if not token:
                break
        if tasks and all(t.state != Pending for t in tasks):
            return list(tasks)
        if time.monotonic() > deadline:
            pending = sum(t.state == Pending for t in tasks)
            raise AssertionError(f"{pending} of {len(tasks)} tasks still pending")
        await asyncio.sleep(0.2)


def _priorities_sent(sim: SimulatorProcess) -> dict[int, list[str]]:
    """Per conversation, the priorities Chatwoot accepted, in the order it got them."""
    sent: dict[int, list[str]] = defaultdict(list)
    for call in sim.control.calls():
        if call.path.endswith("/toggle_priority") and call.status == 200:
            conversation = int(call.path.split("/")[-2])
            sent[conversation].append(call.json["priority"])
    return sent


async def test_status_round_trips_both_ways_without_an_echo_loop(stack: Stack) -> None:
    stack.start_ticket_service()
    stack.start_gateway()
    sim = stack.sim.control
    [conversation] = sim.seed(
        conversations=[{"contact": {"name": "Ada", "email": "ada@example.com"}}]
    ).conversation_ids
    async with _stubs(stack.ports) as [stub]:
        # Chatwoot's conversation_created, through the gateway, opened the ticket.
        ticket = await _wait_for_ticket(stub, conversation)

        # Ours → Chatwoot: resolved there, and the echoing webhooks change nothing here.
        await stub.ResolveTicket(
            ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=METADATA
        )
        await _wait_until_delivered(stub, within=10)
        assert sim.state().conversation(conversation, ACCOUNT_ID)["status"] == "resolved"
        echoes = sim.wait_for_webhooks(
            lambda hooks: (
                any(h.event == "conversation_status_changed" for h in hooks)
                and all(h.outcome == "delivered" for h in hooks)
            )
        )
        assert all(h.status_code == 200 for h in echoes)

        # Chatwoot → ours: an agent reopens it in Chatwoot; the ticket follows, and nothing
        # is sent back.
        calls_before = len(sim.calls())
        async with httpx.AsyncClient(base_url=stack.sim.api_url) as chatwoot:
            reopened = await chatwoot.post(
                f"/conversations/{conversation}/toggle_status",
                json={"status": "open"},
                headers=stack.sim.headers(AGENT_TOKEN),
            )
            assert reopened.status_code == 200
        ticket = await _wait_for_status(stub, ticket.name, S.TICKET_STATUS_OPEN)
        await asyncio.sleep(1.0)  # time for a loop to show itself, if there were one

        ours = [c for c in sim.calls()[calls_before:] if c.actor == "admin"]
        assert ours == []
        events = await stub.ListTicketEvents(
            ticket_service_pb2.ListTicketEventsRequest(ticket=ticket.name), metadata=METADATA
        )
        statuses = [
            (e.source, e.after["status"])
            for e in events.events
            if e.type == enums_pb2.TicketEventType.TICKET_EVENT_TYPE_STATUS_CHANGED
        ]
        assert statuses == [
            (enums_pb2.EventSource.EVENT_SOURCE_API, "resolved"),
            (enums_pb2.EventSource.EVENT_SOURCE_CHATWOOT, "open"),
        ]
        tasks = await _wait_until_delivered(stub, within=5)
        assert len(tasks) == 1


async def test_priority_assignee_and_notes_reach_chatwoot_and_their_echoes_change_nothing(
    stack: Stack,
) -> None:
    stack.start_ticket_service()
    stack.start_gateway()
    sim = stack.sim.control
    agent = sim.seed(agents=[{"name": "Grace"}], webhooks=False).agent_ids[0]
    [conversation] = sim.seed(
        conversations=[{"contact": {"name": "Ada", "email": "ada@example.com"}}]
    ).conversation_ids
    async with _stubs(stack.ports) as [stub]:
        ticket = await _wait_for_ticket(stub, conversation)
        head = await _head(stub)

        await stub.SetTicketPriority(
            ticket_service_pb2.SetTicketPriorityRequest(
                name=ticket.name, priority=P.TICKET_PRIORITY_URGENT
            ),
            metadata=METADATA,
        )
        await stub.AssignTicket(
            ticket_service_pb2.AssignTicketRequest(name=ticket.name, assignee_id=str(agent)),
            metadata=METADATA,
        )
        note = await stub.AddTicketNote(
            ticket_service_pb2.AddTicketNoteRequest(ticket=ticket.name, body="VIP customer"),
            metadata=METADATA,
        )
        await _wait_until_delivered(stub, within=10)
        seen = sim.state().conversation(conversation, ACCOUNT_ID)
        assert (seen["priority"], seen["assignee_id"]) == ("urgent", agent)
        sim.wait_for_webhooks(
            lambda hooks: (
                sum(h.event == "message_created" for h in hooks) >= 1
                and sum(h.event == "conversation_updated" for h in hooks) >= 2
                and all(h.outcome == "delivered" for h in hooks)
            )
        )
        await asyncio.sleep(0.5)

        # The echoes came back through the gateway and changed nothing: the log holds only
        # our three changes, and our note is not stored as a customer conversation message.
        events = await stub.ListTicketEvents(
            ticket_service_pb2.ListTicketEventsRequest(after_cursor=head), metadata=METADATA
        )
        assert [(e.type, e.source) for e in events.events] == [
            (enums_pb2.TicketEventType.TICKET_EVENT_TYPE_PRIORITY_CHANGED, API),
            (enums_pb2.TicketEventType.TICKET_EVENT_TYPE_ASSIGNEE_CHANGED, API),
            (enums_pb2.TicketEventType.TICKET_EVENT_TYPE_NOTE_ADDED, API),
        ]
        messages = await stub.ListTicketMessages(
            ticket_service_pb2.ListTicketMessagesRequest(parent=ticket.name), metadata=METADATA
        )
        assert all(m.content != "VIP customer" for m in messages.messages)
        notes = [c.json for c in sim.calls() if c.path.endswith("/messages")]
        assert notes[0]["content_attributes"] == {"ticketing_ref": f"note:{note.note_id}"}
        assert len(notes) == 1


async def _head(stub: TicketServiceAsyncStub) -> int:
    log = await stub.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(page_size=1), metadata=METADATA
    )
    return log.head_cursor


async def test_changes_made_while_chatwoot_is_down_30_s_arrive_in_order_each_once(
    pg_stack: Stack,
) -> None:
    stack = pg_stack
    stack.start_ticket_service()
    sim = stack.sim.control
    sim.webhooks_enabled(False)
    conversations = sim.seed(
        conversations=[{"contact": {"name": f"C{n}"}} for n in range(20)], webhooks=False
    ).conversation_ids
    cycle = [P.TICKET_PRIORITY_HIGH, P.TICKET_PRIORITY_LOW, P.TICKET_PRIORITY_URGENT]
    async with _stubs(stack.ports) as [stub]:
        tickets = [await _ticket_for(stub, c) for c in conversations]
        sim.down(30)
        went_down = time.monotonic()

        # 200 changes: 10 per conversation, interleaved across conversations.
        for round_ in range(10):
            for ticket in tickets:
                await stub.SetTicketPriority(
                    ticket_service_pb2.SetTicketPriorityRequest(
                        name=ticket.name, priority=cycle[round_ % 3]
                    ),
                    metadata=METADATA,
                )
        assert time.monotonic() - went_down < 30, "the changes should be made while it is down"

        tasks = await _wait_until_delivered(stub, within=90)

    assert len(tasks) == 200
    assert {t.state for t in tasks} == {Delivered}
    expected = [P.Name(cycle[r % 3]).removeprefix("TICKET_PRIORITY_").lower() for r in range(10)]
    sent = _priorities_sent(stack.sim)
    assert sent == dict.fromkeys(conversations, expected)


async def test_two_replicas_drain_one_outbox_with_no_double_delivery(pg_stack: Stack) -> None:
    stack = pg_stack
    stack.start_ticket_service()
    stack.start_ticket_service()
    sim = stack.sim.control
    sim.webhooks_enabled(False)
    # Slow answers keep claims in flight, so the replicas really compete.
    sim.fault(path_prefix=stack.sim.api_path("/conversations"), delay_seconds=0.02)
    conversations = sim.seed(
        conversations=[{"contact": {"name": f"C{n}"}} for n in range(20)], webhooks=False
    ).conversation_ids
    cycle = [P.TICKET_PRIORITY_HIGH, P.TICKET_PRIORITY_LOW, P.TICKET_PRIORITY_URGENT]
    async with _stubs(stack.ports) as stubs:
        tickets = [await _ticket_for(stubs[0], c) for c in conversations]
        for round_ in range(10):
            await asyncio.gather(
                *(
                    stubs[n % 2].SetTicketPriority(
                        ticket_service_pb2.SetTicketPriorityRequest(
                            name=ticket.name, priority=cycle[round_ % 3]
                        ),
                        metadata=METADATA,
                    )
                    for n, ticket in enumerate(tickets)
                )
            )
        tasks = await _wait_until_delivered(stubs[1], within=60)

    assert len(tasks) == 200
    assert all(t.attempts == 1 for t in tasks)
    expected = [P.Name(cycle[r % 3]).removeprefix("TICKET_PRIORITY_").lower() for r in range(10)]
    assert _priorities_sent(stack.sim) == dict.fromkeys(conversations, expected)


async def _wait_for_ticket(stub: TicketServiceAsyncStub, conversation: int) -> ticket_pb2.Ticket:
    deadline = time.monotonic() + 10
    while True:
        found = await stub.ListTickets(
            ticket_service_pb2.ListTicketsRequest(chatwoot_conversation_id=conversation),
            metadata=METADATA,
        )
        if found.tickets:
            return found.tickets[0]
        if time.monotonic() > deadline:
            raise AssertionError(f"no ticket for conversation {conversation}")
        await asyncio.sleep(0.1)


async def _wait_for_status(
    stub: TicketServiceAsyncStub, name: str, status: int
) -> ticket_pb2.Ticket:
    deadline = time.monotonic() + 10
    while True:
        ticket = await stub.GetTicket(
            ticket_service_pb2.GetTicketRequest(name=name), metadata=METADATA
        )
        if ticket.status == status:
            return ticket
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} stayed {S.Name(ticket.status)}")
        await asyncio.sleep(0.1)


def test_backfill_imports_an_account_with_a_progress_bar(stack: Stack) -> None:
    sim = stack.sim.control
    sim.webhooks_enabled(False)
    sim.seed(conversations=[{"contact": {"name": f"C{n}"}} for n in range(30)], webhooks=False)
    env = {
        "TICKET_DATABASE_URL": stack.database_url,
        "TICKETING_TENANTS_FILE": str(stack.tenants),
    }
    assert run_module("ticket_service", "migrate", env=env, cwd=stack.directory).returncode == 0

    done = run_module("ticket_service", "backfill", "acme-chatwoot", env=env, cwd=stack.directory)

    assert done.returncode == 0, done.stderr
    assert "backfill acme-chatwoot: 30 conversations, 30 applied" in done.stdout
    progress = [line for line in done.stderr.splitlines() if line.startswith("backfill")]
    assert progress[-1].startswith("backfill acme-chatwoot [##############################]")
    assert "30/30 conversations, page 2" in progress[-1]

    again = run_module("ticket_service", "backfill", "acme-chatwoot", env=env, cwd=stack.directory)
    assert "0 applied" in again.stdout, "a finished backfill resumes past its last page"

    unknown = run_module("ticket_service", "backfill", "nope", env=env, cwd=stack.directory)
    assert unknown.returncode == 2
    assert "no chatwoot integration named 'nope'" in unknown.stderr
