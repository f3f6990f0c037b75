"""ListTickets latency as a tenant's tickets grow: the first page and a deep page, at each
size, against GetTicket (a single-row indexed lookup through the same service) measured
in the same run.

    .venv/bin/python -m bench.list_tickets [--sizes 10000,1000000] [--samples 300]

On a fresh PostgreSQL database migrated with `python -m ticket_service migrate`, the
tenant's tickets are bulk-loaded with one `INSERT … SELECT generate_series` per size
(rising; each size tops the table up), with one customer, statuses and priorities
mixed, one second apart in create_time; then ANALYZE. The real ticket service
(`python -m ticket_service serve`) answers; this process calls it one call at a time
(latency, not throughput), interleaving GetTicket of a random ticket, ListTickets'
first page (50 tickets, newest first) and a deep page: the page after the ticket halfway
down the list, asked for with the page_token the service issues for that position.
Keyset pagination should keep both flat: the figure is p50 at the largest size ÷ at the
smallest (≈ 1.0 when flat).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import psycopg

from bench.chains import API_TOKEN, TENANT, Database, bench_database, migrate, ticket_service
from bench.load_driver import percentile
from common.pagination import PageToken
from ticket_service.domain.numbering import TicketNumber
from ticketing.ticket.v1 import ticket_service_pb2, ticket_service_pb2_grpc

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
PAGE_SIZE = 50
WARMUP = 20  # calls of each kind before the measured ones, per size
CUSTOMER_ID = "00000000-0000-4000-8000-00000000b000"
CALLS = ("get", "first_page", "deep_page")

_CUSTOMER = """
INSERT INTO customers (tenant_id, id, display_name, email, version, create_time, update_time)
VALUES (%(tenant)s, %(customer)s, 'Bench Customer', 'bench@example.com', 1, %(at)s, %(at)s)
"""
# Ticket n is created at origin + n s, so a larger n is newer and comes first in the list.
_TICKETS = """
INSERT INTO tickets (
    tenant_id, id, number_year, number_sequence, subject, description, status, priority,
    customer_id, assignee_id, labels, version, create_time, update_time, resolve_time, snoozed
)
SELECT %(tenant)s, gen_random_uuid()::text, EXTRACT(YEAR FROM t.at)::int, n,
       'Bench ticket ' || n, 'Loaded by bench.list_tickets',
       (ARRAY['open', 'in_progress', 'waiting_on_customer', 'resolved'])[1 + n %% 4],
       (ARRAY['low', 'medium', 'high', 'urgent'])[1 + (n / 4) %% 4],
       %(customer)s, '', '[]'::json, 1, t.at, t.at,
       CASE WHEN n %% 4 = 3 THEN t.at END, false
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS n,
     LATERAL (SELECT %(origin)s::timestamptz + n * interval '1 second' AS at) AS t
"""
# So that a ticket created later through the API gets the next number, as it would.
_COUNTERS = """
INSERT INTO ticket_counters (tenant_id, year, last_value)
SELECT tenant_id, number_year, max(number_sequence) FROM tickets
WHERE tenant_id = %(tenant)s GROUP BY tenant_id, number_year
ON CONFLICT (tenant_id, year) DO UPDATE SET last_value = excluded.last_value
"""
_ROW_AT = """
SELECT create_time, id, number_sequence FROM tickets
WHERE tenant_id = %(tenant)s AND delete_time IS NULL
ORDER BY create_time DESC, id DESC OFFSET %(offset)s LIMIT 1
"""


@dataclass(frozen=True)
class Options:
    sizes: tuple[int, ...] = (10_000, 1_000_000)
    samples: int = 300  # measured calls of each kind per size
    postgres_url: str = DEFAULT_POSTGRES


@dataclass
class Latency:
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        return cls(percentile(seconds, 0.50) * 1e3, percentile(seconds, 0.99) * 1e3)


@dataclass
class SizeRun:
    tickets: int
    load_s: float  # the INSERT … SELECT and ANALYZE
    latency: dict[str, Latency]  # "get" | "first_page" | "deep_page"
    deep_offset: int  # tickets above the deep page

    def ratio(self, call: str, figure: str = "p50_ms") -> float:
        base = getattr(self.latency["get"], figure)
        return float(getattr(self.latency[call], figure) / base) if base else float("nan")


@dataclass
class Report:
    runs: list[SizeRun]

    def growth(self, call: str, figure: str = "p50_ms") -> float:
        """Latency at the largest size ÷ at the smallest: ≈ 1.0 when flat."""
        small, large = self.runs[0].latency[call], self.runs[-1].latency[call]
        base = getattr(small, figure)
        return float(getattr(large, figure) / base) if base else float("nan")


class _Tickets:
    """The tenant's tickets, loaded directly with SQL, valid for the service's read path."""

    def __init__(self, database: Database, largest: int) -> None:
        self._conn = psycopg.connect(database.url, autocommit=True, connect_timeout=5)
        self.count = 0
        now = datetime.now(UTC).replace(microsecond=0)
        self.origin = now - timedelta(seconds=largest + 60)
        params = {"tenant": TENANT, "customer": CUSTOMER_ID, "at": self.origin}
        self._conn.execute(_CUSTOMER, params)

    def close(self) -> None:
        self._conn.close()

    def top_up(self, size: int) -> float:
        started = time.perf_counter()
        params = {
            "tenant": TENANT,
            "customer": CUSTOMER_ID,
            "origin": self.origin,
            "first": self.count + 1,
            "last": size,
        }
        self._conn.execute(_TICKETS, params)
        self._conn.execute(_COUNTERS, {"tenant": TENANT})
        self._conn.execute("ANALYZE tickets")
        self.count = size
        return time.perf_counter() - started

    def name(self, n: int) -> str:
        year = (self.origin + timedelta(seconds=n)).year
        return TicketNumber(year, n).resource_name

    def row_at(self, offset: int) -> tuple[datetime, str, int]:
        """(create_time, id, number) of the ticket `offset` rows down the list."""
        row = self._conn.execute(_ROW_AT, {"tenant": TENANT, "offset": offset}).fetchone()
        assert row is not None
        return row[0], row[1], row[2]


def _token_at(issued: str, create_time: datetime, ticket_id: str) -> str:
    """The page token for the page after the ticket (create_time, ticket_id): a token the
    service issued, moved to that position (the position is the token's only content
    besides the filters' fingerprint, which stays the service's own)."""
    padded = issued + "=" * (-len(issued) % 4)
    _, _, filters = json.loads(base64.urlsafe_b64decode(padded))
    return PageToken(create_time, ticket_id, str(filters)).encode()


def _measure(
    stub: ticket_service_pb2_grpc.TicketServiceStub,
    tickets: _Tickets,
    samples: int,
) -> tuple[dict[str, Latency], int]:
    metadata = (("authorization", f"Bearer {API_TOKEN}"),)
    first = ticket_service_pb2.ListTicketsRequest(page_size=PAGE_SIZE)
    page = stub.ListTickets(first, metadata=metadata, timeout=30)
    if len(page.tickets) != PAGE_SIZE or page.tickets[0].name != tickets.name(tickets.count):
        raise RuntimeError(f"the first page does not start at {tickets.name(tickets.count)}")
    offset = tickets.count // 2
    create_time, ticket_id, number = tickets.row_at(offset)
    deep = ticket_service_pb2.ListTicketsRequest(
        page_size=PAGE_SIZE, page_token=_token_at(page.next_page_token, create_time, ticket_id)
    )
    deep_page = stub.ListTickets(deep, metadata=metadata, timeout=30)
    expected = tickets.name(number - 1)
    if not deep_page.tickets or deep_page.tickets[0].name != expected:
        raise RuntimeError(f"the deep page does not start at {expected}")

    def get() -> None:
        name = tickets.name(random.randint(1, tickets.count))  # noqa: S311 - not crypto
        stub.GetTicket(ticket_service_pb2.GetTicketRequest(name=name), metadata=metadata)

    calls: dict[str, Callable[[], object]] = {
        "get": get,
        "first_page": lambda: stub.ListTickets(first, metadata=metadata, timeout=30),
        "deep_page": lambda: stub.ListTickets(deep, metadata=metadata, timeout=30),
    }
    seconds: dict[str, list[float]] = {name: [] for name in calls}
    for index in range(WARMUP + samples):
        for name, call in calls.items():  # interleaved, so drift hits all three alike
            started = time.perf_counter()
            call()
            if index >= WARMUP:
                seconds[name].append(time.perf_counter() - started)
    return {name: Latency.of(values) for name, values in seconds.items()}, offset


def run(options: Options) -> Report:
    runs: list[SizeRun] = []
    with (
        bench_database(options.postgres_url) as database,
        tempfile.TemporaryDirectory(prefix="bench-") as directory,
    ):
        migrate(database, Path(directory))
        tickets = _Tickets(database, max(options.sizes))
        try:
            with (
                ticket_service(database, Path(directory)) as service,
                grpc.insecure_channel(service.address) as channel,
            ):
                stub = ticket_service_pb2_grpc.TicketServiceStub(channel)
                for size in sorted(options.sizes):
                    print(f"list: loading {size:,} tickets …", file=sys.stderr, flush=True)
                    load_s = tickets.top_up(size)
                    latency, offset = _measure(stub, tickets, options.samples)
                    runs.append(SizeRun(size, load_s, latency, offset))
        finally:
            tickets.close()
    return Report(runs)


def print_report(report: Report) -> None:
    print(f"{'tickets':>10} {'load s':>7}  " + "  ".join(f"{c + ' p50/p99 ms':>24}" for c in CALLS))
    for run in report.runs:
        cells = (f"{run.latency[c].p50_ms:>10.2f} / {run.latency[c].p99_ms:>9.2f}" for c in CALLS)
        print(f"{run.tickets:>10,} {run.load_s:>7.1f}  " + "  ".join(f"{c:>24}" for c in cells))
    for call in ("first_page", "deep_page"):
        print(
            f"{call}: p50 largest/smallest {report.growth(call):.2f}, "
            f"p99 {report.growth(call, 'p99_ms'):.2f}; p50 / GetTicket p50: "
            + ", ".join(f"{r.ratio(call):.2f} at {r.tickets:,}" for r in report.runs)
        )
    rates = [r.tickets / r.load_s for r in report.runs if r.load_s > 0]
    print(f"load: {statistics.median(rates):,.0f} tickets/s (median over sizes)")


def parse_sizes(text: str) -> tuple[int, ...]:
    sizes = tuple(sorted({int(part.replace("_", "")) for part in text.split(",") if part}))
    if len(sizes) < 2 or sizes[0] <= PAGE_SIZE:
        raise argparse.ArgumentTypeError(f"at least two sizes above {PAGE_SIZE}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.list_tickets", description=__doc__)
    parser.add_argument("--sizes", type=parse_sizes, default=(10_000, 1_000_000), help="tickets")
    parser.add_argument("--samples", type=int, default=300, help="calls of each kind per size")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    report = run(Options(args.sizes, args.samples, args.postgres_url))
    print_report(report)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
