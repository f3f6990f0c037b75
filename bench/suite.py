"""Every benchmark figure in one run, as one table: the real figure, its bare baseline
measured in the same run, their ratio, and the target where there is one.

    .venv/bin/python -m bench [--quick] [--json PATH]      (or: make bench)

Runs, one after the other, each on a fresh database: the webhook intake load
(`bench.webhook_load`), CreateTicket/GetTicket (`bench.rpc_load`), webhook → escalation
decision (`bench.escalation_latency`), cold start and idle memory (`bench.cold_start`),
ListTickets at growing tenant sizes (`bench.list_tickets`). Memory under load is the
peak VmRSS sampled during the webhook load's sustained phase (gateway, ticket service,
and the bare chain's two processes) and during the escalation run (escalation service).
17 minutes at the defaults on a saturated 2-core machine; `--quick` runs everything briefly (a smoke
test: its figures mean nothing).

Exit code: 0 every target met; 2 some target missed; 1 something the benchmarks check for
correctness went wrong (an answer that was not 200, a missing row or escalation, a failed
call). The table is printed in every case.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import cold_start, escalation_latency, list_tickets, rpc_load, webhook_load
from bench.list_tickets import parse_sizes

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
FLAT = 1.5  # "flat": latency at the largest size at most this many times the smallest's


@dataclass(frozen=True)
class Row:
    figure: str
    unit: str
    real: float
    bare: float
    baseline: str  # what `bare` measured
    target: str = ""
    met: bool | None = None  # None: no target

    @property
    def ratio(self) -> float:
        return self.real / self.bare if self.bare else float("nan")


@dataclass(frozen=True)
class Options:
    quick: bool
    idle_wait: float
    sizes: tuple[int, ...]
    postgres_url: str
    json_path: Path | None


# The benchmarks


def _webhook(options: Options, problems: list[str]) -> tuple[list[Row], dict[str, Any]]:
    bench = webhook_load.Options(
        duration=1.0 if options.quick else 10.0,
        concurrency=4 if options.quick else 64,
        rounds=1 if options.quick else 2,
        warmup=0.3 if options.quick else 2.0,
        conversations=10 if options.quick else 2000,
        idle_wait=options.idle_wait,
        postgres_url=options.postgres_url,
        json_path=None,
    )
    runs = webhook_load.run(bench)
    summary = webhook_load.summarize(runs)
    if not summary.clean:
        problems.append("webhook intake: an answer was not 200 or a delivery left no row")
    real, bare = summary.median["real"], summary.median["bare"]
    chain = "bare chain"
    rows = [
        Row(
            "webhook intake, sustained",
            "deliveries/s",
            real["rate"],
            bare["rate"],
            chain,
            f"ratio ≥ {webhook_load.TARGET_RATIO}",
            summary.ratio_met,
        ),
        Row("webhook intake, sustained p50", "ms", real["p50_ms"], bare["p50_ms"], chain),
        Row("webhook intake, sustained p99", "ms", real["p99_ms"], bare["p99_ms"], chain),
        Row(
            "webhook intake at half that rate, p99",
            "ms",
            real["paced_p99_ms"],
            bare["paced_p99_ms"],
            chain,
            f"real < {webhook_load.TARGET_P99_MS:.0f} ms",
            summary.p99_met,
        ),
        Row(
            "RSS under webhook load: gateway",
            "MiB",
            real["rss_mb_gateway"],
            bare["rss_mb_gateway"],
            "bare gateway, same load",
        ),
        Row(
            "RSS under webhook load: ticket service",
            "MiB",
            real["rss_mb_service"],
            bare["rss_mb_service"],
            "bare service, same load",
        ),
    ]
    raw = {"runs": [asdict(r) for r in runs], "summary": asdict(summary)}
    return rows, raw


def _rpc(options: Options, problems: list[str]) -> tuple[list[Row], dict[str, Any]]:
    bench = rpc_load.Options(
        duration=1.0 if options.quick else 10.0,
        warmup=0.3 if options.quick else 2.0,
        concurrency=4 if options.quick else 32,
        rounds=1 if options.quick else 2,
        postgres_url=options.postgres_url,
    )
    report = rpc_load.run(bench)
    if report.failures:
        problems.append(f"rpc: {report.failures} calls failed")
    rows = []
    for phase, method, baseline in (
        ("write", "CreateTicket", "bare service: one INSERT"),
        ("read", "GetTicket", "bare service: one PK SELECT"),
    ):
        real, bare = report.median["ticket"][phase], report.median["bare"][phase]
        rows.append(Row(method, "calls/s", real["rate"], bare["rate"], baseline))
        rows.append(Row(f"{method} p99", "ms", real["p99_ms"], bare["p99_ms"], baseline))
    return rows, asdict(report)


def _escalation(
    options: Options, problems: list[str], bare_rss_under_load: float
) -> tuple[list[Row], dict[str, Any]]:
    count = 4 if options.quick else 300
    bench = escalation_latency.Options(
        rate=10.0,
        count=count,
        concurrency=4 if options.quick else 16,
        poll_seconds=None,
        decision_timeout=20.0 if options.quick else 30.0,
        idle_wait=options.idle_wait,
        postgres_url=options.postgres_url,
        json_path=None,
    )
    report = escalation_latency.run(bench)
    problems.extend(f"escalation: {problem}" for problem in report.problems)
    written, decided = report.stats_ms("written"), report.stats_ms("decided")
    baseline = "webhook → ticket event written"
    target_ms = escalation_latency.TARGET_P99_S * 1e3
    rows = [
        Row("webhook → escalation decided, p50", "ms", decided["p50"], written["p50"], baseline),
        Row(
            "webhook → escalation decided, p99",
            "ms",
            decided["p99"],
            written["p99"],
            baseline,
            f"real < {target_ms:.0f} ms",
            report.target_met,
        ),
        Row(
            "RSS under load: escalation service",
            "MiB",
            report.peak_rss_mb["escalation_service"],
            bare_rss_under_load,
            "bare service, webhook load",
        ),
    ]
    raw = {
        "ms": {figure: report.stats_ms(figure) for figure in escalation_latency.FIGURES},
        "peak_rss_mb": report.peak_rss_mb,
        "cpu_us_per_message": report.cpu_us,
        "problems": report.problems,
    }
    return rows, raw


def _cold_start(options: Options) -> tuple[list[Row], dict[str, Any]]:
    report = cold_start.run(cold_start.Options(1 if options.quick else 3, options.postgres_url))
    start = {name: seconds * 1e3 for name, seconds in report.start_s.items()}
    rss = report.idle_rss_mb
    pairs = (
        ("gateway", "gateway (/readyz 200)", "bare_gateway", "bare gateway (/healthz 200)"),
        ("ticket_service", "ticket service", "bare_service", "bare service"),
        ("escalation", "escalation service", "bare_service", "bare service"),
        ("bare_service", "bare service", "python", "python opening a socket"),
    )
    rows = [
        Row(f"cold start: {label}", "ms", start[real], start[bare], bare_label)
        for real, label, bare, bare_label in pairs
    ]
    rows += [
        Row(f"RSS idle: {label}", "MiB", rss[real], rss[bare], bare_label)
        for real, label, bare, bare_label in pairs[:3]
    ]
    return rows, asdict(report)


def _list_tickets(options: Options) -> tuple[list[Row], dict[str, Any]]:
    samples = 20 if options.quick else 300
    report = list_tickets.run(list_tickets.Options(options.sizes, samples, options.postgres_url))
    small, large = report.runs[0], report.runs[-1]
    pages = (("first_page", "first page"), ("deep_page", "deep page"))
    rows = [
        Row(
            f"ListTickets {label} p50 at {run.tickets:,} tickets",
            "ms",
            run.latency[call].p50_ms,
            run.latency["get"].p50_ms,
            f"GetTicket p50 at {run.tickets:,}",
        )
        for call, label in pages
        for run in (small, large)
    ]
    for call, label in pages:
        for figure in ("p50_ms", "p99_ms"):
            rows.append(
                Row(
                    f"ListTickets {label} {figure[:3]}: {large.tickets:,} vs {small.tickets:,}",
                    "ms",
                    getattr(large.latency[call], figure),
                    getattr(small.latency[call], figure),
                    f"same at {small.tickets:,} tickets",
                    f"ratio ≤ {FLAT} (flat)",
                    report.growth(call, figure) <= FLAT,
                )
            )
    return rows, asdict(report)


# The table


def _number(value: float) -> str:
    if value != value:  # NaN
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}"


def render(rows: list[Row]) -> str:
    lines = [
        "| figure | real | bare baseline | ratio | target |",
        "|---|---:|---:|---:|---|",
    ]
    for row in rows:
        target = row.target
        if row.met is not None:
            target += ": met" if row.met else ": **missed**"
        lines.append(
            f"| {row.figure} ({row.unit}) | {_number(row.real)} | {_number(row.bare)} "
            f"({row.baseline}) | {row.ratio:.2f} | {target} |"
        )
    return "\n".join(lines)


def machine(postgres_url: str) -> dict[str, str]:
    """What the figures were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    kib = int(Path("/proc/meminfo").read_text().split()[1])  # MemTotal comes first
    with psycopg.connect(postgres_url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
        capture_output=True,
        text=True,
        check=False,
        cwd=Path(__file__).resolve().parent,
    ).stdout.strip()
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": str(os.cpu_count()),
        "cpu_model": model,
        "ram_gib": f"{kib / 2**20:.1f}",
        "postgresql": str(row[0]) if row else "unknown",
        "python": platform.python_version(),
        "load_average": " ".join(f"{v:.2f}" for v in os.getloadavg()),
        "commit": commit or "unknown",
    }


Step = Callable[[], tuple[list[Row], dict[str, Any]]]


def run(options: Options) -> tuple[list[Row], list[str], dict[str, Any]]:
    """Every benchmark; the rows, the correctness problems found, the raw figures."""
    problems: list[str] = []
    raw: dict[str, Any] = {}
    rows: list[Row] = []

    def step(name: str, measure: Step) -> None:
        print(f"== {name}", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            found, raw[name] = measure()
        except Exception as error:  # one benchmark failing leaves the others to run
            traceback.print_exc()
            problems.append(f"{name}: {error!r}; its rows are missing")
            return
        rows.extend(found)
        print(f"== {name}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)

    step("webhook", lambda: _webhook(options, problems))
    # The escalation service's memory under load is compared with the bare service's.
    webhook = raw.get("webhook")
    bare_rss = webhook["summary"]["median"]["bare"]["rss_mb_service"] if webhook else 0.0
    step("escalation", lambda: _escalation(options, problems, bare_rss))
    step("rpc", lambda: _rpc(options, problems))
    step("cold_start", lambda: _cold_start(options))
    step("list_tickets", lambda: _list_tickets(options))
    return rows, problems, raw


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="everything, briefly (smoke test)")
    parser.add_argument(
        "--list-sizes",
        type=parse_sizes,
        help="ListTickets tenant sizes (default 10000,1000000; --quick: 200,2000)",
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        help="seconds to wait at most, before each load, for other load to stop "
        "(default 10; --quick: 0)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="a database on the server to create the bench databases on",
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    sizes = args.list_sizes or ((200, 2000) if args.quick else (10_000, 1_000_000))
    idle_wait = args.idle_wait if args.idle_wait is not None else (0.0 if args.quick else 10.0)
    return Options(args.quick, idle_wait, sizes, args.postgres_url, args.json_path)


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    before = machine(options.postgres_url)
    rows, problems, raw = run(options)
    after = machine(options.postgres_url)
    print(render(rows))
    print(
        f"\n{before['date']}: {before['cpus']} CPUs ({before['cpu_model']}), "
        f"{before['ram_gib']} GiB, PostgreSQL {before['postgresql']}, Python {before['python']}, "
        f"commit {before['commit']}; load average {before['load_average']} before, "
        f"{after['load_average']} after"
    )
    for problem in problems:
        print(f"FAILED: {problem}")
    missed = [row.figure for row in rows if row.met is False]
    exit_code = 1 if problems else 2 if missed else 0
    if options.json_path is not None:
        document = {
            "machine": {"before": before, "after": after},
            "rows": [{**asdict(row), "ratio": row.ratio} for row in rows],
            "problems": problems,
            "exit_code": exit_code,
            "raw": raw,
        }
        options.json_path.write_text(json.dumps(document, indent=2, default=str))
    return exit_code
