"""A batch the pipeline cannot get through goes to dead letters with its reason; the rest flows."""

from __future__ import annotations

from functools import partial

from hitcount.core import WINDOWS, Hit, Queue, now_ns
from hitcount.core.testing.processes import wait_until
from hitcount.core.wire import encode_batch
from tests.e2e.pipeline import Stack


def takes(queue: Queue, consumer: str) -> bool:
    """Whether ``consumer`` was delivered a batch (and holds it, unacknowledged)."""
    return bool(queue.consume(consumer, 1, 0.2))


def test_a_batch_its_indexers_died_on_is_dead_lettered_after_its_attempts_while_the_rest_flows(
    stack: Stack, id: str
) -> None:
    assert stack.indexer.stop() == 0
    queue = stack.runtime.open_queue()
    try:
        poison = encode_batch([Hit(f"{id}-poison", now_ns())])
        queue.publish(poison, 1)
        # Two indexers take it and die holding it; each next one gets it once its lease is up.
        for crashed in ("crashed-1", "crashed-2"):
            wait_until(partial(takes, queue, crashed), f"{crashed} to take the batch")
        assert stack.post("/analytics/batch", [{"id": id}] * 3).status == 204
        stack.start_indexer({"HITCOUNT_INDEXER_MAX_ATTEMPTS": "2"})
        stack.wait_for_counts(id, [3] * len(WINDOWS))
        [letter] = [letter for letter in queue.dead_letters() if letter.payload == poison]
        assert letter.reason.startswith("delivered 2 times without being acknowledged"), letter.reason
        assert stack.counts(f"{id}-poison") == [0] * len(WINDOWS)
        assert queue.replay_dead_letter(letter.tag)
    finally:
        queue.close()
    # An indexer of the usual settings for the next tests; it counts the replayed batch once.
    stack.indexer.stop()
    stack.start_indexer()
    stack.wait_for_counts(f"{id}-poison", [1] * len(WINDOWS))
