"""Tenant-scoped storage for Chatwoot intake: delivery keys, conversation sync state,
message history and the echoes we expect back. Every query filters on tenant_id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Executable,
    String,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Row

from common.db import DriverStatement, PerBackend
from ticket_service.adapters.repository import (
    TenantScoped,
    TicketRepository,
    ticket_from_row,
)
from ticket_service.adapters.tables import (
    chatwoot_conversations,
    chatwoot_deliveries,
    chatwoot_echoes,
    conversation_messages,
    tickets,
)
from ticket_service.domain.chatwoot import ChatwootMessage, MessageDirection, SenderType
from ticket_service.domain.model import Ticket

_CLAIM_KEYS = PerBackend(
    lambda insert: (
        insert(chatwoot_deliveries)
        .on_conflict_do_nothing()
        .returning(chatwoot_deliveries.c.dedupe_key)
    )
)


class DeliveryKeys(TenantScoped):
    async def claim(self, keys: Sequence[str], now: datetime) -> bool:
        """Claim every key for this transaction (one statement); False if any was claimed
        before.

        A concurrent transaction holding one of the keys makes this wait for its commit
        (the primary key's lock), so two copies of one delivery never both apply.
        """
        claimed = await self._conn.execute(
            _CLAIM_KEYS.on(self._conn),
            [{"tenant_id": self._tenant, "dedupe_key": key, "create_time": now} for key in keys],
        )
        return len(claimed.all()) == len(keys)


@dataclass
class ConversationSyncState:
    account_id: int
    conversation_id: int
    previous_state_time_us: int
    """The newest state time seen before this delivery's."""
    ticket_id: str | None
    echoes_expected: bool
    """Whether any of our own writes may still echo back (then ask EchoRegistry), as of
    this lock; see `may_echo`."""
    ticket_version: int | None
    """The linked ticket's version when `echoes_expected` was read."""

    def may_echo(self, locked_version: int) -> bool:
        """Whether our writes may echo back, once the ticket is locked at `locked_version`.

        Our API records an expected echo in the transaction that changes the ticket, under
        the ticket's lock. A change that committed after this conversation lock counted the
        echoes, while this delivery waited for the ticket's lock, is not in that count; its
        new version says so, and then the registry must be asked.
        """
        return self.echoes_expected or locked_version != self.ticket_version


_conversation = chatwoot_conversations.c
_echo = chatwoot_echoes.c
_THIS_CONVERSATION = and_(
    _echo.tenant_id == bindparam("tenant"),
    _echo.account_id == bindparam("account"),
    _echo.conversation_id == bindparam("conversation"),
)


def _lock_conversation(insert: Callable[[Table], Any]) -> Executable:
    """Insert the row if new, else advance it: either way it is locked until commit.

    SET expressions read the row as it was, so `previous_state_time_us` gets the old
    `state_time_us`, and RETURNING counts the echoes pending and reads the linked ticket's
    version, all in one round trip.
    """
    statement = insert(chatwoot_conversations).values(previous_state_time_us=-1, ticket_id=None)
    stored, offered = _conversation.state_time_us, statement.excluded.state_time_us
    echoes = select(func.count()).select_from(chatwoot_echoes).where(_THIS_CONVERSATION)
    # Correlated with the row being written, named as such: SQLAlchemy does not correlate
    # a RETURNING subquery by itself, and would join the whole table instead.
    this_ticket: ColumnElement[str] = literal_column(f"{chatwoot_conversations.name}.ticket_id")
    ticket_version = select(tickets.c.version).where(
        tickets.c.tenant_id == bindparam("tenant"), tickets.c.id == this_ticket
    )
    return statement.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[
            _conversation.tenant_id,
            _conversation.account_id,
            _conversation.conversation_id,
        ],
        set_={
            "previous_state_time_us": stored,
            "state_time_us": case((offered > stored, offered), else_=stored),
        },
    ).returning(
        _conversation.previous_state_time_us,
        _conversation.ticket_id,
        echoes.scalar_subquery(),
        ticket_version.scalar_subquery(),
    )


_LOCK_CONVERSATION = PerBackend(_lock_conversation)


@dataclass(frozen=True)
class LockedConversation:
    sync: ConversationSyncState
    ticket: Ticket | None
    """The ticket the conversation is linked to, locked until commit; None if it is linked
    to none (or to one since purged)."""
    message_stored: bool | None = None
    """For a message given to `claim_and_lock`: whether it was new and is now stored, under
    the ticket the conversation was linked to (`sync.ticket_id` as locked); None when no
    message was given."""


# `claim_and_lock` on PostgreSQL. The conversation's INSERT reads the count of keys
# claimed, so the keys are claimed (or waited for) before the conversation is locked, as
# with separate statements, and a copy of a delivery locks nothing. The ticket is locked
# last, through the conversation's link.
_TICKET_COLUMNS = ", ".join(f"t.{c.name}" for c in tickets.c)
# With a message, the statement also stores it under the conversation's linked ticket,
# after the conversation is locked (it reads `locked`), as the separate INSERT did.
# Every column but the conversation's and the ticket's, which the statement sets itself;
# the parameters are `_message_row`'s, cast to the columns' types (psycopg sends strings
# and NULLs untyped, which an INSERT ... SELECT would otherwise read as text). Strings are
# cast to text, not to the column's VARCHAR(n): that cast would cut a long value short,
# where the assignment rejects it, as the plain INSERT does.
_PG_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_MESSAGE_TYPES = {
    column.name: "text" if isinstance(column.type, String) else column.type.compile(_PG_DIALECT)
    for column in conversation_messages.c
    if column.name not in {"tenant_id", "account_id", "conversation_id", "ticket_id"}
}
_MESSAGE_VALUES = ", ".join(f"CAST(:{name} AS {type_})" for name, type_ in _MESSAGE_TYPES.items())
_STORE_MESSAGE = f"""
    , stored AS (
        INSERT INTO conversation_messages (
            tenant_id, account_id, conversation_id, ticket_id, {", ".join(_MESSAGE_TYPES)}
        )
        SELECT :tenant, :account, :conversation, locked.ticket_id, {_MESSAGE_VALUES}
        FROM locked
        ON CONFLICT DO NOTHING
        RETURNING 1
    )
"""  # noqa: S608 - the names are our table's columns


def _claim_and_lock_pg(*, store_message: bool) -> DriverStatement:
    stored = "(SELECT count(*) FROM stored)" if store_message else "NULL"
    return DriverStatement(
        text(
            f"""
    WITH claimed AS (
        INSERT INTO chatwoot_deliveries (tenant_id, dedupe_key, create_time)
        SELECT :tenant, key, :now FROM unnest(CAST(:keys AS text[])) AS key
        ON CONFLICT DO NOTHING
        RETURNING 1
    ), locked AS (
        INSERT INTO chatwoot_conversations AS c (
            tenant_id, account_id, conversation_id, state_time_us, previous_state_time_us,
            ticket_id, create_time
        )
        SELECT :tenant, :account, :conversation, :state_time_us, -1, NULL, :now
        WHERE (SELECT count(*) FROM claimed) = :key_count
        ON CONFLICT (tenant_id, account_id, conversation_id) DO UPDATE SET
            previous_state_time_us = c.state_time_us,
            state_time_us = GREATEST(c.state_time_us, excluded.state_time_us)
        RETURNING c.previous_state_time_us, c.ticket_id, (
            SELECT count(*) FROM chatwoot_echoes AS e
            WHERE e.tenant_id = :tenant AND e.account_id = :account
                AND e.conversation_id = :conversation
        ) AS echoes, (
            SELECT version FROM tickets WHERE tenant_id = :tenant AND id = c.ticket_id
        ) AS ticket_version
    ){_STORE_MESSAGE if store_message else ""}
    SELECT
        (SELECT count(*) FROM claimed) AS claimed, locked.previous_state_time_us,
        locked.ticket_id AS linked_ticket_id, locked.echoes,
        locked.ticket_version AS counted_ticket_version, {stored} AS message_stored,
        {_TICKET_COLUMNS}
    FROM (SELECT 1) AS one
    LEFT JOIN locked ON true
    LEFT JOIN LATERAL (
        SELECT * FROM tickets WHERE tenant_id = :tenant AND id = locked.ticket_id FOR UPDATE
    ) AS t ON true
    """  # noqa: S608 - the names are our tables' columns
        )
    )


_CLAIM_AND_LOCK_PG = _claim_and_lock_pg(store_message=False)
_CLAIM_LOCK_AND_STORE_PG = _claim_and_lock_pg(store_message=True)
_LINK_TICKET = (
    update(chatwoot_conversations)
    .where(
        _conversation.tenant_id == bindparam("tenant"),
        _conversation.account_id == bindparam("account"),
        _conversation.conversation_id == bindparam("conversation"),
    )
    .values(ticket_id=bindparam("ticket_id"))
)


class ConversationStates(TenantScoped):
    async def lock(
        self, account_id: int, conversation_id: int, state_time_us: int, now: datetime
    ) -> ConversationSyncState:
        """Lock the conversation's sync state until commit, creating it if new, and record
        `state_time_us` if it is the newest seen."""
        row = (
            await self._conn.execute(
                _LOCK_CONVERSATION.on(self._conn),
                {
                    "tenant_id": self._tenant,
                    "account_id": account_id,
                    "conversation_id": conversation_id,
                    "state_time_us": state_time_us,
                    "create_time": now,
                    # The same again, for the echo count (bindparams can't share names
                    # with the columns an INSERT sets).
                    "tenant": self._tenant,
                    "account": account_id,
                    "conversation": conversation_id,
                },
            )
        ).one()
        previous, ticket_id, echoes, ticket_version = row
        return ConversationSyncState(
            account_id, conversation_id, previous, ticket_id, echoes > 0, ticket_version
        )

    async def claim_and_lock(
        self,
        keys: Sequence[str],
        account_id: int,
        conversation_id: int,
        state_time_us: int,
        now: datetime,
        message: ChatwootMessage | None = None,
    ) -> LockedConversation | None:
        """Claim a delivery's keys, then lock its conversation (as `lock`) and the
        conversation's ticket until commit; None if any key was claimed before, and then
        nothing is locked or stored. With `message`, also store it (as `MessageHistory.add`)
        under the ticket the conversation is linked to.

        On PostgreSQL this is one statement, one round trip where it would take four.
        """
        if self._conn.dialect.name != "postgresql":
            if not await DeliveryKeys(self._conn, self._tenant).claim(keys, now):
                return None
            sync = await self.lock(account_id, conversation_id, state_time_us, now)
            ticket = None
            if sync.ticket_id is not None:
                repository = TicketRepository(self._conn, self._tenant)
                ticket = await repository.get_by_id(sync.ticket_id, for_update=True)
            stored = None
            if message is not None:
                history = MessageHistory(self._conn, self._tenant)
                stored = await history.add(account_id, conversation_id, sync.ticket_id, message)
            return LockedConversation(sync, ticket, stored)
        params = {
            "tenant": self._tenant,
            "keys": list(keys),
            "key_count": len(keys),
            "account": account_id,
            "conversation": conversation_id,
            "state_time_us": state_time_us,
            "now": now,
        }
        statement = _CLAIM_AND_LOCK_PG
        if message is not None:
            statement = _CLAIM_LOCK_AND_STORE_PG
            params.update(_message_row(message))
        row = await statement.fetchone(self._conn, params)
        if row.claimed != len(keys):
            return None
        sync = ConversationSyncState(
            account_id,
            conversation_id,
            row.previous_state_time_us,
            row.linked_ticket_id,
            row.echoes > 0,
            # As the echoes were counted (the statement's snapshot); the ticket itself is
            # returned as locked, which is newer if a change committed while it waited.
            row.counted_ticket_version,
        )
        ticket = None if row.id is None else ticket_from_row(row)
        stored = None if message is None else row.message_stored == 1
        return LockedConversation(sync, ticket, stored)

    async def link_ticket(self, state: ConversationSyncState, ticket_id: str) -> None:
        await self._conn.execute(
            _LINK_TICKET,
            {
                "tenant": self._tenant,
                "account": state.account_id,
                "conversation": state.conversation_id,
                "ticket_id": ticket_id,
            },
        )
        state.ticket_id = ticket_id


@dataclass(frozen=True)
class StoredMessage:
    message: ChatwootMessage
    account_id: int
    conversation_id: int
    ticket_id: str | None
    delete_time: datetime | None


MessageKey = tuple[datetime, int]
"""Keyset position for oldest-first paging: (create_time, chatwoot_message_id)."""


_ADD_MESSAGE = PerBackend(
    lambda insert: (
        insert(conversation_messages)
        .on_conflict_do_nothing()
        .returning(conversation_messages.c.chatwoot_message_id)
    )
)
# Every webhook message lands here: on PostgreSQL, run on the driver.
_ADD_MESSAGE_PG = DriverStatement(_ADD_MESSAGE.statements["postgresql"])


class MessageHistory(TenantScoped):
    async def add(
        self, account_id: int, conversation_id: int, ticket_id: str | None, message: ChatwootMessage
    ) -> bool:
        """Store a message unless it is already stored; True if it is new."""
        row = {
            "tenant_id": self._tenant,
            "account_id": account_id,
            "conversation_id": conversation_id,
            "ticket_id": ticket_id,
            **_message_row(message),
        }
        if self._conn.dialect.name == "postgresql":
            return await _ADD_MESSAGE_PG.fetchone(self._conn, row) is not None
        inserted = await self._conn.execute(_ADD_MESSAGE.on(self._conn), row)
        return inserted.first() is not None

    async def move_to_ticket(self, account_id: int, message_id: int, ticket_id: str | None) -> None:
        """File a stored message under another ticket."""
        c = conversation_messages.c
        await self._conn.execute(
            update(conversation_messages)
            .where(
                c.tenant_id == self._tenant,
                c.account_id == account_id,
                c.chatwoot_message_id == message_id,
            )
            .values(ticket_id=ticket_id)
        )

    async def revise(self, account_id: int, message: ChatwootMessage, now: datetime) -> bool:
        """Take a stored message's new content (an edit or a delete); True if it changed.

        A deleted message stays deleted: an older update arriving late cannot revive it.
        """
        c = conversation_messages.c
        values: dict[str, Any] = {"content": message.content}
        conditions = [
            c.tenant_id == self._tenant,
            c.account_id == account_id,
            c.chatwoot_message_id == message.id,
            c.delete_time.is_(None),
        ]
        if message.deleted:
            values["delete_time"] = now
        else:
            conditions.append(c.content != message.content)
        result = await self._conn.execute(
            update(conversation_messages).where(*conditions).values(values)
        )
        return result.rowcount == 1

    async def list_for_ticket(
        self, ticket_id: str, *, after: MessageKey | None, limit: int
    ) -> list[StoredMessage]:
        c = conversation_messages.c
        conditions = [c.tenant_id == self._tenant, c.ticket_id == ticket_id]
        if after is not None:
            create_time, message_id = after
            conditions.append(
                or_(
                    c.create_time > create_time,
                    and_(c.create_time == create_time, c.chatwoot_message_id > message_id),
                )
            )
        query = (
            select(conversation_messages)
            .where(*conditions)
            .order_by(c.create_time, c.chatwoot_message_id)
            .limit(limit)
        )
        return [_stored_message(row) for row in await self._conn.execute(query)]


def _message_row(message: ChatwootMessage) -> dict[str, Any]:
    return {
        "chatwoot_message_id": message.id,
        "direction": message.direction.value,
        "private": message.private,
        "sender_type": message.sender_type.value,
        "sender_id": message.sender_id,
        "sender_name": message.sender_name[:255],
        "content": message.content,
        "content_type": message.content_type[:32],
        "attachment_count": message.attachment_count,
        "create_time": message.create_time,
        "delete_time": message.create_time if message.deleted else None,
    }


def _stored_message(row: Row[Any]) -> StoredMessage:
    return StoredMessage(
        message=ChatwootMessage(
            id=row.chatwoot_message_id,
            direction=MessageDirection(row.direction),
            sender_type=SenderType(row.sender_type),
            create_time=row.create_time,
            private=row.private,
            sender_id=row.sender_id,
            sender_name=row.sender_name,
            content=row.content,
            content_type=row.content_type,
            attachment_count=row.attachment_count,
            deleted=row.delete_time is not None,
        ),
        account_id=row.account_id,
        conversation_id=row.conversation_id,
        ticket_id=row.ticket_id,
        delete_time=row.delete_time,
    )


_PENDING_ECHOES = select(_echo.attribute, _echo.value, _echo.expire_time, _echo.write_time).where(
    _THIS_CONVERSATION
)
_FORGET_EXPIRED_ECHOES = delete(chatwoot_echoes).where(
    _THIS_CONVERSATION, _echo.expire_time <= bindparam("now", type_=_echo.expire_time.type)
)


@dataclass(frozen=True)
class ExpectedEcho:
    attribute: str
    value: str
    write_time: datetime | None
    """When our write was sent; None while it waits in the outbox."""


class EchoRegistry(TenantScoped):
    """What we wrote to a conversation, so its webhook echo is recognised, not re-applied."""

    async def expect(
        self,
        account_id: int,
        conversation_id: int,
        attribute: str,
        value: str,
        expire_time: datetime,
        *,
        write_time: datetime | None = None,
    ) -> None:
        await self._conn.execute(
            chatwoot_echoes.insert().values(
                tenant_id=self._tenant,
                account_id=account_id,
                conversation_id=conversation_id,
                attribute=attribute,
                value=value,
                expire_time=expire_time,
                write_time=write_time,
            )
        )

    async def sent(
        self,
        account_id: int,
        conversation_id: int,
        attribute: str,
        value: str,
        *,
        write_time: datetime,
        expire_time: datetime,
        expect_again: bool,
    ) -> None:
        """Our write of `value` has reached Chatwoot: stamp the expectation recorded with the
        change. Where there is none, `expect_again` says whether to record one: yes if it
        expired while the write waited; no if the echo beat us here and consumed it (a
        fresh one would then shadow Chatwoot's next real change for nothing)."""
        c = chatwoot_echoes.c
        stamped = await self._conn.execute(
            update(chatwoot_echoes)
            .where(
                c.tenant_id == self._tenant,
                c.account_id == account_id,
                c.conversation_id == conversation_id,
                c.attribute == attribute,
                c.value == value,
                c.write_time.is_(None),
            )
            .values(write_time=write_time, expire_time=expire_time)
        )
        if stamped.rowcount == 0 and expect_again:
            await self.expect(
                account_id, conversation_id, attribute, value, expire_time, write_time=write_time
            )

    async def pending(
        self, account_id: int, conversation_id: int, now: datetime
    ) -> list[ExpectedEcho]:
        """The echoes still expected; forgets expired ones on the way."""
        where = {"tenant": self._tenant, "account": account_id, "conversation": conversation_id}
        rows = (await self._conn.execute(_PENDING_ECHOES, where)).all()
        if any(row.expire_time <= now for row in rows):
            await self._conn.execute(_FORGET_EXPIRED_ECHOES, {**where, "now": now})
        return [
            ExpectedEcho(row.attribute, row.value, row.write_time)
            for row in rows
            if row.expire_time > now
        ]

    async def forget(
        self, account_id: int, conversation_id: int, attribute: str, value: str | None = None
    ) -> None:
        """Forget the echoes expected of `attribute`: of one value, or of all."""
        c = chatwoot_echoes.c
        conditions = [
            c.tenant_id == self._tenant,
            c.account_id == account_id,
            c.conversation_id == conversation_id,
            c.attribute == attribute,
        ]
        if value is not None:
            conditions.append(c.value == value)
        await self._conn.execute(delete(chatwoot_echoes).where(*conditions))
