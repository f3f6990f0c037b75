"""Retention: the bookkeeping tables would otherwise grow with every request forever.

What goes, and when (all configurable):
- Chatwoot delivery keys after 7 days. A copy of a delivery arriving later than that (a
  gateway spool held back for a week) would be applied again; nothing else re-sends so late.
- Idempotency keys after 7 days: a `request_id` repeated later is a new request.
- Delivered and superseded outbox tasks after 30 days. Dead letters stay until retried.
- Echo expectations once expired.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import structlog
from sqlalchemy import and_
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import Clock
from ticket_service.adapters.retention import purge
from ticket_service.adapters.tables import (
    chatwoot_deliveries,
    chatwoot_echoes,
    chatwoot_outbox,
    idempotency_keys,
)
from ticket_service.domain.chatwoot_sync import SyncState

log = structlog.get_logger("retention")


@dataclass(frozen=True)
class RetentionSettings:
    delivery_keys: timedelta = timedelta(days=7)
    idempotency_keys: timedelta = timedelta(days=7)
    sync_history: timedelta = timedelta(days=30)
    interval: timedelta = timedelta(minutes=10)
    batch: int = 1000


class Janitor:
    def __init__(
        self, engine: AsyncEngine, clock: Clock, settings: RetentionSettings = RetentionSettings()
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._settings = settings

    async def sweep_and_log(self) -> None:
        """One sweep, logged when it deleted anything (what the service runs every 10 min)."""
        swept = await self.sweep()
        if any(swept.values()):
            log.info("swept", **swept)

    async def sweep(self) -> dict[str, int]:
        """Delete everything past its time, batch by batch; how many rows went, by table."""
        now = self._clock.now()
        settings = self._settings
        outbox = chatwoot_outbox.c
        finished = outbox.state.in_([SyncState.DELIVERED.value, SyncState.SUPERSEDED.value])
        rules = {
            "chatwoot_deliveries": (
                chatwoot_deliveries,
                chatwoot_deliveries.c.create_time < now - settings.delivery_keys,
            ),
            "idempotency_keys": (
                idempotency_keys,
                idempotency_keys.c.create_time < now - settings.idempotency_keys,
            ),
            "chatwoot_outbox": (
                chatwoot_outbox,
                and_(finished, outbox.create_time < now - settings.sync_history),
            ),
            "chatwoot_echoes": (chatwoot_echoes, chatwoot_echoes.c.expire_time < now),
        }
        swept = {}
        for name, (table, older) in rules.items():
            total = 0
            while True:
                async with self._engine.begin() as conn:
                    gone = await purge(conn, table, older=older, limit=settings.batch)
                total += gone
                if gone < settings.batch:
                    break
            swept[name] = total
        return swept
