"""One screenful of text from two rounds of scrapes and the agent directory.

Plain text, so `--once` output can be read by scripts and tests, and pasted as it is; the
caller adds colour for a terminal. Every section says why it is empty: a process down, a
metric not served yet, or simply nothing there.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from devstack.top.agents import TenantAgents
from devstack.top.scrape import Window

GATEWAY = "gateway"
TICKET_SERVICE = "ticket service"
ESCALATION_SERVICE = "escalation service"
PROCESSES = (GATEWAY, TICKET_SERVICE, ESCALATION_SERVICE)
# Codes that say the server could not do its part; the other non-OK codes refused the call
# (bad input, not found, a conflict, no credential), which is the caller's to fix.
FAILED_CODES = frozenset(
    {"UNKNOWN", "INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "DATA_LOSS", "UNIMPLEMENTED"}
)
OUTCOMES = (
    "applied",
    "duplicate",
    "ignored",
    "spooled",
    "rejected",
    "invalid",
    "unauthorized",
    "failed",
)
RISKS = ("on_track", "warning", "breached")
FIRE_KINDS = ("warning", "breach", "level")
AGENTS_SHOWN = 12  # per tenant; the busiest first
BAR_WIDTH = 10


@dataclass(frozen=True)
class Snapshot:
    """Everything one frame shows. `windows` has one per process whose metrics are on."""

    taken_at: datetime
    interval: float
    windows: Mapping[str, Window]
    tenant_of: Mapping[str, str]  # Chatwoot integration -> tenant, from the tenants file
    agents: Sequence[TenantAgents]
    agents_error: str | None = None


def table(rows: Sequence[Sequence[str]], left: int) -> list[str]:
    """Columns padded to their widest cell: the first `left` ones (names) left-aligned, the
    others (numbers) right-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  "
        + "  ".join(
            cell.ljust(widths[i]) if i < left else cell.rjust(widths[i])
            for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    ]


def count(value: float) -> str:
    return f"{value:.0f}" if value == int(value) else f"{value:.1f}"


def per_second(value: float | None) -> str:
    if value is None:
        return "-"
    return "0" if value == 0 else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.1f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.0f}h"


def _status(window: Window | None) -> str:
    if window is None:
        return "metrics off"
    return "up" if window.after.up else f"DOWN ({window.after.error})"


def processes(snapshot: Snapshot) -> list[str]:
    rows = []
    for name in PROCESSES:
        window = snapshot.windows.get(name)
        url = window.after.url if window is not None else ""
        rows.append([name, url, _status(window)])
    return ["PROCESSES", *table(rows, left=3)]


def _readable(snapshot: Snapshot, name: str) -> Window | str:
    """The process's window, or the line its sections show instead when it cannot be read."""
    window = snapshot.windows.get(name)
    if window is None:
        return f"  {name}: metrics off"
    return window if window.after.up else f"  {name} is down"


def webhooks(snapshot: Snapshot) -> list[str]:
    title = "WEBHOOKS  gateway: Chatwoot deliveries by tenant, integration and outcome"
    window = _readable(snapshot, GATEWAY)
    if isinstance(window, str):
        return [title, window]
    by = ("integration", "outcome")
    name = "chatwoot_webhook_deliveries_total"
    totals = window.after.sum_by(name, by)
    rates = window.rate(name, by)
    rows = [["tenant", "integration", "outcome", "total", "/s"]]
    for integration, outcome in sorted(totals, key=lambda key: (key[0], _order(key[1]))):
        key = (integration, outcome)
        tenant = snapshot.tenant_of.get(integration, "?")
        rows.append([tenant, integration, outcome, count(totals[key]), per_second(rates.get(key))])
    lines = [title, *(table(rows, left=3) if len(rows) > 1 else ["  no deliveries yet"])]
    spool = window.after.total("gateway_spool_depth")
    attempts = window.after.sum_by("gateway_spool_forward_attempts_total", ("result",))
    forwarded = "  ".join(
        f"{result} {count(attempts.get((result,), 0.0))}"
        for result in ("delivered", "retry", "dead_letter")
    )
    lines.append(f"  spool depth {count(spool)}; forwarded from the spool: {forwarded}")
    return lines


def _order(outcome: str) -> tuple[int, str]:
    """Outcomes in the order of the README's table; any new one after them."""
    return (OUTCOMES.index(outcome) if outcome in OUTCOMES else len(OUTCOMES), outcome)


def grpc_servers(snapshot: Snapshot) -> list[str]:
    title = "GRPC  server side, per service; p99 of unary calls over the window"
    rows = [["process", "service", "total", "req/s", "refused/s", "failed/s", "p99"]]
    lines = [title]
    for process in (TICKET_SERVICE, ESCALATION_SERVICE):
        window = _readable(snapshot, process)
        if isinstance(window, str):
            lines.append(window)
            continue
        handled = "grpc_server_handled_total"
        totals = window.after.sum_by(handled, ("grpc_service",))
        by_code = window.rate(handled, ("grpc_service", "grpc_code"))
        p99 = window.quantile(
            0.99, "grpc_server_handling_seconds", ("grpc_service",), grpc_type="unary"
        )
        for (service,) in sorted(totals):
            codes = {code: rate for (s, code), rate in by_code.items() if s == service}
            rates = window.has_rates
            failed = sum(r for code, r in codes.items() if code in FAILED_CODES)
            refused = sum(r for code, r in codes.items() if code not in FAILED_CODES | {"OK"})
            rows.append(
                [
                    process,
                    service.rpartition(".")[2],
                    count(totals[(service,)]),
                    per_second(sum(codes.values()) if rates else None),
                    per_second(refused if rates else None),
                    per_second(failed if rates else None),
                    duration(p99.get((service,))),
                ]
            )
    return [*lines, *(table(rows, left=2) if len(rows) > 1 else [])]


def outbox(snapshot: Snapshot) -> list[str]:
    title = "OUTBOX  ticket service: changes waiting to be sent to Chatwoot"
    window = _readable(snapshot, TICKET_SERVICE)
    if isinstance(window, str):
        return [title, window]
    scrape = window.after
    pending = scrape.sum_by("chatwoot_outbox_pending", ("integration",))
    oldest = scrape.sum_by("chatwoot_outbox_oldest_pending_age_seconds", ("integration",))
    dead = scrape.sum_by("chatwoot_outbox_dead_letters", ("integration",))
    # Every configured integration, the ones with nothing waiting too (they have no series).
    integrations = sorted({key[0] for key in (*pending, *dead)} | set(snapshot.tenant_of))
    rows = [["tenant", "integration", "pending", "oldest", "dead letters"]]
    for integration in integrations:
        key = (integration,)
        waiting = pending.get(key, 0.0)
        rows.append(
            [
                snapshot.tenant_of.get(integration, "?"),
                integration,
                count(waiting),
                duration(oldest.get(key)) if waiting else "-",
                count(dead.get(key, 0.0)),
            ]
        )
    return [title, *(table(rows, left=2) if len(rows) > 1 else ["  no Chatwoot integrations"])]


def sla(snapshot: Snapshot) -> list[str]:
    title = "SLA  escalation service: open clocks by risk (counted every 15 s), firings"
    window = _readable(snapshot, ESCALATION_SERVICE)
    if isinstance(window, str):
        return [title, window]
    scrape = window.after
    clocks = scrape.sum_by("sla_open_clocks", ("tenant", "metric", "risk"))
    groups = sorted({(tenant, metric) for tenant, metric, _ in clocks})
    rows = [["tenant", "metric", *(risk.replace("_", " ") for risk in RISKS)]]
    for tenant, metric in groups:
        rows.append(
            [tenant, metric, *(count(clocks.get((tenant, metric, risk), 0.0)) for risk in RISKS)]
        )
    lines = [title, *(table(rows, left=2) if len(rows) > 1 else ["  no open clocks"])]
    fired = scrape.sum_by("sla_firings_total", ("kind",))
    rates = window.rate("sla_firings_total", ("kind",))
    firings = []
    for kind in FIRE_KINDS:
        rate = rates.get((kind,), 0.0) if window.has_rates else None
        firings.append(f"{kind} {count(fired.get((kind,), 0.0))} ({per_second(rate)}/s)")
    lines.append("  fired since start: " + "  ".join(firings))
    escalated = scrape.sum_by("escalations_created_total", ("trigger",))
    if escalated:
        lines.append(
            "  escalations since start: "
            + "  ".join(f"{trigger} {count(n)}" for (trigger,), n in sorted(escalated.items()))
        )
    return lines


def load_bar(active: int, capacity: int) -> str:
    if capacity <= 0:
        return ""
    filled = min(BAR_WIDTH, math.ceil(BAR_WIDTH * active / capacity))
    return "[" + "#" * filled + "." * (BAR_WIDTH - filled) + "]"


def agents(snapshot: Snapshot) -> list[str]:
    title = "AGENTS  escalation service: active tickets / capacity, busiest first"
    if snapshot.agents_error is not None:
        return [title, f"  {snapshot.agents_error}"]
    rows = [["tenant", "agent", "availability", "load", ""]]
    notes = []  # the tenants with no rows, after the table
    for tenant in snapshot.agents:
        if tenant.error is not None or not tenant.agents:
            notes.append(f"  {tenant.tenant}: {tenant.error or 'no agents'}")
            continue
        for agent in tenant.agents[:AGENTS_SHOWN]:
            availability = agent.availability
            if agent.removed_from_chatwoot:
                availability += " (removed)"
            rows.append(
                [
                    tenant.tenant,
                    agent.display_name,
                    availability,
                    f"{agent.active_tickets}/{agent.capacity}",
                    load_bar(agent.active_tickets, agent.capacity),
                ]
            )
        if len(tenant.agents) > AGENTS_SHOWN:
            more = f"... {len(tenant.agents) - AGENTS_SHOWN} more"
            rows.append([tenant.tenant, more, "", "", ""])
    return [title, *(table(rows, left=3) if len(rows) > 1 else []), *notes]


def render(snapshot: Snapshot) -> str:
    stamp = snapshot.taken_at.strftime("%Y-%m-%d %H:%M:%S %Z")
    header = f"ticketing top  {stamp}  rates over {snapshot.interval:g} s"
    sections = [processes, webhooks, grpc_servers, outbox, sla, agents]
    lines = [header]
    for section in sections:
        lines += ["", *section(snapshot)]
    return "\n".join(lines) + "\n"
