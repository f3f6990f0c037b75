"""chatwoot conversations remember the state time before the last lock

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chatwoot_conversations") as batch:
        batch.add_column(
            sa.Column(
                "previous_state_time_us",
                sa.BigInteger(),
                server_default=sa.text("-1"),
                nullable=False,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("chatwoot_conversations") as batch:
        batch.drop_column("previous_state_time_us")
