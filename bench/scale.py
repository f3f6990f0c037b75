"""Webhook intake throughput with 1, 2, 3 ticket-service replicas behind one gateway.

    .venv/bin/python -m bench.scale [--replicas 1,2,3] [--rounds 3] [--duration 8]
                                    [--json PATH]

The webhook load benchmark's real chain (bench/webhook_load.py), with N processes of
`python -m ticket_service serve` on the one database behind one gateway target listing all
N addresses (round robin, common/grpc/client.py), and its bare chain once per round as the
baseline. Each chain: warm-up, then the sustained phase only (64 senders, closed loop):
deliveries/s and CPU µs per delivery per process group. The order within a round is
reversed every other round, so a drift of the machine's load does not favour one count.

Ratios are per round, then the median over rounds: to the 1-replica chain and to the bare
chain of the same round. At the end, what the database holds per message stored and the
transactions it committed per delivery answered (inputs to the README's PostgreSQL estimate).

Exit code: 0 every answer was 200 and every delivery left its row; 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import psycopg

from bench.chains import Database, migrate
from bench.deliveries import DeliveryFactory
from bench.webhook_load import (
    DEFAULT_POSTGRES,
    GROUPS,
    ChainRun,
    Options,
    on_bench_database,
    run_chain,
)

BARE = 0  # the bare chain's place among the replica counts


@dataclass(frozen=True)
class ScaleOptions:
    replicas: tuple[int, ...]
    rounds: int
    load: Options  # the webhook benchmark's options for every chain (paced phase off)


@dataclass(frozen=True)
class Storage:
    """What the intake left in the database: inputs to the PostgreSQL estimate."""

    bytes_per_message: float  # the ticket service's tables and indexes ÷ messages stored
    commits_per_delivery: float  # the database's commits ÷ deliveries answered, both chains


@dataclass
class Row:
    replicas: int  # 0: the bare chain
    rate: float  # median over rounds, deliveries/s
    to_one: float | None  # median of the per-round ratio to 1 replica
    to_bare: float  # median of the per-round ratio to the bare chain
    cpu_us: dict[str, float]  # median per delivery, per process group
    others: float  # median cores used outside the chain meanwhile

    @property
    def per_replica(self) -> float:
        return self.rate / self.replicas if self.replicas else self.rate


async def _scale(options: ScaleOptions, database: Database, directory: Path) -> list[ChainRun]:
    factory = DeliveryFactory(options.load.conversations)
    migrate(database, directory)
    # Seeded once (each conversation's ticket opened), by the first real chain started.
    seeded = False
    runs: list[ChainRun] = []
    counts = (BARE, *options.replicas)
    for round_number in range(1, options.rounds + 1):
        order = counts if round_number % 2 else tuple(reversed(counts))
        for replicas in order:
            name = "bare" if replicas == BARE else "real"
            run = await run_chain(
                name,
                database,
                directory,
                factory,
                options.load,
                round_number,
                replicas=max(replicas, 1),
                seed=name == "real" and not seeded,
            )
            seeded = seeded or name == "real"
            if run.chain == "bare":
                run.replicas = BARE
            runs.append(run)
            _print_run(run)
    return runs


def storage(database: Database, runs: list[ChainRun]) -> Storage:
    """Bytes per message stored and commits per delivery, from the database's own counts."""
    answered = sum(
        count for run in runs for counts in run.statuses.values() for count in counts.values()
    )
    with psycopg.connect(database.url, autocommit=True, connect_timeout=5) as conn:
        size = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'r' AND n.nspname = 'public' "
            "AND c.relname <> 'bench_bare_deliveries'"
        ).fetchone()
        messages = conn.execute("SELECT count(*) FROM conversation_messages").fetchone()
        commits = conn.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    assert size is not None
    assert messages is not None
    assert commits is not None
    return Storage(
        bytes_per_message=float(size[0]) / max(int(messages[0]), 1),
        commits_per_delivery=int(commits[0]) / max(answered, 1),
    )


def summarize(runs: list[ChainRun]) -> list[Row]:
    by_round: dict[int, dict[int, ChainRun]] = {}
    for run in runs:
        by_round.setdefault(run.round, {})[run.replicas] = run
    rows = []
    for replicas in sorted({run.replicas for run in runs}):
        mine = [r for r in runs if r.replicas == replicas]
        same_round = [by_round[r.round] for r in mine]
        to_one = [
            r.sustained.rate / rd[1].sustained.rate
            for r, rd in zip(mine, same_round, strict=True)
            if 1 in rd
        ]
        to_bare = [
            r.sustained.rate / rd[BARE].sustained.rate
            for r, rd in zip(mine, same_round, strict=True)
            if BARE in rd and rd[BARE].sustained.rate > 0
        ]
        rows.append(
            Row(
                replicas=replicas,
                rate=statistics.median(r.sustained.rate for r in mine),
                to_one=statistics.median(to_one) if to_one and replicas != BARE else None,
                to_bare=statistics.median(to_bare) if to_bare else float("nan"),
                cpu_us={g: statistics.median(r.sustained.cpu_us[g] for r in mine) for g in GROUPS},
                others=statistics.median(r.sustained.other_cores for r in mine),
            )
        )
    return rows


_COLUMNS = "{:<8} {:>8} {:>8} {:>8} {:>8}  {:>8} {:>8} {:>8} {:>8} {:>8}  {:>6}"


def _print_run(run: ChainRun) -> None:
    s = run.sustained
    label = "bare" if run.replicas == BARE else f"{run.replicas} repl."
    cpu = ", ".join(f"{g} {s.cpu_us[g]:.0f}" for g in GROUPS)
    print(
        f"round {run.round} {label}: {s.rate:.0f} deliveries/s, p50/p99 "
        f"{s.p50_ms:.0f}/{s.p99_ms:.0f} ms; CPU µs/delivery: {cpu}; "
        f"others {s.other_cores:.2f} cores",
        flush=True,
    )
    if not run.clean:
        print(f"  ! answers {run.statuses}, rows missing {run.missing_rows}", flush=True)


def _print_table(rows: list[Row], store: Storage) -> None:
    print("\nmedians over rounds (ratios per round, then their median):")
    print(
        _COLUMNS.format(
            "replicas", "del/s", "per repl", "to 1", "to bare", *GROUPS, "total", "others"
        )
    )
    for row in rows:
        total = sum(row.cpu_us[g] for g in GROUPS if g != "driver")
        print(
            _COLUMNS.format(
                "bare" if row.replicas == BARE else row.replicas,
                f"{row.rate:.0f}",
                "" if row.replicas == BARE else f"{row.per_replica:.0f}",
                "" if row.to_one is None else f"{row.to_one:.2f}",
                f"{row.to_bare:.2f}",
                *(f"{row.cpu_us[g]:.0f}" for g in GROUPS),
                f"{total:.0f}",
                f"{row.others:.2f}",
            )
        )
    print(
        "CPU µs per delivery over the sustained phase: service = all replicas together; "
        "total = gateway + service + postgres (not the driver); others = cores used by "
        "everything else on the machine meanwhile"
    )
    print(
        f"database: {store.bytes_per_message:.0f} bytes of the ticket service's tables and "
        f"indexes per message stored; {store.commits_per_delivery:.2f} commits per delivery "
        "answered (both chains, seeding and migration included)"
    )


def _parse(argv: list[str] | None) -> ScaleOptions:
    parser = argparse.ArgumentParser(prog="bench.scale", description=__doc__)
    parser.add_argument(
        "--replicas",
        default="1,2,3",
        help="ticket-service replica counts to compare, comma-separated (1 is always added)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per phase")
    parser.add_argument("--concurrency", type=int, default=64, help="connections")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--conversations", type=int, default=2000)
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=10.0,
        help="seconds to wait at most, before each chain, for other load to stop",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="a database on the server to create the bench database on",
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    replicas = sorted({1, *(int(n) for n in args.replicas.split(","))})
    if replicas[0] < 1:
        parser.error("--replicas: counts are 1 or more")
    load = Options(
        duration=args.duration,
        concurrency=args.concurrency,
        rounds=args.rounds,
        warmup=args.warmup,
        conversations=args.conversations,
        idle_wait=args.idle_wait,
        postgres_url=args.postgres_url,
        json_path=args.json_path,
        paced=False,
    )
    return ScaleOptions(tuple(replicas), args.rounds, load)


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)

    async def measure(database: Database, directory: Path) -> tuple[list[ChainRun], Storage]:
        runs = await _scale(options, database, directory)
        return runs, storage(database, runs)

    runs, store = on_bench_database(options.load.postgres_url, measure)
    rows = summarize(runs)
    _print_table(rows, store)
    clean = all(run.clean for run in runs)
    if not clean:
        print("FAILED: some answers were not 200 or some deliveries left no row")
    if options.load.json_path is not None:
        document = {
            "options": {"replicas": options.replicas, "rounds": options.rounds},
            "runs": [asdict(r) for r in runs],
            "rows": [{**asdict(r), "per_replica": r.per_replica} for r in rows],
            "storage": asdict(store),
            "clean": clean,
        }
        options.load.json_path.write_text(json.dumps(document, indent=2, default=str))
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
