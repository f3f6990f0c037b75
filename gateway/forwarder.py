"""The background task that forwards spooled deliveries to the ticket service.

Per ordering key only the oldest delivery is eligible, so a conversation's deliveries reach
the service in the order they arrived; different keys proceed independently. An entry
leaves the spool only when the service answered OK, or moves to the dead letters when it
refused it for good; anything else is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping

import structlog

from common.backoff import Backoff
from common.clock import Clock
from common.logging import log_context
from common.tracing import continued_span
from gateway.integrations import Integration
from gateway.metrics import Metrics
from gateway.spool import Spool, SpooledDelivery, SpoolUnavailable
from gateway.ticket_client import Applied, TicketClient

log = structlog.get_logger("gateway")

# Heads forwarded concurrently per round; a round ends when all of them answered.
BATCH = 32


class Forwarder:
    def __init__(
        self,
        spool: Spool,
        client: TicketClient,
        integrations: Mapping[str, Integration],
        *,
        clock: Clock,
        backoff: Backoff,
        metrics: Metrics,
    ) -> None:
        self._spool = spool
        self._client = client
        self._integrations = integrations
        self._clock = clock
        self._backoff = backoff
        self._metrics = metrics
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="gateway-forwarder")

    async def stop(self) -> None:
        """End the loop. A call in flight is abandoned; its entry stays spooled."""
        if self._task is not None:
            # The flag as well as the cancel: a cancellation that lands while a library
            # call completes can be swallowed, and the loop must end regardless.
            self._stopping = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        while not self._stopping:
            # Cleared before looking, so a delivery spooled while we look still wakes us.
            self._spool.added.clear()
            try:
                wait = await self._forward_due()
                failures = 0
            except SpoolUnavailable as error:
                failures += 1
                wait = self._backoff.delay(failures)
                log.error("spool_unavailable", error=str(error), retry_in_seconds=round(wait, 3))
            except Exception:
                # A bug must not end forwarding for the life of the process.
                failures += 1
                wait = self._backoff.delay(failures)
                log.exception("forwarder_failed", retry_in_seconds=round(wait, 3))
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._spool.added.wait()

    async def _forward_due(self) -> float | None:
        """Forward what is due; then how long until something is (None: spool empty)."""
        now = self._now()
        due = await self._spool.due(now, BATCH)
        if due:
            # All of them finish before anything is looked at again, even when one fails:
            # a head still in flight must not be picked up a second time.
            results = await asyncio.gather(
                *(self._forward(entry) for entry in due), return_exceptions=True
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
            return 0.0
        next_at = await self._spool.next_attempt_at()
        return None if next_at is None else max(0.0, next_at - now)

    async def _forward(self, entry: SpooledDelivery) -> None:
        integration = self._integrations.get(entry.integration)
        # A child of the webhook's request, which is long answered: one trace still runs
        # from Chatwoot's delivery to the ticket service's change.
        with (
            continued_span(
                "spool_forward",
                entry.trace_parent,
                {"gateway.integration": entry.integration, "gateway.spool.seq": entry.seq},
            ),
            log_context(
                tenant=integration.tenant_id if integration else None,
                delivery_id=entry.request.delivery.delivery_id,
                request_id=entry.request.request_id,
            ),
        ):
            await self._forward_traced(entry, integration)

    async def _forward_traced(
        self, entry: SpooledDelivery, integration: Integration | None
    ) -> None:
        bound = log.bind(
            integration=entry.integration,
            seq=entry.seq,
            attempt=entry.attempts + 1,
        )
        if integration is None:
            await self._spool.dead_letter(
                entry, failed_at=self._now(), error="integration is no longer configured"
            )
            self._count(entry, "dead_letter")
            bound.error("spool_dead_letter", error="integration is no longer configured")
            return
        result = await self._client.apply(entry.request, integration)
        if isinstance(result, Applied):
            await self._spool.delivered(entry)
            self._count(entry, "delivered")
            bound.info("spool_delivered", outcome=result.outcome, ticket=result.response.ticket)
        elif result.permanent:
            await self._spool.dead_letter(entry, failed_at=self._now(), error=str(result))
            self._count(entry, "dead_letter")
            bound.error("spool_dead_letter", error=str(result))
        else:
            wait = self._backoff.delay(entry.attempts + 1)
            next_at = self._now() + wait
            await self._spool.retry_later(entry, next_attempt_at=next_at, error=str(result))
            self._count(entry, "retry")
            bound.info("spool_retry", error=str(result), retry_in_seconds=round(wait, 3))

    def _count(self, entry: SpooledDelivery, result: str) -> None:
        self._metrics.forward_attempts.labels(entry.integration, result).inc()

    def _now(self) -> float:
        return self._clock.now().timestamp()
