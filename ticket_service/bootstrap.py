"""Composition root: the only place that picks concrete adapters and wires them."""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine

from common.auth import AuthInterceptor, TokenAuthenticator
from common.clock import Clock, SystemClock
from common.config import TenantsConfig
from common.grpc.server import RunningServer, start_server
from ticket_service.entrypoints.grpc_servicer import ERROR_DOMAIN, SERVICE, TicketServicer
from ticket_service.service.tickets import TicketService
from ticketing.ticket.v1 import ticket_service_pb2_grpc


@dataclass
class TicketApp:
    engine: AsyncEngine
    service: TicketService
    server: RunningServer

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
) -> TicketApp:
    service = TicketService(engine, clock or SystemClock())
    servicer = TicketServicer(service)

    def register(server: grpc.aio.Server) -> list[str]:
        ticket_service_pb2_grpc.add_TicketServiceServicer_to_server(servicer, server)
        return [SERVICE.full_name]

    server = await start_server(
        listen=listen,
        register=register,
        interceptors=[AuthInterceptor(TokenAuthenticator(tenants), error_domain=ERROR_DOMAIN)],
    )
    server.on_stop.append(engine.dispose)
    return TicketApp(engine=engine, service=service, server=server)
