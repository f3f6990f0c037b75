"""How each way a call can fail reaches the caller, with the simulator failing for real:
status faults, 429 with Retry-After, a slow answer, a listener that is gone."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import httpx
import pytest

from common.clock import ManualClock
from tests.chatwoot_client.conftest import READ_TIMEOUT, TIMEOUT, integration
from tests.chatwoot_sim.support import BOT_TOKEN, SimulatorProcess
from tests.processes.support import wait_for_http
from ticket_service.chatwoot import (
    BreakerState,
    ChatwootClient,
    ChatwootError,
    ChatwootStatus,
    CircuitBreaker,
    CircuitOpen,
    ClientError,
    ConnectionFailed,
    NotFound,
    PermanentError,
    Priority,
    RateLimited,
    RetryableError,
    ServerError,
    Timeout,
    Unauthorized,
    UnexpectedResponse,
)


def seed_one(sim: SimulatorProcess) -> int:
    return sim.control.seed(conversations=[{}], webhooks=False).conversation_ids[0]


async def test_429_is_rate_limited_with_retry_after(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    sim.control.fault(path_prefix=sim.api_path("/agents"), status=429, retry_after=7, times=1)

    with pytest.raises(RateLimited) as raised:
        await chatwoot.list_agents()

    assert raised.value.retry_after == 7.0
    assert isinstance(raised.value, RetryableError)
    assert "retry after 7 s" in str(raised.value)
    # Chatwoot limits per client, so the whole integration holds off for that long.
    assert chatwoot.breaker.state is BreakerState.OPEN
    with pytest.raises(CircuitOpen):
        await chatwoot.list_agents()
    assert len(sim.control.calls()) == 1


async def test_429_without_retry_after(sim: SimulatorProcess, chatwoot: ChatwootClient) -> None:
    sim.control.fault(status=429, times=1)
    with pytest.raises(RateLimited) as raised:
        await chatwoot.list_agents()
    assert raised.value.retry_after is None


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_a_server_error(
    sim: SimulatorProcess, chatwoot: ChatwootClient, status: int
) -> None:
    conversation_id = seed_one(sim)
    sim.control.fault(status=status, times=1)

    with pytest.raises(ServerError) as raised:
        await chatwoot.get_conversation(conversation_id)

    assert raised.value.status == status
    assert isinstance(raised.value, RetryableError)


async def test_4xx_are_permanent(sim: SimulatorProcess, chatwoot: ChatwootClient) -> None:
    conversation_id = seed_one(sim)
    sim.control.fault(status=422, method="POST", times=1)
    with pytest.raises(ClientError) as unprocessable:
        await chatwoot.toggle_status(conversation_id, ChatwootStatus.RESOLVED)
    assert unprocessable.value.status == 422
    assert unprocessable.value.reason == "Unprocessable Entity"
    assert isinstance(unprocessable.value, PermanentError)

    with pytest.raises(NotFound):
        await chatwoot.set_labels(conversation_id + 1, ["x"])
    # An answer, however unwelcome, proves Chatwoot is up.
    assert chatwoot.breaker.consecutive_failures == 0


async def test_a_wrong_token_is_unauthorized(sim: SimulatorProcess) -> None:
    async with ChatwootClient(integration(sim, "not-a-real-token-000"), timeout=TIMEOUT) as bad:
        with pytest.raises(Unauthorized) as raised:
            await bad.list_agents()
    assert raised.value.reason == "Invalid Access Token"
    assert sim.control.calls()[-1].actor == "invalid"


async def test_a_bot_token_cannot_list(sim: SimulatorProcess) -> None:
    conversation_id = seed_one(sim)
    async with ChatwootClient(integration(sim, BOT_TOKEN), timeout=TIMEOUT) as bot:
        # Conversation endpoints are open to bots ...
        await bot.toggle_priority(conversation_id, Priority.LOW)
        # ... the list, contacts and agents are not.
        with pytest.raises(Unauthorized, match="not authorized for bots"):
            await bot.list_conversations()


async def test_a_slow_answer_times_out_and_may_still_apply(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim)
    sim.control.fault(
        path_prefix=sim.api_path(f"/conversations/{conversation_id}/toggle_priority"),
        delay_seconds=READ_TIMEOUT + 0.5,
        times=1,
    )
    started = time.monotonic()

    with pytest.raises(Timeout) as raised:
        await chatwoot.toggle_priority(conversation_id, Priority.URGENT)

    assert time.monotonic() - started < READ_TIMEOUT + 2.0
    assert "ReadTimeout" in str(raised.value)
    assert isinstance(raised.value, RetryableError)
    # Chatwoot finished the change after we gave up: retries must be safe to repeat.
    deadline = time.monotonic() + 5
    while sim.control.state().conversation(conversation_id)["priority"] != "urgent":
        assert time.monotonic() < deadline, "the delayed call never applied"
        await asyncio.sleep(0.05)


async def test_a_success_body_of_the_wrong_shape_is_unexpected(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim)
    # The fault answers 200 with {"error": "OK"}: no conversation in it.
    sim.control.fault(status=200, times=1)
    with pytest.raises(UnexpectedResponse) as raised:
        await chatwoot.get_conversation(conversation_id)
    assert str(raised.value) == (
        f"sim-chatwoot: GET {sim.api_path(f'/conversations/{conversation_id}')}: id: missing"
    )
    assert isinstance(raised.value, PermanentError)


async def test_a_redirect_is_not_followed(sim: SimulatorProcess, chatwoot: ChatwootClient) -> None:
    sim.control.fault(status=302, times=1)
    with pytest.raises(UnexpectedResponse, match="unexpected status 302"):
        await chatwoot.list_agents()
    assert len(sim.control.calls()) == 1


async def test_the_breaker_opens_stops_calling_then_recovers(
    sim: SimulatorProcess, chatwoot: ChatwootClient, clock: ManualClock, breaker: CircuitBreaker
) -> None:
    conversation_id = seed_one(sim)
    sim.control.fault(status=503)

    for _ in range(breaker.failure_threshold):
        with pytest.raises(ServerError):
            await chatwoot.get_conversation(conversation_id)
    for _ in range(5):
        with pytest.raises(CircuitOpen) as refused:
            await chatwoot.get_conversation(conversation_id)
    # The simulator saw only the calls before the circuit opened.
    assert len(sim.control.calls()) == breaker.failure_threshold
    assert refused.value.reopens_at == clock.now() + breaker.cool_down
    assert refused.value.path == sim.api_path(f"/conversations/{conversation_id}")

    # Cool-down over, Chatwoot still failing: one probe goes out, and the circuit reopens.
    clock.advance(breaker.cool_down)
    with pytest.raises(ServerError):
        await chatwoot.get_conversation(conversation_id)
    with pytest.raises(CircuitOpen):
        await chatwoot.get_conversation(conversation_id)
    assert len(sim.control.calls()) == breaker.failure_threshold + 1

    # Chatwoot is back: the next probe succeeds and calls flow again.
    sim.control.clear_faults()
    clock.advance(breaker.cool_down)
    assert (await chatwoot.get_conversation(conversation_id)).id == conversation_id
    assert breaker.state is BreakerState.CLOSED
    await chatwoot.get_conversation(conversation_id)
    assert len(sim.control.calls()) == breaker.failure_threshold + 3


async def test_a_closed_listener_is_a_connection_failure(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    conversation_id = seed_one(sim)
    await chatwoot.get_conversation(conversation_id)  # a kept-alive connection, too
    sim.control.down(1.5)
    failure: ChatwootError | None = None
    try:
        # The listener closes just after the control call answers.
        for _ in range(50):
            try:
                await chatwoot.get_conversation(conversation_id)
            except ChatwootError as error:
                failure = error
                break
            await asyncio.sleep(0.02)
        assert isinstance(failure, ConnectionFailed)
        assert isinstance(failure, RetryableError)
        assert failure.path == sim.api_path(f"/conversations/{conversation_id}")
    finally:
        wait_for_http(f"{sim.url}/_sim/state", 200, timeout=10, interval=0.05)
    assert chatwoot.breaker.consecutive_failures == 1


async def test_a_shared_http_client_stays_open_and_still_gets_timeouts(
    sim: SimulatorProcess,
) -> None:
    conversation_id = seed_one(sim)
    sim.control.fault(delay_seconds=1.5, times=1)
    # The shared client's own 5 s default would not time out; the per-call timeout does.
    async with httpx.AsyncClient() as shared:
        async with ChatwootClient(
            integration(sim),
            http=shared,
            timeout=httpx.Timeout(connect=1.0, read=0.3, write=1.0, pool=1.0),
            breaker=CircuitBreaker("shared", cool_down=timedelta(seconds=1)),
        ) as client:
            with pytest.raises(Timeout):
                await client.get_conversation(conversation_id)
        assert not shared.is_closed
