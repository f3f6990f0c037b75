"""Run the services as real processes: start them, read their logs, stop them, never leak them.

Every wait here is bounded. Each process gets its own process group, so teardown can kill it
together with anything it started (devstack's children).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any, TypeVar

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc

# Re-exported: the tests pick ports and authenticate exactly as devstack does.
from devstack.stack import DEV_TOKEN as DEV_TOKEN
from devstack.stack import free_port as free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_TENANTS_FILE = REPO_ROOT / "config" / "tenants.dev.toml"
START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0

T = TypeVar("T")


def child_env(overrides: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without service settings, so a developer's shell cannot
    change what the tests run against, plus `overrides`."""
    prefixes = ("TICKET_", "TICKETING_", "ESCALATION_", "GATEWAY_")
    names = {"LOG_LEVEL", "SHUTDOWN_GRACE_SECONDS"}
    base = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k not in names}
    return {**base, **overrides}


def ticket_service_env(directory: Path) -> dict[str, str]:
    """A ticket service on a fresh SQLite file, with a copy of the development tenants."""
    tenants = directory / "tenants.toml"
    shutil.copyfile(DEV_TENANTS_FILE, tenants)
    return {
        "TICKET_DATABASE_URL": f"sqlite+aiosqlite:///{directory / 'ticket_service.db'}",
        "TICKETING_TENANTS_FILE": str(tenants),
        "TICKET_GRPC_LISTEN": "127.0.0.1:0",
        "SHUTDOWN_GRACE_SECONDS": "2",
    }


def run_module(
    module: str, *args: str, env: Mapping[str, str], cwd: Path, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `python -m module args` to completion (killed after `timeout`)."""
    return subprocess.run(  # noqa: S603 - our own interpreter and modules
        [sys.executable, "-m", module, *args],
        env=child_env(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Process:
    """A running `python -m module`; its stdout and stderr are collected in the background,
    so a chatty child never blocks on a full pipe."""

    def __init__(self, module: str, *args: str, env: Mapping[str, str], cwd: Path) -> None:
        self.module = module
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and modules
            [sys.executable, "-m", module, *args],
            env=child_env(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            process_group=0,
        )
        self._lines: list[tuple[str, str]] = []
        self._changed = threading.Condition()
        assert self.popen.stdout is not None
        assert self.popen.stderr is not None
        self._readers = [
            threading.Thread(target=self._collect, args=(name, pipe), daemon=True)
            for name, pipe in (("stdout", self.popen.stdout), ("stderr", self.popen.stderr))
        ]
        for reader in self._readers:
            reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _collect(self, name: str, pipe: IO[str]) -> None:
        for line in pipe:
            with self._changed:
                self._lines.append((name, line.rstrip("\n")))
                self._changed.notify_all()

    def output(self, stream: str | None = None) -> str:
        with self._changed:
            return "\n".join(line for name, line in self._lines if stream in (None, name))

    def wait_for(self, match: Callable[[str], T | None], what: str, timeout: float) -> T:
        """The first non-None `match(line)` over all output lines, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        seen = 0
        with self._changed:
            while True:
                for _, line in self._lines[seen:]:
                    found = match(line)
                    if found is not None:
                        return found
                seen = len(self._lines)
                if self.popen.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(
                        f"{self.module} exited with {self.popen.returncode} before {what}"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{self.module}: no {what} within {timeout:g} s")
                # Short waits: the process can exit without writing another line.
                self._changed.wait(min(remaining, 0.1))

    def wait_for_event(self, event: str, timeout: float = START_TIMEOUT) -> dict[str, Any]:
        """The first JSON log record (structlog, on a non-TTY stderr) with this event."""

        def match(line: str) -> dict[str, Any] | None:
            try:
                record = json.loads(line)
            except ValueError:
                return None
            return record if isinstance(record, dict) and record.get("event") == event else None

        return self.wait_for(match, f"{event!r} log record", timeout)

    def wait_for_line(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        return self.wait_for(re.compile(pattern).search, f"a line matching {pattern!r}", timeout)

    def serving_port(self, timeout: float = START_TIMEOUT) -> int:
        return int(self.wait_for_event("serving", timeout)["port"])

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM, then the exit code; fails if the process takes longer than `timeout`."""
        self.popen.send_signal(signal.SIGTERM)
        return self.popen.wait(timeout)

    def close(self) -> None:
        """Kill the whole process group if anything in it is left, and release the pipes."""
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)
        for reader in self._readers:
            reader.join(STOP_TIMEOUT)
        for pipe in (self.popen.stdout, self.popen.stderr):
            if pipe is not None:
                pipe.close()
        # Captured by pytest; shown only when the test fails.
        print(f"----- {self.module} (exit code {self.popen.returncode}) -----\n{self.output()}")


@contextmanager
def running(module: str, *args: str, env: Mapping[str, str], cwd: Path) -> Iterator[Process]:
    process = Process(module, *args, env=env, cwd=cwd)
    try:
        yield process
    finally:
        process.close()


def health_status(address: str, timeout: float = 5.0) -> str:
    """The overall ("" service) gRPC health status of the server at `address`, by name."""
    with grpc.insecure_channel(address) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=""), timeout=timeout
        )
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


def wait_for_http(
    url: str, status: int, timeout: float = START_TIMEOUT, interval: float = 0.1
) -> httpx.Response:
    """GET `url` until it answers `status`; connection errors count as not yet."""
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    with httpx.Client(timeout=2.0) as client:
        while True:
            try:
                response = client.get(url)
            except httpx.TransportError as error:
                last = repr(error)
            else:
                if response.status_code == status:
                    return response
                last = f"{response.status_code} {response.text}"
            if time.monotonic() + interval > deadline:
                raise AssertionError(f"GET {url} did not answer {status} in {timeout:g} s: {last}")
            time.sleep(interval)
