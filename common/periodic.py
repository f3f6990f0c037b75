"""A background job that runs every so often for as long as the process serves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

log = structlog.get_logger("periodic")


class Periodic:
    """Runs `work` now and then every `interval` until stopped. A run that fails is logged
    and the next one goes ahead: one bad run must not end the job for the process's life."""

    def __init__(self, name: str, work: Callable[[], Awaitable[None]], interval: timedelta) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self._work()
            except Exception:
                log.exception("periodic_job_failed", job=self.name)
            await asyncio.sleep(self._interval.total_seconds())
