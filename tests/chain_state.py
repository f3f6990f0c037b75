"""What the ticket service holds for Chatwoot conversations, read back through its public API.

Tests compare these snapshots: after the same deliveries, in any order and any number of
copies, the snapshot must be the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ticketing.ticket.v1 import chatwoot_pb2, enums_pb2, ticket_service_pb2

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

Metadata = tuple[tuple[str, str], ...]


async def snapshot(stub: TicketServiceAsyncStub, metadata: Metadata) -> dict[int, Any]:
    """Per conversation id: the ticket's state, its customer and its messages."""
    state: dict[int, Any] = {}
    token = ""
    while True:
        page = await stub.ListTickets(
            ticket_service_pb2.ListTicketsRequest(page_size=500, page_token=token),
            metadata=metadata,
        )
        for ticket in page.tickets:
            conversation_id = ticket.conversation.conversation_id
            assert conversation_id not in state, f"two tickets for conversation {conversation_id}"
            customer = await stub.GetCustomer(
                ticket_service_pb2.GetCustomerRequest(name=ticket.customer), metadata=metadata
            )
            messages = await stub.ListTicketMessages(
                ticket_service_pb2.ListTicketMessagesRequest(parent=ticket.name, page_size=500),
                metadata=metadata,
            )
            state[conversation_id] = {
                "status": enums_pb2.TicketStatus.Name(ticket.status),
                "snoozed": ticket.snoozed,
                "priority": enums_pb2.TicketPriority.Name(ticket.priority),
                "assignee_id": ticket.assignee_id,
                "customer": (
                    customer.email,
                    customer.display_name,
                    customer.chatwoot_contact_id,
                ),
                "messages": [
                    (
                        m.chatwoot_message_id,
                        m.content,
                        m.private,
                        chatwoot_pb2.MessageDirection.Name(m.direction),
                    )
                    for m in messages.messages
                ],
            }
        token = page.next_page_token
        if not token:
            return state


async def event_counts(stub: TicketServiceAsyncStub, metadata: Metadata) -> dict[str, int]:
    """How many audit events of each type the tenant's log holds."""
    counts: dict[str, int] = {}
    cursor = 0
    while True:
        page = await stub.ListTicketEvents(
            ticket_service_pb2.ListTicketEventsRequest(after_cursor=cursor, page_size=1000),
            metadata=metadata,
        )
        for event in page.events:
            name = enums_pb2.TicketEventType.Name(event.type)
            counts[name] = counts.get(name, 0) + 1
            cursor = event.cursor
        if not page.events:
            return counts
