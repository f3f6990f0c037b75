"""CPU time per process, from /proc: what each delivery costs each process of a chain.

PERFORMANCE.md's advice: on 2 shared cores RPS swings with whatever else runs, while CPU µs
per request per process is the steadier figure and shows which process limits the chain.

A process group's CPU is the sum over its processes of utime + stime (all threads
included) between the meter's start and its last sample. A group's members may come and
go (PostgreSQL backends of a pool that grows and shrinks): the meter samples while the phase
runs, counts a process born during the phase from zero, and keeps a process that exited at
its last sampled value, so only the CPU between its last sample and its exit is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bench.memory import rss_mb

TICK_SECONDS = 1.0 / os.sysconf("SC_CLK_TCK")
SAMPLE_INTERVAL = 0.1
IDLE_CORES = 0.25  # "idle enough": what other processes may use while we start a chain
_PROC = Path("/proc")

FindPids = Callable[[], Iterable[int]]


def process_ticks(pid: int) -> int | None:
    """utime + stime of a process in clock ticks, or None if it is gone."""
    try:
        stat = (_PROC / str(pid) / "stat").read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name may hold spaces and parentheses; the fields after it do not.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all CPUs since boot, from /proc/stat."""
    first = (_PROC / "stat").read_text().split("\n", 1)[0].split()
    values = [int(v) for v in first[1:9]]  # user nice system idle iowait irq softirq steal
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def fixed(*pids: int) -> FindPids:
    """A group of processes that live as long as the phase."""
    return lambda: pids


def postgres_backends(database: str) -> FindPids:
    """The PostgreSQL backends serving `database`, found by their process title
    ("postgres: 15/main: <user> <database> 127.0.0.1(port) <state>"): the same pids
    pg_stat_activity lists for the database, read without opening another connection to it."""
    marker = f" {database} ".encode()
    not_ours: set[int] = set()

    def find() -> Iterator[int]:
        for entry in os.scandir(_PROC):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            if pid in not_ours:
                continue
            try:
                name = (_PROC / entry.name / "comm").read_bytes()
                title = (_PROC / entry.name / "cmdline").read_bytes()
            except (FileNotFoundError, ProcessLookupError):
                continue
            if name != b"postgres\n":
                # Not a PostgreSQL process, now or later (pids are not reused within a
                # run in practice), so its title is never read again.
                not_ours.add(pid)
            elif title.startswith(b"postgres:") and marker in title:
                # A just-forked backend still has the postmaster's title; it is
                # looked at again on the next sample.
                yield pid

    return find


class _Group:
    def __init__(self, find: FindPids) -> None:
        self._find = find
        self._first: dict[int, int] = {}
        self._last: dict[int, int] = {}
        self.peak_rss_mb = 0.0  # the group's largest summed VmRSS over the samples

    def start(self) -> None:
        self._first.clear()
        self._last.clear()
        self.peak_rss_mb = 0.0
        for pid in self._find():
            ticks = process_ticks(pid)
            if ticks is not None:
                self._first[pid] = self._last[pid] = ticks

    def sample(self) -> None:
        rss = 0.0
        for pid in self._find():
            ticks = process_ticks(pid)
            if ticks is None:
                continue
            self._first.setdefault(pid, 0)  # born during the phase: all of it counts
            self._last[pid] = ticks
            rss += rss_mb(pid) or 0.0
        self.peak_rss_mb = max(self.peak_rss_mb, rss)

    @property
    def ticks(self) -> int:
        return sum(last - self._first[pid] for pid, last in self._last.items())

    @property
    def processes(self) -> int:
        return len(self._last)


@dataclass(frozen=True)
class CpuReport:
    """CPU seconds per group over `wall` seconds, and the machine's busy CPU seconds; the
    peak resident memory of each group as sampled (a sum over a group of PostgreSQL backends
    counts their shared buffers once per backend: read it for single processes only)."""

    wall: float
    seconds: dict[str, float]
    processes: dict[str, int]
    machine_busy: float
    peak_rss_mb: dict[str, float]

    @property
    def others(self) -> float:
        """Cores used by processes outside the measured groups: the run's noise."""
        ours = sum(self.seconds.values())
        return max(0.0, self.machine_busy - ours) / self.wall if self.wall > 0 else 0.0

    def per_request_us(self, requests: int) -> dict[str, float]:
        if requests <= 0:
            return dict.fromkeys(self.seconds, 0.0)
        return {name: s * 1e6 / requests for name, s in self.seconds.items()}


class CpuMeter:
    """Measures named process groups over one phase: `async with meter.measure(): ...`."""

    def __init__(self, groups: dict[str, FindPids]) -> None:
        self._groups = {name: _Group(find) for name, find in groups.items()}
        self.report: CpuReport | None = None

    def _sample(self) -> None:
        for group in self._groups.values():
            group.sample()

    @contextlib.asynccontextmanager
    async def measure(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        for group in self._groups.values():
            group.start()
        busy_before, _ = machine_ticks()
        started = loop.time()

        async def sample_periodically() -> None:
            while True:
                await asyncio.sleep(SAMPLE_INTERVAL)
                self._sample()

        sampler = asyncio.create_task(sample_periodically())
        try:
            yield
        finally:
            sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sampler
            self._sample()
            busy_after, _ = machine_ticks()
            self.report = CpuReport(
                wall=loop.time() - started,
                seconds={n: g.ticks * TICK_SECONDS for n, g in self._groups.items()},
                processes={n: g.processes for n, g in self._groups.items()},
                machine_busy=(busy_after - busy_before) * TICK_SECONDS,
                peak_rss_mb={n: g.peak_rss_mb for n, g in self._groups.items()},
            )


async def wait_for_idle(at_most: float) -> float:
    """Wait up to `at_most` seconds for the rest of the machine to go quiet (other
    engineers' tests and builds share it); the cores they used in the last second."""
    deadline = time.monotonic() + at_most
    while True:
        busy, _ = machine_ticks()
        await asyncio.sleep(1.0)
        others = (machine_ticks()[0] - busy) * TICK_SECONDS
        if others < IDLE_CORES or time.monotonic() >= deadline:
            return others
