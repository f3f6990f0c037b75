"""Composition root: the only place that picks concrete adapters and wires them."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import grpc
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
from ticket_service.adapters.event_stream import TicketEventReader
from ticket_service.adapters.repository import EVENTS_CHANNEL, StoredEvent
from ticket_service.chatwoot import ChatwootClient, CircuitBreaker
from ticket_service.chatwoot.metrics import ChatwootCallMetrics
from ticket_service.entrypoints.grpc_servicer import ERROR_DOMAIN, SERVICE, TicketServicer
from ticket_service.metrics import TicketMetrics
from ticket_service.service.chatwoot_dispatcher import ChatwootDispatcher, DispatchSettings
from ticket_service.service.reconciler import Reconciler, ReconcileSettings
from ticket_service.service.retention import Janitor, RetentionSettings
from ticket_service.service.sync_tasks import SyncTasks
from ticket_service.service.tickets import TicketService
from ticketing.ticket.v1 import ticket_service_pb2_grpc

# How long a stopping service lets the dispatcher finish the Chatwoot calls in flight.
DISPATCHER_STOP_GRACE = 5.0


@dataclass
class TicketApp:
    engine: AsyncEngine
    service: TicketService
    server: RunningServer
    dispatcher: ChatwootDispatcher | None
    metrics: TicketMetrics
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
    clock: Clock | None = None,
    sync: DispatchSettings | None = None,
    reconcile: ReconcileSettings | None = None,
    retention: RetentionSettings | None = None,
    metrics_listen: str | None = None,
    streams: StreamSettings | None = None,
) -> TicketApp:
    """Start serving; with `sync`, also deliver the Chatwoot outbox; with `reconcile`, also
    reconcile each integration with Chatwoot's conversation list; with `retention`, also
    delete bookkeeping rows past their time; with `metrics_listen`, also serve /metrics.
    `streams` tunes WatchTicketEvents (buffers, heartbeats, the poll)."""
    clock = clock or SystemClock()
    metrics = TicketMetrics()
    clients = chatwoot_clients(tenants, clock, sync or DispatchSettings(), metrics.chatwoot)
    dispatcher = None
    if sync is not None:
        dispatcher = ChatwootDispatcher(engine, clients, clock, sync)
    wake = dispatcher.wake if dispatcher else _nothing
    reader = TicketEventReader(engine)
    events = LiveLog(
        reader,
        name="ticket-events",
        channel=EVENTS_CHANNEL,
        database_url=engine.url.render_as_string(hide_password=False),
        settings=streams,
    )
    service = TicketService(
        engine,
        clock,
        on_sync_queued=wake,
        # With NOTIFY, this process's commits wake the streams like any other replica's.
        on_events_committed=None if events.uses_notify else events.committed,
    )
    servicer = TicketServicer(
        service, SyncTasks(service, on_sync_queued=wake), metrics, events=events
    )

    def register(server: grpc.aio.Server) -> list[str]:
        ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(servicer, server)
        return [SERVICE.full_name]

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
        [metrics.outbox_sampler(engine, clock)],
        on_stop=server.on_stop,
    )
    if dispatcher is not None:
        dispatcher.start()
        server.on_stop.append(functools.partial(dispatcher.stop, DISPATCHER_STOP_GRACE))
    if reconcile is not None:
        reconciler = Reconciler(service, clients, tenants, clock, reconcile)
        reconciling = Periodic("chatwoot-reconciler", reconciler.reconcile_all, reconcile.interval)
        reconciling.start()
        server.on_stop.append(reconciling.stop)

    if retention is not None:
        sweeping = Periodic(
            "retention", Janitor(engine, clock, retention).sweep_and_log, retention.interval
        )
        sweeping.start()
        server.on_stop.append(sweeping.stop)

    async def close_clients() -> None:
        for client in clients.values():
            await client.aclose()

    server.on_stop.append(close_clients)
    server.on_stop.append(engine.dispose)
    return TicketApp(engine, service, server, dispatcher, metrics, events, metrics_server)


def chatwoot_clients(
    tenants: TenantsConfig,
    clock: Clock,
    sync: DispatchSettings,
    metrics: ChatwootCallMetrics | None = None,
) -> dict[str, ChatwootClient]:
    """One client per integration, each with its own circuit breaker."""
    return {
        integration.name: ChatwootClient(
            integration,
            clock=clock,
            breaker=CircuitBreaker(
                integration.name,
                failure_threshold=sync.breaker_threshold,
                cool_down=sync.breaker_cool_down,
                clock=clock,
            ),
            metrics=metrics,
        )
        for tenant in tenants.tenants
        for integration in tenant.chatwoot
    }


def _nothing() -> None:
    """Without a dispatcher, queued work waits for one (another replica's, or the next run)."""
