"""How streams end: a slow consumer, a shutdown, and the streams-open gauge. Each end
carries the cursor to resume after, and resuming there misses nothing."""

from __future__ import annotations

import asyncio

import grpc
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from common.config import TenantsConfig
from common.streams import RESUME_KEY, StreamSettings
from tests.conftest import ACME
from tests.streams.support import Request, Watcher, add_notes, create_ticket, head, watch
from ticket_service import bootstrap
from ticket_service.bootstrap import TicketApp
from ticketing.ticket.v1 import ticket_service_pb2, ticket_service_pb2_grpc
from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceStub

LONG_NOTE = "x" * 8000  # so that what the transport buffers fills quickly
NARROW_WINDOW = [("grpc.http2.bdp_probe", 0), ("grpc.http2.lookahead_bytes", 65536)]


async def test_a_slow_consumer_is_ended_with_its_resume_cursor_while_a_fast_one_keeps_up(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    ticket = await create_ticket(stub, ACME, "Busy")
    fast = watch(stub, ACME)
    await fast.opened()
    # Opened, then not read until the writes are done.
    # A client channel whose receive window stays small, so what it leaves unread backs
    # up to the server instead of into its own buffers.
    narrow = grpc.aio.insecure_channel(f"127.0.0.1:{ticket_app.port}", options=NARROW_WINDOW)
    narrow_stub: ticket_service_pb2_grpc.TicketServiceAsyncStub = TicketServiceStub(narrow)
    slow = Watcher(narrow_stub.WatchTicketEvents(Request(), metadata=ACME))
    opening = await slow.call.read()
    assert isinstance(opening, ticket_service_pb2.WatchTicketEventsResponse)
    slow.messages.append(opening)

    await add_notes(stub, ACME, ticket.name, 100, body=LONG_NOTE)
    end = await head(stub, ACME)
    await fast.until(end)
    slow.task = asyncio.create_task(slow._read())
    ended = await slow.ended()

    assert ended.code == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ended.info.reason == "CONSUMER_TOO_SLOW"
    resume = int(ended.info.metadata[RESUME_KEY])
    start = slow.messages[0].resume_cursor
    assert slow.cursors == list(range(start + 1, resume + 1))
    assert resume < end
    assert fast.cursors == list(range(start + 1, end + 1))
    assert fast.task is not None
    assert not fast.task.done()
    await fast.close()
    await narrow.close()

    again = watch(stub, ACME, Request(after_cursor=resume))
    await again.until(end)
    await again.close()
    assert slow.cursors + again.cursors == list(range(start + 1, end + 1))


async def test_stopping_the_server_ends_streams_with_shutting_down_and_the_cursor(
    engine: AsyncEngine, tenants: TenantsConfig, clock: ManualClock
) -> None:
    app = await bootstrap.start(
        engine=engine,
        tenants=tenants,
        listen="127.0.0.1:0",
        clock=clock,
        streams=StreamSettings(heartbeat_seconds=30),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub: ticket_service_pb2_grpc.TicketServiceAsyncStub = TicketServiceStub(channel)
            ticket = await create_ticket(stub, ACME, "Soon gone")
            caught_up = watch(stub, ACME, Request(after_cursor=1))
            await add_notes(stub, ACME, ticket.name, 3)
            end = await head(stub, ACME)
            await caught_up.until(end)

            stopping = asyncio.create_task(app.stop(grace=10))
            ended = await caught_up.ended(within=5)
            # Well before the 10 s grace: the streams were ended, not cancelled.
            await asyncio.wait_for(stopping, 5)
    finally:
        await app.stop(grace=1)
    assert ended.code == grpc.StatusCode.UNAVAILABLE
    assert ended.info.reason == "SHUTTING_DOWN"
    assert ended.info.metadata[RESUME_KEY] == str(end)


def _open_streams(app: TicketApp) -> float | None:
    return app.metrics.registry.get_sample_value(
        "grpc_server_streams_active",
        {"grpc_service": "ticketing.ticket.v1.TicketService", "grpc_method": "WatchTicketEvents"},
    )


async def test_open_streams_are_counted(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    watchers = [watch(stub, ACME) for _ in range(3)]
    for w in watchers:
        await w.opened()
    assert _open_streams(ticket_app) == 3
    for w in watchers:
        await w.close()
    for _ in range(100):
        if _open_streams(ticket_app) == 0:
            break
        await asyncio.sleep(0.02)
    assert _open_streams(ticket_app) == 0


async def test_a_commit_reaches_a_watcher_without_waiting_for_the_poll(
    engine: AsyncEngine, tenants: TenantsConfig, clock: ManualClock, database_url: str
) -> None:
    """NOTIFY on PostgreSQL (also after its connection was cut), the commit's own wake-up
    on SQLite: the hour-long poll never runs."""
    app = await bootstrap.start(
        engine=engine,
        tenants=tenants,
        listen="127.0.0.1:0",
        clock=clock,
        streams=StreamSettings(poll_seconds=3600),
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
            stub: ticket_service_pb2_grpc.TicketServiceAsyncStub = TicketServiceStub(channel)
            listener = app.events.listener
            if listener is not None:
                await listener.listening.wait()
            watcher = watch(stub, ACME)
            await watcher.opened()
            await create_ticket(stub, ACME, "Prompt")
            await watcher.until(await head(stub, ACME), within=2)
            if listener is not None:
                listener.listening.clear()
                async with engine.connect() as conn:
                    cut = await conn.execute(
                        text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE query LIKE 'LISTEN %ticket_events%' "
                            "AND datname = current_database()"
                        )
                    )
                    assert cut.scalars().all() == [True]
                await asyncio.wait_for(listener.listening.wait(), 5)
                await create_ticket(stub, ACME, "After the reconnect")
                await watcher.until(await head(stub, ACME), within=2)
            await watcher.close()
    finally:
        await app.stop(grace=1)


@pytest.fixture(autouse=True)
def _quick(request: pytest.FixtureRequest) -> None:
    request.node.add_marker(pytest.mark.timeout(60))
