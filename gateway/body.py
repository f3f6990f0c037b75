"""The request body: read with a size cap, decoded as strict JSON."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request

from gateway.keys import canonical_json

MAX_BODY_BYTES = 1024 * 1024
_DIGITS = re.compile(r"[0-9]{1,20}")


class BodyTooLarge(Exception):
    pass


class BadBody(Exception):
    """The body is not JSON we can read; the message says why."""


@dataclass(frozen=True)
class Json:
    value: Any
    canonical: bytes

    @property
    def event(self) -> str | None:
        """The `event` name when the body is an object with a string `event`."""
        event = self.value.get("event") if isinstance(self.value, dict) else None
        return event if isinstance(event, str) else None


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The raw body; BodyTooLarge as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length", "")
    if _DIGITS.fullmatch(declared) and int(declared) > limit:
        raise BodyTooLarge
    chunks: list[bytes] = []
    size = 0
    # The declared length may be absent (chunked) or wrong: count what actually arrives.
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def decode_json(raw: bytes) -> Json:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError as error:  # JSONDecodeError, and NaN/Infinity
        raise BadBody(f"body is not valid JSON: {error}") from None
    except RecursionError:
        raise BadBody("body is nested too deeply") from None
    try:
        canonical = canonical_json(value)
    except UnicodeEncodeError:
        raise BadBody("body has a string with an unpaired surrogate escape") from None
    except RecursionError:
        raise BadBody("body is nested too deeply") from None
    return Json(value, canonical)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
