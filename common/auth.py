"""Bearer-token authentication for gRPC: the token names the tenant and the caller.

Health and reflection stay open so that load balancers and tooling work without secrets.
Every other RPC runs with the caller's Principal in a context variable; the tenant is never
taken from a request body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from common.config import Source, Tenant, TenantsConfig
from common.errors import Unauthenticated
from common.grpc.handlers import Handler, rewrap
from common.grpc.status import to_status

OPEN_SERVICES = ("/grpc.health.v1.Health/", "/grpc.reflection.")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the tenant, the credential's name, and its kind of caller."""

    tenant: Tenant
    name: str
    source: Source

    @property
    def tenant_id(self) -> str:
        return self.tenant.id


_current: ContextVar[Principal | None] = ContextVar("principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller")
    return principal


def run_as(principal: Principal) -> Any:
    """Set the principal for the current context; returns the token to reset it."""
    return _current.set(principal)


class TokenAuthenticator:
    def __init__(self, config: TenantsConfig) -> None:
        self._credentials = [
            (token.digest, Principal(tenant, token.principal, token.source))
            for tenant in config.tenants
            for token in tenant.api_tokens
        ]

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise Unauthenticated("missing `authorization: Bearer <token>` metadata")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("authorization must be `Bearer <token>`")
        digest = hashlib.sha256(token.strip().encode()).digest()
        match: Principal | None = None
        # Compare against every credential so the time taken says nothing about which matched.
        for known, principal in self._credentials:
            if hmac.compare_digest(known, digest):
                match = principal
        if match is None:
            raise Unauthenticated("unknown token")
        return match


def _metadata_value(details: grpc.HandlerCallDetails, key: str) -> str | None:
    for item_key, value in details.invocation_metadata or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


class AuthInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self, authenticator: TokenAuthenticator, *, error_domain: str) -> None:
        self._authenticator = authenticator
        self._domain = error_domain

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler = await continuation(handler_call_details)
        if handler is None:
            # No such method: grpc answers UNIMPLEMENTED. The stubs don't allow for None.
            return handler  # type: ignore[return-value]
        if handler_call_details.method.startswith(OPEN_SERVICES):
            return handler
        try:
            principal = self._authenticator.authenticate(
                _metadata_value(handler_call_details, "authorization")
            )
        except Unauthenticated as error:
            status = to_status(error, domain=self._domain)

            def deny(_behavior: Any) -> Any:
                if handler.response_streaming:
                    # A streaming behaviour must stay an async generator: the interceptors
                    # around it iterate it (a plain coroutine would fail as UNKNOWN).
                    async def denied_stream(request: Any, context: Any) -> AsyncIterator[Any]:
                        await context.abort_with_status(status)
                        yield  # pragma: no cover - abort raises; this makes a generator

                    return denied_stream

                async def denied(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                    await context.abort_with_status(status)

                return denied

            return rewrap(handler, deny)

        def as_principal(behavior: Any) -> Any:
            if handler.unary_stream or handler.stream_stream:

                async def streaming(request: Any, context: Any) -> Any:
                    token = run_as(principal)
                    try:
                        async for response in behavior(request, context):
                            yield response
                    finally:
                        _current.reset(token)

                return streaming

            async def unary(request: Any, context: Any) -> Any:
                token = run_as(principal)
                try:
                    return await behavior(request, context)
                finally:
                    _current.reset(token)

            return unary

        return rewrap(handler, as_principal)
