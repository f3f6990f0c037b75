"""Alembic environment of the ticket service: its own tree and its own version table.

`ticket_service.adapters.migrate.upgrade()` hands in a live connection; the `alembic` CLI
(`alembic -c ticket_service/alembic.ini ...`) gets one from TICKET_DATABASE_URL.
"""

from __future__ import annotations

from common.migrations import run_env
from ticket_service.adapters.tables import metadata
from ticket_service.settings import Settings

run_env(
    metadata,
    version_table="alembic_version_ticket",
    database_url=Settings.from_env().database_url,
)
