"""Start and stop the chains the benchmarks measure, as real processes on 127.0.0.1.

- real: `python -m gateway` + `python -m ticket_service` (migrated first with
  `python -m ticket_service migrate`), configured as tests/processes/test_webhook_chain.py
  configures them, on the run's PostgreSQL database;
- bare: `python -m bench.bare_chain gateway` + `... service` on the same database;
- escalation: the real chain plus `python -m escalation_service`, started by devstack's
  `Stack` as `make demo` starts it, without the Chatwoot simulator.

All log at WARNING only, so per-request logging does not dominate what is measured.
Process handling of the first two (own process group, output collected in the background,
bounded waits, nothing leaked) is tests/processes/support.py's, of the third devstack's.
"""

from __future__ import annotations

import contextlib
import io
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import LiteralString

import grpc
import psycopg
from sqlalchemy.engine import make_url

from bench.deliveries import ACCOUNT_ID, Delivery, signed_headers
from bench.load_driver import Source, http_request
from devstack.stack import Stack, local_environment, wait_until_ready
from tests.processes.support import (
    REPO_ROOT,
    Process,
    free_port,
    health_status,
    run_module,
    wait_for_http,
)

# Seconds a process may take to serve: more than the tests allow, since the benchmarks run
# while other work loads the machine (the escalation service has taken 16 s to start).
START_TIMEOUT = 60.0
LOG_LEVEL = "WARNING"  # the services' LOG_LEVEL takes logging's names, upper case
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"  # noqa: S105 - the bench's own
TENANT = "bench"
API_TOKEN = "bench-api-token-0123456789"  # noqa: S105 - the bench's own, in TENANTS
INTEGRATION = "bench-chatwoot"
# A service's credential (not Chatwoot's): the benchmarks' own calls to the ticket service.
SERVICE_TOKEN = "bench-escalation-token-0123456789"  # noqa: S105 - the bench's own
TENANTS = f"""
[[tenants]]
id = "{TENANT}"
default_phone_region = "US"

[[tenants.api_tokens]]
principal = "bench-api"
source = "api"
token = "bench-api-token-0123456789"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "bench-gateway-token-0123456789"

[[tenants.api_tokens]]
principal = "escalation-service"
source = "escalation"
token = "{SERVICE_TOKEN}"

[[tenants.chatwoot]]
name = "{INTEGRATION}"
base_url = "http://127.0.0.1:9"
account_id = {ACCOUNT_ID}
api_access_token = "unused-here"
webhook_secret = "{WEBHOOK_SECRET}"
"""


@dataclass(frozen=True)
class Database:
    name: str
    url: str  # postgresql://…, which the services turn into postgresql+psycopg


@contextlib.contextmanager
def bench_database(admin_url: str) -> Iterator[Database]:
    """A fresh database `bench_<random>` on the server of `admin_url`, dropped afterwards."""
    admin = make_url(admin_url).set(drivername="postgresql")
    name = f"bench_{secrets.token_hex(5)}"
    admin_dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield Database(name, admin.set(database=name).render_as_string(hide_password=False))
    finally:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Chain:
    """A running chain: where to post deliveries, its processes, and how to check that
    every delivery it answered 200 left its row."""

    name: str
    port: int
    path: str
    pids: dict[str, int]
    stored_keys: Callable[[], set[str]]
    key_of: Callable[[Delivery], str]
    # Every replica of the service when the chain runs several; pids["service"] is the first.
    replica_pids: tuple[int, ...] = ()

    @property
    def service_pids(self) -> tuple[int, ...]:
        """The service's processes: its replicas, or its one process."""
        return self.replica_pids or (self.pids["service"],)

    def missing(self, answered: Sequence[Delivery]) -> list[Delivery]:
        stored = self.stored_keys()
        return [d for d in answered if self.key_of(d) not in stored]

    def source(self, next_delivery: Callable[[], Delivery | None]) -> Source[Delivery]:
        """Requests for the load driver: each delivery posted here, signed when sent."""
        host = f"127.0.0.1:{self.port}"

        def source() -> tuple[bytes, Delivery] | None:
            delivery = next_delivery()
            if delivery is None:
                return None
            headers = signed_headers(WEBHOOK_SECRET, delivery)
            return http_request(host, self.path, headers, delivery.body), delivery

        return source


def analyze(database: Database) -> None:
    """Refresh the planner's statistics, as autovacuum does within a minute of a table's
    growth. A fresh database seeded in seconds still has empty-table statistics, on which
    the services' prepared statements get generic plans that scan a tenant's tickets by
    status to find one by id (cached for the life of the connection, until this)."""
    with psycopg.connect(database.url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("ANALYZE")


def _query_keys(
    database: Database, sql: LiteralString, params: Sequence[object] = ()
) -> Callable[[], set[str]]:
    def stored() -> set[str]:
        with psycopg.connect(database.url, connect_timeout=5) as conn:
            return {str(row[0]) for row in conn.execute(sql, params)}

    return stored


def wait_for_grpc(process: Process, address: str, timeout: float = START_TIMEOUT) -> None:
    """Until the server at `address` reports SERVING. At WARNING the service does not log
    its "serving" record, so health is the readiness signal."""
    deadline = time.monotonic() + timeout
    while True:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.module} exited with {process.popen.returncode}")
        with contextlib.suppress(grpc.RpcError):
            if health_status(address, timeout=1.0) == "SERVING":
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{process.module} not serving at {address} in {timeout:g} s")
        time.sleep(0.1)


@contextlib.contextmanager
def running(module: str, *args: str, env: dict[str, str], cwd: Path) -> Iterator[Process]:
    """A process stopped with SIGTERM (then killed) at the end. Its output is shown only
    when something failed: on a clean run it would bury the results."""
    process = Process(module, *args, env={"LOG_LEVEL": LOG_LEVEL, **env}, cwd=cwd)
    failed = True
    try:
        yield process
        failed = False
    finally:
        with contextlib.suppress(Exception):
            process.terminate()
        shown = io.StringIO()
        with contextlib.redirect_stdout(shown):
            process.close()
        if failed:
            print(shown.getvalue(), file=sys.stderr)


@contextlib.contextmanager
def bare_chain(database: Database) -> Iterator[Chain]:
    with bare_service(database) as service:
        gateway_port = free_port()
        with running(
            "bench.bare_chain",
            "gateway",
            "--port",
            str(gateway_port),
            "--target",
            service.address,
            env={},
            cwd=REPO_ROOT,
        ) as gateway:
            wait_for_http(f"http://127.0.0.1:{gateway_port}/healthz", 200, START_TIMEOUT)
            yield Chain(
                name="bare",
                port=gateway_port,
                path="/deliveries",
                pids={"gateway": gateway.pid, "service": service.pid},
                stored_keys=_query_keys(database, "SELECT delivery_id FROM bench_bare_deliveries"),
                key_of=lambda d: d.delivery_id,
            )


def migrate(database: Database, directory: Path, service: str = "ticket_service") -> None:
    """`python -m <service> migrate`, as a deployment runs it before the replicas."""
    env = (
        ticket_env(database, directory, 0)
        if service == "ticket_service"
        else escalation_env(database, directory, 0, "")
    )
    result = run_module(service, "migrate", env=env, cwd=directory)
    if result.returncode != 0:
        raise RuntimeError(f"{service} migration failed ({result.returncode}):\n{result.stderr}")


def _tenants_file(directory: Path) -> Path:
    tenants = directory / "tenants.toml"
    tenants.write_text(TENANTS)
    return tenants


def ticket_env(database: Database, directory: Path, port: int) -> dict[str, str]:
    tenants = _tenants_file(directory)
    return {
        "LOG_LEVEL": LOG_LEVEL,
        "TICKET_DATABASE_URL": database.url,
        "TICKETING_TENANTS_FILE": str(tenants),
        "TICKET_GRPC_LISTEN": f"127.0.0.1:{port}",
        "SHUTDOWN_GRACE_SECONDS": "2",
        # Webhook intake only, as tests/processes/test_webhook_chain.py runs it: there is
        # no Chatwoot API here to write back to or reconcile from.
        "TICKET_SYNC_ENABLED": "false",
        "TICKET_RECONCILE_ENABLED": "false",
    }


def gateway_env(directory: Path, port: int, ticket_target: str) -> dict[str, str]:
    return {
        "GATEWAY_PORT": str(port),
        "TICKET_SERVICE_TARGET": ticket_target,
        "TICKETING_TENANTS_FILE": str(_tenants_file(directory)),
        "GATEWAY_SPOOL_PATH": str(directory / "spool.db"),
    }


def escalation_env(
    database: Database, directory: Path, port: int, ticket_target: str
) -> dict[str, str]:
    """The escalation service's production settings, without Chatwoot (as devstack)."""
    return {
        "LOG_LEVEL": LOG_LEVEL,
        "ESCALATION_DATABASE_URL": database.url,
        "TICKETING_TENANTS_FILE": str(_tenants_file(directory)),
        "ESCALATION_GRPC_LISTEN": f"127.0.0.1:{port}",
        "ESCALATION_TICKET_SERVICE_TARGET": ticket_target,
        "SHUTDOWN_GRACE_SECONDS": "2",
        "ESCALATION_AGENT_SYNC_ENABLED": "false",
    }


def _stored_messages(database: Database) -> Callable[[], set[str]]:
    return _query_keys(
        database,
        "SELECT chatwoot_message_id FROM conversation_messages "
        "WHERE tenant_id = %s AND account_id = %s",
        (TENANT, ACCOUNT_ID),
    )


@dataclass(frozen=True)
class Service:
    """A running gRPC service process and where it serves."""

    process: Process
    address: str

    @property
    def pid(self) -> int:
        return self.process.pid


@contextlib.contextmanager
def ticket_service(
    database: Database, directory: Path, *, migrate: bool = False
) -> Iterator[Service]:
    """`python -m ticket_service serve` on `database`, serving when yielded; migrated first
    with `migrate` (one process start fewer than a separate `migrate`)."""
    with ticket_services(database, directory, 1, migrate=migrate) as (service,):
        yield service


@contextlib.contextmanager
def ticket_services(
    database: Database, directory: Path, count: int, *, migrate: bool = False
) -> Iterator[list[Service]]:
    """`count` replicas of `python -m ticket_service serve` on the same `database`, started
    together (a start is seconds of imports on a loaded machine), all serving when yielded.
    `migrate` is for one replica: a deployment migrates before it starts several."""
    if migrate and count != 1:
        raise ValueError("migrate once, before starting replicas")
    args = ["serve", "--migrate"] if migrate else ["serve"]
    # Migrating is a second start's worth of work on a loaded machine.
    timeout = START_TIMEOUT * (2 if migrate else 1)
    with contextlib.ExitStack() as stack:
        services = []
        for _ in range(count):
            port = free_port()
            env = ticket_env(database, directory, port)
            process = stack.enter_context(running("ticket_service", *args, env=env, cwd=directory))
            services.append(Service(process, f"127.0.0.1:{port}"))
        for service in services:
            wait_for_grpc(service.process, service.address, timeout)
        yield services


@contextlib.contextmanager
def bare_stream() -> Iterator[tuple[Process, int]]:
    """`python -m bench.bare_stream`, serving; and its port."""
    with running("bench.bare_stream", env={}, cwd=REPO_ROOT) as server:
        yield server, server.serving_port()


@contextlib.contextmanager
def bare_service(database: Database) -> Iterator[Service]:
    """`python -m bench.bare_chain service` on `database`, serving when yielded."""
    with running(
        "bench.bare_chain", "service", "--database-url", database.url, env={}, cwd=REPO_ROOT
    ) as process:
        yield Service(process, f"127.0.0.1:{process.serving_port(START_TIMEOUT)}")


def replicas_target(services: Sequence[Service]) -> str:
    """The gateway's target for every replica: one address, or a list the channel balances
    round robin over (common/grpc/client.py), as a deployment's replicas would be named."""
    if len(services) == 1:
        return services[0].address
    return "ipv4:" + ",".join(service.address for service in services)


@contextlib.contextmanager
def real_chain(database: Database, directory: Path, replicas: int = 1) -> Iterator[Chain]:
    """Our gateway and ticket service (`replicas` processes of it, on the one database,
    behind one gateway target), on a migrated `database`. The gateway keeps its production
    settings (2 s forward timeout, then the spool): a 202 is a failed delivery for the
    benchmark."""
    with ticket_services(database, directory, replicas) as services:
        gateway_port = free_port()
        env = gateway_env(directory, gateway_port, replicas_target(services))
        with running("gateway", env=env, cwd=directory) as gateway:
            wait_for_http(f"http://127.0.0.1:{gateway_port}/readyz", 200, START_TIMEOUT)
            yield Chain(
                name="real",
                port=gateway_port,
                path=f"/webhooks/chatwoot/{INTEGRATION}",
                pids={"gateway": gateway.pid, "service": services[0].pid},
                stored_keys=_stored_messages(database),
                key_of=lambda d: str(d.message_id),
                replica_pids=tuple(service.pid for service in services),
            )


@contextlib.asynccontextmanager
async def escalation_chain(
    database: Database, directory: Path, *, poll_seconds: float | None = None
) -> AsyncIterator[Chain]:
    """The gateway, the ticket service and the escalation service on `database`, which is
    migrated first, with every process's output in `directory`. The services keep their
    production polling intervals unless `poll_seconds` sets the escalation consumer's."""
    env = local_environment(directory)
    # The demo's short intervals would flatter the decision latency.
    for name in ("TICKET_SYNC_POLL_SECONDS", "ESCALATION_POLL_SECONDS"):
        env.pop(name)
    env |= {
        "TICKET_DATABASE_URL": database.url,
        "ESCALATION_DATABASE_URL": database.url,
        "TICKETING_TENANTS_FILE": str(_tenants_file(directory)),
        "LOG_LEVEL": LOG_LEVEL,
    }
    if poll_seconds is not None:
        env["ESCALATION_POLL_SECONDS"] = str(poll_seconds)
    stack = await Stack.start(env, logs=directory)
    failed = True
    try:
        await wait_until_ready(env, START_TIMEOUT)
        yield Chain(
            name="escalation",
            port=int(env["GATEWAY_PORT"]),
            path=f"/webhooks/chatwoot/{INTEGRATION}",
            pids={name: child.pid for name, child in stack.children.items()},
            stored_keys=_stored_messages(database),
            key_of=lambda d: str(d.message_id),
        )
        failed = stack.exited() != []
    finally:
        await stack.stop()
        if failed:
            _show_logs(directory)


def _show_logs(directory: Path, lines: int = 40) -> None:
    """The end of each process's log, when something failed: the directory goes away."""
    for log in sorted(directory.glob("*.log")):
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- {log.name}", *tail, sep="\n", file=sys.stderr)
