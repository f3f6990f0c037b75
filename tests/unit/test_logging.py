"""Logging setup: any case of level name works, a typo does not stop a service."""

from __future__ import annotations

import logging
from collections.abc import Iterator

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
