"""Failures on demand: status codes, 429 with Retry-After, delays, a limited number of times,
and a listener that is really gone for a while."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.chatwoot_sim.support import SimulatorProcess
from tests.processes.support import wait_for_http


def _conversation(sim: SimulatorProcess) -> int:
    return sim.control.seed(conversations=[{}], webhooks=False).conversation_ids[0]


def test_a_fixed_status_for_a_number_of_requests(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _conversation(sim)
    sim.control.fault(path_prefix=sim.api_path("/conversations"), status=503, times=2)
    answers = [client.get(f"/conversations/{conversation}") for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    assert answers[0].json() == {"error": "Service Unavailable"}
    calls = sim.control.calls()
    assert [(c.status, c.fault) for c in calls] == [
        (503, "status 503"),
        (503, "status 503"),
        (200, None),
    ]
    assert sim.control.faults()[0]["hits"] == 2


def test_429_carries_retry_after(sim: SimulatorProcess, client: httpx.Client) -> None:
    sim.control.fault(status=429, retry_after=7, method="GET")
    limited = client.get("/agents")
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "7"
    # The rule is for GET only.
    assert client.put("/contacts/1", json={}).status_code == 404
    sim.control.clear_faults()
    assert client.get("/agents").status_code == 200


def test_a_delay_times_the_client_out_but_the_change_still_happens(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _conversation(sim)
    path = f"/conversations/{conversation}/toggle_status"
    sim.control.fault(path_prefix=sim.api_path(path), delay_seconds=0.8, times=1)
    with pytest.raises(httpx.ReadTimeout):
        client.post(path, json={"status": "resolved"}, timeout=0.2)
    deadline = time.monotonic() + 5
    while sim.control.state().conversation(conversation)["status"] != "resolved":
        assert time.monotonic() < deadline, "the delayed call never applied"
        time.sleep(0.05)
    [call] = sim.control.calls()
    assert call.fault == "delay 0.8s"
    assert call.status == 200


def test_a_delay_then_a_status(sim: SimulatorProcess, client: httpx.Client) -> None:
    sim.control.fault(path_prefix=sim.api_path("/agents"), delay_seconds=0.3, status=502)
    started = time.monotonic()
    assert client.get("/agents").status_code == 502
    assert time.monotonic() - started >= 0.3


def test_a_bad_fault_rule_is_refused(sim: SimulatorProcess) -> None:
    with pytest.raises(AssertionError, match="422"):
        sim.control.fault(path_prefix="/api/")  # neither status nor delay
    with pytest.raises(AssertionError, match="422"):
        sim.control.fault(status=1000)
    assert sim.control.faults() == []


def test_down_refuses_connections_then_comes_back_with_its_state(
    sim: SimulatorProcess, client: httpx.Client
) -> None:
    conversation = _conversation(sim)
    # A kept-alive connection must not outlive the outage either.
    assert client.get(f"/conversations/{conversation}").status_code == 200
    sim.control.down(1.0)
    went_down = time.monotonic()
    refused = False
    while time.monotonic() - went_down < 0.8:
        try:
            client.get(f"/conversations/{conversation}", timeout=0.5)
        except httpx.TransportError:
            # Refused, or the kept-alive connection dropped: either way, no answer.
            refused = True
            break
        time.sleep(0.02)
    assert refused, "the simulator still answered after /_sim/down"
    wait_for_http(f"{sim.url}/_sim/state", 200, timeout=5, interval=0.05)
    assert time.monotonic() - went_down >= 0.9
    assert client.get(f"/conversations/{conversation}").status_code == 200
