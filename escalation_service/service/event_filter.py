"""Which escalation events a watcher wants: by ticket, by type, by Chatwoot conversation."""

from __future__ import annotations

from dataclasses import dataclass

from escalation_service.domain.events import EventType, StoredEvent


@dataclass(frozen=True)
class EventFilter:
    """Empty fields match everything; the given ones must all match."""

    ticket_id: str = ""
    types: frozenset[EventType] = frozenset()
    conversation_id: int | None = None

    def matches(self, event: StoredEvent) -> bool:
        if self.ticket_id and event.ticket_id != self.ticket_id:
            return False
        if self.types and event.type not in self.types:
            return False
        return self.conversation_id is None or event.conversation_id == self.conversation_id
