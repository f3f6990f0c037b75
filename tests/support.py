"""Helpers for reading rich gRPC errors (google.rpc.Status details) in tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
from google.rpc import error_details_pb2, status_pb2

DETAILS_KEY = "grpc-status-details-bin"


@dataclass
class RichError:
    code: grpc.StatusCode
    message: str
    info: error_details_pb2.ErrorInfo
    violations: dict[str, str]
    resource: error_details_pb2.ResourceInfo | None


def decode_details(
    code: grpc.StatusCode, message: str, trailing: Sequence[tuple[str, str | bytes]]
) -> RichError:
    raw = next((value for key, value in trailing if key == DETAILS_KEY), None)
    assert isinstance(raw, bytes), f"no rich status details in {trailing!r}"
    status = status_pb2.Status.FromString(raw)
    info = error_details_pb2.ErrorInfo()
    violations: dict[str, str] = {}
    resource = None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            detail.Unpack(info)
        elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations = {v.field: v.description for v in bad.field_violations}
        elif detail.Is(error_details_pb2.ResourceInfo.DESCRIPTOR):
            resource = error_details_pb2.ResourceInfo()
            detail.Unpack(resource)
    assert info.reason, "every error carries ErrorInfo"
    return RichError(code, message, info, violations, resource)


def rich_error(error: grpc.aio.AioRpcError) -> RichError:
    return decode_details(
        error.code(), error.details() or "", tuple(error.trailing_metadata() or ())
    )


T = TypeVar("T")


async def eventually(read: Callable[[], Awaitable[T | None]], within: float = 10.0) -> T:
    """Poll `read` until it returns something other than None."""
    deadline = time.monotonic() + within
    while True:
        value = await read()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not settled within {within:g} s")
        await asyncio.sleep(0.05)
