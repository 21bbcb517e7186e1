"""An indexer killed mid-stream, or between its store write and its acknowledgement, loses nothing and doubles
nothing: the next one picks up its batches."""

from __future__ import annotations

import signal
import time

from hitcount.core import WINDOWS, now_ns
from hitcount.core.testing.processes import DEADLINE
from hitcount.indexer.indexer import KILL_BEFORE_ACK
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
        # Five store writes' worth: a write takes at least the indexer's MAX_BATCHES (100) batches.
        sent = send(stack, id, 500, hits=100)
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


def test_indexer_killed_after_its_store_write_and_before_its_ack_leaves_counts_exact(stack: Stack, id: str) -> None:
    # The moment a crash costs most: hits in the store and still in the queue, to be written again.
    assert stack.indexer.stop() == 0
    queue = stack.runtime.open_queue()
    store = stack.runtime.open_store()
    try:
        sent = send(stack, id, 10)
        queued = queue.backlog().batches
        doomed = stack.start_indexer({KILL_BEFORE_ACK: "1"})
        stack.killed(doomed)  # by its own hand, after its store write
        assert doomed.wait() == -signal.SIGKILL, doomed.output()
        store.refresh()
        stored = store.counts(id, now_ns()).values[0]
        assert stored > 0, "the indexer died before its store write returned"
        assert queue.backlog().batches == queued, "the indexer acknowledged a batch before it died"
    finally:
        queue.close()
        store.close()
    stack.start_indexer()
    stack.wait_for_counts(id, [sent] * len(WINDOWS))
