from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from common.clock import ManualClock
from tests.conftest import START
from tests.servicer.shim import ServicerHarness


@pytest.fixture
def servicer(tmp_path: Path) -> Iterator[ServicerHarness]:
    """The real servicer over a fresh migrated SQLite file; the clock starts at START
    (2026-06-17T10:00Z) and moves a millisecond per reading."""
    harness = ServicerHarness(
        tmp_path / "tickets.db", ManualClock(START, step=timedelta(milliseconds=1))
    )
    yield harness
    harness.close()
