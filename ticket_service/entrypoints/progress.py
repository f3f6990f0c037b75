"""A one-line progress bar for command-line jobs, redrawn in place on a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(self, label: str, stream: TextIO = sys.stderr) -> None:
        self._label = label
        self._stream = stream
        # Redraw in place on a terminal; in a log file, one line per update reads better.
        self._end = "\r" if stream.isatty() else "\n"

    def update(self, page: int, done: int, total: int | None) -> None:
        if total:
            done = min(done, total)
            filled = WIDTH * done // total
            bar = "#" * filled + "-" * (WIDTH - filled)
            line = f"{self._label} [{bar}] {done}/{total} conversations, page {page}"
        else:
            line = f"{self._label}: {done} conversations, page {page}"
        self._stream.write(line + self._end)
        self._stream.flush()

    def close(self) -> None:
        if self._end == "\r":
            self._stream.write("\n")
        self._stream.flush()
