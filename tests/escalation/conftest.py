"""An escalation service and a ticket service, both real gRPC servers on 127.0.0.1 over the
same backend (SQLite or PostgreSQL), each with its own tables. The escalation service
follows the ticket service's event log and acts through its RPCs, as in production."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

from common.clock import ManualClock
from common.config import TenantsConfig, parse_tenants
from common.db import create_engine
from escalation_service import bootstrap as escalation_bootstrap
from escalation_service.settings import WorkerSettings
from tests.conftest import ACME, bearer, tenants_document
from tests.e2e.test_chatwoot_intake import GATEWAY, K, delivery, message, state
from ticket_service import bootstrap
from ticketing.escalation.v1 import (
    agent_pb2,
    escalation_service_pb2,
    escalation_service_pb2_grpc,
    sla_service_pb2_grpc,
)
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.escalation.v1.escalation_service_pb2_grpc import EscalationServiceAsyncStub
    from ticketing.escalation.v1.sla_service_pb2_grpc import SlaServiceAsyncStub
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

ACME_ESCALATION_TOKEN = "acme-escalation-token-0123456789"
GLOBEX_ESCALATION_TOKEN = "globex-escalation-token-0123456789"
FAST = WorkerSettings(
    poll_interval=timedelta(seconds=0.05),
    queue_interval=timedelta(seconds=0.2),
    effects_retry_initial=timedelta(seconds=0.05),
    effects_retry_max=timedelta(seconds=0.2),
    sla_interval=timedelta(seconds=0.05),
    agent_sync_interval=None,
)


def escalation_tenants_document() -> dict[str, Any]:
    document = tenants_document()
    acme, globex = document["tenants"]
    acme["api_tokens"].append(
        {"principal": "escalation-service", "source": "escalation", "token": ACME_ESCALATION_TOKEN}
    )
    globex["api_tokens"].append(
        {
            "principal": "escalation-service",
            "source": "escalation",
            "token": GLOBEX_ESCALATION_TOKEN,
        }
    )
    return document


@pytest.fixture
def tenants() -> TenantsConfig:
    return parse_tenants(escalation_tenants_document())


async def start_escalation_app(
    database_url: str,
    tenants: TenantsConfig,
    clock: ManualClock,
    ticket_app: bootstrap.TicketApp,
    **options: Any,
) -> escalation_bootstrap.EscalationApp:
    """An escalation service with quick workers, following `ticket_app`."""
    return await escalation_bootstrap.start(
        engine=create_engine(database_url),
        tenants=tenants,
        listen="127.0.0.1:0",
        ticket_service_target=f"127.0.0.1:{ticket_app.port}",
        clock=clock,
        workers=FAST,
        **options,
    )


@pytest.fixture
async def escalation_app(
    database_url: str, tenants: TenantsConfig, clock: ManualClock, ticket_app: bootstrap.TicketApp
) -> AsyncIterator[escalation_bootstrap.EscalationApp]:
    app = await start_escalation_app(
        database_url, tenants, clock, ticket_app, metrics_listen="127.0.0.1:0"
    )
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def second_replica(
    database_url: str, tenants: TenantsConfig, clock: ManualClock, ticket_app: bootstrap.TicketApp
) -> AsyncIterator[escalation_service_pb2_grpc.EscalationServiceStub]:
    """A second escalation service on the same database, as a second replica runs."""
    app = await start_escalation_app(database_url, tenants, clock, ticket_app)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{app.port}") as channel:
        yield escalation_service_pb2_grpc.EscalationServiceStub(channel)
    await app.stop(grace=1)


@pytest.fixture
async def sla(
    escalation_app: escalation_bootstrap.EscalationApp,
) -> AsyncIterator[SlaServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{escalation_app.port}") as channel:
        yield sla_service_pb2_grpc.SlaServiceStub(channel)


@pytest.fixture
async def escalations(
    escalation_app: escalation_bootstrap.EscalationApp,
) -> AsyncIterator[EscalationServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{escalation_app.port}") as channel:
        yield escalation_service_pb2_grpc.EscalationServiceStub(channel)


class Desk:
    """A support desk as the tests drive it: agents, customers writing, people escalating."""

    def __init__(self, tickets: TicketServiceAsyncStub, escalations: EscalationServiceAsyncStub):
        self.tickets = tickets
        self.escalations = escalations
        self._message_ids = iter(range(10_000, 1_000_000))

    async def agent(
        self,
        agent_id: str,
        name: str,
        *,
        online: bool = True,
        skills: tuple[str, ...] = (),
        capacity: int = 0,
        metadata: Any = ACME,
    ) -> agent_pb2.Agent:
        availability = (
            agent_pb2.AGENT_AVAILABILITY_ONLINE if online else agent_pb2.AGENT_AVAILABILITY_OFFLINE
        )
        return await self.escalations.UpdateAgent(
            escalation_service_pb2.UpdateAgentRequest(
                agent=agent_pb2.Agent(
                    name=f"agents/{agent_id}",
                    display_name=name,
                    skills=list(skills),
                    capacity=capacity,
                    availability=availability,
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["*"]),
                allow_missing=True,
            ),
            metadata=metadata,
        )

    async def customer_writes(self, conversation_id: int, text: str) -> str:
        """A customer message arrives through the gateway; returns the ticket's name."""
        response = await self.tickets.ApplyChatwootDelivery(
            delivery(
                K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED,
                conversation=state(
                    conversation_id,
                    contact_id=conversation_id,
                    email=f"c{conversation_id}@example.com",
                ),
                msg=message(next(self._message_ids), content=text),
            ),
            metadata=GATEWAY,
        )
        assert response.ticket, response
        return response.ticket

    async def open_ticket(self, conversation_id: int) -> str:
        response = await self.tickets.ApplyChatwootDelivery(
            delivery(
                K.CHATWOOT_EVENT_KIND_CONVERSATION_CREATED,
                conversation=state(
                    conversation_id,
                    contact_id=conversation_id,
                    email=f"c{conversation_id}@example.com",
                ),
            ),
            metadata=GATEWAY,
        )
        assert response.ticket, response
        return response.ticket

    async def ticket(self, name: str) -> Any:
        return await self.tickets.GetTicket(
            ticket_service_pb2.GetTicketRequest(name=name), metadata=ACME
        )

    async def escalations_of(self, ticket: str) -> list[Any]:
        response = await self.escalations.ListEscalations(
            escalation_service_pb2.ListEscalationsRequest(ticket=ticket), metadata=ACME
        )
        return list(response.escalations)

    async def notes_of(self, ticket: str) -> list[str]:
        response = await self.tickets.ListTicketEvents(
            ticket_service_pb2.ListTicketEventsRequest(ticket=ticket, page_size=1000),
            metadata=ACME,
        )
        return [
            str(event.after["body"])
            for event in response.events
            if event.type == enums_pb2.TICKET_EVENT_TYPE_NOTE_ADDED
        ]


@pytest.fixture
def desk(stub: TicketServiceAsyncStub, escalations: EscalationServiceAsyncStub) -> Desk:
    return Desk(stub, escalations)


ESCALATION_CREDENTIAL = bearer(ACME_ESCALATION_TOKEN)
