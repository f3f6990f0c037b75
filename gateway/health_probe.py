"""Ask a gRPC server's standard health service (grpc.health.v1) whether it is SERVING."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

# A channel that lost its server backs off before reconnecting, and fails RPCs fast
# meanwhile; gRPC's default backoff grows to two minutes, which would keep /readyz failing
# long after the server is back.
CHANNEL_OPTIONS: list[tuple[str, int]] = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
]


class HealthProbe:
    def __init__(self, target: str, *, timeout: float) -> None:
        self.target = target
        self.timeout = timeout
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        # Channels connect lazily, so an absent server does not stop the caller from
        # starting; it shows up in `problem()` instead.
        self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    async def problem(self) -> str | None:
        """None when the server answers SERVING within the timeout, otherwise why not."""
        if self._channel is None:
            return "health probe is not open"
        stub = health_pb2_grpc.HealthStub(self._channel)
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as error:
            return f"health check of {self.target} failed: {error.code().name}"
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            return f"{self.target} reports {status}"
        return None
