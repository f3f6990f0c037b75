"""Process settings from the environment. Tenants and secrets live in the tenants file."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta

from ticket_service.domain.chatwoot_sync import RetryPolicy
from ticket_service.service.chatwoot_dispatcher import DispatchSettings
from ticket_service.service.reconciler import ReconcileSettings
from ticket_service.service.retention import RetentionSettings

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/ticket_service.db"


@dataclass(frozen=True)
class Settings:
    database_url: str
    tenants_file: str
    listen: str = "127.0.0.1:50051"
    # Empty: no metrics endpoint.
    metrics_listen: str = ""
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    # None: this replica leaves the Chatwoot outbox to others.
    sync: DispatchSettings | None = field(default_factory=DispatchSettings)
    # None: this replica does not reconcile.
    reconcile: ReconcileSettings | None = field(default_factory=ReconcileSettings)
    # None: this replica leaves old bookkeeping rows to others.
    retention: RetentionSettings | None = field(default_factory=RetentionSettings)

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            sync=_sync_settings(),
            reconcile=_reconcile_settings(),
            retention=_retention_settings(),
            database_url=os.environ.get("TICKET_DATABASE_URL", DEFAULT_DATABASE_URL),
            tenants_file=os.environ.get("TICKETING_TENANTS_FILE", "config/tenants.dev.toml"),
            listen=os.environ.get("TICKET_GRPC_LISTEN", cls.listen),
            metrics_listen=os.environ.get("TICKET_METRICS_LISTEN", cls.metrics_listen),
            shutdown_grace_seconds=float(
                os.environ.get("SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds)
            ),
            log_level=os.environ.get("LOG_LEVEL", cls.log_level),
        )


def _seconds(name: str, default: float) -> timedelta:
    return timedelta(seconds=float(os.environ.get(name, default)))


def _enabled(name: str) -> bool:
    return os.environ.get(name, "true").lower() not in ("0", "false", "no", "off")


def _retention_settings() -> RetentionSettings | None:
    if not _enabled("TICKET_RETENTION_ENABLED"):
        return None
    keys = _seconds("TICKET_RETENTION_KEYS_SECONDS", 7 * 86_400)
    return RetentionSettings(
        delivery_keys=keys,
        idempotency_keys=keys,
        sync_history=_seconds("TICKET_RETENTION_SYNC_HISTORY_SECONDS", 30 * 86_400),
    )


def _reconcile_settings() -> ReconcileSettings | None:
    if not _enabled("TICKET_RECONCILE_ENABLED"):
        return None
    return ReconcileSettings(
        interval=_seconds("TICKET_RECONCILE_INTERVAL_SECONDS", 60),
        first_lookback=_seconds("TICKET_RECONCILE_FIRST_LOOKBACK_SECONDS", 3600),
    )


def _sync_settings() -> DispatchSettings | None:
    if not _enabled("TICKET_SYNC_ENABLED"):
        return None
    defaults = DispatchSettings()
    return DispatchSettings(
        batch=int(os.environ.get("TICKET_SYNC_BATCH", defaults.batch)),
        poll_interval=_seconds("TICKET_SYNC_POLL_SECONDS", 0.5),
        retry=RetryPolicy(
            initial=_seconds("TICKET_SYNC_RETRY_INITIAL_SECONDS", 1),
            maximum=_seconds("TICKET_SYNC_RETRY_MAX_SECONDS", 300),
            give_up_after=_seconds("TICKET_SYNC_GIVE_UP_SECONDS", 86_400),
        ),
        breaker_cool_down=_seconds("TICKET_SYNC_BREAKER_COOL_DOWN_SECONDS", 30),
    )
