"""Every RPC but health and reflection needs a bearer token; the token decides the tenant."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.conftest import ACME, ACME_GATEWAY_TOKEN, GLOBEX, bearer
from tests.e2e.conftest import Client, expect_error
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2


async def test_a_call_without_a_token_is_unauthenticated(client: Client) -> None:
    error = await expect_error(
        client.stub.GetTicket(ticket_service_pb2.GetTicketRequest(name="tickets/tkt-2026-00001")),
        grpc.StatusCode.UNAUTHENTICATED,
    )
    assert error.info.reason == "UNAUTHENTICATED"


async def test_an_unknown_token_is_unauthenticated_and_not_echoed(client: Client) -> None:
    error = await expect_error(
        client.create(metadata=bearer("not-a-real-token-at-all")), grpc.StatusCode.UNAUTHENTICATED
    )
    assert "not-a-real-token-at-all" not in error.message


async def test_a_non_bearer_scheme_is_unauthenticated(client: Client) -> None:
    await expect_error(
        client.create(metadata=(("authorization", "Basic YWxhZGRpbjpvcGVu"),)),
        grpc.StatusCode.UNAUTHENTICATED,
    )


async def test_a_rejected_call_writes_nothing(client: Client) -> None:
    await expect_error(
        client.create(metadata=bearer("wrong-token-wrong-token")), grpc.StatusCode.UNAUTHENTICATED
    )
    assert await client.head() == 0


async def test_health_and_reflection_need_no_token(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    response = await health.Check(health_pb2.HealthCheckRequest(service=""))
    assert response.status == health_pb2.HealthCheckResponse.SERVING
    named = await health.Check(
        health_pb2.HealthCheckRequest(service="ticketing.ticket.v1.TicketService")
    )
    assert named.status == health_pb2.HealthCheckResponse.SERVING

    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    services: list[str] = []
    async for answer in reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    ):
        services += [s.name for s in answer.list_services_response.service]
    assert "ticketing.ticket.v1.TicketService" in services


async def test_another_tenants_ticket_is_not_found(client: Client) -> None:
    ticket = await client.create()
    error = await expect_error(
        client.stub.GetTicket(
            ticket_service_pb2.GetTicketRequest(name=ticket.name), metadata=GLOBEX
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    assert error.resource is not None
    assert error.resource.resource_name == ticket.name
    await expect_error(
        client.stub.ResolveTicket(
            ticket_service_pb2.ResolveTicketRequest(name=ticket.name), metadata=GLOBEX
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    await expect_error(
        client.stub.GetCustomer(
            ticket_service_pb2.GetCustomerRequest(name=ticket.customer), metadata=GLOBEX
        ),
        grpc.StatusCode.NOT_FOUND,
    )


async def test_tenants_see_only_their_own_lists_and_logs(client: Client) -> None:
    await client.create()
    listed = await client.stub.ListTickets(ticket_service_pb2.ListTicketsRequest(), metadata=GLOBEX)
    customers = await client.stub.ListCustomers(
        ticket_service_pb2.ListCustomersRequest(), metadata=GLOBEX
    )
    assert list(listed.tickets) == []
    assert list(customers.customers) == []
    assert await client.head(GLOBEX) == 0
    assert await client.head(ACME) == 2


async def test_each_tenant_numbers_its_tickets_from_one(client: Client) -> None:
    acme = await client.create()
    globex = await client.create(metadata=GLOBEX)
    assert acme.number == globex.number == "TKT-2026-00001"
    # Same email, different tenants: two separate customers.
    assert acme.customer != globex.customer


async def test_the_credential_not_the_request_names_the_actor(client: Client) -> None:
    await client.create(metadata=bearer(ACME_GATEWAY_TOKEN))
    log = await client.stub.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(), metadata=ACME
    )
    assert {(e.actor, e.source) for e in log.events} == {
        ("gateway", enums_pb2.EVENT_SOURCE_CHATWOOT)
    }
