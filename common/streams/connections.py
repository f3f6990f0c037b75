"""Connections for a log reader's short reads.

The feed reads once per commit, so each read should cost one round trip: on PostgreSQL the
reads run in autocommit (no BEGIN, no ROLLBACK on release), and one kept connection serves
them while it is free (no pool checkout, no pre-ping); a read that finds it busy (watchers
catching up at the same time) takes a pooled one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


class ReadConnections:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._autocommit = engine.dialect.name == "postgresql"
        self._kept: AsyncConnection | None = None
        self._kept_lock = asyncio.Lock()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[AsyncConnection]:
        if not self._autocommit:
            async with self._engine.connect() as conn:
                yield conn
            return
        if self._kept_lock.locked():
            async with self._engine.connect() as conn:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")
            return
        async with self._kept_lock:
            if self._kept is None:
                conn = await self._engine.connect()
                self._kept = await conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield self._kept
            except BaseException:
                # It may be broken (or mid-query, if cancelled): the next read opens another.
                kept, self._kept = self._kept, None
                await asyncio.shield(kept.close())
                raise

    async def close(self) -> None:
        async with self._kept_lock:
            if self._kept is not None:
                await self._kept.close()
                self._kept = None
