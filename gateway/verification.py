"""Is a webhook request really from the integration's Chatwoot?

Signature mode (Chatwoot 4.12+): `X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret,
"<X-Chatwoot-Timestamp>.<raw body>")>`, and the timestamp must be recent. URL-token mode
(older Chatwoot, which signs nothing): the URL carries `?token=<url_token>`.

Reasons given to the caller say what is wrong in general terms and never echo a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from common.config import ChatwootIntegration

SIGNATURE_HEADER = "x-chatwoot-signature"
TIMESTAMP_HEADER = "x-chatwoot-timestamp"
TOKEN_PARAMETER = "token"  # noqa: S105 - a query parameter's name, not a secret

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


class Unauthorized(Exception):
    """The request is not verified; the message is safe to return to the caller."""


@dataclass(frozen=True)
class Window:
    """How far a signature's timestamp may lie behind or ahead of our clock."""

    max_age_seconds: float
    max_future_seconds: float


def is_automation_event(event: str | None) -> bool:
    """Automation-rule and macro webhooks, which Chatwoot sends unsigned."""
    if event is None:
        return False
    return event.startswith("automation_event.") or event == "macro.executed"


def verify(
    integration: ChatwootIntegration,
    *,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    event: Callable[[], str | None],
    now: float,
    window: Window,
) -> None:
    """Raise Unauthorized unless the request is verified.

    `event()` gives the body's `event` name (None if there is none); it is asked only for
    an unsigned request to an integration that accepts unsigned automation webhooks.
    `now` is Unix time.
    """
    if integration.verification == "url_token":
        assert integration.url_token is not None
        _check_url_token(integration.url_token.get_secret_value(), query.get(TOKEN_PARAMETER))
        return
    if SIGNATURE_HEADER not in headers:
        if integration.accept_unsigned_automation and is_automation_event(event()):
            return
        raise Unauthorized(f"missing {_title(SIGNATURE_HEADER)} header")
    assert integration.webhook_secret is not None
    _check_signature(
        integration.webhook_secret.get_secret_value(),
        signature=headers[SIGNATURE_HEADER],
        timestamp=headers.get(TIMESTAMP_HEADER),
        body=body,
        now=now,
        window=window,
    )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The X-Chatwoot-Signature value Chatwoot sends for this timestamp and body."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def _check_signature(
    secret: str, *, signature: str, timestamp: str | None, body: bytes, now: float, window: Window
) -> None:
    if timestamp is None:
        raise Unauthorized(f"missing {_title(TIMESTAMP_HEADER)} header")
    if not _TIMESTAMP.fullmatch(timestamp):
        raise Unauthorized(f"malformed {_title(TIMESTAMP_HEADER)} header: expected Unix seconds")
    if not _SIGNATURE.fullmatch(signature):
        raise Unauthorized(f"malformed {_title(SIGNATURE_HEADER)} header: expected sha256=<hex>")
    # Both sides are ASCII after the format checks, so comparing bytes is exact.
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.encode()):
        raise Unauthorized("signature does not match")
    age = now - int(timestamp)
    if age > window.max_age_seconds or -age > window.max_future_seconds:
        raise Unauthorized("timestamp outside the allowed window")


def _check_url_token(expected: str, given: str | None) -> None:
    if given is None:
        raise Unauthorized(f"missing `{TOKEN_PARAMETER}` query parameter")
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise Unauthorized(f"`{TOKEN_PARAMETER}` query parameter does not match")


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))
