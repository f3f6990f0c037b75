"""Account webhooks, sent the way Chatwoot 4.15 sends them (`lib/webhooks/trigger.rb`).

Each event is POSTed once to the configured URL, in the background, with a fresh
`X-Chatwoot-Delivery` uuid and, when a secret is set, `X-Chatwoot-Timestamp` and
`X-Chatwoot-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`. Any 2xx is
success; anything else (an error status, a timeout, a refused connection) is recorded and
dropped: Chatwoot never retries account webhooks. Deliveries run concurrently, so they can
arrive in any order, as Chatwoot's do.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import httpx
import structlog

log = structlog.get_logger("chatwoot_sim.webhooks")

Outcome = Literal["pending", "delivered", "failed", "dropped"]


def signature(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


@dataclass
class Delivery:
    """One webhook and what became of it."""

    index: int
    event: str
    delivery_id: str
    url: str | None
    payload: dict[str, Any]
    body: bytes = field(repr=False)
    created_at: float = field(default_factory=time.time)
    outcome: Outcome = "pending"
    status_code: int | None = None
    error: str | None = None
    duration_seconds: float | None = None

    def to_json(self) -> dict[str, Any]:
        record = asdict(self)
        del record["body"]
        return record


@dataclass
class WebhookSettings:
    url: str | None
    secret: str | None
    enabled: bool = True


class WebhookSender:
    def __init__(self, settings: WebhookSettings, timeout_seconds: float) -> None:
        self.settings = settings
        self.deliveries: list[Delivery] = []
        # Chatwoot's WEBHOOK_TIMEOUT: 5 s to connect and 5 s to read.
        self._client = httpx.AsyncClient(timeout=timeout_seconds)
        self._tasks: set[asyncio.Task[None]] = set()

    def emit(self, payload: dict[str, Any]) -> None:
        """Record the event and, unless webhooks are off, send it in the background."""
        # Serialised now: the body is the state at the change, whatever happens next.
        body = json.dumps(payload).encode()
        delivery = Delivery(
            index=len(self.deliveries),
            event=str(payload.get("event")),
            delivery_id=str(uuid.uuid4()),
            url=self.settings.url,
            payload=json.loads(body),
            body=body,
        )
        self.deliveries.append(delivery)
        if not self.settings.enabled or self.settings.url is None:
            delivery.outcome = "dropped"
            delivery.error = "webhooks disabled" if self.settings.url else "no webhook url"
            return
        task = asyncio.get_running_loop().create_task(
            self._send(delivery, self.settings.url, self.settings.secret)
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, delivery: Delivery, url: str, secret: str | None) -> None:
        body = delivery.body
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "X-Chatwoot-Delivery": delivery.delivery_id,
        }
        if secret:
            # Made at send time, as Chatwoot does, so the signature is always fresh.
            timestamp = str(int(time.time()))
            headers["X-Chatwoot-Timestamp"] = timestamp
            headers["X-Chatwoot-Signature"] = signature(secret, timestamp, body)
        started = time.monotonic()
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            delivery.outcome = "failed"
            delivery.error = f"{type(error).__name__}: {error}"
        else:
            delivery.status_code = response.status_code
            delivery.outcome = "delivered" if response.is_success else "failed"
        delivery.duration_seconds = time.monotonic() - started
        log.info(
            "webhook",
            webhook_event=delivery.event,
            delivery_id=delivery.delivery_id,
            outcome=delivery.outcome,
            status_code=delivery.status_code,
            error=delivery.error,
        )

    def clear(self) -> None:
        """Forget the record (sends under way finish, but into the old list)."""
        self.deliveries = []

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._client.aclose()
