"""structlog setup: JSON lines in production, readable output in a terminal."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

from common.tracing import add_trace_ids

# Libraries that log every request at INFO. Our own code logs what matters about those
# calls (the Chatwoot client: `chatwoot_call`, with the token never in it), so below DEBUG
# they only report problems.
QUIET_LIBRARIES = ("httpx", "httpcore")
# Libraries whose DEBUG lines carry data that must never reach a log: aiosqlite writes every
# statement with its parameters (customers' messages, emails, phone numbers). They stay at
# INFO even when everything else logs at DEBUG.
NEVER_DEBUG = ("aiosqlite",)


def configure_logging(*, level: str = "INFO", json: bool | None = None) -> None:
    level = level.upper()
    if level not in logging.getLevelNamesMapping():
        # A typo in LOG_LEVEL should not stop a service: say so, and log at INFO.
        print(
            f"LOG_LEVEL {level!r} is not a level (DEBUG, INFO, WARNING, ERROR); using INFO",
            file=sys.stderr,
        )
        level = "INFO"
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    # The standard library's records (uvicorn, grpc, httpx, ...) get the same fields and
    # rendering as ours, so every line of a process is one JSON object.
    stdlib = logging.StreamHandler(sys.stderr)
    stdlib.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[
                structlog.contextvars.merge_contextvars,
                add_trace_ids,
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
            ],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                # A library's traceback (uvicorn's for a 500) as structured data, like ours.
                *([structlog.processors.dict_tracebacks] if json else []),
                renderer,
            ],
        )
    )
    logging.basicConfig(level=level, handlers=[stdlib])
    for name in QUIET_LIBRARIES:
        # At DEBUG they may speak: that is when someone wants to see every request.
        quiet = logging.NOTSET if level == "DEBUG" else logging.WARNING
        logging.getLogger(name).setLevel(quiet)
    for name in NEVER_DEBUG:
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
    structlog.configure(
        processors=[
            # Bound per request: request_id, tenant, delivery_id, rpc (see common/grpc/
            # log_context.py and the gateway's webhook endpoint).
            structlog.contextvars.merge_contextvars,
            add_trace_ids,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.dict_tracebacks if json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # One write() per line, like the standard library's handler above: print() writes the
        # line and its newline separately, and another thread's record landed in between.
        logger_factory=structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind `fields` to every line logged inside, then put back what was bound before.

    structlog's `bound_contextvars` does the same by copying the whole context first; this
    resets the variables' tokens instead, at a fifth of its cost, which counts on the
    gateway's and the ticket service's hot paths (a few bindings per delivery)."""
    tokens = structlog.contextvars.bind_contextvars(**fields)
    try:
        yield
    finally:
        structlog.contextvars.reset_contextvars(**tokens)
