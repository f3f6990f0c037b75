"""What the services recorded, read from the bench database once the traffic is over.

The timestamps are the services' own (`Clock.now()`, this machine's clock), taken inside
the transaction that writes the row, a few ms before its commit: the ticket event's
`create_time` for the ticket service, the escalation's `create_time` for the escalation
service. Reading them afterwards costs the measured processes nothing, where polling the
APIs while messages are in flight would compete with them for the 2 cores and add its own
interval to every figure.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import psycopg

from bench.chains import TENANT, Database

_CONSUMER = "escalation"  # escalation_service.service.consumer.CONSUMER


@dataclass(frozen=True)
class MessageEvent:
    ticket: str  # the ticket's id in the API, and in the escalation service's rows
    create_time: float  # epoch seconds


@dataclass(frozen=True)
class Records:
    # chatwoot message id → the ticket service's MESSAGE_ADDED event for it
    message_events: dict[int, MessageEvent]
    # ticket id → create_time of each of its escalations (epoch seconds)
    escalations: dict[str, list[float]]


def read(database: Database) -> Records:
    with psycopg.connect(database.url, connect_timeout=5) as conn:
        # The API names a ticket by its lowercased number (ticket_service's proto_mapping),
        # and that is the id the escalation service keeps.
        events = conn.execute(
            "SELECT (after ->> 'chatwoot_message_id')::bigint, lower(ticket_number), "
            "create_time FROM ticket_events WHERE tenant_id = %s AND type = 'message_added'",
            (TENANT,),
        )
        message_events = {
            int(message): MessageEvent(ticket, created.timestamp())
            for message, ticket, created in events
        }
        escalated = conn.execute(
            "SELECT ticket_id, create_time FROM escalations WHERE tenant_id = %s", (TENANT,)
        )
        escalations: dict[str, list[float]] = defaultdict(list)
        for ticket, created in escalated:
            escalations[ticket].append(created.timestamp())
    return Records(message_events, dict(escalations))


def escalation_count(database: Database) -> int:
    with psycopg.connect(database.url, connect_timeout=5) as conn:
        sql = "SELECT count(*) FROM escalations WHERE tenant_id = %s"
        row = conn.execute(sql, (TENANT,)).fetchone()
        assert row is not None
        return int(row[0])


def consumer_lag(database: Database) -> int:
    """How many ticket events the escalation service has yet to read."""
    with psycopg.connect(database.url, connect_timeout=5) as conn:
        row = conn.execute(
            "SELECT coalesce((SELECT last_cursor FROM event_log_heads WHERE tenant_id = %s), 0)"
            " - coalesce((SELECT cursor FROM consumer_cursors"
            "             WHERE tenant_id = %s AND consumer = %s), 0)",
            (TENANT, TENANT, _CONSUMER),
        ).fetchone()
        assert row is not None
        return int(row[0])
