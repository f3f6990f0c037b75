"""events know their conversation; events and outbox tasks carry the trace context

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 15:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("conversation_id", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("trace_context", sa.String(length=64), server_default="", nullable=False)
        )
    with op.batch_alter_table("chatwoot_outbox") as batch:
        batch.add_column(
            sa.Column("trace_context", sa.String(length=64), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("chatwoot_outbox") as batch:
        batch.drop_column("trace_context")
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("trace_context")
        batch.drop_column("conversation_id")
