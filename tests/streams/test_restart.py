"""A watcher that reconnects with its last cursor after the ticket service restarted (a
real process, SIGTERM) misses nothing and sees nothing twice."""

from __future__ import annotations

from pathlib import Path

import grpc

from common.streams import RESUME_KEY
from tests.processes.support import DEV_TOKEN, running, ticket_service_env
from tests.support import rich_error
from ticketing.ticket.v1 import customer_pb2, ticket_pb2, ticket_service_pb2
from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceStub

AUTH = (("authorization", f"Bearer {DEV_TOKEN}"),)
Request = ticket_service_pb2.WatchTicketEventsRequest


def _create(stub: TicketServiceStub, subject: str) -> None:
    stub.CreateTicket(
        ticket_service_pb2.CreateTicketRequest(
            ticket=ticket_pb2.Ticket(subject=subject),
            customer=customer_pb2.Customer(email="ada@example.com"),
        ),
        metadata=AUTH,
        timeout=10,
    )


def _read_until(stream: object, cursor: int, into: list[int]) -> int:
    """Read until a message reports `cursor` scanned; the last resume cursor."""
    resume = -1
    while resume < cursor:
        message = next(stream)  # type: ignore[call-overload]
        into.extend(event.cursor for event in message.events)
        resume = message.resume_cursor
    return resume


def test_a_watcher_resumes_after_a_restart_without_gaps_or_duplicates(tmp_path: Path) -> None:
    env = ticket_service_env(tmp_path)
    seen: list[int] = []

    with running("ticket_service", "serve", "--migrate", env=env, cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.serving_port()}"
        with grpc.insecure_channel(address) as channel:
            stub = TicketServiceStub(channel)
            stream = stub.WatchTicketEvents(
                Request(start_position=Request.START_POSITION_AFTER_CURSOR), metadata=AUTH
            )
            for index in range(3):
                _create(stub, f"before {index}")  # customer + ticket, then ticket, ticket
            _read_until(stream, 4, seen)
            service.popen.terminate()
            try:
                while True:
                    message = next(stream)
                    seen.extend(event.cursor for event in message.events)
            except grpc.RpcError as error:
                ended = rich_error(error)  # type: ignore[arg-type]
            assert service.popen.wait(15) == 0
    assert ended.code == grpc.StatusCode.UNAVAILABLE
    assert ended.info.reason == "SHUTTING_DOWN"
    resume = int(ended.info.metadata[RESUME_KEY])
    assert resume == 4

    with running("ticket_service", env=env, cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.serving_port()}"
        with grpc.insecure_channel(address) as channel:
            stub = TicketServiceStub(channel)
            stream = stub.WatchTicketEvents(Request(after_cursor=resume), metadata=AUTH)
            for index in range(2):
                _create(stub, f"after {index}")
            _read_until(stream, 6, seen)
            stream.cancel()
        assert service.terminate() == 0

    assert seen == [1, 2, 3, 4, 5, 6]
