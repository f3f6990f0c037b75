"""`python -m bench --quick` still runs every benchmark and prints every row of the table,
each with a real figure, a baseline and a ratio that are numbers. A smoke test: quick
figures say nothing about performance."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from tests.bench.support import run_bench

# A benchmark's smoke run, not part of `make test`: `make bench-smoke` (CI runs both).
pytestmark = pytest.mark.bench_smoke

# The figures of issue 8's table, at the quick mode's ListTickets sizes (200 and 2,000).
FIGURES = [
    "webhook intake, sustained",
    "webhook intake, sustained p50",
    "webhook intake, sustained p99",
    "webhook intake at half that rate, p99",
    "RSS under webhook load: gateway",
    "RSS under webhook load: ticket service",
    "webhook → escalation decided, p50",
    "webhook → escalation decided, p99",
    "RSS under load: escalation service",
    "CreateTicket",
    "CreateTicket p99",
    "GetTicket",
    "GetTicket p99",
    "cold start: gateway (/readyz 200)",
    "cold start: ticket service",
    "cold start: escalation service",
    "cold start: bare service",
    "RSS idle: gateway (/readyz 200)",
    "RSS idle: ticket service",
    "RSS idle: escalation service",
    "ListTickets first page p50 at 200 tickets",
    "ListTickets first page p50 at 2,000 tickets",
    "ListTickets deep page p50 at 200 tickets",
    "ListTickets deep page p50 at 2,000 tickets",
    "ListTickets first page p50: 2,000 vs 200",
    "ListTickets first page p99: 2,000 vs 200",
    "ListTickets deep page p50: 2,000 vs 200",
    "ListTickets deep page p99: 2,000 vs 200",
]


# Some 25 processes start (each benchmark's chain, cold starts, drivers): about a minute on
# an idle 2-core machine, several when other suites run.
@pytest.mark.timeout(420)
def test_every_figure_has_a_real_value_a_baseline_and_a_ratio(tmp_path: Path) -> None:
    document = run_bench("bench", ["--quick"], tmp_path, timeout=400)
    assert document["problems"] == []
    rows = document["rows"]
    assert [row["figure"] for row in rows] == FIGURES
    for row in rows:
        assert row["real"] > 0, row
        assert row["bare"] > 0, row
        assert math.isfinite(row["ratio"]), row
        assert row["ratio"] > 0, row
    assert all(isinstance(row["met"], bool) for row in rows if row["target"])
    assert document["machine"]["before"]["cpus"]
