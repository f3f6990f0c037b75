"""The escalation service's tables, in its own database. Every key and index leads with
tenant_id. SQLAlchemy Core, mapped to the domain by hand, as in the ticket service."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    false,
    text,
)

from common.db import UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# Every version of every tenant's policy; the newest is in force. A tenant without a row
# has the defaults as version 1.
policy_versions = Table(
    "policy_versions",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("document", JSON, nullable=False),
    Column("actor", String(63), nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "version"),
)

# The agent directory. `active_tickets` is kept by the ticket projection below, in the same
# transaction as the projection's change, and claimed with a conditional update, so two
# replicas choosing at once can never push an agent past capacity.
agents = Table(
    "agents",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("display_name", String(255), nullable=False),
    Column("email", String(254), nullable=False),
    Column("availability", String(16), nullable=False),
    # What Chatwoot last reported: a sync changes `availability` only when this changes, so
    # a SetAgentAvailability call holds until the agent's presence in Chatwoot moves.
    Column("chatwoot_availability", String(16)),
    Column("skills", JSON, nullable=False),
    Column("capacity", Integer, nullable=False),
    Column("active_tickets", Integer, nullable=False),
    Column("last_assign_time", UtcDateTime),
    Column("removed_from_chatwoot", Boolean, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "agent_id"),
)

# What this service knows of each ticket, projected from the ticket event log: enough to
# count each agent's workload and to read a customer message in context.
ticket_views = Table(
    "ticket_views",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("ticket_id", String(36), nullable=False),
    Column("status", String(32), nullable=False),
    Column("priority", String(16), nullable=False),
    Column("assignee_id", String(64), nullable=False),
    Column("labels", JSON, nullable=False),
    Column("deleted", Boolean, nullable=False),
    # Customer messages since the last agent reply (the repetition signal).
    Column("customer_streak", Integer, nullable=False),
    # What SLA policies match on and pause for.
    Column("inbox_id", BigInteger, nullable=False, server_default="0"),
    Column("snoozed", Boolean, nullable=False, server_default=false()),
    # A person has replied publicly at some time (SLA next response starts after one).
    Column("replied", Boolean, nullable=False, server_default=false()),
    Column("update_time", UtcDateTime, nullable=False),
    # The ticket's Chatwoot conversation (a ticket's link never changes); 0 when it has
    # none, or when the view was made before this column.
    Column("conversation_id", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("tenant_id", "ticket_id"),
    Index(None, "tenant_id", "assignee_id"),
)

escalations = Table(
    "escalations",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("id", String(36), nullable=False),
    Column("ticket_id", String(36), nullable=False),
    Column("state", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("explanation", JSON, nullable=False),
    Column("priority_before", String(16), nullable=False),
    Column("priority_after", String(16), nullable=False),
    Column("actor", String(63), nullable=False),
    Column("comment", Text, nullable=False),
    Column("required_skills", JSON, nullable=False),
    Column("assignee_id", String(64), nullable=False),
    Column("previous_assignee_id", String(64), nullable=False),
    Column("suggestion_id", String(36), nullable=False),
    Column("previous_escalation_id", String(36), nullable=False),
    Column("effects_state", String(16), nullable=False),
    Column("effects_done", JSON, nullable=False),
    Column("effects_error", Text, nullable=False),
    Column("effects_attempts", Integer, nullable=False),
    # When the effects worker should next try; doubles as its lease while it works.
    Column("effects_due_time", UtcDateTime),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Column("assign_time", UtcDateTime),
    Column("acknowledge_time", UtcDateTime),
    Column("end_time", UtcDateTime),
    Column("version", Integer, nullable=False),
    # The W3C traceparent of the decision (or RPC) that opened it: its effects continue
    # that trace.
    Column("trace_context", String(64), nullable=False, server_default=""),
    PrimaryKeyConstraint("tenant_id", "id"),
    # At most one open escalation per ticket, enforced by the database: two replicas
    # deciding on the same ticket at once cannot both escalate it.
    Index(
        "uq_escalations_open_ticket",
        "tenant_id",
        "ticket_id",
        unique=True,
        postgresql_where=text("state IN ('queued', 'assigned', 'acknowledged')"),
        sqlite_where=text("state IN ('queued', 'assigned', 'acknowledged')"),
    ),
    Index(None, "tenant_id", "create_time", "id"),
    Index(None, "tenant_id", "state", "create_time"),
    Index(None, "effects_state", "effects_due_time"),
)

suggestions = Table(
    "suggestions",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("id", String(36), nullable=False),
    Column("ticket_id", String(36), nullable=False),
    Column("state", String(16), nullable=False),
    Column("trigger", String(32), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("explanation", JSON, nullable=False),
    Column("priority", String(16)),
    Column("escalation_id", String(36), nullable=False),
    Column("decided_by", String(63), nullable=False),
    Column("decision_comment", Text, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("decide_time", UtcDateTime),
    PrimaryKeyConstraint("tenant_id", "id"),
    Index(None, "tenant_id", "create_time", "id"),
    # One pending suggestion per ticket: a stream of angry messages makes one, not ten.
    Index(
        "uq_suggestions_pending_ticket",
        "tenant_id",
        "ticket_id",
        unique=True,
        postgresql_where=text("state = 'pending'"),
        sqlite_where=text("state = 'pending'"),
    ),
)

# How far this service has read each tenant's ticket event log. Advanced with a
# compare-and-set in the same transaction as the event's effects.
consumer_cursors = Table(
    "consumer_cursors",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("consumer", String(63), nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "consumer"),
)

# Request ids of mutations: a repeat returns the resource the first call made.
request_ids = Table(
    "request_ids",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("request_id", String(36), nullable=False),
    Column("method", String(63), nullable=False),
    Column("fingerprint", String(64), nullable=False),
    Column("resource", String(128), nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "request_id"),
)

# SLA policies, tried in `position` order; the first match applies to a ticket.
sla_policies = Table(
    "sla_policies",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("policy_id", String(63), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("position", Integer, nullable=False),
    Column("priorities", JSON, nullable=False),
    Column("inbox_ids", JSON, nullable=False),
    Column("labels", JSON, nullable=False),
    # {metric: seconds}
    Column("targets", JSON, nullable=False),
    Column("calendar_id", String(63), nullable=False),
    Column("warn_fraction", Float, nullable=False),
    # [seconds after the breach, ...]
    Column("further_levels", JSON, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "policy_id"),
)

business_calendars = Table(
    "business_calendars",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("calendar_id", String(63), nullable=False),
    Column("display_name", String(200), nullable=False),
    Column("time_zone", String(64), nullable=False),
    # [[day_of_week, start_minute, end_minute], ...]
    Column("weekly_hours", JSON, nullable=False),
    # ["YYYY-MM-DD", ...]
    Column("holidays", JSON, nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "calendar_id"),
)

# One clock per ticket and metric. The scheduler reads only the partial index on
# `next_fire_time`: paused, stopped and fully fired clocks are not in it, and running ones
# are read only once due, so its work per tick does not grow with the idle clocks.
sla_clocks = Table(
    "sla_clocks",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("ticket_id", String(36), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("policy_id", String(63), nullable=False),
    Column("calendar_id", String(63), nullable=False),
    Column("target_seconds", Float, nullable=False),
    Column("warn_fraction", Float, nullable=False),
    Column("further_levels", JSON, nullable=False),
    Column("phase", String(16), nullable=False),
    Column("consumed_seconds", Float, nullable=False),
    Column("running_since", UtcDateTime),
    Column("due_time", UtcDateTime),
    Column("warn_time", UtcDateTime),
    Column("warned", Boolean, nullable=False),
    Column("breached", Boolean, nullable=False),
    Column("breach_time", UtcDateTime),
    Column("further_fired", Integer, nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("stop_time", UtcDateTime),
    Column("next_fire_time", UtcDateTime),
    PrimaryKeyConstraint("tenant_id", "ticket_id", "metric"),
    Index(
        "ix_sla_clocks_due",
        "next_fire_time",
        postgresql_where=text("next_fire_time IS NOT NULL"),
        sqlite_where=text("next_fire_time IS NOT NULL"),
    ),
)

# The escalation service's own log of warnings, breaches and further levels.
sla_events = Table(
    "sla_events",
    metadata,
    Column("event_id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("tenant_id", String(63), nullable=False),
    Column("ticket_id", String(36), nullable=False),
    Column("metric", String(16), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("due_time", UtcDateTime, nullable=False),
    Column("fire_time", UtcDateTime, nullable=False),
    Column("escalation_id", String(36), nullable=False),
    Index(None, "tenant_id", "ticket_id", "event_id"),
    Index(None, "tenant_id", "event_id"),
    # Each warning, breach and level fires once: a second insert of one is refused by the
    # database, whatever the replicas did (a clock's next response restarts with a new
    # due time, so repeats across a ticket's life stay distinct).
    Index(
        "uq_sla_events_fired",
        "tenant_id",
        "ticket_id",
        "metric",
        "kind",
        "level",
        "due_time",
        unique=True,
    ),
)

# One row per tenant: the newest cursor of its escalation event log. Cursors are allocated
# under this row's lock by the transaction's last statement, so cursor order is commit
# order: a reader at cursor N can never miss a row that commits later with a smaller one.
escalation_event_heads = Table(
    "escalation_event_heads",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("last_cursor", BigInteger, nullable=False),
    PrimaryKeyConstraint("tenant_id"),
)

# What changed, one row per change, in the transaction of the change (see
# escalation_service/domain/events.py).
escalation_events = Table(
    "escalation_events",
    metadata,
    Column("tenant_id", String(63), nullable=False),
    Column("cursor", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("ticket_id", String(36), nullable=False),
    Column("escalation_id", String(36), nullable=False),
    Column("suggestion_id", String(36), nullable=False),
    Column("agent_id", String(64), nullable=False),
    Column("conversation_id", BigInteger),
    Column("payload", JSON, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "cursor"),
    Index(None, "tenant_id", "ticket_id", "cursor"),
)
