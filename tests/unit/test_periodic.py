"""A periodic background job keeps running through failures and stops when told."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from common.periodic import Periodic


async def test_it_runs_again_after_a_failed_run_and_stops_when_told() -> None:
    runs: list[int] = []
    third_run = asyncio.Event()

    async def work() -> None:
        runs.append(len(runs))
        if len(runs) == 3:
            third_run.set()
        if len(runs) == 1:
            raise RuntimeError("the database is away")

    job = Periodic("test-job", work, timedelta(milliseconds=10))
    job.start()
    await asyncio.wait_for(third_run.wait(), 5)
    await job.stop()
    stopped_at = len(runs)
    await asyncio.sleep(0.05)

    assert len(runs) == stopped_at, "no run after stop"
