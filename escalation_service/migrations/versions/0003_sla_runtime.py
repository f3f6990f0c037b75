"""sla ticket views know replies; sla events unique per firing

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 12:35:27.770386
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.create_index(
            "uq_sla_events_fired",
            ["tenant_id", "ticket_id", "metric", "kind", "level", "due_time"],
            unique=True,
        )

    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("replied", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.drop_column("replied")

    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.drop_index("uq_sla_events_fired")
