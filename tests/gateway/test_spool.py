"""When the ticket service cannot take a delivery: spool it, keep order, forward it later."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import grpc
import pytest

from common.backoff import Backoff
from common.config import TenantsConfig
from gateway.settings import Settings
from gateway.spool import Spool
from tests.chatwoot_samples import sample
from tests.conftest import ACME_GATEWAY_TOKEN
from tests.gateway.support import (
    FAST_RETRIES,
    RunningGateway,
    ScriptedTicketService,
    run_gateway,
    scripted_service,
    spool_drained,
    wait_until,
)
from tests.processes.support import free_port

CONVERSATION_KEY = "acme-chatwoot/3/1042"
# For tests that look at the hot path alone: the forwarder will not retry meanwhile.
NO_RETRIES_SOON = replace(FAST_RETRIES, retry_initial_seconds=60, retry_max_seconds=60)


def message(message_id: int, conversation_id: int = 1042) -> dict[str, Any]:
    body = sample("message_created")
    body["id"] = message_id
    body["conversation"]["id"] = conversation_id
    return body


def spooled_ids(entries: list[Any]) -> list[str]:
    return [entry.request.delivery.delivery_id for entry in entries]


async def test_a_delivery_the_service_cannot_take_is_spooled_then_forwarded(
    tenants: TenantsConfig, tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there yet
    async with run_gateway(
        tenants, target=f"127.0.0.1:{port}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        response = await gateway.post(message(1), delivery_id="m-1")

        assert response.status_code == 202
        assert response.json() == {"outcome": "spooled"}
        [entry] = await gateway.spool.entries()
        assert entry.ordering_key == CONVERSATION_KEY
        assert entry.attempts == 1
        assert entry.last_error.startswith("UNAVAILABLE")
        assert "gateway_spool_depth 1.0" in (await gateway.client.get("/metrics")).text

        async with scripted_service(port) as service:
            await wait_until(lambda: spool_drained(gateway), "the spool is drained")

    assert service.delivery_ids == ["m-1"]
    assert service.calls[0].request == entry.request
    assert service.calls[0].authorization == f"Bearer {ACME_GATEWAY_TOKEN}"


async def test_spooled_deliveries_are_forwarded_in_order_per_conversation(
    tenants: TenantsConfig, tmp_path: Path
) -> None:
    port = free_port()
    async with run_gateway(
        tenants, target=f"127.0.0.1:{port}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        for delivery_id, body in [
            ("a-1", message(1)),
            ("b-1", message(10, conversation_id=2000)),
            ("a-2", message(2)),
            ("a-3", message(3)),
            ("b-2", message(11, conversation_id=2000)),
        ]:
            assert (await gateway.post(body, delivery_id=delivery_id)).status_code == 202

        entries = await gateway.spool.entries()
        assert spooled_ids(entries) == ["a-1", "b-1", "a-2", "a-3", "b-2"]
        # Only the first of each conversation was tried; the others queued behind it.
        assert [entry.attempts for entry in entries] == [1, 1, 0, 0, 0]

        async with scripted_service(port) as service:
            await wait_until(lambda: spool_drained(gateway), "the spool is drained")

    forwarded = service.delivery_ids
    assert [i for i in forwarded if i.startswith("a")] == ["a-1", "a-2", "a-3"]
    assert [i for i in forwarded if i.startswith("b")] == ["b-1", "b-2"]


async def test_a_delivery_behind_spooled_ones_is_spooled_not_sent(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    service.answers["a-1"] = grpc.StatusCode.UNAVAILABLE
    assert (await gateway.post(message(1), delivery_id="a-1")).status_code == 202

    behind = await gateway.post(message(2), delivery_id="a-2")
    elsewhere = await gateway.post(message(10, conversation_id=2000), delivery_id="b-1")

    assert behind.status_code == 202
    assert elsewhere.status_code == 200
    assert "a-2" not in service.delivery_ids
    assert spooled_ids(await gateway.spool.entries()) == ["a-1", "a-2"]

    del service.answers["a-1"]
    await wait_until(lambda: spool_drained(gateway), "the spool is drained")
    assert [i for i in service.delivery_ids if i != "b-1"][-2:] == ["a-1", "a-2"]


async def test_the_hot_path_calls_the_service_exactly_once(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    service.answers["m-1"] = grpc.StatusCode.INTERNAL
    async with run_gateway(
        tenants, target=service.target, spool_path=tmp_path / "spool.db", settings=NO_RETRIES_SOON
    ) as gateway:
        response = await gateway.post(message(1), delivery_id="m-1")

        assert response.status_code == 202
        assert service.delivery_ids == ["m-1"]


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNKNOWN,
    ],
)
async def test_a_failure_that_may_pass_is_spooled(
    gateway: RunningGateway, service: ScriptedTicketService, code: grpc.StatusCode
) -> None:
    service.answers["m-1"] = code

    response = await gateway.post(message(1), delivery_id="m-1")

    assert response.status_code == 202
    [entry] = await gateway.spool.entries()
    assert entry.last_error.startswith(code.name)


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.OUT_OF_RANGE,
    ],
)
async def test_a_permanent_refusal_is_422_kept_as_a_dead_letter_and_not_spooled(
    gateway: RunningGateway, service: ScriptedTicketService, code: grpc.StatusCode
) -> None:
    service.answers["m-1"] = code

    response = await gateway.post(message(1), delivery_id="m-1")

    assert response.status_code == 422
    assert response.json() == {
        "outcome": "rejected",
        "code": code.name,
        "error": f"scripted {code.name}",
    }
    assert await gateway.spool.entries() == []
    [dead] = await gateway.spool.dead_letters()
    assert (dead.spool_seq, dead.attempts) == (None, 1)
    assert dead.request.delivery.delivery_id == "m-1"
    assert dead.error == f"{code.name}: scripted {code.name}"
    assert len(service.calls) == 1


async def test_a_refusal_is_answered_even_when_it_cannot_be_kept(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    service.answers["m-1"] = grpc.StatusCode.INVALID_ARGUMENT
    async with run_gateway(tenants, target=service.target, spool_path=tmp_path) as gateway:
        response = await gateway.post(message(1), delivery_id="m-1")

    assert response.status_code == 422


async def test_a_slow_service_is_given_up_on_before_chatwoot_gives_up(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    service.delay_seconds = 1.0
    settings = replace(NO_RETRIES_SOON, forward_timeout_seconds=0.2)
    async with run_gateway(
        tenants, target=service.target, spool_path=tmp_path / "spool.db", settings=settings
    ) as gateway:
        started = time.monotonic()
        response = await gateway.post(message(1), delivery_id="m-1")
        elapsed = time.monotonic() - started

        assert response.status_code == 202
        assert elapsed < 0.9
        [entry] = await gateway.spool.entries()
        assert entry.last_error.startswith("DEADLINE_EXCEEDED")


async def test_a_spooled_delivery_the_service_refuses_goes_to_the_dead_letters(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    service.answers["a-1"] = grpc.StatusCode.UNAVAILABLE
    assert (await gateway.post(message(1), delivery_id="a-1")).status_code == 202
    assert (await gateway.post(message(2), delivery_id="a-2")).status_code == 202

    service.answers["a-1"] = grpc.StatusCode.INVALID_ARGUMENT
    await wait_until(lambda: spool_drained(gateway), "the spool is drained")

    [dead] = await gateway.spool.dead_letters()
    assert dead.request.delivery.delivery_id == "a-1"
    assert dead.spool_seq == 1
    assert dead.ordering_key == CONVERSATION_KEY
    assert dead.error == "INVALID_ARGUMENT: scripted INVALID_ARGUMENT"
    assert dead.attempts >= 2
    # The refusal does not block the conversation: the next delivery went on.
    assert service.delivery_ids[-1] == "a-2"


async def test_the_spool_survives_a_restart(tenants: TenantsConfig, tmp_path: Path) -> None:
    port = free_port()
    spool_path = tmp_path / "nested" / "dirs" / "spool.db"
    async with run_gateway(tenants, target=f"127.0.0.1:{port}", spool_path=spool_path) as first:
        for n in (1, 2, 3):
            assert (await first.post(message(n), delivery_id=f"a-{n}")).status_code == 202

    async with (
        scripted_service(port) as service,
        run_gateway(tenants, target=f"127.0.0.1:{port}", spool_path=spool_path) as second,
    ):
        await wait_until(lambda: spool_drained(second), "the spool is drained")

    assert service.delivery_ids == ["a-1", "a-2", "a-3"]


async def test_the_spool_counts_are_rebuilt_from_the_file(
    tenants: TenantsConfig, tmp_path: Path
) -> None:
    port = free_port()
    spool_path = tmp_path / "spool.db"
    async with run_gateway(tenants, target=f"127.0.0.1:{port}", spool_path=spool_path) as first:
        await first.post(message(1), delivery_id="a-1")
        await first.post(sample("contact_updated"), delivery_id="c-1")

    spool = Spool(spool_path)
    await spool.open()
    try:
        assert spool.depth == 2
        assert spool.pending(CONVERSATION_KEY) == 1
        assert spool.pending("acme-chatwoot/contact/5821") == 1
    finally:
        await spool.close()


async def test_the_spool_file_is_durable_sqlite(tenants: TenantsConfig, tmp_path: Path) -> None:
    spool_path = tmp_path / "spool.db"
    async with run_gateway(
        tenants, target=f"127.0.0.1:{free_port()}", spool_path=spool_path
    ) as gateway:
        await gateway.post(message(1), delivery_id="a-1")

        with sqlite3.connect(spool_path) as reader:
            mode = reader.execute("PRAGMA journal_mode").fetchone()[0]
            rows = reader.execute("SELECT seq, integration, ordering_key FROM spool").fetchall()
        reader.close()

    assert mode == "wal"
    assert rows == [(1, "acme-chatwoot", CONVERSATION_KEY)]


@pytest.mark.parametrize("unwritable", ["a directory", "under a file"])
async def test_a_spool_that_cannot_be_written_answers_503(
    tenants: TenantsConfig, tmp_path: Path, unwritable: str
) -> None:
    if unwritable == "a directory":
        spool_path = tmp_path
    else:
        (tmp_path / "file").write_text("not a directory")
        spool_path = tmp_path / "file" / "spool.db"
    async with run_gateway(
        tenants, target=f"127.0.0.1:{free_port()}", spool_path=spool_path
    ) as gateway:
        response = await gateway.post(message(1), delivery_id="m-1")
        ready = await gateway.client.get("/readyz")
        metrics = (await gateway.client.get("/metrics")).text

    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "could not be stored" in response.json()["error"]
    assert ready.status_code == 503
    assert "spool" in ready.json()["reason"]
    assert 'outcome="failed"} 1.0' in metrics


async def test_deliveries_the_service_takes_need_no_spool(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    async with run_gateway(tenants, target=service.target, spool_path=tmp_path) as gateway:
        response = await gateway.post(message(1), delivery_id="m-1")

    assert response.status_code == 200


async def test_concurrent_deliveries_of_one_conversation_keep_their_order(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    # The first is slow and then fails; the second must not overtake it meanwhile.
    service.delay_seconds = 0.2
    service.answers["a-1"] = grpc.StatusCode.UNAVAILABLE
    async with run_gateway(
        tenants, target=service.target, spool_path=tmp_path / "spool.db", settings=NO_RETRIES_SOON
    ) as gateway:
        first = asyncio.create_task(gateway.post(message(1), delivery_id="a-1"))
        await asyncio.sleep(0.05)
        second = await gateway.post(message(2), delivery_id="a-2")

        assert (await first).status_code == 202
        assert second.status_code == 202
        # The channel retries UNAVAILABLE (common/grpc/client.py), so a-1 may have been
        # tried more than once; a-2 was never sent ahead of it.
        assert set(service.delivery_ids) == {"a-1"}
        assert spooled_ids(await gateway.spool.entries()) == ["a-1", "a-2"]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "TICKETING_TENANTS_FILE": "/etc/ticketing/tenants.toml",
        "GATEWAY_SPOOL_PATH": "/var/lib/gateway/spool.db",
        "GATEWAY_FORWARD_TIMEOUT_SECONDS": "1.5",
        "GATEWAY_SIGNATURE_MAX_AGE_SECONDS": "120",
        "GATEWAY_SIGNATURE_MAX_FUTURE_SECONDS": "5",
        "GATEWAY_RETRY_INITIAL_SECONDS": "0.5",
        "GATEWAY_RETRY_MAX_SECONDS": "10",
    }.items():
        monkeypatch.setenv(name, value)

    settings = Settings.from_env()

    assert settings.tenants_file == "/etc/ticketing/tenants.toml"
    assert settings.spool_path == Path("/var/lib/gateway/spool.db")
    assert settings.forward_timeout_seconds == 1.5
    assert (settings.signature_max_age_seconds, settings.signature_max_future_seconds) == (120, 5)
    assert (settings.retry_initial_seconds, settings.retry_max_seconds) == (0.5, 10)


def test_defaults_answer_well_within_chatwoots_timeout() -> None:
    settings = Settings()

    assert settings.forward_timeout_seconds == 2.0
    assert settings.spool_path == Path("var/gateway_spool.db")
    assert (settings.signature_max_age_seconds, settings.signature_max_future_seconds) == (300, 60)
    assert (settings.retry_initial_seconds, settings.retry_max_seconds) == (0.2, 30)


def test_retries_back_off_exponentially_with_jitter_up_to_the_maximum() -> None:
    backoff = Backoff(initial_seconds=0.2, max_seconds=30)

    for attempts, base in [(1, 0.2), (2, 0.4), (3, 0.8), (8, 25.6), (9, 30), (10_000, 30)]:
        delays = [backoff.delay(attempts) for _ in range(50)]
        assert all(base / 2 <= delay <= base for delay in delays)
        assert len(set(delays)) > 1


async def test_a_spool_file_from_before_tracing_gains_the_trace_column(tmp_path: Path) -> None:
    path = tmp_path / "spool.db"
    with sqlite3.connect(path) as old:
        old.execute(
            "CREATE TABLE spool (seq INTEGER PRIMARY KEY AUTOINCREMENT, integration TEXT NOT"
            " NULL, ordering_key TEXT NOT NULL, request BLOB NOT NULL, received_at REAL NOT"
            " NULL, attempts INTEGER NOT NULL, next_attempt_at REAL NOT NULL, last_error TEXT"
            " NOT NULL)"
        )
        old.execute(
            "INSERT INTO spool (integration, ordering_key, request, received_at, attempts,"
            " next_attempt_at, last_error) VALUES ('acme-chatwoot', 'k', x'', 1, 0, 1, '')"
        )
    spool = Spool(path)
    await spool.open()
    try:
        [kept] = await spool.entries()
        assert kept.trace_parent == ""
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        await spool.add(
            integration="acme-chatwoot",
            ordering_key="k",
            request=kept.request,
            received_at=2,
            attempts=0,
            next_attempt_at=2,
            last_error="",
            trace_parent=traceparent,
        )
        assert [e.trace_parent for e in await spool.entries()] == ["", traceparent]
    finally:
        await spool.close()
