"""Core's embedded backends against the conformance suites they ship, opened as a user opens them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

import pytest

from hitcount.core import WINDOWS, Config, Counts, now_ns
from hitcount.core.backends.memory import MemoryCache
from hitcount.core.testing import CountsCacheConformance, HitStoreConformance, QueueConformance

# Durable against a crash of the process, which is all a test needs; much faster than FULL.
FAST_SQLITE = {"HITCOUNT_SQLITE_SYNCHRONOUS": "NORMAL"}


class TestSqliteQueue(QueueConformance):
    backend = "sqlite"
    environment = FAST_SQLITE


class TestSqliteStore(HitStoreConformance):
    backend = "sqlite"
    environment = FAST_SQLITE


class TestSqliteCache(CountsCacheConformance):
    backend = "sqlite"
    environment = FAST_SQLITE


class MemoryIsolation:
    """Memory backends of one process share data by namespace: one per test."""

    @pytest.fixture
    def isolation(self) -> Mapping[str, str]:
        return {"HITCOUNT_MEMORY_NAMESPACE": uuid.uuid4().hex}


class TestMemoryQueue(MemoryIsolation, QueueConformance):
    backend = "memory"


class TestMemoryStore(MemoryIsolation, HitStoreConformance):
    backend = "memory"


class TestMemoryCache(MemoryIsolation, CountsCacheConformance):
    backend = "memory"


def test_the_memory_cache_keeps_at_most_its_number_of_ids() -> None:
    config = Config({"HITCOUNT_MEMORY_NAMESPACE": uuid.uuid4().hex, "HITCOUNT_CACHE_MEMORY_IDS": "3"})
    cache, now = MemoryCache(config), now_ns()
    for id in ("a", "b", "c", "d"):
        cache.put(Counts(id, now, (1,) * len(WINDOWS)))
    assert [cache.get(id) is not None for id in ("a", "b", "c", "d")] == [False, True, True, True]
