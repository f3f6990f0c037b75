"""WatchTicketEvents latency: commit → every watcher, against a bare LISTEN/NOTIFY round trip.

    .venv/bin/python -m bench.stream_latency [--watchers 50] [--rate 10] [--count 100]
                                             [--burst 50] [--json PATH]

The ticket service runs as a process on a fresh PostgreSQL database. `--watchers` streams
(one client process, one channel each) watch the tenant's log from "now". Then:

- paced: a writer adds one note every 1/rate s (open loop), `--count` notes;
- burst: `--burst` notes at once, from as many concurrent calls.

For each event and watcher the latency is the watcher's receive time minus the event's
`create_time` (the server's clock, on this machine): commit-to-client plus the short
stretch of the transaction after the event was stamped. The baseline, in the same run:
a bare `pg_notify` on one raw psycopg connection (autocommit) until another connection
LISTENing receives it, at the same rate: the floor that any NOTIFY-driven push pays.

Exit code: 0 the target (paced p99 < 100 ms) was met; 2 it was missed; 1 a watcher missed
an event, saw one twice or out of order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import psycopg
import uvloop

from bench.bare_stream import PUBLISH, WATCH
from bench.chains import SERVICE_TOKEN, Database, bare_stream, bench_database, ticket_service
from bench.cpu import CpuMeter, fixed, postgres_backends
from bench.load_driver import percentile
from ticketing.ticket.v1 import (
    customer_pb2,
    ticket_pb2,
    ticket_service_pb2,
    ticket_service_pb2_grpc,
)
from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceStub

TARGET_P99_S = 0.100
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
AUTH = (("authorization", f"Bearer {SERVICE_TOKEN}"),)
CHANNEL = "bench_baseline"
POINTS = {"p50": 0.50, "p95": 0.95, "p99": 0.99, "max": 1.0}


@dataclass(frozen=True)
class Options:
    watchers: int
    rate: float
    count: int
    burst: int
    postgres_url: str
    json_path: Path | None


@dataclass
class Watcher:
    """One stream: every cursor it received, and each event's latency in seconds."""

    cursors: list[int] = field(default_factory=list)
    latency: dict[int, float] = field(default_factory=dict)
    opened: asyncio.Event = field(default_factory=asyncio.Event)


async def _watch(
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub, watcher: Watcher, last: int
) -> None:
    """Read until the event with cursor `last`."""
    call = stub.WatchTicketEvents(ticket_service_pb2.WatchTicketEventsRequest(), metadata=AUTH)
    async for message in call:
        received = time.time()
        watcher.opened.set()
        for event in message.events:
            watcher.cursors.append(event.cursor)
            watcher.latency[event.cursor] = received - event.create_time.ToDatetime().timestamp()
        if message.resume_cursor >= last:
            call.cancel()
            return


async def _note(
    stub: ticket_service_pb2_grpc.TicketServiceAsyncStub, ticket: str, index: int
) -> None:
    await stub.AddTicketNote(
        ticket_service_pb2.AddTicketNoteRequest(ticket=ticket, body=f"note {index}"),
        metadata=AUTH,
        timeout=10,
    )


async def _paced(count: int, rate: float, send: Any) -> None:
    """`send(i)` for i in range(count), one every 1/rate s whether or not the last ended."""
    start = time.monotonic()
    tasks = []
    for index in range(count):
        await asyncio.sleep(max(0.0, start + index / rate - time.monotonic()))
        tasks.append(asyncio.create_task(send(index)))
    await asyncio.gather(*tasks)


async def _baseline(url: str, count: int, rate: float) -> list[float]:
    """NOTIFY on one connection until LISTEN on another has it, `count` times."""
    received: dict[str, float] = {}
    async with (
        await psycopg.AsyncConnection.connect(url, autocommit=True) as listener,
        await psycopg.AsyncConnection.connect(url, autocommit=True) as notifier,
    ):
        await listener.execute(f"LISTEN {CHANNEL}")
        sent: dict[str, float] = {}

        async def listen() -> None:
            async for notify in listener.notifies():
                received[notify.payload] = time.perf_counter()
                if len(received) == count:
                    return

        listening = asyncio.create_task(listen())

        async def send(index: int) -> None:
            sent[str(index)] = time.perf_counter()
            await notifier.execute("SELECT pg_notify(%s, %s)", (CHANNEL, str(index)))

        await _paced(count, rate, send)
        await asyncio.wait_for(listening, 10)
    return [received[key] - sent[key] for key in sent]


async def _streams(
    options: Options, address: str, meter: CpuMeter
) -> tuple[list[Watcher], dict[str, range]]:
    """Run the phases; the watchers and which cursors each phase wrote."""
    channels = [grpc.aio.insecure_channel(address) for _ in range(options.watchers)]
    try:
        writer: ticket_service_pb2_grpc.TicketServiceAsyncStub = TicketServiceStub(channels[0])
        ticket = await writer.CreateTicket(
            ticket_service_pb2.CreateTicketRequest(
                ticket=ticket_pb2.Ticket(subject="Watched"),
                customer=customer_pb2.Customer(email="bench@example.com"),
            ),
            metadata=AUTH,
        )
        head = 2  # the customer and the ticket
        last = head + options.count + options.burst
        watchers = [Watcher() for _ in channels]
        reading = [
            asyncio.create_task(_watch(TicketServiceStub(c), w, last))
            for c, w in zip(channels, watchers, strict=True)
        ]
        await asyncio.wait_for(asyncio.gather(*(w.opened.wait() for w in watchers)), 30)
        async with meter.measure():
            await _paced(options.count, options.rate, lambda i: _note(writer, ticket.name, i))
        phases = {"paced": range(head + 1, head + options.count + 1)}
        head += options.count
        await asyncio.sleep(0.5)
        await asyncio.gather(*(_note(writer, ticket.name, i) for i in range(options.burst)))
        phases["burst"] = range(head + 1, head + options.burst + 1)
        await asyncio.wait(reading, timeout=10)
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)
        return watchers, phases
    finally:
        for channel in channels:
            await channel.close()


PAYLOAD_BYTES = 700  # about one serialized TicketEvent with its note


async def _bare_fanout(options: Options, port: int, meter: CpuMeter) -> list[float]:
    """Publish → every watcher on bench.bare_stream, paced as the real notes; seconds."""
    sent: dict[int, float] = {}
    latencies: list[float] = []
    channels = [grpc.aio.insecure_channel(f"127.0.0.1:{port}") for _ in range(options.watchers)]
    try:
        opened = [asyncio.Event() for _ in channels]

        async def watch(channel: grpc.aio.Channel, ready: asyncio.Event) -> None:
            method: grpc.aio.UnaryStreamMultiCallable[bytes, bytes] = channel.unary_stream(WATCH)
            call = method(b"")
            async for payload in call:
                received = time.perf_counter()
                ready.set()
                if payload:
                    latencies.append(received - sent[int(payload[:8])])
                    if len(latencies) == options.count * options.watchers:
                        return

        reading = [asyncio.create_task(watch(c, o)) for c, o in zip(channels, opened, strict=True)]
        await asyncio.wait_for(asyncio.gather(*(o.wait() for o in opened)), 30)
        publish: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channels[0].unary_unary(PUBLISH)

        async def send(index: int) -> None:
            sent[index] = time.perf_counter()
            await publish(f"{index:08d}".encode().ljust(PAYLOAD_BYTES, b"."), timeout=10)

        async with meter.measure():
            await _paced(options.count, options.rate, send)
        await asyncio.wait(reading, timeout=10)
        for task in reading:
            task.cancel()
        await asyncio.gather(*reading, return_exceptions=True)
        return latencies
    finally:
        for channel in channels:
            await channel.close()


def _stats_ms(values: list[float]) -> dict[str, float]:
    return {name: round(percentile(values, q) * 1e3, 2) for name, q in POINTS.items()}


def _report(
    options: Options, watchers: list[Watcher], phases: dict[str, range], base: list[float]
) -> dict[str, Any]:
    expected = [c for phase in phases.values() for c in phase]
    problems = [
        f"watcher {i}: received {len(w.cursors)} events, not cursors {expected[0]}..{expected[-1]}"
        for i, w in enumerate(watchers)
        if w.cursors != expected
    ]
    figures = {
        name: _stats_ms([w.latency[c] for w in watchers for c in cursors if c in w.latency])
        for name, cursors in phases.items()
    }
    baseline = _stats_ms(base)
    return {
        "watchers": options.watchers,
        "rate": options.rate,
        "count": options.count,
        "burst": options.burst,
        "baseline_ms": baseline,
        "latency_ms": figures,
        "ratio_p50": round(figures["paced"]["p50"] / max(baseline["p50"], 1e-3), 1),
        "ratio_p99": round(figures["paced"]["p99"] / max(baseline["p99"], 1e-3), 1),
        "target_p99_ms": TARGET_P99_S * 1e3,
        "problems": problems,
    }


def _print(document: dict[str, Any]) -> None:
    print(
        f"{document['watchers']} watchers, {document['count']} notes at {document['rate']:g}/s, "
        f"then a burst of {document['burst']}"
    )
    rows = [("bare LISTEN/NOTIFY", document["baseline_ms"])]
    rows += [("bare gRPC fan-out", document["bare_grpc_fanout_ms"])]
    rows += [(f"stream, {name}", stats) for name, stats in document["latency_ms"].items()]
    for name, stats in rows:
        cells = "  ".join(f"{key} {value:7.2f}" for key, value in stats.items())
        print(f"  {name:<20} {cells}  ms")
    print(f"  paced / bare NOTIFY: p50 x{document['ratio_p50']}, p99 x{document['ratio_p99']}")
    print(
        f"  paced / bare gRPC fan-out: p50 x{document['ratio_to_bare_grpc_p50']}, "
        f"p99 x{document['ratio_to_bare_grpc_p99']}"
    )
    cpu = ", ".join(f"{name} {us} µs" for name, us in document["cpu_us_per_event"].items())
    print(f"  CPU per paced event: {cpu}; other load {document['other_cores']} cores")
    bare_cpu = ", ".join(f"{n} {us} µs" for n, us in document["bare_grpc_cpu_us_per_event"].items())
    print(f"  CPU per bare fan-out: {bare_cpu}")
    for problem in document["problems"]:
        print(f"  PROBLEM {problem}")


async def _run(options: Options, database: Database, directory: Path) -> dict[str, Any]:
    base = await _baseline(database.url, options.count, options.rate)
    with ticket_service(database, directory, migrate=True) as service:
        meter = CpuMeter(
            {
                "service": fixed(service.pid),
                "clients": fixed(os.getpid()),
                "postgres": postgres_backends(database.name),
            }
        )
        watchers, phases = await _streams(options, service.address, meter)
    with bare_stream() as (server, port):
        bare_meter = CpuMeter({"service": fixed(server.pid), "clients": fixed(os.getpid())})
        bare = await _bare_fanout(options, port, bare_meter)
    assert meter.report is not None
    assert bare_meter.report is not None
    document = _report(options, watchers, phases, base)
    document["bare_grpc_fanout_ms"] = _stats_ms(bare)
    document["bare_grpc_cpu_us_per_event"] = {
        name: round(us) for name, us in bare_meter.report.per_request_us(options.count).items()
    }
    document["ratio_to_bare_grpc_p50"] = round(
        document["latency_ms"]["paced"]["p50"] / max(document["bare_grpc_fanout_ms"]["p50"], 1e-3),
        1,
    )
    document["ratio_to_bare_grpc_p99"] = round(
        document["latency_ms"]["paced"]["p99"] / max(document["bare_grpc_fanout_ms"]["p99"], 1e-3),
        1,
    )
    # Steadier than latency on a shared machine: CPU per paced note (one event fanned
    # out to every watcher), and how many cores everything else was using meanwhile.
    document["cpu_us_per_event"] = {
        name: round(us) for name, us in meter.report.per_request_us(options.count).items()
    }
    document["other_cores"] = round(meter.report.others, 2)
    return document


def _parse(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(prog="bench.stream_latency", description=__doc__)
    parser.add_argument("--watchers", type=int, default=50)
    parser.add_argument("--rate", type=float, default=10.0, help="paced notes per second")
    parser.add_argument("--count", type=int, default=100, help="paced notes")
    parser.add_argument("--burst", type=int, default=50, help="notes sent at once afterwards")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("TEST_DATABASE_URL", DEFAULT_POSTGRES),
        help="a database on the server to create the bench database on",
    )
    parser.add_argument("--json", type=Path, dest="json_path", help="write all figures here")
    args = parser.parse_args(argv)
    return Options(
        args.watchers, args.rate, args.count, args.burst, args.postgres_url, args.json_path
    )


def main(argv: list[str] | None = None) -> int:
    options = _parse(argv)
    with (
        bench_database(options.postgres_url) as database,
        tempfile.TemporaryDirectory(prefix="bench-") as directory,
        asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner,
    ):
        document = runner.run(_run(options, database, Path(directory)))
    _print(document)
    if options.json_path is not None:
        options.json_path.write_text(json.dumps(document, indent=2))
    if document["problems"]:
        return 1
    return 0 if document["latency_ms"]["paced"]["p99"] < TARGET_P99_S * 1e3 else 2


if __name__ == "__main__":
    sys.exit(main())
