"""ApplyChatwootDelivery, as the gateway calls it: typed deliveries in, one transaction each.

These tests build deliveries by hand to pin down the service's rules; the gateway tests
post Chatwoot's real payloads through the whole chain.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import grpc
import pytest
from google.protobuf import timestamp_pb2
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import ACME, ACME_GATEWAY_TOKEN, ACME_INTEGRATION, START, bearer
from tests.e2e.conftest import expect_error
from ticketing.ticket.v1 import (
    chatwoot_pb2,
    customer_pb2,
    enums_pb2,
    ticket_pb2,
    ticket_service_pb2,
)

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

GATEWAY = bearer(ACME_GATEWAY_TOKEN)
K = chatwoot_pb2.ChatwootEventKind
S = chatwoot_pb2.ChatwootStatus
Outcome = ticket_service_pb2.DeliveryOutcome
T = enums_pb2.TicketStatus
_serial = itertools.count(1)


def _stamp(when: datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(when)
    return stamp


def state(
    conversation_id: int = 1042,
    *,
    at: float = 0.0,
    status: int = S.CHATWOOT_STATUS_OPEN,
    priority: int = 0,
    assignee_id: str = "",
    snoozed_until: datetime | None = None,
    email: str = "ada@example.com",
    contact_id: int = 5821,
) -> chatwoot_pb2.ChatwootConversationState:
    return chatwoot_pb2.ChatwootConversationState(
        account_id=3,
        conversation_id=conversation_id,
        inbox_id=7,
        status=status,  # type: ignore[arg-type]
        priority=priority,  # type: ignore[arg-type]
        assignee_id=assignee_id,
        snoozed_until=_stamp(snoozed_until) if snoozed_until else None,
        update_time=_stamp(START + timedelta(seconds=at)),
        contact=chatwoot_pb2.ChatwootContact(id=contact_id, name="Ada", email=email),
    )


def message(
    message_id: int,
    *,
    content: str = "My printer is on fire",
    direction: int = chatwoot_pb2.MESSAGE_DIRECTION_INCOMING,
    private: bool = False,
    ticketing_ref: str = "",
) -> chatwoot_pb2.ChatwootMessage:
    return chatwoot_pb2.ChatwootMessage(
        id=message_id,
        direction=direction,  # type: ignore[arg-type]
        private=private,
        sender_type=(
            chatwoot_pb2.SENDER_TYPE_CONTACT
            if direction == chatwoot_pb2.MESSAGE_DIRECTION_INCOMING
            else chatwoot_pb2.SENDER_TYPE_USER
        ),
        sender_id=5821,
        sender_name="Ada",
        content=content,
        content_type="text",
        create_time=_stamp(START),
        ticketing_ref=ticketing_ref,
    )


def delivery(
    kind: int,
    *,
    conversation: chatwoot_pb2.ChatwootConversationState | None = None,
    msg: chatwoot_pb2.ChatwootMessage | None = None,
    contact: chatwoot_pb2.ChatwootContact | None = None,
    delivery_id: str | None = None,
    content: str | None = None,
    integration: str = ACME_INTEGRATION,
) -> ticket_service_pb2.ApplyChatwootDeliveryRequest:
    delivery_id = delivery_id if delivery_id is not None else str(uuid.uuid4())
    content = content if content is not None else f"content-{next(_serial)}"
    return ticket_service_pb2.ApplyChatwootDeliveryRequest(
        request_id=str(uuid.uuid5(uuid.NAMESPACE_URL, delivery_id or content)),
        delivery=chatwoot_pb2.ChatwootDelivery(
            integration=integration,
            delivery_id=delivery_id,
            content_key=hashlib.sha256(content.encode()).hexdigest(),
            kind=kind,  # type: ignore[arg-type]
            conversation=conversation,
            message=msg,
            contact=contact,
        ),
    )


class Intake:
    def __init__(self, stub: TicketServiceAsyncStub) -> None:
        self.stub = stub

    async def send(
        self, request: ticket_service_pb2.ApplyChatwootDeliveryRequest
    ) -> ticket_service_pb2.ApplyChatwootDeliveryResponse:
        return await self.stub.ApplyChatwootDelivery(request, metadata=GATEWAY)

    async def conversation(
        self, **fields: object
    ) -> ticket_service_pb2.ApplyChatwootDeliveryResponse:
        kind = fields.pop("kind", K.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED)
        return await self.send(delivery(kind, conversation=state(**fields)))  # type: ignore[arg-type]

    async def ticket(self, name: str) -> ticket_pb2.Ticket:
        return await self.stub.GetTicket(
            ticket_service_pb2.GetTicketRequest(name=name), metadata=ACME
        )

    async def tickets_of(self, conversation_id: int = 1042) -> list[ticket_pb2.Ticket]:
        response = await self.stub.ListTickets(
            ticket_service_pb2.ListTicketsRequest(
                chatwoot_account_id=3, chatwoot_conversation_id=conversation_id
            ),
            metadata=ACME,
        )
        return list(response.tickets)

    async def events(self) -> list[enums_pb2.TicketEventType.ValueType]:
        response = await self.stub.ListTicketEvents(
            ticket_service_pb2.ListTicketEventsRequest(page_size=1000), metadata=ACME
        )
        return [event.type for event in response.events]


@pytest.fixture
def intake(stub: TicketServiceAsyncStub) -> Intake:
    return Intake(stub)


async def test_a_new_conversation_opens_a_ticket_for_its_customer(intake: Intake) -> None:
    answer = await intake.conversation(
        kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED,
        priority=chatwoot_pb2.CHATWOOT_PRIORITY_HIGH,
        assignee_id="12",
    )

    assert answer.outcome == Outcome.DELIVERY_OUTCOME_APPLIED
    ticket = await intake.ticket(answer.ticket)
    assert ticket.number.startswith("TKT-2026-")
    assert ticket.subject == "Chatwoot conversation #1042"
    assert ticket.status == T.TICKET_STATUS_OPEN
    assert ticket.priority == enums_pb2.TICKET_PRIORITY_HIGH
    assert ticket.assignee_id == "12"
    assert (ticket.conversation.account_id, ticket.conversation.conversation_id) == (3, 1042)
    customer = await intake.stub.GetCustomer(
        ticket_service_pb2.GetCustomerRequest(name=ticket.customer), metadata=ACME
    )
    assert (customer.email, customer.chatwoot_contact_id) == ("ada@example.com", 5821)

    log = await intake.stub.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(), metadata=ACME
    )
    assert {e.source for e in log.events} == {enums_pb2.EVENT_SOURCE_CHATWOOT}
    assert {e.actor for e in log.events} == {"gateway"}
    assert len({e.request_id for e in log.events}) == 1


async def test_a_delivery_applies_once_by_delivery_id_and_by_content(intake: Intake) -> None:
    first = delivery(
        K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, conversation=state(), content="same"
    )
    assert (await intake.send(first)).outcome == Outcome.DELIVERY_OUTCOME_APPLIED
    events = await intake.events()

    again = await intake.send(first)
    rerun = await intake.send(
        delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, conversation=state(), content="same")
    )

    assert again.outcome == rerun.outcome == Outcome.DELIVERY_OUTCOME_DUPLICATE
    assert await intake.events() == events
    assert len(await intake.tickets_of()) == 1


@pytest.mark.parametrize(
    ("chatwoot", "expected"),
    [
        (S.CHATWOOT_STATUS_OPEN, T.TICKET_STATUS_OPEN),
        (S.CHATWOOT_STATUS_PENDING, T.TICKET_STATUS_WAITING_ON_CUSTOMER),
        (S.CHATWOOT_STATUS_SNOOZED, T.TICKET_STATUS_OPEN),
        (S.CHATWOOT_STATUS_RESOLVED, T.TICKET_STATUS_RESOLVED),
    ],
)
async def test_a_new_ticket_takes_the_conversation_status(
    intake: Intake, chatwoot: int, expected: int
) -> None:
    answer = await intake.conversation(
        kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, status=chatwoot
    )
    assert (await intake.ticket(answer.ticket)).status == expected


async def test_the_ticket_follows_the_conversation_through_its_statuses(intake: Intake) -> None:
    name = (await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)).ticket
    until = START + timedelta(days=1)
    steps = [
        (S.CHATWOOT_STATUS_PENDING, None, T.TICKET_STATUS_WAITING_ON_CUSTOMER, False),
        (S.CHATWOOT_STATUS_SNOOZED, until, T.TICKET_STATUS_WAITING_ON_CUSTOMER, True),
        (S.CHATWOOT_STATUS_OPEN, None, T.TICKET_STATUS_OPEN, False),
        (S.CHATWOOT_STATUS_RESOLVED, None, T.TICKET_STATUS_RESOLVED, False),
        (S.CHATWOOT_STATUS_SNOOZED, None, T.TICKET_STATUS_OPEN, True),
        (S.CHATWOOT_STATUS_RESOLVED, None, T.TICKET_STATUS_RESOLVED, False),
        (S.CHATWOOT_STATUS_PENDING, None, T.TICKET_STATUS_WAITING_ON_CUSTOMER, False),
    ]
    for at, (chatwoot, snoozed_until, expected, snoozed) in enumerate(steps, start=1):
        await intake.conversation(at=at, status=chatwoot, snoozed_until=snoozed_until)
        ticket = await intake.ticket(name)
        assert (ticket.status, ticket.snoozed) == (expected, snoozed), chatwoot
        if snoozed_until is not None:
            assert ticket.snooze_end_time.ToDatetime().replace(tzinfo=until.tzinfo) == until


async def test_finer_statuses_survive_the_coarser_chatwoot_status(
    intake: Intake, stub: TicketServiceAsyncStub
) -> None:
    name = (await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)).ticket
    await stub.ChangeTicketStatus(
        ticket_service_pb2.ChangeTicketStatusRequest(name=name, status=T.TICKET_STATUS_IN_PROGRESS),
        metadata=ACME,
    )
    await intake.conversation(at=5, status=S.CHATWOOT_STATUS_OPEN)
    assert (await intake.ticket(name)).status == T.TICKET_STATUS_IN_PROGRESS


async def test_an_older_state_arriving_late_changes_nothing(intake: Intake) -> None:
    name = (await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)).ticket
    await intake.conversation(at=20, status=S.CHATWOOT_STATUS_RESOLVED, assignee_id="12")
    events = await intake.events()

    late = await intake.conversation(
        at=10, status=S.CHATWOOT_STATUS_OPEN, priority=chatwoot_pb2.CHATWOOT_PRIORITY_URGENT
    )

    assert late.outcome == Outcome.DELIVERY_OUTCOME_IGNORED
    assert list(late.effects) == ["older conversation state skipped"]
    ticket = await intake.ticket(name)
    assert ticket.status == T.TICKET_STATUS_RESOLVED
    assert ticket.assignee_id == "12"
    assert ticket.priority == enums_pb2.TICKET_PRIORITY_MEDIUM
    assert await intake.events() == events


async def test_our_own_writes_echoing_back_are_not_applied_again(
    intake: Intake, stub: TicketServiceAsyncStub
) -> None:
    name = (await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)).ticket
    await stub.ResolveTicket(ticket_service_pb2.ResolveTicketRequest(name=name), metadata=ACME)
    await stub.ReopenTicket(ticket_service_pb2.ReopenTicketRequest(name=name), metadata=ACME)
    await stub.SetTicketPriority(
        ticket_service_pb2.SetTicketPriorityRequest(
            name=name, priority=enums_pb2.TICKET_PRIORITY_URGENT
        ),
        metadata=ACME,
    )
    events = await intake.events()

    # Chatwoot echoes our writes, each in a state newer than any it sent before. The echo
    # of "resolved" must not undo the reopen that followed it.
    echo = await intake.conversation(at=10, status=S.CHATWOOT_STATUS_RESOLVED)
    assert echo.outcome == Outcome.DELIVERY_OUTCOME_IGNORED
    assert "status resolved is our own write echoing back" in echo.effects
    await intake.conversation(
        at=11, status=S.CHATWOOT_STATUS_OPEN, priority=chatwoot_pb2.CHATWOOT_PRIORITY_URGENT
    )
    assert await intake.events() == events
    assert (await intake.ticket(name)).status == T.TICKET_STATUS_OPEN

    # Once consumed, an echo is forgotten: an agent resolving in Chatwoot is applied.
    genuine = await intake.conversation(at=12, status=S.CHATWOOT_STATUS_RESOLVED)
    assert genuine.outcome == Outcome.DELIVERY_OUTCOME_APPLIED
    assert (await intake.ticket(name)).status == T.TICKET_STATUS_RESOLVED


async def test_messages_become_the_ticket_history_once_each(intake: Intake) -> None:
    first = await intake.send(
        delivery(K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state(), msg=message(901))
    )
    assert first.outcome == Outcome.DELIVERY_OUTCOME_APPLIED
    assert "message 901 added" in first.effects
    name = first.ticket

    again = await intake.send(
        delivery(K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state(at=1), msg=message(901))
    )
    assert "message 901 already stored" in again.effects
    edited = await intake.send(
        delivery(
            K.CHATWOOT_EVENT_KIND_MESSAGE_UPDATED,
            conversation=state(at=2),
            msg=message(901, content="My printer WAS on fire"),
        )
    )
    assert "message 901 revised" in edited.effects
    reply = message(902, content="On it", direction=chatwoot_pb2.MESSAGE_DIRECTION_OUTGOING)
    note = message(
        903, content="escalated", private=True, direction=chatwoot_pb2.MESSAGE_DIRECTION_OUTGOING
    )
    ours = message(
        904,
        private=True,
        direction=chatwoot_pb2.MESSAGE_DIRECTION_OUTGOING,
        ticketing_ref="escalations/7",
    )
    for msg in (reply, note, ours):
        await intake.send(
            delivery(K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state(at=3), msg=msg)
        )

    history = await intake.stub.ListTicketMessages(
        ticket_service_pb2.ListTicketMessagesRequest(parent=name), metadata=ACME
    )
    assert [(m.chatwoot_message_id, m.content, m.private) for m in history.messages] == [
        (901, "My printer WAS on fire", False),
        (902, "On it", False),
        (903, "escalated", True),
    ]
    assert history.messages[0].sender_type == chatwoot_pb2.SENDER_TYPE_CONTACT
    assert history.messages[1].direction == chatwoot_pb2.MESSAGE_DIRECTION_OUTGOING
    added = [e for e in await intake.events() if e == enums_pb2.TICKET_EVENT_TYPE_MESSAGE_ADDED]
    assert len(added) == 3


async def test_history_pages_oldest_first(intake: Intake) -> None:
    for message_id in range(1, 8):
        answer = await intake.send(
            delivery(
                K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED,
                conversation=state(at=message_id),
                msg=message(message_id),
            )
        )
    seen: list[int] = []
    token = ""
    while True:
        page = await intake.stub.ListTicketMessages(
            ticket_service_pb2.ListTicketMessagesRequest(
                parent=answer.ticket, page_size=3, page_token=token
            ),
            metadata=ACME,
        )
        seen += [m.chatwoot_message_id for m in page.messages]
        token = page.next_page_token
        if not token:
            break
    assert seen == list(range(1, 8))


async def test_a_closed_ticket_gets_a_follow_up_when_the_customer_writes_again(
    intake: Intake, stub: TicketServiceAsyncStub
) -> None:
    name = (await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)).ticket
    await stub.CloseTicket(ticket_service_pb2.CloseTicketRequest(name=name), metadata=ACME)

    update = await intake.conversation(at=5, status=S.CHATWOOT_STATUS_OPEN)
    assert (await intake.ticket(name)).status == T.TICKET_STATUS_CLOSED
    assert update.outcome == Outcome.DELIVERY_OUTCOME_IGNORED

    follow_up = await intake.send(
        delivery(K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state(at=6), msg=message(77))
    )
    assert follow_up.ticket != name
    assert any("follow-up" in effect for effect in follow_up.effects)
    assert {t.name for t in await intake.tickets_of()} == {name, follow_up.ticket}

    async def history(ticket: str) -> list[int]:
        page = await stub.ListTicketMessages(
            ticket_service_pb2.ListTicketMessagesRequest(parent=ticket), metadata=ACME
        )
        return [m.chatwoot_message_id for m in page.messages]

    # Filed under the follow-up, not under the closed ticket the conversation was linked to.
    assert await history(follow_up.ticket) == [77]
    assert await history(name) == []


async def test_contact_updates_refresh_the_customer(intake: Intake) -> None:
    anonymous = await intake.send(
        delivery(
            K.CHATWOOT_EVENT_KIND_CONTACT_CREATED,
            contact=chatwoot_pb2.ChatwootContact(id=9000, name="wandering-sun"),
        )
    )
    assert anonymous.outcome == Outcome.DELIVERY_OUTCOME_IGNORED

    await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, email="")
    identified = await intake.send(
        delivery(
            K.CHATWOOT_EVENT_KIND_CONTACT_UPDATED,
            contact=chatwoot_pb2.ChatwootContact(
                id=5821, name="Ada Lovelace", email="ADA@example.com", phone_number="+14155550123"
            ),
        )
    )
    assert identified.outcome == Outcome.DELIVERY_OUTCOME_APPLIED
    found = await intake.stub.ListCustomers(
        ticket_service_pb2.ListCustomersRequest(email="ada@example.com"), metadata=ACME
    )
    [customer] = found.customers
    assert (customer.display_name, customer.phone_number, customer.chatwoot_contact_id) == (
        "Ada Lovelace",
        "+14155550123",
        5821,
    )


async def test_a_contact_cannot_take_another_customers_email(intake: Intake) -> None:
    await intake.stub.CreateCustomer(
        ticket_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(email="grace@example.com")
        ),
        metadata=ACME,
    )
    await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)
    answer = await intake.send(
        delivery(
            K.CHATWOOT_EVENT_KIND_CONTACT_UPDATED,
            contact=chatwoot_pb2.ChatwootContact(id=5821, email="grace@example.com"),
        )
    )
    assert "email of contact 5821 belongs to another customer: kept" in answer.effects
    found = await intake.stub.ListCustomers(
        ticket_service_pb2.ListCustomersRequest(email="ada@example.com"), metadata=ACME
    )
    assert len(found.customers) == 1


async def test_only_the_gateway_may_apply_deliveries(intake: Intake) -> None:
    request = delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, conversation=state())
    error = await expect_error(
        intake.stub.ApplyChatwootDelivery(request, metadata=ACME), grpc.StatusCode.PERMISSION_DENIED
    )
    assert "gateway" in error.message
    assert await intake.tickets_of() == []


@pytest.mark.parametrize(
    ("request_", "code", "field"),
    [
        (
            delivery(
                K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, conversation=state(), integration="nope"
            ),
            grpc.StatusCode.NOT_FOUND,
            "",
        ),
        (
            delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED),
            grpc.StatusCode.INVALID_ARGUMENT,
            "delivery.conversation",
        ),
        (
            delivery(K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "delivery.message",
        ),
        (
            delivery(0, conversation=state()),
            grpc.StatusCode.INVALID_ARGUMENT,
            "delivery.kind",
        ),
        (
            delivery(
                K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED,
                conversation=chatwoot_pb2.ChatwootConversationState(
                    account_id=3, conversation_id=1
                ),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "delivery.conversation.update_time",
        ),
        (
            delivery(
                K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED,
                conversation=chatwoot_pb2.ChatwootConversationState(
                    account_id=4, conversation_id=1, update_time=_stamp(START)
                ),
            ),
            grpc.StatusCode.INVALID_ARGUMENT,
            "delivery.conversation.account_id",
        ),
    ],
)
async def test_bad_deliveries_are_refused_and_change_nothing(
    intake: Intake,
    request_: ticket_service_pb2.ApplyChatwootDeliveryRequest,
    code: grpc.StatusCode,
    field: str,
) -> None:
    error = await expect_error(intake.send(request_), code)
    if field:
        assert field in error.violations
    assert await intake.events() == []
    # Refused deliveries claim no keys: the corrected one is not a duplicate.
    fixed = delivery(
        K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED,
        conversation=state(),
        delivery_id=request_.delivery.delivery_id,
    )
    assert (await intake.send(fixed)).outcome == Outcome.DELIVERY_OUTCOME_APPLIED


async def test_concurrent_copies_apply_once_and_one_conversation_gets_one_ticket(
    intake: Intake,
) -> None:
    copy = delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED, conversation=state())
    distinct = [
        delivery(
            K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state(at=i), msg=message(100 + i)
        )
        for i in range(10)
    ]
    answers = await asyncio.gather(
        *[intake.send(copy) for _ in range(10)], *[intake.send(d) for d in distinct]
    )

    # One copy is applied (or finds a newer state already there); the others are copies.
    copies = [a.outcome for a in answers[:10]]
    assert copies.count(Outcome.DELIVERY_OUTCOME_DUPLICATE) == 9
    [ticket] = await intake.tickets_of()
    history = await intake.stub.ListTicketMessages(
        ticket_service_pb2.ListTicketMessagesRequest(parent=ticket.name), metadata=ACME
    )
    assert len(history.messages) == 10


async def _lock_waiters(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        waiting = await conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )
        return int(waiting.scalar_one())


async def _until_waiting(engine: AsyncEngine, count: int) -> None:
    for _ in range(200):
        if await _lock_waiters(engine) >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"fewer than {count} transactions waiting for the ticket's lock")


async def test_a_state_that_waited_for_our_assignment_does_not_undo_it(
    intake: Intake, stub: TicketServiceAsyncStub, engine: AsyncEngine
) -> None:
    """Found by the reliability soak: a delivery locks its conversation (counting the echoes
    expected: none), then waits for the ticket's lock while an escalation's AssignTicket
    holds it. The assignment commits with its expected echo; the delivery, built before
    Chatwoot had our write, must not unassign the ticket (Chatwoot would then show the
    agent and we nobody)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: the two cannot interleave there")
    created = await intake.conversation(kind=K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED)
    ticket = await intake.ticket(created.ticket)
    async with engine.begin() as holder:
        # Someone holds the ticket; the assignment queues for it first, then the delivery.
        await holder.execute(
            text("SELECT 1 FROM tickets WHERE id = :id FOR UPDATE"), {"id": ticket.uid}
        )
        assign = asyncio.ensure_future(
            stub.AssignTicket(
                ticket_service_pb2.AssignTicketRequest(name=ticket.name, assignee_id="7"),
                metadata=ACME,
            )
        )
        await _until_waiting(engine, 1)
        delivered = asyncio.create_task(intake.conversation(at=5))  # assignee: nobody
        await _until_waiting(engine, 2)
    await assign
    answer = await delivered

    assert "assignee (none) predates our write" in answer.effects
    assert (await intake.ticket(ticket.name)).assignee_id == "7"
