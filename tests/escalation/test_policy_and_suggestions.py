"""The tenant's policy at runtime: versions, etags, validation, suggest-only mode, and AI
answers with their confidence."""

from __future__ import annotations

import asyncio

import grpc
from google.protobuf import field_mask_pb2

from tests.conftest import ACME, GLOBEX
from tests.e2e.conftest import expect_error
from tests.escalation.conftest import Desk
from tests.support import eventually
from ticketing.escalation.v1 import (
    escalation_pb2,
    escalation_service_pb2,
    policy_pb2,
)

E = escalation_pb2
Req = escalation_service_pb2


def mask(*paths: str) -> field_mask_pb2.FieldMask:
    return field_mask_pb2.FieldMask(paths=list(paths))


async def suggest_only(desk: Desk) -> policy_pb2.EscalationPolicy:
    return await desk.escalations.UpdateEscalationPolicy(
        Req.UpdateEscalationPolicyRequest(
            policy=policy_pb2.EscalationPolicy(mode=policy_pb2.ESCALATION_MODE_SUGGEST_ONLY),
            update_mask=mask("mode"),
        ),
        metadata=ACME,
    )


async def test_policy_changes_are_versioned_and_checked(desk: Desk) -> None:
    first = await desk.escalations.GetEscalationPolicy(
        Req.GetEscalationPolicyRequest(name="escalationPolicy"), metadata=ACME
    )
    assert first.version == 1
    assert first.confidence_threshold == 0.7
    assert first.mode == policy_pb2.ESCALATION_MODE_AUTO

    changed = await desk.escalations.UpdateEscalationPolicy(
        Req.UpdateEscalationPolicyRequest(
            policy=policy_pb2.EscalationPolicy(confidence_threshold=0.5, etag=first.etag),
            update_mask=mask("confidence_threshold"),
        ),
        metadata=ACME,
    )
    assert changed.version == 2
    assert changed.confidence_threshold == 0.5
    assert changed.update_actor == "tester"
    # Another tenant's policy is its own.
    other = await desk.escalations.GetEscalationPolicy(
        Req.GetEscalationPolicyRequest(name="escalationPolicy"), metadata=GLOBEX
    )
    assert other.version == 1

    await expect_error(
        desk.escalations.UpdateEscalationPolicy(
            Req.UpdateEscalationPolicyRequest(
                policy=policy_pb2.EscalationPolicy(confidence_threshold=0.6, etag=first.etag),
                update_mask=mask("confidence_threshold"),
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.ABORTED,
    )
    error = await expect_error(
        desk.escalations.UpdateEscalationPolicy(
            Req.UpdateEscalationPolicyRequest(
                policy=policy_pb2.EscalationPolicy(
                    confidence_threshold=1.5, languages=["xx"], sentiment_threshold=-2
                ),
                update_mask=mask("confidence_threshold", "languages", "sentiment_threshold"),
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert set(error.violations) == {
        "confidence_threshold",
        "languages[0]",
        "sentiment_threshold",
    }
    await expect_error(
        desk.escalations.UpdateEscalationPolicy(
            Req.UpdateEscalationPolicyRequest(policy=policy_pb2.EscalationPolicy()),
            metadata=ACME,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )


async def test_low_confidence_in_auto_mode_escalates(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    ticket = await desk.open_ticket(601)

    answer = await desk.escalations.EvaluateEscalation(
        Req.EvaluateEscalationRequest(ticket=ticket, confidence=0.4), metadata=ACME
    )

    assert answer.escalate
    assert answer.explanation.rule == "confidence_below_threshold"
    assert answer.escalation
    assert not answer.suggestion
    escalation = await desk.escalations.GetEscalation(
        Req.GetEscalationRequest(name=answer.escalation), metadata=ACME
    )
    assert escalation.trigger == E.ESCALATION_TRIGGER_AI
    assert escalation.reason == E.ESCALATION_REASON_LOW_CONFIDENCE
    assert escalation.assignee_id == "7"


async def test_a_confident_answer_escalates_nothing(desk: Desk) -> None:
    ticket = await desk.open_ticket(602)

    answer = await desk.escalations.EvaluateEscalation(
        Req.EvaluateEscalationRequest(ticket=ticket, confidence=0.9), metadata=ACME
    )

    assert not answer.escalate
    assert answer.explanation.rule == ""
    [signal] = answer.explanation.signals
    assert signal.kind == E.SIGNAL_KIND_AI_CONFIDENCE
    assert not signal.fired
    assert await desk.escalations_of(ticket) == []


async def test_suggest_only_mode_records_a_suggestion_that_a_person_accepts(desk: Desk) -> None:
    await desk.agent("7", "Grace Hopper")
    policy = await suggest_only(desk)
    ticket = await desk.open_ticket(603)

    answer = await desk.escalations.EvaluateEscalation(
        Req.EvaluateEscalationRequest(ticket=ticket, confidence=0.3), metadata=ACME
    )

    assert answer.escalate
    assert answer.suggestion
    assert not answer.escalation
    assert await desk.escalations_of(ticket) == []
    suggestion = await desk.escalations.GetSuggestion(
        Req.GetSuggestionRequest(name=answer.suggestion), metadata=ACME
    )
    assert suggestion.state == E.SUGGESTION_STATE_PENDING
    assert suggestion.explanation.policy_version == policy.version

    accepted = await desk.escalations.AcceptSuggestion(
        Req.AcceptSuggestionRequest(name=answer.suggestion, comment="agreed"), metadata=ACME
    )

    assert accepted.state == E.SUGGESTION_STATE_ACCEPTED
    assert accepted.decided_by == "tester"
    [escalation] = await desk.escalations_of(ticket)
    assert escalation.name == accepted.escalation
    assert escalation.suggestion == accepted.name
    assert escalation.assignee_id == "7"
    await expect_error(
        desk.escalations.RejectSuggestion(
            Req.RejectSuggestionRequest(name=answer.suggestion), metadata=ACME
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )


async def test_a_rejected_suggestion_is_kept_for_tuning(desk: Desk) -> None:
    await suggest_only(desk)
    ticket = await desk.customer_writes(604, "This is the worst, most useless service ever!!")

    async def pending() -> escalation_pb2.Suggestion | None:
        listed = await desk.escalations.ListSuggestions(
            Req.ListSuggestionsRequest(ticket=ticket), metadata=ACME
        )
        found: list[escalation_pb2.Suggestion] = list(listed.suggestions)
        return found[0] if found else None

    suggestion = await eventually(pending)
    assert suggestion.trigger == E.ESCALATION_TRIGGER_CUSTOMER_MESSAGE
    assert suggestion.explanation.rule == "sentiment_below_threshold"

    rejected = await desk.escalations.RejectSuggestion(
        Req.RejectSuggestionRequest(name=suggestion.name, comment="just venting"), metadata=ACME
    )

    assert rejected.state == E.SUGGESTION_STATE_REJECTED
    assert rejected.decision_comment == "just venting"
    listed = await desk.escalations.ListSuggestions(
        Req.ListSuggestionsRequest(state=E.SUGGESTION_STATE_REJECTED), metadata=ACME
    )
    assert [s.name for s in listed.suggestions] == [suggestion.name]
    assert await desk.escalations_of(ticket) == []


async def test_a_request_id_makes_a_manual_escalation_happen_once(desk: Desk) -> None:
    ticket = await desk.open_ticket(605)
    request = Req.EscalateTicketRequest(
        ticket=ticket, request_id="5b0f1a64-3c1e-4c53-9d6f-0a4c2b1e7f00"
    )

    first = await desk.escalations.EscalateTicket(request, metadata=ACME)
    again = await desk.escalations.EscalateTicket(request, metadata=ACME)

    assert again.name == first.name
    assert again.level == 1
    assert len(await desk.escalations_of(ticket)) == 1


async def test_two_racing_calls_with_one_request_id_escalate_once(desk: Desk) -> None:
    ticket = await desk.open_ticket(606)
    request = Req.EscalateTicketRequest(
        ticket=ticket, request_id="0c4e2f9a-7d51-4b8e-a0d3-6e1f5c2b9a47"
    )

    results = await asyncio.gather(
        *(desk.escalations.EscalateTicket(request, metadata=ACME) for _ in range(2)),
        return_exceptions=True,
    )

    # The loser, if the two overlapped, is told to repeat the call; repeating it reads the
    # winner's escalation. Never a second escalation, never level 2.
    for result in results:
        if isinstance(result, grpc.aio.AioRpcError):
            assert result.code() == grpc.StatusCode.ABORTED
    [escalation] = await desk.escalations_of(ticket)
    assert escalation.level == 1
    again = await desk.escalations.EscalateTicket(request, metadata=ACME)
    assert again.name == escalation.name
