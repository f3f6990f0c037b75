"""The per-integration circuit breaker, on a manual clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from common.clock import ManualClock
from ticket_service.chatwoot.breaker import BreakerState, CircuitBreaker
from ticket_service.chatwoot.errors import CircuitOpen, RetryableError

START = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
COOL_DOWN = timedelta(seconds=30)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def breaker(clock: ManualClock) -> CircuitBreaker:
    return CircuitBreaker("acme-chatwoot", failure_threshold=3, cool_down=COOL_DOWN, clock=clock)


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read afresh: mypy would keep a narrowed `breaker.state` across calls."""
    return breaker.state


def fail(breaker: CircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_opens_after_the_threshold_of_consecutive_failures(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    fail(breaker)
    assert state(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.reopens_at == START + COOL_DOWN
    assert isinstance(refused.value, RetryableError)
    assert "acme-chatwoot" in str(refused.value)
    assert "3 consecutive failures" in str(refused.value)


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.before_call()
    breaker.record_success()
    fail(breaker, 2)
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.consecutive_failures == 2


def test_half_open_after_the_cool_down_admits_one_probe(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.advance(COOL_DOWN - timedelta(microseconds=1))
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(timedelta(microseconds=1))
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.before_call() is True  # the probe
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()  # a second caller while the probe is out
    assert refused.value.reopens_at == clock.now() + COOL_DOWN


def test_a_successful_probe_closes(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.advance(COOL_DOWN)
    breaker.before_call()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.before_call() is False
    assert breaker.before_call() is False


def test_a_failed_probe_reopens_for_another_cool_down(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.advance(COOL_DOWN)
    fail(breaker)  # the probe fails: one failure is enough in half-open
    assert state(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.reopens_at == START + 2 * COOL_DOWN


def test_a_cancelled_probe_frees_the_slot(breaker: CircuitBreaker, clock: ManualClock) -> None:
    fail(breaker, 3)
    clock.advance(COOL_DOWN)
    probe = breaker.before_call()
    breaker.release(probe=probe)
    assert state(breaker) is BreakerState.HALF_OPEN
    assert breaker.before_call() is True


def test_a_release_of_a_call_that_was_no_probe_keeps_the_probe_slot(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    straggler = breaker.before_call()  # admitted while closed, still in flight
    fail(breaker, 3)
    clock.advance(COOL_DOWN)
    assert breaker.before_call() is True
    breaker.release(probe=straggler)
    with pytest.raises(CircuitOpen):
        breaker.before_call()


def test_a_hung_probe_is_given_up_after_a_cool_down(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    fail(breaker, 3)
    clock.advance(COOL_DOWN)
    breaker.before_call()
    clock.advance(COOL_DOWN)
    assert breaker.before_call() is True


def test_retry_after_opens_at_once_for_that_long(
    breaker: CircuitBreaker, clock: ManualClock
) -> None:
    breaker.before_call()
    breaker.record_failure(retry_after=90)
    assert state(breaker) is BreakerState.OPEN
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.reopens_at == START + timedelta(seconds=90)
    # A shorter Retry-After later does not shorten the hold.
    breaker.record_failure(retry_after=1)
    clock.advance(timedelta(seconds=60))
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.advance(timedelta(seconds=30))
    assert breaker.before_call() is True


def test_the_threshold_cool_down_wins_over_a_shorter_retry_after(
    breaker: CircuitBreaker,
) -> None:
    fail(breaker, 2)
    breaker.before_call()
    breaker.record_failure(retry_after=5)
    with pytest.raises(CircuitOpen) as refused:
        breaker.before_call()
    assert refused.value.reopens_at == START + COOL_DOWN


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError, match="cool_down"):
        CircuitBreaker("x", cool_down=timedelta(0))


def test_repr_names_the_integration_and_state(breaker: CircuitBreaker) -> None:
    assert repr(breaker) == "CircuitBreaker('acme-chatwoot', state=closed)"
