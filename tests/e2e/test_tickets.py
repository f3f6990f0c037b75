"""Ticket lifecycle through the real gRPC server: create, read, list, change, delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import grpc
from google.protobuf import field_mask_pb2

from common.clock import ManualClock
from tests.conftest import ACME, START
from tests.e2e.conftest import Client, expect_error
from ticketing.ticket.v1 import customer_pb2, enums_pb2, ticket_pb2, ticket_service_pb2

pb = ticket_service_pb2


async def _get(client: Client, name: str) -> ticket_pb2.Ticket:
    return await client.stub.GetTicket(pb.GetTicketRequest(name=name), metadata=ACME)


async def test_a_new_ticket_is_open_medium_and_numbered(client: Client) -> None:
    ticket = await client.create("Printer on fire", labels=["hardware", " fire ", "hardware"])
    assert ticket.number == "TKT-2026-00001"
    assert ticket.name == "tickets/tkt-2026-00001"
    assert ticket.status == enums_pb2.TICKET_STATUS_OPEN
    assert ticket.priority == enums_pb2.TICKET_PRIORITY_MEDIUM
    assert list(ticket.labels) == ["fire", "hardware"]
    created = ticket.create_time.ToDatetime(tzinfo=UTC)
    assert START <= created < START + timedelta(seconds=1)
    assert ticket.etag


async def test_numbers_are_sequential_per_tenant(client: Client) -> None:
    numbers = [(await client.create()).number for _ in range(3)]
    assert numbers == ["TKT-2026-00001", "TKT-2026-00002", "TKT-2026-00003"]


async def test_the_year_follows_the_creation_time_in_utc(
    client: Client, clock: ManualClock
) -> None:
    clock.set(datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC))
    last_of_2026 = await client.create()
    clock.set(datetime(2027, 1, 1, 0, 0, 1, tzinfo=UTC))
    first_of_2027 = await client.create()
    assert (last_of_2026.number, first_of_2027.number) == ("TKT-2026-00001", "TKT-2027-00001")


async def test_a_known_customer_is_reused_by_email_or_phone(client: Client) -> None:
    first = await client.stub.CreateTicket(
        pb.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject="One"),
            customer=customer_pb2.Customer(email="Ada@Example.com", display_name="Ada"),
        ),
        metadata=ACME,
    )
    by_email = await client.create("Two", email="  ada@example.COM ")
    assert by_email.customer == first.customer

    with_phone = await client.stub.CreateTicket(
        pb.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject="Three"),
            customer=customer_pb2.Customer(email="ada@example.com", phone_number="(415) 555-0123"),
        ),
        metadata=ACME,
    )
    by_phone = await client.stub.CreateTicket(
        pb.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject="Four"),
            customer=customer_pb2.Customer(phone_number="+1 415 555 0123"),
        ),
        metadata=ACME,
    )
    assert with_phone.customer == by_phone.customer == first.customer
    customer = await client.stub.GetCustomer(
        pb.GetCustomerRequest(name=first.customer), metadata=ACME
    )
    assert (customer.email, customer.phone_number) == ("ada@example.com", "+14155550123")


async def test_a_ticket_can_name_an_existing_customer(client: Client) -> None:
    customer = await client.stub.CreateCustomer(
        pb.CreateCustomerRequest(customer=customer_pb2.Customer(email="bob@example.com")),
        metadata=ACME,
    )
    ticket = await client.stub.CreateTicket(
        pb.CreateTicketRequest(ticket=ticket_pb2.Ticket(subject="Hi", customer=customer.name)),
        metadata=ACME,
    )
    assert ticket.customer == customer.name
    await expect_error(
        client.stub.CreateTicket(
            pb.CreateTicketRequest(
                ticket=ticket_pb2.Ticket(
                    subject="Hi", customer="customers/00000000-0000-4000-8000-000000000000"
                )
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_two_customers_never_share_an_email(client: Client) -> None:
    await client.stub.CreateCustomer(
        pb.CreateCustomerRequest(customer=customer_pb2.Customer(email="bob@example.com")),
        metadata=ACME,
    )
    other = await client.stub.CreateCustomer(
        pb.CreateCustomerRequest(customer=customer_pb2.Customer(email="carol@example.com")),
        metadata=ACME,
    )
    await expect_error(
        client.stub.CreateCustomer(
            pb.CreateCustomerRequest(customer=customer_pb2.Customer(email="BOB@example.com")),
            metadata=ACME,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    error = await expect_error(
        client.stub.UpdateCustomer(
            pb.UpdateCustomerRequest(
                customer=customer_pb2.Customer(name=other.name, email="bob@example.com"),
                update_mask=field_mask_pb2.FieldMask(paths=["email"]),
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.ALREADY_EXISTS,
    )
    assert error.info.reason == "CUSTOMER_CONTACT_TAKEN"
    unchanged = await client.stub.GetCustomer(pb.GetCustomerRequest(name=other.name), metadata=ACME)
    assert unchanged.email == "carol@example.com"


async def test_status_moves_through_its_life(client: Client) -> None:
    ticket = await client.create()
    name = ticket.name
    statuses = [
        (
            await client.stub.ChangeTicketStatus(
                pb.ChangeTicketStatusRequest(name=name, status=enums_pb2.TICKET_STATUS_IN_PROGRESS),
                metadata=ACME,
            )
        ).status,
        (
            await client.stub.ChangeTicketStatus(
                pb.ChangeTicketStatusRequest(
                    name=name, status=enums_pb2.TICKET_STATUS_WAITING_ON_CUSTOMER
                ),
                metadata=ACME,
            )
        ).status,
        (await client.stub.ResolveTicket(pb.ResolveTicketRequest(name=name), metadata=ACME)).status,
        (await client.stub.ReopenTicket(pb.ReopenTicketRequest(name=name), metadata=ACME)).status,
        (await client.stub.ResolveTicket(pb.ResolveTicketRequest(name=name), metadata=ACME)).status,
        (await client.stub.CloseTicket(pb.CloseTicketRequest(name=name), metadata=ACME)).status,
    ]
    assert statuses == [
        enums_pb2.TICKET_STATUS_IN_PROGRESS,
        enums_pb2.TICKET_STATUS_WAITING_ON_CUSTOMER,
        enums_pb2.TICKET_STATUS_RESOLVED,
        enums_pb2.TICKET_STATUS_OPEN,
        enums_pb2.TICKET_STATUS_RESOLVED,
        enums_pb2.TICKET_STATUS_CLOSED,
    ]
    closed = await _get(client, ticket.name)
    assert closed.HasField("close_time")
    assert closed.HasField("resolve_time")


async def test_a_closed_ticket_cannot_go_back_to_work(client: Client) -> None:
    ticket = await client.create()
    await client.stub.CloseTicket(pb.CloseTicketRequest(name=ticket.name), metadata=ACME)
    head = await client.head()
    error = await expect_error(
        client.stub.ChangeTicketStatus(
            pb.ChangeTicketStatusRequest(
                name=ticket.name, status=enums_pb2.TICKET_STATUS_IN_PROGRESS
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error.info.reason == "INVALID_STATUS_TRANSITION"
    assert dict(error.info.metadata) == {"current": "CLOSED", "requested": "IN_PROGRESS"}
    await expect_error(
        client.stub.ReopenTicket(pb.ReopenTicketRequest(name=ticket.name), metadata=ACME),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert await client.head() == head


async def test_resolving_a_resolved_ticket_changes_nothing(client: Client) -> None:
    ticket = await client.create()
    first = await client.stub.ResolveTicket(
        pb.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )
    head = await client.head()
    again = await client.stub.ResolveTicket(
        pb.ResolveTicketRequest(name=ticket.name), metadata=ACME
    )
    assert again == first
    assert await client.head() == head


async def test_assign_unassign_and_priority(client: Client) -> None:
    ticket = await client.create()
    assigned = await client.stub.AssignTicket(
        pb.AssignTicketRequest(name=ticket.name, assignee_id="12", reason="on shift"), metadata=ACME
    )
    urgent = await client.stub.SetTicketPriority(
        pb.SetTicketPriorityRequest(name=ticket.name, priority=enums_pb2.TICKET_PRIORITY_URGENT),
        metadata=ACME,
    )
    unassigned = await client.stub.AssignTicket(
        pb.AssignTicketRequest(name=ticket.name, assignee_id=""), metadata=ACME
    )
    assert assigned.assignee_id == "12"
    assert urgent.priority == enums_pb2.TICKET_PRIORITY_URGENT
    assert unassigned.assignee_id == ""
    log = await client.stub.ListTicketEvents(
        pb.ListTicketEventsRequest(ticket=ticket.name), metadata=ACME
    )
    changes = [(e.type, dict(e.before), dict(e.after), e.reason) for e in log.events[1:]]
    assert changes == [
        (
            enums_pb2.TICKET_EVENT_TYPE_ASSIGNEE_CHANGED,
            {"assignee_id": ""},
            {"assignee_id": "12"},
            "on shift",
        ),
        (
            enums_pb2.TICKET_EVENT_TYPE_PRIORITY_CHANGED,
            {"priority": "medium"},
            {"priority": "urgent"},
            "",
        ),
        (
            enums_pb2.TICKET_EVENT_TYPE_ASSIGNEE_CHANGED,
            {"assignee_id": "12"},
            {"assignee_id": ""},
            "",
        ),
    ]


async def test_update_changes_only_the_masked_fields(client: Client) -> None:
    ticket = await client.create("Old subject", description="Old description")
    updated = await client.stub.UpdateTicket(
        pb.UpdateTicketRequest(
            ticket=ticket_pb2.Ticket(name=ticket.name, subject="New subject", description=""),
            update_mask=field_mask_pb2.FieldMask(paths=["subject"]),
        ),
        metadata=ACME,
    )
    assert (updated.subject, updated.description) == ("New subject", "Old description")
    everything = await client.stub.UpdateTicket(
        pb.UpdateTicketRequest(
            ticket=ticket_pb2.Ticket(name=ticket.name, subject="Newest", labels=["vip"]),
            update_mask=field_mask_pb2.FieldMask(paths=["*"]),
        ),
        metadata=ACME,
    )
    assert (everything.subject, everything.description, list(everything.labels)) == (
        "Newest",
        "",
        ["vip"],
    )


async def test_update_without_a_mask_changes_the_fields_given(client: Client) -> None:
    ticket = await client.create("Old subject", description="Keep me")
    updated = await client.stub.UpdateTicket(
        pb.UpdateTicketRequest(ticket=ticket_pb2.Ticket(name=ticket.name, labels=["billing"])),
        metadata=ACME,
    )
    assert (updated.subject, updated.description, list(updated.labels)) == (
        "Old subject",
        "Keep me",
        ["billing"],
    )


async def test_a_stale_etag_is_aborted_and_changes_nothing(client: Client) -> None:
    ticket = await client.create()
    fresh = await client.stub.AssignTicket(
        pb.AssignTicketRequest(name=ticket.name, assignee_id="7", etag=ticket.etag), metadata=ACME
    )
    assert fresh.etag != ticket.etag
    error = await expect_error(
        client.stub.UpdateTicket(
            pb.UpdateTicketRequest(
                ticket=ticket_pb2.Ticket(name=ticket.name, subject="Lost update", etag=ticket.etag)
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.ABORTED,
    )
    assert error.info.metadata["current_etag"] == fresh.etag
    assert (await _get(client, ticket.name)) == fresh


async def test_delete_is_soft_and_final(client: Client) -> None:
    ticket = await client.create()
    deleted = await client.stub.DeleteTicket(
        pb.DeleteTicketRequest(name=ticket.name, reason="spam"), metadata=ACME
    )
    assert deleted.HasField("delete_time")
    assert await _get(client, ticket.name) == deleted
    listed = await client.stub.ListTickets(pb.ListTicketsRequest(), metadata=ACME)
    with_deleted = await client.stub.ListTickets(
        pb.ListTicketsRequest(show_deleted=True), metadata=ACME
    )
    assert list(listed.tickets) == []
    assert [t.name for t in with_deleted.tickets] == [ticket.name]
    error = await expect_error(
        client.stub.ResolveTicket(pb.ResolveTicketRequest(name=ticket.name), metadata=ACME),
        grpc.StatusCode.FAILED_PRECONDITION,
    )
    assert error.info.reason == "TICKET_DELETED"
    log = await client.stub.ListTicketEvents(
        pb.ListTicketEventsRequest(ticket=ticket.name), metadata=ACME
    )
    assert log.events[-1].type == enums_pb2.TICKET_EVENT_TYPE_TICKET_DELETED
    assert log.events[-1].reason == "spam"


async def test_one_live_ticket_per_conversation(client: Client) -> None:
    link = ticket_pb2.ChatwootConversation(account_id=3, conversation_id=1042, inbox_id=7)
    first = await client.create(conversation=link)
    error = await expect_error(client.create(conversation=link), grpc.StatusCode.ALREADY_EXISTS)
    assert error.info.reason == "CONVERSATION_HAS_TICKET"
    await client.stub.CloseTicket(pb.CloseTicketRequest(name=first.name), metadata=ACME)
    follow_up = await client.create(conversation=link)
    assert follow_up.conversation == link
    found = await client.stub.ListTickets(
        pb.ListTicketsRequest(chatwoot_conversation_id=1042, chatwoot_account_id=3), metadata=ACME
    )
    assert [t.name for t in found.tickets] == [follow_up.name, first.name]


async def test_list_filters_combine(client: Client) -> None:
    a = await client.create("a", email="a@example.com")
    b = await client.create("b", email="b@example.com")
    c = await client.create("c", email="a@example.com")
    await client.stub.AssignTicket(
        pb.AssignTicketRequest(name=b.name, assignee_id="12"), metadata=ACME
    )
    await client.stub.SetTicketPriority(
        pb.SetTicketPriorityRequest(name=c.name, priority=enums_pb2.TICKET_PRIORITY_HIGH),
        metadata=ACME,
    )
    await client.stub.ResolveTicket(pb.ResolveTicketRequest(name=a.name), metadata=ACME)

    async def names(**filters: object) -> list[str]:
        response = await client.stub.ListTickets(
            pb.ListTicketsRequest(**filters),  # type: ignore[arg-type]
            metadata=ACME,
        )
        return [t.subject for t in response.tickets]

    assert await names() == ["c", "b", "a"]
    assert await names(statuses=[enums_pb2.TICKET_STATUS_OPEN]) == ["c", "b"]
    assert await names(
        statuses=[enums_pb2.TICKET_STATUS_OPEN, enums_pb2.TICKET_STATUS_RESOLVED]
    ) == ["c", "b", "a"]
    assert await names(priorities=[enums_pb2.TICKET_PRIORITY_HIGH]) == ["c"]
    assert await names(assignee_id="12") == ["b"]
    assert await names(customer=a.customer) == ["c", "a"]
    assert await names(customer=a.customer, statuses=[enums_pb2.TICKET_STATUS_OPEN]) == ["c"]


async def test_pages_cover_every_ticket_once_even_while_tickets_are_created(client: Client) -> None:
    created = [(await client.create(f"t{i}")).name for i in range(7)]
    first = await client.stub.ListTickets(pb.ListTicketsRequest(page_size=3), metadata=ACME)
    await client.create("arrived between pages")
    seen = [t.name for t in first.tickets]
    token = first.next_page_token
    while token:
        page = await client.stub.ListTickets(
            pb.ListTicketsRequest(page_size=3, page_token=token), metadata=ACME
        )
        seen += [t.name for t in page.tickets]
        token = page.next_page_token
    assert seen == list(reversed(created))


async def test_customer_pages_cover_every_customer_once(client: Client) -> None:
    # The clock stands still, so every customer has the same create_time: the keyset's
    # tie-break on id decides each page's end.
    for i in range(7):
        await client.create(f"t{i}", email=f"c{i}@example.com")
    first = await client.stub.ListCustomers(pb.ListCustomersRequest(page_size=3), metadata=ACME)
    seen = [c.email for c in first.customers]
    token = first.next_page_token
    while token:
        page = await client.stub.ListCustomers(
            pb.ListCustomersRequest(page_size=3, page_token=token), metadata=ACME
        )
        seen += [c.email for c in page.customers]
        token = page.next_page_token
    assert sorted(seen) == [f"c{i}@example.com" for i in range(7)]


async def test_a_page_token_is_bound_to_its_filters(client: Client) -> None:
    for i in range(3):
        await client.create(f"t{i}")
    first = await client.stub.ListTickets(pb.ListTicketsRequest(page_size=2), metadata=ACME)
    error = await expect_error(
        client.stub.ListTickets(
            pb.ListTicketsRequest(page_size=2, page_token=first.next_page_token, assignee_id="9"),
            metadata=ACME,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_token" in error.violations


async def test_the_audit_log_is_gap_free_and_resumable(client: Client) -> None:
    ticket = await client.create()
    await client.stub.AssignTicket(
        pb.AssignTicketRequest(name=ticket.name, assignee_id="5"), metadata=ACME
    )
    await client.stub.ResolveTicket(pb.ResolveTicketRequest(name=ticket.name), metadata=ACME)
    everything = await client.stub.ListTicketEvents(pb.ListTicketEventsRequest(), metadata=ACME)
    assert [e.cursor for e in everything.events] == [1, 2, 3, 4]
    assert everything.head_cursor == 4
    assert [e.type for e in everything.events] == [
        enums_pb2.TICKET_EVENT_TYPE_CUSTOMER_CREATED,
        enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED,
        enums_pb2.TICKET_EVENT_TYPE_ASSIGNEE_CHANGED,
        enums_pb2.TICKET_EVENT_TYPE_STATUS_CHANGED,
    ]
    resumed = await client.stub.ListTicketEvents(
        pb.ListTicketEventsRequest(after_cursor=2, page_size=1), metadata=ACME
    )
    assert [e.cursor for e in resumed.events] == [3]
    status_change = everything.events[3]
    assert dict(status_change.before)["status"] == "open"
    assert dict(status_change.after)["status"] == "resolved"
    created = dict(everything.events[1].after)
    assert (created["number"], created["subject"]) == ("TKT-2026-00001", "Printer on fire")


async def test_a_closed_ticket_is_read_only_but_can_be_deleted(client: Client) -> None:
    ticket = await client.create()
    await client.stub.CloseTicket(pb.CloseTicketRequest(name=ticket.name), metadata=ACME)
    for call in (
        client.stub.UpdateTicket(
            pb.UpdateTicketRequest(ticket=ticket_pb2.Ticket(name=ticket.name, subject="Edited")),
            metadata=ACME,
        ),
        client.stub.AssignTicket(
            pb.AssignTicketRequest(name=ticket.name, assignee_id="3"), metadata=ACME
        ),
    ):
        error = await expect_error(call, grpc.StatusCode.FAILED_PRECONDITION)
        assert error.info.reason == "TICKET_CLOSED"
    deleted = await client.stub.DeleteTicket(
        pb.DeleteTicketRequest(name=ticket.name), metadata=ACME
    )
    assert deleted.HasField("delete_time")
