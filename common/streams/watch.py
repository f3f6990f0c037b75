"""One watcher: catch up on its own reads, then follow the tenant's feed.

The watcher's `position` is the newest cursor it has scanned and sent on (matching or
not); it is the resume cursor in every message and in the status that ends the stream.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Generic

from common.errors import FieldViolation, OutOfRange, ResourceExhausted, Unavailable
from common.streams.broker import Broker
from common.streams.log import EntryT
from common.streams.mailbox import Mailbox

RESUME_KEY = "resume_cursor"


@dataclass(frozen=True)
class Progress(Generic[EntryT]):
    """The entries that passed the filter since the previous message (maybe none), and
    the cursor to resume after."""

    entries: Sequence[EntryT]
    resume_cursor: int


class _Watcher(Generic[EntryT]):
    def __init__(
        self,
        broker: Broker[EntryT],
        tenant: str,
        position: int,
        matches: Callable[[EntryT], bool],
    ) -> None:
        self.broker = broker
        self.tenant = tenant
        self.position = position
        self.matches = matches
        self._last_sent = time.monotonic()

    def _heartbeat_due(self) -> bool:
        return time.monotonic() - self._last_sent >= self.broker.settings.heartbeat_seconds

    def _scanned(self, entries: Sequence[EntryT]) -> Progress[EntryT] | None:
        """Advance over `entries`; the message to send, if one is due."""
        if entries:
            self.position = entries[-1].cursor
        matched = [entry for entry in entries if self.matches(entry)]
        if not matched and not self._heartbeat_due():
            return None
        self._last_sent = time.monotonic()
        return Progress(matched, self.position)

    def _check_open(self) -> None:
        if self.broker.closing:
            raise Unavailable(
                "the server is shutting down: reconnect with after_cursor = resume_cursor",
                reason="SHUTTING_DOWN",
                **{RESUME_KEY: str(self.position)},
            )

    async def catch_up(self, mailbox: Mailbox[EntryT]) -> AsyncIterator[Progress[EntryT]]:
        """Own paged reads until a short page meets the feed, which it then joins."""
        page_size = self.broker.settings.page_size
        while True:
            self._check_open()
            page = await self.broker.reader.read_after(self.tenant, self.position, page_size)
            message = self._scanned(page)
            if message is not None:
                yield message
            if len(page) < page_size and self.broker.join(self.tenant, mailbox, self.position):
                return

    async def follow(self, mailbox: Mailbox[EntryT]) -> AsyncIterator[Progress[EntryT]]:
        """What the feed offers, until a gap (then the caller catches up again)."""
        heartbeat = self.broker.settings.heartbeat_seconds
        while True:
            await mailbox.wait(max(0.0, self._last_sent + heartbeat - time.monotonic()))
            if mailbox.closed:
                self._check_open()
            if mailbox.overflowed:
                raise ResourceExhausted(
                    f"the client read too slowly: more than {mailbox.capacity} events were "
                    "waiting; reconnect with after_cursor = resume_cursor",
                    reason="CONSUMER_TOO_SLOW",
                    **{RESUME_KEY: str(self.position)},
                )
            entries = [e for e in mailbox.take_all() if e.cursor > self.position]
            if entries and entries[0].cursor != self.position + 1:
                return  # cannot happen with a gapless log; recover rather than skip
            message = self._scanned(entries)
            if message is not None:
                yield message


async def watch(
    broker: Broker[EntryT],
    tenant: str,
    *,
    after_cursor: int | None,
    matches: Callable[[EntryT], bool] = lambda _: True,
) -> AsyncIterator[Progress[EntryT]]:
    """Every entry of `tenant` after `after_cursor` (None: after the head now) that
    `matches`, in order, exactly once; opened by a message with no entries that names the
    starting cursor, and kept alive by heartbeats.

    Raises OutOfRange for a cursor beyond the head, ResourceExhausted (CONSUMER_TOO_SLOW)
    when the consumer lets the buffer fill, Unavailable (SHUTTING_DOWN) when the broker
    closes; the last two carry `resume_cursor` in their metadata."""
    head = await broker.reader.head(tenant)
    if after_cursor is None:
        after_cursor = head
    elif after_cursor > head:
        raise OutOfRange(
            [FieldViolation("after_cursor", f"is past the newest event, cursor {head}")],
            reason="CURSOR_BEYOND_HEAD",
        )
    watcher = _Watcher(broker, tenant, after_cursor, matches)
    yield Progress([], after_cursor)
    while True:
        mailbox: Mailbox[EntryT] = Mailbox(broker.settings.buffer)
        try:
            async for message in watcher.catch_up(mailbox):
                yield message
            async for message in watcher.follow(mailbox):
                yield message
        finally:
            broker.leave(tenant, mailbox)
