"""The Chatwoot outbox table: tasks written with ticket changes, claimed by dispatchers.

`Outbox` is a tenant's view (enqueue, list, retry). `OutboxQueue` is the dispatcher's,
across tenants: it claims the oldest pending task of each conversation, so a change never
overtakes an older one, and on PostgreSQL several replicas claim side by side with
`FOR UPDATE SKIP LOCKED`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, exists, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.ext.asyncio import AsyncConnection

from common.tracing import current_traceparent
from ticket_service.adapters.repository import TenantScoped
from ticket_service.adapters.tables import chatwoot_outbox
from ticket_service.domain.chatwoot_sync import SyncCommand, SyncKind, SyncState, SyncTask

_task = chatwoot_outbox.c


@dataclass(frozen=True)
class Destination:
    """Where a ticket's commands go: the integration and the conversation."""

    integration: str
    account_id: int
    conversation_id: int
    ticket_id: str
    ticket_number: str


class Outbox(TenantScoped):
    async def enqueue(
        self, destination: Destination, commands: Sequence[SyncCommand], now: datetime
    ) -> list[int]:
        """Queue commands, in order, for delivery as soon as a dispatcher gets to them."""
        ids = []
        # The change's span: the dispatcher's Chatwoot call continues its trace.
        traceparent = current_traceparent()
        for command in commands:
            inserted = await self._conn.execute(
                chatwoot_outbox.insert().returning(_task.id),
                {
                    "tenant_id": self._tenant,
                    "integration": destination.integration,
                    "account_id": destination.account_id,
                    "conversation_id": destination.conversation_id,
                    "ticket_id": destination.ticket_id,
                    "ticket_number": destination.ticket_number,
                    "kind": command.kind.value,
                    "payload": command.payload,
                    "state": SyncState.PENDING.value,
                    "attempts": 0,
                    "last_error": "",
                    "create_time": now,
                    "next_attempt_time": now,
                    "trace_context": traceparent,
                },
            )
            ids.append(inserted.scalar_one())
        return ids

    async def get(self, task_id: int, *, for_update: bool = False) -> SyncTask | None:
        query = select(chatwoot_outbox).where(_task.tenant_id == self._tenant, _task.id == task_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._conn.execute(query)).first()
        return None if row is None else _sync_task(row)

    async def list(
        self,
        *,
        state: SyncState | None,
        ticket_id: str | None,
        before_id: int | None,
        limit: int,
    ) -> list[SyncTask]:
        """Newest first; `before_id` is the keyset position of the previous page."""
        conditions = [_task.tenant_id == self._tenant]
        if state is not None:
            conditions.append(_task.state == state.value)
        if ticket_id is not None:
            conditions.append(_task.ticket_id == ticket_id)
        if before_id is not None:
            conditions.append(_task.id < before_id)
        query = select(chatwoot_outbox).where(*conditions).order_by(_task.id.desc()).limit(limit)
        return [_sync_task(row) for row in await self._conn.execute(query)]

    async def followed_by_same_kind(self, task: SyncTask) -> bool:
        """Whether a newer task sets the same thing in the same conversation."""
        newer = select(_task.id).where(
            _task.tenant_id == self._tenant,
            _task.account_id == task.account_id,
            _task.conversation_id == task.conversation_id,
            _task.kind == task.kind.value,
            _task.id > task.id,
        )
        return (await self._conn.execute(select(exists(newer)))).scalar_one()

    async def save(self, task: SyncTask) -> None:
        await self._conn.execute(
            update(chatwoot_outbox)
            .where(_task.tenant_id == self._tenant, _task.id == task.id)
            .values(
                state=task.state.value,
                attempts=task.attempts,
                next_attempt_time=task.next_attempt_time,
            )
        )


_older = chatwoot_outbox.alias("older")
# The oldest pending task of each conversation, when it is due. A task whose dispatcher
# holds its lease is pending but not due, so it still holds its conversation's line.
_DUE = (
    select(chatwoot_outbox)
    .where(
        _task.state == SyncState.PENDING.value,
        _task.next_attempt_time <= bindparam("now", type_=_task.next_attempt_time.type),
        ~exists(
            select(_older.c.id).where(
                and_(
                    _older.c.tenant_id == _task.tenant_id,
                    _older.c.account_id == _task.account_id,
                    _older.c.conversation_id == _task.conversation_id,
                    _older.c.state == SyncState.PENDING.value,
                    _older.c.id < _task.id,
                )
            )
        ),
    )
    .order_by(_task.id)
    .limit(bindparam("limit"))
)


class OutboxQueue:
    """The dispatcher's side of the outbox, across tenants, over one transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self._conn = conn

    async def claim_due(self, now: datetime, lease_until: datetime, limit: int) -> list[SyncTask]:
        """Lease up to `limit` due tasks (one per conversation) to this dispatcher.

        Another dispatcher's claim in progress is skipped, not waited for; after commit,
        the lease (next_attempt_time) keeps the task from being claimed again.
        """
        query = _DUE
        if self._conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=chatwoot_outbox)
        rows = (await self._conn.execute(query, {"now": now, "limit": limit})).all()
        tasks = [_sync_task(row) for row in rows]
        if tasks:
            await self._conn.execute(
                update(chatwoot_outbox)
                .where(_task.id.in_([task.id for task in tasks]))
                .values(attempts=_task.attempts + 1, next_attempt_time=lease_until)
            )
        for task in tasks:
            task.attempts += 1
            task.next_attempt_time = lease_until
        return tasks

    async def settle(self, task: SyncTask) -> bool:
        """Record the outcome of an attempt; False if the lease was lost meanwhile (another
        dispatcher claimed the task after it expired, and its outcome counts)."""
        result = await self._conn.execute(
            update(chatwoot_outbox)
            .where(_task.id == task.id, _task.attempts == task.attempts)
            .values(
                state=task.state.value,
                last_error=task.last_error,
                next_attempt_time=task.next_attempt_time,
                deliver_time=task.deliver_time,
            )
        )
        return result.rowcount == 1


def _sync_task(row: Row[Any]) -> SyncTask:
    return SyncTask(
        id=row.id,
        tenant_id=row.tenant_id,
        integration=row.integration,
        account_id=row.account_id,
        conversation_id=row.conversation_id,
        ticket_id=row.ticket_id,
        ticket_number=row.ticket_number,
        kind=SyncKind(row.kind),
        payload=row.payload,
        state=SyncState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        create_time=row.create_time,
        next_attempt_time=row.next_attempt_time,
        deliver_time=row.deliver_time,
        trace_context=row.trace_context,
    )


@dataclass(frozen=True)
class OutboxBacklog:
    """One integration's waiting work: pending tasks (and when the oldest was written),
    and dead letters."""

    integration: str
    pending: int = 0
    oldest_pending: datetime | None = None
    dead: int = 0


async def outbox_backlog(conn: AsyncConnection) -> list[OutboxBacklog]:
    """Per integration, across tenants. Reads the pending and dead rows only, through the
    index that leads with the state; delivered history is not touched."""
    rows = await conn.execute(
        select(_task.integration, _task.state, func.count(), func.min(_task.create_time))
        .where(_task.state.in_([SyncState.PENDING.value, SyncState.DEAD.value]))
        .group_by(_task.integration, _task.state)
    )
    found: dict[str, OutboxBacklog] = {}
    for integration, state, count, oldest in rows:
        backlog = found.get(integration, OutboxBacklog(integration))
        if state == SyncState.PENDING.value:
            backlog = replace(backlog, pending=count, oldest_pending=oldest)
        else:
            backlog = replace(backlog, dead=count)
        found[integration] = backlog
    return list(found.values())
