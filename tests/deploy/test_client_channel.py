"""The shared client channel (common/grpc/client.py) against real ticket-service servers:
one target naming two of them, the way a headless Service's DNS name resolves to every pod.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import pytest

from common.clock import ManualClock
from common.config import TenantsConfig
from common.db import create_engine
from common.grpc.client import idempotent, open_channel
from gateway.channel import TICKET_SERVICE
from tests.conftest import ACME, empty_tables
from tests.support import eventually
from ticket_service import bootstrap
from ticketing.ticket.v1 import (
    chatwoot_sync_pb2,
    customer_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

RETRY = [idempotent(TICKET_SERVICE)]


@pytest.fixture
async def two_servers(
    postgresql_url: str, tenants: TenantsConfig, clock: ManualClock
) -> AsyncIterator[list[bootstrap.TicketApp]]:
    """Two replicas on one PostgreSQL database, as deployed (SQLite is for one process),
    each with its own engine, as each pod has."""
    engine = create_engine(postgresql_url)
    await empty_tables(engine)
    await engine.dispose()
    apps = [
        await bootstrap.start(
            engine=create_engine(postgresql_url),
            tenants=tenants,
            listen="127.0.0.1:0",
            clock=clock,
        )
        for _ in range(2)
    ]
    yield apps
    for app in apps:
        await app.stop(grace=0)


def handled(app: bootstrap.TicketApp, method: str) -> float:
    value = app.metrics.registry.get_sample_value(
        "grpc_server_handled_total",
        {
            "grpc_type": "unary",
            "grpc_service": TICKET_SERVICE.full_name,
            "grpc_method": method,
            "grpc_code": "OK",
        },
    )
    return value or 0.0


async def until(condition: Callable[[], bool]) -> None:
    async def check() -> bool | None:
        return True if condition() else None

    await eventually(check)


def target(*ports: int) -> str:
    return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in ports)


async def test_calls_are_spread_over_every_address(two_servers: list[bootstrap.TicketApp]) -> None:
    async with open_channel(target(*(app.port for app in two_servers)), retry=RETRY) as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        for _ in range(40):
            await stub.ListTickets(ticket_service_pb2.ListTicketsRequest(), metadata=ACME)

    counts = [handled(app, "ListTickets") for app in two_servers]
    assert sum(counts) == 40
    # Round robin alternates once both connections are up; pick_first would send all 40
    # to one server.
    assert min(counts) >= 10, counts


async def test_calls_keep_succeeding_while_one_server_stops(
    two_servers: list[bootstrap.TicketApp],
) -> None:
    first, second = two_servers
    request_ids: list[str] = []
    async with open_channel(target(first.port, second.port), retry=RETRY) as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)

        async def create_until(done: asyncio.Event) -> None:
            while not done.is_set():
                request_id = str(uuid.uuid4())
                await stub.CreateTicket(
                    ticket_service_pb2.CreateTicketRequest(
                        ticket=ticket_pb2.Ticket(subject="Printer on fire"),
                        customer=customer_pb2.Customer(email="ada@example.com"),
                        request_id=request_id,
                    ),
                    metadata=ACME,
                    timeout=5,
                )
                request_ids.append(request_id)

        done = asyncio.Event()
        callers = [asyncio.create_task(create_until(done)) for _ in range(4)]
        await until(lambda: handled(first, "CreateTicket") >= 5 <= handled(second, "CreateTicket"))
        # As a pod being deleted: health NOT_SERVING, GOAWAY, a second for the calls in
        # flight, then gone. The callers' next calls must find the other server, with no
        # error in between. (An in-process stop with no grace at all would leave a cancelled
        # call's transaction open in this process, which a real crash does not: the
        # connection dies with the process. Retries on UNAVAILABLE are shown below.)
        await first.stop(grace=1)
        created_by_first = handled(first, "CreateTicket")
        served_by_second = handled(second, "CreateTicket")
        await until(lambda: handled(second, "CreateTicket") >= served_by_second + 20)
        done.set()
        # Any caller that saw an error raises it here.
        await asyncio.gather(*callers)

        listed = await stub.ListTickets(
            ticket_service_pb2.ListTicketsRequest(page_size=1000), metadata=ACME
        )
    assert handled(first, "CreateTicket") == created_by_first
    # A call retried after the server applied it answers the first answer: one ticket
    # per request_id, whichever server took it.
    assert len(listed.tickets) == len(set(request_ids)) == len(request_ids)


class Flaky:
    """A stand-in for a server that is going away: each method's first attempt answers
    UNAVAILABLE, later ones answer OK."""

    def __init__(self) -> None:
        self.attempts: dict[str, int] = {}

    def handler(self, method: str, response: Any) -> grpc.RpcMethodHandler[Any, Any]:
        async def answer(_request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            self.attempts[method] = self.attempts.get(method, 0) + 1
            if self.attempts[method] == 1:
                await context.abort(grpc.StatusCode.UNAVAILABLE, "going away")
            return response

        return grpc.unary_unary_rpc_method_handler(
            answer,
            request_deserializer=lambda data: data,
            response_serializer=lambda message: message.SerializeToString(),
        )


@pytest.fixture
async def flaky() -> AsyncIterator[tuple[Flaky, int]]:
    flaky = Flaky()
    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                TICKET_SERVICE.full_name,
                {
                    "AssignTicket": flaky.handler("AssignTicket", ticket_pb2.Ticket()),
                    "RetryChatwootSyncTask": flaky.handler(
                        "RetryChatwootSyncTask", chatwoot_sync_pb2.ChatwootSyncTask()
                    ),
                },
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield flaky, port
    await server.stop(grace=0)


async def test_unavailable_is_retried_for_idempotent_methods_only(
    flaky: tuple[Flaky, int],
) -> None:
    server, port = flaky
    async with open_channel(f"127.0.0.1:{port}", retry=RETRY) as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        await stub.AssignTicket(
            ticket_service_pb2.AssignTicketRequest(
                name="tickets/1", assignee_id="7", request_id=str(uuid.uuid4())
            ),
            timeout=5,
        )
        # Queuing a dead letter twice is not a no-op: it is not retried.
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.RetryChatwootSyncTask(
                ticket_service_pb2.RetryChatwootSyncTaskRequest(name="syncTasks/1"), timeout=5
            )
    assert refused.value.code() is grpc.StatusCode.UNAVAILABLE
    assert server.attempts == {"AssignTicket": 2, "RetryChatwootSyncTask": 1}


@pytest.fixture
async def silent_port() -> AsyncIterator[int]:
    """A server that takes every call and never answers."""

    async def hang(_request: bytes, _context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        await asyncio.sleep(60)
        return b""

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                TICKET_SERVICE.full_name,
                {"GetTicket": grpc.unary_unary_rpc_method_handler(hang)},
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield port
    await server.stop(grace=0)


async def test_a_call_without_a_deadline_gets_the_default_one(silent_port: int) -> None:
    async with open_channel(
        f"127.0.0.1:{silent_port}", retry=RETRY, default_deadline=0.3
    ) as channel:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.GetTicket(ticket_service_pb2.GetTicketRequest(name="tickets/1"))
        assert error.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert loop.time() - started < 2

        # The caller's own deadline wins over the default.
        started = loop.time()
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await stub.GetTicket(ticket_service_pb2.GetTicketRequest(name="tickets/1"), timeout=1)
        assert error.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert loop.time() - started >= 0.9
