"""The load driver for unary RPCs, run as its own process by `bench.rpc_load`.

    python -m bench.rpc_driver ticket --target HOST:PORT --token TOKEN --customer NAME
    python -m bench.rpc_driver bare --target HOST:PORT

Two phases on one grpc.aio channel, each a warm-up then a closed loop of `--concurrency`
calls in flight for `--duration` s: first a write (CreateTicket, or the bare service's one
INSERT), then a read (GetTicket of tickets the write phase created, or the bare service's
primary-key SELECT of rows it inserted). Prints one JSON line: per phase the calls, the
rate, p50/p99 and the failures by status code.

A process of its own so that its event loop, which sends, serialises and times every call,
is not the loop of the service it measures (on 2 cores it still takes CPU from it).
Requests and responses are raw bytes: the driver spends nothing on protobuf during a
phase; the write phase's responses are parsed afterwards, for the read phase's names.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import grpc

from bench import bare_chain
from bench.load_driver import percentile
from ticketing.ticket.v1 import ticket_pb2, ticket_service_pb2

_TICKETS = "/ticketing.ticket.v1.TicketService"
KEPT_RESPONSES = 2000  # write-phase responses kept for the read phase
CALL_TIMEOUT = 10.0


@dataclass
class PhaseFigures:
    calls: int = 0
    elapsed: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.calls / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class _Phase:
    """One phase's method, its next request, and the responses kept."""

    method: str
    next_request: Callable[[], bytes]
    responses: list[bytes] = field(default_factory=list)


async def _closed_loop(
    call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes],
    phase: _Phase,
    metadata: tuple[tuple[str, str], ...],
    concurrency: int,
    duration: float,
) -> PhaseFigures:
    figures = PhaseFigures()
    latencies: list[float] = []
    start = time.perf_counter()
    deadline = start + duration
    last = start

    async def worker() -> None:
        nonlocal last
        while time.perf_counter() < deadline:
            request = phase.next_request()
            sent = time.perf_counter()
            try:
                response = await call(request, metadata=metadata, timeout=CALL_TIMEOUT)
            except grpc.aio.AioRpcError as error:
                name = error.code().name
                figures.failures[name] = figures.failures.get(name, 0) + 1
                continue
            last = time.perf_counter()
            latencies.append(last - sent)
            if len(phase.responses) < KEPT_RESPONSES:
                phase.responses.append(response)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    figures.calls = len(latencies)
    figures.elapsed = last - start
    figures.p50_ms = percentile(latencies, 0.50) * 1e3
    figures.p99_ms = percentile(latencies, 0.99) * 1e3
    return figures


def _cycle(keys: list[bytes]) -> Callable[[], bytes]:
    if not keys:
        raise RuntimeError("the write phase stored nothing to read back")
    cycled: Iterator[bytes] = itertools.cycle(keys)
    return lambda: next(cycled)


def _ticket_phases(customer: str) -> tuple[_Phase, Callable[[_Phase], _Phase]]:
    create = ticket_service_pb2.CreateTicketRequest(
        ticket=ticket_pb2.Ticket(
            subject="Bench ticket", description="Created by bench.rpc_driver", customer=customer
        )
    ).SerializeToString()

    def read_back(written: _Phase) -> _Phase:
        names = [ticket_pb2.Ticket.FromString(r).name for r in written.responses]
        requests = [ticket_service_pb2.GetTicketRequest(name=n).SerializeToString() for n in names]
        return _Phase(f"{_TICKETS}/GetTicket", _cycle(requests))

    # No request_id: every call creates a ticket, as a client creating new ones does.
    return _Phase(f"{_TICKETS}/CreateTicket", lambda: create), read_back


def _bare_phases() -> tuple[_Phase, Callable[[_Phase], _Phase]]:
    run = uuid.uuid4().hex[:8]
    counter = itertools.count()
    inserted: list[bytes] = []

    def insert() -> bytes:
        key = f"rpc-{run}-{next(counter)}".encode()
        if len(inserted) < KEPT_RESPONSES:
            inserted.append(key)
        return key + b"\n"

    def read_back(_written: _Phase) -> _Phase:
        return _Phase(bare_chain.GET_METHOD, _cycle(inserted))

    return _Phase(bare_chain.METHOD, insert), read_back


async def drive(
    target: str,
    phases: tuple[_Phase, Callable[[_Phase], _Phase]],
    metadata: tuple[tuple[str, str], ...],
    *,
    concurrency: int,
    duration: float,
    warmup: float,
) -> dict[str, PhaseFigures]:
    write, read_after = phases
    results: dict[str, PhaseFigures] = {}
    async with grpc.aio.insecure_channel(target) as channel:
        await asyncio.wait_for(channel.channel_ready(), CALL_TIMEOUT)
        for name in ("write", "read"):
            phase = write if name == "write" else read_after(write)
            # No (de)serializers: raw bytes both ways.
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(phase.method)
            if warmup > 0:
                await _closed_loop(call, phase, metadata, concurrency, warmup)
            results[name] = await _closed_loop(call, phase, metadata, concurrency, duration)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench.rpc_driver", description=__doc__)
    parser.add_argument("service", choices=("ticket", "bare"))
    parser.add_argument("--target", required=True)
    parser.add_argument("--token", default="")
    parser.add_argument("--customer", default="", help="customers/<id> for CreateTicket")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    args = parser.parse_args(argv)
    if args.service == "ticket":
        phases = _ticket_phases(args.customer)
        metadata: tuple[tuple[str, str], ...] = (("authorization", f"Bearer {args.token}"),)
    else:
        phases, metadata = _bare_phases(), ()
    results = asyncio.run(
        drive(
            args.target,
            phases,
            metadata,
            concurrency=args.concurrency,
            duration=args.duration,
            warmup=args.warmup,
        )
    )
    document = {name: {**asdict(f), "rate": f.rate} for name, f in results.items()}
    print(json.dumps(document), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
