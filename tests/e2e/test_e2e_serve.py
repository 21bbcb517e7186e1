"""``hitcount serve``, what ``make run`` runs, as a newcomer sees it: what to try next once it serves, a
line per request, and one shape for every log line of its processes (gunicorn's, the API's, the indexer's).

It runs on the embedded sqlite backends in a directory of its own, whatever backends the
session's other tests use, as ``make run`` does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from hitcount.core.testing.processes import Child, free_port, wait_until

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
    """``hitcount serve`` as ``make run`` runs it, on a free port, with ``settings`` besides."""
    environ = {key: value for key, value in os.environ.items() if not key.startswith(("HITCOUNT_", "PROMETHEUS_"))}
    environ.update(HITCOUNT_DATA_DIR=str(directory / "data"), HITCOUNT_WORKERS="1", **settings)
    return Child([sys.executable, "-m", "hitcount.core.cli", "serve"], directory / "serve.log", environ)


def stop(process: Child) -> None:
    """Stop it once its worker can take the signal (gunicorn ignores a SIGTERM to a worker still booting)."""
    wait_until(lambda: "Worker ready" in process.output(), "the API's worker to boot")
    assert process.stop() == 0, process.output()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One ``hitcount serve`` for the module, once it printed what to try next."""
    port = free_port()
    process = serve(tmp_path_factory.mktemp("serve"), HITCOUNT_BIND=f"127.0.0.1:{port}")
    try:

        def said() -> bool:
            assert process.running(), process.output()
            return FIRST_LINE in process.output()

        wait_until(said, "hitcount serve to say what to try next")
        yield Served(f"http://127.0.0.1:{port}", process)
    finally:
        stop(process)


def run_shown(line: str) -> str:
    """Run a command as the block shows it, as a user pasting it into a shell would; its output."""
    assert shutil.which("curl"), "the commands hitcount serve suggests are curl's: install curl"
    result = subprocess.run(shlex.split(line), capture_output=True, text=True, timeout=10, check=True)
    return result.stdout


def test_serve_says_what_to_try_next_for_the_address_it_serves_and_those_commands_work(served: Served) -> None:
    block, _ = served.parts()
    assert block[0] == f"hitcount serves {served.url} (Ctrl-C stops it). Try this next:"
    commands = [line.strip() for line in block if line.strip().startswith("curl ")]
    assert commands == [
        f'curl -i -X POST {served.url}/analytics -d \'{{"id": "hello"}}\'',
        f"curl -s {served.url}/analytics/hello",
    ]
    assert run_shown(commands[0]).startswith("HTTP/1.1 204")

    def counted() -> bool:
        counts: list[dict[str, int]] = json.loads(run_shown(commands[1]))["counts"]
        return counts[-1]["count"] == 1

    wait_until(counted, "the tracked hit to be read back")
    text = "\n".join(block)
    assert f'<script defer src="{served.url}/hitcount.js" data-id="hello"></script>' in text
    assert f'<img src="{served.url}/badge.svg?id=hello" alt="hits">' in text
    assert "HITCOUNT_CORS_ORIGINS=*" in text
    assert "HITCOUNT_PUBLIC_IDS" in text


def test_serve_logs_a_line_per_request_with_method_path_status_duration_and_client(served: Served) -> None:
    run_shown(f"curl -s {served.url}/hitcount.js?v=2")  # its query is never logged
    lines = [line for line in served.output().splitlines() if "request_log" in line]
    assert re.search(
        r"INFO hitcount\.api_flask\.request_log: GET /hitcount\.js 200 [\d.]+ ms from 127\.0\.0\.1$", lines[-1]
    )


def test_every_line_serve_and_its_processes_log_has_hitcounts_shape_gunicorns_included(served: Served) -> None:
    _, logged = served.parts()
    assert [line for line in logged if not LOG_LINE.match(line)] == []
    assert any(" INFO gunicorn.error: Booting worker with pid: " in line for line in logged)
    assert any(" INFO hitcount.indexer.indexer: indexer " in line for line in logged)


def test_serve_keeps_the_access_log_off_when_told(tmp_path: Path) -> None:
    port = free_port()
    process = serve(tmp_path, HITCOUNT_BIND=f"127.0.0.1:{port}", HITCOUNT_ACCESS_LOG="off")
    try:
        wait_until(lambda: FIRST_LINE in process.output(), "hitcount serve to say what to try next")
        run_shown(f"curl -s http://127.0.0.1:{port}/analytics/hello")
    finally:
        stop(process)
    assert "request_log" not in process.output()
