"""Serving the simulator: uvicorn on a socket we bind ourselves, so `/_sim/down` can close the
listener (clients get "connection refused", not an error status) and reopen it on the same
port when the time is up. State lives outside uvicorn and survives the outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import time
from collections.abc import Iterator

import structlog
import uvicorn
from starlette.types import ASGIApp

from chatwoot_sim import seed
from chatwoot_sim.app import create_app
from chatwoot_sim.options import Options
from chatwoot_sim.simulator import Simulator

log = structlog.get_logger("chatwoot_sim")

# A request still running when the listener closes (e.g. one held by a delay fault) gets this
# long to finish before it is cut.
GRACE_SECONDS = 1


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the Listener decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # The port is reused right after an outage; connections of the last round may linger.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    # Listening from here on, so the URL we print is connectable at once (uvicorn would only
    # start listening later, on its first round).
    sock.listen(2048)
    return sock


class Listener:
    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self._socket = bind(host, port)
        self.port: int = self._socket.getsockname()[1]
        self._server: _Server | None = None
        self._stopping = False
        self._up_at = 0.0
        self._wake = asyncio.Event()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def _config(self) -> uvicorn.Config:
        return uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            loop="asyncio",
            timeout_graceful_shutdown=GRACE_SECONDS,
        )

    async def run(self) -> None:
        """Serve until stop(); after go_down(), stay closed, then serve again."""
        while not self._stopping:
            self._server = _Server(self._config())
            await self._server.serve(sockets=[self._socket])
            if self._stopping:
                break
            log.info("down", port=self.port, seconds=round(self._up_at - time.monotonic(), 3))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(self._up_at - time.monotonic(), 0))
            if self._stopping:
                break
            self._socket = bind(self.host, self.port)
            log.info("up", port=self.port)

    def go_down(self, seconds: float) -> None:
        self._up_at = time.monotonic() + seconds
        if self._server is not None:
            # Refuse new connections now: uvicorn only notices should_exit on its next tick,
            # up to 0.1 s later, and a client could still get through meanwhile.
            for server in self._server.servers:
                server.close()
            self._server.should_exit = True

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._server is not None:
            self._server.should_exit = True


async def serve(options: Options) -> None:
    sim = Simulator(options)
    if options.seed is not None:
        preset = seed.SeedSpec.model_validate({"preset": options.seed})
        seed.apply(sim.world, sim.chatwoot, preset, options.account_id)
    listener = Listener(create_app(sim), options.host, options.port)
    sim.go_down = listener.go_down
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, listener.stop)
    # One line on stdout, for whoever started us with --port 0 (tests, devstack).
    ready = {"event": "serving", "url": listener.url, "port": listener.port}
    print(json.dumps(ready | {"account_id": options.account_id}), flush=True)
    log.info("serving", url=listener.url, webhook_url=options.webhook_url)
    try:
        await listener.run()
    finally:
        await sim.webhooks.close()
