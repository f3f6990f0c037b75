"""After the storm has drained: read what the services and the simulator hold, and check it
against the storm's ledger. Each check is a line of the report: its counts and PASS/FAIL.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench.soak_stack import Tenant
from bench.soak_storm import Kind, Ledger, Send

Json = dict[str, Any]
NO_PRIORITY = "medium"  # what a ticket gets when Chatwoot's conversation has no priority


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    counts: str
    problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Answer:
    """What the sender got for one send: the HTTP status (0: no answer), when (seconds into
    the storm) and how many connection attempts failed before it."""

    send: Send
    status: int
    at: float
    retries: int


def _rows(url: str, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, connect_timeout=10) as conn:
        return list(conn.execute(sql, params))


def answers_check(answers: Sequence[Answer]) -> Check:
    wrong = [a for a in answers if a.status not in a.send.kind.expected_statuses]
    by_kind = Counter(f"{a.send.kind.value}:{a.status}" for a in answers)
    return Check(
        "answers as expected",
        not wrong,
        ", ".join(f"{k} {v}" for k, v in sorted(by_kind.items())),
        [f"{a.send.kind.value} {a.send.delivery.delivery_id} answered {a.status}" for a in wrong],
    )


def no_5xx_check(answers: Sequence[Answer]) -> Check:
    """The spool is never made unwritable here, so no 5xx at all is allowed."""
    server_errors = [a for a in answers if a.status >= 500]
    when = ", ".join(f"{a.status} at {a.at:.1f}s" for a in server_errors[:5])
    return Check(
        "no 5xx to the sender",
        not server_errors,
        f"5xx {len(server_errors)}" + (f" ({when})" if when else ""),
    )


def messages_check(ticket_db: str, tenants: Sequence[Tenant], ledger: Ledger) -> Check:
    """Every well-formed message stored once; nothing a refused delivery carried."""
    problems = []
    expected_total = stored_total = 0
    for index, tenant in enumerate(tenants):
        rows = _rows(
            ticket_db,
            "SELECT chatwoot_message_id, count(*) FROM conversation_messages "
            "WHERE tenant_id = %s GROUP BY chatwoot_message_id",
            (tenant.id,),
        )
        stored = {int(message) for message, _ in rows}
        doubled = [message for message, count in rows if count > 1]
        expected = ledger.messages[index]
        expected_total += len(expected)
        stored_total += sum(count for _, count in rows)
        lost = expected - stored
        leaked = stored & ledger.refused[index]
        unknown = stored - expected - leaked
        for what, ids in (
            ("lost", lost),
            ("doubled", doubled),
            ("stored from a refused delivery", leaked),
            ("unknown", unknown),
        ):
            if ids:
                problems.append(f"{tenant.id}: {len(ids)} messages {what}, e.g. {sorted(ids)[:3]}")
    return Check(
        "every message exactly once",
        not problems,
        f"expected {expected_total}, stored {stored_total}",
        problems,
    )


def tickets_check(ticket_db: str, tenants: Sequence[Tenant], ledger: Ledger) -> Check:
    """One live ticket per conversation the storm wrote in, and no other."""
    problems = []
    total = 0
    for index, tenant in enumerate(tenants):
        rows = _rows(
            ticket_db,
            "SELECT chatwoot_conversation_id, count(*) FROM tickets "
            "WHERE tenant_id = %s AND delete_time IS NULL GROUP BY chatwoot_conversation_id",
            (tenant.id,),
        )
        per_conversation = {int(conversation): count for conversation, count in rows}
        total += sum(per_conversation.values())
        expected = ledger.conversations[index]
        lost = expected - set(per_conversation)
        doubled = [c for c, n in per_conversation.items() if n > 1]
        unknown = set(per_conversation) - expected
        for what, ids in (("no ticket", lost), ("2+ tickets", doubled), ("unknown", unknown)):
            if ids:
                problems.append(f"{tenant.id}: {len(ids)} conversations with {what}")
    expected_total = sum(len(c) for c in ledger.conversations)
    return Check(
        "one ticket per conversation",
        not problems,
        f"expected {expected_total}, found {total}",
        problems,
    )


def numbers_check(ticket_db: str) -> Check:
    rows = _rows(
        ticket_db,
        "SELECT tenant_id, number_year, count(*), count(DISTINCT number_sequence), "
        "min(number_sequence), max(number_sequence) FROM tickets GROUP BY 1, 2 ORDER BY 1, 2",
    )
    problems = [
        f"{tenant} {year}: {count} tickets, {distinct} distinct numbers, {low}..{high}"
        for tenant, year, count, distinct, low, high in rows
        if not (count == distinct == high and low == 1)
    ]
    counts = ", ".join(f"{tenant} {year} 1..{high}" for tenant, year, _, _, _, high in rows)
    return Check("ticket numbers unique, gap-free", not problems, counts, problems)


def capacity_check(ticket_db: str, escalation_db: str) -> Check:
    """No agent holds more live tickets than their capacity: by the escalation service's own
    count, and by the tickets actually assigned to them."""
    agents = _rows(
        escalation_db, "SELECT tenant_id, agent_id, capacity, active_tickets FROM agents"
    )
    default = _rows(
        escalation_db,
        "SELECT DISTINCT ON (tenant_id) tenant_id, "
        "coalesce((document->>'default_agent_capacity')::int, 5) "
        "FROM policy_versions ORDER BY tenant_id, version DESC",
    )
    default_capacity = dict(default)
    assigned = {
        (tenant, assignee): count
        for tenant, assignee, count in _rows(
            ticket_db,
            "SELECT tenant_id, assignee_id, count(*) FROM tickets WHERE assignee_id <> '' "
            "AND status NOT IN ('resolved', 'closed') AND delete_time IS NULL GROUP BY 1, 2",
        )
    }
    problems = []
    peak = 0
    for tenant, agent, capacity, active in agents:
        limit = capacity or default_capacity.get(tenant, 5)
        holding = assigned.get((tenant, agent), 0)
        peak = max(peak, holding, active)
        if active > limit or holding > limit:
            problems.append(
                f"{tenant} agent {agent}: {active} active, {holding} assigned > {limit}"
            )
    total = sum(assigned.values())
    return Check(
        "no agent over capacity",
        not problems,
        f"{len(agents)} agents, {total} tickets assigned, most held {peak}",
        problems,
    )


def outbox_check(ticket_db: str) -> Check:
    rows = _rows(
        ticket_db,
        "SELECT state, (last_error <> '') AS has_reason, count(*) FROM chatwoot_outbox "
        "GROUP BY 1, 2",
    )
    by_state: Counter[str] = Counter()
    problems = []
    for state, has_reason, count in rows:
        by_state[state] += count
        if state == "pending":
            problems.append(f"{count} tasks still pending")
        if state == "dead" and not has_reason:
            problems.append(f"{count} dead letters without a reason")
    counts = ", ".join(f"{state} {count}" for state, count in sorted(by_state.items()))
    return Check("outbox delivered or dead-lettered", not problems, counts or "empty", problems)


def simulator_check(ticket_db: str, tenants: Sequence[Tenant], state: Json) -> Check:
    """For every ticket, Chatwoot (the simulator) shows its assignee and priority, and each
    private note we delivered exactly once."""
    conversations = {(c["account_id"], c["id"]): c for c in state["conversations"]}
    tenant_accounts = {t.id: t.account_id for t in tenants}
    problems = []
    compared = assigned = 0
    tickets = _rows(
        ticket_db,
        "SELECT tenant_id, chatwoot_conversation_id, assignee_id, priority FROM tickets "
        "WHERE chatwoot_conversation_id IS NOT NULL AND delete_time IS NULL",
    )
    for tenant, conversation_id, assignee, priority in tickets:
        key = (tenant_accounts[tenant], conversation_id)
        theirs = conversations.get(key)
        if theirs is None:
            problems.append(f"{tenant} conversation {conversation_id}: not in the simulator")
            continue
        compared += 1
        assigned += assignee != ""
        their_assignee = "" if theirs["assignee_id"] is None else str(theirs["assignee_id"])
        if their_assignee != assignee:
            problems.append(
                f"{tenant} conversation {conversation_id}: assignee ours {assignee!r}, "
                f"simulator {their_assignee!r}"
            )
        their_priority = theirs["priority"] or NO_PRIORITY
        if their_priority != priority:
            problems.append(
                f"{tenant} conversation {conversation_id}: priority ours {priority}, "
                f"simulator {theirs['priority']}"
            )
    notes = _delivered_notes(ticket_db, tenant_accounts)
    posted: Counter[tuple[int, int, str]] = Counter()
    for conversation in state["conversations"]:
        for message in conversation["messages"]:
            ref = (message.get("content_attributes") or {}).get("ticketing_ref")
            if message["private"] and ref:
                posted[(conversation["account_id"], conversation["id"], ref)] += 1
    missing = notes - set(posted)
    doubled = [key for key, count in posted.items() if count > 1]
    if missing:
        problems.append(f"{len(missing)} delivered notes not in the simulator")
    if doubled:
        problems.append(f"{len(doubled)} notes posted more than once, e.g. {doubled[:2]}")
    return Check(
        "simulator matches our state",
        not problems,
        f"{compared} conversations, {assigned} assigned, {len(notes)} notes, "
        f"{len(doubled)} doubled",
        problems,
    )


def _delivered_notes(ticket_db: str, tenant_accounts: dict[str, int]) -> set[tuple[int, int, str]]:
    rows = _rows(
        ticket_db,
        "SELECT tenant_id, conversation_id, payload FROM chatwoot_outbox "
        "WHERE kind = 'private_note' AND state = 'delivered'",
    )
    found = set()
    for tenant, conversation, payload in rows:
        found.add((tenant_accounts[tenant], int(conversation), str(payload["ticketing_ref"])))
    return found


def spool_check(dead_letters: int, pending: int) -> Check:
    """The gateway forwarded everything it spooled; nothing well-formed was refused."""
    problems = []
    if pending:
        problems.append(f"{pending} deliveries still in the spool")
    if dead_letters:
        problems.append(f"{dead_letters} deliveries dead-lettered by the gateway")
    return Check(
        "gateway spool drained",
        not problems,
        f"pending {pending}, dead letters {dead_letters}",
        problems,
    )


def storm_counts(answers: Sequence[Answer]) -> dict[str, int]:
    kinds: defaultdict[str, int] = defaultdict(int)
    for answer in answers:
        kinds[answer.send.kind.value] += 1
        if answer.send.out_of_order:
            kinds["out_of_order"] += 1
    kinds["well_formed"] = sum(1 for a in answers if a.send.kind.well_formed)
    kinds["retried_after_no_answer"] = sum(1 for a in answers if a.retries)
    kinds["spooled_202"] = sum(1 for a in answers if a.status == 202)
    kinds["originals"] = sum(1 for a in answers if a.send.kind is Kind.ORIGINAL)
    return dict(kinds)
