"""structlog setup: JSON lines in production, readable output in a terminal."""

from __future__ import annotations

import logging
import sys

import structlog

# Libraries that log every request at INFO. Our own code logs what matters about those
# calls (the Chatwoot client: `chatwoot_call`, with the token never in it), so below DEBUG
# they only report problems.
QUIET_LIBRARIES = ("httpx", "httpcore")


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
    logging.basicConfig(level=level, stream=sys.stderr, format="%(message)s")
    for name in QUIET_LIBRARIES:
        # At DEBUG they may speak: that is when someone wants to see every request.
        quiet = logging.NOTSET if level == "DEBUG" else logging.WARNING
        logging.getLogger(name).setLevel(quiet)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.dict_tracebacks if json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
