"""Resumable server streams over a per-tenant, cursor-ordered log.

For a service that wants a `Watch…Events` RPC over its own event log (the ticket service's
WatchTicketEvents and the escalation service's WatchEscalationEvents are built on it). What
the log must give:

- Entries with a `cursor` attribute: 1, 2, 3, ... per tenant, in commit order, without
  gaps (allocate them at commit under a per-tenant row lock, as the ticket service's
  `EventLog.append` does). Order and gaplessness are what make resuming exact.
- A reader, `common.streams.log.LogReader`: `read_after(tenant, after_cursor, limit)`
  (entries after the cursor, in order) and `head(tenant)` (the newest cursor, 0 if none).
  Short independent reads; the core never holds a transaction.
- A wake-up: on PostgreSQL the appending transaction runs `pg_notify(channel, tenant_id)`
  (folded into the append statement, so it costs no round trip), and `LiveLog` LISTENs on
  `channel` with one connection per process. Writes made in the same process may also call
  `LiveLog.committed(tenant)` after commit (on SQLite that is the prompt path; elsewhere a
  poll, `StreamSettings.poll_seconds`, is the safety net).

Wiring, in the composition root:

    live = LiveLog(reader, name="escalation-events", channel="escalation_events",
                   database_url=url)
    live.start()
    server.on_stopping.append(live.close)   # ends streams before the grace period runs out

and in the servicer, an async generator:

    after = start_cursor(request.start_position, request.after_cursor, violations)
    async for progress in live.watch(tenant, after_cursor=after, matches=predicate):
        yield Response(events=[to_proto(e) for e in progress.entries],
                       resume_cursor=progress.resume_cursor)

under `common.grpc.status.map_service_errors`, which turns the errors `watch` raises into
statuses: OUT_OF_RANGE (`CURSOR_BEYOND_HEAD`, a field violation on `after_cursor`),
RESOURCE_EXHAUSTED (`CONSUMER_TOO_SLOW`) and UNAVAILABLE (`SHUTTING_DOWN`), the last two
with `resume_cursor` in the ErrorInfo metadata.

How it works: per tenant, a feed reads new entries once per wake-up and offers them to the
bounded mailbox of every caught-up watcher (`broker.py`); a watcher resuming from an old
cursor pages through the log on its own and joins the feed when a short page meets it
(`watch.py`). A mailbox that would overflow ends its stream instead of slowing the feed.
The first message and a heartbeat after `heartbeat_seconds` of silence carry only the
resume cursor, so a filtered watcher's resume point advances too.
"""

from common.streams.broker import Broker, StreamSettings
from common.streams.live_log import LiveLog
from common.streams.log import LogEntry, LogReader
from common.streams.protos import ProtoCache
from common.streams.start import start_cursor
from common.streams.watch import RESUME_KEY, Progress, watch

__all__ = [
    "RESUME_KEY",
    "Broker",
    "LiveLog",
    "LogEntry",
    "LogReader",
    "Progress",
    "ProtoCache",
    "StreamSettings",
    "start_cursor",
    "watch",
]
