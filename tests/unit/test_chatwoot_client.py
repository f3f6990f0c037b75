"""What the Chatwoot client decides before any request: its settings, its arguments, and
what it shows of itself. Everything it sends is tested against the simulator in
tests/chatwoot_client/."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from common.config import ChatwootIntegration
from ticket_service.chatwoot import ChatwootClient, ChatwootStatus
from ticket_service.chatwoot.client import _AccessToken

TOKEN = "cw-unit-XYZZY-token-0123456789"


def integration() -> ChatwootIntegration:
    return ChatwootIntegration(
        name="acme-chatwoot",
        base_url="https://chatwoot.acme.example/",
        account_id=3,
        api_access_token=SecretStr(TOKEN),
        webhook_secret=SecretStr("webhook-secret-0123456789"),
    )


@pytest.fixture
async def client() -> AsyncIterator[ChatwootClient]:
    async with ChatwootClient(integration()) as client:
        yield client


def test_every_timeout_phase_must_be_limited() -> None:
    with pytest.raises(ValueError, match="unlimited: read, pool"):
        ChatwootClient(
            integration(), timeout=httpx.Timeout(connect=1.0, read=None, write=1.0, pool=None)
        )


async def test_repr_names_the_integration_not_the_token(client: ChatwootClient) -> None:
    assert repr(client) == (
        "ChatwootClient(integration='acme-chatwoot', "
        "base_url='https://chatwoot.acme.example/api/v1/accounts/3')"
    )
    assert TOKEN not in repr(vars(client))


def test_the_token_holder_shows_nothing_and_scrubs_echoes() -> None:
    auth = _AccessToken(SecretStr(TOKEN))
    assert TOKEN not in repr(auth)
    assert auth.scrub(f"bad header api_access_token: {TOKEN}!") == (
        "bad header api_access_token: [redacted]!"
    )
    assert _AccessToken(SecretStr("")).scrub("text") == "text"


def test_the_header_is_set_on_the_request() -> None:
    request = httpx.Request("GET", "https://chatwoot.acme.example/api/v1/accounts/3/agents")
    flow = _AccessToken(SecretStr(TOKEN)).auth_flow(request)
    assert next(flow).headers["api_access_token"] == TOKEN


@pytest.mark.parametrize("bad", [0, -1, True])
async def test_ids_must_be_positive_integers(client: ChatwootClient, bad: int) -> None:
    with pytest.raises(ValueError, match="conversation_id must be a positive integer"):
        await client.get_conversation(bad)
    with pytest.raises(ValueError, match="assignee_id must be a positive integer"):
        await client.assign(1, bad)


async def test_arguments_chatwoot_would_misread_are_refused(client: ChatwootClient) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await client.toggle_status(1, ChatwootStatus.SNOOZED, datetime(2026, 6, 18, 9))
    with pytest.raises(ValueError, match="q must not be empty"):
        await client.search_contacts("")
    with pytest.raises(ValueError, match="needs content"):
        await client.create_private_note(1, "")
    with pytest.raises(ValueError, match="labels must be non-empty strings"):
        await client.set_labels(1, ["ok", ""])
    with pytest.raises(ValueError, match="updated_within must be positive"):
        await client.list_conversations(updated_within=timedelta(0))
    # Nothing was sent, so nothing counted against the breaker.
    assert client.breaker.consecutive_failures == 0
