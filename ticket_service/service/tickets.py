"""Use cases of the ticket service. Each runs in one unit of work for the caller's tenant.

Mutations share one path (`_mutate`): claim the request_id, load under a row lock, check
the etag, apply the domain change, write it and its audit event, store the response for
replays, commit.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from common.auth import Principal
from common.clock import Clock
from common.config import Source
from common.errors import InvalidArgument, NotFound, field_prefix
from common.etags import check_etag, strong_etag
from ticket_service.adapters.chatwoot_store import MessageKey, StoredMessage
from ticket_service.adapters.outbox import Destination
from ticket_service.adapters.repository import (
    CustomerFilter,
    PageKey,
    PendingEvent,
    StoredEvent,
    TicketFilter,
)
from ticket_service.domain.chatwoot import echoes_of
from ticket_service.domain.chatwoot_sync import ECHO_WINDOW, commands_for
from ticket_service.domain.contacts import normalize_email, normalize_phone
from ticket_service.domain.model import (
    Change,
    Contact,
    ContactTaken,
    ConversationHasTicket,
    ConversationLink,
    Customer,
    Priority,
    Status,
    Ticket,
)
from ticket_service.domain.numbering import TicketNumber
from ticket_service.service.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Idempotency:
    """A request_id with what it must keep meaning: the method and a request fingerprint."""

    request_id: str
    method: str
    fingerprint: bytes


@dataclass(frozen=True)
class ContactInput:
    """Customer details as the caller gave them, before normalization."""

    display_name: str = ""
    email: str = ""
    phone_number: str = ""
    chatwoot_contact_id: int = 0


@dataclass(frozen=True)
class NewTicket:
    subject: str
    description: str = ""
    priority: Priority = Priority.MEDIUM
    customer_id: str = ""
    contact: ContactInput | None = None
    conversation: ConversationLink | None = None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class NoteAdded:
    ticket: Ticket
    note_id: str
    sync_task: str
    """The outbox task posting the note to Chatwoot; empty without a conversation."""

    def as_record(self) -> dict[str, Any]:
        return {"ticket": self.ticket.as_record(), "note_id": self.note_id, "sync": self.sync_task}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> NoteAdded:
        return cls(Ticket.from_record(record["ticket"]), record["note_id"], record["sync"])


Result = TypeVar("Result", Ticket, Customer, NoteAdded)


def normalize_contact(raw: ContactInput, region: str) -> Contact:
    email = normalize_email(raw.email)
    phone = normalize_phone(raw.phone_number, region=region)
    if raw.chatwoot_contact_id < 0:
        raise InvalidArgument.single("chatwoot_contact_id", "must not be negative")
    return Contact(
        email=email, phone_number=phone, chatwoot_contact_id=raw.chatwoot_contact_id or None
    )


class TicketService:
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        on_sync_queued: Callable[[], None] = lambda: None,
        on_events_committed: Callable[[str], None] | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        # Wakes the Chatwoot dispatcher when a commit queued work for it.
        self._on_sync_queued = on_sync_queued
        # Wakes the event streams of the tenant when a commit appended to its log.
        self._on_events_committed = on_events_committed

    def unit_of_work(self, caller: Principal) -> UnitOfWork:
        return UnitOfWork(self._engine, caller.tenant_id, self._on_events_committed)

    def now(self) -> datetime:
        return self._clock.now()

    def event_for(
        self,
        caller: Principal,
        change: Change,
        *,
        ticket: Ticket | None = None,
        customer: Customer | None = None,
        reason: str = "",
        idempotency: Idempotency | None = None,
        conversation_id: int | None = None,
    ) -> PendingEvent:
        """The event of `change`; its conversation is the ticket's, or `conversation_id`
        for a change that concerns a conversation but no ticket."""
        if ticket is not None and ticket.conversation is not None:
            conversation_id = ticket.conversation.conversation_id
        return PendingEvent(
            type=change.type,
            before=change.before,
            after=change.after,
            ticket_id=ticket.id if ticket else None,
            ticket_number=str(ticket.number) if ticket else None,
            customer_id=customer.id if customer else (ticket.customer_id if ticket else None),
            source=caller.source.value,
            actor=caller.name,
            reason=reason,
            request_id=idempotency.request_id if idempotency else "",
            create_time=self._clock.now(),
            conversation_id=conversation_id,
        )

    async def _idempotent(
        self,
        caller: Principal,
        idempotency: Idempotency | None,
        decode: Callable[[dict[str, Any]], Result],
        work: Callable[[UnitOfWork], Awaitable[Result]],
    ) -> Result:
        async with self.unit_of_work(caller) as uow:
            if idempotency is not None:
                stored = await uow.idempotency.claim(
                    idempotency.request_id,
                    idempotency.method,
                    idempotency.fingerprint,
                    self._clock.now(),
                )
                if stored is not None:
                    return decode(stored)
            result = await work(uow)
            if idempotency is not None:
                await uow.idempotency.complete(idempotency.request_id, result.as_record())
            await uow.commit()
            return result

    # Tickets

    async def create_ticket(
        self, caller: Principal, new: NewTicket, idempotency: Idempotency | None = None
    ) -> Ticket:
        contact = None
        if not new.customer_id:
            if new.contact is None:
                raise InvalidArgument.single(
                    "ticket.customer", "give ticket.customer or the customer's contact details"
                )
            with field_prefix("customer"):
                contact = normalize_contact(new.contact, caller.tenant.default_phone_region)

        async def work(uow: UnitOfWork) -> Ticket:
            if contact is not None:
                assert new.contact is not None
                with field_prefix("customer"):
                    customer = await self.match_customer(
                        uow, caller, contact, new.contact.display_name, idempotency
                    )
            else:
                found = await uow.customers.get(new.customer_id)
                if found is None:
                    raise NotFound("customer", f"customers/{new.customer_id}")
                customer = found
            if new.conversation is not None:
                live = await uow.tickets.find_live_by_conversation(new.conversation)
                if live is not None:
                    raise ConversationHasTicket(live.name)
            now = self._clock.now()
            number = await uow.tickets.allocate_number(now.year)
            with field_prefix("ticket"):
                ticket, change = Ticket.open(
                    id=str(uuid.uuid4()),
                    number=number,
                    subject=new.subject,
                    description=new.description,
                    priority=new.priority,
                    customer_id=customer.id,
                    conversation=new.conversation,
                    labels=new.labels,
                    now=now,
                )
            await uow.tickets.add(ticket)
            uow.record(self.event_for(caller, change, ticket=ticket, idempotency=idempotency))
            return ticket

        return await self._idempotent(caller, idempotency, Ticket.from_record, work)

    async def match_customer(
        self,
        uow: UnitOfWork,
        caller: Principal,
        contact: Contact,
        display_name: str,
        idempotency: Idempotency | None,
    ) -> Customer:
        now = self._clock.now()
        existing = await uow.customers.find_by_contact(contact)
        if existing is None:
            customer, change = Customer.register(
                id=str(uuid.uuid4()), display_name=display_name, contact=contact, now=now
            )
            if await uow.customers.add_if_absent(customer):
                uow.record(
                    self.event_for(caller, change, customer=customer, idempotency=idempotency)
                )
                return customer
            # A concurrent request registered one of these identifiers first: use theirs.
            existing = await uow.customers.find_by_contact(contact)
            assert existing is not None, "insert conflicted but no customer matches"
        await self._fill_in(uow, caller, existing, contact, idempotency)
        return existing

    async def _fill_in(
        self,
        uow: UnitOfWork,
        caller: Principal,
        customer: Customer,
        contact: Contact,
        idempotency: Idempotency | None,
    ) -> None:
        """Learn identifiers the customer lacked, unless another customer already has them."""
        for candidate in (
            Contact(email=contact.email),
            Contact(phone_number=contact.phone_number),
            Contact(chatwoot_contact_id=contact.chatwoot_contact_id),
        ):
            if candidate.is_empty or await uow.customers.find_by_contact(candidate):
                continue
            locked = await uow.customers.get(customer.id, for_update=True)
            assert locked is not None
            change = locked.fill_in(candidate, self._clock.now())
            if change is None:
                continue
            await uow.customers.save(locked)
            uow.record(self.event_for(caller, change, customer=locked, idempotency=idempotency))
            customer.contact, customer.version = locked.contact, locked.version

    async def get_ticket(self, caller: Principal, number: TicketNumber) -> Ticket:
        async with self.unit_of_work(caller) as uow:
            return await _load_ticket(uow, number)

    async def list_tickets(
        self, caller: Principal, where: TicketFilter, *, after: PageKey | None, limit: int
    ) -> list[Ticket]:
        async with self.unit_of_work(caller) as uow:
            return await uow.tickets.list(where, after=after, limit=limit)

    async def _mutate_ticket(
        self,
        caller: Principal,
        number: TicketNumber,
        etag: str,
        idempotency: Idempotency | None,
        apply: Callable[[Ticket], Change | None],
        reason: str = "",
    ) -> Ticket:
        async def work(uow: UnitOfWork) -> Ticket:
            ticket = await _load_ticket(uow, number, for_update=True)
            check_etag(etag, strong_etag(ticket.version))
            change = apply(ticket)
            if change is not None:
                await uow.tickets.save(ticket)
                uow.record(
                    self.event_for(
                        caller, change, ticket=ticket, reason=reason, idempotency=idempotency
                    )
                )
                await self._tell_chatwoot(uow, caller, ticket, change)
            return ticket

        return await self._idempotent(caller, idempotency, Ticket.from_record, work)

    async def add_note(
        self,
        caller: Principal,
        number: TicketNumber,
        body: str,
        idempotency: Idempotency | None = None,
    ) -> NoteAdded:
        async def work(uow: UnitOfWork) -> NoteAdded:
            # Locked like any change, so the note queues behind the ticket's earlier ones.
            ticket = await _load_ticket(uow, number, for_update=True)
            note_id = str(uuid.uuid4())
            change = ticket.add_note(note_id, body)
            uow.record(self.event_for(caller, change, ticket=ticket, idempotency=idempotency))
            tasks = await self._tell_chatwoot(uow, caller, ticket, change)
            return NoteAdded(ticket, note_id, tasks[0] if tasks else "")

        return await self._idempotent(caller, idempotency, NoteAdded.from_record, work)

    async def _tell_chatwoot(
        self, uow: UnitOfWork, caller: Principal, ticket: Ticket, change: Change
    ) -> list[str]:
        """Queue what Chatwoot must show after our change, in this transaction; the names
        of the outbox tasks.

        What Chatwoot will show is also remembered, so the webhook echoing it is recognised
        instead of applied again (or, arriving late, undoing a newer change). Changes that
        came from Chatwoot are not sent back.
        """
        link = ticket.conversation
        if link is None or caller.source is Source.CHATWOOT:
            return []
        expire_time = self._clock.now() + ECHO_WINDOW
        for attribute, value in echoes_of(change.type, change.after):
            await uow.echoes.expect(
                link.account_id, link.conversation_id, attribute, value, expire_time
            )
        integration = caller.tenant.integration_for_account(link.account_id)
        commands = commands_for(change)
        if integration is None or not commands:
            return []
        destination = Destination(
            integration.name, link.account_id, link.conversation_id, ticket.id, str(ticket.number)
        )
        ids = await uow.outbox.enqueue(destination, commands, self._clock.now())
        uow.after_commit(self._on_sync_queued)
        return [f"chatwootSyncTasks/{task_id}" for task_id in ids]

    async def update_ticket(
        self,
        caller: Principal,
        number: TicketNumber,
        *,
        etag: str,
        subject: str | None,
        description: str | None,
        labels: list[str] | None,
        idempotency: Idempotency | None = None,
    ) -> Ticket:
        now = self._clock.now()
        return await self._mutate_ticket(
            caller,
            number,
            etag,
            idempotency,
            lambda t: t.edit(now, subject=subject, description=description, labels=labels),
        )

    async def change_status(
        self,
        caller: Principal,
        number: TicketNumber,
        target: Status,
        *,
        etag: str = "",
        reason: str = "",
        idempotency: Idempotency | None = None,
    ) -> Ticket:
        now = self._clock.now()
        return await self._mutate_ticket(
            caller, number, etag, idempotency, lambda t: t.change_status(target, now), reason
        )

    async def reopen(
        self,
        caller: Principal,
        number: TicketNumber,
        *,
        etag: str = "",
        reason: str = "",
        idempotency: Idempotency | None = None,
    ) -> Ticket:
        now = self._clock.now()
        return await self._mutate_ticket(
            caller, number, etag, idempotency, lambda t: t.reopen(now), reason
        )

    async def assign(
        self,
        caller: Principal,
        number: TicketNumber,
        assignee_id: str,
        *,
        etag: str = "",
        reason: str = "",
        idempotency: Idempotency | None = None,
    ) -> Ticket:
        now = self._clock.now()
        return await self._mutate_ticket(
            caller, number, etag, idempotency, lambda t: t.assign(assignee_id, now), reason
        )

    async def set_priority(
        self,
        caller: Principal,
        number: TicketNumber,
        priority: Priority,
        *,
        etag: str = "",
        reason: str = "",
        idempotency: Idempotency | None = None,
    ) -> Ticket:
        now = self._clock.now()
        return await self._mutate_ticket(
            caller, number, etag, idempotency, lambda t: t.set_priority(priority, now), reason
        )

    async def delete_ticket(
        self,
        caller: Principal,
        number: TicketNumber,
        *,
        etag: str = "",
        reason: str = "",
        idempotency: Idempotency | None = None,
    ) -> Ticket:
        now = self._clock.now()
        return await self._mutate_ticket(
            caller, number, etag, idempotency, lambda t: t.delete(now), reason
        )

    # Customers

    async def create_customer(
        self, caller: Principal, raw: ContactInput, idempotency: Idempotency | None = None
    ) -> Customer:
        contact = normalize_contact(raw, caller.tenant.default_phone_region)

        async def work(uow: UnitOfWork) -> Customer:
            customer, change = Customer.register(
                id=str(uuid.uuid4()),
                display_name=raw.display_name,
                contact=contact,
                now=self._clock.now(),
            )
            if not await uow.customers.add_if_absent(customer):
                raise ContactTaken()
            uow.record(self.event_for(caller, change, customer=customer, idempotency=idempotency))
            return customer

        return await self._idempotent(caller, idempotency, Customer.from_record, work)

    async def get_customer(self, caller: Principal, customer_id: str) -> Customer:
        async with self.unit_of_work(caller) as uow:
            customer = await uow.customers.get(customer_id)
        if customer is None:
            raise NotFound("customer", f"customers/{customer_id}")
        return customer

    async def list_customers(
        self,
        caller: Principal,
        *,
        email: str,
        phone_number: str,
        after: PageKey | None,
        limit: int,
    ) -> list[Customer]:
        where = CustomerFilter(
            email=normalize_email(email),
            phone_number=normalize_phone(phone_number, region=caller.tenant.default_phone_region),
        )
        async with self.unit_of_work(caller) as uow:
            return await uow.customers.list(where, after=after, limit=limit)

    async def update_customer(
        self,
        caller: Principal,
        customer_id: str,
        *,
        etag: str,
        display_name: str | None,
        contact: dict[str, Any],
        idempotency: Idempotency | None = None,
    ) -> Customer:
        """`contact` holds only the identifiers to change (raw values; '' or 0 clears)."""
        region = caller.tenant.default_phone_region
        cleaned: dict[str, Any] = {}
        if "email" in contact:
            cleaned["email"] = normalize_email(contact["email"])
        if "phone_number" in contact:
            cleaned["phone_number"] = normalize_phone(contact["phone_number"], region=region)
        if "chatwoot_contact_id" in contact:
            if contact["chatwoot_contact_id"] < 0:
                raise InvalidArgument.single("chatwoot_contact_id", "must not be negative")
            cleaned["chatwoot_contact_id"] = contact["chatwoot_contact_id"] or None

        async def work(uow: UnitOfWork) -> Customer:
            customer = await uow.customers.get(customer_id, for_update=True)
            if customer is None:
                raise NotFound("customer", f"customers/{customer_id}")
            check_etag(etag, strong_etag(customer.version))
            new_contact = Contact(**{**customer.contact.__dict__, **cleaned})
            change = customer.update(
                self._clock.now(), display_name=display_name, contact=new_contact
            )
            if change is not None:
                await uow.customers.save(customer)
                uow.record(
                    self.event_for(caller, change, customer=customer, idempotency=idempotency)
                )
            return customer

        return await self._idempotent(caller, idempotency, Customer.from_record, work)

    # Conversation history

    async def list_messages(
        self, caller: Principal, number: TicketNumber, *, after: MessageKey | None, limit: int
    ) -> tuple[Ticket, list[StoredMessage]]:
        async with self.unit_of_work(caller) as uow:
            ticket = await _load_ticket(uow, number)
            return ticket, await uow.messages.list_for_ticket(ticket.id, after=after, limit=limit)

    # Audit log

    async def list_events(
        self, caller: Principal, *, after_cursor: int, limit: int, ticket: TicketNumber | None
    ) -> tuple[list[StoredEvent], int]:
        async with self.unit_of_work(caller) as uow:
            ticket_id = None
            if ticket is not None:
                ticket_id = (await _load_ticket(uow, ticket)).id
            head = await uow.events.head()
            events = await uow.events.read(
                after_cursor=after_cursor, limit=limit, ticket_id=ticket_id
            )
            return events, head


async def _load_ticket(
    uow: UnitOfWork, number: TicketNumber, *, for_update: bool = False
) -> Ticket:
    ticket = await uow.tickets.get(number, for_update=for_update)
    if ticket is None:
        raise NotFound("ticket", number.resource_name)
    return ticket
