"""Gateway tests: the tenants gain Chatwoot integrations (account 3, as in the samples)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from common.config import TenantsConfig
from tests.gateway.support import (
    RunningGateway,
    ScriptedTicketService,
    gateway_tenants,
    run_gateway,
    scripted_service,
)


@pytest.fixture(scope="session")
def tenants() -> TenantsConfig:
    """Overrides tests.conftest's, so `ticket_app` knows the integrations too."""
    return gateway_tenants()


@pytest.fixture
async def service() -> AsyncIterator[ScriptedTicketService]:
    async with scripted_service() as service:
        yield service


@pytest.fixture
async def gateway(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    """The gateway in front of a scripted ticket service that answers OK."""
    async with run_gateway(
        tenants, target=service.target, spool_path=tmp_path / "spool.db"
    ) as running:
        yield running
