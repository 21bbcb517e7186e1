"""Hits sent over HTTP come back as exact counts in every window that holds their timestamp."""

from __future__ import annotations

import time
from datetime import datetime, timezone

from tests.e2e.pipeline import Stack

MINUTE = 60
HOUR = 3600


def rfc3339(seconds_ago: float) -> str:
    moment = datetime.fromtimestamp(time.time() - seconds_ago, timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(seconds_ago: float) -> int:
    return int((time.time() - seconds_ago) * 1000)


def test_hits_count_in_every_window_that_holds_their_timestamp(stack: Stack, id: str) -> None:
    # seconds ago -> hits placed there: one as a single RFC 3339 hit, the rest in a batch of epoch ms.
    placed = {2 * MINUTE: 1, 30 * MINUTE: 2, 5 * HOUR: 3, 30 * HOUR: 4, 60 * HOUR: 5, 71.9 * HOUR: 6}
    for seconds_ago, hits in placed.items():
        assert stack.post("/analytics", {"id": id, "timestamp": rfc3339(seconds_ago)}).status == 204
        if hits > 1:
            batch = [{"id": id, "timestamp": epoch_ms(seconds_ago)} for _ in range(hits - 1)]
            assert stack.post("/analytics/batch", batch).status == 204
    assert stack.post("/analytics", {"id": id}).status == 204
    assert stack.post("/analytics/batch", [{"id": id}, {"id": id}]).status == 204
    # 3 days, 2 days, 1 day, 1 hour, 5 minutes; the three hits without a timestamp are in all.
    stack.wait_for_counts(id, [21 + 3, 10 + 3, 6 + 3, 3 + 3, 1 + 3])


def test_hits_older_than_the_longest_window_are_refused_and_not_counted(stack: Stack, id: str) -> None:
    too_old = 73 * HOUR
    assert stack.post("/analytics", {"id": id, "timestamp": rfc3339(too_old)}).status == 400
    assert stack.post("/analytics", {"id": id, "timestamp": epoch_ms(too_old)}).status == 400
    refused = stack.post("/analytics/batch", [{"id": id}, {"id": id, "timestamp": epoch_ms(too_old)}])
    assert refused.status == 400
    assert [error["index"] for error in refused.json()["errors"]] == [1]
    assert stack.post("/analytics", {"id": id, "timestamp": epoch_ms(HOUR * 2)}).status == 204
    stack.wait_for_counts(id, [1, 1, 1, 0, 0])


def test_an_id_never_hit_counts_zero_everywhere(stack: Stack, id: str) -> None:
    answer = stack.request("GET", f"/analytics/{id}")
    assert answer.status == 200
    assert answer.json() == {
        "id": id,
        "counts": [
            {"reference": reference, "count": 0}
            for reference in ("3 days ago", "2 days ago", "1 day ago", "1 hour ago", "5 minutes ago")
        ],
    }
