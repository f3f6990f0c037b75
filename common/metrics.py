"""A process's Prometheus endpoint, `GET /metrics` on its own port, served on the app's
event loop.

On the loop rather than prometheus_client's thread server because some gauges are read from
the database at scrape time, with the app's async engine. Those reads go through
`Sampled`, which runs at most once per interval whatever the scrape rate, so a busy or
misconfigured scraper cannot turn into database load.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from common.tracing import untraced

log = structlog.get_logger(__name__)

# A scraper sends one short request; anything slower or larger is not one.
REQUEST_TIMEOUT_SECONDS = 5.0
Refresh = Callable[[], Awaitable[None]]


class Sampled:
    """`refresh` (which sets some gauges) at most once per `min_interval` seconds; a
    failure keeps the last values and is logged, and never fails the scrape."""

    def __init__(
        self,
        name: str,
        refresh: Refresh,
        *,
        min_interval: float,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name = name
        self._refresh = refresh
        self._min_interval = min_interval
        self._monotonic = monotonic
        self._last: float | None = None
        self._lock = asyncio.Lock()

    async def __call__(self) -> None:
        async with self._lock:
            now = self._monotonic()
            if self._last is not None and now - self._last < self._min_interval:
                return
            self._last = now
            try:
                await self._refresh()
            except Exception as error:
                log.warning("metrics_sample_failed", sample=self._name, error=repr(error))


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def parse_listen(listen: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9100` for IPv6) as a host and a port; port 0 lets the OS pick."""
    host, separator, port = listen.rpartition(":")
    if not separator or not port.isdigit():
        raise ValueError(f"expected host:port, got {listen!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


class MetricsServer:
    def __init__(self, registry: CollectorRegistry, refresh: Sequence[Refresh] = ()) -> None:
        self.registry = registry
        self._refresh = list(refresh)
        self._server: asyncio.Server | None = None
        self.port = 0

    async def start(self, listen: str) -> int:
        host, port = parse_listen(listen)
        self._server = await asyncio.start_server(self._handle, host, port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
                head = await reader.readuntil(b"\r\n\r\n")
            method, target, *_ = [*head.split(b"\r\n", 1)[0].decode("latin-1").split(" "), "", ""]
            status, body, content_type = await self._answer(method, target.split("?", 1)[0])
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            )
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # not a scraper's request; nothing to answer
        except ConnectionError:
            pass  # the scraper went away
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, method: str, path: str) -> tuple[str, bytes, str]:
        if path != "/metrics":
            return "404 Not Found", b"see /metrics\n", "text/plain; charset=utf-8"
        if method not in ("GET", "HEAD"):
            return "405 Method Not Allowed", b"GET only\n", "text/plain; charset=utf-8"
        # A scrape's queries are no one's request: they would each be a trace of their own.
        with untraced():
            for refresh in self._refresh:
                await refresh()
        return "200 OK", render(self.registry), CONTENT_TYPE_LATEST


async def serve_metrics(
    listen: str | None,
    registry: CollectorRegistry,
    refresh: Sequence[Refresh] = (),
    *,
    on_stop: list[Callable[[], Awaitable[None]]],
) -> MetricsServer | None:
    """Serve `registry` at `listen` until stopped through `on_stop`; None when `listen` is
    empty (metrics off)."""
    if not listen:
        return None
    server = MetricsServer(registry, refresh)
    port = await server.start(listen)
    on_stop.append(server.close)
    log.info("metrics_serving", port=port)
    return server
