from __future__ import annotations

from typing import TYPE_CHECKING

from tests.conftest import ACME
from ticketing.ticket.v1 import customer_pb2, ticket_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub


async def test_creates_and_reads_back_a_ticket(stub: TicketServiceAsyncStub) -> None:
    created = await stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject="Printer on fire"),
            customer=customer_pb2.Customer(email="ada@example.com"),
        ),
        metadata=ACME,
    )
    fetched = await stub.GetTicket(
        ticket_service_pb2.GetTicketRequest(name=created.name), metadata=ACME
    )
    assert fetched == created
    assert created.number == "TKT-2026-00001"
