"""The Redis queue against core's queue conformance suite, with one partition and with four."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hitcount.core.queue import Queue
from hitcount.core.testing.conformance import QueueConformance, QueueFactory
from hitcount.queue_redis.queue import RedisQueue


class TestRedisQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self, open_queue: Callable[..., RedisQueue]) -> QueueFactory:
        def make(visibility_timeout: float = 30.0) -> Queue:
            return open_queue(queue_visibility_timeout=visibility_timeout)

        return make


class TestPartitionedRedisQueue(QueueConformance):
    @pytest.fixture
    def make_queue(self, open_queue: Callable[..., RedisQueue]) -> QueueFactory:
        def make(visibility_timeout: float = 30.0) -> Queue:
            return open_queue(queue_visibility_timeout=visibility_timeout, redis_partitions=4)

        return make

    @pytest.mark.skip(reason="with several partitions, order holds per partition (see test_redis_partitions.py)")
    def test_batches_come_out_in_publish_order(self, make_queue: QueueFactory) -> None:
        raise AssertionError("skipped")
