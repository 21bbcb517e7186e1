"""The spool's bounds and forwarding, on real sqlite files (the queues beyond are core's memory queue)."""

from __future__ import annotations

import multiprocessing
import re
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from hitcount.api_flask.spool import Forwarder, Spool
from hitcount.core import QueueFull, QueueUnavailable
from hitcount.core.backends.memory import MemoryQueue
from hitcount.core.queue import Queue

T = TypeVar("T")


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    return tmp_path / "spool"


def spool_in(directory: Path, max_bytes: int = 2**30, max_hits: int = 10**6) -> Spool:
    return Spool(directory, max_bytes, max_hits)


class Held:
    """A spool called directly, as a worker's handle calls it on the spool's thread."""

    def __init__(self, spool: Spool) -> None:
        self._spool = spool

    def call(self, method: Callable[[Spool], T]) -> T:
        return method(self._spool)


def forwarder(spool: Spool, publish: Callable[[bytes, int], None]) -> Forwarder:
    return Forwarder(Held(spool), publish)


def drain(queue: Queue) -> list[bytes]:
    deliveries = queue.consume("test", 1000, 0)
    queue.ack(deliveries)
    return [delivery.payload for delivery in deliveries]


def test_spooled_batches_are_forwarded_oldest_first_and_then_gone(directory: Path) -> None:
    spool, queue = spool_in(directory), MemoryQueue(uuid.uuid4().hex)
    for number in range(5):
        spool.put(f"batch-{number}".encode(), 2)
    assert (spool.backlog().batches, spool.backlog().hits) == (5, 10)
    forwarding = forwarder(spool, queue.publish)
    assert [forwarding.forward_one() for _ in range(6)] == [True] * 5 + [False]
    assert drain(queue) == [f"batch-{number}".encode() for number in range(5)]
    assert spool.backlog().batches == 0


def test_beyond_its_maximum_the_spool_refuses_as_a_full_queue(directory: Path) -> None:
    spool = spool_in(directory, max_hits=10)
    spool.put(b"a", 6)
    spool.put(b"b", 4)
    with pytest.raises(QueueFull, match="its maximum of 10 hits"):
        spool.put(b"c", 1)
    assert spool.backlog().hits == 10
    assert not spool.health().ok
    assert "10 hits spooled" in spool.health().detail


def test_the_spools_health_says_how_long_ago_its_oldest_batch_came_in_words(directory: Path) -> None:
    spool = spool_in(directory)
    spool.put(b"a", 1)
    assert re.fullmatch(r"1 hits spooled \(1 bytes\), the oldest [\d.]+ ms ago", spool.health().detail)


def test_beyond_its_maximum_bytes_the_spool_refuses_as_a_full_queue_until_batches_go_out(directory: Path) -> None:
    spool = spool_in(directory, max_bytes=100)
    spool.put(b"a" * 60, 1)
    spool.put(b"b" * 40, 1)
    with pytest.raises(QueueFull, match="HITCOUNT_SPOOL_MAX_BYTES=100"):
        spool.put(b"c", 1)
    assert spool.backlog().batches == 2
    assert not spool.health().ok
    assert "(100 bytes)" in spool.health().detail
    queue = MemoryQueue(uuid.uuid4().hex)
    assert forwarder(spool, queue.publish).forward_one()  # the 60 bytes go out: room for them again
    spool.put(b"c" * 60, 1)
    assert not spool.health().ok  # at its maximum again
    assert drain(queue) == [b"a" * 60]


def test_a_batch_the_queue_did_not_take_stays_spooled(directory: Path) -> None:
    spool = spool_in(directory)
    spool.put(b"kept", 3)

    def down(payload: bytes, hits: int) -> None:
        raise QueueUnavailable("down")

    with pytest.raises(QueueUnavailable):
        forwarder(spool, down).forward_one()
    assert spool.backlog().hits == 3


def test_the_spool_outlives_its_process(directory: Path) -> None:
    spool_in(directory).put(b"before the crash", 1)  # never closed, as after kill -9
    queue = MemoryQueue(uuid.uuid4().hex)
    assert forwarder(spool_in(directory), queue.publish).forward_one()
    assert drain(queue) == [b"before the crash"]


def _forward_all(directory: Path, sink: list[bytes]) -> None:
    queue = MemoryQueue(uuid.uuid4().hex)
    forwarding = forwarder(spool_in(directory), queue.publish)
    while forwarding.forward_one():
        pass
    sink.extend(drain(queue))


def test_workers_forwarding_at_once_never_forward_a_batch_twice(directory: Path) -> None:
    spool = spool_in(directory)
    for number in range(200):
        spool.put(f"{number}".encode(), 1)
    # Separate processes, as API workers are; each forwards into its own memory queue.
    with multiprocessing.Manager() as manager:
        sinks = [manager.list() for _ in range(3)]
        workers = [multiprocessing.Process(target=_forward_all, args=(directory, sink)) for sink in sinks]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
        forwarded = Counter(payload for sink in sinks for payload in sink)
    assert len(forwarded) == 200
    assert set(forwarded.values()) == {1}
