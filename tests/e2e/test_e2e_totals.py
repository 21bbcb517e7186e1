"""Totals, end to end: every hit counted once in ``total``, before and after ``hitcount retention``
deleted the hits of the hours it sealed."""

from __future__ import annotations

import re
import subprocess
import sys

from hitcount.core import WINDOWS, Hit, now_ns
from hitcount.core.testing.processes import DEADLINE
from hitcount.core.windows import NS_PER_DAY
from tests.e2e.pipeline import Stack


def total(stack: Stack, id: str) -> int:
    answer = stack.request("GET", f"/analytics/{id}")
    assert answer.status == 200, answer.body
    return int(answer.json()["total"])


def test_retention_deletes_hits_of_sealed_hours_and_the_total_keeps_them(stack: Stack, id: str) -> None:
    # Hits older than the API takes (3 days), as an earlier version or a replayed dead letter stored them.
    store = stack.runtime.open_store()
    try:
        store.write([Hit(id, now_ns() - days * NS_PER_DAY) for days in (10, 6, 5, 4)])
    finally:
        store.close()
    for _ in range(3):
        assert stack.post("/analytics", {"id": id}).status == 204
    stack.wait_for_counts(id, [3] * len(WINDOWS))
    assert total(stack, id) == 7
    command = [sys.executable, "-m", "hitcount.core.cli", "retention"]
    environ = {**stack.environ, "HITCOUNT_RETENTION": "73h"}
    retention = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=DEADLINE, check=False)
    assert retention.returncode == 0, retention.stderr
    removed = re.match(r"removed (\d+) ", retention.stdout)
    assert removed, retention.stdout
    assert int(removed[1]) >= 4  # the four old hits (and any other test's that old)
    # One hit more, so that the read below is the store's answer after the purge, not a cached one.
    assert stack.post("/analytics", {"id": id}).status == 204
    stack.wait_for_counts(id, [4] * len(WINDOWS))
    assert total(stack, id) == 8
