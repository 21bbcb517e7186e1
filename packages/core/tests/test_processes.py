"""Starting ``hitcount api`` for tests and benchmarks: it serves once every worker is ready and /healthz answers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from hitcount.core.testing.processes import WORKER_READY, free_port, start_api

# A stand-in for `hitcount api`: /healthz answers at once, its workers say they are ready one by one.
STAND_IN = f"""
import http.server, os, sys, threading, time
host, port = os.environ["HITCOUNT_BIND"].rsplit(":", 1)
class Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
server = http.server.HTTPServer((host, int(port)), Health)
threading.Thread(target=server.serve_forever, daemon=True).start()
for worker in range(int(sys.argv[1])):
    time.sleep(0.3)
    print("{WORKER_READY}: %d)" % worker, flush=True)
time.sleep(60)
"""


def environ(workers: int) -> dict[str, str]:
    return {**os.environ, "HITCOUNT_BIND": f"127.0.0.1:{free_port()}", "HITCOUNT_WORKERS": str(workers)}


def test_an_api_serves_once_every_worker_said_it_is_ready(tmp_path: Path) -> None:
    api = start_api([sys.executable, "-c", STAND_IN, "3"], tmp_path / "api.log", environ(3))
    try:
        assert api.output().count(WORKER_READY) == 3
    finally:
        api.kill()


def test_an_api_that_exits_fails_its_start_with_its_output(tmp_path: Path) -> None:
    command = [sys.executable, "-c", "import sys; sys.exit('no such backend')"]
    with pytest.raises(RuntimeError, match="exited with 1:\nno such backend"):
        start_api(command, tmp_path / "api.log", environ(1))


def test_an_api_with_fewer_workers_ready_than_configured_is_not_serving(tmp_path: Path) -> None:
    command = [sys.executable, "-c", STAND_IN, "1"]
    with pytest.raises(TimeoutError, match="to serve with 2 workers ready"):
        start_api(command, tmp_path / "api.log", environ(2), deadline=1.5)
