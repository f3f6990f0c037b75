"""The use cases: decide, suggest, escalate, assign, and the agent directory.

Each public method is one unit of work for the caller's tenant. Agent choice and the
capacity it takes happen in the same transaction as the escalation they serve.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import Clock
from common.errors import (
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    Violations,
)
from common.etags import check_etag
from escalation_service.domain.agents import Agent
from escalation_service.domain.decision import (
    Decision,
    Evidence,
    decide,
    manual_decision,
    sla_decision,
)
from escalation_service.domain.escalation import Escalation, State, Suggestion, SuggestionState
from escalation_service.domain.events import (
    StoredEvent,
    availability_event,
    escalation_event,
    suggestion_event,
)
from escalation_service.domain.policy import Policy, check_skills
from escalation_service.domain.reasons import Reason, Trigger
from escalation_service.domain.selection import Availability, candidates, required_skills
from escalation_service.domain.sentiment import SentimentAnalyzer, SentimentReading
from escalation_service.domain.sla_clock import Fired
from escalation_service.domain.tickets import TicketView
from escalation_service.metrics import EscalationMetrics
from escalation_service.service.ports import TicketRefused, Tickets
from escalation_service.service.unit_of_work import UnitOfWork

log = structlog.get_logger("escalation_service")

# The principal recorded on decisions nobody asked for.
SELF = "escalation-service"
QUEUE_BATCH = 50
MAX_COMMENT = 2_000
MAX_TEXT = 20_000


@dataclass(frozen=True)
class Outcome:
    """What a decision led to."""

    decision: Decision
    escalation: Escalation | None = None
    suggestion: Suggestion | None = None
    open_escalation: Escalation | None = None


@dataclass(frozen=True)
class RequestKey:
    """A mutation's request_id, stored in the mutation's own transaction: a repeat finds
    it, and two racing calls with one id cannot both commit (the key is unique)."""

    request_id: str
    method: str
    fingerprint: str


@dataclass(frozen=True)
class AiAnswer:
    confidence: float | None
    sentiment: float | None
    reason: Reason | None
    text: str


class EscalationService:
    def __init__(
        self,
        engine: AsyncEngine,
        tickets: Tickets,
        analyzers: Callable[[str], SentimentAnalyzer],
        clock: Clock,
        *,
        on_effects_queued: Callable[[], None] = lambda: None,
        metrics: EscalationMetrics | None = None,
        on_events_committed: Callable[[str], None] | None = None,
    ) -> None:
        """`on_events_committed(tenant)`: told after a unit of work committed events."""
        self.metrics = metrics or EscalationMetrics()
        self._engine = engine
        self._tickets = tickets
        self._analyzer_for = analyzers
        self._clock = clock
        self._effects_queued = on_effects_queued
        self._events_committed = on_events_committed

    def now(self) -> datetime:
        return self._clock.now()

    def unit_of_work(self, tenant_id: str) -> UnitOfWork:
        return UnitOfWork(self._engine, tenant_id, on_events_committed=self._events_committed)

    # --- reading text -------------------------------------------------------------------

    async def policy(self, tenant_id: str) -> Policy:
        async with self.unit_of_work(tenant_id) as uow:
            return await uow.policies.current()

    async def read_text(self, tenant_id: str, policy: Policy, text: str) -> SentimentReading:
        """The sentiment of a text; done outside any transaction, since an external analyzer
        may take its time."""
        analyzer = self._analyzer_for(tenant_id)
        return await analyzer.analyze(
            text, languages=policy.languages, phrases=policy.sentiment_matcher
        )

    # --- decisions ----------------------------------------------------------------------

    async def evaluate(
        self,
        tenant_id: str,
        ticket_id: str,
        answer: AiAnswer,
        *,
        actor: str,
        suggest_only: bool = False,
        key: RequestKey | None = None,
    ) -> Outcome:
        """An AI's answer held against the policy; acts as the mode says (or only suggests).
        The text is read with the policy version that then decides."""
        _check_answer(answer)
        await self.ensure_ticket(tenant_id, ticket_id)
        policy = await self.policy(tenant_id)
        reading = await self.read_text(tenant_id, policy, answer.text) if answer.text else None
        async with self.unit_of_work(tenant_id) as uow:
            view = await self._view(uow, ticket_id)
            evidence = Evidence(
                sentiment=reading,
                critical=policy.critical_matcher.find(answer.text) if answer.text else (),
                confidence=answer.confidence,
                ai_sentiment=answer.sentiment,
                ai_reason=answer.reason,
            )
            decision = decide(policy, evidence)
            if suggest_only and not decision.escalate:
                # The AI asks for a person's review even though no rule fired.
                decision = replace(decision, escalate=True, reason=answer.reason or Reason.MANUAL)
            outcome = await self.act(
                uow, policy, view, decision, Trigger.AI, actor=actor, suggest_only=suggest_only
            )
            made = outcome.suggestion or outcome.escalation
            if made is not None:
                await self._remember(uow, key, made.name)
            await uow.commit()
        await self.assign_queued(tenant_id)
        return outcome

    async def act(
        self,
        uow: UnitOfWork,
        policy: Policy,
        view: TicketView,
        decision: Decision,
        trigger: Trigger,
        *,
        actor: str,
        suggest_only: bool = False,
    ) -> Outcome:
        """Carry out a positive decision inside the caller's unit of work: escalate, or
        suggest in SUGGEST_ONLY mode. A ticket with an open escalation, or a pending
        suggestion, gets nothing new."""

        def counted(outcome: str) -> None:
            self.metrics.decided(uow, trigger, decision.explanation.rule, outcome)

        if not decision.escalate or not view.active:
            counted("none")
            return Outcome(decision)
        assert decision.reason is not None
        open_escalation = await uow.escalations.open_for_ticket(view.ticket_id)
        if open_escalation is not None:
            counted("already_open")
            return Outcome(decision, open_escalation=open_escalation)
        if suggest_only or policy.mode.value == "suggest_only":
            pending = await uow.suggestions.pending_for_ticket(view.ticket_id)
            if pending is not None:
                counted("already_open")
                return Outcome(decision, suggestion=pending)
            suggestion = Suggestion(
                id=str(uuid.uuid4()),
                ticket_id=view.ticket_id,
                trigger=trigger,
                reason=decision.reason,
                explanation=decision.explanation,
                priority=decision.priority,
                create_time=self._clock.now(),
            )
            await uow.suggestions.add(suggestion)
            uow.record(suggestion_event(suggestion, suggestion.create_time))
            log.info(
                "escalation_suggested",
                tenant=uow.tenant_id,
                ticket=view.ticket_id,
                reason=decision.reason.value,
                rule=decision.explanation.rule,
            )
            counted("suggested")
            return Outcome(decision, suggestion=suggestion)
        escalation = await self._escalate(
            uow, policy, view, decision, trigger, actor=actor, level=1
        )
        counted("escalated")
        return Outcome(decision, escalation=escalation)

    async def on_customer_message(
        self,
        uow: UnitOfWork,
        policy: Policy,
        view: TicketView,
        reading: SentimentReading | None,
        text: str,
    ) -> Outcome:
        """The decision for a new customer message, inside the event's unit of work."""
        evidence = Evidence(
            sentiment=reading,
            critical=policy.critical_matcher.find(text),
            customer_streak=view.customer_streak,
        )
        decision = decide(policy, evidence)
        return await self.act(uow, policy, view, decision, Trigger.CUSTOMER_MESSAGE, actor=SELF)

    # --- escalations --------------------------------------------------------------------

    async def escalate_ticket(
        self,
        tenant_id: str,
        ticket_id: str,
        *,
        reason: Reason,
        comment: str,
        skills: Sequence[str],
        actor: str,
        trigger: Trigger = Trigger.MANUAL,
        key: RequestKey | None = None,
    ) -> Escalation:
        """Escalate by hand; a ticket with an open escalation goes one level up."""
        problems = Violations()
        if len(comment) > MAX_COMMENT:
            problems.add("comment", f"must be at most {MAX_COMMENT} characters")
        check_skills(problems, "required_skills", tuple(skills))
        problems.raise_if_any()
        await self.ensure_ticket(tenant_id, ticket_id)
        async with self.unit_of_work(tenant_id) as uow:
            policy = await uow.policies.current()
            view = await self._view(uow, ticket_id)
            if not view.active:
                raise FailedPrecondition(
                    f"ticket {view.name} is {'deleted' if view.deleted else view.status}",
                    reason="TICKET_NOT_ACTIVE",
                    ticket=view.name,
                )
            decision = manual_decision(policy, reason, actor, comment)
            escalation = await self._escalate_up(
                uow,
                policy,
                view,
                decision,
                trigger,
                actor=actor,
                comment=comment,
                skills=frozenset(skills),
            )
            await self._remember(uow, key, escalation.name)
            await uow.commit()
        return escalation

    async def escalate_for_sla(
        self, uow: UnitOfWork, view: TicketView, fired: Sequence[Fired]
    ) -> Escalation | None:
        """Escalate for SLA breaches or further levels, inside the caller's unit of work
        (the scheduler's, or the consumer's when an event finds a clock overdue): level 1,
        or one up from the open escalation. None when the ticket is no longer active or is
        already at the last level; a breach never loops."""
        if not view.active:
            return None
        policy = await uow.policies.current()
        decision = sla_decision(policy, fired)
        try:
            return await self._escalate_up(
                uow, policy, view, decision, Trigger.SLA_BREACH, actor=SELF
            )
        except FailedPrecondition:
            log.info("sla_escalation_at_top_level", tenant=uow.tenant_id, ticket=view.ticket_id)
            return None

    async def _escalate_up(
        self,
        uow: UnitOfWork,
        policy: Policy,
        view: TicketView,
        decision: Decision,
        trigger: Trigger,
        *,
        actor: str,
        comment: str = "",
        skills: frozenset[str] = frozenset(),
    ) -> Escalation:
        """A new escalation at level 1, or one level above the ticket's open one, which it
        supersedes. FAILED_PRECONDITION (TOP_LEVEL_REACHED) past the policy's last level."""
        current = await uow.escalations.open_for_ticket(view.ticket_id, for_update=True)
        level = 1
        if current is not None:
            level = current.level + 1
            if policy.level(level) is None:
                raise FailedPrecondition(
                    f"{current.name} is already at the last level ({current.level})",
                    reason="TOP_LEVEL_REACHED",
                    escalation=current.name,
                )
            current.supersede(self._clock.now())
            await uow.escalations.save(current)
            uow.record(escalation_event(current, current.update_time))
        return await self._escalate(
            uow,
            policy,
            view,
            decision,
            trigger,
            actor=actor,
            level=level,
            comment=comment,
            skills=skills,
            previous=current.id if current else "",
        )

    async def _remember(self, uow: UnitOfWork, key: RequestKey | None, resource: str) -> None:
        if key is not None:
            await uow.requests.add(
                key.request_id, key.method, key.fingerprint, resource, self._clock.now()
            )

    async def _escalate(
        self,
        uow: UnitOfWork,
        policy: Policy,
        view: TicketView,
        decision: Decision,
        trigger: Trigger,
        *,
        actor: str,
        level: int,
        comment: str = "",
        skills: frozenset[str] = frozenset(),
        previous: str = "",
        suggestion: str = "",
    ) -> Escalation:
        assert decision.reason is not None
        now = self._clock.now()
        target = view.priority
        if decision.priority is not None:
            target = decision.priority.at_least(view.priority)
        escalation = Escalation(
            id=str(uuid.uuid4()),
            ticket_id=view.ticket_id,
            level=level,
            trigger=trigger,
            reason=decision.reason,
            explanation=decision.explanation,
            priority_before=view.priority,
            priority_after=target,
            actor=actor,
            comment=comment,
            required_skills=skills,
            previous_escalation_id=previous,
            suggestion_id=suggestion,
            create_time=now,
            update_time=now,
        )
        escalation.settle_effects()
        await uow.escalations.add(escalation, due=self._due(escalation, now))
        uow.record(escalation_event(escalation, now))
        self.metrics.escalated(uow, escalation)
        await self._try_assign(uow, policy, escalation, view)
        log.info(
            "escalated",
            tenant=uow.tenant_id,
            escalation=escalation.id,
            ticket=view.ticket_id,
            level=level,
            reason=escalation.reason.value,
            rule=decision.explanation.rule,
            assignee=escalation.assignee_id or None,
        )
        return escalation

    def _due(self, escalation: Escalation, now: datetime) -> datetime | None:
        return now if escalation.effects_due() else None

    async def _try_assign(
        self,
        uow: UnitOfWork,
        policy: Policy,
        escalation: Escalation,
        view: TicketView,
        directory: Sequence[Agent] | None = None,
    ) -> bool:
        """Choose an agent and take their capacity, or leave the escalation queued.
        `directory` saves reading it again when the caller has it and nothing changed."""
        level = policy.level(escalation.level) or policy.levels[-1]
        if directory is None:
            directory = await uow.agents.list()
        known = {skill for agent in directory for skill in agent.skills}
        needed = required_skills(level, escalation.required_skills, view.labels, known)
        loads = [agent.load(policy.default_agent_capacity) for agent in directory]
        now = self._clock.now()
        for candidate in candidates(loads, needed, level):
            if await uow.agents.claim(candidate.agent_id, policy.default_agent_capacity, now):
                break
        else:
            return False
        # The ticket now counts against the chosen agent, and no longer against whoever had
        # it; the ASSIGNEE_CHANGED event that follows finds the view already agreeing.
        previous = view.assignee_id
        if view.active and previous != candidate.agent_id:
            await uow.agents.add_workload(previous, -1)
        view.assignee_id = candidate.agent_id
        await uow.tickets.save(view)
        escalation.assign(candidate.agent_id, previous, now)
        await uow.escalations.save(escalation, due=now)
        uow.record(escalation_event(escalation, now))
        uow.after_commit(self._effects_queued)
        return True

    async def assign_queued(self, tenant_id: str) -> int:
        """Give queued escalations to agents who can take them now, most urgent and oldest
        first. Returns how many were assigned."""
        assigned = 0
        async with self.unit_of_work(tenant_id) as uow:
            queued = await uow.escalations.queued(QUEUE_BATCH)
            if not queued:
                return 0
            policy = await uow.policies.current()
            directory = await uow.agents.list()
            for candidate in queued:
                # Lock the ticket, then re-read the escalation under it (the order every
                # writer takes): a concurrent pass, here or on another replica, may have
                # assigned or ended it since the list was read.
                view = await uow.tickets.get(candidate.ticket_id, for_update=True)
                escalation = await uow.escalations.get(candidate.id, for_update=True)
                if escalation is None or escalation.state is not State.QUEUED:
                    continue
                if view is None or not view.active:
                    escalation.cancel(self._clock.now())
                    await uow.escalations.save(escalation)
                    uow.record(escalation_event(escalation, escalation.update_time))
                    continue
                if not any(a.load(policy.default_agent_capacity).choosable for a in directory):
                    break  # nobody can take anything: the rest stay queued
                if await self._try_assign(uow, policy, escalation, view, directory):
                    assigned += 1
                    directory = await uow.agents.list()  # a workload changed
            await uow.commit()
        return assigned

    async def get_escalation(self, tenant_id: str, escalation_id: str) -> Escalation:
        async with self.unit_of_work(tenant_id) as uow:
            found = await uow.escalations.get(escalation_id)
        if found is None:
            raise NotFound("escalation", f"escalations/{escalation_id}")
        return found

    async def list_escalations(self, tenant_id: str, **filters: Any) -> list[Escalation]:
        async with self.unit_of_work(tenant_id) as uow:
            return await uow.escalations.list(**filters)

    async def acknowledge(self, tenant_id: str, escalation_id: str, etag: str) -> Escalation:
        return await self._change(tenant_id, escalation_id, etag, "acknowledge")

    async def resolve(self, tenant_id: str, escalation_id: str, etag: str) -> Escalation:
        return await self._change(tenant_id, escalation_id, etag, "resolve")

    async def _change(
        self, tenant_id: str, escalation_id: str, etag: str, action: str
    ) -> Escalation:
        async with self.unit_of_work(tenant_id) as uow:
            escalation = await uow.escalations.get(escalation_id, for_update=True)
            if escalation is None:
                raise NotFound("escalation", f"escalations/{escalation_id}")
            check_etag(etag, escalation.etag)
            before = escalation.state
            getattr(escalation, action)(self._clock.now())
            await uow.escalations.save(escalation, due=self._due(escalation, self._clock.now()))
            if escalation.state is not before:  # a repeat changes nothing
                uow.record(escalation_event(escalation, escalation.update_time))
            await uow.commit()
        return escalation

    # --- the event log ------------------------------------------------------------------

    async def list_events(
        self, tenant_id: str, *, after_cursor: int, limit: int, ticket_id: str = ""
    ) -> tuple[list[StoredEvent], int]:
        """A page of the tenant's event log and its head, read in one transaction (the head
        is read first: every event up to it is committed, so none is missed)."""
        async with self.unit_of_work(tenant_id) as uow:
            head = await uow.events.head()
            events = await uow.events.read(
                after_cursor=after_cursor, limit=limit, ticket_id=ticket_id
            )
        return events, head

    # --- suggestions --------------------------------------------------------------------

    async def get_suggestion(self, tenant_id: str, suggestion_id: str) -> Suggestion:
        async with self.unit_of_work(tenant_id) as uow:
            found = await uow.suggestions.get(suggestion_id)
        if found is None:
            raise NotFound("suggestion", f"suggestions/{suggestion_id}")
        return found

    async def list_suggestions(self, tenant_id: str, **filters: Any) -> list[Suggestion]:
        async with self.unit_of_work(tenant_id) as uow:
            return await uow.suggestions.list(**filters)

    async def accept_suggestion(
        self,
        tenant_id: str,
        suggestion_id: str,
        *,
        actor: str,
        comment: str,
        key: RequestKey | None = None,
    ) -> Suggestion:
        if len(comment) > MAX_COMMENT:
            raise InvalidArgument.single("comment", f"must be at most {MAX_COMMENT} characters")
        async with self.unit_of_work(tenant_id) as uow:
            suggestion = await uow.suggestions.get(suggestion_id, for_update=True)
            if suggestion is None:
                raise NotFound("suggestion", f"suggestions/{suggestion_id}")
            if suggestion.state is not SuggestionState.PENDING:
                suggestion.accept("", actor, comment, self._clock.now())  # raises
            policy = await uow.policies.current()
            view = await self._view(uow, suggestion.ticket_id)
            escalation = await uow.escalations.open_for_ticket(suggestion.ticket_id)
            if escalation is None:
                if not view.active:
                    raise FailedPrecondition(
                        f"ticket {view.name} is no longer active", reason="TICKET_NOT_ACTIVE"
                    )
                decision = Decision(
                    True, suggestion.reason, suggestion.priority, suggestion.explanation
                )
                escalation = await self._escalate(
                    uow,
                    policy,
                    view,
                    decision,
                    suggestion.trigger,
                    actor=actor,
                    level=1,
                    comment=comment,
                    suggestion=suggestion.id,
                )
            suggestion.accept(escalation.id, actor, comment, self._clock.now())
            await uow.suggestions.save(suggestion)
            uow.record(suggestion_event(suggestion, self._clock.now()))
            await self._remember(uow, key, suggestion.name)
            await uow.commit()
        return suggestion

    async def reject_suggestion(
        self,
        tenant_id: str,
        suggestion_id: str,
        *,
        actor: str,
        comment: str,
        key: RequestKey | None = None,
    ) -> Suggestion:
        if len(comment) > MAX_COMMENT:
            raise InvalidArgument.single("comment", f"must be at most {MAX_COMMENT} characters")
        async with self.unit_of_work(tenant_id) as uow:
            suggestion = await uow.suggestions.get(suggestion_id, for_update=True)
            if suggestion is None:
                raise NotFound("suggestion", f"suggestions/{suggestion_id}")
            suggestion.reject(actor, comment, self._clock.now())
            await uow.suggestions.save(suggestion)
            uow.record(suggestion_event(suggestion, self._clock.now()))
            await self._remember(uow, key, suggestion.name)
            await uow.commit()
        return suggestion

    # --- policy -------------------------------------------------------------------------

    async def update_policy(
        self, tenant_id: str, changes: dict[str, Any], *, etag: str, actor: str
    ) -> Policy:
        async with self.unit_of_work(tenant_id) as uow:
            current = await uow.policies.current()
            check_etag(etag, current.etag)
            policy = current.next_version(actor, self._clock.now(), **changes)
            policy.validate()
            await uow.policies.add(policy)
            await uow.commit()
        log.info(
            "policy_changed",
            tenant=tenant_id,
            version=policy.version,
            actor=actor,
            fields=sorted(changes),
        )
        return policy

    # --- agents -------------------------------------------------------------------------

    async def list_agents(self, tenant_id: str, **filters: Any) -> list[Agent]:
        async with self.unit_of_work(tenant_id) as uow:
            return await uow.agents.list(**filters)

    async def get_agent(self, tenant_id: str, agent_id: str) -> Agent:
        async with self.unit_of_work(tenant_id) as uow:
            found = await uow.agents.get(agent_id)
        if found is None:
            raise NotFound("agent", f"agents/{agent_id}")
        return found

    async def update_agent(
        self, tenant_id: str, agent_id: str, changes: dict[str, Any], *, allow_missing: bool
    ) -> Agent:
        problems = Violations()
        if "skills" in changes:
            check_skills(problems, "agent.skills", tuple(changes["skills"]))
        if not 0 <= changes.get("capacity", 0) <= 10_000:
            problems.add("agent.capacity", "must be between 0 (the default) and 10000")
        if len(changes.get("display_name", "")) > 255:
            problems.add("agent.display_name", "must be at most 255 characters")
        problems.raise_if_any()
        now = self._clock.now()
        async with self.unit_of_work(tenant_id) as uow:
            agent = await uow.agents.get(agent_id)
            if agent is None:
                if not allow_missing:
                    raise NotFound("agent", f"agents/{agent_id}")
                agent = Agent(agent_id, "", "", Availability.OFFLINE, now)
                agent = agent.with_changes(**changes, update_time=now)
                await uow.agents.add(agent)
                uow.record(availability_event(None, agent, now))
            else:
                agent = agent.with_changes(**changes, update_time=now)
                await uow.agents.save(agent)
            await uow.commit()
        await self.assign_queued(tenant_id)
        return await self.get_agent(tenant_id, agent_id)

    async def set_availability(
        self, tenant_id: str, agent_id: str, availability: Availability
    ) -> Agent:
        async with self.unit_of_work(tenant_id) as uow:
            agent = await uow.agents.get(agent_id)
            if agent is None:
                raise NotFound("agent", f"agents/{agent_id}")
            changed = agent.with_changes(availability=availability, update_time=self._clock.now())
            await uow.agents.save(changed)
            uow.record(availability_event(agent, changed, changed.update_time))
            await uow.commit()
        if availability is Availability.ONLINE:
            await self.assign_queued(tenant_id)
        return await self.get_agent(tenant_id, agent_id)

    # --- tickets ------------------------------------------------------------------------

    async def ensure_ticket(self, tenant_id: str, ticket_id: str) -> None:
        """Make sure the view knows the ticket, asking the ticket service when it does not
        (yet): NOT_FOUND for a ticket the tenant does not have."""
        async with self.unit_of_work(tenant_id) as uow:
            if await uow.tickets.get(ticket_id) is not None:
                return
        try:
            record = await self._tickets.get_ticket(tenant_id, ticket_id)
        except TicketRefused as refused:
            if refused.not_found:
                raise NotFound("ticket", f"tickets/{ticket_id}") from None
            raise FailedPrecondition(str(refused), reason="TICKET_REFUSED") from None
        async with self.unit_of_work(tenant_id) as uow:
            view = TicketView.from_ticket(record, self._clock.now())
            if await uow.tickets.add(view) and view.active:
                await uow.agents.add_workload(view.assignee_id, +1)
            await uow.commit()

    async def _view(self, uow: UnitOfWork, ticket_id: str) -> TicketView:
        view = await uow.tickets.get(ticket_id, for_update=True)
        if view is None:
            raise NotFound("ticket", f"tickets/{ticket_id}")
        return view


def _check_answer(answer: AiAnswer) -> None:
    problems = Violations()
    if answer.confidence is not None and not 0.0 <= answer.confidence <= 1.0:
        problems.add("confidence", "must be between 0 and 1")
    if answer.sentiment is not None and not -1.0 <= answer.sentiment <= 1.0:
        problems.add("sentiment", "must be between -1 and 1")
    if len(answer.text) > MAX_TEXT:
        problems.add("text", f"must be at most {MAX_TEXT} characters")
    if (
        answer.confidence is None
        and answer.sentiment is None
        and not answer.text
        and answer.reason is None
    ):
        problems.add("confidence", "give at least one of confidence, sentiment, reason or text")
    problems.raise_if_any()
