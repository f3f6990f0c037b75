"""Bring a service's schema to its newest migration. Each service has its own Alembic tree
and its own version table, so two services may even share one database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from common.db import create_engine


def _config(script_location: Path, connection: Connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(script_location))
    config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, script_location: Path) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(
            lambda sync: command.upgrade(_config(script_location, sync), "head")
        )
        await connection.commit()


def run_env(metadata: MetaData, *, version_table: str, database_url: str) -> None:
    """The body of a service's Alembic `env.py`. `upgrade()` hands in a live connection;
    the `alembic` CLI gets one from `database_url`."""

    def run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=version_table,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_with_own_engine() -> None:
        engine = create_engine(database_url)
        async with engine.connect() as connection:
            await connection.run_sync(run)
            await connection.commit()
        await engine.dispose()

    connection = context.config.attributes.get("connection")
    if connection is not None:
        run(connection)
    else:
        asyncio.run(run_with_own_engine())
