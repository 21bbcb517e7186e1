"""An indexer killed mid-stream loses nothing and doubles nothing: the next one picks up its batches."""

from __future__ import annotations

import signal
import time

from hitcount.core import WINDOWS
from hitcount.core.testing.processes import DEADLINE
from tests.e2e.pipeline import Stack


def send(stack: Stack, id: str, requests: int, hits: int = 1000) -> int:
    """Send ``requests`` batches of ``hits`` hits; return the hits sent."""
    for _ in range(requests):
        assert stack.post("/analytics/batch", [{"id": id}] * hits).status == 204
    return requests * hits


def test_indexer_killed_mid_stream_then_replaced_leaves_counts_exact(stack: Stack, id: str) -> None:
    # Fill the queue while no indexer runs, so that the one killed below is surely mid-stream.
    assert stack.indexer.stop() == 0
    queue = stack.runtime.open_queue()
    try:
        sent = send(stack, id, 60)
        queued = queue.backlog().batches
        doomed = stack.start_indexer()
        end = time.monotonic() + DEADLINE
        while queue.backlog().batches == queued:  # until it has stored and acknowledged something
            assert time.monotonic() < end, "the indexer acknowledged nothing"
            time.sleep(0.005)
        stack.kill(doomed)
        assert doomed.returncode == -signal.SIGKILL
        assert queue.backlog().batches > 0, "the indexer finished before it was killed: send more"
    finally:
        queue.close()
    sent += send(stack, id, 10)
    stack.start_indexer()
    sent += send(stack, id, 10)
    stack.wait_for_counts(id, [sent] * len(WINDOWS))
