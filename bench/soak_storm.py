"""The soak's storm: every webhook delivery it sends, in send order, and what each must do.

Deliveries are `message_created` webhooks (bench/deliveries.py) on conversations that
exist in the Chatwoot simulator, spread over the tenants. Mixed in, by share of the total:

- duplicates: an earlier delivery sent again, half with its own `X-Chatwoot-Delivery`
  (a repeat) and half under a new delivery id (Chatwoot's re-run jobs); both must change
  nothing;
- out of order: a delivery moved later in the send order, past newer messages of its
  conversation (its `updated_at` is then older than the conversation's);
- bad: a body that is not JSON, or one signed with the wrong secret; both must be refused
  (400, 401) and change nothing.

The ledger is the plan itself: the well-formed originals are exactly the messages that must
be stored, once each, and the conversations they name exactly the ones that need a ticket.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace

from bench.deliveries import ConversationIds, Delivery, DeliveryFactory

# Each names a critical reason and reads strongly negative: the escalation service must
# escalate the ticket, which makes the ticket service write assignee, priority and a note
# back to Chatwoot through its outbox.
ANGRY = (
    "This is unacceptable! You charged me twice for order {order}. I want a refund now.",
    "Order {order} arrived broken and your support is useless. I am furious.",
)
OUT_OF_ORDER_MAX_SHIFT = 40


class Kind(enum.Enum):
    ORIGINAL = "original"
    REPEAT = "repeat"  # the same delivery id and body again
    RERUN = "rerun"  # the same body under a new delivery id
    MALFORMED = "malformed"  # not JSON: 400
    BAD_SIGNATURE = "bad_signature"  # signed with another secret: 401

    @property
    def well_formed(self) -> bool:
        return self not in (Kind.MALFORMED, Kind.BAD_SIGNATURE)

    @property
    def expected_statuses(self) -> frozenset[int]:
        """What the sender may be answered; 202 is the spool taking it."""
        if self is Kind.MALFORMED:
            return frozenset({400})
        if self is Kind.BAD_SIGNATURE:
            return frozenset({401})
        return frozenset({200, 202})


@dataclass(frozen=True)
class Send:
    tenant: int  # index into the tenants
    kind: Kind
    delivery: Delivery
    out_of_order: bool = False


@dataclass(frozen=True)
class StormShape:
    deliveries: int
    tenants: int
    conversations: int  # per tenant
    duplicates: float = 0.05
    out_of_order: float = 0.10
    bad: float = 0.01
    angry: float = 0.02
    seed: int = 20261204


def plan(shape: StormShape, ids: Sequence[Sequence[ConversationIds]]) -> list[Send]:
    """`shape.deliveries` sends over the tenants' conversations (`ids[tenant]`)."""
    rng = random.Random(shape.seed)  # noqa: S311 - a reproducible storm, not a secret
    factories = [
        DeliveryFactory(
            shape.conversations,
            seed=shape.seed + tenant,
            account_id=tenant + 1,
            ids=ids[tenant],
            # Message ids unique over all tenants, so one run's ledger is one set per tenant.
            first_message=60_000_000 + tenant * 10_000_000,
        )
        for tenant in range(shape.tenants)
    ]
    duplicates = round(shape.deliveries * shape.duplicates)
    bad = round(shape.deliveries * shape.bad)
    originals: list[Send] = []
    for number in range(shape.deliveries - duplicates - bad):
        tenant = number % shape.tenants
        factory = factories[tenant]
        # Every conversation's first message comes first: it opens the ticket in order,
        # and the later ones find it (out-of-order moves only messages after those).
        index = number // shape.tenants
        if index >= shape.conversations:
            index = rng.randrange(shape.conversations)
        text = ANGRY[number % len(ANGRY)] if rng.random() < shape.angry else None
        originals.append(Send(tenant, Kind.ORIGINAL, factory.message(index, text or _calm(rng))))
    sends = _shuffle_some(originals, shape, rng)
    for _ in range(duplicates):
        position = rng.randrange(len(sends))
        source = sends[position]
        kind = Kind.REPEAT if rng.random() < 0.5 else Kind.RERUN
        delivery = source.delivery
        if kind is Kind.RERUN:
            delivery = replace(delivery, delivery_id=_rerun_id(delivery.delivery_id))
        _insert_after(sends, position, Send(source.tenant, kind, delivery), rng)
    for number in range(bad):
        tenant = rng.randrange(shape.tenants)
        delivery = factories[tenant].message(rng.randrange(shape.conversations), _calm(rng))
        if number % 2:
            kind = Kind.MALFORMED
            delivery = replace(delivery, body=delivery.body[: len(delivery.body) // 2])
        else:
            kind = Kind.BAD_SIGNATURE
        sends.insert(rng.randrange(len(sends) + 1), Send(tenant, kind, delivery))
    return sends


def _calm(rng: random.Random) -> str:
    return rng.choice(
        (
            "Hi, a question about order {order}.",
            "Thanks, and where is order {order} now?",
            "Could you check the invoice of order {order}?",
        )
    )


def _rerun_id(delivery_id: str) -> str:
    return "r" + delivery_id[1:]


def _shuffle_some(originals: list[Send], shape: StormShape, rng: random.Random) -> list[Send]:
    """Move `out_of_order` of the messages (not a conversation's first) later."""
    firsts = shape.conversations * shape.tenants
    sends = list(originals)
    movable = range(firsts, len(sends))
    for _ in range(round(len(sends) * shape.out_of_order)):
        if len(movable) < 2:
            break
        at = rng.choice(movable)
        to = min(len(sends) - 1, at + rng.randint(1, OUT_OF_ORDER_MAX_SHIFT))
        moved = sends.pop(at)
        sends.insert(to, replace(moved, out_of_order=True))
    return sends


def _insert_after(sends: list[Send], position: int, send: Send, rng: random.Random) -> None:
    sends.insert(min(len(sends), position + 1 + rng.randint(0, OUT_OF_ORDER_MAX_SHIFT)), send)


@dataclass(frozen=True)
class Ledger:
    """What the storm must leave behind, per tenant."""

    messages: list[set[int]]  # the message ids of the well-formed originals
    refused: list[set[int]]  # the message ids only bad deliveries carried
    conversations: list[set[int]]  # the conversations that need a ticket


def ledger(sends: Sequence[Send], tenants: int) -> Ledger:
    result = Ledger([set() for _ in range(tenants)], [set() for _ in range(tenants)], [])
    conversations: list[set[int]] = [set() for _ in range(tenants)]
    for send in sends:
        if send.kind is Kind.ORIGINAL:
            result.messages[send.tenant].add(send.delivery.message_id)
            conversations[send.tenant].add(send.delivery.conversation_id)
        elif not send.kind.well_formed:
            result.refused[send.tenant].add(send.delivery.message_id)
    result.conversations.extend(conversations)
    return result
