"""Reconciliation and backfill: Chatwoot's own conversation list, applied like webhooks.

Chatwoot never retries a webhook, so every one sent while our gateway was unreachable is
lost. Each pass of the reconciler lists the conversations Chatwoot updated since the last
pass (`updated_within`, which answers all of them at once) and applies each as a
`conversation_updated` delivery, through the same idempotent path as webhooks: a state
already applied is skipped, an older one never undoes a newer one.

A backfill imports the conversations an account already had when it was connected. It
pages through the whole list, saving its page after each, so an interrupted backfill
resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta

import structlog

from common.auth import Principal
from common.clock import Clock
from common.config import ChatwootIntegration, Source, Tenant, TenantsConfig
from common.errors import ServiceError
from ticket_service.chatwoot import ChatwootClient, ChatwootError, Conversation
from ticket_service.domain.chatwoot import ChatwootContact, ConversationState
from ticket_service.service.chatwoot_intake import (
    ChatwootIntake,
    Delivery,
    EventKind,
    Outcome,
)
from ticket_service.service.tickets import TicketService

log = structlog.get_logger("reconciler")

# Request ids of reconciled deliveries, stable for one conversation state.
NAMESPACE = uuid.UUID("0d6b8f0e-5a4c-5b1e-9f7a-3c2e1d0b9a87")


@dataclass(frozen=True)
class ReconcileSettings:
    interval: timedelta = timedelta(minutes=1)
    # How far back the first pass of a new integration looks.
    first_lookback: timedelta = timedelta(hours=1)
    # Each pass reaches this far before the last one ended: covers clock skew between
    # Chatwoot and us, and updates that Chatwoot committed after answering the last list.
    overlap: timedelta = timedelta(minutes=2)
    lease: timedelta = timedelta(minutes=10)


@dataclass
class Report:
    seen: int = 0
    applied: int = 0
    refused: int = 0
    """Conversations the intake refused (say, one with no contact to open a ticket for):
    logged and passed over, so one bad conversation cannot stall every later pass."""


class Reconciler:
    def __init__(
        self,
        tickets: TicketService,
        clients: Mapping[str, ChatwootClient],
        tenants: TenantsConfig,
        clock: Clock,
        settings: ReconcileSettings = ReconcileSettings(),
    ) -> None:
        self._tickets = tickets
        self._intake = ChatwootIntake(tickets)
        self._clients = clients
        self._tenants = tenants
        self._clock = clock
        self._settings = settings

    async def reconcile_all(self) -> None:
        """One pass over every integration (what the service runs every minute)."""
        for tenant in self._tenants.tenants:
            for integration in tenant.chatwoot:
                try:
                    await self.reconcile(tenant, integration)
                except ChatwootError as error:
                    # Chatwoot is down: this window is reconciled on the next pass.
                    log.warning("reconcile_failed", integration=integration.name, error=str(error))
                except Exception:
                    # One integration's trouble must not cost the others their pass.
                    log.exception("reconcile_failed", integration=integration.name)

    async def reconcile(self, tenant: Tenant, integration: ChatwootIntegration) -> Report | None:
        """One pass over the conversations updated since the last; None if another replica
        holds this integration's turn."""
        started = self._clock.now()
        caller = _reconciler(tenant)
        async with self._tickets.unit_of_work(caller) as uow:
            progress = await uow.reconciliations.take_turn(
                integration.name, started, started + self._settings.lease
            )
            await uow.commit()
        if progress is None:
            return None
        since = progress.reconciled_until or started - self._settings.first_lookback
        report = Report()
        completed = False
        try:
            window = started - since + self._settings.overlap
            async for conversation in self._client(integration).iter_conversations(
                status="all", updated_within=window
            ):
                await self.apply(tenant, integration, conversation, report)
            completed = True
        finally:
            # A failed pass ends its turn without moving the watermark: the next pass
            # covers this window again.
            async with self._tickets.unit_of_work(caller) as uow:
                await uow.reconciliations.record(
                    integration.name, reconciled_until=started if completed else None
                )
                await uow.commit()
        log.info(
            "reconciled", integration=integration.name, seen=report.seen, applied=report.applied
        )
        return report

    async def backfill(
        self,
        tenant: Tenant,
        integration: ChatwootIntegration,
        *,
        on_page: Callable[[int, int, int | None], None] = lambda page, seen, total: None,
    ) -> Report:
        """Import every conversation of the account, resuming after the last finished
        page. `on_page(page, seen, total)` reports progress."""
        caller = _reconciler(tenant)
        now = self._clock.now()
        async with self._tickets.unit_of_work(caller) as uow:
            progress = await uow.reconciliations.take_turn(
                integration.name, now, now + self._settings.lease
            )
            await uow.commit()
        if progress is None:
            raise RuntimeError(
                f"integration {integration.name} is being reconciled by another process; "
                "try again when it is done"
            )
        client = self._client(integration)
        report = Report()
        page = progress.backfill_page
        total: int | None = None
        try:
            while True:
                answer = await client.list_conversations(status="all", page=page + 1)
                if answer.counts is not None:
                    total = answer.counts.all
                if not answer.conversations:
                    break
                for conversation in answer.conversations:
                    await self.apply(tenant, integration, conversation, report)
                page += 1
                now = self._clock.now()
                async with self._tickets.unit_of_work(caller) as uow:
                    await uow.reconciliations.record(
                        integration.name, backfill_page=page, lease_until=now + self._settings.lease
                    )
                    await uow.commit()
                on_page(page, page * 25, total)
        finally:
            async with self._tickets.unit_of_work(caller) as uow:
                await uow.reconciliations.record(integration.name)
                await uow.commit()
        return report

    def _client(self, integration: ChatwootIntegration) -> ChatwootClient:
        return self._clients[integration.name]

    async def apply(
        self,
        tenant: Tenant,
        integration: ChatwootIntegration,
        conversation: Conversation,
        report: Report,
    ) -> None:
        """Apply one conversation from Chatwoot's list as a `conversation_updated` webhook."""
        report.seen += 1
        delivery = delivery_from(integration.name, conversation)
        try:
            result = await self._intake.apply(_reconciler(tenant), delivery)
        except ServiceError as error:
            report.refused += 1
            log.warning(
                "reconcile_refused",
                integration=integration.name,
                conversation=conversation.id,
                error=error.message,
            )
            return
        if result.outcome is Outcome.APPLIED:
            report.applied += 1
            log.info(
                "reconciled_conversation",
                integration=integration.name,
                conversation=conversation.id,
                effects=result.effects,
            )


def _reconciler(tenant: Tenant) -> Principal:
    """Changes found by reconciliation come from Chatwoot, like webhooks' changes."""
    return Principal(tenant, "reconciler", Source.CHATWOOT)


def delivery_from(integration: str, conversation: Conversation) -> Delivery:
    """A conversation from Chatwoot's list, as the `conversation_updated` webhook that
    would have carried it."""
    updated_us = int(conversation.updated_at.timestamp() * 1_000_000)
    identity = f"{integration}:{conversation.account_id}:{conversation.id}:{updated_us}"
    content_key = hashlib.sha256(f"reconcile:{identity}".encode()).hexdigest()
    contact = conversation.contact
    return Delivery(
        integration=integration,
        kind=EventKind.CONVERSATION_UPDATED,
        content_key=content_key,
        request_id=str(uuid.uuid5(NAMESPACE, identity)),
        conversation=ConversationState(
            account_id=conversation.account_id,
            conversation_id=conversation.id,
            inbox_id=conversation.inbox_id,
            state_time_us=updated_us,
            status=conversation.status,
            priority=conversation.priority,
            snoozed_until=conversation.snoozed_until,
            assignee_id="" if conversation.assignee_id is None else str(conversation.assignee_id),
            contact=(
                None
                if contact is None
                else ChatwootContact(
                    id=contact.id,
                    name=contact.name or "",
                    email=contact.email or "",
                    phone_number=contact.phone_number or "",
                )
            ),
        ),
    )
