"""Ask a gRPC server's standard health service (grpc.health.v1) whether it is SERVING."""

from __future__ import annotations

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.channel import ServiceChannel


class HealthProbe:
    def __init__(self, service: ServiceChannel, *, timeout: float) -> None:
        self.service = service
        self.timeout = timeout

    async def problem(self) -> str | None:
        """None when the server answers SERVING within the timeout, otherwise why not."""
        channel = self.service.channel
        if channel is None:
            return "channel is not open"
        stub = health_pb2_grpc.HealthStub(channel)
        target = self.service.target
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self.timeout
            )
        except grpc.aio.AioRpcError as error:
            return f"health check of {target} failed: {error.code().name}"
        if response.status != health_pb2.HealthCheckResponse.SERVING:
            status = health_pb2.HealthCheckResponse.ServingStatus.Name(response.status)
            return f"{target} reports {status}"
        return None
