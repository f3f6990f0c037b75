"""CreateTicket and GetTicket throughput and p99 on the ticket service, against the bare
gRPC service of the same stack, measured in the same run.

    .venv/bin/python -m bench.rpc_load [--duration 10] [--concurrency 32] [--rounds 2]

On a fresh PostgreSQL database, migrated as a deployment migrates it, both servers run
as processes: `python -m ticket_service serve` and `python -m bench.bare_chain service`
(the services' shared server setup; one INSERT per write, one primary-key SELECT per
read). Per round and server, a driver process (`bench.rpc_driver`) runs a closed loop of
`--concurrency` calls in flight: writes (CreateTicket: token auth, the customer's check,
the tenant's number counter, the ticket row, its audit event) then reads (GetTicket of
the tickets just created). The order of the servers alternates between rounds; each
figure is the median over rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc

from bench.chains import API_TOKEN, Service, bare_service, bench_database, migrate, ticket_service
from tests.processes.support import REPO_ROOT, child_env
from ticketing.ticket.v1 import customer_pb2, ticket_service_pb2, ticket_service_pb2_grpc

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
FIGURES = ("rate", "p50_ms", "p99_ms")


@dataclass(frozen=True)
class Options:
    duration: float = 10.0
    warmup: float = 2.0
    concurrency: int = 32
    rounds: int = 2
    postgres_url: str = DEFAULT_POSTGRES


@dataclass
class Report:
    # server ("ticket" | "bare") → phase ("write" | "read") → figure → median over rounds
    median: dict[str, dict[str, dict[str, float]]]
    rounds: list[dict[str, object]]  # every driver's output, as it printed it
    failures: int  # calls that ended in an error status, all rounds

    def ratio(self, phase: str, figure: str) -> float:
        bare = self.median["bare"][phase][figure]
        return self.median["ticket"][phase][figure] / bare if bare else float("nan")


def _customer(service: Service) -> str:
    """One customer for every ticket the bench creates."""
    with grpc.insecure_channel(service.address) as channel:
        created = ticket_service_pb2_grpc.TicketServiceStub(channel).CreateCustomer(
            ticket_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    display_name="Bench Customer", email="bench@example.com"
                )
            ),
            metadata=(("authorization", f"Bearer {API_TOKEN}"),),
            timeout=10,
        )
    return created.name


def _drive(options: Options, service: str, target: str, *extra: str) -> dict[str, object]:
    command = [sys.executable, "-m", "bench.rpc_driver", service, "--target", target, *extra]
    command += ["--concurrency", str(options.concurrency)]
    command += ["--duration", str(options.duration), "--warmup", str(options.warmup)]
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        command,
        env=child_env({}),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=2 * (options.duration + options.warmup) + 60,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"bench.rpc_driver {service} failed:\n{done.stderr}")
    document: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return document


@contextlib.contextmanager
def _servers(options: Options) -> Iterator[tuple[Service, Service]]:
    with (
        bench_database(options.postgres_url) as database,
        tempfile.TemporaryDirectory(prefix="bench-") as directory,
    ):
        migrate(database, Path(directory))
        with ticket_service(database, Path(directory)) as ticket, bare_service(database) as bare:
            yield ticket, bare


def run(options: Options) -> Report:
    rounds: list[dict[str, object]] = []
    with _servers(options) as (ticket, bare):
        customer = _customer(ticket)
        for number in range(1, options.rounds + 1):
            order = ("ticket", "bare") if number % 2 else ("bare", "ticket")
            measured: dict[str, object] = {"round": number}
            for server in order:
                print(f"rpc round {number}: {server} …", file=sys.stderr, flush=True)
                if server == "ticket":
                    extra = ("--token", API_TOKEN, "--customer", customer)
                    measured[server] = _drive(options, server, ticket.address, *extra)
                else:
                    measured[server] = _drive(options, server, bare.address)
            rounds.append(measured)
    median: dict[str, dict[str, dict[str, float]]] = {}
    failures = 0
    for server in ("ticket", "bare"):
        phases: dict[str, dict[str, float]] = {}
        for phase in ("write", "read"):
            results = [r[server][phase] for r in rounds]  # type: ignore[index]
            phases[phase] = {f: statistics.median(r[f] for r in results) for f in FIGURES}
            failures += sum(sum(r["failures"].values()) for r in results)
        median[server] = phases
    return Report(median, rounds, failures)


def print_report(report: Report) -> None:
    names = {"write": ("CreateTicket", "bare INSERT"), "read": ("GetTicket", "bare PK SELECT")}
    for phase, (real, bare) in names.items():
        t, b = report.median["ticket"][phase], report.median["bare"][phase]
        print(
            f"{real}: {t['rate']:.0f}/s p50/p99 {t['p50_ms']:.1f}/{t['p99_ms']:.1f} ms; "
            f"{bare}: {b['rate']:.0f}/s p50/p99 {b['p50_ms']:.1f}/{b['p99_ms']:.1f} ms; "
            f"rate ratio {report.ratio(phase, 'rate'):.2f}"
        )
    if report.failures:
        print(f"FAILED: {report.failures} calls ended in an error status")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.rpc_load", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per phase")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=32, help="calls in flight")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    options = Options(args.duration, args.warmup, args.concurrency, args.rounds, args.postgres_url)
    report = run(options)
    print_report(report)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(asdict(report), indent=2))
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
