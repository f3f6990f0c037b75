"""The ticket event log as `common.streams` reads it, one round trip per read (see
`common.streams.connections`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from common.streams.connections import ReadConnections
from ticket_service.adapters.repository import EventLog, StoredEvent


class TicketEventReader:
    def __init__(self, engine: AsyncEngine) -> None:
        self._connections = ReadConnections(engine)

    async def read_after(self, tenant: str, after_cursor: int, limit: int) -> list[StoredEvent]:
        async with self._connections.connection() as conn:
            return await EventLog(conn, tenant).read(after_cursor=after_cursor, limit=limit)

    async def head(self, tenant: str) -> int:
        async with self._connections.connection() as conn:
            return await EventLog(conn, tenant).head()

    async def close(self) -> None:
        await self._connections.close()
