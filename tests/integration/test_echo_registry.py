"""The echo registry: what we wrote to Chatwoot, stamped when it was sent."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import START
from ticket_service.adapters.chatwoot_store import EchoRegistry, ExpectedEcho

LATER = START + timedelta(minutes=10)


async def test_sending_stamps_the_expectation_the_change_recorded(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        echoes = EchoRegistry(conn, "acme")
        await echoes.expect(3, 42, "status", "resolved", LATER)

        await echoes.sent(
            3, 42, "status", "resolved", write_time=START, expire_time=LATER, expect_again=False
        )

        assert await echoes.pending(3, 42, START) == [ExpectedEcho("status", "resolved", START)]


async def test_an_echo_that_beat_the_stamp_leaves_nothing_behind(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        echoes = EchoRegistry(conn, "acme")
        await echoes.expect(3, 42, "status", "resolved", LATER)
        await echoes.forget(3, 42, "status", "resolved")  # the webhook echo arrived first

        await echoes.sent(
            3, 42, "status", "resolved", write_time=START, expire_time=LATER, expect_again=False
        )

        assert await echoes.pending(3, 42, START) == []


async def test_an_expectation_that_expired_while_queued_is_recorded_again(
    engine: AsyncEngine,
) -> None:
    async with engine.begin() as conn:
        echoes = EchoRegistry(conn, "acme")

        await echoes.sent(
            3, 42, "priority", "high", write_time=START, expire_time=LATER, expect_again=True
        )

        assert await echoes.pending(3, 42, START) == [ExpectedEcho("priority", "high", START)]
        assert await echoes.pending(3, 42, LATER) == []
        assert await EchoRegistry(conn, "globex").pending(3, 42, START) == []
