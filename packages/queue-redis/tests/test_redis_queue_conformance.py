"""The Redis queue against core's queue conformance suite, with one partition and with four."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from hitcount.core.testing import QueueConformance
from hitcount.core.testing.conformance import QueueFactory

FOUR_PARTITIONS = {"HITCOUNT_REDIS_PARTITIONS": "4"}


class TestRedisQueue(QueueConformance):
    backend = "redis"

    @pytest.fixture
    def isolation(self, prefix: str) -> Mapping[str, str]:
        """The shared server of ``HITCOUNT_REDIS_URL``, under keys of this test alone."""
        return {"HITCOUNT_REDIS_PREFIX": prefix}


class TestPartitionedRedisQueue(TestRedisQueue):
    environment = FOUR_PARTITIONS

    @pytest.mark.skip(reason="with several partitions, order holds per partition (see test_redis_partitions.py)")
    def test_batches_come_out_in_publish_order(self, make_queue: QueueFactory) -> None:
        raise AssertionError("skipped")
