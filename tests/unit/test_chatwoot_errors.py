"""The Chatwoot client's error tree and the Retry-After header."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ticket_service.chatwoot.errors import (
    ChatwootError,
    CircuitOpen,
    ClientError,
    ConnectionFailed,
    NotFound,
    PermanentError,
    RateLimited,
    RetryableError,
    ServerError,
    Timeout,
    Unauthorized,
    UnexpectedResponse,
)
from ticket_service.chatwoot.retry_after import MAX_RETRY_AFTER_SECONDS, parse_retry_after

NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "family"),
    [
        (Timeout, RetryableError),
        (ConnectionFailed, RetryableError),
        (RateLimited, RetryableError),
        (ServerError, RetryableError),
        (CircuitOpen, RetryableError),
        (ClientError, PermanentError),
        (NotFound, ClientError),
        (Unauthorized, ClientError),
        (UnexpectedResponse, PermanentError),
    ],
)
def test_the_tree(kind: type[ChatwootError], family: type[ChatwootError]) -> None:
    assert issubclass(kind, family)
    assert issubclass(kind, ChatwootError)
    assert not (issubclass(kind, RetryableError) and issubclass(kind, PermanentError))


def test_message_names_the_call_and_repr_matches() -> None:
    error = NotFound("404 Resource could not be found", status=404, reason="Resource ...")
    assert str(error) == "chatwoot: 404 Resource could not be found"
    error.locate("acme-chatwoot", "GET", "/api/v1/accounts/3/conversations/9")
    assert str(error) == (
        "acme-chatwoot: GET /api/v1/accounts/3/conversations/9: 404 Resource could not be found"
    )
    assert repr(error) == f"NotFound({str(error)!r})"
    assert (error.status, error.reason) == (404, "Resource ...")
    # A second locate keeps the first answer.
    error.locate("other", "POST", "/x")
    assert error.integration == "acme-chatwoot"


def test_the_extra_fields() -> None:
    limited = RateLimited("429", retry_after=7.0)
    assert limited.retry_after == 7.0
    assert ServerError("503", status=503).status == 503
    assert CircuitOpen("open", reopens_at=NOW).reopens_at == NOW


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("", None),
        ("120", 120.0),
        ("  0 ", 0.0),
        ("1.5", 1.5),
        ("-3", None),
        ("soon", None),
        ("nan", None),
        ("99999999", MAX_RETRY_AFTER_SECONDS),
        ("Wed, 17 Jun 2026 10:01:30 GMT", 90.0),
        ("Wed, 17 Jun 2026 09:59:00 GMT", 0.0),
        ("Wednesday, 17-Jun-26 10:00:10 GMT", 10.0),  # the obsolete RFC 850 form
    ],
)
def test_retry_after(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, NOW) == seconds
