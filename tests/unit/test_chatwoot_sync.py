"""What a ticket change owes Chatwoot, and the life of an outbox task."""

from __future__ import annotations

from datetime import timedelta

import pytest

from common.errors import FailedPrecondition
from tests.conftest import START
from ticket_service.domain.chatwoot_sync import (
    RetryPolicy,
    SyncCommand,
    SyncKind,
    SyncState,
    SyncTask,
    commands_for,
)
from ticket_service.domain.model import Change, EventType


def _change(kind: EventType, before: dict[str, object], after: dict[str, object]) -> Change:
    return Change(kind, before, after)


@pytest.mark.parametrize(
    ("before", "after", "sent"),
    [
        ("open", "resolved", "resolved"),
        ("resolved", "open", "open"),
        ("in_progress", "waiting_on_customer", "pending"),
        ("resolved", "closed", None),  # both `resolved` in Chatwoot
        ("open", "in_progress", None),  # both `open`
    ],
)
def test_a_status_change_sends_the_status_chatwoot_shows(
    before: str, after: str, sent: str | None
) -> None:
    commands = commands_for(
        _change(EventType.STATUS_CHANGED, {"status": before}, {"status": after})
    )

    expected = [] if sent is None else [SyncCommand(SyncKind.STATUS, {"status": sent})]
    assert commands == expected


def test_priority_and_assignee_changes_send_their_values() -> None:
    assert commands_for(
        _change(EventType.PRIORITY_CHANGED, {"priority": "low"}, {"priority": "urgent"})
    ) == [SyncCommand(SyncKind.PRIORITY, {"priority": "urgent"})]
    assert commands_for(
        _change(EventType.ASSIGNEE_CHANGED, {"assignee_id": ""}, {"assignee_id": "12"})
    ) == [SyncCommand(SyncKind.ASSIGNEE, {"assignee_id": 12})]
    assert commands_for(
        _change(EventType.ASSIGNEE_CHANGED, {"assignee_id": "12"}, {"assignee_id": ""})
    ) == [SyncCommand(SyncKind.ASSIGNEE, {"assignee_id": None})]


def test_an_assignee_who_is_not_a_chatwoot_agent_is_not_sent() -> None:
    change = _change(EventType.ASSIGNEE_CHANGED, {"assignee_id": ""}, {"assignee_id": "ops-team"})

    assert commands_for(change) == []


def test_labels_are_sent_as_lower_case_additions_and_removals() -> None:
    change = _change(
        EventType.TICKET_UPDATED, {"labels": ["Billing", "old"]}, {"labels": ["billing", "VIP"]}
    )

    assert commands_for(change) == [
        SyncCommand(SyncKind.LABELS, {"add": ["vip"], "remove": ["old"]})
    ]
    subject_only = _change(EventType.TICKET_UPDATED, {"subject": "a"}, {"subject": "b"})
    assert commands_for(subject_only) == []


def test_a_note_is_a_private_note_marked_with_its_id() -> None:
    change = _change(EventType.NOTE_ADDED, {}, {"note_id": "n-1", "body": "Call back at 5"})

    assert commands_for(change) == [
        SyncCommand(
            SyncKind.PRIVATE_NOTE, {"content": "Call back at 5", "ticketing_ref": "note:n-1"}
        )
    ]


def test_backoff_doubles_with_jitter_up_to_the_maximum() -> None:
    policy = RetryPolicy(initial=timedelta(seconds=1), maximum=timedelta(seconds=8))

    for attempts, step in [(1, 1), (2, 2), (3, 4), (4, 8), (10, 8)]:
        delays = {policy.delay(attempts) for _ in range(50)}
        assert all(timedelta(seconds=step / 2) <= d <= timedelta(seconds=step) for d in delays)
        assert len(delays) > 1, "jitter spreads retries out"
    assert policy.delay(1, at_least=timedelta(seconds=30)) == timedelta(seconds=30)


def test_retries_give_up_after_the_configured_age() -> None:
    policy = RetryPolicy(give_up_after=timedelta(hours=1))

    assert not policy.gives_up(START, START + timedelta(minutes=59))
    assert policy.gives_up(START, START + timedelta(hours=1))


def _task(state: SyncState, kind: SyncKind = SyncKind.STATUS) -> SyncTask:
    return SyncTask(
        id=7,
        tenant_id="acme",
        integration="acme-chatwoot",
        account_id=3,
        conversation_id=42,
        ticket_id="t-1",
        ticket_number="TKT-2026-00001",
        kind=kind,
        payload={"status": "resolved"},
        state=state,
        attempts=3,
        last_error="422",
        create_time=START,
        next_attempt_time=START,
    )


def test_only_a_dead_letter_is_retried_and_it_starts_afresh() -> None:
    task = _task(SyncState.DEAD)

    task.retry(START + timedelta(hours=1))

    assert (task.state, task.attempts) == (SyncState.PENDING, 0)
    assert task.next_attempt_time == START + timedelta(hours=1)
    with pytest.raises(FailedPrecondition):
        _task(SyncState.DELIVERED).retry(START)


def test_a_failure_without_a_retry_time_is_a_dead_letter() -> None:
    retried, dead = _task(SyncState.PENDING), _task(SyncState.PENDING)

    retried.failed("503", retry_at=START + timedelta(seconds=5))
    dead.failed("422 Unprocessable", retry_at=None)

    assert (retried.state, retried.next_attempt_time) == (
        SyncState.PENDING,
        START + timedelta(seconds=5),
    )
    assert (dead.state, dead.last_error) == (SyncState.DEAD, "422 Unprocessable")


def test_state_tasks_expect_their_echo_and_notes_do_not() -> None:
    assert _task(SyncState.PENDING).echoes() == [("status", "resolved")]
    assert _task(SyncState.PENDING, SyncKind.PRIVATE_NOTE).echoes() == []
    assert SyncKind.STATUS.is_state
    assert not SyncKind.PRIVATE_NOTE.is_state
