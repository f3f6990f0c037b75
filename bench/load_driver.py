"""A lean HTTP/1.1 load generator: N keep-alive connections on raw asyncio protocols.

httpx costs a few hundred µs of CPU per request, as much as the server under test, and on a
2-core machine the driver's CPU is taken from the chain it measures. This client does only
what a benchmark needs: write a prepared request, read the status line and a
Content-Length body, keep the connection.

Two modes:
- sustained (closed loop): every connection sends its next request as soon as the previous
  answer arrives; gives the throughput the server sustains.
- paced (open loop): requests are due at a fixed rate whether or not earlier ones have
  been answered, and latency counts from the time a request was due, so a server that
  falls behind shows its queueing instead of slowing the driver down with it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar, cast

T = TypeVar("T")

# A request to send: its raw bytes and the caller's tag for it (the delivery it carries).
Request = tuple[bytes, T]
# Called when a request is about to be sent; None when there is nothing left to send.
Source = Callable[[], Request[T] | None]

CONNECT_TIMEOUT = 5.0
NO_STATUS = 0  # recorded for a request whose connection failed before an answer


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of `values` (0 when there are none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def http_request(host: str, path: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    """A POST with a Content-Length body, as raw bytes."""
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines.extend(f"{name}: {value}" for name, value in headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Connection(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiter: asyncio.Future[int] | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError(f"connection lost: {exc!r}"))

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        waiter = self._waiter
        try:
            status = self._parse()
        except ValueError as error:
            # Not an answer this client can read: fail the request, drop the connection.
            self.closed = True
            if self._transport is not None:
                self._transport.close()
            if waiter is not None and not waiter.done():
                waiter.set_exception(error)
            return
        if status is not None and waiter is not None and not waiter.done():
            waiter.set_result(status)

    def _parse(self) -> int | None:
        """The status of a complete response at the buffer's start (consumed), or None."""
        buffer = self._buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            return None
        head = bytes(buffer[:head_end]).lower()
        marker = head.find(b"\r\ncontent-length:")
        if marker < 0:
            # Every answer of both chains has a Content-Length; anything else is a failure.
            raise ValueError(f"response without Content-Length: {head[:200]!r}")
        line_end = head.find(b"\r\n", marker + 2)
        length = int(head[marker + 17 : line_end if line_end >= 0 else len(head)])
        end = head_end + 4 + length
        if len(buffer) < end:
            return None
        status = int(head[9:12])
        if b"\r\nconnection: close" in head:
            self.closed = True
        del buffer[:end]
        return status

    async def send(self, raw: bytes) -> int:
        assert self._transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self._transport.write(raw)
        return await self._waiter

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


async def _connect(host: str, port: int) -> _Connection:
    loop = asyncio.get_running_loop()
    _, protocol = await asyncio.wait_for(
        loop.create_connection(_Connection, host, port), CONNECT_TIMEOUT
    )
    return protocol


@dataclass
class PhaseResult(Generic[T]):
    """What one phase measured. `latencies` are seconds, in completion order; `starts` are
    when each of those requests was sent, or due in a paced phase, by the wall clock
    (time.time()), for comparing with times the server records. Each is read when its
    request goes out: a wall clock that steps during a phase (NTP, the VM's host) then
    skews only the requests in flight at that moment."""

    elapsed: float = 0.0
    latencies: list[float] = field(default_factory=list)
    answers: list[tuple[T, int]] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)

    @property
    def completed(self) -> int:
        return len(self.answers)

    @property
    def rate(self) -> float:
        return self.completed / self.elapsed if self.elapsed > 0 else 0.0

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds (0 when there are none)."""
        return percentile(self.latencies, fraction)

    def statuses(self) -> dict[int, int]:
        counts: dict[int, int] = {}
        for _, status in self.answers:
            counts[status] = counts.get(status, 0) + 1
        return counts


class LoadDriver(Generic[T]):
    """Sends requests from `source` to one HTTP server over `concurrency` connections."""

    def __init__(self, host: str, port: int, source: Source[T], *, concurrency: int) -> None:
        self._host = host
        self._port = port
        self._source = source
        self._concurrency = concurrency
        self._connections: list[_Connection] = []

    async def open(self) -> None:
        self._connections = [
            await _connect(self._host, self._port) for _ in range(self._concurrency)
        ]

    def close(self) -> None:
        for connection in self._connections:
            connection.close()
        self._connections = []

    async def send(self, slot: int, raw: bytes) -> int:
        """Send on connection `slot`, reconnecting first if the server closed it; a
        failure is answered NO_STATUS and the connection replaced for the next request."""
        connection = self._connections[slot]
        try:
            if connection.closed:
                connection = self._connections[slot] = await _connect(self._host, self._port)
            return await connection.send(raw)
        except (OSError, ConnectionError, ValueError, TimeoutError):
            connection.close()
            connection.closed = True
            return NO_STATUS

    async def sustained(self, duration: float | None) -> PhaseResult[T]:
        """Closed loop for `duration` seconds, or until the source runs dry (None)."""
        result: PhaseResult[T] = PhaseResult()
        start = time.perf_counter()
        deadline = start + duration if duration is not None else float("inf")
        last_answer = start

        async def worker(slot: int) -> None:
            nonlocal last_answer
            while time.perf_counter() < deadline:
                request = self._source()
                if request is None:
                    return
                raw, tag = request
                sent_wall, sent = time.time(), time.perf_counter()
                status = await self.send(slot, raw)
                last_answer = time.perf_counter()
                result.latencies.append(last_answer - sent)
                result.answers.append((tag, status))
                result.starts.append(sent_wall)

        await asyncio.gather(*(worker(slot) for slot in range(len(self._connections))))
        result.elapsed = last_answer - start
        return result

    async def paced(self, rate: float, duration: float) -> PhaseResult[T]:
        """Open loop: `rate` requests per second for `duration` seconds. A request waits
        in the driver while every connection is busy; that wait counts as latency."""
        result: PhaseResult[T] = PhaseResult()
        due: asyncio.Queue[float | None] = asyncio.Queue()
        total = max(1, round(rate * duration))
        start = time.perf_counter()
        last_answer = start

        async def schedule() -> None:
            for index in range(total):
                at = start + index / rate
                delay = at - time.perf_counter()
                # Sub-millisecond sleeps cost more than they are worth; behind schedule,
                # the backlog goes out at once (open loop).
                if delay > 0.001:
                    await asyncio.sleep(delay)
                due.put_nowait(at)
            for _ in self._connections:
                due.put_nowait(None)

        async def worker(slot: int) -> None:
            nonlocal last_answer
            while (at := await due.get()) is not None:
                request = self._source()
                if request is None:
                    continue
                raw, tag = request
                due_wall = time.time() - (time.perf_counter() - at)
                status = await self.send(slot, raw)
                last_answer = time.perf_counter()
                result.latencies.append(last_answer - at)
                result.answers.append((tag, status))
                result.starts.append(due_wall)

        await asyncio.gather(schedule(), *(worker(slot) for slot in range(len(self._connections))))
        result.elapsed = last_answer - start
        return result
