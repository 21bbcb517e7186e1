"""The Redis queue (with one partition and with four) and counts cache against core's conformance suites."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import pytest

from hitcount.core.testing import CountsCacheConformance, Outage, QueueConformance
from hitcount.queue_redis.testing import RedisServer

FOUR_PARTITIONS = {"HITCOUNT_REDIS_PARTITIONS": "4"}


class RedisIsolation:
    @pytest.fixture
    def isolation(self, prefix: str) -> Mapping[str, str]:
        """The shared server of ``HITCOUNT_REDIS_URL``, under keys of this test alone."""
        return {"HITCOUNT_REDIS_PREFIX": prefix}

    @pytest.fixture
    def outage(self, start_redis: Callable[..., RedisServer]) -> Outage:
        """A redis-server of the test's own, killed (-9) or stopped (SIGSTOP)."""
        server = start_redis()
        return Outage({"HITCOUNT_REDIS_URL": server.url}, stop=server.kill, hang=server.pause)


class TestRedisQueue(RedisIsolation, QueueConformance):
    backend = "redis"


class TestPartitionedRedisQueue(TestRedisQueue):
    environment = FOUR_PARTITIONS


class TestRedisCache(RedisIsolation, CountsCacheConformance):
    backend = "redis"
