"""docker-compose.yml and the Dockerfile, without a Docker engine: parsed, and checked
against the code's real settings (variable names, ports, health endpoints), the tenants
file they mount and the migrate-then-serve order."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from sqlalchemy.engine import make_url

from common.config import load_tenants
from devstack.stack import simulator_command
from gateway.app import create_app
from gateway.settings import Settings as GatewaySettings
from tests.conftest import tenants_config
from tests.deploy.support import (
    COMPOSE_FILE,
    DOCKERFILE,
    dockerfile_stages,
    load_settings,
    port_of,
    settings_names,
)
from tests.processes.support import REPO_ROOT

# What the README promises to scale with --scale.
SCALED = ("ticket-service", "escalation-service")
POSTGRES_INIT = REPO_ROOT / "scripts" / "postgres-init.sql"

Service = dict[str, Any]


@pytest.fixture(scope="module")
def services() -> dict[str, Service]:
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    found: dict[str, Service] = compose["services"]
    return found


def module(service: Service) -> str | None:
    """The component a service runs: its build target's entrypoint (None: not ours)."""
    if "build" not in service:
        return None
    return dockerfile_stages()[service["build"]["target"]]


def ours(services: dict[str, Service]) -> dict[str, str]:
    return {name: m for name, s in services.items() if (m := module(s)) is not None}


def env(service: Service) -> dict[str, str]:
    return {k: str(v) for k, v in service.get("environment", {}).items()}


def settings(service: Service) -> Any:
    component = module(service)
    assert component is not None
    return load_settings(component, env(service))


def is_migration(service: Service) -> bool:
    return service.get("command") == ["migrate"]


def test_every_component_has_a_service(services: dict[str, Service]) -> None:
    assert set(ours(services).values()) == set(dockerfile_stages().values())


def test_every_variable_is_one_the_component_reads(services: dict[str, Service]) -> None:
    for name, component in ours(services).items():
        unknown = set(env(services[name])) - settings_names(component)
        assert not unknown, f"{name}: {component} never reads {unknown}"


def test_long_running_services_have_healthchecks_on_their_real_ports(
    services: dict[str, Service], tmp_path: Path
) -> None:
    gateway_paths = {
        getattr(route, "path", None)
        for route in create_app(
            GatewaySettings(spool_path=tmp_path / "spool.db"), tenants_config()
        ).routes
    }
    for name, service in services.items():
        if is_migration(service):
            assert "healthcheck" not in service
            assert service["restart"] == "no", name
            continue
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        component = module(service)
        if component in ("ticket_service", "escalation_service"):
            listen = settings(service).listen
            assert test[1:] == [
                "python",
                "-m",
                "common.grpc.healthcheck",
                f"127.0.0.1:{port_of(listen)}",
            ]
            assert listen.startswith("0.0.0.0:"), name
            assert service["expose"] == [
                str(port_of(listen)),
                str(port_of(settings(service).metrics_listen)),
            ]
        elif component == "gateway":
            url = urlsplit(re.findall(r"http://[^']+", test[-1])[0])
            assert url.port == settings(service).port
            assert url.path in gateway_paths
        elif component == "chatwoot_sim":
            url = urlsplit(re.findall(r"http://[^']+", test[-1])[0])
            assert url.port == settings(service).port
            assert url.path == "/_sim/state"


def test_each_service_starts_after_its_migration(services: dict[str, Service]) -> None:
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert dependency in services, name
            assert condition["condition"] in (
                "service_healthy",
                "service_completed_successfully",
            ), f"{name} -> {dependency}"
        if is_migration(service):
            assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}

    for service in services.values():
        if module(service) not in ("ticket_service", "escalation_service") or is_migration(service):
            continue
        [migration] = [
            m for m, s in services.items() if is_migration(s) and s["build"] == service["build"]
        ]
        assert service["depends_on"][migration] == {"condition": "service_completed_successfully"}
        assert settings(services[migration]).database_url == settings(service).database_url


def test_each_service_has_its_own_database(services: dict[str, Service]) -> None:
    postgres = services["postgres"]["environment"]
    created = {
        postgres["POSTGRES_DB"],
        *re.findall(r"CREATE DATABASE (\w+)", POSTGRES_INIT.read_text()),
    }
    databases = {}
    for name, service in services.items():
        if module(service) in ("ticket_service", "escalation_service"):
            url = make_url(settings(service).database_url)
            assert url.host == "postgres"
            databases[name] = url.database
    assert set(databases.values()) == created
    assert databases["ticket-service"] != databases["escalation-service"]
    mount = f"{POSTGRES_INIT.relative_to(REPO_ROOT)}:"
    assert any(mount in volume for volume in services["postgres"]["volumes"])


def test_scaled_services_have_no_fixed_name_or_host_port(services: dict[str, Service]) -> None:
    for name, service in services.items():
        assert "container_name" not in service, name
    for name in SCALED:
        assert "ports" not in services[name], name


def test_clients_resolve_every_ticket_service_replica(services: dict[str, Service]) -> None:
    ticket_port = port_of(settings(services["ticket-service"]).listen)
    for name in ("gateway", "escalation-service"):
        target = settings(services[name]).ticket_service_target
        assert target == f"dns:///ticket-service:{ticket_port}", name


def test_the_mounted_tenants_file_exists_and_is_valid(services: dict[str, Service]) -> None:
    for service in services.values():
        if module(service) is None or is_migration(service) or module(service) == "chatwoot_sim":
            continue
        path = Path(settings(service).tenants_file)
        [mount] = [v for v in service["volumes"] if v.endswith(f":{path.parent}:ro")]
        local = REPO_ROOT / mount.split(":")[0] / path.name
        load_tenants(local)


def test_the_simulator_is_optional_and_stands_in_for_the_tenants_chatwoot(
    services: dict[str, Service],
) -> None:
    simulator = services["chatwoot-sim"]
    assert simulator["profiles"] == ["sim"]
    for name, service in services.items():
        assert "profiles" not in service or name == "chatwoot-sim", name

    gateway = settings(services["gateway"])
    tenants = load_tenants(REPO_ROOT / "config" / Path(gateway.tenants_file).name)
    [integration] = [i for t in tenants.tenants for i in t.chatwoot]
    base = urlsplit(str(integration.base_url))
    options = settings(simulator)
    assert base.hostname == "chatwoot-sim"
    assert base.port == options.port
    # What `make run SIM=1` hands the simulator for the same integration.
    sim_env, args = simulator_command(
        {"GATEWAY_LISTEN_HOST": "gateway", "GATEWAY_PORT": str(gateway.port)}, integration
    )
    for key in ("CHATWOOT_SIM_ADMIN_TOKEN", "CHATWOOT_SIM_WEBHOOK_SECRET"):
        assert env(simulator)[key] == sim_env[key], key
    assert f"--account-id={options.account_id}" in args
    assert f"--webhook-url={options.webhook_url}" in args


def test_the_image_is_multi_stage_non_root_and_pinned() -> None:
    dockerfile = DOCKERFILE.read_text()
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", dockerfile, re.MULTILINE)
    # A patch release at least, never a moving tag like `3.11` or `latest`.
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS build$", dockerfile, re.MULTILINE)
    assert re.search(r"^FROM \$\{PYTHON_IMAGE\} AS runtime$", dockerfile, re.MULTILINE)
    assert re.search(r"^USER 10001:10001$", dockerfile, re.MULTILINE)
    for stage, entry in dockerfile_stages().items():
        assert (REPO_ROOT / entry / "__main__.py").exists(), stage
        assert f"COPY --from=build /app/{entry} {entry}" in dockerfile, stage
