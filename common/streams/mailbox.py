"""A watcher's bounded buffer of entries the broker fanned out and it has not sent yet."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Sequence
from typing import Generic

from common.streams.log import EntryT


class Mailbox(Generic[EntryT]):
    """Holds at most `capacity` entries. The broker never waits on a full mailbox: it
    marks it overflowed and moves on, so one slow client cannot hold up the others."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.overflowed = False
        self.closed = False
        self._batches: deque[Sequence[EntryT]] = deque()
        self._size = 0
        self._ready = asyncio.Event()

    def offer(self, batch: Sequence[EntryT]) -> bool:
        """Queue `batch`; False (and overflowed from then on) when it does not fit."""
        if self._size + len(batch) > self.capacity:
            self.overflowed = True
            self._ready.set()
            return False
        self._batches.append(batch)
        self._size += len(batch)
        self._ready.set()
        return True

    def close(self) -> None:
        """Tell the watcher to end its stream (the server is stopping)."""
        self.closed = True
        self._ready.set()

    def take_all(self) -> list[EntryT]:
        """Every entry queued so far, oldest first; empty when none."""
        taken = [entry for batch in self._batches for entry in batch]
        self._batches.clear()
        self._size = 0
        if not (self.overflowed or self.closed):
            self._ready.clear()
        return taken

    async def wait(self, at_most: float) -> None:
        """Until something was queued, the mailbox overflowed or closed, or `at_most` s."""
        # asyncio.timeout, not wait_for: no task per wait, and every watcher waits per event.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await self._ready.wait()
