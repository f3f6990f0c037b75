"""`make run SIM=1`: devstack runs the simulator where the dev tenants expect Chatwoot, seeds
its demo desk once the gateway is ready, and the simulator's signed webhooks become tickets."""

from __future__ import annotations

import re
import time
from pathlib import Path

import grpc

from tests.chatwoot_sim.support import SimulatorControl
from tests.processes.support import DEV_TENANTS_FILE, DEV_TOKEN, REPO_ROOT, free_port, running
from ticketing.ticket.v1 import ticket_service_pb2 as api
from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceStub

STOP_TIMEOUT = 25.0


def test_devstack_runs_the_simulator_and_the_loop_closes(tmp_path: Path) -> None:
    # The dev tenants file, with Chatwoot on a free port (3000 may be taken on this machine).
    simulator_port = free_port()
    tenants = tmp_path / "tenants.toml"
    tenants.write_text(
        DEV_TENANTS_FILE.read_text().replace(
            "http://127.0.0.1:3000", f"http://127.0.0.1:{simulator_port}"
        )
    )
    ticket_address = f"127.0.0.1:{free_port()}"
    env = {
        "TICKET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ticket_service.db'}",
        "ESCALATION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'escalation_service.db'}",
        "TICKETING_TENANTS_FILE": str(tenants),
        "TICKET_GRPC_LISTEN": ticket_address,
        "ESCALATION_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_SPOOL_PATH": str(tmp_path / "spool.db"),
        "SHUTDOWN_GRACE_SECONDS": "2",
    }
    with running("devstack", "--chatwoot-sim", env=env, cwd=REPO_ROOT) as devstack:
        line = devstack.wait_for_line(r"^\s+chatwoot simulator\s+http\s+(\S+)\s+pid (\d+)")
        assert line.group(1) == f"http://127.0.0.1:{simulator_port}"
        devstack.wait_for_line(r"seeded 2 demo conversations", timeout=60)
        control = SimulatorControl(line.group(1))
        try:
            webhooks = control.wait_for_webhooks(
                lambda hooks: bool(hooks) and all(h.outcome != "pending" for h in hooks),
                timeout=20,
            )
        finally:
            control.close()
        # Every webhook was signed as the dev integration expects and accepted.
        assert {(h.outcome, h.status_code) for h in webhooks} <= {
            ("delivered", 200),
            ("delivered", 202),
        }, webhooks
        with grpc.insecure_channel(ticket_address) as channel:
            tickets = TicketServiceStub(channel)
            conversations: set[int] = set()
            deadline = time.monotonic() + 20
            while conversations != {1, 2}:
                assert time.monotonic() < deadline, f"tickets for {conversations}"
                listed = tickets.ListTickets(
                    api.ListTicketsRequest(),
                    metadata=(("authorization", f"Bearer {DEV_TOKEN}"),),
                    timeout=5,
                )
                conversations = {t.conversation.conversation_id for t in listed.tickets}
                time.sleep(0.2)
        assert devstack.terminate(STOP_TIMEOUT) == 0
        assert not re.search(r"exited \(code", devstack.output())
