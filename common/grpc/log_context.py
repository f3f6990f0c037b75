"""A server interceptor that binds who and what an RPC is about to every log line it writes.

Put it after the auth interceptor, so it runs inside it and sees the caller: `tenant`
(from the credential), `rpc` (the method), and `request_id`: the `x-request-id` metadata a
caller sends, or else the request's own `request_id` field (the idempotency key the gateway
derives from a Chatwoot delivery, the escalation service from an escalation).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from common.auth import current_principal
from common.errors import Unauthenticated
from common.grpc.handlers import Handler, rewrap
from common.logging import log_context

REQUEST_ID_METADATA = ("x-request-id", "request_id", "request-id")
# A caller's value goes into every line: bounded, like any other input we log.
_MAX_REQUEST_ID = 128


class LogContextInterceptor(grpc.aio.ServerInterceptor):
    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler  # type: ignore[return-value]
        method = handler_call_details.method
        rpc = method.decode() if isinstance(method, bytes) else method
        from_metadata = _request_id_metadata(handler_call_details)

        def fields(request: Any) -> dict[str, str]:
            bound = {"rpc": rpc}
            request_id = from_metadata or _request_id_field(request)
            if request_id:
                bound["request_id"] = request_id[:_MAX_REQUEST_ID]
            # Health and reflection are open: nobody to name.
            with contextlib.suppress(Unauthenticated):
                bound["tenant"] = current_principal().tenant_id
            return bound

        def with_context(behavior: Any) -> Any:
            if handler.response_streaming:

                async def streaming(request: Any, context: Any) -> Any:
                    with log_context(**fields(request)):
                        async for response in behavior(request, context):
                            yield response

                return streaming

            async def unary(request: Any, context: Any) -> Any:
                with log_context(**fields(request)):
                    return await behavior(request, context)

            return unary

        return rewrap(handler, with_context)


def _request_id_metadata(details: grpc.HandlerCallDetails) -> str | None:
    for key, value in details.invocation_metadata or ():
        if key in REQUEST_ID_METADATA:
            return value if isinstance(value, str) else value.decode(errors="replace")
    return None


def _request_id_field(request: Any) -> str:
    # A client-streaming call's "request" is an iterator, with no field to read.
    value = getattr(request, "request_id", "")
    return value if isinstance(value, str) else ""
