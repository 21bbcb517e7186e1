"""An indexer killed mid-stream loses nothing and doubles nothing: the next one picks up its batches."""

from __future__ import annotations

import signal
import time

from tests.e2e.pipeline import DEADLINE, Stack


def send(stack: Stack, id: str, requests: int, hits: int = 1000) -> int:
    """Send ``requests`` batches of ``hits`` hits; return the hits sent."""
    for _ in range(requests):
        assert stack.post("/analytics/batch", [{"id": id}] * hits).status == 204
    return requests * hits


def test_indexer_killed_mid_stream_then_replaced_leaves_counts_exact(stack: Stack, id: str) -> None:
    sent = send(stack, id, 20)
    end = time.monotonic() + DEADLINE
    while stack.counts(id)[-1] == 0:
        assert time.monotonic() < end, "the indexer indexed nothing"
        time.sleep(0.02)
    killed = stack.indexer
    killed.kill()
    assert killed.process.returncode == -signal.SIGKILL
    assert stack.counts(id)[-1] < sent, "the indexer finished before it was killed: send more"
    sent += send(stack, id, 10)
    stack.start_indexer()
    sent += send(stack, id, 10)
    stack.wait_for_counts(id, [sent] * 5)
