"""The services, and optionally the Chatwoot simulator, as child processes of one parent.

Both services' databases are migrated first. Every setting in DEFAULTS can be overridden
from the environment; relative paths are relative to the repository root. The simulator
listens where the tenants file's first Chatwoot integration expects Chatwoot (its
`base_url`), with that integration's account, token and webhook secret, and sends its
webhooks to the gateway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

from common.config import ChatwootIntegration, ConfigError, load_tenants

ROOT = Path(__file__).resolve().parent.parent
DEV_TENANTS_FILE = "config/tenants.dev.toml"
DEV_TOKEN = "dev-demo-api-token"  # noqa: S105 - public, from DEV_TENANTS_FILE
DEFAULTS = {
    "TICKET_DATABASE_URL": "sqlite+aiosqlite:///var/ticket_service.db",
    "ESCALATION_DATABASE_URL": "sqlite+aiosqlite:///var/escalation_service.db",
    "TICKETING_TENANTS_FILE": DEV_TENANTS_FILE,
    "TICKET_GRPC_LISTEN": "127.0.0.1:50051",
    "ESCALATION_GRPC_LISTEN": "127.0.0.1:50052",
    "TICKET_METRICS_LISTEN": "127.0.0.1:9101",
    "ESCALATION_METRICS_LISTEN": "127.0.0.1:9102",
    "GATEWAY_LISTEN_HOST": "127.0.0.1",
    "GATEWAY_PORT": "8080",
}
# Without a Chatwoot to talk to, changes for it wait in the outbox, and nobody polls a
# Chatwoot that isn't there (set these to "true" to point at a real one).
NO_CHATWOOT = {
    "TICKET_SYNC_ENABLED": "false",
    "TICKET_RECONCILE_ENABLED": "false",
    "ESCALATION_AGENT_SYNC_ENABLED": "false",
}
SERVICES = ("ticket_service", "escalation_service", "gateway")
SIMULATOR = "chatwoot_sim"
KILL_AFTER_SECONDS = 15.0

Child = asyncio.subprocess.Process


class StackError(Exception):
    """The stack cannot start; the message says why."""


def environment(overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**DEFAULTS, **os.environ, **(overrides or {})}
    # The gateway and the escalation service find the ticket service where it listens.
    host, _, port = env["TICKET_GRPC_LISTEN"].rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - compared with, not bound
        host = "127.0.0.1"
    env.setdefault("TICKET_SERVICE_TARGET", f"{host}:{port}")
    env.setdefault("ESCALATION_TICKET_SERVICE_TARGET", env["TICKET_SERVICE_TARGET"])
    return env


def gateway_url(env: Mapping[str, str]) -> str:
    return f"http://{env['GATEWAY_LISTEN_HOST']}:{env['GATEWAY_PORT']}"


def simulated_integration(env: Mapping[str, str]) -> ChatwootIntegration:
    """The Chatwoot integration the simulator stands in for: the tenants file's first."""
    tenants = load_tenants(ROOT / env["TICKETING_TENANTS_FILE"])
    for tenant in tenants.tenants:
        for integration in tenant.chatwoot:
            return integration
    raise ConfigError(f"{env['TICKETING_TENANTS_FILE']} has no [[tenants.chatwoot]] to simulate")


def simulator_command(
    env: Mapping[str, str], integration: ChatwootIntegration
) -> tuple[dict[str, str], list[str]]:
    """The environment and arguments of `python -m chatwoot_sim` listening at the
    integration's base_url, as its account. Secrets go in the environment, not on the
    command line, where any `ps` shows them."""
    base = urlsplit(str(integration.base_url))
    webhook_url = f"{gateway_url(env)}/webhooks/chatwoot/{integration.name}"
    secrets = {
        "CHATWOOT_SIM_ADMIN_TOKEN": integration.api_access_token.get_secret_value(),
        "CHATWOOT_SIM_WEBHOOK_SECRET": "",
    }
    if integration.verification == "url_token":
        # Chatwoot before 4.12 signs nothing; the URL carries the token instead.
        assert integration.url_token is not None
        webhook_url += f"?token={integration.url_token.get_secret_value()}"
    elif integration.webhook_secret is not None:
        secrets["CHATWOOT_SIM_WEBHOOK_SECRET"] = integration.webhook_secret.get_secret_value()
    args = [
        SIMULATOR,
        f"--host={base.hostname}",
        f"--port={base.port or 80}",
        f"--account-id={integration.account_id}",
        f"--webhook-url={webhook_url}",
    ]
    return dict(env) | secrets, args


async def spawn(env: Mapping[str, str], *args: str, logs: Path | None = None) -> Child:
    """`python -m <args>`, its output to ours, or with `logs` to `<logs>/<module>.log`."""
    if logs is None:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", *args, env=dict(env), cwd=ROOT
        )
    with (logs / f"{args[0]}.log").open("ab") as log:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", *args, env=dict(env), cwd=ROOT, stdout=log, stderr=log
        )


async def migrate(env: Mapping[str, str], *, logs: Path | None = None) -> None:
    for service in ("ticket_service", "escalation_service"):
        code = await (await spawn(env, service, "migrate", logs=logs)).wait()
        if code != 0:
            raise StackError(f"{service} migration failed (exit code {code}); not starting")


async def wait_until_ready(env: Mapping[str, str], within: float) -> None:
    """Until the gateway answers /readyz with 200 (it checks the ticket service) and the
    escalation service's gRPC health check says SERVING."""
    deadline = asyncio.get_running_loop().time() + within
    serving = health_pb2.HealthCheckResponse.SERVING
    async with (
        httpx.AsyncClient(timeout=2.0) as http,
        grpc.aio.insecure_channel(env["ESCALATION_GRPC_LISTEN"]) as escalation,
    ):
        health = health_pb2_grpc.HealthStub(escalation)
        while True:
            with contextlib.suppress(httpx.HTTPError, grpc.aio.AioRpcError):
                gateway = await http.get(f"{gateway_url(env)}/readyz")
                if gateway.status_code == 200:
                    checked = await health.Check(health_pb2.HealthCheckRequest(), timeout=2.0)
                    if checked.status == serving:
                        return
            if asyncio.get_running_loop().time() > deadline:
                raise StackError(f"the stack was not ready within {within:g} s")
            await asyncio.sleep(0.2)


def free_port() -> int:
    """A port the OS has just picked (and freed) on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def local_environment(directory: Path) -> dict[str, str]:
    """The dev settings for a stack beside any other: every port picked by the OS, every
    file in `directory`, the dev tenants' Chatwoot moved to the simulator's port, and short
    polling intervals (the demo and the tests wait for them)."""
    simulator_port = free_port()
    tenants = (ROOT / DEV_TENANTS_FILE).read_text()
    tenants, replaced = re.subn(
        r'^base_url = ".*"$',
        f'base_url = "http://127.0.0.1:{simulator_port}"',
        tenants,
        count=1,
        flags=re.MULTILINE,
    )
    if not replaced:
        raise StackError(f"{DEV_TENANTS_FILE} has no Chatwoot base_url to point at the simulator")
    (directory / "tenants.toml").write_text(tenants)
    return environment(
        {
            "TICKET_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'ticket_service.db'}",
            "ESCALATION_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'escalation.db'}",
            "TICKETING_TENANTS_FILE": str(directory / "tenants.toml"),
            "TICKET_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
            "ESCALATION_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
            "GATEWAY_LISTEN_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(free_port()),
            # Picked by the OS and logged: nothing here scrapes them.
            "TICKET_METRICS_LISTEN": "127.0.0.1:0",
            "ESCALATION_METRICS_LISTEN": "127.0.0.1:0",
            "GATEWAY_SPOOL_PATH": str(directory / "spool.db"),
            "TICKET_SYNC_POLL_SECONDS": "0.1",
            "ESCALATION_POLL_SECONDS": "0.1",
            "SHUTDOWN_GRACE_SECONDS": "2",
            "LOG_LEVEL": "INFO",
        }
    )


@dataclass
class Stack:
    """Running children by name; `exits` resolve with each one's exit code."""

    env: dict[str, str]
    children: dict[str, Child]
    simulator_url: str | None = None
    exits: dict[str, asyncio.Task[int]] = field(default_factory=dict)

    @classmethod
    async def start(
        cls,
        env: dict[str, str],
        *,
        with_simulator: bool = False,
        logs: Path | None = None,
        migrate_first: bool = True,
    ) -> Stack:
        """Migrates (unless told the databases are migrated already), then starts the
        services (and the simulator) without waiting for them to be ready. With `logs`, each
        child's output goes to a file there, not to ours."""
        integration = None
        if with_simulator:
            try:
                integration = simulated_integration(env)
            except ConfigError as error:
                raise StackError(f"cannot run the Chatwoot simulator: {error}") from error
        else:
            env = NO_CHATWOOT | env
        if migrate_first:
            await migrate(env, logs=logs)
        stack = cls(env, {})
        for name in SERVICES:
            stack.children[name] = await spawn(env, name, logs=logs)
        if integration is not None:
            simulator_env, simulator_args = simulator_command(env, integration)
            stack.children[SIMULATOR] = await spawn(simulator_env, *simulator_args, logs=logs)
            stack.simulator_url = str(integration.base_url).rstrip("/")
        stack.exits = {
            name: asyncio.create_task(child.wait()) for name, child in stack.children.items()
        }
        return stack

    def exited(self) -> list[str]:
        return [name for name, exit_ in self.exits.items() if exit_.done()]

    async def stop(self) -> None:
        """SIGTERM to every child; a child still running after KILL_AFTER_SECONDS is killed."""
        for child in self.children.values():
            # A child that has just exited but is not reaped yet cannot be signalled.
            with contextlib.suppress(ProcessLookupError):
                if child.returncode is None:
                    child.send_signal(signal.SIGTERM)
        _, late = await asyncio.wait(self.exits.values(), timeout=KILL_AFTER_SECONDS)
        for name, exit_ in self.exits.items():
            if exit_ in late:
                print(f"devstack: {name} did not stop in {KILL_AFTER_SECONDS:g} s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    self.children[name].kill()
        await asyncio.gather(*self.exits.values())

    def banner(self) -> str:
        env = self.env
        pids = {name: child.pid for name, child in self.children.items()}
        lines = [
            f"  ticket service      grpc  {env['TICKET_GRPC_LISTEN']:<24} "
            f"pid {pids['ticket_service']}",
            f"  escalation service  grpc  {env['ESCALATION_GRPC_LISTEN']:<24} "
            f"pid {pids['escalation_service']}",
            f"  gateway             http  {gateway_url(env):<24} pid {pids['gateway']}  "
            "(/healthz, /readyz)",
            "  metrics             http  "
            + ", ".join(
                f"{name} {env.get(variable) or 'off'}"
                for name, variable in (
                    ("ticket", "TICKET_METRICS_LISTEN"),
                    ("escalation", "ESCALATION_METRICS_LISTEN"),
                )
            )
            + "  (/metrics; the gateway's on its own port)",
        ]
        if self.simulator_url is not None:
            lines.append(
                f"  chatwoot simulator  http  {self.simulator_url:<24} pid {pids[SIMULATOR]}  "
                "(/_sim/state, /_sim/webhooks, /_sim/calls)"
            )
        lines += [
            f"  database            {env['TICKET_DATABASE_URL']}",
            f"  tenants             {env['TICKETING_TENANTS_FILE']}",
        ]
        if env["TICKETING_TENANTS_FILE"] == DEV_TENANTS_FILE:
            lines.append(f"  token               authorization: Bearer {DEV_TOKEN}  (tenant demo)")
        return "\n".join(lines)
