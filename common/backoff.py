"""Exponential backoff with "equal jitter": how long a retry waits, for every retry loop
in the project (the gateway's spool, the Chatwoot outbox, escalation effects)."""

from __future__ import annotations

import random
from dataclasses import dataclass

# Jitter, not security: spreads retries of many deliveries so they do not arrive together.
_jitter = random.Random()  # noqa: S311


@dataclass(frozen=True)
class Backoff:
    initial_seconds: float
    max_seconds: float

    def delay(self, attempts: int) -> float:
        """The wait after `attempts` failed attempts: doubling from `initial_seconds` up to
        `max_seconds`, then scaled by a random factor in [0.5, 1]."""
        exponent = min(max(attempts - 1, 0), 62)
        base = min(self.max_seconds, self.initial_seconds * 2.0**exponent)
        return base * _jitter.uniform(0.5, 1.0)
