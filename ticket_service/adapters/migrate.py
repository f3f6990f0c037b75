"""Bring the ticket service's schema to the newest migration."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from common import migrations

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


async def upgrade(engine: AsyncEngine) -> None:
    await migrations.upgrade(engine, MIGRATIONS)
