from __future__ import annotations

from pathlib import Path

from tests.processes.support import health_status, run_module, running, ticket_service_env


def _env(directory: Path) -> dict[str, str]:
    env = ticket_service_env(directory)
    return {
        "TICKETING_TENANTS_FILE": env["TICKETING_TENANTS_FILE"],
        "ESCALATION_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'escalation.db'}",
        "ESCALATION_GRPC_LISTEN": "127.0.0.1:0",
        # Nothing listens here: the service must start and serve anyway, and keep trying.
        "ESCALATION_TICKET_SERVICE_TARGET": "127.0.0.1:9",
        "ESCALATION_AGENT_SYNC_ENABLED": "false",
        "SHUTDOWN_GRACE_SECONDS": "2",
    }


def test_migrates_then_serves_health_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = _env(tmp_path)
    migrated = run_module("escalation_service", "migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    with running("escalation_service", env=env, cwd=tmp_path) as service:
        port = service.serving_port()

        assert health_status(f"127.0.0.1:{port}") == "SERVING"
        assert service.terminate() == 0


def test_a_missing_tenants_file_stops_it_with_a_message(tmp_path: Path) -> None:
    env = _env(tmp_path) | {"TICKETING_TENANTS_FILE": str(tmp_path / "missing.toml")}
    result = run_module("escalation_service", env=env, cwd=tmp_path)
    assert result.returncode == 2
    assert "does not exist" in result.stderr
