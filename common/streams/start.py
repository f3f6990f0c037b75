"""The start of a `Watch…Events` stream, from the request fields every such RPC shares:
`start_position` (UNSPECIFIED 0, NOW 1, AFTER_CURSOR 2) and `after_cursor`."""

from __future__ import annotations

from common.errors import InvalidArgument

START_POSITION_NOW = 1
START_POSITION_AFTER_CURSOR = 2


def start_cursor(start_position: int, after_cursor: int) -> int | None:
    """The cursor to stream after; None for "now"."""
    if start_position not in (0, START_POSITION_NOW, START_POSITION_AFTER_CURSOR):
        raise InvalidArgument.single("start_position", f"{start_position} is not a known value")
    if after_cursor < 0:
        raise InvalidArgument.single("after_cursor", "must not be negative")
    if start_position == START_POSITION_NOW:
        if after_cursor:
            raise InvalidArgument.single("after_cursor", "must be 0 with START_POSITION_NOW")
        return None
    if start_position == 0 and not after_cursor:
        return None
    return after_cursor
