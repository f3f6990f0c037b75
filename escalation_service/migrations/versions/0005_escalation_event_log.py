"""escalation event log: per-tenant cursors in commit order; ticket views know their
conversation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 15:13:46.119408
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "escalation_event_heads",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("last_cursor", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_escalation_event_heads")),
    )
    op.create_table(
        "escalation_events",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("escalation_id", sa.String(length=36), nullable=False),
        sa.Column("suggestion_id", sa.String(length=36), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "cursor", name=op.f("pk_escalation_events")),
    )
    with op.batch_alter_table("escalation_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalation_events_tenant_id_ticket_id_cursor"),
            ["tenant_id", "ticket_id", "cursor"],
            unique=False,
        )

    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("conversation_id", sa.BigInteger(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.drop_column("conversation_id")

    with op.batch_alter_table("escalation_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_escalation_events_tenant_id_ticket_id_cursor"))

    op.drop_table("escalation_events")
    op.drop_table("escalation_event_heads")
