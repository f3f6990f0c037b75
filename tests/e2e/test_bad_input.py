"""Bad input gets INVALID_ARGUMENT naming each bad field, and writes nothing."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import field_mask_pb2

from tests.conftest import ACME
from tests.e2e.conftest import Client, expect_error
from ticketing.ticket.v1 import customer_pb2, ticket_pb2, ticket_service_pb2


async def _rejected(
    client: Client, request: ticket_service_pb2.CreateTicketRequest
) -> dict[str, str]:
    error = await expect_error(
        client.stub.CreateTicket(request, metadata=ACME), grpc.StatusCode.INVALID_ARGUMENT
    )
    listed = await client.stub.ListCustomers(
        ticket_service_pb2.ListCustomersRequest(), metadata=ACME
    )
    assert await client.head() == 0, "a rejected request wrote audit events"
    assert list(listed.customers) == [], "a rejected request created a customer"
    return error.violations


def _create(
    subject: str = "Help", *, email: str = "", phone_number: str = ""
) -> ticket_service_pb2.CreateTicketRequest:
    return ticket_service_pb2.CreateTicketRequest(
        ticket=ticket_pb2.Ticket(subject=subject),
        customer=customer_pb2.Customer(email=email, phone_number=phone_number),
    )


@pytest.mark.parametrize(
    ("customer", "field"),
    [
        ({"email": ""}, "customer.email"),
        ({"email": "   "}, "customer.email"),
        ({"email": "not-an-email"}, "customer.email"),
        ({"email": "two@@example.com"}, "customer.email"),
        ({"phone_number": "call me maybe"}, "customer.phone_number"),
        ({"phone_number": "+1 555"}, "customer.phone_number"),
    ],
)
async def test_bad_contact_details_are_rejected(
    client: Client, customer: dict[str, str], field: str
) -> None:
    violations = await _rejected(client, _create(**customer))
    assert field in violations


async def test_a_two_megabyte_subject_is_rejected(client: Client) -> None:
    violations = await _rejected(client, _create("x" * 2_000_000, email="ada@example.com"))
    assert "ticket.subject" in violations


async def test_an_empty_subject_is_rejected(client: Client) -> None:
    violations = await _rejected(client, _create("  ", email="ada@example.com"))
    assert violations["ticket.subject"] == "is required"


async def test_a_ticket_needs_a_customer(client: Client) -> None:
    request = ticket_service_pb2.CreateTicketRequest(ticket=ticket_pb2.Ticket(subject="Help"))
    assert "ticket.customer" in await _rejected(client, request)


async def test_every_bad_field_is_reported_at_once(client: Client) -> None:
    request = _create("", email="ada@example.com")
    request.ticket.labels.extend(["", "x" * 300])
    violations = await _rejected(client, request)
    assert {"ticket.subject", "ticket.labels"} <= set(violations)


async def test_a_negative_page_size_is_rejected(client: Client) -> None:
    error = await expect_error(
        client.stub.ListTickets(ticket_service_pb2.ListTicketsRequest(page_size=-1), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "page_size" in error.violations


@pytest.mark.parametrize(
    ("path", "hint"),
    [
        ("no_such_field", "not a field"),
        ("status", "ChangeTicketStatus"),
        ("priority", "SetTicketPriority"),
        ("number", "output-only"),
        ("create_time", "output-only"),
    ],
)
async def test_update_masks_name_only_updatable_fields(
    client: Client, path: str, hint: str
) -> None:
    ticket = await client.create()
    head = await client.head()
    error = await expect_error(
        client.stub.UpdateTicket(
            ticket_service_pb2.UpdateTicketRequest(
                ticket=ticket_pb2.Ticket(name=ticket.name, subject="Changed"),
                update_mask=field_mask_pb2.FieldMask(paths=["subject", path]),
            ),
            metadata=ACME,
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert hint in error.violations["update_mask"]
    unchanged = await client.stub.GetTicket(
        ticket_service_pb2.GetTicketRequest(name=ticket.name), metadata=ACME
    )
    assert unchanged == ticket
    assert await client.head() == head


async def test_a_request_id_must_be_a_uuid(client: Client) -> None:
    request = _create(email="ada@example.com")
    request.request_id = "retry-1"
    assert "request_id" in await _rejected(client, request)


@pytest.mark.parametrize("name", ["", "tickets/42", "tickets/tkt-26-00001", "customers/x"])
async def test_malformed_names_are_invalid_not_missing(client: Client, name: str) -> None:
    error = await expect_error(
        client.stub.GetTicket(ticket_service_pb2.GetTicketRequest(name=name), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "name" in error.violations


async def test_an_unspecified_priority_is_rejected(client: Client) -> None:
    ticket = await client.create()
    error = await expect_error(
        client.stub.SetTicketPriority(
            ticket_service_pb2.SetTicketPriorityRequest(name=ticket.name), metadata=ACME
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "priority" in error.violations
