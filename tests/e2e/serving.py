"""``hitcount serve``, what ``make run`` runs, started by a test as a newcomer starts it, and what it prints."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from hitcount.core.testing.processes import Child, start_api

# Every line a hitcount process logs: hitcount.core.logs.FORMAT.
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: \S")
FIRST_LINE = "Try this next:"


@dataclass
class Served:
    url: str
    process: Child

    def output(self) -> str:
        return self.process.output()

    def parts(self) -> tuple[list[str], list[str]]:
        """What ``hitcount serve`` printed of what to try next (from its first line to the next log line),
        and every other line of its output."""
        lines = self.output().splitlines()
        start = next(index for index, line in enumerate(lines) if line.endswith(FIRST_LINE))
        end = next((index for index in range(start, len(lines)) if LOG_LINE.match(lines[index])), len(lines))
        return lines[start:end], lines[:start] + lines[end:]


def serve(directory: Path, **settings: str) -> Child:
    """``hitcount serve`` as ``make run`` runs it, with ``settings`` besides (its ``HITCOUNT_BIND`` among
    them), once it serves."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HITCOUNT_", "PROMETHEUS_"))}
    environ.update(HITCOUNT_DATA_DIR=str(directory / "data"), HITCOUNT_WORKERS="1", **settings)
    return start_api([sys.executable, "-m", "hitcount.core.cli", "serve"], directory / "serve.log", environ)


def stop(process: Child) -> None:
    """Stop it: it must exit 0."""
    assert process.stop() == 0, process.output()
