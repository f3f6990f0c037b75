"""The `Retry-After` header (RFC 9110 §10.2.3): delay-seconds or an HTTP-date."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Anything longer is more likely a misconfigured proxy than a real request to wait; the
# caller's own backoff takes over beyond it.
MAX_RETRY_AFTER_SECONDS = 3600.0


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from `now`, or None when the header is absent or unreadable.

    An HTTP-date in the past means "now" (0). Values are capped at an hour.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isascii() and text.isdigit():
        return min(float(text), MAX_RETRY_AFTER_SECONDS)
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # Not RFC syntax, but some servers send "1.5"; a negative or NaN value is nonsense.
        return min(seconds, MAX_RETRY_AFTER_SECONDS) if seconds >= 0 else None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER_SECONDS)
