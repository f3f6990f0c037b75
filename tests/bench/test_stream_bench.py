"""The stream latency benchmark still runs end to end: the ticket service starts, every
watcher receives every event in order, and the report has its figures. A smoke test, not
the 100 ms target: a handful of events says nothing about latency on a shared machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import run_bench

# A benchmark's smoke run, not part of `make test`: `make bench-smoke` (CI runs both).
pytestmark = pytest.mark.bench_smoke


@pytest.mark.timeout(90)
def test_every_watcher_receives_every_event(tmp_path: Path) -> None:
    args = ["--watchers", "3", "--count", "5", "--rate", "20", "--burst", "5"]
    document = run_bench("bench.stream_latency", args, tmp_path)
    assert document["problems"] == []
    assert set(document["latency_ms"]) == {"paced", "burst"}
    assert document["baseline_ms"]["p50"] > 0
    assert document["bare_grpc_fanout_ms"]["p50"] > 0
    assert document["latency_ms"]["paced"]["max"] > 0
