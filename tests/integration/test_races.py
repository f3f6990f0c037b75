"""What must be unique is made unique by the database; these races prove it.

Each test fires many real gRPC clients at once. On PostgreSQL the transactions truly
overlap; on SQLite they serialize, and the same guarantees must hold.
"""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from tests.conftest import ACME
from ticket_service.bootstrap import TicketApp
from ticketing.ticket.v1 import (
    customer_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

pb = ticket_service_pb2
CLIENTS = 20


async def _clients(app: TicketApp, count: int = CLIENTS) -> list[grpc.aio.Channel]:
    return [grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") for _ in range(count)]


async def _close(channels: list[grpc.aio.Channel]) -> None:
    await asyncio.gather(*(channel.close() for channel in channels))


def _request(email: str, subject: str = "Race", **fields: object) -> pb.CreateTicketRequest:
    return pb.CreateTicketRequest(
        ticket=ticket_pb2.Ticket(subject=subject, **fields),  # type: ignore[arg-type]
        customer=customer_pb2.Customer(email=email),
    )


async def test_200_tickets_from_20_clients_get_200_gap_free_numbers(ticket_app: TicketApp) -> None:
    channels = await _clients(ticket_app)

    async def client(index: int, channel: grpc.aio.Channel) -> list[str]:
        stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
        return [
            (await stub.CreateTicket(_request(f"c{index}-{n}@example.com"), metadata=ACME)).number
            for n in range(10)
        ]

    try:
        results = await asyncio.gather(*(client(i, c) for i, c in enumerate(channels)))
    finally:
        await _close(channels)
    numbers = sorted(number for batch in results for number in batch)
    assert numbers == [f"TKT-2026-{n:05d}" for n in range(1, 201)]


async def test_the_audit_log_stays_gap_free_under_concurrent_writers(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    channels = await _clients(ticket_app, 10)
    try:
        await asyncio.gather(
            *(
                ticket_service_pb2_grpc.TicketServiceStub(c).CreateTicket(
                    _request(f"log{i}@example.com"), metadata=ACME
                )
                for i, c in enumerate(channels)
            )
        )
    finally:
        await _close(channels)
    log = await stub.ListTicketEvents(pb.ListTicketEventsRequest(page_size=1000), metadata=ACME)
    assert [e.cursor for e in log.events] == list(range(1, 21))
    assert log.head_cursor == 20


@pytest.mark.parametrize(
    "spellings",
    [
        [
            f"{' ' * (i % 3)}Race@Example.COM" if i % 2 else "race@example.com"
            for i in range(CLIENTS)
        ],
    ],
)
async def test_concurrent_tickets_for_one_new_email_share_one_customer(
    ticket_app: TicketApp,
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub,
    spellings: list[str],
) -> None:
    channels = await _clients(ticket_app)
    try:
        tickets = await asyncio.gather(
            *(
                ticket_service_pb2_grpc.TicketServiceStub(c).CreateTicket(
                    _request(email), metadata=ACME
                )
                for c, email in zip(channels, spellings, strict=True)
            )
        )
    finally:
        await _close(channels)
    customers = await stub.ListCustomers(pb.ListCustomersRequest(), metadata=ACME)
    assert len(customers.customers) == 1
    assert {t.customer for t in tickets} == {customers.customers[0].name}


async def test_concurrent_tickets_for_one_new_phone_share_one_customer(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    notations = ["+1 415 555 0123", "(415) 555-0123", "415.555.0123", "+14155550123"]
    channels = await _clients(ticket_app)
    try:
        await asyncio.gather(
            *(
                ticket_service_pb2_grpc.TicketServiceStub(c).CreateTicket(
                    pb.CreateTicketRequest(
                        ticket=ticket_pb2.Ticket(subject="Call me"),
                        customer=customer_pb2.Customer(phone_number=notations[i % len(notations)]),
                    ),
                    metadata=ACME,
                )
                for i, c in enumerate(channels)
            )
        )
    finally:
        await _close(channels)
    customers = await stub.ListCustomers(pb.ListCustomersRequest(), metadata=ACME)
    assert [c.phone_number for c in customers.customers] == ["+14155550123"]


async def test_concurrent_retries_of_one_request_create_one_ticket(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    request = _request("retry@example.com")
    request.request_id = str(uuid.uuid4())
    channels = await _clients(ticket_app)
    try:
        answers = await asyncio.gather(
            *(
                ticket_service_pb2_grpc.TicketServiceStub(c).CreateTicket(request, metadata=ACME)
                for c in channels
            )
        )
    finally:
        await _close(channels)
    listed = await stub.ListTickets(pb.ListTicketsRequest(), metadata=ACME)
    assert len(listed.tickets) == 1
    assert all(answer == answers[0] for answer in answers)


async def test_concurrent_tickets_for_one_conversation_yield_exactly_one(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    link = ticket_pb2.ChatwootConversation(account_id=3, conversation_id=1042, inbox_id=7)
    channels = await _clients(ticket_app)
    try:
        outcomes = await asyncio.gather(
            *(
                ticket_service_pb2_grpc.TicketServiceStub(c).CreateTicket(
                    _request(f"conv{i}@example.com", conversation=link), metadata=ACME
                )
                for i, c in enumerate(channels)
            ),
            return_exceptions=True,
        )
    finally:
        await _close(channels)
    created = [o for o in outcomes if isinstance(o, ticket_pb2.Ticket)]
    refused = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(created) == 1
    assert len(refused) == CLIENTS - 1
    assert {e.code() for e in refused} == {grpc.StatusCode.ALREADY_EXISTS}
    listed = await stub.ListTickets(
        pb.ListTicketsRequest(chatwoot_conversation_id=1042), metadata=ACME
    )
    assert [t.name for t in listed.tickets] == [created[0].name]
