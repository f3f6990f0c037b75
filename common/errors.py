"""Errors that any service may raise, independent of the transport.

Each class maps to exactly one gRPC status code (see `common.grpc.status`), the way
httpx's exception tree maps onto HTTP failures:

    ServiceError
    ├── InvalidArgument      INVALID_ARGUMENT, with one FieldViolation per bad field
    │   └── OutOfRange       OUT_OF_RANGE: valid, but past what exists now (a cursor)
    ├── NotFound             NOT_FOUND
    ├── AlreadyExists        ALREADY_EXISTS
    ├── FailedPrecondition   FAILED_PRECONDITION
    ├── Aborted              ABORTED (a stale etag: re-read and retry)
    ├── Unauthenticated      UNAUTHENTICATED
    ├── PermissionDenied     PERMISSION_DENIED
    ├── ResourceExhausted    RESOURCE_EXHAUSTED (a stream's client fell too far behind)
    └── Unavailable          UNAVAILABLE (a system we depend on is down, or we are
                             shutting down: retry later)

Domain code raises subclasses of these with a specific `reason`; nothing else about gRPC
leaks into the domain.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


def excerpt(value: str, limit: int = 40) -> str:
    """A value quoted for an error message, cut short: errors travel in trailing metadata,
    and echoing a huge bad value back would overflow it (RESOURCE_EXHAUSTED)."""
    shown = value if len(value) <= limit else f"{value[:limit]}…"
    return repr(shown)


@dataclass(frozen=True)
class FieldViolation:
    """One bad field: `field` is a dotted path such as `ticket.customer.email`."""

    field: str
    description: str


class ServiceError(Exception):
    """Base of every error a service reports to its caller."""

    reason: str = "SERVICE_ERROR"

    def __init__(self, message: str, *, reason: str | None = None, **metadata: str) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = metadata


class InvalidArgument(ServiceError):
    """The request is malformed; `violations` names each bad field."""

    reason = "INVALID_ARGUMENT"

    def __init__(self, violations: list[FieldViolation], *, reason: str | None = None) -> None:
        summary = "; ".join(f"{v.field}: {v.description}" for v in violations)
        super().__init__(summary or "invalid argument", reason=reason)
        self.violations = violations

    @classmethod
    def single(cls, field_path: str, description: str) -> InvalidArgument:
        return cls([FieldViolation(field_path, description)])


class OutOfRange(InvalidArgument):
    """A well-formed value past the valid range as it is now, such as a cursor beyond the
    newest event (AIP-193: it may become valid as the system changes). Field violations as
    for InvalidArgument."""

    reason = "OUT_OF_RANGE"


class NotFound(ServiceError):
    """The named resource does not exist for this caller's tenant."""

    reason = "NOT_FOUND"

    def __init__(self, resource_type: str, name: str) -> None:
        super().__init__(
            f"{resource_type} {name!r} not found",
            reason=f"{resource_type.upper()}_NOT_FOUND",
            resource_type=resource_type,
            name=name,
        )
        self.resource_type = resource_type
        self.name = name


class AlreadyExists(ServiceError):
    """Creating or changing the resource would clash with an existing one."""

    reason = "ALREADY_EXISTS"


class FailedPrecondition(ServiceError):
    """The resource is not in a state that allows the operation."""

    reason = "FAILED_PRECONDITION"


class Aborted(ServiceError):
    """A concurrent change won (stale etag). Re-read and try again."""

    reason = "ETAG_MISMATCH"


class Unauthenticated(ServiceError):
    """No credential, or one that names no tenant."""

    reason = "UNAUTHENTICATED"


class PermissionDenied(ServiceError):
    """The credential is valid but may not do this."""

    reason = "PERMISSION_DENIED"


@dataclass
class Violations:
    """Collects field violations so a request reports every bad field at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidArgument(list(self.items))


@contextmanager
def field_prefix(prefix: str) -> Iterator[None]:
    """Re-raise InvalidArgument with `prefix.` in front of each field path.

    Domain validation names fields relative to the resource (`email`); the entrypoint
    knows where the resource sits in the request (`customer.email`).
    """
    try:
        yield
    except InvalidArgument as error:
        raise InvalidArgument(
            [FieldViolation(f"{prefix}.{v.field}", v.description) for v in error.violations],
            reason=error.reason,
        ) from error


class Unavailable(ServiceError):
    """A system the service depends on (another service, Chatwoot) cannot be reached."""

    reason = "UNAVAILABLE"


class ResourceExhausted(ServiceError):
    """A per-caller limit was reached, for example a stream's buffer of unsent events."""

    reason = "RESOURCE_EXHAUSTED"
