"""Core's embedded backends against the conformance suites they ship, opened as a user opens them."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from hitcount.core import WINDOWS, Config, Counts, now_ns
from hitcount.core.backends.memory import MemoryCache
from hitcount.core.testing import CountsCacheConformance, HitStoreConformance, Outage, QueueConformance

# Durable against a crash of the process, which is all a test needs; much faster than FULL.
FAST_SQLITE = {"HITCOUNT_SQLITE_SYNCHRONOUS": "NORMAL"}


class SqliteOutage:
    """An SQLite file is unavailable when another process holds its write lock past the busy timeout.

    That is the same whether its holder is gone or hung, and readers go on reading (WAL),
    so the calls that only read may still answer; the file cannot be taken away otherwise
    from a connection that has it open (these tests may run as root, whom modes do not stop).
    """

    @pytest.fixture
    def outage(self, tmp_path: Path) -> Iterator[Outage]:
        holders: list[sqlite3.Connection] = []

        def lock() -> None:
            for path in sorted((tmp_path / "data").glob("*.sqlite3")):
                holders.append(sqlite3.connect(path, isolation_level=None))
                holders[-1].execute("begin immediate")

        reads = frozenset({"dead_letters", "backlog", "counts", "get"})
        yield Outage({"HITCOUNT_SQLITE_BUSY_TIMEOUT": "200ms"}, stop=lock, hang=lock, still_answers=reads)
        for holder in holders:
            holder.close()


class TestSqliteQueue(SqliteOutage, QueueConformance):
    backend = "sqlite"
    environment = FAST_SQLITE


class TestSqliteStore(SqliteOutage, HitStoreConformance):
    backend = "sqlite"
    environment = FAST_SQLITE


class TestSqliteCache(SqliteOutage, CountsCacheConformance):
    backend = "sqlite"
    environment = FAST_SQLITE


class MemoryIsolation:
    """Memory backends of one process share data by namespace: one per test; they have no server to lose."""

    @pytest.fixture
    def isolation(self) -> Mapping[str, str]:
        return {"HITCOUNT_MEMORY_NAMESPACE": uuid.uuid4().hex}

    @pytest.fixture
    def outage(self) -> Outage:
        pytest.skip("the memory backends live in the process: there is no server to lose")


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
