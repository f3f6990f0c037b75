"""chatwoot outbox and reconciliation: ticket changes waiting for delivery to Chatwoot,
and how far each integration has been reconciled

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chatwoot_outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("integration", sa.String(length=63), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=True),
        sa.Column("ticket_number", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deliver_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chatwoot_outbox")),
    )
    op.create_index(
        op.f("ix_chatwoot_outbox_state_next_attempt_time"),
        "chatwoot_outbox",
        ["state", "next_attempt_time"],
    )
    op.create_index(
        op.f("ix_chatwoot_outbox_tenant_id_account_id_conversation_id_id"),
        "chatwoot_outbox",
        ["tenant_id", "account_id", "conversation_id", "id"],
    )
    op.create_index(
        op.f("ix_chatwoot_outbox_tenant_id_ticket_id_id"),
        "chatwoot_outbox",
        ["tenant_id", "ticket_id", "id"],
    )

    op.create_table(
        "chatwoot_reconciliations",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("integration", sa.String(length=63), nullable=False),
        sa.Column("reconciled_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("backfill_page", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "tenant_id", "integration", name=op.f("pk_chatwoot_reconciliations")
        ),
    )


def downgrade() -> None:
    op.drop_table("chatwoot_reconciliations")
    op.drop_table("chatwoot_outbox")
