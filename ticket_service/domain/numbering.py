"""Ticket numbers: `TKT-YYYY-NNNNN`, per tenant and per year of creation (UTC).

The sequence part is at least five digits and simply grows past 99999
(`TKT-2026-100000`), so numbers stay readable and sort naturally within a year.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from common.errors import InvalidArgument, excerpt

PREFIX = "TKT"
# ASCII digits only, and at most 12 of them: far beyond any real year's volume, well inside
# a BIGINT.
_NAME = re.compile(r"^tickets/tkt-([0-9]{4})-([0-9]{5,12})$", re.IGNORECASE)


@dataclass(frozen=True, order=True)
class TicketNumber:
    year: int
    sequence: int

    def __str__(self) -> str:
        return f"{PREFIX}-{self.year:04d}-{self.sequence:05d}"

    @property
    def resource_name(self) -> str:
        return f"tickets/{str(self).lower()}"

    @classmethod
    def from_resource_name(cls, name: str, *, field: str = "name") -> TicketNumber:
        match = _NAME.match(name)
        if match is None:
            raise InvalidArgument.single(
                field, f"{excerpt(name)} is not a ticket name like 'tickets/tkt-2026-00042'"
            )
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def parse(cls, number: str) -> TicketNumber:
        return cls.from_resource_name(f"tickets/{number}", field="number")
