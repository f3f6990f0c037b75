"""A ticket service with stream settings that make heartbeats and slow consumers quick to
see; the channel and stub are tests/conftest.py's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from common.clock import ManualClock
from common.config import TenantsConfig
from common.streams import StreamSettings
from ticket_service import bootstrap

STREAMS = StreamSettings(page_size=20, buffer=60, heartbeat_seconds=0.3, poll_seconds=0.5)


@pytest.fixture
async def ticket_app(
    engine: AsyncEngine, tenants: TenantsConfig, clock: ManualClock
) -> AsyncIterator[bootstrap.TicketApp]:
    app = await bootstrap.start(
        engine=engine, tenants=tenants, listen="127.0.0.1:0", clock=clock, streams=STREAMS
    )
    if app.events.listener is not None:
        await app.events.listener.listening.wait()
    yield app
    await app.stop(grace=1)
