"""Bearer-token authentication for gRPC: the token names the tenant and the caller.

Health and reflection stay open so that load balancers and tooling work without secrets.
Every other RPC runs with the caller's Principal in a context variable; the tenant is never
taken from a request body.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import grpc

from common.config import Source, Tenant, TenantsConfig
from common.errors import Unauthenticated
from common.grpc.handlers import Handler, RewrapCache
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


def _metadata_value(metadata: Any, key: str) -> str | None:
    for item_key, value in metadata or ():
        if item_key == key:
            return value if isinstance(value, str) else value.decode()
    return None


Behavior = Callable[[Any, grpc.aio.ServicerContext[Any, Any]], Awaitable[Any]]


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Authenticates each call inside the method's handler, so that the wrapped handler is
    built once per method (`RewrapCache`), not on every call."""

    def __init__(self, authenticator: TokenAuthenticator, *, error_domain: str) -> None:
        self._authenticator = authenticator
        self._domain = error_domain
        self._handlers = RewrapCache()

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
        streaming = bool(handler.unary_stream or handler.stream_stream)
        return self._handlers.rewrap(
            handler_call_details.method,
            handler,
            lambda behavior: self._as_caller(behavior, streaming=streaming),
        )

    async def _caller(self, context: grpc.aio.ServicerContext[Any, Any]) -> Principal:
        """The call's Principal; the call is aborted UNAUTHENTICATED if there is none."""
        try:
            return self._authenticator.authenticate(
                _metadata_value(context.invocation_metadata(), "authorization")
            )
        except Unauthenticated as error:
            await context.abort_with_status(to_status(error, domain=self._domain))
            raise  # abort_with_status raises; this is for the type checker

    def _as_caller(self, behavior: Any, *, streaming: bool) -> Any:
        if streaming:

            async def streaming_call(request: Any, context: Any) -> Any:
                token = run_as(await self._caller(context))
                try:
                    async for response in behavior(request, context):
                        yield response
                finally:
                    _current.reset(token)

            return streaming_call

        async def unary_call(request: Any, context: Any) -> Any:
            token = run_as(await self._caller(context))
            try:
                return await behavior(request, context)
            finally:
                _current.reset(token)

        return unary_call
