"""The TicketService contract, request to response or status, through grpcio-testing.

Each test gets the real servicer and service over a fresh migrated SQLite file (see
shim.py); the caller is set as the auth interceptor would set it.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2, message

from common.auth import Principal
from tests.conftest import START
from tests.servicer.shim import (
    ACME_GATEWAY_PRINCIPAL,
    ACME_PRINCIPAL,
    GLOBEX_PRINCIPAL,
    RpcFailure,
    ServicerHarness,
)
from ticketing.ticket.v1 import customer_pb2, enums_pb2, ticket_pb2, ticket_service_pb2

ERROR_DOMAIN = "ticketing.ticket.v1"
TWO_MB = 2 * 1024 * 1024
# gRPC's default limit on received metadata: larger trailers never reach the client.
METADATA_LIMIT = 8 * 1024

Ticket = ticket_pb2.Ticket
Customer = customer_pb2.Customer
rpc = ticket_service_pb2


def create_request(
    subject: str = "Printer on fire",
    email: str = "ada@example.com",
    *,
    priority: enums_pb2.TicketPriority.ValueType = enums_pb2.TICKET_PRIORITY_UNSPECIFIED,
    conversation: ticket_pb2.ChatwootConversation | None = None,
    labels: list[str] | None = None,
) -> rpc.CreateTicketRequest:
    return rpc.CreateTicketRequest(
        ticket=Ticket(subject=subject, priority=priority, conversation=conversation, labels=labels),
        customer=Customer(email=email),
    )


def create_ticket(
    servicer: ServicerHarness,
    subject: str = "Printer on fire",
    email: str = "ada@example.com",
    principal: Principal = ACME_PRINCIPAL,
) -> Ticket:
    return servicer.ok(
        "CreateTicket", create_request(subject=subject, email=email), Ticket, principal
    )


def get_ticket(servicer: ServicerHarness, name: str) -> Ticket:
    return servicer.ok("GetTicket", rpc.GetTicketRequest(name=name), Ticket)


def list_events(
    servicer: ServicerHarness, request: rpc.ListTicketEventsRequest | None = None
) -> rpc.ListTicketEventsResponse:
    return servicer.ok(
        "ListTicketEvents",
        request or rpc.ListTicketEventsRequest(),
        rpc.ListTicketEventsResponse,
    )


def assert_nothing_written(servicer: ServicerHarness) -> None:
    events = list_events(servicer)
    assert events.head_cursor == 0
    assert list(events.events) == []
    customers = servicer.ok("ListCustomers", rpc.ListCustomersRequest(), rpc.ListCustomersResponse)
    assert list(customers.customers) == []
    tickets = servicer.ok(
        "ListTickets", rpc.ListTicketsRequest(show_deleted=True), rpc.ListTicketsResponse
    )
    assert list(tickets.tickets) == []


def assert_invalid(failure: RpcFailure, *fields: str) -> None:
    assert failure.code == grpc.StatusCode.INVALID_ARGUMENT, failure.message
    assert failure.fields == list(fields)
    assert failure.error_info.reason == "INVALID_ARGUMENT"
    assert failure.error_info.domain == ERROR_DOMAIN


# CreateTicket


def test_creating_a_ticket_returns_it_open_and_numbered_for_the_year(
    servicer: ServicerHarness,
) -> None:
    ticket = create_ticket(servicer)

    assert ticket.number == "TKT-2026-00001"
    assert ticket.name == "tickets/tkt-2026-00001"
    assert str(uuid.UUID(ticket.uid)) == ticket.uid
    assert ticket.subject == "Printer on fire"
    assert ticket.status == enums_pb2.TICKET_STATUS_OPEN
    assert ticket.priority == enums_pb2.TICKET_PRIORITY_MEDIUM
    assert ticket.etag == '"1"'
    assert ticket.customer.startswith("customers/")
    created = ticket.create_time.ToDatetime(tzinfo=UTC)
    assert START <= created < START + timedelta(seconds=1)
    assert ticket.update_time == ticket.create_time
    assert not ticket.HasField("resolve_time")
    assert not ticket.HasField("close_time")
    assert not ticket.HasField("delete_time")


def test_tickets_are_numbered_in_sequence(servicer: ServicerHarness) -> None:
    numbers = [create_ticket(servicer, subject=f"Problem {i}").number for i in range(3)]

    assert numbers == ["TKT-2026-00001", "TKT-2026-00002", "TKT-2026-00003"]


def test_a_created_ticket_reads_back_by_its_name_in_either_case(
    servicer: ServicerHarness,
) -> None:
    created = create_ticket(servicer)

    assert get_ticket(servicer, created.name) == created
    assert get_ticket(servicer, "tickets/TKT-2026-00001") == created


def test_creating_a_ticket_registers_the_customer_with_normalized_contact(
    servicer: ServicerHarness,
) -> None:
    request = rpc.CreateTicketRequest(
        ticket=Ticket(subject="Printer on fire"),
        customer=Customer(
            display_name=" Ada ", email=" Ada@Example.COM ", phone_number="(415) 555-0123"
        ),
    )
    ticket = servicer.ok("CreateTicket", request, Ticket)

    customer = servicer.ok("GetCustomer", rpc.GetCustomerRequest(name=ticket.customer), Customer)
    assert customer.display_name == "Ada"
    assert customer.email == "ada@example.com"
    assert customer.phone_number == "+14155550123"


def test_phone_numbers_are_read_in_the_tenants_default_region(
    servicer: ServicerHarness,
) -> None:
    request = rpc.CreateTicketRequest(
        ticket=Ticket(subject="Impressora pegando fogo"),
        customer=Customer(phone_number="(11) 91234-5678"),
    )
    ticket = servicer.ok("CreateTicket", request, Ticket, GLOBEX_PRINCIPAL)

    customer = servicer.ok(
        "GetCustomer", rpc.GetCustomerRequest(name=ticket.customer), Customer, GLOBEX_PRINCIPAL
    )
    assert customer.phone_number == "+5511912345678"


def test_a_second_ticket_with_the_same_email_reuses_the_customer(
    servicer: ServicerHarness,
) -> None:
    first = create_ticket(servicer, email="ada@example.com")
    second = create_ticket(servicer, subject="Again", email="ADA@example.com ")

    assert second.customer == first.customer
    customers = servicer.ok("ListCustomers", rpc.ListCustomersRequest(), rpc.ListCustomersResponse)
    assert len(customers.customers) == 1


def test_a_ticket_can_name_an_existing_customer(servicer: ServicerHarness) -> None:
    customer = servicer.ok(
        "CreateCustomer",
        rpc.CreateCustomerRequest(customer=Customer(email="ada@example.com")),
        Customer,
    )

    ticket = servicer.ok(
        "CreateTicket",
        rpc.CreateTicketRequest(ticket=Ticket(subject="Hello", customer=customer.name)),
        Ticket,
    )

    assert ticket.customer == customer.name


def test_a_ticket_for_an_unknown_customer_is_not_found(servicer: ServicerHarness) -> None:
    name = f"customers/{uuid.uuid4()}"

    failure = servicer.fail(
        "CreateTicket", rpc.CreateTicketRequest(ticket=Ticket(subject="Hello", customer=name))
    )

    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.resource_info is not None
    assert failure.resource_info.resource_type == "customer"
    assert failure.resource_info.resource_name == name
    assert_nothing_written(servicer)


INVALID_CREATES: dict[str, tuple[rpc.CreateTicketRequest, str]] = {
    "empty subject": (create_request(subject=""), "ticket.subject"),
    "blank subject": (create_request(subject="   "), "ticket.subject"),
    "301-char subject": (create_request(subject="x" * 301), "ticket.subject"),
    "2 MB subject": (create_request(subject="x" * TWO_MB), "ticket.subject"),
    "invalid email": (create_request(email="ada.example.com"), "customer.email"),
    "unparseable phone": (
        rpc.CreateTicketRequest(
            ticket=Ticket(subject="Hello"), customer=Customer(phone_number="call me")
        ),
        "customer.phone_number",
    ),
    "impossible phone": (
        rpc.CreateTicketRequest(
            ticket=Ticket(subject="Hello"), customer=Customer(phone_number="+1 555 0123")
        ),
        "customer.phone_number",
    ),
    "negative chatwoot contact id": (
        rpc.CreateTicketRequest(
            ticket=Ticket(subject="Hello"), customer=Customer(chatwoot_contact_id=-1)
        ),
        "customer.chatwoot_contact_id",
    ),
    "no customer at all": (
        rpc.CreateTicketRequest(ticket=Ticket(subject="Hello")),
        "ticket.customer",
    ),
    "customer without identifiers": (
        rpc.CreateTicketRequest(
            ticket=Ticket(subject="Hello"), customer=Customer(display_name="Ada")
        ),
        "customer.email",
    ),
    "malformed customer name": (
        rpc.CreateTicketRequest(ticket=Ticket(subject="Hello", customer="customers/ada")),
        "ticket.customer",
    ),
    "unknown priority": (
        create_request(priority=enums_pb2.TicketPriority.ValueType(99)),
        "ticket.priority",
    ),
    "half a conversation": (
        create_request(conversation=ticket_pb2.ChatwootConversation(conversation_id=5)),
        "ticket.conversation",
    ),
    "51 labels": (create_request(labels=[f"l{i}" for i in range(51)]), "ticket.labels"),
    "request_id not a uuid": (
        rpc.CreateTicketRequest(
            ticket=Ticket(subject="Hello"),
            customer=Customer(email="ada@example.com"),
            request_id="first-try",
        ),
        "request_id",
    ),
}


@pytest.mark.parametrize(
    ("request_", "field"), INVALID_CREATES.values(), ids=INVALID_CREATES.keys()
)
def test_an_invalid_create_is_rejected_naming_the_field_and_writes_nothing(
    servicer: ServicerHarness, request_: rpc.CreateTicketRequest, field: str
) -> None:
    failure = servicer.fail("CreateTicket", request_)

    assert_invalid(failure, field)
    assert_nothing_written(servicer)


def test_a_2mb_subject_is_rejected_without_echoing_it(servicer: ServicerHarness) -> None:
    failure = servicer.fail("CreateTicket", create_request(subject="x" * TWO_MB))

    assert_invalid(failure, "ticket.subject")
    assert failure.metadata_size < METADATA_LIMIT


def test_a_rejected_create_does_not_use_up_a_ticket_number(servicer: ServicerHarness) -> None:
    servicer.fail("CreateTicket", create_request(subject=""))

    assert create_ticket(servicer).number == "TKT-2026-00001"


def test_a_second_live_ticket_for_one_conversation_already_exists(
    servicer: ServicerHarness,
) -> None:
    link = ticket_pb2.ChatwootConversation(account_id=3, conversation_id=1234, inbox_id=1)
    first = servicer.ok("CreateTicket", create_request(conversation=link), Ticket)

    failure = servicer.fail("CreateTicket", create_request(subject="Again", conversation=link))

    assert failure.code == grpc.StatusCode.ALREADY_EXISTS
    assert failure.error_info.reason == "CONVERSATION_HAS_TICKET"
    assert failure.error_info.metadata["ticket"] == first.name


# Idempotency


def test_repeating_a_request_id_returns_the_first_ticket_and_creates_nothing_more(
    servicer: ServicerHarness,
) -> None:
    request = create_request()
    request.request_id = str(uuid.uuid4())

    first = servicer.ok("CreateTicket", request, Ticket)
    again = servicer.ok("CreateTicket", request, Ticket)

    assert again == first
    assert list_events(servicer).head_cursor == 2
    tickets = servicer.ok("ListTickets", rpc.ListTicketsRequest(), rpc.ListTicketsResponse)
    assert [t.name for t in tickets.tickets] == [first.name]


def test_a_request_id_reused_for_a_different_request_is_rejected(
    servicer: ServicerHarness,
) -> None:
    request_id = str(uuid.uuid4())
    first = create_request()
    first.request_id = request_id
    servicer.ok("CreateTicket", first, Ticket)
    other = create_request(subject="Something else")
    other.request_id = request_id

    failure = servicer.fail("CreateTicket", other)

    assert_invalid(failure, "request_id")
    assert list_events(servicer).head_cursor == 2


# GetTicket and names


def test_getting_an_unknown_ticket_is_not_found_with_resource_info(
    servicer: ServicerHarness,
) -> None:
    failure = servicer.fail("GetTicket", rpc.GetTicketRequest(name="tickets/tkt-2026-00099"))

    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert failure.error_info.reason == "TICKET_NOT_FOUND"
    assert failure.error_info.domain == ERROR_DOMAIN
    assert failure.resource_info is not None
    assert failure.resource_info.resource_type == "ticket"
    assert failure.resource_info.resource_name == "tickets/tkt-2026-00099"


@pytest.mark.parametrize(
    "name", ["", "tkt-2026-00001", "tickets/1", "tickets/tkt-2026-1", "customers/x"]
)
def test_a_malformed_ticket_name_is_invalid(servicer: ServicerHarness, name: str) -> None:
    failure = servicer.fail("GetTicket", rpc.GetTicketRequest(name=name))

    assert_invalid(failure, "name")


def test_a_malformed_name_in_an_update_is_reported_as_ticket_name(
    servicer: ServicerHarness,
) -> None:
    request = rpc.UpdateTicketRequest(ticket=Ticket(name="tickets/nope", subject="New"))

    assert_invalid(servicer.fail("UpdateTicket", request), "ticket.name")


@pytest.mark.parametrize("digits", [20, 5000], ids=["20 digits", "5000 digits"])
def test_a_ticket_name_with_an_absurd_sequence_is_a_client_error_not_internal(
    servicer: ServicerHarness, digits: int
) -> None:
    name = "tickets/tkt-2026-" + "9" * digits

    failure = servicer.fail("GetTicket", rpc.GetTicketRequest(name=name))

    assert failure.code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)


HUGE = 20 * 1024
OVERSIZED_INPUTS: dict[str, tuple[str, message.Message, str]] = {
    "ticket name": ("GetTicket", rpc.GetTicketRequest(name="tickets/" + "x" * HUGE), "name"),
    "customer name": (
        "GetCustomer",
        rpc.GetCustomerRequest(name="customers/" + "x" * HUGE),
        "name",
    ),
    "phone number": (
        "CreateTicket",
        rpc.CreateTicketRequest(
            ticket=Ticket(subject="Hello"), customer=Customer(phone_number="1" * HUGE)
        ),
        "customer.phone_number",
    ),
}


@pytest.mark.parametrize(
    ("method", "request_", "field"), OVERSIZED_INPUTS.values(), ids=OVERSIZED_INPUTS.keys()
)
def test_an_oversized_bad_value_is_rejected_without_echoing_it_back(
    servicer: ServicerHarness, method: str, request_: message.Message, field: str
) -> None:
    # The status travels in trailing metadata; echoing 20 KB of input there makes a real
    # client see RESOURCE_EXHAUSTED instead of this INVALID_ARGUMENT.
    failure = servicer.fail(method, request_)

    assert_invalid(failure, field)
    assert failure.metadata_size < METADATA_LIMIT


# UpdateTicket


def test_update_changes_only_the_fields_in_the_mask(servicer: ServicerHarness) -> None:
    created = create_ticket(servicer)
    request = rpc.UpdateTicketRequest(
        ticket=Ticket(name=created.name, subject="Printer still on fire", labels=["ignored"]),
        update_mask=field_mask_pb2.FieldMask(paths=["subject"]),
    )

    updated = servicer.ok("UpdateTicket", request, Ticket)

    assert updated.subject == "Printer still on fire"
    assert list(updated.labels) == []
    assert updated.etag == '"2"'
    assert get_ticket(servicer, created.name) == updated


def test_update_without_a_mask_changes_the_fields_that_are_set(
    servicer: ServicerHarness,
) -> None:
    created = create_ticket(servicer)
    request = rpc.UpdateTicketRequest(
        ticket=Ticket(name=created.name, labels=[" printer", "fire", "printer"])
    )

    updated = servicer.ok("UpdateTicket", request, Ticket)

    assert updated.subject == created.subject
    assert list(updated.labels) == ["fire", "printer"]


def test_update_with_an_empty_subject_in_the_mask_is_invalid(servicer: ServicerHarness) -> None:
    created = create_ticket(servicer)
    request = rpc.UpdateTicketRequest(
        ticket=Ticket(name=created.name),
        update_mask=field_mask_pb2.FieldMask(paths=["subject"]),
    )

    assert_invalid(servicer.fail("UpdateTicket", request), "ticket.subject")
    assert get_ticket(servicer, created.name) == created


BAD_MASKS: dict[str, tuple[list[str], str]] = {
    "unknown field": (["colour"], "not a field"),
    "status": (["status"], "ChangeTicketStatus"),
    "priority": (["priority"], "SetTicketPriority"),
    "assignee": (["assignee_id"], "AssignTicket"),
    "output-only number": (["number"], "output-only or immutable"),
    "immutable customer": (["customer"], "output-only or immutable"),
    "status next to subject": (["subject", "status"], "ChangeTicketStatus"),
    "nested path": (["conversation.account_id"], "not a field"),
}


@pytest.mark.parametrize(("paths", "hint"), BAD_MASKS.values(), ids=BAD_MASKS.keys())
def test_an_update_mask_naming_a_field_update_cannot_change_is_rejected(
    servicer: ServicerHarness, paths: list[str], hint: str
) -> None:
    created = create_ticket(servicer)
    request = rpc.UpdateTicketRequest(
        ticket=Ticket(
            name=created.name, subject="New subject", status=enums_pb2.TICKET_STATUS_CLOSED
        ),
        update_mask=field_mask_pb2.FieldMask(paths=paths),
    )

    failure = servicer.fail("UpdateTicket", request)

    assert_invalid(failure, "update_mask")
    assert hint in failure.violations[0][1]
    assert get_ticket(servicer, created.name) == created


# Status


def test_closed_ticket_cannot_go_back_to_in_progress(servicer: ServicerHarness) -> None:
    created = create_ticket(servicer)
    closed = servicer.ok("CloseTicket", rpc.CloseTicketRequest(name=created.name), Ticket)

    failure = servicer.fail(
        "ChangeTicketStatus",
        rpc.ChangeTicketStatusRequest(
            name=created.name, status=enums_pb2.TICKET_STATUS_IN_PROGRESS
        ),
    )

    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.error_info.reason == "INVALID_STATUS_TRANSITION"
    assert failure.error_info.domain == ERROR_DOMAIN
    assert dict(failure.error_info.metadata) == {"current": "CLOSED", "requested": "IN_PROGRESS"}
    assert get_ticket(servicer, created.name) == closed


def test_resolving_then_reopening_sets_and_clears_the_resolve_time(
    servicer: ServicerHarness,
) -> None:
    created = create_ticket(servicer)

    resolved = servicer.ok("ResolveTicket", rpc.ResolveTicketRequest(name=created.name), Ticket)
    reopened = servicer.ok("ReopenTicket", rpc.ReopenTicketRequest(name=created.name), Ticket)

    assert resolved.status == enums_pb2.TICKET_STATUS_RESOLVED
    assert resolved.HasField("resolve_time")
    assert reopened.status == enums_pb2.TICKET_STATUS_OPEN
    assert not reopened.HasField("resolve_time")
    assert reopened.etag == '"3"'


def test_reopening_a_ticket_that_is_not_resolved_is_a_failed_precondition(
    servicer: ServicerHarness,
) -> None:
    created = create_ticket(servicer)
    servicer.ok(
        "ChangeTicketStatus",
        rpc.ChangeTicketStatusRequest(
            name=created.name, status=enums_pb2.TICKET_STATUS_IN_PROGRESS
        ),
        Ticket,
    )

    failure = servicer.fail("ReopenTicket", rpc.ReopenTicketRequest(name=created.name))

    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.error_info.reason == "INVALID_STATUS_TRANSITION"


def test_a_stale_etag_is_aborted_and_changes_nothing(servicer: ServicerHarness) -> None:
    created = create_ticket(servicer)
    assigned = servicer.ok(
        "AssignTicket",
        rpc.AssignTicketRequest(name=created.name, assignee_id="agent-1", etag=created.etag),
        Ticket,
    )

    failure = servicer.fail(
        "SetTicketPriority",
        rpc.SetTicketPriorityRequest(
            name=created.name, priority=enums_pb2.TICKET_PRIORITY_URGENT, etag=created.etag
        ),
    )

    assert failure.code == grpc.StatusCode.ABORTED
    assert failure.error_info.reason == "ETAG_MISMATCH"
    assert dict(failure.error_info.metadata) == {"current_etag": '"2"'}
    assert get_ticket(servicer, created.name) == assigned


def test_a_current_etag_lets_the_change_through(servicer: ServicerHarness) -> None:
    created = create_ticket(servicer)

    changed = servicer.ok(
        "SetTicketPriority",
        rpc.SetTicketPriorityRequest(
            name=created.name, priority=enums_pb2.TICKET_PRIORITY_URGENT, etag=created.etag
        ),
        Ticket,
    )

    assert changed.priority == enums_pb2.TICKET_PRIORITY_URGENT
    assert changed.etag == '"2"'


def test_a_deleted_ticket_stays_readable_but_refuses_changes(servicer: ServicerHarness) -> None:
    created = create_ticket(servicer)
    deleted = servicer.ok("DeleteTicket", rpc.DeleteTicketRequest(name=created.name), Ticket)

    failure = servicer.fail(
        "AssignTicket", rpc.AssignTicketRequest(name=created.name, assignee_id="agent-1")
    )

    assert deleted.HasField("delete_time")
    assert failure.code == grpc.StatusCode.FAILED_PRECONDITION
    assert failure.error_info.reason == "TICKET_DELETED"
    assert get_ticket(servicer, created.name) == deleted
    live = servicer.ok("ListTickets", rpc.ListTicketsRequest(), rpc.ListTicketsResponse)
    assert list(live.tickets) == []
    everything = servicer.ok(
        "ListTickets", rpc.ListTicketsRequest(show_deleted=True), rpc.ListTicketsResponse
    )
    assert [t.name for t in everything.tickets] == [created.name]


UNSPECIFIED_OR_UNKNOWN: dict[str, tuple[str, message.Message, str]] = {
    "status unspecified": (
        "ChangeTicketStatus",
        rpc.ChangeTicketStatusRequest(
            name="tickets/tkt-2026-00001", status=enums_pb2.TICKET_STATUS_UNSPECIFIED
        ),
        "status",
    ),
    "status unknown": (
        "ChangeTicketStatus",
        rpc.ChangeTicketStatusRequest(
            name="tickets/tkt-2026-00001", status=enums_pb2.TicketStatus.ValueType(42)
        ),
        "status",
    ),
    "priority unspecified": (
        "SetTicketPriority",
        rpc.SetTicketPriorityRequest(
            name="tickets/tkt-2026-00001", priority=enums_pb2.TICKET_PRIORITY_UNSPECIFIED
        ),
        "priority",
    ),
    "status filter unspecified": (
        "ListTickets",
        rpc.ListTicketsRequest(statuses=[enums_pb2.TICKET_STATUS_UNSPECIFIED]),
        "statuses",
    ),
    "priority filter unspecified": (
        "ListTickets",
        rpc.ListTicketsRequest(priorities=[enums_pb2.TICKET_PRIORITY_UNSPECIFIED]),
        "priorities",
    ),
}


@pytest.mark.parametrize(
    ("method", "request_", "field"),
    UNSPECIFIED_OR_UNKNOWN.values(),
    ids=UNSPECIFIED_OR_UNKNOWN.keys(),
)
def test_unspecified_and_unknown_enum_values_are_rejected(
    servicer: ServicerHarness, method: str, request_: message.Message, field: str
) -> None:
    create_ticket(servicer)

    assert_invalid(servicer.fail(method, request_), field)
    assert get_ticket(servicer, "tickets/tkt-2026-00001").etag == '"1"'


def test_an_unspecified_priority_on_create_means_medium(servicer: ServicerHarness) -> None:
    ticket = servicer.ok(
        "CreateTicket",
        create_request(priority=enums_pb2.TICKET_PRIORITY_UNSPECIFIED),
        Ticket,
    )

    assert ticket.priority == enums_pb2.TICKET_PRIORITY_MEDIUM


# Lists and pages


NEGATIVE_PAGE_SIZES: dict[str, tuple[str, message.Message]] = {
    "tickets": ("ListTickets", rpc.ListTicketsRequest(page_size=-1)),
    "customers": ("ListCustomers", rpc.ListCustomersRequest(page_size=-1)),
    "events": ("ListTicketEvents", rpc.ListTicketEventsRequest(page_size=-1)),
}


@pytest.mark.parametrize(
    ("method", "request_"), NEGATIVE_PAGE_SIZES.values(), ids=NEGATIVE_PAGE_SIZES.keys()
)
def test_a_negative_page_size_is_invalid(
    servicer: ServicerHarness, method: str, request_: message.Message
) -> None:
    assert_invalid(servicer.fail(method, request_), "page_size")


def test_tickets_page_newest_first_until_the_token_runs_out(servicer: ServicerHarness) -> None:
    names = [create_ticket(servicer, subject=f"Problem {i}").name for i in range(3)]

    seen: list[str] = []
    token = ""
    for _ in range(4):
        page = servicer.ok(
            "ListTickets",
            rpc.ListTicketsRequest(page_size=2, page_token=token),
            rpc.ListTicketsResponse,
        )
        seen += [t.name for t in page.tickets]
        token = page.next_page_token
        if not token:
            break

    assert seen == list(reversed(names))


def _first_page_token(servicer: ServicerHarness) -> str:
    for i in range(2):
        create_ticket(servicer, subject=f"Problem {i}")
    page = servicer.ok("ListTickets", rpc.ListTicketsRequest(page_size=1), rpc.ListTicketsResponse)
    assert page.next_page_token
    return page.next_page_token


def test_a_page_token_used_with_other_filters_is_invalid(servicer: ServicerHarness) -> None:
    token = _first_page_token(servicer)

    failure = servicer.fail(
        "ListTickets",
        rpc.ListTicketsRequest(
            page_size=1, page_token=token, statuses=[enums_pb2.TICKET_STATUS_OPEN]
        ),
    )

    assert_invalid(failure, "page_token")


def test_a_garbage_page_token_is_invalid(servicer: ServicerHarness) -> None:
    failure = servicer.fail("ListTickets", rpc.ListTicketsRequest(page_token="!!not-a-token!!"))

    assert_invalid(failure, "page_token")


def test_a_tampered_page_token_is_invalid_not_internal(servicer: ServicerHarness) -> None:
    token = _first_page_token(servicer)
    padded = token + "=" * (-len(token) % 4)
    create_time, row_id, filters = json.loads(base64.urlsafe_b64decode(padded))
    naive = create_time.replace("+00:00", "")
    forged = base64.urlsafe_b64encode(json.dumps([naive, row_id, filters]).encode()).decode()

    failure = servicer.fail("ListTickets", rpc.ListTicketsRequest(page_size=1, page_token=forged))

    assert_invalid(failure, "page_token")


def test_customers_can_be_filtered_by_email_in_any_case(servicer: ServicerHarness) -> None:
    create_ticket(servicer, email="ada@example.com")
    create_ticket(servicer, subject="Other", email="bob@example.com")

    found = servicer.ok(
        "ListCustomers",
        rpc.ListCustomersRequest(email="ADA@Example.com"),
        rpc.ListCustomersResponse,
    )

    assert [c.email for c in found.customers] == ["ada@example.com"]


# The audit log


def test_events_come_in_cursor_order_with_the_head_cursor(servicer: ServicerHarness) -> None:
    ticket = create_ticket(servicer)
    servicer.ok("ResolveTicket", rpc.ResolveTicketRequest(name=ticket.name, reason="fixed"), Ticket)
    servicer.ok(
        "AssignTicket",
        rpc.AssignTicketRequest(name=ticket.name, assignee_id="agent-1"),
        Ticket,
        ACME_GATEWAY_PRINCIPAL,
    )

    log = list_events(servicer)

    assert log.head_cursor == 4
    assert [e.cursor for e in log.events] == [1, 2, 3, 4]
    assert [e.name for e in log.events] == [f"ticketEvents/{n}" for n in (1, 2, 3, 4)]
    assert [e.type for e in log.events] == [
        enums_pb2.TICKET_EVENT_TYPE_CUSTOMER_CREATED,
        enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED,
        enums_pb2.TICKET_EVENT_TYPE_STATUS_CHANGED,
        enums_pb2.TICKET_EVENT_TYPE_ASSIGNEE_CHANGED,
    ]
    assert [e.ticket for e in log.events] == ["", ticket.name, ticket.name, ticket.name]
    assert {e.customer for e in log.events} == {ticket.customer}
    assert [(e.source, e.actor) for e in log.events] == [
        (enums_pb2.EVENT_SOURCE_API, "tester"),
        (enums_pb2.EVENT_SOURCE_API, "tester"),
        (enums_pb2.EVENT_SOURCE_API, "tester"),
        (enums_pb2.EVENT_SOURCE_CHATWOOT, "gateway"),
    ]
    resolved = log.events[2]
    assert resolved.reason == "fixed"
    assert resolved.before["status"] == "open"
    assert resolved.after["status"] == "resolved"
    assert log.events[1].after["number"] == "TKT-2026-00001"


def test_events_resume_after_a_cursor_and_respect_the_page_size(
    servicer: ServicerHarness,
) -> None:
    ticket = create_ticket(servicer)
    servicer.ok("ResolveTicket", rpc.ResolveTicketRequest(name=ticket.name), Ticket)
    servicer.ok("CloseTicket", rpc.CloseTicketRequest(name=ticket.name), Ticket)

    after_two = list_events(servicer, rpc.ListTicketEventsRequest(after_cursor=2))
    first_only = list_events(servicer, rpc.ListTicketEventsRequest(page_size=1))
    caught_up = list_events(servicer, rpc.ListTicketEventsRequest(after_cursor=4))

    assert [e.cursor for e in after_two.events] == [3, 4]
    assert [e.cursor for e in first_only.events] == [1]
    assert list(caught_up.events) == []
    assert after_two.head_cursor == first_only.head_cursor == caught_up.head_cursor == 4


def test_events_can_be_read_for_one_ticket(servicer: ServicerHarness) -> None:
    first = create_ticket(servicer)
    second = create_ticket(servicer, subject="Another")
    servicer.ok("ResolveTicket", rpc.ResolveTicketRequest(name=first.name), Ticket)

    log = list_events(servicer, rpc.ListTicketEventsRequest(ticket=second.name))

    assert [e.type for e in log.events] == [enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED]
    assert {e.ticket for e in log.events} == {second.name}
    assert log.head_cursor == 4


def test_events_of_an_unknown_ticket_are_not_found(servicer: ServicerHarness) -> None:
    failure = servicer.fail(
        "ListTicketEvents", rpc.ListTicketEventsRequest(ticket="tickets/tkt-2026-00404")
    )

    assert failure.code == grpc.StatusCode.NOT_FOUND


def test_a_negative_after_cursor_is_invalid(servicer: ServicerHarness) -> None:
    failure = servicer.fail("ListTicketEvents", rpc.ListTicketEventsRequest(after_cursor=-1))

    assert_invalid(failure, "after_cursor")


def test_a_rejected_mutation_adds_no_event(servicer: ServicerHarness) -> None:
    ticket = create_ticket(servicer)
    servicer.ok("CloseTicket", rpc.CloseTicketRequest(name=ticket.name), Ticket)

    servicer.fail("ReopenTicket", rpc.ReopenTicketRequest(name=ticket.name))
    servicer.fail(
        "UpdateTicket",
        rpc.UpdateTicketRequest(
            ticket=Ticket(name=ticket.name),
            update_mask=field_mask_pb2.FieldMask(paths=["subject"]),
        ),
    )
    servicer.fail(
        "ChangeTicketStatus",
        rpc.ChangeTicketStatusRequest(name=ticket.name, status=enums_pb2.TICKET_STATUS_OPEN),
    )

    assert list_events(servicer).head_cursor == 3


def test_a_no_op_change_adds_no_event_and_keeps_the_etag(servicer: ServicerHarness) -> None:
    ticket = create_ticket(servicer)

    same = servicer.ok(
        "ChangeTicketStatus",
        rpc.ChangeTicketStatusRequest(name=ticket.name, status=enums_pb2.TICKET_STATUS_OPEN),
        Ticket,
    )

    assert same == ticket
    assert list_events(servicer).head_cursor == 2


# Tenants


def test_a_ticket_of_one_tenant_is_not_found_for_another(servicer: ServicerHarness) -> None:
    ticket = create_ticket(servicer)

    failure = servicer.fail("GetTicket", rpc.GetTicketRequest(name=ticket.name), GLOBEX_PRINCIPAL)
    change = servicer.fail(
        "AssignTicket",
        rpc.AssignTicketRequest(name=ticket.name, assignee_id="intruder"),
        GLOBEX_PRINCIPAL,
    )
    customer = servicer.fail(
        "GetCustomer", rpc.GetCustomerRequest(name=ticket.customer), GLOBEX_PRINCIPAL
    )

    assert failure.code == grpc.StatusCode.NOT_FOUND
    assert change.code == grpc.StatusCode.NOT_FOUND
    assert customer.code == grpc.StatusCode.NOT_FOUND
    assert get_ticket(servicer, ticket.name) == ticket


def test_a_tenant_lists_only_its_own_tickets_customers_and_events(
    servicer: ServicerHarness,
) -> None:
    create_ticket(servicer)

    tickets = servicer.ok(
        "ListTickets", rpc.ListTicketsRequest(), rpc.ListTicketsResponse, GLOBEX_PRINCIPAL
    )
    customers = servicer.ok(
        "ListCustomers", rpc.ListCustomersRequest(), rpc.ListCustomersResponse, GLOBEX_PRINCIPAL
    )
    events = servicer.ok(
        "ListTicketEvents",
        rpc.ListTicketEventsRequest(),
        rpc.ListTicketEventsResponse,
        GLOBEX_PRINCIPAL,
    )

    assert list(tickets.tickets) == []
    assert list(customers.customers) == []
    assert list(events.events) == []
    assert events.head_cursor == 0


def test_each_tenant_numbers_its_tickets_and_keeps_its_customers_separately(
    servicer: ServicerHarness,
) -> None:
    acme = create_ticket(servicer, email="ada@example.com")

    globex = create_ticket(servicer, email="ada@example.com", principal=GLOBEX_PRINCIPAL)

    assert globex.number == acme.number == "TKT-2026-00001"
    assert globex.customer != acme.customer
    assert globex.uid != acme.uid
