"""The process's one gRPC channel to the ticket service, shared by forwarding and /readyz.

No interceptors: every call on it sets its own timeout and counts itself (TicketClient),
and a plain channel spends less CPU per delivery than an intercepted one."""

from __future__ import annotations

import grpc

from common.grpc.client import idempotent, open_channel
from ticketing.ticket.v1 import ticket_service_pb2

TICKET_SERVICE = ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"]


class ServiceChannel:
    def __init__(self, target: str) -> None:
        self.target = target
        self._channel: grpc.aio.Channel | None = None

    def open(self) -> None:
        # grpc.aio channels belong to the event loop that creates them, so this runs in the
        # app's lifespan, on uvicorn's loop.
        self._channel = open_channel(
            self.target, retry=[idempotent(TICKET_SERVICE)], default_deadline=None
        )

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None

    @property
    def channel(self) -> grpc.aio.Channel | None:
        """The open channel, or None outside the app's lifespan."""
        return self._channel
