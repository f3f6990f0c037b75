"""`python -m devstack` (what `make run` runs): the whole stack on one laptop, on SQLite.

Migrates the ticket database, then runs the ticket service, the escalation service and the
gateway as child processes until Ctrl+C or SIGTERM, which stops them all gracefully. If one
of them exits on its own, the others are stopped and devstack exits non-zero. Every setting
in DEFAULTS can be overridden from the environment; relative paths are relative to the
repository root.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
DEV_TENANTS_FILE = "config/tenants.dev.toml"
DEV_TOKEN = "dev-demo-api-token"  # noqa: S105 - public, from DEV_TENANTS_FILE
DEFAULTS = {
    "TICKET_DATABASE_URL": "sqlite+aiosqlite:///var/ticket_service.db",
    "TICKETING_TENANTS_FILE": DEV_TENANTS_FILE,
    "TICKET_GRPC_LISTEN": "127.0.0.1:50051",
    "ESCALATION_GRPC_LISTEN": "127.0.0.1:50052",
    "GATEWAY_LISTEN_HOST": "127.0.0.1",
    "GATEWAY_PORT": "8080",
}
SERVICES = ("ticket_service", "escalation_service", "gateway")
KILL_AFTER_SECONDS = 15.0

Child = asyncio.subprocess.Process


def environment() -> dict[str, str]:
    env = {**DEFAULTS, **os.environ}
    # The gateway has to find the ticket service wherever it was told to listen.
    host, _, port = env["TICKET_GRPC_LISTEN"].rpartition(":")
    if host in ("", "0.0.0.0", "[::]"):  # noqa: S104 - compared with, not bound
        host = "127.0.0.1"
    env.setdefault("TICKET_SERVICE_TARGET", f"{host}:{port}")
    return env


async def spawn(env: dict[str, str], *args: str) -> Child:
    return await asyncio.create_subprocess_exec(sys.executable, "-m", *args, env=env, cwd=ROOT)


def banner(env: dict[str, str], children: dict[str, Child]) -> str:
    gateway = f"http://{env['GATEWAY_LISTEN_HOST']}:{env['GATEWAY_PORT']}"
    pids = {name: child.pid for name, child in children.items()}
    lines = [
        "devstack: starting; Ctrl+C stops everything",
        f"  ticket service      grpc  {env['TICKET_GRPC_LISTEN']:<24} pid {pids['ticket_service']}",
        f"  escalation service  grpc  {env['ESCALATION_GRPC_LISTEN']:<24} "
        f"pid {pids['escalation_service']}",
        f"  gateway             http  {gateway:<24} pid {pids['gateway']}  (/healthz, /readyz)",
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


async def run() -> int:
    env = environment()
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)

    migration = await spawn(env, "ticket_service", "migrate")
    code = await migration.wait()
    if stopping.is_set():
        return 0
    if code != 0:
        print(f"devstack: migration failed (exit code {code}); not starting", file=sys.stderr)
        return 1

    children = {name: await spawn(env, name) for name in SERVICES}
    print(banner(env, children), flush=True)
    exits = {name: asyncio.create_task(child.wait()) for name, child in children.items()}
    stop_requested = asyncio.create_task(stopping.wait())
    await asyncio.wait([stop_requested, *exits.values()], return_when=asyncio.FIRST_COMPLETED)
    stop_requested.cancel()
    # After Ctrl+C the children may see SIGINT too (same process group) and exit first.
    crashed = [] if stopping.is_set() else [name for name, t in exits.items() if t.done()]
    for name in crashed:
        code = exits[name].result()
        print(f"devstack: {name} exited (code {code}); stopping the rest", file=sys.stderr)
    await stop_all(children, exits)
    return 1 if crashed else 0


def main() -> int:
    return asyncio.run(run())


if __name__ == "__main__":
    sys.exit(main())
