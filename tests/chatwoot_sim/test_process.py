"""`python -m chatwoot_sim` as a command: the serving line, a start seed, a clean stop."""

from __future__ import annotations

import httpx

from tests.chatwoot_sim.support import run_simulator
from tests.processes.support import REPO_ROOT, run_module


def test_starts_seeded_and_stops_cleanly_on_sigterm() -> None:
    with run_simulator(seed="demo", account_id=7) as sim:
        assert sim.url == f"http://127.0.0.1:{sim.port}"
        listed = httpx.get(f"{sim.api_url}/conversations", headers=sim.headers())
        assert [c["id"] for c in listed.json()["data"]["payload"]] == [1]  # open ones only
        assert sim.api_url.endswith("/api/v1/accounts/7")
        # The demo seed ran before any webhook URL existed: recorded, dropped.
        assert {w.outcome for w in sim.control.webhooks()} == {"dropped"}
        assert sim.process.terminate() == 0


def test_refuses_shared_tokens() -> None:
    result = run_module(
        "chatwoot_sim", "--admin-token=same", "--agent-token=same", env={}, cwd=REPO_ROOT
    )
    assert result.returncode == 2
    assert "must be distinct" in result.stderr
