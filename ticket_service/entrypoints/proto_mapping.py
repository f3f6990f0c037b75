"""Translation between protobuf messages and the domain. No rules live here."""

from __future__ import annotations

import uuid
from datetime import UTC
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf import struct_pb2

from common.errors import InvalidArgument, excerpt
from common.etags import strong_etag
from common.grpc.mapping import enum_from_proto, optional_enum, timestamp
from ticket_service.adapters.chatwoot_store import StoredMessage
from ticket_service.adapters.repository import StoredEvent
from ticket_service.domain.chatwoot import (
    ChatwootContact,
    ChatwootMessage,
    ChatwootStatus,
    ConversationState,
    MessageDirection,
    SenderType,
)
from ticket_service.domain.chatwoot_sync import SyncState, SyncTask
from ticket_service.domain.model import (
    ConversationLink,
    Customer,
    EventType,
    Priority,
    Status,
    Ticket,
)
from ticket_service.service.chatwoot_intake import Delivery, EventKind
from ticketing.ticket.v1 import (
    chatwoot_pb2,
    chatwoot_sync_pb2,
    customer_pb2,
    enums_pb2,
    ticket_event_pb2,
    ticket_pb2,
    ticket_service_pb2,
)

E = TypeVar("E", bound=StrEnum)


def status_to_proto(status: Status) -> enums_pb2.TicketStatus.ValueType:
    return enums_pb2.TicketStatus.Value(f"TICKET_STATUS_{status.name}")


def priority_to_proto(priority: Priority) -> enums_pb2.TicketPriority.ValueType:
    return enums_pb2.TicketPriority.Value(f"TICKET_PRIORITY_{priority.name}")


def status_from_proto(number: int, *, field: str = "status") -> Status:
    if number == enums_pb2.TICKET_STATUS_UNSPECIFIED:
        raise InvalidArgument.single(field, "is required")
    return enum_from_proto(number, enums_pb2.TicketStatus, "TICKET_STATUS", Status, field)


def priority_from_proto(number: int, *, field: str = "priority") -> Priority:
    if number == enums_pb2.TICKET_PRIORITY_UNSPECIFIED:
        raise InvalidArgument.single(field, "is required")
    return enum_from_proto(number, enums_pb2.TicketPriority, "TICKET_PRIORITY", Priority, field)


def event_type_from_proto(number: int, *, field: str = "type") -> EventType:
    if number == enums_pb2.TICKET_EVENT_TYPE_UNSPECIFIED:
        raise InvalidArgument.single(field, "must name an event type, not UNSPECIFIED")
    return enum_from_proto(number, enums_pb2.TicketEventType, "TICKET_EVENT_TYPE", EventType, field)


def customer_id_from_name(name: str, *, field: str = "name") -> str:
    prefix = "customers/"
    try:
        if not name.startswith(prefix):
            raise ValueError(name)
        return str(uuid.UUID(name.removeprefix(prefix)))
    except ValueError:
        raise InvalidArgument.single(
            field, f"{excerpt(name)} is not a customer name like 'customers/<uuid>'"
        ) from None


def conversation_from_proto(
    link: ticket_pb2.ChatwootConversation, *, field: str = "ticket.conversation"
) -> ConversationLink | None:
    if not (link.account_id or link.conversation_id or link.inbox_id):
        return None
    if link.account_id <= 0 or link.conversation_id <= 0 or link.inbox_id < 0:
        raise InvalidArgument.single(
            field, "needs a positive account_id and conversation_id (inbox_id is optional)"
        )
    return ConversationLink(link.account_id, link.conversation_id, link.inbox_id)


def ticket_to_proto(ticket: Ticket) -> ticket_pb2.Ticket:
    link = ticket.conversation
    return ticket_pb2.Ticket(
        name=ticket.name,
        uid=ticket.id,
        number=str(ticket.number),
        subject=ticket.subject,
        description=ticket.description,
        status=status_to_proto(ticket.status),
        priority=priority_to_proto(ticket.priority),
        customer=ticket.customer_name,
        assignee_id=ticket.assignee_id,
        conversation=(
            ticket_pb2.ChatwootConversation(
                account_id=link.account_id,
                conversation_id=link.conversation_id,
                inbox_id=link.inbox_id,
            )
            if link
            else None
        ),
        labels=ticket.labels,
        create_time=timestamp(ticket.create_time),
        update_time=timestamp(ticket.update_time),
        resolve_time=timestamp(ticket.resolve_time),
        close_time=timestamp(ticket.close_time),
        delete_time=timestamp(ticket.delete_time),
        etag=strong_etag(ticket.version),
        snooze_end_time=timestamp(ticket.snooze_end_time),
        snoozed=ticket.snoozed,
    )


def customer_to_proto(customer: Customer) -> customer_pb2.Customer:
    return customer_pb2.Customer(
        name=customer.name,
        display_name=customer.display_name,
        email=customer.contact.email or "",
        phone_number=customer.contact.phone_number or "",
        chatwoot_contact_id=customer.contact.chatwoot_contact_id or 0,
        create_time=timestamp(customer.create_time),
        update_time=timestamp(customer.update_time),
        etag=strong_etag(customer.version),
    )


def _struct(values: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def event_to_proto(event: StoredEvent) -> ticket_event_pb2.TicketEvent:
    return ticket_event_pb2.TicketEvent(
        name=f"ticketEvents/{event.cursor}",
        cursor=event.cursor,
        type=enums_pb2.TicketEventType.Value(f"TICKET_EVENT_TYPE_{event.type.name}"),
        ticket=f"tickets/{event.ticket_number.lower()}" if event.ticket_number else "",
        customer=f"customers/{event.customer_id}" if event.customer_id else "",
        source=enums_pb2.EventSource.Value(f"EVENT_SOURCE_{event.source.upper()}"),
        actor=event.actor,
        before=_struct(event.before),
        after=_struct(event.after),
        reason=event.reason,
        request_id=event.request_id,
        create_time=timestamp(event.create_time),
        chatwoot_conversation_id=event.conversation_id or 0,
        trace_parent=event.trace_context,
    )


# Chatwoot deliveries


def _contact_from_proto(contact: chatwoot_pb2.ChatwootContact, field: str) -> ChatwootContact:
    if contact.id <= 0:
        raise InvalidArgument.single(f"{field}.id", "must be a positive Chatwoot contact id")
    return ChatwootContact(
        id=contact.id, name=contact.name, email=contact.email, phone_number=contact.phone_number
    )


def _state_from_proto(
    state: chatwoot_pb2.ChatwootConversationState, field: str
) -> ConversationState:
    if state.account_id <= 0 or state.conversation_id <= 0:
        raise InvalidArgument.single(field, "needs a positive account_id and conversation_id")
    if not state.HasField("update_time"):
        raise InvalidArgument.single(f"{field}.update_time", "is required")
    time = state.update_time
    return ConversationState(
        account_id=state.account_id,
        conversation_id=state.conversation_id,
        inbox_id=state.inbox_id,
        state_time_us=time.seconds * 1_000_000 + time.nanos // 1000,
        status=optional_enum(
            state.status,
            chatwoot_pb2.ChatwootStatus,
            "CHATWOOT_STATUS",
            ChatwootStatus,
            f"{field}.status",
        ),
        priority=optional_enum(
            state.priority,
            chatwoot_pb2.ChatwootPriority,
            "CHATWOOT_PRIORITY",
            Priority,
            f"{field}.priority",
        ),
        snoozed_until=(
            state.snoozed_until.ToDatetime(UTC) if state.HasField("snoozed_until") else None
        ),
        assignee_id=state.assignee_id,
        mail_subject=state.mail_subject,
        contact=(
            _contact_from_proto(state.contact, f"{field}.contact")
            if state.HasField("contact")
            else None
        ),
    )


def _message_from_proto(message: chatwoot_pb2.ChatwootMessage, field: str) -> ChatwootMessage:
    if message.id <= 0:
        raise InvalidArgument.single(f"{field}.id", "must be a positive Chatwoot message id")
    direction = optional_enum(
        message.direction,
        chatwoot_pb2.MessageDirection,
        "MESSAGE_DIRECTION",
        MessageDirection,
        f"{field}.direction",
    )
    if direction is None:
        raise InvalidArgument.single(f"{field}.direction", "is required")
    sender = optional_enum(
        message.sender_type,
        chatwoot_pb2.SenderType,
        "SENDER_TYPE",
        SenderType,
        f"{field}.sender_type",
    )
    if not message.HasField("create_time"):
        raise InvalidArgument.single(f"{field}.create_time", "is required")
    return ChatwootMessage(
        id=message.id,
        direction=direction,
        sender_type=sender or SenderType.SYSTEM,
        create_time=message.create_time.ToDatetime(UTC),
        private=message.private,
        sender_id=message.sender_id,
        sender_name=message.sender_name,
        content=message.content,
        content_type=message.content_type or "text",
        attachment_count=max(message.attachment_count, 0),
        deleted=message.deleted,
        ticketing_ref=message.ticketing_ref,
    )


def delivery_from_proto(request: ticket_service_pb2.ApplyChatwootDeliveryRequest) -> Delivery:
    delivery = request.delivery
    if not delivery.integration:
        raise InvalidArgument.single("delivery.integration", "is required")
    kind = optional_enum(
        delivery.kind,
        chatwoot_pb2.ChatwootEventKind,
        "CHATWOOT_EVENT_KIND",
        EventKind,
        "delivery.kind",
    )
    if kind is None:
        raise InvalidArgument.single("delivery.kind", "is required")
    return Delivery(
        integration=delivery.integration,
        kind=kind,
        content_key=delivery.content_key,
        delivery_id=delivery.delivery_id,
        request_id=request.request_id,
        conversation=(
            _state_from_proto(delivery.conversation, "delivery.conversation")
            if delivery.HasField("conversation")
            else None
        ),
        message=(
            _message_from_proto(delivery.message, "delivery.message")
            if delivery.HasField("message")
            else None
        ),
        contact=(
            _contact_from_proto(delivery.contact, "delivery.contact")
            if delivery.HasField("contact")
            else None
        ),
    )


def message_to_proto(stored: StoredMessage, ticket_name: str) -> chatwoot_pb2.ConversationMessage:
    message = stored.message
    return chatwoot_pb2.ConversationMessage(
        chatwoot_message_id=message.id,
        ticket=ticket_name,
        direction=chatwoot_pb2.MessageDirection.Value(
            f"MESSAGE_DIRECTION_{message.direction.name}"
        ),
        private=message.private,
        sender_type=chatwoot_pb2.SenderType.Value(f"SENDER_TYPE_{message.sender_type.name}"),
        sender_id=message.sender_id,
        sender_name=message.sender_name,
        content=message.content,
        content_type=message.content_type,
        attachment_count=message.attachment_count,
        create_time=timestamp(message.create_time),
        delete_time=timestamp(stored.delete_time),
    )


# The Chatwoot outbox


def sync_task_to_proto(task: SyncTask) -> chatwoot_sync_pb2.ChatwootSyncTask:
    return chatwoot_sync_pb2.ChatwootSyncTask(
        name=task.name,
        ticket=f"tickets/{task.ticket_number.lower()}" if task.ticket_number else "",
        integration=task.integration,
        account_id=task.account_id,
        conversation_id=task.conversation_id,
        kind=chatwoot_sync_pb2.ChatwootSyncKind.Value(f"CHATWOOT_SYNC_KIND_{task.kind.name}"),
        payload=_struct(task.payload),
        state=chatwoot_sync_pb2.ChatwootSyncState.Value(f"CHATWOOT_SYNC_STATE_{task.state.name}"),
        attempts=task.attempts,
        last_error=task.last_error,
        create_time=timestamp(task.create_time),
        next_attempt_time=(
            timestamp(task.next_attempt_time) if task.state is SyncState.PENDING else None
        ),
        deliver_time=timestamp(task.deliver_time),
    )


def sync_state_from_proto(number: int) -> SyncState | None:
    return optional_enum(
        number, chatwoot_sync_pb2.ChatwootSyncState, "CHATWOOT_SYNC_STATE", SyncState, "state"
    )


def sync_task_id_from_name(name: str) -> int:
    prefix, _, task_id = name.partition("/")
    if prefix != "chatwootSyncTasks" or not task_id.isdigit() or len(task_id) > 18:
        raise InvalidArgument.single("name", "must look like chatwootSyncTasks/{id}")
    return int(task_id)
