"""The Alembic tree builds exactly the tables the code declares, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from escalation_service.adapters.tables import metadata as escalation_metadata
from ticket_service.adapters.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    def ours(name: str | None, kind: str, _parents: Any) -> bool:
        # Alembic's bookkeeping tables are not declared in our metadata, and the test
        # database also holds the escalation service's tables.
        if kind == "table":
            return name in metadata.tables
        return True

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": ours}
    )
    return list(compare_metadata(context, metadata))


async def test_migrations_match_the_declared_tables(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []


def _escalation_differences(connection: Connection) -> list[Any]:
    def ours(name: str | None, kind: str, _parents: Any) -> bool:
        # The test database holds both services' tables; compare only the escalation's.
        if kind == "table":
            return name in escalation_metadata.tables
        return True

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": ours}
    )
    return list(compare_metadata(context, escalation_metadata))


async def test_escalation_migrations_match_the_declared_tables(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_escalation_differences)
    assert differences == []
