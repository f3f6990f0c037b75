"""Hot-path statements run on psycopg itself (common.db.DriverStatement) inside the
unit of work's transaction: they see and roll back with it, give timestamps in UTC, and
fail with the same SQLAlchemy errors as statements run through SQLAlchemy."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import DriverStatement, create_engine

INSERT = DriverStatement(
    text("INSERT INTO driver_probe (id, at) VALUES (:id, :at) RETURNING id, at, note")
)


@pytest.fixture
async def pg(postgresql_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgresql_url)
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE IF EXISTS driver_probe"))
        await conn.execute(
            text("CREATE TABLE driver_probe (id int PRIMARY KEY, at timestamptz, note text)")
        )
    yield engine
    async with engine.begin() as conn:
        await conn.execute(text("DROP TABLE driver_probe"))
    await engine.dispose()


async def count(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(text("SELECT count(*) FROM driver_probe"))).scalar_one())


async def test_rows_come_back_named_and_in_utc(pg: AsyncEngine) -> None:
    at = datetime(2026, 12, 4, 20, 0, tzinfo=timezone(timedelta(hours=2)))
    async with pg.connect() as conn:
        await conn.begin()
        # A session time zone other than UTC: the driver would answer in it.
        await conn.execute(text("SET LOCAL TIME ZONE 'America/New_York'"))
        row = await INSERT.fetchone(conn, {"id": 1, "at": at})
        await conn.commit()

    assert (row.id, row.note) == (1, None)
    assert row.at == at
    assert row.at.tzinfo is UTC


async def test_it_runs_in_the_callers_transaction_and_rolls_back_with_it(
    pg: AsyncEngine,
) -> None:
    async with pg.connect() as conn:
        await conn.begin()
        await INSERT.fetchone(conn, {"id": 1, "at": datetime.now(UTC)})
        seen = (await conn.execute(text("SELECT count(*) FROM driver_probe"))).scalar_one()
        await conn.rollback()

    assert seen == 1
    assert await count(pg) == 0


async def test_a_violation_is_sqlalchemys_integrity_error_and_writes_nothing(
    pg: AsyncEngine,
) -> None:
    async with pg.connect() as conn:
        await conn.begin()
        await INSERT.fetchone(conn, {"id": 1, "at": datetime.now(UTC)})
        with pytest.raises(IntegrityError):
            await INSERT.fetchone(conn, {"id": 1, "at": datetime.now(UTC)})
        await conn.rollback()

    assert await count(pg) == 0
