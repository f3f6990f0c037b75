"""A background job that runs every so often for as long as the process serves."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import structlog

from common.tracing import untraced

log = structlog.get_logger("periodic")

# How long stopping waits for a run in progress before cancelling it. Cancelling mid-run
# can cut a database transaction short, so a run normally gets to finish.
STOP_GRACE = 5.0


class Periodic:
    """Runs `work` now and then every `interval` until stopped. A run that fails is logged
    and the next one goes ahead: one bad run must not end the job for the process's life."""

    def __init__(
        self, name: str, work: Callable[[], Awaitable[object]], interval: timedelta
    ) -> None:
        self.name = name
        self._work = work
        self._interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self, grace: float = STOP_GRACE) -> None:
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                with untraced():
                    await self._work()
            except Exception:
                log.exception("periodic_job_failed", job=self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._interval.total_seconds())
