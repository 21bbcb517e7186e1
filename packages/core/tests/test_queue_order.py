"""The conformance suite's order rule: no order is promised, but no batch is overtaken without bound."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from hitcount.core import Backlog, DeadLetter, Delivery, Health, Queue
from hitcount.core.testing import QueueConformance
from hitcount.core.testing.conformance import QueueFactory


class NewestFirst(Queue):
    """A queue that serves the newest batch first: every batch comes out, but one may wait forever."""

    def __init__(self) -> None:
        self._batches: list[Delivery] = []

    def publish(self, payload: bytes, hits: int) -> None:
        self._batches.append(Delivery(str(len(self._batches)), payload, hits, 0.0))

    def consume(self, consumer: str, max_batches: int, wait: float) -> list[Delivery]:
        taken = self._batches[-max_batches:][::-1]
        del self._batches[len(self._batches) - len(taken) :]
        return taken

    def ack(self, deliveries: Sequence[Delivery]) -> None:
        pass

    def dead_letter(self, delivery: Delivery, reason: str) -> None:
        pass

    def dead_letters(self) -> list[DeadLetter]:
        return []

    def replay_dead_letter(self, tag: str) -> bool:
        return False

    def drop_dead_letter(self, tag: str) -> bool:
        return False

    def backlog(self) -> Backlog:
        return Backlog(len(self._batches), sum(batch.hits for batch in self._batches), None)

    def health(self) -> Health:
        return Health(True, "in a list")


def _one(queue: Queue) -> QueueFactory:
    """A factory that opens the same queue every time, as the suite's opens one shared queue."""

    def make(visibility_timeout: float = 30.0) -> Queue:
        return queue

    return make


def test_a_queue_out_of_publish_order_passes_the_rule_that_every_batch_comes_out() -> None:
    queue = NewestFirst()
    QueueConformance().test_every_published_batch_comes_out_once_in_whatever_order(_one(queue))


def test_a_queue_serving_newest_first_fails_the_rule_that_no_batch_waits_without_bound() -> None:
    queue = NewestFirst()
    with pytest.raises(pytest.fail.Exception, match="still waiting after 100 newer ones"):
        QueueConformance().test_a_waiting_batch_is_not_overtaken_without_bound_by_newer_ones(_one(queue))
