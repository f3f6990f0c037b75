from __future__ import annotations

from pathlib import Path

import httpx

from tests.processes.support import (
    free_port,
    running,
    ticket_service_env,
    wait_for_http,
)


def test_reports_readiness_of_the_ticket_service_and_json_errors(tmp_path: Path) -> None:
    ticket_env = ticket_service_env(tmp_path)
    with running("ticket_service", "--migrate", env=ticket_env, cwd=tmp_path) as ticket_service:
        ticket_port = ticket_service.serving_port()
        gateway_port = free_port()
        gateway_env = {
            "GATEWAY_PORT": str(gateway_port),
            "TICKET_SERVICE_TARGET": f"127.0.0.1:{ticket_port}",
            "TICKETING_TENANTS_FILE": ticket_env["TICKETING_TENANTS_FILE"],
            "GATEWAY_SPOOL_PATH": str(tmp_path / "spool.db"),
        }
        with running("gateway", env=gateway_env, cwd=tmp_path) as gateway:
            base = f"http://127.0.0.1:{gateway_port}"
            assert wait_for_http(f"{base}/healthz", 200).json() == {"status": "ok"}
            with httpx.Client(base_url=base, timeout=5.0) as client:
                ready = client.get("/readyz")
                assert ready.status_code == 200
                assert ready.json() == {"status": "ready"}

                missing = client.get("/nope")
                assert missing.status_code == 404
                assert missing.headers["content-type"] == "application/json"
                assert missing.json() == {"error": "Not Found"}

            assert ticket_service.terminate() == 0
            not_ready = wait_for_http(f"{base}/readyz", 503).json()
            assert not_ready["status"] == "not ready"
            assert not_ready["reason"]

            assert gateway.terminate() == 0
