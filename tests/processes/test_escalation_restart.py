"""A restart mid-stream of the event log, with no decision lost or doubled.

The ticket service and the escalation service run as processes on one database. Customer
messages arrive as the gateway sends them while the escalation service is SIGKILLed after
its first decisions, then started again on the same database: every angry conversation
ends with exactly one escalation and one note, and no calm one gets any.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import field_mask_pb2
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from escalation_service.adapters.tables import consumer_cursors
from escalation_service.service.consumer import CONSUMER
from tests.conftest import ACME, ACME_GATEWAY_TOKEN, ACME_INTEGRATION, ACME_TOKEN
from tests.e2e.test_chatwoot_intake import GATEWAY, K, delivery, message, state
from tests.escalation.conftest import ACME_ESCALATION_TOKEN
from tests.processes.support import Process, free_port
from tests.support import eventually
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2, ticket_service_pb2_grpc

if TYPE_CHECKING:
    from ticketing.escalation.v1.escalation_service_pb2_grpc import EscalationServiceAsyncStub
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

E = escalation_pb2
AGENT = "7"
CONVERSATIONS = 40
# Two messages per conversation, one below the policy's repetition threshold (3): an event
# applied twice would push a calm conversation's streak to 3 and escalate it, so the calm
# conversations catch a doubled event, and the angry ones a lost one.
OPENING = "Hello, could you tell me when my order ships?"
CALM = "Thanks, all good!"
ANGRY = "I want a refund now, this is unacceptable"
KILL_AFTER = 3  # escalations: the first process has decided some, not all
# Paces the stream so that it is still flowing when the kill comes and through the
# seconds the second process takes to start.
SEND_INTERVAL = 0.05
# The last conversations wait for the second process to serve, so that it is seen taking
# both the backlog left while it was down and messages as they come.
LIVE_AFTER_RESTART = 10
FAST_ESCALATION_ENV = {
    "ESCALATION_POLL_SECONDS": "0.05",
    "ESCALATION_QUEUE_SECONDS": "0.2",
    "ESCALATION_EFFECTS_RETRY_INITIAL_SECONDS": "0.05",
    "ESCALATION_EFFECTS_RETRY_MAX_SECONDS": "0.5",
    "ESCALATION_AGENT_SYNC_ENABLED": "false",
    # An escalation the killed process had claimed for its effects waits out this lease
    # before the new process takes it over (30 s in production).
    "ESCALATION_EFFECTS_LEASE_SECONDS": "1",
}
# Nothing here is about Chatwoot: the ticket service is only the event log and the target
# of the escalations' effects.
QUIET_TICKET_ENV = {
    "TICKET_SYNC_ENABLED": "false",
    "TICKET_RECONCILE_ENABLED": "false",
    "TICKET_RETENTION_ENABLED": "false",
}


def _tenants() -> str:
    return f"""
[[tenants]]
id = "acme"

[[tenants.api_tokens]]
principal = "tester"
token = "{ACME_TOKEN}"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "{ACME_GATEWAY_TOKEN}"

[[tenants.api_tokens]]
principal = "escalation-service"
source = "escalation"
token = "{ACME_ESCALATION_TOKEN}"

[[tenants.chatwoot]]
name = "{ACME_INTEGRATION}"
base_url = "http://127.0.0.1:9"
account_id = 3
api_access_token = "acme-chatwoot-access-token"
webhook_secret = "acme-webhook-secret-0123456789"
"""


class Services:
    """The two services as processes, each on a fixed port so a restart keeps its address."""

    def __init__(self, directory: Path, database_url: str, exits: ExitStack) -> None:
        self.directory = directory
        self.database_url = database_url
        self.tenants = directory / "tenants.toml"
        self.tenants.write_text(_tenants())
        self.ticket_port = free_port()
        self.escalation_port = free_port()
        self._exits = exits

    def start_ticket_service(self) -> None:
        env = {
            "TICKET_DATABASE_URL": self.database_url,
            "TICKETING_TENANTS_FILE": str(self.tenants),
            "TICKET_GRPC_LISTEN": f"127.0.0.1:{self.ticket_port}",
            "SHUTDOWN_GRACE_SECONDS": "2",
            **QUIET_TICKET_ENV,
        }
        service = Process("ticket_service", "serve", "--migrate", env=env, cwd=self.directory)
        self._exits.callback(service.close)
        service.serving_port()

    def start_escalation_service(self) -> Process:
        """Started, not yet serving: wait with `serving_port`."""
        env = {
            "ESCALATION_DATABASE_URL": self.database_url,
            "TICKETING_TENANTS_FILE": str(self.tenants),
            "ESCALATION_GRPC_LISTEN": f"127.0.0.1:{self.escalation_port}",
            "ESCALATION_TICKET_SERVICE_TARGET": f"127.0.0.1:{self.ticket_port}",
            "SHUTDOWN_GRACE_SECONDS": "2",
            **FAST_ESCALATION_ENV,
        }
        service = Process("escalation_service", "serve", "--migrate", env=env, cwd=self.directory)
        self._exits.callback(service.close)
        return service


@pytest.fixture
def services(tmp_path: Path, database_url: str, engine: AsyncEngine) -> Iterator[Services]:
    """On each backend, with empty tables."""
    with ExitStack() as exits:
        yield Services(tmp_path, database_url, exits)


class Stream:
    """The customer messages, sent one after another as the gateway would."""

    def __init__(self) -> None:
        self.angry = [c for c in range(1, CONVERSATIONS + 1) if c % 2 == 0]
        self.calm = [c for c in range(1, CONVERSATIONS + 1) if c % 2 == 1]
        self.tickets: dict[int, str] = {}  # conversation → ticket name
        self.sent: list[tuple[int, str]] = []  # (conversation, text) as delivered
        self._message_ids = iter(range(10_000, 1_000_000))

    @property
    def total(self) -> int:
        return 2 * CONVERSATIONS

    async def run(self, tickets: TicketServiceAsyncStub, restarted: asyncio.Event) -> None:
        for conversation in range(1, CONVERSATIONS + 1):
            if conversation == CONVERSATIONS - LIVE_AFTER_RESTART + 1:
                await restarted.wait()
            last = ANGRY if conversation in self.angry else CALM
            for text in (OPENING, last):
                await self._write(tickets, conversation, text)
                await asyncio.sleep(SEND_INTERVAL)

    async def _write(self, tickets: TicketServiceAsyncStub, conversation: int, text: str) -> None:
        response = await tickets.ApplyChatwootDelivery(
            delivery(
                K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED,
                conversation=state(
                    conversation, contact_id=conversation, email=f"c{conversation}@example.com"
                ),
                msg=message(next(self._message_ids), content=text),
            ),
            metadata=GATEWAY,
            timeout=10,
        )
        assert response.ticket, response
        assert self.tickets.setdefault(conversation, response.ticket) == response.ticket
        self.sent.append((conversation, text))


async def _all_escalations(stub: EscalationServiceAsyncStub) -> list[escalation_pb2.Escalation]:
    # One page holds them all: at most one per conversation when nothing is doubled, and a
    # doubled one shows up as more than that anyway.
    response = await stub.ListEscalations(
        escalation_service_pb2.ListEscalationsRequest(page_size=500), metadata=ACME, timeout=5
    )
    assert not response.next_page_token
    return list(response.escalations)


async def _notes(tickets: TicketServiceAsyncStub, ticket: str) -> list[str]:
    response = await tickets.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(ticket=ticket, page_size=1000), metadata=ACME
    )
    return [
        str(event.after["body"])
        for event in response.events
        if event.type == enums_pb2.TICKET_EVENT_TYPE_NOTE_ADDED
    ]


async def _head(tickets: TicketServiceAsyncStub) -> int:
    response = await tickets.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(page_size=1), metadata=ACME
    )
    return int(response.head_cursor)


async def _cursor(engine: AsyncEngine) -> int:
    """Where the escalation service's durable cursor stands; no RPC shows it."""
    async with engine.connect() as conn:
        found = await conn.scalar(
            select(consumer_cursors.c.cursor).where(
                consumer_cursors.c.tenant_id == "acme", consumer_cursors.c.consumer == CONSUMER
            )
        )
    return int(found or 0)


async def _online_agent(stub: EscalationServiceAsyncStub) -> None:
    # Room for every angry conversation, so none waits in the queue.
    await stub.UpdateAgent(
        escalation_service_pb2.UpdateAgentRequest(
            agent=agent_pb2.Agent(
                name=f"agents/{AGENT}",
                display_name="Grace Hopper",
                capacity=100,
                availability=agent_pb2.AGENT_AVAILABILITY_ONLINE,
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["*"]),
            allow_missing=True,
        ),
        metadata=ACME,
        timeout=5,
    )


async def test_a_sigkill_mid_stream_loses_no_decision_and_doubles_none(
    services: Services, engine: AsyncEngine
) -> None:
    services.start_ticket_service()
    first = services.start_escalation_service()
    first.serving_port()
    stream = Stream()
    restarted = asyncio.Event()
    escalation_address = f"127.0.0.1:{services.escalation_port}"
    async with grpc.aio.insecure_channel(f"127.0.0.1:{services.ticket_port}") as ticket_channel:
        tickets = ticket_service_pb2_grpc.TicketServiceStub(ticket_channel)
        async with grpc.aio.insecure_channel(escalation_address) as channel:
            before = escalation_service_pb2_grpc.EscalationServiceStub(channel)
            await _online_agent(before)
            sending = asyncio.create_task(stream.run(tickets, restarted))
            try:

                async def some_decided() -> int | None:
                    found = len(await _all_escalations(before))
                    return found if found >= KILL_AFTER else None

                decided = await eventually(some_decided, within=10)
                os.kill(first.pid, signal.SIGKILL)
                assert await asyncio.to_thread(first.popen.wait, 10) == -signal.SIGKILL
                sent_at_kill = len(stream.sent)

                second = services.start_escalation_service()
                # In a thread: the stream goes on while the second process starts.
                await asyncio.to_thread(second.serving_port)
                sent_while_down = len(stream.sent) - sent_at_kill
                restarted.set()
                await asyncio.wait_for(sending, timeout=20)
            finally:
                sending.cancel()
        # Mid-stream: the first process decided some, not all, and messages kept coming
        # while it was down.
        assert KILL_AFTER <= decided < len(stream.angry)
        assert sent_while_down > 0
        assert len(stream.sent) == stream.total

        async with grpc.aio.insecure_channel(escalation_address) as channel:
            after = escalation_service_pb2_grpc.EscalationServiceStub(channel)

            async def settled() -> list[escalation_pb2.Escalation] | None:
                """Every escalation, once the consumer has read the whole log and no effect
                is left to add to it: the head did not move while the cursor reached it."""
                head = await _head(tickets)
                if await _cursor(engine) < head:
                    return None
                found = await _all_escalations(after)
                if any(e.effects_state != E.EFFECTS_STATE_DONE for e in found):
                    return None
                return found if await _head(tickets) == head else None

            found = await eventually(settled, within=15)
            agent = await after.GetAgent(
                escalation_service_pb2.GetAgentRequest(name=f"agents/{AGENT}"), metadata=ACME
            )

        by_ticket: dict[str, list[escalation_pb2.Escalation]] = {}
        for escalation in found:
            by_ticket.setdefault(escalation.ticket, []).append(escalation)
        angry = {stream.tickets[c] for c in stream.angry}
        assert len(angry | {stream.tickets[c] for c in stream.calm}) == CONVERSATIONS
        assert {t: len(e) for t, e in by_ticket.items()} == dict.fromkeys(angry, 1)
        for [escalation] in by_ticket.values():
            assert escalation.trigger == E.ESCALATION_TRIGGER_CUSTOMER_MESSAGE
            assert escalation.reason == E.ESCALATION_REASON_REFUND_DEMAND
            assert escalation.state == E.ESCALATION_STATE_ASSIGNED
            assert escalation.assignee_id == AGENT
        # One assignment each, counted once against the agent.
        assert agent.active_tickets == len(angry)

        # The effects are idempotent by request id: an effect carried out by the killed
        # process and again by the new one left one note.
        for conversation in stream.angry:
            ticket = stream.tickets[conversation]
            [escalation] = by_ticket[ticket]
            [note] = await _notes(tickets, ticket)
            assert escalation.name in note
        for conversation in stream.calm:
            assert await _notes(tickets, stream.tickets[conversation]) == []
