"""The reliability soak, short: every fault of the full soak (the simulator down, a ticket
replica and the gateway killed, PostgreSQL restarted) within a storm of 800 deliveries,
and every check of its report passing. The full 20,000-delivery run is `make soak`.

About 45 s on an idle machine, most of it starting six processes; the timeout allows for
a machine busy with other work."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import run_bench

CHECKS = {
    "answers as expected",
    "no 5xx to the sender",
    "every message exactly once",
    "one ticket per conversation",
    "ticket numbers unique, gap-free",
    "no agent over capacity",
    "outbox delivered or dead-lettered",
    "simulator matches our state",
    "gateway spool drained",
    "no process died by itself",
    "every fault injected, recovered",
}


@pytest.mark.timeout(300)
def test_a_short_soak_survives_every_fault_and_passes_every_check(tmp_path: Path) -> None:
    args = [
        "--deliveries",
        "800",
        "--conversations",
        "20",
        "--simulator-down",
        "3",
        "--restart-after",
        "1",
        "--drain-timeout",
        "60",
    ]
    document = run_bench("bench.soak", args, tmp_path, own_postgres=True, timeout=240)
    assert {check["name"] for check in document["checks"]} == CHECKS
    failed = [check for check in document["checks"] if not check["passed"]]
    assert failed == [], failed
    assert [fault["name"].split()[0] for fault in document["faults"]] == [
        "simulator",
        "ticket-1",
        "postgres",
        "gateway",
    ]
    storm = document["storm"]
    for kind in ("original", "repeat", "rerun", "out_of_order", "malformed", "bad_signature"):
        assert storm[kind] > 0, (kind, storm)
