"""Reconciliation finds what dropped webhooks missed; backfill imports an account, resumably.

The simulator seeds conversations with its webhooks off, exactly what a Chatwoot whose
webhooks never reached us leaves behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from common.clock import SystemClock
from common.config import ChatwootIntegration, Tenant, parse_tenants
from tests.chatwoot_sim.support import SimulatorProcess
from tests.conftest import ACME
from tests.sync.conftest import ACCOUNT_ID, FAST_SYNC, Desk, sync_tenants_document
from ticket_service import bootstrap
from ticket_service.chatwoot import ChatwootError, ChatwootStatus, Conversation
from ticket_service.service.reconciler import Reconciler, Report
from ticketing.ticket.v1 import enums_pb2, ticket_pb2, ticket_service_pb2

S = enums_pb2.TicketStatus


@pytest.fixture
async def reconciler(
    sync_app: bootstrap.TicketApp, sim: SimulatorProcess
) -> AsyncIterator[Reconciler]:
    tenants = parse_tenants(sync_tenants_document(sim.url))
    clock = SystemClock()
    clients = bootstrap.chatwoot_clients(tenants, clock, FAST_SYNC)
    yield Reconciler(sync_app.service, clients, tenants, clock)
    for client in clients.values():
        await client.aclose()


def _acme(sim: SimulatorProcess) -> tuple[Tenant, ChatwootIntegration]:
    tenant = parse_tenants(sync_tenants_document(sim.url)).tenant("acme")
    return tenant, tenant.chatwoot[0]


async def _tickets(desk: Desk) -> dict[int, ticket_pb2.Ticket]:
    """The tenant's tickets by conversation id."""
    found: dict[int, ticket_pb2.Ticket] = {}
    token = ""
    while True:
        page = await desk.stub.ListTickets(
            ticket_service_pb2.ListTicketsRequest(page_size=500, page_token=token), metadata=ACME
        )
        found.update({t.conversation.conversation_id: t for t in page.tickets})
        token = page.next_page_token
        if not token:
            return found


def _quiet_conversations(sim: SimulatorProcess, count: int) -> list[int]:
    """Conversations Chatwoot created while none of its webhooks reached us."""
    seeded = sim.control.seed(
        conversations=[
            {"contact": {"name": f"Customer {n}", "email": f"customer{n}@example.com"}}
            for n in range(count)
        ],
        webhooks=False,
    )
    return seeded.conversation_ids


async def test_reconciliation_recovers_conversations_whose_webhooks_were_dropped(
    desk: Desk, reconciler: Reconciler, sim: SimulatorProcess
) -> None:
    conversations = _quiet_conversations(sim, 50)
    tenant, integration = _acme(sim)

    report = await reconciler.reconcile(tenant, integration)

    assert report is not None
    assert (report.seen, report.applied) == (50, 50)
    tickets = await _tickets(desk)
    assert sorted(tickets) == sorted(conversations)
    assert {t.status for t in tickets.values()} == {S.TICKET_STATUS_OPEN}

    # Resolved in Chatwoot, webhooks still lost: the next pass brings the change.
    sim.control.webhooks_enabled(False)
    async with httpx.AsyncClient(base_url=sim.api_url, headers=sim.headers()) as chatwoot:
        for conversation in conversations[:5]:
            answer = await chatwoot.post(
                f"/conversations/{conversation}/toggle_status", json={"status": "resolved"}
            )
            assert answer.status_code == 200

    again = await reconciler.reconcile(tenant, integration)

    assert again is not None
    assert again.applied == 5
    tickets = await _tickets(desk)
    resolved = sorted(c for c, t in tickets.items() if t.status == S.TICKET_STATUS_RESOLVED)
    assert resolved == sorted(conversations[:5])


async def test_a_pass_that_fails_leaves_its_window_to_the_next(
    desk: Desk, reconciler: Reconciler, sim: SimulatorProcess
) -> None:
    tenant, integration = _acme(sim)
    await reconciler.reconcile(tenant, integration)
    _quiet_conversations(sim, 3)
    sim.control.fault(path_prefix=sim.api_path("/conversations"), method="GET", status=503, times=1)

    with pytest.raises(ChatwootError):
        await reconciler.reconcile(tenant, integration)
    assert await _tickets(desk) == {}

    report = await reconciler.reconcile(tenant, integration)

    assert report is not None
    assert report.applied == 3
    assert len(await _tickets(desk)) == 3


async def test_one_replica_reconciles_an_integration_at_a_time(
    reconciler: Reconciler, sim: SimulatorProcess
) -> None:
    tenant, integration = _acme(sim)
    _quiet_conversations(sim, 5)
    sim.control.fault(path_prefix=sim.api_path("/conversations"), method="GET", delay_seconds=0.5)

    first, second = await asyncio.gather(
        reconciler.reconcile(tenant, integration),
        reconciler.reconcile(tenant, integration),
    )

    assert sorted([first is None, second is None]) == [False, True]


async def test_backfill_imports_every_conversation_and_resumes_after_a_failure(
    desk: Desk, reconciler: Reconciler, sim: SimulatorProcess
) -> None:
    conversations = _quiet_conversations(sim, 60)  # three pages of 25
    tenant, integration = _acme(sim)
    list_path = sim.api_path("/conversations")
    calls_before = len(sim.control.calls())
    pages: list[int] = []

    def after_page(page: int, seen: int, total: int | None) -> None:
        pages.append(page)
        if page == 2:  # Chatwoot fails the next page once: the backfill stops there.
            sim.control.fault(path_prefix=list_path, method="GET", status=500, times=1)

    with pytest.raises(ChatwootError):
        await reconciler.backfill(tenant, integration, on_page=after_page)
    assert pages == [1, 2]
    assert len(await _tickets(desk)) == 50

    report = await reconciler.backfill(tenant, integration, on_page=after_page)

    assert pages == [1, 2, 3]
    assert report.seen == 10
    assert sorted(await _tickets(desk)) == sorted(conversations)
    asked = [
        c.query.get("page")
        for c in sim.control.calls()[calls_before:]
        if c.path == list_path and c.status == 200
    ]
    assert asked == ["1", "2", "3", "4"]  # refused once at page 3, then resumed there


async def test_a_conversation_the_intake_refuses_is_passed_over_not_retried_forever(
    desk: Desk, reconciler: Reconciler, sim: SimulatorProcess
) -> None:
    tenant, integration = _acme(sim)
    # No contact: nobody to open a ticket for.
    orphan = Conversation(
        id=999,
        account_id=ACCOUNT_ID,
        inbox_id=1,
        status=ChatwootStatus.OPEN,
        priority=None,
        snoozed_until=None,
        assignee_id=None,
        team_id=None,
        labels=(),
        custom_attributes={},
        updated_at=datetime.now(UTC),
        contact=None,
    )
    report = Report()

    await reconciler.apply(tenant, integration, orphan, report)

    assert (report.seen, report.applied, report.refused) == (1, 0, 1)
    assert await _tickets(desk) == {}
