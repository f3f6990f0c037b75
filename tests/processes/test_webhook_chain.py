"""The whole intake as it runs in production: Chatwoot's signed webhooks → gateway process →
ticket service process → the database, on both backends. Services are stopped, restarted
and killed mid-stream; nothing accepted may be lost or applied twice."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.chain_state import event_counts, snapshot
from tests.chatwoot_samples import (
    Delivery,
    conversation_stream,
    expected_stream_state,
    signed_headers,
    timeline,
)
from tests.conftest import empty_tables
from tests.processes.support import Process, free_port, wait_for_http
from ticketing.ticket.v1 import ticket_service_pb2_grpc

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

SECRET = "chain-webhook-secret-0123456789"
API_TOKEN = "chain-api-token-0123456789"
METADATA = (("authorization", f"Bearer {API_TOKEN}"),)
TENANTS = f"""
[[tenants]]
id = "acme"

[[tenants.api_tokens]]
principal = "tester"
token = "{API_TOKEN}"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "chain-gateway-token-0123456789"

[[tenants.chatwoot]]
name = "acme-chatwoot"
base_url = "http://127.0.0.1:9"
account_id = 3
api_access_token = "unused-here"
webhook_secret = "{SECRET}"
"""
URL = "/webhooks/chatwoot/acme-chatwoot"


class Chain:
    """A ticket service and a gateway, each restartable on its own port and files."""

    def __init__(self, directory: Path, database_url: str) -> None:
        self.directory = directory
        tenants = directory / "tenants.toml"
        tenants.write_text(TENANTS)
        self.ticket_port = free_port()
        self.gateway_port = free_port()
        self.ticket_env = {
            "TICKET_DATABASE_URL": database_url,
            "TICKETING_TENANTS_FILE": str(tenants),
            "TICKET_GRPC_LISTEN": f"127.0.0.1:{self.ticket_port}",
            "SHUTDOWN_GRACE_SECONDS": "2",
            # Webhooks only: there is no Chatwoot API here to sync with or reconcile from.
            "TICKET_SYNC_ENABLED": "false",
            "TICKET_RECONCILE_ENABLED": "false",
        }
        self.gateway_env = {
            "GATEWAY_PORT": str(self.gateway_port),
            "TICKET_SERVICE_TARGET": f"127.0.0.1:{self.ticket_port}",
            "TICKETING_TENANTS_FILE": str(tenants),
            "GATEWAY_SPOOL_PATH": str(directory / "spool.db"),
            "GATEWAY_FORWARD_TIMEOUT_SECONDS": "1",
            "GATEWAY_RETRY_INITIAL_SECONDS": "0.05",
            "GATEWAY_RETRY_MAX_SECONDS": "0.5",
        }
        self.ticket_service: Process | None = None
        self.gateway: Process | None = None
        self.http = httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{self.gateway_port}", timeout=10.0
        )
        self.channel = grpc.aio.insecure_channel(f"127.0.0.1:{self.ticket_port}")
        self.stub: TicketServiceAsyncStub = ticket_service_pb2_grpc.TicketServiceStub(self.channel)

    def start_ticket_service(self) -> None:
        self.ticket_service = Process(
            "ticket_service", "serve", env=self.ticket_env, cwd=self.directory
        )
        self.ticket_service.serving_port()

    def stop_ticket_service(self) -> None:
        assert self.ticket_service is not None
        assert self.ticket_service.terminate() == 0
        self.ticket_service.close()
        self.ticket_service = None

    def start_gateway(self) -> None:
        self.gateway = Process("gateway", env=self.gateway_env, cwd=self.directory)
        wait_for_http(f"http://127.0.0.1:{self.gateway_port}/healthz", 200)

    def kill_gateway(self) -> None:
        assert self.gateway is not None
        self.gateway.popen.send_signal(signal.SIGKILL)
        self.gateway.popen.wait(10)
        self.gateway.close()
        self.gateway = None

    async def post(self, delivery: Delivery) -> httpx.Response:
        return await self.http.post(
            URL, content=delivery.body, headers=signed_headers(SECRET, delivery)
        )

    async def post_all(self, deliveries: Sequence[Delivery]) -> list[int]:
        return [(await self.post(d)).status_code for d in deliveries]

    async def wait_until(self, expected: dict[int, Any], within: float = 60.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                current = await snapshot(self.stub, METADATA)
            except grpc.aio.AioRpcError:
                current = {}
            if current == expected or time.monotonic() > deadline:
                assert current == expected
                return
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        await self.http.aclose()
        await self.channel.close()
        for process in (self.gateway, self.ticket_service):
            if process is not None:
                process.close()


@pytest.fixture
async def chain(tmp_path: Path, engine: AsyncEngine, database_url: str) -> AsyncIterator[Chain]:
    # `engine` empties the session database; the processes share it.
    async with AsyncExitStack() as stack:
        running = Chain(tmp_path, database_url)
        stack.push_async_callback(running.close)
        yield running


async def test_every_sample_payload_lands_through_the_real_chain(chain: Chain) -> None:
    chain.start_ticket_service()
    chain.start_gateway()

    answers = [await chain.post(d) for d in timeline()]

    assert [a.status_code for a in answers] == [200] * len(answers)
    outcomes = {d.event: a.json()["outcome"] for d, a in zip(timeline(), answers, strict=True)}
    assert outcomes["conversation_typing_on"] == "ignored"
    assert outcomes["conversation_created"] == "applied"
    state = await snapshot(chain.stub, METADATA)
    assert state == {
        1042: {
            "status": "TICKET_STATUS_RESOLVED",
            "snoozed": False,
            "priority": "TICKET_PRIORITY_HIGH",
            "assignee_id": "12",
            "customer": ("maria.lopez@example.com", "Maria Lopez", 5821),
            "messages": [
                (
                    58231,
                    "Hi, I was charged twice for order A-10293. Can you help?",
                    False,
                    "MESSAGE_DIRECTION_INCOMING",
                ),
                (58236, state[1042]["messages"][1][1], True, "MESSAGE_DIRECTION_OUTGOING"),
                (58237, state[1042]["messages"][2][1], False, "MESSAGE_DIRECTION_OUTGOING"),
            ],
        }
    }
    events = await event_counts(chain.stub, METADATA)
    assert events["TICKET_EVENT_TYPE_MESSAGE_ADDED"] == 3
    assert events["TICKET_EVENT_TYPE_TICKET_CREATED"] == 1
    assert events["TICKET_EVENT_TYPE_CUSTOMER_CREATED"] == 1

    # Chatwoot re-running its jobs sends the same bodies under new delivery ids.
    rerun = [Delivery(f"2{d.delivery_id[1:]}", d.body, d.conversation_id) for d in timeline()]
    again = [await chain.post(d) for d in rerun]
    assert {a.json()["outcome"] for a in again} <= {"duplicate", "ignored"}
    assert await event_counts(chain.stub, METADATA) == events


async def test_a_ticket_service_outage_loses_nothing_and_doubles_nothing(chain: Chain) -> None:
    stream = conversation_stream(6)
    chain.start_ticket_service()
    chain.start_gateway()
    assert set(await chain.post_all(stream[:25])) == {200}

    chain.stop_ticket_service()
    during = await chain.post_all(stream[25:])
    assert set(during) == {202}

    chain.start_ticket_service()
    await chain.wait_until(expected_stream_state(6))
    events = await event_counts(chain.stub, METADATA)
    assert events["TICKET_EVENT_TYPE_MESSAGE_ADDED"] == 6 * 3
    assert events["TICKET_EVENT_TYPE_TICKET_CREATED"] == 6


async def test_spooled_deliveries_survive_the_gateway_being_killed(chain: Chain) -> None:
    stream = conversation_stream(3)
    chain.start_gateway()
    assert set(await chain.post_all(stream)) == {202}

    chain.kill_gateway()
    chain.start_ticket_service()
    chain.start_gateway()

    await chain.wait_until(expected_stream_state(3))
    events = await event_counts(chain.stub, METADATA)
    assert events["TICKET_EVENT_TYPE_MESSAGE_ADDED"] == 3 * 3


async def test_shuffled_and_duplicated_deliveries_reach_the_in_order_state(
    chain: Chain, engine: AsyncEngine
) -> None:
    stream = conversation_stream(50)
    assert len(stream) == 500
    chain.start_ticket_service()
    chain.start_gateway()
    assert set(await chain.post_all(stream)) == {200}
    in_order = await snapshot(chain.stub, METADATA)
    assert in_order == expected_stream_state(50)
    in_order_events = await event_counts(chain.stub, METADATA)

    await empty_tables(engine)
    rng = random.Random(20261123)
    replay = stream + rng.sample(stream, 250)
    rng.shuffle(replay)
    gate = asyncio.Semaphore(16)

    async def post(delivery: Delivery) -> int:
        async with gate:
            return (await chain.post(delivery)).status_code

    # Under this load some calls outlast the gateway's 1 s deadline and are spooled; the
    # forwarder delivers them, still in order per conversation.
    assert set(await asyncio.gather(*(post(d) for d in replay))) <= {200, 202}
    await chain.wait_until(in_order)
    # Each message was added once, whatever the order and however many copies.
    shuffled_events = await event_counts(chain.stub, METADATA)
    for kind in ("MESSAGE_ADDED", "TICKET_CREATED", "CUSTOMER_CREATED"):
        name = f"TICKET_EVENT_TYPE_{kind}"
        assert shuffled_events[name] == in_order_events[name]
