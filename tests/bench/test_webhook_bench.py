"""The webhook benchmark still runs end to end: both chains start, every delivery is
answered 200 and leaves its row. A smoke test, not the performance target: two-second
phases at low concurrency say nothing about throughput on a shared machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import run_bench


@pytest.mark.timeout(90)
def test_the_benchmark_delivers_everything_through_both_chains(tmp_path: Path) -> None:
    args = [
        "--duration",
        "2",
        "--rounds",
        "1",
        "--concurrency",
        "4",
        "--warmup",
        "0.5",
        "--conversations",
        "20",
        "--idle-wait",
        "0",
    ]
    document = run_bench("bench.webhook_load", args, tmp_path)
    runs = document["runs"]
    assert sorted(run["chain"] for run in runs) == ["bare", "real"]
    for run in runs:
        for phase, counts in run["statuses"].items():
            assert set(counts) == {"200"}, (run["chain"], phase, counts)
        assert run["missing_rows"] == 0, run
        assert run["sustained"]["deliveries"] > 0, run
        assert run["paced"]["deliveries"] > 0, run
    assert document["summary"]["clean"] is True
