"""A repeated request_id returns the first answer and changes nothing."""

from __future__ import annotations

import uuid

import grpc

from tests.conftest import ACME
from tests.e2e.conftest import Client, expect_error
from ticketing.ticket.v1 import customer_pb2, ticket_pb2, ticket_service_pb2

pb = ticket_service_pb2


def _create_request(request_id: str, subject: str = "Help") -> pb.CreateTicketRequest:
    return pb.CreateTicketRequest(
        ticket=ticket_pb2.Ticket(subject=subject),
        customer=customer_pb2.Customer(email="ada@example.com"),
        request_id=request_id,
    )


async def test_a_repeated_create_returns_the_first_ticket(client: Client) -> None:
    request_id = str(uuid.uuid4())
    first = await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    head = await client.head()
    again = await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    listed = await client.stub.ListTickets(pb.ListTicketsRequest(), metadata=ACME)
    assert again == first
    assert len(listed.tickets) == 1
    assert await client.head() == head


async def test_a_replay_returns_the_first_answer_not_todays_state(client: Client) -> None:
    request_id = str(uuid.uuid4())
    first = await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    await client.stub.ResolveTicket(pb.ResolveTicketRequest(name=first.name), metadata=ACME)
    again = await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    assert again == first


async def test_a_request_id_reused_for_another_request_is_rejected(client: Client) -> None:
    request_id = str(uuid.uuid4())
    await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    head = await client.head()
    error = await expect_error(
        client.stub.CreateTicket(_create_request(request_id, subject="Other"), metadata=ACME),
        grpc.StatusCode.INVALID_ARGUMENT,
    )
    assert "request_id" in error.violations
    assert await client.head() == head


async def test_repeated_mutations_apply_once(client: Client) -> None:
    ticket = await client.create()
    request = pb.AssignTicketRequest(
        name=ticket.name, assignee_id="12", request_id=str(uuid.uuid4())
    )
    first = await client.stub.AssignTicket(request, metadata=ACME)
    await client.stub.AssignTicket(
        pb.AssignTicketRequest(name=ticket.name, assignee_id="13"), metadata=ACME
    )
    head = await client.head()
    replay = await client.stub.AssignTicket(request, metadata=ACME)
    assert replay == first
    assert await client.head() == head
    current = await client.stub.GetTicket(pb.GetTicketRequest(name=ticket.name), metadata=ACME)
    assert current.assignee_id == "13"


async def test_a_failed_request_does_not_burn_its_request_id(client: Client) -> None:
    request_id = str(uuid.uuid4())
    bad = pb.CreateTicketRequest(
        ticket=ticket_pb2.Ticket(subject="Help"),
        customer=customer_pb2.Customer(email="nope"),
        request_id=request_id,
    )
    await expect_error(
        client.stub.CreateTicket(bad, metadata=ACME), grpc.StatusCode.INVALID_ARGUMENT
    )
    good = await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    assert good.number == "TKT-2026-00001"


async def test_request_ids_are_per_tenant(client: Client) -> None:
    from tests.conftest import GLOBEX

    request_id = str(uuid.uuid4())
    acme = await client.stub.CreateTicket(_create_request(request_id), metadata=ACME)
    globex = await client.stub.CreateTicket(_create_request(request_id), metadata=GLOBEX)
    assert acme.uid != globex.uid
