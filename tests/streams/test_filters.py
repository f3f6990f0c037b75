"""Filters, tenants and bad requests: a watcher sees exactly what it asked for, of its own
tenant; a filtered watcher's resume cursor still advances, through the heartbeats."""

from __future__ import annotations

import grpc

from tests.conftest import ACME, ACME_GATEWAY_TOKEN, GLOBEX, bearer
from tests.e2e.test_chatwoot_intake import K, delivery, message, state
from tests.streams.support import Request, add_notes, create_ticket, head, watch
from tests.support import rich_error
from ticket_service.bootstrap import TicketApp
from ticketing.ticket.v1 import enums_pb2, ticket_service_pb2, ticket_service_pb2_grpc

FROM_START = Request(start_position=Request.START_POSITION_AFTER_CURSOR)


def _request(**filters: object) -> Request:
    request = Request()
    request.CopyFrom(FROM_START)
    for key, value in filters.items():
        if isinstance(value, list):
            getattr(request, key).extend(value)
        else:
            setattr(request, key, value)
    return request


async def test_filters_by_ticket_type_and_conversation(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    linked = await create_ticket(stub, ACME, "Linked", conversation_id=77)
    other = await create_ticket(stub, ACME, "Other", conversation_id=78)
    plain = await create_ticket(stub, ACME, "Plain")
    for ticket in (linked, other, plain):
        await add_notes(stub, ACME, ticket.name, 2)
    end = await head(stub, ACME)
    all_events = watch(stub, ACME, FROM_START)
    by_ticket = watch(stub, ACME, _request(ticket=plain.name))
    notes = watch(stub, ACME, _request(types=[enums_pb2.TICKET_EVENT_TYPE_NOTE_ADDED]))
    conversation = watch(stub, ACME, _request(chatwoot_conversation_id=77))
    both = watch(
        stub,
        ACME,
        _request(chatwoot_conversation_id=78, types=[enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED]),
    )
    streams = [all_events, by_ticket, notes, conversation, both]
    for stream in streams:
        await stream.until(end)
        await stream.close()

    events = {e.cursor: e for m in all_events.messages for e in m.events}
    assert sorted(events) == list(range(1, end + 1))

    def expected(keep: object) -> list[int]:
        return [cursor for cursor, e in sorted(events.items()) if keep(e)]  # type: ignore[operator]

    assert by_ticket.cursors == expected(lambda e: e.ticket == plain.name)
    assert len(by_ticket.cursors) == 3  # created, two notes
    assert notes.cursors == expected(lambda e: e.type == enums_pb2.TICKET_EVENT_TYPE_NOTE_ADDED)
    assert len(notes.cursors) == 6
    assert conversation.cursors == expected(lambda e: e.ticket == linked.name)
    assert {e.chatwoot_conversation_id for m in conversation.messages for e in m.events} == {77}
    [created] = [e for m in both.messages for e in m.events]
    assert created.ticket == other.name
    assert created.type == enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED


async def test_a_filtered_watcher_resume_cursor_advances_past_events_it_skips(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    ticket = await create_ticket(stub, ACME, "Noisy")
    quiet = watch(stub, ACME, Request(types=[enums_pb2.TICKET_EVENT_TYPE_TICKET_DELETED]))
    await quiet.opened()
    await add_notes(stub, ACME, ticket.name, 5)
    end = await head(stub, ACME)
    await quiet.until(end)  # by a heartbeat: nothing here matches
    await quiet.close()
    assert quiet.cursors == []


async def test_a_watcher_sees_only_its_own_tenant(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    acme = watch(stub, ACME)
    globex = watch(stub, GLOBEX)
    await acme.opened()
    await globex.opened()
    theirs = await create_ticket(stub, GLOBEX, "Globex only")
    await add_notes(stub, GLOBEX, theirs.name, 3)
    ours = await create_ticket(stub, ACME, "Acme only")
    await globex.until(await head(stub, GLOBEX))
    await acme.until(await head(stub, ACME))
    await acme.close()
    await globex.close()

    assert {e.ticket for m in acme.messages for e in m.events} == {ours.name, ""}
    assert {e.ticket for m in globex.messages for e in m.events} == {theirs.name, ""}


async def test_bad_requests_name_each_bad_field(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    bad = Request(ticket="tickets/nope", chatwoot_conversation_id=-1)
    bad.types.append(enums_pb2.TICKET_EVENT_TYPE_UNSPECIFIED)
    errors = {}
    for request in (
        bad,
        Request(after_cursor=-1),
        Request(start_position=Request.START_POSITION_NOW, after_cursor=3),
        Request(start_position=99),  # type: ignore[arg-type]
    ):
        try:
            async for _ in stub.WatchTicketEvents(request, metadata=ACME):
                raise AssertionError("the stream opened")
        except grpc.aio.AioRpcError as error:
            failure = rich_error(error)
            assert failure.code == grpc.StatusCode.INVALID_ARGUMENT
            if request is bad:  # every bad field at once
                assert set(failure.violations) == {"ticket", "types[0]", "chatwoot_conversation_id"}
            errors.update(failure.violations)
    assert set(errors) == {
        "ticket",
        "types[0]",
        "chatwoot_conversation_id",
        "after_cursor",
        "start_position",
    }


async def test_a_cursor_beyond_the_head_is_out_of_range(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    await create_ticket(stub, ACME, "One")
    end = await head(stub, ACME)
    try:
        async for _ in stub.WatchTicketEvents(Request(after_cursor=end + 1), metadata=ACME):
            raise AssertionError("the stream opened")
    except grpc.aio.AioRpcError as error:
        failure = rich_error(error)
    assert failure.code == grpc.StatusCode.OUT_OF_RANGE
    assert failure.info.reason == "CURSOR_BEYOND_HEAD"
    assert "after_cursor" in failure.violations
    # The head itself is a fine place to start.
    at_head = watch(stub, ACME, Request(after_cursor=end))
    assert await at_head.opened() == end
    await at_head.close()


async def test_an_unknown_ticket_is_not_found(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    request = Request(ticket="tickets/tkt-2026-99999")
    try:
        async for _ in stub.WatchTicketEvents(request, metadata=ACME):
            raise AssertionError("the stream opened")
    except grpc.aio.AioRpcError as error:
        failure = rich_error(error)
    assert failure.code == grpc.StatusCode.NOT_FOUND


async def test_a_watch_without_credentials_is_unauthenticated(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    for metadata in ((), (("authorization", "Bearer wrong-token"),)):
        try:
            async for _ in stub.WatchTicketEvents(
                ticket_service_pb2.WatchTicketEventsRequest(), metadata=metadata
            ):
                raise AssertionError("the stream opened")
        except grpc.aio.AioRpcError as error:
            failure = rich_error(error)
        assert failure.code == grpc.StatusCode.UNAUTHENTICATED
        assert failure.info.reason == "UNAUTHENTICATED"


async def test_events_of_a_chatwoot_delivery_carry_its_conversation(
    ticket_app: TicketApp, stub: ticket_service_pb2_grpc.TicketServiceAsyncStub
) -> None:
    watcher = watch(stub, ACME, _request(chatwoot_conversation_id=1042))
    await watcher.opened()
    created = delivery(
        K.CHATWOOT_EVENT_KIND_MESSAGE_CREATED, conversation=state(1042), msg=message(1)
    )
    await stub.ApplyChatwootDelivery(created, metadata=bearer(ACME_GATEWAY_TOKEN))
    await create_ticket(stub, ACME, "Not from Chatwoot")
    await watcher.until(await head(stub, ACME))
    await watcher.close()

    events = [e for m in watcher.messages for e in m.events]
    assert {e.type for e in events} >= {
        enums_pb2.TICKET_EVENT_TYPE_TICKET_CREATED,
        enums_pb2.TICKET_EVENT_TYPE_MESSAGE_ADDED,
    }
    assert {e.chatwoot_conversation_id for e in events} == {1042}
