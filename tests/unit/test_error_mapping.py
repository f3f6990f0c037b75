"""ServiceError becomes a rich gRPC status: code, ErrorInfo, and per-kind details."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from common import errors
from common.grpc.status import code_for, internal_status, to_status
from ticket_service.domain.model import (
    ContactTaken,
    ConversationHasTicket,
    InvalidTransition,
    TicketDeleted,
)

DOMAIN = "ticketing.ticket.v1"
DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class Decoded:
    status: status_pb2.Status
    error_info: error_details_pb2.ErrorInfo | None
    bad_request: error_details_pb2.BadRequest | None
    resource_info: error_details_pb2.ResourceInfo | None


T = TypeVar(
    "T", error_details_pb2.ErrorInfo, error_details_pb2.BadRequest, error_details_pb2.ResourceInfo
)


def _unpack(details: list[any_pb2.Any], kind: type[T]) -> T | None:
    found = [d for d in details if d.Is(kind.DESCRIPTOR)]
    assert len(found) <= 1, f"more than one {kind.DESCRIPTOR.name}"
    if not found:
        return None
    detail = kind()
    assert found[0].Unpack(detail)
    return detail


def decode(status: grpc.Status) -> Decoded:
    blobs = [value for key, value in status.trailing_metadata if key == DETAILS_KEY]
    assert len(blobs) == 1
    assert isinstance(blobs[0], bytes)
    proto = status_pb2.Status.FromString(blobs[0])
    details = list(proto.details)
    return Decoded(
        status=proto,
        error_info=_unpack(details, error_details_pb2.ErrorInfo),
        bad_request=_unpack(details, error_details_pb2.BadRequest),
        resource_info=_unpack(details, error_details_pb2.ResourceInfo),
    )


CASES: dict[str, tuple[errors.ServiceError, grpc.StatusCode, str]] = {
    "invalid argument": (
        errors.InvalidArgument.single("subject", "is required"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
    ),
    "not found": (
        errors.NotFound("ticket", "tickets/tkt-2026-00042"),
        grpc.StatusCode.NOT_FOUND,
        "TICKET_NOT_FOUND",
    ),
    "already exists": (
        errors.AlreadyExists("it exists"),
        grpc.StatusCode.ALREADY_EXISTS,
        "ALREADY_EXISTS",
    ),
    "failed precondition": (
        errors.FailedPrecondition("not now"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "FAILED_PRECONDITION",
    ),
    "aborted": (
        errors.Aborted('etag "1" is stale', current_etag='"2"'),
        grpc.StatusCode.ABORTED,
        "ETAG_MISMATCH",
    ),
    "unauthenticated": (
        errors.Unauthenticated("unknown token"),
        grpc.StatusCode.UNAUTHENTICATED,
        "UNAUTHENTICATED",
    ),
    "permission denied": (
        errors.PermissionDenied("not yours"),
        grpc.StatusCode.PERMISSION_DENIED,
        "PERMISSION_DENIED",
    ),
    "invalid transition": (
        InvalidTransition("no", current="CLOSED", requested="OPEN"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "INVALID_STATUS_TRANSITION",
    ),
    "ticket deleted": (
        TicketDeleted("gone", number="TKT-2026-00042"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "TICKET_DELETED",
    ),
    "conversation has ticket": (
        ConversationHasTicket("tickets/tkt-2026-00042"),
        grpc.StatusCode.ALREADY_EXISTS,
        "CONVERSATION_HAS_TICKET",
    ),
    "contact taken": (
        ContactTaken(),
        grpc.StatusCode.ALREADY_EXISTS,
        "CUSTOMER_CONTACT_TAKEN",
    ),
}


@pytest.mark.parametrize(("error", "code", "reason"), CASES.values(), ids=CASES.keys())
def test_each_error_maps_to_its_code_with_error_info(
    error: errors.ServiceError, code: grpc.StatusCode, reason: str
) -> None:
    status = to_status(error, domain=DOMAIN)
    decoded = decode(status)

    assert status.code == code
    assert code_for(error) == code
    assert status.details == error.message
    assert decoded.status.code == code.value[0]
    assert decoded.status.message == error.message
    assert decoded.error_info is not None
    assert decoded.error_info.reason == reason
    assert decoded.error_info.domain == DOMAIN
    assert dict(decoded.error_info.metadata) == error.metadata


@pytest.mark.parametrize(("error", "code", "reason"), CASES.values(), ids=CASES.keys())
def test_only_invalid_argument_carries_bad_request_and_only_not_found_resource_info(
    error: errors.ServiceError, code: grpc.StatusCode, reason: str
) -> None:
    decoded = decode(to_status(error, domain=DOMAIN))

    assert (decoded.bad_request is not None) == isinstance(error, errors.InvalidArgument)
    assert (decoded.resource_info is not None) == isinstance(error, errors.NotFound)


def test_invalid_argument_carries_one_field_violation_per_bad_field() -> None:
    error = errors.InvalidArgument(
        [
            errors.FieldViolation("ticket.subject", "is required"),
            errors.FieldViolation("customer.email", "'x' is not an email address"),
        ]
    )

    decoded = decode(to_status(error, domain=DOMAIN))

    assert decoded.bad_request is not None
    assert [(v.field, v.description) for v in decoded.bad_request.field_violations] == [
        ("ticket.subject", "is required"),
        ("customer.email", "'x' is not an email address"),
    ]
    assert decoded.status.message == (
        "ticket.subject: is required; customer.email: 'x' is not an email address"
    )


def test_field_prefix_moves_violations_under_the_request_field() -> None:
    with pytest.raises(errors.InvalidArgument) as raised, errors.field_prefix("customer"):
        raise errors.InvalidArgument.single("email", "is bad")

    decoded = decode(to_status(raised.value, domain=DOMAIN))

    assert decoded.bad_request is not None
    assert [v.field for v in decoded.bad_request.field_violations] == ["customer.email"]


def test_not_found_carries_resource_info_and_names_the_resource_in_error_info() -> None:
    error = errors.NotFound("customer", "customers/0b7c2f4e-0000-4000-8000-000000000002")

    decoded = decode(to_status(error, domain=DOMAIN))

    assert decoded.resource_info is not None
    assert decoded.resource_info.resource_type == "customer"
    assert decoded.resource_info.resource_name == "customers/0b7c2f4e-0000-4000-8000-000000000002"
    assert decoded.error_info is not None
    assert decoded.error_info.reason == "CUSTOMER_NOT_FOUND"
    assert dict(decoded.error_info.metadata) == {
        "resource_type": "customer",
        "name": "customers/0b7c2f4e-0000-4000-8000-000000000002",
    }


def test_a_reason_given_at_raise_time_overrides_the_class_reason() -> None:
    error = errors.FailedPrecondition("busy", reason="TICKET_LOCKED")

    decoded = decode(to_status(error, domain=DOMAIN))

    assert decoded.error_info is not None
    assert decoded.error_info.reason == "TICKET_LOCKED"


def test_an_error_of_no_known_kind_is_internal() -> None:
    error = errors.ServiceError("something odd")

    assert code_for(error) == grpc.StatusCode.INTERNAL
    assert to_status(error, domain=DOMAIN).code == grpc.StatusCode.INTERNAL


def test_internal_status_is_generic_with_error_info() -> None:
    status = internal_status(domain=DOMAIN)
    decoded = decode(status)

    assert status.code == grpc.StatusCode.INTERNAL
    assert status.details == "internal error"
    assert decoded.status.code == code_pb2.INTERNAL
    assert decoded.error_info is not None
    assert decoded.error_info.reason == "INTERNAL"
    assert decoded.error_info.domain == DOMAIN
    assert decoded.bad_request is None
    assert decoded.resource_info is None
