"""The streaming core over an in-memory log (a real LogReader, no database): watchers that
start at random cursors and random moments, while entries are appended in random batches,
each see exactly the entries after their start, in order, once. Reads yield to the loop
so that appends, wake-ups, catch-ups and joins interleave."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

import pytest

from common.errors import ResourceExhausted
from common.streams import Broker, StreamSettings, watch
from tests.support import eventually

TENANT = "t"


@dataclass(frozen=True)
class Entry:
    cursor: int


class MemoryLog:
    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.reads = 0

    def append(self, count: int) -> None:
        start = len(self.entries)
        self.entries.extend(Entry(start + i + 1) for i in range(count))

    async def read_after(self, tenant: str, after_cursor: int, limit: int) -> list[Entry]:
        self.reads += 1
        await asyncio.sleep(0)
        return self.entries[after_cursor : after_cursor + limit]

    async def head(self, tenant: str) -> int:
        await asyncio.sleep(0)
        return len(self.entries)


async def _collect(broker: Broker[Entry], start: int, until: int) -> list[int]:
    seen: list[int] = []
    async for progress in watch(broker, TENANT, after_cursor=start):
        seen.extend(entry.cursor for entry in progress.entries)
        if progress.resume_cursor >= until:
            return seen
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("seed", range(5))
async def test_random_interleavings_deliver_every_entry_once_in_order(seed: int) -> None:
    rng = random.Random(seed)
    log = MemoryLog()
    settings = StreamSettings(page_size=7, buffer=500, heartbeat_seconds=0.05, poll_seconds=5)
    broker: Broker[Entry] = Broker(log, settings, name="test")
    broker.start()
    total = 600
    log.append(50)
    watchers: list[tuple[int, asyncio.Task[list[int]]]] = []
    try:
        while len(log.entries) < total:
            log.append(min(rng.randint(1, 12), total - len(log.entries)))
            broker.wake(TENANT)
            if rng.random() < 0.2:
                start = rng.randint(0, len(log.entries))
                watchers.append((start, asyncio.create_task(_collect(broker, start, total))))
            for _ in range(rng.randint(0, 3)):
                await asyncio.sleep(0)
        results = await asyncio.wait_for(asyncio.gather(*(t for _, t in watchers)), 10)
    finally:
        await broker.close()
    assert len(watchers) > 5
    for (start, _), seen in zip(watchers, results, strict=True):
        assert seen == list(range(start + 1, total + 1))


async def test_a_watcher_that_falls_behind_the_feed_is_ended_and_the_others_are_not() -> None:
    log = MemoryLog()
    settings = StreamSettings(page_size=5, buffer=10, heartbeat_seconds=5, poll_seconds=5)
    broker: Broker[Entry] = Broker(log, settings, name="test")
    broker.start()
    slow = watch(broker, TENANT, after_cursor=None)
    fast = asyncio.create_task(_collect(broker, 0, 40))
    try:
        await anext(slow)  # opened
        first = asyncio.ensure_future(anext(slow))  # joins the feed, waits for entries

        async def joined() -> bool | None:
            return True if broker.watchers(TENANT) == 2 else None

        await eventually(joined)
        for _ in range(8):
            log.append(5)
            broker.wake(TENANT)
            await asyncio.sleep(0.01)
        # It took the first five, then read no more while 35 arrived for a buffer of 10.
        assert [entry.cursor for entry in (await first).entries] == [1, 2, 3, 4, 5]
        assert await asyncio.wait_for(fast, 5) == list(range(1, 41))
        with pytest.raises(ResourceExhausted) as ended:
            await anext(slow)
        assert ended.value.reason == "CONSUMER_TOO_SLOW"
        assert ended.value.metadata["resume_cursor"] == "5"
    finally:
        await broker.close()
