"""One simulator process for all these tests (starting one costs about a second), reset before
each test, with a webhook receiver it sends to."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.chatwoot_sim.receiver import Receiver, webhook_receiver
from tests.chatwoot_sim.support import SimulatorProcess, run_simulator


@pytest.fixture(scope="session")
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
def simulator(receiver: Receiver) -> Iterator[SimulatorProcess]:
    with run_simulator(webhook_url=receiver.url) as simulator:
        yield simulator


@pytest.fixture
def sim(simulator: SimulatorProcess, receiver: Receiver) -> SimulatorProcess:
    simulator.control.reset()
    receiver.received.clear()
    receiver.status = 200
    return simulator


@pytest.fixture
def client(sim: SimulatorProcess) -> Iterator[httpx.Client]:
    """An httpx client on the account's API with the admin token."""
    with httpx.Client(base_url=sim.api_url, headers=sim.headers(), timeout=5.0) as client:
        yield client
