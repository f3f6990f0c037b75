"""The ticket service over gRPC, with this service's credential for each tenant.

Every call has a deadline. Codes that mean "this will never work" (NOT_FOUND,
FAILED_PRECONDITION, INVALID_ARGUMENT, PERMISSION_DENIED) become TicketRefused; anything
else may pass later and becomes TicketServiceError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import json_format

from common.config import Source, TenantsConfig
from common.grpc.client import idempotent, open_channel
from escalation_service.domain.policy import Priority
from escalation_service.domain.tickets import EventType, TicketEvent, ticket_key
from escalation_service.service.ports import TicketRefused, TicketServiceError
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2, ticket_service_pb2_grpc
from ticketing.ticket.v1.ticket_event_pb2 import TicketEvent as TicketEventProto

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

TICKET_SERVICE = ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"]
_REFUSALS = {
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.PERMISSION_DENIED,
}
_PRIORITIES = {
    Priority.LOW: enums_pb2.TICKET_PRIORITY_LOW,
    Priority.MEDIUM: enums_pb2.TICKET_PRIORITY_MEDIUM,
    Priority.HIGH: enums_pb2.TICKET_PRIORITY_HIGH,
    Priority.URGENT: enums_pb2.TICKET_PRIORITY_URGENT,
}
_EVENT_TYPES = {
    enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED: EventType.TICKET_CREATED,
    enums_pb2.TICKET_EVENT_TYPE_TICKET_UPDATED: EventType.TICKET_UPDATED,
    enums_pb2.TICKET_EVENT_TYPE_STATUS_CHANGED: EventType.STATUS_CHANGED,
    enums_pb2.TICKET_EVENT_TYPE_ASSIGNEE_CHANGED: EventType.ASSIGNEE_CHANGED,
    enums_pb2.TICKET_EVENT_TYPE_PRIORITY_CHANGED: EventType.PRIORITY_CHANGED,
    enums_pb2.TICKET_EVENT_TYPE_TICKET_DELETED: EventType.TICKET_DELETED,
    enums_pb2.TICKET_EVENT_TYPE_MESSAGE_ADDED: EventType.MESSAGE_ADDED,
    enums_pb2.TICKET_EVENT_TYPE_SNOOZE_CHANGED: EventType.SNOOZE_CHANGED,
}


def escalation_tokens(tenants: TenantsConfig) -> dict[str, str]:
    """Each tenant's credential of source `escalation`, by tenant id. A tenant without one
    (or with only its hash) is left out: this service cannot act for it."""
    tokens: dict[str, str] = {}
    for tenant in tenants.tenants:
        for credential in tenant.api_tokens:
            if credential.source is Source.ESCALATION and credential.token is not None:
                tokens[tenant.id] = credential.token.get_secret_value()
                break
    return tokens


def event_from_proto(event: TicketEventProto) -> TicketEvent:
    after: dict[str, Any] = json_format.MessageToDict(event.after)
    return TicketEvent(
        cursor=event.cursor,
        type=_EVENT_TYPES.get(event.type, EventType.OTHER),
        ticket_id=ticket_key(event.ticket) or "",
        actor=event.actor,
        after=after,
        create_time=event.create_time.ToDatetime(tzinfo=UTC),
        trace_parent=event.trace_parent,
    )


class GrpcTickets:
    def __init__(
        self,
        target: str,
        tokens: Mapping[str, str],
        *,
        deadline: float = 5.0,
        interceptors: Sequence[grpc.aio.ClientInterceptor] = (),
    ) -> None:
        self._target = target
        self._tokens = dict(tokens)
        self._deadline = deadline
        self._interceptors = list(interceptors)
        self._channel: grpc.aio.Channel | None = None
        self._stub: TicketServiceAsyncStub | None = None

    @property
    def tenant_ids(self) -> Sequence[str]:
        return tuple(self._tokens)

    def open(self) -> None:
        self._channel = open_channel(
            self._target, retry=[idempotent(TICKET_SERVICE)], interceptors=self._interceptors
        )
        self._stub = ticket_service_pb2_grpc.TicketServiceStub(self._channel)

    async def close(self) -> None:
        if self._channel is not None:
            await self._channel.close()

    async def _call(self, tenant_id: str, method: str, request: Any) -> Any:
        if self._stub is None:
            self.open()
        token = self._tokens.get(tenant_id)
        if token is None:
            raise TicketRefused(f"no escalation credential for tenant {tenant_id!r}")
        try:
            return await getattr(self._stub, method)(
                request,
                metadata=(("authorization", f"Bearer {token}"),),
                timeout=self._deadline,
            )
        except grpc.aio.AioRpcError as error:
            message = f"{method}: {error.code().name}: {error.details()}"
            if error.code() in _REFUSALS:
                raise TicketRefused(
                    message, not_found=error.code() is grpc.StatusCode.NOT_FOUND
                ) from None
            raise TicketServiceError(message) from None

    async def get_ticket(self, tenant_id: str, ticket_id: str) -> Mapping[str, Any]:
        ticket = await self._call(
            tenant_id, "GetTicket", ticket_service_pb2.GetTicketRequest(name=f"tickets/{ticket_id}")
        )
        labels = list(ticket.labels)
        return {
            "name": ticket.name,
            "status": enums_pb2.TicketStatus.Name(ticket.status)
            .removeprefix("TICKET_STATUS_")
            .lower(),
            "priority": enums_pb2.TicketPriority.Name(ticket.priority)
            .removeprefix("TICKET_PRIORITY_")
            .lower(),
            "assignee_id": ticket.assignee_id,
            "labels": labels,
            "delete_time": ticket.delete_time.ToJsonString()
            if ticket.HasField("delete_time")
            else None,
            "conversation": {
                "inbox_id": ticket.conversation.inbox_id,
                "conversation_id": ticket.conversation.conversation_id,
            },
            "snoozed": ticket.snoozed,
        }

    async def list_events(
        self, tenant_id: str, after: int, limit: int
    ) -> tuple[Sequence[TicketEvent], int]:
        response = await self._call(
            tenant_id,
            "ListTicketEvents",
            ticket_service_pb2.ListTicketEventsRequest(after_cursor=after, page_size=limit),
        )
        return [event_from_proto(e) for e in response.events], response.head_cursor

    async def assign(
        self, tenant_id: str, ticket_id: str, agent_id: str, request_id: str, reason: str
    ) -> None:
        await self._call(
            tenant_id,
            "AssignTicket",
            ticket_service_pb2.AssignTicketRequest(
                name=f"tickets/{ticket_id}",
                assignee_id=agent_id,
                request_id=request_id,
                reason=reason,
            ),
        )

    async def set_priority(
        self, tenant_id: str, ticket_id: str, priority: Priority, request_id: str, reason: str
    ) -> None:
        await self._call(
            tenant_id,
            "SetTicketPriority",
            ticket_service_pb2.SetTicketPriorityRequest(
                name=f"tickets/{ticket_id}",
                priority=_PRIORITIES[priority],
                request_id=request_id,
                reason=reason,
            ),
        )

    async def add_note(self, tenant_id: str, ticket_id: str, body: str, request_id: str) -> None:
        await self._call(
            tenant_id,
            "AddTicketNote",
            ticket_service_pb2.AddTicketNoteRequest(
                ticket=f"tickets/{ticket_id}", body=body, request_id=request_id
            ),
        )
