"""Page sizes and opaque keyset page tokens."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from common.errors import InvalidArgument
from common.pagination import PageToken, filter_fingerprint, page_size

WHEN = datetime(2026, 6, 17, 10, 0, 0, 123456, tzinfo=UTC)
FILTERS = filter_fingerprint("open", "", 0)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_page_size_zero_means_the_default() -> None:
    assert page_size(0) == 50


def test_page_size_is_taken_as_given_within_the_maximum() -> None:
    assert page_size(1) == 1
    assert page_size(500) == 500


def test_page_size_above_the_maximum_is_capped() -> None:
    assert page_size(501) == 500
    assert page_size(2**31 - 1) == 500


def test_page_size_default_and_maximum_can_be_chosen_per_method() -> None:
    assert page_size(0, default=100, maximum=1000) == 100
    assert page_size(5000, default=100, maximum=1000) == 1000


@pytest.mark.parametrize("requested", [-1, -(2**31)])
def test_negative_page_size_is_rejected(requested: int) -> None:
    with pytest.raises(InvalidArgument) as raised:
        page_size(requested)

    assert [v.field for v in raised.value.violations] == ["page_size"]


def test_a_token_round_trips() -> None:
    token = PageToken(WHEN, "7f8d3c1e-0000-4000-8000-000000000001", FILTERS)

    assert PageToken.decode(token.encode(), filters=FILTERS) == token


def test_an_encoded_token_is_url_safe_and_unpadded() -> None:
    encoded = PageToken(WHEN, "id/with+odd?chars", FILTERS).encode()

    assert "=" not in encoded
    assert set(encoded) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_an_empty_token_means_the_first_page() -> None:
    assert PageToken.decode("", filters=FILTERS) is None


def test_the_fingerprint_depends_on_every_filter() -> None:
    assert filter_fingerprint("open", "", 0) == FILTERS
    assert filter_fingerprint("open", "", 1) != FILTERS
    assert filter_fingerprint("closed", "", 0) != FILTERS


def test_a_token_used_with_different_filters_is_rejected() -> None:
    encoded = PageToken(WHEN, "row-1", FILTERS).encode()

    with pytest.raises(InvalidArgument) as raised:
        PageToken.decode(encoded, filters=filter_fingerprint("closed", "", 0))

    assert [v.field for v in raised.value.violations] == ["page_token"]


GARBAGE_TOKENS = {
    "punctuation": "!!!",
    "plain words": "not-a-token",
    "one character": "a",
    "non-ascii": "é",
    "not utf-8": _b64(b"\xff\xfe\xfd"),
    "not json": _b64(b"hello"),
    "json number": _b64(b"42"),
    "json null": _b64(b"null"),
    "json string": _b64(b'"abc"'),
    "json object": _b64(b'{"a": 1, "b": 2, "c": 3}'),
    "too few parts": _b64(b'["2026-06-17T10:00:00+00:00", "row-1"]'),
    "too many parts": _b64(b'["2026-06-17T10:00:00+00:00", "row-1", "f", "x"]'),
    "not a date": _b64(b'["yesterday", "row-1", "f"]'),
    "date is a number": _b64(b'[20260617, "row-1", "f"]'),
    "deeply nested": _b64(b"[" * 5000 + b"]" * 5000),
}


@pytest.mark.parametrize("token", GARBAGE_TOKENS.values(), ids=GARBAGE_TOKENS.keys())
def test_garbage_tokens_are_rejected_as_invalid_argument(token: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        PageToken.decode(token, filters=FILTERS)

    assert [v.field for v in raised.value.violations] == ["page_token"]


def test_a_token_whose_time_has_no_timezone_is_rejected() -> None:
    # Every issued token carries an aware UTC time; a naive one can only be forged, and it
    # cannot be compared with the UTC columns the keyset condition reads.
    forged = _b64(json.dumps(["2026-06-17T10:00:00", "row-1", FILTERS]).encode())

    with pytest.raises(InvalidArgument) as raised:
        PageToken.decode(forged, filters=FILTERS)

    assert [v.field for v in raised.value.violations] == ["page_token"]
