"""Retention: bookkeeping rows past their time go; everything still useful stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from tests.conftest import START
from ticket_service.adapters.chatwoot_store import DeliveryKeys, EchoRegistry
from ticket_service.adapters.outbox import Destination, Outbox
from ticket_service.adapters.repository import IdempotencyStore
from ticket_service.adapters.tables import chatwoot_outbox, idempotency_keys
from ticket_service.domain.chatwoot_sync import SyncCommand, SyncKind, SyncState
from ticket_service.service.retention import Janitor, RetentionSettings

WEEK_AGO = START - timedelta(days=8)
YESTERDAY = START - timedelta(days=1)
DESTINATION = Destination("acme-chatwoot", 3, 42, "ticket-1", "TKT-2026-00001")


async def _task(engine: AsyncEngine, created: timedelta, state: SyncState) -> int:
    async with engine.begin() as conn:
        [task_id] = await Outbox(conn, "acme").enqueue(
            DESTINATION,
            [SyncCommand(SyncKind.PRIORITY, {"priority": "high"})],
            START - created,
        )
        await conn.execute(
            update(chatwoot_outbox).where(chatwoot_outbox.c.id == task_id).values(state=state.value)
        )
    return task_id


async def test_a_sweep_deletes_what_is_past_its_time_and_keeps_the_rest(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        keys = DeliveryKeys(conn, "acme")
        for n in range(5):  # more than one batch
            assert await keys.claim([f"acme-chatwoot:delivery:old-{n}"], WEEK_AGO)
        assert await keys.claim(["acme-chatwoot:delivery:recent"], YESTERDAY)
        requests = IdempotencyStore(conn, "acme")
        await requests.claim("old-request", "CreateTicket", b"x" * 32, WEEK_AGO)
        await requests.claim("recent-request", "CreateTicket", b"x" * 32, YESTERDAY)
        echoes = EchoRegistry(conn, "acme")
        await echoes.expect(3, 42, "status", "resolved", START - timedelta(seconds=1))
        await echoes.expect(3, 42, "priority", "high", START + timedelta(minutes=5))
    old_delivered = await _task(engine, timedelta(days=31), SyncState.DELIVERED)
    old_superseded = await _task(engine, timedelta(days=31), SyncState.SUPERSEDED)
    kept = [
        await _task(engine, timedelta(days=31), SyncState.DEAD),
        await _task(engine, timedelta(days=31), SyncState.PENDING),
        await _task(engine, timedelta(days=2), SyncState.DELIVERED),
    ]
    janitor = Janitor(engine, ManualClock(START), RetentionSettings(batch=2))

    swept = await janitor.sweep()

    assert swept == {
        "chatwoot_deliveries": 5,
        "idempotency_keys": 1,
        "chatwoot_outbox": 2,
        "chatwoot_echoes": 1,
    }
    async with engine.begin() as conn:
        assert not await DeliveryKeys(conn, "acme").claim(
            ["acme-chatwoot:delivery:recent"], START
        ), "a recent delivery key still recognises its copy"
        assert await DeliveryKeys(conn, "acme").claim(["acme-chatwoot:delivery:old-0"], START)
        requests_left = select(idempotency_keys.c.request_id)
        assert (await conn.execute(requests_left)).scalars().all() == ["recent-request"]
        remaining = (await conn.execute(select(chatwoot_outbox.c.id))).scalars().all()
        assert sorted(remaining) == sorted(kept)
        assert old_delivered not in remaining
        assert old_superseded not in remaining
        assert [e.attribute for e in await EchoRegistry(conn, "acme").pending(3, 42, START)] == [
            "priority"
        ]
    assert await janitor.sweep() == dict.fromkeys(swept, 0)
    async with engine.connect() as conn:
        count = select(func.count()).select_from(chatwoot_outbox)
        assert (await conn.execute(count)).scalar_one() == 3
