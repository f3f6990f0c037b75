"""`python -m gateway`: run the HTTP gateway (uvicorn, one process).

A missing or invalid tenants file, or an integration the gateway cannot forward for, stops
it with exit code 2 and a one-line message.
"""

from __future__ import annotations

import logging
import signal
import sys
from types import FrameType

import structlog
import uvicorn

from common.config import ConfigError, load_tenants
from common.logging import configure_logging
from common.tracing import asgi_middleware, configure_tracing, shutdown_tracing
from gateway.app import create_app
from gateway.settings import Settings

log = structlog.get_logger("gateway")


def _already_handled(_signum: int, _frame: FrameType | None) -> None:
    pass


class _WithoutQueryString(logging.Filter):
    """uvicorn's access log writes the path with its query string, and a url_token
    integration's webhook URL carries its secret there."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        # uvicorn.access: (client, method, path with query, http version, status)
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].partition("?")[0], *args[3:])
        return True


def main() -> int:
    settings = Settings.from_env()
    configure_logging(level=settings.log_level)
    try:
        traced = configure_tracing("gateway")
        app = create_app(settings, load_tenants(settings.tenants_file))
    except ConfigError as error:
        log.error("bad_config", error=str(error))
        print(f"gateway: {error}", file=sys.stderr)
        return 2
    logging.getLogger("uvicorn.access").addFilter(_WithoutQueryString())
    config = uvicorn.Config(
        asgi_middleware(app) if traced else app,
        host=settings.listen_host,
        port=settings.port,
        log_config=None,
        lifespan="on",
        # grpc.aio is built for the standard asyncio loop; uvicorn's default ("auto")
        # would pick uvloop.
        loop="asyncio",
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal against
    # the handlers that were set before it started. With the default handlers a clean
    # stop would end as "killed by SIGTERM"; these make it exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _already_handled)
    try:
        uvicorn.Server(config).run()
    finally:
        shutdown_tracing()
    return 0


if __name__ == "__main__":
    sys.exit(main())
