"""Process settings from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    listen_host: str = "127.0.0.1"
    port: int = 8080
    ticket_service_target: str = "127.0.0.1:50051"
    log_level: str = "INFO"

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            listen_host=os.environ.get("GATEWAY_LISTEN_HOST", cls.listen_host),
            port=int(os.environ.get("GATEWAY_PORT", cls.port)),
            ticket_service_target=os.environ.get(
                "TICKET_SERVICE_TARGET", cls.ticket_service_target
            ),
            log_level=os.environ.get("LOG_LEVEL", cls.log_level),
        )
