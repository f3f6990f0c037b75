"""sla policies, business calendars, sla clocks and events; ticket views gain inbox and snooze

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 05:53:21.135724
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "business_calendars",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("calendar_id", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("weekly_hours", sa.JSON(), nullable=False),
        sa.Column("holidays", sa.JSON(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "calendar_id", name=op.f("pk_business_calendars")),
    )
    op.create_table(
        "sla_clocks",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("policy_id", sa.String(length=63), nullable=False),
        sa.Column("calendar_id", sa.String(length=63), nullable=False),
        sa.Column("target_seconds", sa.Float(), nullable=False),
        sa.Column("warn_fraction", sa.Float(), nullable=False),
        sa.Column("further_levels", sa.JSON(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("consumed_seconds", sa.Float(), nullable=False),
        sa.Column("running_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warn_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("warned", sa.Boolean(), nullable=False),
        sa.Column("breached", sa.Boolean(), nullable=False),
        sa.Column("breach_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("further_fired", sa.Integer(), nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stop_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("next_fire_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "ticket_id", "metric", name=op.f("pk_sla_clocks")),
    )
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sla_clocks_due",
            ["next_fire_time"],
            unique=False,
            postgresql_where=sa.text("next_fire_time IS NOT NULL"),
            sqlite_where=sa.text("next_fire_time IS NOT NULL"),
        )

    op.create_table(
        "sla_events",
        sa.Column("event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("metric", sa.String(length=16), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("due_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fire_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalation_id", sa.String(length=36), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_sla_events")),
    )
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_sla_events_tenant_id_event_id"), ["tenant_id", "event_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_sla_events_tenant_id_ticket_id_event_id"),
            ["tenant_id", "ticket_id", "event_id"],
            unique=False,
        )

    op.create_table(
        "sla_policies",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("policy_id", sa.String(length=63), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("priorities", sa.JSON(), nullable=False),
        sa.Column("inbox_ids", sa.JSON(), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("calendar_id", sa.String(length=63), nullable=False),
        sa.Column("warn_fraction", sa.Float(), nullable=False),
        sa.Column("further_levels", sa.JSON(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "policy_id", name=op.f("pk_sla_policies")),
    )
    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("inbox_id", sa.BigInteger(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("snoozed", sa.Boolean(), server_default=sa.false(), nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.drop_column("snoozed")
        batch_op.drop_column("inbox_id")

    op.drop_table("sla_policies")
    with op.batch_alter_table("sla_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sla_events_tenant_id_ticket_id_event_id"))
        batch_op.drop_index(batch_op.f("ix_sla_events_tenant_id_event_id"))

    op.drop_table("sla_events")
    with op.batch_alter_table("sla_clocks", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_sla_clocks_due",
            postgresql_where=sa.text("next_fire_time IS NOT NULL"),
            sqlite_where=sa.text("next_fire_time IS NOT NULL"),
        )

    op.drop_table("sla_clocks")
    op.drop_table("business_calendars")
