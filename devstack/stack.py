"""`python -m devstack` (what `make run` runs): the whole stack on one laptop, on SQLite.

Migrates both services' databases, then runs the ticket service, the escalation service and the
gateway as child processes until Ctrl+C or SIGTERM, which stops them all gracefully. If one
of them exits on its own, the others are stopped and devstack exits non-zero. Every setting
in DEFAULTS can be overridden from the environment; relative paths are relative to the
repository root.

`python -m devstack --chatwoot-sim` (`make run SIM=1`) also runs the Chatwoot simulator where
the tenants file's first Chatwoot integration expects Chatwoot (its `base_url`), with that
integration's account, token and webhook secret, sending webhooks to the gateway; once the
gateway is ready it seeds the simulator's demo desk, so the whole loop runs with no Chatwoot.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from common.config import ChatwootIntegration, ConfigError, load_tenants

ROOT = Path(__file__).resolve().parent
DEV_TENANTS_FILE = "config/tenants.dev.toml"
DEV_TOKEN = "dev-demo-api-token"  # noqa: S105 - public, from DEV_TENANTS_FILE
DEFAULTS = {
    "TICKET_DATABASE_URL": "sqlite+aiosqlite:///var/ticket_service.db",
    "ESCALATION_DATABASE_URL": "sqlite+aiosqlite:///var/escalation_service.db",
    "TICKETING_TENANTS_FILE": DEV_TENANTS_FILE,
    "TICKET_GRPC_LISTEN": "127.0.0.1:50051",
    "ESCALATION_GRPC_LISTEN": "127.0.0.1:50052",
    "GATEWAY_LISTEN_HOST": "127.0.0.1",
    "GATEWAY_PORT": "8080",
}
SERVICES = ("ticket_service", "escalation_service", "gateway")
SIMULATOR = "chatwoot_sim"
SIM_FLAG = "--chatwoot-sim"
KILL_AFTER_SECONDS = 15.0
# How long the simulator's demo seed waits for the gateway to become ready.
SEED_WAIT_SECONDS = 60.0

Child = asyncio.subprocess.Process


def environment() -> dict[str, str]:
    env = {**DEFAULTS, **os.environ}
    # The gateway has to find the ticket service wherever it was told to listen.
    host, _, port = env["TICKET_GRPC_LISTEN"].rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - compared with, not bound
        host = "127.0.0.1"
    env.setdefault("TICKET_SERVICE_TARGET", f"{host}:{port}")
    env.setdefault("ESCALATION_TICKET_SERVICE_TARGET", env["TICKET_SERVICE_TARGET"])
    return env


async def spawn(env: dict[str, str], *args: str) -> Child:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", *args, env=env, cwd=ROOT)


def gateway_url(env: dict[str, str]) -> str:
    return f"http://{env['GATEWAY_LISTEN_HOST']}:{env['GATEWAY_PORT']}"


def simulated_integration(env: dict[str, str]) -> ChatwootIntegration:
    """The Chatwoot integration the simulator stands in for: the tenants file's first."""
    tenants = load_tenants(ROOT / env["TICKETING_TENANTS_FILE"])
    for tenant in tenants.tenants:
        for integration in tenant.chatwoot:
            return integration
    raise ConfigError(f"{env['TICKETING_TENANTS_FILE']} has no [[tenants.chatwoot]] to simulate")


def simulator_command(
    env: dict[str, str], integration: ChatwootIntegration
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
    return env | secrets, args


async def seed_simulator(env: dict[str, str], simulator_url: str) -> None:
    """Once the gateway is ready, seed the simulator's demo desk: its webhooks then reach a
    gateway that can take them. Gives up (with a note) after SEED_WAIT_SECONDS."""
    deadline = asyncio.get_running_loop().time() + SEED_WAIT_SECONDS
    async with httpx.AsyncClient(timeout=5.0) as http:
        while True:
            try:
                ready = await http.get(f"{gateway_url(env)}/readyz")
                if ready.status_code == 200:
                    seeded = await http.post(f"{simulator_url}/_sim/seed", json={"preset": "demo"})
                    seeded.raise_for_status()
                    count = len(seeded.json()["conversations"])
                    print(
                        f"devstack: chatwoot simulator seeded {count} demo conversations; "
                        f"their webhooks: {simulator_url}/_sim/webhooks",
                        flush=True,
                    )
                    return
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                print("devstack: the gateway never became ready; simulator not seeded")
                return
            await asyncio.sleep(0.5)


def banner(
    env: dict[str, str], children: dict[str, Child], simulator_url: str | None = None
) -> str:
    gateway = gateway_url(env)
    pids = {name: child.pid for name, child in children.items()}
    lines = [
        "devstack: starting; Ctrl+C stops everything",
        f"  ticket service      grpc  {env['TICKET_GRPC_LISTEN']:<24} pid {pids['ticket_service']}",
        f"  escalation service  grpc  {env['ESCALATION_GRPC_LISTEN']:<24} "
        f"pid {pids['escalation_service']}",
        f"  gateway             http  {gateway:<24} pid {pids['gateway']}  (/healthz, /readyz)",
    ]
    if simulator_url is not None:
        lines.append(
            f"  chatwoot simulator  http  {simulator_url:<24} pid {pids[SIMULATOR]}  "
            "(/_sim/state, /_sim/webhooks, /_sim/calls)"
        )
    lines += [
        f"  database            {env['TICKET_DATABASE_URL']}",
        f"  tenants             {env['TICKETING_TENANTS_FILE']}",
    ]
    if env["TICKETING_TENANTS_FILE"] == DEV_TENANTS_FILE:
        lines.append(f"  token               authorization: Bearer {DEV_TOKEN}  (tenant demo)")
    return "\n".join(lines)


async def stop_all(children: dict[str, Child], exits: dict[str, asyncio.Task[int]]) -> None:
    for child in children.values():
        # A child that has just exited but is not reaped yet cannot be signalled.
        with contextlib.suppress(ProcessLookupError):
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
    _, late = await asyncio.wait(exits.values(), timeout=KILL_AFTER_SECONDS)
    for name, exited in exits.items():
        if exited in late:
            print(f"devstack: {name} did not stop in {KILL_AFTER_SECONDS:g} s; killing it")
            with contextlib.suppress(ProcessLookupError):
                children[name].kill()
    await asyncio.gather(*exits.values())


async def run(with_simulator: bool = False) -> int:
    env = environment()
    if not with_simulator:
        # No Chatwoot to talk to: changes for it wait in the outbox, and nobody polls a
        # Chatwoot that isn't there (set these to "true" to point at a real one).
        env.setdefault("TICKET_SYNC_ENABLED", "false")
        env.setdefault("TICKET_RECONCILE_ENABLED", "false")
        env.setdefault("ESCALATION_AGENT_SYNC_ENABLED", "false")
    integration = None
    if with_simulator:
        try:
            integration = simulated_integration(env)
        except ConfigError as error:
            print(f"devstack: cannot run the Chatwoot simulator: {error}", file=sys.stderr)
            return 1
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    for service in ("ticket_service", "escalation_service"):
        migration = await spawn(env, service, "migrate")
        code = await migration.wait()
        if stopping.is_set():
            return 0
        if code != 0:
            print(
                f"devstack: {service} migration failed (exit code {code}); not starting",
                file=sys.stderr,
            )
            return 1

    children = {name: await spawn(env, name) for name in SERVICES}
    simulator_url = None
    seeding = None
    if integration is not None:
        simulator_env, simulator_args = simulator_command(env, integration)
        children[SIMULATOR] = await spawn(simulator_env, *simulator_args)
        simulator_url = str(integration.base_url).rstrip("/")
        seeding = asyncio.create_task(seed_simulator(env, simulator_url))
    print(banner(env, children, simulator_url), flush=True)
    exits = {name: asyncio.create_task(child.wait()) for name, child in children.items()}
    stop_requested = asyncio.create_task(stopping.wait())
    await asyncio.wait([stop_requested, *exits.values()], return_when=asyncio.FIRST_COMPLETED)
    stop_requested.cancel()
    # After Ctrl+C the children may see SIGINT too (same process group) and exit first.
    crashed = [] if stopping.is_set() else [name for name, t in exits.items() if t.done()]
    for name in crashed:
        code = exits[name].result()
        print(f"devstack: {name} exited (code {code}); stopping the rest", file=sys.stderr)
    if seeding is not None:
        seeding.cancel()
    await stop_all(children, exits)
    return 1 if crashed else 0


def main() -> int:
    return asyncio.run(run(with_simulator=SIM_FLAG in sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
