"""Delivers the Chatwoot outbox: claim due tasks, call Chatwoot, record what happened.

Each pass claims up to `batch` tasks, at most one per conversation (the oldest pending),
commits the claim, then calls Chatwoot for all of them at once. A claim is a lease: a
dispatcher that dies mid-call leaves its tasks to be claimed again when the lease ends.
So delivery is at least once, which is safe for every command we send: each sets a value
(status, priority, assignee, labels), except private notes, which a retry after a lost
answer can post twice.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from opentelemetry.trace import StatusCode
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import Clock
from common.logging import log_context
from common.tracing import continued_span, untraced
from ticket_service.adapters.chatwoot_store import EchoRegistry
from ticket_service.adapters.outbox import OutboxQueue
from ticket_service.chatwoot import (
    ChatwootClient,
    ChatwootStatus,
    CircuitOpen,
    PermanentError,
    Priority,
    RateLimited,
    RetryableError,
)
from ticket_service.domain.chatwoot_sync import (
    ECHO_WINDOW,
    RetryPolicy,
    SyncKind,
    SyncState,
    SyncTask,
)

log = structlog.get_logger("chatwoot_dispatcher")


@dataclass(frozen=True)
class DispatchSettings:
    batch: int = 16
    # Other replicas' commits don't wake this one; a short poll finds their work.
    poll_interval: timedelta = timedelta(milliseconds=500)
    # Longer than any one attempt can take (the client's timeouts, two calls for labels).
    lease: timedelta = timedelta(seconds=60)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # Consecutive failures that open an integration's circuit, and how long it stays open.
    breaker_threshold: int = 5
    breaker_cool_down: timedelta = timedelta(seconds=30)


class ChatwootDispatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        clients: Mapping[str, ChatwootClient],
        clock: Clock,
        settings: DispatchSettings = DispatchSettings(),
    ) -> None:
        self._engine = engine
        self._clients = clients
        self._clock = clock
        self._settings = settings
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Work was queued: start a pass now instead of at the next poll."""
        self._wakeup.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="chatwoot-dispatcher")

    async def stop(self, grace: float) -> None:
        """Let the pass in flight finish (its calls are bounded by the client timeouts),
        then stop; past `grace`, cancel it and leave its tasks to their leases."""
        self._stopping = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._task, grace)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                # Each task's delivery continues the trace of the change that queued it.
                with untraced():
                    claimed = await self.run_once()
            except Exception:
                # The database is unreachable, say: log it and try again at the next poll.
                log.exception("chatwoot_dispatch_failed")
                claimed = 0
            if claimed < self._settings.batch and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    timeout = self._settings.poll_interval.total_seconds()
                    await asyncio.wait_for(self._wakeup.wait(), timeout)
                self._wakeup.clear()

    async def run_once(self) -> int:
        """One pass: claim due tasks and deliver them. Returns how many were claimed."""
        now = self._clock.now()
        async with self._engine.begin() as conn:
            tasks = await OutboxQueue(conn).claim_due(
                now, now + self._settings.lease, self._settings.batch
            )
        await asyncio.gather(*(self._attempt(task) for task in tasks))
        return len(tasks)

    async def _attempt(self, task: SyncTask) -> None:
        # A child of the change that queued the task: its trace goes on to Chatwoot.
        with (
            continued_span(
                "chatwoot_sync",
                task.trace_context,
                {"chatwoot.sync.kind": task.kind.value, "chatwoot.sync.task": task.name},
            ) as span,
            log_context(tenant=task.tenant_id),
        ):
            await self._attempt_traced(task)
            if task.state is not SyncState.DELIVERED and span.is_recording():
                span.set_status(StatusCode.ERROR, task.last_error)

    async def _attempt_traced(self, task: SyncTask) -> None:
        client = self._clients.get(task.integration)
        retry = self._settings.retry
        # Chatwoot stamps our write at or after this moment.
        started = self._clock.now()
        if client is None:
            task.failed(f"integration {task.integration} is no longer configured", retry_at=None)
        else:
            try:
                await _send(client, task)
            except CircuitOpen as error:
                task.failed(str(error), retry_at=max(error.reopens_at, self._clock.now()))
            except RetryableError as error:
                now = self._clock.now()
                retry_at = None
                if not retry.gives_up(task.create_time, now):
                    wait = timedelta(0)
                    if isinstance(error, RateLimited) and error.retry_after is not None:
                        wait = timedelta(seconds=error.retry_after)
                    retry_at = now + retry.delay(task.attempts, at_least=wait)
                task.failed(str(error), retry_at=retry_at)
            except PermanentError as error:
                task.failed(str(error), retry_at=None)
            else:
                task.delivered(self._clock.now())
        async with self._engine.begin() as conn:
            settled = await OutboxQueue(conn).settle(task)
            if settled:
                await _record_echoes(EchoRegistry(conn, task.tenant_id), task, started)
        log.info(
            "chatwoot_sync",
            task=task.name,
            kind=task.kind.value,
            conversation=task.conversation_id,
            state=task.state.value,
            attempts=task.attempts,
            error=task.last_error or None,
            lease_lost=not settled or None,
        )


async def _record_echoes(registry: EchoRegistry, task: SyncTask, written: datetime) -> None:
    """Once Chatwoot has our write, states it stamps later show it, and its echo is due;
    once it refused it for good, no echo will come and Chatwoot's value stands."""
    for attribute, value in task.echoes():
        if task.state is SyncState.DELIVERED:
            await registry.sent(
                task.account_id,
                task.conversation_id,
                attribute,
                value,
                write_time=written,
                expire_time=written + ECHO_WINDOW,
                expect_again=task.create_time + ECHO_WINDOW <= written,
            )
        elif task.state is SyncState.DEAD:
            await registry.forget(task.account_id, task.conversation_id, attribute, value)


async def _send(client: ChatwootClient, task: SyncTask) -> None:
    conversation, payload = task.conversation_id, task.payload
    if task.kind is SyncKind.STATUS:
        await client.toggle_status(conversation, ChatwootStatus(payload["status"]))
    elif task.kind is SyncKind.PRIORITY:
        priority = payload["priority"]
        await client.toggle_priority(conversation, Priority(priority) if priority else None)
    elif task.kind is SyncKind.ASSIGNEE:
        await client.assign(conversation, payload["assignee_id"])
    elif task.kind is SyncKind.LABELS:
        if payload["add"]:
            await client.add_labels(conversation, payload["add"])
        if payload["remove"]:
            await client.remove_labels(conversation, payload["remove"])
    elif task.kind is SyncKind.PRIVATE_NOTE:
        await client.create_private_note(
            conversation, payload["content"], {"ticketing_ref": payload["ticketing_ref"]}
        )
