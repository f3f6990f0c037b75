"""Running a benchmark module the way a person would, for the smoke tests."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BACKENDS, PG_URL
from tests.processes.support import REPO_ROOT, child_env

# Every benchmark exits 2 when it ran cleanly but a target was missed, and 1 when
# something it checks for correctness (a delivery, a row, a firing) went wrong.
EXIT_TARGET_MISSED = 2
STOP_GRACE = 30.0  # seconds a benchmark gets to clean up after SIGTERM


def run_bench(
    module: str,
    args: list[str],
    tmp_path: Path,
    *,
    own_postgres: bool = False,
    timeout: float = 80.0,
) -> dict[str, Any]:
    """Run `python -m <module> <args>` on the test PostgreSQL (or, with `own_postgres`, on
    the PostgreSQL cluster the benchmark starts for itself) and return its JSON report;
    fails the test unless it exited 0 or "target missed"."""
    if "postgresql" not in BACKENDS:
        pytest.skip("TEST_BACKENDS opts out of PostgreSQL, which the benchmarks run on")
    report = tmp_path / "bench.json"
    command = [sys.executable, "-m", module, *args, "--json", str(report)]
    if not own_postgres:
        command += ["--postgres-url", PG_URL]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        command,
        env=child_env({}),
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        # SIGTERM first: a benchmark cleans up what it started (processes, databases, a
        # PostgreSQL cluster) on the way out; SIGKILL would leave them running.
        process.terminate()
        try:
            stdout, stderr = process.communicate(timeout=STOP_GRACE)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        pytest.fail(f"{module} ran longer than {timeout:g} s:\n{stdout}{stderr}")
    done = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
    assert done.returncode in (0, EXIT_TARGET_MISSED), done.stdout + done.stderr
    document: dict[str, Any] = json.loads(report.read_text())
    return document
