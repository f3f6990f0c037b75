"""The escalation service's metrics after real traffic: a decision read off the event log,
its escalation, the calls to the ticket service, SLA firings and the clocks by state."""

from __future__ import annotations

from datetime import timedelta

import grpc

from common.clock import ManualClock
from escalation_service import bootstrap as escalation_bootstrap
from tests.escalation.conftest import Desk
from tests.escalation.test_escalation_flow import settled
from tests.escalation.test_sla_clocks import FIRST, RESOLUTION, SlaDesk, has, when
from tests.metrics.support import rpc, sample, scrape, value
from tests.support import eventually
from ticketing.escalation.v1 import sla_service_pb2_grpc

TICKETS = "ticketing.ticket.v1.TicketService"
ESCALATIONS = "ticketing.escalation.v1.EscalationService"


async def test_an_escalation_moves_decisions_escalations_and_grpc_counters(
    desk: Desk, escalation_app: escalation_bootstrap.EscalationApp
) -> None:
    await desk.agent("7", "Grace Hopper")
    angry = await desk.customer_writes(
        601, "This is ridiculous and unacceptable, I am furious with your terrible service!"
    )
    calm = await desk.customer_writes(602, "Thanks, that sounds good.")
    await settled(desk, angry)

    registry = escalation_app.metrics.registry
    decided = {"trigger": "customer_message", "rule": "sentiment_below_threshold"}
    assert sample(registry, "escalation_decisions_total", outcome="escalated", **decided) == 1
    assert (
        sample(
            registry,
            "escalations_created_total",
            trigger="customer_message",
            reason="negative_sentiment",
        )
        == 1
    )
    none = {"trigger": "customer_message", "rule": "none", "outcome": "none"}

    async def calm_decided() -> float | None:
        return sample(registry, "escalation_decisions_total", **none) or None

    assert await eventually(calm_decided) == 1
    assert (await desk.escalations_of(calm)) == []
    # The escalation service as a client: the event log read, the effects carried out.
    client = "grpc_client_handled_total"
    assert sample(registry, client, **rpc(TICKETS, "ListTicketEvents", "OK")) > 0
    assert sample(registry, client, **rpc(TICKETS, "AssignTicket", "OK")) == 1
    assert (
        sample(registry, "grpc_client_handling_seconds_count", **rpc(TICKETS, "AddTicketNote")) == 1
    )
    # ... and as a server.
    handled = "grpc_server_handled_total"
    assert sample(registry, handled, **rpc(ESCALATIONS, "UpdateAgent", "OK")) == 1


async def test_sla_firings_and_clocks_by_state_on_the_endpoint(
    desk: Desk, escalation_app: escalation_bootstrap.EscalationApp, clock: ManualClock
) -> None:
    assert escalation_app.metrics_server is not None

    async with grpc.aio.insecure_channel(f"127.0.0.1:{escalation_app.port}") as channel:
        sla_desk = SlaDesk(desk, sla_service_pb2_grpc.SlaServiceStub(channel), clock)
        await desk.agent("7", "Priya")
        await sla_desk.policy("standard", first=timedelta(hours=1), resolution=timedelta(hours=8))
        ticket = await desk.open_ticket(9201)
        clocks = await sla_desk.clocks_when(ticket, has(FIRST, RESOLUTION))
        clock.set(when(clocks[FIRST].due_time) + timedelta(minutes=1))
        await sla_desk.breach(ticket)

    samples = await scrape(escalation_app.metrics_server.port)

    assert value(samples, "sla_firings_total", metric="first_response", kind="breach") == 1
    # A warning that falls due together with its breach is not logged separately.
    assert value(samples, "sla_firings_total", metric="first_response", kind="warning") is None
    assert value(samples, "sla_clocks", metric="first_response", state="breached") == 1
    assert value(samples, "sla_clocks", metric="resolution", state="running") == 1
    escalated = {"trigger": "sla_breach", "reason": "sla_breach"}
    assert value(samples, "escalations_created_total", **escalated) == 1
    # Breached but not yet answered: the first response clock is still open, at risk.
    open_clocks = "sla_open_clocks"
    assert value(samples, open_clocks, tenant="acme", metric="first_response", risk="breached") == 1
    assert value(samples, open_clocks, tenant="acme", metric="resolution", risk="on_track") == 1
    assert (
        value(samples, open_clocks, tenant="acme", metric="first_response", risk="warning") is None
    )


async def test_a_warned_clock_counts_as_at_risk_for_its_tenant(
    desk: Desk, escalation_app: escalation_bootstrap.EscalationApp, clock: ManualClock
) -> None:
    assert escalation_app.metrics_server is not None

    async with grpc.aio.insecure_channel(f"127.0.0.1:{escalation_app.port}") as channel:
        sla_desk = SlaDesk(desk, sla_service_pb2_grpc.SlaServiceStub(channel), clock)
        await sla_desk.policy("standard", first=timedelta(hours=1), resolution=timedelta(hours=8))
        ticket = await desk.open_ticket(9202)
        clocks = await sla_desk.clocks_when(ticket, has(FIRST, RESOLUTION))
        clock.set(when(clocks[FIRST].warn_time) + timedelta(minutes=1))
        await sla_desk.events_when(ticket, 1)

    samples = await scrape(escalation_app.metrics_server.port)

    assert value(samples, "sla_firings_total", metric="first_response", kind="warning") == 1
    open_clocks = "sla_open_clocks"
    assert value(samples, open_clocks, tenant="acme", metric="first_response", risk="warning") == 1
    assert value(samples, open_clocks, tenant="acme", metric="resolution", risk="on_track") == 1
    assert (
        value(samples, open_clocks, tenant="acme", metric="first_response", risk="breached") is None
    )
