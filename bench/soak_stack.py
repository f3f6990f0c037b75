"""The soak's processes: 2 ticket-service and 2 escalation-service replicas, 1 gateway and
the Chatwoot simulator, on the soak's own PostgreSQL cluster (bench/postgres_cluster.py).

Replicas of a service share its database and listen on ports of their own; the gateway and
the escalation service reach the ticket-service replicas through one gRPC target naming
both (`ipv4:127.0.0.1:P1,127.0.0.1:P2`). The simulator stands in for the Chatwoot of all
tenants, one account each (ids 1, 2, ...), and sends no webhooks: the storm is the
soak's, sent straight to the gateway. Each process can be killed and started again.
"""

from __future__ import annotations

import contextlib
import io
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from bench.chains import wait_for_grpc
from bench.postgres_cluster import Cluster
from tests.chatwoot_sim.support import ADMIN_TOKEN, SimulatorProcess
from tests.processes.support import Process, free_port, run_module, wait_for_http

LOG_LEVEL = "WARNING"
# Generous: the soak starts six processes at once on a machine that may be busy.
START_TIMEOUT = 60.0
TENANT_NAMES = ("acme", "globex", "initech", "umbrella", "hooli")
REPLICAS = 2


@dataclass(frozen=True)
class Tenant:
    id: str
    account_id: int
    integration: str
    webhook_secret: str
    gateway_token: str
    escalation_token: str


def tenants(count: int) -> list[Tenant]:
    return [
        Tenant(
            id=name,
            account_id=index + 1,
            integration=f"{name}-chatwoot",
            webhook_secret=f"soak-{name}-webhook-secret-0123456789",
            gateway_token=f"soak-{name}-gateway-token-0123456789",
            escalation_token=f"soak-{name}-escalation-token-0123456789",
        )
        for index, name in enumerate(TENANT_NAMES[:count])
    ]


def _tenants_toml(tenants: list[Tenant], simulator_url: str) -> str:
    blocks = []
    for tenant in tenants:
        blocks.append(
            f"""
[[tenants]]
id = "{tenant.id}"
default_phone_region = "US"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "{tenant.gateway_token}"

[[tenants.api_tokens]]
principal = "escalation-service"
source = "escalation"
token = "{tenant.escalation_token}"

[[tenants.chatwoot]]
name = "{tenant.integration}"
base_url = "{simulator_url}"
account_id = {tenant.account_id}
api_access_token = "{ADMIN_TOKEN}"
webhook_secret = "{tenant.webhook_secret}"
"""
        )
    return "".join(blocks)


@dataclass(frozen=True)
class Timings:
    """Retry intervals of the services, short enough to drain within the soak."""

    sync_retry_max_seconds: float = 5.0
    breaker_cool_down_seconds: float = 5.0
    gateway_retry_max_seconds: float = 5.0


@dataclass
class SoakStack:
    directory: Path
    cluster: Cluster
    simulator: SimulatorProcess
    tenants: list[Tenant]
    timings: Timings
    ticket_ports: list[int] = field(default_factory=list)
    escalation_ports: list[int] = field(default_factory=list)
    gateway_port: int = 0
    processes: dict[str, Process] = field(default_factory=dict)

    @property
    def ticket_database(self) -> str:
        return self.cluster.url("tickets")

    @property
    def escalation_database(self) -> str:
        return self.cluster.url("escalation")

    @property
    def spool_path(self) -> Path:
        return self.directory / "spool.db"

    @property
    def ticket_target(self) -> str:
        return "ipv4:" + ",".join(f"127.0.0.1:{port}" for port in self.ticket_ports)

    def _common_env(self) -> dict[str, str]:
        return {
            "LOG_LEVEL": LOG_LEVEL,
            "TICKETING_TENANTS_FILE": str(self.directory / "tenants.toml"),
            "SHUTDOWN_GRACE_SECONDS": "2",
        }

    def _ticket_env(self, port: int) -> dict[str, str]:
        t = self.timings
        return self._common_env() | {
            "TICKET_DATABASE_URL": self.ticket_database,
            "TICKET_GRPC_LISTEN": f"127.0.0.1:{port}",
            "TICKET_SYNC_POLL_SECONDS": "0.2",
            "TICKET_SYNC_RETRY_MAX_SECONDS": str(t.sync_retry_max_seconds),
            "TICKET_SYNC_BREAKER_COOL_DOWN_SECONDS": str(t.breaker_cool_down_seconds),
        }

    def _escalation_env(self, port: int) -> dict[str, str]:
        return self._common_env() | {
            "ESCALATION_DATABASE_URL": self.escalation_database,
            "ESCALATION_GRPC_LISTEN": f"127.0.0.1:{port}",
            "ESCALATION_TICKET_SERVICE_TARGET": self.ticket_target,
            "ESCALATION_POLL_SECONDS": "0.2",
            "ESCALATION_EFFECTS_RETRY_MAX_SECONDS": "5",
        }

    def _gateway_env(self) -> dict[str, str]:
        return self._common_env() | {
            "GATEWAY_PORT": str(self.gateway_port),
            "TICKET_SERVICE_TARGET": self.ticket_target,
            "GATEWAY_SPOOL_PATH": str(self.spool_path),
            "GATEWAY_RETRY_MAX_SECONDS": str(self.timings.gateway_retry_max_seconds),
        }

    def prepare(self) -> None:
        """Write the tenants file, create and migrate both databases, pick every port."""
        (self.directory / "tenants.toml").write_text(
            _tenants_toml(self.tenants, self.simulator.url)
        )
        with psycopg.connect(self.cluster.url(), autocommit=True, connect_timeout=5) as conn:
            conn.execute("CREATE DATABASE tickets")
            conn.execute("CREATE DATABASE escalation")
        self.ticket_ports = [free_port() for _ in range(REPLICAS)]
        self.escalation_ports = [free_port() for _ in range(REPLICAS)]
        self.gateway_port = free_port()
        for module, env in (
            ("ticket_service", self._ticket_env(0)),
            ("escalation_service", self._escalation_env(0)),
        ):
            done = run_module(module, "migrate", env=env, cwd=self.directory)
            if done.returncode != 0:
                raise RuntimeError(f"{module} migrate failed:\n{done.stderr}")

    def start_ticket(self, replica: int) -> None:
        port = self.ticket_ports[replica]
        process = self._spawn(f"ticket-{replica + 1}", "ticket_service", self._ticket_env(port))
        wait_for_grpc(process, f"127.0.0.1:{port}", START_TIMEOUT)

    def start_escalation(self, replica: int) -> None:
        port = self.escalation_ports[replica]
        env = self._escalation_env(port)
        process = self._spawn(f"escalation-{replica + 1}", "escalation_service", env)
        wait_for_grpc(process, f"127.0.0.1:{port}", START_TIMEOUT)

    def start_gateway(self) -> None:
        self._spawn("gateway", "gateway", self._gateway_env())
        wait_for_http(f"http://127.0.0.1:{self.gateway_port}/healthz", 200, START_TIMEOUT)

    def start_all(self) -> None:
        for replica in range(REPLICAS):
            self.start_ticket(replica)
        for replica in range(REPLICAS):
            self.start_escalation(replica)
        self.start_gateway()
        wait_for_http(f"http://127.0.0.1:{self.gateway_port}/readyz", 200, START_TIMEOUT)

    def kill(self, name: str) -> None:
        """SIGKILL: no shutdown, no flush, nothing finished."""
        process = self.processes[name]
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(10)

    def _spawn(self, name: str, module: str, env: dict[str, str]) -> Process:
        old = self.processes.pop(name, None)
        if old is not None:
            _close_quietly(old)
        process = Process(module, env=env, cwd=self.directory)
        self.processes[name] = process
        return process

    def exited(self) -> list[str]:
        """Processes that stopped by themselves (not the ones the soak killed)."""
        return [name for name, p in self.processes.items() if p.popen.poll() is not None]

    def stop_all(self) -> dict[str, str]:
        """SIGTERM (then SIGKILL) every process; each one's output, for a failed run."""
        outputs = {}
        for name, process in self.processes.items():
            with contextlib.suppress(Exception):
                process.terminate()
            outputs[name] = _close_quietly(process)
        return outputs


def _close_quietly(process: Process) -> str:
    """Close `process` (which prints its output), returning that output instead."""
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        process.close()
    return shown.getvalue()


@contextlib.contextmanager
def running_stack(
    directory: Path,
    cluster: Cluster,
    simulator: SimulatorProcess,
    tenants: list[Tenant],
    timings: Timings,
) -> Iterator[SoakStack]:
    stack = SoakStack(directory, cluster, simulator, tenants, timings)
    failed = True
    try:
        stack.prepare()
        stack.start_all()
        yield stack
        failed = False
    finally:
        outputs = stack.stop_all()
        if failed:
            for name, output in outputs.items():
                tail = "\n".join(output.splitlines()[-40:])
                print(f"--- {name}\n{tail}", file=sys.stderr)
