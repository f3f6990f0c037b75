from __future__ import annotations

from pathlib import Path

import grpc

from tests.processes.support import (
    DEV_TENANTS_FILE,
    DEV_TOKEN,
    health_status,
    run_module,
    running,
    ticket_service_env,
)
from ticketing.ticket.v1 import customer_pb2, ticket_pb2, ticket_service_pb2
from ticketing.ticket.v1.ticket_service_pb2_grpc import TicketServiceStub


def test_migrates_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    env = ticket_service_env(tmp_path)
    migrated = run_module("ticket_service", "migrate", env=env, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr

    with running("ticket_service", env=env, cwd=tmp_path) as service:
        address = f"127.0.0.1:{service.serving_port()}"
        assert health_status(address) == "SERVING"
        with grpc.insecure_channel(address) as channel:
            created = TicketServiceStub(channel).CreateTicket(
                ticket_service_pb2.CreateTicketRequest(
                    ticket=ticket_pb2.Ticket(subject="Printer on fire"),
                    customer=customer_pb2.Customer(email="ada@example.com"),
                ),
                metadata=(("authorization", f"Bearer {DEV_TOKEN}"),),
                timeout=10,
            )
        assert created.subject == "Printer on fire"
        assert created.number.startswith("TKT-")

        assert service.terminate() == 0


def test_a_bad_tenants_file_stops_it_with_exit_code_2_naming_the_key(tmp_path: Path) -> None:
    env = ticket_service_env(tmp_path)
    tenants = Path(env["TICKETING_TENANTS_FILE"])
    dev = DEV_TENANTS_FILE.read_text()
    # The first credential of the first tenant is `source = "api"`.
    assert 'source = "api"' in dev
    tenants.write_text(dev.replace('source = "api"', 'source = "martian"', 1))

    result = run_module("ticket_service", env=env, cwd=tmp_path, timeout=30)

    assert result.returncode == 2
    assert "tenants[0].api_tokens[0].source" in result.stderr
