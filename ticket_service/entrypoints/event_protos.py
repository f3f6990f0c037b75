"""Ticket events as protos, converted once for every watcher that sends them.

A commit fans out to every watcher of the tenant; converting its event (two Structs) for
each of them would cost the server a conversion per watcher per event. Events never
change, so the newest few thousand are kept by (tenant, cursor).
"""

from __future__ import annotations

from collections import OrderedDict

from ticket_service.adapters.repository import StoredEvent
from ticket_service.entrypoints.proto_mapping import event_to_proto
from ticketing.ticket.v1 import ticket_event_pb2


class EventProtos:
    def __init__(self, size: int = 4096) -> None:
        self._size = size
        self._protos: OrderedDict[tuple[str, int], ticket_event_pb2.TicketEvent] = OrderedDict()

    def get(self, tenant: str, event: StoredEvent) -> ticket_event_pb2.TicketEvent:
        key = (tenant, event.cursor)
        proto = self._protos.get(key)
        if proto is None:
            proto = self._protos[key] = event_to_proto(event)
            if len(self._protos) > self._size:
                self._protos.popitem(last=False)
        return proto
