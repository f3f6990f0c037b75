"""Watches the wall clock against the monotonic one while a phase runs.

Latencies that compare the send time with a time a service recorded can only use the wall
clock (time.time(), what the services stamp rows with). On the shared VM it was seen to
step by seconds in the middle of a run, and at other times to run 0.5% off the monotonic
clock for tens of seconds. A step between a message's send and its record would count as
latency; the samples it straddles are set aside instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

INTERVAL = 0.05
STEP = 0.005  # a change of the offset this large within one interval is a step, not a drift


@dataclass
class WallClockWatch:
    steps: list[tuple[float, float]] = field(default_factory=list)  # (wall time, seconds)
    drift: float = 0.0  # change of the offset over the watch, steps included
    elapsed: float = 0.0  # monotonic seconds watched

    @contextlib.asynccontextmanager
    async def watch(self) -> AsyncIterator[None]:
        start = time.perf_counter()
        first = last = time.time() - start

        async def sample() -> None:
            nonlocal last
            while True:
                await asyncio.sleep(INTERVAL)
                now = time.perf_counter()
                offset = time.time() - now
                if abs(offset - last) > STEP:
                    self.steps.append((now + offset, offset - last))
                last = offset

        sampler = asyncio.create_task(sample())
        try:
            yield
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self.elapsed = time.perf_counter() - start
            self.drift = (time.time() - time.perf_counter()) - first

    def steps_between(self, start: float, end: float) -> bool:
        """Whether the clock stepped between these two wall times (give or take one
        interval, the resolution of the watch)."""
        return any(
            at - abs(size) <= end + INTERVAL and at + abs(size) >= start - INTERVAL
            for at, size in self.steps
        )
