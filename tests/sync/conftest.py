"""A ticket service whose acme integration talks to a real Chatwoot simulator process.

The simulator runs once per module (starting it costs about a second) and is reset before
each test. The service runs in-process on both backends, with its dispatcher polling and
retrying fast so that tests wait milliseconds, not seconds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

import grpc
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import SystemClock
from common.config import parse_tenants
from tests.chatwoot_sim.support import ADMIN_TOKEN, SimulatorProcess, run_simulator
from tests.conftest import ACME, tenants_document
from tests.support import eventually
from ticket_service import bootstrap
from ticket_service.domain.chatwoot_sync import RetryPolicy
from ticket_service.service.chatwoot_dispatcher import DispatchSettings
from ticketing.ticket.v1 import (
    chatwoot_sync_pb2,
    customer_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

# The sample payloads' account, which the tests' acme integration is for.
ACCOUNT_ID = 3
FAST_SYNC = DispatchSettings(
    poll_interval=timedelta(milliseconds=50),
    retry=RetryPolicy(initial=timedelta(milliseconds=50), maximum=timedelta(milliseconds=400)),
    breaker_cool_down=timedelta(milliseconds=500),
)
State = chatwoot_sync_pb2.ChatwootSyncState
T = TypeVar("T")


def sync_tenants_document(chatwoot_url: str) -> dict[str, object]:
    """The test tenants, with acme's integration pointing at the simulator."""
    document = tenants_document()
    integration = document["tenants"][0]["chatwoot"][0]
    integration["base_url"] = chatwoot_url
    integration["api_access_token"] = ADMIN_TOKEN
    return document


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorProcess]:
    with run_simulator(account_id=ACCOUNT_ID) as simulator:
        yield simulator


@pytest.fixture
def sim(simulator: SimulatorProcess) -> SimulatorProcess:
    simulator.control.reset()
    return simulator


@pytest.fixture
async def sync_app(
    engine: AsyncEngine, sim: SimulatorProcess
) -> AsyncIterator[bootstrap.TicketApp]:
    tenants = parse_tenants(sync_tenants_document(sim.url))
    app = await bootstrap.start(
        engine=engine, tenants=tenants, listen="127.0.0.1:0", clock=SystemClock(), sync=FAST_SYNC
    )
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def stub(sync_app: bootstrap.TicketApp) -> AsyncIterator[TicketServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{sync_app.port}") as channel:
        yield ticket_service_pb2_grpc.TicketServiceStub(channel)


class Desk:
    """A support desk working tickets whose conversations live in the simulator."""

    def __init__(self, stub: TicketServiceAsyncStub, sim: SimulatorProcess) -> None:
        self.stub = stub
        self.sim = sim

    def conversation(self, **spec: object) -> int:
        """A new conversation in the simulator; its display id."""
        contact = {"name": "Ada", "email": "ada@example.com"}
        seeded = self.sim.control.seed(conversations=[{"contact": contact, **spec}], webhooks=False)
        return seeded.conversation_ids[0]

    async def ticket_for(self, conversation_id: int) -> ticket_pb2.Ticket:
        return await self.stub.CreateTicket(
            ticket_service_pb2.CreateTicketRequest(
                ticket=ticket_pb2.Ticket(
                    subject=f"Conversation {conversation_id}",
                    conversation=ticket_pb2.ChatwootConversation(
                        account_id=ACCOUNT_ID, conversation_id=conversation_id, inbox_id=1
                    ),
                ),
                customer=customer_pb2.Customer(email="ada@example.com"),
            ),
            metadata=ACME,
        )

    async def tasks(
        self, ticket: str = "", state: int = 0
    ) -> list[chatwoot_sync_pb2.ChatwootSyncTask]:
        answer = await self.stub.ListChatwootSyncTasks(
            ticket_service_pb2.ListChatwootSyncTasksRequest(
                ticket=ticket,
                state=state,  # type: ignore[arg-type]
                page_size=500,
            ),
            metadata=ACME,
        )
        return list(answer.tasks)

    async def settled(
        self, ticket: str = "", within: float = 10.0
    ) -> list[chatwoot_sync_pb2.ChatwootSyncTask]:
        """The tasks, once none is pending."""

        async def read() -> list[chatwoot_sync_pb2.ChatwootSyncTask] | None:
            tasks = await self.tasks(ticket)
            return (
                None if any(t.state == State.CHATWOOT_SYNC_STATE_PENDING for t in tasks) else tasks
            )

        return await eventually(read, within)


@pytest.fixture
def desk(stub: TicketServiceAsyncStub, sim: SimulatorProcess) -> Desk:
    return Desk(stub, sim)
