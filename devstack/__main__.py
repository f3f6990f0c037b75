"""`python -m devstack` (what `make run` runs): the whole stack on one laptop, on SQLite.

Runs the ticket service, the escalation service and the gateway until Ctrl+C or SIGTERM,
which stops them all gracefully. If one of them exits on its own, the others are stopped and
devstack exits non-zero.

`python -m devstack --chatwoot-sim` (`make run SIM=1`) also runs the Chatwoot simulator in
place of Chatwoot; once the gateway is ready it seeds the simulator's demo desk, so the whole
loop runs with no Chatwoot.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import httpx

from devstack.stack import Stack, StackError, environment, wait_until_ready

SIM_FLAG = "--chatwoot-sim"
# How long the simulator's demo seed waits for the gateway to become ready.
SEED_WAIT_SECONDS = 60.0


async def seed_simulator(stack: Stack) -> None:
    """Seeds the simulator's demo desk once the gateway is ready, so its webhooks reach a
    gateway that can take them."""
    assert stack.simulator_url is not None
    try:
        await wait_until_ready(stack.env, SEED_WAIT_SECONDS)
        async with httpx.AsyncClient(timeout=5.0) as http:
            seeded = await http.post(f"{stack.simulator_url}/_sim/seed", json={"preset": "demo"})
            seeded.raise_for_status()
    except (StackError, httpx.HTTPError) as error:
        print(f"devstack: simulator not seeded: {error}", flush=True)
        return
    count = len(seeded.json()["conversations"])
    print(
        f"devstack: chatwoot simulator seeded {count} demo conversations; "
        f"their webhooks: {stack.simulator_url}/_sim/webhooks",
        flush=True,
    )


async def run(with_simulator: bool = False) -> int:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        stack = await Stack.start(environment(), with_simulator=with_simulator)
    except StackError as error:
        if stopping.is_set():  # Ctrl+C during the migrations
            return 0
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    print("devstack: starting; Ctrl+C stops everything\n" + stack.banner(), flush=True)
    seeding = asyncio.create_task(seed_simulator(stack)) if with_simulator else None
    stop_requested = asyncio.create_task(stopping.wait())
    await asyncio.wait([stop_requested, *stack.exits.values()], return_when=asyncio.FIRST_COMPLETED)
    stop_requested.cancel()
    # After Ctrl+C the children may see SIGINT too (same process group) and exit first.
    crashed = [] if stopping.is_set() else stack.exited()
    for name in crashed:
        code = stack.exits[name].result()
        print(f"devstack: {name} exited (code {code}); stopping the rest", file=sys.stderr)
    if seeding is not None:
        seeding.cancel()
    await stack.stop()
    return 1 if crashed else 0


def main() -> int:
    return asyncio.run(run(with_simulator=SIM_FLAG in sys.argv[1:]))


if __name__ == "__main__":
    sys.exit(main())
