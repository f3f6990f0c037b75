"""One LISTEN connection per process: PostgreSQL's NOTIFY as the brokers' wake-up.

The writer sends `pg_notify(channel, tenant)` in the transaction that appends to the log,
so the notification arrives at commit. It is only a wake-up: the log stays the truth, and
after a dropped connection every feed is woken, since notifications sent meanwhile are
lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import psycopg
import structlog
from psycopg import sql

from common.backoff import Backoff

log = structlog.get_logger(__name__)

RECONNECT = Backoff(initial_seconds=0.1, max_seconds=5.0)


class NotifyListener:
    def __init__(
        self,
        dsn: str,
        channel: str,
        on_notify: Callable[[str], None],
        on_reconnect: Callable[[], None],
        backoff: Backoff = RECONNECT,
    ) -> None:
        self._dsn = dsn
        self._channel = channel
        self._on_notify = on_notify
        self._on_reconnect = on_reconnect
        self._backoff = backoff
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"listen-{self._channel}")

    async def stop(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        failures = 0
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self._dsn, autocommit=True
                ) as conn:
                    await conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    failures = 0
                    self.listening.set()
                    # Whatever was committed while not listening went unannounced.
                    self._on_reconnect()
                    async for notify in conn.notifies():
                        self._on_notify(notify.payload)
            except psycopg.Error as error:
                self.listening.clear()
                failures += 1
                delay = self._backoff.delay(failures)
                log.warning(
                    "notify_listener_reconnecting",
                    channel=self._channel,
                    error=str(error),
                    retry_in=round(delay, 2),
                )
                await asyncio.sleep(delay)
