"""The one place where ServiceError becomes a rich gRPC status (AIP-193).

Every error carries google.rpc.ErrorInfo; INVALID_ARGUMENT adds BadRequest with field
violations and NOT_FOUND adds ResourceInfo. Anything unexpected becomes INTERNAL with a
generic message: never UNKNOWN, never a stack trace to the caller.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol, TypeVar

import grpc
import structlog
from google.protobuf import any_pb2, descriptor, message, message_factory
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from common import errors

log = structlog.get_logger(__name__)

_CODES: list[tuple[type[errors.ServiceError], grpc.StatusCode]] = [
    (errors.OutOfRange, grpc.StatusCode.OUT_OF_RANGE),
    (errors.InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
    (errors.Aborted, grpc.StatusCode.ABORTED),
    (errors.Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (errors.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
    (errors.ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
]


def code_for(error: errors.ServiceError) -> grpc.StatusCode:
    for error_type, code in _CODES:
        if isinstance(error, error_type):
            return code
    return grpc.StatusCode.INTERNAL


def _pack(detail: message.Message) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(detail)
    return packed


def to_status(error: errors.ServiceError, *, domain: str) -> grpc.Status:
    code = code_for(error)
    details = [
        _pack(
            error_details_pb2.ErrorInfo(reason=error.reason, domain=domain, metadata=error.metadata)
        )
    ]
    if isinstance(error, errors.InvalidArgument):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in error.violations
                    ]
                )
            )
        )
    if isinstance(error, errors.NotFound):
        details.append(
            _pack(
                error_details_pb2.ResourceInfo(
                    resource_type=error.resource_type, resource_name=error.name
                )
            )
        )
    proto = status_pb2.Status(code=code.value[0], message=error.message, details=details)
    status: grpc.Status = rpc_status.to_status(proto)
    return status


def internal_status(*, domain: str) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(reason="INTERNAL", domain=domain)
    proto = status_pb2.Status(
        code=code_pb2.INTERNAL, message="internal error", details=[_pack(info)]
    )
    status: grpc.Status = rpc_status.to_status(proto)
    return status


class _Context(Protocol):
    """What both grpc.aio.ServicerContext and grpc_testing's context provide."""

    def set_code(self, code: grpc.StatusCode) -> None: ...
    def set_details(self, details: str) -> None: ...
    def set_trailing_metadata(self, trailing_metadata: Any) -> None: ...


def _fail(context: _Context, status: grpc.Status) -> None:
    # set_* rather than abort_with_status: grpcio-testing implements only the former, and
    # abort() would drop the trailing metadata that carries the rich details.
    context.set_trailing_metadata(status.trailing_metadata)
    context.set_code(status.code)
    context.set_details(status.details)


ServicerT = TypeVar("ServicerT", bound=type)


def _guard(method: Callable[..., Awaitable[Any]], empty: Callable[[], Any], domain: str) -> Any:
    @functools.wraps(method)
    async def guarded(self: Any, request: Any, context: Any) -> Any:
        try:
            return await method(self, request, context)
        except errors.ServiceError as error:
            _fail(context, to_status(error, domain=domain))
        except Exception:
            log.exception("rpc_failed", rpc=method.__name__)
            _fail(context, internal_status(domain=domain))
        return empty()

    return guarded


def _guard_stream(method: Callable[..., AsyncIterator[Any]], domain: str) -> Any:
    """`_guard` for a server-streaming method (an async generator): the messages already
    sent stay sent, and the error becomes the stream's final status."""

    @functools.wraps(method)
    async def guarded(self: Any, request: Any, context: Any) -> AsyncIterator[Any]:
        try:
            async for response in method(self, request, context):
                yield response
        except errors.ServiceError as error:
            _fail(context, to_status(error, domain=domain))
        except Exception:
            log.exception("rpc_failed", rpc=method.__name__)
            _fail(context, internal_status(domain=domain))

    return guarded


def map_service_errors(
    service: descriptor.ServiceDescriptor, *, domain: str
) -> Callable[[ServicerT], ServicerT]:
    """Class decorator: every RPC of `service` that the servicer implements reports
    ServiceError as its rich status and anything else as INTERNAL."""

    def decorate(servicer: ServicerT) -> ServicerT:
        for method in service.methods:
            implementation = servicer.__dict__.get(method.name)
            if implementation is None:
                continue
            if method.server_streaming:
                setattr(servicer, method.name, _guard_stream(implementation, domain))
                continue
            empty = message_factory.GetMessageClass(method.output_type)
            setattr(servicer, method.name, _guard(implementation, empty, domain))
        return servicer

    return decorate
