"""Alembic environment of the escalation service: its own tree and its own version table.

`escalation_service.adapters.migrate.upgrade()` hands in a live connection; the `alembic` CLI
(`alembic -c escalation_service/alembic.ini ...`) gets one from ESCALATION_DATABASE_URL.
"""

from __future__ import annotations

from common.migrations import run_env
from escalation_service.adapters.tables import metadata
from escalation_service.settings import Settings

run_env(
    metadata,
    version_table="alembic_version_escalation",
    database_url=Settings.from_env().database_url,
)
