"""Run the async TicketServicer under grpcio-testing, which is sync-only.

grpc_testing calls each RPC implementation as `method(request, context)` on a thread of its
own and runs no interceptors. This shim owns one asyncio loop on a background thread, builds
the real TicketService there over a freshly migrated SQLite file, and hands grpc_testing sync
wrappers that run each servicer coroutine on that loop as a given Principal (what the auth
interceptor would have set).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import grpc
import grpc_testing
from google.protobuf import message
from google.rpc import error_details_pb2, status_pb2
from sqlalchemy.ext.asyncio import AsyncEngine

from common.auth import Principal, run_as
from common.clock import Clock
from common.config import Source
from common.db import create_engine
from tests.conftest import tenants_config
from ticket_service.adapters.migrate import upgrade
from ticket_service.entrypoints.grpc_servicer import TicketServicer
from ticket_service.service.sync_tasks import SyncTasks
from ticket_service.service.tickets import TicketService
from ticketing.ticket.v1 import ticket_service_pb2

SERVICE_DESCRIPTOR = ticket_service_pb2.DESCRIPTOR.services_by_name["TicketService"]
DETAILS_KEY = "grpc-status-details-bin"

_TENANTS = tenants_config()
ACME_PRINCIPAL = Principal(_TENANTS.tenant("acme"), "tester", Source.API)
ACME_GATEWAY_PRINCIPAL = Principal(_TENANTS.tenant("acme"), "gateway", Source.CHATWOOT)
GLOBEX_PRINCIPAL = Principal(_TENANTS.tenant("globex"), "tester", Source.API)

Termination = tuple[Any, Sequence[tuple[str, str | bytes]], grpc.StatusCode, str]
"""What grpc_testing's `termination()` gives: (response, trailing metadata, code, details)."""

M = TypeVar("M", bound=message.Message)
T = TypeVar("T")
Method = Callable[[Any, Any], Awaitable[Any]]


async def _call(method: Method, request: Any, context: Any, principal: Principal) -> Any:
    # This runs as its own Task, in a copy of the loop's context: the principal is visible to
    # this call only, as with the interceptor's run_as/reset around each RPC.
    run_as(principal)
    return await method(request, context)


async def _build(database: Path, clock: Clock) -> tuple[AsyncEngine, TicketServicer]:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    try:
        await upgrade(engine)
    except BaseException:
        await engine.dispose()
        raise
    service = TicketService(engine, clock)
    return engine, TicketServicer(service, SyncTasks(service))


@dataclass(frozen=True)
class RpcFailure:
    """A failed RPC's code and its rich details, decoded from the trailing metadata."""

    code: grpc.StatusCode
    message: str
    error_info: error_details_pb2.ErrorInfo
    violations: list[tuple[str, str]]
    resource_info: error_details_pb2.ResourceInfo | None
    metadata_size: int

    @property
    def fields(self) -> list[str]:
        return [field for field, _ in self.violations]


def decode_failure(termination: Termination) -> RpcFailure:
    _, trailing, code, details = termination
    blobs = [value for key, value in trailing if key == DETAILS_KEY]
    assert len(blobs) == 1, f"expected one {DETAILS_KEY} entry, got {trailing!r}"
    assert isinstance(blobs[0], bytes)
    status = status_pb2.Status.FromString(blobs[0])
    assert status.code == code.value[0]
    assert status.message == details
    info = error_details_pb2.ErrorInfo()
    bad_request = error_details_pb2.BadRequest()
    resource: error_details_pb2.ResourceInfo | None = None
    found_info = False
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            found_info = detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            assert detail.Unpack(bad_request)
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            resource = error_details_pb2.ResourceInfo()
            assert detail.Unpack(resource)
    assert found_info, "every error carries google.rpc.ErrorInfo"
    size = len(details.encode()) + sum(len(key) + len(value) for key, value in trailing)
    return RpcFailure(
        code=code,
        message=details,
        error_info=info,
        violations=[(v.field, v.description) for v in bad_request.field_violations],
        resource_info=resource,
        metadata_size=size,
    )


class _Wrapped:
    """The servicer as grpc_testing sees it: one sync attribute per RPC."""


class ServicerHarness:
    """The real TicketServicer over a migrated SQLite file, callable through grpc_testing."""

    def __init__(self, database: Path, clock: Clock) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="servicer-loop", daemon=True
        )
        self._thread.start()
        try:
            self.engine, self.servicer = self._run(_build(database, clock))
        except BaseException:
            self._stop_loop()
            raise
        self._servers: dict[tuple[str, str, Source], Any] = {}

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    def _server_for(self, principal: Principal) -> Any:
        key = (principal.tenant_id, principal.name, principal.source)
        if key not in self._servers:
            wrapped = _Wrapped()
            loop = self._loop
            for rpc in SERVICE_DESCRIPTOR.methods:
                method: Method = getattr(self.servicer, rpc.name)
                setattr(
                    wrapped,
                    rpc.name,
                    lambda request, context, method=method: asyncio.run_coroutine_threadsafe(
                        _call(method, request, context, principal), loop
                    ).result(),
                )
            self._servers[key] = grpc_testing.server_from_dictionary(
                {SERVICE_DESCRIPTOR: wrapped}, grpc_testing.strict_real_time()
            )
        return self._servers[key]

    def call(
        self, method_name: str, request: message.Message, principal: Principal = ACME_PRINCIPAL
    ) -> Termination:
        rpc = self._server_for(principal).invoke_unary_unary(
            SERVICE_DESCRIPTOR.methods_by_name[method_name], (), request, None
        )
        termination: Termination = rpc.termination()
        return termination

    def ok(
        self,
        method_name: str,
        request: message.Message,
        response_type: type[M],
        principal: Principal = ACME_PRINCIPAL,
    ) -> M:
        """Call an RPC that must succeed; return its response."""
        response, _, code, details = self.call(method_name, request, principal)
        assert code == grpc.StatusCode.OK, f"{method_name} failed: {code} {details}"
        assert isinstance(response, response_type)
        return response

    def fail(
        self, method_name: str, request: message.Message, principal: Principal = ACME_PRINCIPAL
    ) -> RpcFailure:
        """Call an RPC that must fail; return its decoded status."""
        termination = self.call(method_name, request, principal)
        assert termination[2] != grpc.StatusCode.OK, f"{method_name} unexpectedly succeeded"
        return decode_failure(termination)

    def close(self) -> None:
        try:
            self._run(self.engine.dispose())
            self._run(self._loop.shutdown_asyncgens())
            self._run(self._loop.shutdown_default_executor())
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
