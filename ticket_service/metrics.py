"""The ticket service's metrics, all in one registry per app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import Clock
from common.metrics import Sampled
from ticket_service.adapters.outbox import outbox_backlog
from ticket_service.chatwoot.metrics import ChatwootCallMetrics

# The outbox is read at most this often, however often Prometheus scrapes.
OUTBOX_SAMPLE_SECONDS = 5.0


class TicketMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.chatwoot = ChatwootCallMetrics(self.registry)
        self.deliveries = Counter(
            "chatwoot_deliveries_applied",
            "Chatwoot deliveries (webhooks and reconciliation) the ticket service took, by "
            "outcome: applied, duplicate, ignored.",
            ("integration", "event", "outcome"),
            registry=self.registry,
        )
        labels = ("integration",)
        self.outbox_pending = Gauge(
            "chatwoot_outbox_pending",
            "Outbox tasks waiting to be sent to Chatwoot.",
            labels,
            registry=self.registry,
        )
        self.outbox_oldest_age = Gauge(
            "chatwoot_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox task still waiting (0 when none waits).",
            labels,
            registry=self.registry,
        )
        self.outbox_dead = Gauge(
            "chatwoot_outbox_dead_letters",
            "Outbox tasks given up on, waiting for RetryChatwootSyncTask.",
            labels,
            registry=self.registry,
        )

    def outbox_sampler(self, engine: AsyncEngine, clock: Clock) -> Sampled:
        async def sample() -> None:
            async with engine.connect() as conn:
                backlogs = await outbox_backlog(conn)
            now = clock.now()
            # Cleared and set with no await between: a scrape never sees a half.
            for gauge in (self.outbox_pending, self.outbox_oldest_age, self.outbox_dead):
                gauge.clear()
            for backlog in backlogs:
                self.outbox_pending.labels(backlog.integration).set(backlog.pending)
                self.outbox_dead.labels(backlog.integration).set(backlog.dead)
                oldest = backlog.oldest_pending
                age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
                self.outbox_oldest_age.labels(backlog.integration).set(age)

        return Sampled("chatwoot_outbox", sample, min_interval=OUTBOX_SAMPLE_SECONDS)
