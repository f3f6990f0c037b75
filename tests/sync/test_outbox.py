"""Ticket changes reach Chatwoot through the outbox: in order, retried, dead-lettered.

The Chatwoot here is the simulator, a real HTTP server in its own process; what it
recorded (its state and the calls it received) is what these tests check.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import timestamp_pb2

from tests.conftest import ACME, ACME_GATEWAY_TOKEN, GLOBEX, bearer
from tests.e2e.conftest import expect_error
from tests.e2e.test_chatwoot_intake import state
from tests.support import eventually
from tests.sync.conftest import ACCOUNT_ID, Desk, State
from ticketing.ticket.v1 import (
    chatwoot_pb2,
    chatwoot_sync_pb2,
    customer_pb2,
    enums_pb2,
    ticket_pb2,
    ticket_service_pb2,
)

Kind = chatwoot_sync_pb2.ChatwootSyncKind
P = enums_pb2.TicketPriority
S = enums_pb2.TicketStatus


def _calls(desk: Desk, suffix: str) -> list[object]:
    """The JSON bodies of the calls to `.../conversations/{id}/{suffix}`, in order."""
    return [
        call.json
        for call in desk.sim.control.calls()
        if call.method == "POST" and call.path.endswith(suffix)
    ]


async def test_a_status_change_reaches_the_conversation(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)

    await desk.stub.ResolveTicket(
        ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )

    [task] = await desk.settled(ticket.name)
    assert task.kind == Kind.CHATWOOT_SYNC_KIND_STATUS
    assert task.state == State.CHATWOOT_SYNC_STATE_DELIVERED
    assert dict(task.payload) == {"status": "resolved"}
    assert task.attempts == 1
    assert task.HasField("deliver_time")
    assert desk.sim.control.state().conversation(conversation, ACCOUNT_ID)["status"] == "resolved"
    assert _calls(desk, f"/conversations/{conversation}/toggle_status") == [{"status": "resolved"}]


async def test_a_status_chatwoot_shows_the_same_sends_nothing(desk: Desk) -> None:
    ticket = await desk.ticket_for(desk.conversation())

    await desk.stub.ChangeTicketStatus(
        ticket_service_pb2.ChangeTicketStatusRequest(
            name=ticket.name, status=S.TICKET_STATUS_IN_PROGRESS
        ),
        metadata=ACME,
    )

    assert await desk.tasks(ticket.name) == []  # OPEN and IN_PROGRESS are both `open`


async def test_priority_assignee_and_labels_reach_the_conversation(desk: Desk) -> None:
    conversation = desk.conversation()
    agent = desk.sim.control.seed(agents=[{"name": "Grace"}], webhooks=False).agent_ids[0]
    ticket = await desk.ticket_for(conversation)

    await desk.stub.SetTicketPriority(
        ticket_service_pb2.SetTicketPriorityRequest(
            name=ticket.name, priority=P.TICKET_PRIORITY_URGENT
        ),
        metadata=ACME,
    )
    await desk.stub.AssignTicket(
        ticket_service_pb2.AssignTicketRequest(name=ticket.name, assignee_id=str(agent)),
        metadata=ACME,
    )
    await desk.stub.UpdateTicket(
        ticket_service_pb2.UpdateTicketRequest(
            ticket=ticket_pb2.Ticket(name=ticket.name, labels=["VIP", "billing"])
        ),
        metadata=ACME,
    )

    tasks = await desk.settled(ticket.name)
    assert [t.state for t in tasks] == [State.CHATWOOT_SYNC_STATE_DELIVERED] * 3
    seen = desk.sim.control.state().conversation(conversation, ACCOUNT_ID)
    assert seen["priority"] == "urgent"
    assert seen["assignee_id"] == agent
    assert sorted(seen["labels"]) == ["billing", "vip"]

    # Unassigning sends the key with null, which is what makes Chatwoot unassign.
    await desk.stub.AssignTicket(
        ticket_service_pb2.AssignTicketRequest(name=ticket.name, assignee_id=""), metadata=ACME
    )
    await desk.stub.UpdateTicket(
        ticket_service_pb2.UpdateTicketRequest(
            ticket=ticket_pb2.Ticket(name=ticket.name, labels=["billing"])
        ),
        metadata=ACME,
    )
    await desk.settled(ticket.name)
    seen = desk.sim.control.state().conversation(conversation, ACCOUNT_ID)
    assert seen["assignee_id"] is None
    assert seen["labels"] == ["billing"]
    assert _calls(desk, f"/conversations/{conversation}/assignments") == [
        {"assignee_id": agent},
        {"assignee_id": None},
    ]


async def test_a_note_is_posted_as_a_private_note_marked_as_ours(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)

    added = await desk.stub.AddTicketNote(
        ticket_service_pb2.AddTicketNoteRequest(ticket=ticket.name, body="Customer is a VIP"),
        metadata=ACME,
    )

    [task] = await desk.settled(ticket.name)
    assert task.name == added.sync_task
    assert task.kind == Kind.CHATWOOT_SYNC_KIND_PRIVATE_NOTE
    [note] = _calls(desk, f"/conversations/{conversation}/messages")
    assert note == {
        "content": "Customer is a VIP",
        "message_type": "outgoing",
        "private": True,
        "content_type": "text",
        "content_attributes": {"ticketing_ref": f"note:{added.note_id}"},
    }
    events = await desk.stub.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(ticket=ticket.name), metadata=ACME
    )
    assert events.events[-1].type == enums_pb2.TicketEventType.TICKET_EVENT_TYPE_NOTE_ADDED
    assert events.events[-1].after["body"] == "Customer is a VIP"


async def test_a_note_needs_a_body(desk: Desk) -> None:
    ticket = await desk.ticket_for(desk.conversation())

    error = await expect_error(
        desk.stub.AddTicketNote(
            ticket_service_pb2.AddTicketNoteRequest(ticket=ticket.name, body="  "), metadata=ACME
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    assert error.violations == {"body": "must not be empty"}
    assert await desk.tasks(ticket.name) == []


async def test_a_conversation_gets_its_changes_in_the_order_they_were_made(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)
    order = [P.TICKET_PRIORITY_HIGH, P.TICKET_PRIORITY_LOW, P.TICKET_PRIORITY_URGENT] * 4

    for priority in order:
        await desk.stub.SetTicketPriority(
            ticket_service_pb2.SetTicketPriorityRequest(name=ticket.name, priority=priority),
            metadata=ACME,
        )

    await desk.settled(ticket.name)
    sent = [body["priority"] for body in _calls(desk, "/toggle_priority")]  # type: ignore[index]
    assert sent == [P.Name(p).removeprefix("TICKET_PRIORITY_").lower() for p in order]


async def test_ticket_changes_succeed_while_chatwoot_is_down_and_arrive_when_it_is_back(
    desk: Desk,
) -> None:
    conversations = [desk.conversation() for _ in range(3)]
    tickets = [await desk.ticket_for(c) for c in conversations]
    desk.sim.control.down(2)

    for ticket in tickets:
        await desk.stub.SetTicketPriority(
            ticket_service_pb2.SetTicketPriorityRequest(
                name=ticket.name, priority=P.TICKET_PRIORITY_HIGH
            ),
            metadata=ACME,
        )
        await desk.stub.ResolveTicket(
            ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=ACME
        )

    tasks = await desk.settled(within=20)
    assert {t.state for t in tasks} == {State.CHATWOOT_SYNC_STATE_DELIVERED}
    assert any(t.attempts > 1 for t in tasks), "the outage should have cost retries"
    world = desk.sim.control.state()
    for conversation in conversations:
        seen = world.conversation(conversation, ACCOUNT_ID)
        assert (seen["priority"], seen["status"]) == ("high", "resolved")


async def test_429_waits_as_long_as_retry_after_says(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)
    path = desk.sim.api_path(f"/conversations/{conversation}/toggle_priority")
    desk.sim.control.fault(path_prefix=path, status=429, retry_after=1, times=1)

    await desk.stub.SetTicketPriority(
        ticket_service_pb2.SetTicketPriorityRequest(
            name=ticket.name, priority=P.TICKET_PRIORITY_HIGH
        ),
        metadata=ACME,
    )

    [task] = await desk.settled(ticket.name)
    assert (task.state, task.attempts) == (State.CHATWOOT_SYNC_STATE_DELIVERED, 2)
    limited, accepted = [c for c in desk.sim.control.calls() if c.path == path]
    assert (limited.status, accepted.status) == (429, 200)
    # Our retry backoff is 50 ms here; only Retry-After explains a wait of a second.
    assert accepted.time - limited.time >= 1.0


async def test_a_refused_change_is_a_dead_letter_that_does_not_block_the_next(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)
    path = desk.sim.api_path(f"/conversations/{conversation}/toggle_status")
    desk.sim.control.fault(path_prefix=path, status=422, times=1)

    await desk.stub.ResolveTicket(
        ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )
    await desk.stub.SetTicketPriority(
        ticket_service_pb2.SetTicketPriorityRequest(
            name=ticket.name, priority=P.TICKET_PRIORITY_HIGH
        ),
        metadata=ACME,
    )

    priority, status = await desk.settled(ticket.name)  # newest first
    assert status.state == State.CHATWOOT_SYNC_STATE_DEAD
    assert "422" in status.last_error
    assert status.attempts == 1
    assert priority.state == State.CHATWOOT_SYNC_STATE_DELIVERED
    [dead] = await desk.tasks(state=State.CHATWOOT_SYNC_STATE_DEAD)
    assert dead.name == status.name

    retried = await desk.stub.RetryChatwootSyncTask(
        ticket_service_pb2.RetryChatwootSyncTaskRequest(name=dead.name), metadata=ACME
    )

    assert retried.state == State.CHATWOOT_SYNC_STATE_PENDING
    await desk.settled(ticket.name)
    assert desk.sim.control.state().conversation(conversation, ACCOUNT_ID)["status"] == "resolved"
    assert await desk.tasks(state=State.CHATWOOT_SYNC_STATE_DEAD) == []


async def test_a_dead_letter_followed_by_a_newer_change_of_its_kind_is_not_resent(
    desk: Desk,
) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)
    path = desk.sim.api_path(f"/conversations/{conversation}/toggle_priority")
    desk.sim.control.fault(path_prefix=path, status=422, times=1)
    for priority in (P.TICKET_PRIORITY_HIGH, P.TICKET_PRIORITY_LOW):
        await desk.stub.SetTicketPriority(
            ticket_service_pb2.SetTicketPriorityRequest(name=ticket.name, priority=priority),
            metadata=ACME,
        )
    _, dead = await desk.settled(ticket.name)

    retried = await desk.stub.RetryChatwootSyncTask(
        ticket_service_pb2.RetryChatwootSyncTaskRequest(name=dead.name), metadata=ACME
    )

    assert retried.state == State.CHATWOOT_SYNC_STATE_SUPERSEDED
    await asyncio.sleep(0.3)
    assert desk.sim.control.state().conversation(conversation, ACCOUNT_ID)["priority"] == "low"


async def test_only_dead_letters_can_be_retried(desk: Desk) -> None:
    ticket = await desk.ticket_for(desk.conversation())
    await desk.stub.ResolveTicket(
        ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )
    [delivered] = await desk.settled(ticket.name)

    await expect_error(
        desk.stub.RetryChatwootSyncTask(
            ticket_service_pb2.RetryChatwootSyncTaskRequest(name=delivered.name), metadata=ACME
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    # Another tenant's task does not exist for this caller.
    await expect_error(
        desk.stub.RetryChatwootSyncTask(
            ticket_service_pb2.RetryChatwootSyncTaskRequest(name=delivered.name), metadata=GLOBEX
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    bad = await expect_error(
        desk.stub.RetryChatwootSyncTask(
            ticket_service_pb2.RetryChatwootSyncTaskRequest(name="chatwootSyncTasks/x"),
            metadata=ACME,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "name" in bad.violations
    listed = await desk.stub.ListChatwootSyncTasks(
        ticket_service_pb2.ListChatwootSyncTasksRequest(), metadata=GLOBEX
    )
    assert list(listed.tasks) == []


async def test_tickets_without_a_conversation_queue_nothing(desk: Desk) -> None:
    ticket = await desk.stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject="Phone call"),
            customer=customer_pb2.Customer(email="bob@example.com"),
        ),
        metadata=ACME,
    )

    await desk.stub.ResolveTicket(
        ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )
    added = await desk.stub.AddTicketNote(
        ticket_service_pb2.AddTicketNoteRequest(ticket=ticket.name, body="Called back"),
        metadata=ACME,
    )

    assert added.sync_task == ""
    assert await desk.tasks(ticket.name) == []


async def test_changes_that_came_from_chatwoot_are_not_sent_back(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)

    answer = await desk.stub.ApplyChatwootDelivery(
        ticket_service_pb2.ApplyChatwootDeliveryRequest(
            delivery=chatwoot_pb2.ChatwootDelivery(
                integration="acme-chatwoot",
                content_key="c" * 64,
                kind=chatwoot_pb2.CHATWOOT_EVENT_KIND_CONVERSATION_STATUS_CHANGED,
                conversation=state(
                    conversation, at=3600, status=chatwoot_pb2.CHATWOOT_STATUS_RESOLVED
                ),
            )
        ),
        metadata=bearer(ACME_GATEWAY_TOKEN),
    )

    assert answer.ticket == ticket.name
    got = await desk.stub.GetTicket(
        ticket_service_pb2.GetTicketRequest(name=ticket.name), metadata=ACME
    )
    assert got.status == S.TICKET_STATUS_RESOLVED
    await asyncio.sleep(0.2)
    assert await desk.tasks(ticket.name) == []
    assert _calls(desk, "/toggle_status") == []


async def test_tasks_are_listed_newest_first_page_by_page(desk: Desk) -> None:
    ticket = await desk.ticket_for(desk.conversation())
    for n in range(5):
        await desk.stub.UpdateTicket(
            ticket_service_pb2.UpdateTicketRequest(
                ticket=ticket_pb2.Ticket(name=ticket.name, labels=[f"label-{n}"])
            ),
            metadata=ACME,
        )

    names, token = [], ""
    while True:
        page = await desk.stub.ListChatwootSyncTasks(
            ticket_service_pb2.ListChatwootSyncTasksRequest(
                ticket=ticket.name, page_size=2, page_token=token
            ),
            metadata=ACME,
        )
        names += [t.name for t in page.tasks]
        token = page.next_page_token
        if not token:
            break

    ids = [int(name.rsplit("/", 1)[1]) for name in names]
    assert len(ids) == 5
    assert ids == sorted(ids, reverse=True)
    await eventually(lambda: _none_pending(desk, ticket.name))


async def _none_pending(desk: Desk, ticket: str) -> bool | None:
    tasks = await desk.tasks(ticket)
    return True if all(t.state != State.CHATWOOT_SYNC_STATE_PENDING for t in tasks) else None


def _stamp(offset: timedelta) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(datetime.now(UTC) + offset)
    return stamp


async def _chatwoot_says(
    desk: Desk, conversation: int, *, assignee_id: str, updated: timedelta
) -> ticket_service_pb2.ApplyChatwootDeliveryResponse:
    """A conversation_updated webhook, stamped `updated` from now, through the gateway's
    credential."""
    key = hashlib.sha256(f"{conversation}:{assignee_id}:{updated}".encode()).hexdigest()
    return await desk.stub.ApplyChatwootDelivery(
        ticket_service_pb2.ApplyChatwootDeliveryRequest(
            delivery=chatwoot_pb2.ChatwootDelivery(
                integration="acme-chatwoot",
                content_key=key,
                kind=chatwoot_pb2.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED,
                conversation=chatwoot_pb2.ChatwootConversationState(
                    account_id=ACCOUNT_ID,
                    conversation_id=conversation,
                    inbox_id=1,
                    status=chatwoot_pb2.CHATWOOT_STATUS_OPEN,
                    assignee_id=assignee_id,
                    update_time=_stamp(updated),
                ),
            )
        ),
        metadata=bearer(ACME_GATEWAY_TOKEN),
    )


async def _assignee(desk: Desk, name: str) -> str:
    ticket = await desk.stub.GetTicket(
        ticket_service_pb2.GetTicketRequest(name=name), metadata=ACME
    )
    return ticket.assignee_id


async def test_a_chatwoot_state_older_than_our_write_does_not_undo_it(desk: Desk) -> None:
    conversation = desk.conversation()
    ticket = await desk.ticket_for(conversation)
    await desk.stub.AssignTicket(
        ticket_service_pb2.AssignTicketRequest(name=ticket.name, assignee_id="12"), metadata=ACME
    )
    await desk.settled(ticket.name)  # sent: Chatwoot states from now on can show it

    stale = await _chatwoot_says(desk, conversation, assignee_id="", updated=-timedelta(minutes=1))

    assert "assignee (none) predates our write" in stale.effects
    assert await _assignee(desk, ticket.name) == "12"

    # An agent reassigns in Chatwoot after our write: that newer change wins.
    newer = await _chatwoot_says(desk, conversation, assignee_id="77", updated=timedelta(seconds=5))

    assert newer.outcome == ticket_service_pb2.DELIVERY_OUTCOME_APPLIED
    assert await _assignee(desk, ticket.name) == "77"


async def test_a_write_still_queued_wins_over_any_chatwoot_state(desk: Desk) -> None:
    conversation = desk.conversation()
    agent = desk.sim.control.seed(agents=[{"name": "Grace"}], webhooks=False).agent_ids[0]
    ticket = await desk.ticket_for(conversation)
    desk.sim.control.down(1.5)
    await desk.stub.AssignTicket(
        ticket_service_pb2.AssignTicketRequest(name=ticket.name, assignee_id=str(agent)),
        metadata=ACME,
    )

    meanwhile = await _chatwoot_says(
        desk, conversation, assignee_id="", updated=timedelta(seconds=5)
    )

    assert "assignee (none) predates our write" in meanwhile.effects
    assert await _assignee(desk, ticket.name) == str(agent)
    await desk.settled(ticket.name, within=15)
    seen = desk.sim.control.state().conversation(conversation, ACCOUNT_ID)
    assert seen["assignee_id"] == agent
