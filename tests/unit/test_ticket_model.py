"""The ticket aggregate: its life cycle, its validation and the changes it reports."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from common.errors import FailedPrecondition, InvalidArgument
from ticket_service.domain.model import (
    Change,
    ConversationLink,
    EventType,
    InvalidTransition,
    Priority,
    Status,
    Ticket,
    TicketDeleted,
)
from ticket_service.domain.numbering import TicketNumber

NOW = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)
LATER = NOW + timedelta(minutes=5)
MUCH_LATER = NOW + timedelta(hours=2)

OPEN = Status.OPEN
IN_PROGRESS = Status.IN_PROGRESS
WAITING = Status.WAITING_ON_CUSTOMER
RESOLVED = Status.RESOLVED
CLOSED = Status.CLOSED

# Written out from the table in protos/ticketing/ticket/v1/enums.proto, deliberately not
# derived from ALLOWED_TRANSITIONS, so that a wrong table in the model is caught.
ALLOWED = {
    (OPEN, IN_PROGRESS),
    (OPEN, WAITING),
    (OPEN, RESOLVED),
    (OPEN, CLOSED),
    (IN_PROGRESS, OPEN),
    (IN_PROGRESS, WAITING),
    (IN_PROGRESS, RESOLVED),
    (IN_PROGRESS, CLOSED),
    (WAITING, OPEN),
    (WAITING, IN_PROGRESS),
    (WAITING, RESOLVED),
    (WAITING, CLOSED),
    (RESOLVED, OPEN),
    (RESOLVED, CLOSED),
}
FORBIDDEN = {
    (RESOLVED, IN_PROGRESS),
    (RESOLVED, WAITING),
    (CLOSED, OPEN),
    (CLOSED, IN_PROGRESS),
    (CLOSED, WAITING),
    (CLOSED, RESOLVED),
}
ALL_STATUSES = [OPEN, IN_PROGRESS, WAITING, RESOLVED, CLOSED]


def _pair_id(pair: tuple[Status, Status]) -> str:
    return f"{pair[0].name}->{pair[1].name}"


def new_ticket(**fields: Any) -> Ticket:
    ticket, _ = Ticket.open(
        id="7f8d3c1e-0000-4000-8000-000000000001",
        number=TicketNumber(2026, 1),
        subject="Printer on fire",
        customer_id="0b7c2f4e-0000-4000-8000-000000000002",
        now=NOW,
    )
    return replace(ticket, **fields)


def ticket_in(status: Status) -> Ticket:
    """A ticket that is in `status`, with the timestamps a ticket there has."""
    return new_ticket(
        status=status,
        resolve_time=NOW if status in (RESOLVED, CLOSED) else None,
        close_time=NOW if status is CLOSED else None,
    )


def test_the_matrix_covers_every_pair_of_distinct_statuses() -> None:
    assert set(Status) == set(ALL_STATUSES)
    every_pair = {(a, b) for a in ALL_STATUSES for b in ALL_STATUSES if a != b}
    assert every_pair == ALLOWED | FORBIDDEN
    assert not ALLOWED & FORBIDDEN


@pytest.mark.parametrize("pair", sorted(ALLOWED), ids=_pair_id)
def test_allowed_transition_moves_the_ticket_and_reports_a_status_change(
    pair: tuple[Status, Status],
) -> None:
    source, target = pair
    ticket = ticket_in(source)

    change = ticket.change_status(target, LATER)

    assert change is not None
    assert change.type is EventType.STATUS_CHANGED
    assert change.before["status"] == source.value
    assert change.after["status"] == target.value
    assert ticket.status is target
    assert ticket.version == 2
    assert ticket.update_time == LATER


@pytest.mark.parametrize("pair", sorted(FORBIDDEN), ids=_pair_id)
def test_forbidden_transition_is_refused_and_changes_nothing(
    pair: tuple[Status, Status],
) -> None:
    source, target = pair
    ticket = ticket_in(source)
    before = ticket.as_record()

    with pytest.raises(InvalidTransition) as raised:
        ticket.change_status(target, LATER)

    assert isinstance(raised.value, FailedPrecondition)
    assert raised.value.reason == "INVALID_STATUS_TRANSITION"
    assert raised.value.metadata == {"current": source.name, "requested": target.name}
    assert ticket.as_record() == before


@pytest.mark.parametrize("status", ALL_STATUSES, ids=lambda s: s.name)
def test_changing_to_the_current_status_is_a_no_op(status: Status) -> None:
    ticket = ticket_in(status)
    before = ticket.as_record()

    assert ticket.change_status(status, LATER) is None

    assert ticket.version == 1
    assert ticket.update_time == NOW
    assert ticket.as_record() == before


def test_closed_ticket_cannot_go_back_to_in_progress() -> None:
    ticket = ticket_in(CLOSED)

    with pytest.raises(InvalidTransition):
        ticket.change_status(IN_PROGRESS, LATER)

    assert ticket.status is CLOSED


def test_resolving_sets_the_resolve_time() -> None:
    ticket = ticket_in(IN_PROGRESS)

    ticket.change_status(RESOLVED, LATER)

    assert ticket.resolve_time == LATER
    assert ticket.close_time is None


def test_closing_a_resolved_ticket_sets_close_time_and_keeps_resolve_time() -> None:
    ticket = new_ticket()
    ticket.change_status(RESOLVED, LATER)

    ticket.change_status(CLOSED, MUCH_LATER)

    assert ticket.resolve_time == LATER
    assert ticket.close_time == MUCH_LATER


def test_closing_an_unresolved_ticket_leaves_resolve_time_unset() -> None:
    ticket = ticket_in(WAITING)

    ticket.change_status(CLOSED, LATER)

    assert ticket.close_time == LATER
    assert ticket.resolve_time is None


def test_moving_a_resolved_ticket_back_to_open_clears_the_resolve_time() -> None:
    ticket = new_ticket()
    ticket.change_status(RESOLVED, LATER)

    ticket.change_status(OPEN, MUCH_LATER)

    assert ticket.resolve_time is None
    assert ticket.close_time is None


def test_reopening_a_resolved_ticket_makes_it_open_and_clears_resolve_time() -> None:
    ticket = ticket_in(RESOLVED)

    change = ticket.reopen(LATER)

    assert change is not None
    assert change.type is EventType.STATUS_CHANGED
    assert ticket.status is OPEN
    assert ticket.resolve_time is None
    assert ticket.version == 2


def test_reopening_an_open_ticket_is_a_no_op() -> None:
    ticket = ticket_in(OPEN)

    assert ticket.reopen(LATER) is None
    assert ticket.version == 1


@pytest.mark.parametrize("status", [IN_PROGRESS, WAITING, CLOSED], ids=lambda s: s.name)
def test_only_resolved_tickets_can_be_reopened(status: Status) -> None:
    ticket = ticket_in(status)

    with pytest.raises(InvalidTransition) as raised:
        ticket.reopen(LATER)

    assert raised.value.metadata == {"current": status.name, "requested": "OPEN"}
    assert ticket.status is status
    assert ticket.version == 1


Mutation = Callable[[Ticket], Change | None]

MUTATIONS_OF_A_DELETED_TICKET: dict[str, Mutation] = {
    "edit subject": lambda t: t.edit(LATER, subject="Something else"),
    "edit labels": lambda t: t.edit(LATER, labels=["urgent"]),
    "change status": lambda t: t.change_status(IN_PROGRESS, LATER),
    "change to same status": lambda t: t.change_status(OPEN, LATER),
    "reopen": lambda t: t.reopen(LATER),
    "assign": lambda t: t.assign("agent-7", LATER),
    "set priority": lambda t: t.set_priority(Priority.URGENT, LATER),
    "delete again": lambda t: t.delete(LATER),
}


@pytest.mark.parametrize(
    "mutate", MUTATIONS_OF_A_DELETED_TICKET.values(), ids=MUTATIONS_OF_A_DELETED_TICKET.keys()
)
def test_deleted_ticket_refuses_every_change(mutate: Mutation) -> None:
    ticket = new_ticket()
    ticket.delete(LATER)
    before = ticket.as_record()

    with pytest.raises(TicketDeleted) as raised:
        mutate(ticket)

    assert raised.value.reason == "TICKET_DELETED"
    assert ticket.as_record() == before


def test_deleted_resolved_ticket_cannot_be_reopened() -> None:
    ticket = ticket_in(RESOLVED)
    ticket.delete(LATER)

    with pytest.raises(TicketDeleted):
        ticket.reopen(MUCH_LATER)

    assert ticket.status is RESOLVED


def test_deleting_records_the_delete_time() -> None:
    ticket = new_ticket()

    change = ticket.delete(LATER)

    assert ticket.delete_time == LATER
    assert change.type is EventType.TICKET_DELETED
    assert change.before == {"delete_time": None}
    assert change.after == {"delete_time": LATER.isoformat()}
    assert ticket.version == 2


def test_opening_a_ticket_makes_it_open_at_version_one_with_a_created_event() -> None:
    ticket, change = Ticket.open(
        id="7f8d3c1e-0000-4000-8000-000000000001",
        number=TicketNumber(2026, 42),
        subject="  Printer on fire  ",
        customer_id="0b7c2f4e-0000-4000-8000-000000000002",
        labels=("hardware", " fire", "hardware"),
        now=NOW,
    )

    assert ticket.status is OPEN
    assert ticket.priority is Priority.MEDIUM
    assert ticket.subject == "Printer on fire"
    assert ticket.labels == ("fire", "hardware")
    assert ticket.version == 1
    assert ticket.create_time == ticket.update_time == NOW
    assert ticket.name == "tickets/tkt-2026-00042"
    assert change.type is EventType.TICKET_CREATED
    assert change.before == {}
    assert change.after == ticket.as_record()


def test_opening_a_ticket_reports_every_bad_field_at_once() -> None:
    with pytest.raises(InvalidArgument) as raised:
        Ticket.open(
            id="7f8d3c1e-0000-4000-8000-000000000001",
            number=TicketNumber(2026, 1),
            subject="",
            description="x" * 65_537,
            customer_id="0b7c2f4e-0000-4000-8000-000000000002",
            labels=tuple(f"label-{i}" for i in range(51)),
            now=NOW,
        )

    assert [v.field for v in raised.value.violations] == ["subject", "description", "labels"]


@pytest.mark.parametrize(
    "subject",
    ["", "   ", "x" * 301, "x" * 2 * 1024 * 1024],
    ids=["empty", "blank", "301 chars", "2 MB"],
)
def test_edit_rejects_a_bad_subject_and_names_the_field(subject: str) -> None:
    ticket = new_ticket()

    with pytest.raises(InvalidArgument) as raised:
        ticket.edit(LATER, subject=subject)

    assert [v.field for v in raised.value.violations] == ["subject"]
    assert len(raised.value.message) < 200, "the error must not echo the subject back"
    assert ticket.subject == "Printer on fire"
    assert ticket.version == 1


def test_edit_accepts_a_subject_of_exactly_300_characters() -> None:
    ticket = new_ticket()

    ticket.edit(LATER, subject="x" * 300)

    assert ticket.subject == "x" * 300


def test_edit_trims_the_subject() -> None:
    ticket = new_ticket()

    ticket.edit(LATER, subject="  Printer still on fire \n")

    assert ticket.subject == "Printer still on fire"


def test_edit_trims_dedupes_and_sorts_labels() -> None:
    ticket = new_ticket()

    ticket.edit(LATER, labels=[" printer", "fire ", "printer", "Fire", "fire"])

    assert ticket.labels == ("Fire", "fire", "printer")


def test_edit_accepts_fifty_labels() -> None:
    ticket = new_ticket()

    ticket.edit(LATER, labels=[f"label-{i:02d}" for i in range(50)])

    assert len(ticket.labels) == 50


def test_edit_rejects_more_than_fifty_labels() -> None:
    ticket = new_ticket()

    with pytest.raises(InvalidArgument) as raised:
        ticket.edit(LATER, labels=[f"label-{i:02d}" for i in range(51)])

    assert [v.field for v in raised.value.violations] == ["labels"]
    assert ticket.labels == ()


def test_duplicate_labels_count_once_towards_the_limit() -> None:
    ticket = new_ticket()

    ticket.edit(LATER, labels=[f"label-{i:02d}" for i in range(50)] + ["label-00 "])

    assert len(ticket.labels) == 50


@pytest.mark.parametrize(
    "labels", [[""], ["ok", "   "], ["x" * 256]], ids=["empty", "blank", "long"]
)
def test_edit_rejects_empty_and_overlong_labels(labels: list[str]) -> None:
    ticket = new_ticket()

    with pytest.raises(InvalidArgument) as raised:
        ticket.edit(LATER, labels=labels)

    assert [v.field for v in raised.value.violations] == ["labels"]


def test_a_rejected_edit_applies_none_of_its_fields() -> None:
    ticket = new_ticket()

    with pytest.raises(InvalidArgument):
        ticket.edit(LATER, subject="A perfectly good subject", labels=[""])

    assert ticket.subject == "Printer on fire"
    assert ticket.version == 1


def test_edit_that_changes_nothing_returns_none_and_keeps_the_version() -> None:
    ticket = new_ticket(labels=("a", "b"))

    change = ticket.edit(LATER, subject=" Printer on fire ", description="", labels=["b", "a"])

    assert change is None
    assert ticket.version == 1
    assert ticket.update_time == NOW


def test_edit_change_holds_exactly_the_fields_that_changed() -> None:
    ticket = new_ticket(description="It is smoking")

    change = ticket.edit(LATER, subject="Printer on fire", description="Flames now", labels=["x"])

    assert change is not None
    assert change.type is EventType.TICKET_UPDATED
    assert change.before == {"description": "It is smoking", "labels": []}
    assert change.after == {"description": "Flames now", "labels": ["x"]}


def test_assign_change_holds_the_old_and_new_assignee() -> None:
    ticket = new_ticket(assignee_id="agent-1")

    change = ticket.assign("  agent-2 ", LATER)

    assert change is not None
    assert change.type is EventType.ASSIGNEE_CHANGED
    assert change.before == {"assignee_id": "agent-1"}
    assert change.after == {"assignee_id": "agent-2"}


def test_unassigning_sets_an_empty_assignee() -> None:
    ticket = new_ticket(assignee_id="agent-1")

    ticket.assign("", LATER)

    assert ticket.assignee_id == ""


def test_assign_rejects_an_overlong_assignee_id() -> None:
    ticket = new_ticket()

    with pytest.raises(InvalidArgument) as raised:
        ticket.assign("a" * 256, LATER)

    assert [v.field for v in raised.value.violations] == ["assignee_id"]


def test_priority_change_holds_the_old_and_new_priority() -> None:
    ticket = new_ticket()

    change = ticket.set_priority(Priority.URGENT, LATER)

    assert change is not None
    assert change.type is EventType.PRIORITY_CHANGED
    assert change.before == {"priority": "medium"}
    assert change.after == {"priority": "urgent"}


# What each kind of status change changes, and so what its Change must hold.
STATUS_CHANGES = {
    "working to working": (
        IN_PROGRESS,
        WAITING,
        {"status": "in_progress"},
        {"status": "waiting_on_customer"},
    ),
    "working to resolved": (
        IN_PROGRESS,
        RESOLVED,
        {"status": "in_progress", "resolve_time": None},
        {"status": "resolved", "resolve_time": LATER.isoformat()},
    ),
    "resolved to closed": (
        RESOLVED,
        CLOSED,
        {"status": "resolved", "close_time": None},
        {"status": "closed", "close_time": LATER.isoformat()},
    ),
    "resolved to open": (
        RESOLVED,
        OPEN,
        {"status": "resolved", "resolve_time": NOW.isoformat()},
        {"status": "open", "resolve_time": None},
    ),
}


@pytest.mark.parametrize(
    ("source", "target", "before", "after"), STATUS_CHANGES.values(), ids=STATUS_CHANGES.keys()
)
def test_status_change_holds_exactly_the_fields_that_changed(
    source: Status, target: Status, before: dict[str, Any], after: dict[str, Any]
) -> None:
    ticket = ticket_in(source)

    change = ticket.change_status(target, LATER)

    assert change is not None
    assert change.before == before
    assert change.after == after


def test_version_goes_up_by_one_per_real_change_and_not_for_no_ops() -> None:
    ticket = new_ticket()
    steps: list[tuple[Mutation, int]] = [
        (lambda t: t.edit(LATER, subject="New subject"), 2),
        (lambda t: t.edit(LATER, subject="New subject"), 2),
        (lambda t: t.assign("agent-1", LATER), 3),
        (lambda t: t.assign("agent-1", LATER), 3),
        (lambda t: t.set_priority(Priority.HIGH, LATER), 4),
        (lambda t: t.set_priority(Priority.HIGH, LATER), 4),
        (lambda t: t.change_status(IN_PROGRESS, LATER), 5),
        (lambda t: t.change_status(IN_PROGRESS, LATER), 5),
        (lambda t: t.change_status(RESOLVED, LATER), 6),
        (lambda t: t.reopen(LATER), 7),
        (lambda t: t.reopen(LATER), 7),
        (lambda t: t.delete(LATER), 8),
    ]

    versions = []
    for mutate, _ in steps:
        mutate(ticket)
        versions.append(ticket.version)

    assert versions == [expected for _, expected in steps]


def test_a_fully_populated_ticket_survives_a_record_round_trip() -> None:
    ticket = new_ticket(
        number=TicketNumber(2026, 100_000),
        description="Line one\nline two",
        status=CLOSED,
        priority=Priority.URGENT,
        assignee_id="agent-7",
        conversation=ConversationLink(account_id=3, conversation_id=1234, inbox_id=9),
        labels=("fire", "hardware"),
        version=7,
        update_time=MUCH_LATER,
        resolve_time=LATER,
        close_time=MUCH_LATER,
        delete_time=MUCH_LATER,
    )

    record = json.loads(json.dumps(ticket.as_record()))

    assert Ticket.from_record(record) == ticket


def test_a_new_ticket_survives_a_record_round_trip() -> None:
    ticket = new_ticket()

    assert Ticket.from_record(ticket.as_record()) == ticket


def test_record_uses_the_proto_shapes_of_name_number_and_customer() -> None:
    record = new_ticket().as_record()

    assert record["name"] == "tickets/tkt-2026-00001"
    assert record["number"] == "TKT-2026-00001"
    assert record["customer"] == "customers/0b7c2f4e-0000-4000-8000-000000000002"
    assert record["conversation"] is None
    assert record["create_time"] == NOW.isoformat()
