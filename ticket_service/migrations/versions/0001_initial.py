"""tickets, customers, audit log, idempotency keys

Revision ID: 0001
Revises:
Create Date: 2026-11-23 00:46:33.493454
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Only tickets still alive (not closed, not deleted) must not share a conversation.
LIVE_CONVERSATION = (
    "chatwoot_conversation_id IS NOT NULL AND delete_time IS NULL AND status <> 'closed'"
)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone_number", sa.String(length=32), nullable=True),
        sa.Column("chatwoot_contact_id", sa.BigInteger(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_customers")),
        sa.UniqueConstraint(
            "tenant_id",
            "chatwoot_contact_id",
            name=op.f("uq_customers_tenant_id_chatwoot_contact_id"),
        ),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_customers_tenant_id_email")),
        sa.UniqueConstraint(
            "tenant_id", "phone_number", name=op.f("uq_customers_tenant_id_phone_number")
        ),
    )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_customers_tenant_id_create_time_id"),
            ["tenant_id", "create_time", "id"],
            unique=False,
        )

    op.create_table(
        "event_log_heads",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("last_cursor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_event_log_heads")),
    )
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("fingerprint", sa.LargeBinary(length=32), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "request_id", name=op.f("pk_idempotency_keys")),
    )
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_idempotency_keys_create_time"), ["create_time"], unique=False
        )

    op.create_table(
        "ticket_counters",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("last_value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "year", name=op.f("pk_ticket_counters")),
    )
    op.create_table(
        "ticket_events",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=True),
        sa.Column("ticket_number", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=63), nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "cursor", name=op.f("pk_ticket_events")),
    )
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_events_tenant_id_ticket_id_cursor"),
            ["tenant_id", "ticket_id", "cursor"],
            unique=False,
        )

    op.create_table(
        "tickets",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("number_year", sa.Integer(), nullable=False),
        sa.Column("number_sequence", sa.BigInteger(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("customer_id", sa.String(length=36), nullable=False),
        sa.Column("assignee_id", sa.String(length=255), nullable=False),
        sa.Column("chatwoot_account_id", sa.BigInteger(), nullable=True),
        sa.Column("chatwoot_conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("chatwoot_inbox_id", sa.BigInteger(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolve_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("close_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delete_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id", "customer_id"],
            ["customers.tenant_id", "customers.id"],
            name=op.f("fk_tickets_customers"),
        ),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_tickets")),
        sa.UniqueConstraint(
            "tenant_id",
            "number_year",
            "number_sequence",
            name=op.f("uq_tickets_tenant_id_number_year_number_sequence"),
        ),
    )
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_tickets_tenant_id_assignee_id_create_time"),
            ["tenant_id", "assignee_id", "create_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_tickets_tenant_id_create_time_id"),
            ["tenant_id", "create_time", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_tickets_tenant_id_customer_id_create_time"),
            ["tenant_id", "customer_id", "create_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_tickets_tenant_id_status_create_time"),
            ["tenant_id", "status", "create_time"],
            unique=False,
        )
        batch_op.create_index(
            "uq_tickets_live_conversation",
            ["tenant_id", "chatwoot_account_id", "chatwoot_conversation_id"],
            unique=True,
            postgresql_where=sa.text(LIVE_CONVERSATION),
            sqlite_where=sa.text(LIVE_CONVERSATION),
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_tickets_live_conversation",
            postgresql_where=sa.text(LIVE_CONVERSATION),
            sqlite_where=sa.text(LIVE_CONVERSATION),
        )
        batch_op.drop_index(batch_op.f("ix_tickets_tenant_id_status_create_time"))
        batch_op.drop_index(batch_op.f("ix_tickets_tenant_id_customer_id_create_time"))
        batch_op.drop_index(batch_op.f("ix_tickets_tenant_id_create_time_id"))
        batch_op.drop_index(batch_op.f("ix_tickets_tenant_id_assignee_id_create_time"))

    op.drop_table("tickets")
    with op.batch_alter_table("ticket_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_events_tenant_id_ticket_id_cursor"))

    op.drop_table("ticket_events")
    op.drop_table("ticket_counters")
    with op.batch_alter_table("idempotency_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_idempotency_keys_create_time"))

    op.drop_table("idempotency_keys")
    op.drop_table("event_log_heads")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_customers_tenant_id_create_time_id"))

    op.drop_table("customers")
