"""Use cases over the Chatwoot outbox: see what is queued or dead, retry a dead letter."""

from __future__ import annotations

from collections.abc import Callable

from common.auth import Principal
from common.errors import NotFound
from ticket_service.domain.chatwoot_sync import SyncState, SyncTask
from ticket_service.domain.numbering import TicketNumber
from ticket_service.service.tickets import TicketService


class SyncTasks:
    def __init__(
        self, tickets: TicketService, *, on_sync_queued: Callable[[], None] = lambda: None
    ) -> None:
        self._tickets = tickets
        self._on_sync_queued = on_sync_queued

    async def list(
        self,
        caller: Principal,
        *,
        state: SyncState | None,
        ticket: TicketNumber | None,
        before_id: int | None,
        limit: int,
    ) -> list[SyncTask]:
        async with self._tickets.unit_of_work(caller) as uow:
            ticket_id = None
            if ticket is not None:
                found = await uow.tickets.get(ticket)
                if found is None:
                    raise NotFound("ticket", ticket.resource_name)
                ticket_id = found.id
            return await uow.outbox.list(
                state=state, ticket_id=ticket_id, before_id=before_id, limit=limit
            )

    async def retry(self, caller: Principal, task_id: int) -> SyncTask:
        """Queue a dead letter again, unless a newer task of its kind made it moot."""
        async with self._tickets.unit_of_work(caller) as uow:
            task = await uow.outbox.get(task_id, for_update=True)
            if task is None:
                raise NotFound("chatwoot sync task", f"chatwootSyncTasks/{task_id}")
            if (
                task.state is SyncState.DEAD
                and task.kind.is_state
                and await uow.outbox.followed_by_same_kind(task)
            ):
                task.supersede()
            else:
                task.retry(self._tickets.now())
                uow.after_commit(self._on_sync_queued)
            await uow.outbox.save(task)
            await uow.commit()
            return task
