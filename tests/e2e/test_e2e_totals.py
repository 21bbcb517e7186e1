"""Totals, end to end: every hit sent counted once in ``total``, before and after ``hitcount retention``
deleted the hits of the hours it sealed, at a clock set days ahead."""

from __future__ import annotations

import re
import subprocess
import sys
import time

from hitcount.core import WINDOWS
from hitcount.core.testing.processes import DEADLINE
from tests.e2e.pipeline import Stack

HOUR = 3600


def total(stack: Stack, id: str) -> int:
    answer = stack.request("GET", f"/analytics/{id}")
    assert answer.status == 200, answer.body
    return int(answer.json()["total"])


def test_retention_at_a_clock_days_ahead_deletes_the_hits_it_sealed_and_the_total_keeps_them(
    stack: Stack, id: str
) -> None:
    # Hits sent with their own times, up to the 3 days back the API takes, and now.
    sent = time.time()
    ages = [2 * 24 * HOUR, 30 * HOUR, 5 * HOUR]
    batch = [{"id": id, "timestamp": round((sent - age) * 1000)} for age in ages for _ in range(2)]
    assert stack.post("/analytics/batch", batch).status == 204
    assert stack.post("/analytics", {"id": id}).status == 204
    stack.wait_for_counts(id, [7, 5, 3, 1, 1])
    assert total(stack, id) == 7
    # Retention as it will run 73 hours from now: every hour before this one is sealed, and its hits deleted.
    later = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sent + 73 * HOUR))
    command = [sys.executable, "-m", "hitcount.core.cli", "retention", "--now", later]
    environ = {**stack.environ, "HITCOUNT_RETENTION": "73h"}
    retention = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=DEADLINE, check=False)
    assert retention.returncode == 0, retention.stderr
    removed = re.match(r"removed (\d+) ", retention.stdout)
    assert removed, retention.stdout
    assert int(removed[1]) >= 1  # the hits (or the daily indices) of the sealed hours
    # One hit more, so that the reads below are the store's answers after the purge, not cached ones.
    assert stack.post("/analytics", {"id": id}).status == 204
    end = time.monotonic() + DEADLINE
    while (counts := stack.counts(id))[-1] != 2:
        assert time.monotonic() < end, f"{id!r} counts {counts}"
        time.sleep(0.2)
    assert counts[0] < 8  # the hits of the sealed hours are gone from the windows...
    assert total(stack, id) == 8  # ...and kept in the total
    assert len(counts) == len(WINDOWS)
