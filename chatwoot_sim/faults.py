"""Failures on demand for the Chatwoot API: fixed status codes, 429 with Retry-After, delays.

A rule matches a request by path prefix and method; the first matching rule with `times`
left answers it (and uses one up). A delay alone holds the request and then lets Chatwoot
answer it normally, so a client that times out has still changed the state, the way a slow
real server does. A delay with a status holds the request and then fails it.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from chatwoot_sim.calls import API_PREFIX


class FaultRule(BaseModel):
    """One rule of `POST /_sim/faults`."""

    model_config = ConfigDict(extra="forbid")

    path_prefix: str = "/api/"
    method: str | None = None
    status: int | None = Field(default=None, ge=100, le=599)
    # Seconds, or an HTTP date: sent as the Retry-After header as it is.
    retry_after: int | str | None = None
    delay_seconds: float = Field(default=0.0, ge=0, le=600)
    # How many matching requests it answers; None: all of them.
    times: int | None = Field(default=None, ge=1)
    # How many it has answered so far (reported by GET /_sim/faults).
    hits: int = 0

    @model_validator(mode="after")
    def _does_something(self) -> FaultRule:
        if self.status is None and self.delay_seconds == 0:
            raise ValueError("a fault rule needs a status or a delay_seconds")
        if self.method is not None:
            self.method = self.method.upper()
        return self

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return path.startswith(self.path_prefix) and self.method in (None, method)

    def describe(self) -> str:
        parts = []
        if self.delay_seconds > 0:
            parts.append(f"delay {self.delay_seconds:g}s")
        if self.status is not None:
            parts.append(f"status {self.status}")
        return ", ".join(parts)


class Faults:
    def __init__(self) -> None:
        self.rules: list[FaultRule] = []

    def add(self, rules: list[FaultRule]) -> None:
        self.rules.extend(rules)

    def clear(self) -> None:
        self.rules = []

    def take(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                rule.hits += 1
                return rule
        return None


class InjectFaults:
    """ASGI middleware in front of the Chatwoot API (not the control API)."""

    def __init__(self, app: ASGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        rule = self.faults.take(scope["method"], scope["path"])
        if rule is None:
            await self.app(scope, receive, send)
            return
        call = scope.get("state", {}).get("call")
        if call is not None:
            call.fault = rule.describe()
        if rule.delay_seconds > 0:
            await asyncio.sleep(rule.delay_seconds)
        if rule.status is None:
            await self.app(scope, receive, send)
            return
        headers = {"Retry-After": str(rule.retry_after)} if rule.retry_after is not None else None
        response = JSONResponse(
            {"error": _reason(rule.status)}, status_code=rule.status, headers=headers
        )
        await response(scope, receive, send)


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Simulated failure"
