"""The process's one gRPC channel to the ticket service, shared by forwarding and /readyz."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from common.grpc.client import idempotent, open_channel
from ticketing.ticket.v1 import ticket_service_pb2

TICKET_SERVICE = ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"]


class ServiceChannel:
    def __init__(
        self, target: str, *, interceptors: Sequence[grpc.aio.ClientInterceptor] = ()
    ) -> None:
        self.target = target
        self._interceptors = list(interceptors)
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        # grpc.aio channels belong to the event loop that creates them, so this runs in the
        # app's lifespan, on uvicorn's loop.
        self._channel = open_channel(
            self.target, retry=[idempotent(TICKET_SERVICE)], interceptors=self._interceptors
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def channel(self) -> grpc.aio.Channel | None:
        """The open channel, or None outside the app's lifespan."""
        return self._channel
