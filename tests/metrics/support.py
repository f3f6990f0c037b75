"""Reading metrics the way Prometheus does: over HTTP, in the text format."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(port: int) -> Samples:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return parse(answer.text)


def parse(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    """A sample's value; 0 for a series that does not exist yet."""
    return registry.get_sample_value(name, labels) or 0.0


def rpc(service: str, method: str, code: str | None = None) -> dict[str, str]:
    labels = {"grpc_type": "unary", "grpc_service": service, "grpc_method": method}
    if code is not None:
        labels["grpc_code"] = code
    return labels
