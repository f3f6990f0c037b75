"""A circuit breaker, one per Chatwoot integration.

When Chatwoot is down, every outbox entry of every ticket would otherwise keep calling it,
each waiting out its own timeout. The breaker turns that into one probe per cool-down:

    CLOSED ──(failure_threshold consecutive retryable failures)──▶ OPEN
    OPEN ──(cool_down elapsed; the next call becomes the probe)──▶ HALF_OPEN
    HALF_OPEN ──probe succeeds──▶ CLOSED        HALF_OPEN ──probe fails──▶ OPEN

- Only retryable failures count (timeouts, connection failures, 429, 5xx). A 4xx is an
  answer, so it proves Chatwoot is up: it counts as a success.
- A 429 with Retry-After opens the circuit for that long straight away: Chatwoot rate-limits
  per client IP, so every call of this integration would get the same 429.
- While HALF_OPEN only one probe is in flight; other calls are refused. A probe that never
  reports (its task was cancelled) frees the slot, and one that takes longer than the
  cool-down is given up on, so a hung probe cannot keep the circuit shut for good.

It is not thread-safe: it belongs to one event loop, where its methods run without awaits.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import structlog

from common.clock import Clock, SystemClock
from ticket_service.chatwoot.errors import CircuitOpen


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        cool_down: timedelta = timedelta(seconds=30),
        clock: Clock | None = None,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if cool_down <= timedelta(0):
            raise ValueError("cool_down must be positive")
        self.name = name
        self.failure_threshold = failure_threshold
        self.cool_down = cool_down
        self._clock = clock or SystemClock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._open_until: datetime | None = None
        self._probe_started: datetime | None = None
        self._log = structlog.get_logger(__name__).bind(integration=name)

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state.value})"

    @property
    def state(self) -> BreakerState:
        """The state as of now: an OPEN circuit whose cool-down is over reads HALF_OPEN."""
        if self._state is BreakerState.OPEN and self._cooled_down():
            return BreakerState.HALF_OPEN
        return self._state

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self) -> bool:
        """Admit one call, or raise `CircuitOpen` saying when to try again.

        Returns True when the call is the half-open probe (pass it on to `release`)."""
        now = self._clock.now()
        if self._state is BreakerState.OPEN:
            assert self._open_until is not None
            if now < self._open_until:
                raise self._refusal(self._open_until)
            self._state = BreakerState.HALF_OPEN
            self._probe_started = None
            self._log.info("chatwoot_breaker_half_open")
        if self._state is BreakerState.HALF_OPEN:
            started = self._probe_started
            if started is not None and now < started + self.cool_down:
                raise self._refusal(started + self.cool_down)
            self._probe_started = now
            return True
        return False

    def record_success(self) -> None:
        """Chatwoot answered (2xx, or a 4xx that is the caller's problem)."""
        if self._state is not BreakerState.CLOSED:
            self._log.info("chatwoot_breaker_closed")
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._open_until = None
        self._probe_started = None

    def record_failure(self, *, retry_after: float | None = None) -> None:
        """A retryable failure; `retry_after` (seconds) when Chatwoot asked us to wait."""
        now = self._clock.now()
        self._failures += 1
        until: datetime | None = None
        if self._state is BreakerState.HALF_OPEN or self._failures >= self.failure_threshold:
            until = now + self.cool_down
        if retry_after is not None and retry_after > 0:
            hold = now + timedelta(seconds=retry_after)
            until = hold if until is None else max(until, hold)
        if until is not None:
            self._open(until)

    def release(self, *, probe: bool) -> None:
        """The call ended without a verdict (cancelled): change nothing, but a probe frees
        its slot so the next call can probe instead."""
        if probe and self._state is BreakerState.HALF_OPEN:
            self._probe_started = None

    def _open(self, until: datetime) -> None:
        if self._state is not BreakerState.OPEN or self._open_until != until:
            self._log.warning(
                "chatwoot_breaker_open",
                consecutive_failures=self._failures,
                until=until.isoformat(),
            )
        self._state = BreakerState.OPEN
        # A later, shorter hold (a small Retry-After) must not shorten an existing one.
        self._open_until = until if self._open_until is None else max(self._open_until, until)
        self._probe_started = None

    def _cooled_down(self) -> bool:
        return self._open_until is not None and self._clock.now() >= self._open_until

    def _refusal(self, reopens_at: datetime) -> CircuitOpen:
        return CircuitOpen(
            f"circuit open after {self._failures} consecutive failures; "
            f"next attempt allowed at {reopens_at.isoformat()}",
            reopens_at=reopens_at,
            integration=self.name,
        )
