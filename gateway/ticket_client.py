"""One ApplyChatwootDelivery call, and what its outcome means for the delivery."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING

import grpc
import structlog

from common.grpc.metrics import ClientMetrics
from gateway.channel import TICKET_SERVICE, ServiceChannel
from gateway.integrations import Integration
from ticketing.ticket.v1 import ticket_service_pb2 as api
from ticketing.ticket.v1 import ticket_service_pb2_grpc

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

log = structlog.get_logger("gateway")

# The service understood the delivery and refuses it: sending it again cannot help.
# Everything else (UNAVAILABLE, DEADLINE_EXCEEDED, UNIMPLEMENTED during a rollout,
# UNAUTHENTICATED while tokens rotate, INTERNAL, ...) may pass later, so it is retried.
PERMANENT_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)
_MAX_REASON = 500
APPLY_METHOD = f"/{TICKET_SERVICE.full_name}/ApplyChatwootDelivery"

OUTCOMES = {
    api.DELIVERY_OUTCOME_APPLIED: "applied",
    api.DELIVERY_OUTCOME_DUPLICATE: "duplicate",
    api.DELIVERY_OUTCOME_IGNORED: "ignored",
}


@dataclass(frozen=True)
class Applied:
    response: api.ApplyChatwootDeliveryResponse

    @property
    def outcome(self) -> str:
        # A service that leaves the outcome unset still took the delivery.
        return OUTCOMES.get(self.response.outcome, "applied")

    def as_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome,
            "ticket": self.response.ticket,
            "effects": list(self.response.effects),
        }


@dataclass(frozen=True)
class Failed:
    code: str
    reason: str
    permanent: bool

    def __str__(self) -> str:
        return f"{self.code}: {self.reason}"


CallResult = Applied | Failed


class TicketClient:
    def __init__(
        self, service: ServiceChannel, *, timeout: float, metrics: ClientMetrics | None = None
    ) -> None:
        self._service = service
        self._timeout = timeout
        self._metrics = metrics
        # A stub builds a callable per RPC of the service; built once per channel, not per
        # delivery (it showed in the gateway's profile under load).
        self._stub: tuple[grpc.aio.Channel, TicketServiceAsyncStub] | None = None

    def _stub_for(self, channel: grpc.aio.Channel) -> TicketServiceAsyncStub:
        if self._stub is None or self._stub[0] is not channel:
            self._stub = (channel, ticket_service_pb2_grpc.TicketServiceStub(channel))
        return self._stub[1]

    async def apply(
        self, request: api.ApplyChatwootDeliveryRequest, integration: Integration
    ) -> CallResult:
        channel = self._service.channel
        if channel is None:
            return Failed("UNAVAILABLE", "the gateway's channel is not open", permanent=False)
        stub = self._stub_for(channel)
        counted = self._metrics.unary_call(APPLY_METHOD) if self._metrics else None
        code = grpc.StatusCode.UNKNOWN
        try:
            response = await stub.ApplyChatwootDelivery(
                request, timeout=self._timeout, metadata=integration.metadata
            )
            code = grpc.StatusCode.OK
        except grpc.aio.AioRpcError as error:
            code = error.code()
            reason = (error.details() or "")[:_MAX_REASON]
            return Failed(code.name, reason, permanent=code in PERMANENT_CODES)
        except asyncio.CancelledError:
            code = grpc.StatusCode.CANCELLED
            raise
        except Exception as error:
            # Whatever else goes wrong on the way (a channel closing under us), the
            # delivery is kept for a retry rather than lost.
            log.warning("forward_failed", error=type(error).__name__, integration=integration.name)
            return Failed("UNKNOWN", type(error).__name__, permanent=False)
        finally:
            if counted is not None:
                counted.finish(code)
        return Applied(response)
