"""TicketService over gRPC: validate the request's shape, call the use case, map the result.

The caller's Principal comes from the auth interceptor (never from the request), and
ServiceError becomes a rich status in `map_service_errors`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeAlias

import grpc
import structlog
from google.protobuf import field_mask_pb2, message

from common.auth import current_principal
from common.errors import InvalidArgument, Unavailable, Violations, field_prefix
from common.grpc.mapping import fingerprint
from common.grpc.status import map_service_errors
from common.logging import log_context
from common.pagination import (
    PageToken,
    filter_fingerprint,
    keyset_after,
    next_page_token,
    page_size,
)
from common.streams import LiveLog, ProtoCache
from ticket_service.adapters.repository import StoredEvent, TicketFilter
from ticket_service.domain.model import EventType
from ticket_service.domain.numbering import TicketNumber
from ticket_service.entrypoints import proto_mapping as mapping
from ticket_service.metrics import TicketMetrics
from ticket_service.service.chatwoot_intake import ChatwootIntake
from ticket_service.service.event_filter import EventFilter
from ticket_service.service.sync_tasks import SyncTasks
from ticket_service.service.tickets import ContactInput, Idempotency, NewTicket, TicketService
from ticketing.ticket.v1 import (
    chatwoot_sync_pb2,
    customer_pb2,
    enums_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

ERROR_DOMAIN = "ticketing.ticket.v1"
SERVICE = ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"]
TICKET_UPDATABLE = ("subject", "description", "labels")
CUSTOMER_UPDATABLE = ("display_name", "email", "phone_number", "chatwoot_contact_id")
_USE_INSTEAD = {
    "status": "ChangeTicketStatus",
    "priority": "SetTicketPriority",
    "assignee_id": "AssignTicket",
}
MAX_EVENTS_PAGE = 1000

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"

log = structlog.get_logger("ticket_service")


def _idempotency(request: message.Message, method: str) -> Idempotency | None:
    request_id: str = getattr(request, "request_id", "")
    if not request_id:
        return None
    try:
        uuid.UUID(request_id)
    except ValueError:
        raise InvalidArgument.single("request_id", "must be a UUID") from None
    return Idempotency(request_id, method, fingerprint(request))


def _mask_paths(
    mask: field_mask_pb2.FieldMask,
    resource: message.Message,
    updatable: tuple[str, ...],
    alternatives: dict[str, str],
) -> list[str]:
    """The fields to change: the mask's paths, or when absent the updatable fields set."""
    if not mask.paths:
        return [path for path in updatable if _is_set(resource, path)]
    if list(mask.paths) == ["*"]:
        return list(updatable)
    for path in mask.paths:
        if path not in resource.DESCRIPTOR.fields_by_name:
            raise InvalidArgument.single("update_mask", f"{path!r} is not a field of the resource")
        if path not in updatable:
            hint = alternatives.get(path)
            why = f"use {hint}" if hint else "it is output-only or immutable"
            raise InvalidArgument.single("update_mask", f"{path!r} cannot be updated: {why}")
    return list(dict.fromkeys(mask.paths))


def _is_set(resource: message.Message, path: str) -> bool:
    value = getattr(resource, path)
    return bool(len(value)) if hasattr(value, "__len__") else bool(value)


def _ticket_number(name: str) -> TicketNumber:
    return TicketNumber.from_resource_name(name)


_Start = ticket_service_pb2.WatchTicketEventsRequest.StartPosition


@dataclass(frozen=True)
class _Watch:
    after_cursor: int | None  # None: from now
    ticket: TicketNumber | None
    types: frozenset[EventType]
    conversation_id: int | None


def _watch_request(request: ticket_service_pb2.WatchTicketEventsRequest) -> _Watch:
    """The request's start and filters; INVALID_ARGUMENT naming every bad field at once."""
    violations = Violations()
    position, after_cursor = request.start_position, request.after_cursor
    if position not in _Start.values():
        violations.add("start_position", f"{position} is not a known value")
    if after_cursor < 0:
        violations.add("after_cursor", "must not be negative")
    elif position == _Start.START_POSITION_NOW and after_cursor:
        violations.add("after_cursor", "must be 0 with START_POSITION_NOW")
    types: set[EventType] = set()
    for index, type_number in enumerate(request.types):
        try:
            types.add(mapping.event_type_from_proto(type_number, field=f"types[{index}]"))
        except InvalidArgument as error:
            violations.items.extend(error.violations)
    ticket = None
    if request.ticket:
        try:
            ticket = TicketNumber.from_resource_name(request.ticket, field="ticket")
        except InvalidArgument as error:
            violations.items.extend(error.violations)
    if request.chatwoot_conversation_id < 0:
        violations.add("chatwoot_conversation_id", "must not be negative")
    violations.raise_if_any()
    from_now = position == _Start.START_POSITION_NOW or (
        position == _Start.START_POSITION_UNSPECIFIED and not after_cursor
    )
    return _Watch(
        after_cursor=None if from_now else after_cursor,
        ticket=ticket,
        types=frozenset(types),
        conversation_id=request.chatwoot_conversation_id or None,
    )


@map_service_errors(SERVICE, domain=ERROR_DOMAIN)
class TicketServicer(ticket_service_pb2_grpc.TicketServiceServicer):
    def __init__(
        self,
        service: TicketService,
        sync_tasks: SyncTasks,
        metrics: TicketMetrics | None = None,
        events: LiveLog[StoredEvent] | None = None,
    ) -> None:
        self._service = service
        self._events = events
        self._event_protos = ProtoCache(mapping.event_to_proto)
        self._intake = ChatwootIntake(service)
        self._sync_tasks = sync_tasks
        self._metrics = metrics or TicketMetrics()

    async def CreateTicket(
        self, request: ticket_service_pb2.CreateTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        idempotency = _idempotency(request, "CreateTicket")
        draft = request.ticket
        customer_id = ""
        if draft.customer:
            customer_id = mapping.customer_id_from_name(draft.customer, field="ticket.customer")
        priority = mapping.priority_from_proto(
            draft.priority or enums_pb2.TICKET_PRIORITY_MEDIUM, field="ticket.priority"
        )
        contact = None
        if request.HasField("customer"):
            contact = ContactInput(
                display_name=request.customer.display_name,
                email=request.customer.email,
                phone_number=request.customer.phone_number,
                chatwoot_contact_id=request.customer.chatwoot_contact_id,
            )
        new = NewTicket(
            subject=draft.subject,
            description=draft.description,
            priority=priority,
            customer_id=customer_id,
            contact=contact,
            conversation=mapping.conversation_from_proto(draft.conversation),
            labels=tuple(draft.labels),
        )
        ticket = await self._service.create_ticket(current_principal(), new, idempotency)
        return mapping.ticket_to_proto(ticket)

    async def GetTicket(
        self, request: ticket_service_pb2.GetTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        ticket = await self._service.get_ticket(current_principal(), _ticket_number(request.name))
        return mapping.ticket_to_proto(ticket)

    async def ListTickets(
        self, request: ticket_service_pb2.ListTicketsRequest, context: Context
    ) -> ticket_service_pb2.ListTicketsResponse:
        limit = page_size(request.page_size)
        where = TicketFilter(
            statuses=[mapping.status_from_proto(s, field="statuses") for s in request.statuses],
            priorities=[
                mapping.priority_from_proto(p, field="priorities") for p in request.priorities
            ],
            assignee_id=request.assignee_id,
            customer_id=(
                mapping.customer_id_from_name(request.customer, field="customer")
                if request.customer
                else ""
            ),
            chatwoot_account_id=request.chatwoot_account_id,
            chatwoot_conversation_id=request.chatwoot_conversation_id,
            show_deleted=request.show_deleted,
        )
        filters = filter_fingerprint(where)
        after = keyset_after(request.page_token, filters=filters)
        tickets = await self._service.list_tickets(
            current_principal(), where, after=after, limit=limit + 1
        )
        return ticket_service_pb2.ListTicketsResponse(
            tickets=[mapping.ticket_to_proto(t) for t in tickets[:limit]],
            next_page_token=next_page_token(tickets, limit, filters),
        )

    async def UpdateTicket(
        self, request: ticket_service_pb2.UpdateTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        idempotency = _idempotency(request, "UpdateTicket")
        number = TicketNumber.from_resource_name(request.ticket.name, field="ticket.name")
        paths = _mask_paths(request.update_mask, request.ticket, TICKET_UPDATABLE, _USE_INSTEAD)
        fields = request.ticket
        with field_prefix("ticket"):
            ticket = await self._service.update_ticket(
                current_principal(),
                number,
                etag=fields.etag,
                subject=fields.subject if "subject" in paths else None,
                description=fields.description if "description" in paths else None,
                labels=list(fields.labels) if "labels" in paths else None,
                idempotency=idempotency,
            )
        return mapping.ticket_to_proto(ticket)

    async def DeleteTicket(
        self, request: ticket_service_pb2.DeleteTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        ticket = await self._service.delete_ticket(
            current_principal(),
            _ticket_number(request.name),
            etag=request.etag,
            reason=request.reason,
            idempotency=_idempotency(request, "DeleteTicket"),
        )
        return mapping.ticket_to_proto(ticket)

    async def ResolveTicket(
        self, request: ticket_service_pb2.ResolveTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        return await self._change_status(request, "ResolveTicket", enums_pb2.TICKET_STATUS_RESOLVED)

    async def CloseTicket(
        self, request: ticket_service_pb2.CloseTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        return await self._change_status(request, "CloseTicket", enums_pb2.TICKET_STATUS_CLOSED)

    async def ChangeTicketStatus(
        self, request: ticket_service_pb2.ChangeTicketStatusRequest, context: Context
    ) -> ticket_pb2.Ticket:
        return await self._change_status(request, "ChangeTicketStatus", request.status)

    async def _change_status(self, request: Any, method: str, status: int) -> ticket_pb2.Ticket:
        ticket = await self._service.change_status(
            current_principal(),
            _ticket_number(request.name),
            mapping.status_from_proto(status),
            etag=request.etag,
            reason=request.reason,
            idempotency=_idempotency(request, method),
        )
        return mapping.ticket_to_proto(ticket)

    async def ReopenTicket(
        self, request: ticket_service_pb2.ReopenTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        ticket = await self._service.reopen(
            current_principal(),
            _ticket_number(request.name),
            etag=request.etag,
            reason=request.reason,
            idempotency=_idempotency(request, "ReopenTicket"),
        )
        return mapping.ticket_to_proto(ticket)

    async def AssignTicket(
        self, request: ticket_service_pb2.AssignTicketRequest, context: Context
    ) -> ticket_pb2.Ticket:
        ticket = await self._service.assign(
            current_principal(),
            _ticket_number(request.name),
            request.assignee_id,
            etag=request.etag,
            reason=request.reason,
            idempotency=_idempotency(request, "AssignTicket"),
        )
        return mapping.ticket_to_proto(ticket)

    async def SetTicketPriority(
        self, request: ticket_service_pb2.SetTicketPriorityRequest, context: Context
    ) -> ticket_pb2.Ticket:
        ticket = await self._service.set_priority(
            current_principal(),
            _ticket_number(request.name),
            mapping.priority_from_proto(request.priority),
            etag=request.etag,
            reason=request.reason,
            idempotency=_idempotency(request, "SetTicketPriority"),
        )
        return mapping.ticket_to_proto(ticket)

    async def CreateCustomer(
        self, request: ticket_service_pb2.CreateCustomerRequest, context: Context
    ) -> customer_pb2.Customer:
        given = request.customer
        with field_prefix("customer"):
            customer = await self._service.create_customer(
                current_principal(),
                ContactInput(
                    display_name=given.display_name,
                    email=given.email,
                    phone_number=given.phone_number,
                    chatwoot_contact_id=given.chatwoot_contact_id,
                ),
                _idempotency(request, "CreateCustomer"),
            )
        return mapping.customer_to_proto(customer)

    async def GetCustomer(
        self, request: ticket_service_pb2.GetCustomerRequest, context: Context
    ) -> customer_pb2.Customer:
        customer = await self._service.get_customer(
            current_principal(), mapping.customer_id_from_name(request.name)
        )
        return mapping.customer_to_proto(customer)

    async def ListCustomers(
        self, request: ticket_service_pb2.ListCustomersRequest, context: Context
    ) -> ticket_service_pb2.ListCustomersResponse:
        limit = page_size(request.page_size)
        filters = filter_fingerprint(request.email, request.phone_number)
        token = PageToken.decode(request.page_token, filters=filters)
        customers = await self._service.list_customers(
            current_principal(),
            email=request.email,
            phone_number=request.phone_number,
            after=(token.create_time, token.id) if token else None,
            limit=limit + 1,
        )
        return ticket_service_pb2.ListCustomersResponse(
            customers=[mapping.customer_to_proto(c) for c in customers[:limit]],
            next_page_token=next_page_token(customers, limit, filters),
        )

    async def UpdateCustomer(
        self, request: ticket_service_pb2.UpdateCustomerRequest, context: Context
    ) -> customer_pb2.Customer:
        idempotency = _idempotency(request, "UpdateCustomer")
        customer_id = mapping.customer_id_from_name(request.customer.name, field="customer.name")
        paths = _mask_paths(request.update_mask, request.customer, CUSTOMER_UPDATABLE, {})
        given = request.customer
        contact = {path: getattr(given, path) for path in paths if path != "display_name"}
        with field_prefix("customer"):
            customer = await self._service.update_customer(
                current_principal(),
                customer_id,
                etag=given.etag,
                display_name=given.display_name if "display_name" in paths else None,
                contact=contact,
                idempotency=idempotency,
            )
        return mapping.customer_to_proto(customer)

    async def ListTicketEvents(
        self, request: ticket_service_pb2.ListTicketEventsRequest, context: Context
    ) -> ticket_service_pb2.ListTicketEventsResponse:
        if request.after_cursor < 0:
            raise InvalidArgument.single("after_cursor", "must not be negative")
        limit = page_size(request.page_size, default=100, maximum=MAX_EVENTS_PAGE)
        ticket = (
            TicketNumber.from_resource_name(request.ticket, field="ticket")
            if request.ticket
            else None
        )
        events, head = await self._service.list_events(
            current_principal(), after_cursor=request.after_cursor, limit=limit, ticket=ticket
        )
        return ticket_service_pb2.ListTicketEventsResponse(
            events=[mapping.event_to_proto(e) for e in events], head_cursor=head
        )

    async def WatchTicketEvents(
        self, request: ticket_service_pb2.WatchTicketEventsRequest, context: Context
    ) -> AsyncIterator[ticket_service_pb2.WatchTicketEventsResponse]:
        if self._events is None:
            raise Unavailable("this server does not stream events", reason="STREAMS_DISABLED")
        caller = current_principal()
        asked = _watch_request(request)
        where = EventFilter(
            ticket_id=(
                (await self._service.get_ticket(caller, asked.ticket)).id if asked.ticket else None
            ),
            types=asked.types,
            conversation_id=asked.conversation_id,
        )
        async for progress in self._events.watch(
            caller.tenant_id, after_cursor=asked.after_cursor, matches=where.matches
        ):
            yield ticket_service_pb2.WatchTicketEventsResponse(
                events=[self._event_protos.get(caller.tenant_id, e) for e in progress.entries],
                resume_cursor=progress.resume_cursor,
            )

    async def ApplyChatwootDelivery(
        self, request: ticket_service_pb2.ApplyChatwootDeliveryRequest, context: Context
    ) -> ticket_service_pb2.ApplyChatwootDeliveryResponse:
        delivery = mapping.delivery_from_proto(request)
        with log_context(
            delivery_id=request.delivery.delivery_id, integration=delivery.integration
        ):
            result = await self._intake.apply(current_principal(), delivery)
            self._metrics.deliveries.labels(
                delivery.integration, delivery.kind.value, result.outcome.value
            ).inc()
            # DEBUG: the gateway logs every delivery already; this says what it did here.
            log.debug(
                "chatwoot_delivery",
                kind=delivery.kind.value,
                outcome=result.outcome.value,
                ticket=result.ticket_name,
                effects=list(result.effects),
            )
        return ticket_service_pb2.ApplyChatwootDeliveryResponse(
            outcome=ticket_service_pb2.DeliveryOutcome.Value(
                f"DELIVERY_OUTCOME_{result.outcome.name}"
            ),
            ticket=result.ticket_name,
            effects=result.effects,
        )

    async def ListTicketMessages(
        self, request: ticket_service_pb2.ListTicketMessagesRequest, context: Context
    ) -> ticket_service_pb2.ListTicketMessagesResponse:
        number = TicketNumber.from_resource_name(request.parent, field="parent")
        limit = page_size(request.page_size)
        filters = filter_fingerprint("messages", request.parent)
        token = PageToken.decode(request.page_token, filters=filters)
        after = (token.create_time, int(token.id)) if token else None
        ticket, stored = await self._service.list_messages(
            current_principal(), number, after=after, limit=limit + 1
        )
        next_token = ""
        if len(stored) > limit:
            last = stored[limit - 1].message
            next_token = PageToken(last.create_time, str(last.id), filters).encode()
        return ticket_service_pb2.ListTicketMessagesResponse(
            messages=[mapping.message_to_proto(m, ticket.name) for m in stored[:limit]],
            next_page_token=next_token,
        )

    async def AddTicketNote(
        self, request: ticket_service_pb2.AddTicketNoteRequest, context: Context
    ) -> ticket_service_pb2.AddTicketNoteResponse:
        added = await self._service.add_note(
            current_principal(),
            TicketNumber.from_resource_name(request.ticket, field="ticket"),
            request.body,
            idempotency=_idempotency(request, "AddTicketNote"),
        )
        return ticket_service_pb2.AddTicketNoteResponse(
            ticket=mapping.ticket_to_proto(added.ticket),
            note_id=added.note_id,
            sync_task=added.sync_task,
        )

    async def ListChatwootSyncTasks(
        self, request: ticket_service_pb2.ListChatwootSyncTasksRequest, context: Context
    ) -> ticket_service_pb2.ListChatwootSyncTasksResponse:
        limit = page_size(request.page_size)
        filters = filter_fingerprint("sync", request.state, request.ticket)
        token = PageToken.decode(request.page_token, filters=filters)
        ticket = None
        if request.ticket:
            ticket = TicketNumber.from_resource_name(request.ticket, field="ticket")
        tasks = await self._sync_tasks.list(
            current_principal(),
            state=mapping.sync_state_from_proto(request.state),
            ticket=ticket,
            before_id=int(token.id) if token else None,
            limit=limit + 1,
        )
        next_token = next_page_token(tasks, limit, filters)
        return ticket_service_pb2.ListChatwootSyncTasksResponse(
            tasks=[mapping.sync_task_to_proto(task) for task in tasks[:limit]],
            next_page_token=next_token,
        )

    async def RetryChatwootSyncTask(
        self, request: ticket_service_pb2.RetryChatwootSyncTaskRequest, context: Context
    ) -> chatwoot_sync_pb2.ChatwootSyncTask:
        task = await self._sync_tasks.retry(
            current_principal(), mapping.sync_task_id_from_name(request.name)
        )
        return mapping.sync_task_to_proto(task)
