"""Process settings from the environment. Tenants and secrets live in the tenants file."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///var/escalation_service.db"


def _seconds(name: str, default: float) -> timedelta:
    return timedelta(seconds=float(os.environ.get(name, default)))


def _enabled(name: str) -> bool:
    return os.environ.get(name, "true").lower() not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class WorkerSettings:
    """The background work of one replica. Every part is safe to run on several replicas."""

    # How often each tenant's ticket event log is polled. A decision is due within 1 s of
    # the customer's message, so this stays well under that.
    poll_interval: timedelta = timedelta(seconds=0.2)
    page_size: int = 200
    # Effects (assign, priority, note) retried with backoff while the ticket service fails.
    effects_retry_initial: timedelta = timedelta(seconds=1)
    effects_retry_max: timedelta = timedelta(seconds=60)
    effects_lease: timedelta = timedelta(seconds=30)
    # Queued escalations are assigned as soon as an agent frees up; this is the safety net.
    queue_interval: timedelta = timedelta(seconds=5)
    # How often due SLA clocks are looked for: a warning or breach is acted on at most this
    # long (plus the work itself) after it falls due.
    sla_interval: timedelta = timedelta(seconds=5)
    # Chatwoot's agent list and presence; None turns the sync off.
    agent_sync_interval: timedelta | None = timedelta(seconds=60)


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    tenants_file: str = "config/tenants.dev.toml"
    listen: str = "127.0.0.1:50052"
    # Empty: no metrics endpoint.
    metrics_listen: str = ""
    ticket_service_target: str = "127.0.0.1:50051"
    shutdown_grace_seconds: float = 10.0
    log_level: str = "INFO"
    # None: this replica only serves the API, leaving the event log and effects to others.
    workers: WorkerSettings | None = WorkerSettings()

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("ESCALATION_DATABASE_URL", DEFAULT_DATABASE_URL),
            tenants_file=os.environ.get("TICKETING_TENANTS_FILE", cls.tenants_file),
            listen=os.environ.get("ESCALATION_GRPC_LISTEN", cls.listen),
            metrics_listen=os.environ.get("ESCALATION_METRICS_LISTEN", cls.metrics_listen),
            ticket_service_target=os.environ.get(
                "ESCALATION_TICKET_SERVICE_TARGET", cls.ticket_service_target
            ),
            shutdown_grace_seconds=float(
                os.environ.get("SHUTDOWN_GRACE_SECONDS", cls.shutdown_grace_seconds)
            ),
            log_level=os.environ.get("LOG_LEVEL", cls.log_level),
            workers=_worker_settings(),
        )


def _worker_settings() -> WorkerSettings | None:
    if not _enabled("ESCALATION_WORKERS_ENABLED"):
        return None
    sync_enabled = _enabled("ESCALATION_AGENT_SYNC_ENABLED")
    return WorkerSettings(
        poll_interval=_seconds("ESCALATION_POLL_SECONDS", 0.2),
        effects_retry_initial=_seconds("ESCALATION_EFFECTS_RETRY_INITIAL_SECONDS", 1),
        effects_retry_max=_seconds("ESCALATION_EFFECTS_RETRY_MAX_SECONDS", 60),
        queue_interval=_seconds("ESCALATION_QUEUE_SECONDS", 5),
        effects_lease=_seconds("ESCALATION_EFFECTS_LEASE_SECONDS", 30),
        sla_interval=_seconds("ESCALATION_SLA_TICK_SECONDS", 5),
        agent_sync_interval=(
            _seconds("ESCALATION_AGENT_SYNC_SECONDS", 60) if sync_enabled else None
        ),
    )
