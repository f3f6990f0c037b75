from __future__ import annotations

from pathlib import Path

from tests.processes.support import health_status, running


def test_serves_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = {"ESCALATION_GRPC_LISTEN": "127.0.0.1:0", "SHUTDOWN_GRACE_SECONDS": "2"}
    with running("escalation_service", env=env, cwd=tmp_path) as service:
        port = service.serving_port()

        assert health_status(f"127.0.0.1:{port}") == "SERVING"
        assert service.terminate() == 0
