"""Chatwoot call latency and errors, by integration and endpoint."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram

# Ids in paths (`/conversations/42/toggle_status`) become `{id}`: one series per endpoint,
# not per conversation.
_ID = re.compile(r"/\d+(?=/|$)")
LABELS = ("integration", "method", "endpoint")


def endpoint(path: str) -> str:
    return _ID.sub("/{id}", path)


class ChatwootCallMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.latency = Histogram(
            "chatwoot_client_request_seconds",
            "Chatwoot API calls that reached the network, by how long they took.",
            LABELS,
            registry=registry,
        )
        self.errors = Counter(
            "chatwoot_client_errors",
            "Chatwoot API calls that failed, by the client's error class (CircuitOpen: refused "
            "without a call).",
            (*LABELS, "error"),
            registry=registry,
        )

    def observe(self, integration: str, method: str, path: str, seconds: float) -> None:
        self.latency.labels(integration, method, endpoint(path)).observe(seconds)

    def failed(self, integration: str, method: str, path: str, error: Exception) -> None:
        self.errors.labels(integration, method, endpoint(path), type(error).__name__).inc()
