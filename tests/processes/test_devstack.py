from __future__ import annotations

import os
import re
from pathlib import Path

from tests.processes.support import DEV_TOKEN, REPO_ROOT, free_port, running, wait_for_http

# devstack gives its children 15 s to stop before it kills them.
DEVSTACK_STOP_TIMEOUT = 25.0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_runs_the_whole_stack_and_stops_it_on_sigterm(tmp_path: Path) -> None:
    gateway_port = free_port()
    env = {
        "TICKET_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'ticket_service.db'}",
        "ESCALATION_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'escalation_service.db'}",
        "TICKET_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
        "ESCALATION_GRPC_LISTEN": f"127.0.0.1:{free_port()}",
        "GATEWAY_PORT": str(gateway_port),
        "GATEWAY_SPOOL_PATH": str(tmp_path / "spool.db"),
        "SHUTDOWN_GRACE_SECONDS": "2",
    }
    with running("devstack", env=env, cwd=REPO_ROOT) as devstack:
        children = [
            int(devstack.wait_for_line(rf"^\s+{name}\s.*\bpid (\d+)").group(1))
            for name in ("ticket service", "escalation service", "gateway")
        ]
        devstack.wait_for_line(re.escape(f"authorization: Bearer {DEV_TOKEN}"))

        ready = wait_for_http(f"http://127.0.0.1:{gateway_port}/readyz", 200, timeout=30)
        assert ready.json() == {"status": "ready"}

        assert devstack.terminate(DEVSTACK_STOP_TIMEOUT) == 0
        # devstack waited for (and so reaped) every child before exiting.
        assert [pid for pid in children if _alive(pid)] == []
