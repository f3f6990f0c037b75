"""deploy/k8s/, offline: every manifest valid for the Kubernetes release we target (the
schemas ship with kubernetes-validate), and consistent with the code: environment
variables it reads, the ports it listens on, its health endpoints, its databases."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
from kubernetes_validate import utils as kubernetes_validate

from common.config import parse_tenants
from gateway.app import create_app
from gateway.settings import Settings as GatewaySettings
from tests.conftest import tenants_config
from tests.deploy.support import (
    K8S,
    Manifest,
    containers,
    load_settings,
    module_of_image,
    pod_spec,
    port_of,
    render,
    settings_names,
)

# The oldest release the manifests must work on: `grpc:` probes are GA since 1.27,
# PodDisruptionBudget policy/v1 since 1.21, HorizontalPodAutoscaler autoscaling/v2 since 1.23.
KUBERNETES_VERSION = "1.30.0"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "dev"]
DEV = K8S / "overlays" / "dev"
WORKLOADS = ("Deployment", "StatefulSet")
# Components with a database, and so a migration Job.
WITH_DATABASE = ("ticket_service", "escalation_service")


def by_kind(manifests: list[Manifest], kind: str) -> list[Manifest]:
    return [m for m in manifests if m["kind"] == kind]


def named(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [m for m in by_kind(manifests, kind) if m["metadata"]["name"] == name]
    return found


@pytest.fixture(scope="module")
def manifests() -> list[Manifest]:
    return render(DEV)


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_every_manifest_is_valid_kubernetes(kustomization: Path) -> None:
    rendered = render(kustomization)
    assert rendered
    for manifest in rendered:
        # Strict: an unknown field (a typo, a field from a newer release) fails too.
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(part) for part in error.absolute_path)
            name = f"{manifest['kind']} {manifest['metadata']['name']}"
            pytest.fail(f"{name}: {where}: {error.message}", pytrace=False)


def test_the_overlay_names_its_namespace_and_image_tags(manifests: list[Manifest]) -> None:
    [namespace] = by_kind(manifests, "Namespace")
    for manifest in manifests:
        if manifest["kind"] != "Namespace":
            assert manifest["metadata"]["namespace"] == namespace["metadata"]["name"]
        for container in containers(manifest):
            assert container["image"].endswith(":dev"), container["image"]


def container_env(container: dict[str, Any], manifests: list[Manifest]) -> dict[str, str]:
    """The environment the container gets: ConfigMaps and Secrets resolved."""

    def data(kind: str, name: str) -> dict[str, str]:
        source = named(manifests, kind, name)
        values: dict[str, str] = source.get("data") or source.get("stringData") or {}
        return values

    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env |= data("ConfigMap", source["configMapRef"]["name"])
        else:
            env |= data("Secret", source["secretRef"]["name"])
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"].get("secretKeyRef") or variable["valueFrom"].get(
                "configMapKeyRef"
            )
            kind = "Secret" if "secretKeyRef" in variable["valueFrom"] else "ConfigMap"
            env[variable["name"]] = data(kind, ref["name"])[ref["key"]]
    return env


def all_containers(manifests: list[Manifest]) -> list[tuple[Manifest, dict[str, Any]]]:
    return [(m, c) for m in manifests for c in containers(m)]


def test_every_variable_is_one_the_component_reads(manifests: list[Manifest]) -> None:
    checked = set()
    for manifest, container in all_containers(manifests):
        module = module_of_image(container["image"])
        unknown = set(container_env(container, manifests)) - settings_names(module)
        assert not unknown, f"{manifest['metadata']['name']}: {module} never reads {unknown}"
        checked.add(module)
    assert checked == {"ticket_service", "escalation_service", "gateway"}


def grpc_port(container: dict[str, Any]) -> int:
    [port] = [p["containerPort"] for p in container["ports"] if p["name"] == "grpc"]
    return int(port)


def workload(manifests: list[Manifest], module: str) -> tuple[Manifest, dict[str, Any]]:
    [found] = [
        (m, c)
        for m, c in all_containers(manifests)
        if m["kind"] in WORKLOADS and module_of_image(c["image"]) == module
    ]
    return found


@pytest.mark.parametrize("module", ["ticket_service", "escalation_service"])
def test_grpc_ports_and_probes_are_the_ones_it_listens_on(
    manifests: list[Manifest], module: str
) -> None:
    manifest, container = workload(manifests, module)
    settings = load_settings(module, container_env(container, manifests))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"grpc": port_of(settings.listen), "metrics": port_of(settings.metrics_listen)}
    assert settings.listen.startswith("0.0.0.0:")  # reachable from other pods
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        # The standard health service, which common/grpc/server.py serves on that port.
        assert container[probe]["grpc"] == {"port": ports["grpc"]}, probe

    # Headless, so clients resolve every pod; the ports reach the container's.
    service = named(manifests, "Service", manifest["metadata"]["name"])
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == manifest["spec"]["selector"]["matchLabels"]
    assert {p["targetPort"] for p in service["spec"]["ports"]} == set(ports)
    grace = manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace > settings.shutdown_grace_seconds


def test_gateway_port_probes_and_spool_match_its_settings(
    manifests: list[Manifest], tmp_path: Path
) -> None:
    manifest, container = workload(manifests, "gateway")
    settings: GatewaySettings = load_settings("gateway", container_env(container, manifests))
    [port] = container["ports"]
    assert port == {"name": "http", "containerPort": settings.port}
    assert settings.listen_host == "0.0.0.0"  # noqa: S104 - reachable from other pods

    app = create_app(GatewaySettings(spool_path=tmp_path / "spool.db"), tenants_config())
    paths = {getattr(route, "path", None) for route in app.routes}
    for probe in ("readinessProbe", "livenessProbe"):
        assert container[probe]["httpGet"]["path"] in paths, probe
        assert container[probe]["httpGet"]["port"] == "http"

    # The spool is on a persistent volume of its own, the only writable path but /tmp.
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    spool_volume = mounts[str(settings.spool_path.parent)]
    claims = [t["metadata"]["name"] for t in manifest["spec"]["volumeClaimTemplates"]]
    assert spool_volume in claims
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert manifest["spec"]["template"]["spec"]["securityContext"]["fsGroup"] == 10001


@pytest.mark.parametrize("client", ["gateway", "escalation_service"])
def test_clients_resolve_every_ticket_service_pod(manifests: list[Manifest], client: str) -> None:
    _, container = workload(manifests, client)
    settings = load_settings(client, container_env(container, manifests))
    target: str = settings.ticket_service_target
    # dns:/// makes gRPC resolve every address behind the name (common/grpc/client.py).
    assert target.startswith("dns:///"), target
    host, port = target.removeprefix("dns:///").rsplit(":", 1)
    service = named(manifests, "Service", host)
    assert service["spec"]["clusterIP"] == "None"
    _, ticket_container = workload(manifests, "ticket_service")
    assert int(port) == grpc_port(ticket_container)


def test_every_container_is_hardened_and_bounded(manifests: list[Manifest]) -> None:
    for manifest, container in all_containers(manifests):
        name = manifest["metadata"]["name"]
        pod = pod_spec(manifest)
        assert pod is not None
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        security = container["securityContext"]
        assert security["readOnlyRootFilesystem"] is True, name
        assert security["allowPrivilegeEscalation"] is False, name
        assert security["capabilities"]["drop"] == ["ALL"], name
        assert set(container["resources"]) == {"requests", "limits"}, name
        assert set(container["resources"]["limits"]) == {"cpu", "memory"}, name


def test_every_workload_has_a_disruption_budget_and_an_autoscaler(
    manifests: list[Manifest],
) -> None:
    workloads = [m for m in manifests if m["kind"] in WORKLOADS]
    assert len(workloads) == 3
    for manifest in workloads:
        name = manifest["metadata"]["name"]
        budget = named(manifests, "PodDisruptionBudget", name)
        assert budget["spec"]["selector"] == manifest["spec"]["selector"], name
        # The autoscaler owns the replica count; an apply must not reset it.
        assert "replicas" not in manifest["spec"], name
        autoscaler = named(manifests, "HorizontalPodAutoscaler", name)
        assert autoscaler["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": manifest["kind"],
            "name": name,
        }
        assert autoscaler["spec"]["minReplicas"] > budget["spec"]["minAvailable"], name


@pytest.mark.parametrize("module", WITH_DATABASE)
def test_a_job_migrates_each_services_own_database(manifests: list[Manifest], module: str) -> None:
    [(job, container)] = [
        (m, c)
        for m, c in all_containers(manifests)
        if m["kind"] == "Job" and module_of_image(c["image"]) == module
    ]
    assert container["args"] == ["migrate"]
    job_settings = load_settings(module, container_env(container, manifests))
    _, served = workload(manifests, module)
    assert (
        job_settings.database_url
        == load_settings(module, container_env(served, manifests)).database_url
    )
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure"

    urls = {
        load_settings(m, container_env(workload(manifests, m)[1], manifests)).database_url
        for m in WITH_DATABASE
    }
    assert len(urls) == len(WITH_DATABASE)


def test_the_tenants_secret_is_a_valid_tenants_file_where_the_code_looks(
    manifests: list[Manifest],
) -> None:
    secret = named(manifests, "Secret", "ticketing-tenants")
    [(key, document)] = secret["stringData"].items()
    tenants = parse_tenants(tomllib.loads(document))
    tokens = [t.token for tenant in tenants.tenants for t in tenant.api_tokens]
    assert all(t is not None and "REPLACE-ME" in t.get_secret_value() for t in tokens)

    for manifest, container in all_containers(manifests):
        module = module_of_image(container["image"])
        if manifest["kind"] == "Job":
            continue
        path = Path(load_settings(module, container_env(container, manifests)).tenants_file)
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == str(path.parent)]
        volumes = {v["name"]: v for v in manifest["spec"]["template"]["spec"]["volumes"]}
        assert volumes[mount["name"]]["secret"]["secretName"] == "ticketing-tenants"
        assert path.name == key
