"""Opaque page tokens for keyset pagination (AIP-158).

A token holds the last row's sort key and a fingerprint of the request's filters, so a
token reused with different filters is rejected instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from common.errors import InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Real tokens are about 120 characters; anything far longer was not issued by us.
MAX_TOKEN = 512


def page_size(
    requested: int, *, default: int = DEFAULT_PAGE_SIZE, maximum: int = MAX_PAGE_SIZE
) -> int:
    if requested < 0:
        raise InvalidArgument.single("page_size", "must not be negative")
    return min(requested or default, maximum)


def filter_fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class PageToken:
    create_time: datetime
    id: str
    filters: str

    def encode(self) -> str:
        raw = json.dumps([self.create_time.isoformat(), self.id, self.filters]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str, *, filters: str) -> PageToken | None:
        if not token:
            return None
        invalid = InvalidArgument.single("page_token", "is not a token this API issued")
        if len(token) > MAX_TOKEN:
            raise invalid
        try:
            padded = token + "=" * (-len(token) % 4)
            create_time, row_id, token_filters = json.loads(base64.urlsafe_b64decode(padded))
            decoded = cls(datetime.fromisoformat(create_time), str(row_id), str(token_filters))
        except (ValueError, TypeError, RecursionError):
            raise invalid from None
        if decoded.create_time.tzinfo is None:
            raise invalid
        if decoded.filters != filters:
            raise InvalidArgument.single(
                "page_token", "was issued for different filters; start again without it"
            )
        return decoded


def keyset_after(token: str, *, filters: str) -> tuple[datetime, str] | None:
    """The (create_time, id) to read after, from a request's page token (None: page one)."""
    decoded = PageToken.decode(token, filters=filters)
    return None if decoded is None else (decoded.create_time, decoded.id)


def next_page_token(rows: Sequence[Any], limit: int, filters: str) -> str:
    """The token for the page after `rows[:limit]`, for a query that asked for limit + 1
    rows (each with `create_time` and `id`); empty when there is no further page."""
    if len(rows) <= limit:
        return ""
    last = rows[limit - 1]
    return PageToken(last.create_time, str(last.id), filters).encode()
