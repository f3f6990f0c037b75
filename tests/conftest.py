"""Shared fixtures. Database tests run once per backend: SQLite and PostgreSQL.

PostgreSQL comes from TEST_DATABASE_URL (default: the local server). Each test session
creates its own database there and drops it at the end. An unreachable server fails the
tests that need it; it never skips them. `TEST_BACKENDS=sqlite` opts out explicitly
(`make test-sqlite`), and CI never sets it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from common.config import TenantsConfig, parse_tenants
from common.db import create_engine
from escalation_service.adapters import migrate as escalation_migrate
from escalation_service.adapters.tables import metadata as escalation_metadata
from ticket_service import bootstrap
from ticket_service.adapters.migrate import upgrade
from ticket_service.adapters.tables import metadata
from ticketing.ticket.v1 import ticket_service_pb2_grpc

PG_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BACKENDS = [b for b in os.environ.get("TEST_BACKENDS", "sqlite,postgresql").split(",") if b]

ACME_TOKEN = "acme-api-token-0123456789"
ACME_GATEWAY_TOKEN = "acme-gateway-token-0123456789"
GLOBEX_TOKEN = "globex-api-token-0123456789"
ACME_INTEGRATION = "acme-chatwoot"
ACME_WEBHOOK_SECRET = "acme-webhook-secret-0123456789"
START = datetime(2026, 6, 17, 10, 0, tzinfo=UTC)


def tenants_document() -> dict[str, Any]:
    """The test tenants as the TOML file would hold them, for tests that add to them."""
    return {
        "tenants": [
            {
                "id": "acme",
                "default_phone_region": "US",
                "api_tokens": [
                    {"principal": "tester", "token": ACME_TOKEN},
                    {"principal": "gateway", "source": "chatwoot", "token": ACME_GATEWAY_TOKEN},
                ],
                # The sample payloads in tests/fixtures/chatwoot are from account 3.
                "chatwoot": [
                    {
                        "name": ACME_INTEGRATION,
                        "base_url": "http://127.0.0.1:9",
                        "account_id": 3,
                        "api_access_token": "acme-chatwoot-access-token",
                        "webhook_secret": ACME_WEBHOOK_SECRET,
                    }
                ],
            },
            {
                "id": "globex",
                "default_phone_region": "BR",
                "api_tokens": [{"principal": "tester", "token": GLOBEX_TOKEN}],
            },
        ]
    }


def tenants_config() -> TenantsConfig:
    return parse_tenants(tenants_document())


@pytest.fixture(scope="session")
def tenants() -> TenantsConfig:
    return tenants_config()


def _admin_dsn() -> str:
    return make_url(PG_URL).set(drivername="postgresql").render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    async def run() -> None:
        engine = create_engine(url)
        try:
            # Each service has its own tables and version table, so the tests keep both in
            # one database per backend.
            await upgrade(engine)
            await escalation_migrate.upgrade(engine)
        finally:
            await engine.dispose()

    asyncio.run(run())


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test session."""
    name = f"ticketing_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(_admin_dsn(), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        pytest.fail(f"PostgreSQL at {PG_URL} is unreachable: {error}", pytrace=False)
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(_admin_dsn()).set(database=name).render_as_string(hide_password=False)
    _migrate(url)
    yield url
    with psycopg.connect(_admin_dsn(), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("sqlite") / "ticket_service.db"
    url = f"sqlite+aiosqlite:///{path}"
    _migrate(url)
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_url"))


async def empty_tables(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for table in [*reversed(metadata.sorted_tables), *escalation_metadata.sorted_tables]:
            await conn.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    await empty_tables(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
def clock() -> ManualClock:
    """Starts at START and moves a millisecond per reading, so ordering is deterministic."""
    return ManualClock(START, step=timedelta(milliseconds=1))


@pytest.fixture
async def ticket_app(
    engine: AsyncEngine, tenants: TenantsConfig, clock: ManualClock
) -> AsyncIterator[bootstrap.TicketApp]:
    app = await bootstrap.start(engine=engine, tenants=tenants, listen="127.0.0.1:0", clock=clock)
    yield app
    await app.stop(grace=1)


@pytest.fixture
async def channel(ticket_app: bootstrap.TicketApp) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{ticket_app.port}") as channel:
        yield channel


@pytest.fixture
def stub(channel: grpc.aio.Channel) -> ticket_service_pb2_grpc.TicketServiceAsyncStub:
    return ticket_service_pb2_grpc.TicketServiceStub(channel)


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


ACME = bearer(ACME_TOKEN)
GLOBEX = bearer(GLOBEX_TOKEN)
