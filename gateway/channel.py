"""The process's one gRPC channel to the ticket service, shared by forwarding and /readyz."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

# A channel that lost its server backs off before reconnecting, and fails RPCs fast
# meanwhile; gRPC's default backoff grows to two minutes, which would keep /readyz failing
# and spooled deliveries waiting long after the server is back. A target that names several
# replicas (`ipv4:127.0.0.1:50051,127.0.0.1:50061`, or a DNS name with several addresses)
# gets its calls spread over those that are up, not pinned to the first (pick_first).
CHANNEL_OPTIONS: list[tuple[str, int | str]] = [
    ("grpc.initial_reconnect_backoff_ms", 500),
    ("grpc.max_reconnect_backoff_ms", 5_000),
    ("grpc.lb_policy_name", "round_robin"),
]


class ServiceChannel:
    def __init__(
        self, target: str, *, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
    ) -> None:
        self.target = target
        self._interceptors = list(interceptors)
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        # grpc.aio channels belong to the event loop that creates them, so this runs in the
        # app's lifespan, on uvicorn's loop. Channels connect lazily: an absent server does
        # not stop the gateway from starting.
        self._channel = grpc.aio.insecure_channel(
            self.target, options=CHANNEL_OPTIONS, interceptors=self._interceptors
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def channel(self) -> grpc.aio.Channel | None:
        """The open channel, or None outside the app's lifespan."""
        return self._channel
