"""The Alembic tree builds exactly the tables the code declares, on both backends."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from ticket_service.adapters.tables import metadata


def _differences(connection: Connection) -> list[Any]:
    def ours(name: str | None, kind: str, _parents: Any) -> bool:
        # Alembic's bookkeeping table is not declared in our metadata.
        return not (kind == "table" and name == "alembic_version_ticket")

    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": ours}
    )
    return list(compare_metadata(context, metadata))


async def test_migrations_match_the_declared_tables(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        differences = await connection.run_sync(_differences)
    assert differences == []
