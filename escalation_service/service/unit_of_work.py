"""One transaction per use case, scoped to one tenant.

Events recorded during the unit of work are appended to the tenant's escalation event log
at commit, by the transaction's last statement (see adapters/event_log.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from escalation_service.adapters.event_log import EscalationEventLog
from escalation_service.adapters.repository import (
    Agents,
    Cursors,
    Escalations,
    Policies,
    RequestIds,
    Suggestions,
    TicketViews,
)
from escalation_service.adapters.sla_repository import (
    BusinessCalendars,
    SlaClocks,
    SlaEventLog,
    SlaPolicies,
)
from escalation_service.domain.events import PendingEvent


class UnitOfWork:
    policies: Policies
    agents: Agents
    tickets: TicketViews
    escalations: Escalations
    suggestions: Suggestions
    cursors: Cursors
    requests: RequestIds
    sla_policies: SlaPolicies
    calendars: BusinessCalendars
    sla_clocks: SlaClocks
    sla_events: SlaEventLog
    events: EscalationEventLog

    def __init__(
        self,
        engine: AsyncEngine,
        tenant_id: str,
        *,
        on_events_committed: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._events_committed = on_events_committed
        self.tenant_id = tenant_id
        self._conn: AsyncConnection | None = None
        self._after_commit: list[Callable[[], None]] = []
        self._pending: list[PendingEvent] = []

    async def __aenter__(self) -> Self:
        self._conn = conn = await self._engine.connect()
        await conn.begin()
        tenant = self.tenant_id
        self.policies = Policies(conn, tenant)
        self.agents = Agents(conn, tenant)
        self.tickets = TicketViews(conn, tenant)
        self.escalations = Escalations(conn, tenant)
        self.suggestions = Suggestions(conn, tenant)
        self.cursors = Cursors(conn, tenant)
        self.requests = RequestIds(conn, tenant)
        self.sla_policies = SlaPolicies(conn, tenant)
        self.calendars = BusinessCalendars(conn, tenant)
        self.sla_clocks = SlaClocks(conn, tenant)
        self.sla_events = SlaEventLog(conn, tenant)
        self.events = EscalationEventLog(conn, tenant)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._conn is not None
        try:
            if self._conn.in_transaction():
                await self._conn.rollback()
        finally:
            await self._conn.close()

    @property
    def connection(self) -> AsyncConnection:
        assert self._conn is not None
        return self._conn

    def record(self, event: PendingEvent | None) -> None:
        """Write `event` to the log with this unit of work's commit (None: nothing)."""
        if event is not None:
            self._pending.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (not if it rolls back)."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        assert self._conn is not None
        await self.events.append(self._pending)
        if self._pending and self._events_committed is not None:
            self._after_commit.append(functools.partial(self._events_committed, self.tenant_id))
        self._pending.clear()
        await self._conn.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
