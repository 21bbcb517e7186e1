"""Partitions: key names fit Redis Cluster, batches spread over the streams, one consumer reads them all."""

from __future__ import annotations

import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
import redis
from redis.crc import key_slot

from hitcount.queue_redis import consumption
from hitcount.queue_redis.queue import RedisQueue

QueueOpener = Callable[..., RedisQueue]


def test_each_partitions_keys_share_one_hash_tag_and_partitions_have_different_slots(
    open_queue: QueueOpener, client: redis.Redis, prefix: str
) -> None:
    queue = open_queue(partitions=4)
    for n in range(8):
        queue.publish(f"batch {n}".encode(), 1)
    deliveries = queue.consume("c1", 2, 1.0)
    queue.dead_letter(deliveries[0], "to create a dead-letter key")
    queue.dead_letter(deliveries[1], "to create a dead-letter key")
    keys = sorted(key.decode() for key in client.scan_iter(match=f"{prefix}:*"))
    slots: dict[str, set[int]] = defaultdict(set)
    for key in keys:
        match = re.fullmatch(rf"{re.escape(prefix)}:\{{(q\d)\}}:(stream|hits|dead|group)", key)
        assert match, key
        slots[match.group(1)].add(key_slot(key.encode()))
    assert sorted(slots) == ["q0", "q1", "q2", "q3"]
    assert all(len(slot) == 1 for slot in slots.values())
    assert len(set.union(*slots.values())) == 4


def test_batches_spread_over_every_partition_and_one_consumer_gets_them_all_in_order_per_partition(
    open_queue: QueueOpener, client: redis.Redis, prefix: str
) -> None:
    queue = open_queue(partitions=4)
    for n in range(40):
        queue.publish(f"{n:02}".encode(), 1)
    assert [client.xlen(f"{prefix}:{{q{n}}}:stream") for n in range(4)] == [10, 10, 10, 10]
    deliveries = queue.consume("only", 100, 1.0)
    assert sorted(delivery.payload for delivery in deliveries) == [f"{n:02}".encode() for n in range(40)]
    by_partition: dict[str, list[bytes]] = defaultdict(list)
    for delivery in deliveries:
        by_partition[delivery.tag.split(":")[0]].append(delivery.payload)
    assert all(payloads == sorted(payloads) for payloads in by_partition.values())


def test_one_consume_takes_at_most_max_batches_across_partitions(open_queue: QueueOpener) -> None:
    queue = open_queue(partitions=4)
    for n in range(20):
        queue.publish(f"{n}".encode(), 1)
    assert len(queue.consume("c1", 3, 1.0)) == 3
    assert queue.backlog().batches == 20


def test_a_waiting_consumer_wakes_for_a_batch_on_any_partition(
    open_queue: QueueOpener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Sweeps 30 s apart, so that a batch found by a sweep instead of Redis waking the consumer
    # shows, however slow the machine.
    monkeypatch.setattr(consumption, "BLOCK_SLICE", 30.0)
    consumer, publisher = open_queue(partitions=4), open_queue(partitions=4)
    for n in range(4):  # round-robin: one publish per partition
        timer = threading.Timer(0.1, publisher.publish, args=(f"{n}".encode(), 1))
        started = time.monotonic()
        timer.start()
        deliveries = consumer.consume("c1", 10, 30.0)
        waited = time.monotonic() - started
        timer.join()
        consumer.ack(deliveries)
        assert [delivery.payload for delivery in deliveries] == [f"{n}".encode()]
        assert waited < 10, f"found after {waited:.1f}s: by a sweep, not woken by Redis"
