"""SLA scheduler benchmark: the work of one tick and the detection latency, against idle clocks.

    .venv/bin/python -m bench.sla_scheduler [--sizes 10000,100000] [--due 50]
                                            [--interval 1.0] [--json PATH]

On a fresh PostgreSQL database `bench_<random>` (dropped at the end), for each size N in
rising order, the tickets are topped up to N, each with a running first-response and
resolution clock built by `SlaClock.start` and due hours ahead (idle), then ANALYZE; then:

- idle ticks: `SlaScheduler.tick()` with nothing due, interleaved with a bare baseline,
  a primary-key lookup of one `sla_clocks` row through the same engine;
- due ticks: K tickets whose first response is overdue are added, and one tick fires them
  (K breaches, K escalations), again next to the baseline;
- the due query's plan and buffers (EXPLAIN ANALYZE BUFFERS, as the repository builds it,
  with the value bound and as the generic plan a prepared statement may switch to), and a
  naive scan for contrast: the same query on `due_time`, which no index covers;
- detection latency: the scheduler runs as `common.periodic.Periodic` every `--interval` s
  on the system clock while clocks breach at known instants; fire_time - due_time from the
  SLA log.

An empty table (N = 0) is measured first. Figures that matter are ratios to the baseline
measured in the same run; absolute times depend on the machine and whoever else uses it.

Exit code: 0 both claims hold (tick cost at the largest size / at the smallest non-zero
size, each relative to the baseline, under `--max-growth`; detection p99 within interval +
1 s); 1 some due clock did not fire exactly once; 2 a claim did not hold.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Select, event, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bench.chains import bench_database
from common.clock import SystemClock
from common.db import create_engine
from common.logging import configure_logging
from common.periodic import Periodic
from escalation_service.adapters import migrate
from escalation_service.adapters.repository import view_values
from escalation_service.adapters.sla_repository import clock_values, due_query
from escalation_service.adapters.tables import sla_clocks, sla_events, ticket_views
from escalation_service.adapters.ticket_client import GrpcTickets
from escalation_service.domain.policy import Priority
from escalation_service.domain.sentiment import SentimentAnalyzer
from escalation_service.domain.sla import Metric, SlaPolicy
from escalation_service.domain.sla_clock import FireKind, SlaClock
from escalation_service.domain.tickets import TicketView
from escalation_service.service.escalations import EscalationService
from escalation_service.service.sla_clocks import SCHEDULER_BATCH, SlaScheduler, SlaTracker

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
TENANT = "bench"
FIRST_RESPONSE = timedelta(hours=4)
POLICY = SlaPolicy(
    policy_id="bench",
    display_name="Bench",
    position=0,
    targets={Metric.FIRST_RESPONSE: FIRST_RESPONSE, Metric.RESOLUTION: timedelta(days=3)},
    warn_fraction=0.8,
)
# Idle tickets started over the last two hours: their first fire (the first-response
# warning at 80 % of 4 h) is 1.2 to 3.2 h ahead, right behind "now" in the index.
IDLE_SPREAD = timedelta(hours=2)
SEED_CHUNK = 5000  # tickets per INSERT batch
LATENCY_LEAD = 2.0  # seconds from seeding to the first latency clock's breach
LATENCY_TIMEOUT = 60.0  # seconds past the last breach to wait for its firing


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...]
    due: int
    idle_ticks: int
    due_ticks: int
    naive_runs: int
    interval: float
    latency_clocks: int
    latency_spread: float
    max_growth: float
    postgres_url: str
    json_path: Path | None


@dataclass
class Plan:
    """One EXPLAIN (ANALYZE, BUFFERS): the node chain, rows the scans read, shared blocks
    touched (hit + read), the server's execution time."""

    nodes: str
    rows_read: int
    blocks: int
    ms: float


@dataclass
class Timing:
    median_us: float
    p90_us: float
    samples: int

    @classmethod
    def of(cls, seconds: Sequence[float]) -> Timing:
        ordered = sorted(seconds)
        return cls(
            median_us=statistics.median(ordered) * 1e6,
            p90_us=ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))] * 1e6,
            samples=len(ordered),
        )


@dataclass
class Latency:
    interval_s: float
    clocks: int
    fired_once: int  # clocks whose breach is logged exactly once
    p50_ms: float
    p99_ms: float
    max_ms: float


@dataclass
class SizeRun:
    tickets: int
    clocks: int
    seed_s: float
    baseline: Timing  # primary-key lookup of one sla_clocks row
    idle_tick: Timing
    idle_statements: float  # SQL statements per idle tick
    due_tick: Timing | None  # K due
    due_baseline: Timing | None
    due_statements: float
    due_fired_once: bool  # every due tick fired exactly its K clocks, each once
    due_plan_idle: Plan | None = None
    due_plan_generic: Plan | None = None
    due_plan_k: Plan | None = None
    baseline_plan: Plan | None = None
    naive_plan: Plan | None = None
    naive: Timing | None = None
    latency: Latency | None = None

    @property
    def idle_ratio(self) -> float:
        return self.idle_tick.median_us / self.baseline.median_us

    @property
    def due_ratio(self) -> float | None:
        if self.due_tick is None or self.due_baseline is None:
            return None
        return self.due_tick.median_us / self.due_baseline.median_us

    @property
    def naive_ratio(self) -> float | None:
        return None if self.naive is None else self.naive.median_us / self.baseline.median_us


@dataclass
class Summary:
    small: int
    large: int
    idle_growth: float  # (idle tick / baseline) at large ÷ at small
    idle_growth_raw: float  # idle tick µs at large ÷ at small
    due_growth: float
    due_blocks_growth: float  # due query's blocks at large ÷ at small
    naive_growth: float  # naive scan time at large ÷ at small
    naive_blocks_growth: float
    naive_server_growth: float  # its server execution time (EXPLAIN) at large ÷ at small
    latency_ok: bool
    flat: bool
    fired_once: bool
    exit_code: int = field(default=0)


def _refuse_analysis(tenant_id: str) -> SentimentAnalyzer:
    raise AssertionError(f"the SLA scheduler reads no messages ({tenant_id})")


class Bench:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        clock = SystemClock()
        # The scheduler's escalations call nothing outside the database; the ticket
        # client is never opened.
        service = EscalationService(engine, GrpcTickets("127.0.0.1:9", {}), _refuse_analysis, clock)
        self.scheduler = SlaScheduler(engine, SlaTracker(service, clock), clock)
        self.tickets = 0
        self.statements = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._count)

    def _count(self, *_: Any) -> None:
        self.statements += 1

    # --- seeding ------------------------------------------------------------------------

    async def seed(self, starts: Iterable[datetime], *, warned_by: bool = False) -> list[str]:
        """A ticket view with a running first-response and resolution clock per start time,
        as ticket creation starts them, inserted in bulk; their ids. `warned_by`: the
        first-response clock has already warned, so its next fire is its breach."""
        ids: list[str] = []
        views: list[dict[str, Any]] = []
        clocks: list[dict[str, Any]] = []
        async with self.engine.begin() as conn:
            for start in starts:
                self.tickets += 1
                ticket_id = f"tkt-2026-{self.tickets:08d}"
                ids.append(ticket_id)
                view = TicketView(ticket_id, "open", Priority.MEDIUM, "", (), start)
                views.append(view_values(TENANT, view))
                for metric in (Metric.FIRST_RESPONSE, Metric.RESOLUTION):
                    clock = SlaClock.start(ticket_id, metric, POLICY, None, start)
                    if warned_by and metric is Metric.FIRST_RESPONSE:
                        assert clock.warn_time is not None
                        clock.fire(clock.warn_time)
                    row = {"tenant_id": TENANT, "ticket_id": ticket_id, "metric": metric.value}
                    clocks.append(row | clock_values(clock))
                if len(views) >= SEED_CHUNK:
                    await _insert(conn, views, clocks)
            await _insert(conn, views, clocks)
        return ids

    async def top_up(self, size: int) -> float:
        began = time.perf_counter()
        now = datetime.now(UTC)
        spread = IDLE_SPREAD.total_seconds()
        count = size - self.tickets
        await self.seed(now - timedelta(seconds=spread * i / count) for i in range(count))
        async with self.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            for table in (ticket_views, sla_clocks):
                await conn.exec_driver_sql(f"ANALYZE {table.name}")
        return time.perf_counter() - began

    # --- measuring ------------------------------------------------------------------------

    async def lookup(self) -> None:
        """The baseline: one sla_clocks row by its primary key, on a pooled connection."""
        number = random.randint(1, max(self.tickets, 1))  # noqa: S311 - not a secret
        ticket_id = f"tkt-2026-{number:08d}"
        async with self.engine.connect() as conn:
            await conn.execute(_pk_query(ticket_id))

    async def interleaved(
        self, runs: int, work: Callable[[], Awaitable[int]]
    ) -> tuple[Timing, Timing, float, list[int]]:
        """`runs` times: the baseline, then `work`; their timings, statements per `work`,
        and what each `work` returned."""
        base: list[float] = []
        spent: list[float] = []
        results: list[int] = []
        statements = 0
        for _ in range(runs):
            began = time.perf_counter()
            await self.lookup()
            base.append(time.perf_counter() - began)
            before = self.statements
            began = time.perf_counter()
            results.append(await work())
            spent.append(time.perf_counter() - began)
            statements += self.statements - before
        return Timing.of(base), Timing.of(spent), statements / runs, results

    async def measure(self, options: Options, size: int, seed_s: float) -> SizeRun:
        k = options.due
        for _ in range(3):  # warm the pool and the plan caches
            await self.lookup()
            await self.scheduler.tick()
        base, idle, idle_statements, fired = await self.interleaved(
            options.idle_ticks, self.scheduler.tick
        )
        assert not any(fired), f"an idle tick fired {fired}"
        now = datetime.now(UTC)
        async with self.engine.connect() as conn:
            clocks = (await conn.execute(select(func.count()).select_from(sla_clocks))).scalar()
            due_plan_idle = await explain(conn, due_query(now, SCHEDULER_BATCH))
            due_plan_generic = await explain(conn, due_query(now, SCHEDULER_BATCH), generic=True)
            baseline_plan = await explain(conn, _pk_query(f"tkt-2026-{max(size, 1):08d}"))
            naive_plan = await explain(conn, _naive_query(now, SCHEDULER_BATCH))
        naive: Timing | None = None
        if options.naive_runs:
            naive = (await self.interleaved(options.naive_runs, self._naive))[1]
        run = SizeRun(
            tickets=size,
            clocks=int(clocks or 0),
            seed_s=seed_s,
            baseline=base,
            idle_tick=idle,
            idle_statements=idle_statements,
            due_tick=None,
            due_baseline=None,
            due_statements=0.0,
            due_fired_once=True,
            due_plan_idle=due_plan_idle,
            due_plan_generic=due_plan_generic,
            baseline_plan=baseline_plan,
            naive_plan=naive_plan,
            naive=naive,
        )
        if k and options.due_ticks:
            await self._due_ticks(options, run)
        return run

    async def _naive(self) -> int:
        async with self.engine.connect() as conn:
            rows = await conn.execute(_naive_query(datetime.now(UTC), SCHEDULER_BATCH))
            return len(rows.all())

    async def _due_ticks(self, options: Options, run: SizeRun) -> None:
        k = options.due
        batches: list[list[str]] = []

        base: list[float] = []
        spent: list[float] = []
        statements = 0
        fired_counts: list[int] = []
        for rep in range(options.due_ticks):
            overdue = datetime.now(UTC) - FIRST_RESPONSE - timedelta(seconds=1)
            batches.append(await self.seed([overdue] * k))
            if rep == 0:
                async with self.engine.connect() as conn:
                    run.due_plan_k = await explain(
                        conn, due_query(datetime.now(UTC), SCHEDULER_BATCH)
                    )
            b, s, n, fired = await self.interleaved(1, self.scheduler.tick)
            base.append(b.median_us / 1e6)
            spent.append(s.median_us / 1e6)
            statements += round(n)
            fired_counts += fired
        run.due_baseline = Timing.of(base)
        run.due_tick = Timing.of(spent)
        run.due_statements = statements / options.due_ticks
        once = await self._fired_once([t for batch in batches for t in batch])
        run.due_fired_once = fired_counts == [k] * options.due_ticks and once == k * len(batches)

    async def _fired_once(self, ticket_ids: Sequence[str]) -> int:
        """How many of these tickets have exactly one firing logged: their first-response
        breach."""
        c = sla_events.c
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.ticket_id, c.metric, c.kind).where(
                        c.tenant_id == TENANT, c.ticket_id.in_(ticket_ids)
                    )
                )
            ).all()
        per_ticket: dict[str, list[tuple[str, str]]] = {}
        for row in rows:
            per_ticket.setdefault(row.ticket_id, []).append((row.metric, row.kind))
        breach = [(Metric.FIRST_RESPONSE.value, FireKind.BREACH.value)]
        return sum(1 for fired in per_ticket.values() if fired == breach)

    async def latency(self, options: Options) -> Latency:
        """The scheduler as the service runs it; clocks breach at known instants spread
        over `latency_spread` s; fire_time - due_time of each breach."""
        count = options.latency_clocks
        first = datetime.now(UTC) + timedelta(seconds=LATENCY_LEAD)
        breaches = [
            first + timedelta(seconds=options.latency_spread * i / max(count - 1, 1))
            for i in range(count)
        ]
        ids = await self.seed((due - FIRST_RESPONSE for due in breaches), warned_by=True)
        job = Periodic("sla-scheduler", self.scheduler.tick, timedelta(seconds=options.interval))
        job.start()
        c = sla_events.c
        deadline = time.monotonic() + LATENCY_LEAD + options.latency_spread + LATENCY_TIMEOUT
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(0.5)
                async with self.engine.connect() as conn:
                    logged = (
                        await conn.execute(
                            select(func.count())
                            .select_from(sla_events)
                            .where(c.tenant_id == TENANT, c.ticket_id.in_(ids))
                        )
                    ).scalar()
                if (logged or 0) >= count:
                    break
        finally:
            await job.stop()
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(c.due_time, c.fire_time).where(
                        c.tenant_id == TENANT, c.ticket_id.in_(ids)
                    )
                )
            ).all()
        delays = sorted((row.fire_time - row.due_time).total_seconds() * 1e3 for row in rows)
        missing = [float("inf")] * (count - len(delays))
        delays = sorted(delays + missing)
        return Latency(
            interval_s=options.interval,
            clocks=count,
            fired_once=await self._fired_once(ids),
            p50_ms=_percentile(delays, 0.50),
            p99_ms=_percentile(delays, 0.99),
            max_ms=delays[-1] if delays else 0.0,
        )


async def _insert(
    conn: AsyncConnection, views: list[dict[str, Any]], clocks: list[dict[str, Any]]
) -> None:
    if views:
        await conn.execute(insert(ticket_views), views)
        await conn.execute(insert(sla_clocks), clocks)
    views.clear()
    clocks.clear()


def _pk_query(ticket_id: str) -> Select[tuple[datetime | None]]:
    c = sla_clocks.c
    return select(c.next_fire_time).where(
        c.tenant_id == TENANT, c.ticket_id == ticket_id, c.metric == Metric.RESOLUTION.value
    )


def _naive_query(now: datetime, limit: int) -> Select[tuple[str, str]]:
    """The due query as it would be without the partial index: on `due_time`, which no
    index covers, so every clock is read."""
    c = sla_clocks.c
    return (
        select(c.tenant_id, c.ticket_id).where(c.due_time <= now).order_by(c.due_time).limit(limit)
    )


_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


async def explain(conn: AsyncConnection, statement: Select[Any], *, generic: bool = False) -> Plan:
    """EXPLAIN (ANALYZE, BUFFERS) of `statement` with its values bound; `generic`: as the
    generic plan of a prepared statement, which psycopg's automatic preparation may make
    PostgreSQL choose after a few executions on one connection."""
    compiled = statement.compile(dialect=conn.dialect)
    sql, params = str(compiled), dict(compiled.params)
    options = "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
    if not generic:
        result = await conn.exec_driver_sql(options + sql, params)
    else:
        names = list(dict.fromkeys(_PLACEHOLDER.findall(sql)))
        numbered = _PLACEHOLDER.sub(lambda m: f"${names.index(m[1]) + 1}", sql)
        await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
        await conn.exec_driver_sql(f"PREPARE bench_q AS {numbered}")
        # EXECUTE takes no bound parameters: our own values, written as literals.
        arguments = ", ".join(_literal(params[name]) for name in names)
        result = await conn.exec_driver_sql(f"{options}EXECUTE bench_q({arguments})")
    document = result.scalar_one()
    if generic:
        await conn.exec_driver_sql("DEALLOCATE bench_q")
        await conn.exec_driver_sql("RESET plan_cache_mode")
    await conn.rollback()
    top = document[0]
    plan = top["Plan"]
    nodes: list[str] = []
    rows_read = 0
    pending = [plan]
    while pending:
        node = pending.pop(0)
        name = node["Node Type"]
        if "Index Name" in node:
            name += f" {node['Index Name']}"
        nodes.append(name)
        if node["Node Type"].endswith("Scan"):
            loops = node.get("Actual Loops", 1)
            rows_read += (node["Actual Rows"] + node.get("Rows Removed by Filter", 0)) * loops
        pending.extend(node.get("Plans", []))
    return Plan(
        nodes=" > ".join(nodes),
        rows_read=int(rows_read),
        blocks=int(plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0)),
        ms=float(top["Execution Time"]),
    )


def _literal(value: object) -> str:
    if isinstance(value, datetime):
        return f"'{value.isoformat()}'::timestamptz"
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"no literal for {value!r}")


def _percentile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def summarize(runs: Sequence[SizeRun], options: Options) -> Summary:
    sized = [run for run in runs if run.tickets > 0]
    small, large = sized[0], sized[-1]

    def growth(a: float | None, b: float | None) -> float:
        return float("nan") if a is None or b is None or b == 0 else a / b

    def blocks(plan: Plan | None) -> float | None:
        return None if plan is None else plan.blocks

    def naive_us(run: SizeRun) -> float | None:
        return None if run.naive is None else run.naive.median_us

    idle_growth = growth(large.idle_ratio, small.idle_ratio)
    due_growth = growth(large.due_ratio, small.due_ratio)
    bound_ms = (options.interval + 1.0) * 1e3
    latencies = [run.latency for run in runs if run.latency is not None]
    latency_ok = all(lat.p99_ms <= bound_ms for lat in latencies)
    fired_once = all(run.due_fired_once for run in runs) and all(
        lat.fired_once == lat.clocks for lat in latencies
    )
    flat = idle_growth < options.max_growth and (
        small.due_ratio is None or due_growth < options.max_growth
    )
    summary = Summary(
        small=small.tickets,
        large=large.tickets,
        idle_growth=idle_growth,
        idle_growth_raw=growth(large.idle_tick.median_us, small.idle_tick.median_us),
        due_growth=due_growth,
        due_blocks_growth=growth(blocks(large.due_plan_idle), blocks(small.due_plan_idle)),
        naive_growth=growth(naive_us(large), naive_us(small)),
        naive_blocks_growth=growth(blocks(large.naive_plan), blocks(small.naive_plan)),
        naive_server_growth=growth(
            large.naive_plan.ms if large.naive_plan else None,
            small.naive_plan.ms if small.naive_plan else None,
        ),
        latency_ok=latency_ok,
        flat=flat,
        fired_once=fired_once,
    )
    summary.exit_code = 1 if not fired_once else 0 if flat and latency_ok else 2
    return summary


async def _benchmark(options: Options, url: str) -> list[SizeRun]:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
        bench = Bench(engine)
        runs: list[SizeRun] = []
        for size in (0, *options.sizes):
            _progress(f"{size:,} tickets: seeding …")
            seed_s = await bench.top_up(size) if size > bench.tickets else 0.0
            _progress(f"{size:,} tickets: ticks …")
            run = await bench.measure(options, size, seed_s)
            if size > 0 and options.latency_clocks:
                _progress(f"{size:,} tickets: detection latency …")
                run.latency = await bench.latency(options)
            runs.append(run)
            _print_run(run, options)
        return runs
    finally:
        await engine.dispose()


def _progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _print_run(run: SizeRun, options: Options) -> None:
    def plan(p: Plan | None) -> str:
        if p is None:
            return "-"
        return f"{p.nodes}: {p.rows_read} rows read, {p.blocks} blocks, {p.ms:.3f} ms"

    print(f"\n== {run.tickets:,} tickets, {run.clocks:,} clocks (seeded in {run.seed_s:.1f} s)")
    print(
        f"  baseline PK lookup   {run.baseline.median_us:9.0f} µs median "
        f"({run.baseline.samples} runs)  plan: {plan(run.baseline_plan)}"
    )
    print(
        f"  idle tick            {run.idle_tick.median_us:9.0f} µs median, "
        f"p90 {run.idle_tick.p90_us:.0f}; {run.idle_ratio:.2f}x baseline; "
        f"{run.idle_statements:.1f} statements"
    )
    print(f"    due query          {plan(run.due_plan_idle)}")
    print(f"    due query, generic {plan(run.due_plan_generic)}")
    if run.due_tick is not None and run.due_baseline is not None:
        k = options.due
        print(
            f"  tick, {k} due        {run.due_tick.median_us / 1e3:9.1f} ms median "
            f"({run.due_tick.median_us / k / 1e3:.2f} ms per clock); "
            f"{run.due_ratio:.0f}x baseline; {run.due_statements / k:.1f} statements per "
            f"clock; fired once each: {run.due_fired_once}"
        )
        print(f"    due query          {plan(run.due_plan_k)}")
    if run.naive is not None:
        print(
            f"  naive scan           {run.naive.median_us:9.0f} µs median; "
            f"{run.naive_ratio:.1f}x baseline  plan: {plan(run.naive_plan)}"
        )
    if run.latency is not None:
        lat = run.latency
        print(
            f"  detection latency    p50 {lat.p50_ms:.0f} ms, p99 {lat.p99_ms:.0f} ms, "
            f"max {lat.max_ms:.0f} ms (interval {lat.interval_s * 1e3:.0f} ms; "
            f"{lat.fired_once}/{lat.clocks} fired once)"
        )


def _print_summary(summary: Summary, runs: Sequence[SizeRun], options: Options) -> None:
    print(
        "\n| tickets | clocks | idle tick / PK | K-due tick / PK | due query blocks "
        "| naive scan / PK | naive blocks | detection p50 / p99 / max |"
    )
    print("|---:|---:|---:|---:|---:|---:|---:|---|")
    for run in runs:
        due = "-" if run.due_ratio is None else f"{run.due_ratio:.0f}x"
        naive = "-" if run.naive_ratio is None else f"{run.naive_ratio:.1f}x"
        lat = run.latency
        detection = (
            "-" if lat is None else (f"{lat.p50_ms:.0f} / {lat.p99_ms:.0f} / {lat.max_ms:.0f} ms")
        )
        print(
            f"| {run.tickets:,} | {run.clocks:,} | {run.idle_ratio:.2f}x | {due} "
            f"| {run.due_plan_idle.blocks if run.due_plan_idle else '-'} | {naive} "
            f"| {run.naive_plan.blocks if run.naive_plan else '-'} | {detection} |"
        )
    s = summary
    print(
        f"\n{s.large:,} vs {s.small:,} tickets: idle tick/PK {s.idle_growth:.2f}x "
        f"(raw {s.idle_growth_raw:.2f}x), K-due tick/PK {s.due_growth:.2f}x, "
        f"due-query blocks {s.due_blocks_growth:.2f}x; naive scan {s.naive_growth:.1f}x "
        f"(blocks {s.naive_blocks_growth:.1f}x, server time {s.naive_server_growth:.1f}x)"
    )
    print(
        f"flat (growth < {options.max_growth}): {s.flat}; detection p99 ≤ interval + 1 s: "
        f"{s.latency_ok}; every due clock fired exactly once: {s.fired_once}"
    )


def _sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted({int(part.replace("_", "")) for part in text.split(",") if part}))
    if len(sizes) < 2 or sizes[0] <= 0:
        raise argparse.ArgumentTypeError("at least two positive sizes, e.g. 10000,100000")
    return sizes


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="bench.sla_scheduler", description=__doc__)
    parser.add_argument("--sizes", type=_sizes, default=(10_000, 100_000), help="tickets")
    parser.add_argument("--due", type=int, default=50, help="clocks due in each due tick")
    parser.add_argument("--idle-ticks", type=int, default=300, help="idle ticks per size")
    parser.add_argument("--due-ticks", type=int, default=8, help="due ticks per size")
    parser.add_argument("--naive-runs", type=int, default=10, help="naive scans per size")
    parser.add_argument("--interval", type=float, default=1.0, help="scheduler period, s")
    parser.add_argument("--latency-clocks", type=int, default=200)
    parser.add_argument(
        "--latency-spread", type=float, default=10.0, help="seconds the breaches spread over"
    )
    parser.add_argument("--max-growth", type=float, default=2.0)
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="a database on the server to create the bench database on",
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    return Options(
        sizes=args.sizes,
        due=args.due,
        idle_ticks=args.idle_ticks,
        due_ticks=args.due_ticks,
        naive_runs=args.naive_runs,
        interval=args.interval,
        latency_clocks=args.latency_clocks,
        latency_spread=args.latency_spread,
        max_growth=args.max_growth,
        postgres_url=args.postgres_url,
        json_path=args.json_path,
    )


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    configure_logging(level="WARNING")
    with bench_database(options.postgres_url) as database:
        runs = asyncio.run(_benchmark(options, database.url))
    summary = summarize(runs, options)
    _print_summary(summary, runs, options)
    if options.json_path is not None:
        document = {
            "options": {**asdict(options), "json_path": str(options.json_path)},
            "runs": [asdict(run) for run in runs],
            "summary": asdict(summary),
        }
        options.json_path.write_text(json.dumps(document, indent=2, default=str))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
