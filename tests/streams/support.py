"""Watching the ticket event log in tests: a stream read in the background, and writers."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import grpc

from tests.support import RichError, rich_error
from ticketing.ticket.v1 import (
    customer_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)

Metadata = tuple[tuple[str, str], ...]
Request = ticket_service_pb2.WatchTicketEventsRequest


@dataclass
class Watcher:
    """One WatchTicketEvents call, read into `messages` by a task until it ends."""

    # WatchTicketEvents or WatchEscalationEvents: both answer with `events` and
    # `resume_cursor`.
    call: grpc.aio.UnaryStreamCall[Any, Any]
    messages: list[Any] = field(default_factory=list)
    error: RichError | None = None
    task: asyncio.Task[None] | None = None
    # Seconds the reader sleeps after each message: a slow consumer.
    pause: float = 0.0

    async def _read(self) -> None:
        try:
            while (message := await self.call.read()) is not grpc.aio.EOF:
                self.messages.append(message)
                if self.pause:
                    await asyncio.sleep(self.pause)
        except grpc.aio.AioRpcError as error:
            self.error = rich_error(error) if error.trailing_metadata() else None
            if self.error is None:
                raise

    @property
    def cursors(self) -> list[int]:
        return [event.cursor for m in self.messages for event in m.events]

    @property
    def resume_cursor(self) -> int:
        return self.messages[-1].resume_cursor if self.messages else -1

    async def until(self, cursor: int, within: float = 10.0) -> None:
        """Until a message says everything up to `cursor` was scanned."""
        deadline = time.monotonic() + within
        while self.resume_cursor < cursor:
            if self.task is not None and self.task.done():
                raise AssertionError(f"stream ended at {self.resume_cursor}: {self.error}")
            if time.monotonic() > deadline:
                raise AssertionError(f"resume cursor {self.resume_cursor}, wanted {cursor}")
            await asyncio.sleep(0.01)

    async def opened(self) -> int:
        """The cursor of the opening message."""
        deadline = time.monotonic() + 10
        while not self.messages:
            if self.task is not None and self.task.done():
                await self.task
                raise AssertionError(f"stream ended before it opened: {self.error}")
            assert time.monotonic() < deadline, "no opening message"
            await asyncio.sleep(0.01)
        return int(self.messages[0].resume_cursor)

    async def ended(self, within: float = 10.0) -> RichError:
        assert self.task is not None
        await asyncio.wait_for(asyncio.shield(self.task), within)
        assert self.error is not None, "the stream ended without an error"
        return self.error

    async def close(self) -> None:
        self.call.cancel()
        if self.task is not None:
            with contextlib.suppress(asyncio.CancelledError, grpc.aio.AioRpcError):
                await self.task


def follow(call: grpc.aio.UnaryStreamCall[Any, Any], pause: float = 0.0) -> Watcher:
    """Read a streaming call in the background."""
    watcher = Watcher(call, pause=pause)
    watcher.task = asyncio.create_task(watcher._read())
    return watcher


def watch(
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub,
    metadata: Metadata,
    request: Request | None = None,
    pause: float = 0.0,
) -> Watcher:
    return follow(stub.WatchTicketEvents(request or Request(), metadata=metadata), pause)


async def head(stub: ticket_service_pb2_grpc.TicketServiceAsyncStub, metadata: Metadata) -> int:
    listed = await stub.ListTicketEvents(
        ticket_service_pb2.ListTicketEventsRequest(page_size=1), metadata=metadata
    )
    return listed.head_cursor


async def create_ticket(
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub,
    metadata: Metadata,
    subject: str,
    conversation_id: int = 0,
) -> ticket_pb2.Ticket:
    conversation = ticket_pb2.ChatwootConversation(
        account_id=3 if conversation_id else 0, conversation_id=conversation_id
    )
    return await stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject=subject, conversation=conversation),
            customer=customer_pb2.Customer(email="ada@example.com"),
        ),
        metadata=metadata,
    )


async def add_notes(
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub,
    metadata: Metadata,
    ticket: str,
    count: int,
    body: str = "note",
) -> None:
    for index in range(count):
        await stub.AddTicketNote(
            ticket_service_pb2.AddTicketNoteRequest(ticket=ticket, body=f"{body} {index}"),
            metadata=metadata,
        )
