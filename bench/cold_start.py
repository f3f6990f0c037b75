"""Cold start time and idle memory per process, against the bare chain's processes and a
bare Python process, measured in the same run.

    .venv/bin/python -m bench.cold_start [--rounds 3]

Cold start: from spawning `python -m …` to serving: a gRPC service when its health check
answers SERVING, the gateway when /readyz answers 200 (which needs the ticket service),
the bare gateway when /healthz answers 200, the bare Python process
(`python -c` opening a listening socket, importing nothing else) when it accepts a
connection. Readiness is polled every 5 ms, a TCP connect first, so a poll costs the
starting process almost nothing. Idle memory: VmRSS of each process 2 s after all of
its chain serve, with no traffic.

Per round, in alternating order, the bare set (Python socket, bare service, bare
gateway) and the real set (ticket service, gateway, escalation service: each started
once the one before it serves, as a deployment starts them) run on a fresh database,
migrated first; each figure is the median over rounds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import grpc
import httpx

from bench.chains import (
    START_TIMEOUT,
    Database,
    bench_database,
    escalation_env,
    gateway_env,
    migrate,
    running,
    ticket_env,
)
from bench.memory import rss_mb
from tests.processes.support import child_env, free_port, health_status

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
POLL_SECONDS = 0.005
IDLE_SETTLE_SECONDS = 2.0
PROCESSES = ("python", "bare_service", "bare_gateway", "ticket_service", "gateway", "escalation")
_SOCKET_ONLY = (
    "import socket, sys, time; "
    "s = socket.create_server(('127.0.0.1', int(sys.argv[1]))); time.sleep(120)"
)


@dataclass(frozen=True)
class Options:
    rounds: int = 3
    postgres_url: str = DEFAULT_POSTGRES


@dataclass
class Report:
    start_s: dict[str, float]  # process → median seconds from spawn to serving
    idle_rss_mb: dict[str, float]  # process → median VmRSS when idle
    rounds: list[dict[str, dict[str, float]]]


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def _grpc_serving(port: int) -> Callable[[], bool]:
    def probe() -> bool:
        if not _accepts(port):
            return False
        with contextlib.suppress(grpc.RpcError):
            return health_status(f"127.0.0.1:{port}", timeout=1.0) == "SERVING"
        return False

    return probe


def _http_ok(port: int, path: str) -> Callable[[], bool]:
    def probe() -> bool:
        if not _accepts(port):
            return False
        with contextlib.suppress(httpx.TransportError):
            return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1.0).status_code == 200
        return False

    return probe


def _until(what: str, exited: Callable[[], bool], ready: Callable[[], bool]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not ready():
        if exited():
            raise RuntimeError(f"{what} exited before serving")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} not serving within {START_TIMEOUT} s")
        time.sleep(POLL_SECONDS)


class _Starts:
    """Processes started one by one, each timed from spawn to serving, all stopped at the
    end; `pids` for reading their memory meanwhile."""

    def __init__(self, stack: contextlib.ExitStack, directory: Path) -> None:
        self._stack = stack
        self._directory = directory
        self.seconds: dict[str, float] = {}
        self.pids: dict[str, int] = {}

    def module(
        self, name: str, module: str, *args: str, env: dict[str, str], ready: Callable[[], bool]
    ) -> None:
        started = time.perf_counter()
        process = self._stack.enter_context(running(module, *args, env=env, cwd=self._directory))
        _until(name, lambda: process.popen.poll() is not None, ready)
        self.seconds[name] = time.perf_counter() - started
        self.pids[name] = process.pid

    def python_socket(self) -> None:
        port = free_port()
        started = time.perf_counter()
        popen = subprocess.Popen(  # noqa: S603 - our own interpreter
            [sys.executable, "-c", _SOCKET_ONLY, str(port)],
            env=child_env({}),
            stdin=subprocess.DEVNULL,
            process_group=0,
        )
        self._stack.callback(popen.wait, 10)
        self._stack.callback(popen.kill)
        _until("python", lambda: popen.poll() is not None, lambda: _accepts(port))
        self.seconds["python"] = time.perf_counter() - started
        self.pids["python"] = popen.pid

    def idle_rss(self) -> dict[str, float]:
        time.sleep(IDLE_SETTLE_SECONDS)
        return {name: rss_mb(pid) or float("nan") for name, pid in self.pids.items()}


def _bare_set(database: Database, directory: Path) -> dict[str, dict[str, float]]:
    with contextlib.ExitStack() as stack:
        starts = _Starts(stack, directory)
        starts.python_socket()
        port = free_port()
        starts.module(
            "bare_service",
            "bench.bare_chain",
            "service",
            "--database-url",
            database.url,
            "--listen",
            f"127.0.0.1:{port}",
            env={},
            ready=_grpc_serving(port),
        )
        gateway = free_port()
        starts.module(
            "bare_gateway",
            "bench.bare_chain",
            "gateway",
            "--port",
            str(gateway),
            "--target",
            f"127.0.0.1:{port}",
            env={},
            ready=_http_ok(gateway, "/healthz"),
        )
        return {"start_s": starts.seconds, "idle_rss_mb": starts.idle_rss()}


def _real_set(database: Database, directory: Path) -> dict[str, dict[str, float]]:
    with contextlib.ExitStack() as stack:
        starts = _Starts(stack, directory)
        port = free_port()
        env = ticket_env(database, directory, port)
        starts.module(
            "ticket_service", "ticket_service", "serve", env=env, ready=_grpc_serving(port)
        )
        target = f"127.0.0.1:{port}"
        gateway = free_port()
        env = gateway_env(directory, gateway, target)
        starts.module("gateway", "gateway", env=env, ready=_http_ok(gateway, "/readyz"))
        escalation = free_port()
        env = escalation_env(database, directory, escalation, target)
        starts.module("escalation", "escalation_service", env=env, ready=_grpc_serving(escalation))
        return {"start_s": starts.seconds, "idle_rss_mb": starts.idle_rss()}


def run(options: Options) -> Report:
    rounds: list[dict[str, dict[str, float]]] = []
    with (
        bench_database(options.postgres_url) as database,
        tempfile.TemporaryDirectory(prefix="bench-") as name,
    ):
        directory = Path(name)
        migrate(database, directory)
        migrate(database, directory, "escalation_service")
        for number in range(1, options.rounds + 1):
            print(f"cold start round {number} …", file=sys.stderr, flush=True)
            sets = (_bare_set, _real_set) if number % 2 else (_real_set, _bare_set)
            measured: dict[str, dict[str, float]] = {"start_s": {}, "idle_rss_mb": {}}
            for measure in sets:
                for figure, values in measure(database, directory).items():
                    measured[figure] |= values
            rounds.append(measured)

    def median(figure: str) -> dict[str, float]:
        return {p: statistics.median(r[figure][p] for r in rounds) for p in PROCESSES}

    return Report(median("start_s"), median("idle_rss_mb"), rounds)


def print_report(report: Report) -> None:
    print(f"{'process':<16} {'cold start ms':>14} {'idle RSS MiB':>13}")
    for process in PROCESSES:
        start, rss = report.start_s[process] * 1e3, report.idle_rss_mb[process]
        print(f"{process:<16} {start:>14.0f} {rss:>13.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.cold_start", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres-url", default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES)
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    report = run(Options(args.rounds, args.postgres_url))
    print_report(report)
    if args.json_path is not None:
        args.json_path.write_text(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
