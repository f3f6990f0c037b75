"""The access token appears nowhere but in the request header: not in logs (ours or
httpx's, tracebacks rendered with their locals included), not in any error's text or repr."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import pytest
import structlog

from common.logging import configure_logging
from tests.chatwoot_client.conftest import READ_TIMEOUT, TIMEOUT, TOKEN, integration
from tests.chatwoot_sim.support import SimulatorProcess
from ticket_service.chatwoot import (
    ChatwootClient,
    ChatwootError,
    CircuitOpen,
    NotFound,
    RateLimited,
    ServerError,
    Timeout,
    UnexpectedResponse,
)

Outcome = tuple[type[ChatwootError], ChatwootError | None]


@contextmanager
def production_logging(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Logging exactly as the services configure it (JSON lines with tracebacks and their
    locals), at DEBUG, plus httpx's and httpcore's own stdlib logs at DEBUG. Entered in the
    test body: the renderer keeps the `sys.stderr` of that moment, capsys's during the call."""
    caplog.set_level(logging.DEBUG)
    configure_logging(level="DEBUG", json=True)
    try:
        yield
    finally:
        structlog.reset_defaults()


async def provoke_every_error(sim: SimulatorProcess, chatwoot: ChatwootClient) -> list[Outcome]:
    """A success, then one call ending in each kind of error, each logged with its
    traceback the way a service would log it."""
    log = structlog.get_logger("test")
    conversation_id = sim.control.seed(conversations=[{}], webhooks=False).conversation_ids[0]
    outcomes: list[Outcome] = []

    async def expect(kind: type[ChatwootError], call: Callable[[], Awaitable[object]]) -> None:
        raised: ChatwootError | None = None
        try:
            await call()
        except ChatwootError as error:
            log.exception("chatwoot_failed")
            raised = error
        outcomes.append((kind, raised))

    await chatwoot.get_conversation(conversation_id)
    await expect(NotFound, lambda: chatwoot.get_conversation(conversation_id + 1))
    sim.control.fault(status=200, times=1)
    await expect(UnexpectedResponse, lambda: chatwoot.get_conversation(conversation_id))
    sim.control.fault(delay_seconds=READ_TIMEOUT + 0.3, times=1)
    await expect(Timeout, lambda: chatwoot.get_conversation(conversation_id))
    sim.control.fault(status=503, times=1)
    await expect(ServerError, lambda: chatwoot.list_agents())
    sim.control.fault(status=429, retry_after=30, times=1)
    await expect(RateLimited, lambda: chatwoot.find_contact_by_phone("+14155550123"))
    await expect(CircuitOpen, lambda: chatwoot.assign(conversation_id, None))
    return outcomes


async def test_the_token_is_in_no_log_and_no_error(
    sim: SimulatorProcess,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with production_logging(caplog):
        # Made here, so its logger renders with the configuration above.
        async with ChatwootClient(integration(sim), timeout=TIMEOUT) as chatwoot:
            outcomes = await provoke_every_error(sim, chatwoot)
            shown = repr(chatwoot)

    logs = capsys.readouterr()
    ours = logs.out + logs.err
    assert '"event": "chatwoot_call"' in ours  # our debug lines were rendered
    assert '"exception"' in ours  # and the tracebacks, with their locals
    assert '"locals"' in ours
    assert "httpx" in {record.name.split(".")[0] for record in caplog.records}
    assert TOKEN not in ours
    assert TOKEN not in caplog.text
    assert len(outcomes) == 6
    for kind, error in outcomes:
        assert isinstance(error, kind), f"{kind.__name__} expected, got {error!r}"
        assert TOKEN not in str(error)
        assert TOKEN not in repr(error)
        assert TOKEN not in repr(vars(error))
        # Nothing chained: httpx's exception would carry the request and its headers.
        assert error.__cause__ is None
        assert error.__context__ is None or error.__suppress_context__
    assert TOKEN not in shown
    assert TOKEN not in repr(integration(sim))


async def test_the_token_is_sent_only_in_its_header(
    sim: SimulatorProcess, chatwoot: ChatwootClient
) -> None:
    await chatwoot.list_agents()
    [call] = sim.control.calls()
    assert call.actor == "admin"  # the simulator knew the token from the header
    assert TOKEN not in call.path
    assert TOKEN not in call.query_string
