"""The start of a `Watch…Events` stream, from the request fields every such RPC shares:
`start_position` (UNSPECIFIED 0, NOW 1, AFTER_CURSOR 2) and `after_cursor`."""

from __future__ import annotations

from common.errors import Violations

START_POSITION_UNSPECIFIED = 0
START_POSITION_NOW = 1
START_POSITION_AFTER_CURSOR = 2


def start_cursor(start_position: int, after_cursor: int, violations: Violations) -> int | None:
    """The cursor to stream after; None for "now". Bad fields go to `violations`, so a
    request's every bad field is reported at once."""
    if start_position not in (
        START_POSITION_UNSPECIFIED,
        START_POSITION_NOW,
        START_POSITION_AFTER_CURSOR,
    ):
        violations.add("start_position", f"{start_position} is not a known value")
    if after_cursor < 0:
        violations.add("after_cursor", "must not be negative")
    elif start_position == START_POSITION_NOW and after_cursor:
        violations.add("after_cursor", "must be 0 with START_POSITION_NOW")
    from_now = start_position == START_POSITION_NOW or (
        start_position == START_POSITION_UNSPECIFIED and not after_cursor
    )
    return None if from_now else after_cursor
