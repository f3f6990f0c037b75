"""The Chatwoot client against the real simulator process (`python -m chatwoot_sim`).

One simulator per test module, reset before each test. Its administrator token is
distinctive, so the secrecy tests can look for it anywhere.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import httpx
import pytest
from pydantic import SecretStr

from common.clock import ManualClock
from common.config import ChatwootIntegration
from tests.chatwoot_sim.support import SimulatorProcess, run_simulator
from ticket_service.chatwoot import ChatwootClient, CircuitBreaker

TOKEN = "cw-admin-XYZZY-do-not-log-0123456789"
# Short enough that the timeout tests are quick, long enough for a loaded CI machine.
READ_TIMEOUT = 1.0
TIMEOUT = httpx.Timeout(connect=2.0, read=READ_TIMEOUT, write=2.0, pool=2.0)
START = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


def integration(sim: SimulatorProcess, token: str = TOKEN) -> ChatwootIntegration:
    return ChatwootIntegration(
        name="sim-chatwoot",
        base_url=sim.url,
        account_id=sim.account_id,
        api_access_token=SecretStr(token),
        webhook_secret=SecretStr("sim-webhook-secret-0123456789"),
    )


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with run_simulator(admin_token=TOKEN) as simulator:
        yield simulator


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    simulator.control.reset()
    return simulator


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("sim-chatwoot", failure_threshold=3, clock=clock)


@pytest.fixture
async def chatwoot(
    sim: SimulatorProcess, breaker: CircuitBreaker, clock: ManualClock
) -> AsyncIterator[ChatwootClient]:
    """The client with the administrator's token, the status-sync token."""
    async with ChatwootClient(
        integration(sim), timeout=TIMEOUT, breaker=breaker, clock=clock
    ) as client:
        yield client
