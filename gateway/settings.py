"""Process settings from the environment. Tenants and secrets live in the tenants file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    listen_host: str = "127.0.0.1"
    port: int = 8080
    ticket_service_target: str = "127.0.0.1:50051"
    log_level: str = "INFO"
    # The same file the ticket service reads: the gateway needs the integrations and the
    # tenant's `chatwoot` token to call the service with.
    tenants_file: str = "config/tenants.dev.toml"
    spool_path: Path = Path("var/gateway_spool.db")
    # Chatwoot gives up after 5 s; the call plus spooling must answer well before that.
    forward_timeout_seconds: float = 2.0
    signature_max_age_seconds: float = 300.0
    signature_max_future_seconds: float = 60.0
    retry_initial_seconds: float = 0.2
    retry_max_seconds: float = 30.0

    @classmethod
    def from_env(cls) -> Settings:
        env = os.environ
        return cls(
            listen_host=env.get("GATEWAY_LISTEN_HOST", cls.listen_host),
            port=int(env.get("GATEWAY_PORT", cls.port)),
            ticket_service_target=env.get("TICKET_SERVICE_TARGET", cls.ticket_service_target),
            log_level=env.get("LOG_LEVEL", cls.log_level),
            tenants_file=env.get("TICKETING_TENANTS_FILE", cls.tenants_file),
            spool_path=Path(env.get("GATEWAY_SPOOL_PATH", str(cls.spool_path))),
            forward_timeout_seconds=float(
                env.get("GATEWAY_FORWARD_TIMEOUT_SECONDS", cls.forward_timeout_seconds)
            ),
            signature_max_age_seconds=float(
                env.get("GATEWAY_SIGNATURE_MAX_AGE_SECONDS", cls.signature_max_age_seconds)
            ),
            signature_max_future_seconds=float(
                env.get("GATEWAY_SIGNATURE_MAX_FUTURE_SECONDS", cls.signature_max_future_seconds)
            ),
            retry_initial_seconds=float(
                env.get("GATEWAY_RETRY_INITIAL_SECONDS", cls.retry_initial_seconds)
            ),
            retry_max_seconds=float(env.get("GATEWAY_RETRY_MAX_SECONDS", cls.retry_max_seconds)),
        )
