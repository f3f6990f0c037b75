"""The escalation service's metrics, all in one registry per app.

Counters move when the transaction that made the decision commits, so a rolled-back
attempt (a conflict retried, a crash) is not counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy.ext.asyncio import AsyncEngine

from common.grpc.metrics import ClientMetrics
from common.metrics import Sampled
from escalation_service.adapters.sla_repository import clock_tally
from escalation_service.domain.escalation import Escalation
from escalation_service.domain.reasons import Trigger
from escalation_service.domain.sla_clock import Fired
from escalation_service.service.unit_of_work import UnitOfWork
from ticket_service.chatwoot.metrics import ChatwootCallMetrics

# The clocks table is counted at most this often, however often Prometheus scrapes.
CLOCKS_SAMPLE_SECONDS = 15.0


class EscalationMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.grpc_client = ClientMetrics(self.registry)
        self.chatwoot = ChatwootCallMetrics(self.registry)
        self.decisions = Counter(
            "escalation_decisions",
            "Decisions on customer messages and AI answers, by the rule that fired (none: no "
            "rule) and what came of it: escalated, suggested, already_open, none.",
            ("trigger", "rule", "outcome"),
            registry=self.registry,
        )
        self.escalations = Counter(
            "escalations_created",
            "Escalations created, by trigger and reason (each level up counts once).",
            ("trigger", "reason"),
            registry=self.registry,
        )
        self.sla_firings = Counter(
            "sla_firings",
            "SLA warnings, breaches and further levels fired, by metric and kind.",
            ("metric", "kind"),
            registry=self.registry,
        )
        self.sla_clocks = Gauge(
            "sla_clocks",
            "SLA clocks by metric and state (running, paused, met, breached).",
            ("metric", "state"),
            registry=self.registry,
        )
        # Per tenant: the tenants are the few of the tenants file, and "whose desk is at
        # risk" is the question this answers.
        self.sla_open_clocks = Gauge(
            "sla_open_clocks",
            "Running or paused SLA clocks by tenant, metric and risk (on_track, warning: "
            "the warning fired, breached).",
            ("tenant", "metric", "risk"),
            registry=self.registry,
        )

    def decided(self, uow: UnitOfWork, trigger: Trigger, rule: str, outcome: str) -> None:
        counter = self.decisions.labels(trigger.value, rule or "none", outcome)
        uow.after_commit(counter.inc)

    def escalated(self, uow: UnitOfWork, escalation: Escalation) -> None:
        counter = self.escalations.labels(escalation.trigger.value, escalation.reason.value)
        uow.after_commit(counter.inc)

    def fired(self, uow: UnitOfWork, fired: Sequence[Fired]) -> None:
        for item in fired:
            uow.after_commit(self.sla_firings.labels(item.metric.value, item.kind.value).inc)

    def clocks_sampler(self, engine: AsyncEngine) -> Sampled:
        async def sample() -> None:
            async with engine.connect() as conn:
                tally = await clock_tally(conn)
            # Cleared and set with no await between: a scrape never sees a half.
            self.sla_clocks.clear()
            for (metric, state), count in tally.by_state.items():
                self.sla_clocks.labels(metric.value, state.value).set(count)
            self.sla_open_clocks.clear()
            for (tenant, metric, risk), count in tally.open_by_risk.items():
                self.sla_open_clocks.labels(tenant, metric.value, risk.value).set(count)

        return Sampled("sla_clocks", sample, min_interval=CLOCKS_SAMPLE_SECONDS)
