"""Bounded memory: acknowledged batches leave Redis, and the backlog in hits has a ceiling."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import redis

from hitcount.core import Delivery, Hit, QueueFull, now_ns
from hitcount.core.wire import encode_batch
from hitcount.queue_redis.keys import partitions
from hitcount.queue_redis.queue import RedisQueue

QueueOpener = Callable[..., RedisQueue]


def _drain(queue: RedisQueue, batches: int) -> list[Delivery]:
    """Consume and acknowledge ``batches`` batches (failing after 30 s)."""
    received: list[Delivery] = []
    deadline = time.monotonic() + 30
    while len(received) < batches and time.monotonic() < deadline:
        deliveries = queue.consume("c1", 50, 1.0)
        queue.ack(deliveries)
        received += deliveries
    assert len(received) == batches
    return received


def test_acknowledged_batches_leave_every_stream_empty_and_the_hit_counter_at_zero(
    open_queue: QueueOpener, client: redis.Redis, prefix: str
) -> None:
    queue = open_queue(partitions=2)
    now = now_ns()
    payload = encode_batch([Hit(f"trim-{n}", now) for n in range(1000)])
    for _ in range(200):
        queue.publish(payload, 1000)
    keys = partitions(prefix, 2)
    assert sum(client.xlen(partition.stream) for partition in keys) == 200
    assert queue.backlog().hits == 200_000

    _drain(queue, 200)

    assert [client.xlen(partition.stream) for partition in keys] == [0, 0]
    assert [int(client.get(partition.hits) or -1) for partition in keys] == [0, 0]
    # The entries' memory is freed, not just hidden: 200 batches took megabytes.
    assert all(int(client.memory_usage(partition.stream) or 0) < 4096 for partition in keys)
    assert queue.backlog().hits == 0


def test_publish_beyond_the_max_backlog_raises_queue_full_and_drops_nothing(open_queue: QueueOpener) -> None:
    queue = open_queue(max_backlog=1000)
    payloads = [f"batch {n}".encode() for n in range(10)]
    for payload in payloads:
        queue.publish(payload, 100)
    with pytest.raises(QueueFull, match=r"the backlog is at its maximum \(1000 hits\)"):
        queue.publish(b"one hit too many", 1)
    assert (queue.backlog().batches, queue.backlog().hits) == (10, 1000)
    assert [delivery.payload for delivery in _drain(queue, 10)] == payloads
    queue.publish(b"room again", 1)
    assert queue.backlog().hits == 1


def test_the_max_backlog_is_shared_by_the_partitions_and_usable_in_full(open_queue: QueueOpener) -> None:
    queue = open_queue(max_backlog=1000, partitions=4)
    for n in range(40):
        queue.publish(f"batch {n}".encode(), 25)
    with pytest.raises(QueueFull):
        queue.publish(b"one hit too many", 1)
    assert queue.backlog().hits == 1000


def test_concurrent_publishers_never_take_the_backlog_beyond_its_max(open_queue: QueueOpener) -> None:
    accepted, refused = [0] * 4, [0] * 4

    def publish(worker: int) -> None:
        queue = open_queue(max_backlog=500)
        for n in range(300):
            try:
                queue.publish(f"{worker}-{n}".encode(), 1)
                accepted[worker] += 1
            except QueueFull:
                refused[worker] += 1

    threads = [threading.Thread(target=publish, args=(worker,)) for worker in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    backlog = open_queue().backlog()
    assert sum(accepted) == 500
    assert (backlog.batches, backlog.hits) == (500, 500)
    assert sum(refused) == 4 * 300 - 500


def test_acknowledging_a_batch_twice_lowers_the_backlog_once(open_queue: QueueOpener) -> None:
    queue = open_queue()
    queue.publish(b"first", 3)
    queue.publish(b"second", 4)
    first, _ = queue.consume("c1", 10, 1.0)
    queue.ack([first])
    queue.ack([first])
    assert (queue.backlog().batches, queue.backlog().hits) == (1, 4)


def test_dead_lettering_moves_the_batch_out_of_the_backlog_once(open_queue: QueueOpener) -> None:
    queue = open_queue()
    queue.publish(b"poison", 3)
    queue.publish(b"fine", 4)
    poison, fine = queue.consume("c1", 10, 1.0)
    queue.dead_letter(poison, "undecodable")
    queue.dead_letter(poison, "undecodable")
    queue.ack([fine])
    queue.dead_letter(fine, "too late: already acknowledged")
    assert [(letter.payload, letter.hits) for letter in queue.dead_letters()] == [(b"poison", 3)]
    assert (queue.backlog().batches, queue.backlog().hits) == (0, 0)


def test_replaying_a_dead_letter_into_a_full_queue_raises_queue_full_and_keeps_the_letter(
    open_queue: QueueOpener,
) -> None:
    queue = open_queue(max_backlog=10)
    queue.publish(b"poison", 5)
    [poison] = queue.consume("c1", 10, 1.0)
    queue.dead_letter(poison, "undecodable")
    queue.publish(b"filler", 10)
    [letter] = queue.dead_letters()
    with pytest.raises(QueueFull):
        queue.replay_dead_letter(letter.tag)
    assert queue.dead_letters() == [letter]
    assert queue.backlog().hits == 10
