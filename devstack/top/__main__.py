"""`python -m devstack.top` (`make top`): refreshes every `--interval` seconds until Ctrl+C;
`--once` prints one frame (two scrapes `--interval` apart, for the rates) and exits, 1 if
a process did not answer.

Addresses default to what `make run` uses, read from the same variables (so a stack started
with other ports is found by exporting the same settings); the flags override them.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from common.config import ConfigError, TenantsConfig, load_tenants
from devstack.stack import ROOT, environment, gateway_url
from devstack.top.agents import TenantAgents, agent_load
from devstack.top.frame import ESCALATION_SERVICE, GATEWAY, TICKET_SERVICE, Snapshot, render
from devstack.top.scrape import Scrape, Window, scrape

# One slow process must not stall the frame: every read gives up after this.
READ_TIMEOUT_SECONDS = 1.0
CLEAR_SCREEN = "\x1b[H\x1b[2J"
RED, RESET = "\x1b[1;31m", "\x1b[0m"


def metrics_url(listen: str) -> str | None:
    """The URL of a `host:port` metrics listener; None when off (empty). A wildcard host
    is reached on loopback."""
    if not listen:
        return None
    host, _, port = listen.rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - compared with, not bound
        host = "127.0.0.1"
    return f"http://{host}:{port}/metrics"


def arguments(argv: list[str], env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m devstack.top", description=__doc__)
    parser.add_argument("--once", action="store_true", help="print one frame and exit")
    parser.add_argument(
        "--interval", type=float, default=2.0, help="seconds between frames (default 2)"
    )
    parser.add_argument(
        "--gateway", default=f"{gateway_url(env)}/metrics", help="the gateway's metrics URL"
    )
    parser.add_argument(
        "--ticket-metrics",
        default=metrics_url(env["TICKET_METRICS_LISTEN"]),
        help="the ticket service's metrics URL (from TICKET_METRICS_LISTEN)",
    )
    parser.add_argument(
        "--escalation-metrics",
        default=metrics_url(env["ESCALATION_METRICS_LISTEN"]),
        help="the escalation service's metrics URL (from ESCALATION_METRICS_LISTEN)",
    )
    parser.add_argument(
        "--escalation",
        default=env["ESCALATION_GRPC_LISTEN"],
        help="the escalation service's gRPC address, for ListAgents (ESCALATION_GRPC_LISTEN)",
    )
    parser.add_argument(
        "--tenants-file",
        default=env["TICKETING_TENANTS_FILE"],
        help="tokens to read each tenant's agents with (TICKETING_TENANTS_FILE)",
    )
    options = parser.parse_args(argv)
    if options.interval <= 0:
        parser.error("--interval must be more than 0")
    return options


@dataclass(frozen=True)
class Sources:
    urls: dict[str, str]  # process -> metrics URL, for those whose metrics are on
    escalation: str
    tenants: TenantsConfig | None
    tenants_error: str | None

    @classmethod
    def from_options(cls, options: argparse.Namespace) -> Sources:
        urls = {
            GATEWAY: options.gateway,
            TICKET_SERVICE: options.ticket_metrics,
            ESCALATION_SERVICE: options.escalation_metrics,
        }
        try:
            tenants, error = load_tenants(ROOT / options.tenants_file), None
        except ConfigError as config_error:
            tenants, error = None, f"cannot read agents: {config_error}"
        return cls(
            {name: url for name, url in urls.items() if url}, options.escalation, tenants, error
        )

    def tenant_of(self) -> dict[str, str]:
        if self.tenants is None:
            return {}
        return {i.name: t.id for t in self.tenants.tenants for i in t.chatwoot}

    async def scrape_all(self, http: httpx.AsyncClient) -> dict[str, Scrape]:
        names = list(self.urls)
        scrapes = await asyncio.gather(*(scrape(http, self.urls[name]) for name in names))
        return dict(zip(names, scrapes, strict=True))

    async def agents(self) -> list[TenantAgents]:
        if self.tenants is None:
            return []
        return await agent_load(self.escalation, self.tenants, READ_TIMEOUT_SECONDS)


def colour(frame: str) -> str:
    return frame.replace("DOWN", f"{RED}DOWN{RESET}").replace(" is down", f" is {RED}down{RESET}")


async def run(options: argparse.Namespace) -> int:
    sources = Sources.from_options(options)
    terminal = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    async with httpx.AsyncClient(timeout=READ_TIMEOUT_SECONDS) as http:
        before = await sources.scrape_all(http)
        while True:
            await asyncio.sleep(options.interval)
            after, agents = await asyncio.gather(sources.scrape_all(http), sources.agents())
            snapshot = Snapshot(
                taken_at=datetime.now(UTC),
                interval=options.interval,
                windows={name: Window(before[name], after[name]) for name in after},
                tenant_of=sources.tenant_of(),
                agents=agents,
                agents_error=sources.tenants_error,
            )
            frame = render(snapshot)
            if options.once:
                sys.stdout.write(frame)
                return 0 if all(scraped.up for scraped in after.values()) else 1
            sys.stdout.write(CLEAR_SCREEN + colour(frame) if terminal else frame + "\n")
            sys.stdout.flush()
            before = after


def main(argv: list[str] | None = None) -> int:
    options = arguments(sys.argv[1:] if argv is None else argv, environment())
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
