"""The record of every Chatwoot API call, so tests can assert what a client really sent.

The recorder sits outside fault injection: a call answered by a fault is recorded too, with
the fault's status and `fault` set. Control calls (`/_sim/...`) are not recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_PREFIX = "/api/"
TOKEN_HEADER = b"api_access_token"


@dataclass
class Call:
    index: int
    time: float
    method: str
    path: str
    # The last value of each query parameter; `query_string` keeps them all.
    query: dict[str, str]
    query_string: str
    json: Any
    # "admin", "agent", "bot", "user" (a seeded agent's token), "invalid" or None (no token).
    actor: str | None
    status: int | None = None
    fault: str | None = None
    duration_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class CallLog:
    def __init__(self) -> None:
        self.calls: list[Call] = []

    def clear(self) -> None:
        self.calls = []


class RecordCalls:
    """ASGI middleware: buffers the request body (and replays it to the app), records the call
    and the status it was answered with."""

    def __init__(self, app: ASGIApp, log: CallLog, actor: Callable[[str | None], str | None]):
        self.app = app
        self.log = log
        self.actor = actor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            more = message.get("more_body", False)
        query_string = scope["query_string"].decode("latin-1")
        headers = dict(scope["headers"])
        token = headers.get(TOKEN_HEADER)
        call = Call(
            index=len(self.log.calls),
            time=time.time(),
            method=scope["method"],
            path=scope["path"],
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            query_string=query_string,
            json=_json_or_none(body),
            actor=self.actor(token.decode("latin-1") if token is not None else None),
        )
        self.log.calls.append(call)
        scope.setdefault("state", {})["call"] = call
        started = time.monotonic()
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        async def record_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
                call.duration_seconds = time.monotonic() - started
            await send(message)

        await self.app(scope, replay, record_status)


def _json_or_none(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None
