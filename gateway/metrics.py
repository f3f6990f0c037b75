"""Prometheus metrics, on a registry per app so that several apps in one process (tests)
do not collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.spool import Spool


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, spool: Spool) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "chatwoot_webhook_deliveries",
            "Chatwoot webhook requests by integration, event and what became of them.",
            ["integration", "event", "outcome"],
            registry=self.registry,
        )
        self.forward_attempts = Counter(
            "gateway_spool_forward_attempts",
            "Attempts to forward spooled deliveries, by result (delivered, retry, dead_letter).",
            ["integration", "result"],
            registry=self.registry,
        )
        spool_depth = Gauge(
            "gateway_spool_depth",
            "Deliveries waiting in the spool for the ticket service.",
            registry=self.registry,
        )
        spool_depth.set_function(lambda: spool.depth)

    def render(self) -> bytes:
        return generate_latest(self.registry)
