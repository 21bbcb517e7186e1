"""A server refuses to start on settings that break a rule between them, naming both (issue 22).

Each rule runs where the packages it spans are installed: the spool's lease against the Redis
queue's timeout in the e2e session with ``HITCOUNT_QUEUE=redis``, a store write against the
queue's visibility timeout in the sessions with ``HITCOUNT_STORE=elastic``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def start(command: str, tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """``hitcount <command>`` with the session's settings and ``settings``, until it exits (it must, at once)."""
    environ = {**os.environ, "HITCOUNT_DATA_DIR": str(tmp_path), **settings}
    return subprocess.run(
        [sys.executable, "-m", "hitcount.core.cli", command],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.skipif(
    os.environ.get("HITCOUNT_QUEUE") != "redis", reason="the Redis queue's timeout: HITCOUNT_QUEUE=redis"
)
def test_the_api_refuses_a_redis_timeout_that_lets_a_publish_outlast_the_spools_lease(tmp_path: Path) -> None:
    result = start("api", tmp_path, HITCOUNT_REDIS_TIMEOUT="4s")
    assert result.returncode == 1, result.stderr
    assert "HITCOUNT_REDIS_TIMEOUT=4 s lets one publish take 12 s" in result.stderr
    assert "hitcount.api_flask.spool.LEASE = 10 s" in result.stderr


@pytest.mark.skipif(os.environ.get("HITCOUNT_STORE") != "elastic", reason="HITCOUNT_STORE=elastic only")
def test_the_indexer_refuses_a_visibility_timeout_shorter_than_the_longest_store_write(tmp_path: Path) -> None:
    result = start("indexer", tmp_path, HITCOUNT_QUEUE_VISIBILITY_TIMEOUT="5s", HITCOUNT_ELASTIC_TIMEOUT="10s")
    assert result.returncode == 1, result.stderr
    assert "HITCOUNT_QUEUE_VISIBILITY_TIMEOUT=5 s must exceed the longest store write" in result.stderr
    assert "HITCOUNT_ELASTIC_TIMEOUT=10 s" in result.stderr
