"""`hitcount bench` against a small stand-in API (the tool's logic, not the real API's speed)."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from hitcount.core.cli import main
from hitcount.core.testing.processes import run_on_terminal
from hitcount.core.windows import LONGEST


class StandIn(BaseHTTPRequestHandler):
    """Counts hits like the API does; every ``fail_every``-th track request gets a 503."""

    protocol_version = "HTTP/1.1"
    hits: ClassVar[dict[str, int]] = {}
    requests = 0
    fail_every = 0
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        items = body if isinstance(body, list) else [body]
        with self.lock:
            type(self).requests += 1
            failing = self.fail_every and self.requests % self.fail_every == 0
            if not failing:
                for item in items:
                    self.hits[item["id"]] = self.hits.get(item["id"], 0) + 1
        self.send_response(503 if failing else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        id = self.path.rsplit("/", 1)[1]
        counts = [{"reference": LONGEST.reference, "count": self.hits.get(id, 0)}]
        payload = json.dumps({"id": id, "counts": counts}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    StandIn.hits, StandIn.requests, StandIn.fail_every = {}, 0, 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def bench(api: str, *arguments: str) -> int:
    return main(["bench", "--url", api, "-w", "2", "-c", "2", "--duration", "1", "--verify-timeout", "5", *arguments])


def test_every_accepted_hit_is_verified_as_counted(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "page", "--verify") == 0
    output = capsys.readouterr().out
    accepted = int(output.split("hits accepted ")[1].split()[0])
    assert accepted == StandIn.hits["page"] > 0
    assert f"verify counted {accepted} of {accepted} accepted  missing 0  extra 0" in output
    assert "latency ms  p50" in output


def test_batches_count_every_hit_of_the_request(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "b", "--batch", "10", "--verify") == 0
    accepted = int(capsys.readouterr().out.split("hits accepted ")[1].split()[0])
    assert accepted == StandIn.hits["b"] == 10 * StandIn.requests


def test_non_2xx_answers_are_errors_and_fail_the_run(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    StandIn.fail_every = 5
    assert bench(api, "-i", "x") == 1
    assert "x HTTP 503" in capsys.readouterr().out


def test_open_loop_sends_at_the_requested_rate(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "r", "--rate", "200") == 0
    assert 150 <= StandIn.requests <= 210


def test_a_piped_run_shows_no_live_line(api: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert bench(api, "-i", "quiet", "--duration", "1.5") == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert "req/s" in captured.out


def test_a_run_on_a_terminal_shows_rate_p90_and_errors_as_it_goes(api: str) -> None:
    command = [sys.executable, "-m", "hitcount.core.cli", "bench", "--url", api, "-w", "1", "-c", "2"]
    code, output, terminal = run_on_terminal([*command, "-i", "live", "--duration", "2"], os.environ)
    assert code == 0, terminal
    assert re.search(r"\r +\d+\.\ds  [\d,]+ req/s  p90 \d+\.\d ms  errors 0", terminal), terminal
    assert "hits accepted" in output
