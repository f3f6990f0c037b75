"""The escalation latency benchmark still runs end to end: the whole chain starts, every
angry message gets exactly one escalation and no calm one gets any. A smoke test, not the
1 s target: a handful of messages says nothing about latency on a shared machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKENDS, PG_URL
from tests.processes.support import REPO_ROOT, child_env

EXIT_TARGET_MISSED = 2
MESSAGES = 6


@pytest.mark.timeout(90)
def test_every_angry_message_gets_its_escalation(tmp_path: Path) -> None:
    if "postgresql" not in BACKENDS:
        pytest.skip("TEST_BACKENDS opts out of PostgreSQL, which the benchmark runs on")
    report = tmp_path / "bench.json"
    command = [sys.executable, "-m", "bench.escalation_latency", "--count", str(MESSAGES)]
    command += ["--rate", "10", "--idle-wait", "0", "--decision-timeout", "20"]
    command += ["--postgres-url", PG_URL, "--json", str(report)]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command,
        env=child_env({}),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=80,
        check=False,
    )

    # 0 or "target missed"; 1 would mean a missing, doubled or wrongful escalation.
    assert done.returncode in (0, EXIT_TARGET_MISSED), done.stdout + done.stderr
    document = json.loads(report.read_text())
    assert document["problems"] == []
    assert document["seed_escalations"] == 0
    samples = document["samples"]
    assert len(samples) == MESSAGES
    assert len({s["conversation_id"] for s in samples}) == MESSAGES
    for sample in samples:
        assert sample["status"] == 200, sample
        assert sample["escalations"] == 1, sample
        assert sample["decided"] is not None, sample
