"""`python -m gateway`: run the HTTP gateway (uvicorn, one process).

Chatwoot webhook intake arrives with its own issue; for now the gateway serves /healthz and
/readyz.
"""

from __future__ import annotations

import signal
import sys
from types import FrameType

import uvicorn

from common.logging import configure_logging
from gateway.app import create_app
from gateway.settings import Settings


def _already_handled(_signum: int, _frame: FrameType | None) -> None:
    pass


def main() -> int:
    settings = Settings.from_env()
    configure_logging(level=settings.log_level)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.listen_host,
        port=settings.port,
        log_config=None,
        lifespan="on",
        # The readiness probe uses grpc.aio, which is built for the standard asyncio loop;
        # uvicorn's default ("auto") would pick uvloop.
        loop="asyncio",
    )
    # uvicorn shuts down gracefully on SIGTERM/SIGINT and then re-raises the signal against
    # the handlers that were set before it started. With the default handlers a clean
    # stop would end as "killed by SIGTERM"; these make it exit 0.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, _already_handled)
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
