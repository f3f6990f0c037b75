"""Per tenant, one reader of new log entries fanned out to every caught-up watcher.

A wake-up (NOTIFY, an in-process commit, the poll) makes the tenant's feed read what is
new ONCE and offer it to each watcher's mailbox; the cost of a commit does not grow with
the number of watchers. A watcher that is behind reads on its own until it reaches the
feed (see `common.streams.watch`).
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Generic

import structlog

from common.streams.log import EntryT, LogReader
from common.streams.mailbox import Mailbox

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StreamSettings:
    # Entries per read, for the feed and for a watcher catching up.
    page_size: int = 500
    # Entries a watcher may have waiting to be sent before its stream is ended as too slow.
    buffer: int = 2000
    # A message with no entries, only the resume cursor, after this long without one.
    heartbeat_seconds: float = 5.0
    # Every feed reads this often even without a wake-up: the safety net under NOTIFY and
    # the only push on a backend without it.
    poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        # The feed offers whole pages: a smaller buffer could never take a full one.
        if self.buffer < self.page_size:
            raise ValueError("buffer must hold at least one page")


@dataclass(eq=False)
class _Feed(Generic[EntryT]):
    # Every entry up to here was offered to the mailboxes; None until the first joins.
    cursor: int | None = None
    mailboxes: set[Mailbox[EntryT]] = field(default_factory=set)
    dirty: bool = False
    task: asyncio.Task[None] | None = None


class Broker(Generic[EntryT]):
    def __init__(self, reader: LogReader[EntryT], settings: StreamSettings, *, name: str) -> None:
        self.reader = reader
        self.settings = settings
        self.name = name
        self.closing = False
        self._feeds: dict[str, _Feed[EntryT]] = {}
        self._poll: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._poll = asyncio.create_task(self._poll_forever(), name=f"{self.name}-poll")

    def watchers(self, tenant: str) -> int:
        """How many caught-up watchers the tenant's feed serves."""
        feed = self._feeds.get(tenant)
        return len(feed.mailboxes) if feed else 0

    def wake(self, tenant: str) -> None:
        """New entries may have been committed for `tenant`. Cheap, and safe to call often:
        a read in progress is followed by one more, never by one per wake-up."""
        feed = self._feeds.get(tenant)
        if feed is None or self.closing:
            return
        feed.dirty = True
        if feed.task is None or feed.task.done():
            feed.task = asyncio.create_task(self._drain(tenant, feed), name=f"{self.name}-feed")

    def wake_all(self) -> None:
        for tenant in list(self._feeds):
            self.wake(tenant)

    def join(self, tenant: str, mailbox: Mailbox[EntryT], cursor: int) -> bool:
        """Add a watcher that has sent everything up to `cursor` and just saw the head.
        False when the feed is already past `cursor`: the watcher reads on its own first.

        Synchronous on purpose: between the check and the add no read can land, so the
        feed offers exactly the entries after its cursor. Entries up to `cursor` that it
        offers too (it was behind the watcher) the watcher skips."""
        if self.closing:
            mailbox.close()  # the watcher ends its stream at once
            return True
        feed = self._feeds.get(tenant)
        if feed is None:
            feed = self._feeds[tenant] = _Feed(cursor=cursor)
            feed.mailboxes.add(mailbox)
            # Wake-ups before the feed existed were dropped: read once now.
            self.wake(tenant)
            return True
        assert feed.cursor is not None
        if cursor < feed.cursor:
            return False
        feed.mailboxes.add(mailbox)
        return True

    def leave(self, tenant: str, mailbox: Mailbox[EntryT]) -> None:
        feed = self._feeds.get(tenant)
        if feed is None:
            return
        feed.mailboxes.discard(mailbox)
        self._forget_if_idle(tenant, feed)

    def _forget_if_idle(self, tenant: str, feed: _Feed[EntryT]) -> None:
        if not feed.mailboxes and self._feeds.get(tenant) is feed:
            # The next watcher starts a fresh feed at its own cursor.
            del self._feeds[tenant]

    async def _drain(self, tenant: str, feed: _Feed[EntryT]) -> None:
        page_size = self.settings.page_size
        try:
            while feed.dirty and feed.mailboxes:
                feed.dirty = False
                while feed.mailboxes:
                    assert feed.cursor is not None
                    page = await self.reader.read_after(tenant, feed.cursor, page_size)
                    if not page:
                        break
                    feed.cursor = page[-1].cursor
                    for mailbox in list(feed.mailboxes):
                        if not mailbox.offer(page):
                            feed.mailboxes.discard(mailbox)
                    if len(page) < page_size:
                        break
        except Exception:
            # The poll wakes the feed again; its watchers wait meanwhile.
            log.exception("stream_feed_read_failed", stream=self.name, tenant=tenant)
        finally:
            self._forget_if_idle(tenant, feed)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self.settings.poll_seconds)
            self.wake_all()

    async def close(self) -> None:
        """End every stream (each with its resume cursor) and stop reading."""
        self.closing = True
        tasks = [feed.task for feed in self._feeds.values() if feed.task is not None]
        for feed in self._feeds.values():
            for mailbox in feed.mailboxes:
                mailbox.close()
        self._feeds.clear()
        if self._poll is not None:
            tasks.append(self._poll)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
