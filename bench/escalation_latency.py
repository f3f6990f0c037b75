"""Escalation decision latency: webhook → escalation decided, against webhook → ticket written.

    .venv/bin/python -m bench.escalation_latency [--rate 10] [--duration 30 | --count N]
                                                 [--json PATH]

The gateway, the ticket service and the escalation service run as processes on a fresh
PostgreSQL database. Every conversation first gets one calm customer message (untimed: it
opens the ticket, and must escalate nothing). Then one angry message per conversation is
sent, signed as Chatwoot signs it, at a fixed rate whether or not earlier ones were
answered (open loop). For each angry message:

- written: when the ticket service recorded its MESSAGE_ADDED event, minus when the
  webhook was due to be sent: the bare baseline, what intake alone takes;
- decided: when the escalation service recorded the escalation, minus the same send time;
- added: decided - written, what the escalation pipeline adds (the event log poll, the
  decision, its transaction).

Exit code: 0 the target (decided p99 < 1 s) was met; 2 it was missed; 1 some angry message
got no escalation or more than one, a calm one got one, or a webhook was not answered 200.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import uvloop

from bench import escalation_records
from bench.chains import Chain, Database, bench_database, escalation_chain
from bench.cpu import CpuMeter, fixed, postgres_backends, wait_for_idle
from bench.deliveries import Delivery, DeliveryFactory
from bench.load_driver import LoadDriver, PhaseResult, percentile
from bench.wall_clock import WallClockWatch

TARGET_P99_S = 1.0
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
SEEDING_CONCURRENCY = 8
CALM = "Hi, I have a question about my order {order}."
# Each names a critical reason and reads strongly negative, so each must escalate.
ANGRY = (
    "This is the third time I write and nobody answers! You charged me twice for order "
    "{order}. This is unacceptable. I want a refund now or I will file a chargeback.",
    "Order {order} arrived broken and your support is useless. I am furious. I want my "
    "money back today.",
    "Worst service ever. Order {order} never came, nobody replies to me, and now I am "
    "talking to my lawyer.",
    "You are terrible. I have waited two weeks for order {order}. Cancel my account and "
    "give me a full refund.",
)
FIGURES = ("answered", "written", "decided", "added")


@dataclass(frozen=True)
class Options:
    rate: float
    count: int
    concurrency: int
    poll_seconds: float | None
    decision_timeout: float
    idle_wait: float
    postgres_url: str
    json_path: Path | None


@dataclass
class Sample:
    """One angry message's latencies in seconds; None where its record is missing."""

    conversation_id: int
    status: int
    answered: float
    written: float | None
    decided: float | None
    escalations: int
    clock_stepped: bool = False  # between the send and the last record: set aside

    @property
    def added(self) -> float | None:
        if self.written is None or self.decided is None:
            return None
        return self.decided - self.written


@dataclass
class Report:
    samples: list[Sample]
    seed_escalations: int  # escalations right after the calm messages: must be 0
    sent_rate: float
    cpu_us: dict[str, float]  # per angry message, per process group
    other_cores: float
    clock: WallClockWatch
    peak_rss_mb: dict[str, float]  # per process group, while the angry messages were sent

    def values(self, figure: str) -> list[float]:
        found = (getattr(s, figure) for s in self.samples if not s.clock_stepped)
        return [v for v in found if v is not None]

    def stats_ms(self, figure: str) -> dict[str, float]:
        values = self.values(figure)
        points = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "max": 1.0}
        return {name: percentile(values, q) * 1e3 for name, q in points.items()}

    @property
    def problems(self) -> list[str]:
        found = []
        if self.seed_escalations:
            found.append(f"{self.seed_escalations} calm messages were escalated")
        for s in self.samples:
            if s.status != 200:
                found.append(f"conversation {s.conversation_id}: answered {s.status}")
            if s.written is None:
                found.append(f"conversation {s.conversation_id}: no message event")
            if s.escalations != 1:
                found.append(f"conversation {s.conversation_id}: {s.escalations} escalations")
        return found

    @property
    def target_met(self) -> bool:
        return self.stats_ms("decided")["p99"] < TARGET_P99_S * 1e3

    @property
    def exit_code(self) -> int:
        if self.problems:
            return 1
        return 0 if self.target_met else 2


async def _until(what: str, done: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not await asyncio.to_thread(done):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {within:g} s")
        await asyncio.sleep(0.2)


Phase = Callable[[LoadDriver[Delivery]], Awaitable[PhaseResult[Delivery]]]


async def _drive(
    chain: Chain, deliveries: Iterable[Delivery], phase: Phase, concurrency: int
) -> PhaseResult[Delivery]:
    pending = iter(deliveries)
    source = chain.source(lambda: next(pending, None))
    driver = LoadDriver("127.0.0.1", chain.port, source, concurrency=concurrency)
    await driver.open()
    try:
        return await phase(driver)
    finally:
        driver.close()


async def _seed(chain: Chain, database: Database, factory: DeliveryFactory) -> int:
    """One calm message per conversation, then until the escalation service has read them
    all, so the measured messages do not queue behind them; the escalations they made."""
    calm = (factory.message(i, CALM) for i in range(factory.conversations))
    seeded = await _drive(chain, calm, lambda d: d.sustained(None), SEEDING_CONCURRENCY)
    # 202: the gateway spooled it (the ticket service took over 2 s, on a loaded machine)
    # and its forwarder delivers it soon; the seeding is untimed, so it is waited for.
    if set(seeded.statuses()) - {200, 202}:
        raise RuntimeError(f"seeding answered {seeded.statuses()}")
    sent = [delivery for delivery, _ in seeded.answers]
    await _until("the spooled calm messages", lambda: not chain.missing(sent), 60.0)
    await _until(
        "the escalation service reading the calm messages",
        lambda: escalation_records.consumer_lag(database) <= 0,
        60.0,
    )
    return escalation_records.escalation_count(database)


async def _measure(chain: Chain, database: Database, options: Options) -> Report:
    factory = DeliveryFactory(options.count)
    seed_escalations = await _seed(chain, database, factory)
    others = await wait_for_idle(options.idle_wait)
    print(
        f"sending {options.count} angry messages at {options.rate:g}/s "
        f"(others using {others:.2f} cores) …",
        file=sys.stderr,
        flush=True,
    )
    # Made as they are sent, so each carries Chatwoot's times of that moment.
    angry = (factory.message(i, ANGRY[i % len(ANGRY)]) for i in range(options.count))
    groups = {name: fixed(pid) for name, pid in chain.pids.items()}
    meter = CpuMeter(
        groups | {"postgres": postgres_backends(database.name), "driver": fixed(os.getpid())}
    )
    duration = options.count / options.rate
    clock = WallClockWatch()
    async with clock.watch():
        async with meter.measure():
            paced = await _drive(
                chain, angry, lambda d: d.paced(options.rate, duration), options.concurrency
            )
        expected = seed_escalations + options.count
        try:
            await _until(
                "an escalation for every angry message",
                lambda: escalation_records.escalation_count(database) >= expected,
                options.decision_timeout,
            )
        except TimeoutError as missing:
            print(f"! {missing}", file=sys.stderr)
    records = escalation_records.read(database)
    samples = [
        _sample(delivery, status, start, latency, records, clock)
        for (delivery, status), start, latency in zip(
            paced.answers, paced.starts, paced.latencies, strict=True
        )
    ]
    assert meter.report is not None
    return Report(
        samples,
        seed_escalations,
        paced.rate,
        meter.report.per_request_us(len(samples)),
        meter.report.others,
        clock,
        meter.report.peak_rss_mb,
    )


def _sample(
    delivery: Delivery,
    status: int,
    sent: float,
    answered: float,
    records: escalation_records.Records,
    clock: WallClockWatch,
) -> Sample:
    event = records.message_events.get(delivery.message_id)
    decisions = records.escalations.get(event.ticket, []) if event else []
    last = max([sent + answered, *decisions, *([event.create_time] if event else [])])
    return Sample(
        conversation_id=delivery.conversation_id,
        status=status,
        answered=answered,
        written=event.create_time - sent if event else None,
        decided=decisions[0] - sent if len(decisions) == 1 else None,
        escalations=len(decisions),
        clock_stepped=clock.steps_between(sent, last),
    )


# Reporting


def _print(report: Report, options: Options) -> None:
    poll = "default" if options.poll_seconds is None else f"{options.poll_seconds:g} s"
    print(
        f"{len(report.samples)} angry messages at {report.sent_rate:.1f}/s "
        f"(escalation poll interval: {poll}), others using {report.other_cores:.2f} cores"
    )
    print(f"{'ms after the webhook was due':<40} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}")
    labels = {
        "answered": "gateway answered 200",
        "written": "ticket written (baseline)",
        "decided": "escalation decided",
        "added": "added by escalation (decided - written)",
    }
    for figure, label in labels.items():
        stats = report.stats_ms(figure)
        print(f"{label:<40} " + " ".join(f"{v:>8.1f}" for v in stats.values()))
    written, decided = report.stats_ms("written"), report.stats_ms("decided")
    ratios = (f"{decided[k] / written[k]:>8.1f}" if written[k] else f"{'-':>8}" for k in decided)
    print(f"{'decided / written':<40} " + " ".join(ratios))
    clock, aside = report.clock, sum(s.clock_stepped for s in report.samples)
    steps = ", ".join(f"{size * 1e3:+.0f} ms" for _, size in clock.steps) or "none"
    print(
        f"wall clock against monotonic: steps {steps}; {clock.drift * 1e3:+.0f} ms over "
        f"{clock.elapsed:.0f} s; {aside} messages straddling a step set aside"
    )
    cpu = ", ".join(f"{name} {us:.0f}" for name, us in report.cpu_us.items())
    print(f"CPU µs per angry message: {cpu}")
    verdict = "met" if report.target_met else "MISSED"
    print(f"decided p99 {decided['p99']:.0f} ms; target < {TARGET_P99_S * 1e3:.0f} ms {verdict}")
    for problem in report.problems[:20]:
        print(f"FAILED: {problem}")


def _document(report: Report, options: Options) -> dict[str, object]:
    written, decided = report.stats_ms("written"), report.stats_ms("decided")
    return {
        "options": {**asdict(options), "json_path": str(options.json_path)},
        "messages": len(report.samples),
        "sent_rate": report.sent_rate,
        "ms": {figure: report.stats_ms(figure) for figure in FIGURES},
        "decided_over_written": {
            k: decided[k] / written[k] if written[k] else None for k in decided
        },
        "cpu_us_per_message": report.cpu_us,
        "peak_rss_mb": report.peak_rss_mb,
        "other_cores": report.other_cores,
        "clock": asdict(report.clock),
        "seed_escalations": report.seed_escalations,
        "problems": report.problems,
        "target_met": report.target_met,
        "exit_code": report.exit_code,
        "samples": [asdict(s) for s in report.samples],
    }


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="bench.escalation_latency", description=__doc__)
    parser.add_argument("--rate", type=float, default=10.0, help="angry messages per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending")
    parser.add_argument("--count", type=int, help="angry messages (instead of --duration)")
    parser.add_argument("--concurrency", type=int, default=16, help="connections")
    parser.add_argument(
        "--poll-seconds",
        type=float,
        help="ESCALATION_POLL_SECONDS for the escalation service (default: its own)",
    )
    parser.add_argument(
        "--decision-timeout",
        type=float,
        default=30.0,
        help="seconds to wait after the last message for the missing decisions",
    )
    parser.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="seconds to wait at most, before sending, for other load to stop",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="a database on the server to create the bench database on",
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    count = args.count if args.count is not None else max(1, round(args.rate * args.duration))
    return Options(
        rate=args.rate,
        count=count,
        concurrency=args.concurrency,
        poll_seconds=args.poll_seconds,
        decision_timeout=args.decision_timeout,
        idle_wait=args.idle_wait,
        postgres_url=args.postgres_url,
        json_path=args.json_path,
    )


async def _run(options: Options, database: Database, directory: Path) -> Report:
    async with escalation_chain(database, directory, poll_seconds=options.poll_seconds) as chain:
        return await _measure(chain, database, options)


def run(options: Options) -> Report:
    """One run on a database of its own (`bench.suite` calls this)."""
    with (
        bench_database(options.postgres_url) as database,
        tempfile.TemporaryDirectory(prefix="bench-") as directory,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        return runner.run(_run(options, database, Path(directory)))


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    report = run(options)
    _print(report, options)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(_document(report, options), indent=2))
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
