"""One transaction per use case, scoped to one tenant.

Repositories share the transaction's connection. Audit events recorded during the unit
of work get their cursors and are written at commit, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ticket_service.adapters.chatwoot_store import (
    ConversationStates,
    DeliveryKeys,
    EchoRegistry,
    MessageHistory,
)
from ticket_service.adapters.outbox import Outbox
from ticket_service.adapters.reconciliations import Reconciliations
from ticket_service.adapters.repository import (
    CustomerRepository,
    EventLog,
    IdempotencyStore,
    PendingEvent,
    TicketRepository,
)


class UnitOfWork:
    tickets: TicketRepository
    customers: CustomerRepository
    events: EventLog
    idempotency: IdempotencyStore
    deliveries: DeliveryKeys
    conversations: ConversationStates
    messages: MessageHistory
    echoes: EchoRegistry
    outbox: Outbox
    reconciliations: Reconciliations

    def __init__(
        self,
        engine: AsyncEngine,
        tenant_id: str,
        on_events_committed: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._tenant = tenant_id
        # Told the tenant after a commit that appended events: wakes this process's streams.
        self._on_events_committed = on_events_committed
        self._conn: AsyncConnection | None = None
        self._pending: list[PendingEvent] = []
        self._after_commit: list[Callable[[], None]] = []

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        await self._conn.begin()
        self.tickets = TicketRepository(self._conn, self._tenant)
        self.customers = CustomerRepository(self._conn, self._tenant)
        self.events = EventLog(self._conn, self._tenant)
        self.idempotency = IdempotencyStore(self._conn, self._tenant)
        self.deliveries = DeliveryKeys(self._conn, self._tenant)
        self.conversations = ConversationStates(self._conn, self._tenant)
        self.messages = MessageHistory(self._conn, self._tenant)
        self.echoes = EchoRegistry(self._conn, self._tenant)
        self.outbox = Outbox(self._conn, self._tenant)
        self.reconciliations = Reconciliations(self._conn, self._tenant)
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

    def record(self, event: PendingEvent) -> None:
        self._pending.append(event)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run `callback` once this unit of work has committed (not if it rolls back)."""
        self._after_commit.append(callback)

    async def commit(self) -> None:
        assert self._conn is not None
        appended = bool(self._pending)
        await self.events.append_and_commit(self._pending)
        self._pending.clear()
        if appended and self._on_events_committed is not None:
            self._on_events_committed(self._tenant)
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
