"""The durable spool: deliveries the ticket service could not take yet, in a SQLite file.

Chatwoot never retries account webhooks, so a delivery we answered 202 for exists only
here until the service takes it. Every write is committed with `synchronous=FULL` before
the caller hears back, so an answered delivery survives a crash or SIGKILL; the file is
the whole state, and reopening it rebuilds the in-memory counts.

Deliveries the service refuses for good, on arrival or later, are kept in `dead_letter` for
an operator: nothing is dropped silently.

sqlite3 blocks, so every call runs on one worker thread that owns the connection.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from ticketing.ticket.v1 import ticket_service_pb2 as api

T = TypeVar("T")
Request = api.ApplyChatwootDeliveryRequest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    integration TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    request BLOB NOT NULL,          -- a serialized ApplyChatwootDeliveryRequest
    received_at REAL NOT NULL,      -- Unix seconds
    attempts INTEGER NOT NULL,
    next_attempt_at REAL NOT NULL,  -- Unix seconds
    last_error TEXT NOT NULL,
    trace_parent TEXT NOT NULL DEFAULT ''  -- W3C traceparent of the webhook's request
);
CREATE INDEX IF NOT EXISTS spool_by_ordering_key ON spool (ordering_key, seq);
CREATE TABLE IF NOT EXISTS dead_letter (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    spool_seq INTEGER,              -- its seq in the spool; NULL if refused on arrival
    integration TEXT NOT NULL,
    ordering_key TEXT NOT NULL,
    request BLOB NOT NULL,
    received_at REAL NOT NULL,
    attempts INTEGER NOT NULL,
    failed_at REAL NOT NULL,
    error TEXT NOT NULL
);
"""
_COLUMNS = (
    "seq, integration, ordering_key, request, received_at, attempts, next_attempt_at,"
    " last_error, trace_parent"
)
# Spool files written before tracing lack the column; opening one adds it.
_ADD_TRACE_PARENT = "ALTER TABLE spool ADD COLUMN trace_parent TEXT NOT NULL DEFAULT ''"
# The oldest delivery of each ordering key: only it may be forwarded.
_HEADS = "SELECT MIN(seq) FROM spool GROUP BY ordering_key"

_Row = tuple[int, str, str, bytes, float, int, float, str, str]


class SpoolUnavailable(Exception):
    """The spool file cannot be opened or written; the message says why."""


@dataclass(frozen=True)
class SpooledDelivery:
    seq: int
    integration: str
    ordering_key: str
    request: api.ApplyChatwootDeliveryRequest
    received_at: float
    attempts: int
    next_attempt_at: float
    last_error: str
    # The webhook request's traceparent: forwarding continues its trace ("" untraced).
    trace_parent: str = ""

    @classmethod
    def from_row(cls, row: _Row) -> SpooledDelivery:
        seq, integration, key, request, received_at, attempts, next_at, error, trace = row
        return cls(
            seq,
            integration,
            key,
            api.ApplyChatwootDeliveryRequest.FromString(request),
            received_at,
            attempts,
            next_at,
            error,
            trace,
        )


@dataclass(frozen=True)
class DeadLetter:
    id: int
    spool_seq: int | None
    integration: str
    ordering_key: str
    request: api.ApplyChatwootDeliveryRequest
    attempts: int
    failed_at: float
    error: str


class Spool:
    def __init__(self, path: Path) -> None:
        self.path = path
        # Set whenever a delivery is added, so the forwarder does not wait out its timer.
        self.added = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gateway-spool")
        self._connection: sqlite3.Connection | None = None
        self._opening = asyncio.Lock()
        self._pending: Counter[str] = Counter()
        self._problem: str | None = "not opened yet"

    # Lifecycle

    async def open(self) -> None:
        """Open (or create) the file; SpoolUnavailable if it cannot be. Idempotent."""
        async with self._opening:
            if self._connection is None:
                self._pending = Counter(await self._run(self._connect))

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self._disconnect)
        # Does not block: the worker is idle once it has closed the connection.
        self._executor.shutdown(wait=True)

    @property
    def problem(self) -> str | None:
        """Why the last spool operation failed, or None if it succeeded."""
        return self._problem

    # In-memory view: the hot path reads these without touching the file.

    def pending(self, ordering_key: str) -> int:
        return self._pending[ordering_key]

    @property
    def depth(self) -> int:
        return self._pending.total()

    # Writes

    async def add(
        self,
        *,
        integration: str,
        ordering_key: str,
        request: api.ApplyChatwootDeliveryRequest,
        received_at: float,
        attempts: int,
        next_attempt_at: float,
        last_error: str,
        trace_parent: str = "",
    ) -> int:
        """Store a delivery durably; returns its seq. SpoolUnavailable if it cannot."""
        await self.open()
        row = (
            integration,
            ordering_key,
            request.SerializeToString(),
            received_at,
            attempts,
            next_attempt_at,
            last_error,
            trace_parent,
        )
        seq = await self._call(lambda db: _insert(db, row))
        self._pending[ordering_key] += 1
        self.added.set()
        return seq

    async def delivered(self, entry: SpooledDelivery) -> None:
        await self._call(lambda db: db.execute("DELETE FROM spool WHERE seq = ?", (entry.seq,)))
        self._forget(entry)

    async def retry_later(
        self, entry: SpooledDelivery, *, next_attempt_at: float, error: str
    ) -> None:
        await self._call(
            lambda db: db.execute(
                "UPDATE spool SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                " WHERE seq = ?",
                (next_attempt_at, error, entry.seq),
            )
        )

    async def dead_letter(self, entry: SpooledDelivery, *, failed_at: float, error: str) -> None:
        def move(db: sqlite3.Connection) -> None:
            with _transaction(db):
                db.execute(
                    "INSERT INTO dead_letter (spool_seq, integration, ordering_key, request,"
                    " received_at, attempts, failed_at, error)"
                    " SELECT seq, integration, ordering_key, request, received_at, attempts + 1,"
                    " ?, ? FROM spool WHERE seq = ?",
                    (failed_at, error, entry.seq),
                )
                db.execute("DELETE FROM spool WHERE seq = ?", (entry.seq,))

        await self._call(move)
        self._forget(entry)

    async def dead_letter_on_arrival(
        self,
        *,
        integration: str,
        ordering_key: str,
        request: api.ApplyChatwootDeliveryRequest,
        failed_at: float,
        error: str,
    ) -> None:
        """Keep a delivery the service refused on its first attempt, never spooled."""
        await self.open()
        row = (integration, ordering_key, request.SerializeToString(), failed_at, failed_at, error)
        await self._call(
            lambda db: db.execute(
                "INSERT INTO dead_letter (integration, ordering_key, request, received_at,"
                " attempts, failed_at, error) VALUES (?, ?, ?, ?, 1, ?, ?)",
                row,
            )
        )

    # Reads

    async def due(self, now: float, limit: int) -> list[SpooledDelivery]:
        """The oldest delivery of each ordering key whose next attempt is due, oldest first."""
        await self.open()
        rows = await self._call(
            lambda db: db.execute(
                f"SELECT {_COLUMNS} FROM spool WHERE seq IN ({_HEADS})"  # noqa: S608 - constants
                " AND next_attempt_at <= ? ORDER BY seq LIMIT ?",
                (now, limit),
            ).fetchall()
        )
        return [SpooledDelivery.from_row(row) for row in rows]

    async def next_attempt_at(self) -> float | None:
        """When the earliest not-yet-due head is due; None when the spool is empty."""
        await self.open()
        row = await self._call(
            lambda db: db.execute(
                f"SELECT MIN(next_attempt_at) FROM spool WHERE seq IN ({_HEADS})"  # noqa: S608
            ).fetchone()
        )
        return None if row is None or row[0] is None else float(row[0])

    async def entries(self) -> list[SpooledDelivery]:
        """Everything spooled, in seq order (for operators and tests)."""
        await self.open()
        rows = await self._call(
            lambda db: db.execute(f"SELECT {_COLUMNS} FROM spool ORDER BY seq").fetchall()  # noqa: S608
        )
        return [SpooledDelivery.from_row(row) for row in rows]

    async def dead_letters(self) -> list[DeadLetter]:
        await self.open()
        rows = await self._call(
            lambda db: db.execute(
                "SELECT id, spool_seq, integration, ordering_key, request, attempts, failed_at,"
                " error FROM dead_letter ORDER BY id"
            ).fetchall()
        )
        return [
            DeadLetter(id_, seq, name, key, Request.FromString(req), n, at, e)
            for id_, seq, name, key, req, n, at, e in rows
        ]

    # Internals

    def _forget(self, entry: SpooledDelivery) -> None:
        self._pending[entry.ordering_key] -= 1
        if self._pending[entry.ordering_key] <= 0:
            del self._pending[entry.ordering_key]

    async def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        def run() -> T:
            if self._connection is None:
                raise sqlite3.OperationalError("spool is not open")
            return work(self._connection)

        return await self._run(run)

    async def _run(self, work: Callable[[], T]) -> T:
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except (sqlite3.Error, OSError) as error:
            self._problem = f"spool {self.path}: {error}"
            raise SpoolUnavailable(self._problem) from error
        self._problem = None
        return result

    def _connect(self) -> dict[str, int]:
        """On the worker thread: open the file and count what it holds per ordering key."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            connection.execute("PRAGMA busy_timeout = 5000")
            connection.executescript(_SCHEMA)
            columns = {row[1] for row in connection.execute("PRAGMA table_info(spool)")}
            if "trace_parent" not in columns:
                connection.execute(_ADD_TRACE_PARENT)
            counts = connection.execute(
                "SELECT ordering_key, COUNT(*) FROM spool GROUP BY ordering_key"
            ).fetchall()
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return dict(counts)

    def _disconnect(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def _insert(
    db: sqlite3.Connection, row: tuple[str, str, bytes, float, int, float, str, str]
) -> int:
    cursor = db.execute(
        "INSERT INTO spool (integration, ordering_key, request, received_at, attempts,"
        " next_attempt_at, last_error, trace_parent) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
