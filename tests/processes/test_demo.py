"""`make demo` (`python -m devstack.demo`): what the README offers as the quickest look at the
system must run on a fresh SQLite stack and exit 0 only when the whole loop worked."""

from __future__ import annotations

import re
from pathlib import Path

from tests.processes.support import REPO_ROOT, run_module


def test_the_demo_plays_the_whole_escalation_loop(tmp_path: Path) -> None:
    result = run_module(
        "devstack.demo", env={"DEMO_DIRECTORY": str(tmp_path)}, cwd=REPO_ROOT, timeout=120
    )

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert re.search(r"ticket TKT-\d{4}-\d{5} for conversation 1", out), out
    assert re.search(r"Escalation decided \d+\.\d\d s after the message", out), out
    assert "rule critical_reason" in out
    assert "Assigned to Priya Raman" in out
    assert "Sam Lee (busy)" in out  # passed over: Chatwoot says she is busy
    assert re.search(r"private note +Escalated to \[@Priya Raman\]\(mention://user/\d+/", out)
    assert "notification  conversation_mention for Priya Raman" in out
    assert out.rstrip().splitlines()[-1].startswith("demo: the whole loop worked")
    # Everything it wrote stayed in its directory, each process's log included.
    assert {"ticket_service.log", "escalation_service.log", "escalation.db"} <= {
        p.name for p in tmp_path.iterdir()
    }
