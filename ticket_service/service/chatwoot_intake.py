"""Applying one verified Chatwoot webhook delivery, in one transaction.

The order inside the transaction is what makes deliveries safe to repeat and to reorder:
1. Claim the delivery's keys (delivery id and content hash): a copy stops here.
2. Lock the conversation's sync state: deliveries of one conversation apply one at a time.
3. Apply the conversation state only if it is newer than the last one applied, and skip
   values that are echoes of our own writes.
4. Store the message (once per Chatwoot message id) and refresh the customer.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from common.auth import Principal
from common.config import ChatwootIntegration, Source
from common.errors import InvalidArgument, NotFound, PermissionDenied
from ticket_service.adapters.chatwoot_store import ExpectedEcho, LockedConversation
from ticket_service.domain.chatwoot import (
    ChatwootContact,
    ChatwootMessage,
    ConversationState,
    status_following,
)
from ticket_service.domain.contacts import normalize_email, normalize_phone
from ticket_service.domain.model import (
    Change,
    Contact,
    ConversationLink,
    EventType,
    Priority,
    Ticket,
)
from ticket_service.service.tickets import Idempotency, TicketService
from ticket_service.service.unit_of_work import UnitOfWork

MAX_SUBJECT = 300
# How far Chatwoot's clock and ours may disagree: a state stamped within this of our write
# may or may not include it.
CLOCK_SKEW = timedelta(seconds=2)


class EventKind(StrEnum):
    CONVERSATION_CREATED = "conversation_created"
    CONVERSATION_UPDATED = "conversation_updated"
    CONVERSATION_STATUS_CHANGED = "conversation_status_changed"
    MESSAGE_CREATED = "message_created"
    MESSAGE_UPDATED = "message_updated"
    CONTACT_CREATED = "contact_created"
    CONTACT_UPDATED = "contact_updated"
    WEBWIDGET_TRIGGERED = "webwidget_triggered"
    AUTOMATION = "automation"


class Outcome(StrEnum):
    APPLIED = "applied"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True)
class Delivery:
    integration: str
    kind: EventKind
    content_key: str
    delivery_id: str = ""
    request_id: str = ""
    conversation: ConversationState | None = None
    message: ChatwootMessage | None = None
    contact: ChatwootContact | None = None

    @property
    def dedupe_keys(self) -> list[str]:
        keys = [f"{self.integration}:content:{self.content_key}"]
        if self.delivery_id:
            keys.insert(0, f"{self.integration}:delivery:{self.delivery_id}")
        return keys


@dataclass
class DeliveryResult:
    outcome: Outcome
    ticket_name: str = ""
    effects: list[str] = field(default_factory=list)


class ChatwootIntake:
    def __init__(self, tickets: TicketService) -> None:
        self._tickets = tickets

    async def apply(self, caller: Principal, delivery: Delivery) -> DeliveryResult:
        if caller.source is not Source.CHATWOOT:
            raise PermissionDenied("only the Chatwoot gateway may apply Chatwoot deliveries")
        integration = _integration(caller, delivery.integration)
        _check_delivery(delivery, integration)
        async with self._tickets.unit_of_work(caller) as uow:
            locked = None
            now = self._tickets.now()
            if delivery.conversation is not None:
                state = delivery.conversation
                locked = await uow.conversations.claim_and_lock(
                    delivery.dedupe_keys,
                    state.account_id,
                    state.conversation_id,
                    state.state_time_us,
                    now,
                    _new_message(delivery),
                )
                claimed = locked is not None
            else:
                claimed = await uow.deliveries.claim(delivery.dedupe_keys, now)
            if not claimed:
                return DeliveryResult(Outcome.DUPLICATE, effects=["delivery seen before"])
            run = _Application(self._tickets, uow, caller, delivery)
            await run.apply(locked)
            await uow.commit()
            return run.result()


def _new_message(delivery: Delivery) -> ChatwootMessage | None:
    """The message a delivery stores as it is, if any: most deliveries are a new message on
    a known conversation, and storing it with the conversation's lock saves a round trip.
    An update revises a stored message instead, and our own notes are not stored."""
    message = delivery.message
    if delivery.kind is not EventKind.MESSAGE_CREATED or message is None:
        return None
    return None if message.ticketing_ref else message


def _integration(caller: Principal, name: str) -> ChatwootIntegration:
    for integration in caller.tenant.chatwoot:
        if integration.name == name:
            return integration
    raise NotFound("chatwoot integration", name)


def _check_delivery(delivery: Delivery, integration: ChatwootIntegration) -> None:
    if len(delivery.content_key) != 64:
        raise InvalidArgument.single("delivery.content_key", "must be a hex SHA-256")
    needs = {
        EventKind.MESSAGE_CREATED: ("conversation", "message"),
        EventKind.MESSAGE_UPDATED: ("conversation", "message"),
        EventKind.CONTACT_CREATED: ("contact",),
        EventKind.CONTACT_UPDATED: ("contact",),
        EventKind.WEBWIDGET_TRIGGERED: ("contact",),
    }.get(delivery.kind, ("conversation",))
    for part in needs:
        if getattr(delivery, part) is None:
            raise InvalidArgument.single(f"delivery.{part}", f"is required for {delivery.kind}")
    state = delivery.conversation
    if state is not None and state.account_id != integration.account_id:
        raise InvalidArgument.single(
            "delivery.conversation.account_id",
            f"account {state.account_id} is not the account of integration {integration.name}",
        )


class _Application:
    """One delivery being applied: its unit of work, and what it did so far."""

    def __init__(
        self, tickets: TicketService, uow: UnitOfWork, caller: Principal, delivery: Delivery
    ) -> None:
        self._tickets = tickets
        self._uow = uow
        self._caller = caller
        self._delivery = delivery
        self._now = tickets.now()
        # Events are recorded under the gateway's request_id, so the audit log ties them
        # to the delivery.
        self._idempotency = Idempotency(delivery.request_id, "ApplyChatwootDelivery", b"")
        self._ticket: Ticket | None = None
        # A message stored with the conversation's lock: whether it was new, and the
        # ticket it was filed under.
        self._stored_early: tuple[bool, str | None] | None = None
        self._changed = False
        self._effects: list[str] = []

    def result(self) -> DeliveryResult:
        return DeliveryResult(
            Outcome.APPLIED if self._changed else Outcome.IGNORED,
            ticket_name=self._ticket.name if self._ticket else "",
            effects=self._effects,
        )

    def _note(self, effect: str, *, changed: bool = False) -> None:
        self._effects.append(effect)
        self._changed = self._changed or changed

    def _record(self, ticket: Ticket, change: Change | None, effect: str) -> bool:
        if change is None:
            return False
        self._uow.record(
            self._tickets.event_for(
                self._caller, change, ticket=ticket, idempotency=self._idempotency
            )
        )
        self._note(effect, changed=True)
        return True

    async def apply(self, locked: LockedConversation | None) -> None:
        """`locked`: the delivery's conversation, locked, when it has one."""
        delivery = self._delivery
        if locked is not None and locked.message_stored is not None:
            self._stored_early = (locked.message_stored, locked.sync.ticket_id)
        if delivery.contact is not None:
            await self._refresh_customer(delivery.contact)
        if delivery.conversation is not None:
            assert locked is not None
            await self._sync_conversation(delivery.conversation, locked)
        if delivery.message is not None and delivery.conversation is not None:
            await self._store_message(delivery.conversation, delivery.message)

    # Conversations and their tickets

    async def _sync_conversation(
        self, state: ConversationState, locked: LockedConversation
    ) -> None:
        sync = locked.sync
        ticket = await self._current_ticket(locked, state)
        if ticket is None or (not ticket.is_live and self._opens_follow_up()):
            previous = ticket
            ticket = await self._open_ticket(state)
            what = f"follow-up to {previous.number}" if previous else "for the conversation"
            self._note(f"ticket {ticket.number} opened {what}", changed=True)
        elif state.state_time_us <= sync.previous_state_time_us:
            self._ticket = ticket
            self._note("older conversation state skipped")
            return
        self._ticket = ticket
        if sync.ticket_id != ticket.id:
            await self._uow.conversations.link_ticket(sync, ticket.id)
        if ticket.is_live:
            await self._follow(ticket, state, sync.may_echo(ticket.version))
        else:
            self._note(f"ticket {ticket.number} is {ticket.status.value}: state not applied")

    async def _current_ticket(
        self, locked: LockedConversation, state: ConversationState
    ) -> Ticket | None:
        ticket = locked.ticket
        if ticket is None or not ticket.is_live:
            # A ticket created through the API for this conversation, or after a delete.
            link = ConversationLink(state.account_id, state.conversation_id, state.inbox_id)
            live = await self._uow.tickets.find_live_by_conversation(link, for_update=True)
            if live is not None:
                ticket = live
        return ticket

    def _opens_follow_up(self) -> bool:
        """A closed ticket's conversation gets a new ticket when the customer writes again."""
        message = self._delivery.message
        return (
            self._delivery.kind is EventKind.MESSAGE_CREATED
            and message is not None
            and message.from_customer
        )

    async def _open_ticket(self, state: ConversationState) -> Ticket:
        if state.contact is None:
            raise InvalidArgument.single(
                "delivery.conversation.contact", "is required to open a ticket"
            )
        customer = await self._tickets.match_customer(
            self._uow,
            self._caller,
            _identifiers(state.contact, self._caller.tenant.default_phone_region),
            state.contact.name,
            self._idempotency,
        )
        subject = state.mail_subject.strip()[:MAX_SUBJECT]
        ticket, change = Ticket.open(
            id=str(uuid.uuid4()),
            number=await self._uow.tickets.allocate_number(self._now.year),
            subject=subject or f"Chatwoot conversation #{state.conversation_id}",
            priority=state.priority or Priority.MEDIUM,
            customer_id=customer.id,
            conversation=ConversationLink(state.account_id, state.conversation_id, state.inbox_id),
            now=self._now,
        )
        await self._uow.tickets.add(ticket)
        self._uow.record(
            self._tickets.event_for(
                self._caller, change, ticket=ticket, idempotency=self._idempotency
            )
        )
        return ticket

    async def _follow(
        self, ticket: Ticket, state: ConversationState, echoes_expected: bool
    ) -> None:
        """Bring a live ticket to the conversation's state, except for our own echoes."""
        echoes: list[ExpectedEcho] = []
        if echoes_expected:
            echoes = await self._uow.echoes.pending(
                state.account_id, state.conversation_id, self._now
            )

        async def ours(attribute: str, value: str) -> bool:
            """Whether Chatwoot's value for `attribute` is to be left alone: it is our own
            write echoing back, or it predates a write of ours."""
            expected = [echo for echo in echoes if echo.attribute == attribute]
            if not expected:
                return False
            where = (state.account_id, state.conversation_id, attribute)
            if value in {echo.value for echo in expected}:
                await self._uow.echoes.forget(*where, value)
                self._note(f"{attribute} {value or '(none)'} is our own write echoing back")
                return True
            if _predates(state, expected):
                # Built before our write landed (the echo of our previous change, say): it
                # still shows the old value. Our write, queued or sent, wins.
                self._note(f"{attribute} {value or '(none)'} predates our write")
                return True
            # Changed in Chatwoot after our write: the newer change wins here too.
            await self._uow.echoes.forget(*where)
            return False

        now = self._now
        saved_version = ticket.version
        if state.status is not None:
            target = status_following(ticket.status, state.status)
            echo = await ours("status", state.status.value)
            if target is not None and not echo:
                before = ticket.status.value
                change = ticket.follow_chatwoot(target, now)
                self._record(ticket, change, f"status {before} -> {target.value}")
            snoozed = state.status.value == "snoozed"
            self._record(
                ticket,
                ticket.snooze(snoozed, state.snoozed_until, now),
                "snoozed" if snoozed else "snooze ended",
            )
        if state.priority is not None:
            echo = await ours("priority", state.priority.value)
            if state.priority is not ticket.priority and not echo:
                before = ticket.priority.value
                change = ticket.set_priority(state.priority, now)
                self._record(ticket, change, f"priority {before} -> {state.priority.value}")
        echo = await ours("assignee", state.assignee_id)
        if state.assignee_id != ticket.assignee_id and not echo:
            before = ticket.assignee_id or "(none)"
            change = ticket.assign(state.assignee_id, now)
            self._record(ticket, change, f"assignee {before} -> {state.assignee_id or '(none)'}")
        if ticket.version != saved_version:
            await self._uow.tickets.save(ticket, previous_version=saved_version)

    # Messages

    async def _store_message(self, state: ConversationState, message: ChatwootMessage) -> None:
        if message.ticketing_ref:
            self._note(f"message {message.id} is our own note ({message.ticketing_ref})")
            return
        history = self._uow.messages
        # An update for a message we never saw (its creation arrives later, or was lost)
        # stores it as it is now.
        revised = self._delivery.kind is EventKind.MESSAGE_UPDATED and await history.revise(
            state.account_id, message, self._now
        )
        if revised:
            self._note(f"message {message.id} revised", changed=True)
            return
        ticket = self._ticket
        ticket_id = ticket.id if ticket else None
        if self._stored_early is None:
            new = await history.add(state.account_id, state.conversation_id, ticket_id, message)
        else:
            new, filed_under = self._stored_early
            if new and ticket_id != filed_under:
                # The conversation got a ticket, or another one, while this was applied.
                await history.move_to_ticket(state.account_id, message.id, ticket_id)
        if not new:
            self._note(f"message {message.id} already stored")
            return
        change = Change(EventType.MESSAGE_ADDED, {}, message.as_record())
        self._uow.record(
            self._tickets.event_for(
                self._caller,
                change,
                ticket=ticket,
                idempotency=self._idempotency,
                conversation_id=state.conversation_id,
            )
        )
        self._note(f"message {message.id} added", changed=True)

    # Customers

    async def _refresh_customer(self, contact: ChatwootContact) -> None:
        region = self._caller.tenant.default_phone_region
        identifiers = _identifiers(contact, region)
        customers = self._uow.customers
        known = await customers.find_by_contact(Contact(chatwoot_contact_id=contact.id))
        if known is None:
            if not (identifiers.email or identifiers.phone_number):
                self._note(f"contact {contact.id} is anonymous: no customer yet")
                return
            # Finds the customer a concurrent delivery of the same contact registered,
            # or registers it; contact_updated then still refreshes it below.
            known = await self._tickets.match_customer(
                self._uow, self._caller, identifiers, contact.name, self._idempotency
            )
            self._note(f"contact {contact.id} is customer {known.id}", changed=True)
        if self._delivery.kind is not EventKind.CONTACT_UPDATED:
            # contact_created and the widget's visitor ping carry the contact as it was
            # first seen; on a known customer they could only take details back.
            self._note(f"contact {contact.id} is known as customer {known.id}")
            return
        locked = await customers.get(known.id, for_update=True)
        assert locked is not None, "a customer found in this transaction vanished"
        customer = locked
        wanted = customer.contact
        for key in ("email", "phone_number"):
            value = getattr(identifiers, key)
            if not value or value == getattr(wanted, key):
                continue
            holder = await customers.find_by_contact(Contact(**{key: value}))
            if holder is not None and holder.id != customer.id:
                self._note(f"{key} of contact {contact.id} belongs to another customer: kept")
                continue
            wanted = Contact(**{**wanted.__dict__, key: value})
        change = customer.update(self._now, display_name=contact.name or None, contact=wanted)
        if change is not None:
            await customers.save(customer)
            self._uow.record(
                self._tickets.event_for(
                    self._caller, change, customer=customer, idempotency=self._idempotency
                )
            )
            self._note(f"customer {customer.id} refreshed", changed=True)


def _predates(state: ConversationState, expected: list[ExpectedEcho]) -> bool:
    """Whether the state was built before our latest write of the attribute could show in
    it: the write is still queued, or the state is older than it (give or take the clocks'
    skew between Chatwoot and us)."""
    if any(echo.write_time is None for echo in expected):
        return True
    written = max(echo.write_time for echo in expected if echo.write_time is not None)
    return state.state_time_us < int((written + CLOCK_SKEW).timestamp() * 1_000_000)


def _identifiers(contact: ChatwootContact, region: str) -> Contact:
    """A Chatwoot contact's identifiers, dropping any we cannot normalise.

    Chatwoot validates its own, so a bad one is rare; it must not cost the delivery.
    """

    def tolerant(normalize: Callable[[str], str | None], value: str) -> str | None:
        try:
            return normalize(value)
        except InvalidArgument:
            return None

    return Contact(
        email=tolerant(normalize_email, contact.email),
        phone_number=tolerant(lambda v: normalize_phone(v, region=region), contact.phone_number),
        chatwoot_contact_id=contact.id,
    )
