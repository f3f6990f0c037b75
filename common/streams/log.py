"""What the streaming core needs from an event log: entries ordered by a per-tenant cursor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar


class LogEntry(Protocol):
    """One entry of a tenant's log. Cursors are 1, 2, 3, ... per tenant, in commit order,
    without gaps: a reader that has seen cursor n has seen every entry up to n."""

    @property
    def cursor(self) -> int: ...


EntryT = TypeVar("EntryT", bound=LogEntry)
EntryT_co = TypeVar("EntryT_co", bound=LogEntry, covariant=True)


class LogReader(Protocol[EntryT_co]):
    """Reads one service's log. Both calls are short, independent reads (no transaction is
    kept open between them)."""

    async def read_after(self, tenant: str, after_cursor: int, limit: int) -> Sequence[EntryT_co]:
        """Up to `limit` entries of `tenant` with a cursor greater than `after_cursor`, in
        cursor order."""
        ...

    async def head(self, tenant: str) -> int:
        """The newest cursor of `tenant`'s log; 0 when it is empty."""
        ...
