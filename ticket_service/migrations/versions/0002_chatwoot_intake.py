"""chatwoot intake: delivery keys, conversation sync state, messages, echoes, snooze

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(
            sa.Column("snoozed", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )
        batch.add_column(sa.Column("snooze_end_time", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "chatwoot_deliveries",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "dedupe_key", name=op.f("pk_chatwoot_deliveries")),
    )
    op.create_index(
        op.f("ix_chatwoot_deliveries_create_time"), "chatwoot_deliveries", ["create_time"]
    )
    op.create_table(
        "chatwoot_conversations",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("state_time_us", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "account_id", "conversation_id", name=op.f("pk_chatwoot_conversations")
        ),
    )
    op.create_table(
        "conversation_messages",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("chatwoot_message_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("sender_type", sa.String(length=32), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_name", sa.String(length=255), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_type", sa.String(length=32), nullable=False),
        sa.Column("attachment_count", sa.Integer(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delete_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(
            "tenant_id", "account_id", "chatwoot_message_id", name=op.f("pk_conversation_messages")
        ),
    )
    op.create_index(
        op.f("ix_conversation_messages_tenant_id_ticket_id_create_time_chatwoot_message_id"),
        "conversation_messages",
        ["tenant_id", "ticket_id", "create_time", "chatwoot_message_id"],
    )
    op.create_table(
        "chatwoot_echoes",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("attribute", sa.String(length=32), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("expire_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        op.f("ix_chatwoot_echoes_tenant_id_account_id_conversation_id_attribute"),
        "chatwoot_echoes",
        ["tenant_id", "account_id", "conversation_id", "attribute"],
    )


def downgrade() -> None:
    op.drop_table("chatwoot_echoes")
    op.drop_table("conversation_messages")
    op.drop_table("chatwoot_conversations")
    op.drop_table("chatwoot_deliveries")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("snooze_end_time")
        batch.drop_column("snoozed")
