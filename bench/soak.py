"""Reliability soak: a webhook storm over 3 tenants while processes and dependencies fail.

    .venv/bin/python -m bench.soak                       # 20,000 deliveries, 30 s outage
    .venv/bin/python -m bench.soak --deliveries 1500 --simulator-down 5 --json /tmp/soak.json

What runs, all real processes: 2 ticket-service replicas, 2 escalation-service replicas,
1 gateway and the Chatwoot simulator (one account per tenant), on a PostgreSQL 15 cluster
the soak initdb's for itself (the shared server is never touched). The storm
(bench/soak_storm.py) is sent as fast as the gateway answers, over `--concurrency`
keep-alive connections, with 5% duplicates, 10% out of order and 1% malformed or badly
signed. While it runs, at fixed shares of the storm:

  15%  the simulator goes down for `--simulator-down` seconds (connections refused)
  35%  ticket-service replica 1 is killed with SIGKILL, and started again
  55%  PostgreSQL restarts (`pg_ctl restart -m fast`, as `pg_ctlcluster 15 main restart`)
  75%  the gateway is killed with SIGKILL, and started again on its port and spool

A delivery whose connection failed (the gateway was down) is sent again, unchanged, as a
proxy in front of the gateway would; Chatwoot itself would lose it (its webhooks are sent
once). Once the storm has drained, bench/soak_checks.py checks the databases and the
simulator against the storm's ledger. Exit code 0: every check passed; 1: one failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import itertools
import json
import signal
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import psycopg
import uvloop

from bench import soak_checks, soak_stack
from bench.deliveries import ConversationIds, signed_headers
from bench.load_driver import NO_STATUS, LoadDriver, http_request
from bench.postgres_cluster import own_cluster
from bench.soak_checks import Answer, Check
from bench.soak_stack import SoakStack, Tenant, Timings, running_stack
from bench.soak_storm import Kind, Ledger, Send, StormShape, ledger, plan
from tests.chatwoot_sim.support import SimulatorControl, run_simulator

RETRY_PAUSE = 0.2  # seconds between attempts while the gateway is unreachable
MAX_RETRIES = 300  # a minute of them
AGENTS = ("Priya Raman", "Sam Lee", "Alex Kim", "Jo Park")
SETTLE_SECONDS = 3.0  # the drained state must hold this long


@dataclass(frozen=True)
class Options:
    deliveries: int
    tenants: int
    conversations: int
    concurrency: int
    simulator_down: float
    restart_after: float
    drain_timeout: float
    json_path: Path | None


@dataclass
class Fault:
    name: str
    at: float  # seconds into the storm
    took: float = 0.0
    error: str = ""  # why injecting it or recovering from it failed


@dataclass
class Result:
    answers: list[Answer]
    faults: list[Fault]
    storm_seconds: float
    drain_seconds: float = 0.0
    backlog: int = 0  # deliveries in the gateway's spool when the storm ended
    checks: list[Check] = field(default_factory=list)
    crashed: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)


# The storm


def _request(stack: SoakStack, send: Send) -> bytes:
    tenant = stack.tenants[send.tenant]
    secret = tenant.webhook_secret
    if send.kind is Kind.BAD_SIGNATURE:
        secret = "not-" + secret
    headers = signed_headers(secret, send.delivery)
    path = f"/webhooks/chatwoot/{tenant.integration}"
    return http_request(f"127.0.0.1:{stack.gateway_port}", path, headers, send.delivery.body)


async def _storm(
    stack: SoakStack, sends: Sequence[Send], concurrency: int, progress: list[int]
) -> list[Answer]:
    driver: LoadDriver[None] = LoadDriver(
        "127.0.0.1", stack.gateway_port, lambda: None, concurrency=concurrency
    )
    await driver.open()
    answers: list[Answer] = []
    next_index = itertools.count()
    start = time.monotonic()

    async def worker(slot: int) -> None:
        while (index := next(next_index)) < len(sends):
            send = sends[index]
            progress[0] = index
            retries = 0
            # Signed at each attempt: a retry minutes later must not be refused as stale.
            while (status := await driver.send(slot, _request(stack, send))) == NO_STATUS:
                retries += 1
                if retries > MAX_RETRIES:
                    break
                await asyncio.sleep(RETRY_PAUSE)
            answers.append(Answer(send, status, time.monotonic() - start, retries))

    try:
        await asyncio.gather(*(worker(slot) for slot in range(concurrency)))
    finally:
        driver.close()
    return answers


async def _faults(
    stack: SoakStack, options: Options, total: int, progress: list[int], start: float
) -> list[Fault]:
    sim = stack.simulator.control

    def restart_later(name: str, start_again: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            stack.kill(name)
            time.sleep(options.restart_after)
            start_again()

        return run

    plan_: list[tuple[float, str, Callable[[], None]]] = [
        (
            0.15,
            f"simulator down {options.simulator_down:g} s",
            lambda: sim.down(options.simulator_down),
        ),
        (
            0.35,
            "ticket-1 SIGKILL + restart",
            restart_later("ticket-1", lambda: stack.start_ticket(0)),
        ),
        (0.55, "postgres restart (-m fast)", stack.cluster.restart),
        (0.75, "gateway SIGKILL + restart", restart_later("gateway", stack.start_gateway)),
    ]

    async def inject(share: float, name: str, action: Callable[[], None]) -> Fault:
        # Each fault waits for its share of the storm on its own: a slow restart does not
        # push the next fault past the end of the storm.
        while progress[0] < share * total:  # noqa: ASYNC110 - the senders only count
            await asyncio.sleep(0.02)
        fault = Fault(name, time.monotonic() - start)
        try:
            await asyncio.to_thread(action)
        except Exception as error:  # a process that does not come back: a failed check
            fault.error = f"{type(error).__name__}: {error}"
        fault.took = time.monotonic() - start - fault.at
        print(f"  fault at {fault.at:6.1f} s: {name} ({fault.took:.1f} s)", file=sys.stderr)
        return fault

    return list(await asyncio.gather(*(inject(*step) for step in plan_)))


# Draining


def _spool_counts(path: Path) -> tuple[int, int]:
    with sqlite3.connect(path, timeout=5) as db:
        pending = db.execute("SELECT count(*) FROM spool").fetchone()[0]
        dead = db.execute("SELECT count(*) FROM dead_letter").fetchone()[0]
    return int(pending), int(dead)


@dataclass(frozen=True)
class Marks:
    """What must stop moving before the checks run."""

    spool: int  # deliveries waiting in the gateway's spool
    messages: int  # stored
    outbox: int  # tasks, of any state
    outbox_pending: int
    lag: int  # events the escalation service has yet to read, over all tenants

    @property
    def quiet(self) -> bool:
        return self.spool == 0 and self.outbox_pending == 0 and self.lag == 0


def _marks(stack: SoakStack) -> Marks:
    pending, _ = _spool_counts(stack.spool_path)
    with psycopg.connect(stack.ticket_database, connect_timeout=5) as conn:
        messages = conn.execute("SELECT count(*) FROM conversation_messages").fetchone()
        outbox = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE state = 'pending') FROM chatwoot_outbox"
        ).fetchone()
        heads: dict[str, int] = dict(
            conn.execute("SELECT tenant_id, last_cursor FROM event_log_heads")
        )
    with psycopg.connect(stack.escalation_database, connect_timeout=5) as conn:
        cursors: dict[str, int] = dict(
            conn.execute("SELECT tenant_id, cursor FROM consumer_cursors")
        )
    assert messages is not None
    assert outbox is not None
    lag = sum(head - cursors.get(tenant, 0) for tenant, head in heads.items())
    return Marks(pending, messages[0], outbox[0], outbox[1], lag)


async def _drain(stack: SoakStack, within: float, result: Result) -> None:
    """Until nothing is pending and the marks held still for SETTLE_SECONDS; records the
    time it took and the spool's backlog on the way. Past `within` seconds the checks run
    anyway (and say what was left)."""
    start = last_shown = time.monotonic()
    last: Marks | None = None
    still_since = start
    while time.monotonic() - start < within:
        try:
            marks: Marks | None = await asyncio.to_thread(_marks, stack)
        except (psycopg.Error, sqlite3.Error):
            marks = None
        if marks is not None and last is None:
            result.backlog = marks.spool
        if marks is not None and time.monotonic() - last_shown >= 10:
            last_shown = time.monotonic()
            print(f"  draining {last_shown - start:5.0f} s: {marks}", file=sys.stderr, flush=True)
        if marks is None or marks != last or not marks.quiet:
            last, still_since = marks, time.monotonic()
        elif time.monotonic() - still_since >= SETTLE_SECONDS:
            break
        await asyncio.sleep(0.5)
    result.drain_seconds = time.monotonic() - start


# Setting up


def _seed(
    sim: SimulatorControl, tenants: Sequence[Tenant], conversations: int
) -> list[list[ConversationIds]]:
    """Agents online, and `conversations` conversations with a contact in each account.
    Before the services start: the escalation service syncs the agents as it starts."""
    sim.seed(
        agents=[
            {"name": name, "email": f"agent{n}@soak.test", "availability_status": "online"}
            for n, name in enumerate(AGENTS)
        ],
        webhooks=False,
    )
    ids = []
    for tenant in tenants:
        seeded = sim.seed(
            conversations=[
                {
                    "account_id": tenant.account_id,
                    "contact": {"name": f"Customer {i}", "email": f"customer{i}@example.com"},
                }
                for i in range(conversations)
            ],
            webhooks=False,
        )
        ids.append(
            [ConversationIds(c["id"], c["meta"]["sender"]["id"]) for c in seeded.conversations]
        )
    return ids


async def _run(stack: SoakStack, options: Options, ids: list[list[ConversationIds]]) -> Result:
    shape = StormShape(options.deliveries, options.tenants, options.conversations)
    sends = plan(shape, ids)
    expected = ledger(sends, options.tenants)
    progress = [0]
    print(
        f"storm: {len(sends)} deliveries, {options.tenants} tenants, "
        f"{options.conversations} conversations each …",
        file=sys.stderr,
        flush=True,
    )
    start = time.monotonic()
    faults_task = asyncio.create_task(_faults(stack, options, len(sends), progress, start))
    answers = await _storm(stack, sends, options.concurrency, progress)
    storm_seconds = time.monotonic() - start
    faults = await faults_task
    result = Result(answers, faults, storm_seconds)
    await _drain(stack, options.drain_timeout, result)
    result.crashed = stack.exited()
    result.checks = await asyncio.to_thread(_checks, stack, answers, expected, result.crashed)
    failed = [f"{fault.name}: {fault.error}" for fault in faults if fault.error]
    result.checks.append(
        Check("every fault injected, recovered", not failed, f"{len(faults)} faults", failed)
    )
    return result


def _checks(
    stack: SoakStack,
    answers: list[Answer],
    expected: Ledger,
    crashed: list[str],
) -> list[Check]:
    tickets, escalation = stack.ticket_database, stack.escalation_database
    pending, dead = _spool_counts(stack.spool_path)
    state = stack.simulator.control.state().raw
    return [
        soak_checks.answers_check(answers),
        soak_checks.no_5xx_check(answers),
        soak_checks.messages_check(tickets, stack.tenants, expected),
        soak_checks.tickets_check(tickets, stack.tenants, expected),
        soak_checks.numbers_check(tickets),
        soak_checks.capacity_check(tickets, escalation),
        soak_checks.outbox_check(tickets),
        soak_checks.simulator_check(tickets, stack.tenants, state),
        soak_checks.spool_check(dead, pending),
        Check("no process died by itself", not crashed, ", ".join(crashed) or "none"),
    ]


# Reporting


def _print(result: Result, options: Options, tenants: Sequence[Tenant]) -> None:
    answered = len(result.answers)
    rate = answered / result.storm_seconds if result.storm_seconds else 0.0
    counts = soak_checks.storm_counts(result.answers)
    print(
        f"Reliability soak: {answered} deliveries to {len(tenants)} tenants in "
        f"{result.storm_seconds:.1f} s ({rate:.0f}/s sustained, {options.concurrency} "
        f"connections); drained in {result.drain_seconds:.1f} s (spool backlog at the "
        f"end of the storm: {result.backlog})"
    )
    print("storm:  " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    for fault in result.faults:
        print(f"fault:  {fault.at:6.1f} s  {fault.name} (took {fault.took:.1f} s)")
    print(f"{'check':<36} {'result':<6}  counts")
    for check in result.checks:
        verdict = "PASS" if check.passed else "FAIL"
        print(f"{check.name:<36} {verdict:<6}  {check.counts}")
    problems = [f"{c.name}: {p}" for c in result.checks for p in c.problems]
    for problem in problems[:10]:
        print(f"  ! {problem}")
    if len(problems) > 10:
        print(f"  ! … and {len(problems) - 10} more")
    print("PASSED" if result.passed else "FAILED")


def _document(result: Result, options: Options) -> dict[str, object]:
    rate = len(result.answers) / result.storm_seconds if result.storm_seconds else 0.0
    return {
        "options": {**asdict(options), "json_path": str(options.json_path)},
        "deliveries": len(result.answers),
        "storm_seconds": result.storm_seconds,
        "rate": rate,
        "drain_seconds": result.drain_seconds,
        "spool_backlog": result.backlog,
        "storm": soak_checks.storm_counts(result.answers),
        "faults": [asdict(f) for f in result.faults],
        "checks": [asdict(c) for c in result.checks],
        "passed": result.passed,
    }


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="bench.soak", description=__doc__)
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=3, choices=range(1, 6))
    parser.add_argument(
        "--conversations", type=int, help="per tenant (default: deliveries / 100, at least 20)"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="sender connections")
    parser.add_argument(
        "--simulator-down", type=float, default=30.0, help="seconds the simulator is down"
    )
    parser.add_argument(
        "--restart-after", type=float, default=2.0, help="seconds a killed process stays down"
    )
    parser.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait for the drain"
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write the report here")
    args = parser.parse_args(argv)
    conversations = args.conversations or max(20, args.deliveries // 100)
    return Options(
        deliveries=args.deliveries,
        tenants=args.tenants,
        conversations=conversations,
        concurrency=args.concurrency,
        simulator_down=args.simulator_down,
        restart_after=args.restart_after,
        drain_timeout=args.drain_timeout,
        json_path=args.json_path,
    )


def _exit_on_sigterm(signum: int, frame: object) -> None:
    # Unwinds every `with` below: the processes are stopped and the cluster deleted.
    raise SystemExit(f"bench.soak: stopped by signal {signum}")


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    timings = Timings()
    tenants = soak_stack.tenants(options.tenants)
    with (
        # The processes print their output when they are closed: only a failed run shows
        # it (on stderr), so the report stays on one screen.
        contextlib.redirect_stdout(io.StringIO()),
        own_cluster() as cluster,
        tempfile.TemporaryDirectory(prefix="soak-") as directory,
        run_simulator(webhook_url=None) as simulator,
    ):
        ids = _seed(simulator.control, tenants, options.conversations)
        with (
            running_stack(Path(directory), cluster, simulator, tenants, timings) as stack,
            asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
        ):
            result = runner.run(_run(stack, options, ids))
    _print(result, options, tenants)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(_document(result, options), indent=2))
    return 0 if result.passed else 1


if __name__ == "__main__":
    sys.exit(main())
