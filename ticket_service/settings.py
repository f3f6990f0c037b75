"""Process settings from the environment. Tenants and secrets live in the tenants file."""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/ticket_service.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    tenants_file: str
    listen: str = "127.0.0.1:50051"
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("TICKET_DATABASE_URL", DEFAULT_DATABASE_URL),
            tenants_file=os.environ.get("TICKETING_TENANTS_FILE", "config/tenants.dev.toml"),
            listen=os.environ.get("TICKET_GRPC_LISTEN", cls.listen),
            shutdown_grace_seconds=float(
                os.environ.get("SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds)
            ),
            log_level=os.environ.get("LOG_LEVEL", cls.log_level),
        )
