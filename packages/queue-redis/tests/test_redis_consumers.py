"""The group's consumers: the names of indexers that are gone are removed, those holding batches are not."""

from __future__ import annotations

import time
from collections.abc import Callable

import redis

from hitcount.queue_redis.consumption import GROUP
from hitcount.queue_redis.keys import partitions
from hitcount.queue_redis.queue import RedisQueue

QueueOpener = Callable[..., RedisQueue]


def test_idle_consumers_with_nothing_pending_are_removed_and_those_holding_batches_stay(
    open_queue: QueueOpener, client: redis.Redis, prefix: str
) -> None:
    queue = open_queue(consumer_expiry=0.3)
    queue.publish(b"acknowledged", 1)
    queue.publish(b"held", 1)
    done = queue.consume("gone", 1, 1.0)
    queue.ack(done)
    assert len(queue.consume("holding", 1, 1.0)) == 1
    time.sleep(0.5)
    assert queue.consume("alive", 10, 0.1) == []
    [partition] = partitions(prefix, 1)
    consumers = client.xinfo_consumers(partition.stream, GROUP)
    # "alive" may or may not be listed: whether an empty read adds its consumer depends on the Redis version.
    assert {consumer["name"].decode() for consumer in consumers} - {"alive"} == {"holding"}
