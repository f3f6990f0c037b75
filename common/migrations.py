"""Bring a service's schema to its newest migration. Each service has its own Alembic tree
and its own version table, so two services may even share one database."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


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
