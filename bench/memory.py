"""Resident memory per process, from /proc/<pid>/status (VmRSS: what the process holds in
RAM now, shared libraries included, swap excluded)."""

from __future__ import annotations

from pathlib import Path

_PROC = Path("/proc")


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MiB, or None if it is gone."""
    try:
        status = (_PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024  # reported in kB
    return None  # a zombie has no memory lines
