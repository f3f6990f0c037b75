"""The SLA scheduler benchmark still runs end to end: it seeds, ticks, and every clock it
makes due fires exactly once. A smoke test, not the performance target: a few hundred
clocks and a handful of ticks say nothing about cost on a shared machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import run_bench

# A benchmark's smoke run, not part of `make test`: `make bench-smoke` (CI runs both).
pytestmark = pytest.mark.bench_smoke


@pytest.mark.timeout(90)
def test_the_benchmark_fires_every_due_clock_once(tmp_path: Path) -> None:
    args = [
        "--sizes",
        "200,2000",
        "--due",
        "10",
        "--idle-ticks",
        "10",
        "--due-ticks",
        "2",
        "--naive-runs",
        "2",
        "--interval",
        "0.2",
        "--latency-clocks",
        "10",
        "--latency-spread",
        "1",
    ]
    document = run_bench("bench.sla_scheduler", args, tmp_path)
    runs = document["runs"]
    assert [run["tickets"] for run in runs] == [0, 200, 2000]
    for run in runs:
        assert run["due_fired_once"] is True, run
        assert run["due_tick"]["samples"] == 2, run
    for run in runs[1:]:
        latency = run["latency"]
        assert latency["fired_once"] == latency["clocks"] == 10, latency
    assert document["summary"]["fired_once"] is True
