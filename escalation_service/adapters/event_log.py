"""The escalation event log: cursors 1, 2, 3, ... per tenant, in commit order, no gaps.

The same mechanism as the ticket service's log: the tenant's head row is advanced by the
transaction's last statement, so its lock is held only from there to commit and the
cursors are handed out in the order the transactions commit. On PostgreSQL that statement
also inserts the events and sends NOTIFY on `CHANNEL` with the tenant as payload, which
PostgreSQL delivers when (and only if) the transaction commits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

from sqlalchemy import Executable, Table, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from common.db import PerBackend
from escalation_service.adapters.tables import (
    escalation_event_heads,
    escalation_events,
    ticket_views,
)
from escalation_service.domain.events import EventType, PendingEvent, StoredEvent

CHANNEL = "escalation_events"

_head = escalation_event_heads.c


def _advance_head(insert: Callable[[Table], Any]) -> Executable:
    statement = insert(escalation_event_heads)
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[_head.tenant_id],
        set_={"last_cursor": _head.last_cursor + statement.excluded.last_cursor},
    ).returning(_head.last_cursor)


_ADVANCE_HEAD = PerBackend(_advance_head)

# Advance the head, insert the events under the cursors it gives (each with its ticket's
# conversation, from the view), and notify listeners: one statement, one round trip.
_APPEND_PG = text(
    """
    WITH head AS (
        INSERT INTO escalation_event_heads (tenant_id, last_cursor) VALUES (:tenant, :count)
        ON CONFLICT (tenant_id)
        DO UPDATE SET last_cursor = escalation_event_heads.last_cursor + excluded.last_cursor
        RETURNING last_cursor
    ), appended AS (
        INSERT INTO escalation_events (
            tenant_id, cursor, type, ticket_id, escalation_id, suggestion_id, agent_id,
            conversation_id, payload, create_time
        )
        SELECT
            :tenant, head.last_cursor - :count + 1 + e.offset, e.type, e.ticket_id,
            e.escalation_id, e.suggestion_id, e.agent_id, NULLIF(v.conversation_id, 0),
            e.payload, e.create_time
        FROM head, json_to_recordset(CAST(:events AS json)) AS e(
            "offset" integer, type text, ticket_id text, escalation_id text,
            suggestion_id text, agent_id text, payload json, create_time timestamptz
        )
        LEFT JOIN ticket_views AS v ON v.tenant_id = :tenant AND v.ticket_id = e.ticket_id
        RETURNING cursor
    )
    SELECT pg_notify(:channel, :tenant) FROM (SELECT count(*) FROM appended) AS done
    """
)


_events = escalation_events.c
# Built once: every stream's feed runs it on each wake-up.
_READ_AFTER = (
    select(escalation_events)
    .where(_events.tenant_id == bindparam("tenant"), _events.cursor > bindparam("after"))
    .order_by(_events.cursor)
    .limit(bindparam("limit"))
)
_READ_TICKET_AFTER = _READ_AFTER.where(_events.ticket_id == bindparam("ticket"))


def _row(event: PendingEvent) -> dict[str, Any]:
    return {
        "type": event.type.value,
        "ticket_id": event.ticket_id,
        "escalation_id": event.escalation_id,
        "suggestion_id": event.suggestion_id,
        "agent_id": event.agent_id,
        "payload": dict(event.payload),
        "create_time": event.create_time,
    }


class EscalationEventLog:
    def __init__(self, conn: AsyncConnection, tenant_id: str) -> None:
        self._conn = conn
        self._tenant = tenant_id

    async def append(self, events: Sequence[PendingEvent]) -> None:
        """Give the events the next cursors and insert them. Called last in the
        transaction: every transaction of the tenant that writes events queues on the head
        row from here to its commit."""
        if not events:
            return
        if self._conn.dialect.name == "postgresql":
            rows = [
                {**_row(event), "offset": offset, "create_time": _iso(event)}
                for offset, event in enumerate(events)
            ]
            await self._conn.execute(
                _APPEND_PG,
                {
                    "tenant": self._tenant,
                    "count": len(events),
                    "events": json.dumps(rows),
                    "channel": CHANNEL,
                },
            )
            return
        # SQLite: the transaction holds the database's write lock already, so the order of
        # these statements does not matter for commit order.
        conversations = await self._conversations({event.ticket_id for event in events})
        advanced = await self._conn.execute(
            _ADVANCE_HEAD.on(self._conn), {"tenant_id": self._tenant, "last_cursor": len(events)}
        )
        first = advanced.scalar_one() - len(events) + 1
        await self._conn.execute(
            escalation_events.insert(),
            [
                {
                    "tenant_id": self._tenant,
                    "cursor": first + offset,
                    "conversation_id": conversations.get(event.ticket_id),
                    **_row(event),
                }
                for offset, event in enumerate(events)
            ],
        )

    async def _conversations(self, ticket_ids: set[str]) -> dict[str, int]:
        ticket_ids.discard("")
        if not ticket_ids:
            return {}
        c = ticket_views.c
        rows = await self._conn.execute(
            select(c.ticket_id, c.conversation_id).where(
                c.tenant_id == self._tenant, c.ticket_id.in_(ticket_ids), c.conversation_id != 0
            )
        )
        return {row.ticket_id: row.conversation_id for row in rows}

    async def head(self) -> int:
        query = select(_head.last_cursor).where(_head.tenant_id == self._tenant)
        return (await self._conn.execute(query)).scalar_one_or_none() or 0

    async def read(
        self, *, after_cursor: int, limit: int, ticket_id: str = ""
    ) -> list[StoredEvent]:
        rows = await self._conn.execute(
            _READ_TICKET_AFTER if ticket_id else _READ_AFTER,
            {"tenant": self._tenant, "after": after_cursor, "limit": limit, "ticket": ticket_id},
        )
        return [
            StoredEvent(
                cursor=row.cursor,
                type=EventType(row.type),
                ticket_id=row.ticket_id,
                escalation_id=row.escalation_id,
                suggestion_id=row.suggestion_id,
                agent_id=row.agent_id,
                conversation_id=row.conversation_id,
                payload=row.payload,
                create_time=row.create_time,
            )
            for row in rows
        ]


def _iso(event: PendingEvent) -> str:
    return event.create_time.astimezone(UTC).isoformat()
