"""``hitcount serve``, what ``make run`` runs, as a newcomer sees it: what to try next once it serves, a
line per request, and one shape for every log line of its processes (gunicorn's, the API's, the indexer's).

It runs on the embedded sqlite backends in a directory of its own, whatever backends the
session's other tests use, as ``make run`` does.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hitcount.core.testing.processes import free_port, wait_until
from tests.e2e.serving import FIRST_LINE, LOG_LINE, Served, serve, stop


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
    assert "HITCOUNT_PUBLIC_IDS=*" in text  # serve's own default: a page on another port shows its counts


def test_serve_logs_a_line_per_request_with_method_path_status_and_duration_not_the_client(served: Served) -> None:
    run_shown(f"curl -s {served.url}/hitcount.js?v=2")  # its query is never logged
    lines = [line for line in served.output().splitlines() if "request_log" in line]
    # Nothing names the client: hitcount keeps no visitor's address (README.md, "Visitors").
    assert re.search(r"INFO hitcount\.api_flask\.request_log: GET /hitcount\.js 200 [\d.]+ ms$", lines[-1])


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
