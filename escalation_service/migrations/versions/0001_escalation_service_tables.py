"""escalation service tables: policy versions, agents, ticket views, escalations,
suggestions, consumer cursors, request ids

Revision ID: 0001
Revises:
Create Date: 2026-11-23 04:48:59.125886
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "agents",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("availability", sa.String(length=16), nullable=False),
        sa.Column("chatwoot_availability", sa.String(length=16), nullable=True),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active_tickets", sa.Integer(), nullable=False),
        sa.Column("last_assign_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_from_chatwoot", sa.Boolean(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "agent_id", name=op.f("pk_agents")),
    )
    op.create_table(
        "consumer_cursors",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("consumer", sa.String(length=63), nullable=False),
        sa.Column("cursor", sa.BigInteger(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "consumer", name=op.f("pk_consumer_cursors")),
    )
    op.create_table(
        "escalations",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("priority_before", sa.String(length=16), nullable=False),
        sa.Column("priority_after", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=63), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("required_skills", sa.JSON(), nullable=False),
        sa.Column("assignee_id", sa.String(length=64), nullable=False),
        sa.Column("previous_assignee_id", sa.String(length=64), nullable=False),
        sa.Column("suggestion_id", sa.String(length=36), nullable=False),
        sa.Column("previous_escalation_id", sa.String(length=36), nullable=False),
        sa.Column("effects_state", sa.String(length=16), nullable=False),
        sa.Column("effects_done", sa.JSON(), nullable=False),
        sa.Column("effects_error", sa.Text(), nullable=False),
        sa.Column("effects_attempts", sa.Integer(), nullable=False),
        sa.Column("effects_due_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("assign_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledge_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_escalations")),
    )
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_escalations_effects_state_effects_due_time"),
            ["effects_state", "effects_due_time"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_escalations_tenant_id_create_time_id"),
            ["tenant_id", "create_time", "id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_escalations_tenant_id_state_create_time"),
            ["tenant_id", "state", "create_time"],
            unique=False,
        )
        batch_op.create_index(
            "uq_escalations_open_ticket",
            ["tenant_id", "ticket_id"],
            unique=True,
            postgresql_where=sa.text("state IN ('queued', 'assigned', 'acknowledged')"),
            sqlite_where=sa.text("state IN ('queued', 'assigned', 'acknowledged')"),
        )

    op.create_table(
        "policy_versions",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=63), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "version", name=op.f("pk_policy_versions")),
    )
    op.create_table(
        "request_ids",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("request_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=63), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("resource", sa.String(length=128), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "request_id", name=op.f("pk_request_ids")),
    )
    op.create_table(
        "suggestions",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("trigger", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("explanation", sa.JSON(), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=True),
        sa.Column("escalation_id", sa.String(length=36), nullable=False),
        sa.Column("decided_by", sa.String(length=63), nullable=False),
        sa.Column("decision_comment", sa.Text(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decide_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("tenant_id", "id", name=op.f("pk_suggestions")),
    )
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_suggestions_tenant_id_create_time_id"),
            ["tenant_id", "create_time", "id"],
            unique=False,
        )
        batch_op.create_index(
            "uq_suggestions_pending_ticket",
            ["tenant_id", "ticket_id"],
            unique=True,
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )

    op.create_table(
        "ticket_views",
        sa.Column("tenant_id", sa.String(length=63), nullable=False),
        sa.Column("ticket_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("assignee_id", sa.String(length=64), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("customer_streak", sa.Integer(), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "ticket_id", name=op.f("pk_ticket_views")),
    )
    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ticket_views_tenant_id_assignee_id"),
            ["tenant_id", "assignee_id"],
            unique=False,
        )


def downgrade() -> None:

    with op.batch_alter_table("ticket_views", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ticket_views_tenant_id_assignee_id"))

    op.drop_table("ticket_views")
    with op.batch_alter_table("suggestions", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_suggestions_pending_ticket",
            postgresql_where=sa.text("state = 'pending'"),
            sqlite_where=sa.text("state = 'pending'"),
        )
        batch_op.drop_index(batch_op.f("ix_suggestions_tenant_id_create_time_id"))

    op.drop_table("suggestions")
    op.drop_table("request_ids")
    op.drop_table("policy_versions")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_escalations_open_ticket",
            postgresql_where=sa.text("state IN ('queued', 'assigned', 'acknowledged')"),
            sqlite_where=sa.text("state IN ('queued', 'assigned', 'acknowledged')"),
        )
        batch_op.drop_index(batch_op.f("ix_escalations_tenant_id_state_create_time"))
        batch_op.drop_index(batch_op.f("ix_escalations_tenant_id_create_time_id"))
        batch_op.drop_index(batch_op.f("ix_escalations_effects_state_effects_due_time"))

    op.drop_table("escalations")
    op.drop_table("consumer_cursors")
    op.drop_table("agents")
