"""Logging setup: any case of level name works, a typo does not stop a service."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

from common.logging import QUIET_LIBRARIES, configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """configure_logging is process-wide: put back what the other tests run with."""
    saved = structlog.get_config()
    levels = {name: logging.getLogger(name).level for name in QUIET_LIBRARIES}
    yield
    structlog.configure(**saved)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


@pytest.mark.parametrize("given", ["warning", "WARNING", "Warning"])
def test_level_names_are_case_insensitive(given: str) -> None:
    configure_logging(level=given, json=True)

    assert logging.getLogger("httpx").level == logging.WARNING


def test_an_unknown_level_falls_back_to_info_and_says_so(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging(level="chatty", json=True)

    assert "LOG_LEVEL 'CHATTY' is not a level" in capsys.readouterr().err


def test_request_logs_of_http_libraries_stay_quiet_unless_debugging() -> None:
    configure_logging(level="INFO", json=True)

    assert logging.getLogger("httpx").level == logging.WARNING
    assert logging.getLogger("httpcore").level == logging.WARNING

    configure_logging(level="DEBUG", json=True)

    assert logging.getLogger("httpx").level == logging.NOTSET


# structlog's and the standard library's lines written from many threads at once, as in a
# service: the OTLP exporter's thread logs through the standard library while requests log
# through structlog.
_INTERLEAVE_SCRIPT = """
import logging, threading
import structlog
from common.logging import configure_logging

configure_logging(level="INFO", json=True)
ours = structlog.get_logger("ours")
library = logging.getLogger("library")

def structlog_lines():
    for n in range(2000):
        ours.info("ours", n=n, padding="x" * 200)

def stdlib_lines():
    for n in range(2000):
        library.warning("library %d %s", n, "y" * 200)

threads = [threading.Thread(target=f) for f in (structlog_lines, stdlib_lines) * 3]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_lines_from_many_threads_never_share_a_line() -> None:
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", _INTERLEAVE_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    lines = done.stderr.splitlines()
    assert len(lines) == 12_000
    for line in lines:
        assert isinstance(json.loads(line), dict), line
