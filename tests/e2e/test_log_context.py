"""What the ticket service's log lines say about the RPC they were written in: the caller's
tenant (from its credential), the method, the request id and, for a Chatwoot delivery, its
delivery id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from tests.conftest import ACME_GATEWAY_TOKEN, bearer
from tests.e2e.test_chatwoot_intake import delivery, state
from ticketing.ticket.v1 import chatwoot_pb2

if TYPE_CHECKING:
    from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceAsyncStub

GATEWAY = bearer(ACME_GATEWAY_TOKEN)
APPLY = "/ticketing.ticket.v1.TicketService/ApplyChatwootDelivery"
K = chatwoot_pb2.ChatwootEventKind


async def test_lines_inside_an_rpc_name_its_tenant_method_and_ids(
    stub: TicketServiceAsyncStub,
) -> None:
    request = delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED, conversation=state())
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as lines:
        await stub.ApplyChatwootDelivery(request, metadata=GATEWAY)

    [line] = [line for line in lines if line["event"] == "chatwoot_delivery"]
    assert line["tenant"] == "acme"
    assert line["rpc"] == APPLY
    assert line["request_id"] == request.request_id
    assert line["delivery_id"] == request.delivery.delivery_id
    assert line["outcome"] == "applied"


async def test_a_callers_x_request_id_names_the_request(stub: TicketServiceAsyncStub) -> None:
    request = delivery(K.CHATWOOT_EVENT_KIND_CONVERSATION_UPDATED, conversation=state())
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as lines:
        await stub.ApplyChatwootDelivery(
            request, metadata=(*GATEWAY, ("x-request-id", "trace-me-42"))
        )

    [line] = [line for line in lines if line["event"] == "chatwoot_delivery"]
    assert line["request_id"] == "trace-me-42"
    # Nothing stays bound once the RPC is over.
    assert structlog.contextvars.get_contextvars() == {}
