"""Start, run and stop a grpc.aio server with health, reflection and graceful shutdown.

Shared by both services, following grpc's examples/python: `serve()` builds the server,
SIGTERM flips health to NOT_SERVING, in-flight RPCs get a grace period, then resources
are released.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import grpc
import structlog
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

log = structlog.get_logger(__name__)

# Keepalive and connection age (grpc examples/python/keep_alive): recycling connections
# every few minutes lets clients rebalance across replicas.
SERVER_OPTIONS: list[tuple[str, int]] = [
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.max_connection_age_ms", 300_000),
    ("grpc.max_connection_age_grace_ms", 30_000),
]


@dataclass
class RunningServer:
    server: grpc.aio.Server
    health: health.aio.HealthServicer
    port: int
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    # Run when stopping begins, before the grace period: long-lived streams end here with
    # a status that says where to resume, instead of being cancelled when it runs out.
    on_stopping: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        for callback in self.on_stopping:
            await callback()
        await self.server.stop(grace)
        for callback in self.on_stop:
            await callback()


async def start_server(
    *,
    listen: str,
    register: Callable[[grpc.aio.Server], Sequence[str]],
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
) -> RunningServer:
    """Bind `listen` (port 0 picks a free one), add the services that `register` adds,
    plus health and reflection, and start serving."""
    server = grpc.aio.server(interceptors=list(interceptors), options=SERVER_OPTIONS)
    service_names = list(register(server))
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    port = server.add_insecure_port(listen)
    if port == 0:
        raise OSError(f"could not bind {listen}")
    await server.start()
    for name in ["", *service_names]:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return RunningServer(server=server, health=health_servicer, port=port)


async def run_until_signalled(running: RunningServer, *, grace: float) -> None:
    """Serve until SIGTERM or SIGINT, then shut down gracefully."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    log.info("shutting_down", grace_seconds=grace)
    await running.stop(grace)
    log.info("stopped")
