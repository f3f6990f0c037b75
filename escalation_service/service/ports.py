"""What the escalation service needs from the ticket service, whatever carries it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from escalation_service.domain.policy import Priority
from escalation_service.domain.tickets import TicketEvent


class TicketServiceError(Exception):
    """The ticket service could not be asked; try again later."""


class TicketRefused(Exception):
    """The ticket service refused for good (the ticket is closed, deleted or unknown)."""

    def __init__(self, message: str, *, not_found: bool = False) -> None:
        super().__init__(message)
        self.not_found = not_found


class Tickets(Protocol):
    async def get_ticket(self, tenant_id: str, ticket_id: str) -> Mapping[str, Any]:
        """The ticket as its JSON record (`uid`, `status`, `priority`, `assignee_id`,
        `labels`, ...). TicketRefused(not_found=True) if the tenant has no such ticket."""
        ...

    async def list_events(
        self, tenant_id: str, after: int, limit: int
    ) -> tuple[Sequence[TicketEvent], int]:
        """Events after the cursor, and the log's head cursor."""
        ...

    async def assign(
        self, tenant_id: str, ticket_id: str, agent_id: str, request_id: str, reason: str
    ) -> None: ...

    async def set_priority(
        self, tenant_id: str, ticket_id: str, priority: Priority, request_id: str, reason: str
    ) -> None: ...

    async def add_note(
        self, tenant_id: str, ticket_id: str, body: str, request_id: str
    ) -> None: ...
