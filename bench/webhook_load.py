"""Webhook load benchmark: gateway → ticket service → PostgreSQL, against a bare chain.

    .venv/bin/python -m bench.webhook_load [--duration 15] [--concurrency 64] [--rounds 3]
                                           [--replicas 1] [--json PATH]

Each round runs both chains, one after the other (the order alternates between rounds, so
drift of the machine's load does not favour one), each as fresh processes:
  warm-up (closed loop) → sustained phase (closed loop: deliveries/s, p50/p99)
  → paced phase at half the sustained rate (open loop: p50/p99 from the due time),
with CPU µs per delivery per process. Figures that matter are ratios to the bare chain in
the same run; absolute numbers depend on the machine and on whoever else uses it.
With `--replicas N` the real chain runs N ticket-service processes on the one database
behind one gateway target listing them all (bench/scale.py compares 1, 2, 3).

Exit code: 0 all answers were 200 and every delivery left its row; 1 otherwise; 2 when the
targets were missed (real/bare ≥ 0.5 sustained; real p99 < 100 ms paced).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from collections.abc import Callable, Coroutine
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import uvloop

from bench.chains import (
    Chain,
    Database,
    analyze,
    bare_chain,
    bench_database,
    migrate,
    real_chain,
)
from bench.cpu import CpuMeter, CpuReport, fixed, postgres_backends, wait_for_idle
from bench.deliveries import Delivery, DeliveryFactory
from bench.load_driver import LoadDriver, PhaseResult

TARGET_RATIO = 0.5
TARGET_P99_MS = 100.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
GROUPS = ("gateway", "service", "postgres", "driver")
SEEDING_CONCURRENCY = 8
T = TypeVar("T")


@dataclass
class Phase:
    deliveries: int
    rate: float  # achieved deliveries/s
    p50_ms: float
    p99_ms: float
    cpu_us: dict[str, float]  # per delivery, per process group
    other_cores: float  # CPU used by processes outside the chain and driver
    postgres_backends: int
    peak_rss_mb: dict[str, float]  # per process group, sampled during the phase
    target_rate: float | None = None  # paced phases only

    @classmethod
    def of(cls, result: PhaseResult[Delivery], cpu: CpuReport, target: float | None) -> Phase:
        return cls(
            deliveries=result.completed,
            rate=result.rate,
            p50_ms=result.percentile(0.50) * 1e3,
            p99_ms=result.percentile(0.99) * 1e3,
            cpu_us=cpu.per_request_us(result.completed),
            other_cores=cpu.others,
            postgres_backends=cpu.processes["postgres"],
            peak_rss_mb=cpu.peak_rss_mb,
            target_rate=target,
        )


@dataclass
class ChainRun:
    chain: str
    round: int
    sustained: Phase
    paced: Phase | None  # None when the options skip the paced phase
    # Answers by status, per phase: seeding (first real chain only), warmup, sustained, paced.
    statuses: dict[str, dict[int, int]] = field(default_factory=dict)
    missing_rows: int = 0
    replicas: int = 1  # service processes in the chain

    @property
    def clean(self) -> bool:
        answered = {status for counts in self.statuses.values() for status in counts}
        return answered <= {200} and self.missing_rows == 0


@dataclass(frozen=True)
class Options:
    duration: float
    concurrency: int
    rounds: int
    warmup: float
    conversations: int
    idle_wait: float
    postgres_url: str
    json_path: Path | None
    replicas: int = 1  # ticket-service processes behind the real chain's gateway
    paced: bool = True  # run the paced (open loop) phase after the sustained one


async def measure_chain(
    chain: Chain,
    database: Database,
    factory: DeliveryFactory,
    options: Options,
    round_number: int,
    *,
    seed: bool,
) -> ChainRun:
    results: dict[str, PhaseResult[Delivery]] = {}
    if seed:
        # One message per conversation first, untimed: each opens its ticket, so that the
        # measured deliveries land on existing conversations, as most real ones do. At a
        # modest concurrency: opening tickets serialises on the tenant's number counter, and
        # 64 at once can outlast the gateway's 2 s forward timeout (then it spools, 202).
        seeding = factory.seeding()
        seeder = LoadDriver(
            "127.0.0.1",
            chain.port,
            chain.source(lambda: next(seeding, None)),
            concurrency=min(options.concurrency, SEEDING_CONCURRENCY),
        )
        await seeder.open()
        results["seeding"] = await seeder.sustained(None)
        seeder.close()
        analyze(database)

    driver = LoadDriver(
        "127.0.0.1", chain.port, chain.source(factory.next), concurrency=options.concurrency
    )
    await driver.open()
    try:
        results["warmup"] = await driver.sustained(options.warmup)
        groups = {
            "gateway": fixed(chain.pids["gateway"]),
            "service": fixed(*chain.service_pids),
            "postgres": postgres_backends(database.name),
            "driver": fixed(os.getpid()),
        }
        meter = CpuMeter(groups)
        async with meter.measure():
            sustained = await driver.sustained(options.duration)
        assert meter.report is not None
        sustained_phase = Phase.of(sustained, meter.report, None)
        results["sustained"] = sustained

        paced_phase = None
        if options.paced:
            target = sustained.rate / 2
            meter = CpuMeter(groups)
            async with meter.measure():
                paced = await driver.paced(target, options.duration)
            assert meter.report is not None
            paced_phase = Phase.of(paced, meter.report, target)
            results["paced"] = paced
    finally:
        driver.close()

    statuses = {name: result.statuses() for name, result in results.items()}
    answered = [d for r in results.values() for d, status in r.answers if status == 200]
    missing = chain.missing(answered)
    return ChainRun(
        chain.name,
        round_number,
        sustained_phase,
        paced_phase,
        statuses,
        len(missing),
        replicas=len(chain.service_pids),
    )


async def run_chain(
    name: str,
    database: Database,
    directory: Path,
    factory: DeliveryFactory,
    options: Options,
    round_number: int,
    *,
    replicas: int = 1,
    seed: bool = False,
) -> ChainRun:
    """Start the chain `name` ("bare", or "real" with `replicas` ticket services) once the
    machine is quiet enough, measure it, stop it."""
    others = await wait_for_idle(options.idle_wait)
    label = name if name == "bare" else f"{name}, replicas: {replicas}"
    print(
        f"round {round_number}: {label} chain (others using {others:.2f} cores) …",
        file=sys.stderr,
        flush=True,
    )
    if name == "bare":
        with bare_chain(database) as chain:
            return await measure_chain(chain, database, factory, options, round_number, seed=False)
    with real_chain(database, directory, replicas) as chain:
        return await measure_chain(chain, database, factory, options, round_number, seed=seed)


async def _benchmark(options: Options, database: Database, directory: Path) -> list[ChainRun]:
    factory = DeliveryFactory(options.conversations)
    migrate(database, directory)
    runs: list[ChainRun] = []
    seeded = False
    for round_number in range(1, options.rounds + 1):
        order = ("bare", "real") if round_number % 2 else ("real", "bare")
        for name in order:
            run = await run_chain(
                name,
                database,
                directory,
                factory,
                options,
                round_number,
                replicas=options.replicas,
                seed=name == "real" and not seeded,
            )
            seeded = seeded or name == "real"
            runs.append(run)
            _print_run(run)
    return runs


# Reporting


_COLUMNS = "{:>5} {:<5} {:>7} {:>7} {:>7}  {:>7} {:>7} {:>7}  {:>8} {:>8} {:>8} {:>8}  {:>6}"


def _print_header() -> None:
    print(
        f"{'':12}{'sustained (closed loop)':^23}  {'paced (open loop)':^23}"
        f"  {'CPU µs per delivery':^35}"
    )
    print(
        _COLUMNS.format(
            "round",
            "chain",
            "del/s",
            "p50 ms",
            "p99 ms",
            "del/s",
            "p50 ms",
            "p99 ms",
            *GROUPS,
            "others",
        )
    )


def _print_run(run: ChainRun) -> None:
    s, p = run.sustained, run.paced
    paced = (
        ("-", "-", "-") if p is None else (f"{p.rate:.0f}", f"{p.p50_ms:.1f}", f"{p.p99_ms:.1f}")
    )
    print(
        _COLUMNS.format(
            run.round,
            run.chain,
            f"{s.rate:.0f}",
            f"{s.p50_ms:.1f}",
            f"{s.p99_ms:.1f}",
            *paced,
            *(f"{s.cpu_us[g]:.0f}" for g in GROUPS),
            f"{s.other_cores:.2f}",
        ),
        flush=True,
    )
    if not run.clean:
        print(f"      ! answers {run.statuses}, rows missing {run.missing_rows}", flush=True)


@dataclass
class Summary:
    ratio: float  # median over rounds of real/bare sustained deliveries/s
    ratios: list[float]
    median: dict[str, dict[str, float]]  # chain → figure → median over rounds
    ratio_met: bool
    p99_met: bool
    clean: bool

    @property
    def exit_code(self) -> int:
        if not self.clean:
            return 1
        return 0 if self.ratio_met and self.p99_met else 2


def _figures(run: ChainRun) -> dict[str, float]:
    sustained, paced = run.sustained, run.paced
    assert paced is not None, "the webhook benchmark's summary needs its paced phase"
    return {
        "rate": sustained.rate,
        "p50_ms": sustained.p50_ms,
        "p99_ms": sustained.p99_ms,
        "paced_rate": paced.rate,
        "paced_p50_ms": paced.p50_ms,
        "paced_p99_ms": paced.p99_ms,
        **{f"cpu_us_{group}": sustained.cpu_us[group] for group in GROUPS},
        # Peak resident memory under the sustained load, per chain process.
        **{f"rss_mb_{p}": sustained.peak_rss_mb[p] for p in ("gateway", "service")},
        "other_cores": sustained.other_cores,
    }


def summarize(runs: list[ChainRun]) -> Summary:
    by_round: dict[int, dict[str, ChainRun]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.chain] = run
    ratios = [
        pair["real"].sustained.rate / pair["bare"].sustained.rate
        for pair in by_round.values()
        if pair["bare"].sustained.rate > 0
    ]
    median: dict[str, dict[str, float]] = {}
    for name in ("bare", "real"):
        figures = [_figures(r) for r in runs if r.chain == name]
        median[name] = {key: statistics.median(f[key] for f in figures) for key in figures[0]}
    ratio = statistics.median(ratios) if ratios else 0.0
    return Summary(
        ratio=ratio,
        ratios=ratios,
        median=median,
        ratio_met=ratio >= TARGET_RATIO,
        p99_met=median["real"]["paced_p99_ms"] < TARGET_P99_MS,
        clean=all(r.clean for r in runs),
    )


def _print_summary(summary: Summary) -> None:
    print("\nmedian over rounds:")
    for name, figures in summary.median.items():
        cpu = ", ".join(f"{g} {figures[f'cpu_us_{g}']:.0f}" for g in GROUPS)
        print(
            f"  {name}: {figures['rate']:.0f} deliveries/s, p50/p99 "
            f"{figures['p50_ms']:.1f}/{figures['p99_ms']:.1f} ms; paced at "
            f"{figures['paced_rate']:.0f}/s: p50/p99 {figures['paced_p50_ms']:.1f}/"
            f"{figures['paced_p99_ms']:.1f} ms; CPU µs per delivery: {cpu}"
        )
    each = ", ".join(f"{r:.2f}" for r in summary.ratios)
    verdict = "met" if summary.ratio_met else "MISSED"
    print(f"real/bare sustained: {summary.ratio:.2f} (rounds: {each}); target ≥ 0.5 {verdict}")
    p99 = summary.median["real"]["paced_p99_ms"]
    verdict = "met" if summary.p99_met else "MISSED"
    print(f"real p99 at half its sustained rate: {p99:.1f} ms; target < 100 ms {verdict}")
    print(
        "CPU: utime+stime from /proc per process during the sustained phase; postgres = the "
        "backends of the bench database (by process title, as in pg_stat_activity); others = "
        "cores used by everything else on the machine meanwhile"
    )
    if not summary.clean:
        print("FAILED: some answers were not 200 or some deliveries left no row")


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="bench.webhook_load", description=__doc__)
    parser.add_argument("--duration", type=float, default=15.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="connections")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument(
        "--replicas",
        type=int,
        default=1,
        help="ticket-service processes on the one database behind the real chain's gateway",
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="seconds to wait at most, before each chain, for other load to stop",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="a database on the server to create the bench database on",
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    return Options(
        duration=args.duration,
        concurrency=args.concurrency,
        rounds=args.rounds,
        warmup=args.warmup,
        conversations=args.conversations,
        idle_wait=args.idle_wait,
        postgres_url=args.postgres_url,
        json_path=args.json_path,
        replicas=args.replicas,
    )


def run(options: Options) -> list[ChainRun]:
    """Every round of both chains, on a database of its own (`bench.suite` calls this)."""
    return on_bench_database(
        options.postgres_url, lambda database, directory: _benchmark(options, database, directory)
    )


def on_bench_database(
    postgres_url: str, benchmark: Callable[[Database, Path], Coroutine[Any, Any, T]]
) -> T:
    """Run `benchmark` on a fresh database of the server at `postgres_url`, with a
    temporary directory for the chains' files, on uvloop; the database dropped after."""
    with (
        bench_database(postgres_url) as database,
        tempfile.TemporaryDirectory(prefix="bench-") as directory,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        # The driver runs on uvloop: every µs it saves is left to the chain under test.
        return runner.run(benchmark(database, Path(directory)))


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    _print_header()
    runs = run(options)
    summary = summarize(runs)
    _print_summary(summary)
    if options.json_path is not None:
        document = {
            "options": {**asdict(options), "json_path": str(options.json_path)},
            "runs": [asdict(r) for r in runs],
            "summary": {**asdict(summary), "exit_code": summary.exit_code},
        }
        options.json_path.write_text(json.dumps(document, indent=2, default=str))
    return summary.exit_code


if __name__ == "__main__":
    sys.exit(main())
