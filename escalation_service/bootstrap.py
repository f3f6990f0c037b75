"""Composition root: the only place that picks concrete adapters and wires them."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from common.auth import AuthInterceptor, TokenAuthenticator
from common.clock import Clock, SystemClock
from common.config import TenantsConfig
from common.grpc.log_context import LogContextInterceptor
from common.grpc.metrics import ServerMetrics
from common.grpc.server import RunningServer, start_server
from common.metrics import MetricsServer, serve_metrics
from common.periodic import Periodic
from common.streams import LiveLog, StreamSettings
from escalation_service.adapters.event_log import CHANNEL
from escalation_service.adapters.event_stream import EscalationEventReader
from escalation_service.adapters.sentiment import LexiconAnalyzer, analyzer_for
from escalation_service.adapters.ticket_client import GrpcTickets, escalation_tokens
from escalation_service.domain.events import StoredEvent
from escalation_service.domain.sentiment import SentimentAnalyzer
from escalation_service.entrypoints.grpc_servicer import (
    ERROR_DOMAIN,
    SERVICE,
    EscalationServicer,
)
from escalation_service.entrypoints.sla_servicer import SLA_SERVICE, SlaServicer
from escalation_service.metrics import EscalationMetrics
from escalation_service.service.agent_directory import AgentDirectory
from escalation_service.service.consumer import EventConsumer
from escalation_service.service.effects import EffectsSettings, EffectsWorker
from escalation_service.service.escalations import EscalationService
from escalation_service.service.ports import Tickets
from escalation_service.service.sla_clocks import SlaReader, SlaScheduler, SlaTracker
from escalation_service.service.sla_policies import SlaAdmin
from escalation_service.settings import WorkerSettings
from ticket_service.chatwoot import ChatwootClient
from ticketing.escalation.v1 import escalation_service_pb2_grpc, sla_service_pb2_grpc


@dataclass
class EscalationApp:
    engine: AsyncEngine
    service: EscalationService
    server: RunningServer
    consumer: EventConsumer
    effects: EffectsWorker
    directory: AgentDirectory
    scheduler: SlaScheduler
    metrics: EscalationMetrics
    events: LiveLog[StoredEvent]
    metrics_server: MetricsServer | None = None

    @property
    def port(self) -> int:
        return self.server.port

    async def stop(self, grace: float = 5.0) -> None:
        await self.server.stop(grace)


async def start(
    *,
    engine: AsyncEngine,
    tenants: TenantsConfig,
    listen: str,
    ticket_service_target: str,
    clock: Clock | None = None,
    workers: WorkerSettings | None = None,
    tickets: Tickets | None = None,
    metrics_listen: str | None = None,
    streams: StreamSettings | None = None,
) -> EscalationApp:
    """Start serving; with `workers`, also follow the ticket event log, carry out effects,
    assign queued escalations and sync the agent directory; with `metrics_listen`, also
    serve /metrics. `streams` tunes WatchEscalationEvents (buffers, heartbeats, the poll)."""
    clock = clock or SystemClock()
    metrics = EscalationMetrics()
    tokens = escalation_tokens(tenants)
    grpc_tickets = GrpcTickets(ticket_service_target, tokens, interceptors=[metrics.grpc_client])
    tickets = tickets or grpc_tickets
    lexicon = LexiconAnalyzer()
    lexicon.warm_up()
    http = httpx.AsyncClient(follow_redirects=False)
    analyzers: dict[str, SentimentAnalyzer] = {
        tenant.id: analyzer_for(tenant, lexicon, client=http) for tenant in tenants.tenants
    }
    reader = EscalationEventReader(engine)
    events = LiveLog(
        reader,
        name="escalation-events",
        channel=CHANNEL,
        database_url=engine.url.render_as_string(hide_password=False),
        settings=streams,
    )
    # With NOTIFY, this process's commits wake the streams like any other replica's.
    events_committed = None if events.uses_notify else events.committed
    settings = workers or WorkerSettings()
    effects = EffectsWorker(
        engine,
        tickets,
        clock,
        EffectsSettings(
            retry_initial=settings.effects_retry_initial,
            retry_max=settings.effects_retry_max,
            lease=settings.effects_lease,
        ),
        on_events_committed=events_committed,
    )
    service = EscalationService(
        engine,
        tickets,
        analyzers.__getitem__,
        clock,
        on_effects_queued=effects.wake,
        metrics=metrics,
        on_events_committed=events_committed,
    )
    clients = _chatwoot_clients(tenants, clock, metrics)
    directory = AgentDirectory.for_tenants(
        service, tenants, lambda name: clients[name].list_agents, clock
    )
    tracker = SlaTracker(service, clock)
    consumer = EventConsumer(
        service, tracker, tickets, sorted(tokens), clock, page_size=settings.page_size
    )
    scheduler = SlaScheduler(engine, tracker, clock, watermark=consumer.caught_up)
    servicer = EscalationServicer(service, directory, events)
    sla_servicer = SlaServicer(SlaAdmin(engine, clock), SlaReader(engine, service, clock))

    def register(server: grpc.aio.Server) -> list[str]:
        escalation_service_pb2_grpc.add_EscalationServiceServicer_to_server(servicer, server)
        sla_service_pb2_grpc.add_SlaServiceServicer_to_server(sla_servicer, server)
        return [SERVICE.full_name, SLA_SERVICE.full_name]

    server = await start_server(
        listen=listen,
        register=register,
        interceptors=[
            ServerMetrics(metrics.registry),
            AuthInterceptor(TokenAuthenticator(tenants), error_domain=ERROR_DOMAIN),
            # Inside the auth interceptor: it names the caller's tenant.
            LogContextInterceptor(),
        ],
    )
    events.start()
    server.on_stopping.append(events.close)
    server.on_stop.append(reader.close)
    metrics_server = await serve_metrics(
        metrics_listen,
        metrics.registry,
        [metrics.clocks_sampler(engine)],
        on_stop=server.on_stop,
    )
    if workers is not None:
        jobs = [Periodic("ticket-event-log", consumer.poll_all, workers.poll_interval)]
        jobs.append(
            Periodic(
                "escalation-queue",
                functools.partial(_assign_all_queued, service, sorted(tokens)),
                workers.queue_interval,
            )
        )
        jobs.append(Periodic("sla-scheduler", scheduler.tick, workers.sla_interval))
        if workers.agent_sync_interval is not None:
            jobs.append(Periodic("agent-sync", directory.sync_all, workers.agent_sync_interval))
        for job in jobs:
            job.start()
            server.on_stop.append(job.stop)
        effects.start()
        server.on_stop.append(effects.stop)

    async def close() -> None:
        for client in clients.values():
            await client.aclose()
        await http.aclose()
        await grpc_tickets.close()

    server.on_stop.append(close)
    server.on_stop.append(engine.dispose)
    return EscalationApp(
        engine,
        service,
        server,
        consumer,
        effects,
        directory,
        scheduler,
        metrics,
        events,
        metrics_server,
    )


async def _assign_all_queued(service: EscalationService, tenant_ids: Sequence[str]) -> None:
    for tenant_id in tenant_ids:
        await service.assign_queued(tenant_id)


def _chatwoot_clients(
    tenants: TenantsConfig, clock: Clock, metrics: EscalationMetrics
) -> dict[str, ChatwootClient]:
    return {
        integration.name: ChatwootClient(integration, clock=clock, metrics=metrics.chatwoot)
        for tenant in tenants.tenants
        for integration in tenant.chatwoot[:1]
    }
