"""Under gevent, a consumer blocked in Redis blocks only its own greenlet, on one server and on a cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("gevent_process.py")


@pytest.mark.parametrize(("url", "prefix"), [("redis_url", "prefix"), ("redis_cluster_url", "cluster_prefix")])
def test_a_blocked_consumer_does_not_hold_up_publishing_greenlets(
    url: str, prefix: str, request: pytest.FixtureRequest
) -> None:
    environ = {**os.environ, "HITCOUNT_REDIS_URL": request.getfixturevalue(url)}
    environ["HITCOUNT_REDIS_PREFIX"] = request.getfixturevalue(prefix)
    finished = subprocess.run(
        [sys.executable, str(SCRIPT)], env=environ, capture_output=True, check=True, timeout=60, text=True
    )
    measured = json.loads(finished.stdout)
    assert measured["waiter_still_waiting"]
    assert measured["published_after"] < 1.0  # the blocked read waits up to 2 s
    assert measured["received"] == list(range(200))
    assert measured["idle_got"] == 0
