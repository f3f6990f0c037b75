"""Realistic `message_created` deliveries, made fast enough to build at send time.

Every body is the shared sample (tests/fixtures/chatwoot/message_created.json) with its
ids, texts and times changed, the way one Chatwoot account produces them: a unique message
id and delivery id each, spread over a fixed set of conversations (each with its own
contact), so that once every conversation has its ticket, deliveries land on existing
conversations like real traffic does.

The payload is serialised once, with sentinels where the varying values go; a body is then
a join of the fixed pieces and the values. A `json.dumps` of the whole payload per delivery
would cost the driver more CPU than the HTTP client does.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.verification import sign
from tests.chatwoot_samples import sample

ACCOUNT_ID = 3  # the samples' account; the bench integration is configured for it
_FIRST_CONVERSATION = 100_000
_FIRST_CONTACT = 700_000
_FIRST_MESSAGE = 50_000_000
_SENTINEL = re.compile(r'"@@([a-z_]+)@@"')
_TEXTS = (
    "Hi, I was charged twice for order {order}. Can you help?",
    "My package for order {order} still shows as in transit after a week.",
    "How do I change the delivery address on order {order}?",
    "The discount code did not apply to order {order}, could you check?",
    "Order {order} arrived damaged, I would like a replacement please.",
)


@dataclass(frozen=True)
class Delivery:
    """One webhook request body, and the ids the stored rows are checked by."""

    delivery_id: str
    message_id: int
    conversation_id: int
    body: bytes


def _template() -> list[str]:
    """The sample serialised with sentinels: literal pieces at even indexes, the names of
    the values that go between them at odd indexes."""
    payload: dict[str, Any] = sample("message_created")
    payload.update(id="@@message@@", content="@@content@@", created_at="@@created_iso@@")
    payload["account"]["id"] = "@@account@@"
    payload["sender"].update(id="@@contact@@", email="@@email@@", name="@@name@@")
    payload["sender"]["account"]["id"] = "@@account@@"
    conversation = payload["conversation"]
    conversation.update(
        id="@@conversation@@",
        updated_at="@@updated_at@@",
        last_activity_at="@@created_unix@@",
        timestamp="@@created_unix@@",
        waiting_since="@@created_unix@@",
    )
    conversation["account"]["id"] = "@@account@@"
    conversation["meta"]["sender"].update(id="@@contact@@", email="@@email@@", name="@@name@@")
    conversation["contact_inbox"]["contact_id"] = "@@contact@@"
    nested = conversation["messages"][0]
    nested.update(
        id="@@message@@",
        account_id="@@account@@",
        conversation_id="@@conversation@@",
        content="@@content@@",
        processed_message_content="@@content@@",
        sender_id="@@contact@@",
        created_at="@@created_unix@@",
        updated_at="@@created_iso@@",
    )
    nested["sender"].update(id="@@contact@@", email="@@email@@", name="@@name@@")
    nested["conversation"]["last_activity_at"] = "@@created_unix@@"
    return _SENTINEL.split(json.dumps(payload, separators=(",", ":")))


@dataclass(frozen=True)
class ConversationIds:
    """Where a factory's conversation `index` lives in Chatwoot."""

    conversation: int
    contact: int


class DeliveryFactory:
    """Deliveries for `conversations` conversations; ids are unique within one factory
    (and across runs: delivery ids carry a random prefix). By default the conversations
    are made up, in account ACCOUNT_ID; `ids` puts them on existing Chatwoot records
    (one per conversation), `account_id` in another account."""

    def __init__(
        self,
        conversations: int,
        *,
        seed: int = 20261123,
        account_id: int = ACCOUNT_ID,
        ids: Sequence[ConversationIds] | None = None,
        first_message: int = _FIRST_MESSAGE,
    ) -> None:
        if ids is not None and len(ids) != conversations:
            raise ValueError(f"{len(ids)} ids for {conversations} conversations")
        self.conversations = conversations
        self.account_id = account_id
        self._ids = ids
        self._first_message = first_message
        self._pieces = _template()
        # A reproducible spread over the conversations, not a secret.
        self._rng = random.Random(seed)  # noqa: S311
        self._prefix = secrets.token_hex(4)
        self._count = 0

    def seeding(self) -> Iterator[Delivery]:
        """One customer message per conversation, in order: each opens the conversation's
        ticket, which is the slow path and not what a busy account mostly does."""
        for index in range(self.conversations):
            yield self._make(index)

    def next(self) -> Delivery:
        """A customer message on a random conversation."""
        return self._make(self._rng.randrange(self.conversations))

    def message(self, index: int, text: str) -> Delivery:
        """A customer message saying `text` on conversation `index` (0 ≤ index <
        conversations); `{order}` in it becomes an order number."""
        return self._make(index, text)

    def _make(self, index: int, text: str | None = None) -> Delivery:
        self._count += 1
        number = self._count
        message_id = self._first_message + number
        if self._ids is None:
            ids = ConversationIds(_FIRST_CONVERSATION + index, _FIRST_CONTACT + index)
        else:
            ids = self._ids[index]
        conversation_id = ids.conversation
        now = time.time()
        created = datetime.fromtimestamp(now, UTC)
        if text is None:
            text = _TEXTS[number % len(_TEXTS)]
        text = text.format(order=f"A-{10_000 + number}")
        values = {
            "message": str(message_id),
            "account": str(self.account_id),
            "conversation": str(conversation_id),
            "contact": str(ids.contact),
            "email": f'"customer{index}@example.com"',
            "name": f'"Customer {index}"',
            "content": json.dumps(text),
            "created_iso": f'"{created.isoformat(timespec="milliseconds")[:-6]}Z"',
            "created_unix": str(int(now)),
            # Chatwoot bumps the conversation's updated_at with every message.
            "updated_at": f"{now:.6f}",
        }
        pieces = self._pieces
        parts = [pieces[0]]
        for i in range(1, len(pieces), 2):
            parts.append(values[pieces[i]])
            parts.append(pieces[i + 1])
        return Delivery(
            delivery_id=f"{self._prefix}-0000-4000-8000-{number:012d}",
            message_id=message_id,
            conversation_id=conversation_id,
            body="".join(parts).encode(),
        )


def signed_headers(secret: str, delivery: Delivery) -> list[tuple[str, str]]:
    """Chatwoot's headers for `delivery`, signed now: the gateway refuses timestamps more
    than 5 minutes old, so bodies are signed when they are sent, not when they are made."""
    timestamp = str(int(time.time()))
    return [
        ("Content-Type", "application/json"),
        ("X-Chatwoot-Delivery", delivery.delivery_id),
        ("X-Chatwoot-Timestamp", timestamp),
        ("X-Chatwoot-Signature", sign(secret, timestamp, delivery.body)),
    ]
