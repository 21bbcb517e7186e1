"""Rankings, end to end: hits sent to the API come back as ``GET /analytics``'s ids with the most hits."""

from __future__ import annotations

import time
from urllib.parse import quote

from hitcount.core import WINDOWS
from hitcount.core.testing.processes import DEADLINE
from tests.e2e.pipeline import Stack


def test_the_ids_sent_the_most_hits_rank_first_in_every_window_and_by_total(stack: Stack, id: str) -> None:
    sent = {f"{id}/b": 3, f"{id}/a": 3, f"{id}/c": 5, f"{id}/d": 1}
    for name, hits in sent.items():
        for _ in range(hits):
            assert stack.post("/analytics", {"id": name}).status == 204
    for name, hits in sent.items():
        stack.wait_for_counts(name, [hits] * len(WINDOWS))
    expected = [{"id": f"{id}/{name}", "count": hits} for name, hits in (("c", 5), ("a", 3), ("b", 3))]
    for window in (*(window.name for window in WINDOWS), "total"):
        query = f"/analytics?window={window}&limit=3&prefix={quote(id + '/', safe='')}"
        end = time.monotonic() + DEADLINE
        while (answer := stack.request("GET", query)).json()["ids"] != expected:  # a ranking kept 2 s may be older
            assert answer.status == 200, answer.body
            assert time.monotonic() < end, f"{window}: {answer.json()} instead of {expected}"
            time.sleep(0.2)
