"""Hits sent over HTTP come back as exact counts in every window that holds their timestamp."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from hitcount.core import WINDOWS
from hitcount.core.testing.windows import expected_counts, one_age_per_window
from hitcount.core.windows import LONGEST, NS_PER_SECOND
from tests.e2e.pipeline import Stack

MINUTE = 60
HOUR = 3600
LONGEST_SECONDS = LONGEST.length // NS_PER_SECOND


def rfc3339(seconds_ago: float) -> str:
    moment = datetime.fromtimestamp(time.time() - seconds_ago, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(seconds_ago: float) -> int:
    return int((time.time() - seconds_ago) * 1000)


def test_hits_count_in_every_window_that_holds_their_timestamp(stack: Stack, id: str) -> None:
    # seconds ago -> hits placed there: one as a single RFC 3339 hit, the rest in a batch of epoch ms.
    placed = {age: number for number, age in enumerate(one_age_per_window(), start=1)}
    placed[LONGEST_SECONDS - 10 * MINUTE] = len(placed) + 1  # near the longest window's far edge
    for seconds_ago, hits in placed.items():
        assert stack.post("/analytics", {"id": id, "timestamp": rfc3339(seconds_ago)}).status == 204
        if hits > 1:
            batch = [{"id": id, "timestamp": epoch_ms(seconds_ago)} for _ in range(hits - 1)]
            assert stack.post("/analytics/batch", batch).status == 204
    assert stack.post("/analytics", {"id": id}).status == 204
    assert stack.post("/analytics/batch", [{"id": id}, {"id": id}]).status == 204
    # The three hits without a timestamp are in every window.
    stack.wait_for_counts(id, [count + 3 for count in expected_counts(placed)])


def test_hits_older_than_the_longest_window_are_refused_and_not_counted(stack: Stack, id: str) -> None:
    too_old = LONGEST_SECONDS + HOUR
    assert stack.post("/analytics", {"id": id, "timestamp": rfc3339(too_old)}).status == 400
    assert stack.post("/analytics", {"id": id, "timestamp": epoch_ms(too_old)}).status == 400
    refused = stack.post("/analytics/batch", [{"id": id}, {"id": id, "timestamp": epoch_ms(too_old)}])
    assert refused.status == 400
    assert [error["index"] for error in refused.json()["errors"]] == [1]
    assert stack.post("/analytics", {"id": id, "timestamp": epoch_ms(HOUR * 2)}).status == 204
    stack.wait_for_counts(id, expected_counts({2 * HOUR: 1}))


def test_an_id_never_hit_counts_zero_everywhere(stack: Stack, id: str) -> None:
    answer = stack.request("GET", f"/analytics/{id}")
    assert answer.status == 200
    expected: dict[str, object] = {
        "id": id,
        "counts": [{"reference": window.reference, "count": 0, "visitors": 0} for window in WINDOWS],
        "total": 0,
    }
    assert answer.json() == expected
