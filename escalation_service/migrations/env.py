"""Alembic environment of the escalation service: its own tree and its own version table.

`escalation_service.adapters.migrate.upgrade()` hands in a live connection; the `alembic` CLI
(`alembic -c escalation_service/alembic.ini ...`) gets one from ESCALATION_DATABASE_URL.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from common.db import create_engine
from escalation_service.adapters.tables import metadata
from escalation_service.settings import Settings

VERSION_TABLE = "alembic_version_escalation"


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_own_engine() -> None:
    engine = create_engine(Settings.from_env().database_url)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_with_own_engine())
