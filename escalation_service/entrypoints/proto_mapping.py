"""Translation between the escalation protos and the domain. No rules live here."""

from __future__ import annotations

from typing import Any

from google.protobuf import struct_pb2

from common.errors import InvalidArgument
from common.grpc.mapping import enum_from_proto, enum_to_proto, optional_enum, timestamp
from escalation_service.domain.agents import Agent
from escalation_service.domain.decision import Explanation
from escalation_service.domain.escalation import (
    EffectsState,
    Escalation,
    State,
    Suggestion,
    SuggestionState,
)
from escalation_service.domain.events import EventType, StoredEvent
from escalation_service.domain.policy import (
    CriticalPhrases,
    Level,
    Mode,
    Policy,
    Priority,
    SentimentPhrase,
)
from escalation_service.domain.reasons import Reason
from escalation_service.domain.selection import Availability
from ticketing.escalation.v1 import agent_pb2, escalation_event_pb2, escalation_pb2, policy_pb2
from ticketing.ticket.v1 import enums_pb2


def reason_from_proto(number: int, field: str = "reason") -> Reason | None:
    return optional_enum(
        number, escalation_pb2.EscalationReason, "ESCALATION_REASON", Reason, field
    )


def _reason(reason: Reason | None) -> Any:
    if reason is None:
        return 0
    return enum_to_proto(reason, escalation_pb2.EscalationReason, "ESCALATION_REASON")


def priority_to_proto(priority: Priority) -> Any:
    return enum_to_proto(priority, enums_pb2.TicketPriority, "TICKET_PRIORITY")


def priority_from_proto(number: int, field: str) -> Priority:
    return enum_from_proto(number, enums_pb2.TicketPriority, "TICKET_PRIORITY", Priority, field)


def state_from_proto(number: int) -> State | None:
    return optional_enum(number, escalation_pb2.EscalationState, "ESCALATION_STATE", State, "state")


def suggestion_state_from_proto(number: int) -> SuggestionState | None:
    return optional_enum(
        number, escalation_pb2.SuggestionState, "SUGGESTION_STATE", SuggestionState, "state"
    )


def availability_from_proto(number: int, field: str) -> Availability | None:
    return optional_enum(
        number, agent_pb2.AgentAvailability, "AGENT_AVAILABILITY", Availability, field
    )


def explanation_to_proto(explanation: Explanation) -> escalation_pb2.Explanation:
    return escalation_pb2.Explanation(
        signals=[
            escalation_pb2.Signal(
                kind=enum_to_proto(s.kind, escalation_pb2.SignalKind, "SIGNAL_KIND"),
                value=s.value,
                threshold=s.threshold,
                fired=s.fired,
                detail=s.detail,
                reason=_reason(s.reason),
            )
            for s in explanation.signals
        ],
        rule=explanation.rule,
        summary=explanation.summary,
        policy_version=explanation.policy_version,
        language=explanation.language,
    )


def escalation_to_proto(escalation: Escalation) -> escalation_pb2.Escalation:
    return escalation_pb2.Escalation(
        name=escalation.name,
        ticket=f"tickets/{escalation.ticket_id}",
        state=enum_to_proto(escalation.state, escalation_pb2.EscalationState, "ESCALATION_STATE"),
        level=escalation.level,
        trigger=enum_to_proto(
            escalation.trigger, escalation_pb2.EscalationTrigger, "ESCALATION_TRIGGER"
        ),
        reason=_reason(escalation.reason),
        assignee_id=escalation.assignee_id,
        priority_before=priority_to_proto(escalation.priority_before),
        priority_after=priority_to_proto(escalation.priority_after),
        explanation=explanation_to_proto(escalation.explanation),
        suggestion=f"suggestions/{escalation.suggestion_id}" if escalation.suggestion_id else "",
        previous_escalation=(
            f"escalations/{escalation.previous_escalation_id}"
            if escalation.previous_escalation_id
            else ""
        ),
        actor=escalation.actor,
        comment=escalation.comment,
        effects_state=enum_to_proto(
            escalation.effects_state, escalation_pb2.EffectsState, "EFFECTS_STATE"
        ),
        effects_error=escalation.effects_error
        if escalation.effects_state is EffectsState.FAILED
        else "",
        create_time=timestamp(escalation.create_time),
        assign_time=timestamp(escalation.assign_time),
        acknowledge_time=timestamp(escalation.acknowledge_time),
        end_time=timestamp(escalation.end_time),
        etag=escalation.etag,
    )


def suggestion_to_proto(suggestion: Suggestion) -> escalation_pb2.Suggestion:
    return escalation_pb2.Suggestion(
        name=suggestion.name,
        ticket=f"tickets/{suggestion.ticket_id}",
        state=enum_to_proto(suggestion.state, escalation_pb2.SuggestionState, "SUGGESTION_STATE"),
        trigger=enum_to_proto(
            suggestion.trigger, escalation_pb2.EscalationTrigger, "ESCALATION_TRIGGER"
        ),
        reason=_reason(suggestion.reason),
        explanation=explanation_to_proto(suggestion.explanation),
        escalation=f"escalations/{suggestion.escalation_id}" if suggestion.escalation_id else "",
        decided_by=suggestion.decided_by,
        decision_comment=suggestion.decision_comment,
        create_time=timestamp(suggestion.create_time),
        decide_time=timestamp(suggestion.decide_time),
    )


def agent_to_proto(agent: Agent) -> agent_pb2.Agent:
    return agent_pb2.Agent(
        name=agent.name,
        display_name=agent.display_name,
        email=agent.email,
        availability=enum_to_proto(
            agent.availability, agent_pb2.AgentAvailability, "AGENT_AVAILABILITY"
        ),
        skills=sorted(agent.skills),
        capacity=agent.capacity,
        active_tickets=agent.active_tickets,
        last_assign_time=timestamp(agent.last_assign_time),
        removed_from_chatwoot=agent.removed_from_chatwoot,
        update_time=timestamp(agent.update_time),
    )


def policy_to_proto(policy: Policy) -> policy_pb2.EscalationPolicy:
    return policy_pb2.EscalationPolicy(
        name="escalationPolicy",
        version=policy.version,
        mode=enum_to_proto(policy.mode, policy_pb2.EscalationMode, "ESCALATION_MODE"),
        confidence_threshold=policy.confidence_threshold,
        sentiment_threshold=policy.sentiment_threshold,
        repetition_threshold=policy.repetition_threshold,
        languages=list(policy.languages),
        critical_phrases=[
            policy_pb2.CriticalPhrases(
                language=g.language,
                reason=_reason(g.reason),
                phrases=list(g.phrases),
            )
            for g in policy.critical_phrases
        ],
        sentiment_phrases=[
            policy_pb2.SentimentPhrase(language=p.language, phrase=p.phrase, valence=p.valence)
            for p in policy.sentiment_phrases
        ],
        priority_upgrades=[
            policy_pb2.PriorityUpgrade(reason=_reason(r), priority=priority_to_proto(p))
            for r, p in policy.priority_upgrades
        ],
        levels=[
            policy_pb2.EscalationLevel(
                display_name=level.display_name,
                required_skills=sorted(level.required_skills),
                fall_back_to_any_agent=level.fall_back_to_any_agent,
            )
            for level in policy.levels
        ],
        default_agent_capacity=policy.default_agent_capacity,
        etag=policy.etag,
        update_actor=policy.update_actor,
        update_time=timestamp(policy.update_time),
    )


POLICY_FIELDS = (
    "mode",
    "confidence_threshold",
    "sentiment_threshold",
    "repetition_threshold",
    "languages",
    "critical_phrases",
    "sentiment_phrases",
    "priority_upgrades",
    "levels",
    "default_agent_capacity",
)


def policy_changes(proto: policy_pb2.EscalationPolicy, paths: list[str]) -> dict[str, Any]:
    """The domain values of the named fields, each checked for shape; the policy checks
    their ranges."""
    changes: dict[str, Any] = {}
    for path in paths:
        where = f"policy.{path}"
        if path == "mode":
            mode = optional_enum(
                proto.mode, policy_pb2.EscalationMode, "ESCALATION_MODE", Mode, where
            )
            if mode is None:
                raise InvalidArgument.single(where, "is required")
            changes["mode"] = mode
        elif path == "languages":
            changes["languages"] = tuple(code.strip().lower() for code in proto.languages)
        elif path == "critical_phrases":
            changes["critical_phrases"] = tuple(
                CriticalPhrases(
                    g.language.strip().lower(),
                    reason_from_proto(g.reason, f"{where}[{i}].reason") or Reason.MANUAL,
                    tuple(g.phrases),
                )
                for i, g in enumerate(proto.critical_phrases)
            )
        elif path == "sentiment_phrases":
            changes["sentiment_phrases"] = tuple(
                SentimentPhrase(p.language.strip().lower(), p.phrase, p.valence)
                for p in proto.sentiment_phrases
            )
        elif path == "priority_upgrades":
            upgrades = []
            for i, upgrade in enumerate(proto.priority_upgrades):
                reason = reason_from_proto(upgrade.reason, f"{where}[{i}].reason")
                if reason is None:
                    raise InvalidArgument.single(f"{where}[{i}].reason", "is required")
                priority = priority_from_proto(upgrade.priority, f"{where}[{i}].priority")
                upgrades.append((reason, priority))
            changes["priority_upgrades"] = tuple(upgrades)
        elif path == "levels":
            changes["levels"] = tuple(
                Level(
                    level.display_name,
                    frozenset(s.strip().lower() for s in level.required_skills),
                    level.fall_back_to_any_agent,
                )
                for level in proto.levels
            )
        else:
            changes[path] = getattr(proto, path)
    return changes


def event_to_proto(event: StoredEvent) -> escalation_event_pb2.EscalationEvent:
    payload = struct_pb2.Struct()
    payload.update(event.payload)
    return escalation_event_pb2.EscalationEvent(
        name=f"escalationEvents/{event.cursor}",
        cursor=event.cursor,
        type=enum_to_proto(
            event.type, escalation_event_pb2.EscalationEventType, "ESCALATION_EVENT_TYPE"
        ),
        ticket=f"tickets/{event.ticket_id}" if event.ticket_id else "",
        escalation=f"escalations/{event.escalation_id}" if event.escalation_id else "",
        suggestion=f"suggestions/{event.suggestion_id}" if event.suggestion_id else "",
        agent=f"agents/{event.agent_id}" if event.agent_id else "",
        chatwoot_conversation_id=event.conversation_id or 0,
        payload=payload,
        create_time=timestamp(event.create_time),
    )


def event_type_from_proto(number: int, *, field: str = "type") -> EventType:
    if number == escalation_event_pb2.ESCALATION_EVENT_TYPE_UNSPECIFIED:
        raise InvalidArgument.single(field, "must name an event type, not UNSPECIFIED")
    return enum_from_proto(
        number, escalation_event_pb2.EscalationEventType, "ESCALATION_EVENT_TYPE", EventType, field
    )
