"""The ticket service's tables. Every key and index leads with tenant_id.

SQLAlchemy Core rather than the ORM: these are the hot paths (see PERFORMANCE.md), and
explicit row <-> domain mapping keeps the domain free of persistence concerns.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from common.db import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# The row lock on a counter is what makes numbers gap-free: it is held until the creating
# transaction commits, and a rollback hands the number back.
ticket_counters = Table(
    "ticket_counters",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("year", Integer, nullable=False),
    Column("last_value", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id", "year"),
)

# One row per tenant: the newest cursor of its event log. Allocating cursors at commit time
# under this row's lock makes cursor order equal commit order, so a consumer reading
# "after cursor N" can never miss a row that commits later with a smaller cursor.
event_log_heads = Table(
    "event_log_heads",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("last_cursor", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id"),
)

customers = Table(
    "customers",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("id", String(36), nullable=False),
    Column("display_name", String(255), nullable=False, default=""),
    Column("email", String(254)),
    Column("phone_number", String(32)),
    Column("chatwoot_contact_id", BigInteger),
    Column("version", Integer, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "id"),
    # NULLs are distinct in both backends, so customers without an email don't clash.
    UniqueConstraint("tenant_id", "email"),
    UniqueConstraint("tenant_id", "phone_number"),
    UniqueConstraint("tenant_id", "chatwoot_contact_id"),
    Index(None, "tenant_id", "create_time", "id"),
)

tickets = Table(
    "tickets",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("id", String(36), nullable=False),
    Column("number_year", Integer, nullable=False),
    Column("number_sequence", BigInteger, nullable=False),
    Column("subject", String(300), nullable=False),
    Column("description", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("customer_id", String(36), nullable=False),
    Column("assignee_id", String(255), nullable=False),
    Column("chatwoot_account_id", BigInteger),
    Column("chatwoot_conversation_id", BigInteger),
    Column("chatwoot_inbox_id", BigInteger),
    Column("labels", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Column("resolve_time", UtcDateTime),
    Column("close_time", UtcDateTime),
    Column("delete_time", UtcDateTime),
    Column("snoozed", Boolean, nullable=False, server_default=text("false")),
    Column("snooze_end_time", UtcDateTime),
    PrimaryKeyConstraint("tenant_id", "id"),
    UniqueConstraint("tenant_id", "number_year", "number_sequence"),
    ForeignKeyConstraint(["tenant_id", "customer_id"], ["customers.tenant_id", "customers.id"]),
    Index(None, "tenant_id", "create_time", "id"),
    Index(None, "tenant_id", "status", "create_time"),
    Index(None, "tenant_id", "assignee_id", "create_time"),
    Index(None, "tenant_id", "customer_id", "create_time"),
    # At most one ticket that is still alive (not closed, not deleted) per conversation.
    Index(
        "uq_tickets_live_conversation",
        "tenant_id",
        "chatwoot_account_id",
        "chatwoot_conversation_id",
        unique=True,
        postgresql_where=text(
            "chatwoot_conversation_id IS NOT NULL AND delete_time IS NULL AND status <> 'closed'"
        ),
        sqlite_where=text(
            "chatwoot_conversation_id IS NOT NULL AND delete_time IS NULL AND status <> 'closed'"
        ),
    ),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("ticket_id", String(36)),
    Column("ticket_number", String(32)),
    Column("customer_id", String(36)),
    Column("source", String(16), nullable=False),
    Column("actor", String(63), nullable=False),
    Column("before", JSON, nullable=False),
    Column("after", JSON, nullable=False),
    Column("reason", Text, nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("conversation_id", BigInteger),
    # W3C traceparent of the change's request ('' when none): consumers continue the trace.
    Column("trace_context", String(64), nullable=False, server_default=""),
    PrimaryKeyConstraint("tenant_id", "cursor"),
    Index(None, "tenant_id", "ticket_id", "cursor"),
)

# A request_id is claimed at the start of its transaction; a concurrent twin blocks on the
# key until the first commits, then replays its stored response.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("request_id", String(64), nullable=False),
    Column("method", String(64), nullable=False),
    Column("fingerprint", LargeBinary(32), nullable=False),
    Column("response", JSON),
    Column("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "request_id"),
    Index(None, "create_time"),
)

# Chatwoot intake. A delivery claims its delivery key and its content key in the same
# transaction as its effects; a second delivery with either key changes nothing.
chatwoot_deliveries = Table(
    "chatwoot_deliveries",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("dedupe_key", String(160), nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "dedupe_key"),
    Index(None, "create_time"),
)

# One row per Chatwoot conversation we have heard of. Its row lock serialises deliveries
# of one conversation, and `state_time_us` (Chatwoot's updated_at of the newest state
# seen) keeps an older state arriving late from undoing a newer one. The statement that
# locks the row also advances `state_time_us` and keeps the value it had before in
# `previous_state_time_us`, which tells the delivery whether its state is the newer one:
# one round trip where a read and a write would take two.
chatwoot_conversations = Table(
    "chatwoot_conversations",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=False),
    Column("state_time_us", BigInteger, nullable=False),
    Column("previous_state_time_us", BigInteger, nullable=False, server_default=text("-1")),
    Column("ticket_id", String(36)),
    Column("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "account_id", "conversation_id"),
)

# The conversation history, one row per Chatwoot message.
conversation_messages = Table(
    "conversation_messages",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("chatwoot_message_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=False),
    Column("ticket_id", String(36)),
    Column("direction", String(16), nullable=False),
    Column("private", Boolean, nullable=False),
    Column("sender_type", String(32), nullable=False),
    Column("sender_id", BigInteger, nullable=False),
    Column("sender_name", String(255), nullable=False),
    Column("content", Text, nullable=False),
    Column("content_type", String(32), nullable=False),
    Column("attachment_count", Integer, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("delete_time", UtcDateTime),
    PrimaryKeyConstraint("tenant_id", "account_id", "chatwoot_message_id"),
    Index(None, "tenant_id", "ticket_id", "create_time", "chatwoot_message_id"),
)

# Values we wrote (or are about to write) to a Chatwoot conversation. The webhook that
# echoes one back is recognised by it and not applied a second time. `write_time` is when
# the dispatcher sent the write (NULL while it waits in the outbox): Chatwoot states older
# than that can't show it yet.
chatwoot_echoes = Table(
    "chatwoot_echoes",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=False),
    Column("attribute", String(32), nullable=False),
    Column("value", String(255), nullable=False),
    Column("expire_time", UtcDateTime, nullable=False),
    Column("write_time", UtcDateTime),
    Index(None, "tenant_id", "account_id", "conversation_id", "attribute"),
)

# The transactional outbox: changes Chatwoot must see, written in the same transaction as
# the ticket change. The id orders a conversation's tasks; the dispatcher delivers only the
# oldest pending task of each conversation. While a dispatcher works on a task,
# `next_attempt_time` is its lease: if that dispatcher dies, the task is due again then.
chatwoot_outbox = Table(
    "chatwoot_outbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant_id", String(63), nullable=False),
    Column("integration", String(63), nullable=False),
    Column("account_id", BigInteger, nullable=False),
    Column("conversation_id", BigInteger, nullable=False),
    Column("ticket_id", String(36)),
    Column("ticket_number", String(32)),
    Column("kind", String(16), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("last_error", Text, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("next_attempt_time", UtcDateTime, nullable=False),
    Column("deliver_time", UtcDateTime),
    # W3C traceparent of the change that queued the task, so the Chatwoot call joins its trace.
    Column("trace_context", String(64), nullable=False, server_default=""),
    # The dispatcher's scan for due tasks spans tenants, so this index leads with state.
    Index(None, "state", "next_attempt_time"),
    Index(None, "tenant_id", "account_id", "conversation_id", "id"),
    Index(None, "tenant_id", "ticket_id", "id"),
)

# Per integration: conversations updated up to `reconciled_until` have been reconciled
# (compared with Chatwoot's own list, catching the webhooks it dropped). A replica reconciles
# while it holds the lease, so replicas take turns instead of doing the same work twice.
chatwoot_reconciliations = Table(
    "chatwoot_reconciliations",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("integration", String(63), nullable=False),
    Column("reconciled_until", UtcDateTime),
    Column("lease_until", UtcDateTime),
    Column("backfill_page", Integer, nullable=False),
    PrimaryKeyConstraint("tenant_id", "integration"),
)
