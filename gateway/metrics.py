"""Prometheus metrics, on a registry per app so that several apps in one process (tests)
do not collide."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from common.grpc.metrics import ClientMetrics
from gateway.spool import Spool


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, spool: Spool) -> None:
        self.registry = CollectorRegistry()
        self.deliveries = Counter(
            "chatwoot_webhook_deliveries",
            "Chatwoot webhook requests by integration, event and what became of them: applied, "
            "duplicate, ignored, spooled, rejected, invalid, unauthorized, failed.",
            ["integration", "event", "outcome"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "chatwoot_webhook_rejections",
            "Chatwoot webhook requests not taken, by why (body_too_large, unauthorized, "
            "malformed_body, bad_delivery_id, invalid_payload, refused_by_service, "
            "spool_unavailable).",
            ["integration", "event", "reason"],
            registry=self.registry,
        )
        # The gateway's calls to the ticket service.
        self.grpc_client = ClientMetrics(self.registry)
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
