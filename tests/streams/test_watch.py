"""WatchTicketEvents on both backends: every event after the start, in order, once."""

from __future__ import annotations

import asyncio

from tests.conftest import ACME
from tests.streams.support import Request, add_notes, create_ticket, head, watch
from ticket_service.bootstrap import TicketApp
from ticketing.ticket.v1 import ticket_service_pb2_grpc

WATCHERS = 50


async def test_fifty_watchers_receive_the_same_ordered_gapless_events(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    ticket = await create_ticket(stub, ACME, "Printer on fire")
    start = await head(stub, ACME)
    watchers = [watch(stub, ACME) for _ in range(WATCHERS)]
    assert {await w.opened() for w in watchers} == {start}

    await add_notes(stub, ACME, ticket.name, 30)
    end = await head(stub, ACME)
    assert end == start + 30
    try:
        await asyncio.gather(*(w.until(end) for w in watchers))
        for w in watchers:
            assert w.cursors == list(range(start + 1, end + 1))
        # They were served by one feed, not one query each per commit.
        assert ticket_app.events.broker.watchers("acme") == WATCHERS
    finally:
        await asyncio.gather(*(w.close() for w in watchers))


async def test_a_reconnect_mid_burst_with_the_last_cursor_misses_nothing(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    ticket = await create_ticket(stub, ACME, "Printer on fire")
    first = watch(stub, ACME, Request(start_position=Request.START_POSITION_AFTER_CURSOR))
    burst = asyncio.create_task(add_notes(stub, ACME, ticket.name, 60))
    await first.until(10)
    await first.close()
    resumed = watch(stub, ACME, Request(after_cursor=first.resume_cursor))
    await burst
    end = await head(stub, ACME)
    await resumed.until(end)
    await resumed.close()

    assert first.cursors + resumed.cursors == list(range(1, end + 1))


async def test_a_watcher_behind_the_feed_catches_up_then_joins_it(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    ticket = await create_ticket(stub, ACME, "Printer on fire")
    live = watch(stub, ACME)
    await live.opened()
    await add_notes(stub, ACME, ticket.name, 50)  # more than two pages of 20
    late = watch(stub, ACME, Request(after_cursor=1))
    writing = asyncio.create_task(add_notes(stub, ACME, ticket.name, 20, body="more"))
    await late.opened()
    await writing
    end = await head(stub, ACME)
    await asyncio.gather(live.until(end), late.until(end))
    assert late.cursors == list(range(2, end + 1))
    assert ticket_app.events.broker.watchers("acme") == 2
    await asyncio.gather(live.close(), late.close())
