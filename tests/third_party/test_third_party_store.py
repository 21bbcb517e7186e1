"""A plugin written by a third party (``hitcount-store-files``: a package, one entry point, the conformance
suite as its test) serves the whole pipeline: ``hitcount serve`` with ``HITCOUNT_STORE=files`` counts a hit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from hitcount.core.testing.processes import free_port, wait_until
from tests.e2e.serving import serve, stop


def read(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


def last_count(url: str) -> int:
    return int(read(url)["counts"][-1]["count"])


def test_hitcount_serves_a_hit_into_a_third_party_store_and_reads_it_back(tmp_path: Path) -> None:
    port = free_port()
    process = serve(tmp_path, HITCOUNT_STORE="files", HITCOUNT_BIND=f"127.0.0.1:{port}")
    try:
        track = urllib.request.Request(f"http://127.0.0.1:{port}/analytics", data=b'{"id": "plugged-in"}')
        with urllib.request.urlopen(track, timeout=5) as response:
            assert response.status == 204
        wait_until(lambda: last_count(f"http://127.0.0.1:{port}/analytics/plugged-in") == 1, "the hit counted")
        assert list((tmp_path / "data" / "files-store").glob("*.hits")), "the hit is in the plugin's files"
        # It keeps no hourly counts: its total is the hits it retains, and /readyz says so.
        assert read(f"http://127.0.0.1:{port}/analytics/plugged-in")["total"] == 1
        store = read(f"http://127.0.0.1:{port}/readyz")["checks"]["store"]
        assert store["detail"].endswith("keeps no hourly counts, so a total counts only the hits it retains")
    finally:
        stop(process)


def test_rollup_of_a_third_party_store_without_hourly_counts_says_why(tmp_path: Path) -> None:
    env = {**os.environ, "HITCOUNT_DATA_DIR": str(tmp_path), "HITCOUNT_STORE": "files"}
    command = [sys.executable, "-m", "hitcount.core.cli", "rollup"]
    rollup = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert rollup.returncode == 1
    assert rollup.stderr.strip() == (
        "hitcount: error: the files store keeps no hourly counts: its totals count only the hits it retains"
    )
