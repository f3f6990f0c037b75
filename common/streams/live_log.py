"""A service's log made watchable: the broker, its poll, and on PostgreSQL the LISTEN."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Generic

from sqlalchemy.engine import make_url

from common.streams.broker import Broker, StreamSettings
from common.streams.listener import NotifyListener
from common.streams.log import EntryT, LogReader
from common.streams.watch import Progress, watch


def _libpq_dsn(database_url: str) -> str | None:
    """The URL for a raw psycopg connection; None for a backend without LISTEN."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        return None
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class LiveLog(Generic[EntryT]):
    def __init__(
        self,
        reader: LogReader[EntryT],
        *,
        name: str,
        channel: str,
        database_url: str,
        settings: StreamSettings | None = None,
    ) -> None:
        dsn = _libpq_dsn(database_url)
        if settings is None:
            # Without NOTIFY the poll is the push (and writes in this process wake it).
            settings = StreamSettings(poll_seconds=1.0 if dsn else 0.2)
        self.broker: Broker[EntryT] = Broker(reader, settings, name=name)
        self.listener: NotifyListener | None = None
        if dsn is not None:
            self.listener = NotifyListener(
                dsn, channel, on_notify=self.broker.wake, on_reconnect=self.broker.wake_all
            )

    @property
    def uses_notify(self) -> bool:
        return self.listener is not None

    def start(self) -> None:
        self.broker.start()
        if self.listener is not None:
            self.listener.start()

    def committed(self, tenant: str) -> None:
        """A write in this process committed entries of `tenant`: wake its feed now."""
        self.broker.wake(tenant)

    def watch(
        self,
        tenant: str,
        *,
        after_cursor: int | None,
        matches: Callable[[EntryT], bool] = lambda _: True,
    ) -> AsyncIterator[Progress[EntryT]]:
        return watch(self.broker, tenant, after_cursor=after_cursor, matches=matches)

    async def close(self) -> None:
        """End every stream with its resume cursor, then stop listening."""
        await self.broker.close()
        if self.listener is not None:
            await self.listener.stop()
