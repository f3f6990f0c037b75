"""The hot path of one delivery: forward it now, or spool it, and what to answer Chatwoot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import structlog

from common.backoff import Backoff
from common.clock import Clock
from common.tracing import current_traceparent
from gateway.integrations import Integration
from gateway.spool import Spool, SpoolUnavailable
from gateway.ticket_client import Applied, Failed, TicketClient
from ticketing.ticket.v1 import ticket_service_pb2 as api

log = structlog.get_logger("gateway")

RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class Answer:
    status: int
    body: Mapping[str, object]
    # The `outcome` label of chatwoot_webhook_deliveries_total.
    outcome: str
    headers: dict[str, str] = field(default_factory=dict)
    # Why it was not taken: the `reason` label of chatwoot_webhook_rejections_total.
    reason: str = ""


class Dispatcher:
    def __init__(
        self, spool: Spool, client: TicketClient, *, clock: Clock, backoff: Backoff
    ) -> None:
        self._spool = spool
        self._client = client
        self._clock = clock
        self._backoff = backoff
        self._locks = _KeyedLocks()

    async def submit(
        self, integration: Integration, request: api.ApplyChatwootDeliveryRequest, key: str
    ) -> Answer:
        """Exactly one call to the service, unless the delivery must wait behind others."""
        # One delivery per ordering key at a time: a second one waits until the first is
        # answered or spooled, then queues behind it if it was spooled.
        async with self._locks.hold(key):
            if self._spool.pending(key):
                return await self._spool_it(integration, request, key, failure=None)
            result = await self._client.apply(request, integration)
            if isinstance(result, Applied):
                return Answer(200, result.as_json(), result.outcome)
            if result.permanent:
                await self._keep_refused(integration, request, key, result)
                body = {"outcome": "rejected", "code": result.code, "error": result.reason}
                return Answer(422, body, "rejected", reason="refused_by_service")
            return await self._spool_it(integration, request, key, failure=result)

    async def _keep_refused(
        self,
        integration: Integration,
        request: api.ApplyChatwootDeliveryRequest,
        key: str,
        failure: Failed,
    ) -> None:
        log.error(
            "delivery_refused",
            integration=integration.name,
            delivery_id=request.delivery.delivery_id,
            error=str(failure),
        )
        try:
            await self._spool.dead_letter_on_arrival(
                integration=integration.name,
                ordering_key=key,
                request=request,
                failed_at=self._clock.now().timestamp(),
                error=str(failure),
            )
        except SpoolUnavailable as error:
            # The answer stays 422: the refusal is the service's, and it is logged above.
            log.error("dead_letter_write_failed", integration=integration.name, error=str(error))

    async def _spool_it(
        self,
        integration: Integration,
        request: api.ApplyChatwootDeliveryRequest,
        key: str,
        *,
        failure: Failed | None,
    ) -> Answer:
        now = self._clock.now().timestamp()
        try:
            await self._spool.add(
                integration=integration.name,
                ordering_key=key,
                request=request,
                received_at=now,
                # A delivery queued behind others is due at once: it waits for their turn
                # anyway. One that just failed waits out its first backoff.
                attempts=0 if failure is None else 1,
                next_attempt_at=now if failure is None else now + self._backoff.delay(1),
                last_error="" if failure is None else str(failure),
                trace_parent=current_traceparent(),
            )
        except SpoolUnavailable as error:
            # Chatwoot does not retry account webhooks: this delivery is lost unless the
            # sender does something, so it is logged as an error.
            log.error("spool_write_failed", integration=integration.name, error=str(error))
            body = {"error": "the delivery could not be stored, try again"}
            retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            return Answer(503, body, "failed", retry, reason="spool_unavailable")
        if failure is not None:
            log.warning(
                "delivery_spooled",
                integration=integration.name,
                delivery_id=request.delivery.delivery_id,
                error=str(failure),
            )
        return Answer(202, {"outcome": "spooled"}, "spooled")


class _KeyedLocks:
    """An asyncio.Lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
