"""How far each Chatwoot integration has been reconciled, and which replica is at it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, update

from common.db import dialect_insert
from ticket_service.adapters.repository import TenantScoped
from ticket_service.adapters.tables import chatwoot_reconciliations

_row = chatwoot_reconciliations.c


@dataclass(frozen=True)
class Progress:
    reconciled_until: datetime | None
    """Conversations updated before this were compared with Chatwoot; None: never."""
    backfill_page: int
    """The last page of the conversation list a backfill finished; 0: none."""


class Reconciliations(TenantScoped):
    async def take_turn(
        self, integration: str, now: datetime, lease_until: datetime
    ) -> Progress | None:
        """Hold the integration's lease until `lease_until`; None if another replica holds
        it now."""
        await self._conn.execute(
            dialect_insert(self._conn, chatwoot_reconciliations)
            .values(tenant_id=self._tenant, integration=integration, backfill_page=0)
            .on_conflict_do_nothing()
        )
        taken = await self._conn.execute(
            update(chatwoot_reconciliations)
            .where(
                _row.tenant_id == self._tenant,
                _row.integration == integration,
                or_(_row.lease_until.is_(None), _row.lease_until <= now),
            )
            .values(lease_until=lease_until)
            .returning(_row.reconciled_until, _row.backfill_page)
        )
        row = taken.first()
        return None if row is None else Progress(row.reconciled_until, row.backfill_page)

    async def record(
        self,
        integration: str,
        *,
        reconciled_until: datetime | None = None,
        backfill_page: int | None = None,
        lease_until: datetime | None = None,
    ) -> None:
        """Save progress; without `lease_until` the turn ends (the lease is released)."""
        values: dict[str, Any] = {"lease_until": lease_until}
        if reconciled_until is not None:
            values["reconciled_until"] = reconciled_until
        if backfill_page is not None:
            values["backfill_page"] = backfill_page
        await self._conn.execute(
            update(chatwoot_reconciliations)
            .where(_row.tenant_id == self._tenant, _row.integration == integration)
            .values(values)
        )
