"""Who may deliver: signatures, timestamps, URL tokens, unsigned automation, sizes, names."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from common.clock import ManualClock
from common.config import TenantsConfig
from gateway.body import MAX_BODY_BYTES
from gateway.verification import sign
from tests.chatwoot_samples import sample
from tests.conftest import START
from tests.gateway.support import (
    AUTOMATION_INTEGRATION,
    INTEGRATION,
    LEGACY_INTEGRATION,
    SECRETS,
    URL_TOKEN,
    WEBHOOK_SECRET,
    RunningGateway,
    ScriptedTicketService,
    encode,
    run_gateway,
)
from ticketing.ticket.v1 import chatwoot_pb2 as cw

NOW = int(START.timestamp())


@pytest.fixture
async def gateway(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    """On a clock that stands still at START, so timestamps are exact."""
    async with run_gateway(
        tenants, target=service.target, spool_path=tmp_path / "spool.db", clock=ManualClock(START)
    ) as running:
        yield running


async def assert_refused(
    response: httpx.Response,
    status: int,
    reason: str,
    gateway: RunningGateway,
    service: ScriptedTicketService,
) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert reason in response.json()["error"]
    for secret in SECRETS:
        assert secret not in response.text
    assert service.calls == []
    assert await gateway.spool.entries() == []


def signed(raw: bytes, *, timestamp: int = NOW, secret: str = WEBHOOK_SECRET) -> dict[str, str]:
    return {
        "x-chatwoot-timestamp": str(timestamp),
        "x-chatwoot-signature": sign(secret, str(timestamp), raw),
    }


async def test_a_signed_delivery_is_forwarded(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(sample("message_created"), delivery_id="d-1")

    assert response.status_code == 200
    assert response.json()["outcome"] == "applied"
    assert service.delivery_ids == ["d-1"]


async def test_a_signature_made_with_another_secret_does_not_match(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    raw = encode(sample("message_created"))
    headers = signed(raw, secret="not-the-webhook-secret")

    response = await gateway.post(raw, signed=False, headers=headers)

    await assert_refused(response, 401, "signature does not match", gateway, service)


async def test_a_signature_over_another_body_does_not_match(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    original = sample("message_created")
    tampered = sample("message_created")
    tampered["content"] = "Please refund me twice."

    response = await gateway.post(tampered, signed=False, headers=signed(encode(original)))

    await assert_refused(response, 401, "signature does not match", gateway, service)


async def test_a_signature_for_another_timestamp_does_not_match(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    raw = encode(sample("message_created"))
    headers = signed(raw, timestamp=NOW - 10) | {"x-chatwoot-timestamp": str(NOW)}

    response = await gateway.post(raw, signed=False, headers=headers)

    await assert_refused(response, 401, "signature does not match", gateway, service)


@pytest.mark.parametrize(
    ("offset", "accepted"), [(-300, True), (-301, False), (60, True), (61, False)]
)
async def test_the_timestamp_must_be_within_the_window(
    gateway: RunningGateway, service: ScriptedTicketService, offset: int, accepted: bool
) -> None:
    raw = encode(sample("message_created"))

    response = await gateway.post(raw, signed=False, headers=signed(raw, timestamp=NOW + offset))

    if accepted:
        assert response.status_code == 200
    else:
        await assert_refused(
            response, 401, "timestamp outside the allowed window", gateway, service
        )


async def test_the_window_is_a_setting(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    clock = ManualClock(START)
    from gateway.settings import Settings

    settings = Settings(signature_max_age_seconds=10, signature_max_future_seconds=0)
    async with run_gateway(
        tenants, target=service.target, spool_path=tmp_path / "s.db", clock=clock, settings=settings
    ) as gateway:
        raw = encode(sample("message_created"))
        stale = await gateway.post(raw, signed=False, headers=signed(raw, timestamp=NOW - 11))
        ahead = await gateway.post(raw, signed=False, headers=signed(raw, timestamp=NOW + 1))
        clock.advance(timedelta(seconds=1))
        fresh = await gateway.post(raw, signed=False, headers=signed(raw, timestamp=NOW))

    assert (stale.status_code, ahead.status_code, fresh.status_code) == (401, 401, 200)


async def test_a_missing_signature_is_refused(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(sample("message_created"), signed=False)

    await assert_refused(response, 401, "missing X-Chatwoot-Signature", gateway, service)


async def test_a_missing_timestamp_is_refused(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    raw = encode(sample("message_created"))
    headers = {"x-chatwoot-signature": signed(raw)["x-chatwoot-signature"]}

    response = await gateway.post(raw, signed=False, headers=headers)

    await assert_refused(response, 401, "missing X-Chatwoot-Timestamp", gateway, service)


@pytest.mark.parametrize(
    "signature",
    [
        "",
        "sha256=",
        "sha256=xyz",
        "sha1=" + "0" * 40,
        "0" * 64,
        "sha256=" + "0" * 63,
        "sha256=" + "0" * 65,
        "SHA256=" + "0" * 64,
        "sha256=" + "é" * 64,
    ],
)
async def test_a_malformed_signature_header_is_refused(
    gateway: RunningGateway, service: ScriptedTicketService, signature: str
) -> None:
    raw = encode(sample("message_created"))
    headers = {"x-chatwoot-timestamp": str(NOW), "x-chatwoot-signature": signature}

    # Header values are bytes on the wire; Starlette reads them as Latin-1.
    response = await gateway.post(
        raw, signed=False, headers={k: v.encode() for k, v in headers.items()}
    )

    await assert_refused(response, 401, "malformed X-Chatwoot-Signature", gateway, service)


@pytest.mark.parametrize("timestamp", ["", "soon", "-5", "1.5", "1e9", "9" * 13])
async def test_a_malformed_timestamp_is_refused(
    gateway: RunningGateway, service: ScriptedTicketService, timestamp: str
) -> None:
    raw = encode(sample("message_created"))
    headers = {
        "x-chatwoot-timestamp": timestamp,
        "x-chatwoot-signature": sign(WEBHOOK_SECRET, timestamp, raw),
    }

    response = await gateway.post(raw, signed=False, headers=headers)

    await assert_refused(response, 401, "malformed X-Chatwoot-Timestamp", gateway, service)


async def test_verification_comes_before_reading_the_payload(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(b"not json", signed=False)

    await assert_refused(response, 401, "missing X-Chatwoot-Signature", gateway, service)


async def test_url_token_mode_accepts_the_configured_token(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(
        sample("message_created"),
        integration=LEGACY_INTEGRATION,
        signed=False,
        params={"token": URL_TOKEN},
    )

    assert response.status_code == 200
    assert service.calls[0].request.delivery.integration == LEGACY_INTEGRATION


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({}, "missing `token`"),
        ({"token": ""}, "does not match"),
        ({"token": URL_TOKEN[:-1]}, "does not match"),
        ({"token": URL_TOKEN + "x"}, "does not match"),
        ({"token": "ünïcödé-token-0123456789"}, "does not match"),
        ({"secret": URL_TOKEN}, "missing `token`"),
    ],
)
async def test_url_token_mode_refuses_a_wrong_or_missing_token(
    gateway: RunningGateway, service: ScriptedTicketService, params: dict[str, str], reason: str
) -> None:
    response = await gateway.post(
        sample("message_created"), integration=LEGACY_INTEGRATION, signed=False, params=params
    )

    await assert_refused(response, 401, reason, gateway, service)


async def test_url_token_mode_does_not_take_a_signature_instead(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    raw = encode(sample("message_created"))

    response = await gateway.post(
        raw, integration=LEGACY_INTEGRATION, signed=False, headers=signed(raw)
    )

    await assert_refused(response, 401, "missing `token`", gateway, service)


@pytest.mark.parametrize("event", ["automation_event.conversation_updated", "macro.executed"])
async def test_unsigned_automation_is_accepted_where_allowed(
    gateway: RunningGateway, service: ScriptedTicketService, event: str
) -> None:
    body = sample("conversation_updated")
    body["event"] = event

    response = await gateway.post(body, integration=AUTOMATION_INTEGRATION, signed=False)

    assert response.status_code == 200
    delivery = service.calls[0].request.delivery
    assert delivery.kind == cw.CHATWOOT_EVENT_KIND_AUTOMATION
    assert delivery.delivery_id == ""


async def test_unsigned_automation_is_refused_where_not_allowed(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    body = sample("conversation_updated")
    body["event"] = "automation_event.conversation_updated"

    response = await gateway.post(body, integration=INTEGRATION, signed=False)

    await assert_refused(response, 401, "missing X-Chatwoot-Signature", gateway, service)


@pytest.mark.parametrize("event", ["conversation_updated", "automation_event", "macro.executed.x"])
async def test_only_automation_events_may_come_unsigned(
    gateway: RunningGateway, service: ScriptedTicketService, event: str
) -> None:
    body = sample("conversation_updated")
    body["event"] = event

    response = await gateway.post(body, integration=AUTOMATION_INTEGRATION, signed=False)

    await assert_refused(response, 401, "missing X-Chatwoot-Signature", gateway, service)


async def test_a_signed_automation_event_must_still_match(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    body = sample("conversation_updated")
    body["event"] = "macro.executed"
    raw = encode(body)

    response = await gateway.post(
        raw, integration=AUTOMATION_INTEGRATION, signed=False, headers=signed(raw)
    )

    await assert_refused(response, 401, "signature does not match", gateway, service)


async def test_an_unknown_integration_is_not_found(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(sample("message_created"), integration="initech-chatwoot")

    await assert_refused(response, 404, "no Chatwoot integration", gateway, service)


async def test_other_methods_are_not_allowed(gateway: RunningGateway) -> None:
    response = await gateway.client.get(f"/webhooks/chatwoot/{INTEGRATION}")

    assert response.status_code == 405
    assert response.json() == {"error": "Method Not Allowed"}


def padded(size: int) -> bytes:
    """A valid signed-able body of exactly `size` bytes."""
    body = sample("message_created")
    body["content"] = ""
    base = len(encode(body))
    body["content"] = "x" * (size - base)
    raw = encode(body)
    assert len(raw) == size
    return raw


async def test_a_body_of_exactly_one_mebibyte_is_read(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(padded(MAX_BODY_BYTES))

    assert response.status_code == 200
    assert len(service.calls) == 1


async def test_a_larger_body_is_refused_by_its_content_length(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    response = await gateway.post(padded(MAX_BODY_BYTES + 1))

    await assert_refused(response, 413, "larger than", gateway, service)


async def test_a_larger_body_without_content_length_is_refused_while_streaming(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    raw = padded(MAX_BODY_BYTES + 1)

    async def chunks() -> AsyncIterable[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    response = await gateway.client.post(
        f"/webhooks/chatwoot/{INTEGRATION}",
        content=chunks(),
        headers=gateway.signed_headers(INTEGRATION, raw),
    )

    assert "content-length" not in response.request.headers
    await assert_refused(response, 413, "larger than", gateway, service)


async def test_a_content_length_that_understates_the_body_does_not_help(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    raw = padded(MAX_BODY_BYTES + 1)

    async def chunks() -> AsyncIterable[bytes]:
        yield raw

    response = await gateway.client.post(
        f"/webhooks/chatwoot/{INTEGRATION}",
        content=chunks(),
        headers=gateway.signed_headers(INTEGRATION, raw) | {"content-length": "10"},
    )

    await assert_refused(response, 413, "larger than", gateway, service)
