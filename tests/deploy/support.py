"""What the deployment files are checked against: the code's own settings, the Dockerfile's
stages, and a kustomization rendered without the kustomize binary (CI has none)."""

from __future__ import annotations

import importlib
import json
import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from chatwoot_sim.__main__ import parse as simulator_options
from tests.processes.support import REPO_ROOT

DOCKERFILE = REPO_ROOT / "Dockerfile"
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
K8S = REPO_ROOT / "deploy" / "k8s"

Manifest = dict[str, Any]


def _ours(filename: str) -> bool:
    return filename.startswith(str(REPO_ROOT)) and "/.venv/" not in filename


class RecordingEnviron(dict[str, str]):
    """An environment that remembers every name our code asks for (libraries' own
    variables, argparse's COLUMNS say, are theirs)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        super().__init__(values)
        self.read: set[str] = set()

    def _record(self, key: object) -> None:
        if isinstance(key, str) and _ours(sys._getframe(2).f_code.co_filename):
            self.read.add(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._record(key)
        return super().get(key, default)

    def __getitem__(self, key: str) -> str:
        self._record(key)
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._record(key)
        return super().__contains__(key)


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[RecordingEnviron]:
    recording = RecordingEnviron(values)
    with mock.patch.object(os, "environ", recording):
        yield recording


def settings_loader(module: str) -> Callable[[], Any]:
    """What reads a component's settings from the environment: `<module>.settings`'s
    `Settings.from_env`, or the simulator's option parser."""
    if module == "chatwoot_sim":
        return lambda: simulator_options([])
    settings: Any = importlib.import_module(f"{module}.settings").Settings
    return settings.from_env  # type: ignore[no-any-return]


def load_settings(module: str, env: Mapping[str, str]) -> Any:
    with environment(env):
        return settings_loader(module)()


@cache
def settings_names(module: str) -> frozenset[str]:
    """Every environment variable `module` reads for its settings. With nothing set, every
    optional part is on (their switches default to true), so every name is asked for."""
    with environment({}) as env:
        settings_loader(module)()
    return frozenset(env.read)


@cache
def dockerfile_stages() -> dict[str, str]:
    """Each final stage of the Dockerfile and the module its ENTRYPOINT runs."""
    stages: dict[str, str] = {}
    stage = None
    for line in DOCKERFILE.read_text().splitlines():
        if match := re.match(r"FROM \S+ AS (\S+)", line):
            stage = match.group(1)
        elif line.startswith("ENTRYPOINT") and stage is not None:
            command = json.loads(line.removeprefix("ENTRYPOINT"))
            assert command[:2] == ["python", "-m"], line
            stages[stage] = command[2]
    return stages


def module_of_image(image: str) -> str:
    """`ticketing/ticket-service:0.1.0` runs the Dockerfile stage `ticket-service`."""
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return dockerfile_stages()[name]


def port_of(address: str) -> int:
    return int(address.rsplit(":", 1)[1])


# --- kustomize -------------------------------------------------------------------------

SUPPORTED = {"apiVersion", "kind", "resources", "namespace", "images"}
CLUSTER_SCOPED = {"Namespace"}


def render(directory: Path) -> list[Manifest]:
    """The resources a kustomization builds, for the fields our kustomizations use:
    `resources` (files and directories), `images` and `namespace`. Anything else fails,
    so a kustomization never uses a field this silently ignores."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED
    assert not unsupported, f"{directory}: render() does not handle {sorted(unsupported)}"
    manifests: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = directory / entry
        if path.is_dir():
            manifests += render(path)
        else:
            manifests += [m for m in yaml.safe_load_all(path.read_text()) if m]
    for manifest in manifests:
        for container in containers(manifest):
            container["image"] = _retagged(container["image"], kustomization.get("images", []))
        namespace = kustomization.get("namespace")
        if namespace and manifest["kind"] not in CLUSTER_SCOPED:
            manifest["metadata"]["namespace"] = namespace
    return manifests


def _retagged(image: str, rules: list[dict[str, str]]) -> str:
    name, _, tag = image.partition(":")
    for rule in rules:
        if rule["name"] == name:
            name = rule.get("newName", name)
            tag = rule.get("newTag", tag)
    return f"{name}:{tag}" if tag else name


def pod_spec(manifest: Manifest) -> dict[str, Any] | None:
    if manifest["kind"] in ("Deployment", "StatefulSet", "Job"):
        spec: dict[str, Any] = manifest["spec"]["template"]["spec"]
        return spec
    return None


def containers(manifest: Manifest) -> list[dict[str, Any]]:
    spec = pod_spec(manifest)
    if spec is None:
        return []
    return [*spec.get("initContainers", []), *spec["containers"]]
