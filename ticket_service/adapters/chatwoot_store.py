"""Tenant-scoped storage for Chatwoot intake: delivery keys, conversation sync state,
message history and the echoes we expect back. Every query filters on tenant_id."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.engine import Row

from ticket_service.adapters.repository import TenantScoped, dialect_insert
from ticket_service.adapters.tables import (
    chatwoot_conversations,
    chatwoot_deliveries,
    chatwoot_echoes,
    conversation_messages,
)
from ticket_service.domain.chatwoot import ChatwootMessage, MessageDirection, SenderType


class DeliveryKeys(TenantScoped):
    async def claim(self, keys: Sequence[str], now: datetime) -> bool:
        """Claim every key for this transaction; False if any was claimed before.

        A concurrent transaction holding one of the keys makes this wait for its commit
        (the primary key's lock), so two copies of one delivery never both apply.
        """
        for key in keys:
            claimed = await self._conn.execute(
                dialect_insert(self._conn, chatwoot_deliveries)
                .values(tenant_id=self._tenant, dedupe_key=key, create_time=now)
                .on_conflict_do_nothing()
                .returning(chatwoot_deliveries.c.dedupe_key)
            )
            if claimed.first() is None:
                return False
        return True


@dataclass
class ConversationSyncState:
    account_id: int
    conversation_id: int
    state_time_us: int
    ticket_id: str | None


class ConversationStates(TenantScoped):
    async def lock(
        self, account_id: int, conversation_id: int, now: datetime
    ) -> ConversationSyncState:
        """The conversation's sync state, created if new, locked until commit."""
        c = chatwoot_conversations.c
        await self._conn.execute(
            dialect_insert(self._conn, chatwoot_conversations)
            .values(
                tenant_id=self._tenant,
                account_id=account_id,
                conversation_id=conversation_id,
                state_time_us=-1,
                ticket_id=None,
                create_time=now,
            )
            .on_conflict_do_nothing()
        )
        row = (
            await self._conn.execute(
                select(c.state_time_us, c.ticket_id)
                .where(
                    c.tenant_id == self._tenant,
                    c.account_id == account_id,
                    c.conversation_id == conversation_id,
                )
                .with_for_update()
            )
        ).one()
        return ConversationSyncState(account_id, conversation_id, row.state_time_us, row.ticket_id)

    async def save(self, state: ConversationSyncState) -> None:
        c = chatwoot_conversations.c
        await self._conn.execute(
            update(chatwoot_conversations)
            .where(
                c.tenant_id == self._tenant,
                c.account_id == state.account_id,
                c.conversation_id == state.conversation_id,
            )
            .values(state_time_us=state.state_time_us, ticket_id=state.ticket_id)
        )


@dataclass(frozen=True)
class StoredMessage:
    message: ChatwootMessage
    account_id: int
    conversation_id: int
    ticket_id: str | None
    delete_time: datetime | None


MessageKey = tuple[datetime, int]
"""Keyset position for oldest-first paging: (create_time, chatwoot_message_id)."""


class MessageHistory(TenantScoped):
    async def add(
        self, account_id: int, conversation_id: int, ticket_id: str | None, message: ChatwootMessage
    ) -> bool:
        """Store a message unless it is already stored; True if it is new."""
        inserted = await self._conn.execute(
            dialect_insert(self._conn, conversation_messages)
            .values(
                tenant_id=self._tenant,
                account_id=account_id,
                conversation_id=conversation_id,
                ticket_id=ticket_id,
                **_message_row(message),
            )
            .on_conflict_do_nothing()
            .returning(conversation_messages.c.chatwoot_message_id)
        )
        return inserted.first() is not None

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


class EchoRegistry(TenantScoped):
    """What we wrote to a conversation, so its webhook echo is recognised, not re-applied."""

    async def expect(
        self,
        account_id: int,
        conversation_id: int,
        attribute: str,
        value: str,
        expire_time: datetime,
    ) -> None:
        await self._conn.execute(
            chatwoot_echoes.insert().values(
                tenant_id=self._tenant,
                account_id=account_id,
                conversation_id=conversation_id,
                attribute=attribute,
                value=value,
                expire_time=expire_time,
            )
        )

    async def pending(
        self, account_id: int, conversation_id: int, now: datetime
    ) -> set[tuple[str, str]]:
        """The (attribute, value) echoes still expected; forgets expired ones on the way.

        One query per delivery in the common case of none expected.
        """
        c = chatwoot_echoes.c
        this_conversation = and_(
            c.tenant_id == self._tenant,
            c.account_id == account_id,
            c.conversation_id == conversation_id,
        )
        rows = (
            await self._conn.execute(
                select(c.attribute, c.value, c.expire_time).where(this_conversation)
            )
        ).all()
        if any(row.expire_time <= now for row in rows):
            await self._conn.execute(
                delete(chatwoot_echoes).where(this_conversation, c.expire_time <= now)
            )
        return {(row.attribute, row.value) for row in rows if row.expire_time > now}

    async def forget(
        self, account_id: int, conversation_id: int, attribute: str, value: str
    ) -> None:
        c = chatwoot_echoes.c
        await self._conn.execute(
            delete(chatwoot_echoes).where(
                c.tenant_id == self._tenant,
                c.account_id == account_id,
                c.conversation_id == conversation_id,
                c.attribute == attribute,
                c.value == value,
            )
        )
