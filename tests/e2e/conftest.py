from __future__ import annotations

from typing import TYPE_CHECKING

import grpc
import pytest

from tests.conftest import ACME
from tests.support import RichError, rich_error
from ticketing.ticket.v1 import customer_pb2, ticket_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub


class Client:
    """The ticket API as a caller sees it, with a few conveniences for tests."""

    def __init__(self, stub: TicketServiceAsyncStub) -> None:
        self.stub = stub

    async def create(
        self,
        subject: str = "Printer on fire",
        *,
        email: str = "ada@example.com",
        metadata: tuple[tuple[str, str], ...] = ACME,
        **ticket_fields: object,
    ) -> ticket_pb2.Ticket:
        return await self.stub.CreateTicket(
            ticket_service_pb2.CreateTicketRequest(
                ticket=ticket_pb2.Ticket(subject=subject, **ticket_fields),  # type: ignore[arg-type]
                customer=customer_pb2.Customer(email=email),
            ),
            metadata=metadata,
        )

    async def head(self, metadata: tuple[tuple[str, str], ...] = ACME) -> int:
        response = await self.stub.ListTicketEvents(
            ticket_service_pb2.ListTicketEventsRequest(page_size=1), metadata=metadata
        )
        return response.head_cursor


@pytest.fixture
def client(stub: TicketServiceAsyncStub) -> Client:
    return Client(stub)


async def expect_error(call: object, code: grpc.StatusCode) -> RichError:
    """Await `call`, which must fail with `code`; return its decoded rich status."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call  # type: ignore[misc]
    error = rich_error(raised.value)
    assert error.code == code, (error.code, error.message)
    return error
