"""The app as a whole: probes, metrics, configuration, and `python -m gateway`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from common.config import ConfigError, TenantsConfig, parse_tenants
from gateway.app import create_app
from gateway.integrations import integrations_from
from gateway.settings import Settings
from gateway.spool import Spool
from gateway.verification import sign
from tests.chatwoot_samples import sample
from tests.conftest import ACME_GATEWAY_TOKEN
from tests.gateway.support import (
    INTEGRATION,
    SECRETS,
    WEBHOOK_SECRET,
    RunningGateway,
    ScriptedTicketService,
    run_gateway,
)
from tests.processes.support import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_liveness_and_readiness(gateway: RunningGateway) -> None:
    assert (await gateway.client.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.client.get("/readyz")).json() == {"status": "ready"}


async def test_not_ready_without_the_ticket_service(tenants: TenantsConfig, tmp_path: Path) -> None:
    async with run_gateway(
        tenants, target=f"127.0.0.1:{free_port()}", spool_path=tmp_path / "spool.db"
    ) as gateway:
        response = await gateway.client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["reason"].startswith("ticket service: ")


async def test_metrics_count_deliveries_by_integration_event_and_outcome(
    gateway: RunningGateway, service: ScriptedTicketService
) -> None:
    await gateway.post(sample("message_created"), delivery_id="d-1")
    await gateway.post(sample("message_created"), delivery_id="d-2")
    await gateway.post(sample("conversation_typing_on"), delivery_id="d-3")
    await gateway.post(sample("message_created"), signed=False)
    await gateway.post(b"[]")
    await gateway.post({"event": "brand_new_event"})

    response = await gateway.client.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = set(response.text.splitlines())
    prefix = 'chatwoot_webhook_deliveries_total{event="'
    for expected in [
        f'{prefix}message_created",integration="acme-chatwoot",outcome="applied"}} 2.0',
        f'{prefix}conversation_typing_on",integration="acme-chatwoot",outcome="ignored"}} 1.0',
        f'{prefix}unknown",integration="acme-chatwoot",outcome="unauthorized"}} 1.0',
        f'{prefix}unknown",integration="acme-chatwoot",outcome="invalid"}} 1.0',
        f'{prefix}unknown",integration="acme-chatwoot",outcome="ignored"}} 1.0',
        "gateway_spool_depth 0.0",
    ]:
        assert expected in lines


async def test_each_app_has_its_own_metrics(
    tenants: TenantsConfig, service: ScriptedTicketService, tmp_path: Path
) -> None:
    async with (
        run_gateway(tenants, target=service.target, spool_path=tmp_path / "a.db") as one,
        run_gateway(tenants, target=service.target, spool_path=tmp_path / "b.db") as other,
    ):
        await one.post(sample("message_created"), delivery_id="d-1")
        counted = (await other.client.get("/metrics")).text

    assert 'outcome="applied"' not in counted


async def test_logs_name_the_delivery_but_no_secret(
    gateway: RunningGateway, capsys: pytest.CaptureFixture[str]
) -> None:
    await gateway.post(sample("message_created"), delivery_id="d-log-1")
    await gateway.post(
        sample("message_created"),
        integration="acme-legacy",
        signed=False,
        params={"token": "a-wrong-token-0123456789"},
    )

    logged = capsys.readouterr()
    text = logged.out + logged.err
    assert "d-log-1" in text
    assert "chatwoot_webhook" in text
    for secret in (*SECRETS, "sha256="):
        assert secret not in text


def test_an_integration_needs_a_chatwoot_token_to_forward_with() -> None:
    config = parse_tenants(
        {
            "tenants": [
                {
                    "id": "globex",
                    "api_tokens": [
                        {"principal": "crm", "token": "globex-api-token-0123456789"},
                        {
                            "principal": "gateway",
                            "source": "chatwoot",
                            "token_sha256": "0" * 64,
                        },
                    ],
                    "chatwoot": [
                        {
                            "name": "globex-chatwoot",
                            "base_url": "https://chat.globex.example",
                            "account_id": 1,
                            "api_access_token": "globex-chatwoot-access-token",
                            "webhook_secret": "globex-webhook-secret-0123",
                        }
                    ],
                }
            ]
        }
    )

    with pytest.raises(ConfigError, match=r"'globex-chatwoot'.*source = \"chatwoot\""):
        create_app(Settings(), config)


def test_the_first_plaintext_chatwoot_token_is_used(tenants: TenantsConfig) -> None:
    integrations = integrations_from(tenants)

    assert integrations[INTEGRATION].bearer_token == ACME_GATEWAY_TOKEN
    assert integrations[INTEGRATION].tenant_id == "acme"
    assert set(integrations) == {"acme-chatwoot", "acme-legacy", "acme-automation"}


# `python -m gateway` as a real process.


def write_tenants(directory: Path) -> Path:
    file = directory / "tenants.toml"
    file.write_text(
        f"""
[[tenants]]
id = "acme"

[[tenants.api_tokens]]
principal = "gateway"
source = "chatwoot"
token = "{ACME_GATEWAY_TOKEN}"

[[tenants.chatwoot]]
name = "{INTEGRATION}"
base_url = "http://127.0.0.1:9"
account_id = 3
api_access_token = "acme-chatwoot-access-token"
webhook_secret = "{WEBHOOK_SECRET}"
""",
        encoding="utf-8",
    )
    return file


def gateway_env(**overrides: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TICKET_", "TICKETING_", "GATEWAY_"))
    }
    return {**base, **overrides}


@pytest.mark.parametrize(
    ("tenants_toml", "message"),
    [
        (None, "does not exist"),
        ('[[tenants]]\nid = "acme"\n', "tenants[0].api_tokens"),
        (
            '[[tenants]]\nid = "acme"\n[[tenants.api_tokens]]\nprincipal = "p"\n'
            'token = "acme-api-token-0123456789"\n[[tenants.chatwoot]]\nname = "c"\n'
            'base_url = "http://x.example"\naccount_id = 3\napi_access_token = "t"\n',
            "needs `webhook_secret`",
        ),
        (
            '[[tenants]]\nid = "acme"\n[[tenants.api_tokens]]\nprincipal = "p"\n'
            'token = "acme-api-token-0123456789"\n[[tenants.chatwoot]]\nname = "c"\n'
            'base_url = "http://x.example"\naccount_id = 3\napi_access_token = "t"\n'
            'webhook_secret = "s"\n',
            "chatwoot integration 'c'",
        ),
    ],
)
def test_a_bad_tenants_file_stops_the_gateway_with_exit_code_2(
    tmp_path: Path, tenants_toml: str | None, message: str
) -> None:
    file = tmp_path / "tenants.toml"
    if tenants_toml is not None:
        file.write_text(tenants_toml, encoding="utf-8")

    result = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=gateway_env(TICKETING_TENANTS_FILE=str(file), GATEWAY_PORT=str(free_port())),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )

    assert result.returncode == 2
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("gateway: ")
    assert message in last_line


@contextmanager
def gateway_process(tmp_path: Path, spool: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "gateway"],
        env=gateway_env(
            TICKETING_TENANTS_FILE=str(write_tenants(tmp_path)),
            GATEWAY_PORT=str(port),
            GATEWAY_SPOOL_PATH=str(spool),
            TICKET_SERVICE_TARGET=f"127.0.0.1:{free_port()}",
            GATEWAY_RETRY_INITIAL_SECONDS="60",
            GATEWAY_RETRY_MAX_SECONDS="60",
        ),
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "the gateway did not start"
                time.sleep(0.05)
        yield process, base
    finally:
        if process.poll() is None:
            process.kill()
        _, stderr = process.communicate(timeout=15)
        print(stderr)


async def test_a_spooled_delivery_survives_sigkill(tmp_path: Path) -> None:
    spool_path = tmp_path / "var" / "spool.db"
    raw = json.dumps(sample("message_created")).encode()
    stamp = str(int(time.time()))
    headers = {
        "content-type": "application/json",
        "x-chatwoot-delivery": "d-kill-1",
        "x-chatwoot-timestamp": stamp,
        "x-chatwoot-signature": sign(WEBHOOK_SECRET, stamp, raw),
    }

    with gateway_process(tmp_path, spool_path) as (process, base):
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            response = await client.post(
                f"/webhooks/chatwoot/{INTEGRATION}", content=raw, headers=headers
            )
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)

    assert response.status_code == 202
    spool = Spool(spool_path)
    await spool.open()
    try:
        [entry] = await spool.entries()
    finally:
        await spool.close()
    assert entry.request.delivery.delivery_id == "d-kill-1"


def test_the_access_log_leaves_out_query_strings(tmp_path: Path) -> None:
    with gateway_process(tmp_path, tmp_path / "spool.db") as (process, base):
        httpx.post(
            f"{base}/webhooks/chatwoot/{INTEGRATION}?token=query-secret-0123456789",
            content=b"{}",
            timeout=10,
        )
        httpx.get(f"{base}/healthz?probe=1", timeout=10)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=15)
        assert process.stderr is not None
        logged = process.stderr.read()

    assert "query-secret" not in logged
    assert "/webhooks/chatwoot/acme-chatwoot" in logged
