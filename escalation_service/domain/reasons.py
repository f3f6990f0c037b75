"""Why a ticket is escalated, and what started it. Values match the proto enums' suffixes
in lower case, the way the ticket service spells its enums in JSON."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    MANUAL = "manual"
    LEGAL_THREAT = "legal_threat"
    REFUND_DEMAND = "refund_demand"
    CANCELLATION = "cancellation"
    SAFETY = "safety"
    HUMAN_REQUESTED = "human_requested"
    NEGATIVE_SENTIMENT = "negative_sentiment"
    LOW_CONFIDENCE = "low_confidence"
    REPEATED_MESSAGES = "repeated_messages"
    SLA_BREACH = "sla_breach"


# The reasons a customer's own words can carry, matched by the tenant's phrase lists.
CRITICAL_REASONS: tuple[Reason, ...] = (
    Reason.LEGAL_THREAT,
    Reason.REFUND_DEMAND,
    Reason.CANCELLATION,
    Reason.SAFETY,
    Reason.HUMAN_REQUESTED,
)


class Trigger(StrEnum):
    MANUAL = "manual"
    CUSTOMER_MESSAGE = "customer_message"
    AI = "ai"
    SLA_BREACH = "sla_breach"
