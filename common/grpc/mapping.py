"""Proto <-> domain helpers that every servicer needs: enums, timestamps, resource names and
request fingerprints."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any, TypeVar

from google.protobuf import message, timestamp_pb2

from common.errors import InvalidArgument, excerpt

E = TypeVar("E", bound=StrEnum)


def enum_from_proto(number: int, enum: type, prefix: str, domain: type[E], field: str) -> E:
    """The domain member named like the proto value without its prefix
    (`TICKET_PRIORITY_HIGH` -> `Priority.HIGH`); INVALID_ARGUMENT for an unknown number."""
    try:
        name: str = enum.Name(number)  # type: ignore[attr-defined]
        return domain[name.removeprefix(f"{prefix}_")]
    except (ValueError, KeyError):
        raise InvalidArgument.single(field, f"{number} is not a known value") from None


def optional_enum(number: int, enum: type, prefix: str, domain: type[E], field: str) -> E | None:
    """As `enum_from_proto`, with 0 (UNSPECIFIED) meaning None."""
    return None if number == 0 else enum_from_proto(number, enum, prefix, domain, field)


def enum_to_proto(value: StrEnum, enum: type, prefix: str) -> Any:
    """The proto value named like the domain member (`Priority.HIGH` ->
    `TICKET_PRIORITY_HIGH`). Typed Any: each proto enum has its own ValueType."""
    return enum.Value(f"{prefix}_{value.name}")  # type: ignore[attr-defined]


def timestamp(value: datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(value)
    return stamp


def uuid_from_name(name: str, collection: str, *, field: str = "name") -> str:
    """The id in `{collection}/{uuid}`; INVALID_ARGUMENT naming `field` otherwise."""
    prefix = f"{collection}/"
    try:
        if not name.startswith(prefix):
            raise ValueError(name)
        return str(uuid.UUID(name.removeprefix(prefix)))
    except ValueError:
        raise InvalidArgument.single(
            field, f"{excerpt(name)} is not a name like '{collection}/<uuid>'"
        ) from None


def fingerprint(request: message.Message) -> bytes:
    """What a request_id must keep meaning: the request minus its request_id."""
    copy = type(request)()
    copy.CopyFrom(request)
    copy.ClearField("request_id")
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).digest()
