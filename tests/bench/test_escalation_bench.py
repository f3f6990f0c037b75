"""The escalation latency benchmark still runs end to end: the whole chain starts, every
angry message gets exactly one escalation and no calm one gets any. A smoke test, not the
1 s target: a handful of messages says nothing about latency on a shared machine."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.bench.support import run_bench

MESSAGES = 6


@pytest.mark.timeout(90)
def test_every_angry_message_gets_its_escalation(tmp_path: Path) -> None:
    args = [
        "--count",
        str(MESSAGES),
        "--rate",
        "10",
        "--idle-wait",
        "0",
        "--decision-timeout",
        "20",
    ]
    document = run_bench("bench.escalation_latency", args, tmp_path)
    assert document["problems"] == []
    assert document["seed_escalations"] == 0
    samples = document["samples"]
    assert len(samples) == MESSAGES
    assert len({s["conversation_id"] for s in samples}) == MESSAGES
    for sample in samples:
        assert sample["status"] == 200, sample
        assert sample["escalations"] == 1, sample
        assert sample["decided"] is not None, sample
