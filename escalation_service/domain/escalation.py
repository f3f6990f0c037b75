"""Escalations and suggestions: their states and the moves between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from common.errors import FailedPrecondition
from common.etags import weak_etag
from escalation_service.domain.decision import Explanation
from escalation_service.domain.policy import Priority
from escalation_service.domain.reasons import Reason, Trigger


class State(StrEnum):
    QUEUED = "queued"
    ASSIGNED = "assigned"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATES


OPEN_STATES = frozenset({State.QUEUED, State.ASSIGNED, State.ACKNOWLEDGED})


class EffectsState(StrEnum):
    WAITING = "waiting"
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Effect(StrEnum):
    """What an escalation does to its ticket, in this order: the note names the agent, so
    it goes last."""

    ASSIGN = "assign"
    PRIORITY = "priority"
    NOTE = "note"


class TransitionRefused(FailedPrecondition):
    reason = "ESCALATION_STATE"


@dataclass
class Escalation:
    id: str
    ticket_id: str
    level: int
    trigger: Trigger
    reason: Reason
    explanation: Explanation
    priority_before: Priority
    priority_after: Priority
    actor: str
    create_time: datetime
    update_time: datetime
    state: State = State.QUEUED
    comment: str = ""
    required_skills: frozenset[str] = frozenset()
    assignee_id: str = ""
    previous_assignee_id: str = ""
    suggestion_id: str = ""
    previous_escalation_id: str = ""
    effects_state: EffectsState = EffectsState.WAITING
    effects_done: frozenset[Effect] = frozenset()
    effects_error: str = ""
    assign_time: datetime | None = None
    acknowledge_time: datetime | None = None
    end_time: datetime | None = None
    version: int = 1

    @property
    def name(self) -> str:
        return f"escalations/{self.id}"

    @property
    def etag(self) -> str:
        return weak_etag(self.version)

    def effects_due(self) -> list[Effect]:
        """The effects still to carry out, in order. A queued escalation already raises the
        priority; the assignment and the note wait for an agent. An ended one does nothing
        more."""
        if not self.state.is_open:
            return []
        due = []
        if self.assignee_id:
            due.append(Effect.ASSIGN)
        if self.priority_after.rank > self.priority_before.rank:
            due.append(Effect.PRIORITY)
        if self.assignee_id:
            due.append(Effect.NOTE)
        return [effect for effect in due if effect not in self.effects_done]

    def settle_effects(self) -> None:
        """Set `effects_state` from what is still due."""
        if self.effects_state is EffectsState.FAILED:
            return
        if self.effects_due():
            self.effects_state = EffectsState.PENDING
        elif self.assignee_id or not self.state.is_open:
            self.effects_state = EffectsState.DONE
            self.effects_error = ""
        else:
            self.effects_state = EffectsState.WAITING

    def assign(self, agent_id: str, previous_assignee: str, now: datetime) -> None:
        self._require({State.QUEUED}, "assign")
        self.state = State.ASSIGNED
        self.assignee_id = agent_id
        self.previous_assignee_id = previous_assignee
        self.assign_time = now
        self.settle_effects()
        self._touch(now)

    def effect_done(self, effect: Effect, now: datetime) -> None:
        self.effects_done = self.effects_done | {effect}
        self.settle_effects()
        self._touch(now)

    def effects_failed(self, error: str, now: datetime) -> None:
        """The ticket service refused an effect for good: the escalation cannot do its job."""
        self.effects_state = EffectsState.FAILED
        self.effects_error = error
        if self.state.is_open:
            self._end(State.CANCELLED, now)
        self._touch(now)

    def acknowledge(self, now: datetime) -> None:
        if self.state is State.ACKNOWLEDGED:
            return
        self._require({State.ASSIGNED}, "acknowledge")
        self.state = State.ACKNOWLEDGED
        self.acknowledge_time = now
        self._touch(now)

    def resolve(self, now: datetime) -> None:
        if self.state is State.RESOLVED:
            return
        self._require(OPEN_STATES, "resolve")
        self._end(State.RESOLVED, now)

    def cancel(self, now: datetime) -> None:
        if self.state.is_open:
            self._end(State.CANCELLED, now)

    def supersede(self, now: datetime) -> None:
        self._require(OPEN_STATES, "re-escalate")
        self._end(State.SUPERSEDED, now)

    def _end(self, state: State, now: datetime) -> None:
        self.state = state
        self.end_time = now
        self.settle_effects()
        self._touch(now)

    def _touch(self, now: datetime) -> None:
        self.update_time = now
        self.version += 1

    def _require(self, allowed: frozenset[State] | set[State], action: str) -> None:
        if self.state not in allowed:
            raise TransitionRefused(
                f"cannot {action} an escalation that is {self.state.value}",
                escalation=self.name,
                state=self.state.value,
            )


class SuggestionState(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


@dataclass
class Suggestion:
    id: str
    ticket_id: str
    trigger: Trigger
    reason: Reason
    explanation: Explanation
    priority: Priority | None
    create_time: datetime
    state: SuggestionState = SuggestionState.PENDING
    escalation_id: str = ""
    decided_by: str = ""
    decision_comment: str = ""
    decide_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"suggestions/{self.id}"

    def accept(self, escalation_id: str, actor: str, comment: str, now: datetime) -> None:
        self._decide(SuggestionState.ACCEPTED, actor, comment, now)
        self.escalation_id = escalation_id

    def reject(self, actor: str, comment: str, now: datetime) -> None:
        self._decide(SuggestionState.REJECTED, actor, comment, now)

    def _decide(self, state: SuggestionState, actor: str, comment: str, now: datetime) -> None:
        if self.state is not SuggestionState.PENDING:
            raise FailedPrecondition(
                f"the suggestion was already {self.state.value}",
                reason="SUGGESTION_ANSWERED",
                suggestion=self.name,
            )
        self.state = state
        self.decided_by = actor
        self.decision_comment = comment
        self.decide_time = now
