"""Process settings from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    listen: str = "127.0.0.1:50052"
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            listen=os.environ.get("ESCALATION_GRPC_LISTEN", cls.listen),
            shutdown_grace_seconds=float(
                os.environ.get("SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds)
            ),
            log_level=os.environ.get("LOG_LEVEL", cls.log_level),
        )
